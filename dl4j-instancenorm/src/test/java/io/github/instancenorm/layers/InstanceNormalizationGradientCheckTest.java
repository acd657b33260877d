package io.github.instancenorm.layers;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.testutil.Layouts;
import io.github.instancenorm.testutil.Nets;
import java.util.Set;
import java.util.stream.Stream;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * DL4J's numerical gradient check through a convolution (an RNN for 1d), the instance norm and an MSE loss, in double precision,
 * for 1d, 2d and 3d input in both channel layouts, affine on and off, tracking on and off, in
 * {@code MultiLayerNetwork} and {@code ComputationGraph}. The first layer's weight gradients are only right if
 * the layer's input gradient is. Running statistics are state, not parameters, and are excluded.
 */
class InstanceNormalizationGradientCheckTest {

    private static final long MINIBATCH = 2;
    private static final long CHANNELS_IN = 2;
    private static final long CHANNELS = 3;
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

    static Stream<Arguments> modes() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (int rank = 3; rank <= 5; rank++) {
            for (Layouts layout : Layouts.values()) {
                for (boolean affine : new boolean[] {true, false}) {
                    for (boolean track : new boolean[] {true, false}) {
                        b.add(Arguments.of(rank, layout, affine, track));
                    }
                }
            }
        }
        return b.build();
    }

    private static long[] channelsFirstShape(int rank) {
        return switch (rank) {
            case 3 -> new long[] {MINIBATCH, CHANNELS_IN, 6};
            case 4 -> new long[] {MINIBATCH, CHANNELS_IN, 4, 5};
            default -> new long[] {MINIBATCH, CHANNELS_IN, 3, 4, 5}; // W after the convolution is not C
        };
    }

    private static Layer conv(int rank, Layouts layout) {
        return switch (rank) {
            // M2.1's conv1d_bp rejects NWC input, so 1d uses a simple RNN in front
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

    private static InstanceNormalization norm(int rank, Layouts layout, boolean affine, boolean track) {
        InstanceNormalization.Builder b = new InstanceNormalization.Builder()
                .affine(affine)
                .trackRunningStats(track)
                .momentum(0.2);
        if (rank == 5) {
            // M2.1's Convolution3D reports NDHWC to the next layer in Truncate mode: the 3d format is explicit.
            b.dataFormat(layout.cnn3d());
        }
        return b.build();
    }

    private static NeuralNetConfiguration.Builder base() {
        return new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE)
                .seed(42)
                .updater(new NoOp())
                .weightInit(WeightInit.XAVIER);
    }

    private static INDArray[] data(int rank, Layouts layout, long[] outShapeChannelsFirst) {
        Nd4j.getRandom().setSeed(123);
        INDArray x = layout.fromChannelsFirst(
                Nd4j.randn(DataType.DOUBLE, channelsFirstShape(rank)).muli(2).addi(0.5));
        INDArray y = layout.fromChannelsFirst(Nd4j.randn(DataType.DOUBLE, outShapeChannelsFirst));
        return new INDArray[] {x, y};
    }

    private static long[] outShape(int rank) {
        long[] s = channelsFirstShape(rank).clone();
        s[1] = CHANNELS;
        for (int i = 2; i < s.length && rank > 3; i++) {
            s[i] -= 1; // convolutions: kernel 2, stride 1, no padding; the RNN keeps the length
        }
        return s;
    }

    private static Set<String> runningState(String prefix) {
        return Set.of(prefix + RUNNING_MEAN, prefix + RUNNING_VAR, prefix + NUM_BATCHES_TRACKED);
    }

    @ParameterizedTest(name = "rank {0} {1} affine={2} track={3}")
    @MethodSource("modes")
    void multiLayerNetwork(int rank, Layouts layout, boolean affine, boolean track) {
        InputType inputType = layout.inputType(channelsFirstShape(rank));
        MultiLayerNetwork net = new MultiLayerNetwork(base().list()
                .layer(conv(rank, layout))
                .layer(norm(rank, layout, affine, track))
                .layer(Nets.lossLayer(rank, CHANNELS, layout))
                .setInputType(inputType)
                .build());
        net.init();
        INDArray[] xy = data(rank, layout, outShape(rank));
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig()
                .net(net)
                .input(xy[0])
                .labels(xy[1])
                .epsilon(1e-6)
                .maxRelError(1e-5)
                .minAbsoluteError(1e-9)
                .excludeParams(runningState("1_")));
        assertTrue(ok, "gradient check failed");
    }

    @ParameterizedTest(name = "rank {0} {1} affine={2} track={3}")
    @MethodSource("modes")
    void computationGraph(int rank, Layouts layout, boolean affine, boolean track) {
        InputType inputType = layout.inputType(channelsFirstShape(rank));
        ComputationGraph net = new ComputationGraph(base().graphBuilder()
                .addInputs("in")
                .addLayer("conv", conv(rank, layout), "in")
                .addLayer("norm", norm(rank, layout, affine, track), "conv")
                .addLayer("loss", Nets.lossLayer(rank, CHANNELS, layout), "norm")
                .setOutputs("loss")
                .setInputTypes(inputType)
                .build());
        net.init();
        INDArray[] xy = data(rank, layout, outShape(rank));
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(net)
                .inputs(new INDArray[] {xy[0]})
                .labels(new INDArray[] {xy[1]})
                .epsilon(1e-6)
                .maxRelError(1e-5)
                .minAbsoluteError(1e-9)
                .excludeParams(runningState("norm_")));
        assertTrue(ok, "gradient check failed");
    }
}
