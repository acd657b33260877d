package io.github.instancenorm.speedups.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.runtime.KernelSettings;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Upsampling2D;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link FastLayers}: the replaced leaky-ReLU, ReLU and upsampling layers compute DL4J's numbers to the bit, forward
 * in both modes and backward, on values where the branches meet (signed zeros, NaN, subnormals, the largest floats),
 * in both loops; the replacement reaches every place DL4J keeps a layer object; and what is not such a plain layer
 * stays DL4J's.
 */
class FastLayersTest {

    /** Values where a leaky ReLU's branches meet or misbehave, then random ones of both signs. */
    private static INDArray awkward(long... shape) {
        return awkwardShifted(0, shape);
    }

    /** As {@link #awkward(long...)}, the special values {@code shift} places later (inputs and gradients apart). */
    private static INDArray awkwardShifted(int shift, long... shape) {
        INDArray x = Nd4j.rand(DataType.FLOAT, shape).subi(0.5).muli(6);
        float[] special = {0f, -0f, 1e-45f, -1e-45f, -1e-38f, Float.NaN, -3.4e38f, 3.4e38f, -0.1f, 0.1f};
        INDArray flat = x.reshape(x.length());
        for (int i = 0; i < special.length && i * 7L + shift < flat.length(); i++) {
            flat.putScalar(i * 7L + shift, special[i]);
        }
        // And once more near the end, where the vector loops leave their scalar tail.
        for (int i = 0; i < special.length && flat.length() - 1 - i - shift >= 0; i++) {
            flat.putScalar(flat.length() - 1 - i - shift, special[i]);
        }
        return x;
    }

