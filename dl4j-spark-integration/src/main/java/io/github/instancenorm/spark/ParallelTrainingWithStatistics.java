package io.github.instancenorm.spark;

import io.github.instancenorm.layers.InstanceNormStatistics;
import io.github.instancenorm.layers.InstanceNormStatistics.Apply;
import io.github.instancenorm.layers.InstanceNormStatistics.Estimate;
import java.util.Objects;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ParallelWrapper} training on one machine followed by the statistics pass ({@link InstanceNormStatistics}) on
 * the root model, the network the wrapper was built on, which is the model training hands back.
 *
 * <pre>{@code
 * ParallelWrapper pw = new ParallelWrapper.Builder<>(net).workers(2)
 *         .trainingMode(ParallelWrapper.TrainingMode.SHARED_GRADIENTS).build();
 * pw.setListeners(new ReplicaSpeedups());                              // optional: speed-ups on every replica
 * ParallelTrainingWithStatistics.fit(pw, net, new MultipleEpochsIterator(5, train), train, 0,
 *         InstanceNormStatistics.Apply.REPLACE);
 * }</pre>
 *
 * <p>One {@code ParallelWrapper.fit} per call: for several epochs, hand it a multi-epoch iterator (DL4J's
 * {@code MultipleEpochsIterator}). With {@code SHARED_GRADIENTS}, DL4J 1.0.0-M2.1's wrapper deadlocked here on its
 * second {@code fit}: a trainer thread rebuilding its replica reads the root model's updater under the root's lock
 * while thread 0 trains the root, holding that lock and waiting for the other thread's gradients.
 *
 * <p>What each training mode does to the running statistics without the pass: with {@code SHARED_GRADIENTS} the
 * root model is the replica that trainer thread 0 trains, so its statistics are a moving average over that thread's
 * minibatches only (and in a JVM that also runs dl4j-spark's gradient-sharing parameter server, the replicas skip
 * the running update altogether). With {@code AVERAGING} they are averaged with the parameters, as under Spark's
 * parameter averaging, so the pass is optional: it makes them describe the final weights.
 */
public final class ParallelTrainingWithStatistics {

    private static final Logger LOG = LoggerFactory.getLogger(ParallelTrainingWithStatistics.class);

    private ParallelTrainingWithStatistics() {}

    /**
     * Trains with the wrapper ({@code wrapper.fit(train)}), then runs the pass on {@code root}.
     *
     * @param wrapper     the wrapper, built on {@code root}
     * @param root        the network the wrapper was built on
     * @param train       the training data
     * @param passData    the pass's minibatches (often {@code train} again)
     * @param passBatches how many minibatches the pass uses, or {@code <= 0} for all
     * @param how         replace the running statistics or fold the estimate in once
     * @return the estimate written
     */
    public static Estimate fit(
            ParallelWrapper wrapper,
            MultiLayerNetwork root,
            DataSetIterator train,
            DataSetIterator passData,
            int passBatches,
            Apply how) {
        Objects.requireNonNull(how, "how");
        wrapper.fit(train);
        Estimate e = InstanceNormStatistics.collect(root, passData, passBatches);
        InstanceNormStatistics.apply(root, e, how);
        LOG.info(
                "Statistics pass on the root model: {} minibatches, layers {}, {}",
                e.batches(),
                e.layers().keySet(),
                how);
        return e;
    }

    /**
     * {@link #fit(ParallelWrapper, MultiLayerNetwork, DataSetIterator, DataSetIterator, int, Apply)} for a
     * {@link ComputationGraph}.
     *
     * @param wrapper     the wrapper, built on {@code root}
     * @param root        the graph the wrapper was built on
     * @param train       the training data
     * @param passData    the pass's minibatches
     * @param passBatches how many minibatches the pass uses, or {@code <= 0} for all
     * @param how         replace or fold
     * @return the estimate written
     */
    public static Estimate fit(
            ParallelWrapper wrapper,
            ComputationGraph root,
            MultiDataSetIterator train,
            MultiDataSetIterator passData,
            int passBatches,
            Apply how) {
        Objects.requireNonNull(how, "how");
        wrapper.fit(train);
        Estimate e = InstanceNormStatistics.collect(root, passData, passBatches);
        InstanceNormStatistics.apply(root, e, how);
        LOG.info(
                "Statistics pass on the root model: {} minibatches, layers {}, {}",
                e.batches(),
                e.layers().keySet(),
                how);
        return e;
    }
}
