package io.github.instancenorm.torch;

import io.github.instancenorm.conf.InstanceNormalization;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Deconvolution2D;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registry of {@link ParamMapper}s by DL4J layer configuration class. A layer uses the
 * mapper of its own class or, failing that, of its nearest registered superclass.
 *
 * <p>Built in, with the PyTorch module each corresponds to:
 * <ul>
 * <li>{@link ConvolutionLayer}: nn.Conv2d, weight {@code [out, in, kh, kw]} as in DL4J, bias {@code [out]}</li>
 * <li>{@link Convolution1DLayer}: nn.Conv1d, weight {@code [out, in, k]} (DL4J {@code [out, in, k, 1]})</li>
 * <li>{@link Convolution3D}: nn.Conv3d, weight {@code [out, in, kd, kh, kw]} as in DL4J (NCDHW)</li>
 * <li>{@link Deconvolution2D}: nn.ConvTranspose2d, weight {@code [in, out, kh, kw]}, which is also
 *     DL4J's layout (its layer permutes it to {@code [kh, kw, out, in]} for libnd4j's deconv2d)</li>
 * <li>{@link DenseLayer} and output layers ({@link BaseOutputLayer}): nn.Linear, weight
 *     {@code [out, in]}, the transpose of DL4J's {@code W [in, out]}</li>
 * <li>{@link BatchNormalization}: nn.BatchNorm1d/2d/3d, weight/bias/running_mean/running_var to
 *     gamma/beta/mean/var; with {@code useLogStd} the variance is converted to
 *     {@code log10stdev = log10(var) / 2}; num_batches_tracked is accepted and ignored</li>
 * <li>{@link EmbeddingLayer}, {@link EmbeddingSequenceLayer}: nn.Embedding, weight {@code [num, dim]}
 *     as in DL4J (a DL4J bias has no PyTorch counterpart and is reported missing)</li>
 * <li>{@link io.github.instancenorm.conf.InstanceNormalization}:
 *     nn.InstanceNorm1d/2d/3d, weight/bias/running_mean/running_var/num_batches_tracked to
 *     gamma/beta/mean/var/numBatchesTracked</li>
 * </ul>
 * LSTMs are not built in: DL4J orders the gates differently and keeps one bias where PyTorch
 * keeps two; register a mapper to load them.
 */
public final class ParamMappers {
    private static final Logger log = LoggerFactory.getLogger(ParamMappers.class);
    private static final Map<Class<?>, ParamMapper> MAPPERS = new ConcurrentHashMap<>();

    /**
     * nn.InstanceNorm's tensors for our InstanceNormalization layer: weight to gamma, bias to
     * beta, running_mean to mean, running_var to var (plain variance), num_batches_tracked
     * (a scalar in PyTorch, {@code [1]} in DL4J) to numBatchesTracked; absent keys are skipped.
     */
    private static final ParamMapper INSTANCE_NORMALIZATION = renamed(
            new String[] {
                "weight",
                "gamma",
                "bias",
                "beta",
                "running_mean",
                "mean",
                "running_var",
                "var",
                "num_batches_tracked",
                "numBatchesTracked"
            },
            Set.of("num_batches_tracked"));

    static {
        register(ConvolutionLayer.class, (layer, p) -> weightAndBias(p, w -> w.clone()));
        register(Convolution3D.class, (layer, p) -> weightAndBias(p, w -> w.clone()));
        register(Deconvolution2D.class, (layer, p) -> weightAndBias(p, w -> w.clone()));
        register(
                Convolution1DLayer.class,
                (layer, p) ->
                        weightAndBias(p, w -> w.length == 4 && w[3] == 1 ? new long[] {w[0], w[1], w[2]} : w.clone()));
        register(DenseLayer.class, ParamMappers::linear);
        register(BaseOutputLayer.class, ParamMappers::linear);
        register(EmbeddingLayer.class, (layer, p) -> weightAndBias(p, w -> w.clone()));
        register(EmbeddingSequenceLayer.class, (layer, p) -> weightAndBias(p, w -> w.clone()));
        register(BatchNormalization.class, ParamMappers::batchNorm);
        register(InstanceNormalization.class, INSTANCE_NORMALIZATION);
    }

    private ParamMappers() {}

    /**
     * Registers (or replaces) the mapper for a layer configuration class and its subclasses
     * that have none of their own.
     *
     * @param layerClass the DL4J layer configuration class
     * @param mapper     how its parameters map to PyTorch
     */
    public static void register(Class<? extends Layer> layerClass, ParamMapper mapper) {
        MAPPERS.put(layerClass, mapper);
    }

