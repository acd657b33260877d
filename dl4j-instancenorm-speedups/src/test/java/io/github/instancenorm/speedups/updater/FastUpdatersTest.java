package io.github.instancenorm.speedups.updater;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.deeplearning4j.nn.api.NeuralNetwork;
import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.NesterovsUpdater;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.schedule.ScheduleType;
import org.nd4j.linalg.schedule.StepSchedule;

/**
 * {@link FastUpdaters} trains to DL4J's parameters and updater state, keeps a network's state, and changes nothing
 * where it refuses.
 */
class FastUpdatersTest {

    private static final int BATCH = 4;

    /** StarGAN's betas, with a learning rate halved every two iterations. */
    private static Adam adam() {
        return Adam.builder()
                .learningRateSchedule(new StepSchedule(ScheduleType.ITERATION, 5e-3, 0.5, 2))
                .beta1(0.5)
                .beta2(0.999)
                .epsilon(1e-8)
                .build();
    }

    /**
     * Updater blocks of several kinds (the bias before the instance norm has a gradient of rounding noise, which Adam
     * scales up to full steps: a difference in the last bit anywhere sends it elsewhere): Adam with a schedule (split into blocks by the instance norm's running
     * statistics, which have no updater), a Nesterovs layer, L2 and weight decay, and gradient clipping.
     */
    private static NeuralNetConfiguration.ListBuilder layers() {
        return new NeuralNetConfiguration.Builder()
                .seed(7)
                .dataType(DataType.FLOAT)
                .updater(adam())
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(6)
                        .convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new InstanceNormalization.Builder()
                        .affine(true)
                        .trackRunningStats(true)
                        .build())
                .layer(new ActivationLayer(Activation.RELU))
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(5)
                        .stride(2, 2)
                        .l2(1e-2)
                        .gradientNormalization(GradientNormalization.ClipL2PerLayer)
                        .gradientNormalizationThreshold(0.05)
                        .activation(Activation.TANH)
                        .build())
                .layer(new ConvolutionLayer.Builder(1, 1)
                        .nOut(4)
                        .updater(new Nesterovs(1e-2, 0.9))
                        .weightDecay(1e-3)
                        .activation(Activation.RELU)
                        .build())
                .layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .nOut(3)
                        .activation(Activation.SOFTMAX)
                        .build());
    }

    private static MultiLayerNetwork network() {
        MultiLayerConfiguration conf =
                layers().setInputType(InputType.convolutional(8, 8, 2)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static ComputationGraph graph() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7)
                .dataType(DataType.FLOAT)
                .updater(adam())
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(8, 8, 2))
                .addLayer(
                        "conv",
                        new ConvolutionLayer.Builder(3, 3)
                                .nOut(6)
                                .convolutionMode(ConvolutionMode.Same)
                                .activation(Activation.IDENTITY)
                                .build(),
                        "in")
                .addLayer(
                        "norm",
                        new InstanceNormalization.Builder()
                                .affine(true)
                                .trackRunningStats(true)
                                .build(),
                        "conv")
                .addLayer(
                        "clipped",
                        new ConvolutionLayer.Builder(3, 3)
                                .nOut(5)
                                .stride(2, 2)
                                .l2(1e-2)
                                .gradientNormalization(GradientNormalization.ClipL2PerLayer)
                                .gradientNormalizationThreshold(0.05)
                                .activation(Activation.TANH)
                                .build(),
                        "norm")
                .addLayer(
                        "nesterovs",
                        new ConvolutionLayer.Builder(1, 1)
                                .nOut(4)
                                .updater(new Nesterovs(1e-2, 0.9))
                                .weightDecay(1e-3)
                                .activation(Activation.RELU)
                                .build(),
                        "clipped")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "nesterovs")
                .addLayer(
                        "out",
                        new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                                .nOut(3)
                                .activation(Activation.SOFTMAX)
                                .build(),
                        "pool")
                .setOutputs("out")
                .build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    private static DataSet batch(int step) {
        Nd4j.getRandom().setSeed(100 + step);
        INDArray x = Nd4j.randn(DataType.FLOAT, BATCH, 2, 8, 8);
        INDArray y = Nd4j.zeros(DataType.FLOAT, BATCH, 3);
        for (int i = 0; i < BATCH; i++) {
            y.putScalar(i, (i + step) % 3, 1);
        }
        return new DataSet(x, y);
    }

    @Test
    void aNetworkTrainsToDl4jsParametersAndState() {
        MultiLayerNetwork actual = network();
        assertTrainsLikeDl4j(network(), actual, FastUpdaters.install(actual));
    }

    @Test
    void aGraphTrainsToDl4jsParametersAndState() {
        ComputationGraph actual = graph();
        assertTrainsLikeDl4j(graph(), actual, FastUpdaters.install(actual));
    }

    /** Six {@code fit()} steps of a plain network and of one given {@code FastUpdaters} end in the same bits. */
    private static void assertTrainsLikeDl4j(NeuralNetwork expected, NeuralNetwork actual, int kernels) {
        INDArray before = expected.params().dup();
        for (int step = 0; step < 6; step++) {
            expected.fit(batch(step));
            actual.fit(batch(step));
        }
        assertTrue(kernels >= 2, "Adam blocks on both sides of the running statistics, got " + kernels);
        assertNotEquals(before, expected.params(), "training changed the parameters");
        assertSameBits("parameters", expected.params(), actual.params());
        assertSameBits("updater state", expected.updaterState(), actual.updaterState());
    }

    @Test
    void adamBlocksGetTheKernelAndOtherUpdatersStayNd4js() {
        ComputationGraph g = graph();
        int kernels = FastUpdaters.install(g);
        int adam = 0;
        int nesterovs = 0;
        for (UpdaterBlock block : ((BaseMultiLayerUpdater<?>) g.getUpdater()).getUpdaterBlocks()) {
            if (block.getGradientUpdater() instanceof KernelAdamUpdater) {
                adam++;
            } else if (block.getGradientUpdater() instanceof NesterovsUpdater) {
                nesterovs++;
            }
        }
        assertEquals(kernels, adam);
        assertEquals(1, nesterovs);
    }

    @Test
    void installingMidwayContinuesTheTraining() {
        MultiLayerNetwork expected = network();
        for (int step = 0; step < 3; step++) {
            expected.fit(batch(step));
        }
        MultiLayerNetwork actual = expected.clone();
        INDArray state = actual.getUpdater().getStateViewArray();
        assertNotEquals(0.0, state.sumNumber().doubleValue(), "Adam has state after three steps");

        FastUpdaters.install(actual);
        assertSame(state, actual.getUpdater().getStateViewArray(), "the installed updater uses the state array");
        for (int step = 3; step < 6; step++) {
            expected.fit(batch(step));
            actual.fit(batch(step));
        }
        assertSameBits("parameters", expected.params(), actual.params());
        assertSameBits(
                "updater state",
                expected.getUpdater().getStateViewArray(),
                actual.getUpdater().getStateViewArray());
    }

    @Test
    void installingTwiceKeepsTheUpdater() {
        ComputationGraph g = graph();
        int first = FastUpdaters.install(g);
        ComputationGraphUpdater updater = g.getUpdater();
        assertEquals(first, FastUpdaters.install(g));
        assertSame(updater, g.getUpdater());
    }

    @Test
    void refusesAnUninitializedNetworkWithoutGivingItAnUpdater() {
        MultiLayerNetwork net = new MultiLayerNetwork(
                layers().setInputType(InputType.convolutional(8, 8, 2)).build());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> FastUpdaters.install(net));
        assertEquals("The network has no layers yet: call init() before FastUpdaters.install", e.getMessage());
        assertNull(net.getUpdater(false));
    }

    @Test
    void theSwitchLeavesDl4jsUpdater() {
        ComputationGraph g = graph();
        Updater before = g.getUpdater();
        System.setProperty(FastUpdaters.PROPERTY, "false");
        try {
            assertEquals(0, FastUpdaters.install(g));
        } finally {
            System.clearProperty(FastUpdaters.PROPERTY);
        }
        assertSame(before, g.getUpdater());
    }

    @Test
    void aGradientInTheViewIsHandedAsTheViewItself() {
        ComputationGraph g = graph();
        DataSet d = batch(0);
        g.setInputs(d.getFeatures());
        g.setLabels(d.getLabels());
        g.computeGradientAndScore();
        Gradient gradient = g.gradient();
        INDArray view = g.getFlattenedGradients();
        assertNotNull(view);
        assertTrue(gradient.gradient() != view, "DL4J's gradient() is a new view: the premise of the class");
        Gradient handed = FastUpdaters.inGradientView(gradient, view);
        assertSame(view, handed.gradient());
        Map<String, INDArray> variables = gradient.gradientForVariable();
        assertEquals(variables.keySet(), handed.gradientForVariable().keySet());

        Gradient elsewhere = new DefaultGradient(gradient.gradient().dup());
        assertSame(elsewhere, FastUpdaters.inGradientView(elsewhere, view), "memory of its own: external");
        // The external path still gives DL4J's numbers.
        g.getUpdater().update(elsewhere, 0, 0, BATCH, LayerWorkspaceMgr.noWorkspaces());
    }

    @Test
    void aSavedNetworkIsPlainDl4jAndKeepsItsState(@TempDir Path dir) throws IOException {
        ComputationGraph g = graph();
        FastUpdaters.install(g);
        for (int step = 0; step < 3; step++) {
            g.fit(batch(step));
        }
        File file = dir.resolve("g.zip").toFile();
        ModelSerializer.writeModel(g, file, true);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(file, true);
        assertEquals(ComputationGraphUpdater.class, restored.getUpdater().getClass());
        assertEquals(g.getUpdater().getStateViewArray(), restored.getUpdater().getStateViewArray());
        assertEquals(g.params(), restored.params());
    }

    /** Equal to the bit: the Adam kernel reproduces libnd4j's rounding, and the rest is DL4J's own code. */
    private static void assertSameBits(String what, INDArray expected, INDArray actual) {
        float[] e = expected.toFloatVector();
        float[] a = actual.toFloatVector();
        assertEquals(e.length, a.length, what);
        for (int i = 0; i < e.length; i++) {
            if (Float.compare(a[i], e[i]) != 0) {
                throw new AssertionError(what + "[" + i + "]: expected " + e[i] + ", got " + a[i]);
            }
        }
    }
}
