package io.github.instancenorm.layers.graph;

import io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex.Modulation;
import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.InstanceNormLayout;
import java.util.Arrays;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.BaseGraphVertex;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Implementation of {@link io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex}: the forward keeps the
 * instance statistics it computed, so that the backward that follows does not compute them again.
 */
public class AdaptiveInstanceNormVertex extends BaseGraphVertex {

    private final Modulation modulation;
    private final double eps;
    private final boolean channelsLast;

    /** The statistics of the last forward, and the feature map they belong to. */
    private InstanceNorm.Moments moments;

    private INDArray momentsOf;

    /** The arrays forwards write their statistics into; {@link #moments} is this after a forward. */
    private InstanceNorm.Moments statsBuffer;

    /**
     * @param graph        the graph
     * @param name         the vertex name
     * @param index        the vertex index
     * @param dataType     the network's data type
     * @param modulation   how gamma scales the normalized input
     * @param eps          added to the variance
     * @param channelsLast whether the feature map is channels-last
     */
    public AdaptiveInstanceNormVertex(
            ComputationGraph graph,
            String name,
            int index,
            DataType dataType,
            Modulation modulation,
            double eps,
            boolean channelsLast) {
        super(graph, name, index, null, null, dataType);
        this.modulation = modulation;
        this.eps = eps;
        this.channelsLast = channelsLast;
    }

    @Override
    public boolean hasLayer() {
        return false;
    }

    @Override
    public Layer getLayer() {
        return null;
    }

