package io.github.instancenorm.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.testutil.Layouts;
import io.github.instancenorm.testutil.Nets;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Bad configuration and bad input fail with messages that name what was expected and what came, and a failed
 * call changes nothing.
 */
class InstanceNormalizationValidationTest {

    private static void assertMessage(Class<? extends Throwable> type, Executable call, String... fragments) {
        Throwable t = assertThrows(type, call);
        for (String f : fragments) {
            assertTrue(t.getMessage().contains(f), () -> "message \"" + t.getMessage() + "\" lacks \"" + f + "\"");
        }
    }

    @Test
    void rejectsBadHyperparameters() {
        assertMessage(
                IllegalArgumentException.class, () -> new InstanceNormalization.Builder().eps(-1e-5), "eps", "-1.0E-5");
        assertMessage(
                IllegalArgumentException.class,
                () -> new InstanceNormalization.Builder().momentum(1.5),
                "momentum",
                "[0, 1]",
                "1.5");
        assertMessage(
                IllegalArgumentException.class,
                () -> new InstanceNormalization.Builder().momentum(-0.1),
                "momentum",
                "-0.1");
        assertMessage(
                IllegalArgumentException.class,
                () -> new InstanceNormalization.Builder().nIn(3).nOut(4).build(),
                "nIn (3)",
                "nOut (4)");
        new InstanceNormalization.Builder().eps(0).momentum(0.0).build(); // the closed bounds are allowed
        new InstanceNormalization.Builder().momentum(1.0).build();
    }

    @Test
    void rejectsFeedForwardInput() {
        assertMessage(
                IllegalArgumentException.class,
                () -> new NeuralNetConfiguration.Builder()
                        .list()
                        .layer(new InstanceNormalization.Builder().build())
                        .setInputType(InputType.feedForward(10))
                        .build(),
                "expected recurrent (1d), convolutional (2d) or convolutional3D (3d) input");
    }

    private static MultiLayerNetwork net2d(int channels, int h, int w) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.FLOAT)
                .list()
                .layer(new InstanceNormalization.Builder()
                        .affine(true)
                        .trackRunningStats(true)
                        .build())
                .layer(Nets.lossLayer(4, channels, Layouts.CHANNELS_FIRST))
                .setInputType(InputType.convolutional(h, w, channels))
                .build());
        net.init();
        return net;
    }

    @Test
    void rejectsWrongRankAndChannelCountWithoutChangingState() {
        MultiLayerNetwork net = net2d(3, 4, 4);
        INDArray before = net.params().dup();
        assertMessage(
                IllegalArgumentException.class,
                () -> net.output(Nd4j.rand(DataType.FLOAT, 2, 3, 16)),
                "expected 4D input (NCHW)",
                "got 3D input",
                "[2, 3, 16]");
        assertMessage(
                IllegalArgumentException.class,
                () -> net.fit(
                        new DataSet(Nd4j.rand(DataType.FLOAT, 2, 5, 4, 4), Nd4j.rand(DataType.FLOAT, 2, 5, 4, 4))),
                "expected 3 channels",
                "[2, 5, 4, 4]",
                "has 5");
        assertEquals(before, net.params(), "a failed call must not change parameters or running statistics");
    }

    @Test
    void trainingNeedsMoreThanOneSpatialElementButInferenceWithRunningStatsDoesNot() {
        MultiLayerNetwork net = net2d(3, 1, 1);
        INDArray before = net.params().dup();
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 3, 1, 1);
        assertMessage(
                IllegalArgumentException.class,
                () -> net.fit(new DataSet(x, x)),
                "expected more than 1 spatial element",
                "[4, 3, 1, 1]");
        assertEquals(before, net.params(), "the failed training call must not count a batch");
        // PyTorch accepts this in eval mode with running statistics, and so does the layer
        assertEquals(4, net.output(x).size(0));
    }

    @Test
    void unknownLayoutIsAClearError() {
        InstanceNormalization layer =
                new InstanceNormalization.Builder().nOut(3).build();
        assertMessage(IllegalStateException.class, layer::layout, "input type", "dataFormat");
    }

    /**
     * DL4J M2.1's Convolution3D reports NDHWC to the next layer in Truncate mode whatever its format. An explicit 3d
     * data format wins; without one, the error names the cause and the fix.
     */
    @Test
    void aChannelsFirstConvolution3DNeedsTheDataFormat() {
        MultiLayerNetwork withFormat = conv3dThenNorm(new InstanceNormalization.Builder()
                .dataFormat(Convolution3D.DataFormat.NCDHW)
                .build());
        Nd4j.getRandom().setSeed(4);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 2, 2, 4, 5, 6);
        java.util.List<INDArray> acts = withFormat.feedForward(x, false);
        INDArray conv = acts.get(1);
        INDArray normalized = acts.get(2);
        // Channels-first statistics, computed here with plain ND4J reductions over D, H and W.
        INDArray mean = conv.mean(true, 2, 3, 4);
        INDArray centred = conv.sub(mean);
        INDArray var = centred.mul(centred).mean(true, 2, 3, 4);
        INDArray expected = centred.div(Transforms.sqrt(var.add(1e-5), true));
        assertEquals(0, expected.sub(normalized).amaxNumber().doubleValue(), 1e-9);

        MultiLayerNetwork without = conv3dThenNorm(new InstanceNormalization.Builder().build());
        assertMessage(
                IllegalArgumentException.class,
                () -> without.output(x),
                "looks NCDHW",
                ".dataFormat(Convolution3D.DataFormat.NCDHW)");
    }

    private static MultiLayerNetwork conv3dThenNorm(InstanceNormalization norm) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE)
                .list()
                .layer(new Convolution3D.Builder(2, 2, 2)
                        .nOut(3)
                        .dataFormat(Convolution3D.DataFormat.NCDHW)
                        .build())
                .layer(norm)
                .setInputType(InputType.convolutional3D(Convolution3D.DataFormat.NCDHW, 4, 5, 6, 2))
                .build());
        net.init();
        return net;
    }
}
