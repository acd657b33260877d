package io.github.instancenorm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.zoo.StarGanV2;
import io.github.instancenorm.zoo.gan.GradientPenalty;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * StarGAN v2's losses of one step against PyTorch's autograd on the zoo's small16 fixture networks (16 px, 3 domains,
 * batch 4; {@code src/test/python/gen_stargan_v2_step_fixtures.py}, reference in double): every loss term within
 * 1e-5 relative, and every network's parameter gradient within {@code ‖g - g_torch‖ ≤ 1e-4 ‖g_torch‖} over the whole
 * network (per tensor would not do: the biases of convolutions before an instance norm have a true gradient of 0).
 */
class StarGanV2LossesTest {

    private static final Path CHECKPOINT =
            Paths.get("../dl4j-instancenorm-zoo/src/test/resources/fixtures/starganv2/small16_nets.ckpt");
    private static final Path FIXTURES = Paths.get("src/test/resources/fixtures/starganv2-step");
    private static final String[] NETS = {"generator", "mapping_network", "style_encoder", "discriminator"};
    private static final double TERM_TOLERANCE = 1e-5;
    private static final double GRADIENT_TOLERANCE = 1e-4;

    private static ComputationGraph g;
    private static ComputationGraph f;
    private static ComputationGraph e;
    private static ComputationGraph d;
    private static Map<String, INDArray> in;
    private static ComputationGraph[] doubles;

    @BeforeAll
    static void load() throws Exception {
        StarGanV2.Nets nets = StarGanV2.load(CHECKPOINT);
        g = StarGanV2.withInputGradients(nets.generator());
        f = nets.mappingNetwork();
        e = StarGanV2.withInputGradients(nets.styleEncoder());
        d = StarGanV2.withInputGradients(nets.discriminator());
        for (ComputationGraph net : new ComputationGraph[] {g, f, e, d}) {
            FastConvolutions.install(net);
        }
        in = Nd4j.createFromNpzFile(FIXTURES.resolve("small16_inputs.npz").toFile());
        doubles = new ComputationGraph[] {
            g.convertDataType(DataType.DOUBLE),
            f.convertDataType(DataType.DOUBLE),
            e.convertDataType(DataType.DOUBLE),
            d.convertDataType(DataType.DOUBLE)
        };
    }

