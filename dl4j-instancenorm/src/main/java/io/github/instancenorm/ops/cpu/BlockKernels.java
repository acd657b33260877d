package io.github.instancenorm.ops.cpu;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A contiguous array's host memory, element-indexed from the array's first element, with the arithmetic of every
 * pass on one cached block in the array's own element type: {@link DoubleBlocks}, {@link FloatBlocks} (scalar
 * loops) or {@link VectorFloatBlocks} (Vector API loops), chosen once per array and call. Blocks are copied into the
 * thread's {@link TaskMemory}, computed on there, and copied back. All arrays of one call have the same type, so the
 * other {@code BlockKernels} arguments are of the same class.
 *
 * <p>Element-wise results are computed in the element type with per-instance coefficients, as PyTorch does; sums
 * are accumulated or merged in double (see each class). Channels-first methods work on one block or a group of
 * small instances; channels-last ones on a block of spatial rows of {@code c} channels, with the sample's
 * coefficients in the task memory's {@link TaskMemory.ChannelSlice}s.
 */
abstract sealed class BlockKernels permits DoubleBlocks, FloatBlocks {

    /** @return the block kernels for {@code a}, float or double, with the float loops {@code settings} chooses */
    static BlockKernels of(INDArray a, KernelChoice settings) {
        if (a.dataType() != DataType.FLOAT || settings.floatAsDouble) {
            return new DoubleBlocks(a);
        }
        return settings.vectorLoops ? new VectorFloatBlocks(a, settings) : new FloatBlocks(a);
    }

    // Channels-first, one block of an instance.

    /** The block's mean into {@code s.blockMean}, its sum of squared deviations from it into {@code s.blockM2}. */
    abstract void blockMoments(long index, int len, TaskMemory s);

    /** {@code out = this * scale + shift} on one block. */
    abstract void affineBlock(BlockKernels out, long index, int len, double scale, double shift, TaskMemory s);

    /** With {@code this} = x: {@code s.blockGradSum = sum(g)}, {@code s.blockDot = sum((x - mean) g)}. */
    abstract void blockGradSums(BlockKernels g, long index, int len, double mean, TaskMemory s);

    /** With {@code this} = g: {@code dx = scale * g} on one block. */
    abstract void scaleBlock(BlockKernels dx, long index, int len, double scale, TaskMemory s);

    /** With {@code this} = g: {@code dx = a g + b (x - mean) + c} on one block. */
    abstract void gradInputBlock(
            BlockKernels x,
            BlockKernels dx,
            long index,
            int len,
            double a,
            double b,
            double c,
            double mean,
            TaskMemory s);

    // Channels-first, a group of {@code count} consecutive small instances of {@code m} elements, the first one
    // instance {@code first}. By default one block per instance; the float kernels copy the group at once.

    /** Mean and biased variance of each instance of the group into {@code mean} and {@code var}. */
    void groupMoments(long index, int m, int count, double[] mean, double[] var, int first, TaskMemory s) {
        for (int j = 0; j < count; j++) {
            blockMoments(index + (long) j * m, m, s);
            mean[first + j] = s.blockMean;
            var[first + j] = s.blockM2 / m;
        }
    }

    /** {@code out = this * scale + shift} on the group. */
    void groupAffine(
            BlockKernels out, long index, int m, int count, double[] scale, double[] shift, int first, TaskMemory s) {
        for (int j = 0; j < count; j++) {
            affineBlock(out, index + (long) j * m, m, scale[first + j], shift[first + j], s);
        }
    }

    /** {@link #groupAffine} right after {@link #groupMoments} of the same group, which may have left it in cache. */
    void groupAffineAfterMoments(
            BlockKernels out, long index, int m, int count, double[] scale, double[] shift, int first, TaskMemory s) {
        groupAffine(out, index, m, count, scale, shift, first, s);
    }

    /** With {@code this} = x: {@link #blockGradSums} of each instance into {@code gradSum} and {@code dot}. */
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
        for (int j = 0; j < count; j++) {
            blockGradSums(g, index + (long) j * m, m, mean[first + j], s);
            gradSum[first + j] = s.blockGradSum;
            dot[first + j] = s.blockDot;
        }
    }

    /**
     * With {@code this} = g: {@link #gradInputBlock} on each instance, right after {@link #groupGradSums} of the
     * same group, which may have left it in cache.
     */
    void groupGradInputAfterSums(
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
        for (int j = 0; j < count; j++) {
            int i = first + j;
            gradInputBlock(x, dx, index + (long) j * m, m, a[i], b[i], c[i], mean[i], s);
        }
    }

    /** With {@code this} = g: {@link #scaleBlock} on each instance. */
    void groupScale(BlockKernels dx, long index, int m, int count, double[] scale, int first, TaskMemory s) {
        for (int j = 0; j < count; j++) {
            scaleBlock(dx, index + (long) j * m, m, scale[first + j], s);
        }
    }

    // Channels-last, a block of {@code rows} spatial rows of {@code c} channels.

    /** Sets {@code slice} to {@code v[from, from + c)}, a sample's values of a per-instance vector. */
    abstract void setChannels(TaskMemory.ChannelSlice slice, double[] v, int from, int c);

    /** Per-channel means of the block into {@code s.rowsMean}, sums of squared deviations into {@code s.rowsM2}. */
    abstract void rowMoments(long index, int rows, int c, TaskMemory s);

    /** {@code out = this * s.scale + s.shift} on the block. */
    abstract void affineRows(BlockKernels out, long index, int rows, int c, TaskMemory s);

    /**
     * With {@code this} = x: adds {@code g} to {@code gradSum[at + k]} and {@code (x - s.mean) g} to
     * {@code dot[at + k]} for each channel {@code k}.
     */
    abstract void rowGradSums(
            BlockKernels g, long index, int rows, int c, double[] gradSum, double[] dot, int at, TaskMemory s);

    /** With {@code this} = g: {@code dx = s.scale g + s.centredScale (x - s.mean) + s.shift} on the block. */
    abstract void gradInputRows(BlockKernels x, BlockKernels dx, long index, int rows, int c, TaskMemory s);

    /** With {@code this} = g: {@code dx = s.scale g} on the block. */
    abstract void scaleRows(BlockKernels dx, long index, int rows, int c, TaskMemory s);
}
