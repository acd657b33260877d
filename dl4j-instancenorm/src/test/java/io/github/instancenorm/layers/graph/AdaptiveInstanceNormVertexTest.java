package io.github.instancenorm.layers.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex.Modulation;
import io.github.instancenorm.ops.cpu.KernelPaths;
import io.github.instancenorm.testutil.Compare;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.testutil.Layouts;
import io.github.instancenorm.testutil.Nets;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.Map;
import java.util.stream.Stream;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.inputs.InvalidInputTypeException;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.VertexIndices;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * {@link io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex}: outputs and the gradients of both inputs
 * against PyTorch's {@code (1 + gamma) * F.instance_norm(x) + beta} and {@code gamma * F.instance_norm(x) + beta}
 * (fixtures from {@code src/test/python/gen_adain_fixtures.py}), on the CPU kernels and the ND4J-op form, in both
 * layouts; DL4J's gradient check in a graph; serialization; errors.
 */
class AdaptiveInstanceNormVertexTest {

    private static DataType previousType;

    @BeforeAll
    static void doublePrecision() {
        previousType = Nd4j.dataType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @AfterAll
    static void restorePrecision() {
        Nd4j.setDefaultDataTypes(previousType, previousType);
    }

    private static final String[] CASES = {
        "1d_float",
        "1d_double",
        "2d_float",
        "2d_double",
        "3d_float",
        "3d_double",
        "2d_one_sample_float",
        "2d_large_float"
    };

    static Stream<Arguments> fixtureCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (String name : CASES) {
            for (Modulation m : Modulation.values()) {
                for (Layouts layout : Layouts.values()) {
                    for (KernelPaths path : new KernelPaths[] {KernelPaths.CPU_KERNELS, KernelPaths.OP_FORM}) {
                        b.add(Arguments.of(name, m, layout, path));
                    }
                }
            }
        }
        return b.build();
    }

    private static String form(Modulation m) {
        return m == Modulation.ONE_PLUS_GAMMA ? "one_plus" : "plain";
    }

    /** The vertex alone, with two or three inputs, forward then backward. */
    private static INDArray[] run(Modulation m, boolean channelsLast, INDArray g, INDArray... inputs) {
        AdaptiveInstanceNormVertex v =
                new AdaptiveInstanceNormVertex(null, "adain", 0, g.dataType(), m, 1e-5, channelsLast);
        VertexIndices[] in = new VertexIndices[inputs.length];
        for (int i = 0; i < in.length; i++) {
            in[i] = new VertexIndices(i, 0);
        }
        v.setInputVertices(in);
        LayerWorkspaceMgr ws = LayerWorkspaceMgr.noWorkspaces();
        for (int i = 0; i < inputs.length; i++) {
            v.setInput(i, inputs[i], ws);
        }
        INDArray y = v.doForward(true, ws);
        v.setEpsilon(g);
        INDArray[] grads = v.doBackward(false, ws).getSecond();
        INDArray[] all = new INDArray[grads.length + 1];
        all[0] = y;
        System.arraycopy(grads, 0, all, 1, grads.length);
        return all;
    }

