package io.github.instancenorm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.speedups.Speedups;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import io.github.instancenorm.zoo.StarGan;
import java.io.File;
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
import org.nd4j.linalg.learning.config.Adam;

/**
 * Two whole iterations of {@link StarGanTrainer} against a PyTorch transcription of its step
 * ({@code src/test/python/gen_stargan_v1_train_fixtures.py}, float64 autograd and DL4J's Adam formula), from the same
 * initial weights and inputs: LSGAN with the identity term, and WGAN-GP with {@code n_critic = 2} (an iteration
 * without and one with a generator step). Every loss term of both iterations, and every parameter and running
 * statistic afterwards, measured over each whole network as {@code ‖p - p_torch‖ / ‖p_torch - p_init‖}.
 *
 * <p>The networks are built as the example trains them (the zoo's builders, {@code Speedups.install}), in double,
 * where the only differences left are summation orders and the gradient penalty's finite difference; and in float,
 * the shipping path (oneDNN convolutions, the Adam kernel), against the same double reference.
 */
class StarGanTrainerTorchTest {

    private static final Path FIXTURES = Paths.get("src/test/resources/fixtures/stargan-v1-train");
    private static final int IMAGE = 16;
    private static final int CONV_DIM = 4;
    private static final int C_DIM = 3;
    private static final int G_REPEAT = 2;
    private static final int D_REPEAT = 2;
    private static final String[] TERMS = {
        "dReal", "dFake", "dClass", "dPenalty", "gAdversarial", "gClass", "gReconstruction", "gIdentity"
    };

    private static Map<String, INDArray> init;

    @BeforeAll
    static void load() throws Exception {
        init = Nd4j.createFromNpzFile(FIXTURES.resolve("init.npz").toFile());
    }

