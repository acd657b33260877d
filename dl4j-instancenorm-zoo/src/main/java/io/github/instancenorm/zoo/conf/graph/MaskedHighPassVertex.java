package io.github.instancenorm.zoo.conf.graph;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.inputs.InvalidInputTypeException;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * StarGAN v2's masked high-pass skip: {@code hpf(resize(mask) * features)}, which its generator adds to the
 * decoder's output at 32, 64 and 128 pixels when {@code w_hpf > 0}.
 *
 * <ul>
 *   <li>{@code resize} is PyTorch's {@code F.interpolate(mask, size=(H, W), mode='bilinear')}
 *       ({@code align_corners=False}, no antialiasing) to the feature map's size;</li>
 *   <li>the product broadcasts the one-channel mask over the feature channels;</li>
 *   <li>{@code hpf} is a fixed depthwise 3×3 filter {@code [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] / w_hpf} with zero
 *       padding 1 ({@code HighPass} in StarGAN v2; its {@code hpf.filter} buffer).</li>
 * </ul>
 * Inputs, in order: the features {@code [N, C, H, W]} (NCHW) and the mask {@code [N, 1, Hm, Wm]} of any size.
 * Output: {@code [N, C, H, W]}. No parameters. The backward returns both inputs' gradients.
 */
public class MaskedHighPassVertex extends GraphVertex {

    private double wHpf = 1;

    /** For JSON; use {@link #MaskedHighPassVertex(double)}. */
    public MaskedHighPassVertex() {}

    /**
     * @param wHpf the filter's divisor, {@code > 0} (StarGAN v2's {@code --w_hpf}, 1 for CelebA-HQ)
     * @throws IllegalArgumentException if {@code wHpf} is not a positive finite number
     */
    public MaskedHighPassVertex(double wHpf) {
        setWHpf(wHpf);
    }

    /** @return the filter's divisor */
    public double getWHpf() {
        return wHpf;
    }

    /** @param wHpf the filter's divisor, {@code > 0} */
    public void setWHpf(double wHpf) {
        if (!(wHpf > 0) || Double.isInfinite(wHpf)) {
            throw new IllegalArgumentException("w_hpf must be a positive number, got " + wHpf);
        }
        this.wHpf = wHpf;
    }

    @Override
    public MaskedHighPassVertex clone() {
        return new MaskedHighPassVertex(wHpf);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MaskedHighPassVertex v && Double.compare(v.wHpf, wHpf) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * MaskedHighPassVertex.class.hashCode() + Double.hashCode(wHpf);
    }

    @Override
    public long numParams(boolean backprop) {
        return 0;
    }

    @Override
    public int minVertexInputs() {
        return 2;
    }

    @Override
    public int maxVertexInputs() {
        return 2;
    }

    @Override
    public org.deeplearning4j.nn.graph.vertex.GraphVertex instantiate(
            ComputationGraph graph,
            String name,
            int idx,
            INDArray paramsView,
            boolean initializeParams,
            DataType networkDatatype) {
        return new io.github.instancenorm.zoo.layers.graph.MaskedHighPassVertex(
                graph, name, idx, networkDatatype, wHpf);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) throws InvalidInputTypeException {
        if (vertexInputs.length != 2) {
            throw new InvalidInputTypeException(
                    "MaskedHighPassVertex takes (features, mask), got " + vertexInputs.length + " inputs");
        }
        for (InputType t : vertexInputs) {
            if (t.getType() != InputType.Type.CNN
                    || ((InputType.InputTypeConvolutional) t).getFormat() != CNN2DFormat.NCHW) {
                throw new InvalidInputTypeException(
                        "MaskedHighPassVertex takes NCHW convolutional features and mask, got " + t);
            }
        }
        if (((InputType.InputTypeConvolutional) vertexInputs[1]).getChannels() != 1) {
            throw new InvalidInputTypeException(
                    "MaskedHighPassVertex expects a one-channel mask [N, 1, H, W], got " + vertexInputs[1]);
        }
        return vertexInputs[0];
    }

    @Override
    public MemoryReport getMemoryReport(InputType... inputTypes) {
        InputType out = getOutputType(-1, inputTypes);
        long perExample = out.arrayElementsPerExample();
        return new LayerMemoryReport.Builder(null, MaskedHighPassVertex.class, inputTypes[0], out)
                .standardMemory(0, 0)
                .workingMemory(0, 0, 2 * perExample, 2 * perExample)
                .cacheMemory(0, 0)
                .build();
    }
}
