package io.github.instancenorm.speedups.updater;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.learning.DecoupledWeightDecay;
import io.github.instancenorm.learning.TorchAdam;
import io.github.instancenorm.learning.TorchAdamUpdater;
import io.github.instancenorm.testutil.TorchAdamFixtures;
import io.github.instancenorm.testutil.TorchAdamFixtures.Case;
import io.github.instancenorm.testutil.TorchAdamNets;
import io.github.instancenorm.testutil.TorchAdamNets.Errors;
import io.github.instancenorm.testutil.TorchAdamNets.Layout;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link UpdaterKernels#torchAdam} against {@link TorchAdamUpdater}'s ND4J ops, to the bit; {@link FastUpdaters}
 * with {@link TorchAdam} against PyTorch's fixtures and DL4J's own update path.
 */
class TorchAdamKernelTest {

    /** Gradient and state as DL4J lays them out: views into a parameter array and a state array. */
    private record Arrays(INDArray gradient, INDArray m, INDArray v, INDArray maxV) {
        static Arrays random(DataType type, int length, boolean amsgrad, long seed) {
            Nd4j.getRandom().setSeed(seed);
            INDArray gradients = Nd4j.randn(type, 3 + length + 2).muli(0.1);
            INDArray state = Nd4j.rand(type, 3 * length + 6);
            INDArray m =
                    state.get(NDArrayIndex.interval(5, 5 + length)).subi(0.5).muli(0.2);
            INDArray v = state.get(NDArrayIndex.interval(length + 6, 2 * length + 6));
            v.muli(v).muli(0.01);
            INDArray maxV = null;
            if (amsgrad) {
                maxV = state.get(NDArrayIndex.interval(2 * length + 6, 3 * length + 6));
                maxV.muli(maxV).muli(0.012);
            }
            return new Arrays(gradients.get(NDArrayIndex.interval(3, 3 + length)), m, v, maxV);
        }

        Arrays copy() {
            return new Arrays(gradient.dup(), m.dup(), v.dup(), maxV == null ? null : maxV.dup());
        }

        /** TorchAdamUpdater's ND4J ops on these arrays. */
        void ops(TorchAdam config, int iteration) {
            Map<String, INDArray> state = new LinkedHashMap<>();
            state.put(TorchAdamUpdater.M_STATE, m);
            state.put(TorchAdamUpdater.V_STATE, v);
            if (maxV != null) {
                state.put(TorchAdamUpdater.MAX_V_STATE, maxV);
            }
            config.instantiate(state, false).applyUpdater(gradient, iteration, 0);
        }

        boolean kernel(UpdaterKernels.Loops loops, TorchAdam config, int iteration) {
            return UpdaterKernels.torchAdam(loops, gradient, m, v, maxV, config, iteration, 0);
        }

        void assertSameBits(Arrays expected, String what) {
            assertArrayEquals(expected.gradient.toFloatVector(), gradient.toFloatVector(), what + " update");
            assertArrayEquals(expected.m.toFloatVector(), m.toFloatVector(), what + " m");
            assertArrayEquals(expected.v.toFloatVector(), v.toFloatVector(), what + " v");
            if (maxV != null) {
                assertArrayEquals(expected.maxV.toFloatVector(), maxV.toFloatVector(), what + " vMax");
            }
        }
    }

    private static TorchAdam config(double beta1, double beta2, double eps, boolean amsgrad) {
        return TorchAdam.builder()
                .learningRate(2e-4)
                .betas(beta1, beta2)
                .epsilon(eps)
                .amsgrad(amsgrad)
                .build();
    }

