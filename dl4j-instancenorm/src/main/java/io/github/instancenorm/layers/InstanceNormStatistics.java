package io.github.instancenorm.layers;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.ops.InstanceNorm;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;

/**
 * Recomputes the running statistics of a network's {@link InstanceNormalization} layers from data: the "precise
 * statistics" recalibration recommended for batch norm (Wu &amp; Johnson, "Rethinking Batch in BatchNorm", 2021),
 * for instance norm.
 *
 * <p>{@link #collect} runs the network forward over some batches, in inference mode (dropout and other
 * training-time noise off), but with every tracking instance-norm layer normalizing with each instance's own
 * statistics, exactly as in a training forward, and without updating anything. Each such layer's instances are
 * pooled into one estimate per channel:
 * <pre>
 *   mean[c]     = sum over every sampled instance (n, c) of its mean / count
 *   variance[c] = sum over every sampled instance of its unbiased variance (M / (M - 1) times the biased) / count
 * </pre>
 * The sums are kept in double with their counts ({@link Estimate}), so estimates of parts of the data
 * {@link Estimate#merge merge} into the estimate of the whole, whatever the order or partitioning, which is what a
 * distributed pass needs. One forward serves every layer: in this mode each layer's normalization does not depend
 * on the statistics being collected.
 *
 * <p>{@link #apply} writes an estimate into the layers, either {@link Apply#REPLACE replacing} the running
 * statistics or {@link Apply#FOLD folding} it in once with the layer's momentum. Trainable parameters and updater
 * state are not touched. Layers without {@code trackRunningStats} have nothing to recalibrate and are skipped;
 * DL4J's {@code BatchNormalization} layers are left alone (they run their inference forward during the pass).
 *
 * <pre>{@code
 * InstanceNormStatistics.Estimate e = InstanceNormStatistics.collect(net, trainIterator, 50);
 * InstanceNormStatistics.apply(net, e, InstanceNormStatistics.Apply.REPLACE);
 * }</pre>
 */
public final class InstanceNormStatistics {

    private InstanceNormStatistics() {}

    /** How {@link #apply} writes an estimate. */
    public enum Apply {
        /**
         * {@code running = estimate}; {@code numBatchesTracked} becomes the number of batches the estimate saw, so a
         * later cumulative average ({@code momentum(null)}) goes on as if those batches had been tracked.
         */
        REPLACE,
        /**
         * One running-statistics update with the estimate as the batch statistics:
         * {@code running = (1 - f) running + f estimate} with {@code f} the layer's momentum (or
         * {@code 1 / (numBatchesTracked + 1)} for a cumulative average); {@code numBatchesTracked} grows by one.
         */
        FOLD
    }

    /**
     * One layer's pooled sums.
     *
     * @param channels    the channel count
     * @param meanSum     per channel, the sum of the instance means
     * @param varianceSum per channel, the sum of the unbiased instance variances
     * @param instances   the number of instances summed, per channel (the samples seen)
     */
    public record LayerSums(int channels, double[] meanSum, double[] varianceSum, long instances)
            implements Serializable {
        /** Checks the array lengths and copies them. */
        public LayerSums {
            if (meanSum.length != channels || varianceSum.length != channels || instances < 0) {
                throw new IllegalArgumentException("LayerSums of " + channels + " channels got " + meanSum.length
                        + " and " + varianceSum.length + " sums and " + instances + " instances");
            }
            meanSum = meanSum.clone();
            varianceSum = varianceSum.clone();
        }

        /** @return the pooled mean per channel */
        public double[] mean() {
            return Arrays.stream(meanSum).map(s -> s / instances).toArray();
        }

        /** @return the pooled unbiased variance per channel */
        public double[] variance() {
            return Arrays.stream(varianceSum).map(s -> s / instances).toArray();
        }

        LayerSums plus(LayerSums o) {
            if (o.channels != channels) {
                throw new IllegalArgumentException("Cannot merge statistics of " + channels + " and " + o.channels
                        + " channels: estimates of different networks?");
            }
            double[] m = meanSum.clone();
            double[] v = varianceSum.clone();
            for (int c = 0; c < channels; c++) {
                m[c] += o.meanSum[c];
                v[c] += o.varianceSum[c];
            }
            return new LayerSums(channels, m, v, instances + o.instances);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof LayerSums s
                    && s.channels == channels
                    && s.instances == instances
                    && Arrays.equals(s.meanSum, meanSum)
                    && Arrays.equals(s.varianceSum, varianceSum);
        }

        @Override
        public int hashCode() {
            return Objects.hash(channels, instances, Arrays.hashCode(meanSum), Arrays.hashCode(varianceSum));
        }
    }

