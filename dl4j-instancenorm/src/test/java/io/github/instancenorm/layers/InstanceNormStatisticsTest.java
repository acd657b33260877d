package io.github.instancenorm.layers;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.BETA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.GAMMA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.testutil.Compare;
import io.github.instancenorm.testutil.Fixtures;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link InstanceNormStatistics} against PyTorch: forward hooks on a network's {@code InstanceNorm2d} modules in
 * training mode, pooling every instance of three batches ({@code src/test/python/gen_statistics_pass_fixtures.py}).
 */
class InstanceNormStatisticsTest {

    private static Map<String, INDArray> fixture() throws Exception {
        return Nd4j.createFromNpzFile(Fixtures.file("fixtures/statistics/pass.npz"));
    }

    /** conv -> IN(track) -> ReLU -> [dropout] -> conv -> IN(track, affine, momentum 0.3), PyTorch's weights. */
    private static MultiLayerNetwork network(Map<String, INDArray> fx, double dropout) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE)
                .updater(new Adam(1e-3))
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .padding(1, 1)
                        .nOut(4)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new InstanceNormalization.Builder()
                        .trackRunningStats(true)
                        .build())
                .layer(new ActivationLayer.Builder().activation(Activation.RELU).build());
        if (dropout > 0) {
            b.layer(new DropoutLayer.Builder(dropout).build());
        }
        b.layer(new ConvolutionLayer.Builder(3, 3)
                        .padding(1, 1)
                        .nOut(5)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new InstanceNormalization.Builder()
                        .affine(true)
                        .trackRunningStats(true)
                        .momentum(0.3)
                        .build())
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(7, 6, 3));
        MultiLayerNetwork net = new MultiLayerNetwork(b.build());
        net.init();
        int shift = dropout > 0 ? 1 : 0;
        Layer conv1 = net.getLayer(0);
        Layer in1 = net.getLayer(1);
        Layer conv2 = net.getLayer(3 + shift);
        Layer in2 = net.getLayer(4 + shift);
        conv1.setParam("W", fx.get("conv1_w"));
        conv1.setParam("b", fx.get("conv1_b").reshape(1, 4));
        conv2.setParam("W", fx.get("conv2_w"));
        conv2.setParam("b", fx.get("conv2_b").reshape(1, 5));
        in2.setParam(GAMMA, fx.get("in2_gamma").reshape(in2.getParam(GAMMA).shape()));
        in2.setParam(BETA, fx.get("in2_beta").reshape(in2.getParam(BETA).shape()));
        for (Object[] l : new Object[][] {{in1, "in1"}, {in2, "in2"}}) {
            Layer layer = (Layer) l[0];
            String name = (String) l[1];
            layer.setParam(
                    RUNNING_MEAN,
                    fx.get(name + "_running_mean")
                            .reshape(layer.getParam(RUNNING_MEAN).shape()));
            layer.setParam(
                    RUNNING_VAR,
                    fx.get(name + "_running_var")
                            .reshape(layer.getParam(RUNNING_VAR).shape()));
            layer.setParam(NUM_BATCHES_TRACKED, fx.get(name + "_tracked").reshape(1));
        }
        return net;
    }

    private static ListDataSetIterator<DataSet> batches(Map<String, INDArray> fx, int... which) {
        List<DataSet> list = new java.util.ArrayList<>();
        for (int i : which) {
            INDArray x = fx.get("x" + i);
            list.add(new DataSet(x, Nd4j.zeros(DataType.DOUBLE, x.size(0), 5, 7, 6)));
        }
        return new ListDataSetIterator<>(list, 1);
    }

    @Test
    void pooledStatisticsAreTorchsAndNothingElseChanges() throws Exception {
        Map<String, INDArray> fx = fixture();
        MultiLayerNetwork net = network(fx, 0);
        INDArray paramsBefore = net.params().dup();
        Map<String, INDArray> trainableBefore = new java.util.HashMap<>();
        for (Layer layer : net.getLayers()) {
            layer.paramTable().forEach((k, v) -> trainableBefore.put(layer.getIndex() + "_" + k, v.dup()));
        }
        INDArray updaterBefore = net.getUpdater().getStateViewArray().dup();
        InstanceNormStatistics.Estimate e = InstanceNormStatistics.collect(net, batches(fx, 0, 1, 2), 0);
        assertEquals(paramsBefore, net.params(), "collecting changes nothing");
        assertEquals(3, e.batches());
        assertEquals(List.of("1", "4"), List.copyOf(e.layers().keySet()));
        check(fx, "in1", e.layers().get("1"));
        check(fx, "in2", e.layers().get("4"));

        // Any partition of the data gives the same estimate.
        InstanceNormStatistics.Estimate parts = InstanceNormStatistics.collect(net, batches(fx, 2), 0)
                .merge(InstanceNormStatistics.collect(net, batches(fx, 1, 0), 0));
        for (String k : e.layers().keySet()) {
            Compare.assertClose(
                    k + " merged mean",
                    Nd4j.createFromArray(e.layers().get(k).mean()),
                    Nd4j.createFromArray(parts.layers().get(k).mean()),
                    1e-12);
            Compare.assertClose(
                    k + " merged var",
                    Nd4j.createFromArray(e.layers().get(k).variance()),
                    Nd4j.createFromArray(parts.layers().get(k).variance()),
                    1e-12);
        }

        // FOLD: one update with each layer's momentum, from the statistics the layers had.
        InstanceNormStatistics.apply(net, e, InstanceNormStatistics.Apply.FOLD);
        for (Object[] l : new Object[][] {{net.getLayer(1), "in1"}, {net.getLayer(4), "in2"}}) {
            Layer layer = (Layer) l[0];
            String name = (String) l[1];
            Compare.assertClose(
                    name + " folded mean",
                    fx.get(name + "_fold_mean"),
                    layer.getParam(RUNNING_MEAN).reshape(-1),
                    TOL);
            Compare.assertClose(
                    name + " folded var",
                    fx.get(name + "_fold_var"),
                    layer.getParam(RUNNING_VAR).reshape(-1),
                    TOL);
            assertEquals(
                    fx.get(name + "_tracked").getDouble(0) + 1,
                    layer.getParam(NUM_BATCHES_TRACKED).getDouble(0));
        }
        // REPLACE: the estimate itself, and the batches it saw.
        InstanceNormStatistics.apply(net, e, InstanceNormStatistics.Apply.REPLACE);
        Compare.assertClose(
                "in2 replaced",
                fx.get("in2_var"),
                net.getLayer(4).getParam(RUNNING_VAR).reshape(-1),
                TOL);
        assertEquals(3.0, net.getLayer(4).getParam(NUM_BATCHES_TRACKED).getDouble(0));
        // Trainable parameters and the updater state are untouched.
        for (Layer layer : net.getLayers()) {
            for (Map.Entry<String, INDArray> p : layer.paramTable().entrySet()) {
                if (!List.of(RUNNING_MEAN, RUNNING_VAR, NUM_BATCHES_TRACKED).contains(p.getKey())) {
                    assertEquals(trainableBefore.get(layer.getIndex() + "_" + p.getKey()), p.getValue(), p.getKey());
                }
            }
        }
        assertEquals(updaterBefore, net.getUpdater().getStateViewArray(), "updater state");
    }

    /** PyTorch's network ran in float (its hooks pool in double): float's tolerance. */
    private static final double TOL = 1e-5;

    private static void check(Map<String, INDArray> fx, String name, InstanceNormStatistics.LayerSums s) {
        Compare.assertClose(name + " mean", fx.get(name + "_mean"), Nd4j.createFromArray(s.mean()), TOL);
        Compare.assertClose(name + " variance", fx.get(name + "_var"), Nd4j.createFromArray(s.variance()), TOL);
        assertEquals((long) fx.get(name + "_count").getDouble(0), s.instances());
    }

    @Test
    void dropoutStaysOffAndAGraphGivesTheSame() throws Exception {
        Map<String, INDArray> fx = fixture();
        MultiLayerNetwork withDropout = network(fx, 0.5);
        InstanceNormStatistics.Estimate e = InstanceNormStatistics.collect(withDropout, batches(fx, 0, 1, 2), 0);
        check(fx, "in1", e.layers().get("1"));
        check(fx, "in2", e.layers().get("5"));

        ComputationGraph graph = network(fx, 0).toComputationGraph();
        InstanceNormStatistics.Estimate g = InstanceNormStatistics.collect(
                graph, new org.nd4j.linalg.dataset.adapter.MultiDataSetIteratorAdapter(batches(fx, 0, 1, 2)), 0);
        assertEquals(2, g.layers().size());
        List<String> names = List.copyOf(g.layers().keySet());
        check(fx, "in1", g.layers().get(names.get(0)));
        check(fx, "in2", g.layers().get(names.get(1)));
    }

    @Test
    void anEstimateOfAnotherNetworkIsRefusedWithoutWriting() throws Exception {
        Map<String, INDArray> fx = fixture();
        MultiLayerNetwork net = network(fx, 0);
        InstanceNormStatistics.Estimate e = InstanceNormStatistics.collect(network(fx, 0.5), batches(fx, 0), 0);
        INDArray before = net.params().dup();
        IllegalArgumentException x = assertThrows(
                IllegalArgumentException.class,
                () -> InstanceNormStatistics.apply(net, e, InstanceNormStatistics.Apply.REPLACE));
        assertTrue(x.getMessage().contains("tracking instance-norm layers are [1, 4]"), x.getMessage());
        assertEquals(before, net.params());
    }
}