    private static NeuralNetConfiguration.ListBuilder layers(double alpha) {
        return new NeuralNetConfiguration.Builder()
                .seed(7)
                .updater(new Adam(1e-2))
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(4)
                        .convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new ActivationLayer(new ActivationLReLU(alpha)))
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(3)
                        .convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new ActivationLayer(Activation.RELU))
                .layer(new ActivationLayer(new ActivationReLU(6.0, null, null)))
                .layer(new ActivationLayer(Activation.TANH))
                .layer(new Upsampling2D.Builder(2).build())
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(6, 6, 2));
    }

    private static MultiLayerNetwork network(double alpha) {
        MultiLayerNetwork net = new MultiLayerNetwork(layers(alpha).build());
        net.init();
        return net;
    }

    private static void assertBitwise(INDArray expected, INDArray actual) {
        assertArrayEquals(expected.shape(), actual.shape());
        float[] e = expected.dup().data().asFloat();
        float[] a = actual.dup().data().asFloat();
        for (int i = 0; i < e.length; i++) {
            assertEquals(
                    Float.floatToIntBits(e[i]),
                    Float.floatToIntBits(a[i]),
                    "element " + i + ": " + e[i] + " vs " + a[i]);
        }
    }

    @Test
    void theLayerComputesDl4jsNumbersToTheBit() {
        for (double alpha : new double[] {0.2, 0.01, 0.3333}) {
            MultiLayerNetwork plain = network(alpha);
            MultiLayerNetwork fast = network(alpha);
            assertEquals(3, FastLayers.install(fast));
            for (int index : new int[] {1, 3}) { // the leaky ReLU and the ReLU
                Layer dl4j = plain.getLayer(index);
                Layer java = fast.getLayer(index);
                assertTrue(java instanceof JavaActivationLayer, java.getClass().getName());
                for (long[] shape : new long[][] {{2, 4, 6, 6}, {3, 5, 70, 41}}) {
                    INDArray x = awkward(shape);
                    INDArray eps = awkwardShifted(3, shape); // its special values away from the input's
                    LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
                    for (boolean training : new boolean[] {true, false}) {
                        dl4j.setInput(x.dup(), mgr);
                        INDArray in = x.dup();
                        java.setInput(in, mgr);
                        assertBitwise(dl4j.activate(training, mgr), java.activate(training, mgr));
                        if (training) {
                            assertBitwise(x, in); // the training forward leaves its input for the backward
                        }
                    }
                    dl4j.setInput(x.dup(), mgr);
                    java.setInput(x.dup(), mgr);
                    assertBitwise(
                            dl4j.backpropGradient(eps.dup(), mgr).getSecond(),
                            java.backpropGradient(eps.dup(), mgr).getSecond());
                    // A view that is not dense takes DL4J's own code, with the same result.
                    INDArray wide = awkward(shape[0], shape[1] * 2, shape[2], shape[3]);
                    INDArray view = wide.get(
                            org.nd4j.linalg.indexing.NDArrayIndex.all(),
                            org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 2, shape[1] * 2));
                    dl4j.setInput(view.dup(), mgr);
                    java.setInput(view, mgr);
                    assertBitwise(dl4j.activate(true, mgr), java.activate(true, mgr));
                }
            }
        }
    }

    @Test
    void bothLoopsOnDenseViewsWithAnOffset() {
        assertTrue(KernelSettings.vectorLoops(), "the tests run with jdk.incubator.vector");
        for (float alpha : new float[] {0.2f, Float.NaN}) { // NaN: the ReLU
            org.nd4j.linalg.activations.IActivation dl4j =
                    Float.isNaN(alpha) ? new ActivationReLU() : new ActivationLReLU(0.2);
            for (boolean vector : new boolean[] {true, false}) {
                // Rows 1-2 of 4: dense in row-major order, at an offset into their buffers; 37 elements per row leave a
                // tail after the vector lanes.
                // The special values land in rows 1-2 (the scalar tail included: the last row's end), apart.
                INDArray x = awkwardShifted(111, 4, 3, 37).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 3));
                INDArray eps = awkwardShifted(4, 4, 3, 37).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 4));
                INDArray out =
                        Nd4j.zeros(DataType.FLOAT, 5, 3, 37).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(3, 5));
                assertTrue(x.offset() > 0 && eps.offset() > 0 && out.offset() > 0);
                JavaActivationLayer.forward(x, out, alpha, vector);
                assertBitwise(dl4j.getActivation(x.dup(), true), out);
                JavaActivationLayer.backward(x, eps, out, alpha, vector);
                assertBitwise(dl4j.backprop(x.dup(), eps.dup()).getFirst(), out);
            }
        }
    }

    private static Layer upsamplingLayer(Upsampling2D conf, int channels, int h, int w) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(conf)
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(h, w, channels))
                .build());
        net.init();
        return net.getLayer(0);
    }

    @Test
    void nearestUpsamplingComputesDl4jsNumbersToTheBit() {
        Upsampling2D doubling = new Upsampling2D.Builder(2).build();
        for (long[] shape : new long[][] {{2, 3, 4, 5}, {3, 5, 16, 16}, {1, 64, 33, 7}}) {
            Layer dl4j = upsamplingLayer(doubling.clone(), (int) shape[1], (int) shape[2], (int) shape[3]);
            Layer java = JavaUpsamplingLayer.replacing(
                    upsamplingLayer(doubling.clone(), (int) shape[1], (int) shape[2], (int) shape[3]));
            assertTrue(java instanceof JavaUpsamplingLayer, java.getClass().getName());
            INDArray x = awkward(shape);
            INDArray eps = awkward(shape[0], shape[1], 2 * shape[2], 2 * shape[3]);
            LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
            for (boolean training : new boolean[] {true, false}) {
                dl4j.setInput(x.dup(), mgr);
                java.setInput(x.dup(), mgr);
                assertBitwise(dl4j.activate(training, mgr), java.activate(training, mgr));
            }
            assertBitwise(
                    dl4j.backpropGradient(eps.dup(), mgr).getSecond(),
                    java.backpropGradient(eps.dup(), mgr).getSecond());
        }
        // A block of negative zeros in the gradient.
        Layer dl4j = upsamplingLayer(doubling.clone(), 1, 1, 2);
        Layer java = JavaUpsamplingLayer.replacing(upsamplingLayer(doubling.clone(), 1, 1, 2));
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        INDArray x = Nd4j.createFromArray(new float[] {1f, -2f}).reshape(1, 1, 1, 2);
        INDArray eps = Nd4j.createFromArray(new float[] {-0f, -0f, 1f, -0f, -0f, -0f, 2f, 3f})
                .reshape(1, 1, 2, 4);
        dl4j.setInput(x.dup(), mgr);
        java.setInput(x.dup(), mgr);
        assertBitwise(
                dl4j.backpropGradient(eps.dup(), mgr).getSecond(),
                java.backpropGradient(eps.dup(), mgr).getSecond());
    }

    @Test
    void otherUpsamplingStaysDl4js() {
        Upsampling2D[] others = {
            new Upsampling2D.Builder(3).build(),
            new Upsampling2D.Builder().size(new int[] {2, 1}).build(),
            new Upsampling2D.Builder(2).dropOut(0.5).build()
        };
        for (Upsampling2D conf : others) {
            Layer layer = upsamplingLayer(conf, 2, 4, 4);
            assertSame(layer, JavaUpsamplingLayer.replacing(layer), conf.toString());
        }
        MultiLayerNetwork nhwc = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new Upsampling2D.Builder(2).build())
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(4, 4, 2, org.deeplearning4j.nn.conf.CNN2DFormat.NHWC))
                .build());
        nhwc.init();
        assertSame(nhwc.getLayer(0), JavaUpsamplingLayer.replacing(nhwc.getLayer(0)), "NHWC");
    }

    @Test
    void trainingWithFitFollowsDl4jToTheBit() {
        MultiLayerNetwork plain = network(0.2);
        MultiLayerNetwork fast = network(0.2);
        FastLayers.install(fast);
        Nd4j.getRandom().setSeed(3);
        for (int step = 0; step < 4; step++) {
            DataSet batch = new DataSet(awkward(4, 2, 6, 6).muli(0.1), Nd4j.rand(DataType.FLOAT, 4, 3, 12, 12));
            plain.fit(batch);
            fast.fit(batch);
        }
        assertBitwise(plain.params(), fast.params());
        assertEquals(
                plain.getLayerWiseConfigurations().toJson(),
                fast.getLayerWiseConfigurations().toJson());
    }

    @Test
    void onlyPlainLeakyReluAndReluLayersAreReplaced() {
        MultiLayerNetwork net = network(0.2);
        Layer relu6 = net.getLayer(4);
        Layer tanh = net.getLayer(5);
        assertEquals(3, FastLayers.install(net));
        assertSame(relu6, net.getLayer(4), "a ReLU with a maximum stays DL4J's");
        assertSame(tanh, net.getLayer(5), "a tanh layer stays DL4J's");
        assertSame(
                net.getLayer(1),
                net.getLayer(net.getLayer(1).conf().getLayer().getLayerName()),
                "the network's name map holds the replacement");
        assertEquals(0, FastLayers.install(net), "installing twice replaces nothing more");

        MultiLayerNetwork subclassed = new MultiLayerNetwork(layers(0.2)
                .layer(1, new ActivationLayer(new ActivationLReLU(0.2) {}))
                .build());
        subclassed.init();
        assertEquals(2, FastLayers.install(subclassed), "a subclass of ActivationLReLU is not DL4J's function");
        assertSame(JavaActivationLayer.class, subclassed.getLayer(3).getClass());
    }

    @Test
    void graphsAndFrozenWrappersGetTheReplacement() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(6, 6, 2))
                .addLayer("act", new ActivationLayer(new ActivationLReLU(0.2)), "in")
                .addLayer("frozen", new FrozenLayerWithBackprop(new ActivationLayer(new ActivationLReLU(0.1))), "act")
                .addLayer(
                        "out",
                        new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                                .activation(Activation.IDENTITY)
                                .build(),
                        "frozen")
                .setOutputs("out")
                .build();
        ComputationGraph plain = new ComputationGraph(conf.clone());
        plain.init();
        ComputationGraph fast = new ComputationGraph(conf);
        fast.init();
        assertEquals(2, FastLayers.install(fast));
        assertTrue(fast.getLayer("act") instanceof JavaActivationLayer);
        assertTrue(((BaseWrapperLayer) fast.getLayer("frozen")).getUnderlying() instanceof JavaActivationLayer);
        assertTrue(
                java.util.Arrays.stream(fast.getLayers()).anyMatch(l -> l == fast.getLayer("act")),
                "getLayers() holds the replacement");
        INDArray x = awkward(2, 2, 6, 6);
        assertBitwise(plain.outputSingle(true, x.dup()), fast.outputSingle(true, x.dup()));
        INDArray y = Nd4j.rand(DataType.FLOAT, 2, 2, 6, 6);
        plain.setInputs(x.dup());
        plain.setLabels(y);
        plain.computeGradientAndScore();
        fast.setInputs(x.dup());
        fast.setLabels(y);
        fast.computeGradientAndScore();
        assertEquals(plain.score(), fast.score(), 0.0);
        assertBitwise(plain.outputSingle(false, x.dup()), fast.outputSingle(false, x.dup()));
        // The frozen wrapper's backward runs the replacement inside it.
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        INDArray eps = awkwardShifted(3, 2, 2, 6, 6);
        Layer plainFrozen = plain.getLayer("frozen");
        Layer fastFrozen = fast.getLayer("frozen");
        plainFrozen.setInput(x.dup(), mgr);
        fastFrozen.setInput(x.dup(), mgr);
        assertBitwise(
                plainFrozen.backpropGradient(eps.dup(), mgr).getSecond(),
                fastFrozen.backpropGradient(eps.dup(), mgr).getSecond());
    }

    @Test
    void switchedOffByItsPropertyOrRefusedBeforeInit() {
        System.setProperty(FastLayers.PROPERTY, "false");
        try {
            MultiLayerNetwork net = network(0.2);
            Layer before = net.getLayer(1);
            assertEquals(0, FastLayers.install(net));
            assertSame(before, net.getLayer(1));
        } finally {
            System.clearProperty(FastLayers.PROPERTY);
        }
        MultiLayerNetwork notInitialized = new MultiLayerNetwork(layers(0.2).build());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> FastLayers.install(notInitialized));
        assertTrue(e.getMessage().contains("call init()"), e.getMessage());
    }
}
