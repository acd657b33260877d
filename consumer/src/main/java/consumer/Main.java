package consumer;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.speedups.Speedups;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** One network with the layer and a convolution, the speed-ups installed, one training step. */
public final class Main {
    public static void main(String[] args) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(1)
                .updater(new Adam(1e-3))
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3)
                        .nOut(8)
                        .convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new InstanceNormalization.Builder().build()) // nn.InstanceNorm2d(8)
                .layer(new ActivationLayer(Activation.RELU))
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(16, 16, 3))
                .build());
        net.init();
        Speedups.Report report = Speedups.install(net);

        INDArray x = Nd4j.rand(4, 3, 16, 16);
        INDArray y = Nd4j.rand(4, 8, 16, 16);
        double before = net.score(new org.nd4j.linalg.dataset.DataSet(x, y));
        net.fit(x, y);
        double after = net.score(new org.nd4j.linalg.dataset.DataSet(x, y));
        System.out.printf("consumer: one training step, loss %.5f -> %.5f; %s%n", before, after, report);
        if (!(after < before) || report.oneDnnConvolutions() != 1) {
            System.err.println("consumer: expected the loss to fall and one oneDNN convolution");
            System.exit(1);
        }
    }
}
