package io.github.instancenorm.speedups.updater;

import io.github.instancenorm.learning.TorchAdam;
import io.github.instancenorm.learning.TorchAdamUpdater;
import io.github.instancenorm.runtime.HostArrays;
import io.github.instancenorm.runtime.KernelSettings;
import io.github.instancenorm.runtime.KernelThreads;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.LoggerFactory;

/**
 * Optimizer arithmetic on ND4J's CPU backend, for {@link FastUpdaters}: Adam's two moment updates
 * and its step in one pass over the gradient and the two state arrays, on {@link KernelThreads}; ND4J's
 * {@code Adam} as libnd4j's {@code adam_updater} op computes it ({@link #adam}), and PyTorch's as
 * {@link TorchAdamUpdater} computes it ({@link #torchAdam}).
 *
 * <p>Why not libnd4j's {@code adam_updater} op, which computes the same: on a 2-core VM it took 42 ms for
 * 44.8 million floats (StarGAN's discriminator), about 25 GB/s over its six array passes, while the division by the
 * minibatch and {@code params -= update} around it took 3 and 4 ms over two and three passes. With this kernel the
 * whole update ({@code UpdaterBenchmark}) took 23 ms instead of 52: the arrays lie far outside the caches, and the
 * op's time is arithmetic it does not vectorize. Arrays the kernel does not take (not float, not dense, beyond a
 * Java buffer's 2 GiB, not the CPU backend) return {@code false}, and the caller runs the op.
 *
 * <p>The results are the op's to the bit. libnd4j's builds differ in one respect: the AVX2 and AVX-512 builds compute
 * {@code beta * state + x} as one fused multiply-add, the generic build as a product and a sum. So the first call
 * runs the op on a 256-element probe and takes the form that reproduces it ({@code Probe}); bit-equal
 * updates keep a training run on this path identical to one on DL4J's, where the last bit of a moment would
 * otherwise send a GAN's training elsewhere.
 */
final class UpdaterKernels {

    /** Elements per task: 128 KiB of each array. */
    static final int TASK_ELEMENTS = 1 << 15;

    /** Which loops an update runs: the installed updater's come from {@link KernelSettings}, a test builds its own. */
    enum Loops {
        /** The Vector API loops. */
        VECTOR,
        /** The scalar loops, as on a JVM without the Vector API module. */
        SCALAR,
        /** None: every call declines, and ND4J's op runs, as with {@code cpuKernels=false}. */
        OFF;

        /** @return the loops the system properties give ({@link KernelSettings}) */
        static Loops fromSettings() {
            if (!KernelSettings.cpuKernels()) {
                return OFF;
            }
            return KernelSettings.vectorLoops() ? VECTOR : SCALAR;
        }
    }

    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private UpdaterKernels() {}

    /**
     * @return whether the kernels can run in this process: ND4J's CPU backend, and the CPU kernels not turned off
     *         ({@link KernelSettings#CPU_KERNELS_PROPERTY})
     */
    public static boolean available() {
        return KernelSettings.cpuKernels() && HostArrays.isCpuBackend();
    }

    /**
     * Adam's update in place, with libnd4j's {@code adam_updater} arithmetic in float:
     * {@code m = beta1 m + (1 - beta1) g}, {@code v = beta2 v + (1 - beta2) g²}, then
     * {@code g = m alpha / (sqrt(v) + epsilon)} with {@code alpha = lr sqrt(1 - beta2^(t+1)) / (1 - beta1^(t+1))}.
     *
     * @param gradient     the gradient, replaced by the update
     * @param m            the first moment, updated
     * @param v            the second moment, updated
     * @param learningRate the learning rate of this iteration
     * @param beta1        the first moment's decay
     * @param beta2        the second moment's decay
     * @param epsilon      added to {@code sqrt(v)}
     * @param iteration    the iterations done so far ({@code t})
     * @return {@code false}, with nothing changed, where the kernel does not take these arrays or this bias
     *         correction (as the op, it would not use {@code alpha} where that is 0, infinite or NaN)
     */
    public static boolean adam(
            INDArray gradient,
            INDArray m,
            INDArray v,
            double learningRate,
            double beta1,
            double beta2,
            double epsilon,
            int iteration) {
        return adam(Loops.fromSettings(), gradient, m, v, learningRate, beta1, beta2, epsilon, iteration);
    }

