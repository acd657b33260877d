package io.github.instancenorm.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.testutil.Compare;
import io.github.instancenorm.testutil.Fixtures;
import java.io.File;
import java.util.List;
import java.util.stream.Stream;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Reads back the networks that {@link SavedModels} saved with an earlier version of this project and checks that
 * they still compute what they computed when saved: inference, a training-mode forward and inference after it
 * (which shows the running statistics' update). A failure here means a change broke users' saved models.
 */
class SavedModelsTest {

    static Stream<String> savedNames() {
        return SavedModels.cases().stream().map(SavedModels.Case::name);
    }

    private static File file(String name, String suffix) {
        return Fixtures.file("golden/" + SavedModels.VERSION + "/" + name + suffix);
    }

    private static Model restore(String name) throws Exception {
        File zip = file(name, ".zip");
        return name.startsWith("cg-")
                ? ModelSerializer.restoreComputationGraph(zip, true)
                : ModelSerializer.restoreMultiLayerNetwork(zip, true);
    }

    private static InstanceNormalization layerConf(Model net) {
        return (InstanceNormalization)
                (net instanceof ComputationGraph g
                        ? g.getLayer("norm").conf().getLayer()
                        : ((MultiLayerNetwork) net).getLayer(1).conf().getLayer());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("savedNames")
    void savedNetworkComputesWhatItDidWhenSaved(String name) throws Exception {
        Model net = restore(name);
        INDArray input = Nd4j.createFromNpyFile(file(name, ".in.npy")).castTo(DataType.FLOAT);
        double tol = Compare.tolerance(DataType.FLOAT);
        Compare.assertClose(
                name + " inference",
                Nd4j.createFromNpyFile(file(name, ".eval.npy")),
                SavedModels.output(net, input, false),
                tol);
        Compare.assertClose(
                name + " training-mode forward",
                Nd4j.createFromNpyFile(file(name, ".train.npy")),
                SavedModels.output(net, input, true),
                tol);
        Compare.assertClose(
                name + " inference after it",
                Nd4j.createFromNpyFile(file(name, ".eval2.npy")),
                SavedModels.output(net, input, false),
                tol);
    }

    /** The configuration each file was saved with, read back option by option. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("savedNames")
    void savedConfigurationKeepsItsOptions(String name) throws Exception {
        InstanceNormalization layer = layerConf(restore(name));
        assertEquals(1e-5, layer.getEps());
        if (name.contains("-none-")) {
            assertTrue(layer.isAffine());
            assertFalse(layer.isTrackRunningStats());
        } else {
            // BARE was saved with the writing version's defaults: affine, running statistics, momentum 0.1
            assertTrue(layer.isAffine(), "affine");
            assertTrue(layer.isTrackRunningStats(), "trackRunningStats");
            assertEquals(name.contains("-cumulative-") ? null : 0.1, layer.getMomentum());
            assertEquals(name.contains("-input-stats-in-inference-"), layer.isUseInputStatsInInference());
        }
    }

    @org.junit.jupiter.api.Test
    void everyCaseHasItsFiles() {
        List<String> names = savedNames().toList();
        assertEquals(16, names.size());
        for (String name : names) {
            for (String suffix : List.of(".zip", ".in.npy", ".eval.npy", ".train.npy", ".eval2.npy")) {
                assertTrue(file(name, suffix).isFile(), name + suffix);
            }
        }
    }
}
