package io.github.instancenorm.params;

import io.github.instancenorm.conf.InstanceNormalization;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Owns the parameter keys of {@link InstanceNormalization} and their order in the flattened parameter vector.
 *
 * <table>
 *   <caption>Parameters, in order</caption>
 *   <tr><th>key</th><th>shape</th><th>initial value</th><th>present when</th><th>PyTorch name</th></tr>
 *   <tr><td>{@value #GAMMA}</td><td>[C]</td><td>1</td><td>affine</td><td>weight</td></tr>
 *   <tr><td>{@value #BETA}</td><td>[C]</td><td>0</td><td>affine</td><td>bias</td></tr>
 *   <tr><td>{@value #RUNNING_MEAN}</td><td>[C]</td><td>0</td><td>trackRunningStats</td><td>running_mean</td></tr>
 *   <tr><td>{@value #RUNNING_VAR}</td><td>[C]</td><td>1</td><td>trackRunningStats</td><td>running_var</td></tr>
 *   <tr><td>{@value #NUM_BATCHES_TRACKED}</td><td>[1]</td><td>0</td><td>trackRunningStats</td>
 *       <td>num_batches_tracked</td></tr>
 * </table>
 *
 * <p>The running statistics and the batch counter live in the parameter vector so that they are saved, loaded
 * and copied with the network, but they are state, not trainable parameters: the layer writes them during
 * training forwards, their gradient is always zero, their updater is {@code NoOp} and no regularization applies.
 */
public final class InstanceNormalizationParamInitializer implements ParamInitializer {

    /** Learnable per-channel scale. */
    public static final String GAMMA = "gamma";
    /** Learnable per-channel shift. */
    public static final String BETA = "beta";
    /** Running mean of the instance means. */
    public static final String RUNNING_MEAN = "mean";
    /** Running mean of the unbiased instance variances (a plain variance, not a log or a std). */
    public static final String RUNNING_VAR = "var";
    /** Number of training forwards folded into the running statistics. */
    public static final String NUM_BATCHES_TRACKED = "numBatchesTracked";

    private static final InstanceNormalizationParamInitializer INSTANCE = new InstanceNormalizationParamInitializer();

    /** @return the shared, stateless instance */
    public static InstanceNormalizationParamInitializer getInstance() {
        return INSTANCE;
    }

    private InstanceNormalizationParamInitializer() {}

    /** @return whether {@code key} names running state rather than a trainable parameter */
    public static boolean isRunningState(String key) {
        return RUNNING_MEAN.equals(key) || RUNNING_VAR.equals(key) || NUM_BATCHES_TRACKED.equals(key);
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        long total = 0;
        for (String key : paramKeys(layer)) {
            total += length(cast(layer), key);
        }
        return total;
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        InstanceNormalization conf = cast(layer);
        List<String> keys = new ArrayList<>(5);
        if (conf.isAffine()) {
            keys.add(GAMMA);
            keys.add(BETA);
        }
        if (conf.isTrackRunningStats()) {
            keys.add(RUNNING_MEAN);
            keys.add(RUNNING_VAR);
            keys.add(NUM_BATCHES_TRACKED);
        }
        return keys;
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return cast(layer).isAffine() ? List.of(GAMMA) : Collections.emptyList();
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return cast(layer).isAffine() ? List.of(BETA) : Collections.emptyList();
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return GAMMA.equals(key) && cast(layer).isAffine();
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return BETA.equals(key) && cast(layer).isAffine();
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        Map<String, INDArray> params = slice(conf, paramsView);
        if (initializeParams) {
            params.forEach((key, view) -> view.assign(initialValue(key)));
        }
        params.keySet().forEach(conf::addVariable);
        return Collections.synchronizedMap(params);
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        return slice(conf, gradientView);
    }

    private Map<String, INDArray> slice(NeuralNetConfiguration conf, INDArray flat) {
        InstanceNormalization layer = cast(conf.getLayer());
        Map<String, INDArray> views = new LinkedHashMap<>();
        if (flat == null) { // DL4J passes no view to a layer without parameters (affine and tracking off)
            if (numParams(layer) != 0) {
                throw new IllegalStateException("InstanceNormalization layer \"" + layer.getLayerName() + "\" expects "
                        + numParams(layer) + " parameters but was given no parameter view");
            }
            return views;
        }
        INDArray vector = flat.reshape(flat.length());
        long offset = 0;
        for (String key : paramKeys(layer)) {
            long length = length(layer, key);
            views.put(key, vector.get(NDArrayIndex.interval(offset, offset + length)));
            offset += length;
        }
        if (offset != vector.length()) {
            throw new IllegalStateException("InstanceNormalization layer \"" + layer.getLayerName() + "\" expects "
                    + offset + " parameters but was given a view of " + vector.length());
        }
        return views;
    }

    private static double initialValue(String key) {
        return switch (key) {
            case GAMMA, RUNNING_VAR -> 1.0;
            default -> 0.0;
        };
    }

    private static long length(InstanceNormalization layer, String key) {
        return NUM_BATCHES_TRACKED.equals(key) ? 1 : layer.getNOut();
    }

    private static InstanceNormalization cast(Layer layer) {
        if (!(layer instanceof InstanceNormalization in)) {
            throw new IllegalArgumentException(
                    "InstanceNormalizationParamInitializer serves InstanceNormalization" + " layers only, got "
                            + (layer == null ? "null" : layer.getClass().getName()));
        }
        return in;
    }
}
