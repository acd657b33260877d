package io.github.instancenorm.spark;

import io.github.instancenorm.conf.InstanceNormalization;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
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

    /**
     * A pointwise convolution (kernel 1, bias, identity) before a tracking InstanceNormalization, so that the
     * statistics depend on the weights: {@code conv -> IN(track, affine, momentum 0.1) -> max over time -> softmax}.
     *
     * @param normalization the network's gradient normalization (or clipping), {@code None} for none
     * @param threshold     its threshold
     */
    static MultiLayerNetwork convNetwork(GradientNormalization normalization, double threshold) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(4321)
                .dataType(DataType.DOUBLE)
                .updater(new Sgd(0.1))
                .weightInit(WeightInit.XAVIER)
                .gradientNormalization(normalization)
                .gradientNormalizationThreshold(threshold)
                .list()
                .layer(new Convolution1DLayer.Builder()
                        .kernelSize(1)
                        .nOut(CHANNELS)
                        .activation(Activation.IDENTITY)
                        .rnnDataFormat(RNNFormat.NCW)
                        .build())
                .layer(new InstanceNormalization.Builder()
                        .momentum(0.1)
                        .trackRunningStats(true)
                        .affine(true)
                        .build())
                .layer(new GlobalPoolingLayer.Builder(PoolingType.MAX).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .activation(Activation.SOFTMAX)
                        .nOut(2)
                        .build())
                .setInputType(InputType.recurrent(CHANNELS, LENGTH, RNNFormat.NCW))
                .build());
        net.init();
        return net;
    }

    /**
     * The statistics pass's estimate written out in plain doubles, independently of the layer: the pointwise
     * convolution {@code y[n, o, t] = b[o] + sum_c W[o, c] x[n, c, t]} (identity when {@code weights} is null),
     * then, per channel, the mean over every instance of all the batches of its mean and of its unbiased variance.
     * DL4J M2.1's {@code Convolution1DLayer} keeps its kernel-1 weights {@code [nOut, nIn, 1, 1]} with element
     * {@code (o, c)} at flat index {@code c * nOut + o} (found by comparing one output with its forward).
     *
     * @param weights the convolution's {@code W} ({@code nOut x nIn} elements, kernel 1), or null
     * @param bias    its {@code b}, or null
     * @return {pooled mean, pooled unbiased variance}, per channel
     */
    static double[][] closedFormStatistics(INDArray weights, INDArray bias, List<DataSet> batches) {
        double[] w = weights == null ? null : weights.dup('c').data().asDouble();
        double[] b = bias == null ? null : bias.dup('c').data().asDouble();
        double[] meanSum = new double[CHANNELS];
        double[] varSum = new double[CHANNELS];
        long instances = 0;
        for (DataSet batch : batches) {
            double[] x = batch.getFeatures().dup('c').data().asDouble();
            int n = (int) batch.getFeatures().size(0);
            for (int i = 0; i < n; i++) {
                for (int o = 0; o < CHANNELS; o++) {
                    double[] y = new double[LENGTH];
                    for (int t = 0; t < LENGTH; t++) {
                        if (w == null) {
                            y[t] = x[(i * CHANNELS + o) * LENGTH + t];
                        } else {
                            double v = b[o];
                            for (int c = 0; c < CHANNELS; c++) {
                                v += w[c * CHANNELS + o] * x[(i * CHANNELS + c) * LENGTH + t];
                            }
                            y[t] = v;
                        }
                    }
                    double mu = 0;
                    for (double v : y) {
                        mu += v;
                    }
                    mu /= LENGTH;
                    double squares = 0;
                    for (double v : y) {
                        squares += (v - mu) * (v - mu);
                    }
                    meanSum[o] += mu;
                    varSum[o] += squares / (LENGTH - 1);
                }
            }
            instances += n;
        }
        double[][] out = new double[2][CHANNELS];
        for (int o = 0; o < CHANNELS; o++) {
            out[0][o] = meanSum[o] / instances;
            out[1][o] = varSum[o] / instances;
        }
        return out;
    }

    /** Asserts {@code max |expected - actual| <= tolerance}, and prints it. */
    static void assertClose(double[] expected, double[] actual, double tolerance, String what) {
        org.junit.jupiter.api.Assertions.assertEquals(expected.length, actual.length, what);
        double worst = 0;
        for (int i = 0; i < actual.length; i++) {
            worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        }
        System.out.printf("%s: max abs error %.3g (tolerance %.1g)%n", what, worst, tolerance);
        org.junit.jupiter.api.Assertions.assertTrue(
                worst <= tolerance, what + ": max abs error " + worst + " > " + tolerance);
    }
}
