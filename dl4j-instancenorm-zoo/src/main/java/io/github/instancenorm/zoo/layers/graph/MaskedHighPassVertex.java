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
import org.nd4j.linalg.factory.Broadcast;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Implementation of {@link io.github.instancenorm.zoo.conf.graph.MaskedHighPassVertex}, in ND4J ops so that it runs
 * on any backend: the bilinear resize is two small matrix products per sample ({@code R_h · mask · R_wᵀ}, the
 * interpolation weights as matrices), and the filter, {@code (9 p - box3(p)) / w} with {@code box3} the zero-padded
 * 3×3 sum, is nine shifted views of the padded product. The filter is symmetric, so its backward is itself; the
 * resize's backward is {@code R_hᵀ · g · R_w}.
 */
public class MaskedHighPassVertex extends BaseGraphVertex {

    private final double wHpf;

    /**
     * @param graph    the graph
     * @param name     the vertex name
     * @param index    the vertex index
     * @param dataType the network's data type
     * @param wHpf     the filter's divisor
     */
    public MaskedHighPassVertex(ComputationGraph graph, String name, int index, DataType dataType, double wHpf) {
        super(graph, name, index, null, null, dataType);
        this.wHpf = wHpf;
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
        INDArray features = inputs[0];
        INDArray mask = resizedMask(features);
        INDArray product = features.ulike();
        Broadcast.mul(features, mask, product, 0, 2, 3);
        return workspaceMgr.leverageTo(ArrayType.ACTIVATIONS, highPass(product));
    }

    @Override
    public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
        if (!canDoBackward()) {
            throw new IllegalStateException("Vertex \"" + vertexName + "\": epsilon not set");
        }
        INDArray features = inputs[0];
        INDArray mask = resizedMask(features);
        INDArray dProduct = highPass(epsilon.castTo(features.dataType()));
        INDArray dFeatures = features.ulike();
        Broadcast.mul(dProduct, mask, dFeatures, 0, 2, 3);
        INDArray dMaskResized = dProduct.mul(features).sum(1); // [N, H, W]
        INDArray dMask = resizeBack(dMaskResized, inputs[1]);
        return new Pair<>(null, new INDArray[] {
            workspaceMgr.leverageTo(ArrayType.ACTIVATION_GRAD, dFeatures),
            workspaceMgr.leverageTo(ArrayType.ACTIVATION_GRAD, dMask)
        });
    }

    /** @return the mask resized to the features' spatial size, {@code [N, H, W]} in the features' type */
    private INDArray resizedMask(INDArray features) {
        INDArray mask = inputs[1];
        if (features.rank() != 4 || mask.rank() != 4 || mask.size(1) != 1 || mask.size(0) != features.size(0)) {
            throw new IllegalArgumentException("Vertex \"" + vertexName + "\" takes features [N, C, H, W] and a mask"
                    + " [N, 1, Hm, Wm] of the same N; got features " + Arrays.toString(features.shape()) + " and mask "
                    + Arrays.toString(mask.shape()));
        }
        DataType type = features.dataType();
        INDArray rh = bilinearWeights(features.size(2), mask.size(2), type);
        INDArray rwT = bilinearWeights(features.size(3), mask.size(3), type).transpose();
        long n = features.size(0);
        INDArray out = Nd4j.create(type, n, features.size(2), features.size(3));
        INDArray m = mask.castTo(type);
        for (long i = 0; i < n; i++) {
            INDArray sample =
                    m.get(NDArrayIndex.point(i), NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.all());
            out.get(NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.all())
                    .assign(rh.mmul(sample).mmul(rwT));
        }
        return out;
    }

    /** @return the gradient of the mask {@code [N, 1, Hm, Wm]} from that of the resized mask {@code [N, H, W]} */
    private static INDArray resizeBack(INDArray grad, INDArray mask) {
        DataType type = grad.dataType();
        INDArray rhT = bilinearWeights(grad.size(1), mask.size(2), type).transpose();
        INDArray rw = bilinearWeights(grad.size(2), mask.size(3), type);
        long n = grad.size(0);
        INDArray out = Nd4j.create(type, n, 1, mask.size(2), mask.size(3));
        for (long i = 0; i < n; i++) {
            INDArray g = grad.get(NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.all());
            out.get(NDArrayIndex.point(i), NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.all())
                    .assign(rhT.mmul(g).mmul(rw));
        }
        return out.castTo(mask.dataType());
    }

    /**
     * PyTorch's bilinear interpolation weights along one axis ({@code align_corners=False}) as a matrix: output
     * {@code i} samples the input at {@code (i + 0.5) * in / out - 0.5}, clamped below at 0, between the two
     * nearest inputs (the upper one clamped to the last).
     *
     * @return {@code [out, in]}
     */
    static INDArray bilinearWeights(long out, long in, DataType type) {
        double[][] w = new double[(int) out][(int) in];
        double scale = (double) in / out;
        for (int i = 0; i < out; i++) {
            double src = Math.max((i + 0.5) * scale - 0.5, 0.0);
            int lo = (int) Math.floor(src);
            int hi = Math.min(lo + 1, (int) in - 1);
            double frac = src - lo;
            w[i][lo] += 1 - frac;
            w[i][hi] += frac;
        }
        return Nd4j.create(w).castTo(type);
    }

    /** @return {@code (9 p - box3(p)) / w}: the depthwise filter with zero padding 1, a new array */
    private INDArray highPass(INDArray p) {
        long h = p.size(2);
        long w = p.size(3);
        INDArray padded = Nd4j.pad(p, new int[][] {{0, 0}, {0, 0}, {1, 1}, {1, 1}});
        INDArray box = Nd4j.zeros(p.dataType(), p.shape());
        for (int dy = 0; dy < 3; dy++) {
            for (int dx = 0; dx < 3; dx++) {
                box.addi(padded.get(
                        NDArrayIndex.all(),
                        NDArrayIndex.all(),
                        NDArrayIndex.interval(dy, dy + h),
                        NDArrayIndex.interval(dx, dx + w)));
            }
        }
        return p.mul(9.0).subi(box).divi(wHpf);
    }

    @Override
    public void setBackpropGradientsViewArray(INDArray backpropGradientsViewArray) {
        if (backpropGradientsViewArray != null) {
            throw new IllegalStateException("MaskedHighPassVertex has no parameters");
        }
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArrays(
            INDArray[] maskArrays, MaskState currentMaskState, int minibatchSize) {
        return new Pair<>(null, currentMaskState);
    }

    @Override
    public String toString() {
        return "MaskedHighPassVertex(id=" + vertexIndex + ",name=\"" + vertexName + "\",w_hpf=" + wHpf + ")";
    }
}
