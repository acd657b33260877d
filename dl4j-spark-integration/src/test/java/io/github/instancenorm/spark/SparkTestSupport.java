package io.github.instancenorm.spark;

import io.github.instancenorm.conf.InstanceNormalization;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** A local[2] Spark context, minibatches with known channel means and the network the tests train. */
final class SparkTestSupport {

    static final int CHANNELS = 4;
    static final int LENGTH = 8;
    /** Examples per minibatch, the same on every worker. */
    static final int BATCH = 4;
    /** The channels' means (1, 3, 5, 7), spread by a per-instance offset and per-element noise. */
    static final double[] CHANNEL_MEANS = {1, 3, 5, 7};

    private SparkTestSupport() {}

    static JavaSparkContext localContext(String appName) {
        return localContext(appName, 2);
    }

    static JavaSparkContext localContext(String appName, int threads) {
        SparkConf conf = new SparkConf()
                .setMaster("local[" + threads + "]")
                .setAppName(appName)
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.ui.enabled", "false")
                .set("spark.default.parallelism", String.valueOf(threads));
        return new JavaSparkContext(conf);
    }

    /**
     * @return {@code count} minibatches of {@link #BATCH} examples, {@code [BATCH, CHANNELS, LENGTH]} in NCW, two
     *     classes; channel c has mean {@code CHANNEL_MEANS[c]} plus a per-instance offset in [-0.5, 0.5), and a
     *     per-instance scale in [0.5, 1.5)
     */
    static List<DataSet> minibatches(int count, long seed) {
        Random random = new Random(seed);
        List<DataSet> batches = new ArrayList<>(count);
        for (int b = 0; b < count; b++) {
            double[] x = new double[BATCH * CHANNELS * LENGTH];
            double[] y = new double[BATCH * 2];
            for (int n = 0; n < BATCH; n++) {
                for (int c = 0; c < CHANNELS; c++) {
                    double offset = random.nextDouble() - 0.5;
                    double scale = 0.5 + random.nextDouble();
                    for (int t = 0; t < LENGTH; t++) {
                        x[(n * CHANNELS + c) * LENGTH + t] = CHANNEL_MEANS[c] + offset + scale * random.nextGaussian();
                    }
                }
                y[n * 2 + random.nextInt(2)] = 1;
            }
            batches.add(new DataSet(
                    Nd4j.create(x, new long[] {BATCH, CHANNELS, LENGTH}, DataType.DOUBLE),
                    Nd4j.create(y, new long[] {BATCH, 2}, DataType.DOUBLE)));
        }
        return batches;
    }

    /**
     * InstanceNormalization first (nothing trainable upstream, so the batch statistics depend on the data alone),
     * max pooling over time (so gamma and beta both get gradients), softmax output; double precision, plain SGD.
     */
    static MultiLayerConfiguration networkConf(Double momentum) {
        return networkConf(momentum, true);
    }

    static MultiLayerConfiguration networkConf(Double momentum, boolean trackRunningStats) {
        return new NeuralNetConfiguration.Builder()
                .seed(12345)
                .dataType(DataType.DOUBLE)
                .updater(new Sgd(0.1))
                .weightInit(WeightInit.XAVIER)
                .list()
                .layer(new InstanceNormalization.Builder()
                        .momentum(momentum)
                        .trackRunningStats(trackRunningStats)
                        .affine(true)
                        .build())
                .layer(new GlobalPoolingLayer.Builder(PoolingType.MAX).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .activation(Activation.SOFTMAX)
                        .nOut(2)
                        .build())
                .setInputType(InputType.recurrent(CHANNELS, LENGTH, RNNFormat.NCW))
                .build();
    }

    static MultiLayerNetwork network(Double momentum) {
        return network(momentum, true);
    }

    static MultiLayerNetwork network(Double momentum, boolean trackRunningStats) {
        MultiLayerNetwork net = new MultiLayerNetwork(networkConf(momentum, trackRunningStats));
        net.init();
        return net;
    }
}
