package io.github.instancenorm.layers;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.BETA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.GAMMA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;
import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.testutil.Layouts;
import io.github.instancenorm.testutil.Nets;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * Running statistics under real training: one update per {@code fit} minibatch in {@code MultiLayerNetwork} and
 * {@code ComputationGraph}, matching PyTorch's running statistics after the same forwards, while Adam, weight
 * decay and per-layer L2 gradient clipping train gamma and beta but never touch the running statistics.
 */
class InstanceNormalizationTrainingTest {

    static Stream<Arguments> trackedCases() {
        return Fixtures.cases().stream()
                .filter(c -> c.track() && c.affine() && c.dataType() == org.nd4j.linalg.api.buffer.DataType.DOUBLE)
                .flatMap(c -> Stream.of(Layouts.values()).map(l -> Arguments.of(c, l)));
    }

    private static NeuralNetConfiguration.Builder aggressiveTraining(Fixtures.Case c) {
        return new NeuralNetConfiguration.Builder()
                .dataType(c.dataType())
                .seed(12)
                .updater(new Adam(0.05))
                .weightDecay(0.5)
                .gradientNormalization(GradientNormalization.ClipL2PerLayer)
                .gradientNormalizationThreshold(1e-3);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("trackedCases")
    void multiLayerNetworkFitUpdatesRunningStatsOncePerMinibatch(Fixtures.Case c, Layouts layout) {
        Map<String, INDArray> fx = c.load();
        InputType inputType = layout.inputType(fx.get("x1").shape());
        MultiLayerNetwork net = new MultiLayerNetwork(aggressiveTraining(c)
                .list()
                .layer(Nets.layerFor(c).build())
                .layer(Nets.lossLayer(c.rank(), fx.get("x1").size(1), layout))
                .setInputType(inputType)
                .build());
        net.init();
        checkTraining(c, layout, fx, net.getLayer(0), ds -> net.fit(ds), x -> net.output(x));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("trackedCases")
    void computationGraphFitUpdatesRunningStatsOncePerMinibatch(Fixtures.Case c, Layouts layout) {
        Map<String, INDArray> fx = c.load();
        InputType inputType = layout.inputType(fx.get("x1").shape());
        ComputationGraph net = new ComputationGraph(aggressiveTraining(c)
                .graphBuilder()
                .addInputs("in")
                .addLayer("norm", Nets.layerFor(c).build(), "in")
                .addLayer("loss", Nets.lossLayer(c.rank(), fx.get("x1").size(1), layout), "norm")
                .setOutputs("loss")
                .setInputTypes(inputType)
                .build());
        net.init();
        checkTraining(c, layout, fx, net.getLayer("norm"), ds -> net.fit(ds), x -> net.outputSingle(x));
    }

    private static void checkTraining(
            Fixtures.Case c,
            Layouts layout,
            Map<String, INDArray> fx,
            Layer layer,
            Consumer<DataSet> fit,
            Consumer<INDArray> infer) {
        Nets.setInitialParams(layer, c, fx);
        INDArray gammaBefore = layer.getParam(GAMMA).dup();
        INDArray betaBefore = layer.getParam(BETA).dup();
        Nd4j.getRandom().setSeed(7);
        for (int k = 1; k <= Fixtures.STEPS; k++) {
            INDArray x = layout.fromChannelsFirst(fx.get("x" + k));
            fit.accept(new DataSet(x, Nd4j.rand(c.dataType(), x.shape())));
            assertClose("fit " + k + " running mean", fx.get("running_mean" + k), layer.getParam(RUNNING_MEAN));
            assertClose("fit " + k + " running var", fx.get("running_var" + k), layer.getParam(RUNNING_VAR));
            assertEquals(k, layer.getParam(NUM_BATCHES_TRACKED).getDouble(0), "numBatchesTracked");
        }
        assertNotEquals(gammaBefore, layer.getParam(GAMMA), "Adam must train gamma");
        assertNotEquals(betaBefore, layer.getParam(BETA), "Adam must train beta");

        INDArray state = Nd4j.concat(
                        0,
                        layer.getParam(RUNNING_MEAN),
                        layer.getParam(RUNNING_VAR),
                        layer.getParam(NUM_BATCHES_TRACKED))
                .dup();
        infer.accept(layout.fromChannelsFirst(fx.get("x_eval")));
        assertEquals(
                state,
                Nd4j.concat(
                        0,
                        layer.getParam(RUNNING_MEAN),
                        layer.getParam(RUNNING_VAR),
                        layer.getParam(NUM_BATCHES_TRACKED)),
                "inference must not change the running statistics");
    }
}