    /**
     * Removes the mapper registered for exactly this class (superclass mappers stay).
     *
     * @param layerClass the DL4J layer configuration class
     */
    public static void unregister(Class<? extends Layer> layerClass) {
        MAPPERS.remove(layerClass);
    }

    /**
     * @param layerClass a layer configuration class
     * @return its mapper or its nearest registered superclass's, or null when there is none
     */
    public static ParamMapper find(Class<?> layerClass) {
        for (Class<?> c = layerClass; c != null; c = c.getSuperclass()) {
            ParamMapper m = MAPPERS.get(c);
            if (m != null) {
                return m;
            }
        }
        return null;
    }

    /**
     * A mapper that renames parameters one to one, PyTorch tensors being 1-D vectors of the DL4J
     * parameter's elements, or 0-d int64 counters for the names in {@code scalars}. DL4J keys the layer does
     * not have (an optional affine part, say) are skipped.
     *
     * @param torchThenDl4j pairs: PyTorch name, DL4J key, PyTorch name, DL4J key, ...
     * @param scalars       PyTorch names stored as 0-d int64 counters
     * @return the mapper
     */
    public static ParamMapper renamed(String[] torchThenDl4j, Set<String> scalars) {
        if (torchThenDl4j.length % 2 != 0) {
            throw new IllegalArgumentException(
                    "renamed() takes pairs of names, got " + torchThenDl4j.length + " names");
        }
        String[] pairs = torchThenDl4j.clone();
        Set<String> sc = Set.copyOf(scalars);
        return (layer, params) -> {
            List<ParamBinding> r = new ArrayList<>();
            for (int i = 0; i < pairs.length; i += 2) {
                INDArray p = params.get(pairs[i + 1]);
                if (p != null) {
                    r.add(
                            sc.contains(pairs[i]) && p.length() == 1
                                    ? ParamBinding.counter(pairs[i], pairs[i + 1], p.shape())
                                    : ParamBinding.reshaped(pairs[i], pairs[i + 1], p.shape(), p.length()));
                }
            }
            return r;
        };
    }

    private interface ShapeRule {
        long[] torch(long[] dl4j);
    }

    private static List<ParamBinding> weightAndBias(Map<String, INDArray> p, ShapeRule weight) {
        List<ParamBinding> r = new ArrayList<>();
        INDArray w = p.get("W");
        if (w != null) {
            r.add(ParamBinding.reshaped("weight", "W", w.shape(), weight.torch(w.shape())));
        }
        INDArray b = p.get("b");
        if (b != null) {
            r.add(ParamBinding.reshaped("bias", "b", b.shape(), b.length()));
        }
        return r;
    }

    private static List<ParamBinding> linear(Layer layer, Map<String, INDArray> p) {
        List<ParamBinding> r = new ArrayList<>();
        INDArray w = p.get("W");
        if (w != null) {
            r.add(ParamBinding.transposed("weight", "W", w.shape()));
        }
        INDArray b = p.get("b");
        if (b != null) {
            r.add(ParamBinding.reshaped("bias", "b", b.shape(), b.length()));
        }
        return r;
    }

    private static List<ParamBinding> batchNorm(Layer layer, Map<String, INDArray> p) {
        Map<String, String> names = new LinkedHashMap<>();
        names.put(BatchNormalizationParamInitializer.GAMMA, "weight");
        names.put(BatchNormalizationParamInitializer.BETA, "bias");
        names.put(BatchNormalizationParamInitializer.GLOBAL_MEAN, "running_mean");
        names.put(BatchNormalizationParamInitializer.GLOBAL_VAR, "running_var");
        List<ParamBinding> r = new ArrayList<>();
        for (Map.Entry<String, String> e : names.entrySet()) {
            INDArray a = p.get(e.getKey());
            if (a != null) {
                r.add(ParamBinding.reshaped(e.getValue(), e.getKey(), a.shape(), a.length()));
            }
        }
        INDArray logStd = p.get(BatchNormalizationParamInitializer.GLOBAL_LOG_STD);
        if (logStd != null) {
            r.add(ParamBinding.log10Std(
                    "running_var", BatchNormalizationParamInitializer.GLOBAL_LOG_STD, logStd.shape(), logStd.length()));
        }
        r.add(ParamBinding.ignored("num_batches_tracked"));
        return r;
    }
}