    /**
     * Float networks (as trained) within the tolerances above; double copies of them within 1e-8 (terms) and 1e-6
     * (gradients, which the fixture holds in float32): what is left in float is float rounding. (In double, R1's
     * value is off by 5e-9 relative: libnd4j's LeakyReLU backward takes its slope as a float, 0.2f.)
     */
    @ParameterizedTest(name = "{0} weights, {1}")
    @CsvSource({"official, FLOAT", "unusual, FLOAT", "identity, FLOAT", "official, DOUBLE"})
    void everyTermAndGradientMatchesPyTorch(String weights, DataType type) throws Exception {
        Map<String, INDArray> fx = Nd4j.createFromNpzFile(
                FIXTURES.resolve("small16_" + weights + ".npz").toFile());
        double[] lambda = fx.get("weights").toDoubleVector();
        // "identity": the optional term that is not StarGAN v2's, lambda_id = lambda[4]
        StarGanV2Losses.Weights w = new StarGanV2Losses.Weights(
                lambda[0], lambda[1], lambda[2], lambda[3], lambda.length > 4 ? lambda[4] : 0);
        boolean inDouble = type == DataType.DOUBLE;
        ComputationGraph[] nets = inDouble ? doubles : new ComputationGraph[] {g, f, e, d};
        StarGanV2Losses losses = new StarGanV2Losses(nets[0], nets[1], nets[2], nets[3]);
        INDArray[] before = new INDArray[nets.length];
        for (int k = 0; k < nets.length; k++) {
            before[k] = nets[k].params().dup();
        }
        INDArray xReal = in.get("x_real").castTo(type);
        INDArray yOrg = in.get("y_org").castTo(type);
        INDArray yTrg = in.get("y_trg").castTo(type);
        INDArray zTrg = in.get("z_trg").castTo(type);
        INDArray zTrg2 = in.get("z_trg2").castTo(type);
        INDArray xRef = in.get("x_ref").castTo(type);
        INDArray xRef2 = in.get("x_ref2").castTo(type);
        List<String> failures = new ArrayList<>();
        Check check =
                new Check(fx, nets, inDouble ? 1e-8 : TERM_TOLERANCE, inDouble ? 1e-6 : GRADIENT_TOLERANCE, failures);

        long t0 = System.nanoTime();
        StarGanV2Losses.DiscriminatorLoss dLatent = losses.discriminatorLatent(xReal, yOrg, yTrg, zTrg, w);
        long t1 = System.nanoTime();
        StarGanV2Losses.DiscriminatorLoss dReference = losses.discriminatorReference(xReal, yOrg, yTrg, xRef, w);
        long t2 = System.nanoTime();
        StarGanV2Losses.GeneratorLoss gLatent = losses.generatorLatent(xReal, yOrg, yTrg, zTrg, zTrg2, w);
        long t3 = System.nanoTime();
        StarGanV2Losses.GeneratorLoss gReference = losses.generatorReference(xReal, yOrg, yTrg, xRef, xRef2, w);
        long t4 = System.nanoTime();
        System.out.printf(
                "%s weights, %s: D latent %.1f ms, D reference %.1f ms, G latent %.1f ms, G reference %.1f ms%n",
                weights, type, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (t4 - t3) / 1e6);

        for (var entry : Map.of("d_latent", dLatent, "d_reference", dReference).entrySet()) {
            StarGanV2Losses.DiscriminatorLoss l = entry.getValue();
            String name = entry.getKey();
            check.term(name, "real", l.real());
            check.term(name, "fake", l.fake());
            check.term(name, "reg", l.reg());
            check.term(name, "total", l.total());
            check.gradient(name, 3, l.discriminatorGradient());
        }
        for (var entry : Map.of("g_latent", gLatent, "g_reference", gReference).entrySet()) {
            StarGanV2Losses.GeneratorLoss l = entry.getValue();
            String name = entry.getKey();
            check.term(name, "adv", l.adv());
            check.term(name, "sty", l.sty());
            check.term(name, "ds", l.ds());
            check.term(name, "cyc", l.cyc());
            if (w.id() > 0) {
                check.term(name, "id", l.id());
            }
            check.term(name, "total", l.total());
            check.gradient(name, 0, l.generatorGradient());
            check.gradient(name, 1, l.mappingGradient());
            check.gradient(name, 2, l.styleEncoderGradient());
            check.gradient(name, 3, l.discriminatorGradient());
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));

