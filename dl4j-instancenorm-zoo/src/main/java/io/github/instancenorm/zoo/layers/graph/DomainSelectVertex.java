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

/** Implementation of {@link io.github.instancenorm.zoo.conf.graph.DomainSelectVertex}. */
public class DomainSelectVertex extends BaseGraphVertex {

    private final int domains;

    /**
     * @param graph    the graph
     * @param name     the vertex name
     * @param index    the vertex index
     * @param dataType the network's data type
     * @param domains  the number of domains
     */
    public DomainSelectVertex(ComputationGraph graph, String name, int index, DataType dataType, int domains) {
        super(graph, name, index, null, null, dataType);
        this.domains = domains;
    }

    @Override
    public boolean hasLayer() {
        return false;
    }

    @Override
    public Layer getLayer() {
        return null;
    }

    /** The heads as {@code [N, K, S]}, a view where the input is c-ordered. */
    private INDArray heads() {
        INDArray h = inputs[1];
        INDArray labels = inputs[0];
        long n = h.size(0);
        if (labels.rank() != 2 || labels.size(1) != domains || labels.size(0) != n || h.length() % (n * domains) != 0) {
            throw new IllegalArgumentException("Vertex \"" + vertexName + "\" selects among " + domains + " domains:"
                    + " it expects one-hot labels [N, " + domains + "] and heads with a multiple of " + domains
                    + " values per sample; got labels " + Arrays.toString(labels.shape()) + " and heads "
                    + Arrays.toString(h.shape()));
        }
        return h.dup('c').reshape('c', n, domains, h.length() / (n * domains));
    }

    @Override
    public INDArray doForward(boolean training, LayerWorkspaceMgr workspaceMgr) {
        if (!canDoForward()) {
            throw new IllegalStateException("Vertex \"" + vertexName + "\": inputs not set");
        }
        INDArray heads = heads();
        INDArray labels = inputs[0].castTo(heads.dataType());
        INDArray weighted = heads.mul(labels.reshape(labels.size(0), domains, 1));
        return workspaceMgr.leverageTo(ArrayType.ACTIVATIONS, weighted.sum(1));
    }

    @Override
    public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
        if (!canDoBackward()) {
            throw new IllegalStateException("Vertex \"" + vertexName + "\": epsilon not set");
        }
        INDArray heads = heads();
        INDArray labels = inputs[0].castTo(heads.dataType());
        long n = heads.size(0);
        long s = heads.size(2);
        INDArray g = epsilon.reshape('c', n, 1, s);
        INDArray headsGrad = labels.reshape(n, domains, 1).mul(g).reshape('c', inputs[1].shape());
        INDArray labelsGrad = heads.mul(g).sum(2).castTo(inputs[0].dataType());
        return new Pair<>(null, new INDArray[] {
            workspaceMgr.leverageTo(ArrayType.ACTIVATION_GRAD, labelsGrad),
            workspaceMgr.leverageTo(ArrayType.ACTIVATION_GRAD, headsGrad)
        });
    }

    @Override
    public void setBackpropGradientsViewArray(INDArray backpropGradientsViewArray) {
        if (backpropGradientsViewArray != null) {
            throw new IllegalStateException("DomainSelectVertex has no parameters");
        }
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArrays(
            INDArray[] maskArrays, MaskState currentMaskState, int minibatchSize) {
        return new Pair<>(null, currentMaskState);
    }

    @Override
    public String toString() {
        return "DomainSelectVertex(id=" + vertexIndex + ",name=\"" + vertexName + "\",domains=" + domains + ")";
    }
}