    @Override
    public INDArray doForward(boolean training, LayerWorkspaceMgr workspaceMgr) {
        if (!canDoForward()) {
            throw new IllegalStateException("Vertex \"" + vertexName + "\": inputs not set");
        }
        INDArray x = inputs[0];
        InstanceNormLayout layout = layoutOf(x);
        INDArray[] gammaBeta = gammaBeta(x, layout);
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, x.dataType(), x.shape(), 'c');
        moments = InstanceNorm.forwardModulated(
                x, gammaBeta[0], gammaBeta[1], scaleOffset(), eps, layout, out, statsBuffer(x, layout));
        momentsOf = x;
        return out;
    }

    @Override
    public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
        if (!canDoBackward()) {
            throw new IllegalStateException("Vertex \"" + vertexName + "\": epsilon not set");
        }
        INDArray x = inputs[0];
        InstanceNormLayout layout = layoutOf(x);
        INDArray gamma = gammaBeta(x, layout)[0];
        if (!Arrays.equals(epsilon.shape(), x.shape())) {
            throw new IllegalArgumentException("Vertex \"" + vertexName + "\": the output gradient has shape "
                    + Arrays.toString(epsilon.shape()) + ", the output " + Arrays.toString(x.shape()));
        }
        InstanceNorm.Moments m = momentsOf == x ? moments : InstanceNorm.moments(x, layout);
        long n = x.size(0);
        long c = x.size(layout.channelAxis());
        INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, x.dataType(), x.shape(), 'c');
        // d(offset + gamma)/dgamma = 1: the scale's gradient is gamma's in both forms. The kernels write the two
        // gradients straight into the halves of the modulation's gradient.
        INDArray[] grads;
        if (inputs.length == 2) {
            INDArray dh = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, x.dataType(), n, 2 * c);
            INDArray dGamma = dh.get(NDArrayIndex.all(), NDArrayIndex.interval(0, c));
            INDArray dBeta = dh.get(NDArrayIndex.all(), NDArrayIndex.interval(c, 2 * c));
            backward(x, m, gamma, layout, dx, dGamma, dBeta);
            grads = new INDArray[] {dx, dh.castTo(inputs[1].dataType())};
        } else {
            INDArray dGamma = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, x.dataType(), n, c);
            INDArray dBeta = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, x.dataType(), n, c);
            backward(x, m, gamma, layout, dx, dGamma, dBeta);
            grads = new INDArray[] {dx, dGamma.castTo(inputs[1].dataType()), dBeta.castTo(inputs[2].dataType())};
        }
        return new Pair<>(null, grads);
    }

    private void backward(
            INDArray x,
            InstanceNorm.Moments m,
            INDArray gamma,
            InstanceNormLayout layout,
            INDArray dx,
            INDArray dGamma,
            INDArray dBeta) {
        InstanceNorm.backwardModulated(
                x, epsilon.castTo(x.dataType()), m, gamma, scaleOffset(), eps, layout, dx, dGamma, dBeta);
    }

    /** @return the statistics arrays forwards write into, allocated (outside any workspace) when the shape changes */
    private InstanceNorm.Moments statsBuffer(INDArray x, InstanceNormLayout layout) {
        long[] shape = {x.size(0), x.size(layout.channelAxis())};
        if (statsBuffer == null
                || !Arrays.equals(statsBuffer.mean().shape(), shape)
                || statsBuffer.mean().dataType() != x.dataType()) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                statsBuffer = new InstanceNorm.Moments(
                        Nd4j.createUninitialized(x.dataType(), shape), Nd4j.createUninitialized(x.dataType(), shape));
            }
        }
        return statsBuffer;
    }

    private double scaleOffset() {
        return modulation == Modulation.ONE_PLUS_GAMMA ? 1.0 : 0.0;
    }

    private InstanceNormLayout layoutOf(INDArray x) {
        if (x.rank() < InstanceNormLayout.MIN_RANK || x.rank() > InstanceNormLayout.MAX_RANK) {
            throw new IllegalArgumentException("Vertex \"" + vertexName + "\" (adaptive instance norm) normalizes"
                    + " feature maps of rank 3 to 5 ([N, C, W], [N, C, H, W], [N, C, D, H, W] or channels-last),"
                    + " got shape " + Arrays.toString(x.shape()));
        }
        InstanceNormLayout layout = new InstanceNormLayout(x.rank(), channelsLast);
        layout.checkInput(x.shape(), -1, true, "Vertex \"" + vertexName + "\"");
        return layout;
    }

    /**
     * @return gamma and beta {@code [N, C]} in the feature map's type: the halves of the modulation (views, which
     *         the kernels read in place) or the two inputs
     */
    private INDArray[] gammaBeta(INDArray x, InstanceNormLayout layout) {
        long n = x.size(0);
        long c = x.size(layout.channelAxis());
        if (inputs.length == 2) {
            INDArray h = inputs[1];
            if (h.rank() != 2 || h.size(0) != n || h.size(1) != 2 * c) {
                throw new IllegalArgumentException("Vertex \"" + vertexName + "\": the feature map "
                        + Arrays.toString(x.shape()) + " (" + layout.formatName() + ") has " + c + " channels, so the"
                        + " modulation must be [N, 2C] = [" + n + ", " + 2 * c + "], got "
                        + Arrays.toString(h.shape()) + ". Check the Linear layer that computes it (nOut = 2C)");
            }
            h = h.castTo(x.dataType());
            return new INDArray[] {
                h.get(NDArrayIndex.all(), NDArrayIndex.interval(0, c)),
                h.get(NDArrayIndex.all(), NDArrayIndex.interval(c, 2 * c))
            };
        }
        INDArray gamma = inputs[1];
        INDArray beta = inputs[2];
        for (INDArray a : new INDArray[] {gamma, beta}) {
            if (a.rank() != 2 || a.size(0) != n || a.size(1) != c) {
                throw new IllegalArgumentException("Vertex \"" + vertexName + "\": the feature map "
                        + Arrays.toString(x.shape()) + " (" + layout.formatName() + ") has " + c
                        + " channels, so gamma and beta must each be [N, C] = [" + n + ", " + c + "], got "
                        + Arrays.toString(gamma.shape()) + " and " + Arrays.toString(beta.shape()));
            }
        }
        return new INDArray[] {gamma.castTo(x.dataType()), beta.castTo(x.dataType())};
    }

    @Override
    public void clear() {
        super.clear();
        moments = null;
        momentsOf = null;
    }

    @Override
    public void setBackpropGradientsViewArray(INDArray backpropGradientsViewArray) {
        if (backpropGradientsViewArray != null) {
            throw new IllegalStateException("AdaptiveInstanceNormVertex has no parameters");
        }
    }

    /** Passes the feature map's mask through; masked steps are not excluded from the statistics. */
    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArrays(
            INDArray[] maskArrays, MaskState currentMaskState, int minibatchSize) {
        return new Pair<>(maskArrays == null ? null : maskArrays[0], currentMaskState);
    }

    @Override
    public String toString() {
        return "AdaptiveInstanceNormVertex(id=" + vertexIndex + ",name=\"" + vertexName + "\",modulation=" + modulation
                + ",eps=" + eps + ",channelsLast=" + channelsLast + ")";
    }
}
