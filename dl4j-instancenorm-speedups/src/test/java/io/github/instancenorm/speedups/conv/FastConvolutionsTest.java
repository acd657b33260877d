package io.github.instancenorm.speedups.conv;

import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Deconvolution2D;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The oneDNN helper against DL4J's own convolution code: outputs, input gradients and parameter gradients equal to
 * {@code |a - e| <= 1e-4 (1 + |e|)} in float, over a grid of kernels, strides, paddings, dilations, convolution
 * modes, both layouts, with and without bias, and identity and non-identity activations. Double precision falls
 * back to DL4J's path (equal bit for bit), and the float oneDNN path is also checked against that double reference.
 */
class FastConvolutionsTest {

    private static final double TOL = 1e-4;

    /** One convolution: kernel, stride, padding, dilation (each {h, w}), mode, bias, activation, input h x w. */
    private record Case(
            int[] kernel,
            int[] stride,
            int[] pad,
            int[] dilation,
            ConvolutionMode mode,
            boolean bias,
            Activation activation,
            int height,
            int width) {
        @Override
        public String toString() {
            return "k" + kernel[0] + "x" + kernel[1] + " s" + stride[0] + "x" + stride[1] + " p" + pad[0] + "x"
                    + pad[1] + " d" + dilation[0] + "x" + dilation[1] + " " + mode + (bias ? " bias " : " ")
                    + activation + " " + height + "x" + width;
        }
    }

    private static List<Case> grid() {
        List<Case> cases = new ArrayList<>();
        ConvolutionMode t = ConvolutionMode.Truncate;
        ConvolutionMode s = ConvolutionMode.Same;
        ConvolutionMode strict = ConvolutionMode.Strict;
        Activation id = Activation.IDENTITY;
        cases.add(new Case(i(3, 3), i(1, 1), i(1, 1), i(1, 1), t, false, id, 9, 9));
        cases.add(new Case(i(7, 7), i(1, 1), i(3, 3), i(1, 1), t, false, id, 12, 10));
        cases.add(new Case(i(4, 4), i(2, 2), i(1, 1), i(1, 1), t, true, id, 12, 12));
        cases.add(new Case(i(4, 4), i(2, 2), i(1, 1), i(1, 1), t, true, id, 13, 11)); // truncated
        cases.add(new Case(i(2, 3), i(2, 1), i(0, 2), i(1, 1), t, true, Activation.RELU, 8, 7));
        cases.add(new Case(i(3, 3), i(1, 1), i(0, 0), i(2, 2), t, false, id, 11, 10));
        cases.add(new Case(i(3, 2), i(1, 2), i(2, 1), i(2, 3), t, true, Activation.TANH, 10, 12));
        cases.add(new Case(i(1, 1), i(1, 1), i(0, 0), i(1, 1), t, true, id, 5, 6));
        cases.add(new Case(i(3, 3), i(1, 1), i(0, 0), i(1, 1), s, false, id, 9, 8));
        cases.add(new Case(i(4, 4), i(2, 2), i(0, 0), i(1, 1), s, true, id, 9, 10)); // odd total padding
        cases.add(new Case(i(2, 5), i(3, 2), i(0, 0), i(1, 1), s, true, Activation.LEAKYRELU, 11, 9));
        cases.add(new Case(i(3, 3), i(2, 1), i(0, 0), i(2, 2), s, false, id, 10, 9));
        cases.add(new Case(i(3, 3), i(2, 2), i(1, 1), i(1, 1), strict, true, id, 9, 9));
        cases.add(new Case(i(2, 2), i(2, 2), i(0, 0), i(1, 1), strict, false, Activation.SIGMOID, 8, 6));
        return cases;
    }

    private static int[] i(int a, int b) {
        return new int[] {a, b};
    }

