package io.github.instancenorm.spark;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * ParameterAveragingTrainingMaster on local[2]: two workers, each handed a known list of minibatches (two
 * partitions, no repartitioning, one split per {@code fit}), so the averaged model has a closed form.
 *
 * <p>Tolerance: the network runs in double. A running statistic is a linear fold of batch statistics, each a mean
 * of 4 x 8 values; the Spark path sums and divides in another order than the reference, so each value differs by a
 * few roundings, 2^-53 relative each, and grows with the magnitude of the data (below 60 here). 1e-12 absolute is
 * about 100 roundings of the largest value, far below any real error (a wrong fold changes the statistics by at
 * least momentum x the batch-to-batch spread, about 1e-2).
 */
class ParameterAveragingStatisticsTest {

    private static final double TOLERANCE = 1e-12;
    private static final int WORKERS = 2;

    private static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        sc = SparkTestSupport.localContext("parameter-averaging");
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    private static ParameterAveragingTrainingMaster averaging(int frequency) {
        return new ParameterAveragingTrainingMaster.Builder(WORKERS, SparkTestSupport.BATCH)
                .batchSizePerWorker(SparkTestSupport.BATCH)
                .averagingFrequency(frequency)
                .workerPrefetchNumBatches(0)
                .repartionData(Repartition.Never)
                .saveUpdater(true)
                .collectTrainingStats(false)
                .rngSeed(1)
                .build();
    }

    /**
     * Averaging after every minibatch with plain SGD is one step on the two workers' minibatches together: the
     * averaged parameters are those of a single-process fit on the merged minibatch, running statistics
     * included, since the global batch's mean of instance statistics is the mean of the two workers' means.
     */
    @Test
    void averagingEveryStepMatchesSingleProcessFitOnMergedBatches() {
        int rounds = 4;
        List<DataSet> data = SparkTestSupport.minibatches(WORKERS * rounds, 11);
        MultiLayerNetwork reference = SparkTestSupport.network(0.1);
        SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, reference.clone(), averaging(1));
        for (int r = 0; r < rounds; r++) {
            List<DataSet> round = data.subList(WORKERS * r, WORKERS * r + WORKERS);
            sparkNet.fit(sc.parallelize(new ArrayList<>(round), WORKERS));
            reference.fit(DataSet.merge(round));
        }
        MultiLayerNetwork trained = sparkNet.getNetwork();

