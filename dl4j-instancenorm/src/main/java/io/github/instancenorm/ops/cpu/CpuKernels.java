package io.github.instancenorm.ops.cpu;

import static io.github.instancenorm.ops.cpu.SmallArrays.assignChannels;
import static io.github.instancenorm.ops.cpu.SmallArrays.channelValues;
import static io.github.instancenorm.ops.cpu.SmallArrays.instanceArray;
import static io.github.instancenorm.ops.cpu.SmallArrays.values;
import static io.github.instancenorm.ops.cpu.SmallArrays.write;

import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.InstanceNormLayout;
import io.github.instancenorm.ops.KernelDispatch;
import io.github.instancenorm.runtime.HostArrays;
import io.github.instancenorm.runtime.KernelThreads;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The CPU fast path of {@link InstanceNorm}: the same math as its ND4J-op form, computed by plain Java loops
 * straight over the host memory of contiguous c-ordered float or double arrays. This class is the op's side: which
 * calls it takes ({@link #forArrays}), the per-instance coefficients, and which passes run; the passes are in
 * {@link ChannelsFirstPasses} and {@link ChannelsLastPasses}, the arithmetic on one cached block in
 * {@link BlockKernels}.
 *
 * <p>Instance normalization is memory-bound, so what counts is how often the large tensors travel between memory
 * and the cores. The op form makes a pass per ND4J op (mean, variance, broadcast multiply, broadcast add; eight
 * passes and several input-sized temporaries in the backward). Here every pass works on blocks of a few thousand
 * elements copied into per-thread working memory ({@link TaskMemory}) that stays in the L1/L2 cache:
 * <ul>
 *   <li>training forward: one pass for the statistics (each block's mean and centred sum of squares, exact
 *       two-pass inside the cached block, merged across blocks with Chan et al.'s pairwise formula), one pass
 *       that writes {@code y = x * scale + shift}. Channels-first instances are contiguous, so each instance (or
 *       group of small ones) is normalized right after its statistics and the second read comes from the
 *       cache; so are channels-last samples that fit in one block;</li>
 *   <li>inference forward: one read and one write;</li>
 *   <li>backward: one pass for {@code sum(g)} and {@code sum((x - mean) * g)}, one that writes {@code dx}, fused as
 *       in the forward.</li>
 * </ul>
 * No input-sized temporary is allocated. Double input is accumulated in double throughout; float blocks are summed
 * in float over short runs and the runs added in double (see {@link FloatBlocks} and {@link VectorFloatBlocks});
 * element-wise outputs are computed in the arrays' own type with per-instance coefficients. The results do not
 * depend on the number of threads: blocks are merged in a fixed order.
 *
 * <p>Work is split over {@link KernelThreads} by instance (channels-first) or by runs of spatial rows
 * (channels-last), so a batch of one uses every core too.
 *
 * <p>One instance per {@link KernelChoice}: the settings say which float loops run, once per call. {@link CpuDispatch}
 * registers the kernels with the op ({@link KernelDispatch}).
 */
final class CpuKernels implements KernelDispatch.Kernels {

    private final KernelChoice settings;

    CpuKernels(KernelChoice settings) {
        this.settings = settings;
    }

    /**
     * The kernels for an op on these arrays, or {@code null} for the op form. They apply when the current
     * {@link KernelChoice} enable them, the backend is ND4J's CPU backend, and every non-null array is float or
     * double (all the same type), dense in row-major order and addressable by a Java buffer (under 2 GiB).
     *
     * @param arrays the large arrays of an op (input, output, gradients); {@code null}s are skipped
     * @return the kernels, or {@code null} when they do not apply
     */
    static CpuKernels forArrays(INDArray... arrays) {
        KernelChoice s = KernelChoice.current();
        return s.cpuKernels && HostArrays.isCpuBackend() && suitable(arrays) ? s.kernels : null;
    }

    /** @return whether {@link #forArrays} takes these arrays */
    static boolean applies(INDArray... arrays) {
        return forArrays(arrays) != null;
    }

    private static boolean suitable(INDArray... arrays) {
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
            if (a.isEmpty()
                    || !HostArrays.denseRowMajor(a)
                    || a.offset() != a.data().offset()
                    || a.offset() + a.length() > Integer.MAX_VALUE / a.data().getElementSize()) {
                return false;
            }
        }
        return type != null;
    }

    /**
     * Whether {@link #foldInstanceStats} can work on these small arrays: the kernels are enabled, the backend is
     * ND4J's CPU backend, and each array is a dense float or double vector (types may differ).
     *
     * @param arrays running statistics, counter and instance statistics
     * @return whether the plain-Java update applies
     */
    static boolean appliesToVectors(INDArray... arrays) {
        if (!KernelChoice.current().cpuKernels || !HostArrays.isCpuBackend()) {
            return false;
        }
        for (INDArray a : arrays) {
            if (a == null || !SmallArrays.plainVector(a)) {
                return false;
            }
        }
        return true;
    }

    /** @return whether the float kernels of this instance run the Vector API loops */
    boolean vectorLoops() {
        return settings.vectorLoops;
    }

    private BlockKernels blocks(INDArray a) {
        return BlockKernels.of(a, settings);
    }

    /** Computes per-instance coefficients for instances {@code [from, to)}, between a fused pass's two halves. */
    interface InstanceRange {
        void compute(int from, int to);
    }

    // Entry points, in INDArray terms; the caller has checked forArrays(...) and the shapes.

    /** As {@link InstanceNorm#moments}: {@code [N, C]} mean and biased variance in {@code x}'s data type. */
    @Override
    public InstanceNorm.Moments moments(INDArray x, InstanceNormLayout layout) {
        Geometry geo = Geometry.of(x, layout);
        InstanceVectors vec = InstanceVectors.take(geo.instances());
        try {
            moments(blocks(x), geo, vec.mean, vec.variance);
            return new InstanceNorm.Moments(
                    instanceArray(vec.mean, geo, x.dataType(), vec),
                    instanceArray(vec.variance, geo, x.dataType(), vec));
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * As {@link InstanceNorm#forwardWithInstanceStats}: the statistics, then {@code out} normalized with them.
     *
     * @param statsOut receives the {@code [N, C]} statistics (checked by the caller), or {@code null}
     * @return {@code statsOut}, or new arrays outside any workspace
     */
    @Override
    public InstanceNorm.Moments forwardWithInstanceStats(
            INDArray x,
            INDArray gamma,
            INDArray beta,
            double eps,
            InstanceNormLayout layout,
            INDArray out,
            InstanceNorm.Moments statsOut) {
        Geometry geo = Geometry.of(x, layout);
        InstanceVectors vec = InstanceVectors.take(Math.max(geo.instances(), geo.channels));
        try {
            double[] g = channelValues(gamma, geo.channels, 1.0, vec.gamma, vec);
            double[] b = channelValues(beta, geo.channels, 0.0, vec.beta, vec);
            return forward(x, g, b, false, eps, geo, out, statsOut, vec);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /** As {@link InstanceNorm#forwardModulated}: {@link #forwardWithInstanceStats} with per-instance coefficients. */
    @Override
    public InstanceNorm.Moments forwardModulated(
            INDArray x,
            INDArray scale,
            INDArray shift,
            double scaleOffset,
            double eps,
            InstanceNormLayout layout,
            INDArray out,
            InstanceNorm.Moments statsOut) {
        Geometry geo = Geometry.of(x, layout);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] g = instanceValues(scale, n, scaleOffset, vec.gamma, vec);
            double[] b = instanceValues(shift, n, 0.0, vec.beta, vec);
            return forward(x, g, b, true, eps, geo, out, statsOut, vec);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * The fused training forward.
     *
     * @param perInstance whether {@code gamma} and {@code beta} hold one value per instance ({@code [N, C]} in
     *                    instance order) rather than one per channel
     */
    private InstanceNorm.Moments forward(
            INDArray x,
            double[] g,
            double[] b,
            boolean perInstance,
            double eps,
            Geometry geo,
            INDArray out,
            InstanceNorm.Moments statsOut,
            InstanceVectors vec) {
        int n = geo.instances();
        BlockKernels in = blocks(x);
        BlockKernels o = blocks(out);
        double[] mean = vec.mean;
        double[] var = vec.variance;
        double[] scale = vec.scale;
        double[] shift = vec.shift;
        int period = perInstance ? n : geo.channels;
        InstanceRange coefficients = (from, to) -> coefficients(mean, var, g, b, eps, period, from, to, scale, shift);
        if (!geo.channelsLast) {
            ChannelsFirstPasses.forward(in, o, geo, mean, var, scale, shift, coefficients);
        } else if (geo.sampleInBlock()) {
            ChannelsLastPasses.forwardSamples(in, o, geo, mean, var, scale, shift, coefficients);
        } else {
            ChannelsLastPasses.moments(in, geo, mean, var);
            coefficients.compute(0, n);
            ChannelsLastPasses.affine(in, o, geo, scale, shift);
        }
        if (statsOut != null) {
            write(statsOut.mean(), mean, n, vec);
            write(statsOut.variance(), var, n, vec);
            return statsOut;
        }
        return new InstanceNorm.Moments(
                instanceArray(mean, geo, x.dataType(), vec), instanceArray(var, geo, x.dataType(), vec));
    }

    /** {@code [N, C]} per-instance values in instance order plus {@code offset} ({@code offset} alone when null). */
    private static double[] instanceValues(INDArray a, int n, double offset, double[] dst, InstanceVectors vec) {
        if (a == null) {
            Arrays.fill(dst, 0, n, offset);
            return dst;
        }
        values(a, dst, vec);
        if (offset != 0) {
            for (int i = 0; i < n; i++) {
                dst[i] += offset;
            }
        }
        return dst;
    }

    /**
     * {@code scale = gamma / sqrt(var + eps)}, {@code shift = beta - mean * scale} for instances {@code [from, to)};
     * instance {@code i} takes {@code gamma[i % period]}: {@code period} is the channel count for per-channel
     * coefficients, the instance count for per-instance ones.
     */
    private static void coefficients(
            double[] mean,
            double[] var,
            double[] gamma,
            double[] beta,
            double eps,
            int period,
            int from,
            int to,
            double[] scale,
            double[] shift) {
        for (int i = from; i < to; i++) {
            int k = i % period;
            scale[i] = gamma[k] / Math.sqrt(var[i] + eps);
            shift[i] = beta[k] - mean[i] * scale[i];
        }
    }

    /** As {@link InstanceNorm#normalizeWithInstanceStats}. */
    @Override
    public void normalizeWithInstanceStats(
            INDArray x,
            InstanceNorm.Moments moments,
            INDArray gamma,
            INDArray beta,
            double eps,
            InstanceNormLayout layout,
            INDArray out) {
        Geometry geo = Geometry.of(x, layout);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] mean = values(moments.mean(), vec.mean, vec);
            double[] var = values(moments.variance(), vec.variance, vec);
            double[] g = channelValues(gamma, geo.channels, 1.0, vec.gamma, vec);
            double[] b = channelValues(beta, geo.channels, 0.0, vec.beta, vec);
            coefficients(mean, var, g, b, eps, geo.channels, 0, n, vec.scale, vec.shift);
            affine(blocks(x), blocks(out), geo, vec.scale, vec.shift);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /** As {@link InstanceNorm#normalizeWithRunningStats}: one read of {@code x}, one write of {@code out}. */
    @Override
    public void normalizeWithRunningStats(
            INDArray x,
            INDArray runningMean,
            INDArray runningVar,
            INDArray gamma,
            INDArray beta,
            double eps,
            InstanceNormLayout layout,
            INDArray out) {
        Geometry geo = Geometry.of(x, layout);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] rm = channelValues(runningMean, geo.channels, 0.0, vec.runningMean, vec);
            double[] rv = channelValues(runningVar, geo.channels, 1.0, vec.runningVar, vec);
            double[] g = channelValues(gamma, geo.channels, 1.0, vec.gamma, vec);
            double[] b = channelValues(beta, geo.channels, 0.0, vec.beta, vec);
            double[] scale = vec.scale;
            double[] shift = vec.shift;
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
            affine(blocks(x), blocks(out), geo, scale, shift);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * As {@link InstanceNorm#backwardWithInstanceStats}:
     * {@code dx = gamma * invStd * (g - mean_s(g) - xHat * mean_s(g * xHat))}.
     */
    @Override
    public void backwardWithInstanceStats(
            INDArray x,
            INDArray grad,
            InstanceNorm.Moments moments,
            INDArray gamma,
            double eps,
            InstanceNormLayout layout,
            INDArray dx,
            INDArray dGamma,
            INDArray dBeta) {
        Geometry geo = Geometry.of(x, layout);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] gam = channelValues(gamma, geo.channels, 1.0, vec.gamma, vec);
            backward(x, grad, moments, gam, geo.channels, eps, geo, dx, vec);
            // gamma and beta gradients: sums over the batch of the per-instance sums, in instance order.
            double[] dGammaSum = new double[geo.channels];
            double[] dBetaSum = new double[geo.channels];
            for (int i = 0, ch = 0; i < n; i++, ch = ch + 1 == geo.channels ? 0 : ch + 1) {
                dGammaSum[ch] += vec.dot[i] * vec.invStd[i];
                dBetaSum[ch] += vec.gradSum[i];
            }
            assignChannels(dGamma, dGammaSum, vec);
            assignChannels(dBeta, dBetaSum, vec);
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * As {@link InstanceNorm#backwardModulated}: {@link #backwardWithInstanceStats} with a per-instance scale, and
     * per-instance gradients {@code dScale = sum_s(g * xHat)}, {@code dShift = sum_s(g)}.
     */
    @Override
    public void backwardModulated(
            INDArray x,
            INDArray grad,
            InstanceNorm.Moments moments,
            INDArray scale,
            double scaleOffset,
            double eps,
            InstanceNormLayout layout,
            INDArray dx,
            INDArray dScale,
            INDArray dShift) {
        Geometry geo = Geometry.of(x, layout);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] gam = instanceValues(scale, n, scaleOffset, vec.gamma, vec);
            backward(x, grad, moments, gam, n, eps, geo, dx, vec);
            if (dScale != null) {
                double[] d = vec.dot;
                for (int i = 0; i < n; i++) {
                    d[i] *= vec.invStd[i];
                }
                write(dScale, d, n, vec);
            }
            if (dShift != null) {
                write(dShift, vec.gradSum, n, vec);
            }
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * The fused backward into {@code dx}; leaves the per-instance {@code sum(g)}, {@code sum((x - mean) g)} and
     * {@code invStd} in {@code vec.gradSum}, {@code vec.dot} and {@code vec.invStd}.
     *
     * @param period instance {@code i} takes {@code gamma[i % period]}
     */
    private void backward(
            INDArray x,
            INDArray grad,
            InstanceNorm.Moments moments,
            double[] gam,
            int period,
            double eps,
            Geometry geo,
            INDArray dx,
            InstanceVectors vec) {
        int n = geo.instances();
        BlockKernels in = blocks(x);
        BlockKernels g = blocks(grad);
        BlockKernels out = blocks(dx);
        double[] mean = values(moments.mean(), vec.mean, vec);
        double[] var = values(moments.variance(), vec.variance, vec);
        double[] gradSum = vec.gradSum;
        double[] dot = vec.dot;
        double[] a = vec.gradScale;
        double[] b = vec.centredScale;
        double[] c = vec.gradShift;
        double[] invStd = vec.invStd;
        InstanceRange coefficients =
                (from, to) -> gradCoefficients(var, gam, period, gradSum, dot, eps, geo, from, to, invStd, a, b, c);
        if (!geo.channelsLast) {
            ChannelsFirstPasses.backward(in, g, out, geo, mean, gradSum, dot, a, b, c, coefficients);
        } else if (geo.sampleInBlock()) {
            ChannelsLastPasses.backwardSamples(in, g, out, geo, mean, gradSum, dot, a, b, c, coefficients);
        } else {
            ChannelsLastPasses.gradSums(in, g, geo, mean, gradSum, dot);
            coefficients.compute(0, n);
            ChannelsLastPasses.gradInput(in, g, out, geo, a, b, c, mean);
        }
    }

    /**
     * Coefficients of {@code dx = a g + b (x - mean) + c} for instances {@code [from, to)}:
     * {@code a = gamma invStd}, {@code b = -a dot invStd^2 / M}, {@code c = -a sum(g) / M}; {@code invStd} is
     * kept for the gamma gradient. Instance {@code i} takes {@code gamma[i % period]}.
     */
    private static void gradCoefficients(
            double[] var,
            double[] gamma,
            int period,
            double[] gradSum,
            double[] dot,
            double eps,
            Geometry geo,
            int from,
            int to,
            double[] invStd,
            double[] a,
            double[] b,
            double[] c) {
        double m = geo.spatial;
        for (int i = from; i < to; i++) {
            double is = 1.0 / Math.sqrt(var[i] + eps);
            invStd[i] = is;
            a[i] = gamma[i % period] * is;
            b[i] = -a[i] * dot[i] * is * is / m;
            c[i] = -a[i] * gradSum[i] / m;
        }
    }

    /** As {@link InstanceNorm#backwardWithRunningStats}: {@code dx = g * gamma / sqrt(runningVar + eps)}. */
    @Override
    public void backwardWithRunningStats(
            INDArray x,
            INDArray grad,
            INDArray runningMean,
            INDArray runningVar,
            INDArray gamma,
            double eps,
            InstanceNormLayout layout,
            INDArray dx,
            INDArray dGamma,
            INDArray dBeta) {
        Geometry geo = Geometry.of(x, layout);
        BlockKernels g = blocks(grad);
        int n = geo.instances();
        InstanceVectors vec = InstanceVectors.take(Math.max(n, geo.channels));
        try {
            double[] rm = channelValues(runningMean, geo.channels, 0.0, vec.runningMean, vec);
            double[] rv = channelValues(runningVar, geo.channels, 1.0, vec.runningVar, vec);
            double[] gam = channelValues(gamma, geo.channels, 1.0, vec.gamma, vec);
            double[] a = vec.gradScale;
            double[] mean = vec.mean;
            for (int i = 0, c = 0; i < n; i++, c = c + 1 == geo.channels ? 0 : c + 1) {
                a[i] = gam[c] / Math.sqrt(rv[c] + eps);
                mean[i] = rm[c];
            }
            if (dGamma != null || dBeta != null) {
                double[] gradSum = vec.gradSum;
                double[] dot = vec.dot;
                BlockKernels in = blocks(x);
                if (geo.channelsLast) {
                    ChannelsLastPasses.gradSums(in, g, geo, mean, gradSum, dot);
                } else {
                    ChannelsFirstPasses.gradSums(in, g, geo, mean, gradSum, dot);
                }
                double[] dGammaSum = new double[geo.channels];
                double[] dBetaSum = new double[geo.channels];
                for (int i = 0, c = 0; i < n; i++, c = c + 1 == geo.channels ? 0 : c + 1) {
                    dGammaSum[c] += dot[i] / Math.sqrt(rv[c] + eps);
                    dBetaSum[c] += gradSum[i];
                }
                assignChannels(dGamma, dGammaSum, vec);
                assignChannels(dBeta, dBetaSum, vec);
            }
            if (geo.channelsLast) {
                ChannelsLastPasses.scale(g, blocks(dx), geo, a);
            } else {
                ChannelsFirstPasses.scale(g, blocks(dx), geo, a);
            }
        } finally {
            InstanceVectors.give(vec);
        }
    }

    /**
     * The running-statistics update of {@link InstanceNorm#foldInstanceStats}, in plain Java on the small arrays
     * ({@link #appliesToVectors}): batch averages over {@code N} accumulated in double, then
     * {@code running = running * (1 - factor) + batchStat * factor} per channel, written in the running arrays'
     * type.
     *
     * @param moments     {@code [N, C]} instance statistics, biased variance
     * @param spatialSize spatial elements per instance, at least 2
     */
    static void foldInstanceStats(
            INDArray runningMean,
            INDArray runningVar,
            INDArray numBatchesTracked,
            Double momentum,
            InstanceNorm.Moments moments,
            long spatialSize) {
        int channels = (int) runningMean.length();
        long n = moments.mean().length();
        if (n % channels != 0 || moments.variance().length() != n || runningVar.length() != channels) {
            throw new IllegalArgumentException("Cannot fold instance statistics of shape "
                    + Arrays.toString(moments.mean().shape()) + " into running statistics of shape "
                    + Arrays.toString(runningMean.shape()));
        }
        InstanceVectors vec = InstanceVectors.take((int) n);
        try {
            double[] mean = values(moments.mean(), vec.mean, vec);
            double[] var = values(moments.variance(), vec.variance, vec);
            double correction = InstanceNorm.unbiasedCorrection(spatialSize);
            double[] count = values(numBatchesTracked, vec.count, vec);
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
            double[] rm = values(runningMean, vec.runningMean, vec);
            double[] rv = values(runningVar, vec.runningVar, vec);
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

    private static void moments(BlockKernels x, Geometry geo, double[] mean, double[] var) {
        if (geo.channelsLast) {
            ChannelsLastPasses.moments(x, geo, mean, var);
        } else {
            ChannelsFirstPasses.moments(x, geo, mean, var);
        }
    }

    private static void affine(BlockKernels x, BlockKernels out, Geometry geo, double[] scale, double[] shift) {
        if (geo.channelsLast) {
            ChannelsLastPasses.affine(x, out, geo, scale, shift);
        } else {
            ChannelsFirstPasses.affine(x, out, geo, scale, shift);
        }
    }
}
