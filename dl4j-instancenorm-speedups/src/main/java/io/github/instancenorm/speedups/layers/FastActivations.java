package io.github.instancenorm.speedups.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a network's leaky-ReLU and ReLU activation layers in Java vector loops instead of libnd4j's ops, forward and
 * backward, to the bit: {@code FastActivations.install(net)}.
 *
 * <p>Each plain {@code ActivationLayer} object whose function is {@code ActivationLReLU} (StarGAN v2 has one before
 * every convolution) or a plain {@code ActivationReLU} (no maximum, threshold or slope; StarGAN's generator) is
 * replaced by a subclass that shares all of its state and computes in a loop over host memory.
 * In ND4J 1.0.0-M2.1 every libnd4j op call costs tens of microseconds of set-up, and {@code lrelu_bp} is slow besides;
 * at StarGAN v2's example size (32 px) the two ops were a fifth of the training step's native time.
 *
 * <p>Nothing is written into the configuration, so a saved network is plain DL4J; install again after loading or
 * cloning (a clone gets new layer objects). Arrays that are not float, not dense or not in host memory take DL4J's
 * own code call by call. Activation functions inside other layers (a convolution's {@code activation(...)}) are
 * DL4J's. {@value #PROPERTY}{@code =false} turns it off.
 */
public final class FastActivations {

    /** System property; {@code false} keeps DL4J's activation layers. Read on each {@code install}. */
    public static final String PROPERTY = "io.github.instancenorm.activations";

    private static final Logger LOG = LoggerFactory.getLogger(FastActivations.class);

    private FastActivations() {}

    /**
     * @param network an initialized graph
     * @return the number of activation layers replaced (0 when switched off)
     * @throws IllegalStateException if the graph has no layers yet ({@code init()} not called), or this DL4J version
     *                               keeps its layer objects elsewhere; nothing is changed
     */
    public static int install(ComputationGraph network) {
        requireInitialized(network.getLayers());
        if (!enabled()) {
            return 0;
        }
        int n = LayerObjects.replace(network, FastActivations::fast).size();
        LOG.debug("(Leaky) ReLU activation layers in Java loops: {}", n);
        return n;
    }

    /**
     * @param network an initialized network
     * @return the number of activation layers replaced (0 when switched off)
     * @throws IllegalStateException if the network has no layers yet ({@code init()} not called), or this DL4J
     *                               version keeps its layer objects elsewhere; nothing is changed
     */
    public static int install(MultiLayerNetwork network) {
        requireInitialized(network.getLayers());
        if (!enabled()) {
            return 0;
        }
        int n = LayerObjects.replace(network, FastActivations::fast).size();
        LOG.debug("(Leaky) ReLU activation layers in Java loops: {}", n);
        return n;
    }

    /** @return whether {@link #PROPERTY} leaves the replacement on */
    public static boolean enabled() {
        return !"false".equalsIgnoreCase(System.getProperty(PROPERTY));
    }

    private static Layer fast(Layer layer) {
        try {
            return JavaActivationLayer.replacing(layer);
        } catch (IllegalStateException e) { // this DL4J's fields could not be copied: DL4J's layer stays
            LOG.warn("Activation layers stay DL4J's: {}", e.getMessage());
            return layer;
        }
    }

    private static void requireInitialized(Layer[] layers) {
        if (layers == null) {
            throw new IllegalStateException(
                    "The network has no layers yet: call init() before FastActivations.install");
        }
    }
}