    @ParameterizedTest
    @CsvSource({
        "1, 0.9, 0.999, 1e-8, false, 0",
        "15, 0.9, 0.999, 1e-8, true, 1",
        "16, 0.5, 0.999, 1e-8, false, 7",
        "17, 0, 0.99, 1e-8, true, 0",
        "1000, 0.9, 0.99, 1e-6, true, 4999",
        "98309, 0, 0.99, 1e-3, true, 100000"
    })
    void matchesTheNd4jOpsToTheBit(int length, double beta1, double beta2, double eps, boolean amsgrad, int iteration) {
        TorchAdam config = config(beta1, beta2, eps, amsgrad);
        for (UpdaterKernels.Loops path :
                new UpdaterKernels.Loops[] {UpdaterKernels.Loops.fromSettings(), UpdaterKernels.Loops.SCALAR}) {
            Arrays expected = Arrays.random(DataType.FLOAT, length, amsgrad, length + iteration);
            Arrays actual = expected.copy();
            // Three steps, each from the other's state: the moments and the maximum carry over.
            for (int it = iteration; it < iteration + 3; it++) {
                INDArray g = Nd4j.randn(DataType.FLOAT, length).muli(it == iteration ? 0.1 : 0.02);
                expected.gradient.assign(g);
                actual.gradient.assign(g);
                expected.ops(config, it);
                assertTrue(actual.kernel(path, config, it), path + " took the arrays");
                actual.assertSameBits(expected, path + " iteration " + it);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void vectorAndScalarLoopsGiveTheSameBits(boolean amsgrad) {
        TorchAdam config = config(0.5, 0.999, 1e-8, amsgrad);
        Arrays vector = Arrays.random(DataType.FLOAT, 33 + (1 << 16), amsgrad, 9);
        Arrays scalar = vector.copy();
        assertTrue(vector.kernel(UpdaterKernels.Loops.fromSettings(), config, 3));
        assertTrue(scalar.kernel(UpdaterKernels.Loops.SCALAR, config, 3));
        vector.assertSameBits(scalar, "vector against scalar");
    }

    enum Declined {
        DOUBLE,
        STRIDED_GRADIENT,
        LENGTHS_DIFFER,
        NO_MAXIMUM_FOR_AMSGRAD,
        A_MAXIMUM_WITHOUT_AMSGRAD,
        OP_FORM
    }

    @ParameterizedTest
    @EnumSource(Declined.class)
    void declinesAndLeavesTheArraysAlone(Declined why) {
        boolean amsgrad = why != Declined.A_MAXIMUM_WITHOUT_AMSGRAD;
        Arrays floats = Arrays.random(DataType.FLOAT, 40, true, 1);
        Arrays a = switch (why) {
            case DOUBLE -> Arrays.random(DataType.DOUBLE, 40, true, 1);
            case STRIDED_GRADIENT ->
                new Arrays(
                        Nd4j.rand(DataType.FLOAT, 80).get(NDArrayIndex.interval(0, 2, 80)),
                        floats.m,
                        floats.v,
                        floats.maxV);
            case LENGTHS_DIFFER ->
                new Arrays(floats.gradient.get(NDArrayIndex.interval(0, 39)), floats.m, floats.v, floats.maxV);
            case NO_MAXIMUM_FOR_AMSGRAD -> new Arrays(floats.gradient, floats.m, floats.v, null);
            default -> floats;
        };
        Arrays before = a.copy();
        UpdaterKernels.Loops path =
                why == Declined.OP_FORM ? UpdaterKernels.Loops.OFF : UpdaterKernels.Loops.fromSettings();
        assertFalse(a.kernel(path, config(0.9, 0.999, 1e-8, amsgrad), 0), why.name());
        assertEquals(before.gradient, a.gradient);
        assertEquals(before.m, a.m);
        assertEquals(before.v, a.v);
    }

    static List<Case> cases() {
        return TorchAdamFixtures.cases();
    }

    /** The float cases: the kernel declines double arrays. */
    static List<Case> floatCases() {
        return cases().stream().filter(c -> c.dataType() == DataType.FLOAT).toList();
    }

    /**
     * PyTorch's fixtures through {@link GraphUpdates} on a network given {@link FastUpdaters}: the tolerances of the
     * core module's fixture test, and DL4J's updater with {@link TorchAdamUpdater}'s ND4J ops to the bit.
     */
    @ParameterizedTest
    @MethodSource("floatCases")
    void fastUpdatersStepAsPyTorchAndAsDl4j(Case c) {
        MultiLayerNetwork fast = TorchAdamNets.network(c);
        MultiLayerNetwork plain = TorchAdamNets.network(c);
        int kernels = FastUpdaters.install(fast);
        assertEquals(1, kernels, "the one TorchAdam block");
        assertTrue(
                ((BaseMultiLayerUpdater<?>) fast.getUpdater())
                                .getUpdaterBlocks()
                                .get(0)
                                .getGradientUpdater()
                        instanceof KernelTorchAdamUpdater);
        Layout layout = Layout.of(fast);
        Gradient fastGradient = TorchAdamNets.gradientView(fast);
        Gradient plainGradient = TorchAdamNets.gradientView(plain);
        Errors errors = new Errors();
        for (int step = 0; step < TorchAdamFixtures.STEPS; step++) {
            layout.setGradient(fast, c, step);
            layout.setGradient(plain, c, step);
            GraphUpdates.apply(fast, fastGradient, step, 0, 1);
            // DL4J's updater with TorchAdamUpdater's ND4J ops (GraphUpdates only hands it the gradient view).
            GraphUpdates.apply(plain, plainGradient, step, 0, 1);
            errors.network(c, step, fast, layout);
        }
        System.out.println("TorchAdam through FastUpdaters, " + c + ": " + errors);
        errors.assertWithin(1e-6, 1e-6);
        assertArrayEquals(plain.params().toDoubleVector(), fast.params().toDoubleVector(), "parameters");
        assertArrayEquals(
                plain.getUpdater().getStateViewArray().toDoubleVector(),
                fast.getUpdater().getStateViewArray().toDoubleVector(),
                "state");
    }

    /** The fixtures' networks trained by {@code fit()}: the same bits with and without {@link FastUpdaters}. */
    @ParameterizedTest
    @MethodSource("floatCases")
    void fitGivesDl4jsBits(Case c) {
        MultiLayerNetwork fast = TorchAdamNets.network(c);
        MultiLayerNetwork plain = TorchAdamNets.network(c);
        FastUpdaters.install(fast);
        INDArray before = plain.params().dup();
        for (int step = 0; step < 4; step++) {
            Nd4j.getRandom().setSeed(50 + step);
            DataSet d = new DataSet(Nd4j.randn(c.dataType(), 5, 3), Nd4j.randn(c.dataType(), 5, 2));
            fast.fit(d);
            plain.fit(d);
        }
        assertNotEquals(before, plain.params());
        assertArrayEquals(plain.params().toDoubleVector(), fast.params().toDoubleVector(), "parameters");
        assertArrayEquals(
                plain.getUpdater().getStateViewArray().toDoubleVector(),
                fast.getUpdater().getStateViewArray().toDoubleVector(),
                "state");
    }

    /**
     * Two TorchAdam blocks (the second layer's configuration differs, with AMSGrad), each longer than a kernel task,
     * and an L2 penalty and a decoupled weight decay.
     */
    private static MultiLayerNetwork wide() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(4)
                .dataType(DataType.FLOAT)
                .updater(new TorchAdam(1e-2, 0.5, 0.999))
                .l2(1e-3)
                .list()
                .layer(new DenseLayer.Builder()
                        .nIn(20)
                        .nOut(1700)
                        .activation(Activation.TANH)
                        .build())
                .layer(new DenseLayer.Builder()
                        .nIn(1700)
                        .nOut(40)
                        .updater(TorchAdam.builder()
                                .learningRate(3e-3)
                                .betas(0.0, 0.99)
                                .amsgrad(true)
                                .build())
                        .regularization(List.of(new DecoupledWeightDecay(1e-2)))
                        .activation(Activation.TANH)
                        .build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                        .nIn(40)
                        .nOut(3)
                        .activation(Activation.IDENTITY)
                        .build())
                .build());
        net.init();
        return net;
    }

    @Test
    void severalLongBlocksGetTheKernelAndDl4jsBits() {
        MultiLayerNetwork plain = wide();
        MultiLayerNetwork fast = plain.clone();
        int kernels = FastUpdaters.install(fast);
        int torchBlocks = 0;
        for (UpdaterBlock block : ((BaseMultiLayerUpdater<?>) fast.getUpdater()).getUpdaterBlocks()) {
            assertTrue(block.getGradientUpdater() instanceof KernelTorchAdamUpdater, block.toString());
            torchBlocks++;
        }
        assertEquals(3, torchBlocks);
        assertEquals(3, kernels);
        INDArray before = plain.params().dup();
        for (int step = 0; step < 3; step++) {
            Nd4j.getRandom().setSeed(60 + step);
            DataSet d = new DataSet(Nd4j.randn(DataType.FLOAT, 8, 20), Nd4j.randn(DataType.FLOAT, 8, 3));
            plain.fit(d);
            fast.fit(d);
        }
        assertNotEquals(before, plain.params());
        assertArrayEquals(plain.params().toFloatVector(), fast.params().toFloatVector(), "parameters");
        assertArrayEquals(
                plain.getUpdater().getStateViewArray().toFloatVector(),
                fast.getUpdater().getStateViewArray().toFloatVector(),
                "state");
    }
}
