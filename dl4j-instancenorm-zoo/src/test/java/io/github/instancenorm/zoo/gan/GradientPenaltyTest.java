package io.github.instancenorm.zoo.gan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import io.github.instancenorm.zoo.StarGan;
import io.github.instancenorm.zoo.StarGanV2;
import java.util.Map;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The finite-difference penalty gradients against PyTorch's exact ones (autograd with {@code create_graph=True}),
 * per parameter tensor as {@code ‖a - e‖ / ‖e‖}, for a small StarGAN discriminator; fixtures from
 * {@code src/test/python/gen_gradient_penalty_fixtures.py}.
 */
class GradientPenaltyTest {

    private static ComputationGraph critic(DataType type) throws Exception {
        ComputationGraph d = StarGan.discriminator()
                .convDim(4)
                .cDim(3)
                .repeatNum(3)
                .imageSize(16)
                .dataType(type)
                .inputGradients(true)
                .build();
        TorchWeights.load(d, StateDict.read(Fixtures.resource("fixtures/penalty/D.ckpt")));
        return d;
    }

    @ParameterizedTest(name = "{0} {1} critic, {2} passes")
    @CsvSource({
        "wgan_gp, double, DOUBLE, 1e-6",
        "r1, double, DOUBLE, 1e-6",
        "wgan_gp, float, DOUBLE, 5e-3",
        "r1, float, DOUBLE, 5e-3",
        "r1, float, FLOAT, 5e-3"
    })
    void matchesPyTorchAutograd(String kind, String type, DataType passes, double tolerance) throws Exception {
        DataType dataType = type.equals("double") ? DataType.DOUBLE : DataType.FLOAT;
        Map<String, INDArray> expected =
                Nd4j.createFromNpzFile(Fixtures.file("fixtures/penalty/" + kind + "_" + type + ".npz"));
        ComputationGraph d = critic(dataType);
        INDArray before = d.params().dup();
        GradientPenalty penalty =
                (kind.equals("r1") ? GradientPenalty.r1(10) : GradientPenalty.wganGp(10)).withPassesIn(passes);

        GradientPenalty.Result r = penalty.compute(d, expected.get("x"), StarGan.D_SOURCE);

        double valueError = Math.abs(r.value() - expected.get("value").getDouble(0))
                / Math.abs(expected.get("value").getDouble(0));
        assertTrue(valueError <= (dataType == DataType.DOUBLE ? 1e-10 : 1e-4), "value: relative error " + valueError);
        INDArray normError = r.gradientNorms()
                .castTo(DataType.DOUBLE)
                .sub(expected.get("norms").castTo(DataType.DOUBLE));
        assertTrue(
                normError.norm2Number().doubleValue()
                        <= tolerance * expected.get("norms").norm2Number().doubleValue(),
                "gradient norms " + r.gradientNorms() + ", expected " + expected.get("norms"));
        assertEquals(before, d.params(), "the penalty leaves the critic's parameters alone");

        // The gradient vector as PyTorch tensors: a copy of the critic holding it, written as a state dict.
        ComputationGraph holder = d.clone();
        holder.params().assign(r.parameterGradient());
        StateDict actual = StateDict.of(holder);
        double total = 0;
        for (String key : expected.keySet()) {
            if (key.startsWith("grad.")) {
                total += Math.pow(expected.get(key).norm2Number().doubleValue(), 2);
            }
        }
        total = Math.sqrt(total);
        StringBuilder report = new StringBuilder(kind + " " + type + " critic, " + passes + " passes:");
        double worst = 0;
        for (String key : expected.keySet()) {
            if (!key.startsWith("grad.")) {
                continue;
            }
            String name = key.substring("grad.".length());
            INDArray e = expected.get(key).castTo(DataType.DOUBLE);
            INDArray a = actual.get(name).castTo(DataType.DOUBLE).reshape(e.shape());
            double eNorm = e.norm2Number().doubleValue();
            double error = a.sub(e).norm2Number().doubleValue() / (eNorm > 0 ? eNorm : total);
            report.append(String.format(" %s %.1e", name, error));
            worst = Math.max(worst, error);
        }
        System.out.println(report);
        assertTrue(worst <= tolerance, "relative errors per tensor, " + report);
    }

