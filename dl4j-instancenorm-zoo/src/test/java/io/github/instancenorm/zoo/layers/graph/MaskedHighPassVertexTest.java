package io.github.instancenorm.zoo.layers.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link io.github.instancenorm.zoo.conf.graph.MaskedHighPassVertex}'s backward, by DL4J's gradient check: both its
 * inputs come from convolutions, so the features' and the mask's gradients both reach parameters. The mask is
 * smaller than the features on one axis and larger on the other, so the resize interpolates both ways. Its
 * forward is checked against PyTorch inside the generator ({@code StarGanV2Test}, configuration hpf64).
 */
class MaskedHighPassVertexTest {

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

    private static ComputationGraph graph() {
        ComputationGraph net = new ComputationGraph(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE)
                .seed(3)
                .updater(new NoOp())
                .weightInit(WeightInit.XAVIER)
                .convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs("x", "m")
                .addLayer("features", conv(3, Activation.TANH), "x")
                .addLayer("mask", conv(1, Activation.SIGMOID), "m")
                .addVertex(
                        "hpf", new io.github.instancenorm.zoo.conf.graph.MaskedHighPassVertex(2.0), "features", "mask")
                .addLayer(
                        "loss",
                        new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                                .activation(Activation.IDENTITY)
                                .build(),
                        "hpf")
                .setOutputs("loss")
                .setInputTypes(InputType.convolutional(6, 5, 2), InputType.convolutional(4, 7, 1))
                .build());
        net.init();
        return net;
    }

    private static ConvolutionLayer conv(int nOut, Activation activation) {
        return new ConvolutionLayer.Builder(3, 3)
                .nOut(nOut)
                .activation(activation)
                .build();
    }

    @Test
    void gradientsOfBothInputs() {
        ComputationGraph net = graph();
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 2, 2, 6, 5);
        INDArray m = Nd4j.randn(DataType.DOUBLE, 2, 1, 4, 7);
        INDArray labels = Nd4j.randn(DataType.DOUBLE, 2, 3, 6, 5);
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(net)
                .inputs(new INDArray[] {x, m})
                .labels(new INDArray[] {labels})
                .epsilon(1e-6)
                .maxRelError(1e-5)
                .minAbsoluteError(1e-9));
        assertTrue(ok, "gradient check failed");
    }

    @Test
    void savedWithItsFilterDivisor() throws Exception {
        ComputationGraph net = graph();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(net, bytes, false);
        ComputationGraph restored =
                ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(bytes.toByteArray()));
        assertEquals(
                net.getConfiguration().getVertices().get("hpf"),
                restored.getConfiguration().getVertices().get("hpf"));
        INDArray x = Nd4j.randn(DataType.DOUBLE, 1, 2, 6, 5);
        INDArray m = Nd4j.randn(DataType.DOUBLE, 1, 1, 4, 7);
        assertEquals(net.outputSingle(x, m), restored.outputSingle(x, m));
    }
}
