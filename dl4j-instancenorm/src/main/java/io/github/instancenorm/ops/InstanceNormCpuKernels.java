package io.github.instancenorm.ops;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The CPU fast path of {@link InstanceNorm}: the same math as its ND4J-op form, computed by plain Java loops
 * straight over the host memory of contiguous c-ordered float or double arrays.
 *
 * <p>Instance normalization is memory-bound, so what counts is how often the large tensors travel between memory
 * and the cores. The op form makes a pass per ND4J op (mean, variance, broadcast multiply, broadcast add; eight
 * passes and several input-sized temporaries in the backward). Here every pass works on blocks of a few thousand
 * elements copied into a per-thread {@code double} scratch that stays in the L1/L2 cache:
 * <ul>
 *   <li>training forward: one pass for the statistics (each block's mean and centred sum of squares, exact
 *       two-pass inside the cached block, merged across blocks with Chan et al.'s pairwise formula), one pass
 *       that writes {@code y = x * scale + shift}. Channels-first instances are contiguous, so each instance (or
 *       group of small ones) is normalized right after its statistics and the second read comes from the
 *       cache;</li>
 *   <li>inference forward: one read and one write;</li>
 *   <li>backward: one pass for {@code sum(g)} and {@code sum((x - mean) * g)}, one that writes {@code dx}.</li>
 * </ul>
 * No input-sized temporary is allocated. Double input is accumulated in double throughout. Float instances of up to
 * {@code BLOCK / 2} elements are summed in eight float partial sums over runs of 256 elements, added in double;
 * longer float blocks are summed pairwise in float (error {@code O(eps log blockSize)}) and merged in double, much
 * as PyTorch's cascade sums do; the element-wise outputs are computed in the arrays' own type with per-instance coefficients.
 * The results do not depend on the number of threads: blocks are merged in a fixed order.
 *
 * <p>Work is split over the common fork-join pool by instance (channels-first) or by blocks of spatial rows
 * (channels-last, where a sample's channels are interleaved), so a batch of one uses every core too.
 *
 * <p>{@link InstanceNorm} takes this path by itself when {@link #applies} says so: the ND4J CPU backend, float or
 * double, contiguous c-order arrays. Every other case (CUDA, f-order or strided views, half precision) keeps the
 * op form. Setting the system property {@value #PROPERTY} to {@code false} turns the fast path off.
 */
final class InstanceNormCpuKernels {

    /** System property that disables this fast path when set to {@code false}; read on every call. */
    static final String PROPERTY = KernelSettings.CPU_KERNELS_PROPERTY;

    /** Elements per cached block: 32 KiB of doubles, a comfortable fit in L1/L2. */
    private static final int BLOCK = 4096;
    /**
     * Float instances up to this long (all those grouped several to a block) take unrolled loops with float
     * partial sums over runs of {@link #CHUNK} elements instead of pairwise folds.
     */
    private static final int CHUNK_LIMIT = BLOCK / 2;
    /** Elements a float partial sum of the unrolled loops covers before it is added in double: 256 / 8 = 32. */
    private static final int CHUNK = 256;
    /** Length at which {@link #foldSum} stops halving and adds the rest in partial sums. */
    private static final int FOLD_TAIL = 64;
    /** Elements a parallel task covers, at least. */
    private static final int TASK = 1 << 14;
    /** Elements below which one thread does the whole job. */
    private static final long PARALLEL_ELEMENTS = 1 << 15;
    /** Float arrays from this many elements (4 MiB) on are read and written in place by the vector affine passes. */
    private static final long DIRECT_MIN_ELEMENTS = 1 << 20;
    /** Test hook: the in-place vector passes for arrays of every size. */
    static volatile boolean forceDirect;

    private static final Logger log = LoggerFactory.getLogger(InstanceNormCpuKernels.class);
    private static final String CPU_BACKEND = "org.nd4j.linalg.cpu.nativecpu.CpuBackend";
    private static volatile Boolean cpuBackend;

    /** Test hook: forces the op form regardless of {@link #PROPERTY}. */
    static volatile boolean forceOpForm;

    /**
     * System property that keeps the kernels off the Vector API loops ({@link FloatVectorLoops}) when set to
     * {@code false}; read once, when this class is initialized.
     */
    static final String VECTOR_PROPERTY = KernelSettings.VECTOR_LOOPS_PROPERTY;
    /** Whether {@code jdk.incubator.vector} is there to use (and not turned off by {@link #VECTOR_PROPERTY}). */
    private static final boolean VECTOR_API = detectVectorApi();
    /** Test hook: keeps the kernels on their scalar float loops even when the Vector API is there. */
    static volatile boolean forceScalarLoops;

    private InstanceNormCpuKernels() {
    }

    /**
     * Whether the fast path can compute an op on these arrays: the fast path is enabled, the backend is ND4J's CPU
     * backend, and every non-null array is float or double (all the same type), dense in row-major order and
     * addressable by a Java buffer (under 2 GiB).
     *
     * @param arrays the large arrays of an op (input, output, gradients); {@code null}s are skipped
     * @return whether the fast path applies
     */
    static boolean applies(INDArray... arrays) {
        if (forceOpForm || !Boolean.parseBoolean(System.getProperty(PROPERTY, "true")) || !isCpuBackend()) {
            return false;
        }
        DataType type = null;
        for (INDArray a : arrays) {
            if (a == null) {
                continue;
            }
            if (type == null) {
                type = a.dataType();
                if (type != DataType.FLOAT && type != DataType.DOUBLE) {
                    return false;
                }
            } else if (a.dataType() != type) {
                return false;
            }
            if (a.isEmpty() || !denseRowMajor(a) || a.offset() != a.data().offset()
                    || a.offset() + a.length() > Integer.MAX_VALUE / a.data().getElementSize()) {
                return false;
            }
        }
        return type != null;
    }

    /**
     * Whether the elements lie in row-major (c) order with no gaps. Axes of size 1 are skipped: their stride is
     * irrelevant (ND4J's own {@code Shape.hasDefaultStridesForShape} rejects some such arrays).
     */
    static boolean denseRowMajor(INDArray a) {
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1) {
                if (stride[i] != expected) {
                    return false;
                }
                expected *= shape[i];
            }
        }
        return true;
    }

    /**
     * Whether the float kernels run their per-instance sums and element-wise loops of grouped small instances on
     * the JDK's Vector API. That needs the incubator module on the command line
     * ({@code --add-modules jdk.incubator.vector}); without it the same loops run as scalar Java.
     *
     * @return whether the Vector API loops are in use
     */
    static boolean vectorLoops() {
        return VECTOR_API && !forceScalarLoops;
    }

    private static boolean detectVectorApi() {
        if (!Boolean.parseBoolean(System.getProperty(VECTOR_PROPERTY, "true"))) {
            log.debug("Vector API loops turned off by -D{}=false", VECTOR_PROPERTY);
            return false;
        }
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            log.info("InstanceNormalization CPU kernels: scalar float loops. Start the JVM with --add-modules"
                    + " jdk.incubator.vector for the faster Vector API loops (training passes 1.2-3.4x faster in the"
                    + " benchmark)");
            return false;
        }
        try {
            // Vectors of fewer than four floats would not pay for themselves.
            int lanes = FloatVectorLoops.lanes();
            log.debug("InstanceNormalization CPU kernels: Vector API loops, {} float lanes", lanes);
            return lanes >= 4;
        } catch (LinkageError e) {
            log.info("InstanceNormalization CPU kernels: the Vector API could not be loaded ({}); scalar float loops",
                    e.toString());
            return false;
        }
    }

    private static boolean isCpuBackend() {
        Boolean cpu = cpuBackend;
        if (cpu == null) {
            cpu = CPU_BACKEND.equals(Nd4j.getBackend().getClass().getName());
            cpuBackend = cpu;
        }
        return cpu;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Entry points, in INDArray terms; the caller has checked applies(...) and the shapes.
    // ---------------------------------------------------------------------------------------------------------

    /**
     * Statistics of each instance, as {@link InstanceNorm#moments}.
     *
     * @param x      the input
     * @param layout where the channel and spatial axes are
     * @return {@code [N, C]} mean and biased variance in {@code x}'s data type
     */
    static InstanceNorm.Moments moments(INDArray x, InstanceNormLayout layout) {
        Geometry geo = Geometry.of(x, layout);
        InstanceVectors vec = InstanceVectors.take(geo.instances());
        try {
            double[] mean = vec.get(0);
            double[] var = vec.get(1);
            stats(Data.of(x), geo, mean, var);
            return new InstanceNorm.Moments(instanceArray(mean, geo, x.dataType(), vec),
                    instanceArray(var, geo, x.dataType(), vec));
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * Training forward: computes the instance statistics and normalizes with them, as
     * {@link InstanceNorm#moments} followed by {@link InstanceNorm#normalizeWithInstanceStats}.
     *
     * @param x      the input
     * @param gamma  {@code [C]} scale, or {@code null}
     * @param beta   {@code [C]} shift, or {@code null}
     * @param eps    added to the variance
     * @param layout where the channel and spatial axes are
     * @param out    receives the result; same shape as {@code x}
     * @param statsOut receives the {@code [N, C]} statistics (checked by the caller), or {@code null}
     * @return the {@code [N, C]} statistics in {@code x}'s data type: {@code statsOut}, or arrays allocated outside
     *         any workspace
     */
    static InstanceNorm.Moments forwardWithInstanceStats(INDArray x, INDArray gamma, INDArray beta, double eps,
                                                               InstanceNormLayout layout, INDArray out,
                                                               InstanceNorm.Moments statsOut) {
        Geometry geo = Geometry.of(x, layout);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            return forwardWithInstanceStats(x, Data.of(x), Data.of(out), geo, gamma, beta, eps, statsOut, vec);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    private static InstanceNorm.Moments forwardWithInstanceStats(INDArray x, Data in, Data o, Geometry geo,
                                                                INDArray gamma, INDArray beta, double eps,
                                                                InstanceNorm.Moments statsOut, InstanceVectors vec) {
        int n = geo.instances();
        double[] g = channelValues(gamma, geo.channels, 1.0, vec.get(4), vec);
        double[] b = channelValues(beta, geo.channels, 0.0, vec.get(5), vec);
        double[] mean = vec.get(0);
        double[] var = vec.get(1);
        double[] scale = vec.get(2);
        double[] shift = vec.get(3);
        if (!geo.channelsLast) {
            // Channels-first instances are contiguous: each one (or each group of small ones) is normalized right
            // after its statistics, while it is still in the cache, so x is read from memory once.
            int step = Math.max(1, geo.instancesPerBlock);
            run(geo.firstTasks(), geo.total(), BLOCK, 1, (t, s) -> {
                for (int i = geo.firstTaskStart(t), end = geo.firstTaskEnd(t); i < end; i += step) {
                    int to = Math.min(end, i + step);
                    firstMoments(in, geo, i, to, mean, var, s);
                    coefficients(mean, var, g, b, eps, geo.channels, i, to, scale, shift);
                    s.groupInScratch = step > 1;
                    firstAffine(in, o, geo, i, to, scale, shift, s);
                    s.groupInScratch = false;
                }
            });
        } else if (geo.sampleInBlock()) {
            // Channels-last samples that fit in one cached block: a sample's statistics, coefficients and affine
            // pass in one task, x read from memory once, one hand-off to the threads instead of two.
            int c = geo.channels;
            int rows = (int) geo.spatial;
            run(geo.batch, geo.total(), geo.blockRows * c, c, (t, s) -> {
                long index = (long) t * rows * c;
                int from = t * c;
                in.rowMoments(index, rows, c, s);
                for (int k = 0; k < c; k++) {
                    mean[from + k] = s.dv0[k];
                    var[from + k] = s.dv1[k] / rows;
                }
                coefficients(mean, var, g, b, eps, c, from, from + c, scale, shift);
                in.setVectors(s, c, scale, shift, null, null, from);
                in.affineRows(o, index, rows, c, s);
            });
        } else {
            stats(in, geo, mean, var);
            coefficients(mean, var, g, b, eps, geo.channels, 0, n, scale, shift);
            affine(in, o, geo, scale, shift);
        }
        if (statsOut != null) {
            write(statsOut.mean(), mean, n, vec);
            write(statsOut.variance(), var, n, vec);
            return statsOut;
        }
        return new InstanceNorm.Moments(instanceArray(mean, geo, x.dataType(), vec),
                instanceArray(var, geo, x.dataType(), vec));
    }

    /** {@code scale = gamma / sqrt(var + eps)}, {@code shift = beta - mean * scale} for instances {@code [from, to)}. */
    private static void coefficients(double[] mean, double[] var, double[] gamma, double[] beta, double eps,
                                     int channels, int from, int to, double[] scale, double[] shift) {
        for (int i = from; i < to; i++) {
            int c = i % channels;
            scale[i] = gamma[c] / Math.sqrt(var[i] + eps);
            shift[i] = beta[c] - mean[i] * scale[i];
        }
    }

    /**
     * Normalizes with given instance statistics, as {@link InstanceNorm#normalizeWithInstanceStats}.
     *
     * @param x       the input
     * @param moments {@code [N, C]} statistics
     * @param gamma   {@code [C]} scale, or {@code null}
     * @param beta    {@code [C]} shift, or {@code null}
     * @param eps     added to the variance
     * @param layout  where the channel and spatial axes are
     * @param out     receives the result
     */
    static void normalizeWithInstanceStats(INDArray x, InstanceNorm.Moments moments, INDArray gamma,
                                                  INDArray beta, double eps, InstanceNormLayout layout,
                                                  INDArray out) {
        Geometry geo = Geometry.of(x, layout);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] mean = values(moments.mean(), vec.get(0), vec);
            double[] var = values(moments.variance(), vec.get(1), vec);
            double[] g = channelValues(gamma, geo.channels, 1.0, vec.get(4), vec);
            double[] b = channelValues(beta, geo.channels, 0.0, vec.get(5), vec);
            double[] scale = vec.get(2);
            double[] shift = vec.get(3);
            coefficients(mean, var, g, b, eps, geo.channels, 0, n, scale, shift);
            affine(Data.of(x), Data.of(out), geo, scale, shift);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * Normalizes with per-channel running statistics, as {@link InstanceNorm#normalizeWithRunningStats}: one read of
     * {@code x}, one write of {@code out}.
     *
     * @param x           the input
     * @param runningMean {@code [C]}
     * @param runningVar  {@code [C]}
     * @param gamma       {@code [C]} scale, or {@code null}
     * @param beta        {@code [C]} shift, or {@code null}
     * @param eps         added to the variance
     * @param layout      where the channel and spatial axes are
     * @param out         receives the result
     */
    static void normalizeWithRunningStats(INDArray x, INDArray runningMean, INDArray runningVar,
                                                 INDArray gamma, INDArray beta, double eps,
                                                 InstanceNormLayout layout, INDArray out) {
        Geometry geo = Geometry.of(x, layout);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] rm = channelValues(runningMean, geo.channels, 0.0, vec.get(0), vec);
            double[] rv = channelValues(runningVar, geo.channels, 1.0, vec.get(1), vec);
            double[] g = channelValues(gamma, geo.channels, 1.0, vec.get(4), vec);
            double[] b = channelValues(beta, geo.channels, 0.0, vec.get(5), vec);
            double[] scale = vec.get(2);
            double[] shift = vec.get(3);
            // One coefficient pair per channel, repeated for every sample.
            int c = geo.channels;
            for (int k = 0; k < c; k++) {
                scale[k] = g[k] / Math.sqrt(rv[k] + eps);
                shift[k] = b[k] - rm[k] * scale[k];
            }
            for (int i = c; i < n; i += c) {
                System.arraycopy(scale, 0, scale, i, c);
                System.arraycopy(shift, 0, shift, i, c);
            }
            affine(Data.of(x), Data.of(out), geo, scale, shift);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * Backward of the training forward, as {@link InstanceNorm#backwardWithInstanceStats}:
     * {@code dx = gamma * invStd * (g - mean_s(g) - xHat * mean_s(g * xHat))}.
     *
     * @param x       the forward input
     * @param grad    gradient with respect to the output
     * @param moments the {@code [N, C]} statistics the forward used
     * @param gamma   {@code [C]}, or {@code null}
     * @param eps     as in the forward
     * @param layout  where the channel and spatial axes are
     * @param dx      receives the input gradient
     * @param dGamma  receives the {@code [C]} gamma gradient, or {@code null}
     * @param dBeta   receives the {@code [C]} beta gradient, or {@code null}
     */
    static void backwardWithInstanceStats(INDArray x, INDArray grad, InstanceNorm.Moments moments,
                                                 INDArray gamma, double eps, InstanceNormLayout layout,
                                                 INDArray dx, INDArray dGamma, INDArray dBeta) {
        Geometry geo = Geometry.of(x, layout);
        InstanceVectors vec = InstanceVectors.take(Math.max(geo.instances(), geo.channels));
        try {
            backwardWithInstanceStats(Data.of(x), Data.of(grad), Data.of(dx), geo, moments, gamma, eps, dGamma,
                    dBeta, vec);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    private static void backwardWithInstanceStats(Data in, Data g, Data out, Geometry geo,
                                                  InstanceNorm.Moments moments, INDArray gamma, double eps,
                                                  INDArray dGamma, INDArray dBeta, InstanceVectors vec) {
        double[] mean = values(moments.mean(), vec.get(0), vec);
        double[] var = values(moments.variance(), vec.get(1), vec);
        double[] gam = channelValues(gamma, geo.channels, 1.0, vec.get(2), vec);
        int n = geo.instances();
        double[] gradSum = vec.get(3);
        double[] dot = vec.get(4);
        double[] a = vec.get(5);
        double[] bc = vec.get(6);
        double[] cc = vec.get(7);
        double[] invStd = vec.get(8);
        if (!geo.channelsLast) {
            // As in the forward: each instance (group) gets dx right after its sums, while x and g are cached.
            int step = Math.max(1, geo.instancesPerBlock);
            run(geo.firstTasks(), geo.total(), BLOCK, 1, (t, s) -> {
                for (int i = geo.firstTaskStart(t), end = geo.firstTaskEnd(t); i < end; i += step) {
                    int to = Math.min(end, i + step);
                    firstGradSums(in, g, geo, i, to, mean, gradSum, dot, s);
                    gradCoefficients(var, gam, gradSum, dot, eps, geo, i, to, invStd, a, bc, cc);
                    s.groupInScratch = step > 1;
                    firstGradInput(in, g, out, geo, i, to, a, bc, cc, mean, s);
                    s.groupInScratch = false;
                }
            });
        } else if (geo.sampleInBlock()) {
            // As in the forward: a sample's sums, coefficients and dx in one task.
            int c = geo.channels;
            int rows = (int) geo.spatial;
            run(geo.batch, geo.total(), geo.blockRows * c, c, (t, s) -> {
                long index = (long) t * rows * c;
                int from = t * c;
                Arrays.fill(gradSum, from, from + c, 0.0);
                Arrays.fill(dot, from, from + c, 0.0);
                in.setVectors(s, c, mean, null, null, null, from);
                in.rowGradSums(g, index, rows, c, gradSum, dot, from, s);
                gradCoefficients(var, gam, gradSum, dot, eps, geo, from, from + c, invStd, a, bc, cc);
                g.setVectors(s, c, a, bc, cc, mean, from);
                g.gradInputRows(in, out, index, rows, c, s);
            });
        } else {
            gradSums(in, g, geo, mean, gradSum, dot);
            gradCoefficients(var, gam, gradSum, dot, eps, geo, 0, n, invStd, a, bc, cc);
            gradInput(in, g, out, geo, a, bc, cc, mean);
        }
        // gamma and beta gradients: sums over the batch of the per-instance sums, in instance order.
        double[] dGammaSum = new double[geo.channels];
        double[] dBetaSum = new double[geo.channels];
        for (int i = 0, c = 0; i < n; i++, c = c + 1 == geo.channels ? 0 : c + 1) {
            dGammaSum[c] += dot[i] * invStd[i];
            dBetaSum[c] += gradSum[i];
        }
        assignChannels(dGamma, dGammaSum, vec);
        assignChannels(dBeta, dBetaSum, vec);
    }

    /**
     * Coefficients of {@code dx = a g + b (x - mean) + c} for instances {@code [from, to)}:
     * {@code a = gamma invStd}, {@code b = -a dot invStd^2 / M}, {@code c = -a sum(g) / M}; {@code invStd} is
     * kept for the gamma gradient.
     */
    private static void gradCoefficients(double[] var, double[] gamma, double[] gradSum, double[] dot, double eps,
                                         Geometry geo, int from, int to, double[] invStd, double[] a, double[] b,
                                         double[] c) {
        double m = geo.spatial;
        for (int i = from; i < to; i++) {
            double is = 1.0 / Math.sqrt(var[i] + eps);
            invStd[i] = is;
            a[i] = gamma[i % geo.channels] * is;
            b[i] = -a[i] * dot[i] * is * is / m;
            c[i] = -a[i] * gradSum[i] / m;
        }
    }

    /**
     * Backward of the inference forward, as {@link InstanceNorm#backwardWithRunningStats}:
     * {@code dx = g * gamma / sqrt(runningVar + eps)}.
     *
     * @param x           the forward input
     * @param grad        gradient with respect to the output
     * @param runningMean {@code [C]}
     * @param runningVar  {@code [C]}
     * @param gamma       {@code [C]}, or {@code null}
     * @param eps         as in the forward
     * @param layout      where the channel and spatial axes are
     * @param dx          receives the input gradient
     * @param dGamma      receives the {@code [C]} gamma gradient, or {@code null}
     * @param dBeta       receives the {@code [C]} beta gradient, or {@code null}
     */
    static void backwardWithRunningStats(INDArray x, INDArray grad, INDArray runningMean,
                                                INDArray runningVar, INDArray gamma, double eps,
                                                InstanceNormLayout layout,
                                                INDArray dx, INDArray dGamma, INDArray dBeta) {
        Geometry geo = Geometry.of(x, layout);
        Data in = Data.of(x);
        Data g = Data.of(grad);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] rm = channelValues(runningMean, geo.channels, 0.0, vec.get(0), vec);
            double[] rv = channelValues(runningVar, geo.channels, 1.0, vec.get(1), vec);
            double[] gam = channelValues(gamma, geo.channels, 1.0, vec.get(2), vec);
            double[] a = vec.get(3);
            double[] mean = vec.get(4);
            for (int i = 0, c = 0; i < n; i++, c = c + 1 == geo.channels ? 0 : c + 1) {
                a[i] = gam[c] / Math.sqrt(rv[c] + eps);
                mean[i] = rm[c];
            }
            if (dGamma != null || dBeta != null) {
                double[] gradSum = vec.get(5);
                double[] dot = vec.get(6);
                gradSums(in, g, geo, mean, gradSum, dot);
                double[] dGammaSum = new double[geo.channels];
                double[] dBetaSum = new double[geo.channels];
                for (int i = 0, c = 0; i < n; i++, c = c + 1 == geo.channels ? 0 : c + 1) {
                    dGammaSum[c] += dot[i] / Math.sqrt(rv[c] + eps);
                    dBetaSum[c] += gradSum[i];
                }
                assignChannels(dGamma, dGammaSum, vec);
                assignChannels(dBeta, dBetaSum, vec);
            }
            gradInput(null, g, Data.of(dx), geo, a, null, null, null);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * Whether {@link #foldInstanceStats} can work on these small arrays: the fast path is enabled, the backend is
     * ND4J's CPU backend, and each array is a dense float or double vector (types may differ).
     *
     * @param arrays running statistics, counter and instance statistics
     * @return whether the plain-Java update applies
     */
    static boolean appliesToVectors(INDArray... arrays) {
        if (forceOpForm || !Boolean.parseBoolean(System.getProperty(PROPERTY, "true")) || !isCpuBackend()) {
            return false;
        }
        for (INDArray a : arrays) {
            if (a == null || !plainVector(a)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The running-statistics update of {@link InstanceNorm#foldInstanceStats}, in plain Java on the small arrays:
     * batch averages over {@code N} accumulated in double, then
     * {@code running = running * (1 - factor) + batchStat * factor} per channel, written in the running arrays'
     * type.
     *
     * @param runningMean       {@code [C]}, updated in place
     * @param runningVar        {@code [C]}, updated in place
     * @param numBatchesTracked one element, incremented
     * @param momentum          PyTorch's momentum, or {@code null} for a cumulative moving average
     * @param moments           {@code [N, C]} instance statistics, biased variance
     * @param spatialSize       spatial elements per instance, at least 2
     */
    static void foldInstanceStats(INDArray runningMean, INDArray runningVar, INDArray numBatchesTracked,
                                         Double momentum, InstanceNorm.Moments moments, long spatialSize) {
        int channels = (int) runningMean.length();
        long n = moments.mean().length();
        if (n % channels != 0 || moments.variance().length() != n || runningVar.length() != channels) {
            throw new IllegalArgumentException("Cannot fold instance statistics of shape "
                    + Arrays.toString(moments.mean().shape()) + " into running statistics of shape "
                    + Arrays.toString(runningMean.shape()));
        }
        InstanceVectors vec = InstanceVectors.take((int) n);
        try {
            double[] mean = values(moments.mean(), vec.get(0), vec);
            double[] var = values(moments.variance(), vec.get(1), vec);
            double correction = InstanceNorm.unbiasedCorrection(spatialSize);
            double[] count = values(numBatchesTracked, vec.get(2), vec);
            long tracked = Math.round(count[0]) + 1;
            double factor = InstanceNorm.updateFactor(momentum, tracked);
            int batch = (int) (n / channels);
            double[] bm = new double[channels];
            double[] bv = new double[channels];
            // Sample by sample, in instance order: a channel loop the JIT vectorizes.
            for (int i = 0; i < n; i += channels) {
                for (int c = 0; c < channels; c++) {
                    bm[c] += mean[i + c];
                    bv[c] += var[i + c];
                }
            }
            double[] rm = values(runningMean, vec.get(3), vec);
            double[] rv = values(runningVar, vec.get(4), vec);
            for (int c = 0; c < channels; c++) {
                rm[c] = rm[c] * (1.0 - factor) + bm[c] / batch * factor;
                rv[c] = rv[c] * (1.0 - factor) + bv[c] / batch * correction * factor;
            }
            count[0] = tracked;
            write(runningMean, rm, channels, vec);
            write(runningVar, rv, channels, vec);
            write(numBatchesTracked, count, 1, vec);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Passes over the large arrays. Per-instance vectors are indexed n * C + c. The outer loops (tasks, blocks,
    // merging) are shared; Data does the per-block arithmetic in the arrays' own type.
    // ---------------------------------------------------------------------------------------------------------

    /** Mean and biased variance of each instance, into {@code mean} and {@code var}. */
    static void stats(Data x, Geometry geo, double[] mean, double[] var) {
        if (!geo.channelsLast) {
            run(geo.firstTasks(), geo.total(), BLOCK, 1,
                    (t, s) -> firstMoments(x, geo, geo.firstTaskStart(t), geo.firstTaskEnd(t), mean, var, s));
            return;
        }
        // Channels-last: each task merges its blocks of rows into per-channel partial statistics; the partials of
        // a sample are then merged in task order, so the result does not depend on the scheduling.
        int c = geo.channels;
        int tasks = geo.lastTasks();
        double[][] partMean = new double[tasks][];
        double[][] partM2 = new double[tasks][];
        long[] partCount = new long[tasks];
        run(tasks, geo.total(), geo.blockRows * c, c, (t, s) -> {
            double[] pm = new double[c];
            double[] pm2 = new double[c];
            long count = 0;
            long base = (long) geo.lastTaskSample(t) * geo.spatial * c;
            for (long row = geo.lastTaskFirstRow(t), end = geo.lastTaskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                x.rowMoments(base + row * c, rows, c, s);
                mergeVectors(pm, pm2, count, s.dv0, s.dv1, rows, c);
                count += rows;
                row += rows;
            }
            partMean[t] = pm;
            partM2[t] = pm2;
            partCount[t] = count;
        });
        for (int sample = 0; sample < geo.batch; sample++) {
            double[] m = new double[c];
            double[] m2 = new double[c];
            long count = 0;
            for (int t = sample * geo.tasksPerSample, e = t + geo.tasksPerSample; t < e; t++) {
                mergeVectors(m, m2, count, partMean[t], partM2[t], partCount[t], c);
                count += partCount[t];
            }
            for (int k = 0; k < c; k++) {
                mean[sample * c + k] = m[k];
                var[sample * c + k] = m2[k] / count;
            }
        }
    }

    /** Channels-first: mean and biased variance of instances {@code [from, to)}, into {@code mean} and {@code var}. */
    private static void firstMoments(Data x, Geometry geo, int from, int to, double[] mean, double[] var,
                                     Scratch s) {
        if (geo.instancesPerBlock > 1) {
            for (int i = from; i < to; i += geo.instancesPerBlock) {
                x.groupMoments((long) i * geo.spatial, (int) geo.spatial, Math.min(geo.instancesPerBlock, to - i),
                        mean, var, i, s);
            }
            return;
        }
        for (int i = from; i < to; i++) {
            long offset = (long) i * geo.spatial;
            double m = 0;
            double m2 = 0;
            long count = 0;
            for (long done = 0; done < geo.spatial; ) {
                int len = (int) Math.min(BLOCK, geo.spatial - done);
                x.blockMoments(offset + done, len, s);
                // Chan et al.: merge (count, m, m2) with the block's (len, s.r0, s.r1).
                long total = count + len;
                double delta = s.r0 - m;
                m += delta * len / total;
                m2 += s.r1 + delta * delta * ((double) count * len / total);
                count = total;
                done += len;
            }
            mean[i] = m;
            var[i] = m2 / geo.spatial;
        }
    }

    /** Channels-first: {@code out = x * scale + shift} on instances {@code [from, to)}. */
    private static void firstAffine(Data x, Data out, Geometry geo, int from, int to, double[] scale,
                                    double[] shift, Scratch s) {
        if (geo.instancesPerBlock > 1) {
            for (int i = from; i < to; i += geo.instancesPerBlock) {
                x.groupAffine(out, (long) i * geo.spatial, (int) geo.spatial,
                        Math.min(geo.instancesPerBlock, to - i), scale, shift, i, s);
            }
            return;
        }
        for (int i = from; i < to; i++) {
            long offset = (long) i * geo.spatial;
            for (long done = 0; done < geo.spatial; ) {
                int len = (int) Math.min(BLOCK, geo.spatial - done);
                x.affineBlock(out, offset + done, len, scale[i], shift[i], s);
                done += len;
            }
        }
    }

    /** Channels-first: {@code sum(g)} and {@code sum((x - mean) g)} of instances {@code [from, to)}. */
    private static void firstGradSums(Data x, Data g, Geometry geo, int from, int to, double[] mean,
                                      double[] gradSum, double[] dot, Scratch s) {
        if (geo.instancesPerBlock > 1) {
            for (int i = from; i < to; i += geo.instancesPerBlock) {
                x.groupGradSums(g, (long) i * geo.spatial, (int) geo.spatial, Math.min(geo.instancesPerBlock, to - i),
                        mean, gradSum, dot, i, s);
            }
            return;
        }
        for (int i = from; i < to; i++) {
            long offset = (long) i * geo.spatial;
            double sg = 0;
            double sd = 0;
            for (long done = 0; done < geo.spatial; ) {
                int len = (int) Math.min(BLOCK, geo.spatial - done);
                x.blockGradSums(g, offset + done, len, mean[i], s);
                sg += s.r0;
                sd += s.r1;
                done += len;
            }
            gradSum[i] = sg;
            dot[i] = sd;
        }
    }

    /**
     * Channels-first: {@code dx = a g + b (x - mean) + c} on instances {@code [from, to)}, or {@code dx = a g}
     * when {@code b} is null.
     */
    private static void firstGradInput(Data x, Data g, Data dx, Geometry geo, int from, int to, double[] a,
                                       double[] b, double[] c, double[] mean, Scratch s) {
        if (geo.instancesPerBlock > 1) {
            for (int i = from; i < to; i += geo.instancesPerBlock) {
                g.groupGradInput(b == null ? null : x, dx, (long) i * geo.spatial, (int) geo.spatial,
                        Math.min(geo.instancesPerBlock, to - i), a, b, c, mean, i, s);
            }
            return;
        }
        for (int i = from; i < to; i++) {
            long offset = (long) i * geo.spatial;
            for (long done = 0; done < geo.spatial; ) {
                int len = (int) Math.min(BLOCK, geo.spatial - done);
                if (b == null) {
                    g.scaleBlock(dx, offset + done, len, a[i], s);
                } else {
                    g.gradInputBlock(x, dx, offset + done, len, a[i], b[i], c[i], mean[i], s);
                }
                done += len;
            }
        }
    }

    /** Merges per-channel block statistics {@code (nb, bm, bm2)} into {@code (na, m, m2)}, in place. */
    private static void mergeVectors(double[] m, double[] m2, long na, double[] bm, double[] bm2, long nb, int c) {
        long total = na + nb;
        if (total == 0) {
            return;
        }
        double wb = (double) nb / total;
        double cross = (double) na * nb / total;
        for (int k = 0; k < c; k++) {
            double delta = bm[k] - m[k];
            m[k] += delta * wb;
            m2[k] += bm2[k] + delta * delta * cross;
        }
    }

    /** {@code out = x * scale[instance] + shift[instance]}. */
    static void affine(Data x, Data out, Geometry geo, double[] scale, double[] shift) {
        if (!geo.channelsLast) {
            run(geo.firstTasks(), geo.total(), BLOCK, 1, (t, s) -> firstAffine(x, out, geo, geo.firstTaskStart(t),
                    geo.firstTaskEnd(t), scale, shift, s));
            return;
        }
        int c = geo.channels;
        run(geo.lastTasks(), geo.total(), geo.blockRows * c, c, (t, s) -> {
            int sample = geo.lastTaskSample(t);
            long base = (long) sample * geo.spatial * c;
            x.setVectors(s, c, scale, shift, null, null, sample * c);
            for (long row = geo.lastTaskFirstRow(t), end = geo.lastTaskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                x.affineRows(out, base + row * c, rows, c, s);
                row += rows;
            }
        });
    }

    /** {@code sum(g)} and {@code sum((x - mean) * g)} of each instance, into {@code gradSum} and {@code dot}. */
    static void gradSums(Data x, Data g, Geometry geo, double[] mean, double[] gradSum, double[] dot) {
        if (!geo.channelsLast) {
            run(geo.firstTasks(), geo.total(), BLOCK, 1, (t, s) -> firstGradSums(x, g, geo, geo.firstTaskStart(t),
                    geo.firstTaskEnd(t), mean, gradSum, dot, s));
            return;
        }
        int c = geo.channels;
        int tasks = geo.lastTasks();
        double[][] partG = new double[tasks][];
        double[][] partD = new double[tasks][];
        run(tasks, geo.total(), geo.blockRows * c, c, (t, s) -> {
            double[] pg = new double[c];
            double[] pd = new double[c];
            int sample = geo.lastTaskSample(t);
            long base = (long) sample * geo.spatial * c;
            x.setVectors(s, c, mean, null, null, null, sample * c);
            for (long row = geo.lastTaskFirstRow(t), end = geo.lastTaskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                x.rowGradSums(g, base + row * c, rows, c, pg, pd, 0, s);
                row += rows;
            }
            partG[t] = pg;
            partD[t] = pd;
        });
        Arrays.fill(gradSum, 0, geo.instances(), 0.0);
        Arrays.fill(dot, 0, geo.instances(), 0.0);
        for (int t = 0; t < tasks; t++) {
            int io = (t / geo.tasksPerSample) * c;
            for (int k = 0; k < c; k++) {
                gradSum[io + k] += partG[t][k];
                dot[io + k] += partD[t][k];
            }
        }
    }

    /**
     * {@code dx = a * g + b * (x - mean) + c} per instance; with {@code b == null}, just {@code dx = a * g} and
     * {@code x} is not read.
     */
    static void gradInput(Data x, Data g, Data dx, Geometry geo, double[] a, double[] b, double[] c,
                          double[] mean) {
        if (!geo.channelsLast) {
            run(geo.firstTasks(), geo.total(), BLOCK, 1, (t, s) -> firstGradInput(x, g, dx, geo, geo.firstTaskStart(t),
                    geo.firstTaskEnd(t), a, b, c, mean, s));
            return;
        }
        int ch = geo.channels;
        run(geo.lastTasks(), geo.total(), geo.blockRows * ch, ch, (t, s) -> {
            int sample = geo.lastTaskSample(t);
            long base = (long) sample * geo.spatial * ch;
            g.setVectors(s, ch, a, b, c, mean, sample * ch);
            for (long row = geo.lastTaskFirstRow(t), end = geo.lastTaskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                g.gradInputRows(b == null ? null : x, dx, base + row * ch, rows, ch, s);
                row += rows;
            }
        });
    }

    /**
     * Runs {@code tasks} tasks, in parallel on {@link KernelThreads} when the job is big enough to pay for it, each
     * thread with a scratch of at least {@code size} elements and {@code channels} channels.
     */
    private static void run(int tasks, long elements, int size, int channels,
                            KernelThreads.TaskBody<Scratch> task) {
        if (elements < PARALLEL_ELEMENTS) {
            KernelThreads.runAlone(tasks, () -> Scratch.take(size, channels), task, Scratch::give);
        } else {
            KernelThreads.run(tasks, () -> Scratch.take(size, channels), task, Scratch::give);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Small arrays: read and written straight through their buffers when they are plain contiguous vectors.
    // ---------------------------------------------------------------------------------------------------------

    private static boolean plainVector(INDArray a) {
        return (a.dataType() == DataType.FLOAT || a.dataType() == DataType.DOUBLE) && !a.isEmpty()
                && denseRowMajor(a) && a.offset() == a.data().offset();
    }

    /**
     * @param dst receives the values, at least {@code a.length()} long
     * @param vec lends its float buffer for the copy
     * @return {@code dst}, holding {@code a}'s values in order
     */
    private static double[] values(INDArray a, double[] dst, InstanceVectors vec) {
        int n = (int) a.length();
        if (!plainVector(a)) {
            System.arraycopy(a.castTo(DataType.DOUBLE).dup('c').data().asDouble(), 0, dst, 0, n);
        } else if (a.dataType() == DataType.FLOAT) {
            // One bulk copy and a plain loop: a buffer access per element costs several times as much.
            float[] f = vec.floats();
            floatsAt(a).get(f, 0, n);
            for (int i = 0; i < n; i++) {
                dst[i] = f[i];
            }
        } else {
            doublesAt(a).get(dst, 0, n);
        }
        return dst;
    }

    /**
     * Pointers to a plain float or double vector's first element, for bulk copies of small arrays: a new
     * {@code Pointer} object over the buffer's memory (shared, never freed through it) costs a tenth of the JNI
     * call with which {@code asNioFloat()} makes a new {@code ByteBuffer}.
     */
    private static FloatPointer floatsAt(INDArray a) {
        Pointer p = a.data().pointer();
        return new FloatPointer(p).position(p.position() + a.data().offset());
    }

    /** As {@link #floatsAt}, for a double vector. */
    private static DoublePointer doublesAt(INDArray a) {
        Pointer p = a.data().pointer();
        return new DoublePointer(p).position(p.position() + a.data().offset());
    }

    /** @return a {@code [C]} array's values in {@code dst}, or {@code fill} repeated when it is {@code null} */
    private static double[] channelValues(INDArray a, int channels, double fill, double[] dst, InstanceVectors vec) {
        if (a == null) {
            Arrays.fill(dst, 0, channels, fill);
            return dst;
        }
        return values(a, dst, vec);
    }

    /** @return the {@code [N, C]} statistic, outside any workspace: it is tiny and outlives the forward pass */
    private static INDArray instanceArray(double[] v, Geometry geo, DataType type, InstanceVectors vec) {
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            INDArray a = Nd4j.createUninitialized(type, geo.batch, geo.channels);
            write(a, v, geo.instances(), vec);
            return a;
        }
    }

    private static void assignChannels(INDArray target, double[] v, InstanceVectors vec) {
        if (target != null) {
            write(target, v, v.length, vec);
        }
    }

    /** Writes {@code v[0, n)} into {@code target}, which has {@code n} elements, in its own type. */
    private static void write(INDArray target, double[] v, int n, InstanceVectors vec) {
        if (!plainVector(target)) {
            target.assign(Nd4j.createFromArray(Arrays.copyOf(v, n)).castTo(target.dataType())
                    .reshape(target.shape()));
        } else if (target.dataType() == DataType.FLOAT) {
            float[] f = vec.floats();
            for (int i = 0; i < n; i++) {
                f[i] = (float) v[i];
            }
            floatsAt(target).put(f, 0, n);
        } else {
            doublesAt(target).put(v, 0, n);
        }
    }

    /**
     * Per-instance vectors of one call (statistics, coefficients, gradient sums), lent from a small pool: allocating
     * them on every call cost about as much as the whole pass on the 1d benchmark shape. The arrays are at least as
     * long as asked and hold whatever the last borrower left in them.
     */
    static final class InstanceVectors {
        private static final ConcurrentLinkedQueue<InstanceVectors> POOL = new ConcurrentLinkedQueue<>();
        private static final int SLOTS = 9;
        private final double[][] doubles = new double[SLOTS][];
        private final float[] floats;

        private InstanceVectors(int length) {
            for (int i = 0; i < SLOTS; i++) {
                doubles[i] = new double[length];
            }
            floats = new float[length];
        }

        /** @return vectors of at least {@code length} elements, from the pool or new */
        static InstanceVectors take(int length) {
            InstanceVectors v = POOL.poll();
            return v != null && v.floats.length >= length ? v : new InstanceVectors(Math.max(length, 1));
        }

        /** Hands vectors back; the pool holds at most as many as there were callers at once. */
        static void give(InstanceVectors v) {
            POOL.offer(v);
        }

        /** @return the vector in {@code slot} (0 to 8) */
        double[] get(int slot) {
            return doubles[slot];
        }

        /** @return a float buffer of the same length, for copies */
        float[] floats() {
            return floats;
        }
    }

    /** Shape of an input as instances: {@code batch} samples of {@code channels} channels of {@code spatial}. */
    static final class Geometry {
        final int batch;
        final int channels;
        final long spatial;
        final boolean channelsLast;
        /** Channels-first: instances per task, and per cached block when several fit in one (else 1). */
        final int instancesPerTask;
        final int instancesPerBlock;
        /** Channels-last: spatial rows per cached block, rows per task, tasks per sample. */
        final int blockRows;
        final long rowsPerTask;
        final int tasksPerSample;

        private Geometry(int batch, int channels, long spatial, boolean channelsLast) {
            this.batch = batch;
            this.channels = channels;
            this.spatial = spatial;
            this.channelsLast = channelsLast;
            this.instancesPerTask = (int) Math.max(1, TASK / spatial);
            this.instancesPerBlock = spatial <= BLOCK / 2 ? (int) (BLOCK / spatial) : 1;
            this.blockRows = Math.max(1, BLOCK / channels);
            long rowsPerTaskWanted = Math.max(blockRows, (TASK / ((long) blockRows * channels)) * blockRows);
            this.tasksPerSample = (int) ((spatial + rowsPerTaskWanted - 1) / rowsPerTaskWanted);
            this.rowsPerTask = (spatial + tasksPerSample - 1) / tasksPerSample;
        }

        static Geometry of(INDArray x, InstanceNormLayout layout) {
            long[] shape = x.shape();
            return new Geometry((int) shape[0], (int) shape[layout.channelAxis()], layout.spatialSize(shape),
                    layout.channelsLast());
        }

        int instances() {
            return batch * channels;
        }

        long total() {
            return (long) instances() * spatial;
        }

        int firstTasks() {
            return (instances() + instancesPerTask - 1) / instancesPerTask;
        }

        int firstTaskStart(int t) {
            return t * instancesPerTask;
        }

        int firstTaskEnd(int t) {
            return Math.min(instances(), (t + 1) * instancesPerTask);
        }

        int lastTasks() {
            return batch * tasksPerSample;
        }

        /** Channels-last: whether a whole sample fits in one cached block. */
        boolean sampleInBlock() {
            return channelsLast && spatial <= blockRows;
        }

        int lastTaskSample(int t) {
            return t / tasksPerSample;
        }

        long lastTaskFirstRow(int t) {
            return (t % tasksPerSample) * rowsPerTask;
        }

        long lastTaskEndRow(int t) {
            return Math.min(spatial, lastTaskFirstRow(t) + rowsPerTask);
        }
    }

    /**
     * Working memory of one task: two blocks in each element type, per-channel vectors (a sample's slice of the
     * per-instance coefficients, and block statistics), and two scalar results. Kept in a small pool rather than
     * in thread-locals, which the common pool's workers clear after every task.
     */
    static final class Scratch {
        private static final ConcurrentLinkedQueue<Scratch> POOL = new ConcurrentLinkedQueue<>();
        final float[] fa;
        final float[] fb;
        final float[] fc;
        final float[] fg;
        final float[] fh;
        final double[] da;
        final double[] db;
        final float[][] fv = new float[4][];
        final double[][] dv = new double[4][];
        /** {@code fv} repeated row after row over a block, so row loops can run flat (and vectorized). */
        final float[][] fr = new float[4][];
        /** How many elements of {@code fr} hold the current {@code fv}; reset by {@code setVectors}. */
        int replicated;
        /**
         * Set by the fused channels-first passes between the sums and the element-wise pass of one group: the
         * group's x is still in {@code fg} (and g in {@code fh}) as the float sums loaded it, so the float
         * element-wise pass need not load it again.
         */
        boolean groupInScratch;
        final double[] dv0;
        final double[] dv1;
        /** Two results of a {@link FloatVectorLoops} call. */
        final double[] pair = new double[2];
        double r0;
        double r1;

        private Scratch(int size, int channels) {
            fa = new float[size];
            fb = new float[size];
            fc = new float[size];
            fg = new float[size];
            fh = new float[size];
            da = new double[size];
            db = new double[size];
            for (int i = 0; i < 4; i++) {
                fv[i] = new float[channels];
                dv[i] = new double[channels];
                fr[i] = new float[size];
            }
            dv0 = new double[channels];
            dv1 = new double[channels];
        }

        static Scratch take(int size, int channels) {
            Scratch s = POOL.poll();
            if (s == null || s.fa.length < size || s.dv0.length < channels) {
                s = new Scratch(Math.max(size, s == null ? BLOCK : s.fa.length),
                        Math.max(channels, s == null ? 1 : s.dv0.length));
            }
            return s;
        }

        static void give(Scratch s) {
            POOL.offer(s);
        }
    }

    /**
     * A contiguous array's host memory, element-indexed from the array's first element, with the per-block
     * arithmetic of every pass in the array's own element type. Blocks are copied into the task's
     * {@link Scratch} with bulk buffer copies, computed on there, and copied back. Element-wise results are
     * computed in the element type, as PyTorch does. Double blocks accumulate in double. Float blocks whose
     * length is a power of two are summed pairwise in float (loops the JIT turns into SIMD code; error
     * {@code O(eps log n)}) and the block results are merged in double; other float blocks accumulate in double.
     * All arrays of one op have the same type, so the other {@code Data} arguments are of this class too.
     */
    abstract static sealed class Data permits FloatData, DoubleData {

        static Data of(INDArray a) {
            return a.dataType() == DataType.FLOAT ? new FloatData(a) : new DoubleData(a);
        }

        /** Mean and biased variance of {@code count} consecutive instances of {@code m} elements each. */
        void groupMoments(long index, int m, int count, double[] mean, double[] var, int first, Scratch s) {
            for (int j = 0; j < count; j++) {
                blockMoments(index + (long) j * m, m, s);
                mean[first + j] = s.r0;
                var[first + j] = s.r1 / m;
            }
        }

        /** {@code out = this * scale + shift} on {@code count} consecutive instances. */
        void groupAffine(Data out, long index, int m, int count, double[] scale, double[] shift, int first,
                         Scratch s) {
            for (int j = 0; j < count; j++) {
                affineBlock(out, index + (long) j * m, m, scale[first + j], shift[first + j], s);
            }
        }

        /** With {@code this} = x: {@link #blockGradSums} of {@code count} consecutive instances. */
        void groupGradSums(Data g, long index, int m, int count, double[] mean, double[] gradSum, double[] dot,
                           int first, Scratch s) {
            for (int j = 0; j < count; j++) {
                blockGradSums(g, index + (long) j * m, m, mean[first + j], s);
                gradSum[first + j] = s.r0;
                dot[first + j] = s.r1;
            }
        }

        /** With {@code this} = g: {@link #gradInputBlock}, or {@link #scaleBlock} when {@code x} is null, of
         * {@code count} consecutive instances. */
        void groupGradInput(Data x, Data dx, long index, int m, int count, double[] a, double[] b, double[] c,
                            double[] mean, int first, Scratch s) {
            for (int j = 0; j < count; j++) {
                int i = first + j;
                if (x == null) {
                    scaleBlock(dx, index + (long) j * m, m, a[i], s);
                } else {
                    gradInputBlock(x, dx, index + (long) j * m, m, a[i], b[i], c[i], mean[i], s);
                }
            }
        }

        /** Block mean into {@code s.r0}, block sum of squared deviations from it into {@code s.r1}. */
        abstract void blockMoments(long index, int len, Scratch s);

        /** {@code out = this * scale + shift} on one block. */
        abstract void affineBlock(Data out, long index, int len, double scale, double shift, Scratch s);

        /** With {@code this} = x: {@code s.r0 = sum(g)}, {@code s.r1 = sum((x - mean) * g)} over one block. */
        abstract void blockGradSums(Data g, long index, int len, double mean, Scratch s);

        /** With {@code this} = g: {@code dx = a * g} on one block. */
        abstract void scaleBlock(Data dx, long index, int len, double a, Scratch s);

        /** With {@code this} = g: {@code dx = a * g + b * (x - mean) + c} on one block. */
        abstract void gradInputBlock(Data x, Data dx, long index, int len, double a, double b, double c,
                                     double mean, Scratch s);

        /**
         * Copies {@code c} entries from {@code from} of up to four per-instance vectors into the scratch's
         * per-channel vectors {@code s.fv} / {@code s.dv} (null vectors are skipped).
         */
        abstract void setVectors(Scratch s, int c, double[] v0, double[] v1, double[] v2, double[] v3, int from);

        /** Per-channel block means into {@code s.dv0} and sums of squared deviations into {@code s.dv1}. */
        abstract void rowMoments(long index, int rows, int c, Scratch s);

        /** {@code out = this * v0[c] + v1[c]} on a block of rows. */
        abstract void affineRows(Data out, long index, int rows, int c, Scratch s);

        /** With {@code this} = x and {@code v0} = mean: adds {@code g} to {@code sg[at + k]} and
         * {@code (x - mean) * g} to {@code sd[at + k]} for each channel {@code k}. */
        abstract void rowGradSums(Data g, long index, int rows, int c, double[] sg, double[] sd, int at,
                                  Scratch s);

        /** With {@code this} = g and vectors a, b, c, mean: {@code dx = a g + b (x - mean) + c}, or {@code a g}
         * when {@code x} is null. */
        abstract void gradInputRows(Data x, Data dx, long index, int rows, int c, Scratch s);
    }

    static final class FloatData extends Data {
        private final INDArray array;
        private final FloatBuffer buffer;
        private final int base;
        /** The same memory as bytes, for the Vector API's direct loads and stores; made when first needed. */
        private ByteBuffer bytes;

        FloatData(INDArray a) {
            array = a;
            buffer = a.data().asNioFloat();
            base = buffer.position();
        }

        private ByteBuffer bytes() {
            if (bytes == null) {
                bytes = array.data().asNio();
            }
            return bytes;
        }

        /**
         * Whether a read-once, write-once pass should go straight through native memory: with the Vector API, for
         * arrays larger than the caches, where copying through scratch costs as much as the pass. Small arrays
         * are in cache, and there the scratch loops are faster (measured on the 1d benchmark shape).
         */
        private boolean direct() {
            return vectorLoops() && (array.length() >= DIRECT_MIN_ELEMENTS || forceDirect);
        }

        private void load(long index, float[] dst, int len) {
            buffer.get(base + (int) index, dst, 0, len);
        }

        private void store(long index, float[] src, int len) {
            buffer.put(base + (int) index, src, 0, len);
        }

        @Override
        void blockMoments(long index, int len, Scratch s) {
            load(index, s.fa, len);
            if (vectorLoops()) {
                // The vector sums of small instances, on the block: fewer passes than the pairwise folds.
                smallMoments(s.fa, 0, len, s);
                return;
            }
            momentsOf(len, s);
        }

        /** {@link #blockMoments} of the block already in {@code s.fa}. */
        private static void momentsOf(int len, Scratch s) {
            float[] a = s.fa;
            if (!foldable(len)) {
                momentsScalar(a, len, s);
                return;
            }
            // Pairwise sums: each level adds the upper half onto the lower half, a loop the JIT vectorizes.
            int half = len >> 1;
            float[] b = s.fb;
            for (int k = 0; k < half; k++) {
                b[k] = a[k] + a[k + half];
            }
            double mean = foldSum(b, s.fc, half) / len;
            float m = (float) mean;
            for (int k = 0; k < half; k++) {
                float d0 = a[k] - m;
                float d1 = a[k + half] - m;
                b[k] = d0 * d0 + d1 * d1;
            }
            // Deviations from the float-rounded mean: correct the sum of squares to the exact block mean.
            double shift = mean - m;
            s.r0 = mean;
            s.r1 = Math.max(0.0, foldSum(b, s.fc, half) - len * shift * shift);
        }

        private static void momentsScalar(float[] a, int len, Scratch s) {
            double s0 = 0;
            double s1 = 0;
            int k = 0;
            for (; k + 1 < len; k += 2) {
                s0 += a[k];
                s1 += a[k + 1];
            }
            if (k < len) {
                s0 += a[k];
            }
            double mean = (s0 + s1) / len;
            s0 = 0;
            s1 = 0;
            for (k = 0; k + 1 < len; k += 2) {
                double d0 = a[k] - mean;
                double d1 = a[k + 1] - mean;
                s0 += d0 * d0;
                s1 += d1 * d1;
            }
            if (k < len) {
                double d = a[k] - mean;
                s0 += d * d;
            }
            s.r0 = mean;
            s.r1 = s0 + s1;
        }

        @Override
        void affineBlock(Data out, long index, int len, double scale, double shift, Scratch s) {
            if (direct()) {
                FloatData o = (FloatData) out;
                FloatVectorLoops.affineDirect(bytes(), base + (int) index, o.bytes(), o.base + (int) index, len,
                        (float) scale, (float) shift);
                return;
            }
            float[] a = s.fa;
            load(index, a, len);
            float sc = (float) scale;
            float sh = (float) shift;
            for (int k = 0; k < len; k++) {
                a[k] = a[k] * sc + sh;
            }
            ((FloatData) out).store(index, a, len);
        }

        @Override
        void blockGradSums(Data g, long index, int len, double mean, Scratch s) {
            load(index, s.fa, len);
            ((FloatData) g).load(index, s.fb, len);
            if (vectorLoops()) {
                smallGradSums(s.fa, s.fb, 0, len, mean, s);
                return;
            }
            gradSumsOf(len, mean, s);
        }

        /** {@link #blockGradSums} of x and g already in {@code s.fa} and {@code s.fb}. */
        private static void gradSumsOf(int len, double mean, Scratch s) {
            float[] a = s.fa;
            float[] b = s.fb;
            if (!foldable(len)) {
                double sg = 0;
                double sd = 0;
                for (int k = 0; k < len; k++) {
                    sg += b[k];
                    sd += (a[k] - mean) * b[k];
                }
                s.r0 = sg;
                s.r1 = sd;
                return;
            }
            int half = len >> 1;
            float[] t = s.fc;
            float m = (float) mean;
            for (int k = 0; k < half; k++) {
                t[k] = (a[k] - m) * b[k] + (a[k + half] - m) * b[k + half];
            }
            double dot = foldSum(t, a, half);
            for (int k = 0; k < half; k++) {
                t[k] = b[k] + b[k + half];
            }
            double gradSum = foldSum(t, a, half);
            s.r0 = gradSum;
            // The dot product used the float-rounded mean: sum((x - m) g) = sum((x - mean) g) + (mean - m) sum(g).
            s.r1 = dot - (mean - m) * gradSum;
        }

        @Override
        void scaleBlock(Data dx, long index, int len, double a, Scratch s) {
            float[] b = s.fb;
            load(index, b, len);
            float af = (float) a;
            for (int k = 0; k < len; k++) {
                b[k] *= af;
            }
            ((FloatData) dx).store(index, b, len);
        }

        @Override
        void gradInputBlock(Data x, Data dx, long index, int len, double a, double b, double c, double mean,
                            Scratch s) {
            float[] xa = s.fa;
            float[] ga = s.fb;
            load(index, ga, len);
            ((FloatData) x).load(index, xa, len);
            float af = (float) a;
            float bf = (float) b;
            float cf = (float) c;
            float mf = (float) mean;
            if (vectorLoops()) {
                FloatVectorLoops.gradInput(ga, xa, 0, len, af, bf, cf, mf);
            } else {
                for (int k = 0; k < len; k++) {
                    ga[k] = af * ga[k] + bf * (xa[k] - mf) + cf;
                }
            }
            ((FloatData) dx).store(index, ga, len);
        }

        // Small instances: one bulk copy in (and out) for a whole group, instead of one per instance.

        @Override
        void groupMoments(long index, int m, int count, double[] mean, double[] var, int first, Scratch s) {
            float[] group = s.fg;
            load(index, group, m * count);
            if (vectorLoops() && FloatVectorLoops.shortInstances(m)) {
                FloatVectorLoops.instanceMoments(group, 0, m, count, mean, var, first);
                return;
            }
            for (int j = 0; j < count; j++) {
                if (m <= CHUNK_LIMIT) {
                    smallMoments(group, j * m, m, s);
                } else {
                    System.arraycopy(group, j * m, s.fa, 0, m);
                    momentsOf(m, s);
                }
                mean[first + j] = s.r0;
                var[first + j] = s.r1 / m;
            }
        }

        /**
         * Moments of an instance in place, {@code a[off, off + len)}: eight independent float partial sums over
         * runs of at most {@value #CHUNK} elements (32 each, so float is ample), added in double. The eight
         * chains keep the core's adders busy; the pairwise folds of {@link #momentsOf} cost more here, a loop and
         * its pre- and post-loops per level.
         */
        private static void smallMoments(float[] a, int off, int len, Scratch s) {
            int end = off + len;
            if (vectorLoops()) {
                double mean = FloatVectorLoops.sum(a, off, end) / len;
                float m = (float) mean;
                double shift = mean - m;
                s.r0 = mean;
                // Deviations from the float-rounded mean, corrected to the exact mean (as below).
                s.r1 = Math.max(0.0, FloatVectorLoops.squaredDeviations(a, off, end, m) - len * shift * shift);
                return;
            }
            int unrolled = off + (len & ~7);
            double sum = unrolledSum(a, off, unrolled);
            for (int k = unrolled; k < end; k++) {
                sum += a[k];
            }
            double mean = sum / len;
            float m = (float) mean;
            // Squared deviations in a flat loop the JIT vectorizes, then the same unrolled partial sums over them.
            float[] sq = s.fa;
            for (int k = off; k < unrolled; k++) {
                float d = a[k] - m;
                sq[k] = d * d;
            }
            double m2 = unrolledSum(sq, off, unrolled);
            double shift = mean - m;
            // The unrolled part measured deviations from the float-rounded mean; correct it to the exact mean.
            m2 -= (unrolled - off) * shift * shift;
            for (int k = unrolled; k < end; k++) {
                double d = a[k] - mean;
                m2 += d * d;
            }
            s.r0 = mean;
            s.r1 = Math.max(0.0, m2);
        }

        /**
         * {@code sum(g)} and {@code sum((x - mean) g)} of an instance in place, as {@link #smallMoments} with four
         * chains each over runs of {@code CHUNK / 4} elements.
         */
        private static void smallGradSums(float[] x, float[] g, int off, int len, double mean, Scratch s) {
            float m = (float) mean;
            int end = off + len;
            if (vectorLoops()) {
                FloatVectorLoops.gradSums(x, g, off, end, m, s.pair);
                s.r0 = s.pair[0];
                s.r1 = s.pair[1] - (mean - m) * s.pair[0];
                return;
            }
            int unrolled = off + (len & ~3);
            // The products in a flat loop the JIT vectorizes, then unrolled partial sums over them and g.
            float[] prod = s.fa;
            for (int k = off; k < unrolled; k++) {
                prod[k] = (x[k] - m) * g[k];
            }
            double gradSum = 0;
            double dot = 0;
            for (int k = off; k < unrolled; ) {
                // Shorter runs than for the moments: with the running mean, x - mean need not be centred, and the
                // dot product is a small difference of large terms.
                int stop = Math.min(unrolled, k + CHUNK / 4);
                float g0 = 0;
                float g1 = 0;
                float g2 = 0;
                float g3 = 0;
                float d0 = 0;
                float d1 = 0;
                float d2 = 0;
                float d3 = 0;
                for (; k < stop; k += 4) {
                    g0 += g[k];
                    g1 += g[k + 1];
                    g2 += g[k + 2];
                    g3 += g[k + 3];
                    d0 += prod[k];
                    d1 += prod[k + 1];
                    d2 += prod[k + 2];
                    d3 += prod[k + 3];
                }
                gradSum += ((double) g0 + g1) + ((double) g2 + g3);
                dot += ((double) d0 + d1) + ((double) d2 + d3);
            }
            for (int k = unrolled; k < end; k++) {
                gradSum += g[k];
                dot += (x[k] - m) * (double) g[k];
            }
            s.r0 = gradSum;
            s.r1 = dot - (mean - m) * gradSum;
        }

        @Override
        void groupAffine(Data out, long index, int m, int count, double[] scale, double[] shift, int first,
                         Scratch s) {
            if (direct() && !s.groupInScratch) {
                FloatData o = (FloatData) out;
                for (int j = 0; j < count; j++) {
                    int at = (int) index + j * m;
                    FloatVectorLoops.affineDirect(bytes(), base + at, o.bytes(), o.base + at, m,
                            (float) scale[first + j], (float) shift[first + j]);
                }
                return;
            }
            float[] a = s.fg;
            if (!s.groupInScratch) {
                load(index, a, m * count);
            }
            boolean vector = vectorLoops();
            // Loops index the group directly (k from o to o + m): C2 (JDK 17) vectorizes a[k], not a[o + k].
            for (int j = 0, o = 0; j < count; j++, o += m) {
                float sc = (float) scale[first + j];
                float sh = (float) shift[first + j];
                if (vector) {
                    FloatVectorLoops.affine(a, o, o + m, sc, sh);
                    continue;
                }
                for (int k = o, end = o + m; k < end; k++) {
                    a[k] = a[k] * sc + sh;
                }
            }
            ((FloatData) out).store(index, a, m * count);
        }

        @Override
        void groupGradSums(Data g, long index, int m, int count, double[] mean, double[] gradSum, double[] dot,
                           int first, Scratch s) {
            load(index, s.fg, m * count);
            ((FloatData) g).load(index, s.fh, m * count);
            if (vectorLoops() && FloatVectorLoops.shortInstances(m)) {
                FloatVectorLoops.instanceGradSums(s.fg, s.fh, 0, m, count, mean, gradSum, dot, first);
                return;
            }
            for (int j = 0; j < count; j++) {
                if (m <= CHUNK_LIMIT) {
                    smallGradSums(s.fg, s.fh, j * m, m, mean[first + j], s);
                } else {
                    System.arraycopy(s.fg, j * m, s.fa, 0, m);
                    System.arraycopy(s.fh, j * m, s.fb, 0, m);
                    gradSumsOf(m, mean[first + j], s);
                }
                gradSum[first + j] = s.r0;
                dot[first + j] = s.r1;
            }
        }

        @Override
        void groupGradInput(Data x, Data dx, long index, int m, int count, double[] a, double[] b, double[] c,
                            double[] mean, int first, Scratch s) {
            float[] ga = s.fh;
            if (!s.groupInScratch) {
                load(index, ga, m * count);
                if (x != null) {
                    ((FloatData) x).load(index, s.fg, m * count);
                }
            }
            float[] xa = s.fg;
            boolean vector = vectorLoops();
            for (int j = 0, o = 0; j < count; j++, o += m) {
                int i = first + j;
                float af = (float) a[i];
                if (vector) {
                    if (x == null) {
                        FloatVectorLoops.affine(ga, o, o + m, af, 0f);
                    } else {
                        FloatVectorLoops.gradInput(ga, xa, o, o + m, af, (float) b[i], (float) c[i],
                                (float) mean[i]);
                    }
                    continue;
                }
                if (x == null) {
                    for (int k = o, end = o + m; k < end; k++) {
                        ga[k] *= af;
                    }
                } else {
                    float bf = (float) b[i];
                    float cf = (float) c[i];
                    float mf = (float) mean[i];
                    for (int k = o, end = o + m; k < end; k++) {
                        ga[k] = af * ga[k] + bf * (xa[k] - mf) + cf;
                    }
                }
            }
            ((FloatData) dx).store(index, ga, m * count);
        }

        @Override
        void setVectors(Scratch s, int c, double[] v0, double[] v1, double[] v2, double[] v3, int from) {
            s.replicated = 0;
            double[][] vs = {v0, v1, v2, v3};
            for (int j = 0; j < 4; j++) {
                if (vs[j] != null) {
                    float[] f = s.fv[j];
                    double[] d = s.dv[j];
                    for (int k = 0; k < c; k++) {
                        d[k] = vs[j][from + k];
                        f[k] = (float) d[k];
                    }
                }
            }
        }

        /**
         * Makes the first {@code vectors} per-channel vectors {@code s.fv} available repeated over {@code n}
         * elements in {@code s.fr} (once per task: {@code setVectors} resets it).
         */
        private static void replicate(Scratch s, int vectors, int n, int c) {
            if (s.replicated >= n) {
                return;
            }
            for (int v = 0; v < vectors; v++) {
                float[] row = s.fr[v];
                System.arraycopy(s.fv[v], 0, row, 0, c);
                replicateRow(row, c, n);
            }
            s.replicated = n;
        }

        @Override
        void rowMoments(long index, int rows, int c, Scratch s) {
            float[] a = s.fa;
            load(index, a, rows * c);
            double[] bm = s.dv0;
            double[] bm2 = s.dv1;
            if (vectorColumns(rows, c)) {
                float[] meanRow = s.fg;
                FloatVectorLoops.columnSums(a, rows, c, bm, s.fc);
                for (int k = 0; k < c; k++) {
                    bm[k] /= rows;
                    meanRow[k] = (float) bm[k];
                }
                FloatVectorLoops.columnSquaredDeviations(a, rows, c, meanRow, bm2, s.fc);
                for (int k = 0; k < c; k++) {
                    // Deviations from the float-rounded mean, corrected to the exact mean.
                    double shift = bm[k] - meanRow[k];
                    bm2[k] = Math.max(0.0, bm2[k] - rows * shift * shift);
                }
                return;
            }
            if (rows >= 2 && Integer.bitCount(rows) == 1) {
                // Pairwise over rows: fold the lower half of the rows onto the upper until one row is left.
                int n = rows / 2 * c;
                float[] b = s.fb;
                for (int j = 0; j < n; j++) {
                    b[j] = a[j] + a[j + n];
                }
                float[] sums = foldRows(b, s.fc, n, c);
                float[] meanRow = s.fg;
                for (int k = 0; k < c; k++) {
                    bm[k] = (double) sums[k] / rows;
                    meanRow[k] = (float) bm[k];
                }
                replicateRow(meanRow, c, n);
                for (int j = 0; j < n; j++) {
                    float d0 = a[j] - meanRow[j];
                    float d1 = a[j + n] - meanRow[j];
                    b[j] = d0 * d0 + d1 * d1;
                }
                sums = foldRows(b, s.fc, n, c);
                for (int k = 0; k < c; k++) {
                    double shift = bm[k] - meanRow[k];
                    bm2[k] = Math.max(0.0, sums[k] - rows * shift * shift);
                }
                return;
            }
            Arrays.fill(bm, 0, c, 0.0);
            Arrays.fill(bm2, 0, c, 0.0);
            for (int r = 0, o = 0; r < rows; r++, o += c) {
                for (int k = 0; k < c; k++) {
                    bm[k] += a[o + k];
                }
            }
            for (int k = 0; k < c; k++) {
                bm[k] /= rows;
            }
            for (int r = 0, o = 0; r < rows; r++, o += c) {
                for (int k = 0; k < c; k++) {
                    double d = a[o + k] - bm[k];
                    bm2[k] += d * d;
                }
            }
        }

        @Override
        void affineRows(Data out, long index, int rows, int c, Scratch s) {
            float[] a = s.fa;
            int n = rows * c;
            if (vectorLoops() && c >= FloatVectorLoops.lanes()) {
                // Coefficient vectors straight from the per-channel arrays: no rows of them to replicate.
                if (direct()) {
                    FloatData o = (FloatData) out;
                    FloatVectorLoops.affineRowsDirect(bytes(), base + (int) index, o.bytes(), o.base + (int) index,
                            rows, c, s.fv[0], s.fv[1]);
                    return;
                }
                load(index, a, n);
                FloatVectorLoops.affineRows(a, rows, c, s.fv[0], s.fv[1]);
                ((FloatData) out).store(index, a, n);
                return;
            }
            replicate(s, 2, n, c);
            float[] sc = s.fr[0];
            float[] sh = s.fr[1];
            load(index, a, n);
            for (int j = 0; j < n; j++) {
                a[j] = a[j] * sc[j] + sh[j];
            }
            ((FloatData) out).store(index, a, n);
        }

        @Override
        void rowGradSums(Data g, long index, int rows, int c, double[] sg, double[] sd, int at, Scratch s) {
            float[] a = s.fa;
            float[] b = s.fb;
            double[] mean = s.dv[0];
            load(index, a, rows * c);
            ((FloatData) g).load(index, b, rows * c);
            if (vectorColumns(rows, c)) {
                float[] meanRow = s.fv[0];
                FloatVectorLoops.columnGradSums(a, b, rows, c, meanRow, s.dv0, s.dv1, s.fc);
                for (int k = 0; k < c; k++) {
                    sg[at + k] += s.dv0[k];
                    // The dot product used the float-rounded mean; move it to the exact one.
                    sd[at + k] += s.dv1[k] - (mean[k] - meanRow[k]) * s.dv0[k];
                }
                return;
            }
            if (rows >= 2 && Integer.bitCount(rows) == 1) {
                int n = rows / 2 * c;
                float[] meanRow = s.fg;
                System.arraycopy(s.fv[0], 0, meanRow, 0, c);
                replicateRow(meanRow, c, n);
                float[] t = s.fc;
                for (int j = 0; j < n; j++) {
                    t[j] = (a[j] - meanRow[j]) * b[j] + (a[j + n] - meanRow[j]) * b[j + n];
                }
                float[] dots = foldRows(t, s.fh, n, c);
                for (int k = 0; k < c; k++) {
                    sd[at + k] += dots[k];
                }
                for (int j = 0; j < n; j++) {
                    t[j] = b[j] + b[j + n];
                }
                float[] grads = foldRows(t, s.fh, n, c);
                for (int k = 0; k < c; k++) {
                    double gk = grads[k];
                    sg[at + k] += gk;
                    // The dot product used the float-rounded mean; move it to the exact one.
                    sd[at + k] -= (mean[k] - meanRow[k]) * gk;
                }
                return;
            }
            for (int r = 0, o = 0; r < rows; r++, o += c) {
                for (int k = 0; k < c; k++) {
                    double gv = b[o + k];
                    sg[at + k] += gv;
                    sd[at + k] += (a[o + k] - mean[k]) * gv;
                }
            }
        }

        @Override
        void gradInputRows(Data x, Data dx, long index, int rows, int c, Scratch s) {
            float[] ga = s.fb;
            int n = rows * c;
            if (vectorLoops() && c >= FloatVectorLoops.lanes()) {
                load(index, ga, n);
                if (x == null) {
                    FloatVectorLoops.affineRows(ga, rows, c, s.fv[0], null);
                } else {
                    ((FloatData) x).load(index, s.fa, n);
                    FloatVectorLoops.gradInputRows(ga, s.fa, rows, c, s.fv[0], s.fv[1], s.fv[2], s.fv[3]);
                }
                ((FloatData) dx).store(index, ga, n);
                return;
            }
            replicate(s, x == null ? 1 : 4, n, c);
            float[] av = s.fr[0];
            load(index, ga, n);
            if (x == null) {
                for (int j = 0; j < n; j++) {
                    ga[j] *= av[j];
                }
            } else {
                float[] xa = s.fa;
                float[] bv = s.fr[1];
                float[] cv = s.fr[2];
                float[] mv = s.fr[3];
                ((FloatData) x).load(index, xa, n);
                for (int j = 0; j < n; j++) {
                    ga[j] = av[j] * ga[j] + bv[j] * (xa[j] - mv[j]) + cv[j];
                }
            }
            ((FloatData) dx).store(index, ga, n);
        }
    }

    /**
     * Whether a channels-last float block's column sums run on {@link FloatVectorLoops}: the Vector API is in use, a
     * row fills at least one vector, and the row count is a power of two, the blocks the scalar loops sum in float
     * as well (pairwise); other blocks keep the scalar loops, which accumulate them in double.
     */
    private static boolean vectorColumns(int rows, int c) {
        return vectorLoops() && c >= FloatVectorLoops.lanes() && rows >= 2 && Integer.bitCount(rows) == 1;
    }

    /** Whether a block's length suits the pairwise float sums: a power of two, at least 256. */
    private static boolean foldable(int len) {
        return len >= 256 && Integer.bitCount(len) == 1;
    }

    /**
     * Sums {@code v[0, n)} ({@code n} a power of two) pairwise, halving between {@code v} and {@code spare}
     * down to {@value #FOLD_TAIL} values, which are added in eight interleaved float partial sums and then in
     * double. Folding all the way down costs a short loop per level, with the JIT's vector pre- and post-loops
     * around each, more than the sums themselves. Both arrays are overwritten.
     */
    private static double foldSum(float[] v, float[] spare, int n) {
        float[] src = v;
        float[] dst = spare;
        for (int h = n >> 1; h >= FOLD_TAIL; h >>= 1) {
            for (int k = 0; k < h; k++) {
                dst[k] = src[k] + src[k + h];
            }
            float[] t = src;
            src = dst;
            dst = t;
            n = h;
        }
        int unrolled = n & ~7;   // n < 2 * FOLD_TAIL <= CHUNK: a single run of the unrolled sum
        double sum = unrolledSum(src, 0, unrolled);
        for (int k = unrolled; k < n; k++) {
            sum += src[k];
        }
        return sum;
    }

    /**
     * The sum of {@code v[from, to)}, {@code to - from} a multiple of 8: eight float partial sums over runs of
     * {@code CHUNK} elements, each run's partials added pairwise in double.
     */
    private static double unrolledSum(float[] v, int from, int to) {
        double sum = 0;
        for (int k = from; k < to; ) {
            int stop = Math.min(to, k + CHUNK);
            float p0 = 0;
            float p1 = 0;
            float p2 = 0;
            float p3 = 0;
            float p4 = 0;
            float p5 = 0;
            float p6 = 0;
            float p7 = 0;
            for (; k < stop; k += 8) {
                p0 += v[k];
                p1 += v[k + 1];
                p2 += v[k + 2];
                p3 += v[k + 3];
                p4 += v[k + 4];
                p5 += v[k + 5];
                p6 += v[k + 6];
                p7 += v[k + 7];
            }
            sum += ((double) p0 + p1) + ((double) p2 + p3) + (((double) p4 + p5) + ((double) p6 + p7));
        }
        return sum;
    }

    /**
     * Folds {@code n / c} rows of {@code c} values (a power of two of them) pairwise down to one row, halving
     * between {@code v} and {@code spare}; returns the array whose first {@code c} values are the column sums.
     */
    private static float[] foldRows(float[] v, float[] spare, int n, int c) {
        float[] src = v;
        float[] dst = spare;
        for (int h = n >> 1; h >= c; h >>= 1) {
            for (int j = 0; j < h; j++) {
                dst[j] = src[j] + src[j + h];
            }
            float[] t = src;
            src = dst;
            dst = t;
        }
        return src;
    }

    /** Repeats {@code row[0, c)} over {@code row[0, n)} ({@code n} a multiple of {@code c}). */
    private static void replicateRow(float[] row, int c, int n) {
        for (int o = c; o < n; o += c) {
            System.arraycopy(row, 0, row, o, c);
        }
    }

    static final class DoubleData extends Data {
        private final DoubleBuffer buffer;
        private final int base;

        DoubleData(INDArray a) {
            buffer = a.data().asNioDouble();
            base = buffer.position();
        }

        private void load(long index, double[] dst, int len) {
            buffer.get(base + (int) index, dst, 0, len);
        }

        private void store(long index, double[] src, int len) {
            buffer.put(base + (int) index, src, 0, len);
        }

        @Override
        void blockMoments(long index, int len, Scratch s) {
            double[] a = s.da;
            load(index, a, len);
            double s0 = 0;
            double s1 = 0;
            double s2 = 0;
            double s3 = 0;
            int k = 0;
            for (; k + 3 < len; k += 4) {
                s0 += a[k];
                s1 += a[k + 1];
                s2 += a[k + 2];
                s3 += a[k + 3];
            }
            for (; k < len; k++) {
                s0 += a[k];
            }
            double mean = ((s0 + s1) + (s2 + s3)) / len;
            s0 = 0;
            s1 = 0;
            s2 = 0;
            s3 = 0;
            for (k = 0; k + 3 < len; k += 4) {
                double d0 = a[k] - mean;
                double d1 = a[k + 1] - mean;
                double d2 = a[k + 2] - mean;
                double d3 = a[k + 3] - mean;
                s0 += d0 * d0;
                s1 += d1 * d1;
                s2 += d2 * d2;
                s3 += d3 * d3;
            }
            for (; k < len; k++) {
                double d = a[k] - mean;
                s0 += d * d;
            }
            s.r0 = mean;
            s.r1 = (s0 + s1) + (s2 + s3);
        }

        @Override
        void affineBlock(Data out, long index, int len, double scale, double shift, Scratch s) {
            double[] a = s.da;
            load(index, a, len);
            for (int k = 0; k < len; k++) {
                a[k] = a[k] * scale + shift;
            }
            ((DoubleData) out).store(index, a, len);
        }

        @Override
        void blockGradSums(Data g, long index, int len, double mean, Scratch s) {
            double[] a = s.da;
            double[] b = s.db;
            load(index, a, len);
            ((DoubleData) g).load(index, b, len);
            double sg0 = 0;
            double sg1 = 0;
            double sd0 = 0;
            double sd1 = 0;
            int k = 0;
            for (; k + 1 < len; k += 2) {
                sg0 += b[k];
                sg1 += b[k + 1];
                sd0 += (a[k] - mean) * b[k];
                sd1 += (a[k + 1] - mean) * b[k + 1];
            }
            if (k < len) {
                sg0 += b[k];
                sd0 += (a[k] - mean) * b[k];
            }
            s.r0 = sg0 + sg1;
            s.r1 = sd0 + sd1;
        }

        @Override
        void scaleBlock(Data dx, long index, int len, double a, Scratch s) {
            double[] b = s.db;
            load(index, b, len);
            for (int k = 0; k < len; k++) {
                b[k] *= a;
            }
            ((DoubleData) dx).store(index, b, len);
        }

        @Override
        void gradInputBlock(Data x, Data dx, long index, int len, double a, double b, double c, double mean,
                            Scratch s) {
            double[] xa = s.da;
            double[] ga = s.db;
            load(index, ga, len);
            ((DoubleData) x).load(index, xa, len);
            for (int k = 0; k < len; k++) {
                ga[k] = a * ga[k] + b * (xa[k] - mean) + c;
            }
            ((DoubleData) dx).store(index, ga, len);
        }

        @Override
        void setVectors(Scratch s, int c, double[] v0, double[] v1, double[] v2, double[] v3, int from) {
            double[][] vs = {v0, v1, v2, v3};
            for (int j = 0; j < 4; j++) {
                if (vs[j] != null) {
                    System.arraycopy(vs[j], from, s.dv[j], 0, c);
                }
            }
        }

        @Override
        void rowMoments(long index, int rows, int c, Scratch s) {
            double[] a = s.da;
            load(index, a, rows * c);
            double[] bm = s.dv0;
            double[] bm2 = s.dv1;
            Arrays.fill(bm, 0, c, 0.0);
            Arrays.fill(bm2, 0, c, 0.0);
            for (int r = 0, o = 0; r < rows; r++, o += c) {
                for (int k = 0; k < c; k++) {
                    bm[k] += a[o + k];
                }
            }
            for (int k = 0; k < c; k++) {
                bm[k] /= rows;
            }
            for (int r = 0, o = 0; r < rows; r++, o += c) {
                for (int k = 0; k < c; k++) {
                    double d = a[o + k] - bm[k];
                    bm2[k] += d * d;
                }
            }
        }

        @Override
        void affineRows(Data out, long index, int rows, int c, Scratch s) {
            double[] a = s.da;
            double[] sc = s.dv[0];
            double[] sh = s.dv[1];
            load(index, a, rows * c);
            for (int r = 0, o = 0; r < rows; r++, o += c) {
                for (int k = 0; k < c; k++) {
                    a[o + k] = a[o + k] * sc[k] + sh[k];
                }
            }
            ((DoubleData) out).store(index, a, rows * c);
        }

        @Override
        void rowGradSums(Data g, long index, int rows, int c, double[] sg, double[] sd, int at, Scratch s) {
            double[] a = s.da;
            double[] b = s.db;
            double[] mean = s.dv[0];
            load(index, a, rows * c);
            ((DoubleData) g).load(index, b, rows * c);
            for (int r = 0, o = 0; r < rows; r++, o += c) {
                for (int k = 0; k < c; k++) {
                    sg[at + k] += b[o + k];
                    sd[at + k] += (a[o + k] - mean[k]) * b[o + k];
                }
            }
        }

        @Override
        void gradInputRows(Data x, Data dx, long index, int rows, int c, Scratch s) {
            double[] ga = s.db;
            double[] av = s.dv[0];
            load(index, ga, rows * c);
            if (x == null) {
                for (int r = 0, o = 0; r < rows; r++, o += c) {
                    for (int k = 0; k < c; k++) {
                        ga[o + k] *= av[k];
                    }
                }
            } else {
                double[] xa = s.da;
                double[] bv = s.dv[1];
                double[] cv = s.dv[2];
                double[] mv = s.dv[3];
                ((DoubleData) x).load(index, xa, rows * c);
                for (int r = 0, o = 0; r < rows; r++, o += c) {
                    for (int k = 0; k < c; k++) {
                        ga[o + k] = av[k] * ga[o + k] + bv[k] * (xa[o + k] - mv[k]) + cv[k];
                    }
                }
            }
            ((DoubleData) dx).store(index, ga, rows * c);
        }
    }
}