    /** {@link #adam(INDArray, INDArray, INDArray, double, double, double, double, int)} with the given loops. */
    static boolean adam(
            Loops loops,
            INDArray gradient,
            INDArray m,
            INDArray v,
            double learningRate,
            double beta1,
            double beta2,
            double epsilon,
            int iteration) {
        if (loops == Loops.OFF || !floatVectors(gradient, m, v)) {
            return false;
        }
        float b1 = (float) beta1;
        float b2 = (float) beta2;
        float alpha = alpha(learningRate, b1, b2, iteration);
        if (alpha == 0 || !Float.isFinite(alpha)) {
            return false;
        }
        AdamStep step = new AdamStep(b1, b2, alpha, (float) epsilon, Probe.FUSED);
        ByteBuffer g = gradient.data().asNio().order(NATIVE);
        ByteBuffer mb = m.data().asNio().order(NATIVE);
        ByteBuffer vb = v.data().asNio().order(NATIVE);
        int n = (int) gradient.length();
        int g0 = (int) gradient.offset();
        int m0 = (int) m.offset();
        int v0 = (int) v.offset();
        boolean vectors = loops == Loops.VECTOR;
        int tasks = (n + TASK_ELEMENTS - 1) / TASK_ELEMENTS;
        KernelThreads.run(
                tasks,
                () -> null,
                (task, none) -> {
                    int from = task * TASK_ELEMENTS;
                    int len = Math.min(TASK_ELEMENTS, n - from);
                    if (vectors) {
                        AdamVectorLoop.run(step, g, g0 + from, mb, m0 + from, vb, v0 + from, len);
                    } else {
                        scalar(step, g, g0 + from, mb, m0 + from, vb, v0 + from, len);
                    }
                },
                none -> {});
        return true;
    }

    /**
     * {@link TorchAdam}'s step in place, with {@link TorchAdamUpdater}'s arithmetic in float, to its bits:
     * {@code m = beta1 m + (1 - beta1) g}, {@code v = beta2 v + ((1 - beta2) g) g}, with {@code amsgrad}
     * {@code vMax = max(vMax, v)} (then {@code v} below is {@code vMax}), and
     * {@code g = (m stepSize) / (sqrt(v) / biasCorrection2Sqrt + eps)}, each operation rounded once, the scalars
     * computed in double and rounded to float as the ND4J ops round them.
     *
     * @param gradient  the gradient, replaced by the update
     * @param m         the first moment, updated
     * @param v         the second moment, updated
     * @param maxV      the running maximum of {@code v}, updated; null without {@code amsgrad}
     * @param config    the configuration
     * @param iteration the iterations done so far ({@code t - 1})
     * @param epoch     the epoch, for a learning-rate schedule
     * @return {@code false}, with nothing changed, where the kernel does not take these arrays
     */
    public static boolean torchAdam(
            INDArray gradient, INDArray m, INDArray v, INDArray maxV, TorchAdam config, int iteration, int epoch) {
        return torchAdam(Loops.fromSettings(), gradient, m, v, maxV, config, iteration, epoch);
    }

    /** {@link #torchAdam(INDArray, INDArray, INDArray, INDArray, TorchAdam, int, int)} with the given loops. */
    static boolean torchAdam(
            Loops loops,
            INDArray gradient,
            INDArray m,
            INDArray v,
            INDArray maxV,
            TorchAdam config,
            int iteration,
            int epoch) {
        if (loops == Loops.OFF
                || (maxV == null) == config.isAmsgrad()
                || !(maxV == null ? floatVectors(gradient, m, v) : floatVectors(gradient, m, v, maxV))) {
            return false;
        }
        TorchAdamStep step = TorchAdamStep.of(config, iteration, epoch);
        ByteBuffer g = gradient.data().asNio().order(NATIVE);
        ByteBuffer mb = m.data().asNio().order(NATIVE);
        ByteBuffer vb = v.data().asNio().order(NATIVE);
        ByteBuffer xb = maxV == null ? null : maxV.data().asNio().order(NATIVE);
        int n = (int) gradient.length();
        int g0 = (int) gradient.offset();
        int m0 = (int) m.offset();
        int v0 = (int) v.offset();
        int x0 = maxV == null ? 0 : (int) maxV.offset();
        boolean vectors = loops == Loops.VECTOR;
        int tasks = (n + TASK_ELEMENTS - 1) / TASK_ELEMENTS;
        KernelThreads.run(
                tasks,
                () -> null,
                (task, none) -> {
                    int from = task * TASK_ELEMENTS;
                    int len = Math.min(TASK_ELEMENTS, n - from);
                    if (vectors) {
                        AdamVectorLoop.runTorch(step, g, g0 + from, mb, m0 + from, vb, v0 + from, xb, x0 + from, len);
                    } else {
                        torchScalar(step, g, g0 + from, mb, m0 + from, vb, v0 + from, xb, x0 + from, len);
                    }
                },
                none -> {});
        return true;
    }