    /** Transposed convolutions: DL4J's {@code Deconvolution2D}, which {@link FastConvolutions} replaces. */
    private static List<Case> transposedGrid() {
        List<Case> cases = new ArrayList<>();
        ConvolutionMode t = ConvolutionMode.Truncate;
        ConvolutionMode s = ConvolutionMode.Same;
        Activation id = Activation.IDENTITY;
        cases.add(new Case(i(4, 4), i(2, 2), i(1, 1), i(1, 1), t, false, id, 8, 8)); // StarGAN G's upsampling
        cases.add(new Case(i(4, 4), i(2, 2), i(1, 1), i(1, 1), t, true, id, 7, 5));
        cases.add(new Case(i(3, 3), i(1, 1), i(1, 1), i(1, 1), t, true, Activation.RELU, 6, 7));
        cases.add(new Case(i(2, 2), i(2, 2), i(0, 0), i(1, 1), t, true, id, 5, 6));
        cases.add(new Case(i(3, 2), i(2, 3), i(0, 1), i(1, 1), t, true, Activation.TANH, 5, 4));
        cases.add(new Case(i(5, 5), i(3, 3), i(2, 2), i(1, 1), t, true, id, 4, 5));
        cases.add(new Case(i(1, 1), i(1, 1), i(0, 0), i(1, 1), t, true, id, 5, 6));
        cases.add(new Case(i(3, 3), i(2, 2), i(0, 0), i(1, 1), s, true, Activation.LEAKYRELU, 5, 6)); // odd total
        cases.add(new Case(i(4, 4), i(2, 2), i(0, 0), i(1, 1), s, false, id, 6, 6));
        cases.add(new Case(i(2, 2), i(3, 3), i(0, 0), i(1, 1), s, true, id, 4, 5)); // oneDNN: negative padding
        return cases;
    }

    private static MultiLayerNetwork network(Case c, CNN2DFormat format, DataType type, int in, int out) {
        return network(c, format, type, in, out, false);
    }

