package io.github.instancenorm.ops.cpu;

import java.util.Arrays;

/**
 * The passes over channels-last inputs ({@code NWC}, {@code NHWC}, {@code NDHWC}), where a sample's channels are
 * interleaved: a block is a run of spatial rows of {@code C} values, a task a run of rows of one sample. Sums are
 * kept per task and merged per sample in task order, so the results do not depend on the scheduling or on the
 * number of threads.
 */
final class ChannelsLastPasses {

    private ChannelsLastPasses() {}

    /** Mean and biased variance of each instance, into {@code mean} and {@code var}. */
    static void moments(BlockKernels x, Geometry geo, double[] mean, double[] var) {
        int c = geo.channels;
        int tasks = geo.rowTasks();
        double[][] partMean = new double[tasks][];
        double[][] partM2 = new double[tasks][];
        long[] partCount = new long[tasks];
        geo.run(tasks, geo.blockRows * c, c, (t, s) -> {
            double[] pm = new double[c];
            double[] pm2 = new double[c];
            long count = 0;
            long base = (long) geo.taskSample(t) * geo.spatial * c;
            for (long row = geo.taskFirstRow(t), end = geo.taskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                x.rowMoments(base + row * c, rows, c, s);
                merge(pm, pm2, count, s.rowsMean, s.rowsM2, rows, c);
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
                merge(m, m2, count, partMean[t], partM2[t], partCount[t], c);
                count += partCount[t];
            }
            for (int k = 0; k < c; k++) {
                mean[sample * c + k] = m[k];
                var[sample * c + k] = m2[k] / count;
            }
        }
    }

    /** Merges per-channel block statistics {@code (nb, bm, bm2)} into {@code (na, m, m2)}, in place (Chan et al.). */
    private static void merge(double[] m, double[] m2, long na, double[] bm, double[] bm2, long nb, int c) {
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

    /** {@code out = x * scale + shift}, per instance. */
    static void affine(BlockKernels x, BlockKernels out, Geometry geo, double[] scale, double[] shift) {
        int c = geo.channels;
        geo.run(geo.rowTasks(), geo.blockRows * c, c, (t, s) -> {
            int sample = geo.taskSample(t);
            long base = (long) sample * geo.spatial * c;
            x.setChannels(s.scale, scale, sample * c, c);
            x.setChannels(s.shift, shift, sample * c, c);
            for (long row = geo.taskFirstRow(t), end = geo.taskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                x.affineRows(out, base + row * c, rows, c, s);
                row += rows;
            }
        });
    }

    /**
     * The training forward of samples that fit in one cached block: a sample's statistics, coefficients (from
     * {@code coefficients}) and {@code y} in one task, x read from memory once, one hand-off to the threads instead
     * of two.
     */
    static void forwardSamples(
            BlockKernels x,
            BlockKernels out,
            Geometry geo,
            double[] mean,
            double[] var,
            double[] scale,
            double[] shift,
            CpuKernels.InstanceRange coefficients) {
        int c = geo.channels;
        int rows = (int) geo.spatial;
        geo.run(geo.batch, geo.blockRows * c, c, (t, s) -> {
            long index = (long) t * rows * c;
            int from = t * c;
            x.rowMoments(index, rows, c, s);
            for (int k = 0; k < c; k++) {
                mean[from + k] = s.rowsMean[k];
                var[from + k] = s.rowsM2[k] / rows;
            }
            coefficients.compute(from, from + c);
            x.setChannels(s.scale, scale, from, c);
            x.setChannels(s.shift, shift, from, c);
            x.affineRows(out, index, rows, c, s);
        });
    }

    /** {@code sum(g)} and {@code sum((x - mean) g)} of each instance, into {@code gradSum} and {@code dot}. */
    static void gradSums(BlockKernels x, BlockKernels g, Geometry geo, double[] mean, double[] gradSum, double[] dot) {
        int c = geo.channels;
        int tasks = geo.rowTasks();
        double[][] partG = new double[tasks][];
        double[][] partD = new double[tasks][];
        geo.run(tasks, geo.blockRows * c, c, (t, s) -> {
            double[] pg = new double[c];
            double[] pd = new double[c];
            int sample = geo.taskSample(t);
            long base = (long) sample * geo.spatial * c;
            x.setChannels(s.mean, mean, sample * c, c);
            for (long row = geo.taskFirstRow(t), end = geo.taskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                x.rowGradSums(g, base + row * c, rows, c, pg, pd, 0, s);
                row += rows;
            }
            partG[t] = pg;
            partD[t] = pd;
        });
        Arrays.fill(gradSum, 0, geo.instances(), 0.0);
        Arrays.fill(dot, 0, geo.instances(), 0.0);
        for (int t = 0; t < tasks; t++) {
            int io = (t / geo.tasksPerSample) * c;
            for (int k = 0; k < c; k++) {
                gradSum[io + k] += partG[t][k];
                dot[io + k] += partD[t][k];
            }
        }
    }

    /** {@code dx = a g + b (x - mean) + c}, per instance. */
    static void gradInput(
            BlockKernels x,
            BlockKernels g,
            BlockKernels dx,
            Geometry geo,
            double[] a,
            double[] b,
            double[] c,
            double[] mean) {
        int ch = geo.channels;
        geo.run(geo.rowTasks(), geo.blockRows * ch, ch, (t, s) -> {
            int sample = geo.taskSample(t);
            long base = (long) sample * geo.spatial * ch;
            setGradInputChannels(g, s, a, b, c, mean, sample * ch, ch);
            for (long row = geo.taskFirstRow(t), end = geo.taskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                g.gradInputRows(x, dx, base + row * ch, rows, ch, s);
                row += rows;
            }
        });
    }

    /** {@code dx = scale * g}, per instance. */
    static void scale(BlockKernels g, BlockKernels dx, Geometry geo, double[] scale) {
        int ch = geo.channels;
        geo.run(geo.rowTasks(), geo.blockRows * ch, ch, (t, s) -> {
            int sample = geo.taskSample(t);
            long base = (long) sample * geo.spatial * ch;
            g.setChannels(s.scale, scale, sample * ch, ch);
            for (long row = geo.taskFirstRow(t), end = geo.taskEndRow(t); row < end; ) {
                int rows = (int) Math.min(geo.blockRows, end - row);
                g.scaleRows(dx, base + row * ch, rows, ch, s);
                row += rows;
            }
        });
    }

    /** The backward of the training forward of samples that fit in one block, as {@link #forwardSamples}. */
    static void backwardSamples(
            BlockKernels x,
            BlockKernels g,
            BlockKernels dx,
            Geometry geo,
            double[] mean,
            double[] gradSum,
            double[] dot,
            double[] a,
            double[] b,
            double[] cc,
            CpuKernels.InstanceRange coefficients) {
        int c = geo.channels;
        int rows = (int) geo.spatial;
        geo.run(geo.batch, geo.blockRows * c, c, (t, s) -> {
            long index = (long) t * rows * c;
            int from = t * c;
            Arrays.fill(gradSum, from, from + c, 0.0);
            Arrays.fill(dot, from, from + c, 0.0);
            x.setChannels(s.mean, mean, from, c);
            x.rowGradSums(g, index, rows, c, gradSum, dot, from, s);
            coefficients.compute(from, from + c);
            setGradInputChannels(g, s, a, b, cc, mean, from, c);
            g.gradInputRows(x, dx, index, rows, c, s);
        });
    }

    private static void setGradInputChannels(
            BlockKernels data, TaskMemory s, double[] a, double[] b, double[] c, double[] mean, int from, int ch) {
        data.setChannels(s.scale, a, from, ch);
        data.setChannels(s.centredScale, b, from, ch);
        data.setChannels(s.shift, c, from, ch);
        data.setChannels(s.mean, mean, from, ch);
    }
}
