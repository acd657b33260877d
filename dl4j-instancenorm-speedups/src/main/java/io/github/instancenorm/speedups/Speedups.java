package io.github.instancenorm.speedups;

import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.speedups.layers.FastLayers;
import io.github.instancenorm.speedups.updater.FastUpdaters;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The training speed-ups of this artifact, installed into a DL4J network in one call after {@code init()}:
 * <pre>{@code
 * ComputationGraph g = new ComputationGraph(conf);
 * g.init();
 * Speedups.install(g);                                         // logs one INFO line: what runs where
 * ComputationGraph back = Speedups.restoreComputationGraph(file, true);   // load and install
 * ComputationGraph twin = Speedups.clone(g);                             // clone and install
 * }</pre>
 *
 * <ul>
 *   <li>convolutions on oneDNN ({@link FastConvolutions}): every plain {@code ConvolutionLayer} runs libnd4j's
 *       {@code conv2d} ops, which the {@code -onednn} builds of {@code nd4j-native} execute with oneDNN;</li>
 *   <li>the optimizer step ({@link FastUpdaters}): DL4J's in-place update path, and Adam's step in Java vector loops,
 *       to the bit of ND4J's op;</li>
 *   <li>leaky-ReLU and ReLU activation layers and nearest upsampling by 2 in Java loops ({@link FastLayers}), to the
 *       bit of libnd4j's ops.</li>
 * </ul>
 * Nothing goes into the network's configuration: a saved network is plain DL4J, and the numbers are DL4J's (the
 * convolutions' within float rounding, the updater's to the bit). What the speed-ups cannot do in this process
 * (another backend, an {@code nd4j-native} build without oneDNN, a DL4J version whose internals differ, a failure in
 * native code while installing) leaves DL4J's own code in place: {@code install} then says so in its log line and
 * never throws for it. The speed-ups live in the network's layer and updater objects, which loading and cloning
 * create anew: {@link #restoreMultiLayerNetwork}, {@link #restoreComputationGraph} and {@link #clone} install into the
 * new network.
 *
 * <p>System properties: {@value FastConvolutions#PROPERTY}{@code =false},
 * {@value FastUpdaters#PROPERTY}{@code =false} and {@value FastLayers#PROPERTY}{@code =false} keep DL4J's
 * convolutions, updater or activation and upsampling layers.
 */
public final class Speedups {

    private static final Logger LOG = LoggerFactory.getLogger(Speedups.class);

    private Speedups() {}

    /**
     * What {@code install} did to one network.
     *
     * @param oneDnnConvolutions convolution layers given the oneDNN helper and deconvolution layers replaced by oneDNN's
     * @param inPlaceUpdater     whether the network's updater is now the in-place one
     * @param adamKernelBlocks   updater blocks whose Adam step runs the CPU kernel
     * @param javaLayers         activation and upsampling layers replaced by Java loops ({@link FastLayers})
     * @param fallbacks          what stayed DL4J's own code, and why; empty when everything applied
     */
    public record Report(
            int oneDnnConvolutions,
            boolean inPlaceUpdater,
            int adamKernelBlocks,
            int javaLayers,
            List<String> fallbacks) {
        /** Copies the list. */
        public Report {
            fallbacks = List.copyOf(fallbacks);
        }
    }

    /**
     * Installs every speed-up that applies to an initialized network and logs one INFO line saying what runs where.
     *
     * @param network an initialized network; its updater state carries over
     * @return what was installed
     * @throws IllegalStateException if the network has not been initialized ({@code init()})
     */
    public static Report install(MultiLayerNetwork network) {
        requireInitialized(network != null ? network.getLayers() : null, "MultiLayerNetwork");
        return install(
                "MultiLayerNetwork", network, FastConvolutions::install, FastUpdaters::install, FastLayers::install);
    }

    /**
     * Installs every speed-up that applies to an initialized graph and logs one INFO line saying what runs where.
     *
     * @param network an initialized graph; its updater state carries over
     * @return what was installed
     * @throws IllegalStateException if the graph has not been initialized ({@code init()})
     */
    public static Report install(ComputationGraph network) {
        requireInitialized(network != null ? network.getLayers() : null, "ComputationGraph");
        return install(
                "ComputationGraph", network, FastConvolutions::install, FastUpdaters::install, FastLayers::install);
    }

    /**
     * {@link ModelSerializer#restoreMultiLayerNetwork(File, boolean)}, then {@link #install(MultiLayerNetwork)}.
     *
     * @param file        a network saved with {@code ModelSerializer} (by any code: the file is plain DL4J)
     * @param loadUpdater whether to load the updater state, to continue training
     * @return the network, with the speed-ups installed
     * @throws IOException if the file cannot be read
     */
    public static MultiLayerNetwork restoreMultiLayerNetwork(File file, boolean loadUpdater) throws IOException {
        MultiLayerNetwork network = ModelSerializer.restoreMultiLayerNetwork(file, loadUpdater);
        install(network);
        return network;
    }

    /**
     * {@link ModelSerializer#restoreMultiLayerNetwork(InputStream, boolean)}, then
     * {@link #install(MultiLayerNetwork)}.
     *
     * @param in          a network saved with {@code ModelSerializer}; not closed
     * @param loadUpdater whether to load the updater state, to continue training
     * @return the network, with the speed-ups installed
     * @throws IOException if the stream cannot be read
     */
    public static MultiLayerNetwork restoreMultiLayerNetwork(InputStream in, boolean loadUpdater) throws IOException {
        MultiLayerNetwork network = ModelSerializer.restoreMultiLayerNetwork(in, loadUpdater);
        install(network);
        return network;
    }

    /**
     * {@link ModelSerializer#restoreComputationGraph(File, boolean)}, then {@link #install(ComputationGraph)}.
     *
     * @param file        a graph saved with {@code ModelSerializer}
     * @param loadUpdater whether to load the updater state, to continue training
     * @return the graph, with the speed-ups installed
     * @throws IOException if the file cannot be read
     */
    public static ComputationGraph restoreComputationGraph(File file, boolean loadUpdater) throws IOException {
        ComputationGraph network = ModelSerializer.restoreComputationGraph(file, loadUpdater);
        install(network);
        return network;
    }

    /**
     * {@link ModelSerializer#restoreComputationGraph(InputStream, boolean)}, then {@link #install(ComputationGraph)}.
     *
     * @param in          a graph saved with {@code ModelSerializer}; not closed
     * @param loadUpdater whether to load the updater state, to continue training
     * @return the graph, with the speed-ups installed
     * @throws IOException if the stream cannot be read
     */
    public static ComputationGraph restoreComputationGraph(InputStream in, boolean loadUpdater) throws IOException {
        ComputationGraph network = ModelSerializer.restoreComputationGraph(in, loadUpdater);
        install(network);
        return network;
    }

    /**
     * @param network an initialized network
     * @return {@code network.clone()} (parameters and updater state copied), with the speed-ups installed
     */
    public static MultiLayerNetwork clone(MultiLayerNetwork network) {
        MultiLayerNetwork copy = network.clone();
        install(copy);
        return copy;
    }

    /**
     * @param network an initialized graph
     * @return {@code network.clone()} (parameters and updater state copied), with the speed-ups installed
     */
    public static ComputationGraph clone(ComputationGraph network) {
        ComputationGraph copy = network.clone();
        install(copy);
        return copy;
    }

    private static void requireInitialized(Object[] layers, String type) {
        if (layers == null) {
            throw new IllegalStateException(
                    "The " + type + " has no layers yet: call init() before Speedups.install (or use"
                            + " Speedups.restore" + type + " to load a saved one)");
        }
    }

    /** The installs, each of which may fail without failing the call; package-private for the tests. */
    static <N> Report install(
            String type, N network, ToIntFunction<N> convolutions, ToIntFunction<N> updater, ToIntFunction<N> layers) {
        List<String> fallbacks = new ArrayList<>();
        int oneDnn = 0;
        String convolutionPath;
        try {
            oneDnn = convolutions.applyAsInt(network);
            convolutionPath = FastConvolutions.describe();
            if (FastConvolutions.path() != FastConvolutions.Path.ONEDNN) {
                fallbacks.add("convolutions: " + convolutionPath);
            }
        } catch (RuntimeException | LinkageError e) {
            convolutionPath = "DL4J's built-in path (installing oneDNN failed: " + e + ")";
            fallbacks.add("convolutions: " + convolutionPath);
        }
        // The layer objects first: the updater DL4J builds for a MultiLayerNetwork keeps its layers by name.
        int java = 0;
        String layerPath;
        if (!FastLayers.enabled()) {
            layerPath = "DL4J's (" + FastLayers.PROPERTY + "=false)";
            fallbacks.add("activation and upsampling layers: " + layerPath);
        } else {
            try {
                java = layers.applyAsInt(network);
                layerPath = "in Java loops (" + java + ")";
            } catch (RuntimeException | LinkageError e) {
                layerPath = "DL4J's (replacing them failed: " + e + ")";
                fallbacks.add("activation and upsampling layers: " + layerPath);
            }
        }
        boolean inPlace = false;
        int adam = 0;
        String updaterPath;
        if (!FastUpdaters.enabled()) {
            updaterPath = "DL4J's (" + FastUpdaters.PROPERTY + "=false)";
            fallbacks.add("updater: " + updaterPath);
        } else {
            try {
                adam = updater.applyAsInt(network);
                inPlace = true;
                updaterPath = "in-place, Adam on " + FastUpdaters.describeAdam() + " in " + adam + " blocks";
            } catch (RuntimeException | LinkageError e) {
                updaterPath = "DL4J's (installing the in-place updater failed: " + e + ")";
                fallbacks.add("updater: " + updaterPath);
            }
        }
        LOG.info(
                "Speedups for a {}: convolutions {} ({} layers); updater {}; activation and upsampling layers {}",
                type,
                convolutionPath,
                oneDnn,
                updaterPath,
                layerPath);
        return new Report(oneDnn, inPlace, adam, java, fallbacks);
    }
}
