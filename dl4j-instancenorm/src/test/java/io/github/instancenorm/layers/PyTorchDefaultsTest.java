package io.github.instancenorm.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.testutil.Compare;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.testutil.Layouts;
import java.util.Map;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The layer built with no option is PyTorch's {@code nn.InstanceNorm1d/2d/3d(C)} with no argument: the same outputs
 * in train and eval mode, no parameters, eps and momentum as PyTorch declares them. Fixtures from
 * {@code src/test/python/gen_default_fixtures.py}.
 */
class PyTorchDefaultsTest {

    @ParameterizedTest(name = "{0}d {1}")
    @CsvSource({
        "1, CHANNELS_FIRST",
        "1, CHANNELS_LAST",
        "2, CHANNELS_FIRST",
        "2, CHANNELS_LAST",
        "3, CHANNELS_FIRST",
        "3, CHANNELS_LAST"
    })
    void noOptionIsPyTorchsNoArgument(int dims, Layouts layout) throws Exception {
        Map<String, INDArray> fx = Nd4j.createFromNpzFile(Fixtures.file("fixtures/defaults/" + dims + "d.npz"));
        InstanceNormalization conf = new InstanceNormalization.Builder().build();
        assertEquals(fx.get("eps").getDouble(0), conf.getEps(), "eps");
        assertEquals(fx.get("momentum").getDouble(0), conf.getMomentum(), "momentum");
        assertFalse(conf.isAffine(), "affine");
        assertFalse(conf.isTrackRunningStats(), "trackRunningStats");

        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.FLOAT)
                .list()
                .layer(conf)
                .setInputType(layout.inputType(fx.get("x_eval").shape()))
                .build());
        net.init();
        long pytorchState =
                fx.get("n_parameters").getLong(0) + fx.get("n_buffers").getLong(0);
        assertEquals(pytorchState, net.numParams(), "parameters and state, as PyTorch has none");
        assertTrue(net.getLayer(0).paramTable().isEmpty(), "no parameter or state table entry");

        for (int step = 0; step < 2; step++) {
            INDArray x = layout.fromChannelsFirst(fx.get("x_train" + step));
            Compare.assertClose(
                    "train step " + step, layout.fromChannelsFirst(fx.get("y_train" + step)), net.output(x, true));
        }
        Compare.assertClose(
                "eval",
                layout.fromChannelsFirst(fx.get("y_eval")),
                net.output(layout.fromChannelsFirst(fx.get("x_eval")), false));
    }
}
