package io.github.instancenorm.testutil;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.learning.DecoupledWeightDecay;
import io.github.instancenorm.learning.TorchAdam;
import io.github.instancenorm.testutil.TorchAdamFixtures.Case;
import java.util.List;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A DL4J network with {@link TorchAdamFixtures}' parameters, fed the fixtures' gradients, and the comparison of its
 * parameters and updater state with PyTorch's.
 */
public final class TorchAdamNets {

    private TorchAdamNets() {}

    /**
     * @param c a case
     * @return an initialized {@code DenseLayer} (3 to 4) and {@code OutputLayer} (4 to 2) network in the case's data
     *         type with the case's updater and weight decay (Adam's as DL4J's L2, AdamW's as
     *         {@link DecoupledWeightDecay}, on the weights and the biases), holding the case's initial parameters
     */
    public static MultiLayerNetwork network(Case c) {
        return network(c, false);
    }

    /**
     * @param c                a case
     * @param dl4jsWeightDecay AdamW's decay as DL4J's {@code WeightDecay(wd, true)} instead of
     *                         {@link DecoupledWeightDecay}
     * @return the network of {@link #network(Case)}
     */
    public static MultiLayerNetwork network(Case c, boolean dl4jsWeightDecay) {
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder()
                .seed(1)
                .dataType(c.dataType())
                .updater(c.updater());
        if (c.weightDecay() > 0 && !c.decoupled()) {
            b.l2(c.weightDecay()).l2Bias(c.weightDecay());
        }
        DenseLayer.Builder dense = new DenseLayer.Builder().nIn(3).nOut(4).activation(Activation.TANH);
        OutputLayer.Builder output = new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                .nIn(4)
                .nOut(2)
                .activation(Activation.IDENTITY);
        if (c.weightDecay() > 0 && c.decoupled()) {
            // On each layer: DL4J 1.0.0-M2.1 applies a network-wide weight decay twice (docs/dl4j-m2.1-notes.md).
            for (BaseLayer.Builder<?> layer : List.<BaseLayer.Builder<?>>of(dense, output)) {
                if (dl4jsWeightDecay) {
                    layer.weightDecay(c.weightDecay()).weightDecayBias(c.weightDecay());
                } else {
                    List<Regularization> decay = List.of(new DecoupledWeightDecay(c.weightDecay()));
                    layer.regularization(decay).regularizationBias(decay);
                }
            }
        }
        MultiLayerNetwork net = new MultiLayerNetwork(
                b.list().layer(dense.build()).layer(output.build()).build());
        net.init();
        for (int i = 0; i < TorchAdamFixtures.PARAMS.size(); i++) {
            INDArray p = net.getParam(TorchAdamFixtures.DL4J_KEYS.get(i));
            p.assign(c.initial(TorchAdamFixtures.PARAMS.get(i)).reshape(p.shape()));
        }
        return net;
    }

    /**
     * @param net a network of {@link #network}
     * @return a gradient whose arrays are views of the network's gradient view, as {@code fit()} makes it
     */
    public static Gradient gradientView(MultiLayerNetwork net) {
        net.setInput(Nd4j.ones(net.getLayerWiseConfigurations().getDataType(), 1, 3));
        net.setLabels(Nd4j.zeros(net.getLayerWiseConfigurations().getDataType(), 1, 2));
        net.computeGradientAndScore();
        return net.gradient();
    }

    /**
     * Where PyTorch's values lie in a network of {@link #network}'s flattened parameters and updater state.
     *
     * @param param      for each position of {@code params()}, its index in {@link Case#flat}'s order
     * @param stateKind  for each position of the updater's state view array, 0 ({@code exp_avg}), 1
     *                   ({@code exp_avg_sq}) or 2 ({@code max_exp_avg_sq})
     * @param stateParam for each position of the updater's state view array, its index in {@link Case#flat}'s
     *                   order
     */
    public record Layout(int[] param, int[] stateKind, int[] stateParam) {

        /**
         * @param net a network of {@link #network}, with a {@link TorchAdam} updater
         * @return where the network holds PyTorch's values
         */
        public static Layout of(MultiLayerNetwork net) {
            // Each parameter element holds its index in PyTorch's flat order; the copy puts them in DL4J's order.
            MultiLayerNetwork probe = net.clone();
            int offset = 0;
            for (String key : TorchAdamFixtures.DL4J_KEYS) {
                INDArray p = probe.getParam(key);
                int n = (int) p.length();
                double[] index = new double[n];
                for (int i = 0; i < n; i++) {
                    index[i] = offset + i;
                }
                p.assign(Nd4j.createFromArray(index).castTo(p.dataType()).reshape('c', p.shape()));
                offset += n;
            }
            double[] where = probe.params().toDoubleVector();
            int[] param = new int[where.length];
            for (int i = 0; i < where.length; i++) {
                param[i] = (int) Math.round(where[i]);
            }
            BaseMultiLayerUpdater<?> updater = (BaseMultiLayerUpdater<?>) net.getUpdater();
            int stateLength = (int) updater.getStateViewArray().length();
            int[] kind = new int[stateLength];
            int[] stateParam = new int[stateLength];
            int at = 0;
            for (UpdaterBlock block : updater.getUpdaterBlocks()) {
                int from = (int) block.getParamOffsetStart();
                int len = (int) (block.getParamOffsetEnd() - from);
                int parts = ((TorchAdam) block.getGradientUpdater().getConfig()).isAmsgrad() ? 3 : 2;
                for (int part = 0; part < parts; part++) {
                    for (int i = 0; i < len; i++) {
                        kind[at] = part;
                        stateParam[at] = param[from + i];
                        at++;
                    }
                }
            }
            assertEquals(stateLength, at, "the updater blocks cover the state");
            return new Layout(param, kind, stateParam);
        }

