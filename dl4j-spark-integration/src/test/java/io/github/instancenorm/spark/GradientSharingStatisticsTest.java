package io.github.instancenorm.spark;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.BETA;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.solvers.accumulation.encoding.threshold.FixedThresholdAlgorithm;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;

/**
 * SharedTrainingMaster (gradient sharing) on local[2]. Before the layer checked for it, training "worked" and the
 * driver's model came back with its running statistics at their initial 0 / 1 and a batch count of 0 while gamma,
 * beta and the output layer had moved (the first version of this test asserted exactly that). Now the workers'
 * first training forward refuses running statistics, and the error names the training master and the fixes (see
 * {@link GradientSharingSwallowedErrorTest} for where dl4j-spark swallows it).
 */
class GradientSharingStatisticsTest {

    private static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        sc = SparkTestSupport.localContext("gradient-sharing");
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    static SharedTrainingMaster sharing(int workersPerExecutor) {
        return sharing(2, workersPerExecutor);
    }

    static SharedTrainingMaster sharing(int workers, int workersPerExecutor) {
        VoidConfiguration voidConf = VoidConfiguration.builder()
                .controllerAddress("127.0.0.1")
                .unicastPort(40123)
                .build();
        return new SharedTrainingMaster.Builder(
                        voidConf, workers, new FixedThresholdAlgorithm(1e-3), SparkTestSupport.BATCH)
                .batchSizePerWorker(SparkTestSupport.BATCH)
                .workersPerNode(workersPerExecutor)
                .repartitionData(Repartition.Never)
                .rngSeed(1)
                .collectTrainingStats(false)
                .build();
    }

    /** One worker per executor: the layer's forward runs under SharedTrainingWrapper. */
    @Test
    void refusesRunningStatisticsWithOneWorkerPerExecutor() {
        assertRefused(1);
    }

    /** Two workers per executor: the forward runs on ParallelWrapper trainer threads. */
    @Test
    void refusesRunningStatisticsWithTwoWorkersPerExecutor() {
        assertRefused(2);
    }

    /** The fix the message offers: without running statistics the network trains under gradient sharing. */
    @Test
    void trainsWithoutRunningStatistics() {
        SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, SparkTestSupport.network(0.1, false), sharing(1));
        List<DataSet> data = SparkTestSupport.minibatches(8, 7);
        sparkNet.fit(sc.parallelize(data, 2));
        MultiLayerNetwork trained = sparkNet.getNetwork();
        assertNotEquals(0, trained.getLayer(0).getParam(BETA).norm1Number().doubleValue(), "beta never moved");
        trained.output(data.get(0).getFeatures()); // instance statistics in inference: nothing to refuse
    }

    private static void assertRefused(int workersPerExecutor) {
        SparkDl4jMultiLayer sparkNet =
                new SparkDl4jMultiLayer(sc, SparkTestSupport.network(0.1), sharing(workersPerExecutor));
        List<DataSet> data = SparkTestSupport.minibatches(8, 7);
        Exception e = assertThrows(Exception.class, () -> sparkNet.fit(sc.parallelize(data, 2)));
        // Spark hands the workers' errors to the driver as text inside its own exception.
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        String text = trace.toString();
        assertTrue(text.contains("cannot be trained with dl4j-spark's SharedTrainingMaster"), "not our error: " + text);
        assertTrue(text.contains("ParameterAveragingTrainingMaster"), text);
        assertTrue(text.contains("trackRunningStats(false)"), text);
    }
}
