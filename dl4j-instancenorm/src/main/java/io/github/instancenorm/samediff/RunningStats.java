package io.github.instancenorm.samediff;

import io.github.instancenorm.ops.InstanceNorm;
import java.util.Arrays;
import java.util.Objects;
import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Listener;
import org.nd4j.autodiff.listeners.Loss;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The running mean and variance of one SameDiff instance norm, and the update a training loop applies after each
 * training forward, with the layer's and PyTorch's convention:
 * <pre>
 *   numBatchesTracked += 1
 *   factor      = momentum, or 1 / numBatchesTracked when momentum is null (cumulative average)
 *   runningMean = (1 - factor) * runningMean + factor * batchMean
 *   runningVar  = (1 - factor) * runningVar  + factor * batchVar        (batchVar unbiased)
 * </pre>
 * {@code batchMean} and {@code batchVar} are {@link SDInstanceNorm.Result}'s outputs. The arithmetic is
 * {@link InstanceNorm#updateFactor} and {@link InstanceNorm#blend}, the code the layer runs.
 *
 * <p>The statistics are not trainable: {@link #attach} keeps them in the graph as constants, so that
 * {@link SDInstanceNorm#inference} reads them, {@code SameDiff.save} writes them, no optimizer touches them, and
 * {@link #update} changes them in place. {@link #updater} returns a listener that does the update during
 * {@code sd.fit}.
 *
 * <pre>{@code
 * RunningStats stats = RunningStats.attach(sd, "in1", channels, DataType.FLOAT, 0.1);
 * SDInstanceNorm.Result train = SDInstanceNorm.training(sd, "in1", x, gamma, beta, 1e-5, layout);
 * SDVariable infer = SDInstanceNorm.inference(sd, "in1_infer", x, stats.meanVariable(sd),
 *         stats.varianceVariable(sd), gamma, beta, 1e-5, layout);
 * sd.setListeners(stats.updater(train));
 * sd.fit(data, epochs);                     // running statistics follow the training batches
 * }</pre>
 */
public final class RunningStats {

    /** Suffix of the running-mean constant's name that {@link #attach} creates. */
    public static final String RUNNING_MEAN = "/runningMean";
    /** Suffix of the running-variance constant's name that {@link #attach} creates. */
    public static final String RUNNING_VAR = "/runningVar";
    /** Suffix of the batch-counter constant's name that {@link #attach} creates. */
    public static final String NUM_BATCHES_TRACKED = "/numBatchesTracked";

    private final INDArray mean;
    private final INDArray variance;
    private final INDArray numBatchesTracked;
    private final Double momentum;
    private final String name;

    private RunningStats(String name, INDArray mean, INDArray variance, INDArray numBatchesTracked, Double momentum) {
        Objects.requireNonNull(mean, "mean");
        Objects.requireNonNull(variance, "variance");
        Objects.requireNonNull(numBatchesTracked, "numBatchesTracked");
        InstanceNorm.checkMomentum(momentum);
        if (mean.length() != variance.length()) {
            throw new IllegalArgumentException("expected running mean and variance of equal length, got shapes "
                    + Arrays.toString(mean.shape()) + " and " + Arrays.toString(variance.shape()));
        }
        if (numBatchesTracked.length() != 1) {
            throw new IllegalArgumentException(
                    "expected a scalar numBatchesTracked, got shape " + Arrays.toString(numBatchesTracked.shape()));
        }
        this.name = name;
        this.mean = mean;
        this.variance = variance;
        this.numBatchesTracked = numBatchesTracked;
        this.momentum = momentum;
    }

    /**
     * Standalone statistics, as PyTorch initializes them: mean 0, variance 1, no batch tracked.
     *
     * @param channels the number of channels {@code C}
     * @param dataType the statistics' floating point type
     * @param momentum in [0, 1], PyTorch's default is 0.1; {@code null} for a cumulative average
     * @return new statistics
     */
    public static RunningStats create(long channels, DataType dataType, Double momentum) {
        return new RunningStats(
                null,
                Nd4j.zeros(dataType, channels),
                Nd4j.ones(dataType, channels),
                Nd4j.scalar(DataType.LONG, 0L),
                momentum);
    }

    /**
     * Adds the statistics to a graph as constants {@code name/runningMean}, {@code name/runningVar} ({@code [C]},
     * initialized to 0 and 1) and {@code name/numBatchesTracked} (a LONG scalar), and wraps their arrays.
     *
     * @param sd       the graph
     * @param name     the instance norm's name, prefix of the constants' names
     * @param channels the number of channels {@code C}
     * @param dataType the statistics' floating point type
     * @param momentum in [0, 1], or {@code null} for a cumulative average
     * @return statistics whose updates the graph sees
     */
    public static RunningStats attach(SameDiff sd, String name, long channels, DataType dataType, Double momentum) {
        RunningStats s = create(channels, dataType, momentum);
        sd.constant(name + RUNNING_MEAN, s.mean);
        sd.constant(name + RUNNING_VAR, s.variance);
        sd.constant(name + NUM_BATCHES_TRACKED, s.numBatchesTracked);
        return of(sd, name, momentum);
    }

    /**
     * Wraps the constants {@link #attach} created, e.g. in a graph read back by {@code SameDiff.load}. The momentum
     * is not part of the graph; pass the one training used.
     *
     * @param sd       the graph holding {@code name/runningMean}, {@code name/runningVar} and
     *                 {@code name/numBatchesTracked}
     * @param name     the prefix given to {@link #attach}
     * @param momentum in [0, 1], or {@code null} for a cumulative average
     * @return statistics whose updates the graph sees
     * @throws IllegalArgumentException if a constant is missing
     */
    public static RunningStats of(SameDiff sd, String name, Double momentum) {
        return new RunningStats(
                name,
                array(sd, name + RUNNING_MEAN),
                array(sd, name + RUNNING_VAR),
                array(sd, name + NUM_BATCHES_TRACKED),
                momentum);
    }

    /**
     * Wraps existing arrays, which {@link #update} then changes in place.
     *
     * @param mean              {@code [C]}
     * @param variance          {@code [C]}
     * @param numBatchesTracked a scalar counting the updates made so far
     * @param momentum          in [0, 1], or {@code null} for a cumulative average
     * @return statistics backed by these arrays
     */
    public static RunningStats wrap(INDArray mean, INDArray variance, INDArray numBatchesTracked, Double momentum) {
        return new RunningStats(null, mean, variance, numBatchesTracked, momentum);
    }

    /**
     * Folds one training batch into the statistics, in place.
     *
     * @param batchMean        {@code [C]}, {@link SDInstanceNorm.Result#batchMean()}'s value
     * @param batchUnbiasedVar {@code [C]}, {@link SDInstanceNorm.Result#batchVar()}'s value
     * @throws IllegalArgumentException if a batch statistic does not have {@code C} elements
     */
    public void update(INDArray batchMean, INDArray batchUnbiasedVar) {
        checkLength("batchMean", batchMean);
        checkLength("batchVar", batchUnbiasedVar);
        InstanceNorm.foldBatch(mean, variance, numBatchesTracked, momentum, batchMean, batchUnbiasedVar);
    }

    /**
     * A listener that, added to the graph with {@code sd.setListeners} or {@code sd.addListeners}, has
     * {@code sd.fit} compute the batch statistics of every training iteration and {@link #update} with them.
     *
     * @param training the training-mode instance norm whose batch statistics to track
     * @return the listener
     */
    public Listener updater(SDInstanceNorm.Result training) {
        return new Updater(training);
    }

    /** @return the running mean, {@code [C]}; the live array, not a copy */
    public INDArray mean() {
        return mean;
    }

    /** @return the running (unbiased) variance, {@code [C]}; the live array, not a copy */
    public INDArray variance() {
        return variance;
    }

    /** @return how many updates have been made */
    public long numBatchesTracked() {
        return numBatchesTracked.getLong(0);
    }

    /** @return the momentum, or {@code null} for a cumulative average */
    public Double momentum() {
        return momentum;
    }

    /**
     * @param sd the graph given to {@link #attach} or {@link #of}
     * @return the running-mean constant, for {@link SDInstanceNorm#inference}
     */
    public SDVariable meanVariable(SameDiff sd) {
        return sd.getVariable(requireName() + RUNNING_MEAN);
    }

    /**
     * @param sd the graph given to {@link #attach} or {@link #of}
     * @return the running-variance constant, for {@link SDInstanceNorm#inference}
     */
    public SDVariable varianceVariable(SameDiff sd) {
        return sd.getVariable(requireName() + RUNNING_VAR);
    }

    private String requireName() {
        if (name == null) {
            throw new IllegalStateException("These running statistics are not in a graph; use RunningStats.attach");
        }
        return name;
    }

    private void checkLength(String what, INDArray stat) {
        if (stat == null || stat.length() != mean.length()) {
            throw new IllegalArgumentException("expected " + what + " with " + mean.length() + " elements (one per"
                    + " channel), got " + (stat == null ? "null" : "shape " + Arrays.toString(stat.shape())));
        }
    }

    private static INDArray array(SameDiff sd, String name) {
        if (!sd.hasVariable(name) || sd.getArrForVarName(name) == null) {
            throw new IllegalArgumentException(
                    "The graph has no array named \"" + name + "\"; create it with" + " RunningStats.attach");
        }
        return sd.getArrForVarName(name);
    }

    /**
     * Collects the instance statistics as the training forward produces them and, once the iteration is done,
     * updates with their batch averages, computed by the layer's {@link InstanceNorm#batchMean} and
     * {@link InstanceNorm#batchUnbiasedVariance}. It does not ask for {@code batchMean}/{@code batchVar}: in
     * M2.1 {@code sd.fit} computes only what the loss needs and ignores listeners' required variables.
     */
    private final class Updater extends BaseListener {
        private final String meanName;
        private final String varName;
        private final String centeredName;
        private INDArray instanceMean;
        private INDArray instanceVar;
        private long spatialSize;

        Updater(SDInstanceNorm.Result training) {
            this.meanName = training.instanceMean().name();
            this.varName = training.instanceVar().name();
            this.centeredName = training.centered().name();
        }

        @Override
        public boolean isActive(Operation operation) {
            return operation == Operation.TRAINING;
        }

        @Override
        public void activationAvailable(
                SameDiff sd, At at, MultiDataSet batch, SameDiffOp op, String name, INDArray activation) {
            if (name.equals(meanName)) {
                instanceMean = asInstanceByChannel(activation);
            } else if (name.equals(varName)) {
                instanceVar = asInstanceByChannel(activation);
            } else if (name.equals(centeredName)) {
                spatialSize = activation.length() / (activation.size(0) * mean.length());
            }
        }

        @Override
        public void iterationDone(SameDiff sd, At at, MultiDataSet dataSet, Loss loss) {
            if (instanceMean == null || instanceVar == null || spatialSize == 0) {
                throw new IllegalStateException("Training iteration " + at.iteration() + " did not compute "
                        + meanName + ", " + varName + " and " + centeredName + "; is the training-mode instance norm"
                        + " part of the loss?");
            }
            InstanceNorm.Moments m = new InstanceNorm.Moments(instanceMean, instanceVar);
            update(InstanceNorm.batchMean(m), InstanceNorm.batchUnbiasedVariance(m, spatialSize));
            instanceMean = null;
            instanceVar = null;
            spatialSize = 0;
        }

        /**
         * A keep-dims statistic ({@code [N, C, 1, ...]} or {@code [N, 1, ..., C]}) as a detached {@code [N, C]}
         * copy: the session may reuse the activation's memory once listeners return.
         */
        private INDArray asInstanceByChannel(INDArray a) {
            long n = a.size(0);
            if (a.length() != n * mean.length()) {
                throw new IllegalStateException("expected per-instance statistics of " + n + " x " + mean.length()
                        + " elements (batch x channels), got shape " + Arrays.toString(a.shape()));
            }
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                return a.dup('c').reshape(n, mean.length());
            }
        }
    }
}
