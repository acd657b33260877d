package io.github.instancenorm.spark;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;
import static io.github.instancenorm.spark.SparkTestSupport.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.layers.InstanceNormStatistics;
import io.github.instancenorm.layers.InstanceNormStatistics.Apply;
import io.github.instancenorm.layers.InstanceNormStatistics.Estimate;
import io.github.instancenorm.layers.InstanceNormStatistics.LayerSums;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.util.ComputationGraphUtil;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * {@link SparkStatisticsPass} on local[2], in double, against the estimate written out in plain doubles from the
 * data and the weights ({@link SparkTestSupport#closedFormStatistics}) and against a single-process
 * {@link InstanceNormStatistics#collect} over the same minibatches.
 *
 * <p>Tolerance 1e-12: the pooled statistics are sums of 16-48 instance statistics (below 10 in magnitude here), which
 * the pass adds in another order than the closed form (per partition, then a tree), so each differs by a few
 * roundings of 2^-53 relative; 1e-12 is about 100 roundings of 10. A real error (a missed or doubled minibatch, a
 * biased variance) moves them by 1e-2 or more.
 */
class SparkStatisticsPassTest {

    private static final double TOLERANCE = 1e-12;

    private static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        sc = SparkTestSupport.localContext("statistics-pass");
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    private static MultiLayerNetwork network() {
        return SparkTestSupport.convNetwork(GradientNormalization.None, 1);
    }

    private static double[][] closedForm(MultiLayerNetwork net, List<DataSet> batches) {
        return SparkTestSupport.closedFormStatistics(
                net.getLayer(0).getParam("W"), net.getLayer(0).getParam("b"), batches);
    }

    private static void assertEstimate(double[][] expected, Estimate e, String what) {
        LayerSums sums = e.layers().get("1");
        assertEquals(List.of("1"), List.copyOf(e.layers().keySet()), what);
        assertClose(expected[0], sums.mean(), TOLERANCE, what + ", mean");
        assertClose(expected[1], sums.variance(), TOLERANCE, what + ", variance");
    }

    /** Every minibatch on two partitions: the closed form, and the single-process pass. */
    @Test
    void matchesTheClosedFormAndASingleProcessPass() {
        List<DataSet> data = SparkTestSupport.minibatches(12, 21);
        MultiLayerNetwork net = network();
        INDArray before = net.params().dup();

        Estimate e = SparkStatisticsPass.collect(net, sc.parallelize(data, 2));

        assertEquals(12, e.batches());
        assertEquals(12L * SparkTestSupport.BATCH, e.layers().get("1").instances());
        assertEstimate(closedForm(net, data), e, "spark pass vs closed form");
        Estimate single = InstanceNormStatistics.collect(net, new ListDataSetIterator<>(data, 1), 0);
        assertClose(single.layers().get("1").mean(), e.layers().get("1").mean(), TOLERANCE, "vs single process, mean");
        assertClose(
                single.layers().get("1").variance(),
                e.layers().get("1").variance(),
                TOLERANCE,
                "vs single process, variance");
        assertEquals(before, net.params(), "collect changed the driver's network");
    }

    /** The estimate does not depend on the order or the partitioning of the minibatches. */
    @Test
    void independentOfOrderAndPartitioning() {
        List<DataSet> data = SparkTestSupport.minibatches(12, 22);
        MultiLayerNetwork net = network();
        double[][] expected = closedForm(net, data);
        List<DataSet> shuffled = new ArrayList<>(data);
        Collections.shuffle(shuffled, new Random(5));
        assertEstimate(expected, SparkStatisticsPass.collect(net, sc.parallelize(data, 1)), "1 partition");
        assertEstimate(expected, SparkStatisticsPass.collect(net, sc.parallelize(data, 3)), "3 partitions");
        // 16 partitions: 4 of them empty
        assertEstimate(expected, SparkStatisticsPass.collect(net, sc.parallelize(shuffled, 16)), "shuffled, 16");
    }

    /** A sample: run writes the estimate of exactly the minibatches sample() names, and only the statistics. */
    @Test
    void runOnASampleWritesTheSampleEstimate() {
        List<DataSet> data = SparkTestSupport.minibatches(16, 23);
        JavaRDD<DataSet> rdd = sc.parallelize(data, 2);
        MultiLayerNetwork net = network();
        MultiLayerNetwork reference = net.clone();
        INDArray gamma = net.getLayer(1).getParam("gamma").dup();
        INDArray weights = net.getLayer(0).getParam("W").dup();

        SparkStatisticsPass.run(net, rdd, 0.5, 3, Apply.REPLACE);

        List<DataSet> sample = SparkStatisticsPass.sample(rdd, 0.5, 3).collect();
        assertTrue(sample.size() > 0 && sample.size() < data.size(), "sample of " + sample.size());
        double[][] expected = closedForm(reference, sample);
        assertClose(expected[0], net.getLayer(1).getParam(RUNNING_MEAN).toDoubleVector(), TOLERANCE, "running mean");
        assertClose(expected[1], net.getLayer(1).getParam(RUNNING_VAR).toDoubleVector(), TOLERANCE, "running var");
        assertEquals(
                sample.size(), net.getLayer(1).getParam(NUM_BATCHES_TRACKED).getDouble(0), 0);
        assertEquals(gamma, net.getLayer(1).getParam("gamma"));
        assertEquals(weights, net.getLayer(0).getParam("W"));

        InstanceNormStatistics.apply(
                reference,
                InstanceNormStatistics.collect(reference, new ListDataSetIterator<>(sample, 1), 0),
                Apply.REPLACE);
        assertClose(reference.params().toDoubleVector(), net.params().toDoubleVector(), TOLERANCE, "vs single process");
    }

    /** A ComputationGraph on MultiDataSets. */
    @Test
    void graphOnMultiDataSets() {
        List<DataSet> data = SparkTestSupport.minibatches(6, 24);
        MultiLayerNetwork net = network();
        ComputationGraph graph = net.toComputationGraph();
        JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> rdd =
                sc.parallelize(data, 2).map(ComputationGraphUtil::toMultiDataSet);
        Estimate e = SparkStatisticsPass.collect(graph, rdd, 1, 0);
        String name = graph.getLayer(1).conf().getLayer().getLayerName();
        assertEquals(List.of(name), List.copyOf(e.layers().keySet()));
        double[][] expected = closedForm(net, data);
        assertClose(expected[0], e.layers().get(name).mean(), TOLERANCE, "graph, mean");
        assertClose(expected[1], e.layers().get(name).variance(), TOLERANCE, "graph, variance");
    }

    /** A sample without a minibatch is an error that names the fraction, and writes nothing. */
    @Test
    void anEmptySampleIsRefused() {
        MultiLayerNetwork net = network();
        INDArray before = net.params().dup();
        JavaRDD<DataSet> rdd = sc.parallelize(SparkTestSupport.minibatches(2, 25), 2);
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> SparkStatisticsPass.run(net, rdd, 1e-9, 1, Apply.REPLACE));
        assertTrue(e.getMessage().contains("fraction 1.0E-9"), e.getMessage());
        assertEquals(before, net.params());
        assertThrows(IllegalArgumentException.class, () -> SparkStatisticsPass.collect(net, rdd, 0, 1));
    }
}