    /**
     * {@link TorchAdam}'s constants for one step, as the loops take them: each a double rounded to float, as ND4J's
     * scalar ops round their scalar to the array's type.
     */
    record TorchAdamStep(
            float beta1,
            float oneMinusBeta1,
            float beta2,
            float oneMinusBeta2,
            float stepSize,
            float biasCorrection2Sqrt,
            float epsilon) {

        static TorchAdamStep of(TorchAdam config, int iteration, int epoch) {
            return new TorchAdamStep(
                    (float) config.getBeta1(),
                    (float) (1.0 - config.getBeta1()),
                    (float) config.getBeta2(),
                    (float) (1.0 - config.getBeta2()),
                    (float) config.stepSize(iteration, epoch),
                    (float) config.biasCorrection2Sqrt(iteration),
                    (float) config.getEpsilon());
        }
    }

    /**
     * The scalar loop of {@link TorchAdam}'s step: the same float operations in the same order as
     * {@link AdamVectorLoop#runTorch} and {@link TorchAdamUpdater}'s ND4J ops, so all three give the same bits.
     *
     * @param maxV the running maximum of {@code v}, or null without {@code amsgrad}
     */
    static void torchScalar(
            TorchAdamStep s,
            ByteBuffer g,
            int gFrom,
            ByteBuffer m,
            int mFrom,
            ByteBuffer v,
            int vFrom,
            ByteBuffer maxV,
            int maxFrom,
            int len) {
        for (int i = 0; i < len; i++) {
            int gi = (gFrom + i) * Float.BYTES;
            int mi = (mFrom + i) * Float.BYTES;
            int vi = (vFrom + i) * Float.BYTES;
            float grad = g.getFloat(gi);
            float mt = m.getFloat(mi) * s.beta1() + grad * s.oneMinusBeta1();
            float vt = v.getFloat(vi) * s.beta2() + grad * s.oneMinusBeta2() * grad;
            m.putFloat(mi, mt);
            v.putFloat(vi, vt);
            float second = vt;
            if (maxV != null) {
                int xi = (maxFrom + i) * Float.BYTES;
                second = Math.max(maxV.getFloat(xi), vt);
                maxV.putFloat(xi, second);
            }
            g.putFloat(gi, mt * s.stepSize() / ((float) Math.sqrt(second) / s.biasCorrection2Sqrt() + s.epsilon()));
        }
    }

    /**
     * The op's bias-corrected step size {@code lr sqrt(1 - beta2^(t+1)) / (1 - beta1^(t+1))}, in its mix of float
     * and double: the powers and the square root in float, the division by {@code 1 - beta1^(t+1)} in double.
     */
    private static float alpha(double learningRate, float beta1, float beta2, int iteration) {
        float t = (float) iteration + 1;
        float b1t = (float) Math.pow(beta1, t);
        float b2t = (float) Math.pow(beta2, t);
        return (float) ((float) learningRate * (float) Math.sqrt((float) (1.0 - b2t)) / (1.0 - b1t));
    }

    /**
     * Adam's constants for one step, as the loops take them.
     *
     * @param fused whether {@code beta * state + x} is one fused multiply-add, as in libnd4j's AVX2 builds
     */
    record AdamStep(float beta1, float beta2, float alpha, float epsilon, boolean fused) {
        float oneMinusBeta1() {
            return 1 - beta1;
        }

        float oneMinusBeta2() {
            return 1 - beta2;
        }
    }

    /**
     * The scalar loop: the same float operations in the same order as {@link AdamVectorLoop}, so both give the same
     * bits.
     */
    static void scalar(AdamStep s, ByteBuffer g, int gFrom, ByteBuffer m, int mFrom, ByteBuffer v, int vFrom, int len) {
        float c1 = s.oneMinusBeta1();
        float c2 = s.oneMinusBeta2();
        for (int i = 0; i < len; i++) {
            int gi = (gFrom + i) * Float.BYTES;
            int mi = (mFrom + i) * Float.BYTES;
            int vi = (vFrom + i) * Float.BYTES;
            float grad = g.getFloat(gi);
            float mt;
            float vt;
            if (s.fused()) {
                mt = Math.fma(s.beta1(), m.getFloat(mi), grad * c1);
                vt = Math.fma(s.beta2(), v.getFloat(vi), grad * grad * c2);
            } else {
                mt = s.beta1() * m.getFloat(mi) + grad * c1;
                vt = s.beta2() * v.getFloat(vi) + grad * grad * c2;
            }
            m.putFloat(mi, mt);
            v.putFloat(vi, vt);
            g.putFloat(gi, mt * s.alpha() / ((float) Math.sqrt(vt) + s.epsilon()));
        }
    }

