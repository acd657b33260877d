package io.github.instancenorm.zoo.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.instancenorm.testutil.Compare;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.zoo.StarGan;
import java.io.File;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Reads back the StarGAN generator that {@link SavedGenerator} saved with an earlier version of this project: it must
 * still load and compute the same images with running and with instance statistics.
 */
class SavedGeneratorTest {

    private static File file(String name) {
        return Fixtures.file("golden/" + SavedGenerator.VERSION + "/" + name);
    }

    private static INDArray npy(String name) {
        return Nd4j.createFromNpyFile(file(name));
    }

    @Test
    void savedGeneratorComputesWhatItDidWhenSaved() throws Exception {
        ComputationGraph g = ModelSerializer.restoreComputationGraph(file("generator.zip"), true);
        INDArray image = npy("image.npy");
        INDArray label = npy("label.npy");
        Compare.assertClose("running statistics", npy("eval.npy"), g.outputSingle(image, label));
        assertEquals(7, StarGan.useStatistics(g, StarGan.Statistics.INSTANCE), "instance norms in the saved graph");
        Compare.assertClose("instance statistics", npy("instance.npy"), g.outputSingle(image, label));
    }
}
