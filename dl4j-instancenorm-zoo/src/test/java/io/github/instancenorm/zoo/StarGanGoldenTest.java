package io.github.instancenorm.zoo;

import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * StarGAN networks trained a few steps in real PyTorch (so their running statistics moved), saved with
 * {@code torch.save(state_dict())} and loaded here: the same pixels as PyTorch in training mode (instance
 * statistics, StarGAN's test code) and eval mode (running statistics). Fixtures from
 * {@code src/test/python/gen_stargan_fixtures.py}.
 */
class StarGanGoldenTest {

    private static final double TOLERANCE = 1e-4;

    private static double maxError(INDArray expected, INDArray actual) {
        assertArrayEquals(expected.shape(), actual.shape());
        return Transforms.abs(expected.sub(actual)).maxNumber().doubleValue();
    }

    private static void checkGenerator(Path checkpoint, Map<String, INDArray> expected, double tolerance)
            throws Exception {
        ComputationGraph g = StarGan.loadGenerator(checkpoint, StarGan.Statistics.RUNNING);
        INDArray params = g.params().dup();
        INDArray image = expected.get("image");
        INDArray label = expected.get("label");

        double evalError = maxError(expected.get("g_eval"), g.outputSingle(image, label));
        assertTrue(evalError <= tolerance, "eval mode (running statistics): max error " + evalError);

        assertTrue(StarGan.useStatistics(g, StarGan.Statistics.INSTANCE) >= 5, "every instance norm switched");
        double trainError = maxError(expected.get("g_train"), g.outputSingle(image, label));
        assertTrue(trainError <= tolerance, "training mode (instance statistics): max error " + trainError);
        assertEquals(params, g.params(), "inference in either mode leaves the running statistics alone");
        System.out.printf("%s: max |DL4J - PyTorch| eval %.2e, train-mode %.2e%n", checkpoint.getFileName(),
                evalError, trainError);
    }

    @Test
    void generatorMatchesPyTorchInBothModes() throws Exception {
        checkGenerator(Fixtures.resource("fixtures/stargan/G.ckpt"),
                Nd4j.createFromNpzFile(Fixtures.file("fixtures/stargan/expected.npz")), TOLERANCE);
    }

    @Test
    void generatorLoadsThroughTheGenericLoaderByLayerName() throws Exception {
        ComputationGraph g = StarGan.generator().convDim(8).cDim(3).repeatNum(2).imageSize(32).build();
        StateDict sd = StateDict.read(Fixtures.resource("fixtures/stargan/G.ckpt"));
        TorchWeights.load(g, sd);
        assertEquals(sd.get("main.9.main.4.running_var"), g.getLayer("main.9.main.4").getParam("var")
                .reshape(sd.get("main.9.main.4.running_var").shape()));
    }

    @Test
    void discriminatorMatchesPyTorch() throws Exception {
        Map<String, INDArray> expected = Nd4j.createFromNpzFile(Fixtures.file("fixtures/stargan/expected.npz"));
        ComputationGraph d = StarGan.loadDiscriminator(Fixtures.resource("fixtures/stargan/D.ckpt"));
        INDArray[] out = d.output(expected.get("image"));
        assertTrue(maxError(expected.get("d_src"), out[0]) <= TOLERANCE);
        assertTrue(maxError(expected.get("d_cls"), out[1]) <= TOLERANCE);
    }

    /**
     * The full-size (conv_dim 64, repeat_num 6, 128 px) generator, zip and legacy format: too large to commit.
     * Write it with {@code gen_stargan_fixtures.py --full DIR} and run with {@code -Dstargan.full=DIR}.
     */
    @Test
    @EnabledIfSystemProperty(named = "stargan.full", matches = ".+")
    void fullSizeGeneratorMatchesPyTorch() throws Exception {
        Path dir = Path.of(System.getProperty("stargan.full"));
        Map<String, INDArray> expected = Nd4j.createFromNpzFile(dir.resolve("expected.npz").toFile());
        checkGenerator(dir.resolve("G.ckpt"), expected, TOLERANCE);
        checkGenerator(dir.resolve("G-legacy.ckpt"), expected, TOLERANCE);
    }
}
