package io.github.instancenorm.zoo;

import io.github.instancenorm.torch.LoadReport;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import io.github.instancenorm.zoo.conf.graph.DomainSelectVertex;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.graph.ScaleVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * StarGAN v2's mapping network, style encoder and discriminator (Choi et al., CVPR 2020; the state-dict layout of
 * clovaai/stargan-v2 at 875b70a) as DL4J {@link ComputationGraph}s whose layers are named by the PyTorch modules'
 * paths, so that a state dict loads by name ({@link TorchWeights}). The generator, which needs adaptive instance
 * normalization, is not here yet.
 *
 * <ul>
 *   <li><b>Mapping network</b> {@code F(z, y)}: inputs {@value #LATENT} {@code [N, latent_dim]} and {@value #DOMAIN}
 *       (one-hot {@code [N, K]}); {@code shared} = 4 × (Linear, ReLU) of width {@code hidden} (512 in the paper),
 *       {@code unshared.k} = 3 × (Linear, ReLU) and a Linear to {@code style_dim} per domain; output {@value #OUTPUT}
 *       {@code [N, style_dim]}, the sample's own domain's head.</li>
 *   <li><b>Style encoder</b> {@code E(x, y)} and <b>discriminator</b> {@code D(x, y)}: inputs {@value #IMAGE}
 *       {@code [N, 3, H, W]} and {@value #DOMAIN}; one trunk ({@code shared} for E, {@code main} for D): a 3×3
 *       convolution to {@code dim_in}, {@code log2(img) - 2} down blocks doubling the width up to
 *       {@code max_conv_dim}, LeakyReLU(0.2), a 4×4 valid convolution, LeakyReLU(0.2); then one Linear to
 *       {@code style_dim} per domain ({@code unshared.k}, E) or a 1×1 convolution to one logit per domain (D). Output
 *       {@value #OUTPUT}: E {@code [N, style_dim]}, D {@code [N, 1]}.</li>
 *   <li>A down block {@code ResBlk(cin, cout)}: {@code (shortcut + residual) / sqrt(2)} with residual
 *       LeakyReLU(0.2) → 3×3 conv → 2×2 average pool → LeakyReLU(0.2) → 3×3 conv and shortcut [1×1 conv without
 *       bias where the width changes] → 2×2 average pool. E and D use no normalization.</li>
 * </ul>
 * The official code derives {@code dim_in = 2^14 / img_size}; here it is an option (that default), so that small
 * models can be built, and the loaders read every width off the checkpoint's tensor shapes.
 */
public final class StarGanV2 {

    /** Name of the mapping network's latent-code input. */
    public static final String LATENT = "z";
    /** Name of the image input of the style encoder and the discriminator. */
    public static final String IMAGE = "x";
    /** Name of the one-hot domain input of every network. */
    public static final String DOMAIN = "y";
    /** Name of every network's output. */
    public static final String OUTPUT = "out";

    private static final double INV_SQRT2 = 1 / Math.sqrt(2);

    private StarGanV2() {}

    /** @return a builder for the mapping network, with the paper's defaults */
    public static MappingBuilder mappingNetwork() {
        return new MappingBuilder();
    }

    /** @return a builder for the style encoder, with the paper's defaults */
    public static TrunkBuilder styleEncoder() {
        return new TrunkBuilder(false);
    }

    /** @return a builder for the discriminator, with the paper's defaults */
    public static TrunkBuilder discriminator() {
        return new TrunkBuilder(true);
    }

    /**
     * @param domains   the number of domains {@code K}
     * @param labels    each sample's domain, in {@code [0, K)}
     * @return the one-hot {@code [N, K]} float array the networks' {@value #DOMAIN} input takes
     * @throws IllegalArgumentException if a label is outside {@code [0, K)}
     */
    public static INDArray oneHot(int domains, int... labels) {
        INDArray y = Nd4j.zeros(DataType.FLOAT, labels.length, domains);
        for (int n = 0; n < labels.length; n++) {
            if (labels[n] < 0 || labels[n] >= domains) {
                throw new IllegalArgumentException("label " + labels[n] + " of sample " + n + " is outside the "
                        + domains + " domains [0, " + domains + ")");
            }
            y.putScalar(n, labels[n], 1f);
        }
        return y;
    }

    /**
     * Builds a mapping network shaped like {@code sd} (latent, hidden and style widths and the number of domains
     * read off the tensor shapes) and loads it.
     *
     * @param sd the {@code mapping_network} entry of a StarGAN v2 checkpoint ({@code StateDict.select})
     * @return the loaded network
     * @throws IOException if {@code sd} does not hold a StarGAN v2 mapping network
     */
    public static ComputationGraph loadMappingNetwork(StateDict sd) throws IOException {
        long[] first = shape(sd, "shared.0.weight", "mapping network");
        int domains = count(sd, k -> "unshared." + k + ".0.weight");
        long[] last = shape(sd, "unshared.0.6.weight", "mapping network");
        ComputationGraph f = mappingNetwork()
                .latentDim((int) first[1])
                .hidden((int) first[0])
                .styleDim((int) last[0])
                .domains(domains)
                .build();
        load(f, sd, "mapping network");
        return f;
    }

    /**
     * Builds a style encoder shaped like {@code sd} and loads it; the image size comes from the block count.
     *
     * @param sd the {@code style_encoder} entry of a StarGAN v2 checkpoint
     * @return the loaded network
     * @throws IOException if {@code sd} does not hold a StarGAN v2 style encoder
     */
    public static ComputationGraph loadStyleEncoder(StateDict sd) throws IOException {
        TrunkBuilder b = trunkOf(sd, "shared", styleEncoder(), "style encoder");
        b.domains(count(sd, k -> "unshared." + k + ".weight"))
                .styleDim((int) shape(sd, "unshared.0.weight", "style encoder")[0]);
        ComputationGraph e = b.build();
        load(e, sd, "style encoder");
        return e;
    }

    /**
     * Builds a discriminator shaped like {@code sd} and loads it; the image size comes from the block count.
     *
     * @param sd the {@code discriminator} entry of a StarGAN v2 checkpoint
     * @return the loaded network
     * @throws IOException if {@code sd} does not hold a StarGAN v2 discriminator
     */
    public static ComputationGraph loadDiscriminator(StateDict sd) throws IOException {
        TrunkBuilder b = trunkOf(sd, "main", discriminator(), "discriminator");
        String head = "main." + (b.blocks() + 4) + ".weight";
        b.domains((int) shape(sd, head, "discriminator")[0]);
        ComputationGraph d = b.build();
        load(d, sd, "discriminator");
        return d;
    }

    /**
     * Reads a StarGAN v2 network file ({@code {step}_nets.ckpt} or {@code _nets_ema.ckpt}: a dict of state dicts)
     * and loads the entries this class builds.
     *
     * @param checkpoint the file, zip or legacy format
     * @return the networks; an entry the file lacks is {@code null}
     * @throws IOException if the file cannot be read or an entry does not hold the network its name says
     */
    public static Nets load(Path checkpoint) throws IOException {
        StateDict all = StateDict.read(checkpoint);
        return new Nets(
                all.contains("mapping_network") ? loadMappingNetwork(all.select("mapping_network")) : null,
                all.contains("style_encoder") ? loadStyleEncoder(all.select("style_encoder")) : null,
                all.contains("discriminator") ? loadDiscriminator(all.select("discriminator")) : null);
    }

    /**
     * The networks of a StarGAN v2 file that this class builds.
     *
     * @param mappingNetwork {@code F}, or {@code null}
     * @param styleEncoder   {@code E}, or {@code null}
     * @param discriminator  {@code D}, or {@code null}
     */
    public record Nets(
            ComputationGraph mappingNetwork, ComputationGraph styleEncoder, ComputationGraph discriminator) {}

    private static TrunkBuilder trunkOf(StateDict sd, String prefix, TrunkBuilder b, String what) throws IOException {
        long[] first = shape(sd, prefix + ".0.weight", what);
        int blocks = 0;
        while (sd.contains(prefix + "." + (blocks + 1) + ".conv1.weight")) {
            blocks++;
        }
        if (blocks < 1) {
            throw new IOException("Not a StarGAN v2 " + what + ": no " + prefix + ".1.conv1.weight");
        }
        int maxWidth = (int) first[0];
        for (int i = 1; i <= blocks; i++) {
            maxWidth = Math.max(maxWidth, (int) shape(sd, prefix + "." + i + ".conv2.weight", what)[0]);
        }
        return b.imageSize(1 << (blocks + 2)).dimIn((int) first[0]).maxConvDim(maxWidth);
    }

    private static int count(StateDict sd, java.util.function.IntFunction<String> key) {
        int k = 0;
        while (sd.contains(key.apply(k))) {
            k++;
        }
        return k;
    }

    private static long[] shape(StateDict sd, String key, String what) throws IOException {
        if (!sd.contains(key) || !(sd.value(key) instanceof INDArray)) {
            List<String> keys = sd.keys();
            throw new IOException("Not a StarGAN v2 " + what + ": no tensor \"" + key + "\" among "
                    + keys.subList(0, Math.min(8, keys.size())) + (keys.size() > 8 ? "..." : ""));
        }
        return sd.get(key).shape();
    }

    private static void load(ComputationGraph g, StateDict sd, String what) throws IOException {
        try {
            LoadReport report = TorchWeights.load(g, sd);
            if (!report.isComplete()) {
                throw new IOException("The " + what + "'s checkpoint does not match its shapes: " + report);
            }
        } catch (RuntimeException e) {
            throw new IOException("Cannot load the " + what + ": " + e.getMessage(), e);
        }
    }

    /** Settings common to the three builders. */
    @SuppressWarnings("unchecked")
    abstract static class Common<B extends Common<B>> {
        int domains = 2;
        int styleDim = 64;
        DataType dataType = DataType.FLOAT;
        IUpdater updater = new Adam(1e-4, 0.0, 0.99, 1e-8);
        long seed = 777;

        /** @param domains the number of domains {@code K} (default 2) */
        public B domains(int domains) {
            this.domains = positive("domains", domains);
            return (B) this;
        }

        /** @param styleDim the style code's width (default 64) */
        public B styleDim(int styleDim) {
            this.styleDim = positive("styleDim", styleDim);
            return (B) this;
        }

        /** @param dataType the network's data type (default FLOAT) */
        public B dataType(DataType dataType) {
            this.dataType = dataType;
            return (B) this;
        }

        /** @param updater the updater for training (default StarGAN v2's Adam(1e-4, 0, 0.99)) */
        public B updater(IUpdater updater) {
            this.updater = updater;
            return (B) this;
        }

        /** @param seed the weight initialization's seed */
        public B seed(long seed) {
            this.seed = seed;
            return (B) this;
        }

        ComputationGraphConfiguration.GraphBuilder graph() {
            return new NeuralNetConfiguration.Builder()
                    .seed(seed)
                    .dataType(dataType)
                    .updater(updater)
                    .weightInit(WeightInit.XAVIER)
                    .convolutionMode(ConvolutionMode.Truncate)
                    .graphBuilder();
        }

        /** Adds the per-domain selection of {@code heads} as the output. */
        void select(ComputationGraphConfiguration.GraphBuilder g, List<String> heads) {
            String stacked = heads.get(0);
            if (heads.size() > 1) {
                stacked = "heads";
                g.addVertex(stacked, new MergeVertex(), heads.toArray(String[]::new));
            }
            g.addVertex(OUTPUT, new DomainSelectVertex(domains), DOMAIN, stacked);
            g.setOutputs(OUTPUT);
        }

        static int positive(String what, int value) {
            if (value <= 0) {
                throw new IllegalArgumentException(what + " must be positive, got " + value);
            }
            return value;
        }
    }

    /** Builds the mapping network {@code MappingNetwork(latent_dim, style_dim, num_domains)}. */
    public static final class MappingBuilder extends Common<MappingBuilder> {
        private int latentDim = 16;
        private int hidden = 512;

        MappingBuilder() {}

        /** @param latentDim the latent code's width (default 16) */
        public MappingBuilder latentDim(int latentDim) {
            this.latentDim = positive("latentDim", latentDim);
            return this;
        }

        /** @param hidden the width of the hidden layers (512 in the paper and the official code) */
        public MappingBuilder hidden(int hidden) {
            this.hidden = positive("hidden", hidden);
            return this;
        }

        /** @return the configuration */
        public ComputationGraphConfiguration configuration() {
            ComputationGraphConfiguration.GraphBuilder g = graph().addInputs(LATENT, DOMAIN)
                    .setInputTypes(InputType.feedForward(latentDim), InputType.feedForward(domains));
            String last = LATENT;
            for (int i = 0; i < 4; i++) {
                String name = "shared." + 2 * i;
                g.addLayer(name, dense(hidden, Activation.RELU), last);
                last = name;
            }
            List<String> heads = new ArrayList<>();
            for (int k = 0; k < domains; k++) {
                String h = last;
                for (int i = 0; i < 3; i++) {
                    String name = "unshared." + k + "." + 2 * i;
                    g.addLayer(name, dense(hidden, Activation.RELU), h);
                    h = name;
                }
                String out = "unshared." + k + ".6";
                g.addLayer(out, dense(styleDim, Activation.IDENTITY), h);
                heads.add(out);
            }
            select(g, heads);
            return g.build();
        }

        /** @return the initialized network */
        public ComputationGraph build() {
            ComputationGraph graph = new ComputationGraph(configuration());
            graph.init();
            return graph;
        }
    }

    /** Builds the style encoder or the discriminator: {@code StyleEncoder(img_size, style_dim, K, max_conv_dim)}. */
    public static final class TrunkBuilder extends Common<TrunkBuilder> {
        private final boolean discriminator;
        private int imageSize = 256;
        private int dimIn = 0;
        private int maxConvDim = 512;

        TrunkBuilder(boolean discriminator) {
            this.discriminator = discriminator;
        }

        /** @param imageSize the square image's side, a power of 2 from 8 (default 256) */
        public TrunkBuilder imageSize(int imageSize) {
            if (imageSize < 8 || Integer.bitCount(imageSize) != 1) {
                throw new IllegalArgumentException("imageSize must be a power of 2 from 8, got " + imageSize);
            }
            this.imageSize = imageSize;
            return this;
        }

        /** @param dimIn the first convolution's width (default {@code 2^14 / imageSize}, as the official code) */
        public TrunkBuilder dimIn(int dimIn) {
            this.dimIn = positive("dimIn", dimIn);
            return this;
        }

        /** @param maxConvDim the widest convolution (default 512) */
        public TrunkBuilder maxConvDim(int maxConvDim) {
            this.maxConvDim = positive("maxConvDim", maxConvDim);
            return this;
        }

        /** @return the number of down blocks, {@code log2(imageSize) - 2} */
        int blocks() {
            return Integer.numberOfTrailingZeros(imageSize) - 2;
        }

        /** @return the configuration */
        public ComputationGraphConfiguration configuration() {
            String prefix = discriminator ? "main" : "shared";
            int width = dimIn > 0 ? dimIn : Math.max(1, (1 << 14) / imageSize);
            ComputationGraphConfiguration.GraphBuilder g = graph().addInputs(IMAGE, DOMAIN)
                    .setInputTypes(InputType.convolutional(imageSize, imageSize, 3), InputType.feedForward(domains));
            g.addLayer(prefix + ".0", conv(width, 3, 1, true), IMAGE);
            String last = prefix + ".0";
            int blocks = blocks();
            for (int i = 1; i <= blocks; i++) {
                int wider = Math.min(width * 2, maxConvDim);
                last = downBlock(g, prefix + "." + i, last, width, wider);
                width = wider;
            }
            g.addLayer(prefix + "." + (blocks + 1), leakyRelu(), last);
            g.addLayer(prefix + "." + (blocks + 2), conv(width, 4, 0, true), prefix + "." + (blocks + 1));
            g.addLayer(prefix + "." + (blocks + 3), leakyRelu(), prefix + "." + (blocks + 2));
            String trunk = prefix + "." + (blocks + 3);
            List<String> heads = new ArrayList<>();
            if (discriminator) {
                String logits = prefix + "." + (blocks + 4);
                g.addLayer(logits, conv(domains, 1, 0, true), trunk);
                heads.add(logits);
            } else {
                for (int k = 0; k < domains; k++) {
                    String name = "unshared." + k;
                    g.addLayer(name, dense(styleDim, Activation.IDENTITY), trunk);
                    heads.add(name);
                }
            }
            select(g, heads);
            return g.build();
        }

        /** @return the initialized network */
        public ComputationGraph build() {
            ComputationGraph graph = new ComputationGraph(configuration());
            graph.init();
            return graph;
        }

        private static String downBlock(
                ComputationGraphConfiguration.GraphBuilder g, String name, String in, int cin, int cout) {
            g.addLayer(name + ".actv1", leakyRelu(), in);
            g.addLayer(name + ".conv1", conv(cin, 3, 1, true), name + ".actv1");
            g.addLayer(name + ".pool1", avgPool(), name + ".conv1");
            g.addLayer(name + ".actv2", leakyRelu(), name + ".pool1");
            g.addLayer(name + ".conv2", conv(cout, 3, 1, true), name + ".actv2");
            String shortcut = in;
            if (cin != cout) {
                g.addLayer(name + ".conv1x1", conv(cout, 1, 0, false), in);
                shortcut = name + ".conv1x1";
            }
            g.addLayer(name + ".pool0", avgPool(), shortcut);
            g.addVertex(
                    name + ".sum", new ElementWiseVertex(ElementWiseVertex.Op.Add), name + ".pool0", name + ".conv2");
            g.addVertex(name, new ScaleVertex(INV_SQRT2), name + ".sum");
            return name;
        }
    }

    private static DenseLayer dense(int nOut, Activation activation) {
        return new DenseLayer.Builder().nOut(nOut).activation(activation).build();
    }

    private static ConvolutionLayer conv(int nOut, int kernel, int padding, boolean bias) {
        return new ConvolutionLayer.Builder(kernel, kernel)
                .stride(1, 1)
                .padding(padding, padding)
                .nOut(nOut)
                .hasBias(bias)
                .activation(Activation.IDENTITY)
                .build();
    }

    private static SubsamplingLayer avgPool() {
        return new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.AVG)
                .kernelSize(2, 2)
                .stride(2, 2)
                .build();
    }

    private static ActivationLayer leakyRelu() {
        return new ActivationLayer.Builder()
                .activation(new ActivationLReLU(0.2))
                .build();
    }
}
