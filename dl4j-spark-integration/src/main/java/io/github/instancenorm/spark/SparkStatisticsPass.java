package io.github.instancenorm.spark;

import io.github.instancenorm.layers.InstanceNormStatistics;
import io.github.instancenorm.layers.InstanceNormStatistics.Apply;
import io.github.instancenorm.layers.InstanceNormStatistics.Estimate;
import java.io.Serializable;
import java.util.Collections;
import java.util.Iterator;
import java.util.Map;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.util.ComputationGraphUtil;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.MultiDataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link InstanceNormStatistics}' statistics pass on Spark: each partition of an RDD of minibatches (or of a sample
 * of its minibatches) runs {@link InstanceNormStatistics#collect} with the driver network's current parameters, the
 * partitions' {@link Estimate}s are summed with a tree aggregation, and the driver writes the result into its
 * network's tracking {@code InstanceNormalization} layers.
 *
 * <pre>{@code
 * sparkNet.fit(trainRdd);                                            // any training master
 * SparkStatisticsPass.run(sparkNet.getNetwork(), trainRdd, 0.25, 7, InstanceNormStatistics.Apply.REPLACE);
 * }</pre>
 *
 * <p>The estimate pools every sampled instance (the mean of instance means and the mean of unbiased instance
 * variances per layer and channel, summed in double with their counts), so it does not depend on the order or the
 * partitioning of the data beyond the rounding of the sums. The pass runs inference forwards (dropout and other
 * training-time noise off) in which each tracking layer normalizes with the instance's own statistics, as in
 * training; it changes no parameter of the workers' copies and, on the driver, only the running statistics and
 * {@code numBatchesTracked} ({@link Apply}). DL4J {@code BatchNormalization} layers are left alone. The sample is
 * of whole minibatches: {@code JavaRDD.sample(false, fraction, seed)}, which {@link #sample} reproduces.
 *
 * <p>It is what makes gradient sharing ({@code SharedTrainingMaster}) usable with running statistics, whose
 * workers do not update them ({@link SparkTrainingWithStatistics} trains and runs the pass).
 */
public final class SparkStatisticsPass {

    private static final Logger LOG = LoggerFactory.getLogger(SparkStatisticsPass.class);

    /** Depth of the tree aggregation: the driver receives about sqrt(partitions) estimates instead of one each. */
    private static final int TREE_DEPTH = 2;

    private SparkStatisticsPass() {}

    /** The network a partition runs the pass on: its configuration and parameters, broadcast once per pass. */
    private record NetworkCopy(String multiLayerJson, String graphJson, INDArray params) implements Serializable {

        MultiLayerNetwork multiLayer() {
            MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(multiLayerJson));
            net.init(params, true);
            return net;
        }

        ComputationGraph graph() {
            ComputationGraph net = new ComputationGraph(ComputationGraphConfiguration.fromJson(graphJson));
            net.init(params, true);
            return net;
        }
    }

    /**
     * Collects the estimate over every minibatch of {@code data}.
     *
     * @param net  the driver's network; not changed
     * @param data the minibatches
     * @return the pooled estimate
     * @throws IllegalArgumentException if {@code data} holds no minibatch
     */
    public static Estimate collect(MultiLayerNetwork net, JavaRDD<DataSet> data) {
        return collect(net, data, 1, 0);
    }

    /**
     * Collects the estimate over a sample of the minibatches of {@code data}.
     *
     * @param net      the driver's network; not changed
     * @param data     the minibatches
     * @param fraction the expected fraction of minibatches to use, in (0, 1]; 1 uses every minibatch
     * @param seed     the sample's seed
     * @return the pooled estimate
     * @throws IllegalArgumentException if the fraction is outside (0, 1], or the sample holds no minibatch
     */
    public static Estimate collect(MultiLayerNetwork net, JavaRDD<DataSet> data, double fraction, long seed) {
        NetworkCopy copy = new NetworkCopy(
                net.getLayerWiseConfigurations().toJson(), null, net.params().dup());
        JavaRDD<DataSet> sampled = sample(data, fraction, seed);
        Broadcast<NetworkCopy> shared = broadcast(data, copy);
        try {
            return aggregate(
                    sampled.mapPartitions(batches -> partitionEstimate(
                            batches.hasNext()
                                    ? InstanceNormStatistics.collect(
                                            shared.value().multiLayer(), new ExistingDataSetIterator(batches), 0)
                                    : null)),
                    fraction);
        } finally {
            shared.destroy();
        }
    }

    /**
     * {@link #collect(MultiLayerNetwork, JavaRDD, double, long)} for a {@link ComputationGraph} on
     * {@link MultiDataSet}s.
     *
     * @param net      the driver's graph; not changed
     * @param data     the minibatches
     * @param fraction the expected fraction of minibatches to use, in (0, 1]
     * @param seed     the sample's seed
     * @return the pooled estimate
     */
    public static Estimate collect(ComputationGraph net, JavaRDD<MultiDataSet> data, double fraction, long seed) {
        NetworkCopy copy = new NetworkCopy(
                null, net.getConfiguration().toJson(), net.params().dup());
        JavaRDD<MultiDataSet> sampled = sample(data, fraction, seed);
        Broadcast<NetworkCopy> shared = broadcast(data, copy);
        try {
            return aggregate(
                    sampled.mapPartitions(batches -> partitionEstimate(
                            batches.hasNext()
                                    ? InstanceNormStatistics.collect(
                                            shared.value().graph(), new PartitionMultiDataSets(batches), 0)
                                    : null)),
                    fraction);
        } finally {
            shared.destroy();
        }
    }

    /**
     * {@link #collect(ComputationGraph, JavaRDD, double, long)} on {@link DataSet}s (one input, one output).
     *
     * @param net      the driver's graph; not changed
     * @param data     the minibatches
     * @param fraction the expected fraction of minibatches to use, in (0, 1]
     * @param seed     the sample's seed
     * @return the pooled estimate
     */
    public static Estimate collectDataSets(ComputationGraph net, JavaRDD<DataSet> data, double fraction, long seed) {
        return collect(net, data.map(ComputationGraphUtil::toMultiDataSet), fraction, seed);
    }

    /**
     * Collects the estimate over a sample of {@code data} and writes it into {@code net} on the driver.
     *
     * @param net      the driver's network
     * @param data     the minibatches
     * @param fraction the expected fraction of minibatches to use, in (0, 1]
     * @param seed     the sample's seed
     * @param how      replace the running statistics or fold the estimate in once
     * @return the estimate written
     * @throws IllegalArgumentException if the sample is empty or does not fit the network; nothing is written then
     */
    public static Estimate run(MultiLayerNetwork net, JavaRDD<DataSet> data, double fraction, long seed, Apply how) {
        Estimate e = collect(net, data, fraction, seed);
        InstanceNormStatistics.apply(net, e, how);
        log(e, how);
        return e;
    }

    /**
     * {@link #run(MultiLayerNetwork, JavaRDD, double, long, Apply)} for a {@link ComputationGraph}.
     *
     * @param net      the driver's graph
     * @param data     the minibatches
     * @param fraction the expected fraction of minibatches to use, in (0, 1]
     * @param seed     the sample's seed
     * @param how      replace or fold
     * @return the estimate written
     */
    public static Estimate run(
            ComputationGraph net, JavaRDD<MultiDataSet> data, double fraction, long seed, Apply how) {
        Estimate e = collect(net, data, fraction, seed);
        InstanceNormStatistics.apply(net, e, how);
        log(e, how);
        return e;
    }

    /**
     * The minibatches a pass with this fraction and seed uses, to reproduce it (for instance, a single-process
     * {@link InstanceNormStatistics#collect} over {@code sample(...).collect()}).
     *
     * @param data     the minibatches
     * @param fraction the expected fraction, in (0, 1]; 1 returns {@code data}
     * @param seed     the sample's seed
     * @param <T>      the minibatch type
     * @return {@code data.sample(false, fraction, seed)}, or {@code data} for a fraction of 1
     * @throws IllegalArgumentException if the fraction is outside (0, 1]
     */
    public static <T> JavaRDD<T> sample(JavaRDD<T> data, double fraction, long seed) {
        if (!(fraction > 0 && fraction <= 1)) {
            throw new IllegalArgumentException("The statistics pass's sample fraction must be in (0, 1], got "
                    + fraction + "; 1 uses all the data");
        }
        return fraction == 1 ? data : data.sample(false, fraction, seed);
    }

    private static Broadcast<NetworkCopy> broadcast(JavaRDD<?> data, NetworkCopy copy) {
        return JavaSparkContext.fromSparkContext(data.context()).broadcast(copy);
    }

    private static Iterator<Estimate> partitionEstimate(Estimate e) {
        return e == null
                ? Collections.emptyIterator()
                : Collections.singletonList(e).iterator();
    }

    private static final Estimate NONE = new Estimate(Map.of(), 0);

    /** {@link Estimate#merge}, with {@link #NONE} (the aggregation's zero) as its identity. */
    private static Estimate merge(Estimate a, Estimate b) {
        if (a.batches() == 0) {
            return b;
        }
        return b.batches() == 0 ? a : a.merge(b);
    }

    private static Estimate aggregate(JavaRDD<Estimate> perPartition, double fraction) {
        Estimate total =
                perPartition.treeAggregate(NONE, SparkStatisticsPass::merge, SparkStatisticsPass::merge, TREE_DEPTH);
        if (total.batches() == 0) {
            throw new IllegalArgumentException("The statistics pass saw no minibatch: the RDD is empty"
                    + (fraction < 1 ? " or the sample fraction " + fraction + " drew none; raise the fraction" : ""));
        }
        return total;
    }

    private static void log(Estimate e, Apply how) {
        LOG.info(
                "Statistics pass: {} minibatches, layers {}, written with {}",
                e.batches(),
                e.layers().keySet(),
                how);
    }

    /** One partition's minibatches as the iterator {@code InstanceNormStatistics.collect} takes; no reset. */
    private static final class PartitionMultiDataSets implements MultiDataSetIterator {
        private final Iterator<MultiDataSet> batches;

        PartitionMultiDataSets(Iterator<MultiDataSet> batches) {
            this.batches = batches;
        }

        @Override
        public boolean hasNext() {
            return batches.hasNext();
        }

        @Override
        public MultiDataSet next() {
            return batches.next();
        }

        @Override
        public MultiDataSet next(int num) {
            throw new UnsupportedOperationException("A partition's minibatches are not re-batched");
        }

        @Override
        public void setPreProcessor(MultiDataSetPreProcessor preProcessor) {
            throw new UnsupportedOperationException("A partition's minibatches take no pre-processor");
        }

        @Override
        public MultiDataSetPreProcessor getPreProcessor() {
            return null;
        }

        @Override
        public boolean resetSupported() {
            return false;
        }

        @Override
        public boolean asyncSupported() {
            return false;
        }

        @Override
        public void reset() {
            throw new UnsupportedOperationException("A partition's minibatches are read once");
        }
    }
}
