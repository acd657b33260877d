package io.github.instancenorm.speedups.updater;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.zoo.StarGan;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** {@link GraphUpdates} gives the parameters and optimizer state of DL4J's own update path. */
class GraphUpdatesTest {

    private static final int BATCH = 3;

    private static ComputationGraph generator() {
        return StarGan.generator()
                .convDim(4)
                .cDim(3)
                .repeatNum(1)
                .updater(new Adam(1e-2, 0.5, 0.999, 1e-8))
                .seed(5)
                .inputGradients(true)
                .build();
    }

    private static INDArray random(long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.rand(DataType.FLOAT, shape);
    }

    private static Gradient backward(ComputationGraph g, INDArray image, INDArray label) {
        INDArray out = g.feedForward(new INDArray[] {image, label}, true, false)
                .get(g.getConfiguration().getNetworkOutputs().get(0));
        // The gradient of sum(out^2) / 2, which changes from step to step.
        return g.backpropGradient(out.dup());
    }

    @Test
    void sameParametersAndStateAsDl4jsUpdatePath() {
        ComputationGraph expected = generator();
        ComputationGraph viaView = expected.clone();
        ComputationGraph external = expected.clone();
        INDArray before = expected.params().dup();
        for (int it = 0; it < 3; it++) {
            INDArray image = random(11 + it, BATCH, 3, 16, 16).subi(0.5);
            INDArray label = random(21 + it, BATCH, 3).gt(0.5).castTo(DataType.FLOAT);
            // One gradient for all three (the backward passes need not be bitwise reproducible across graphs).
            Gradient reference = backward(expected, image, label);
            Gradient inView = backward(viaView, image, label);
            inView.gradient().assign(reference.gradient());
            Gradient copied = new DefaultGradient(reference.gradient().dup());
            backward(external, image, label); // its forward updates its running statistics, as the others'

            expected.getUpdater().update(reference, it, 0, BATCH, LayerWorkspaceMgr.noWorkspaces());
            expected.params().subi(reference.gradient());
            GraphUpdates.apply(viaView, inView, it, 0, BATCH);
            // A gradient in memory of its own takes DL4J's external-gradient path.
            GraphUpdates.apply(external, copied, it, 0, BATCH);
        }
        assertNotEquals(before, expected.params(), "the steps changed the parameters");
        assertEquals(
                expected.getUpdater().getStateViewArray(), viaView.getUpdater().getStateViewArray(), "Adam");
        assertEquals(
                expected.getUpdater().getStateViewArray(), external.getUpdater().getStateViewArray(), "Adam");
        // The parameters include the running statistics, which each graph's own forward writes, and those may differ
        // in the last float bits between graphs.
        assertClose("parameters, gradient in the graph's view", expected.params(), viaView.params());
        assertClose("parameters, external gradient", expected.params(), external.params());
    }

    /** {@code |a - e| <= 1e-6 (1 + |e|)} element-wise. */
    private static void assertClose(String what, INDArray expected, INDArray actual) {
        float[] e = expected.toFloatVector();
        float[] a = actual.toFloatVector();
        assertEquals(e.length, a.length, what);
        double worst = 0;
        for (int i = 0; i < e.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - e[i]) / (1 + Math.abs(e[i])));
        }
        assertTrue(worst <= 1e-6, what + ": worst scaled difference " + worst);
    }

    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(3)
                .dataType(DataType.FLOAT)
                .updater(new Adam(1e-2, 0.5, 0.999, 1e-8))
                .list()
                .layer(new ConvolutionLayer.Builder(1, 1)
                        .nOut(7)
                        .activation(Activation.TANH)
                        .build())
                .layer(new InstanceNormalization.Builder()
                        .affine(true)
                        .trackRunningStats(true)
                        .build())
                .layer(new GlobalPoolingLayer.Builder(PoolingType.MAX).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                        .nOut(2)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(4, 4, 2))
                .build());
        net.init();
        return net;
    }

    @Test
    void aMultiLayerNetworkGetsDl4jsParametersAndState() {
        MultiLayerNetwork expected = network();
        MultiLayerNetwork actual = network();
        INDArray before = expected.params().dup();
        for (int it = 0; it < 3; it++) {
            INDArray x = random(31 + it, BATCH, 2, 4, 4);
            INDArray y = random(41 + it, BATCH, 2);
            for (MultiLayerNetwork net : new MultiLayerNetwork[] {expected, actual}) {
                net.setInput(x);
                net.setLabels(y);
                net.computeGradientAndScore();
            }
            Gradient reference = expected.gradient();
            expected.getUpdater().update(expected, reference, it, 0, BATCH, LayerWorkspaceMgr.noWorkspaces());
            expected.params().subi(reference.gradient());
            GraphUpdates.apply(actual, actual.gradient(), it, 0, BATCH);
        }
        assertNotEquals(before, expected.params(), "the steps changed the parameters");
        assertArrayEquals(expected.params().toFloatVector(), actual.params().toFloatVector());
        assertArrayEquals(
                expected.getUpdater().getStateViewArray().toFloatVector(),
                actual.getUpdater().getStateViewArray().toFloatVector());
    }

    @Test
    void refusesAMinibatchBelowOneWithoutChangingAnything() {
        ComputationGraph g = generator();
        Gradient gradient = backward(g, random(3, BATCH, 3, 16, 16), Nd4j.zeros(DataType.FLOAT, BATCH, 3));
        INDArray params = g.params().dup();
        INDArray state = g.getUpdater().getStateViewArray().dup();
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> GraphUpdates.apply(g, gradient, 0, 0, 0));
        assertEquals("minibatch must be >= 1, got 0", e.getMessage());
        assertEquals(params, g.params());
        assertEquals(state, g.getUpdater().getStateViewArray());
    }
}
