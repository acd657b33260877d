package io.github.instancenorm.speedups;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.speedups.layers.FastLayers;
import io.github.instancenorm.speedups.updater.FastUpdaters;
import java.io.File;
import java.nio.file.Path;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** {@link Speedups}: what one call installs, the fallbacks, and loading or cloning with the speed-ups. */
class SpeedupsTest {

    private static NeuralNetConfiguration.ListBuilder layers() {
        return new NeuralNetConfiguration.Builder()
                .seed(7)
                .updater(new Adam(1e-2))
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(4)
                        .convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new InstanceNormalization.Builder()
                        .affine(true)
                        .trackRunningStats(true)
                        .build())
                .layer(new ActivationLayer(Activation.RELU))
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(6, 6, 2));
    }

    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(layers().build());
        net.init();
        return net;
    }

    private static boolean hasOneDnnHelper(MultiLayerNetwork net) {
        ConvolutionHelper helper = (ConvolutionHelper) net.getLayer(0).getHelper();
        return helper != null && helper.getClass().getSimpleName().equals("OneDnnConvolutionHelper");
    }

    private static boolean hasInPlaceUpdater(MultiLayerNetwork net) {
        return net.getUpdater(false) != null
                && net.getUpdater(false).getClass().getSimpleName().equals("InPlaceNetworkUpdater");
    }

    private static void assumeOneDnn() {
        assumeTrue(FastConvolutions.path() == FastConvolutions.Path.ONEDNN, "no oneDNN in this nd4j-native build");
    }

    @Test
    void installsBothAndReportsIt() {
        assumeOneDnn();
        MultiLayerNetwork net = network();
        Speedups.Report report = Speedups.install(net);
        assertEquals(1, report.oneDnnConvolutions());
        assertEquals(1, report.javaLayers(), "the ReLU layer");
        assertTrue(report.inPlaceUpdater());
        assertEquals(1, report.adamKernelBlocks(), "one Adam block: the convolution's parameters");
        assertTrue(report.fallbacks().isEmpty(), report.fallbacks().toString());
        assertTrue(hasOneDnnHelper(net));
        assertTrue(hasInPlaceUpdater(net));
    }

    @Test
    void beforeInitIsAClearErrorThatChangesNothing() {
        MultiLayerNetwork net = new MultiLayerNetwork(layers().build());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Speedups.install(net));
        assertTrue(e.getMessage().contains("call init() before Speedups.install"), e.getMessage());
        assertEquals(null, net.getLayers());
    }

    @Test
    void aFailingInstallFallsBackWithoutAnError() {
        MultiLayerNetwork net = network();
        Speedups.Report report = Speedups.install(
                "MultiLayerNetwork",
                net,
                n -> {
                    throw new IllegalStateException("simulated reflective failure");
                },
                n -> {
                    throw new UnsatisfiedLinkError("simulated native failure");
                },
                n -> {
                    throw new IllegalStateException("simulated activation failure");
                });
        assertEquals(0, report.oneDnnConvolutions());
        assertFalse(report.inPlaceUpdater());
        assertEquals(0, report.javaLayers());
        assertEquals(3, report.fallbacks().size(), report.fallbacks().toString());
        assertTrue(report.fallbacks().get(0).contains("simulated reflective failure"));
        assertTrue(report.fallbacks().get(1).contains("simulated activation failure"));
        assertTrue(report.fallbacks().get(2).contains("simulated native failure"));
        assertFalse(hasOneDnnHelper(net));
        assertFalse(hasInPlaceUpdater(net), "DL4J's own updater stays");
    }

    @Test
    void switchedOffByItsPropertiesItSaysSo() {
        System.setProperty(FastConvolutions.PROPERTY, "false");
        System.setProperty(FastUpdaters.PROPERTY, "false");
        System.setProperty(FastLayers.PROPERTY, "false");
        try {
            MultiLayerNetwork net = network();
            Speedups.Report report = Speedups.install(net);
            assertEquals(0, report.oneDnnConvolutions());
            assertFalse(report.inPlaceUpdater());
            assertEquals(0, report.javaLayers());
            assertEquals(3, report.fallbacks().size(), report.fallbacks().toString());
            assertFalse(hasOneDnnHelper(net));
            assertFalse(hasInPlaceUpdater(net));
        } finally {
            System.clearProperty(FastConvolutions.PROPERTY);
            System.clearProperty(FastUpdaters.PROPERTY);
            System.clearProperty(FastLayers.PROPERTY);
        }
    }

    @Test
    void restoreAndCloneInstallIntoTheNewNetwork(@TempDir Path dir) throws Exception {
        assumeOneDnn();
        MultiLayerNetwork net = network();
        Speedups.install(net);
        INDArray x = Nd4j.rand(3, 2, 6, 6);
        INDArray y = Nd4j.rand(3, 4, 6, 6);
        net.fit(x, y);
        File file = dir.resolve("net.zip").toFile();
        ModelSerializer.writeModel(net, file, true);

        MultiLayerNetwork restored = Speedups.restoreMultiLayerNetwork(file, true);
        assertTrue(hasOneDnnHelper(restored));
        assertTrue(hasInPlaceUpdater(restored));
        assertEquals(net.getUpdater().getStateViewArray(), restored.getUpdater().getStateViewArray());

        MultiLayerNetwork twin = Speedups.clone(net);
        assertNotSame(net.getLayer(0), twin.getLayer(0));
        assertTrue(hasOneDnnHelper(twin));
        assertTrue(hasInPlaceUpdater(twin));

        // All three continue training identically.
        net.fit(x, y);
        restored.fit(x, y);
        twin.fit(x, y);
        assertEquals(net.params(), restored.params());
        assertEquals(net.params(), twin.params());
    }

    @Test
    void restoresAGraphWithTheSpeedups(@TempDir Path dir) throws Exception {
        assumeOneDnn();
        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder()
                .updater(new Adam(1e-2))
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(6, 6, 2))
                .addLayer(
                        "conv",
                        new ConvolutionLayer.Builder(3, 3)
                                .nOut(3)
                                .convolutionMode(ConvolutionMode.Same)
                                .build(),
                        "in")
                .addLayer("norm", new InstanceNormalization.Builder().build(), "conv")
                .addLayer(
                        "loss",
                        new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                                .activation(Activation.IDENTITY)
                                .build(),
                        "norm")
                .setOutputs("loss")
                .build());
        g.init();
        File file = dir.resolve("graph.zip").toFile();
        ModelSerializer.writeModel(g, file, false);
        ComputationGraph restored = Speedups.restoreComputationGraph(file, false);
        assertInstanceOf(
                Class.forName("io.github.instancenorm.speedups.conv.OneDnnConvolutionHelper"),
                restored.getLayer("conv").getHelper());
        assertEquals(
                "InPlaceGraphUpdater", restored.getUpdater(false).getClass().getSimpleName());
    }
}