    @Test
    void badArgumentsAreNamed() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> GradientPenalty.wganGp(-1));
        IllegalArgumentException nan =
                assertThrows(IllegalArgumentException.class, () -> GradientPenalty.r1(Double.NaN));
        assertTrue(nan.getMessage().contains("γ"), nan.getMessage());
        ComputationGraph d = critic(DataType.FLOAT);
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 3, 16, 16);
        IllegalArgumentException output = assertThrows(
                IllegalArgumentException.class, () -> GradientPenalty.wganGp(10).compute(d, x, "nope"));
        assertTrue(
                output.getMessage().contains("'nope'") && output.getMessage().contains(StarGan.D_SOURCE),
                output.getMessage());
        ComputationGraph noTap = StarGan.discriminator()
                .convDim(4)
                .cDim(3)
                .repeatNum(3)
                .imageSize(16)
                .build();
        IllegalArgumentException tap = assertThrows(
                IllegalArgumentException.class, () -> GradientPenalty.wganGp(10).compute(noTap, x, StarGan.D_SOURCE));
        assertTrue(tap.getMessage().contains("inputGradients(true)"), tap.getMessage());

        // A conditional critic, D(x, y): the penalized input is named; the others are held fixed.
        ComputationGraph conditional = StarGanV2.discriminator()
                .imageSize(16)
                .dimIn(4)
                .maxConvDim(8)
                .inputGradients(true)
                .build();
        IllegalArgumentException which = assertThrows(
                IllegalArgumentException.class, () -> GradientPenalty.r1(1).compute(conditional, x, StarGanV2.OUTPUT));
        assertTrue(which.getMessage().contains("penalized input"), which.getMessage());
        INDArray[] inputs = {x, StarGanV2.oneHot(2, 0, 1)};
        IllegalArgumentException unknown = assertThrows(
                IllegalArgumentException.class,
                () -> GradientPenalty.r1(1).compute(conditional, inputs, "image", StarGanV2.OUTPUT));
        assertTrue(unknown.getMessage().contains("'image'"), unknown.getMessage());
        IllegalArgumentException count = assertThrows(
                IllegalArgumentException.class,
                () -> GradientPenalty.r1(1)
                        .compute(conditional, new INDArray[] {x}, StarGanV2.IMAGE, StarGanV2.OUTPUT));
        assertTrue(count.getMessage().contains("1 arrays"), count.getMessage());
        GradientPenalty.Result r =
                GradientPenalty.r1(1).compute(conditional, inputs, StarGanV2.IMAGE, StarGanV2.OUTPUT);
        assertEquals(conditional.params().length(), r.parameterGradient().length());
    }

    /** A critic with running statistics: the passes must leave them (and every other parameter) alone. */
    @ParameterizedTest
    @CsvSource({"FLOAT", "DOUBLE"})
    void criticStateIsRestored(DataType passes) {
        ComputationGraph d = new ComputationGraph(new NeuralNetConfiguration.Builder()
                .dataType(DataType.FLOAT)
                .graphBuilder()
                .addInputs("image")
                .addVertex("image.grad", new io.github.instancenorm.zoo.conf.graph.GradientTapVertex(), "image")
                .addLayer(
                        "c1",
                        new ConvolutionLayer.Builder(3, 3)
                                .nOut(4)
                                .convolutionMode(ConvolutionMode.Same)
                                .activation(Activation.LEAKYRELU)
                                .build(),
                        "image.grad")
                .addLayer(
                        "in",
                        new InstanceNormalization.Builder()
                                .trackRunningStats(true)
                                .affine(true)
                                .build(),
                        "c1")
                .addLayer(
                        "src",
                        new ConvolutionLayer.Builder(3, 3)
                                .nOut(1)
                                .activation(Activation.IDENTITY)
                                .build(),
                        "in")
                .setOutputs("src")
                .setInputTypes(InputType.convolutional(8, 8, 3))
                .build());
        d.init();
        INDArray before = d.params().dup();
        GradientPenalty.Result r = GradientPenalty.wganGp(10)
                .withPassesIn(passes)
                .compute(d, Nd4j.rand(DataType.FLOAT, 3, 3, 8, 8), "src");
        assertTrue(
                Double.isFinite(r.value())
                        && r.parameterGradient().norm2Number().doubleValue() > 0,
                r.toString());
        assertEquals(before, d.params(), "running statistics and weights after the penalty's passes");
    }

    @Test
    void interpolatesLieBetweenRealAndFake() {
        INDArray real = Nd4j.ones(DataType.FLOAT, 5, 3, 4, 4);
        INDArray fake = Nd4j.zeros(DataType.FLOAT, 5, 3, 4, 4);
        INDArray x = GradientPenalty.interpolates(real, fake);
        for (int i = 0; i < 5; i++) {
            INDArray sample = x.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i));
            double alpha = sample.getDouble(0);
            assertTrue(alpha >= 0 && alpha <= 1);
            assertEquals(alpha * sample.length(), sample.sumNumber().doubleValue(), 1e-4, "one alpha per sample");
        }
    }

    @Test
    void interpolatesTakeGivenWeights() {
        INDArray real = Nd4j.rand(DataType.DOUBLE, 3, 2, 4, 4);
        INDArray fake = Nd4j.rand(DataType.DOUBLE, 3, 2, 4, 4);
        double[] alpha = {0, 0.25, 1};
        INDArray x = GradientPenalty.interpolates(real, fake, Nd4j.createFromArray(alpha));
        for (int i = 0; i < alpha.length; i++) {
            INDArray expected = real.slice(i).mul(alpha[i]).addi(fake.slice(i).mul(1 - alpha[i]));
            assertTrue(expected.equalsWithEps(x.slice(i), 1e-15), "sample " + i);
        }
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> GradientPenalty.interpolates(real, fake, Nd4j.createFromArray(0.5, 0.5)));
        assertTrue(e.getMessage().contains("one weight per sample, 3, got shape [2]"), e.getMessage());
    }
}
