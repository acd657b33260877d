package io.github.instancenorm.learning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.TorchAdamFixtures;
import io.github.instancenorm.testutil.TorchAdamFixtures.Case;
import io.github.instancenorm.testutil.TorchAdamNets;
import io.github.instancenorm.testutil.TorchAdamNets.Errors;
import io.github.instancenorm.testutil.TorchAdamNets.Layout;
import java.io.File;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;

/**
 * {@link TorchAdam} against {@code torch.optim.Adam} and {@code AdamW} ({@code gen_torch_adam_fixtures.py}, 100
 * steps each): the updater alone, with DL4J's {@code L2Regularization} (Adam's {@code weight_decay}) or
 * {@link DecoupledWeightDecay} (AdamW's) applied as DL4J's updater block applies them; a network's updater; and a
 * network saved and restored half-way.
 *
 * <p>Tolerances, at every step: parameters {@code |a - e| <= tol (1 + |e|)}, state {@code |a - e| <= tol max|e|}
 * over each parameter's array; {@code tol} {@value #FLOAT_TOLERANCE} in float, {@value #DOUBLE_TOLERANCE} in
 * double.
 */
class TorchAdamFixtureTest {

    static final double FLOAT_TOLERANCE = 1e-6;
    static final double DOUBLE_TOLERANCE = 1e-12;

    static List<Case> cases() {
        return TorchAdamFixtures.cases();
    }

    static List<Case> decoupledCases() {
        return cases().stream().filter(Case::decoupled).toList();
    }

    static double tolerance(Case c) {
        return c.dataType() == DataType.DOUBLE ? DOUBLE_TOLERANCE : FLOAT_TOLERANCE;
    }

    @ParameterizedTest
    @MethodSource("cases")
    void theUpdaterAloneStepsAsPyTorch(Case c) {
        Errors errors = alone(c, new DecoupledWeightDecay(c.weightDecay()));
        System.out.println("TorchAdam alone, " + c + ": " + errors);
        errors.assertWithin(tolerance(c), tolerance(c));
    }

    /**
     * DL4J's own weight decay is AdamW's in exact arithmetic, but PyTorch rounds its factor {@code 1 - lr wd} to the
     * parameters' type, and the difference adds up over the steps.
     */
    @ParameterizedTest
    @MethodSource("decoupledCases")
    void dl4jsWeightDecayIsAdamWUpToTheRoundingOfItsFactor(Case c) {
        Errors errors = alone(c, new WeightDecay(c.weightDecay(), true));
        System.out.println("TorchAdam alone with DL4J's WeightDecay, " + c + ": " + errors);
        errors.assertWithin(c.dataType() == DataType.DOUBLE ? DOUBLE_TOLERANCE : 5e-6, tolerance(c));
    }

    /** Runs the case on the updater alone, with {@code decay} as AdamW's weight decay. */
    private static Errors alone(Case c, Regularization decay) {
        TorchAdam config = c.updater();
        INDArray p = Nd4j.createFromArray(c.flat("init", 0)).castTo(c.dataType());
        int n = c.size();
        int[] same = IntStream.range(0, n).toArray();
        TorchAdamUpdater updater =
                (TorchAdamUpdater) config.instantiate(Nd4j.zeros(c.dataType(), 1, config.stateSize(n)), true);
        Errors errors = new Errors();
        for (int step = 0; step < TorchAdamFixtures.STEPS; step++) {
            INDArray g = Nd4j.createFromArray(c.flat("grad", step)).castTo(c.dataType());
            double lr = config.getLearningRate(step, 0);
            // As DL4J's UpdaterBlock: L2 before the updater, weight decay after it; then params -= update.
            if (c.weightDecay() > 0 && !c.decoupled()) {
                new L2Regularization(c.weightDecay()).apply(p, g, lr, step, 0);
            }
            updater.applyUpdater(g, step, 0);
            if (c.weightDecay() > 0 && c.decoupled()) {
                decay.apply(p, g, lr, step, 0);
            }
            p.subi(g);
            errors.params("step " + step, c.flat("param", step), p.toDoubleVector(), same);
            List<INDArray> state = c.amsgrad()
                    ? List.of(updater.getM(), updater.getV(), updater.getMaxV())
                    : List.of(updater.getM(), updater.getV());
            for (int k = 0; k < state.size(); k++) {
                String name = c.stateNames().get(k);
                errors.state(
                        name + " step " + step,
                        c,
                        c.flat(name, step),
                        state.get(k).toDoubleVector(),
                        same);
            }
        }
        return errors;
    }

    /**
     * Steps {@code net} from {@code from} (inclusive) to {@code to} (exclusive) on the case's gradients, through
     * {@code net.getUpdater().update} and {@code params -= update}, as DL4J's solver.
     */
    static void steps(Case c, MultiLayerNetwork net, int from, int to, Errors errors) {
        Layout layout = Layout.of(net);
        Gradient gradient = TorchAdamNets.gradientView(net);
        for (int step = from; step < to; step++) {
            layout.setGradient(net, c, step);
            net.getUpdater().update(net, gradient, step, 0, 1, LayerWorkspaceMgr.noWorkspaces());
            net.params().subi(gradient.gradient());
            errors.network(c, step, net, layout);
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void aNetworksUpdaterStepsAsPyTorch(Case c) {
        MultiLayerNetwork net = TorchAdamNets.network(c);
        assertEquals(
                1,
                ((BaseMultiLayerUpdater<?>) net.getUpdater()).getUpdaterBlocks().size(),
                "equal configurations share one updater block");
        Errors errors = new Errors();
        steps(c, net, 0, TorchAdamFixtures.STEPS, errors);
        System.out.println("TorchAdam in a network, " + c + ": " + errors);
        errors.assertWithin(tolerance(c), tolerance(c));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void aNetworkSavedHalfWayContinuesAsPyTorch(Case c, @TempDir Path dir) throws Exception {
        int half = TorchAdamFixtures.STEPS / 2;
        MultiLayerNetwork straight = TorchAdamNets.network(c);
        steps(c, straight, 0, TorchAdamFixtures.STEPS, new Errors());

        MultiLayerNetwork first = TorchAdamNets.network(c);
        steps(c, first, 0, half, new Errors());
        // The configuration through JSON; the parameters and updater state through ModelSerializer.
        String json = first.getLayerWiseConfigurations().toJson();
        assertTrue(json.contains("\"@class\" : \"io.github.instancenorm.learning.TorchAdam\""), json);
        MultiLayerConfiguration conf = MultiLayerConfiguration.fromJson(json);
        assertEquals(first.getLayerWiseConfigurations(), conf);
        File file = dir.resolve("net.zip").toFile();
        ModelSerializer.writeModel(first, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        assertEquals(conf, restored.getLayerWiseConfigurations());
        assertEquals(c.updater(), restored.getLayer(1).conf().getLayer().getUpdaterByParam("b"));

        Errors errors = new Errors();
        steps(c, restored, half, TorchAdamFixtures.STEPS, errors);
        System.out.println("TorchAdam after a save and restore, " + c + ": " + errors);
        errors.assertWithin(tolerance(c), tolerance(c));
        // And to the bit the run that was never saved.
        assertArrayEquals(straight.params().toDoubleVector(), restored.params().toDoubleVector());
        assertArrayEquals(
                straight.getUpdater().getStateViewArray().toDoubleVector(),
                restored.getUpdater().getStateViewArray().toDoubleVector());
    }
}
