package io.github.instancenorm.spark;

import io.github.instancenorm.layers.InstanceNormStatistics;
import io.github.instancenorm.layers.InstanceNormStatistics.Apply;
import java.util.List;
import java.util.Locale;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Trains the {@link TrainOnSpark} network on the cluster that {@code spark-submit} names and compares the result with
 * a single-process reference; prints {@code PASS} or {@code FAIL} and exits with 0 or 1. Arguments:
 * {@code averaging|sharing epochs [no-speedups]}.
 *
 * <ul>
 *   <li>{@code averaging}: the reference trains the same network on the same partitions in {@code local[2]}, in this
 *       JVM, after the cluster's context has stopped. Parameter averaging is deterministic given the partitions (two
 *       workers' sums are commutative), so every parameter, running statistics included, and the inference output on
 *       a probe minibatch must agree to float rounding: {@value #AVERAGING_TOLERANCE} relative (about 80 float ulps
 *       of drift over the run's Adam steps).</li>
 *   <li>{@code sharing}: the weights depend on threshold encoding, so the reference is a single-process pass
 *       ({@link InstanceNormStatistics#collect}) in this JVM over the returned model's weights and the sample the
 *       executors' pass used. The statistics are pooled in double and stored in float, so they must agree to
 *       {@value #PASS_TOLERANCE} relative (a few float ulps: the executors' float forwards may reduce in another
 *       order), and so must the inference outputs that use them.</li>
 * </ul>
 *
 * <p>It also times each epoch and the statistics pass (over a quarter of the data and over all of it), for
 * {@code docs/spark.md}; {@code no-speedups} trains without {@link ReplicaSpeedups}.
 */
public final class ClusterCheck {

    static final double AVERAGING_TOLERANCE = 1e-5;
    static final double PASS_TOLERANCE = 1e-6;
    private static final double PASS_FRACTION = 0.25;
    private static final long PASS_SEED = 7;
    private static final long EXECUTOR_WAIT_MS = 120_000;

    private ClusterCheck() {}

    /**
     * @param args {@code averaging|sharing epochs [no-speedups]}
     * @throws InterruptedException if interrupted while waiting for the executors
     */
    public static void main(String[] args) throws InterruptedException {
        if (args.length < 2 || !(args[0].equals("averaging") || args[0].equals("sharing"))) {
            throw new IllegalArgumentException(
                    "Arguments: averaging|sharing epochs [no-speedups]; got " + String.join(" ", args));
        }
        String master = args[0];
        int epochs = Integer.parseInt(args[1]);
        boolean speedups = !(args.length > 2 && args[2].equals("no-speedups"));
        DataSet probe = TrainOnSpark.probe();
        MultiLayerNetwork trained;
        MultiLayerNetwork reference;
        List<DataSet> passSample = null;
        try (JavaSparkContext sc = new JavaSparkContext(new SparkConf().setAppName("ClusterCheck " + master))) {
            int workers = 2;
            awaitExecutors(sc, workers);
            SparkDl4jMultiLayer sparkNet = TrainOnSpark.sparkNetwork(sc, master, workers, speedups);
            JavaRDD<DataSet> data = TrainOnSpark.data(sc, workers);
            double epochTime =
                    train(sparkNet, data, epochs, master + " on " + sc.master() + (speedups ? "" : ", no speed-ups"));
            trained = sparkNet.getNetwork();
            if (master.equals("sharing")) {
                long t = System.nanoTime();
                SparkStatisticsPass.run(trained, data, PASS_FRACTION, PASS_SEED, Apply.REPLACE);
                report("statistics pass (fraction " + PASS_FRACTION + ", written)", t);
                passSample = SparkStatisticsPass.sample(data, PASS_FRACTION, PASS_SEED)
                        .collect();
            }
            // the first pass of a JVM pays for broadcasting and warming up; the warm ones are what a pass costs
            long t = System.nanoTime();
            SparkStatisticsPass.collect(trained, data, PASS_FRACTION, PASS_SEED);
            report("statistics pass (fraction " + PASS_FRACTION + ")", t);
            t = System.nanoTime();
            SparkStatisticsPass.collect(trained, data, 1, 0);
            double all = report("statistics pass (fraction 1)", t);
            t = System.nanoTime();
            SparkStatisticsPass.collect(trained, data, PASS_FRACTION, PASS_SEED);
            double quarter = report("statistics pass (fraction " + PASS_FRACTION + ", again)", t);
            System.out.printf(
                    Locale.ROOT,
                    "summary (%s%s): mean epoch after the first %.2f s; pass over a quarter %.2f s (%.0f%% of an"
                            + " epoch), over all %.2f s (%.0f%%)%n",
                    master,
                    speedups ? "" : ", no speed-ups",
                    epochTime,
                    quarter,
                    100 * quarter / epochTime,
                    all,
                    100 * all / epochTime);
        }
        if (master.equals("sharing")) {
            reference = trained.clone();
            InstanceNormStatistics.apply(
                    reference,
                    InstanceNormStatistics.collect(reference, new ExistingDataSetIterator(passSample), 0),
                    Apply.REPLACE);
            System.out.printf(
                    Locale.ROOT, "reference: a single-process pass over %d sampled minibatches%n", passSample.size());
        } else {
            try (JavaSparkContext sc = new JavaSparkContext(new SparkConf()
                    .setAppName("ClusterCheck reference")
                    .setMaster("local[2]")
                    .set("spark.ui.enabled", "false"))) {
                SparkDl4jMultiLayer sparkNet = TrainOnSpark.sparkNetwork(sc, master, 2, speedups);
                train(sparkNet, TrainOnSpark.data(sc, 2), epochs, "reference, " + master + " on local[2]");
                reference = sparkNet.getNetwork();
            }
        }
        double tolerance = master.equals("sharing") ? PASS_TOLERANCE : AVERAGING_TOLERANCE;
        double params = maxRelativeDifference(trained.params(), reference.params());
        double outputs =
                maxRelativeDifference(trained.output(probe.getFeatures()), reference.output(probe.getFeatures()));
        boolean pass = params <= tolerance && outputs <= tolerance;
        System.out.printf(
                Locale.ROOT,
                "%s %s: parameters and running statistics differ by %.3g, inference outputs by %.3g (tolerance %.0g,"
                        + " relative)%n",
                pass ? "PASS" : "FAIL",
                master,
                params,
                outputs,
                tolerance);
        System.exit(pass ? 0 : 1);
    }

    /** @return the mean seconds of an epoch after the first (of the first when there is one) */
    private static double train(SparkDl4jMultiLayer sparkNet, JavaRDD<DataSet> data, int epochs, String what) {
        double first = 0;
        double rest = 0;
        for (int epoch = 1; epoch <= epochs; epoch++) {
            long t = System.nanoTime();
            sparkNet.fit(data);
            double seconds = report(String.format(Locale.ROOT, "epoch %d/%d (%s)", epoch, epochs, what), t);
            if (epoch == 1) {
                first = seconds;
            } else {
                rest += seconds;
            }
        }
        return epochs > 1 ? rest / (epochs - 1) : first;
    }

    private static double report(String what, long startNanos) {
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        System.out.printf(Locale.ROOT, "%s: %.2f s%n", what, seconds);
        return seconds;
    }

    /** Waits until {@code executors} executors besides the driver have registered (at most two minutes). */
    private static void awaitExecutors(JavaSparkContext sc, int executors) throws InterruptedException {
        long deadline = System.currentTimeMillis() + EXECUTOR_WAIT_MS;
        while (sc.sc().getExecutorMemoryStatus().size() < executors + 1) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException(
                        "Only " + (sc.sc().getExecutorMemoryStatus().size() - 1)
                                + " of " + executors + " executors registered within two minutes on " + sc.master()
                                + "; is the cluster running (cluster.sh status) with enough memory for them?");
            }
            Thread.sleep(200);
        }
    }

    /** max |a - b| / max(1, |b|) over the elements. */
    static double maxRelativeDifference(INDArray a, INDArray b) {
        double[] x = a.ravel().toDoubleVector();
        double[] y = b.ravel().toDoubleVector();
        if (x.length != y.length) {
            throw new IllegalArgumentException("Lengths differ: " + x.length + " vs " + y.length);
        }
        double max = 0;
        for (int i = 0; i < x.length; i++) {
            max = Math.max(max, Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(y[i])));
        }
        return max;
    }
}
