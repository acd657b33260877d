package io.github.instancenorm.ops.cpu;

import io.github.instancenorm.ops.InstanceNormLayout;
import io.github.instancenorm.runtime.KernelThreads;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * An input seen as instances, and how the passes cut it into cached blocks and parallel tasks: {@code batch}
 * samples of {@code channels} channels of {@code spatial} elements. Per-instance vectors are indexed
 * {@code n * C + c}.
 *
 * <p>Channels-first, an instance is contiguous: a task takes whole instances, and small instances are grouped
 * several to a block. Channels-last, a sample's channels are interleaved: a block is a run of spatial rows of
 * {@code C} values, and a task takes consecutive rows of one sample, so a batch of one uses every thread too.
 */
final class Geometry {

    /** Elements per cached block: 32 KiB of doubles, a comfortable fit in L1/L2. */
    static final int BLOCK = 4096;
    /** Elements a parallel task covers, at least. */
    private static final int TASK = 1 << 14;
    /** Elements below which one thread does the whole job: waking the helpers would cost more. */
    private static final long PARALLEL_ELEMENTS = 1 << 15;

    final int batch;
    final int channels;
    final long spatial;
    final boolean channelsLast;
    /** Channels-first: instances per task. */
    final int instancesPerTask;
    /** Channels-first: instances per cached block when several fit in one (at most {@code BLOCK / 2} each), else 1. */
    final int instancesPerBlock;
    /** Channels-last: spatial rows per cached block. */
    final int blockRows;
    /** Channels-last: rows per task. */
    final long rowsPerTask;
    /** Channels-last: tasks per sample. */
    final int tasksPerSample;

    private Geometry(int batch, int channels, long spatial, boolean channelsLast) {
        this.batch = batch;
        this.channels = channels;
        this.spatial = spatial;
        this.channelsLast = channelsLast;
        this.instancesPerTask = (int) Math.max(1, TASK / spatial);
        this.instancesPerBlock = spatial <= BLOCK / 2 ? (int) (BLOCK / spatial) : 1;
        this.blockRows = Math.max(1, BLOCK / channels);
        long rowsPerTaskWanted = Math.max(blockRows, (TASK / ((long) blockRows * channels)) * blockRows);
        this.tasksPerSample = (int) ((spatial + rowsPerTaskWanted - 1) / rowsPerTaskWanted);
        this.rowsPerTask = (spatial + tasksPerSample - 1) / tasksPerSample;
    }

    static Geometry of(INDArray x, InstanceNormLayout layout) {
        long[] shape = x.shape();
        return new Geometry(
                (int) shape[0], (int) shape[layout.channelAxis()], layout.spatialSize(shape), layout.channelsLast());
    }

    int instances() {
        return batch * channels;
    }

    long total() {
        return (long) instances() * spatial;
    }

    /** Channels-first: whether instances are grouped several to a block. */
    boolean grouped() {
        return instancesPerBlock > 1;
    }

    /** Channels-first: the number of tasks. */
    int instanceTasks() {
        return (instances() + instancesPerTask - 1) / instancesPerTask;
    }

    /** Channels-first: the first instance of task {@code t}. */
    int taskFirstInstance(int t) {
        return t * instancesPerTask;
    }

    /** Channels-first: the end of task {@code t}'s instances. */
    int taskEndInstance(int t) {
        return Math.min(instances(), (t + 1) * instancesPerTask);
    }

    /** Channels-last: the number of tasks. */
    int rowTasks() {
        return batch * tasksPerSample;
    }

    /** Channels-last: whether a whole sample fits in one cached block. */
    boolean sampleInBlock() {
        return channelsLast && spatial <= blockRows;
    }

    /** Channels-last: the sample of task {@code t}. */
    int taskSample(int t) {
        return t / tasksPerSample;
    }

    /** Channels-last: the first spatial row of task {@code t}. */
    long taskFirstRow(int t) {
        return (t % tasksPerSample) * rowsPerTask;
    }

    /** Channels-last: the end of task {@code t}'s rows. */
    long taskEndRow(int t) {
        return Math.min(spatial, taskFirstRow(t) + rowsPerTask);
    }

    /**
     * Runs {@code tasks} tasks of a pass over this input, in parallel on {@link KernelThreads} when the input is big
     * enough to pay for it, each thread with working memory for blocks of {@code blockElements} elements and
     * {@code blockChannels} channels.
     */
    void run(int tasks, int blockElements, int blockChannels, KernelThreads.TaskBody<TaskMemory> task) {
        if (total() < PARALLEL_ELEMENTS) {
            KernelThreads.runAlone(tasks, () -> TaskMemory.take(blockElements, blockChannels), task, TaskMemory::give);
        } else {
            KernelThreads.run(tasks, () -> TaskMemory.take(blockElements, blockChannels), task, TaskMemory::give);
        }
    }
}