    @ParameterizedTest(name = "{0} {1} {2} {3}")
    @MethodSource("fixtureCases")
    void matchesPyTorch(String name, Modulation m, Layouts layout, KernelPaths path) throws Exception {
        Map<String, INDArray> fx = Nd4j.createFromNpzFile(Fixtures.file("fixtures/adain/" + name + ".npz"));
        INDArray x = layout.fromChannelsFirst(fx.get("x"));
        INDArray g = layout.fromChannelsFirst(fx.get("g"));
        INDArray h = fx.get("h");
        if (path.cpuKernels()) {
            assertTrue(KernelPaths.cpuKernelsApply(x, g), "the kernels must take these arrays");
        }
        INDArray[][] result = new INDArray[1][];
        path.run(() -> result[0] = run(m, layout.channelsLast(), g, x, h));
        String what = name + " " + form(m) + " " + layout + " " + path;
        Compare.assertClose(what + " output", layout.fromChannelsFirst(fx.get("y_" + form(m))), result[0][0]);
        Compare.assertClose(what + " dx", layout.fromChannelsFirst(fx.get("dx_" + form(m))), result[0][1]);
        Compare.assertClose(what + " dh", fx.get("dh_" + form(m)), result[0][2]);

        // gamma and beta as two inputs: the same numbers, the gradient split the same way.
        long c = h.size(1) / 2;
        INDArray gamma = h.get(NDArrayIndex.all(), NDArrayIndex.interval(0, c)).dup();
        INDArray beta =
                h.get(NDArrayIndex.all(), NDArrayIndex.interval(c, 2 * c)).dup();
        path.run(() -> result[0] = run(m, layout.channelsLast(), g, x, gamma, beta));
        Compare.assertClose(what + " output, 3 inputs", layout.fromChannelsFirst(fx.get("y_" + form(m))), result[0][0]);
        INDArray dh = fx.get("dh_" + form(m));
        Compare.assertClose(what + " dgamma", dh.get(NDArrayIndex.all(), NDArrayIndex.interval(0, c)), result[0][2]);
        Compare.assertClose(what + " dbeta", dh.get(NDArrayIndex.all(), NDArrayIndex.interval(c, 2 * c)), result[0][3]);
    }

