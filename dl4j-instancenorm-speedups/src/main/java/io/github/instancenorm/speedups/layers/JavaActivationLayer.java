package io.github.instancenorm.speedups.layers;

import io.github.instancenorm.runtime.HostArrays;
import io.github.instancenorm.runtime.KernelSettings;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.ActivationLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * DL4J's {@link ActivationLayer} with a leaky ReLU or a ReLU computed in Java loops over the arrays' host memory,
 * forward and backward, to the bit of libnd4j's ops: {@code leakyrelu} and {@code lrelu_bp} ({@code x < 0 ? α·x : x};
 * the derivative {@code α} below 0 and 1 from 0 up, NaN included), {@code relu} and {@code relu_bp} ({@code x < 0 ?
 * 0 : x}, so {@code -0} and NaN pass; the derivative 1 above 0 only). {@link FastLayers} puts one in place of
 * each plain {@code ActivationLayer} whose function is {@link ActivationLReLU} or a plain {@link ActivationReLU}.
 *
 * <p>Why: each libnd4j op call costs tens of microseconds of set-up in ND4J 1.0.0-M2.1 whatever the array's size, and
 * the leaky ReLU's are slow besides. On a 2-core AVX-512 VM, {@code [8, 64, 8, 8]} floats took 80 µs forward and
 * 240 µs backward there, 6 and 9 µs in the vector loops; StarGAN v2's networks have a leaky ReLU before every convolution, and
 * at the example's 32 px they were a fifth of the training step's native time (JFR).
 *
 * <p>The object is a field-by-field copy of the layer it replaces ({@link LayerObjects#copyFields}), sharing its
 * configuration and input. Arrays other than float, not dense in row-major order, or off the CPU backend take DL4J's
 * own code, call by call. The forward in inference mode works in place on the input, as DL4J's layer does.
 */
final class JavaActivationLayer extends ActivationLayer {

    private static final boolean VECTOR = KernelSettings.vectorLoops();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** The leaky ReLU's slope below 0; NaN for a ReLU. */
    private final float alpha;

    private JavaActivationLayer(ActivationLayer original, float alpha) {
        super(original.conf(), DataType.FLOAT); // the data type, like every other field, is copied below
        LayerObjects.copyFields(ActivationLayer.class, original, this);
        this.alpha = alpha;
    }

    /**
     * @param layer any layer
     * @return the layer's replacement if it is a plain {@code ActivationLayer} with a leaky ReLU or a plain ReLU (no
     *         maximum, threshold or slope), else {@code layer}
     * @throws IllegalStateException if this DL4J's fields cannot be copied
     */
    static org.deeplearning4j.nn.api.Layer replacing(org.deeplearning4j.nn.api.Layer layer) {
        if (layer.getClass() != ActivationLayer.class) {
            return layer;
        }
        var conf =
                (org.deeplearning4j.nn.conf.layers.ActivationLayer) layer.conf().getLayer();
        if (conf.getActivationFn() instanceof ActivationLReLU f && f.getClass() == ActivationLReLU.class) {
            return new JavaActivationLayer((ActivationLayer) layer, (float) f.getAlpha());
        }
        if (conf.getActivationFn() instanceof ActivationReLU f
                && f.getClass() == ActivationReLU.class
                && new ActivationReLU().equals(f)) {
            return new JavaActivationLayer((ActivationLayer) layer, Float.NaN);
        }
        return layer;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
        if (!runs(input)) {
            return super.activate(training, mgr);
        }
        assertInputSet(false);
        INDArray out = training
                ? mgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, input.shape(), 'c')
                : mgr.leverageTo(ArrayType.ACTIVATIONS, input);
        if (!runs(out)) {
            return super.activate(training, mgr);
        }
        forward(input, out, alpha, VECTOR);
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
        if (!runs(input) || !runs(epsilon) || !java.util.Arrays.equals(epsilon.shape(), input.shape())) {
            return super.backpropGradient(epsilon, mgr);
        }
        assertInputSet(true);
        INDArray delta = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, input.shape(), 'c');
        backward(input, epsilon, delta, alpha, VECTOR);
        return new Pair<>(new DefaultGradient(), delta);
    }

    private static boolean runs(INDArray a) {
        return a != null
                && !a.isEmpty()
                && a.dataType() == DataType.FLOAT
                && HostArrays.isCpuBackend()
                && (a.offset() + a.length()) * Float.BYTES <= Integer.MAX_VALUE
                && HostArrays.denseRowMajor(a);
    }

    /**
     * {@code out = x < 0 ? α·x : x}, or for a ReLU ({@code α} NaN) {@code x < 0 ? 0 : x}; {@code out} may be
     * {@code x}.
     *
     * @param vector whether to run the vector lanes ({@code false} for the tests of the scalar loop)
     */
    static void forward(INDArray x, INDArray out, float alpha, boolean vector) {
        ByteBuffer in = x.data().asNio().order(NATIVE);
        ByteBuffer to = out.data().asNio().order(NATIVE);
        int from = (int) x.offset();
        int into = (int) out.offset();
        int n = (int) x.length();
        boolean relu = Float.isNaN(alpha);
        int i = !vector
                ? 0
                : relu
                        ? LeakyReluVectorLoop.reluForward(in, from, to, into, n)
                        : LeakyReluVectorLoop.forward(in, from, to, into, n, alpha);
        for (; i < n; i++) {
            float a = in.getFloat((from + i) * Float.BYTES);
            to.putFloat((into + i) * Float.BYTES, a < 0 ? (relu ? 0f : a * alpha) : a);
        }
    }

    /**
     * {@code delta = x < 0 ? α·ε : ε}, or for a ReLU ({@code α} NaN) {@code x > 0 ? ε : 0}.
     *
     * @param vector whether to run the vector lanes ({@code false} for the tests of the scalar loop)
     */
    static void backward(INDArray x, INDArray epsilon, INDArray delta, float alpha, boolean vector) {
        ByteBuffer in = x.data().asNio().order(NATIVE);
        ByteBuffer eps = epsilon.data().asNio().order(NATIVE);
        ByteBuffer to = delta.data().asNio().order(NATIVE);
        int from = (int) x.offset();
        int fromEps = (int) epsilon.offset();
        int into = (int) delta.offset();
        int n = (int) x.length();
        if (Float.isNaN(alpha)) {
            int i = vector ? LeakyReluVectorLoop.reluBackward(in, from, eps, fromEps, to, into, n) : 0;
            for (; i < n; i++) {
                float e = eps.getFloat((fromEps + i) * Float.BYTES);
                to.putFloat((into + i) * Float.BYTES, in.getFloat((from + i) * Float.BYTES) > 0 ? e : 0f);
            }
            return;
        }
        int i = vector ? LeakyReluVectorLoop.backward(in, from, eps, fromEps, to, into, n, alpha) : 0;
        for (; i < n; i++) {
            float e = eps.getFloat((fromEps + i) * Float.BYTES);
            to.putFloat((into + i) * Float.BYTES, in.getFloat((from + i) * Float.BYTES) < 0 ? e * alpha : e);
        }
    }
}
