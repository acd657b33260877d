package io.github.instancenorm.conf.graph;

import io.github.instancenorm.ops.InstanceNorm;
import java.util.Objects;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.inputs.InvalidInputTypeException;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Adaptive instance normalization (AdaIN) as a {@code ComputationGraph} vertex: instance normalization whose scale
 * and shift are not learned weights but another input of the graph, one value per sample and channel, usually a
 * Linear layer's output computed from a style code.
 *
 * <pre>
 *   xHat[n,c] = (x[n,c] - mean[n,c]) / sqrt(var[n,c] + eps)        each instance's own mean and biased variance
 *   out[n,c]  = (1 + gamma[n,c]) * xHat[n,c] + beta[n,c]           {@link Modulation#ONE_PLUS_GAMMA} (default)
 *   out[n,c]  = gamma[n,c] * xHat[n,c] + beta[n,c]                 {@link Modulation#GAMMA}
 * </pre>
 *
 * {@code xHat} is PyTorch's {@code F.instance_norm(x, eps=eps)} ({@code InstanceNorm2d(C, affine=False)} in train or
 * eval mode): the vertex always normalizes with the instance's own statistics and has no state and no parameters.
 * {@code ONE_PLUS_GAMMA} is StarGAN v2's {@code AdaIN} (and StyleGAN's style modulation); {@code GAMMA} is MUNIT's
 * and AdaIN style transfer's affine step.
 *
 * <p>Inputs, in order:
 * <ul>
 *   <li>the feature map {@code x}: rank 3 ({@code [N, C, W]}, 1d), 4 (2d) or 5 (3d), channels first, or channels
 *       last with {@link #AdaptiveInstanceNormVertex(Modulation, double, boolean) channelsLast}. Building checks
 *       the option against a recurrent or convolutional input type's format; not against a 3d type's, which
 *       M2.1's {@code Convolution3D} reports as NDHWC in Truncate mode whatever its own format;</li>
 *   <li>either one modulation {@code [N, 2C]}, gamma in columns {@code 0 .. C-1} and beta in {@code C .. 2C-1} (the
 *       layout of {@code gamma, beta = torch.chunk(h, 2, dim=1)}), or two inputs gamma {@code [N, C]} and beta
 *       {@code [N, C]}.</li>
 * </ul>
 * Output: {@code x}'s shape. The backward returns gradients for every input.
 *
 * <p>Runs on the layer's kernels ({@link InstanceNorm#forwardModulated}, {@link InstanceNorm#backwardModulated}):
 * fused statistics, one pass to write the output; on other backends, ND4J's ops.
 *
 * <pre>{@code
 * graph.addLayer("adain1.fc", new DenseLayer.Builder().nIn(styleDim).nOut(2 * channels)
 *         .activation(Activation.IDENTITY).build(), "s")
 *      .addVertex("adain1", new AdaptiveInstanceNormVertex(), "x", "adain1.fc");
 * }</pre>
 */
public class AdaptiveInstanceNormVertex extends GraphVertex {

    /** How the first part of the modulation scales the normalized input. */
    public enum Modulation {
        /** {@code out = (1 + gamma) * xHat + beta}: StarGAN v2, StyleGAN. */
        ONE_PLUS_GAMMA,
        /** {@code out = gamma * xHat + beta}: MUNIT, AdaIN style transfer. */
        GAMMA
    }

    private Modulation modulation = Modulation.ONE_PLUS_GAMMA;
    private double eps = InstanceNorm.DEFAULT_EPS;
    private boolean channelsLast;

    /** StarGAN v2's AdaIN: {@link Modulation#ONE_PLUS_GAMMA}, eps 1e-5, channels first. */
    public AdaptiveInstanceNormVertex() {}

    /**
     * @param modulation   how gamma scales the normalized input
     * @param eps          added to the variance, {@code >= 0} (PyTorch's rule)
     * @param channelsLast whether {@code x} is channels-last ({@code NWC}, {@code NHWC}, {@code NDHWC})
     * @throws IllegalArgumentException if eps is negative or not finite
     * @throws NullPointerException     if modulation is null
     */
    public AdaptiveInstanceNormVertex(Modulation modulation, double eps, boolean channelsLast) {
        this.modulation = Objects.requireNonNull(modulation, "modulation");
        this.eps = InstanceNorm.checkEps(eps);
        this.channelsLast = channelsLast;
    }

    /** @return how gamma scales the normalized input */
    public Modulation getModulation() {
        return modulation;
    }

    /** @param modulation how gamma scales the normalized input (for JSON) */
    public void setModulation(Modulation modulation) {
        this.modulation = Objects.requireNonNull(modulation, "modulation");
    }

    /** @return the value added to the variance */
    public double getEps() {
        return eps;
    }

    /** @param eps the value added to the variance (for JSON) */
    public void setEps(double eps) {
        this.eps = InstanceNorm.checkEps(eps);
    }

    /** @return whether the feature map is channels-last */
    public boolean isChannelsLast() {
        return channelsLast;
    }

    /** @param channelsLast whether the feature map is channels-last (for JSON) */
    public void setChannelsLast(boolean channelsLast) {
        this.channelsLast = channelsLast;
    }

    @Override
    public AdaptiveInstanceNormVertex clone() {
        return new AdaptiveInstanceNormVertex(modulation, eps, channelsLast);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AdaptiveInstanceNormVertex v
                && v.modulation == modulation
                && Double.compare(v.eps, eps) == 0
                && v.channelsLast == channelsLast;
    }

    @Override
    public int hashCode() {
        return Objects.hash(AdaptiveInstanceNormVertex.class, modulation, eps, channelsLast);
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
        return 3;
    }

    @Override
    public org.deeplearning4j.nn.graph.vertex.GraphVertex instantiate(
            ComputationGraph graph,
            String name,
            int idx,
            INDArray paramsView,
            boolean initializeParams,
            DataType networkDatatype) {
        return new io.github.instancenorm.layers.graph.AdaptiveInstanceNormVertex(
                graph, name, idx, networkDatatype, modulation, eps, channelsLast);
    }

    /**
     * @return the feature map's type
     * @throws InvalidInputTypeException if the feature map is not 1d/2d/3d in this vertex's layout, or the
     *                                   modulation's width does not match its channels
     */
    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) throws InvalidInputTypeException {
        if (vertexInputs.length < 2 || vertexInputs.length > 3) {
            throw new InvalidInputTypeException("AdaptiveInstanceNormVertex takes (x, modulation [N, 2C]) or (x, gamma"
                    + " [N, C], beta [N, C]), got " + vertexInputs.length + " inputs");
        }
        InputType x = vertexInputs[0];
        long channels = channelsOf(x);
        long[] widths = vertexInputs.length == 2 ? new long[] {2 * channels} : new long[] {channels, channels};
        for (int i = 1; i < vertexInputs.length; i++) {
            InputType m = vertexInputs[i];
            if (m.getType() != InputType.Type.FF || ((InputType.InputTypeFeedForward) m).getSize() != widths[i - 1]) {
                throw new InvalidInputTypeException("AdaptiveInstanceNormVertex: the feature map " + x + " has "
                        + channels + " channels, so "
                        + (vertexInputs.length == 2
                                ? "the modulation must be feed-forward of width 2C = " + 2 * channels
                                : "gamma and beta must each be feed-forward of width C = " + channels)
                        + "; input " + i + " is " + m + ". Check the Linear layer that computes it (nOut)");
            }
        }
        return x;
    }

    private long channelsOf(InputType x) {
        String fix = channelsLast
                ? " Build the vertex with channelsLast=false for a channels-first feature map."
                : " Build the vertex with channelsLast=true for a channels-last feature map.";
        switch (x.getType()) {
            case RNN -> {
                InputType.InputTypeRecurrent r = (InputType.InputTypeRecurrent) x;
                if ((r.getFormat() == RNNFormat.NWC) != channelsLast) {
                    throw new InvalidInputTypeException(mismatch(x) + fix);
                }
                return r.getSize();
            }
            case CNN -> {
                InputType.InputTypeConvolutional c = (InputType.InputTypeConvolutional) x;
                if ((c.getFormat() == CNN2DFormat.NHWC) != channelsLast) {
                    throw new InvalidInputTypeException(mismatch(x) + fix);
                }
                return c.getChannels();
            }
            case CNN3D -> {
                // Not checked against the option: M2.1's Convolution3D reports NDHWC for its output in Truncate
                // mode whatever its data format (InputTypeUtil.getOutputTypeCnn3DLayers), so the type's format
                // cannot be trusted; channelsLast decides.
                return ((InputType.InputTypeConvolutional3D) x).getChannels();
            }
            default ->
                throw new InvalidInputTypeException("AdaptiveInstanceNormVertex normalizes 1d, 2d or 3d"
                        + " feature maps (recurrent, convolutional or convolutional3D input types), got " + x);
        }
    }

    private String mismatch(InputType x) {
        return "AdaptiveInstanceNormVertex built for " + (channelsLast ? "channels-last" : "channels-first")
                + " feature maps got " + x + ".";
    }

    @Override
    public MemoryReport getMemoryReport(InputType... inputTypes) {
        InputType out = getOutputType(-1, inputTypes);
        long perExample = out.arrayElementsPerExample();
        return new LayerMemoryReport.Builder(null, AdaptiveInstanceNormVertex.class, inputTypes[0], out)
                .standardMemory(0, 0)
                .workingMemory(0, 0, 0, perExample)
                .cacheMemory(0, 0)
                .build();
    }

    @Override
    public String toString() {
        return "AdaptiveInstanceNormVertex(modulation=" + modulation + ", eps=" + eps + ", channelsLast=" + channelsLast
                + ")";
    }
}
