package io.github.instancenorm.spark;

import io.github.instancenorm.layers.InstanceNormStatistics;
import io.github.instancenorm.layers.InstanceNormStatistics.Apply;
import java.util.Objects;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Spark training followed by the statistics pass ({@link SparkStatisticsPass}): what makes dl4j-spark's gradient
 * sharing ({@code SharedTrainingMaster}) usable with {@code InstanceNormalization}'s running statistics.
 *
 * <pre>{@code
 * SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, net, sharedTrainingMaster);
 * MultiLayerNetwork trained = SparkTrainingWithStatistics.fit(sparkNet, trainRdd, 10,
 *         SparkTrainingWithStatistics.Pass.afterTraining(0.25, 7));
 * }</pre>
 *
 * <p>What each training master does to the running statistics:
 * <ul>
 *   <li>{@code SharedTrainingMaster}: the workers' training forwards normalize with the instance statistics and do
 *       not update the running statistics (they are in no shared update); the driver's model comes back with the
 *       statistics it was sent. The pass then computes them over the final weights, and the returned model's
 *       statistics are those of a single-process pass over the same sample, to rounding.</li>
 *   <li>{@code ParameterAveragingTrainingMaster}: the statistics are averaged with the parameters, so the pass is
 *       optional; it makes them describe the final weights rather than a moving average over earlier ones.</li>
 * </ul>
 *
 * <p>What the pass cannot serve, and what happens then:
 * <ul>
 *   <li>a model trained with {@code SharedTrainingMaster} through {@code fit} alone (no pass): its first inference
 *       on the driver, while the parameter server runs, is refused with an {@code IllegalStateException} that names
 *       the pass (statistics never written, {@code numBatchesTracked = 0});</li>
 *   <li>data given as paths ({@code fitPaths}, {@code fitMultipleFiles}): the pass needs the minibatches as an RDD;
 *       load them and call {@link SparkStatisticsPass#run} yourself;</li>
 *   <li>a sample that draws no minibatch: {@code IllegalArgumentException}, nothing written;</li>
 *   <li>DL4J {@code BatchNormalization} layers: left alone (under gradient sharing DL4J shares their statistics as
 *       pseudo-gradients, which threshold encoding and clipping alter).</li>
 * </ul>
 */
public final class SparkTrainingWithStatistics {

    private static final Logger LOG = LoggerFactory.getLogger(SparkTrainingWithStatistics.class);

    private SparkTrainingWithStatistics() {}

    /**
     * When and how the statistics pass runs.
     *
     * @param everyEpochs run the pass after every this many epochs as well, or 0 for after training only (it always
     *                    runs after the last epoch)
     * @param fraction    the expected fraction of the training minibatches the pass uses, in (0, 1]
     * @param seed        the sample's seed (the same sample on every pass)
     * @param how         replace the running statistics, or fold the estimate in once with the layer's momentum
     */
    public record Pass(int everyEpochs, double fraction, long seed, Apply how) {
        /** Checks the arguments. */
        public Pass {
            Objects.requireNonNull(how, "how");
            if (everyEpochs < 0) {
                throw new IllegalArgumentException(
                        "everyEpochs must be >= 0 (0: after training only), got " + everyEpochs);
            }
            if (!(fraction > 0 && fraction <= 1)) {
                throw new IllegalArgumentException("The pass's sample fraction must be in (0, 1], got " + fraction);
            }
        }

        /**
         * @param fraction the expected fraction of minibatches to use, in (0, 1]
         * @param seed     the sample's seed
         * @return a pass after the last epoch that replaces the statistics
         */
        public static Pass afterTraining(double fraction, long seed) {
            return new Pass(0, fraction, seed, Apply.REPLACE);
        }

        /**
         * @param epochs run the pass after every this many epochs too (and after the last)
         * @return this pass, run every {@code epochs} epochs
         */
        public Pass every(int epochs) {
            return new Pass(epochs, fraction, seed, how);
        }

        /**
         * @param how replace or fold
         * @return this pass, writing the estimate that way
         */
        public Pass writing(Apply how) {
            return new Pass(everyEpochs, fraction, seed, how);
        }

        boolean after(int epoch, int epochs) {
            return epoch == epochs || (everyEpochs > 0 && epoch % everyEpochs == 0);
        }
    }

    /**
     * Trains {@code epochs} epochs with the network's training master, running the pass as {@code pass} says.
     *
     * @param net    the Spark network
     * @param data   the training minibatches (the pass samples them)
     * @param epochs the number of epochs, at least 1
     * @param pass   when and how the pass runs
     * @return the driver's trained network, its running statistics from the last pass
     */
    public static MultiLayerNetwork fit(SparkDl4jMultiLayer net, JavaRDD<DataSet> data, int epochs, Pass pass) {
        checkEpochs(epochs);
        for (int epoch = 1; epoch <= epochs; epoch++) {
            net.fit(data);
            if (pass.after(epoch, epochs)) {
                SparkStatisticsPass.run(net.getNetwork(), data, pass.fraction(), pass.seed(), pass.how());
                LOG.info("Statistics pass after epoch {}/{}", epoch, epochs);
            }
        }
        return net.getNetwork();
    }

    /**
     * {@link #fit(SparkDl4jMultiLayer, JavaRDD, int, Pass)} for a {@link SparkComputationGraph} on
     * {@link DataSet}s.
     *
     * @param net    the Spark graph
     * @param data   the training minibatches
     * @param epochs the number of epochs, at least 1
     * @param pass   when and how the pass runs
     * @return the driver's trained graph
     */
    public static ComputationGraph fit(SparkComputationGraph net, JavaRDD<DataSet> data, int epochs, Pass pass) {
        checkEpochs(epochs);
        for (int epoch = 1; epoch <= epochs; epoch++) {
            net.fit(data);
            if (pass.after(epoch, epochs)) {
                ComputationGraph g = net.getNetwork();
                InstanceNormStatistics.apply(
                        g, SparkStatisticsPass.collectDataSets(g, data, pass.fraction(), pass.seed()), pass.how());
                LOG.info("Statistics pass after epoch {}/{}", epoch, epochs);
            }
        }
        return net.getNetwork();
    }

    /**
     * {@link #fit(SparkComputationGraph, JavaRDD, int, Pass)} on {@link MultiDataSet}s.
     *
     * @param net    the Spark graph
     * @param data   the training minibatches
     * @param epochs the number of epochs, at least 1
     * @param pass   when and how the pass runs
     * @return the driver's trained graph
     */
    public static ComputationGraph fitMultiDataSet(
            SparkComputationGraph net, JavaRDD<MultiDataSet> data, int epochs, Pass pass) {
        checkEpochs(epochs);
        for (int epoch = 1; epoch <= epochs; epoch++) {
            net.fitMultiDataSet(data);
            if (pass.after(epoch, epochs)) {
                SparkStatisticsPass.run(net.getNetwork(), data, pass.fraction(), pass.seed(), pass.how());
                LOG.info("Statistics pass after epoch {}/{}", epoch, epochs);
            }
        }
        return net.getNetwork();
    }

    private static void checkEpochs(int epochs) {
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be at least 1, got " + epochs);
        }
    }
}
