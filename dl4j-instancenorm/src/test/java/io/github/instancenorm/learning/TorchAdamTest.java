package io.github.instancenorm.learning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.schedule.ExponentialSchedule;
import org.nd4j.linalg.schedule.ScheduleType;
import org.nd4j.linalg.schedule.StepSchedule;

/** {@link TorchAdam}'s configuration, its updater's contract and rounding, and {@link DecoupledWeightDecay}. */
class TorchAdamTest {

    @Test
    void theDefaultsArePyTorchs() {
        // torch.optim.Adam(params): lr=1e-3, betas=(0.9, 0.999), eps=1e-8, amsgrad=False
        TorchAdam a = new TorchAdam();
        assertEquals(1e-3, a.getLearningRate());
        assertEquals(0.9, a.getBeta1());
        assertEquals(0.999, a.getBeta2());
        assertEquals(1e-8, a.getEpsilon());
        assertFalse(a.isAmsgrad());
        assertNull(a.getLearningRateSchedule());
        assertEquals(a, TorchAdam.builder().build());
        assertEquals(
                new TorchAdam(1e-4, 0.0, 0.99),
                TorchAdam.builder().learningRate(1e-4).betas(0.0, 0.99).build());
    }

    @ParameterizedTest
    @CsvSource({
        "-1e-3, 0.9, 0.999, 1e-8, learningRate must be finite and at least 0; got -0.001",
        "NaN, 0.9, 0.999, 1e-8, learningRate must be finite and at least 0; got NaN",
        "1e-3, -0.1, 0.999, 1e-8, 'beta1 must be in [0, 1), as PyTorch''s betas[0]; got -0.1'",
        "1e-3, 1.0, 0.999, 1e-8, 'beta1 must be in [0, 1), as PyTorch''s betas[0]; got 1.0'",
        "1e-3, 0.9, 1.0, 1e-8, 'beta2 must be in [0, 1), as PyTorch''s betas[1]; got 1.0'",
        "1e-3, 0.9, 0.999, -1e-8, epsilon must be finite and at least 0; got -1.0E-8",
    })
    void refusesWhatPyTorchRefuses(double lr, double beta1, double beta2, double eps, String message) {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> new TorchAdam(lr, beta1, beta2, eps, false));
        assertEquals(message, e.getMessage());
    }

    @Test
    void stateAndLearningRate() {
        TorchAdam plain = new TorchAdam(1e-2);
        TorchAdam ams = TorchAdam.builder().amsgrad(true).build();
        assertEquals(20, plain.stateSize(10));
        assertEquals(30, ams.stateSize(10));
        assertTrue(plain.hasLearningRate());

        TorchAdam scheduled = TorchAdam.builder()
                .learningRateSchedule(new StepSchedule(ScheduleType.ITERATION, 1e-2, 0.5, 2))
                .betas(0.5, 0.9)
                .build();
        assertEquals(1e-2, scheduled.getLearningRate(1, 0));
        assertEquals(5e-3, scheduled.getLearningRate(2, 0));
        // step_size = lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t), t = iteration + 1
        assertEquals(5e-3 / (1 - 0.125), scheduled.stepSize(2, 0));
        assertEquals(Math.sqrt(1 - Math.pow(0.9, 3)), scheduled.biasCorrection2Sqrt(2));

        scheduled.setLrAndSchedule(3e-3, null);
        assertEquals(3e-3, scheduled.getLearningRate(7, 1));
    }

    @Test
    void equalsHashCodeAndClone() {
        TorchAdam a = TorchAdam.builder()
                .learningRateSchedule(new ExponentialSchedule(ScheduleType.EPOCH, 1e-3, 0.9))
                .amsgrad(true)
                .build();
        TorchAdam b = a.clone();
        assertNotSame(a, b);
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        b.setLrAndSchedule(1e-2, null);
        assertNotEquals(a, b);
        assertEquals(new ExponentialSchedule(ScheduleType.EPOCH, 1e-3, 0.9), a.getLearningRateSchedule());
        assertNotEquals(new TorchAdam(1e-3), TorchAdam.builder().amsgrad(true).build());
        assertNotEquals(new TorchAdam(1e-3), new org.nd4j.linalg.learning.config.Adam(1e-3));
        assertEquals("TorchAdam(lr=0.001, betas=(0.9, 0.999), eps=1.0E-8, amsgrad=false)", new TorchAdam().toString());
    }

    @Test
    void theUpdatersStateContract() {
        TorchAdam config = TorchAdam.builder().amsgrad(true).build();
        TorchAdamUpdater u = new TorchAdamUpdater(config);
        IllegalStateException none =
                assertThrows(IllegalStateException.class, () -> u.applyUpdater(Nd4j.ones(DataType.FLOAT, 4), 0, 0));
        assertEquals("TorchAdamUpdater has no state: call setStateViewArray or setState", none.getMessage());

        INDArray view = Nd4j.rand(DataType.FLOAT, 1, 12);
        IllegalArgumentException wrong = assertThrows(
                IllegalArgumentException.class, () -> u.setStateViewArray(view, new long[] {5}, 'c', true));
        assertEquals(
                "TorchAdam's state for 5 parameters is a vector of 15 elements; got shape [1, 12]", wrong.getMessage());

        u.setStateViewArray(view, new long[] {4}, 'c', true);
        assertEquals(0, view.sumNumber().doubleValue());
        assertEquals(List.of("M", "V", "V_MAX"), List.copyOf(u.getState().keySet()));
        u.getMaxV().assign(3);
        assertEquals(12, view.sumNumber().doubleValue(), "the state arrays are views of the state view array");

        Map<String, INDArray> two = new LinkedHashMap<>();
        two.put("M", Nd4j.zeros(DataType.FLOAT, 4));
        two.put("V", Nd4j.zeros(DataType.FLOAT, 4));
        IllegalStateException keys = assertThrows(IllegalStateException.class, () -> u.setState(two, false));
        assertEquals("TorchAdam with amsgrad expects state M, V and V_MAX; got [M, V]", keys.getMessage());

        TorchAdamUpdater plain = (TorchAdamUpdater) new TorchAdam().instantiate(two, false);
        assertEquals(two, plain.getState());
        assertNull(plain.getMaxV());
    }

    /**
     * The ND4J-op form rounds each operation once, in PyTorch's order: the same bits as Java's float (or double)
     * arithmetic in that order. (PyTorch's AVX2 kernels fuse the two moment updates into multiply-adds; the fixture
     * tests measure what that leaves.)
     */
    @ParameterizedTest
    @CsvSource({"FLOAT, false", "FLOAT, true", "DOUBLE, true"})
    void eachOperationIsRoundedOnceInPyTorchsOrder(DataType type, boolean amsgrad) {
        int n = 1001;
        TorchAdam config = TorchAdam.builder()
                .learningRate(3e-3)
                .betas(0.5, 0.99)
                .epsilon(1e-6)
                .amsgrad(amsgrad)
                .build();
        INDArray view = Nd4j.zeros(type, 1, config.stateSize(n));
        TorchAdamUpdater u = (TorchAdamUpdater) config.instantiate(view, true);
        Nd4j.getRandom().setSeed(3);
        double[] m = new double[n];
        double[] v = new double[n];
        double[] vMax = new double[n];
        for (int it = 0; it < 4; it++) {
            INDArray g = Nd4j.randn(type, n).muli(it == 0 ? 1 : 0.01);
            double[] grad = g.toDoubleVector();
            u.applyUpdater(g, it, 0);
            double[] update = g.toDoubleVector();
            double b1 = config.getBeta1();
            double b2 = config.getBeta2();
            double ss = config.stepSize(it, 0);
            double bc2 = config.biasCorrection2Sqrt(it);
            double eps = config.getEpsilon();
            for (int i = 0; i < n; i++) {
                double expected;
                if (type == DataType.FLOAT) {
                    float gi = (float) grad[i];
                    float mi = (float) m[i] * (float) b1 + gi * (float) (1 - b1);
                    float vi = (float) v[i] * (float) b2 + gi * (float) (1 - b2) * gi;
                    float s = vi;
                    if (amsgrad) {
                        s = Math.max((float) vMax[i], vi);
                        vMax[i] = s;
                    }
                    m[i] = mi;
                    v[i] = vi;
                    expected = mi * (float) ss / ((float) Math.sqrt(s) / (float) bc2 + (float) eps);
                } else {
                    double gi = grad[i];
                    m[i] = m[i] * b1 + gi * (1 - b1);
                    v[i] = v[i] * b2 + gi * (1 - b2) * gi;
                    double s = v[i];
                    if (amsgrad) {
                        s = Math.max(vMax[i], s);
                        vMax[i] = s;
                    }
                    expected = m[i] * ss / (Math.sqrt(s) / bc2 + eps);
                }
                assertEquals(expected, update[i], 0.0, "update " + i + " at iteration " + it);
            }
            assertArrayEquals(m, u.getM().toDoubleVector(), "m at iteration " + it);
            assertArrayEquals(v, u.getV().toDoubleVector(), "v at iteration " + it);
            if (amsgrad) {
                assertArrayEquals(vMax, u.getMaxV().toDoubleVector(), "vMax at iteration " + it);
            }
        }
    }

    @Test
    void theDecoupledDecayTakesAwayWhatPyTorchsMultiplicationDoes() {
        DecoupledWeightDecay d = new DecoupledWeightDecay(1e-2);
        assertEquals(Regularization.ApplyStep.POST_UPDATER, d.applyStep());
        INDArray p = Nd4j.createFromArray(1.1938710f, -0.3f, 7.25f, 0f);
        INDArray update = Nd4j.createFromArray(1e-3f, -2e-3f, 0f, 5e-4f);
        INDArray expected = p.mul(1 - 1e-2 * 1e-2).subi(update); // PyTorch: p.mul_(1 - lr wd), then p - update
        d.apply(p, update, 1e-2, 0, 0);
        assertArrayEquals(expected.toFloatVector(), p.sub(update).toFloatVector());
        assertEquals(
                0.5 * 1e-2 * p.norm2Number().doubleValue() * p.norm2Number().doubleValue(), d.score(p, 0, 0));
        assertEquals(d, d.clone());
        assertEquals(d.hashCode(), new DecoupledWeightDecay(1e-2).hashCode());
        assertThrows(IllegalArgumentException.class, () -> new DecoupledWeightDecay(-1));
    }

    private static NeuralNetConfiguration.Builder global() {
        return new NeuralNetConfiguration.Builder()
                .updater(TorchAdam.builder()
                        .learningRateSchedule(new StepSchedule(ScheduleType.ITERATION, 1e-2, 0.5, 10))
                        .betas(0.0, 0.99)
                        .amsgrad(true)
                        .build());
    }

    @Test
    void aGraphsJsonKeepsTheUpdaterAndTheDecay() {
        List<Regularization> decay = List.of(new DecoupledWeightDecay(1e-4));
        ComputationGraphConfiguration conf = global().graphBuilder()
                .addInputs("in")
                .addLayer(
                        "dense",
                        new DenseLayer.Builder()
                                .nIn(3)
                                .nOut(4)
                                .regularization(decay)
                                .regularizationBias(decay)
                                .build(),
                        "in")
                .addLayer(
                        "out",
                        new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                .nIn(4)
                                .nOut(2)
                                .build(),
                        "dense")
                .setOutputs("out")
                .build();
        String json = conf.toJson();
        assertTrue(json.contains("io.github.instancenorm.learning.DecoupledWeightDecay"), json);
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(json);
        assertEquals(conf, back);
        ComputationGraph graph = new ComputationGraph(back);
        graph.init();
        BaseLayer dense = (BaseLayer) graph.getLayer("dense").conf().getLayer();
        assertEquals(List.of(new DecoupledWeightDecay(1e-4)), dense.getRegularizationByParam("W"));
        assertEquals(List.of(new DecoupledWeightDecay(1e-4)), dense.getRegularizationByParam("b"));
        TorchAdam expected = TorchAdam.builder()
                .learningRateSchedule(new StepSchedule(ScheduleType.ITERATION, 1e-2, 0.5, 10))
                .betas(0.0, 0.99)
                .amsgrad(true)
                .build();
        assertEquals(expected, dense.getUpdaterByParam("b"));
        assertEquals(expected, graph.getLayer("out").conf().getLayer().getUpdaterByParam("W"));
        assertEquals(
                3 * graph.numParams(), graph.getUpdater().getStateViewArray().length());
    }

    /**
     * DL4J 1.0.0-M2.1 puts a network-wide regularization other than L1 and L2 into each layer's list twice
     * ({@code copyConfigToLayer} copies the list, then {@code LayerValidation.configureBaseLayer} appends it to the
     * copy), so {@code .weightDecay(wd)} on {@code NeuralNetConfiguration.Builder} decays by {@code 2 wd}. On a layer
     * it is applied once. When this fails, DL4J has fixed it: update docs/training.md and dl4j-m2.1-notes.md.
     */
    @Test
    void dl4jM21AppliesANetworkWideWeightDecayTwice() {
        MultiLayerConfiguration networkWide = global().weightDecay(1e-2)
                .list()
                .layer(new DenseLayer.Builder().nIn(3).nOut(4).build())
                .build();
        BaseLayer layer = (BaseLayer) networkWide.getConf(0).getLayer();
        assertEquals(
                List.of(new WeightDecay(1e-2, true), new WeightDecay(1e-2, true)), layer.getRegularizationByParam("W"));
        MultiLayerConfiguration l2 = global().l2(1e-2)
                .list()
                .layer(new DenseLayer.Builder().nIn(3).nOut(4).build())
                .build();
        assertEquals(
                1,
                ((BaseLayer) l2.getConf(0).getLayer())
                        .getRegularizationByParam("W")
                        .size());
        MultiLayerConfiguration perLayer = global().list()
                .layer(new DenseLayer.Builder().nIn(3).nOut(4).weightDecay(1e-2).build())
                .build();
        assertEquals(
                List.of(new WeightDecay(1e-2, true)),
                ((BaseLayer) perLayer.getConf(0).getLayer()).getRegularizationByParam("W"));
    }
}
