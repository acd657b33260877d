package io.github.instancenorm.examples.stargan;

import io.github.instancenorm.speedups.Speedups;
import java.util.List;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * An independent judge of translated images: a small CNN trained on real (generated) images to recognize their
 * attributes. It never sees the generator or the discriminator, so its verdict on translations is not the GAN
 * grading itself.
 */
public final class AttributeClassifier {

    private final MultiLayerNetwork net;
    private final List<int[]> exclusiveGroups;
    private final int attributes;

    /**
     * @param imageSize       side of the images
     * @param attributes      number of attributes
     * @param exclusiveGroups attribute groups of which exactly one is set
     * @param seed            initialization seed
     */
    public AttributeClassifier(int imageSize, int attributes, List<int[]> exclusiveGroups, long seed) {
        this.attributes = attributes;
        this.exclusiveGroups = exclusiveGroups;
        this.net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(seed)
                .updater(new Adam(2e-3))
                .convolutionMode(ConvolutionMode.Same)
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(16)
                        .activation(Activation.RELU)
                        .build())
                .layer(new SubsamplingLayer.Builder(2, 2).stride(2, 2).build())
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(32)
                        .activation(Activation.RELU)
                        .build())
                .layer(new SubsamplingLayer.Builder(2, 2).stride(2, 2).build())
                .layer(new DenseLayer.Builder()
                        .nOut(64)
                        .activation(Activation.RELU)
                        .build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.XENT)
                        .nOut(attributes)
                        .activation(Activation.SIGMOID)
                        .build())
                .setInputType(InputType.convolutional(imageSize, imageSize, 3))
                .build());
        net.init();
        Speedups.install(net);
    }

    /**
     * Trains on fresh images from a source.
     *
     * @param source     real images with labels
     * @param iterations minibatches to train on
     * @param batchSize  images per minibatch
     */
    public void train(ImageSource source, int iterations, int batchSize) {
        for (int i = 0; i < iterations; i++) {
            Batch b = source.next(batchSize);
            net.fit(new DataSet(b.images(), b.labels()));
        }
    }

    /**
     * @return per image and attribute, whether the predicted value equals the target: exclusive groups are
     *         decided by the arg-max inside the group, other attributes by probability above one half
     */
    public boolean[][] agreement(INDArray images, INDArray targets) {
        INDArray p = net.output(images);
        int n = (int) images.size(0);
        boolean[][] ok = new boolean[n][attributes];
        for (int i = 0; i < n; i++) {
            boolean[] grouped = new boolean[attributes];
            for (int[] group : exclusiveGroups) {
                int predicted = argMax(p, i, group);
                int target = argMax(targets, i, group);
                for (int a : group) {
                    grouped[a] = true;
                    ok[i][a] = predicted == target;
                }
            }
            for (int a = 0; a < attributes; a++) {
                if (!grouped[a]) {
                    ok[i][a] = (p.getDouble(i, a) > 0.5) == (targets.getDouble(i, a) > 0.5);
                }
            }
        }
        return ok;
    }

    private static int argMax(INDArray a, int row, int[] group) {
        int best = group[0];
        for (int g : group) {
            if (a.getDouble(row, g) > a.getDouble(row, best)) {
                best = g;
            }
        }
        return best;
    }
}
