package io.github.instancenorm.zoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import java.nio.file.Path;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * StarGAN networks trained a few steps in real PyTorch (so their running statistics moved), saved with
 * {@code torch.save(state_dict())} and loaded here: the same pixels as PyTorch in training mode (instance
 * statistics, StarGAN's test code) and eval mode (running statistics). Fixtures from
 * {@code src/test/python/gen_stargan_fixtures.py}.
 */
class StarGanGoldenTest {

    /*
     * Measured on the shipping path (oneDNN convolutions, onednn-avx2 build): G eval 2.3e-8, G instance statistics
     * 1.2e-6 (DL4J's own convolutions: 2.6e-8 and 2.9e-6), D 2.1e-7 (out_src) and 4.5e-8 (out_cls). Each bound is
     * the largest of these (7 to 40 times), for other CPUs' kernels and summation orders.
     */
    private static final double EVAL_TOLERANCE = 1e-6;
    private static final double INSTANCE_STATS_TOLERANCE = 2e-5;
    private static final double DISCRIMINATOR_TOLERANCE = 2e-6;

    private static double maxError(INDArray expected, INDArray actual) {
        assertArrayEquals(expected.shape(), actual.shape());
        return Transforms.abs(expected.sub(actual)).maxNumber().doubleValue();
    }

    private static void checkGenerator(Path checkpoint, Map<String, INDArray> expected) throws Exception {
        ComputationGraph g = StarGan.loadGenerator(checkpoint, StarGan.Statistics.RUNNING);
        INDArray params = g.params().dup();
        INDArray image = expected.get("image");
        INDArray label = expected.get("label");

        double evalError = maxError(expected.get("g_eval"), g.outputSingle(image, label));
        assertTrue(evalError <= EVAL_TOLERANCE, "eval mode (running statistics): max error " + evalError);

        assertTrue(StarGan.useStatistics(g, StarGan.Statistics.INSTANCE) >= 5, "every instance norm switched");
        double trainError = maxError(expected.get("g_train"), g.outputSingle(image, label));
        assertTrue(
                trainError <= INSTANCE_STATS_TOLERANCE, "training mode (instance statistics): max error " + trainError);
        assertEquals(params, g.params(), "inference in either mode leaves the running statistics alone");
        System.out.printf(
                "%s: max |DL4J - PyTorch| eval %.2e, train-mode %.2e%n",
                checkpoint.getFileName(), evalError, trainError);
    }

    @Test
    void generatorMatchesPyTorchInBothModes() throws Exception {
        checkGenerator(
                Fixtures.resource("fixtures/stargan/G.ckpt"),
                Nd4j.createFromNpzFile(Fixtures.file("fixtures/stargan/expected.npz")));
    }

    @Test
    void generatorLoadsThroughTheGenericLoaderByLayerName() throws Exception {
        ComputationGraph g = StarGan.generator()
                .convDim(8)
                .cDim(3)
                .repeatNum(2)
                .imageSize(32)
                .build();
        StateDict sd = StateDict.read(Fixtures.resource("fixtures/stargan/G.ckpt"));
        TorchWeights.load(g, sd);
        assertEquals(
                sd.get("main.9.main.4.running_var"),
                g.getLayer("main.9.main.4")
                        .getParam("var")
                        .reshape(sd.get("main.9.main.4.running_var").shape()));
    }

    @Test
    void discriminatorMatchesPyTorch() throws Exception {
        Map<String, INDArray> expected = Nd4j.createFromNpzFile(Fixtures.file("fixtures/stargan/expected.npz"));
        ComputationGraph d = StarGan.loadDiscriminator(Fixtures.resource("fixtures/stargan/D.ckpt"));
        INDArray[] out = d.output(expected.get("image"));
        double src = maxError(expected.get("d_src"), out[0]);
        double cls = maxError(expected.get("d_cls"), out[1]);
        System.out.printf("D: max |DL4J - PyTorch| src %.2e, cls %.2e%n", src, cls);
        assertTrue(src <= DISCRIMINATOR_TOLERANCE, "out_src: max error " + src);
        assertTrue(cls <= DISCRIMINATOR_TOLERANCE, "out_cls: max error " + cls);
    }

    /**
     * The full-size (conv_dim 64, repeat_num 6, 128 px) generator, zip and legacy format: too large to commit.
     * Write it with {@code gen_stargan_fixtures.py --full DIR} and run with {@code -Dstargan.full=DIR}.
     */
    @Test
    @EnabledIfSystemProperty(named = "stargan.full", matches = ".+")
    void fullSizeGeneratorMatchesPyTorch() throws Exception {
        Path dir = Path.of(System.getProperty("stargan.full"));
        Map<String, INDArray> expected =
                Nd4j.createFromNpzFile(dir.resolve("expected.npz").toFile());
        checkGenerator(dir.resolve("G.ckpt"), expected);
        checkGenerator(dir.resolve("G-legacy.ckpt"), expected);
    }
}
