package io.github.instancenorm.ops;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

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
 *       that writes {@code y = x * scale + shift}. Channels-first instances are contiguous, so the second read
 *       comes from the cache;</li>
 *   <li>inference forward: one read and one write;</li>
 *   <li>backward: one pass for {@code sum(g)} and {@code sum((x - mean) * g)}, one that writes {@code dx}.</li>
 * </ul>
 * No input-sized temporary is allocated. All statistics are accumulated in {@code double}, for float input too
 * (as PyTorch's CPU kernels do), and the results do not depend on the number of threads: blocks are merged in a
 * fixed order.
 *
 * <p>Work is split over the common fork-join pool by instance (channels-first) or by blocks of spatial rows
 * (channels-last, where a sample's channels are interleaved), so a batch of one uses every core too.
 *
 * <p>{@link InstanceNorm} takes this path by itself when {@link #applies} says so: the ND4J CPU backend, float or
 * double, contiguous c-order arrays. Every other case (CUDA, f-order or strided views, half precision) keeps the
 * op form. Setting the system property {@value #PROPERTY} to {@code false} turns the fast path off.
 */
public final class InstanceNormCpuKernels {

    /** System property that disables this fast path when set to {@code false}; read on every call. */
    public static final String PROPERTY = "io.github.instancenorm.cpuKernels";

    /** Elements per cached block: 32 KiB of doubles, a comfortable fit in L1/L2. */
    private static final int BLOCK = 4096;
    /** Elements a parallel task covers, at least; below this one thread does the whole job. */
    private static final int TASK = 1 << 16;

    private static final String CPU_BACKEND = "org.nd4j.linalg.cpu.nativecpu.CpuBackend";
    private static volatile Boolean cpuBackend;

    /** Test hook: forces the op form regardless of {@link #PROPERTY}. */
    static volatile boolean forceOpForm;

    private InstanceNormCpuKernels() {
    }

    /**
     * Whether the fast path can compute an op on these arrays: the fast path is enabled, the backend is ND4J's CPU
     * backend, and every non-null array is float or double (all the same type), c-ordered, contiguous and
     * addressable by a Java buffer.
     *
     * @param arrays the large arrays of an op (input, output, gradients); {@code null}s are skipped
     * @return whether the fast path applies
     */
    public static boolean applies(INDArray... arrays) {
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
            if (a.isEmpty() || a.ordering() != 'c' || !Shape.hasDefaultStridesForShape(a)
                    || a.offset() != a.data().offset()
                    || a.offset() + a.length() > Integer.MAX_VALUE / a.data().getElementSize()) {
                return false;
            }
        }
        return type != null;
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
    public static InstanceNorm.Moments moments(INDArray x, InstanceNormLayout layout) {
        Geometry geo = Geometry.of(x, layout);
        double[][] stats = stats(Data.of(x), geo);
        return new InstanceNorm.Moments(instanceArray(stats[0], geo, x.dataType()),
                instanceArray(stats[1], geo, x.dataType()));
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
     * @return the {@code [N, C]} statistics, in {@code x}'s data type
     */
    public static InstanceNorm.Moments forwardWithInstanceStats(INDArray x, INDArray gamma, INDArray beta, double eps,
                                                               InstanceNormLayout layout, INDArray out) {
        Geometry geo = Geometry.of(x, layout);
        Data in = Data.of(x);
        double[][] stats = stats(in, geo);
        double[] mean = stats[0];
        double[] var = stats[1];
        double[] g = channelValues(gamma, geo.channels, 1.0);
        double[] b = channelValues(beta, geo.channels, 0.0);
        double[] scale = new double[mean.length];
        double[] shift = new double[mean.length];
        for (int i = 0; i < mean.length; i++) {
            int c = i % geo.channels;
            scale[i] = g[c] / Math.sqrt(var[i] + eps);
            shift[i] = b[c] - mean[i] * scale[i];
        }
        affine(in, Data.of(out), geo, scale, shift);
        return new InstanceNorm.Moments(instanceArray(mean, geo, x.dataType()), instanceArray(var, geo, x.dataType()));
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
    public static void normalizeWithInstanceStats(INDArray x, InstanceNorm.Moments moments, INDArray gamma,
                                                  INDArray beta, double eps, InstanceNormLayout layout,
                                                  INDArray out) {
        Geometry geo = Geometry.of(x, layout);
        double[] mean = values(moments.mean());
        double[] var = values(moments.variance());
        double[] g = channelValues(gamma, geo.channels, 1.0);
        double[] b = channelValues(beta, geo.channels, 0.0);
        double[] scale = new double[mean.length];
        double[] shift = new double[mean.length];
        for (int i = 0; i < mean.length; i++) {
            int c = i % geo.channels;
            scale[i] = g[c] / Math.sqrt(var[i] + eps);
            shift[i] = b[c] - mean[i] * scale[i];
        }
        affine(Data.of(x), Data.of(out), geo, scale, shift);
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
    public static void normalizeWithRunningStats(INDArray x, INDArray runningMean, INDArray runningVar,
                                                 INDArray gamma, INDArray beta, double eps,
                                                 InstanceNormLayout layout, INDArray out) {
        Geometry geo = Geometry.of(x, layout);
        double[] rm = channelValues(runningMean, geo.channels, 0.0);
        double[] rv = channelValues(runningVar, geo.channels, 1.0);
        double[] g = channelValues(gamma, geo.channels, 1.0);
        double[] b = channelValues(beta, geo.channels, 0.0);
        double[] scale = new double[geo.instances()];
        double[] shift = new double[scale.length];
        for (int i = 0; i < scale.length; i++) {
            int c = i % geo.channels;
            scale[i] = g[c] / Math.sqrt(rv[c] + eps);
            shift[i] = b[c] - rm[c] * scale[i];
        }
        affine(Data.of(x), Data.of(out), geo, scale, shift);
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
    public static void backwardWithInstanceStats(INDArray x, INDArray grad, InstanceNorm.Moments moments,
                                                 INDArray gamma, double eps, InstanceNormLayout layout,
                                                 INDArray dx, INDArray dGamma, INDArray dBeta) {
        Geometry geo = Geometry.of(x, layout);
        Data in = Data.of(x);
        Data g = Data.of(grad);
        double[] mean = values(moments.mean());
        double[] var = values(moments.variance());
        double[][] sums = gradSums(in, g, geo, mean);
        double[] gradSum = sums[0];
        double[] dot = sums[1];
        double[] gam = channelValues(gamma, geo.channels, 1.0);
        int n = geo.instances();
        double m = geo.spatial;
        double[] a = new double[n];
        double[] bc = new double[n];
        double[] cc = new double[n];
        double[] dGammaSum = new double[geo.channels];
        double[] dBetaSum = new double[geo.channels];
        for (int i = 0; i < n; i++) {
            int c = i % geo.channels;
            double invStd = 1.0 / Math.sqrt(var[i] + eps);
            a[i] = gam[c] * invStd;
            bc[i] = -a[i] * dot[i] * invStd * invStd / m;
            cc[i] = -a[i] * gradSum[i] / m;
            dGammaSum[c] += dot[i] * invStd;
            dBetaSum[c] += gradSum[i];
        }
        gradInput(in, g, Data.of(dx), geo, a, bc, cc, mean);
        assignChannels(dGamma, dGammaSum);
        assignChannels(dBeta, dBetaSum);
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
    public static void backwardWithRunningStats(INDArray x, INDArray grad, INDArray runningMean,
                                                INDArray runningVar, INDArray gamma, double eps,
                                                InstanceNormLayout layout,
                                                INDArray dx, INDArray dGamma, INDArray dBeta) {
        Geometry geo = Geometry.of(x, layout);
        Data in = Data.of(x);
        Data g = Data.of(grad);
        double[] rm = channelValues(runningMean, geo.channels, 0.0);
        double[] rv = channelValues(runningVar, geo.channels, 1.0);
        double[] gam = channelValues(gamma, geo.channels, 1.0);
        int n = geo.instances();
        double[] a = new double[n];
        double[] mean = new double[n];
        for (int i = 0; i < n; i++) {
            int c = i % geo.channels;
            a[i] = gam[c] / Math.sqrt(rv[c] + eps);
            mean[i] = rm[c];
        }
        if (dGamma != null || dBeta != null) {
            double[][] sums = gradSums(in, g, geo, mean);
            double[] dGammaSum = new double[geo.channels];
            double[] dBetaSum = new double[geo.channels];
            for (int i = 0; i < n; i++) {
                int c = i % geo.channels;
                dGammaSum[c] += sums[1][i] / Math.sqrt(rv[c] + eps);
                dBetaSum[c] += sums[0][i];
            }
            assignChannels(dGamma, dGammaSum);
            assignChannels(dBeta, dBetaSum);
        }
        gradInput(null, g, Data.of(dx), geo, a, null, null, null);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Passes over the large arrays. Per-instance vectors are indexed n * C + c.
    // ---------------------------------------------------------------------------------------------------------

    /** @return {mean, biased variance} of each instance */
    static double[][] stats(Data x, Geometry geo) {
        int n = geo.instances();
        double[] mean = new double[n];
        double[] var = new double[n];
        if (!geo.channelsLast) {
            run(geo.firstTasks(), geo.total(), t -> {
                Scratch s = Scratch.get(BLOCK);
                for (int i = geo.firstTaskStart(t), end = geo.firstTaskEnd(t); i < end; i++) {
                    instanceStats(x, (long) i * geo.spatial, geo.spatial, s, mean, var, i);
                }
            });
            return new double[][] {mean, var};
        }
        // Channels-last: each task merges its blocks of rows into per-channel partial statistics; the partials of
        // a sample are then merged in task order, so the result does not depend on the scheduling.
        int c = geo.channels;
        int tasks = geo.lastTasks();
        double[][] partMean = new double[tasks][];
        double[][] partM2 = new double[tasks][];
        long[] partCount = new long[tasks];
        run(tasks, geo.total(), t -> {
            Scratch s = Scratch.get(geo.blockRows * c);
            double[] pm = new double[c];
            double[] pm2 = new double[c];
            long count = 0;
            long row = geo.lastTaskFirstRow(t);
            long end = geo.lastTaskEndRow(t);
            long base = geo.lastTaskSample(t) * geo.spatial * c;
            double[] a = s.a;
            double[] bm = s.b;
            double[] bm2 = s.c;
            while (row < end) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                x.load(base + row * c, a, rows * c, s);
                Arrays.fill(bm, 0, c, 0.0);
                Arrays.fill(bm2, 0, c, 0.0);
                for (int r = 0; r < rows; r++) {
                    int o = r * c;
                    for (int k = 0; k < c; k++) {
                        bm[k] += a[o + k];
                    }
                }
                for (int k = 0; k < c; k++) {
                    bm[k] /= rows;
                }
                for (int r = 0; r < rows; r++) {
                    int o = r * c;
                    for (int k = 0; k < c; k++) {
                        double d = a[o + k] - bm[k];
                        bm2[k] += d * d;
                    }
                }
                mergeVectors(pm, pm2, count, bm, bm2, rows, c);
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
        return new double[][] {mean, var};
    }

    /** Mean and biased variance of one contiguous instance, block by block. */
    private static void instanceStats(Data x, long offset, long length, Scratch s, double[] mean, double[] var,
                                      int i) {
        double[] a = s.a;
        double m = 0;
        double m2 = 0;
        long count = 0;
        for (long done = 0; done < length; ) {
            int len = (int) Math.min(BLOCK, length - done);
            x.load(offset + done, a, len, s);
            double bm = sum(a, len) / len;
            double s0 = 0;
            double s1 = 0;
            int k = 0;
            for (; k + 1 < len; k += 2) {
                double d0 = a[k] - bm;
                double d1 = a[k + 1] - bm;
                s0 += d0 * d0;
                s1 += d1 * d1;
            }
            if (k < len) {
                double d = a[k] - bm;
                s0 += d * d;
            }
            double bm2 = s0 + s1;
            // Chan et al.: merge (count, m, m2) with the block's (len, bm, bm2).
            long total = count + len;
            double delta = bm - m;
            m += delta * len / total;
            m2 += bm2 + delta * delta * ((double) count * len / total);
            count = total;
            done += len;
        }
        mean[i] = m;
        var[i] = m2 / length;
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
            run(geo.firstTasks(), geo.total(), t -> {
                Scratch s = Scratch.get(BLOCK);
                double[] a = s.a;
                for (int i = geo.firstTaskStart(t), end = geo.firstTaskEnd(t); i < end; i++) {
                    long offset = (long) i * geo.spatial;
                    double sc = scale[i];
                    double sh = shift[i];
                    for (long done = 0; done < geo.spatial; ) {
                        int len = (int) Math.min(BLOCK, geo.spatial - done);
                        x.load(offset + done, a, len, s);
                        for (int k = 0; k < len; k++) {
                            a[k] = a[k] * sc + sh;
                        }
                        out.store(offset + done, a, len, s);
                        done += len;
                    }
                }
            });
            return;
        }
        int c = geo.channels;
        run(geo.lastTasks(), geo.total(), t -> {
            Scratch s = Scratch.get(geo.blockRows * c);
            double[] a = s.a;
            int sample = geo.lastTaskSample(t);
            long base = (long) sample * geo.spatial * c;
            int io = sample * c;
            for (long row = geo.lastTaskFirstRow(t), end = geo.lastTaskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                long at = base + row * c;
                x.load(at, a, rows * c, s);
                for (int r = 0; r < rows; r++) {
                    int o = r * c;
                    for (int k = 0; k < c; k++) {
                        a[o + k] = a[o + k] * scale[io + k] + shift[io + k];
                    }
                }
                out.store(at, a, rows * c, s);
                row += rows;
            }
        });
    }

    /** @return {sum(g), sum((x - mean) * g)} of each instance */
    static double[][] gradSums(Data x, Data g, Geometry geo, double[] mean) {
        int n = geo.instances();
        double[] gradSum = new double[n];
        double[] dot = new double[n];
        if (!geo.channelsLast) {
            run(geo.firstTasks(), geo.total(), t -> {
                Scratch s = Scratch.get(BLOCK);
                double[] a = s.a;
                double[] b = s.b;
                for (int i = geo.firstTaskStart(t), end = geo.firstTaskEnd(t); i < end; i++) {
                    long offset = (long) i * geo.spatial;
                    double mu = mean[i];
                    double sg0 = 0;
                    double sg1 = 0;
                    double sd0 = 0;
                    double sd1 = 0;
                    for (long done = 0; done < geo.spatial; ) {
                        int len = (int) Math.min(BLOCK, geo.spatial - done);
                        x.load(offset + done, a, len, s);
                        g.load(offset + done, b, len, s);
                        int k = 0;
                        for (; k + 1 < len; k += 2) {
                            sg0 += b[k];
                            sg1 += b[k + 1];
                            sd0 += (a[k] - mu) * b[k];
                            sd1 += (a[k + 1] - mu) * b[k + 1];
                        }
                        if (k < len) {
                            sg0 += b[k];
                            sd0 += (a[k] - mu) * b[k];
                        }
                        done += len;
                    }
                    gradSum[i] = sg0 + sg1;
                    dot[i] = sd0 + sd1;
                }
            });
            return new double[][] {gradSum, dot};
        }
        int c = geo.channels;
        int tasks = geo.lastTasks();
        double[][] partG = new double[tasks][];
        double[][] partD = new double[tasks][];
        run(tasks, geo.total(), t -> {
            Scratch s = Scratch.get(geo.blockRows * c);
            double[] a = s.a;
            double[] b = s.b;
            double[] pg = new double[c];
            double[] pd = new double[c];
            int sample = geo.lastTaskSample(t);
            long base = (long) sample * geo.spatial * c;
            int io = sample * c;
            for (long row = geo.lastTaskFirstRow(t), end = geo.lastTaskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                long at = base + row * c;
                x.load(at, a, rows * c, s);
                g.load(at, b, rows * c, s);
                for (int r = 0; r < rows; r++) {
                    int o = r * c;
                    for (int k = 0; k < c; k++) {
                        pg[k] += b[o + k];
                        pd[k] += (a[o + k] - mean[io + k]) * b[o + k];
                    }
                }
                row += rows;
            }
            partG[t] = pg;
            partD[t] = pd;
        });
        for (int t = 0; t < tasks; t++) {
            int io = (t / geo.tasksPerSample) * c;
            for (int k = 0; k < c; k++) {
                gradSum[io + k] += partG[t][k];
                dot[io + k] += partD[t][k];
            }
        }
        return new double[][] {gradSum, dot};
    }

    /**
     * {@code dx = a * g + b * (x - mean) + c} per instance; with {@code b == null}, just {@code dx = a * g} and
     * {@code x} is not read.
     */
    static void gradInput(Data x, Data g, Data dx, Geometry geo, double[] a, double[] b, double[] c,
                          double[] mean) {
        boolean full = b != null;
        if (!geo.channelsLast) {
            run(geo.firstTasks(), geo.total(), t -> {
                Scratch s = Scratch.get(BLOCK);
                double[] xa = s.a;
                double[] ga = s.b;
                for (int i = geo.firstTaskStart(t), end = geo.firstTaskEnd(t); i < end; i++) {
                    long offset = (long) i * geo.spatial;
                    double ai = a[i];
                    double bi = full ? b[i] : 0;
                    double ci = full ? c[i] : 0;
                    double mu = full ? mean[i] : 0;
                    for (long done = 0; done < geo.spatial; ) {
                        int len = (int) Math.min(BLOCK, geo.spatial - done);
                        g.load(offset + done, ga, len, s);
                        if (full) {
                            x.load(offset + done, xa, len, s);
                            for (int k = 0; k < len; k++) {
                                ga[k] = ai * ga[k] + bi * (xa[k] - mu) + ci;
                            }
                        } else {
                            for (int k = 0; k < len; k++) {
                                ga[k] *= ai;
                            }
                        }
                        dx.store(offset + done, ga, len, s);
                        done += len;
                    }
                }
            });
            return;
        }
        int ch = geo.channels;
        run(geo.lastTasks(), geo.total(), t -> {
            Scratch s = Scratch.get(geo.blockRows * ch);
            double[] xa = s.a;
            double[] ga = s.b;
            int sample = geo.lastTaskSample(t);
            long base = (long) sample * geo.spatial * ch;
            int io = sample * ch;
            double[] av = Arrays.copyOfRange(a, io, io + ch);
            double[] bv = full ? Arrays.copyOfRange(b, io, io + ch) : null;
            double[] cv = full ? Arrays.copyOfRange(c, io, io + ch) : null;
            double[] mv = full ? Arrays.copyOfRange(mean, io, io + ch) : null;
            for (long row = geo.lastTaskFirstRow(t), end = geo.lastTaskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                long at = base + row * ch;
                g.load(at, ga, rows * ch, s);
                if (full) {
                    x.load(at, xa, rows * ch, s);
                    for (int r = 0; r < rows; r++) {
                        int o = r * ch;
                        for (int k = 0; k < ch; k++) {
                            ga[o + k] = av[k] * ga[o + k] + bv[k] * (xa[o + k] - mv[k]) + cv[k];
                        }
                    }
                } else {
                    for (int r = 0; r < rows; r++) {
                        int o = r * ch;
                        for (int k = 0; k < ch; k++) {
                            ga[o + k] *= av[k];
                        }
                    }
                }
                dx.store(at, ga, rows * ch, s);
                row += rows;
            }
        });
    }

    private static double sum(double[] a, int len) {
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
        return (s0 + s1) + (s2 + s3);
    }

    /** Runs {@code tasks} tasks, in parallel when the job is big enough to pay for it. */
    private static void run(int tasks, long elements, IntConsumer task) {
        if (tasks == 1 || elements < 2L * TASK) {
            for (int t = 0; t < tasks; t++) {
                task.accept(t);
            }
        } else {
            IntStream.range(0, tasks).parallel().forEach(task);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Small arrays and memory access.
    // ---------------------------------------------------------------------------------------------------------

    private static double[] values(INDArray a) {
        return a.castTo(DataType.DOUBLE).dup('c').data().asDouble();
    }

    /** @return a {@code [C]} array's values, or {@code fill} repeated when it is {@code null} */
    private static double[] channelValues(INDArray a, int channels, double fill) {
        if (a == null) {
            double[] v = new double[channels];
            Arrays.fill(v, fill);
            return v;
        }
        return values(a);
    }

    private static INDArray instanceArray(double[] v, Geometry geo, DataType type) {
        return Nd4j.createFromArray(v).castTo(type).reshape(geo.batch, geo.channels);
    }

    private static void assignChannels(INDArray target, double[] v) {
        if (target != null) {
            target.assign(Nd4j.createFromArray(v).castTo(target.dataType()).reshape(target.shape()));
        }
    }

    /** Shape of an input as instances: {@code batch} samples of {@code channels} channels of {@code spatial}. */
    static final class Geometry {
        final int batch;
        final int channels;
        final long spatial;
        final boolean channelsLast;
        /** Channels-first: instances per task. */
        final int instancesPerTask;
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

    /** Per-thread blocks in double, plus a float staging block for float arrays. */
    static final class Scratch {
        private static final ThreadLocal<Scratch> LOCAL = new ThreadLocal<>();
        final double[] a;
        final double[] b;
        final double[] c;
        final float[] f;

        private Scratch(int size) {
            a = new double[size];
            b = new double[size];
            c = new double[size];
            f = new float[size];
        }

        static Scratch get(int size) {
            Scratch s = LOCAL.get();
            if (s == null || s.a.length < size) {
                s = new Scratch(Math.max(size, BLOCK));
                LOCAL.set(s);
            }
            return s;
        }
    }

    /** Bulk access to a contiguous array's host memory, element-indexed from the array's first element. */
    abstract static sealed class Data permits FloatData, DoubleData {

        static Data of(INDArray a) {
            return a.dataType() == DataType.FLOAT ? new FloatData(a) : new DoubleData(a);
        }

        /** Copies {@code len} elements from {@code index} into {@code dst[0, len)}. */
        abstract void load(long index, double[] dst, int len, Scratch s);

        /** Copies {@code src[0, len)} to the elements from {@code index}. */
        abstract void store(long index, double[] src, int len, Scratch s);
    }

    static final class FloatData extends Data {
        private final FloatBuffer buffer;
        private final int base;

        FloatData(INDArray a) {
            buffer = a.data().asNioFloat();
            base = buffer.position();
        }

        @Override
        void load(long index, double[] dst, int len, Scratch s) {
            float[] f = s.f;
            buffer.get(base + (int) index, f, 0, len);
            for (int k = 0; k < len; k++) {
                dst[k] = f[k];
            }
        }

        @Override
        void store(long index, double[] src, int len, Scratch s) {
            float[] f = s.f;
            for (int k = 0; k < len; k++) {
                f[k] = (float) src[k];
            }
            buffer.put(base + (int) index, f, 0, len);
        }
    }

    static final class DoubleData extends Data {
        private final DoubleBuffer buffer;
        private final int base;

        DoubleData(INDArray a) {
            buffer = a.data().asNioDouble();
            base = buffer.position();
        }

        @Override
        void load(long index, double[] dst, int len, Scratch s) {
            buffer.get(base + (int) index, dst, 0, len);
        }

        @Override
        void store(long index, double[] src, int len, Scratch s) {
            buffer.put(base + (int) index, src, 0, len);
        }
    }
}