    static Stream<Arguments> graphCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (int rank = 3; rank <= 5; rank++) {
            for (Layouts layout : Layouts.values()) {
                for (Modulation m : Modulation.values()) {
                    b.add(Arguments.of(rank, layout, m, rank == 4 && m == Modulation.GAMMA));
                }
            }
        }
        return b.build();
    }

    private static final long CHANNELS = 3;

    private static long[] shape(int rank) {
        return switch (rank) {
            case 3 -> new long[] {2, 2, 6};
            case 4 -> new long[] {2, 2, 4, 5};
            default -> new long[] {2, 2, 3, 4, 5};
        };
    }

    private static Layer features(int rank, Layouts layout) {
        return switch (rank) {
            case 3 ->
                new SimpleRnn.Builder()
                        .nOut(CHANNELS)
                        .dataFormat(layout.rnn())
                        .activation(Activation.TANH)
                        .build();
            case 4 ->
                new ConvolutionLayer.Builder(2, 2)
                        .nOut(CHANNELS)
                        .dataFormat(layout.cnn2d())
                        .activation(Activation.TANH)
                        .build();
            default ->
                new Convolution3D.Builder(2, 2, 2)
                        .nOut(CHANNELS)
                        .dataFormat(layout.cnn3d())
                        .activation(Activation.TANH)
                        .build();
        };
    }

    /** x → features → AdaIN(·, Dense(s)) → MSE: every parameter's gradient passes through one of the inputs. */
    private static ComputationGraph graph(int rank, Layouts layout, Modulation m, boolean threeInputs) {
        ComputationGraphConfiguration.GraphBuilder b = new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE)
                .seed(42)
                .updater(new NoOp())
                .weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("x", "s")
                .addLayer("features", features(rank, layout), "x");
        io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex adain =
                new io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex(m, 1e-5, layout.channelsLast());
        if (threeInputs) {
            b.addLayer("gamma", dense(CHANNELS), "s")
                    .addLayer("beta", dense(CHANNELS), "s")
                    .addVertex("adain", adain, "features", "gamma", "beta");
        } else {
            b.addLayer("fc", dense(2 * CHANNELS), "s").addVertex("adain", adain, "features", "fc");
        }
        ComputationGraph net = new ComputationGraph(b.addLayer("loss", Nets.lossLayer(rank, CHANNELS, layout), "adain")
                .setOutputs("loss")
                .setInputTypes(layout.inputType(shape(rank)), InputType.feedForward(4))
                .build());
        net.init();
        return net;
    }

    private static DenseLayer dense(long nOut) {
        return new DenseLayer.Builder()
                .nOut(nOut)
                .activation(Activation.IDENTITY)
                .build();
    }

    @ParameterizedTest(name = "rank {0} {1} {2} threeInputs={3}")
    @MethodSource("graphCases")
    void gradientCheckInAGraph(int rank, Layouts layout, Modulation m, boolean threeInputs) {
        ComputationGraph net = graph(rank, layout, m, threeInputs);
        Nd4j.getRandom().setSeed(123);
        INDArray x = layout.fromChannelsFirst(
                Nd4j.randn(DataType.DOUBLE, shape(rank)).muli(2).addi(0.5));
        INDArray s = Nd4j.randn(DataType.DOUBLE, 2, 4);
        INDArray labels = Nd4j.randn(DataType.DOUBLE, net.outputSingle(x, s).shape());
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(net)
                .inputs(new INDArray[] {x, s})
                .labels(new INDArray[] {labels})
                .epsilon(1e-6)
                .maxRelError(1e-5)
                .minAbsoluteError(1e-9));
        assertTrue(ok, "gradient check failed");
    }

    @Test
    void savedAndRestoredWithItsOptions() throws Exception {
        ComputationGraph net = graph(4, Layouts.CHANNELS_LAST, Modulation.GAMMA, false);
        ComputationGraphConfiguration fromJson =
                ComputationGraphConfiguration.fromJson(net.getConfiguration().toJson());
        assertEquals(
                net.getConfiguration().getVertices().get("adain"),
                fromJson.getVertices().get("adain"));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(net, bytes, false);
        ComputationGraph restored =
                ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(bytes.toByteArray()));
        Nd4j.getRandom().setSeed(5);
        INDArray x = Layouts.CHANNELS_LAST.fromChannelsFirst(Nd4j.randn(DataType.DOUBLE, shape(4)));
        INDArray s = Nd4j.randn(DataType.DOUBLE, 2, 4);
        assertEquals(net.outputSingle(x, s), restored.outputSingle(x, s));
    }

    @Test
    void aModulationOfTheWrongWidthIsNamedWhenBuilding() {
        InvalidInputTypeException e = assertThrows(
                InvalidInputTypeException.class,
                () -> new NeuralNetConfiguration.Builder()
                        .graphBuilder()
                        .addInputs("x", "s")
                        .addLayer("fc", dense(5), "s")
                        .addVertex(
                                "adain", new io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex(), "x", "fc")
                        .setOutputs("adain")
                        .setInputTypes(InputType.convolutional(4, 4, 3), InputType.feedForward(2))
                        .build());
        assertTrue(e.getMessage().contains("width 2C = 6") && e.getMessage().contains("nOut"), e.getMessage());
    }

    @Test
    void aLayoutMismatchIsNamedWhenBuilding() {
        InvalidInputTypeException e = assertThrows(
                InvalidInputTypeException.class,
                () -> new NeuralNetConfiguration.Builder()
                        .graphBuilder()
                        .addInputs("x", "s")
                        .addLayer("fc", dense(6), "s")
                        .addVertex(
                                "adain", new io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex(), "x", "fc")
                        .setOutputs("adain")
                        .setInputTypes(
                                InputType.convolutional(4, 4, 3, org.deeplearning4j.nn.conf.CNN2DFormat.NHWC),
                                InputType.feedForward(2))
                        .build());
        assertTrue(e.getMessage().contains("channelsLast=true"), e.getMessage());
    }

    @Test
    void wrongShapesAtRunTimeAreNamed() {
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 3, 4, 4);
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> run(Modulation.ONE_PLUS_GAMMA, false, x.ulike(), x, Nd4j.rand(DataType.FLOAT, 2, 5)));
        assertTrue(e.getMessage().contains("[2, 6]") && e.getMessage().contains("adain"), e.getMessage());
        IllegalArgumentException one = assertThrows(
                IllegalArgumentException.class,
                () -> run(
                        Modulation.ONE_PLUS_GAMMA,
                        false,
                        x.ulike(),
                        Nd4j.rand(DataType.FLOAT, 2, 3, 1, 1),
                        Nd4j.rand(DataType.FLOAT, 2, 6)));
        assertTrue(one.getMessage().contains("more than 1 spatial element"), one.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> new io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex(Modulation.GAMMA, -1, false));
    }
}
