package io.github.instancenorm.testutil;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.BETA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.GAMMA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;

import io.github.instancenorm.conf.InstanceNormalization;
import java.util.Map;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Cnn3DLossLayer;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.RnnLossLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Small networks and configurations shared by the tests.
 */
public final class Nets {

    private Nets() {}

    /** @return the layer configuration a fixture case describes */
    public static InstanceNormalization.Builder layerFor(Fixtures.Case c) {
        return new InstanceNormalization.Builder()
                .eps(1e-5)
                .momentum(c.momentum())
                .affine(c.affine())
                .trackRunningStats(c.track());
    }

    /**
     * @return an MSE output layer for an input of the given rank and layout: a parameter-free loss layer, except
     *         for 1d channels-last input, where M2.1's {@code RnnLossLayer} scores against its own input instead
     *         of the labels, so an {@code RnnOutputLayer} (with weights) stands in
     */
    public static Layer lossLayer(int rank, long channels, Layouts layout) {
        return switch (rank) {
            case 3 ->
                layout.channelsLast()
                        ? new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                .activation(Activation.IDENTITY)
                                .nOut(channels)
                                .dataFormat(layout.rnn())
                                .build()
                        : new RnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                                .activation(Activation.IDENTITY)
                                .dataFormat(layout.rnn())
                                .build();
            case 4 ->
                new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .format(layout.cnn2d())
                        .build();
            case 5 ->
                new Cnn3DLossLayer.Builder(layout.cnn3d())
                        .lossFunction(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build();
            default -> throw new IllegalArgumentException("rank " + rank);
        };
    }

    /** @return an initialized network holding just the given layer, in the case's data type */
    public static MultiLayerNetwork single(Fixtures.Case c, InstanceNormalization layer, InputType inputType) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(c.dataType())
                .list()
                .layer(layer)
                .setInputType(inputType)
                .build());
        net.init();
        net.initGradientsView();
        return net;
    }

    /** Copies the fixture's gamma, beta and initial running statistics into the layer's parameters. */
    public static void setInitialParams(
            org.deeplearning4j.nn.api.Layer layer, Fixtures.Case c, Map<String, INDArray> fx) {
        if (c.affine()) {
            layer.getParam(GAMMA).assign(fx.get("gamma"));
            layer.getParam(BETA).assign(fx.get("beta"));
        }
        if (c.track()) {
            layer.getParam(RUNNING_MEAN).assign(fx.get("running_mean_init"));
            layer.getParam(RUNNING_VAR).assign(fx.get("running_var_init"));
        }
    }
}
