package io.github.instancenorm.ops.cpu;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link BlockKernels} of a double array: every sum accumulates in double, in a few interleaved chains so that the
 * additions overlap. The channels-last sums are static, so that the float kernels' scalar fallbacks widen their
 * block to double and run the same loops.
 *
 * <p>For a measurement only ({@link KernelChoice#FLOAT_AS_DOUBLE_PROPERTY}), a float array can run these loops
 * too: each block is widened to double on load and rounded to float on store.
 */
final class DoubleBlocks extends BlockKernels {
    private final DoubleBuffer buffer;
    /** The float array's memory when its blocks are widened; else {@code null}. */
    private final FloatBuffer floats;

    private final int base;

    DoubleBlocks(INDArray a) {
        if (a.dataType() == DataType.FLOAT) {
            buffer = null;
            floats = a.data().asNioFloat();
            base = floats.position();
        } else {
            buffer = a.data().asNioDouble();
            floats = null;
            base = buffer.position();
        }
    }

    private void load(long index, double[] dst, int len, TaskMemory s) {
        if (floats == null) {
            buffer.get(base + (int) index, dst, 0, len);
            return;
        }
        float[] staged = s.spare;
        floats.get(base + (int) index, staged, 0, len);
        for (int k = 0; k < len; k++) {
            dst[k] = staged[k];
        }
    }

    private void store(long index, double[] src, int len, TaskMemory s) {
        if (floats == null) {
            buffer.put(base + (int) index, src, 0, len);
            return;
        }
        float[] staged = s.spare;
        for (int k = 0; k < len; k++) {
            staged[k] = (float) src[k];
        }
        floats.put(base + (int) index, staged, 0, len);
    }

    @Override
    void blockMoments(long index, int len, TaskMemory s) {
        double[] a = s.xDoubles;
        load(index, a, len, s);
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
        s.blockMean = mean;
        s.blockM2 = (s0 + s1) + (s2 + s3);
    }

    @Override
    void affineBlock(BlockKernels out, long index, int len, double scale, double shift, TaskMemory s) {
        double[] a = s.xDoubles;
        load(index, a, len, s);
        for (int k = 0; k < len; k++) {
            a[k] = a[k] * scale + shift;
        }
        ((DoubleBlocks) out).store(index, a, len, s);
    }

    @Override
    void blockGradSums(BlockKernels g, long index, int len, double mean, TaskMemory s) {
        double[] a = s.xDoubles;
        double[] b = s.gDoubles;
        load(index, a, len, s);
        ((DoubleBlocks) g).load(index, b, len, s);
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
        s.blockGradSum = sg0 + sg1;
        s.blockDot = sd0 + sd1;
    }

    @Override
    void scaleBlock(BlockKernels dx, long index, int len, double scale, TaskMemory s) {
        double[] b = s.gDoubles;
        load(index, b, len, s);
        for (int k = 0; k < len; k++) {
            b[k] *= scale;
        }
        ((DoubleBlocks) dx).store(index, b, len, s);
    }

    @Override
    void gradInputBlock(
            BlockKernels x,
            BlockKernels dx,
            long index,
            int len,
            double a,
            double b,
            double c,
            double mean,
            TaskMemory s) {
        double[] xa = s.xDoubles;
        double[] ga = s.gDoubles;
        load(index, ga, len, s);
        ((DoubleBlocks) x).load(index, xa, len, s);
        for (int k = 0; k < len; k++) {
            ga[k] = a * ga[k] + b * (xa[k] - mean) + c;
        }
        ((DoubleBlocks) dx).store(index, ga, len, s);
    }

    @Override
    void setChannels(TaskMemory.ChannelSlice slice, double[] v, int from, int c) {
        slice.setDoubles(v, from, c);
    }

    @Override
    void rowMoments(long index, int rows, int c, TaskMemory s) {
        load(index, s.xDoubles, rows * c, s);
        rowMoments(s.xDoubles, rows, c, s.rowsMean, s.rowsM2);
    }

    /** Per-channel means of {@code rows} rows of {@code a} into {@code mean}, sums of squared deviations into {@code m2}. */
    static void rowMoments(double[] a, int rows, int c, double[] mean, double[] m2) {
        Arrays.fill(mean, 0, c, 0.0);
        Arrays.fill(m2, 0, c, 0.0);
        for (int r = 0, o = 0; r < rows; r++, o += c) {
            for (int k = 0; k < c; k++) {
                mean[k] += a[o + k];
            }
        }
        for (int k = 0; k < c; k++) {
            mean[k] /= rows;
        }
        for (int r = 0, o = 0; r < rows; r++, o += c) {
            for (int k = 0; k < c; k++) {
                double d = a[o + k] - mean[k];
                m2[k] += d * d;
            }
        }
    }

    @Override
    void affineRows(BlockKernels out, long index, int rows, int c, TaskMemory s) {
        double[] a = s.xDoubles;
        double[] sc = s.scale.doubles;
        double[] sh = s.shift.doubles;
        load(index, a, rows * c, s);
        for (int r = 0, o = 0; r < rows; r++, o += c) {
            for (int k = 0; k < c; k++) {
                a[o + k] = a[o + k] * sc[k] + sh[k];
            }
        }
        ((DoubleBlocks) out).store(index, a, rows * c, s);
    }

    @Override
    void rowGradSums(
            BlockKernels g, long index, int rows, int c, double[] gradSum, double[] dot, int at, TaskMemory s) {
        load(index, s.xDoubles, rows * c, s);
        ((DoubleBlocks) g).load(index, s.gDoubles, rows * c, s);
        rowGradSums(s.xDoubles, s.gDoubles, rows, c, s.mean.doubles, gradSum, dot, at);
    }

    /** Adds {@code sum_r g} to {@code gradSum[at + k]} and {@code sum_r (x - mean[k]) g} to {@code dot[at + k]}. */
    static void rowGradSums(
            double[] x, double[] g, int rows, int c, double[] mean, double[] gradSum, double[] dot, int at) {
        for (int r = 0, o = 0; r < rows; r++, o += c) {
            for (int k = 0; k < c; k++) {
                gradSum[at + k] += g[o + k];
                dot[at + k] += (x[o + k] - mean[k]) * g[o + k];
            }
        }
    }

    @Override
    void gradInputRows(BlockKernels x, BlockKernels dx, long index, int rows, int c, TaskMemory s) {
        double[] ga = s.gDoubles;
        double[] xa = s.xDoubles;
        double[] av = s.scale.doubles;
        double[] bv = s.centredScale.doubles;
        double[] cv = s.shift.doubles;
        double[] mv = s.mean.doubles;
        load(index, ga, rows * c, s);
        ((DoubleBlocks) x).load(index, xa, rows * c, s);
        for (int r = 0, o = 0; r < rows; r++, o += c) {
            for (int k = 0; k < c; k++) {
                ga[o + k] = av[k] * ga[o + k] + bv[k] * (xa[o + k] - mv[k]) + cv[k];
            }
        }
        ((DoubleBlocks) dx).store(index, ga, rows * c, s);
    }

    @Override
    void scaleRows(BlockKernels dx, long index, int rows, int c, TaskMemory s) {
        double[] ga = s.gDoubles;
        double[] av = s.scale.doubles;
        load(index, ga, rows * c, s);
        for (int r = 0, o = 0; r < rows; r++, o += c) {
            for (int k = 0; k < c; k++) {
                ga[o + k] *= av[k];
            }
        }
        ((DoubleBlocks) dx).store(index, ga, rows * c, s);
    }
}
