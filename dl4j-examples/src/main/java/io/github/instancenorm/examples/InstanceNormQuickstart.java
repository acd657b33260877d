package io.github.instancenorm.examples;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.speedups.Speedups;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * A first look at {@link InstanceNormalization}: a tiny convolutional network with an instance-norm layer learns
 * a colour transform of generated textures, and running statistics converge while it trains.
 *
 * <p>In training mode the layer normalizes each image with its own statistics; in inference mode it uses the
 * running statistics gathered during training. For data whose per-image statistics are alike (as here), the two
 * agree once the running averages have converged, which this example measures before and after training.
 *
 * <p>Run: {@code mvn -q -B -f dl4j-examples exec:java -Dexample.main=io.github.instancenorm.examples.InstanceNormQuickstart}
 */
public final class InstanceNormQuickstart {

    private static final int SIZE = 32;
    private static final int CHANNELS = 3;
    private static final int BATCH = 16;
    private static final int ITERATIONS = 300;
    private static final int SETTLE_FORWARDS = 60;

    private InstanceNormQuickstart() {}

    /** @param args ignored */
    public static void main(String[] args) {
        Nd4j.getRandom().setSeed(2024);
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(2024)
                .dataType(DataType.FLOAT)
                .updater(new Adam(3e-3))
                .convolutionMode(ConvolutionMode.Same)
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(8)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new InstanceNormalization.Builder()
                        .momentum(0.1)
                        .affine(true)
                        .trackRunningStats(true)
                        .build())
                .layer(new ConvolutionLayer.Builder(1, 1)
                        .nOut(CHANNELS)
                        .activation(Activation.TANH)
                        .build())
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(SIZE, SIZE, CHANNELS))
                .build());
        net.init();
        Speedups.install(net); // convolutions on oneDNN, DL4J's in-place update path, Adam in Java vector loops
        Layer norm = net.getLayer(1);

        INDArray heldOut = textures(BATCH);
        System.out.printf(
                "Instance-norm quickstart: %d iterations of %d generated %dx%d RGB textures%n",
                ITERATIONS, BATCH, SIZE, SIZE);
        System.out.printf(
                "before training: train-mode vs inference-mode output differ by %.1f%%%n",
                100 * modeDifference(net, heldOut));

        long start = System.nanoTime();
        for (int i = 1; i <= ITERATIONS; i++) {
            INDArray x = textures(BATCH);
            net.fit(new DataSet(x, target(x)));
            if (i % 50 == 0 || i == 1) {
                double seconds = (System.nanoTime() - start) / 1e9;
                System.out.printf(
                        "iter %4d  loss %.5f  %6.1f images/s  running mean[0] %+.3f var[0] %.3f%n",
                        i,
                        net.score(),
                        i * BATCH / seconds,
                        norm.getParam(RUNNING_MEAN).getDouble(0),
                        norm.getParam(RUNNING_VAR).getDouble(0));
            }
        }

        System.out.printf(
                "after training: train-mode vs inference-mode output differ by %.1f%%%n",
                100 * modeDifference(net, heldOut));

        // The weights moved while the running averages followed, so they lag a little. Training-mode forwards
        // with the weights fixed update only the running statistics (as PyTorch's model.train() forwards do).
        for (int i = 0; i < SETTLE_FORWARDS; i++) {
            net.output(textures(BATCH), true);
        }
        double difference = modeDifference(net, heldOut);
        System.out.printf(
                "after %d more training-mode forwards (%d updates of the running statistics in all):"
                        + " they differ by %.1f%%%n",
                SETTLE_FORWARDS, (long) norm.getParam(NUM_BATCHES_TRACKED).getDouble(0), 100 * difference);
        System.out.println(
                difference < 0.05
                        ? "Training-mode and inference-mode outputs agree: the running statistics have converged."
                        : "Training-mode and inference-mode outputs still differ: train longer or raise the momentum.");
    }

    /**
     * Relative mean absolute difference between the output normalized with instance statistics (training mode)
     * and with running statistics (inference mode). A copy runs the training-mode forward, as that forward
     * updates the running statistics.
     */
    private static double modeDifference(MultiLayerNetwork net, INDArray x) {
        INDArray train = net.clone().output(x, true);
        INDArray infer = net.output(x, false);
        return Transforms.abs(train.sub(infer)).meanNumber().doubleValue()
                / Transforms.abs(train).meanNumber().doubleValue();
    }

    /** Sinusoidal textures, a fixed wave per channel at a random phase, with noise, brightness and contrast; NCHW. */
    private static INDArray textures(int n) {
        INDArray yy = Nd4j.arange(SIZE).castTo(DataType.FLOAT).reshape(1, 1, SIZE, 1);
        INDArray xx = Nd4j.arange(SIZE).castTo(DataType.FLOAT).reshape(1, 1, 1, SIZE);
        INDArray fy = Nd4j.create(new float[] {0.9f, 0.5f, 1.3f}, 1, CHANNELS, 1, 1);
        INDArray fx = Nd4j.create(new float[] {0.4f, 1.1f, 0.7f}, 1, CHANNELS, 1, 1);
        INDArray phase = Nd4j.rand(DataType.FLOAT, n, CHANNELS, 1, 1).muli(2 * Math.PI);
        INDArray wave = Transforms.sin(yy.mul(fy).add(xx.mul(fx)).add(phase), false);
        INDArray noise = Nd4j.randn(DataType.FLOAT, n, CHANNELS, SIZE, SIZE).muli(0.2);
        INDArray contrast = Nd4j.create(new float[] {2f, 1f, 0.5f}, 1, CHANNELS, 1, 1);
        INDArray brightness = Nd4j.create(new float[] {1f, -2f, 3f}, 1, CHANNELS, 1, 1);
        return wave.addi(noise).muli(contrast).addi(brightness);
    }

    /** The colour transform to learn: the standardized channels rotated (R,G,B) to (G,B,R), squashed. */
    private static INDArray target(INDArray x) {
        INDArray standardized = x.sub(x.mean(true, 2, 3))
                .divi(x.std(false, true, 2, 3).addi(1e-3))
                .muli(0.5);
        INDArray rotated = Nd4j.concat(
                1,
                standardized.get(all(), point(1)),
                standardized.get(all(), point(2)),
                standardized.get(all(), point(0)));
        return Transforms.tanh(rotated, false);
    }

    private static org.nd4j.linalg.indexing.INDArrayIndex all() {
        return org.nd4j.linalg.indexing.NDArrayIndex.all();
    }

    private static org.nd4j.linalg.indexing.INDArrayIndex point(int i) {
        return org.nd4j.linalg.indexing.NDArrayIndex.interval(i, i + 1);
    }
}