        assertClose(reference.params(), trained.params(), "all parameters");
        assertEquals(rounds, trained.getLayer(0).getParam(NUM_BATCHES_TRACKED).getDouble(0), 0);
        DataSet test = SparkTestSupport.minibatches(1, 99).get(0);
        assertClose(reference.output(test.getFeatures()), trained.output(test.getFeatures()), "inference output");
        assertMovedTowardsData(trained.getLayer(0));
    }

    /**
     * The same with {@link ReplicaSpeedups} as the listener: the workers' networks get the speed-ups (and log it),
     * and the averaged model is still the single-process fit, to 1e-12. Each worker's network trains one minibatch
     * per {@code fit} here, so the install comes after its step: this checks the install and that it leaves the
     * result alone, not the speed-ups' arithmetic (the speed-ups module's tests do).
     */
    @Test
    void workersWithTheSpeedupsStillMatchSingleProcessFit() {
        int rounds = 2;
        List<DataSet> data = SparkTestSupport.minibatches(WORKERS * rounds, 12);
        MultiLayerNetwork reference = SparkTestSupport.network(0.1);
        SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, reference.clone(), averaging(1));
        sparkNet.setListeners(new ReplicaSpeedups());
        List<ReplicaSpeedups.Installation> before = ReplicaSpeedups.recentInstallations();
        for (int r = 0; r < rounds; r++) {
            List<DataSet> round = data.subList(WORKERS * r, WORKERS * r + WORKERS);
            sparkNet.fit(sc.parallelize(new ArrayList<>(round), WORKERS));
            reference.fit(DataSet.merge(round));
        }
        List<ReplicaSpeedups.Installation> installs = new ArrayList<>(ReplicaSpeedups.recentInstallations());
        installs.removeAll(before);
        assertTrue(
                installs.stream().anyMatch(i -> i.thread().startsWith("Executor task launch worker")),
                "no worker network got the speed-ups: " + installs);
        for (ReplicaSpeedups.Installation i : installs) {
            assertTrue(i.report().inPlaceUpdater(), i.toString());
        }
        assertClose(reference.params(), sparkNet.getNetwork().params(), "all parameters, speed-ups on the workers");
    }

    /** The same through SparkComputationGraph. */
    @Test
    void computationGraphAveragingEveryStepMatchesSingleProcessFit() {
        int rounds = 3;
        List<DataSet> data = SparkTestSupport.minibatches(WORKERS * rounds, 13);
        ComputationGraph reference = SparkTestSupport.network(0.1).toComputationGraph();
        SparkComputationGraph sparkNet = new SparkComputationGraph(sc, reference.clone(), averaging(1));
        for (int r = 0; r < rounds; r++) {
            List<DataSet> round = data.subList(WORKERS * r, WORKERS * r + WORKERS);
            sparkNet.fit(sc.parallelize(new ArrayList<>(round), WORKERS));
            reference.fit(DataSet.merge(round));
        }
        ComputationGraph trained = sparkNet.getNetwork();
        assertClose(reference.params(), trained.params(), "all parameters");
        DataSet test = SparkTestSupport.minibatches(1, 98).get(0);
        assertClose(
                reference.outputSingle(test.getFeatures()),
                trained.outputSingle(test.getFeatures()),
                "inference output");
    }

    /**
     * Averaging every 3 minibatches: each worker folds its own 3 batch statistics, then the two results are
     * averaged. Checked against that fold written out in plain doubles from the data, for PyTorch's momentum and
     * for the cumulative average ({@code momentum(null)}, where both workers start from the same count).
     */
    @Test
    void averagingEveryThirdStepMatchesTheClosedForm() {
        int frequency = 3;
        int rounds = 2;
        for (Double momentum : new Double[] {0.1, null}) {
            List<DataSet> data = SparkTestSupport.minibatches(WORKERS * frequency * rounds, 17);
            SparkDl4jMultiLayer sparkNet =
                    new SparkDl4jMultiLayer(sc, SparkTestSupport.network(momentum), averaging(frequency));
            double[] mean = new double[SparkTestSupport.CHANNELS];
            double[] var = new double[SparkTestSupport.CHANNELS];
            java.util.Arrays.fill(var, 1);
            long count = 0;
            for (int r = 0; r < rounds; r++) {
                int first = WORKERS * frequency * r;
                // parallelize cuts the list into contiguous partitions: worker w gets batches [w*f, (w+1)*f)
                List<DataSet> round = new ArrayList<>(data.subList(first, first + WORKERS * frequency));
                sparkNet.fit(sc.parallelize(round, WORKERS));

                double[] meanSum = new double[mean.length];
                double[] varSum = new double[var.length];
                for (int w = 0; w < WORKERS; w++) {
                    double[] m = mean.clone();
                    double[] v = var.clone();
                    long n = count;
                    for (DataSet batch : round.subList(w * frequency, (w + 1) * frequency)) {
                        n++;
                        double weight = momentum == null ? 1.0 / n : momentum;
                        double[][] stats = batchStatistics(batch.getFeatures());
                        for (int c = 0; c < m.length; c++) {
                            m[c] = (1 - weight) * m[c] + weight * stats[0][c];
                            v[c] = (1 - weight) * v[c] + weight * stats[1][c];
                        }
                    }
                    for (int c = 0; c < m.length; c++) {
                        meanSum[c] += m[c];
                        varSum[c] += v[c];
                    }
                }
                for (int c = 0; c < mean.length; c++) {
                    mean[c] = meanSum[c] / WORKERS;
                    var[c] = varSum[c] / WORKERS;
                }
                count += frequency;
            }
            Layer layer = sparkNet.getNetwork().getLayer(0);
            String what = "momentum " + momentum;
            assertClose(mean, layer.getParam(RUNNING_MEAN), what + ", running mean");
            assertClose(var, layer.getParam(RUNNING_VAR), what + ", running var");
            assertEquals(count, layer.getParam(NUM_BATCHES_TRACKED).getDouble(0), 0, what);
            assertMovedTowardsData(layer);
        }
    }

    /** @return {mean over the batch of the instance means, mean over the batch of the unbiased instance variances} */
    static double[][] batchStatistics(INDArray x) {
        int n = (int) x.size(0);
        int channels = (int) x.size(1);
        int length = (int) x.size(2);
        double[][] stats = new double[2][channels];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < channels; c++) {
                double sum = 0;
                for (int t = 0; t < length; t++) {
                    sum += x.getDouble(i, c, t);
                }
                double mu = sum / length;
                double squares = 0;
                for (int t = 0; t < length; t++) {
                    double d = x.getDouble(i, c, t) - mu;
                    squares += d * d;
                }
                stats[0][c] += mu / n;
                stats[1][c] += squares / (length - 1) / n;
            }
        }
        return stats;
    }

    /** Guards against a vacuous pass (statistics left at 0 / 1 on both sides). */
    private static void assertMovedTowardsData(Layer layer) {
        INDArray mean = layer.getParam(RUNNING_MEAN);
        for (int c = 0; c < SparkTestSupport.CHANNELS; c++) {
            assertTrue(mean.getDouble(c) > 0.2 * SparkTestSupport.CHANNEL_MEANS[c], "running mean " + mean);
        }
    }

    private static void assertClose(INDArray expected, INDArray actual, String what) {
        assertClose(expected.ravel().toDoubleVector(), actual, what);
    }

    private static void assertClose(double[] expected, INDArray actual, String what) {
        double[] a = actual.ravel().toDoubleVector();
        assertEquals(expected.length, a.length, what);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(expected[i] - a[i]));
        }
        System.out.printf("%s: max abs error %.3g (tolerance %.1g)%n", what, worst, TOLERANCE);
        assertTrue(worst <= TOLERANCE, what + ": max abs error " + worst + " > " + TOLERANCE);
    }
}
