package io.github.instancenorm.ops.cpu;

import static io.github.instancenorm.ops.cpu.Geometry.BLOCK;

/**
 * The passes over channels-first inputs ({@code NCW}, {@code NCHW}, {@code NCDHW}), where each instance is
 * contiguous: a task takes consecutive instances, each cut into cached blocks, or grouped several to a block when
 * they are small. Every pass has a range form ({@code from} to {@code to} instances, on one thread) and a whole-input
 * form that runs the ranges as parallel tasks.
 */
final class ChannelsFirstPasses {

    private ChannelsFirstPasses() {}

    /** Mean and biased variance of each instance, into {@code mean} and {@code var}. */
    static void moments(BlockKernels x, Geometry geo, double[] mean, double[] var) {
        geo.run(
                geo.instanceTasks(),
                BLOCK,
                1,
                (t, s) -> moments(x, geo, geo.taskFirstInstance(t), geo.taskEndInstance(t), mean, var, s));
    }

    /** {@code out = x * scale + shift}, per instance. */
    static void affine(BlockKernels x, BlockKernels out, Geometry geo, double[] scale, double[] shift) {
        geo.run(
                geo.instanceTasks(),
                BLOCK,
                1,
                (t, s) -> affine(x, out, geo, geo.taskFirstInstance(t), geo.taskEndInstance(t), scale, shift, s));
    }

    /**
     * The training forward in one pass: each instance (or group of small ones) gets its statistics, its coefficients
     * from {@code coefficients}, and {@code y} right after, while it is still in the cache, so x is read from memory
     * once.
     */
    static void forward(
            BlockKernels x,
            BlockKernels out,
            Geometry geo,
            double[] mean,
            double[] var,
            double[] scale,
            double[] shift,
            CpuKernels.InstanceRange coefficients) {
        int step = geo.instancesPerBlock;
        geo.run(geo.instanceTasks(), BLOCK, 1, (t, s) -> {
            for (int i = geo.taskFirstInstance(t), end = geo.taskEndInstance(t); i < end; i += step) {
                int to = Math.min(end, i + step);
                if (geo.grouped()) {
                    x.groupMoments((long) i * geo.spatial, (int) geo.spatial, to - i, mean, var, i, s);
                    coefficients.compute(i, to);
                    x.groupAffineAfterMoments(
                            out, (long) i * geo.spatial, (int) geo.spatial, to - i, scale, shift, i, s);
                } else {
                    moments(x, geo, i, to, mean, var, s);
                    coefficients.compute(i, to);
                    affine(x, out, geo, i, to, scale, shift, s);
                }
            }
        });
    }

    /** {@code sum(g)} and {@code sum((x - mean) g)} of each instance, into {@code gradSum} and {@code dot}. */
    static void gradSums(BlockKernels x, BlockKernels g, Geometry geo, double[] mean, double[] gradSum, double[] dot) {
        geo.run(
                geo.instanceTasks(),
                BLOCK,
                1,
                (t, s) -> gradSums(x, g, geo, geo.taskFirstInstance(t), geo.taskEndInstance(t), mean, gradSum, dot, s));
    }

    /** {@code dx = scale * g}, per instance. */
    static void scale(BlockKernels g, BlockKernels dx, Geometry geo, double[] scale) {
        geo.run(geo.instanceTasks(), BLOCK, 1, (t, s) -> {
            int from = geo.taskFirstInstance(t);
            int to = geo.taskEndInstance(t);
            if (geo.grouped()) {
                for (int i = from; i < to; i += geo.instancesPerBlock) {
                    g.groupScale(
                            dx,
                            (long) i * geo.spatial,
                            (int) geo.spatial,
                            Math.min(geo.instancesPerBlock, to - i),
                            scale,
                            i,
                            s);
                }
                return;
            }
            for (int i = from; i < to; i++) {
                long offset = (long) i * geo.spatial;
                for (long done = 0; done < geo.spatial; ) {
                    int len = (int) Math.min(BLOCK, geo.spatial - done);
                    g.scaleBlock(dx, offset + done, len, scale[i], s);
                    done += len;
                }
            }
        });
    }

