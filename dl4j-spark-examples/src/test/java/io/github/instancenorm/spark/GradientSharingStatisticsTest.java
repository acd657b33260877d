package io.github.instancenorm.spark;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.BETA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

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
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;

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

    @Test
    void driverKeepsInitialStatistics() {
        MultiLayerNetwork net = SparkTestSupport.network(0.1);
        VoidConfiguration voidConf = VoidConfiguration.builder()
                .controllerAddress("127.0.0.1")
                .unicastPort(40123)
                .build();
        SharedTrainingMaster tm = new SharedTrainingMaster.Builder(
                        voidConf, 2, new FixedThresholdAlgorithm(1e-3), SparkTestSupport.BATCH)
                .batchSizePerWorker(SparkTestSupport.BATCH)
                .workersPerNode(1)
                .repartitionData(Repartition.Never)
                .rngSeed(1)
                .collectTrainingStats(false)
                .build();
        SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, net, tm);
        List<DataSet> data = SparkTestSupport.minibatches(8, 7);
        sparkNet.fit(sc.parallelize(data, 2));
        MultiLayerNetwork out = sparkNet.getNetwork();
        // What dl4j-spark does today: the workers' statistics never reach the driver, which keeps 0 / 1 and a count
        // of 0 while the trainable parameters moved.
        assertEquals(Nd4j.zeros(DataType.DOUBLE, 4), out.getLayer(0).getParam(RUNNING_MEAN));
        assertEquals(Nd4j.ones(DataType.DOUBLE, 4), out.getLayer(0).getParam(RUNNING_VAR));
        assertEquals(0, out.getLayer(0).getParam(NUM_BATCHES_TRACKED).getDouble(0));
        assertNotEquals(0, out.getLayer(0).getParam(BETA).norm1Number().doubleValue());
    }
}
