package io.github.instancenorm.speedups.layers;

import io.github.instancenorm.runtime.HostArrays;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.upsampling.Upsampling2D;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * DL4J's {@link Upsampling2D} for nearest-neighbour upsampling by 2 (StarGAN v2's decoder blocks, PyTorch's
 * {@code F.interpolate(x, scale_factor=2, mode='nearest')}) in a Java loop over the arrays' host memory, forward and
 * backward, to the bit of libnd4j's {@code upsampling2d} and {@code upsampling_bp}: each input element fills its 2×2
 * block, and the backward sums the block's gradients from 0, row by row. {@link FastLayers} puts one in place of
 * each plain {@code Upsampling2D} layer with size 2 × 2, NCHW and no dropout. Inputs that are not float, not dense in
 * row-major order or off the CPU backend take DL4J's code, call by call.
 *
 * <p>Why: libnd4j's op moves memory at a fraction of the machine's speed. In a JFR profile of StarGAN v2's AFHQ
 * generator (256 px, inference) it took a ninth of the native time.
 */
final class JavaUpsamplingLayer extends Upsampling2D {

    private JavaUpsamplingLayer(Upsampling2D original) {
        super(original.conf(), DataType.FLOAT); // the data type, like every other field, is copied below
        LayerObjects.copyFields(Upsampling2D.class, original, this);
    }

    /**
     * @param layer any layer
     * @return its replacement if it is a plain {@code Upsampling2D} by 2 × 2 in NCHW without dropout, else
     *         {@code layer}
     * @throws IllegalStateException if this DL4J's fields cannot be copied
     */
    static org.deeplearning4j.nn.api.Layer replacing(org.deeplearning4j.nn.api.Layer layer) {
        if (layer.getClass() != Upsampling2D.class) {
            return layer;
        }
        var conf = (org.deeplearning4j.nn.conf.layers.Upsampling2D) layer.conf().getLayer();
        boolean doubling = Arrays.equals(conf.getSize(), new int[] {2, 2})
                && conf.getFormat() == CNN2DFormat.NCHW
                && conf.getIDropout() == null;
        return doubling ? new JavaUpsamplingLayer((Upsampling2D) layer) : layer;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
        if (!runs(input)) {
            return super.activate(training, mgr);
        }
        assertInputSet(false);
        long[] s = input.shape();
        INDArray out = mgr.createUninitialized(
                ArrayType.ACTIVATIONS, DataType.FLOAT, new long[] {s[0], s[1], 2 * s[2], 2 * s[3]}, 'c');
        FloatBuffer x = floats(input);
        FloatBuffer y = floats(out);
        int from = (int) input.offset();
        int into = (int) out.offset();
        int rows = (int) (s[0] * s[1] * s[2]);
        int w = (int) s[3];
        float[] row = new float[w];
        float[] wide = new float[2 * w];
        for (int r = 0; r < rows; r++) {
            x.get(from + r * w, row, 0, w);
            for (int j = 0; j < w; j++) {
                wide[2 * j] = row[j];
                wide[2 * j + 1] = row[j];
            }
            y.put(into + 2 * r * 2 * w, wide, 0, 2 * w);
            y.put(into + (2 * r + 1) * 2 * w, wide, 0, 2 * w);
        }
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
        long[] s = input == null ? null : input.shape();
        if (!runs(input)
                || !runs(epsilon)
                || !Arrays.equals(epsilon.shape(), new long[] {s[0], s[1], 2 * s[2], 2 * s[3]})) {
            return super.backpropGradient(epsilon, mgr);
        }
        assertInputSet(true);
        INDArray grad = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, s, 'c');
        FloatBuffer e = floats(epsilon);
        FloatBuffer g = floats(grad);
        int from = (int) epsilon.offset();
        int into = (int) grad.offset();
        int rows = (int) (s[0] * s[1] * s[2]);
        int w = (int) s[3];
        float[] top = new float[2 * w];
        float[] bottom = new float[2 * w];
        float[] row = new float[w];
        for (int r = 0; r < rows; r++) {
            e.get(from + 2 * r * 2 * w, top, 0, 2 * w);
            e.get(from + (2 * r + 1) * 2 * w, bottom, 0, 2 * w);
            for (int j = 0; j < w; j++) {
                row[j] = 0f + top[2 * j] + top[2 * j + 1] + bottom[2 * j] + bottom[2 * j + 1];
            }
            g.put(into + r * w, row, 0, w);
        }
        return new Pair<>(new DefaultGradient(), grad);
    }

    private static FloatBuffer floats(INDArray a) {
        return a.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    private static boolean runs(INDArray a) {
        return a != null
                && !a.isEmpty()
                && a.rank() == 4
                && a.dataType() == DataType.FLOAT
                && HostArrays.isCpuBackend()
                && (a.offset() + 4 * a.length()) * Float.BYTES <= Integer.MAX_VALUE
                && HostArrays.denseRowMajor(a);
    }
}