    /**
     * The backward of the training forward in one pass, as {@link #forward}: each instance (group) gets its sums,
     * its coefficients from {@code coefficients}, and {@code dx = a g + b (x - mean) + c} right after, while x and
     * g are cached.
     */
    static void backward(
            BlockKernels x,
            BlockKernels g,
            BlockKernels dx,
            Geometry geo,
            double[] mean,
            double[] gradSum,
            double[] dot,
            double[] a,
            double[] b,
            double[] c,
            CpuKernels.InstanceRange coefficients) {
        int step = geo.instancesPerBlock;
        geo.run(geo.instanceTasks(), BLOCK, 1, (t, s) -> {
            for (int i = geo.taskFirstInstance(t), end = geo.taskEndInstance(t); i < end; i += step) {
                int to = Math.min(end, i + step);
                if (geo.grouped()) {
                    long index = (long) i * geo.spatial;
                    x.groupGradSums(g, index, (int) geo.spatial, to - i, mean, gradSum, dot, i, s);
                    coefficients.compute(i, to);
                    g.groupGradInputAfterSums(x, dx, index, (int) geo.spatial, to - i, a, b, c, mean, i, s);
                } else {
                    gradSums(x, g, geo, i, to, mean, gradSum, dot, s);
                    coefficients.compute(i, to);
                    gradInput(x, g, dx, geo, i, to, a, b, c, mean, s);
                }
            }
        });
    }

    private static void moments(
            BlockKernels x, Geometry geo, int from, int to, double[] mean, double[] var, TaskMemory s) {
        if (geo.grouped()) {
            for (int i = from; i < to; i += geo.instancesPerBlock) {
                x.groupMoments(
                        (long) i * geo.spatial,
                        (int) geo.spatial,
                        Math.min(geo.instancesPerBlock, to - i),
                        mean,
                        var,
                        i,
                        s);
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
                // Chan et al.: merge (count, m, m2) with the block's (len, blockMean, blockM2).
                long total = count + len;
                double delta = s.blockMean - m;
                m += delta * len / total;
                m2 += s.blockM2 + delta * delta * ((double) count * len / total);
                count = total;
                done += len;
            }
            mean[i] = m;
            var[i] = m2 / geo.spatial;
        }
    }

    private static void affine(
            BlockKernels x,
            BlockKernels out,
            Geometry geo,
            int from,
            int to,
            double[] scale,
            double[] shift,
            TaskMemory s) {
        if (geo.grouped()) {
            for (int i = from; i < to; i += geo.instancesPerBlock) {
                x.groupAffine(
                        out,
                        (long) i * geo.spatial,
                        (int) geo.spatial,
                        Math.min(geo.instancesPerBlock, to - i),
                        scale,
                        shift,
                        i,
                        s);
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

    private static void gradSums(
            BlockKernels x,
            BlockKernels g,
            Geometry geo,
            int from,
            int to,
            double[] mean,
            double[] gradSum,
            double[] dot,
            TaskMemory s) {
        if (geo.grouped()) {
            for (int i = from; i < to; i += geo.instancesPerBlock) {
                x.groupGradSums(
                        g,
                        (long) i * geo.spatial,
                        (int) geo.spatial,
                        Math.min(geo.instancesPerBlock, to - i),
                        mean,
                        gradSum,
                        dot,
                        i,
                        s);
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
                sg += s.blockGradSum;
                sd += s.blockDot;
                done += len;
            }
            gradSum[i] = sg;
            dot[i] = sd;
        }
    }

    /** {@code dx = a g + b (x - mean) + c} on instances {@code [from, to)}, each longer than half a block. */
    private static void gradInput(
            BlockKernels x,
            BlockKernels g,
            BlockKernels dx,
            Geometry geo,
            int from,
            int to,
            double[] a,
            double[] b,
            double[] c,
            double[] mean,
            TaskMemory s) {
        for (int i = from; i < to; i++) {
            long offset = (long) i * geo.spatial;
            for (long done = 0; done < geo.spatial; ) {
                int len = (int) Math.min(BLOCK, geo.spatial - done);
                g.gradInputBlock(x, dx, offset + done, len, a[i], b[i], c[i], mean[i], s);
                done += len;
            }
        }
    }
}
