package io.github.instancenorm.zoo.layers.graph;

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
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastCopyOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Implementation of {@link io.github.instancenorm.zoo.conf.graph.TiledLabelConcatVertex}.
 */
public class TiledLabelConcatVertex extends BaseGraphVertex {

    /**
     * @param graph    the graph
     * @param name     the vertex name
     * @param index    the vertex index
     * @param dataType the network's data type
     */
    public TiledLabelConcatVertex(ComputationGraph graph, String name, int index, DataType dataType) {
        super(graph, name, index, null, null, dataType);
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
        INDArray image = inputs[0];
        INDArray label = inputs[1].castTo(image.dataType());
        if (image.rank() != 4 || label.rank() != 2 || label.size(0) != image.size(0)) {
            throw new IllegalArgumentException("Vertex \"" + vertexName + "\" expects an NCHW image [N, C, H, W] and"
                    + " a label [N, L]; got " + Arrays.toString(image.shape()) + " and "
                    + Arrays.toString(label.shape()));
        }
        long n = image.size(0);
        long c = image.size(1);
        long l = label.size(1);
        INDArray out = workspaceMgr.createUninitialized(
                ArrayType.ACTIVATIONS, image.dataType(), new long[] {n, c + l, image.size(2), image.size(3)}, 'c');
        out.get(NDArrayIndex.all(), NDArrayIndex.interval(0, c)).assign(image);
        INDArray tiled = out.get(NDArrayIndex.all(), NDArrayIndex.interval(c, c + l));
        Nd4j.getExecutioner().exec(new BroadcastCopyOp(tiled, label.dup('c'), tiled, 0, 1));
        return out;
    }

    @Override
    public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
        if (!canDoBackward()) {
            throw new IllegalStateException("Vertex \"" + vertexName + "\": epsilon not set");
        }
        long c = inputs[0].size(1);
        long l = inputs[1].size(1);
        INDArray imageGrad = workspaceMgr.dup(
                ArrayType.ACTIVATION_GRAD, epsilon.get(NDArrayIndex.all(), NDArrayIndex.interval(0, c)), 'c');
        INDArray labelGrad = workspaceMgr.leverageTo(
                ArrayType.ACTIVATION_GRAD,
                epsilon.get(NDArrayIndex.all(), NDArrayIndex.interval(c, c + l))
                        .sum(2, 3)
                        .castTo(inputs[1].dataType()));
        return new Pair<>(null, new INDArray[] {imageGrad, labelGrad});
    }

    @Override
    public void setBackpropGradientsViewArray(INDArray backpropGradientsViewArray) {
        if (backpropGradientsViewArray != null) {
            throw new IllegalStateException("TiledLabelConcatVertex has no parameters");
        }
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArrays(
            INDArray[] maskArrays, MaskState currentMaskState, int minibatchSize) {
        return new Pair<>(null, currentMaskState);
    }

    @Override
    public String toString() {
        return "TiledLabelConcatVertex(id=" + vertexIndex + ",name=\"" + vertexName + "\")";
    }
}