    /**
     * In double, loss terms within 1e-9 relative, and G's parameters and running statistics within 1e-9 of the update
     * (measured: terms 7.6e-11 at most, G 7.5e-11 and 4.5e-11, running statistics 2.3e-13). D's parameters within
     * 1e-7 (measured 3.5e-8 LSGAN, 3.4e-9 WGAN-GP): libnd4j's LeakyReLU backward ({@code lrelu_bp}) takes its slope
     * as a float, {@code 0.01f = 0.01·(1 - 2.2e-8)}; with that slope in the transcription's backward, D agreed to
     * 6.7e-15 (LSGAN) and 3.4e-9 (WGAN-GP: the rest is the gradient penalty's finite difference).
     *
     * <p>In float, loss terms within 1e-5 (measured 8.4e-7 at most), and each network within 10 times the distance
     * at which PyTorch's own float32 run of the same two iterations ends from its float64 run (recorded in the
     * fixture: 6.1e-3 and 7.9e-3 of the update for G, where float32 Adam amplifies rounding in elements whose second
     * step nearly cancels; 4.0e-6 and 8.5e-7 for D). Measured: 0.5 to 3.4 times PyTorch's.
     */
    @ParameterizedTest(name = "{0}, {1}")
    @CsvSource({"lsgan_identity, DOUBLE", "wgangp_ncritic2, DOUBLE", "lsgan_identity, FLOAT", "wgangp_ncritic2, FLOAT"})
    void twoIterationsMatchPyTorch(String name, DataType type) throws Exception {
        File file = FIXTURES.resolve(name + ".npz").toFile();
        Map<String, INDArray> fx = Nd4j.createFromNpzFile(file);
        boolean inDouble = type == DataType.DOUBLE;
        double[] w = fx.get("weights").toDoubleVector();
        double[] lr = fx.get("lr").toDoubleVector();
        double[] adam = fx.get("adam").toDoubleVector();
        ComputationGraph g = generator(type, lr[0], adam);
        ComputationGraph d = discriminator(type, lr[1], adam);
        StarGanTrainer trainer = new StarGanTrainer(g, d, new StarGanTrainer.LossWeights(w[0], w[1], w[2]));
        boolean wgan = w[3] > 0;
        if (wgan) {
            trainer.wganGp(w[3], (int) w[4]);
        }

        List<String> failures = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            String it = "it" + i + ".";
            StarGanTrainer.Losses l = trainer.step(
                    fx.get(it + "real").castTo(type),
                    fx.get(it + "labels").castTo(type),
                    fx.get(it + "targets").castTo(type),
                    wgan ? fx.get(it + "alpha").castTo(type) : null);
            double[] actual = {
                l.dReal(),
                l.dFake(),
                l.dClass(),
                l.dPenalty(),
                l.gAdversarial(),
                l.gClass(),
                l.gReconstruction(),
                l.gIdentity()
            };
            for (int k = 0; k < TERMS.length; k++) {
                double expected = fx.get(it + TERMS[k]).getDouble(0);
                double error = Math.abs(actual[k] - expected) / Math.abs(expected);
                System.out.printf(
                        "%s %s iteration %d %-15s %.12g vs torch %.12g, relative error %.2e%n",
                        name, type, i, TERMS[k], actual[k], expected, error);
                boolean ok = Double.isNaN(expected)
                        ? Double.isNaN(actual[k])
                        : expected == 0 ? actual[k] == 0 : error <= (inDouble ? 1e-9 : 1e-5);
                if (!ok) {
                    failures.add("iteration " + i + " " + TERMS[k] + ": " + actual[k] + " vs " + expected);
                }
            }
        }
        String run = name + " " + type;
        if (inDouble) {
            compare(run, "G", g, fx, new double[] {1e-9, 1e-9}, failures);
            compare(run, "D", d, fx, new double[] {1e-7, 0}, failures);
        } else {
            compare(
                    run,
                    "G",
                    g,
                    fx,
                    new double[] {10 * torchFloat32(fx, "G.parameters"), 10 * torchFloat32(fx, "G.running")},
                    failures);
            compare(run, "D", d, fx, new double[] {10 * torchFloat32(fx, "D.parameters"), 0}, failures);
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    /** The fixture's generator, with its initial weights, as the example builds it. */
    private static ComputationGraph generator(DataType type, double lr, double[] adam) {
        ComputationGraph g = StarGan.generator()
                .convDim(CONV_DIM)
                .cDim(C_DIM)
                .repeatNum(G_REPEAT)
                .imageSize(IMAGE)
                .dataType(type)
                .updater(new Adam(lr, adam[0], adam[1], adam[2]))
                .inputGradients(true)
                .build();
        TorchWeights.load(g, stateDict(init, "G."));
        Speedups.install(g);
        return g;
    }

    /** The fixture's discriminator, with its initial weights, as the example builds it. */
    private static ComputationGraph discriminator(DataType type, double lr, double[] adam) {
        ComputationGraph d = StarGan.discriminator()
                .convDim(CONV_DIM)
                .cDim(C_DIM)
                .repeatNum(D_REPEAT)
                .imageSize(IMAGE)
                .dataType(type)
                .updater(new Adam(lr, adam[0], adam[1], adam[2]))
                .inputGradients(true)
                .build();
        TorchWeights.load(d, stateDict(init, "D."));
        Speedups.install(d);
        return d;
    }

    @Test
    void interpolationWeightsOfTheWrongCountChangeNothing() {
        double[] adam = {0.5, 0.999, 1e-8};
        ComputationGraph g = generator(DataType.DOUBLE, 1e-3, adam);
        ComputationGraph d = discriminator(DataType.DOUBLE, 1e-3, adam);
        INDArray gBefore = g.params().dup();
        INDArray dBefore = d.params().dup();
        StarGanTrainer trainer = new StarGanTrainer(g, d, StarGanTrainer.LossWeights.STARGAN).wganGp(10, 1);
        INDArray real = Nd4j.rand(DataType.DOUBLE, 2, 3, IMAGE, IMAGE);
        INDArray labels = Nd4j.createFromArray(new double[][] {{1, 0, 0}, {0, 1, 1}});
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> trainer.step(real, labels, labels, Nd4j.createFromArray(0.5, 0.5, 0.5)));
        assertTrue(e.getMessage().contains("one interpolation weight per image, 2, got shape [3]"), e.getMessage());
        assertEquals(0, trainer.iteration());
        assertEquals(gBefore, g.params());
        assertEquals(dBefore, d.params());
    }

