package io.github.instancenorm.ops.cpu;

import java.nio.ByteBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link FloatBlocks} on the JDK's Vector API ({@link FloatVectorLoops}): float sums in full-width lanes over short
 * runs, added in double, for every channels-first block and for channels-last blocks whose rows fill a vector and
 * come in a power of two; vector element-wise loops. What the vectors do not cover falls back to the scalar loops.
 *
 * <p>Only {@link BlockKernels#of} makes one, when {@link KernelChoice#vectorLoops} says the module is there: on a
 * JVM without it neither this class nor {@link FloatVectorLoops} is ever loaded.
 */
final class VectorFloatBlocks extends FloatBlocks {
    private static final int LANES = FloatVectorLoops.lanes();

    /**
     * Whether the read-once, write-once affine passes go straight through native memory: for arrays larger than the
     * caches, where copying through working memory costs as much as the pass. Small arrays are in cache, and there
     * the copies are faster (measured on the 1d benchmark shape).
     */
    private final boolean inPlace;
    /** The same memory as bytes, for the in-place loads and stores; made when first needed. */
    private ByteBuffer bytes;

    VectorFloatBlocks(INDArray a, KernelChoice settings) {
        super(a);
        inPlace = a.length() >= settings.inPlaceMinElements;
    }

    private ByteBuffer bytes() {
        if (bytes == null) {
            bytes = array.data().asNio();
        }
        return bytes;
    }

    @Override
    void blockMoments(long index, int len, TaskMemory s) {
        // The vector sums of small instances, on the block: fewer passes than the pairwise folds.
        load(index, s.xBlock, len);
        smallMoments(s.xBlock, 0, len, s);
    }

    @Override
    void affineBlock(BlockKernels out, long index, int len, double scale, double shift, TaskMemory s) {
        if (!inPlace) {
            super.affineBlock(out, index, len, scale, shift, s);
            return;
        }
        VectorFloatBlocks o = (VectorFloatBlocks) out;
        FloatVectorLoops.affineDirect(
                bytes(), base + (int) index, o.bytes(), o.base + (int) index, len, (float) scale, (float) shift);
    }

    @Override
    void blockGradSums(BlockKernels g, long index, int len, double mean, TaskMemory s) {
        load(index, s.xBlock, len);
        ((FloatBlocks) g).load(index, s.gBlock, len);
        smallGradSums(s.xBlock, s.gBlock, 0, len, mean, s);
    }

    @Override
    void gradInput(float[] g, float[] x, int from, int to, float a, float b, float c, float m) {
        FloatVectorLoops.gradInput(g, x, from, to, a, b, c, m);
    }

    @Override
    void scale(float[] g, int from, int to, float a) {
        FloatVectorLoops.affine(g, from, to, a, 0f);
    }

    @Override
    void groupMoments(long index, int m, int count, double[] mean, double[] var, int first, TaskMemory s) {
        if (!FloatVectorLoops.shortInstances(m)) {
            super.groupMoments(index, m, count, mean, var, first, s);
            return;
        }
        load(index, s.xGroup, m * count);
        FloatVectorLoops.instanceMoments(s.xGroup, 0, m, count, mean, var, first);
    }

    @Override
    void smallMoments(float[] a, int off, int len, TaskMemory s) {
        int end = off + len;
        double mean = FloatVectorLoops.sum(a, off, end) / len;
        float m = (float) mean;
        double shift = mean - m;
        s.blockMean = mean;
        // Deviations from the float-rounded mean, corrected to the exact mean.
        s.blockM2 = Math.max(0.0, FloatVectorLoops.squaredDeviations(a, off, end, m) - len * shift * shift);
    }

    @Override
    void smallGradSums(float[] x, float[] g, int off, int len, double mean, TaskMemory s) {
        float m = (float) mean;
        FloatVectorLoops.gradSums(x, g, off, off + len, m, s.vectorSums);
        s.blockGradSum = s.vectorSums[0];
        s.blockDot = s.vectorSums[1] - (mean - m) * s.vectorSums[0];
    }

    @Override
    void groupAffine(
            BlockKernels out, long index, int m, int count, double[] scale, double[] shift, int first, TaskMemory s) {
        if (!inPlace) {
            super.groupAffine(out, index, m, count, scale, shift, first, s);
            return;
        }
        VectorFloatBlocks o = (VectorFloatBlocks) out;
        for (int j = 0; j < count; j++) {
            int at = (int) index + j * m;
            FloatVectorLoops.affineDirect(
                    bytes(), base + at, o.bytes(), o.base + at, m, (float) scale[first + j], (float) shift[first + j]);
        }
    }

    @Override
    void affineGroupInMemory(
            BlockKernels out, long index, int m, int count, double[] scale, double[] shift, int first, TaskMemory s) {
        float[] a = s.xGroup;
        for (int j = 0, o = 0; j < count; j++, o += m) {
            FloatVectorLoops.affine(a, o, o + m, (float) scale[first + j], (float) shift[first + j]);
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
        if (!FloatVectorLoops.shortInstances(m)) {
            super.groupGradSums(g, index, m, count, mean, gradSum, dot, first, s);
            return;
        }
        load(index, s.xGroup, m * count);
        ((FloatBlocks) g).load(index, s.gGroup, m * count);
        FloatVectorLoops.instanceGradSums(s.xGroup, s.gGroup, 0, m, count, mean, gradSum, dot, first);
    }

    /** Whether a channels-last block's column sums take the vector loops: rows fill a vector, a power of two rows. */
    private static boolean vectorColumns(int rows, int c) {
        return c >= LANES && powerOfTwoRows(rows);
    }

    @Override
    void rowMoments(long index, int rows, int c, TaskMemory s) {
        if (!vectorColumns(rows, c)) {
            super.rowMoments(index, rows, c, s);
            return;
        }
        float[] a = s.xBlock;
        load(index, a, rows * c);
        double[] bm = s.rowsMean;
        double[] bm2 = s.rowsM2;
        float[] meanRow = s.xGroup;
        FloatVectorLoops.columnSums(a, rows, c, bm, s.spare);
        for (int k = 0; k < c; k++) {
            bm[k] /= rows;
            meanRow[k] = (float) bm[k];
        }
        FloatVectorLoops.columnSquaredDeviations(a, rows, c, meanRow, bm2, s.spare);
        for (int k = 0; k < c; k++) {
            // Deviations from the float-rounded mean, corrected to the exact mean.
            double shift = bm[k] - meanRow[k];
            bm2[k] = Math.max(0.0, bm2[k] - rows * shift * shift);
        }
    }

    @Override
    void affineRows(BlockKernels out, long index, int rows, int c, TaskMemory s) {
        if (c < LANES) {
            super.affineRows(out, index, rows, c, s);
            return;
        }
        // Coefficient vectors straight from the per-channel arrays: no rows of them to repeat.
        if (inPlace) {
            VectorFloatBlocks o = (VectorFloatBlocks) out;
            FloatVectorLoops.affineRowsDirect(
                    bytes(),
                    base + (int) index,
                    o.bytes(),
                    o.base + (int) index,
                    rows,
                    c,
                    s.scale.floats,
                    s.shift.floats);
            return;
        }
        float[] a = s.xBlock;
        int n = rows * c;
        load(index, a, n);
        FloatVectorLoops.affineRows(a, rows, c, s.scale.floats, s.shift.floats);
        ((FloatBlocks) out).store(index, a, n);
    }

    @Override
    void rowGradSums(
            BlockKernels g, long index, int rows, int c, double[] gradSum, double[] dot, int at, TaskMemory s) {
        if (!vectorColumns(rows, c)) {
            super.rowGradSums(g, index, rows, c, gradSum, dot, at, s);
            return;
        }
        float[] a = s.xBlock;
        float[] b = s.gBlock;
        double[] mean = s.mean.doubles;
        float[] meanRow = s.mean.floats;
        load(index, a, rows * c);
        ((FloatBlocks) g).load(index, b, rows * c);
        FloatVectorLoops.columnGradSums(a, b, rows, c, meanRow, s.rowsGradSum, s.rowsDot, s.spare);
        for (int k = 0; k < c; k++) {
            gradSum[at + k] += s.rowsGradSum[k];
            // The dot product used the float-rounded mean; move it to the exact one.
            dot[at + k] += s.rowsDot[k] - (mean[k] - meanRow[k]) * s.rowsGradSum[k];
        }
    }

    @Override
    void gradInputRows(BlockKernels x, BlockKernels dx, long index, int rows, int c, TaskMemory s) {
        if (c < LANES) {
            super.gradInputRows(x, dx, index, rows, c, s);
            return;
        }
        float[] ga = s.gBlock;
        int n = rows * c;
        load(index, ga, n);
        ((FloatBlocks) x).load(index, s.xBlock, n);
        FloatVectorLoops.gradInputRows(
                ga, s.xBlock, rows, c, s.scale.floats, s.centredScale.floats, s.shift.floats, s.mean.floats);
        ((FloatBlocks) dx).store(index, ga, n);
    }

    @Override
    void scaleRows(BlockKernels dx, long index, int rows, int c, TaskMemory s) {
        if (c < LANES) {
            super.scaleRows(dx, index, rows, c, s);
            return;
        }
        float[] ga = s.gBlock;
        int n = rows * c;
        load(index, ga, n);
        FloatVectorLoops.affineRows(ga, rows, c, s.scale.floats, null);
        ((FloatBlocks) dx).store(index, ga, n);
    }
}