    /**
     * The pooled sums of every tracking instance-norm layer, keyed by layer (its name in a graph, its index in a
     * {@code MultiLayerNetwork}), and the number of batches they came from. Serializable, so that workers can send
     * theirs to a driver.
     *
     * @param layers  per layer, its sums
     * @param batches the number of batches (forwards) pooled
     */
    public record Estimate(Map<String, LayerSums> layers, long batches) implements Serializable {
        /** Copies the map, keeping its order. */
        public Estimate {
            layers = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(layers));
        }

        /**
         * @param other an estimate of other data, from the same network
         * @return the estimate of both: sums and counts added
         * @throws IllegalArgumentException if the estimates cover different layers or channel counts
         */
        public Estimate merge(Estimate other) {
            if (!layers.keySet().equals(other.layers.keySet())) {
                throw new IllegalArgumentException("Cannot merge estimates of layers " + layers.keySet() + " and "
                        + other.layers.keySet() + ": estimates of different networks?");
            }
            Map<String, LayerSums> merged = new LinkedHashMap<>();
            layers.forEach((name, sums) -> merged.put(name, sums.plus(other.layers.get(name))));
            return new Estimate(merged, batches + other.batches);
        }
    }

    /** What the layers report during a pass, on the thread running it. */
    static final class Collector {
        /** By identity: DL4J's layers compare by value, and their hash changes with their input. */
        private final Map<Layer, LayerSums> sums = new java.util.IdentityHashMap<>();

        void add(Layer layer, InstanceNorm.Moments moments, long spatialSize) {
            double correction = InstanceNorm.unbiasedCorrection(spatialSize);
            double[] mean = moments.mean()
                    .castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE)
                    .dup('c')
                    .data()
                    .asDouble();
            double[] var = moments.variance()
                    .castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE)
                    .dup('c')
                    .data()
                    .asDouble();
            int channels = (int) moments.mean().size(1);
            int n = (int) moments.mean().size(0);
            double[] m = new double[channels];
            double[] v = new double[channels];
            for (int i = 0; i < n; i++) {
                for (int c = 0; c < channels; c++) {
                    m[c] += mean[i * channels + c];
                    v[c] += var[i * channels + c] * correction;
                }
            }
            LayerSums batch = new LayerSums(channels, m, v, n);
            sums.merge(layer, batch, LayerSums::plus);
        }
    }

    private static final ThreadLocal<Collector> ACTIVE = new ThreadLocal<>();

    /** @return the collector of the pass running on this thread, or {@code null} */
    static Collector active() {
        return ACTIVE.get();
    }

    /**
     * Pools the instance statistics of every tracking instance-norm layer over at most {@code maxBatches} batches
     * of {@code data} (all of them when {@code maxBatches <= 0}). Resets the iterator first when it can.
     *
     * @param net        the network; not changed
     * @param data       the batches
     * @param maxBatches how many batches to use, or {@code <= 0} for all
     * @return the estimate
     */
    public static Estimate collect(MultiLayerNetwork net, DataSetIterator data, int maxBatches) {
        if (data.resetSupported()) {
            data.reset();
        }
        Collector c = new Collector();
        long batches = 0;
        while (data.hasNext() && (maxBatches <= 0 || batches < maxBatches)) {
            DataSet ds = data.next();
            run(c, () -> net.output(ds.getFeatures(), false, ds.getFeaturesMaskArray(), ds.getLabelsMaskArray()));
            batches++;
        }
        return estimate(c, net.getLayers(), batches, false);
    }

    /**
     * {@link #collect(MultiLayerNetwork, DataSetIterator, int)} for a {@link ComputationGraph}.
     *
     * @param net        the graph; not changed
     * @param data       the batches
     * @param maxBatches how many batches to use, or {@code <= 0} for all
     * @return the estimate
     */
    public static Estimate collect(ComputationGraph net, MultiDataSetIterator data, int maxBatches) {
        if (data.resetSupported()) {
            data.reset();
        }
        Collector c = new Collector();
        long batches = 0;
        while (data.hasNext() && (maxBatches <= 0 || batches < maxBatches)) {
            MultiDataSet ds = data.next();
            run(c, () -> net.output(false, ds.getFeatures(), ds.getFeaturesMaskArrays(), ds.getLabelsMaskArrays()));
            batches++;
        }
        return estimate(c, net.getLayers(), batches, true);
    }

    private static void run(Collector c, Runnable forward) {
        Collector before = ACTIVE.get();
        ACTIVE.set(c);
        try {
            forward.run();
        } finally {
            if (before == null) {
                ACTIVE.remove();
            } else {
                ACTIVE.set(before);
            }
        }
    }

    private static Estimate estimate(Collector c, Layer[] layers, long batches, boolean byName) {
        Map<String, LayerSums> out = new LinkedHashMap<>();
        for (Layer l : tracking(layers)) {
            LayerSums s = c.sums.get(l);
            if (s != null) {
                out.put(key(l, byName), s);
            }
        }
        return new Estimate(out, batches);
    }

    private static List<InstanceNormalizationLayer> tracking(Layer[] layers) {
        List<InstanceNormalizationLayer> out = new ArrayList<>();
        for (Layer l : layers) {
            if (l instanceof InstanceNormalizationLayer in && in.layerConf().isTrackRunningStats()) {
                out.add(in);
            }
        }
        return out;
    }

    private static String key(Layer l, boolean byName) {
        return byName ? l.conf().getLayer().getLayerName() : String.valueOf(l.getIndex());
    }

    /**
     * Writes an estimate into the network's tracking instance-norm layers.
     *
     * @param net      the network the estimate was collected on (or a copy of it)
     * @param estimate the estimate
     * @param how      replace the running statistics or fold the estimate in once
     * @throws IllegalArgumentException if the estimate does not cover exactly the network's tracking layers with
     *                                  their channel counts, or saw no instance; nothing is written then
     */
    public static void apply(MultiLayerNetwork net, Estimate estimate, Apply how) {
        apply(net.getLayers(), estimate, how, false);
    }

    /**
     * {@link #apply(MultiLayerNetwork, Estimate, Apply)} for a {@link ComputationGraph}.
     *
     * @param net      the graph
     * @param estimate the estimate
     * @param how      replace or fold
     */
    public static void apply(ComputationGraph net, Estimate estimate, Apply how) {
        apply(net.getLayers(), estimate, how, true);
    }

    private static void apply(Layer[] layers, Estimate estimate, Apply how, boolean byName) {
        Objects.requireNonNull(how, "how");
        List<InstanceNormalizationLayer> targets = tracking(layers);
        List<String> keys = targets.stream().map(l -> key(l, byName)).toList();
        if (!new java.util.HashSet<>(keys).equals(estimate.layers().keySet())) {
            throw new IllegalArgumentException(
                    "The estimate covers layers " + estimate.layers().keySet()
                            + " but the network's tracking instance-norm layers are " + keys
                            + ": collect it on this network (every batch reaches every layer)");
        }
        for (InstanceNormalizationLayer l : targets) { // check everything before writing anything
            LayerSums s = estimate.layers().get(key(l, byName));
            if (s.channels() != l.getParam(RUNNING_MEAN).length() || s.instances() == 0) {
                throw new IllegalArgumentException("Layer " + key(l, byName) + " has "
                        + l.getParam(RUNNING_MEAN).length() + " channels; the estimate has " + s.channels()
                        + " channels and " + s.instances() + " instances");
            }
        }
        for (InstanceNormalizationLayer l : targets) {
            LayerSums s = estimate.layers().get(key(l, byName));
            INDArray mean = org.nd4j.linalg.factory.Nd4j.createFromArray(s.mean());
            INDArray var = org.nd4j.linalg.factory.Nd4j.createFromArray(s.variance());
            INDArray runningMean = l.getParam(RUNNING_MEAN);
            INDArray runningVar = l.getParam(RUNNING_VAR);
            INDArray tracked = l.getParam(NUM_BATCHES_TRACKED);
            if (how == Apply.REPLACE) {
                runningMean.assign(mean.castTo(runningMean.dataType()).reshape(runningMean.shape()));
                runningVar.assign(var.castTo(runningVar.dataType()).reshape(runningVar.shape()));
                tracked.assign(estimate.batches());
            } else {
                InstanceNorm.foldBatch(
                        runningMean, runningVar, tracked, l.layerConf().getMomentum(), mean, var);
            }
        }
    }
}