        for (int k = 0; k < nets.length; k++) {
            assertEquals(before[k], nets[k].params(), NETS[k] + ": the losses update nothing");
        }
    }

    /** R1 by itself (its share of the D loss's gradient is small here), from {@link GradientPenalty} on D(x, y). */
    @Test
    void r1OfTheConditionalDiscriminatorMatchesAutograd() {
        GradientPenalty.Result r1 = GradientPenalty.r1(1)
                .compute(d, new INDArray[] {in.get("x_real"), in.get("y_org")}, StarGanV2.IMAGE, StarGanV2.OUTPUT);
        double expected = in.get("r1.value").getDouble(0);
        assertTrue(Math.abs(r1.value() - expected) <= 1e-6 * expected, r1.value() + " vs " + expected);
        INDArray norms = in.get("r1.norms");
        assertTrue(
                r1.gradientNorms()
                                .castTo(DataType.DOUBLE)
                                .sub(norms)
                                .norm2Number()
                                .doubleValue()
                        <= 1e-6 * norms.norm2Number().doubleValue(),
                r1.gradientNorms() + " vs " + norms);
        List<String> failures = new ArrayList<>();
        new Check(in, new ComputationGraph[] {g, f, e, d}, 0, GRADIENT_TOLERANCE, failures)
                .gradient("r1", 3, r1.parameterGradient());
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void theGraphsMustRecordInputGradientsAndTakeNoMasks() throws Exception {
        StarGanV2.Nets plain = StarGanV2.load(CHECKPOINT);
        IllegalArgumentException noTap =
                assertThrows(IllegalArgumentException.class, () -> new StarGanV2Losses(plain.generator(), f, e, d));
        assertTrue(noTap.getMessage().contains("withInputGradients"), noTap.getMessage());
        ComputationGraph masked = StarGanV2.generator()
                .imageSize(32)
                .dimIn(4)
                .maxConvDim(8)
                .styleDim(8)
                .wHpf(1)
                .inputGradients(true)
                .build();
        IllegalArgumentException masks =
                assertThrows(IllegalArgumentException.class, () -> new StarGanV2Losses(masked, f, e, d));
        assertTrue(masks.getMessage().contains("w_hpf"), masks.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new StarGanV2Losses.Weights(1, 1, -2, 1));
    }

    /** Compares terms and gradients with a fixture, collecting the failures. */
    private record Check(
            Map<String, INDArray> fx,
            ComputationGraph[] nets,
            double termTolerance,
            double gradientTolerance,
            List<String> failures) {

        void term(String loss, String term, double actual) {
            double expected = fx.get(loss + "." + term).getDouble(0);
            double error = Math.abs(actual - expected) / Math.abs(expected);
            System.out.printf(
                    "%-12s %-6s %.9f vs torch %.9f, relative error %.2e%n", loss, term, actual, expected, error);
            if (!(error <= termTolerance)) {
                failures.add(loss + "." + term + ": " + actual + " vs " + expected + " (relative error " + error + ")");
            }
        }

        /**
         * Compares a flat gradient of network {@code k} (its {@code params()} layout) with the fixture's tensors
         * under PyTorch names: the gradient is put into a copy of the network and written as a state dict, as its
         * parameters would be; over the whole network, {@code ‖g - g_torch‖ / ‖g_torch‖}.
         */
        void gradient(String loss, int k, INDArray actual) {
            String netName = NETS[k];
            ComputationGraph holder = nets[k].clone();
            holder.params().assign(actual);
            StateDict sd = StateDict.of(holder);
            String prefix = loss + ".grad." + netName + ".";
            for (String key : fx.keySet()) {
                if (key.startsWith(prefix) && !sd.contains(key.substring(prefix.length()))) {
                    failures.add(key + ": no such parameter in the DL4J " + netName);
                }
            }
            double diff2 = 0;
            double norm2 = 0;
            double actual2 = 0;
            double maxAbs = 0;
            for (String key : sd.keys()) {
                INDArray a = sd.get(key).castTo(DataType.DOUBLE);
                INDArray expected = fx.containsKey(prefix + key)
                        ? fx.get(prefix + key).castTo(DataType.DOUBLE).reshape(a.shape())
                        : Nd4j.zeros(DataType.DOUBLE, a.shape()); // a network the loss does not reach
                INDArray diff = a.sub(expected);
                diff2 += Math.pow(diff.norm2Number().doubleValue(), 2);
                norm2 += Math.pow(expected.norm2Number().doubleValue(), 2);
                actual2 += Math.pow(a.norm2Number().doubleValue(), 2);
                maxAbs = Math.max(maxAbs, diff.amaxNumber().doubleValue());
            }
            if (norm2 == 0) {
                System.out.printf(
                        "%-12s %-15s no gradient in PyTorch; |g| = %.3e%n", loss, netName, Math.sqrt(actual2));
                if (actual2 != 0) {
                    failures.add(
                            loss + " " + netName + ": PyTorch has no gradient, DL4J's norm is " + Math.sqrt(actual2));
                }
                return;
            }
            double relative = Math.sqrt(diff2 / norm2);
            System.out.printf(
                    "%-12s %-15s |g_torch| %.4e, |g - g_torch| / |g_torch| %.2e, max abs diff %.2e%n",
                    loss, netName, Math.sqrt(norm2), relative, maxAbs);
            if (!(relative <= gradientTolerance)) {
                failures.add(loss + " " + netName + ": relative error " + relative + " (max abs diff " + maxAbs + ")");
            }
        }
    }
}