    private static MultiLayerNetwork network(
            Case c, CNN2DFormat format, DataType type, int in, int out, boolean transposed) {
        org.deeplearning4j.nn.conf.layers.Layer layer = transposed
                ? new Deconvolution2D.Builder()
                        .kernelSize(c.kernel())
                        .stride(c.stride())
                        .padding(c.pad())
                        .dilation(c.dilation())
                        .nOut(out)
                        .hasBias(c.bias())
                        .activation(c.activation())
                        .dataFormat(format)
                        .build()
                : new ConvolutionLayer.Builder(c.kernel())
                        .stride(c.stride())
                        .padding(c.pad())
                        .dilation(c.dilation())
                        .nOut(out)
                        .hasBias(c.bias())
                        .activation(c.activation())
                        .dataFormat(format)
                        .build();
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(7)
                .dataType(type)
                .weightInit(WeightInit.XAVIER)
                .updater(new Adam(1e-2))
                .convolutionMode(c.mode())
                .list()
                .layer(layer)
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .format(format)
                        .build())
                .setInputType(InputType.convolutional(c.height(), c.width(), in, format))
                .build());
        net.init();
        if (c.bias()) { // biases start at zero: give them values, so that a dropped bias is seen
            net.getLayer(0).getParam("b").assign(Nd4j.rand(type, 1, out).subi(0.5));
        }
        return net;
    }

    /** Output, parameter gradients and input gradient of one convolution net. */
    private record Result(INDArray output, Map<String, INDArray> gradients, INDArray inputGradient) {}

    private static Result run(MultiLayerNetwork net, INDArray x, INDArray labels) {
        INDArray output = net.output(x, true).dup();
        Pair<Gradient, INDArray> g = net.calculateGradients(x, labels, null, null);
        Map<String, INDArray> grads = new java.util.TreeMap<>();
        g.getFirst().gradientForVariable().forEach((k, v) -> grads.put(k, v.dup()));
        return new Result(output, grads, g.getSecond().dup());
    }

    private static void assertSame(String what, Result expected, Result actual, double tol) {
        assertClose(what + " output", expected.output(), actual.output(), tol);
        assertClose(what + " input gradient", expected.inputGradient(), actual.inputGradient(), tol);
        assertEquals(expected.gradients().keySet(), actual.gradients().keySet(), what + " gradient keys");
        for (String k : expected.gradients().keySet()) {
            assertClose(
                    what + " gradient " + k,
                    expected.gradients().get(k),
                    actual.gradients().get(k),
                    tol);
        }
    }

    private static void assumeOneDnn() {
        assumeTrue(
                FastConvolutions.path() == FastConvolutions.Path.ONEDNN,
                "no oneDNN in this nd4j-native build (nd4j.classifier without -onednn)");
    }

    @Test
    void gridMatchesDl4jInBothLayouts() {
        assumeOneDnn();
        int in = 3;
        int out = 4;
        int checked = 0;
        int viaHelper = 0;
        for (Case c : grid()) {
            for (CNN2DFormat format : CNN2DFormat.values()) {
                String what = c + " " + format;
                MultiLayerNetwork reference = network(c, format, DataType.FLOAT, in, out);
                MultiLayerNetwork fast = network(c, format, DataType.FLOAT, in, out);
                fast.setParams(reference.params().dup());
                assertEquals(1, FastConvolutions.install(fast), what + ": installed");
                assertInstanceOf(OneDnnConvolutionHelper.class, fast.getLayer(0).getHelper(), what);
                assertNull(reference.getLayer(0).getHelper(), what + ": DL4J's helper stays off");

                Nd4j.getRandom().setSeed(11);
                long[] shape = format == CNN2DFormat.NCHW
                        ? new long[] {3, in, c.height(), c.width()}
                        : new long[] {3, c.height(), c.width(), in};
                INDArray x = Nd4j.rand(DataType.FLOAT, shape).subi(0.5).muli(2);
                INDArray labels = Nd4j.rand(DataType.FLOAT, reference.output(x).shape());
                Result expected = run(reference, x, labels);
                Result actual = run(fast, x, labels);
                assertSame(what, expected, actual, TOL);
                assertEquals(0, failures(fast.getLayer(0)), what + ": the helper failed and DL4J fell back");
                if (c.dilation()[0] == 1 && c.dilation()[1] == 1) {
                    viaHelper++;
                }

                // Against the double reference too: the float error of both paths is the same order.
                MultiLayerNetwork doubleNet = network(c, format, DataType.DOUBLE, in, out);
                doubleNet.setParams(reference.params().castTo(DataType.DOUBLE));
                Result exact = run(doubleNet, x.castTo(DataType.DOUBLE), labels.castTo(DataType.DOUBLE));
                assertSame(what + " vs double", exact, actual, TOL);
                checked++;
            }
        }
        assertEquals(2 * grid().size(), checked);
        assertTrue(viaHelper >= 2 * 10, "most cases ran through oneDNN: " + viaHelper);
    }

    /** DL4J's count of helper calls that threw (after which it falls back for good). */
    private static int failures(org.deeplearning4j.nn.api.Layer layer) {
        try {
            java.lang.reflect.Field f =
                    org.deeplearning4j.nn.layers.convolution.ConvolutionLayer.class.getDeclaredField("helperCountFail");
            f.setAccessible(true);
            return f.getInt(layer);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void trainingStepsMatchDl4j() {
        assumeOneDnn();
        // Identity: the backward reuses the forward's output; LeakyReLU: a copy taken before the activation.
        for (Activation activation : new Activation[] {Activation.IDENTITY, Activation.LEAKYRELU}) {
            for (CNN2DFormat format : CNN2DFormat.values()) {
                Case c = new Case(
                        i(3, 3), i(2, 2), i(1, 1), i(1, 1), ConvolutionMode.Truncate, true, activation, 10, 10);
                MultiLayerNetwork reference = network(c, format, DataType.FLOAT, 2, 5);
                MultiLayerNetwork fast = network(c, format, DataType.FLOAT, 2, 5);
                fast.setParams(reference.params().dup());
                FastConvolutions.install(fast);
                Nd4j.getRandom().setSeed(3);
                long[] shape = format == CNN2DFormat.NCHW ? new long[] {4, 2, 10, 10} : new long[] {4, 10, 10, 2};
                INDArray x = Nd4j.rand(DataType.FLOAT, shape);
                INDArray labels = Nd4j.rand(DataType.FLOAT, reference.output(x).shape());
                for (int step = 0; step < 5; step++) {
                    reference.fit(x, labels);
                    fast.fit(x, labels);
                }
                assertClose(
                        c + " " + format + " parameters after 5 Adam steps", reference.params(), fast.params(), TOL);
                assertClose(
                        c + " " + format + " score", Nd4j.scalar(reference.score()), Nd4j.scalar(fast.score()), TOL);
            }
        }
    }

    @Test
    void doubleFallsBackToDl4jExactly() {
        assumeOneDnn();
        Case c = grid().get(2);
        MultiLayerNetwork reference = network(c, CNN2DFormat.NCHW, DataType.DOUBLE, 3, 4);
        MultiLayerNetwork fast = network(c, CNN2DFormat.NCHW, DataType.DOUBLE, 3, 4);
        fast.setParams(reference.params().dup());
        assertEquals(1, FastConvolutions.install(fast));
        INDArray x = Nd4j.rand(DataType.DOUBLE, 2, 3, c.height(), c.width());
        INDArray labels = Nd4j.rand(DataType.DOUBLE, reference.output(x).shape());
        assertSame("double", run(reference, x, labels), run(fast, x, labels), 0);
    }

    @Test
    void deconvolutionsMatchDl4jInBothLayouts() {
        assumeOneDnn();
        assumeTrue(OneDnnConvolutionHelper.DIRECT_UNAVAILABLE == null, OneDnnConvolutionHelper.DIRECT_UNAVAILABLE);
        int in = 5;
        int out = 3;
        int checked = 0;
        for (Case c : transposedGrid()) {
            for (CNN2DFormat format : CNN2DFormat.values()) {
                String what = "deconvolution " + c + " " + format;
                MultiLayerNetwork reference = network(c, format, DataType.FLOAT, in, out, true);
                MultiLayerNetwork fast = network(c, format, DataType.FLOAT, in, out, true);
                fast.setParams(reference.params().dup());
                assertEquals(1, FastConvolutions.install(fast), what + ": installed");
                assertInstanceOf(OneDnnDeconvolution2DLayer.class, fast.getLayer(0), what);
                assertTrue(
                        fast.getLayer(0) == fast.getLayer(fast.getLayerNames().get(0)), what + ": by name too");

                Nd4j.getRandom().setSeed(13);
                long[] shape = format == CNN2DFormat.NCHW
                        ? new long[] {2, in, c.height(), c.width()}
                        : new long[] {2, c.height(), c.width(), in};
                INDArray x = Nd4j.rand(DataType.FLOAT, shape).subi(0.5).muli(2);
                INDArray labels = Nd4j.rand(DataType.FLOAT, reference.output(x).shape());
                boolean declined = c.stride()[0] > c.kernel()[0]; // Same mode would need negative padding
                assertEquals(!declined, ((OneDnnDeconvolution2DLayer) fast.getLayer(0)).runsOnOneDnn(x), what);
                Result actual = run(fast, x, labels);
                assertSame(what, run(reference, x, labels), actual, TOL);

                MultiLayerNetwork doubleNet = network(c, format, DataType.DOUBLE, in, out, true);
                doubleNet.setParams(reference.params().castTo(DataType.DOUBLE));
                Result exact = run(doubleNet, x.castTo(DataType.DOUBLE), labels.castTo(DataType.DOUBLE));
                assertSame(what + " vs double", exact, actual, TOL);
                checked++;
            }
        }
        assertEquals(2 * transposedGrid().size(), checked);
    }

    @Test
    void deconvolutionTrainingStepsMatchDl4j() {
        assumeOneDnn();
        // Identity: the backward skips DL4J's second forward; ReLU: the backward computes it again, on oneDNN.
        for (Activation activation : new Activation[] {Activation.IDENTITY, Activation.RELU}) {
            for (CNN2DFormat format : CNN2DFormat.values()) {
                Case c = new Case(i(4, 4), i(2, 2), i(1, 1), i(1, 1), ConvolutionMode.Truncate, true, activation, 6, 6);
                MultiLayerNetwork reference = network(c, format, DataType.FLOAT, 4, 3, true);
                MultiLayerNetwork fast = network(c, format, DataType.FLOAT, 4, 3, true);
                fast.setParams(reference.params().dup());
                FastConvolutions.install(fast);
                Nd4j.getRandom().setSeed(3);
                long[] shape = format == CNN2DFormat.NCHW ? new long[] {4, 4, 6, 6} : new long[] {4, 6, 6, 4};
                INDArray x = Nd4j.rand(DataType.FLOAT, shape);
                INDArray labels = Nd4j.rand(DataType.FLOAT, reference.output(x).shape());
                for (int step = 0; step < 5; step++) {
                    reference.fit(x, labels);
                    fast.fit(x, labels);
                }
                String what = "deconvolution " + c + " " + format;
                assertClose(what + " parameters after 5 Adam steps", reference.params(), fast.params(), TOL);
                // The replacement shares the network's parameter views: setting them changes its output.
                fast.setParams(reference.params().dup());
                assertClose(what + " after setParams", reference.output(x), fast.output(x), TOL);
            }
        }
    }

    @Test
    void deconvolutionsOneDnnCannotRunStayDl4js() {
        assumeOneDnn();
        Case c = transposedGrid().get(0);
        MultiLayerNetwork doubles = network(c, CNN2DFormat.NCHW, DataType.DOUBLE, 3, 2, true);
        assertEquals(0, FastConvolutions.install(doubles), "double parameters");
        assertEquals(
                org.deeplearning4j.nn.layers.convolution.Deconvolution2DLayer.class,
                doubles.getLayer(0).getClass());
        MultiLayerNetwork noisy = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new Deconvolution2D.Builder()
                        .kernelSize(4, 4)
                        .stride(2, 2)
                        .padding(1, 1)
                        .nOut(2)
                        .weightNoise(new org.deeplearning4j.nn.conf.weightnoise.DropConnect(0.5))
                        .build())
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(4, 4, 3))
                .build());
        noisy.init();
        assertEquals(0, FastConvolutions.install(noisy), "weight noise");
        assertEquals(
                org.deeplearning4j.nn.layers.convolution.Deconvolution2DLayer.class,
                noisy.getLayer(0).getClass());
    }

    @Test
    void deconvolutionsInGraphsAndFrozenWrappersAreReplaced() {
        assumeOneDnn();
        assumeTrue(OneDnnConvolutionHelper.DIRECT_UNAVAILABLE == null, OneDnnConvolutionHelper.DIRECT_UNAVAILABLE);
        org.deeplearning4j.nn.graph.ComputationGraph graph =
                new org.deeplearning4j.nn.graph.ComputationGraph(new NeuralNetConfiguration.Builder()
                        .seed(5)
                        .updater(new Adam(1e-2))
                        .graphBuilder()
                        .addInputs("in")
                        .addLayer(
                                "frozen",
                                new org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop(
                                        new Deconvolution2D.Builder()
                                                .kernelSize(4, 4)
                                                .stride(2, 2)
                                                .padding(1, 1)
                                                .nOut(3)
                                                .activation(Activation.IDENTITY)
                                                .build()),
                                "in")
                        .addLayer(
                                "up",
                                new Deconvolution2D.Builder()
                                        .kernelSize(4, 4)
                                        .stride(2, 2)
                                        .padding(1, 1)
                                        .nOut(2)
                                        .activation(Activation.IDENTITY)
                                        .build(),
                                "frozen")
                        .addLayer(
                                "loss",
                                new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                                        .activation(Activation.IDENTITY)
                                        .build(),
                                "up")
                        .setOutputs("loss")
                        .setInputTypes(InputType.convolutional(5, 5, 4))
                        .build());
        graph.init();
        org.deeplearning4j.nn.graph.ComputationGraph reference = graph.clone();
        INDArray x = Nd4j.rand(DataType.FLOAT, 3, 4, 5, 5);
        INDArray labels = Nd4j.rand(DataType.FLOAT, 3, 2, 20, 20);
        reference.fit(new INDArray[] {x}, new INDArray[] {labels}); // its updater exists before the other's install
        graph.fit(new INDArray[] {x}, new INDArray[] {labels});

        assertEquals(2, FastConvolutions.install(graph));
        org.deeplearning4j.nn.api.Layer up = graph.getLayer("up");
        assertInstanceOf(OneDnnDeconvolution2DLayer.class, up);
        assertTrue(java.util.Arrays.asList(graph.getLayers()).contains(up), "the graph's layer array holds it");
        assertInstanceOf(
                OneDnnDeconvolution2DLayer.class,
                ((org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer) graph.getLayer("frozen")).getUnderlying());
        for (int step = 0; step < 3; step++) {
            reference.fit(new INDArray[] {x}, new INDArray[] {labels});
            graph.fit(new INDArray[] {x}, new INDArray[] {labels});
        }
        assertClose("graph parameters after 3 more steps", reference.params(), graph.params(), TOL);
        assertEquals(2, FastConvolutions.install(graph), "a second install keeps the replacements");
    }

    @Test
    void frozenConvolutionsAreInstalledToo() {
        assumeOneDnn();
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new org.deeplearning4j.nn.conf.layers.misc.FrozenLayer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(2)
                        .activation(Activation.IDENTITY)
                        .build()))
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(6, 6, 1))
                .build());
        net.init();
        assertEquals(1, FastConvolutions.install(net));
        org.deeplearning4j.nn.api.Layer inner =
                ((org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer) net.getLayer(0)).getUnderlying();
        assertInstanceOf(OneDnnConvolutionHelper.class, inner.getHelper());
    }

    @Test
    void uninitializedNetworkIsRefusedWithTheFix() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(2).build())
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE).build())
                .setInputType(InputType.convolutional(6, 6, 1))
                .build());
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(
                IllegalStateException.class, () -> FastConvolutions.install(net));
        assertTrue(e.getMessage().contains("init()"), e.getMessage());
    }
}
