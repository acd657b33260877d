package io.github.instancenorm.speedups.layers;

import java.util.Map;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs layers whose libnd4j ops cost more than their arithmetic in Java loops instead, forward and backward, to the
 * bit of libnd4j's results: {@code FastLayers.install(net)}. In ND4J 1.0.0-M2.1 each libnd4j op call costs tens of
 * microseconds whatever the array's size, and some ops are slow besides.
 *
 * <p>Replaced, each by a subclass that shares all of its state and computes over host memory:
 * <ul>
 *   <li>each plain {@code ActivationLayer} whose function is DL4J's {@code ActivationLReLU} (StarGAN v2 has one before
 *       every convolution) or a plain {@code ActivationReLU} (no maximum, threshold or slope; StarGAN's generator), in
 *       vector loops. At StarGAN v2's example size (32 px) a JFR profile of the training step put a fifth of its
 *       native time in libnd4j's two leaky-ReLU ops;</li>
 *   <li>each plain {@code Upsampling2D} by 2 × 2 in NCHW without dropout (StarGAN v2's decoder), whose libnd4j op took a
 *       ninth of the AFHQ generator's inference.</li>
 * </ul>
 *
 * <p>Nothing is written into the configuration, so a saved network is plain DL4J; install again after loading or
 * cloning (a clone gets new layer objects). Arrays that are not float, not dense or not in host memory take DL4J's
 * own code call by call. Activation functions inside other layers (a convolution's {@code activation(...)}) are
 * DL4J's. {@value #PROPERTY}{@code =false} turns it off.
 */
public final class FastLayers {

    /** System property; {@code false} keeps DL4J's layers. Read on each {@code install}. */
    public static final String PROPERTY = "io.github.instancenorm.javaLayers";

    private static final Logger LOG = LoggerFactory.getLogger(FastLayers.class);

    private FastLayers() {}

    /**
     * @param network an initialized graph
     * @return the number of layers replaced (0 when switched off)
     * @throws IllegalStateException if the graph has no layers yet ({@code init()} not called); nothing is changed
     *                               (a DL4J version that keeps its layer objects elsewhere gets 0 and a log line)
     */
    public static int install(ComputationGraph network) {
        requireInitialized(network.getLayers());
        return applies() ? replaced(LayerObjects.replace(network, FastLayers::fast)) : 0;
    }

    /**
     * @param network an initialized network
     * @return the number of layers replaced (0 when switched off)
     * @throws IllegalStateException if the network has no layers yet ({@code init()} not called); nothing is
     *                               changed (a DL4J version that keeps its layer objects elsewhere gets 0 and a log
     *                               line)
     */
    public static int install(MultiLayerNetwork network) {
        requireInitialized(network.getLayers());
        return applies() ? replaced(LayerObjects.replace(network, FastLayers::fast)) : 0;
    }

    /** Whether to replace anything: switched on, and this DL4J keeps its layer objects where they are swapped. */
    private static boolean applies() {
        if (!enabled()) {
            return false;
        }
        if (!LayerObjects.available()) {
            LOG.info("Layers stay DL4J's: this DL4J keeps its layer objects where FastLayers does not look");
            return false;
        }
        return true;
    }

    private static int replaced(Map<Layer, Layer> replaced) {
        LOG.debug("Layers in Java loops: {}", replaced.size());
        return replaced.size();
    }

    /** @return whether {@link #PROPERTY} leaves the replacement on */
    public static boolean enabled() {
        return !"false".equalsIgnoreCase(System.getProperty(PROPERTY));
    }

    private static Layer fast(Layer layer) {
        try {
            Layer fast = JavaActivationLayer.replacing(layer);
            return fast != layer ? fast : JavaUpsamplingLayer.replacing(layer);
        } catch (IllegalStateException e) { // this DL4J's fields could not be copied: DL4J's layer stays
            LOG.warn("{} stays DL4J's: {}", layer.getClass().getSimpleName(), e.getMessage());
            return layer;
        }
    }

    private static void requireInitialized(Layer[] layers) {
        if (layers == null) {
            throw new IllegalStateException("The network has no layers yet: call init() before FastLayers.install");
        }
    }
}
