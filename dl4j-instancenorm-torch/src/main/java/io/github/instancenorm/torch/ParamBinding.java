package io.github.instancenorm.torch;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.UnaryOperator;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * How one PyTorch tensor of a module corresponds to one DL4J parameter of a layer: the names,
 * the shape PyTorch uses, and the conversions both ways. Made by a {@link ParamMapper}.
 */
public final class ParamBinding {
    private final String torchName;
    private final String dl4jKey;
    private final long[] torchShape;
    private final UnaryOperator<INDArray> toDl4j;
    private final UnaryOperator<INDArray> toTorch;
    private final boolean optional;

    private ParamBinding(
            String torchName,
            String dl4jKey,
            long[] torchShape,
            UnaryOperator<INDArray> toDl4j,
            UnaryOperator<INDArray> toTorch,
            boolean optional) {
        this.torchName = Objects.requireNonNull(torchName, "torchName");
        this.dl4jKey = dl4jKey;
        this.torchShape = torchShape == null ? null : torchShape.clone();
        this.toDl4j = toDl4j;
        this.toTorch = toTorch;
        this.optional = optional;
    }

    /**
     * A tensor holding the same elements in the same C order as the DL4J parameter, possibly
     * with a different shape (bias {@code [out]} against DL4J's {@code [1, out]}, Conv1d weight
     * {@code [out, in, k]} against {@code [out, in, k, 1]}).
     *
     * @param torchName  name within the module, e.g. {@code weight}
     * @param dl4jKey    DL4J parameter key, e.g. {@code W}
     * @param dl4jShape  the DL4J parameter's shape
     * @param torchShape the PyTorch tensor's shape
     * @return the binding
     */
    public static ParamBinding reshaped(String torchName, String dl4jKey, long[] dl4jShape, long... torchShape) {
        long[] d = dl4jShape.clone();
        long[] t = torchShape.clone();
        return new ParamBinding(
                torchName,
                dl4jKey,
                t,
                a -> a.dup('c').reshape('c', d),
                a -> a.dup('c').reshape('c', t),
                false);
    }

    /**
     * A counter PyTorch keeps as a 0-d int64 tensor ({@code num_batches_tracked}) and DL4J as a one-element
     * parameter of the network's floating-point type.
     *
     * @param torchName name within the module
     * @param dl4jKey   DL4J parameter key
     * @param dl4jShape the DL4J parameter's shape (one element)
     * @return the binding
     */
    public static ParamBinding counter(String torchName, String dl4jKey, long[] dl4jShape) {
        long[] d = dl4jShape.clone();
        return new ParamBinding(
                torchName,
                dl4jKey,
                new long[0],
                a -> a.dup('c').reshape('c', d),
                a -> a.castTo(org.nd4j.linalg.api.buffer.DataType.LONG).reshape('c'),
                false);
    }

    /**
     * A matrix stored transposed: PyTorch {@code [b, a]} against DL4J {@code [a, b]} (nn.Linear).
     *
     * @param torchName name within the module
     * @param dl4jKey   DL4J parameter key
     * @param dl4jShape the DL4J shape {@code [a, b]}
     * @return the binding
     */
    public static ParamBinding transposed(String torchName, String dl4jKey, long[] dl4jShape) {
        if (dl4jShape.length != 2) {
            throw new IllegalArgumentException("transposed() needs a matrix, got shape " + Arrays.toString(dl4jShape));
        }
        return new ParamBinding(
                torchName,
                dl4jKey,
                new long[] {dl4jShape[1], dl4jShape[0]},
                a -> a.transpose().dup('c'),
                a -> a.transpose().dup('c'),
                false);
    }

    /**
     * PyTorch's {@code running_var} against DL4J BatchNormalization's {@code log10stdev}
     * (the {@code useLogStd} variant): {@code log10stdev = log10(var) / 2}, {@code var = (10^log10stdev)^2}.
     *
     * @param torchName name within the module, {@code running_var}
     * @param dl4jKey   DL4J parameter key, {@code log10stdev}
     * @param dl4jShape the DL4J shape
     * @param torchShape the PyTorch shape
     * @return the binding
     */
    public static ParamBinding log10Std(String torchName, String dl4jKey, long[] dl4jShape, long... torchShape) {
        long[] d = dl4jShape.clone();
        long[] t = torchShape.clone();
        double twoLn10 = 2 * Math.log(10.0);
        return new ParamBinding(
                torchName,
                dl4jKey,
                t,
                a -> Transforms.log(a.castTo(DataType.DOUBLE).dup('c'), false)
                        .divi(twoLn10)
                        .reshape('c', d),
                a -> Transforms.exp(a.castTo(DataType.DOUBLE).mul(twoLn10), false)
                        .castTo(a.dataType())
                        .reshape('c', t),
                false);
    }

    /**
     * A PyTorch tensor DL4J has no parameter for (BatchNorm's {@code num_batches_tracked}):
     * accepted and not reported as unexpected when present, not written.
     *
     * @param torchName name within the module
     * @return the binding
     */
    public static ParamBinding ignored(String torchName) {
        return new ParamBinding(torchName, null, null, null, null, true);
    }

    /** @return the tensor name within the module, e.g. {@code weight} */
    public String torchName() {
        return torchName;
    }

    /** @return the DL4J parameter key, or null for an {@link #ignored} tensor */
    public String dl4jKey() {
        return dl4jKey;
    }

    /** @return the shape PyTorch uses, or null for an {@link #ignored} tensor */
    public long[] torchShape() {
        return torchShape == null ? null : torchShape.clone();
    }

    /** @return whether the tensor may be absent from the checkpoint */
    public boolean optional() {
        return optional;
    }

    /**
     * @param torch a tensor of {@link #torchShape()}
     * @return the values in the DL4J layout (not yet cast to the network's dtype)
     */
    public INDArray toDl4j(INDArray torch) {
        return toDl4j.apply(torch);
    }

    /**
     * @param dl4j the DL4J parameter
     * @return a new array in the PyTorch layout
     */
    public INDArray toTorch(INDArray dl4j) {
        return toTorch.apply(dl4j);
    }
}
