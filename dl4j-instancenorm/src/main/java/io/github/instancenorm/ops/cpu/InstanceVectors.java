package io.github.instancenorm.ops.cpu;

import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The small vectors of one call, per instance ({@code [N * C]}, indexed {@code n * C + c}) or per channel
 * ({@code [C]}), lent from a small pool: allocating them on every call cost about as much as the whole pass on the
 * 1d benchmark shape. The arrays are at least as long as asked and hold whatever the last borrower left in them.
 */
final class InstanceVectors {
    private static final ConcurrentLinkedQueue<InstanceVectors> POOL = new ConcurrentLinkedQueue<>();

    /** Per instance: the statistics. */
    final double[] mean;

    final double[] variance;
    /** Per channel: the running statistics, and the affine parameters (1 and 0 when there are none). */
    final double[] runningMean;

    final double[] runningVar;
    final double[] gamma;
    final double[] beta;
    /** Per instance: the forward's {@code y = scale x + shift}. */
    final double[] scale;

    final double[] shift;
    /** Per instance: the backward's {@code sum(g)}, {@code sum((x - mean) g)} and {@code 1 / sqrt(var + eps)}. */
    final double[] gradSum;

    final double[] dot;
    final double[] invStd;
    /** Per instance: the backward's {@code dx = gradScale g + centredScale (x - mean) + gradShift}. */
    final double[] gradScale;

    final double[] centredScale;
    final double[] gradShift;
    /** The batch counter of the running statistics. */
    final double[] count = new double[1];
    /** For copies of float arrays. */
    final float[] floats;

    private InstanceVectors(int length) {
        mean = new double[length];
        variance = new double[length];
        runningMean = new double[length];
        runningVar = new double[length];
        gamma = new double[length];
        beta = new double[length];
        scale = new double[length];
        shift = new double[length];
        gradSum = new double[length];
        dot = new double[length];
        invStd = new double[length];
        gradScale = new double[length];
        centredScale = new double[length];
        gradShift = new double[length];
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
}
