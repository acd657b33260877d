package io.github.instancenorm.speedups.conv;

import io.github.instancenorm.speedups.layers.LayerObjects;
import java.lang.invoke.VarHandle;
import java.util.Locale;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.convolution.Deconvolution2DLayer;
import org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Puts a network's convolutions on oneDNN, forward and backward, in one line:
 * {@code FastConvolutions.install(net)}.
 *
 * <p>DL4J 1.0.0-M2.1 runs {@code ConvolutionLayer} on the CPU through {@code im2col} and a matrix product, 10 to 70
 * times slower than the oneDNN kernels that the {@code -onednn} builds of {@code nd4j-native} carry: its own
 * oneDNN helper never loads (the property {@code org.eclipse.deeplearning4j.helpers.disable} defaults to
 * {@code true}, and {@code BaseMKLDNNHelper} looks for a class that M2.1 renamed). This class gives every plain
 * {@link ConvolutionLayer} of a network (also inside frozen wrappers) a helper that runs float convolutions on
 * oneDNN directly, through the JavaCPP preset {@code org.bytedeco:dnnl} with primitives made once per shape and
 * blocked layouts ({@code DnnlConvolution}), and otherwise calls libnd4j's {@code conv2d} and {@code conv2d_bp} ops,
 * which those builds execute with oneDNN. The direct path matters most in the backward: libnd4j's {@code conv2d_bp}
 * gives oneDNN its arrays in their plain layouts, for which oneDNN has only its slower {@code gemm} kernels
 * (StarGAN's 256-channel 3×3 backward at batch 16: 444 ms there, 128 ms direct, on a 2-core AVX-512 VM).
 * {@value #DIRECT_PROPERTY}{@code =false} keeps libnd4j's ops under the helper; where the preset's natives do
 * not load, they run too.
 *
 * <p>{@code Deconvolution2D} layers call libnd4j's {@code deconv2d} ops themselves and never ask a helper. Where
 * oneDNN is called directly, each plain {@code Deconvolution2DLayer} object of the network is replaced by a subclass
 * that runs oneDNN's transposed-convolution primitives and shares all of the original's state (configuration,
 * parameter and gradient views), so the network's parameters, updater and saved form do not change; its class is
 * package-private and {@code instanceof Deconvolution2DLayer} still holds.
 *
 * <p>Nothing is written into the configuration, so a saved network is plain DL4J and loads without this library's
 * convolution code; install again after loading or cloning (a clone gets new layer objects). Where the helper does
 * not apply, DL4J's own path runs and gives DL4J's numbers:
 * <ul>
 *   <li>another backend than the CPU (CUDA: DL4J's cuDNN helper where it is on the classpath), or an
 *       {@code nd4j-native} build without oneDNN ({@code buildInfo()} lacks {@code HAVE_ONEDNN}): nothing is
 *       installed;</li>
 *   <li>arrays other than float (oneDNN's kernels here are f32), and dilated convolutions (M2.1's oneDNN conv2d
 *       refuses them): the helper declines each such call;</li>
 *   <li>{@code Convolution1D}, depthwise, separable and 3d convolutions, which override DL4J's convolution code;</li>
 *   <li>a call that fails in libnd4j: DL4J logs it and falls back for that layer from then on (its
 *       {@code cudnnAllowFallback}, default {@code true}).</li>
 * </ul>
 * {@link io.github.instancenorm.speedups.Speedups#install} calls it and logs which path is in use.
 * {@value #PROPERTY}{@code =false} turns the helper off (the "before" of a benchmark). Where this DL4J version lacks
 * the protected fields the helper writes, nothing is installed.
 */
public final class FastConvolutions {

    /** System property; {@code false} keeps DL4J's built-in convolutions. Read on each {@code install}. */
    public static final String PROPERTY = "io.github.instancenorm.onednn";

    /**
     * System property; {@code false} runs the helper's convolutions through libnd4j's {@code conv2d} ops instead of
     * calling oneDNN directly (the "before" of a benchmark). Read once per process.
     */
    public static final String DIRECT_PROPERTY = "io.github.instancenorm.dnnl";

    private static final Logger LOG = LoggerFactory.getLogger(FastConvolutions.class);
    private static final VarHandle HELPER =
            LayerObjects.protectedField(ConvolutionLayer.class, "helper", ConvolutionHelper.class);

    private FastConvolutions() {}

    /** Which convolution path {@link #install} gives a network in this process. */
    public enum Path {
        /** oneDNN: directly where its preset loads, else libnd4j's {@code conv2d} ops of a oneDNN build. */
        ONEDNN,
        /** DL4J's own convolution code: not the CPU backend, no oneDNN in the binary, or switched off. */
        DL4J
    }

    /**
     * @param network an initialized network
     * @return the number of convolution and deconvolution layers put on oneDNN (0 where {@link #path()} is
     *         {@link Path#DL4J})
     */
    public static int install(ComputationGraph network) {
        Layer[] layers = network.getLayers();
        checkInitialized(layers);
        String dl4jBecause = why();
        int installed = 0;
        if (dl4jBecause == null) {
            if (replacesDeconvolutions() && LayerObjects.available()) {
                LayerObjects.replace(network, FastConvolutions::withOneDnnDeconvolution);
            }
            installed = installHelpers(network.getLayers());
        }
        LOG.debug("Convolutions: {} ({} layers)", describe(dl4jBecause), installed);
        return installed;
    }

    /**
     * @param network an initialized network
     * @return the number of convolution and deconvolution layers put on oneDNN (0 where {@link #path()} is
     *         {@link Path#DL4J})
     */
    public static int install(MultiLayerNetwork network) {
        Layer[] layers = network.getLayers();
        checkInitialized(layers);
        String dl4jBecause = why();
        int installed = 0;
        if (dl4jBecause == null) {
            if (replacesDeconvolutions() && LayerObjects.available()) {
                LayerObjects.replace(network, FastConvolutions::withOneDnnDeconvolution);
            }
            installed = installHelpers(network.getLayers());
        }
        LOG.debug("Convolutions: {} ({} layers)", describe(dl4jBecause), installed);
        return installed;
    }

    private static void checkInitialized(Layer[] layers) {
        if (layers == null) {
            throw new IllegalStateException(
                    "The network has no layers yet: call init() before" + " FastConvolutions.install");
        }
    }

    /** Whether {@code Deconvolution2D} layers get oneDNN: only where it is called directly. */
    private static boolean replacesDeconvolutions() {
        return OneDnnConvolutionHelper.DIRECT_UNAVAILABLE == null;
    }

    /**
     * oneDNN's replacement of a plain {@code Deconvolution2DLayer} ({@link LayerObjects#replace} finds it also under
     * frozen wrappers); the same object for any other layer and where oneDNN cannot run it (not float, dilated,
     * weight noise) or its fields cannot be copied.
     */
    private static Layer withOneDnnDeconvolution(Layer layer) {
        if (layer.getClass() != Deconvolution2DLayer.class || !OneDnnDeconvolution2DLayer.runs(layer)) {
            return layer;
        }
        try {
            return OneDnnDeconvolution2DLayer.replacing((Deconvolution2DLayer) layer);
        } catch (IllegalStateException e) { // this DL4J's fields could not be copied: DL4J's layer stays
            LOG.warn("Deconvolution2D layers stay DL4J's: {}", e.getMessage());
            return layer;
        }
    }

    /** Gives every plain {@code ConvolutionLayer} (also inside wrappers) the oneDNN helper. */
    private static int installHelpers(Layer[] layers) {
        int installed = 0;
        for (Layer layer : layers) {
            while (layer instanceof BaseWrapperLayer wrapper) {
                layer = wrapper.getUnderlying();
            }
            if (layer instanceof OneDnnDeconvolution2DLayer) {
                installed++;
            }
            // Subclasses (1d, depthwise, separable, deconvolution) run their own code, not the helper's.
            if (layer != null && layer.getClass() == ConvolutionLayer.class) {
                ConvolutionLayer convolution = (ConvolutionLayer) layer;
                HELPER.set(convolution, new OneDnnConvolutionHelper(convolution));
                installed++;
            }
        }
        return installed;
    }

    /** @return the path {@link #install} takes in this process, in words, for a log line */
    public static String describe() {
        return describe(why());
    }

    private static String describe(String dl4jBecause) {
        return dl4jBecause == null
                ? (OneDnnConvolutionHelper.DIRECT_UNAVAILABLE == null
                        ? "oneDNN, called directly (org.bytedeco:dnnl)"
                        : "oneDNN through libnd4j's conv2d ops (" + OneDnnConvolutionHelper.DIRECT_UNAVAILABLE + ")")
                : "DL4J's built-in path (" + dl4jBecause + "; for oneDNN use nd4j-native's -onednn classifiers)";
    }

    /** @return the path {@link #install} takes in this process */
    public static Path path() {
        return why() == null ? Path.ONEDNN : Path.DL4J;
    }

    /** @return why DL4J's own convolutions run, or {@code null} where oneDNN does */
    private static String why() {
        if ("false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").trim())) {
            return PROPERTY + "=false";
        }
        if (HELPER == null || !OneDnnConvolutionHelper.fieldsFound()) {
            return "this DL4J version lacks ConvolutionLayer.helper or AbstractLayer.preOutput";
        }
        String backend = Nd4j.getExecutioner().getEnvironmentInformation().getProperty("backend");
        if (!"CPU".equalsIgnoreCase(backend)) {
            return "backend " + backend;
        }
        if (!Nd4j.getEnvironment().helpersAllowed()) {
            return "libnd4j helpers disallowed";
        }
        if (!Nd4j.getBackend().buildInfo().toUpperCase(Locale.ROOT).contains("HAVE_ONEDNN")) {
            return "this nd4j-native build has no oneDNN";
        }
        return null;
    }
}
