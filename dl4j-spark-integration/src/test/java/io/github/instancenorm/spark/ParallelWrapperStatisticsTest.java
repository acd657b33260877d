package io.github.instancenorm.spark;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;
import static io.github.instancenorm.spark.SparkTestSupport.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.layers.InstanceNormStatistics.Apply;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.deeplearning4j.datasets.iterator.MultipleEpochsIterator;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.solvers.accumulation.encoding.threshold.FixedThresholdAlgorithm;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * {@link ParallelTrainingWithStatistics} with 2 workers, in double: after training, the root model's running
 * statistics are the closed form over its final weights and every minibatch ({@link SparkTestSupport}), to 1e-12
 * (the tolerance of {@link SparkStatisticsPassTest}); and {@link ReplicaSpeedups} reaches both replicas.
 */
@Timeout(120)
class ParallelWrapperStatisticsTest {

    private static final double TOLERANCE = 1e-12;

    /** SHARED_GRADIENTS: without the pass the root would keep thread 0's statistics; with it, the closed form. */
    @Test
    void sharedGradientsPassIsExactAndReplicasGetTheSpeedups() {
        MultiLayerNetwork root = SparkTestSupport.convNetwork(GradientNormalization.ClipL2PerLayer, 0.5);
        ParallelWrapper wrapper = new ParallelWrapper.Builder<>(root)
                .workers(2)
                .prefetchBuffer(2)
                .trainingMode(ParallelWrapper.TrainingMode.SHARED_GRADIENTS)
                .thresholdAlgorithm(new FixedThresholdAlgorithm(1e-3))
                .build();
        wrapper.setListeners(new ReplicaSpeedups());
        List<ReplicaSpeedups.Installation> before = ReplicaSpeedups.recentInstallations();

        assertExact(wrapper, root, "SHARED_GRADIENTS");

        List<ReplicaSpeedups.Installation> installs = new ArrayList<>(ReplicaSpeedups.recentInstallations());
        installs.removeAll(before);
        Set<String> replicas = installs.stream()
                .filter(i -> i.thread().startsWith("ParallelWrapper training thread"))
                .map(ReplicaSpeedups.Installation::network)
                .collect(Collectors.toSet());
        assertEquals(2, replicas.size(), "replicas with the speed-ups: " + installs);
        assertTrue(
                replicas.contains("MultiLayerNetwork@" + Integer.toHexString(System.identityHashCode(root))),
                "the root model is one of them: " + installs);
        for (ReplicaSpeedups.Installation i : installs) {
            assertTrue(i.report().inPlaceUpdater(), i.toString());
            assertTrue(i.updaterClass().startsWith("io.github.instancenorm.speedups."), i.toString());
        }
    }

    /** AVERAGING (statistics averaged with the parameters): the optional pass is exact too. */
    @Test
    void averagingPassIsExact() {
        MultiLayerNetwork root = SparkTestSupport.convNetwork(GradientNormalization.None, 1);
        ParallelWrapper wrapper = new ParallelWrapper.Builder<>(root)
                .workers(2)
                .prefetchBuffer(2)
                .averagingFrequency(1)
                .trainingMode(ParallelWrapper.TrainingMode.AVERAGING)
                .build();
        assertExact(wrapper, root, "AVERAGING");
    }

    private static void assertExact(ParallelWrapper wrapper, MultiLayerNetwork root, String what) {
        List<DataSet> data = SparkTestSupport.minibatches(8, 41);
        INDArray initialWeights = root.getLayer(0).getParam("W").dup();

        ParallelTrainingWithStatistics.fit(
                wrapper,
                root,
                new MultipleEpochsIterator(2, new ListDataSetIterator<>(data, 1)),
                new ListDataSetIterator<>(data, 1),
                0,
                Apply.REPLACE);

        assertNotEquals(initialWeights, root.getLayer(0).getParam("W"), what + ": the convolution never trained");
        double[][] expected = SparkTestSupport.closedFormStatistics(
                root.getLayer(0).getParam("W"), root.getLayer(0).getParam("b"), data);
        assertClose(expected[0], root.getLayer(1).getParam(RUNNING_MEAN).toDoubleVector(), TOLERANCE, what + ", mean");
        assertClose(expected[1], root.getLayer(1).getParam(RUNNING_VAR).toDoubleVector(), TOLERANCE, what + ", var");
        assertEquals(data.size(), root.getLayer(1).getParam(NUM_BATCHES_TRACKED).getDouble(0), 0, what);
    }
}
