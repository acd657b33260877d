package io.github.instancenorm.layers;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.testutil.Layouts;
import io.github.instancenorm.testutil.Nets;
import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * Configurations survive JSON, and networks survive {@code ModelSerializer} with running statistics, batch counter
 * and updater state intact, so that training continues after a reload exactly as without it.
 */
class InstanceNormalizationSerializationTest {

    private static InstanceNormalization unusualLayer() {
        return new InstanceNormalization.Builder()
                .eps(1e-3)
                .momentum(null)
                .affine(true)
                .trackRunningStats(true)
                .useInputStatsInInference(true)
                .build();
    }

    @ParameterizedTest
    @EnumSource(Layouts.class)
    void multiLayerConfigurationJsonRoundTrip(Layouts layout) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(4)
                        .dataFormat(layout.cnn2d())
                        .build())
                .layer(unusualLayer())
                .layer(Nets.lossLayer(4, 4, layout))
                .setInputType(layout.inputType(new long[] {1, 3, 8, 8}))
                .build();
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
        assertEquals(conf, back);
        InstanceNormalization in = (InstanceNormalization) back.getConf(1).getLayer();
        assertNull(in.getMomentum(), "momentum(null) must stay null, not become a default");
        assertEquals(1e-3, in.getEps());
        assertTrue(in.isUseInputStatsInInference());
        assertEquals(layout.channelsLast(), in.isChannelsLast());
        assertEquals(4, in.getInputRank());
        assertEquals(4, in.getNOut());
    }

    @Test
    void computationGraphConfigurationJsonRoundTrip() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .graphBuilder()
                .addInputs("in")
                .addLayer(
                        "norm",
                        new InstanceNormalization.Builder()
                                .affine(false)
                                .momentum(0.25)
                                .trackRunningStats(true)
                                .build(),
                        "in")
                .addLayer("loss", Nets.lossLayer(5, 2, Layouts.CHANNELS_LAST), "norm")
                .setOutputs("loss")
                .setInputTypes(Layouts.CHANNELS_LAST.inputType(new long[] {1, 2, 3, 4, 5}))
                .build();
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(conf.toJson());
        assertEquals(conf, back);
        assertEquals(conf.toJson(), back.toJson());
    }

    @Test
    void multiLayerNetworkSurvivesSaveAndLoadMidTraining(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE)
                .seed(3)
                .updater(new Adam(0.01))
                .list()
                .layer(new ConvolutionLayer.Builder(2, 2)
                        .nOut(3)
                        .activation(Activation.TANH)
                        .build())
                .layer(unusualLayer())
                .layer(Nets.lossLayer(4, 3, Layouts.CHANNELS_FIRST))
                .setInputType(InputType.convolutional(6, 6, 2))
                .build());
        net.init();
        List<DataSet> batches = batches(new long[] {4, 2, 6, 6}, new long[] {4, 3, 5, 5});
        net.fit(batches.get(0));
        net.fit(batches.get(1));

        File file = dir.resolve("mln.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, true);
        assertEquals(net.params(), restored.params(), "params, running stats and counter");
        assertEquals(2.0, restored.getLayer(1).getParam(NUM_BATCHES_TRACKED).getDouble(0));
        assertEquals(net.getUpdater().getStateViewArray(), restored.getUpdater().getStateViewArray());

        INDArray runningMeanAfterTwo =
                restored.getLayer(1).getParam(RUNNING_MEAN).dup();
        for (DataSet batch : batches.subList(2, batches.size())) {
            net.fit(batch);
            restored.fit(batch);
        }
        assertEquals(net.params(), restored.params(), "training continues identically after reload");
        assertNotEquals(runningMeanAfterTwo, restored.getLayer(1).getParam(RUNNING_MEAN));
        assertEquals(4.0, restored.getLayer(1).getParam(NUM_BATCHES_TRACKED).getDouble(0));
        assertEquals(
                net.output(batches.get(0).getFeatures()),
                restored.output(batches.get(0).getFeatures()));
    }

    @Test
    void computationGraphSurvivesSaveAndLoadMidTraining(@TempDir Path dir) throws Exception {
        ComputationGraph net = new ComputationGraph(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE)
                .seed(3)
                .updater(new Adam(0.01))
                .graphBuilder()
                .addInputs("in")
                .addLayer(
                        "conv",
                        new ConvolutionLayer.Builder(2, 2)
                                .nOut(3)
                                .dataFormat(Layouts.CHANNELS_LAST.cnn2d())
                                .activation(Activation.TANH)
                                .build(),
                        "in")
                .addLayer(
                        "norm",
                        new InstanceNormalization.Builder()
                                .momentum(null)
                                .affine(true)
                                .trackRunningStats(true)
                                .build(),
                        "conv")
                .addLayer("loss", Nets.lossLayer(4, 3, Layouts.CHANNELS_LAST), "norm")
                .setOutputs("loss")
                .setInputTypes(Layouts.CHANNELS_LAST.inputType(new long[] {1, 2, 6, 6}))
                .build());
        net.init();
        List<DataSet> batches = batches(new long[] {4, 6, 6, 2}, new long[] {4, 5, 5, 3});
        net.fit(batches.get(0));
        net.fit(batches.get(1));

        File file = dir.resolve("cg.zip").toFile();
        net.save(file, true);
        ComputationGraph restored = ComputationGraph.load(file, true);
        assertEquals(net.params(), restored.params());
        assertEquals(
                2.0, restored.getLayer("norm").getParam(NUM_BATCHES_TRACKED).getDouble(0));

        for (DataSet batch : batches.subList(2, batches.size())) {
            net.fit(batch);
            restored.fit(batch);
        }
        assertEquals(net.params(), restored.params(), "training continues identically after reload");
        assertEquals(
                net.outputSingle(batches.get(0).getFeatures()),
                restored.outputSingle(batches.get(0).getFeatures()));
    }

    private static List<DataSet> batches(long[] inShape, long[] outShape) {
        Nd4j.getRandom().setSeed(99);
        List<DataSet> out = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            out.add(new DataSet(
                    Nd4j.randn(DataType.DOUBLE, inShape).muli(1 + i).addi(i), Nd4j.randn(DataType.DOUBLE, outShape)));
        }
        return out;
    }
}
