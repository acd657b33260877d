package io.github.instancenorm.ops.cpu;

import java.nio.FloatBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link BlockKernels} of a float array in scalar Java, the loops a JVM without the Vector API module runs
 * ({@link VectorFloatBlocks} replaces most of them with vector loops).
 *
 * <p>Sums are float partial sums added in double, in one of two shapes the JIT turns into fast code: blocks whose
 * length is a power of two (at least 256) are summed pairwise in float, each level a loop the JIT vectorizes (error
 * {@code O(eps log n)}), much as PyTorch's cascade sums; grouped small instances are summed in eight interleaved
 * float chains over runs of {@value #CHUNK} elements, which keep the adders busy where the folds would cost a loop
 * per level. Other blocks accumulate in double. Element-wise passes compute in float with float coefficients.
 *
 * <p>Why a float twin of {@link DoubleBlocks} at all: Java has no generics over primitives, and the element-wise
 * results must be computed in float (widened to double and rounded back they would differ from PyTorch's in the
 * last bit), as must the float sums that make this path fast. Where a loop accumulates in double anyway
 * (channels-last blocks of a row count that is not a power of two), the block is widened and the double loop runs.
 *
 * <p>Measured against the one-source alternative, every float block widened to double and run through
 * {@link DoubleBlocks}' loops ({@link KernelChoice#FLOAT_AS_DOUBLE_PROPERTY}): in {@code NormalizationBenchmark}'s
 * 18 cases (three shapes, both layouts, training forward, inference forward, forward + backward), three runs on two
 * cores, the widened loops took 1.3 to 3.2 times as long as these, in every case and run (the
 * {@code 10x64x128x128} forward + backward, channels first: 18.1 to 20.3 ms here, 31.5 to 36.8 ms widened). Hence
 * the twin.
 */
sealed class FloatBlocks extends BlockKernels permits VectorFloatBlocks {
    /** Elements a float partial sum of the unrolled loops covers before it is added in double: 256 / 8 = 32. */
    private static final int CHUNK = 256;
    /** Length at which {@link #foldSum} stops halving and adds the rest in partial sums. */
    private static final int FOLD_TAIL = 64;

    final INDArray array;
    final FloatBuffer buffer;
    final int base;

    FloatBlocks(INDArray a) {
        array = a;
        buffer = a.data().asNioFloat();
        base = buffer.position();
    }

    final void load(long index, float[] dst, int len) {
        buffer.get(base + (int) index, dst, 0, len);
    }

    final void store(long index, float[] src, int len) {
        buffer.put(base + (int) index, src, 0, len);
    }

    @Override
    void blockMoments(long index, int len, TaskMemory s) {
        float[] a = s.xBlock;
        load(index, a, len);
        if (!foldable(len)) {
            momentsInDouble(a, len, s);
            return;
        }
        // Pairwise sums: each level adds the upper half onto the lower half, a loop the JIT vectorizes.
        int half = len >> 1;
        float[] level = s.gBlock;
        for (int k = 0; k < half; k++) {
            level[k] = a[k] + a[k + half];
        }
        double mean = foldSum(level, s.spare, half) / len;
        float m = (float) mean;
        for (int k = 0; k < half; k++) {
            float d0 = a[k] - m;
            float d1 = a[k + half] - m;
            level[k] = d0 * d0 + d1 * d1;
        }
        // Deviations from the float-rounded mean: correct the sum of squares to the exact block mean.
        double shift = mean - m;
        s.blockMean = mean;
        s.blockM2 = Math.max(0.0, foldSum(level, s.spare, half) - len * shift * shift);
    }

    /** Moments of {@code a[0, len)} accumulated in double, two chains. */
    private static void momentsInDouble(float[] a, int len, TaskMemory s) {
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
        s.blockMean = mean;
        s.blockM2 = s0 + s1;
    }

    @Override
    void affineBlock(BlockKernels out, long index, int len, double scale, double shift, TaskMemory s) {
        float[] a = s.xBlock;
        load(index, a, len);
        float sc = (float) scale;
        float sh = (float) shift;
        for (int k = 0; k < len; k++) {
            a[k] = a[k] * sc + sh;
        }
        ((FloatBlocks) out).store(index, a, len);
    }

    @Override
    void blockGradSums(BlockKernels g, long index, int len, double mean, TaskMemory s) {
        float[] a = s.xBlock;
        float[] b = s.gBlock;
        load(index, a, len);
        ((FloatBlocks) g).load(index, b, len);
        if (!foldable(len)) {
            double sg = 0;
            double sd = 0;
            for (int k = 0; k < len; k++) {
                sg += b[k];
                sd += (a[k] - mean) * b[k];
            }
            s.blockGradSum = sg;
            s.blockDot = sd;
            return;
        }
        int half = len >> 1;
        float[] level = s.spare;
        float m = (float) mean;
        for (int k = 0; k < half; k++) {
            level[k] = (a[k] - m) * b[k] + (a[k + half] - m) * b[k + half];
        }
        double dot = foldSum(level, a, half); // x is read: its block is the fold's spare now
        for (int k = 0; k < half; k++) {
            level[k] = b[k] + b[k + half];
        }
        double gradSum = foldSum(level, a, half);
        s.blockGradSum = gradSum;
        // The dot product used the float-rounded mean: sum((x - m) g) = sum((x - mean) g) + (mean - m) sum(g).
        s.blockDot = dot - (mean - m) * gradSum;
    }

    @Override
    void scaleBlock(BlockKernels dx, long index, int len, double scale, TaskMemory s) {
        float[] b = s.gBlock;
        load(index, b, len);
        float af = (float) scale;
        for (int k = 0; k < len; k++) {
            b[k] *= af;
        }
        ((FloatBlocks) dx).store(index, b, len);
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
        float[] xa = s.xBlock;
        float[] ga = s.gBlock;
        load(index, ga, len);
        ((FloatBlocks) x).load(index, xa, len);
        gradInput(ga, xa, 0, len, (float) a, (float) b, (float) c, (float) mean);
        ((FloatBlocks) dx).store(index, ga, len);
    }

    /** {@code g = a g + b (x - m) + c} on {@code [from, to)}, in place in {@code g}. */
    void gradInput(float[] g, float[] x, int from, int to, float a, float b, float c, float m) {
        for (int k = from; k < to; k++) {
            g[k] = a * g[k] + b * (x[k] - m) + c;
        }
    }

    // Small instances: one bulk copy in (and out) for a whole group, instead of one per instance.

    @Override
    void groupMoments(long index, int m, int count, double[] mean, double[] var, int first, TaskMemory s) {
        float[] group = s.xGroup;
        load(index, group, m * count);
        for (int j = 0; j < count; j++) {
            smallMoments(group, j * m, m, s);
            mean[first + j] = s.blockMean;
            var[first + j] = s.blockM2 / m;
        }
    }

    /**
     * Moments of an instance in place, {@code a[off, off + len)}: eight independent float partial sums over runs of
     * at most {@value #CHUNK} elements (32 each, so float is ample), added in double.
     */
    void smallMoments(float[] a, int off, int len, TaskMemory s) {
        int end = off + len;
        int unrolled = off + (len & ~7);
        double sum = unrolledSum(a, off, unrolled);
        for (int k = unrolled; k < end; k++) {
            sum += a[k];
        }
        double mean = sum / len;
        float m = (float) mean;
        // Squared deviations in a flat loop the JIT vectorizes, then the same unrolled partial sums over them.
        float[] squares = s.xBlock;
        for (int k = off; k < unrolled; k++) {
            float d = a[k] - m;
            squares[k] = d * d;
        }
        double m2 = unrolledSum(squares, off, unrolled);
        double shift = mean - m;
        // The unrolled part measured deviations from the float-rounded mean; correct it to the exact mean.
        m2 -= (unrolled - off) * shift * shift;
        for (int k = unrolled; k < end; k++) {
            double d = a[k] - mean;
            m2 += d * d;
        }
        s.blockMean = mean;
        s.blockM2 = Math.max(0.0, m2);
    }

    /**
     * {@code sum(g)} and {@code sum((x - mean) g)} of an instance in place, as {@link #smallMoments} with four
     * chains each over runs of {@code CHUNK / 4} elements.
     */
    void smallGradSums(float[] x, float[] g, int off, int len, double mean, TaskMemory s) {
        float m = (float) mean;
        int end = off + len;
        int unrolled = off + (len & ~3);
        // The products in a flat loop the JIT vectorizes, then unrolled partial sums over them and g.
        float[] prod = s.xBlock;
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
        s.blockGradSum = gradSum;
        s.blockDot = dot - (mean - m) * gradSum;
    }

    @Override
    void groupAffine(
            BlockKernels out, long index, int m, int count, double[] scale, double[] shift, int first, TaskMemory s) {
        load(index, s.xGroup, m * count);
        affineGroupInMemory(out, index, m, count, scale, shift, first, s);
    }

    @Override
    final void groupAffineAfterMoments(
            BlockKernels out, long index, int m, int count, double[] scale, double[] shift, int first, TaskMemory s) {
        // groupMoments left the group in s.xGroup: no second read.
        affineGroupInMemory(out, index, m, count, scale, shift, first, s);
    }

    /** {@code out = x * scale + shift} on the group in {@code s.xGroup}. */
    void affineGroupInMemory(
            BlockKernels out, long index, int m, int count, double[] scale, double[] shift, int first, TaskMemory s) {
        float[] a = s.xGroup;
        // Loops index the group directly (k from o to o + m): C2 (JDK 17) vectorizes a[k], not a[o + k].
        for (int j = 0, o = 0; j < count; j++, o += m) {
            float sc = (float) scale[first + j];
            float sh = (float) shift[first + j];
            for (int k = o, end = o + m; k < end; k++) {
                a[k] = a[k] * sc + sh;
            }
        }
        ((FloatBlocks) out).store(index, a, m * count);
    }

    @Override
    void groupGradSums(
            BlockKernels g,
            long index,
            int m,
            int count,
            double[] mean,
            double[] gradSum,
            double[] dot,
            int first,
            TaskMemory s) {
        load(index, s.xGroup, m * count);
        ((FloatBlocks) g).load(index, s.gGroup, m * count);
        for (int j = 0; j < count; j++) {
            smallGradSums(s.xGroup, s.gGroup, j * m, m, mean[first + j], s);
            gradSum[first + j] = s.blockGradSum;
            dot[first + j] = s.blockDot;
        }
    }

    @Override
    final void groupGradInputAfterSums(
            BlockKernels x,
            BlockKernels dx,
            long index,
            int m,
            int count,
            double[] a,
            double[] b,
            double[] c,
            double[] mean,
            int first,
            TaskMemory s) {
        // groupGradSums left x in s.xGroup and g in s.gGroup: no second read.
        gradInputGroupInMemory(dx, index, m, count, a, b, c, mean, first, s);
    }

    private void gradInputGroupInMemory(
            BlockKernels dx,
            long index,
            int m,
            int count,
            double[] a,
            double[] b,
            double[] c,
            double[] mean,
            int first,
            TaskMemory s) {
        float[] ga = s.gGroup;
        float[] xa = s.xGroup;
        for (int j = 0, o = 0; j < count; j++, o += m) {
            int i = first + j;
            gradInput(ga, xa, o, o + m, (float) a[i], (float) b[i], (float) c[i], (float) mean[i]);
        }
        ((FloatBlocks) dx).store(index, ga, m * count);
    }

    @Override
    final void groupScale(BlockKernels dx, long index, int m, int count, double[] scale, int first, TaskMemory s) {
        float[] ga = s.gGroup;
        load(index, ga, m * count);
        for (int j = 0, o = 0; j < count; j++, o += m) {
            scale(ga, o, o + m, (float) scale[first + j]);
        }
        ((FloatBlocks) dx).store(index, ga, m * count);
    }

    /** {@code g *= a} on {@code [from, to)}. */
    void scale(float[] g, int from, int to, float a) {
        for (int k = from; k < to; k++) {
            g[k] *= a;
        }
    }

    @Override
    final void setChannels(TaskMemory.ChannelSlice slice, double[] v, int from, int c) {
        slice.setFloats(v, from, c);
    }

    @Override
    void rowMoments(long index, int rows, int c, TaskMemory s) {
        float[] a = s.xBlock;
        load(index, a, rows * c);
        double[] bm = s.rowsMean;
        double[] bm2 = s.rowsM2;
        if (!powerOfTwoRows(rows)) {
            widen(a, s.xDoubles, rows * c);
            DoubleBlocks.rowMoments(s.xDoubles, rows, c, bm, bm2);
            return;
        }
        // Pairwise over rows: fold the lower half of the rows onto the upper until one row is left.
        int n = rows / 2 * c;
        float[] level = s.gBlock;
        for (int j = 0; j < n; j++) {
            level[j] = a[j] + a[j + n];
        }
        float[] sums = foldRows(level, s.spare, n, c);
        float[] meanRow = s.xGroup;
        for (int k = 0; k < c; k++) {
            bm[k] = (double) sums[k] / rows;
            meanRow[k] = (float) bm[k];
        }
        replicateRow(meanRow, c, n);
        for (int j = 0; j < n; j++) {
            float d0 = a[j] - meanRow[j];
            float d1 = a[j + n] - meanRow[j];
            level[j] = d0 * d0 + d1 * d1;
        }
        sums = foldRows(level, s.spare, n, c);
        for (int k = 0; k < c; k++) {
            double shift = bm[k] - meanRow[k];
            bm2[k] = Math.max(0.0, sums[k] - rows * shift * shift);
        }
    }

    @Override
    void affineRows(BlockKernels out, long index, int rows, int c, TaskMemory s) {
        float[] a = s.xBlock;
        int n = rows * c;
        float[] sc = s.scale.repeated(n, c);
        float[] sh = s.shift.repeated(n, c);
        load(index, a, n);
        for (int j = 0; j < n; j++) {
            a[j] = a[j] * sc[j] + sh[j];
        }
        ((FloatBlocks) out).store(index, a, n);
    }

    @Override
    void rowGradSums(
            BlockKernels g, long index, int rows, int c, double[] gradSum, double[] dot, int at, TaskMemory s) {
        float[] a = s.xBlock;
        float[] b = s.gBlock;
        double[] mean = s.mean.doubles;
        load(index, a, rows * c);
        ((FloatBlocks) g).load(index, b, rows * c);
        if (!powerOfTwoRows(rows)) {
            widen(a, s.xDoubles, rows * c);
            widen(b, s.gDoubles, rows * c);
            DoubleBlocks.rowGradSums(s.xDoubles, s.gDoubles, rows, c, mean, gradSum, dot, at);
            return;
        }
        int n = rows / 2 * c;
        float[] meanRow = s.xGroup;
        System.arraycopy(s.mean.floats, 0, meanRow, 0, c);
        replicateRow(meanRow, c, n);
        float[] level = s.spare;
        for (int j = 0; j < n; j++) {
            level[j] = (a[j] - meanRow[j]) * b[j] + (a[j + n] - meanRow[j]) * b[j + n];
        }
        float[] dots = foldRows(level, s.gGroup, n, c);
        for (int k = 0; k < c; k++) {
            dot[at + k] += dots[k];
        }
        for (int j = 0; j < n; j++) {
            level[j] = b[j] + b[j + n];
        }
        float[] grads = foldRows(level, s.gGroup, n, c);
        for (int k = 0; k < c; k++) {
            double gk = grads[k];
            gradSum[at + k] += gk;
            // The dot product used the float-rounded mean; move it to the exact one.
            dot[at + k] -= (mean[k] - meanRow[k]) * gk;
        }
    }

    @Override
    void gradInputRows(BlockKernels x, BlockKernels dx, long index, int rows, int c, TaskMemory s) {
        float[] ga = s.gBlock;
        float[] xa = s.xBlock;
        int n = rows * c;
        float[] av = s.scale.repeated(n, c);
        float[] bv = s.centredScale.repeated(n, c);
        float[] cv = s.shift.repeated(n, c);
        float[] mv = s.mean.repeated(n, c);
        load(index, ga, n);
        ((FloatBlocks) x).load(index, xa, n);
        for (int j = 0; j < n; j++) {
            ga[j] = av[j] * ga[j] + bv[j] * (xa[j] - mv[j]) + cv[j];
        }
        ((FloatBlocks) dx).store(index, ga, n);
    }

    @Override
    void scaleRows(BlockKernels dx, long index, int rows, int c, TaskMemory s) {
        float[] ga = s.gBlock;
        int n = rows * c;
        float[] av = s.scale.repeated(n, c);
        load(index, ga, n);
        for (int j = 0; j < n; j++) {
            ga[j] *= av[j];
        }
        ((FloatBlocks) dx).store(index, ga, n);
    }

    /** Whether a channels-last block is summed pairwise over its rows: a power of two of them, at least 2. */
    static boolean powerOfTwoRows(int rows) {
        return rows >= 2 && Integer.bitCount(rows) == 1;
    }

    /** Whether a block's length suits the pairwise float sums: a power of two, at least 256. */
    private static boolean foldable(int len) {
        return len >= 256 && Integer.bitCount(len) == 1;
    }

    /** {@code dst[0, n) = src[0, n)}, exactly. */
    private static void widen(float[] src, double[] dst, int n) {
        for (int j = 0; j < n; j++) {
            dst[j] = src[j];
        }
    }

    /**
     * Sums {@code v[0, n)} ({@code n} a power of two) pairwise, halving between {@code v} and {@code spare} down to
     * {@value #FOLD_TAIL} values, which are added in eight interleaved float partial sums and then in double.
     * Folding all the way down costs a short loop per level, with the JIT's vector pre- and post-loops around each,
     * more than the sums themselves. Both arrays are overwritten.
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
        int unrolled = n & ~7; // n < 2 * FOLD_TAIL <= CHUNK: a single run of the unrolled sum
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
    static void replicateRow(float[] row, int c, int n) {
        for (int o = c; o < n; o += c) {
            System.arraycopy(row, 0, row, o, c);
        }
    }
}
