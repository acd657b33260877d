package io.github.instancenorm.golden;

import io.github.instancenorm.conf.InstanceNormalization;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Networks with the layer, saved with {@link ModelSerializer} by one version of this project and read back by every
 * later build ({@link SavedModelsTest}), so that a moved class, a renamed field or a changed default cannot break
 * users' saved models unnoticed.
 *
 * <p>Each case is a small {@code conv → InstanceNormalization → ReLU → MSE} network, trained {@value #FIT_STEPS}
 * Adam steps so that its parameters and running statistics have moved, then saved with its updater. Beside each
 * {@code NAME.zip} lie the input and three outputs: inference ({@code NAME.eval.npy}), one training-mode forward
 * ({@code NAME.train.npy}, which also updates running statistics), and inference after it
 * ({@code NAME.eval2.npy}).
 *
 * <p>The files were written by this class's {@link #main} at the version named in {@link #VERSION}; run it again
 * only to add a new version's directory, never to overwrite an old one:
 * <pre>
 * mvn -B -q -pl dl4j-instancenorm -am test-compile
 * mvn -B -q -f dl4j-instancenorm exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.github.instancenorm.golden.SavedModels -Dexec.args=dl4j-instancenorm/src/test/resources/golden
 * </pre>
 */
public final class SavedModels {

    /** The version of the project that wrote the committed files: its directory under {@code golden/}. */
    public static final String VERSION = "0.1.0-pre-defaults";

    static final int FIT_STEPS = 3;
    static final long SEED = 20261207L;
    static final int CHANNELS_IN = 3;
    static final int CHANNELS = 4;
    static final int SIZE = 5;
    static final int BATCH = 2;

    /** How the layer's statistics are configured; {@code BARE} is a builder given no option at all. */
    enum Statistics {
        /** {@code trackRunningStats(false)}: instance statistics in training and inference. */
        NONE,
        /** {@code new InstanceNormalization.Builder().build()}: whatever the defaults of the writing version were. */
        BARE,
        /** running statistics with {@code momentum(null)}, a cumulative moving average. */
        CUMULATIVE,
        /** running statistics tracked, inference on the instance's own statistics. */
        INPUT_STATS_IN_INFERENCE;

        InstanceNormalization layer() {
            InstanceNormalization.Builder b = new InstanceNormalization.Builder();
            return switch (this) {
                case NONE -> b.affine(true).trackRunningStats(false).build();
                case BARE -> b.build();
                case CUMULATIVE ->
                    b.affine(true).trackRunningStats(true).momentum(null).build();
                case INPUT_STATS_IN_INFERENCE ->
                    b.affine(true)
                            .trackRunningStats(true)
                            .momentum(0.1)
                            .useInputStatsInInference(true)
                            .build();
            };
        }
    }

    /** One saved network: statistics mode, layout and network type. */
    record Case(Statistics statistics, CNN2DFormat format, boolean graph) {
        String name() {
            return (graph ? "cg" : "mln") + "-"
                    + statistics.name().toLowerCase().replace('_', '-') + "-"
                    + format.name().toLowerCase();
        }

        InputType inputType() {
            return InputType.convolutional(SIZE, SIZE, CHANNELS_IN, format);
        }

        long[] inputShape() {
            return format == CNN2DFormat.NCHW
                    ? new long[] {BATCH, CHANNELS_IN, SIZE, SIZE}
                    : new long[] {BATCH, SIZE, SIZE, CHANNELS_IN};
        }

        long[] outputShape() {
            return format == CNN2DFormat.NCHW
                    ? new long[] {BATCH, CHANNELS, SIZE, SIZE}
                    : new long[] {BATCH, SIZE, SIZE, CHANNELS};
        }

        Model build() {
            NeuralNetConfiguration.Builder base = new NeuralNetConfiguration.Builder()
                    .seed(SEED)
                    .updater(new Adam(1e-2))
                    .weightInit(WeightInit.XAVIER);
            ConvolutionLayer conv = new ConvolutionLayer.Builder(3, 3)
                    .nOut(CHANNELS)
                    .convolutionMode(org.deeplearning4j.nn.conf.ConvolutionMode.Same)
                    .dataFormat(format)
                    .activation(Activation.IDENTITY)
                    .build();
            ActivationLayer relu = new ActivationLayer(Activation.RELU);
            CnnLossLayer loss = new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                    .activation(Activation.IDENTITY)
                    .format(format)
                    .build();
            if (graph) {
                ComputationGraphConfiguration conf = base.graphBuilder()
                        .addInputs("in")
                        .setInputTypes(inputType())
                        .addLayer("conv", conv, "in")
                        .addLayer("norm", statistics.layer(), "conv")
                        .addLayer("relu", relu, "norm")
                        .addLayer("loss", loss, "relu")
                        .setOutputs("loss")
                        .build();
                ComputationGraph net = new ComputationGraph(conf);
                net.init();
                return net;
            }
            MultiLayerNetwork net = new MultiLayerNetwork(base.list()
                    .layer(conv)
                    .layer(statistics.layer())
                    .layer(relu)
                    .layer(loss)
                    .setInputType(inputType())
                    .build());
            net.init();
            return net;
        }
    }

    private SavedModels() {}

    static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        for (boolean graph : new boolean[] {false, true}) {
            for (CNN2DFormat format : CNN2DFormat.values()) {
                for (Statistics s : Statistics.values()) {
                    cases.add(new Case(s, format, graph));
                }
            }
        }
        return cases;
    }

    static INDArray output(Model net, INDArray input, boolean train) {
        return net instanceof ComputationGraph g
                ? g.outputSingle(train, input)
                : ((MultiLayerNetwork) net).output(input, train);
    }

    static void fit(Model net, INDArray input, INDArray labels) {
        if (net instanceof ComputationGraph g) {
            g.fit(new INDArray[] {input}, new INDArray[] {labels});
        } else {
            ((MultiLayerNetwork) net).fit(input, labels);
        }
    }

    /** Writes a copy in C order: {@code writeAsNumpy} writes a view's underlying buffer as it lies. */
    static void write(INDArray array, File dir, String name) throws IOException {
        Nd4j.writeAsNumpy(array.dup('c'), new File(dir, name));
    }

    /** Writes every case into {@code args[0]/VERSION}. */
    public static void main(String[] args) throws IOException {
        File dir = new File(args.length > 0 ? args[0] : "src/test/resources/golden", VERSION);
        if (!dir.mkdirs() && !dir.isDirectory()) {
            throw new IOException("Cannot create " + dir);
        }
        Nd4j.getRandom().setSeed(SEED);
        for (Case c : cases()) {
            Model net = c.build();
            INDArray input = Nd4j.rand(c.inputShape()).muli(4).subi(1);
            for (int step = 0; step < FIT_STEPS; step++) {
                INDArray x = Nd4j.rand(c.inputShape()).muli(3).addi(step);
                fit(net, x, Nd4j.rand(c.outputShape()));
            }
            ModelSerializer.writeModel(net, new File(dir, c.name() + ".zip"), true);
            write(input, dir, c.name() + ".in.npy");
            write(output(net, input, false), dir, c.name() + ".eval.npy");
            write(output(net, input, true), dir, c.name() + ".train.npy");
            write(output(net, input, false), dir, c.name() + ".eval2.npy");
            System.out.println("wrote " + c.name());
        }
    }
}
