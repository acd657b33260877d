package io.github.instancenorm.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Deconvolution2D;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PReLULayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Loads state dicts saved by PyTorch into DL4J networks and compares the networks' outputs
 * with the outputs PyTorch computed for the same inputs (saved by the fixture script).
 */
class TorchWeightsTest {

    static MultiLayerNetwork generator(boolean useLogStd, DataType dtype) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(dtype)
                .convolutionMode(ConvolutionMode.Truncate)
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .padding(1, 1)
                        .nIn(3)
                        .nOut(4)
                        .activation(Activation.IDENTITY)
                        .name("main.0")
                        .build())
                .layer(new BatchNormalization.Builder()
                        .eps(1e-5)
                        .useLogStd(useLogStd)
                        .name("main.1")
                        .build())
                .layer(new ActivationLayer.Builder()
                        .activation(Activation.RELU)
                        .name("main.2")
                        .build())
                .layer(new Deconvolution2D.Builder(3, 3)
                        .stride(2, 2)
                        .nOut(2)
                        .activation(Activation.IDENTITY)
                        .name("main.3")
                        .build())
                .setInputType(InputType.convolutional(5, 5, 3))
                .build());
        net.init();
        return net;
    }

    static MultiLayerNetwork mlp(DataType dtype) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(dtype)
                .list()
                .layer(new DenseLayer.Builder()
                        .nIn(5)
                        .nOut(4)
                        .activation(Activation.IDENTITY)
                        .name("fc1")
                        .build())
                .layer(new BatchNormalization.Builder().eps(1e-5).name("bn").build())
                .layer(new ActivationLayer.Builder()
                        .activation(Activation.RELU)
                        .build()) // DL4J's BN ignores activation()
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                        .nOut(3)
                        .activation(Activation.IDENTITY)
                        .name("fc2")
                        .build())
                .setInputType(InputType.feedForward(5))
                .build());
        net.init();
        return net;
    }

    static ComputationGraph mlpGraph() {
        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder()
                .graphBuilder()
                .addInputs("x")
                .addLayer(
                        "fc1",
                        new DenseLayer.Builder()
                                .nIn(5)
                                .nOut(4)
                                .activation(Activation.IDENTITY)
                                .build(),
                        "x")
                .addLayer("bn", new BatchNormalization.Builder().eps(1e-5).build(), "fc1")
                .addLayer(
                        "relu",
                        new ActivationLayer.Builder()
                                .activation(Activation.RELU)
                                .build(),
                        "bn")
                .addLayer(
                        "fc2",
                        new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                .nOut(3)
                                .activation(Activation.IDENTITY)
                                .build(),
                        "relu")
                .setOutputs("fc2")
                .setInputTypes(InputType.feedForward(5))
                .build());
        g.init();
        return g;
    }

    private static void assertClose(INDArray expected, INDArray actual, double tol) {
        assertArrayEquals(expected.shape(), actual.shape());
        double diff = expected.castTo(DataType.DOUBLE)
                .sub(actual.castTo(DataType.DOUBLE))
                .amaxNumber()
                .doubleValue();
        assertTrue(diff <= tol, "max |difference| " + diff + " > " + tol);
    }

    @Test
    void generatorReproducesPyTorchOutputWithBothBatchNormStorages() throws Exception {
        StateDict sd = StateDict.read(Fixtures.path("generator.pt"));
        StateDict io = StateDict.read(Fixtures.path("generator_io.pt"));
        for (boolean logStd : new boolean[] {false, true}) {
            MultiLayerNetwork net = generator(logStd, DataType.FLOAT);
            LoadReport r = TorchWeights.load(net, sd);
            assertTrue(r.isComplete(), r.toString());
            assertEquals(9, r.loadedKeys().size() + 1, r.toString()); // num_batches_tracked accepted, not loaded
            assertClose(io.get("output"), net.output(io.get("input")), 1e-5);
        }
    }

    @Test
    void mlpReproducesPyTorchOutputInMultiLayerNetworkAndGraph() throws Exception {
        StateDict sd = StateDict.read(Fixtures.path("mlp.pt"));
        StateDict io = StateDict.read(Fixtures.path("mlp_io.pt"));
        MultiLayerNetwork net = mlp(DataType.DOUBLE); // float32 checkpoint cast to the network's dtype
        TorchWeights.load(net, sd);
        assertEquals(DataType.DOUBLE, net.params().dataType());
        assertClose(io.get("output"), net.output(io.get("input").castTo(DataType.DOUBLE)), 1e-5);

        ComputationGraph g = mlpGraph();
        TorchWeights.load(g, sd);
        assertClose(io.get("output"), g.outputSingle(io.get("input")), 1e-5);
    }

    @Test
    void wrappedCheckpointLoadsAfterSelectAndStrip() throws Exception {
        StateDict ckpt = StateDict.read(Fixtures.path("wrapped_legacy.pt"));
        MultiLayerNetwork net = generator(true, DataType.FLOAT);
        StateDictMismatchException e =
                assertThrows(StateDictMismatchException.class, () -> TorchWeights.load(net, ckpt));
        assertTrue(e.getMessage().contains("select"), e.getMessage());
        e = assertThrows(StateDictMismatchException.class, () -> TorchWeights.load(net, ckpt.select("G")));
        assertTrue(e.getMessage().contains("stripPrefix(\"module.\")"), e.getMessage());
        TorchWeights.load(net, ckpt.select("G").stripPrefix("module."));
        StateDict io = StateDict.read(Fixtures.path("generator_io.pt"));
        assertClose(io.get("output"), net.output(io.get("input")), 1e-5);
    }

    @Test
    void strictFailureListsEverythingAndChangesNothing() throws Exception {
        StateDict sd = StateDict.read(Fixtures.path("generator.pt"));
        StateDict broken = new StateDict();
        for (String k : sd.keys()) {
            if (!k.equals("main.0.bias")) {
                broken.put(k, sd.value(k));
            }
        }
        broken.put(
                "main.3.weight",
                sd.get("main.3.weight")
                        .get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 3))
                        .dup());
        broken.put("extra.weight", sd.get("main.0.bias"));
        MultiLayerNetwork net = generator(false, DataType.FLOAT);
        INDArray before = net.params().dup();
        StateDictMismatchException e =
                assertThrows(StateDictMismatchException.class, () -> TorchWeights.load(net, broken));
        String m = e.getMessage();
        assertTrue(m.contains("Missing key(s) in state_dict: main.0.bias."), m);
        assertTrue(m.contains("Unexpected key(s) in state_dict: extra.weight."), m);
        assertTrue(
                m.contains("size mismatch for main.3.weight: copying a param with shape [3, 2, 3, 3] from checkpoint,"
                        + " the shape in current model is [4, 2, 3, 3]"),
                m);
        assertEquals(before, net.params(), "a failed strict load must not change the network");

        LoadReport r = TorchWeights.load(net, broken, LoadOptions.defaults().strict(false));
        assertEquals(List.of("main.0.bias"), r.missingKeys());
        assertEquals(List.of("extra.weight"), r.unexpectedKeys());
        assertEquals(1, r.shapeMismatches().size());
        assertFalse(r.isComplete());
        assertEquals(sd.get("main.0.weight"), net.getLayer(0).getParam("W"));
        assertTrue(r.loadedKeys().contains("main.1.running_var"));
    }

    @Test
    void userMappingForOtherLayerNames() throws Exception {
        StateDict sd = StateDict.read(Fixtures.path("mlp.pt"));
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new DenseLayer.Builder()
                        .nIn(5)
                        .nOut(4)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new BatchNormalization.Builder().build())
                .layer(new ActivationLayer.Builder().activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                        .nOut(3)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.feedForward(5))
                .build());
        net.init();
        Map<String, String> names = Map.of("layer0", "fc1", "layer1", "bn");
        LoadReport r = TorchWeights.load(
                net, sd, LoadOptions.defaults().layerNames(names::get).mapLayer("layer3", "fc2"));
        assertTrue(r.isComplete(), r.toString());
        StateDict io = StateDict.read(Fixtures.path("mlp_io.pt"));
        assertClose(io.get("output"), net.output(io.get("input")), 1e-5);
    }

    @Test
    void conv1dConv3dEmbeddingAndRegisteredMappers() throws Exception {
        StateDict sd = StateDict.read(Fixtures.path("misc.pt"));
        MultiLayerNetwork c1 = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new Convolution1DLayer.Builder()
                        .kernelSize(4)
                        .nIn(2)
                        .nOut(3)
                        .name("c1")
                        .build())
                .setInputType(InputType.recurrent(2, 8))
                .build());
        c1.init();
        LoadReport r = TorchWeights.load(c1, sd, LoadOptions.defaults().strict(false));
        assertEquals(List.of("c1.weight", "c1.bias"), r.loadedKeys());
        assertEquals(sd.get("c1.weight"), c1.getLayer(0).getParam("W").reshape(3, 2, 4));

        MultiLayerNetwork c3 = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new Convolution3D.Builder()
                        .kernelSize(1, 2, 3)
                        .nIn(2)
                        .nOut(3)
                        .name("c3")
                        .build())
                .setInputType(InputType.convolutional3D(4, 4, 4, 2))
                .build());
        c3.init();
        r = TorchWeights.load(c3, sd, LoadOptions.defaults().strict(false));
        assertEquals(List.of("c3.weight", "c3.bias"), r.loadedKeys());
        assertEquals(sd.get("c3.weight"), c3.getLayer(0).getParam("W"));

        MultiLayerNetwork emb = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new EmbeddingLayer.Builder()
                        .nIn(6)
                        .nOut(4)
                        .hasBias(false)
                        .name("emb")
                        .build())
                .build());
        emb.init();
        r = TorchWeights.load(emb, sd, LoadOptions.defaults().strict(false));
        assertEquals(List.of("emb.weight"), r.loadedKeys(), r.toString());
        assertEquals(sd.get("emb.weight"), emb.getLayer(0).getParam("W"));
        assertTrue(r.unexpectedKeys().contains("inorm.running_var"), r.toString());
    }

    @Test
    void unmappedLayerIsReportedAndCustomMapperFixesIt() throws Exception {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .list()
                .layer(new PReLULayer.Builder().inputShape(4).name("act").build())
                .setInputType(InputType.feedForward(4))
                .build());
        net.init();
        StateDict sd =
                new StateDict().put("act.weight", org.nd4j.linalg.factory.Nd4j.createFromArray(0.1f, 0.2f, 0.3f, 0.4f));
        StateDictMismatchException e = assertThrows(StateDictMismatchException.class, () -> TorchWeights.load(net, sd));
        assertTrue(e.getMessage().contains("no ParamMapper"), e.getMessage());
        ParamMappers.register(PReLULayer.class, ParamMappers.renamed(new String[] {"weight", "W"}, Set.of()));
        try {
            LoadReport r = TorchWeights.load(net, sd);
            assertEquals(List.of("act.weight"), r.loadedKeys());
            assertEquals(sd.get("act.weight"), net.getLayer(0).getParam("W").reshape(4));
        } finally {
            ParamMappers.unregister(PReLULayer.class);
        }
    }
}
