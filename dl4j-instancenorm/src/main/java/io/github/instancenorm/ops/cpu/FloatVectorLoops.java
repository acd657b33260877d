package io.github.instancenorm.ops.cpu;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float loops of {@link VectorFloatBlocks} over short runs (the instances of a cached group) written with
 * the JDK's Vector API, which JDK 17 ships as the incubator module {@code jdk.incubator.vector}. C2 does not
 * vectorize float sums (it keeps their order), and its auto-vectorized element-wise loops spend most of a
 * 64-element run in their scalar pre- and post-loops; explicit vectors do both in full-width lanes.
 *
 * <p>Only {@link VectorFloatBlocks} calls this class, and only when {@link KernelChoice#vectorLoops}
 * says the module is present: without {@code --add-modules jdk.incubator.vector} on the command line the class is
 * never loaded.
 *
 * <p>Sums accumulate in float lanes over runs of at most {@value #RUN} elements (so {@code RUN / (2 * lanes)}
 * elements per lane, 16 with 16 lanes) and add the runs in double, the same error bound as the scalar loops'
 * eight float chains over 256 elements. Channels-last blocks are summed down their columns, the lanes along the
 * channels, each lane over at most {@value #ROW_RUN} rows before the partial goes into double.
 */
final class FloatVectorLoops {

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final int LANES = SPECIES.length();
    /** Elements one float partial sum covers, at most. */
    private static final int RUN = 512;
    /** The longest instance {@link #instanceMoments} takes, in elements. */
    private static final int SHORT = 256;
    /** Channels-last: rows one float partial sum covers, at most. */
    private static final int ROW_RUN = 64;

    /**
     * The butterfly steps of {@link #laneSum}: {@code SWAP_n} exchanges lanes {@code i} and {@code i ^ n}. Separate
     * constants rather than an array: C2 compiles {@code rearrange} to one permute only for a constant shuffle.
     */
    private static final VectorShuffle<Float> SWAP_8 = swap(8);

    private static final VectorShuffle<Float> SWAP_4 = swap(4);
    private static final VectorShuffle<Float> SWAP_2 = swap(2);
    private static final VectorShuffle<Float> SWAP_1 = swap(1);

    private FloatVectorLoops() {}

    /** @return the shuffle exchanging lanes {@code i} and {@code i ^ distance}, or null if there are too few */
    private static VectorShuffle<Float> swap(int distance) {
        return distance < LANES ? VectorShuffle.fromOp(SPECIES, i -> i ^ distance) : null;
    }

    /**
     * The sum of a vector's lanes, by a butterfly: {@code log2(lanes)} rounds of adding the vector to itself with
     * lanes swapped, after which every lane holds the same pairwise sum. JDK 17's {@code reduceLanes(ADD)} adds the
     * lanes one after the other, a chain of 16 dependent additions on 512-bit vectors that takes longer than
     * summing a 64-element instance; the butterfly's four rounds are short and overlap from one instance to the
     * next.
     */
    static float laneSum(FloatVector v) {
        if (LANES > 16) {
            return v.reduceLanes(VectorOperators.ADD);
        }
        // LANES is a constant: the JIT keeps only the rounds this vector shape has.
        if (LANES > 8) {
            v = v.add(v.rearrange(SWAP_8));
        }
        if (LANES > 4) {
            v = v.add(v.rearrange(SWAP_4));
        }
        if (LANES > 2) {
            v = v.add(v.rearrange(SWAP_2));
        }
        if (LANES > 1) {
            v = v.add(v.rearrange(SWAP_1));
        }
        return v.lane(0);
    }

    /** @return the number of float lanes of the platform's preferred vector shape */
    static int lanes() {
        return LANES;
    }

    /** @return {@code sum(a[from, to))} */
    static double sum(float[] a, int from, int to) {
        double total = 0;
        int k = from;
        int vectorEnd = from + (to - from) / LANES * LANES;
        while (k < vectorEnd) {
            int stop = Math.min(vectorEnd, k + RUN);
            total += runSum(a, k, stop);
            k = stop;
        }
        for (; k < to; k++) {
            total += a[k];
        }
        return total;
    }

    /** @return {@code sum(a[from, to))} in float, for a run of whole vectors: two partial sums, one lane sum */
    private static float runSum(float[] a, int from, int to) {
        FloatVector s0 = FloatVector.zero(SPECIES);
        FloatVector s1 = FloatVector.zero(SPECIES);
        int k = from;
        for (; k + 2 * LANES <= to; k += 2 * LANES) {
            s0 = s0.add(FloatVector.fromArray(SPECIES, a, k));
            s1 = s1.add(FloatVector.fromArray(SPECIES, a, k + LANES));
        }
        if (k < to) {
            s0 = s0.add(FloatVector.fromArray(SPECIES, a, k));
        }
        return laneSum(s0.add(s1));
    }

    /** @return {@code sum((a[k] - m)^2)} over {@code [from, to)}, each term in float */
    static double squaredDeviations(float[] a, int from, int to, float m) {
        double total = 0;
        int k = from;
        int vectorEnd = from + (to - from) / LANES * LANES;
        while (k < vectorEnd) {
            int stop = Math.min(vectorEnd, k + RUN);
            total += runSquaredDeviations(a, k, stop, m);
            k = stop;
        }
        for (; k < to; k++) {
            float d = a[k] - m;
            total += d * d;
        }
        return total;
    }

    /**
     * @return {@code sum((a[k] - m)^2)} over {@code [from, to)} in float, for a run of whole vectors, as
     *         {@link #runSum}
     */
    private static float runSquaredDeviations(float[] a, int from, int to, float m) {
        FloatVector mv = FloatVector.broadcast(SPECIES, m);
        FloatVector s0 = FloatVector.zero(SPECIES);
        FloatVector s1 = FloatVector.zero(SPECIES);
        int k = from;
        for (; k + 2 * LANES <= to; k += 2 * LANES) {
            FloatVector d0 = FloatVector.fromArray(SPECIES, a, k).sub(mv);
            FloatVector d1 = FloatVector.fromArray(SPECIES, a, k + LANES).sub(mv);
            s0 = d0.fma(d0, s0);
            s1 = d1.fma(d1, s1);
        }
        if (k < to) {
            FloatVector d0 = FloatVector.fromArray(SPECIES, a, k).sub(mv);
            s0 = d0.fma(d0, s0);
        }
        return laneSum(s0.add(s1));
    }

    /**
     * Whether {@link #instanceMoments} and {@link #instanceGradSums} take instances of {@code m} elements: whole
     * vectors, at most {@value #SHORT} of them.
     */
    static boolean shortInstances(int m) {
        return m % LANES == 0 && m <= SHORT;
    }

    /**
     * Mean and biased variance of {@code count} consecutive instances of {@code m} elements from {@code a[from]},
     * into {@code mean[first + j]} and {@code var[first + j]} ({@link #shortInstances} must hold for {@code m}).
     * As {@link #sum} and {@link #squaredDeviations}, one run per instance without their run loops and tails,
     * which cost more than the arithmetic on an instance of a few vectors; and a multiplication by {@code 1/m}
     * instead of two divisions.
     */
    static void instanceMoments(float[] a, int from, int m, int count, double[] mean, double[] var, int first) {
        double inv = 1.0 / m;
        for (int j = 0, o = from; j < count; j++, o += m) {
            double mu = runSum(a, o, o + m) * inv;
            float mf = (float) mu;
            // Deviations from the float-rounded mean, corrected to the exact mean. Rounding can take the sum below
            // zero; a plain conditional (which keeps NaN) clamps it at a fraction of Math.max's cost here.
            double shift = mu - mf;
            double m2 = runSquaredDeviations(a, o, o + m, mf) - m * shift * shift;
            mean[first + j] = mu;
            var[first + j] = (m2 < 0 ? 0 : m2) * inv;
        }
    }

    /**
     * {@code sum(g)} into {@code gradSum[first + j]} and {@code sum((x - mean) g)} into {@code dot[first + j]} of
     * {@code count} consecutive instances of {@code m} elements from {@code x[from]} and {@code g[from]}, as
     * {@link #gradSums} without its run loop ({@link #shortInstances} must hold for {@code m}).
     */
    static void instanceGradSums(
            float[] x,
            float[] g,
            int from,
            int m,
            int count,
            double[] mean,
            double[] gradSum,
            double[] dot,
            int first) {
        for (int j = 0, o = from; j < count; j++, o += m) {
            int end = o + m;
            double mu = mean[first + j];
            float mf = (float) mu;
            FloatVector mv = FloatVector.broadcast(SPECIES, mf);
            FloatVector sg = FloatVector.zero(SPECIES);
            FloatVector sd = FloatVector.zero(SPECIES);
            for (int k = o; k < end; k += LANES) {
                FloatVector gv = FloatVector.fromArray(SPECIES, g, k);
                sg = sg.add(gv);
                sd = FloatVector.fromArray(SPECIES, x, k).sub(mv).fma(gv, sd);
            }
            double gs = laneSum(sg);
            gradSum[first + j] = gs;
            // The products used the float-rounded mean: sum((x - m) g) = sum((x - mean) g) + (mean - m) sum(g).
            dot[first + j] = laneSum(sd) - (mu - mf) * gs;
        }
    }

    /**
     * {@code sum(g)} into {@code out[0]} and {@code sum((x - m) g)} into {@code out[1]}, over {@code [from, to)}.
     */
    static void gradSums(float[] x, float[] g, int from, int to, float m, double[] out) {
        double gradSum = 0;
        double dot = 0;
        int k = from;
        int vectorEnd = from + (to - from) / LANES * LANES;
        while (k < vectorEnd) {
            // Shorter runs than for the moments: with the running mean, x - m need not be centred, and the dot
            // product can be a small difference of large terms.
            int stop = Math.min(vectorEnd, k + RUN / 2);
            FloatVector sg = FloatVector.zero(SPECIES);
            FloatVector sd = FloatVector.zero(SPECIES);
            for (; k < stop; k += LANES) {
                FloatVector gv = FloatVector.fromArray(SPECIES, g, k);
                sg = sg.add(gv);
                sd = FloatVector.fromArray(SPECIES, x, k).sub(m).fma(gv, sd);
            }
            gradSum += laneSum(sg);
            dot += laneSum(sd);
        }
        for (; k < to; k++) {
            gradSum += g[k];
            dot += (x[k] - m) * g[k];
        }
        out[0] = gradSum;
        out[1] = dot;
    }

    /**
     * Channels-last: column sums of a block of {@code rows} rows of {@code c} channels ({@code c >= lanes()}),
     * {@code out[k] = sum_r a[r c + k]}. Lanes run along the channels, so the sums need no horizontal reductions;
     * each float partial covers at most {@value #ROW_RUN} rows.
     *
     * @param lanes scratch of at least {@link #lanes()} floats
     */
    static void columnSums(float[] a, int rows, int c, double[] out, float[] lanes) {
        int k = 0;
        for (; k + LANES <= c; k += LANES) {
            clear(out, k);
            for (int r0 = 0; r0 < rows; r0 += ROW_RUN) {
                int r1 = Math.min(rows, r0 + ROW_RUN);
                FloatVector s0 = FloatVector.zero(SPECIES);
                FloatVector s1 = FloatVector.zero(SPECIES);
                int r = r0;
                for (int o = r * c + k; r + 1 < r1; r += 2, o += 2 * c) {
                    s0 = s0.add(FloatVector.fromArray(SPECIES, a, o));
                    s1 = s1.add(FloatVector.fromArray(SPECIES, a, o + c));
                }
                if (r < r1) {
                    s0 = s0.add(FloatVector.fromArray(SPECIES, a, r * c + k));
                }
                addLanes(s0.add(s1), out, k, lanes);
            }
        }
        for (; k < c; k++) {
            double sum = 0;
            for (int r = 0, o = k; r < rows; r++, o += c) {
                sum += a[o];
            }
            out[k] = sum;
        }
    }

    /**
     * Channels-last: {@code out[k] = sum_r (a[r c + k] - m[k])^2} over a block, as {@link #columnSums}, each
     * deviation in float.
     */
    static void columnSquaredDeviations(float[] a, int rows, int c, float[] m, double[] out, float[] lanes) {
        int k = 0;
        for (; k + LANES <= c; k += LANES) {
            clear(out, k);
            FloatVector mv = FloatVector.fromArray(SPECIES, m, k);
            for (int r0 = 0; r0 < rows; r0 += ROW_RUN) {
                int r1 = Math.min(rows, r0 + ROW_RUN);
                FloatVector s0 = FloatVector.zero(SPECIES);
                FloatVector s1 = FloatVector.zero(SPECIES);
                int r = r0;
                for (int o = r * c + k; r + 1 < r1; r += 2, o += 2 * c) {
                    FloatVector d0 = FloatVector.fromArray(SPECIES, a, o).sub(mv);
                    FloatVector d1 = FloatVector.fromArray(SPECIES, a, o + c).sub(mv);
                    s0 = d0.fma(d0, s0);
                    s1 = d1.fma(d1, s1);
                }
                if (r < r1) {
                    FloatVector d0 =
                            FloatVector.fromArray(SPECIES, a, r * c + k).sub(mv);
                    s0 = d0.fma(d0, s0);
                }
                addLanes(s0.add(s1), out, k, lanes);
            }
        }
        for (; k < c; k++) {
            double sum = 0;
            for (int r = 0, o = k; r < rows; r++, o += c) {
                float d = a[o] - m[k];
                sum += d * d;
            }
            out[k] = sum;
        }
    }

    /**
     * Channels-last: per-channel {@code gradSum[k] = sum_r g[r c + k]} and
     * {@code dot[k] = sum_r (x[r c + k] - m[k]) g[r c + k]} over a block, as {@link #columnSums} (half the rows per
     * float partial: the dot product can be a small difference of large terms).
     */
    static void columnGradSums(
            float[] x, float[] g, int rows, int c, float[] m, double[] gradSum, double[] dot, float[] lanes) {
        int k = 0;
        for (; k + LANES <= c; k += LANES) {
            clear(gradSum, k);
            clear(dot, k);
            FloatVector mv = FloatVector.fromArray(SPECIES, m, k);
            for (int r0 = 0; r0 < rows; r0 += ROW_RUN / 2) {
                int r1 = Math.min(rows, r0 + ROW_RUN / 2);
                FloatVector sg = FloatVector.zero(SPECIES);
                FloatVector sd = FloatVector.zero(SPECIES);
                for (int r = r0, o = r0 * c + k; r < r1; r++, o += c) {
                    FloatVector gv = FloatVector.fromArray(SPECIES, g, o);
                    sg = sg.add(gv);
                    sd = FloatVector.fromArray(SPECIES, x, o).sub(mv).fma(gv, sd);
                }
                addLanes(sg, gradSum, k, lanes);
                addLanes(sd, dot, k, lanes);
            }
        }
        for (; k < c; k++) {
            double sg = 0;
            double sd = 0;
            for (int r = 0, o = k; r < rows; r++, o += c) {
                sg += g[o];
                sd += (x[o] - m[k]) * g[o];
            }
            gradSum[k] = sg;
            dot[k] = sd;
        }
    }

    /**
     * Channels-last: {@code a[r c + k] = a[r c + k] * scale[k] + shift[k]} on a block of {@code rows} rows, in
     * place; {@code shift} may be {@code null} (no shift).
     */
    static void affineRows(float[] a, int rows, int c, float[] scale, float[] shift) {
        int k = 0;
        for (; k + LANES <= c; k += LANES) {
            FloatVector sv = FloatVector.fromArray(SPECIES, scale, k);
            if (shift == null) {
                for (int r = 0, o = k; r < rows; r++, o += c) {
                    FloatVector.fromArray(SPECIES, a, o).mul(sv).intoArray(a, o);
                }
            } else {
                FloatVector hv = FloatVector.fromArray(SPECIES, shift, k);
                for (int r = 0, o = k; r < rows; r++, o += c) {
                    FloatVector.fromArray(SPECIES, a, o).fma(sv, hv).intoArray(a, o);
                }
            }
        }
        for (; k < c; k++) {
            for (int r = 0, o = k; r < rows; r++, o += c) {
                a[o] = shift == null ? a[o] * scale[k] : a[o] * scale[k] + shift[k];
            }
        }
    }

    /**
     * Channels-last: {@code g = a g + b (x - m) + c} per channel on a block of {@code rows} rows of {@code ch}
     * channels, in place in {@code g}.
     */
    static void gradInputRows(float[] g, float[] x, int rows, int ch, float[] a, float[] b, float[] c, float[] m) {
        int k = 0;
        for (; k + LANES <= ch; k += LANES) {
            FloatVector av = FloatVector.fromArray(SPECIES, a, k);
            FloatVector bv = FloatVector.fromArray(SPECIES, b, k);
            FloatVector cv = FloatVector.fromArray(SPECIES, c, k);
            FloatVector mv = FloatVector.fromArray(SPECIES, m, k);
            for (int r = 0, o = k; r < rows; r++, o += ch) {
                FloatVector xc = FloatVector.fromArray(SPECIES, x, o).sub(mv).mul(bv);
                FloatVector.fromArray(SPECIES, g, o).mul(av).add(xc).add(cv).intoArray(g, o);
            }
        }
        for (; k < ch; k++) {
            for (int r = 0, o = k; r < rows; r++, o += ch) {
                g[o] = a[k] * g[o] + b[k] * (x[o] - m[k]) + c[k];
            }
        }
    }

    /**
     * {@code out[outFrom + k] = in[inFrom + k] * scale + shift} for {@code 0 <= k < len}, read and written straight
     * in the arrays' native memory: for a pass that reads and writes each element once, copying through a Java
     * array costs as much as the pass. {@code in} and {@code out} are float buffers' bytes, indices in floats.
     */
    static void affineDirect(
            ByteBuffer in, int inFrom, ByteBuffer out, int outFrom, int len, float scale, float shift) {
        int i = inFrom * Float.BYTES;
        int o = outFrom * Float.BYTES;
        int k = 0;
        for (int vectorEnd = len / LANES * LANES; k < vectorEnd; k += LANES) {
            FloatVector.fromByteBuffer(SPECIES, in, i + k * Float.BYTES, NATIVE)
                    .fma(scale, shift)
                    .intoByteBuffer(out, o + k * Float.BYTES, NATIVE);
        }
        for (; k < len; k++) {
            out.putFloat(o + k * Float.BYTES, in.getFloat(i + k * Float.BYTES) * scale + shift);
        }
    }

    /**
     * Channels-last {@link #affineRows} straight in native memory, as {@link #affineDirect}: {@code rows} rows of
     * {@code c} channels from element {@code inFrom} of {@code in} to element {@code outFrom} of {@code out}.
     */
    static void affineRowsDirect(
            ByteBuffer in, int inFrom, ByteBuffer out, int outFrom, int rows, int c, float[] scale, float[] shift) {
        int vectorC = c / LANES * LANES;
        // Row by row, so that memory is read and written in order; the coefficient vectors come from L1.
        for (int r = 0, i = inFrom * Float.BYTES, o = outFrom * Float.BYTES;
                r < rows;
                r++, i += c * Float.BYTES, o += c * Float.BYTES) {
            int k = 0;
            for (; k < vectorC; k += LANES) {
                FloatVector.fromByteBuffer(SPECIES, in, i + k * Float.BYTES, NATIVE)
                        .fma(FloatVector.fromArray(SPECIES, scale, k), FloatVector.fromArray(SPECIES, shift, k))
                        .intoByteBuffer(out, o + k * Float.BYTES, NATIVE);
            }
            for (; k < c; k++) {
                out.putFloat(o + k * Float.BYTES, in.getFloat(i + k * Float.BYTES) * scale[k] + shift[k]);
            }
        }
    }

    private static void clear(double[] out, int k) {
        for (int i = 0; i < LANES; i++) {
            out[k + i] = 0;
        }
    }

    /** {@code out[k + i] += v[i]} for every lane {@code i}, in double. */
    private static void addLanes(FloatVector v, double[] out, int k, float[] lanes) {
        v.intoArray(lanes, 0);
        for (int i = 0; i < LANES; i++) {
            out[k + i] += lanes[i];
        }
    }

    /** {@code a = a * scale + shift} on {@code [from, to)}, in place. */
    static void affine(float[] a, int from, int to, float scale, float shift) {
        int k = from;
        for (int vectorEnd = from + (to - from) / LANES * LANES; k < vectorEnd; k += LANES) {
            FloatVector.fromArray(SPECIES, a, k).fma(scale, shift).intoArray(a, k);
        }
        for (; k < to; k++) {
            a[k] = a[k] * scale + shift;
        }
    }

    /** {@code g = a g + b (x - m) + c} on {@code [from, to)}, in place in {@code g}. */
    static void gradInput(float[] g, float[] x, int from, int to, float a, float b, float c, float m) {
        int k = from;
        for (int vectorEnd = from + (to - from) / LANES * LANES; k < vectorEnd; k += LANES) {
            FloatVector xc = FloatVector.fromArray(SPECIES, x, k).sub(m).mul(b);
            FloatVector.fromArray(SPECIES, g, k).mul(a).add(xc).add(c).intoArray(g, k);
        }
        for (; k < to; k++) {
            g[k] = a * g[k] + b * (x[k] - m) + c;
        }
    }
}
