package io.github.instancenorm.ops.cpu;

import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Working memory of one thread in a pass: blocks of the large arrays copied into the cache, a sample's slice of the
 * per-instance coefficients (channels-last), and the results of one block. Kept in a small pool, so that a pass
 * allocates none once the pool holds one per thread.
 *
 * <p>A pass uses the float or the double blocks, after its arrays' type. Some float blocks take a second role once
 * their first is over; the kernels name the second role in a local variable where they take it.
 */
final class TaskMemory {
    private static final ConcurrentLinkedQueue<TaskMemory> POOL = new ConcurrentLinkedQueue<>();

    /** A block of x (and the output computed on it). Later in a sum: squared deviations or products. */
    final float[] xBlock;
    /** A block of g (and dx computed on it). In the moments: the first pairwise level of x. */
    final float[] gBlock;
    /** The other half of pairwise folds and small per-block buffers. */
    final float[] spare;
    /**
     * Channels-first: a group of small instances of x. Between a group's sums and its element-wise pass it still
     * holds the group as the sums read it, so the fused passes do not read it again. Channels-last: the
     * float-rounded mean row.
     */
    final float[] xGroup;
    /** Channels-first: a group of small instances of g (as {@link #xGroup}). Channels-last: a fold spare. */
    final float[] gGroup;
    /** A block of x, double arrays. */
    final double[] xDoubles;
    /** A block of g (and dx computed on it), double arrays. */
    final double[] gDoubles;

    /** Channels-last: the sample's {@code y = scale x + shift}, or {@code dx = scale g + centredScale (x - mean) + shift}. */
    final ChannelSlice scale;

    final ChannelSlice centredScale;
    final ChannelSlice shift;
    final ChannelSlice mean;

    /** Channels-last: per channel, a block of rows' mean and sum of squared deviations from it. */
    final double[] rowsMean;

    final double[] rowsM2;
    /** Channels-last: per channel, a block of rows' {@code sum(g)} and {@code sum((x - mean) g)}. */
    final double[] rowsGradSum;

    final double[] rowsDot;

    /** Channels-first: one block's mean and sum of squared deviations from it. */
    double blockMean;

    double blockM2;
    /** Channels-first: one block's {@code sum(g)} and {@code sum((x - mean) g)}. */
    double blockGradSum;

    double blockDot;
    /** The two sums a {@link FloatVectorLoops#gradSums} call returns. */
    final double[] vectorSums = new double[2];

    private TaskMemory(int size, int channels) {
        xBlock = new float[size];
        gBlock = new float[size];
        spare = new float[size];
        xGroup = new float[size];
        gGroup = new float[size];
        xDoubles = new double[size];
        gDoubles = new double[size];
        scale = new ChannelSlice(channels, size);
        centredScale = new ChannelSlice(channels, size);
        shift = new ChannelSlice(channels, size);
        mean = new ChannelSlice(channels, size);
        rowsMean = new double[channels];
        rowsM2 = new double[channels];
        rowsGradSum = new double[channels];
        rowsDot = new double[channels];
    }

    static TaskMemory take(int size, int channels) {
        TaskMemory s = POOL.poll();
        if (s == null || s.xBlock.length < size || s.rowsMean.length < channels) {
            s = new TaskMemory(
                    Math.max(size, s == null ? Geometry.BLOCK : s.xBlock.length),
                    Math.max(channels, s == null ? 1 : s.rowsMean.length));
        }
        return s;
    }

    static void give(TaskMemory s) {
        POOL.offer(s);
    }

    /**
     * A sample's slice of one per-instance vector, one value per channel, in double and rounded to float; and for
     * the scalar float loops the float values repeated row after row over a block, so that row loops run flat (and
     * vectorized).
     */
    static final class ChannelSlice {
        final double[] doubles;
        final float[] floats;
        private final float[] repeated;
        /** How many elements of {@code repeated} hold the current values. */
        private int repeatedLength;

        ChannelSlice(int channels, int size) {
            doubles = new double[channels];
            floats = new float[channels];
            repeated = new float[size];
        }

        /** Takes {@code v[from, from + c)}, in double only. */
        void setDoubles(double[] v, int from, int c) {
            System.arraycopy(v, from, doubles, 0, c);
        }

        /** Takes {@code v[from, from + c)}, in double and float. */
        void setFloats(double[] v, int from, int c) {
            for (int k = 0; k < c; k++) {
                doubles[k] = v[from + k];
                floats[k] = (float) doubles[k];
            }
            repeatedLength = 0;
        }

        /** @return the float values repeated over {@code n} elements ({@code n} a multiple of {@code c}) */
        float[] repeated(int n, int c) {
            if (repeatedLength < n) {
                System.arraycopy(floats, 0, repeated, 0, c);
                FloatBlocks.replicateRow(repeated, c, n);
                repeatedLength = n;
            }
            return repeated;
        }
    }
}