        /**
         * Writes the case's gradient of {@code step} into a network's gradient view.
         *
         * @param net  the network
         * @param c    the case
         * @param step 0 for the first step
         */
        public void setGradient(MultiLayerNetwork net, Case c, int step) {
            double[] torch = c.flat("grad", step);
            double[] dl4j = new double[param.length];
            for (int i = 0; i < dl4j.length; i++) {
                dl4j[i] = torch[param[i]];
            }
            INDArray view = net.getGradientsViewArray();
            view.assign(Nd4j.createFromArray(dl4j).castTo(view.dataType()).reshape(view.shape()));
        }
    }

    /** The worst differences from PyTorch over the steps compared, and the assertion of them. */
    public static final class Errors {
        private double params;
        private double state;
        private String paramsWhere = "";
        private String stateWhere = "";

        /**
         * Compares parameters: {@code |a - e| / (1 + |e|)}.
         *
         * @param where    for the message
         * @param expected PyTorch's, in its flat order
         * @param actual   DL4J's
         * @param index    for each of {@code actual}'s elements, its index in {@code expected}
         */
        public void params(String where, double[] expected, double[] actual, int[] index) {
            for (int i = 0; i < actual.length; i++) {
                double e = expected[index[i]];
                double d = Math.abs(actual[i] - e) / (1 + Math.abs(e));
                if (!(d <= params)) {
                    params = d;
                    paramsWhere = where + " [" + index[i] + "] " + actual[i] + " vs " + e;
                }
            }
        }

        /**
         * Compares state, relative to the largest magnitude of the parameter's array: {@code |a - e| / max|e|} (a
         * moment near 0 has rounding errors of the size of the gradients it averages).
         *
         * @param where    for the message
         * @param c        the case, for the parameters' extents
         * @param expected PyTorch's, in its flat order
         * @param actual   DL4J's
         * @param index    for each of {@code actual}'s elements, its index in {@code expected}
         */
        public void state(String where, Case c, double[] expected, double[] actual, int[] index) {
            double[] scale = new double[TorchAdamFixtures.PARAMS.size()];
            for (int i = 0; i < expected.length; i++) {
                int p = c.paramOf(i);
                scale[p] = Math.max(scale[p], Math.abs(expected[i]));
            }
            for (int i = 0; i < actual.length; i++) {
                double e = expected[index[i]];
                double s = scale[c.paramOf(index[i])];
                double d = s == 0 ? Math.abs(actual[i]) : Math.abs(actual[i] - e) / s;
                if (!(d <= state)) {
                    state = d;
                    stateWhere = where + " [" + index[i] + "] " + actual[i] + " vs " + e;
                }
            }
        }

        /**
         * Compares a network's parameters and updater state with the case's after {@code step}.
         *
         * @param c      the case
         * @param step   0 for the first step
         * @param net    a network of {@link #network}
         * @param layout its layout
         */
        public void network(Case c, int step, MultiLayerNetwork net, Layout layout) {
            params("step " + step, c.flat("param", step), net.params().toDoubleVector(), layout.param());
            double[] all = net.getUpdater().getStateViewArray().toDoubleVector();
            List<String> names = c.stateNames();
            for (int kind = 0; kind < names.size(); kind++) {
                int n = 0;
                for (int k : layout.stateKind()) {
                    n += k == kind ? 1 : 0;
                }
                double[] values = new double[n];
                int[] index = new int[n];
                int j = 0;
                for (int i = 0; i < all.length; i++) {
                    if (layout.stateKind()[i] == kind) {
                        values[j] = all[i];
                        index[j++] = layout.stateParam()[i];
                    }
                }
                state(names.get(kind) + " step " + step, c, c.flat(names.get(kind), step), values, index);
            }
        }

        /** @return the worst parameter difference */
        public double params() {
            return params;
        }

        /** @return the worst state difference */
        public double state() {
            return state;
        }

        /**
         * @param paramTolerance the largest parameter difference allowed
         * @param stateTolerance the largest state difference allowed
         */
        public void assertWithin(double paramTolerance, double stateTolerance) {
            assertTrue(
                    params <= paramTolerance,
                    "parameters: worst " + params + " > " + paramTolerance + " at " + paramsWhere);
            assertTrue(state <= stateTolerance, "state: worst " + state + " > " + stateTolerance + " at " + stateWhere);
        }

        @Override
        public String toString() {
            return String.format("params %.3g (%s), state %.3g (%s)", params, paramsWhere, state, stateWhere);
        }
    }
}
