package io.github.instancenorm.spark;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

/**
 * local[1] and one worker, so the executor runs one task: there dl4j-spark's worker logs a training error and
 * returns a normal result (on local[2] the data can land in two tasks, and the second rethrows it). The layer's
 * training forward no longer throws under gradient sharing (its workers skip the running update), so {@code fit}
 * trains; either way, a model whose statistics no forward and no statistics pass wrote is refused at its first
 * inference on the driver.
 */
class GradientSharingSwallowedErrorTest {

    private static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        sc = SparkTestSupport.localContext("gradient-sharing-one-task", 1);
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    @Test
    void refusesInferenceWhenTheWorkersErrorWasSwallowed() {
        SparkDl4jMultiLayer sparkNet =
                new SparkDl4jMultiLayer(sc, SparkTestSupport.network(0.1), GradientSharingStatisticsTest.sharing(1, 1));
        List<DataSet> data = SparkTestSupport.minibatches(4, 7);
        sparkNet.fit(sc.parallelize(data, 1));
        MultiLayerNetwork trained = sparkNet.getNetwork();
        IllegalStateException e = assertThrows(
                IllegalStateException.class, () -> trained.output(data.get(0).getFeatures()));
        assertTrue(e.getMessage().contains("numBatchesTracked = 0"), e.getMessage());
        assertTrue(e.getMessage().contains("ParameterAveragingTrainingMaster"), e.getMessage());
    }
}