    /** Runs the probe when first asked. */
    private static final class Probe {
        private static final double LEARNING_RATE = 1e-3;
        private static final double BETA1 = 0.9;
        private static final double BETA2 = 0.999;
        private static final double EPSILON = 1e-8;
        private static final int ITERATION = 3;

        static final boolean FUSED = probe();

        /**
         * Runs libnd4j's op and both forms on the same 256 elements and returns whether the fused form reproduces the
         * op; where neither does exactly, the one with fewer differing elements (a build this class does not know).
         */
        private static boolean probe() {
            // The first call may come inside the updater's workspace; the probe's arrays are its own.
            try (MemoryWorkspace outside = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                return probeOutsideWorkspaces();
            }
        }

        private static boolean probeOutsideWorkspaces() {
            int n = 256;
            float[] grad = new float[n];
            float[] m = new float[n];
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                grad[i] = (float) Math.sin(i * 1.7 + 0.3) * 0.1f;
                m[i] = (float) Math.cos(i * 2.3) * 0.05f;
                v[i] = (float) (1e-3 * (1.5 + Math.sin(i * 0.7)));
            }
            INDArray g = Nd4j.createFromArray(grad.clone());
            INDArray mo = Nd4j.createFromArray(m.clone());
            INDArray vo = Nd4j.createFromArray(v.clone());
            Nd4j.exec(new org.nd4j.linalg.api.ops.impl.updaters.AdamUpdater(
                    g, vo, mo, LEARNING_RATE, BETA1, BETA2, EPSILON, ITERATION));
            int fused = differences(true, grad, m, v, g, mo, vo);
            int plain = differences(false, grad, m, v, g, mo, vo);
            if (Math.min(fused, plain) > 0) {
                LoggerFactory.getLogger(UpdaterKernels.class)
                        .debug(
                                "Adam kernel: neither form reproduces libnd4j's op ({} and {} of {} elements differ"
                                        + " in the last bits); taking the {} one",
                                fused,
                                plain,
                                n,
                                fused <= plain ? "fused" : "unfused");
            }
            return fused <= plain;
        }

        /** The elements where the scalar loop's form differs from the op's results in any of the three arrays. */
        private static int differences(
                boolean fused, float[] grad, float[] m, float[] v, INDArray opG, INDArray opM, INDArray opV) {
            int n = grad.length;
            ByteBuffer g = floats(grad);
            ByteBuffer mb = floats(m);
            ByteBuffer vb = floats(v);
            float b1 = (float) BETA1;
            float b2 = (float) BETA2;
            AdamStep step = new AdamStep(b1, b2, alpha(LEARNING_RATE, b1, b2, ITERATION), (float) EPSILON, fused);
            scalar(step, g, 0, mb, 0, vb, 0, n);
            float[] eg = opG.toFloatVector();
            float[] em = opM.toFloatVector();
            float[] ev = opV.toFloatVector();
            int differ = 0;
            for (int i = 0; i < n; i++) {
                int at = i * Float.BYTES;
                if (Float.compare(eg[i], g.getFloat(at)) != 0
                        || Float.compare(em[i], mb.getFloat(at)) != 0
                        || Float.compare(ev[i], vb.getFloat(at)) != 0) {
                    differ++;
                }
            }
            return differ;
        }

        private static ByteBuffer floats(float[] values) {
            ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES).order(NATIVE);
            b.asFloatBuffer().put(values);
            return b;
        }
    }

    /**
     * Whether the kernel takes these arrays: the CPU backend, float, one length, each dense (a vector's elements
     * next to one another, or any shape in row-major order) and addressable by a Java buffer.
     */
    private static boolean floatVectors(INDArray... arrays) {
        if (!HostArrays.isCpuBackend()) {
            return false;
        }
        long length = arrays[0].length();
        for (INDArray a : arrays) {
            if (a.dataType() != DataType.FLOAT
                    || a.isEmpty()
                    || a.length() != length
                    || !HostArrays.denseRowMajor(a)
                    || a.offset() != a.data().offset()
                    || a.offset() + a.length() > Integer.MAX_VALUE / Float.BYTES) {
                return false;
            }
        }
        return true;
    }
}