    /** @return how far PyTorch's float32 run ended from its float64 run, relative to the update */
    private static double torchFloat32(Map<String, INDArray> fx, String what) {
        return fx.get("torch_float32." + what).getDouble(0);
    }

    /** The tensors under {@code prefix} as a state dict, with the counters PyTorch's instance norms leave at 0. */
    private static StateDict stateDict(Map<String, INDArray> arrays, String prefix) {
        StateDict sd = new StateDict();
        for (Map.Entry<String, INDArray> e : arrays.entrySet()) {
            if (e.getKey().startsWith(prefix)) {
                String key = e.getKey().substring(prefix.length());
                sd.put(key, e.getValue());
                if (key.endsWith(".running_mean")) {
                    String layer = key.substring(0, key.length() - ".running_mean".length());
                    sd.put(layer + ".num_batches_tracked", Nd4j.scalar(DataType.LONG, 0));
                }
            }
        }
        return sd;
    }

    /**
     * Compares a network's state dict with the fixture's, over the whole network: learned parameters and running
     * statistics apart, each as {@code ‖p - p_torch‖ / ‖p_torch - p_init‖} within {@code tolerance[0]} and
     * {@code tolerance[1]}. {@code num_batches_tracked} is left out: PyTorch's instance norms do not count it.
     */
    private static void compare(
            String run,
            String net,
            ComputationGraph graph,
            Map<String, INDArray> fx,
            double[] tolerance,
            List<String> failures) {
        StateDict sd = StateDict.of(graph);
        String prefix = "final." + net + ".";
        for (String key : fx.keySet()) {
            if (key.startsWith(prefix) && !sd.contains(key.substring(prefix.length()))) {
                failures.add(key + ": no such entry in the DL4J " + net);
            }
        }
        double[] diff2 = new double[2];
        double[] update2 = new double[2];
        double[] maxAbs = new double[2];
        for (String key : sd.keys()) {
            if (key.endsWith("num_batches_tracked")) {
                continue;
            }
            int kind = key.endsWith("running_mean") || key.endsWith("running_var") ? 1 : 0;
            INDArray actual = sd.get(key).castTo(DataType.DOUBLE);
            INDArray expected = fx.get(prefix + key);
            if (expected == null) {
                failures.add(net + " " + key + ": not in the fixture");
                continue;
            }
            expected = expected.reshape(actual.shape());
            INDArray before = init.get(net + "." + key).reshape(actual.shape());
            INDArray diff = actual.sub(expected);
            diff2[kind] += Math.pow(diff.norm2Number().doubleValue(), 2);
            update2[kind] += Math.pow(expected.sub(before).norm2Number().doubleValue(), 2);
            maxAbs[kind] = Math.max(maxAbs[kind], diff.amaxNumber().doubleValue());
        }
        String[] kinds = {"parameters", "running stats"};
        for (int kind = 0; kind < 2; kind++) {
            if (kind == 1 && update2[kind] == 0 && diff2[kind] == 0) {
                continue; // D has no running statistics
            }
            double update = Math.sqrt(update2[kind]);
            double relative = Math.sqrt(diff2[kind]) / update;
            System.out.printf(
                    "%s %s %-13s |update| %.4e, max |p - p_torch| %.2e, |p - p_torch| / |update| %.2e%n",
                    run, net, kinds[kind], update, maxAbs[kind], relative);
            if (!(update > 0)) {
                failures.add(net + " " + kinds[kind] + ": PyTorch's run did not change them");
            }
            if (!(relative <= tolerance[kind])) {
                failures.add(net + " " + kinds[kind] + ": |p - p_torch| / |update| = " + relative + " (max abs diff "
                        + maxAbs[kind] + ")");
            }
        }
    }
}
