package io.github.instancenorm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.torch.OptimizerState;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.zoo.StarGanV2;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * StarGAN v2's training resumed from a PyTorch run ({@code src/test/python/gen_stargan_v2_train_fixtures.py}): the
 * official checkpoint files of iteration 1 (networks, averages, Adam states), then two whole iterations (four steps,
 * the averages and {@code λ_ds}'s decay, ds_iter 4) on the JVM against the same two iterations in PyTorch.
 */
class StarGanV2TrainerTest {

    static final Path RUN = Paths.get("src/test/resources/fixtures/starganv2-train");
    static final StarGanV2Trainer.Options OPTIONS = StarGanV2Trainer.Options.OFFICIAL.withDsIter(4);
    private static Map<String, INDArray> fx;
    private static StarGanV2Trainer floatRun;
    private static List<Map<String, Double>> floatTerms;
    private static StarGanV2Trainer doubleRun;
    private static List<Map<String, Double>> doubleTerms;

    @BeforeAll
    static void load() throws Exception {
        fx = Nd4j.createFromNpzFile(RUN.resolve("resume.npz").toFile());
        floatRun = StarGanV2Trainer.resume(RUN, 1, OPTIONS);
        assertEquals(1, floatRun.iteration());
        floatTerms = run(floatRun, DataType.FLOAT);
        doubleRun = StarGanV2Trainer.resume(RUN, 1, OPTIONS, DataType.DOUBLE);
        doubleTerms = run(doubleRun, DataType.DOUBLE);
    }

    static StarGanV2Trainer.Batch batch(int k) {
        return new StarGanV2Trainer.Batch(
                fx.get("it" + k + ".x_real"),
                fx.get("it" + k + ".y_org"),
                fx.get("it" + k + ".x_ref"),
                fx.get("it" + k + ".x_ref2"),
                fx.get("it" + k + ".y_trg"),
                fx.get("it" + k + ".z_trg"),
                fx.get("it" + k + ".z_trg2"));
    }

    /**
     * Float, as trained: every loss term within 1e-5 relative; every average weight within 1e-5 of PyTorch's after the
     * two iterations, and every parameter within 1e-5 or within PyTorch's own float error for that network (its float
     * run against its double run), whichever is larger. Adam with {@code beta1 = 0} moves each weight by about
     * {@code lr · g / |g|}, so where float rounding decides a small gradient's value (weights feeding an instance
     * norm) both float runs move by up to {@code lr} apart from the exact one: PyTorch's float run is up to 1e-4
     * away from its double run. The double test below checks the procedure itself.
     */
    @Test
    void twoIterationsInFloatFollowPyTorch() {
        assertEquals(3, floatRun.iteration());
        assertEquals(1.0, floatRun.lambdaDs(), 1e-15); // 2, 1.5, then 1 (restarted at its configured value on resume)
        compare(floatRun, floatTerms, "float32", 1e-5, 1e-5);
    }

    /** Double on both sides: the same procedure to 1e-9 (terms 1e-8). */
    @Test
    void twoIterationsInDoubleFollowPyTorch() {
        compare(doubleRun, doubleTerms, "float64", 1e-8, 1e-9);
    }

    private static List<Map<String, Double>> run(StarGanV2Trainer t, DataType dataType) {
        return List.of(
                t.step(batch(1).castTo(dataType)).byName(),
                t.step(batch(2).castTo(dataType)).byName());
    }

    private static void compare(
            StarGanV2Trainer t, List<Map<String, Double>> run, String type, double termTolerance, double tolerance) {
        for (int k = 1; k <= 2; k++) {
            Map<String, Double> terms = run.get(k - 1);
            for (String loss : List.of("d_latent", "d_reference", "g_latent", "g_reference")) {
                String prefix = (loss.startsWith("d") ? "D/" : "G/") + loss.substring(2) + "/";
                for (String term : loss.startsWith("d")
                        ? List.of("real", "fake", "reg", "total")
                        : List.of("adv", "sty", "ds", "cyc", "total")) {
                    double e =
                            fx.get(type + ".it" + k + "." + loss + "." + term).getDouble(0);
                    double a = terms.get(prefix + term);
                    assertEquals(
                            e, a, termTolerance * (1 + Math.abs(e)), type + " iteration " + k + " " + prefix + term);
                }
            }
        }
        StarGanV2Trainer.Networks n = t.networks();
        StarGanV2Trainer.Networks a = t.ema();
        ComputationGraph[] nets = {n.generator(), n.mappingNetwork(), n.styleEncoder(), n.discriminator()};
        ComputationGraph[] avgs = {a.generator(), a.mappingNetwork(), a.styleEncoder()};
        for (int i = 0; i < 4; i++) {
            String name = StarGanV2Trainer.NAMES.get(i);
            double bound = tolerance;
            if (type.equals("float32")) {
                bound = Math.max(tolerance, maxDifference("float32.nets." + name + ".", "float64.nets." + name + "."));
            }
            assertClose(type + ".nets." + name + ".", StateDict.of(nets[i]), bound);
            if (i < 3) {
                assertClose(type + ".ema." + name + ".", StateDict.of(avgs[i]), tolerance);
            }
        }
    }

    /** PyTorch's float run against its double run: the largest difference over one network's tensors. */
    private static double maxDifference(String floatPrefix, String doublePrefix) {
        double worst = 0;
        for (Map.Entry<String, INDArray> e : fx.entrySet()) {
            if (e.getKey().startsWith(floatPrefix)) {
                INDArray exact = fx.get(doublePrefix + e.getKey().substring(floatPrefix.length()));
                worst = Math.max(
                        worst,
                        e.getValue()
                                .castTo(DataType.DOUBLE)
                                .sub(exact)
                                .amaxNumber()
                                .doubleValue());
            }
        }
        System.out.printf("PyTorch float vs double, %s: %.3g%n", floatPrefix, worst);
        return worst;
    }

    private static void assertClose(String prefix, StateDict actual, double tolerance) {
        int compared = 0;
        double worst = 0;
        String where = "";
        for (String key : actual.keys()) {
            INDArray e = fx.get(prefix + key);
            assertNotNull(e, "no fixture " + prefix + key);
            INDArray got = actual.get(key).castTo(DataType.DOUBLE).reshape(e.shape());
            double d = got.sub(e.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
            if (d > worst) {
                worst = d;
                where = key;
            }
            compared++;
        }
        System.out.printf("%s: %d tensors, max |a - e| %.3g (%s)%n", prefix, compared, worst, where);
        assertTrue(compared > 0, prefix);
        assertTrue(worst <= tolerance, prefix + where + ": max |a - e| " + worst + " > " + tolerance);
    }

    /**
     * Adam's state after the two iterations, numbered in PyTorch's order: every step count exact in both runs (G and D
     * 6, F and E 3), and the double run's moments within 1e-7 of PyTorch's relative to their norm over each network
     * (measured: 9e-9 for G; R1's central difference and libnd4j's float LeakyReLU slope in its backward, 0.2f, leave
     * about 1e-8 in double gradients).
     * (In float, {@code exp_avg} is the last gradient ({@code beta1 = 0}), in which an L1 term's sign flips where an
     * output and its target tie to float rounding: one flipped pixel moves G's gradient by a few percent.)
     */
    @Test
    void optimizerStatesFollowPyTorch() {
        for (String type : List.of("float32", "float64")) {
            StarGanV2Trainer t = type.equals("float32") ? floatRun : doubleRun;
            for (String name : StarGanV2Trainer.NAMES) {
                List<String> order = StarGanV2.parameterNames(network(t, name));
                OptimizerState s = t.optimizer(name).state(order);
                int steps = name.equals("generator") || name.equals("discriminator") ? 6 : 3;
                double diff = 0;
                double norm = 0;
                for (int i = 0; i < order.size(); i++) {
                    String key = type + ".optims." + name + "." + i + ".";
                    OptimizerState.ParamState ps = s.state(i).orElseThrow();
                    assertEquals(fx.get(key + "step").getDouble(0), ps.step(), name + " " + order.get(i));
                    assertEquals(steps, ps.step(), name + " " + order.get(i));
                    if (type.equals("float64")) {
                        for (String moment : List.of("exp_avg", "exp_avg_sq")) {
                            INDArray e = fx.get(key + moment);
                            INDArray a = moment.equals("exp_avg") ? ps.expAvg() : ps.expAvgSq();
                            diff += Math.pow(a.reshape(e.shape()).distance2(e), 2);
                            norm += Math.pow(e.norm2Number().doubleValue(), 2);
                        }
                    }
                }
                if (type.equals("float64")) {
                    double relative = Math.sqrt(diff / norm);
                    System.out.printf("%s moments: relative difference %.3g%n", name, relative);
                    assertTrue(relative <= 1e-7, name + " moments: relative difference " + relative);
                }
            }
        }
    }

    /**
     * The optimizer numbers parameters in PyTorch's {@code named_parameters()} order: the order of the tensors of each
     * network in the PyTorch-written checkpoint (a state dict keeps that order; these modules have no buffers).
     */
    @Test
    void parameterOrderIsPyTorchs() throws Exception {
        StateDict file = StateDict.read(RUN.resolve("000001_nets.ckpt"));
        for (String name : StarGanV2Trainer.NAMES) {
            assertEquals(file.select(name).keys(), StarGanV2.parameterNames(network(floatRun, name)), name);
        }
    }

    /**
     * Written back in the official layout, the run resumes on the JVM bit for bit (networks, averages, steps and
     * moments); {@code verify_stargan_v2_train_written.py} loads the same files into PyTorch's modules and optimizers
     * and continues the run there.
     */
    @Test
    void savedRunResumesExactly() throws Exception {
        Path dir = Paths.get("target/starganv2-train-written");
        Path nets = floatRun.save(dir);
        assertEquals("000003_nets.ckpt", nets.getFileName().toString());
        StarGanV2Trainer back = StarGanV2Trainer.resume(dir, 3, OPTIONS);
        assertEquals(3, back.iteration());
        for (String name : StarGanV2Trainer.NAMES) {
            assertEquals(network(floatRun, name).params(), network(back, name).params(), name);
            List<String> order = StarGanV2.parameterNames(network(back, name));
            OptimizerState a = floatRun.optimizer(name).state(order);
            OptimizerState b = back.optimizer(name).state(order);
            for (int i = 0; i < order.size(); i++) {
                OptimizerState.ParamState x = a.state(i).orElseThrow();
                OptimizerState.ParamState y = b.state(i).orElseThrow();
                assertEquals(x.step(), y.step());
                assertEquals(x.expAvg(), y.expAvg(), name + " " + order.get(i));
                assertEquals(x.expAvgSq(), y.expAvgSq(), name + " " + order.get(i));
            }
        }
        assertEquals(floatRun.ema().generator().params(), back.ema().generator().params());
        assertEquals(
                floatRun.ema().mappingNetwork().params(),
                back.ema().mappingNetwork().params());
        assertEquals(
                floatRun.ema().styleEncoder().params(),
                back.ema().styleEncoder().params());
    }

    /** A missing optimizer entry, or states of another configuration, name the problem. */
    @Test
    void badCheckpointsAreRefusedClearly(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        for (String f : List.of("000001_nets.ckpt", "000001_nets_ema.ckpt")) {
            java.nio.file.Files.copy(RUN.resolve(f), tmp.resolve(f));
        }
        Map<String, OptimizerState> optims = OptimizerState.readAll(RUN.resolve("000001_optims.ckpt"));
        Map<String, OptimizerState> missing = new java.util.LinkedHashMap<>(optims);
        missing.remove("style_encoder");
        OptimizerState.writeAll(missing, tmp.resolve("000001_optims.ckpt"));
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(
                java.io.IOException.class, () -> StarGanV2Trainer.resume(tmp, 1, OPTIONS));
        assertTrue(e.getMessage().contains("no \"style_encoder\" optimizer"), e.getMessage());

        Map<String, OptimizerState> swapped = new java.util.LinkedHashMap<>(optims);
        swapped.put("style_encoder", optims.get("discriminator"));
        OptimizerState.writeAll(swapped, tmp.resolve("000001_optims.ckpt"));
        e = org.junit.jupiter.api.Assertions.assertThrows(
                java.io.IOException.class, () -> StarGanV2Trainer.resume(tmp, 1, OPTIONS));
        assertTrue(e.getMessage().contains("another model or configuration"), e.getMessage());

        e = org.junit.jupiter.api.Assertions.assertThrows(
                java.io.IOException.class, () -> StarGanV2Trainer.resume(tmp, 2, OPTIONS));
        assertTrue(e.getMessage().contains("000002_nets.ckpt"), e.getMessage());
    }

    /**
     * Whole checkpoints of another model or configuration: StarGAN v1's generator state dict as {@code nets.ckpt},
     * the networks of another width with this run's optimizer states, and averages of another width than the
     * networks. Each is named, and no trainer comes of it.
     */
    @Test
    void wholeCheckpointsOfAnotherModelAreRefusedClearly(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        java.nio.file.Files.copy(RUN.resolve("000001_optims.ckpt"), tmp.resolve("000001_optims.ckpt"));
        java.nio.file.Files.copy(RUN.resolve("000001_nets_ema.ckpt"), tmp.resolve("000001_nets_ema.ckpt"));
        ComputationGraph v1 = io.github.instancenorm.zoo.StarGan.generator()
                .convDim(8)
                .cDim(3)
                .repeatNum(1)
                .imageSize(16)
                .build();
        StateDict.of(v1).writeTorch(tmp.resolve("000001_nets.ckpt"));
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(
                java.io.IOException.class, () -> StarGanV2Trainer.resume(tmp, 1, OPTIONS));
        System.out.println("StarGAN v1's G as nets.ckpt: " + e.getMessage());
        assertTrue(e.getMessage().contains("000001_nets.ckpt"), e.getMessage());

        // The run is 16 px, 3 domains, style 8, dim_in 8, max_conv_dim 16; these networks are twice as wide.
        ComputationGraph g = StarGanV2.generator()
                .wHpf(0)
                .imageSize(16)
                .dimIn(16)
                .maxConvDim(32)
                .styleDim(8)
                .build();
        ComputationGraph f = StarGanV2.mappingNetwork()
                .latentDim(4)
                .hidden(32)
                .styleDim(8)
                .domains(3)
                .build();
        ComputationGraph se = StarGanV2.styleEncoder()
                .imageSize(16)
                .dimIn(16)
                .maxConvDim(32)
                .styleDim(8)
                .domains(3)
                .build();
        ComputationGraph d = StarGanV2.discriminator()
                .imageSize(16)
                .dimIn(16)
                .maxConvDim(32)
                .domains(3)
                .build();
        StarGanV2.save(tmp.resolve("000001_nets.ckpt"), new StarGanV2.Nets(g, f, se, d, 0, 0, List.of()));
        e = org.junit.jupiter.api.Assertions.assertThrows(
                java.io.IOException.class, () -> StarGanV2Trainer.resume(tmp, 1, OPTIONS));
        System.out.println("nets of another width, the run's averages: " + e.getMessage());
        assertTrue(e.getMessage().contains("moving average"), e.getMessage());

        StarGanV2.save(tmp.resolve("000001_nets_ema.ckpt"), new StarGanV2.Nets(g, f, se, null, 0, 0, List.of()));
        e = org.junit.jupiter.api.Assertions.assertThrows(
                java.io.IOException.class, () -> StarGanV2Trainer.resume(tmp, 1, OPTIONS));
        System.out.println("nets and averages of another width, the run's optimizers: " + e.getMessage());
        assertTrue(e.getMessage().contains("another model or configuration"), e.getMessage());
    }

    /** A state that does not fit changes nothing in the optimizer it was offered to. */
    @Test
    void failedLoadLeavesTheOptimizerAlone() {
        TorchAdamOptimizer d = doubleRun.optimizer("discriminator");
        List<String> order = StarGanV2.parameterNames(doubleRun.networks().discriminator());
        OptimizerState before = d.state(order);
        OptimizerState other = doubleRun
                .optimizer("style_encoder")
                .state(StarGanV2.parameterNames(doubleRun.networks().styleEncoder()));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> d.load(other, order));
        OptimizerState after = d.state(order);
        for (int i = 0; i < order.size(); i++) {
            assertEquals(
                    before.state(i).orElseThrow().expAvg(),
                    after.state(i).orElseThrow().expAvg());
            assertEquals(
                    before.state(i).orElseThrow().step(),
                    after.state(i).orElseThrow().step());
        }
    }

    static ComputationGraph network(StarGanV2Trainer t, String name) {
        return switch (name) {
            case "generator" -> t.networks().generator();
            case "mapping_network" -> t.networks().mappingNetwork();
            case "style_encoder" -> t.networks().styleEncoder();
            default -> t.networks().discriminator();
        };
    }
}
