package io.github.instancenorm.spark;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.params.InstanceNormalizationParamInitializer;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.solvers.accumulation.encoding.threshold.AdaptiveThresholdAlgorithm;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.api.TrainingMaster;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.deeplearning4j.spark.impl.repartitioner.EqualRepartitioner;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;

/**
 * Trains a small network whose first layer is {@link InstanceNormalization} on Spark, on generated sequences whose
 * four channels have means 1, 3, 5 and 7, and prints the running means that come back next to those. Arguments:
 * {@code [epochs [output.zip [averaging|sharing]]]}, default 5 epochs with parameter averaging; {@code sharing}
 * trains with gradient sharing ({@code SharedTrainingMaster}, controller and transport on 127.0.0.1) and runs the
 * statistics pass over a quarter of the data after each epoch ({@link SparkTrainingWithStatistics}). Every worker
 * network gets the speed-ups ({@link ReplicaSpeedups}). The master comes from {@code spark-submit}, else
 * {@code local[2]}.
 */
public final class TrainOnSpark {

    private static final int CHANNELS = 4;
    private static final int LENGTH = 16;
    private static final int BATCH = 16;

    private TrainOnSpark() {}

    /**
     * @param args {@code [epochs [output.zip]]}
     * @throws IOException if the model cannot be written
     */
    public static void main(String[] args) throws IOException {
        int epochs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        String master = args.length > 2 ? args[2] : "averaging";
        if (!master.equals("averaging") && !master.equals("sharing")) {
            throw new IllegalArgumentException(
                    "The third argument is the training master, averaging or sharing; got " + master);
        }
        SparkConf sparkConf = new SparkConf().setAppName("InstanceNormalization on Spark");
        if (!sparkConf.contains("spark.master")) {
            sparkConf.setMaster("local[2]");
        }
        try (JavaSparkContext sc = new JavaSparkContext(sparkConf)) {
            int workers = sc.defaultParallelism();
            SparkDl4jMultiLayer sparkNet = sparkNetwork(sc, master, workers, true);
            JavaRDD<DataSet> data = data(sc, workers);
            for (int epoch = 1; epoch <= epochs; epoch++) {
                if (master.equals("sharing")) {
                    SparkTrainingWithStatistics.fit(
                            sparkNet, data, 1, SparkTrainingWithStatistics.Pass.afterTraining(0.25, epoch));
                } else {
                    sparkNet.fit(data);
                }
                INDArray mean =
                        sparkNet.getNetwork().getLayer(0).getParam(InstanceNormalizationParamInitializer.RUNNING_MEAN);
                // SharedTrainingMaster reports no score to the driver (dl4j-spark M2 sums none), so none is printed for
                // it
                System.out.printf(
                        "epoch %d/%d on %d workers (%s): %srunning mean %s (data: 1, 3, 5, 7)%n",
                        epoch,
                        epochs,
                        workers,
                        master,
                        master.equals("sharing") ? "" : String.format("score %.4f, ", sparkNet.getScore()),
                        mean);
            }
            if (args.length > 1) {
                sparkNet.getNetwork().save(new File(args[1]), true);
                System.out.println("model written to " + args[1]);
            }
        }
    }

    /**
     * The example's Spark network on {@code sc}: parameter averaging every 5 minibatches, or gradient sharing with
     * the controller and the transport on 127.0.0.1 (each worker's transport on a free port, so that several
     * executors can share one host). Both train on the RDD's minibatches directly: the default approach (Export)
     * writes them to the default Hadoop file system first, which DL4J refuses when that is the local one on a
     * cluster (it must be shared, HDFS or S3).
     */
    static SparkDl4jMultiLayer sparkNetwork(JavaSparkContext sc, String master, int workers, boolean speedups) {
        VoidConfiguration transport = VoidConfiguration.builder()
                .controllerAddress("127.0.0.1")
                .networkMask("127.0.0.0/8")
                .portSupplier(new LoopbackPortSupplier())
                .build();
        transport.setUnicastControllerPort(LoopbackPortSupplier.freePort());
        TrainingMaster<?, ?> tm = master.equals("sharing")
                ? new SharedTrainingMaster.Builder(transport, workers, new AdaptiveThresholdAlgorithm(1e-3), BATCH)
                        .batchSizePerWorker(BATCH)
                        .workersPerNode(1)
                        .repartitioner(new EqualRepartitioner())
                        .rddTrainingApproach(RDDTrainingApproach.Direct)
                        .build()
                : new ParameterAveragingTrainingMaster.Builder(workers, BATCH)
                        .batchSizePerWorker(BATCH)
                        .averagingFrequency(5)
                        .workerPrefetchNumBatches(2)
                        .rddTrainingApproach(RDDTrainingApproach.Direct)
                        // Reproducible (ClusterCheck compares with a local run): each fit's splits are random samples
                        // of the data, and a repartition's shuffle orders a partition's minibatches by which map
                        // task finished first
                        .rngSeed(1)
                        .repartionData(Repartition.Never)
                        .build();
        SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, network(), tm);
        if (speedups) {
            sparkNet.setListeners(new ReplicaSpeedups());
        }
        return sparkNet;
    }

    /** The example's training data: 20 minibatches per worker, in one partition per worker. */
    static JavaRDD<DataSet> data(JavaSparkContext sc, int workers) {
        return sc.parallelize(minibatches(20 * workers, 1), workers);
    }

    /** A minibatch the training data does not hold, for comparing inference outputs. */
    static DataSet probe() {
        return minibatches(1, 2).get(0);
    }

    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(1)
                .updater(new Adam(1e-2))
                .list()
                .layer(new InstanceNormalization.Builder()
                        .momentum(0.1)
                        .affine(true)
                        .trackRunningStats(true)
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

    /** Class 0: a sine of random phase; class 1: one spike at a random step. Channel c is offset by 1 + 2c. */
    private static List<DataSet> minibatches(int count, long seed) {
        Random random = new Random(seed);
        List<DataSet> batches = new ArrayList<>(count);
        for (int b = 0; b < count; b++) {
            float[] x = new float[BATCH * CHANNELS * LENGTH];
            float[] y = new float[BATCH * 2];
            for (int n = 0; n < BATCH; n++) {
                int label = random.nextInt(2);
                for (int c = 0; c < CHANNELS; c++) {
                    double phase = 2 * Math.PI * random.nextDouble();
                    int spike = random.nextInt(LENGTH);
                    for (int t = 0; t < LENGTH; t++) {
                        double signal = label == 0 ? Math.sin(phase + t) : (t == spike ? 4 : 0);
                        x[(n * CHANNELS + c) * LENGTH + t] =
                                (float) (1 + 2 * c + signal + 0.3 * random.nextGaussian() - (label == 0 ? 0 : 0.25));
                    }
                }
                y[n * 2 + label] = 1;
            }
            batches.add(new DataSet(
                    Nd4j.create(x, new long[] {BATCH, CHANNELS, LENGTH}), Nd4j.create(y, new long[] {BATCH, 2})));
        }
        return batches;
    }
}
