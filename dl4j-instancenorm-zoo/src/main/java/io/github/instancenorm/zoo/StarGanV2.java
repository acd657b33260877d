package io.github.instancenorm.zoo;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex;
import io.github.instancenorm.torch.LoadReport;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import io.github.instancenorm.zoo.conf.graph.DomainSelectVertex;
import io.github.instancenorm.zoo.conf.graph.GradientTapVertex;
import io.github.instancenorm.zoo.conf.graph.MaskedHighPassVertex;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
import org.deeplearning4j.nn.conf.layers.Upsampling2D;
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
 * StarGAN v2's four networks (Choi et al., CVPR 2020; the state-dict layout of clovaai/stargan-v2 at 875b70a) as
 * DL4J {@link ComputationGraph}s whose layers are named by the PyTorch modules' paths, so that a state dict loads
 * by name ({@link TorchWeights}). The generator is described at {@link GeneratorBuilder}; {@link #generate} runs it
 * with checked inputs.
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
 *
 * <p>Training code that chains the networks by hand needs the gradients with respect to their image and style
 * inputs, which DL4J discards: {@link #withInputGradients} (or {@code inputGradients(true)} on the generator's and
 * the trunks' builders) puts gradient taps on them, and {@link #inputGradient} reads them
 * ({@code io.github.instancenorm.train.StarGanV2Losses} in the training artifact uses them).
 */
public final class StarGanV2 {

    /** Name of the mapping network's latent-code input. */
    public static final String LATENT = "z";
    /** Name of the image input of the style encoder and the discriminator. */
    public static final String IMAGE = "x";
    /** Name of the generator's style-code input. */
    public static final String STYLE = "s";
    /** Name of the generator's first mask input (StarGAN v2's {@code masks[0]}, used at 32 px), where w_hpf &gt; 0. */
    public static final String MASK0 = "mask0";
    /** Name of the generator's second mask input ({@code masks[1]}, used at 64 and 128 px), where w_hpf &gt; 0. */
    public static final String MASK1 = "mask1";
    /** Name of the one-hot domain input of the mapping network, the style encoder and the discriminator. */
    public static final String DOMAIN = "y";
    /** Name of every network's output. */
    public static final String OUTPUT = "out";
    /**
     * Name of the {@link GradientTapVertex} on the {@value #IMAGE} input of a graph built with
     * {@code inputGradients(true)} or made by {@link #withInputGradients}.
     */
    public static final String IMAGE_GRADIENT = "x.grad";
    /** Name of the {@link GradientTapVertex} on the generator's {@value #STYLE} input, as {@link #IMAGE_GRADIENT}. */
    public static final String STYLE_GRADIENT = "s.grad";

    private static final double INV_SQRT2 = 1 / Math.sqrt(2);

    private StarGanV2() {}

    /** @return a builder for the generator, with the official defaults (256 px, w_hpf 1) */
    public static GeneratorBuilder generator() {
        return new GeneratorBuilder();
    }

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
     * Runs a generator of this class with checked inputs: {@code G(x, s[, masks])}.
     *
     * @param generator a generator from {@link #generator()} or {@link #loadGenerator}
     * @param images    {@code [N, 3, H, W]} in {@code [-1, 1]}
     * @param styles    {@code [N, style_dim]}, from the mapping network or the style encoder
     * @param masks     none where {@code w_hpf = 0}; else the masks the generator takes ({@value #MASK0} and, from
     *                  64 px, {@value #MASK1}; each {@code [N, 1, Hm, Wm]}, any size)
     * @return the translated images {@code [N, 3, H, W]}
     * @throws IllegalArgumentException naming the mismatch when the style width, the batch sizes or the number of
     *                                  masks do not fit the generator
     */
    public static INDArray generate(ComputationGraph generator, INDArray images, INDArray styles, INDArray... masks) {
        List<String> inputs = generator.getConfiguration().getNetworkInputs();
        List<String> maskInputs = inputs.subList(2, inputs.size());
        if (masks.length != maskInputs.size()) {
            throw new IllegalArgumentException(
                    maskInputs.isEmpty()
                            ? "This generator has w_hpf = 0 and takes no masks; got " + masks.length
                            : "This generator has w_hpf > 0 and takes the masks " + maskInputs
                                    + " ([N, 1, H, W] each, FAN's" + " heatmaps in StarGAN v2); got " + masks.length);
        }
        long styleDim = generator.getLayer("decode.0.norm1.fc").getParam("W").size(0);
        if (styles.rank() != 2 || styles.size(1) != styleDim) {
            throw new IllegalArgumentException("This generator takes style codes [N, " + styleDim + "], got "
                    + Arrays.toString(styles.shape()) + ": a mapping network or style encoder of another model?");
        }
        INDArray[] in = new INDArray[inputs.size()];
        in[0] = images;
        in[1] = styles;
        System.arraycopy(masks, 0, in, 2, masks.length);
        for (int i = 1; i < in.length; i++) {
            if (in[i].size(0) != images.size(0)) {
                throw new IllegalArgumentException("Input \"" + inputs.get(i) + "\" has " + in[i].size(0)
                        + " samples, the images " + images.size(0));
            }
        }
        return generator.outputSingle(in);
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
     * A copy of a StarGAN v2 network that records the gradients with respect to its inputs, for training loops that
     * chain networks by hand (the generator's image feeds the discriminator and the style encoder; the style codes
     * come from the mapping network or the style encoder): a {@link GradientTapVertex} on the {@value #IMAGE} input
     * ({@value #IMAGE_GRADIENT}) and on the {@value #STYLE} input ({@value #STYLE_GRADIENT}) where the network has
     * them; the mapping network has neither and is copied as it is. Read the gradients with
     * {@link #inputGradient} after {@link ComputationGraph#backpropGradient(INDArray...)}.
     *
     * <p>The taps change the graph's topological order, so the copy's {@link ComputationGraph#params()} may lay the
     * parameters out in another order than {@code net}'s: they are copied by name, and the copy is the network to
     * train. Its updater starts afresh.
     *
     * @param net a network of this class, e.g. from {@link #load(Path)}
     * @return a new graph with the same configuration plus the taps, and the same parameter values
     */
    public static ComputationGraph withInputGradients(ComputationGraph net) {
        ComputationGraph copy = new ComputationGraph(withInputGradients(net.getConfiguration()));
        copy.init();
        Map<String, INDArray> to = copy.paramTable();
        for (Map.Entry<String, INDArray> e : net.paramTable().entrySet()) {
            to.get(e.getKey()).assign(e.getValue());
        }
        return copy;
    }

    /**
     * @param conf a configuration of this class
     * @return a copy with a {@link GradientTapVertex} on the {@value #IMAGE} and {@value #STYLE} inputs it has (none
     *         added where one is already there)
     */
    static ComputationGraphConfiguration withInputGradients(ComputationGraphConfiguration conf) {
        ComputationGraphConfiguration c = conf.clone();
        Map<String, String> taps = new LinkedHashMap<>();
        taps.put(IMAGE, IMAGE_GRADIENT);
        taps.put(STYLE, STYLE_GRADIENT);
        for (Map.Entry<String, String> tap : taps.entrySet()) {
            if (!c.getNetworkInputs().contains(tap.getKey()) || c.getVertices().containsKey(tap.getValue())) {
                continue;
            }
            for (List<String> in : c.getVertexInputs().values()) {
                in.replaceAll(v -> v.equals(tap.getKey()) ? tap.getValue() : v);
            }
            c.getVertices().put(tap.getValue(), new GradientTapVertex());
            c.getVertexInputs().put(tap.getValue(), new ArrayList<>(List.of(tap.getKey())));
        }
        return c;
    }

    /**
     * @param graph a graph from {@link #withInputGradients} or built with {@code inputGradients(true)}
     * @param input {@value #IMAGE} or {@value #STYLE}
     * @return the gradient with respect to that input from the graph's last
     *         {@link ComputationGraph#backpropGradient(INDArray...)}; the tap's array, which the next backward
     *         replaces (copy it to keep it)
     * @throws IllegalStateException if the graph records no gradient for that input or has not been backpropagated
     */
    public static INDArray inputGradient(ComputationGraph graph, String input) {
        String name = IMAGE.equals(input) ? IMAGE_GRADIENT : STYLE.equals(input) ? STYLE_GRADIENT : null;
        if (name == null) {
            throw new IllegalArgumentException(
                    "input gradients are recorded for \"" + IMAGE + "\" and \"" + STYLE + "\", not \"" + input + "\"");
        }
        if (!(graph.getVertex(name) instanceof io.github.instancenorm.zoo.layers.graph.GradientTapVertex tap)) {
            throw new IllegalStateException("The graph records no gradient for its input \"" + input
                    + "\": use StarGanV2.withInputGradients(graph) or build it with inputGradients(true)");
        }
        if (tap.lastGradient() == null) {
            throw new IllegalStateException("No gradient for \"" + input + "\" yet: call backpropGradient(...) first");
        }
        return tap.lastGradient();
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
     * Builds a generator shaped like {@code sd} and loads it. The widths, {@code max_conv_dim} and the style width
     * come from the tensor shapes. Whether {@code w_hpf > 0} cannot be told from the generator's tensors alone
     * when {@code hpf.filter} is missing (the CelebA-HQ release predates that buffer), so the image size is an
     * argument: the generator has {@code log2(img) - 4} down blocks, one more when {@code w_hpf > 0}. Its value
     * comes from {@code hpf.filter} ({@code 8 / filter[1][1]}), else it is 1 and the report says so.
     *
     * @param sd        the {@code generator} entry of a StarGAN v2 checkpoint
     * @param imageSize the image size the generator was trained at (from the style encoder or discriminator:
     *                  {@link #load(Path)} reads it there)
     * @return the loaded generator and what loading decided
     * @throws IOException if {@code sd} does not hold a StarGAN v2 generator for that image size
     */
    public static LoadedGenerator loadGenerator(StateDict sd, int imageSize) throws IOException {
        long[] first = shape(sd, "from_rgb.weight", "generator");
        int blocks = count(sd, k -> "encode." + k + ".conv1.weight");
        int downs = blocks - 2;
        int plain = Integer.numberOfTrailingZeros(imageSize) - 4;
        if (imageSize < 8 || Integer.bitCount(imageSize) != 1 || (downs != plain && downs != plain + 1)) {
            throw new IOException("Not a StarGAN v2 generator for " + imageSize + " px images: it has " + blocks
                    + " encode blocks; one for that size has " + (plain + 2) + " (w_hpf = 0) or " + (plain + 3)
                    + " (w_hpf > 0)");
        }
        boolean highPass = downs == plain + 1;
        int maxWidth = (int) first[0];
        for (int i = 0; i < blocks; i++) {
            maxWidth = Math.max(maxWidth, (int) shape(sd, "encode." + i + ".conv2.weight", "generator")[0]);
        }
        int styleDim = (int) shape(sd, "decode.0.norm1.fc.weight", "generator")[1];
        List<String> notes = new ArrayList<>();
        double wHpf = 0;
        Set<String> notLoaded = new HashSet<>(Set.of("hpf.filter")); // a buffer, rebuilt from w_hpf
        if (highPass) {
            if (sd.contains("hpf.filter")) {
                INDArray filter = sd.get("hpf.filter");
                if (filter.rank() != 2 || filter.size(0) != 3 || filter.size(1) != 3 || !(filter.getDouble(1, 1) > 0)) {
                    throw new IOException("hpf.filter must be a 3x3 filter with a positive centre, got "
                            + filter.shapeInfoToString());
                }
                wHpf = 8 / filter.getDouble(1, 1);
            } else {
                wHpf = 1;
                notes.add("no hpf.filter (a checkpoint older than the buffer): w_hpf = 1, the official default");
            }
            for (int k = 0; k < blocks; k++) {
                String unused = "decode." + k + ".conv1x1.weight";
                if (sd.contains(unused)) {
                    notes.add(unused + " is not used when w_hpf > 0 (the decoder has no shortcut); not loaded");
                    notLoaded.add(unused);
                }
            }
        } else if (sd.contains("hpf.filter")) {
            throw new IOException("The generator has hpf.filter but the block count of w_hpf = 0 at " + imageSize
                    + " px; is the image size right?");
        }
        StateDict weights = new StateDict();
        for (String key : sd.keys()) {
            if (!notLoaded.contains(key)) {
                weights.put(key, sd.value(key));
            }
        }
        ComputationGraph g = generator()
                .imageSize(imageSize)
                .dimIn((int) first[0])
                .maxConvDim(maxWidth)
                .styleDim(styleDim)
                .wHpf(wHpf)
                .build();
        load(g, weights, "generator");
        return new LoadedGenerator(g, imageSize, wHpf, List.copyOf(notes));
    }

    /**
     * A generator loaded from a checkpoint, with what loading decided.
     *
     * @param generator the network
     * @param imageSize the image size it was built for
     * @param wHpf      its {@code w_hpf}: 0 for none, else the high-pass filter's divisor
     * @param notes     what the checkpoint left to a default, and its entries not loaded (with why)
     */
    public record LoadedGenerator(ComputationGraph generator, int imageSize, double wHpf, List<String> notes) {}

    /** The entries of a StarGAN v2 network file that this class builds. */
    private static final List<String> NETWORKS =
            List.of("generator", "mapping_network", "style_encoder", "discriminator");

    /**
     * Reads a StarGAN v2 network file ({@code {step}_nets.ckpt} or {@code _nets_ema.ckpt}: a dict of state dicts,
     * zip or legacy format) and loads every network in it, not strictly: entries this class does not build (the
     * AFHQ release's {@code fan}) and what the generator's loading decided are in {@link Nets#notes()}.
     *
     * @param checkpoint the file
     * @return the networks; an entry the file lacks is {@code null}
     * @throws IOException if the file cannot be read, an entry does not hold the network its name says, or the
     *                     file has a generator but neither a style encoder nor a discriminator to tell its image
     *                     size (then use {@link #loadGenerator(StateDict, int)})
     */
    public static Nets load(Path checkpoint) throws IOException {
        return load(checkpoint, false);
    }

    /**
     * {@link #load(Path)}, optionally strict.
     *
     * @param checkpoint the file
     * @param strict     whether anything not loaded as it stands is an error: an extra entry, a missing
     *                   {@code hpf.filter}, unused tensors
     * @return the networks
     * @throws IOException as {@link #load(Path)}, and when {@code strict} for any note {@link #load(Path)} would
     *                     make
     */
    public static Nets load(Path checkpoint, boolean strict) throws IOException {
        StateDict all = StateDict.read(checkpoint);
        if (NETWORKS.stream().noneMatch(all::contains)) {
            List<String> keys = all.keys();
            throw new IOException("Not a StarGAN v2 network file: " + checkpoint + " has none of the entries "
                    + NETWORKS + "; its keys begin " + keys.subList(0, Math.min(5, keys.size()))
                    + ". A single network's state dict loads with loadGenerator, loadMappingNetwork,"
                    + " loadStyleEncoder or loadDiscriminator");
        }
        List<String> notes = new ArrayList<>();
        for (String key : all.keys()) {
            String entry = key.contains(".") ? key.substring(0, key.indexOf('.')) : key;
            String note = "extra entry \"" + entry + "\": not a StarGAN v2 network this library builds; skipped";
            if (!NETWORKS.contains(entry) && !notes.contains(note)) {
                notes.add(note);
            }
        }
        ComputationGraph f = all.contains("mapping_network") ? loadMappingNetwork(all.select("mapping_network")) : null;
        ComputationGraph e = all.contains("style_encoder") ? loadStyleEncoder(all.select("style_encoder")) : null;
        ComputationGraph d = all.contains("discriminator") ? loadDiscriminator(all.select("discriminator")) : null;
        int imageSize = e != null ? imageSizeOf(e, "shared") : d != null ? imageSizeOf(d, "main") : 0;
        LoadedGenerator g = null;
        if (all.contains("generator")) {
            if (imageSize == 0) {
                throw new IOException(checkpoint + " has a generator but no style encoder or discriminator to tell"
                        + " its image size; use StarGanV2.loadGenerator(StateDict, imageSize)");
            }
            g = loadGenerator(all.select("generator"), imageSize);
            for (String note : g.notes()) {
                notes.add("generator: " + note);
            }
        }
        if (strict && !notes.isEmpty()) {
            throw new IOException("Strict load of " + checkpoint + ": " + String.join("; ", notes));
        }
        return new Nets(
                g == null ? null : g.generator(), f, e, d, imageSize, g == null ? 0 : g.wHpf(), List.copyOf(notes));
    }

    /**
     * Writes StarGAN v2 networks as a {@code {step}_nets.ckpt} or {@code _nets_ema.ckpt} file of the official layout
     * (commit 875b70a): a dict {@code {name: state_dict}} in PyTorch's zip format, with the entries of {@code nets}
     * that are not null, under the names {@code generator}, {@code mapping_network}, {@code style_encoder} and
     * {@code discriminator}. The official {@code load_state_dict(strict=True)} takes each entry
     * ({@code verify_stargan_v2_written.py} checks it in PyTorch).
     *
     * @param file the file to create or replace
     * @param nets the networks; {@link Nets#wHpf()} says whether the generator has the high-pass skips
     * @throws IOException if writing fails
     */
    public static void save(Path file, Nets nets) throws IOException {
        StateDict all = new StateDict();
        if (nets.generator() != null) {
            all.put("generator", generatorStateDict(nets.generator(), nets.wHpf()));
        }
        if (nets.mappingNetwork() != null) {
            all.put("mapping_network", StateDict.of(nets.mappingNetwork()));
        }
        if (nets.styleEncoder() != null) {
            all.put("style_encoder", StateDict.of(nets.styleEncoder()));
        }
        if (nets.discriminator() != null) {
            all.put("discriminator", StateDict.of(nets.discriminator()));
        }
        all.writeTorch(file);
    }

    /**
     * The generator's state dict in the official layout: its parameters under PyTorch's names, plus what the
     * official module holds beyond them when {@code w_hpf > 0}: the {@code hpf.filter} buffer, and a
     * {@code decode.k.conv1x1.weight} for each decoder block that changes the width. The official forward never
     * uses those 1×1 convolutions when {@code w_hpf > 0} (the block returns its residual alone), so they never get a
     * gradient in PyTorch either; this graph has no such layers, and they are written as zeros.
     *
     * @param generator a generator of this class
     * @param wHpf      its {@code w_hpf} (0: none)
     * @return a new state dict
     */
    public static StateDict generatorStateDict(ComputationGraph generator, double wHpf) {
        StateDict sd = StateDict.of(generator);
        if (wHpf > 0) {
            DataType type = generator.params().dataType();
            for (int k = 0; generator.getConfiguration().getVertices().containsKey("decode." + k + ".conv1"); k++) {
                long[] w = generator
                        .getLayer("decode." + k + ".conv1")
                        .getParam("W")
                        .shape(); // [out, in, 3, 3]
                if (w[0] != w[1] && !sd.contains("decode." + k + ".conv1x1.weight")) {
                    sd.put("decode." + k + ".conv1x1.weight", Nd4j.zeros(type, w[0], w[1], 1, 1));
                }
            }
            INDArray filter = Nd4j.createFromArray(new float[][] {{-1, -1, -1}, {-1, 8, -1}, {-1, -1, -1}})
                    .divi(wHpf);
            sd.put("hpf.filter", filter);
        }
        return sd;
    }

    /**
     * The official module's parameter names in PyTorch's order, {@code named_parameters()}: the order in which an
     * optimizer numbers them, so the order of the entries of {@code optimizer.state_dict()['state']}. PyTorch
     * registers a module's own parameters, then its children, each in the order its {@code __init__} creates them:
     * {@code from_rgb, encode, decode, to_rgb} in the generator, {@code shared} before {@code unshared}, and in a
     * block {@code conv1, conv2, norm1, norm2, conv1x1}, with {@code weight} before {@code bias}; numbered children in
     * their numeric order. Buffers ({@code hpf.filter}) are not parameters.
     *
     * @param net a network of this class
     * @return the names of {@code StateDict.of(net)}'s parameters in PyTorch's order
     * @throws IllegalArgumentException if a name has a part this order does not know (not a StarGAN v2 network)
     */
    public static List<String> parameterNames(ComputationGraph net) {
        List<String> names = new ArrayList<>(StateDict.of(net).keys());
        for (String name : names) {
            for (String part : name.split("\\.")) {
                if (!isNumber(part) && !TORCH_ORDER.contains(part)) {
                    throw new IllegalArgumentException(
                            "\"" + name + "\" is not a parameter of a StarGAN v2 module: its part \"" + part
                                    + "\" is none of " + TORCH_ORDER);
                }
            }
        }
        names.sort(StarGanV2::compareTorchOrder);
        return List.copyOf(names);
    }

    /** The module and parameter names of the official modules, each before those registered after it. */
    private static final List<String> TORCH_ORDER = List.of(
            "from_rgb",
            "shared",
            "main",
            "encode",
            "decode",
            "to_rgb",
            "unshared",
            "conv1",
            "conv2",
            "norm1",
            "norm2",
            "conv1x1",
            "norm",
            "fc",
            "weight",
            "bias");

    private static int compareTorchOrder(String a, String b) {
        String[] x = a.split("\\.");
        String[] y = b.split("\\.");
        for (int i = 0; i < Math.min(x.length, y.length); i++) {
            if (x[i].equals(y[i])) {
                continue;
            }
            if (isNumber(x[i]) && isNumber(y[i])) {
                return Integer.compare(Integer.parseInt(x[i]), Integer.parseInt(y[i]));
            }
            return Integer.compare(TORCH_ORDER.indexOf(x[i]), TORCH_ORDER.indexOf(y[i]));
        }
        return Integer.compare(x.length, y.length);
    }

    private static boolean isNumber(String part) {
        return !part.isEmpty() && part.chars().allMatch(Character::isDigit);
    }

    /** @return the image size of a style encoder or discriminator: 2^(blocks + 2) */
    private static int imageSizeOf(ComputationGraph trunk, String prefix) {
        int blocks = 0;
        while (trunk.getConfiguration().getVertices().containsKey(prefix + "." + (blocks + 1) + ".conv1")) {
            blocks++;
        }
        return 1 << (blocks + 2);
    }

    /**
     * The networks of a StarGAN v2 file that this class builds.
     *
     * @param generator      {@code G}, or {@code null}
     * @param mappingNetwork {@code F}, or {@code null}
     * @param styleEncoder   {@code E}, or {@code null}
     * @param discriminator  {@code D}, or {@code null}
     * @param imageSize      the image size, read off E's or D's block count; 0 when the file has neither
     * @param wHpf           the generator's {@code w_hpf} (0: none)
     * @param notes          entries skipped and defaults taken, one line each
     */
    public record Nets(
            ComputationGraph generator,
            ComputationGraph mappingNetwork,
            ComputationGraph styleEncoder,
            ComputationGraph discriminator,
            int imageSize,
            double wHpf,
            List<String> notes) {}

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
        private boolean inputGradients;

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

        /**
         * @param inputGradients put a {@link GradientTapVertex} ({@value #IMAGE_GRADIENT}) on the image input, for
         *                       {@link StarGanV2#inputGradient}; default false
         */
        public TrunkBuilder inputGradients(boolean inputGradients) {
            this.inputGradients = inputGradients;
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
            return inputGradients ? withInputGradients(g.build()) : g.build();
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

    /**
     * Builds the generator {@code Generator(img_size, style_dim, max_conv_dim, w_hpf)}: inputs {@value #IMAGE}
     * {@code [N, 3, H, W]}, {@value #STYLE} {@code [N, style_dim]} and, when {@code w_hpf > 0}, the masks
     * {@value #MASK0} and {@value #MASK1} {@code [N, 1, Hm, Wm]} (FAN's two heatmaps, any size; only those the
     * image size uses are inputs: {@value #MASK0} at 32 px, {@value #MASK1} at 64 and 128 px). Output
     * {@value #OUTPUT}: the image, with no tanh, as the official generator.
     *
     * <p>Layers are named by the PyTorch module paths: {@code from_rgb}, {@code encode.i.{conv1, conv2, norm1,
     * norm2, conv1x1}}, {@code decode.i.{conv1, conv2, conv1x1}}, {@code decode.i.norm1.fc} (AdaIN's Linear layer,
     * whose output modulates the {@code decode.i.norm1} {@link AdaptiveInstanceNormVertex}), {@code to_rgb.0} and
     * {@code to_rgb.2}. The encoder's instance norms are {@code InstanceNormalization} layers with
     * {@code affine(true)} and no running statistics, as {@code nn.InstanceNorm2d(C, affine=True)}.
     */
    public static final class GeneratorBuilder extends Common<GeneratorBuilder> {
        private static final int[] HIGH_PASS_SIZES = {32, 64, 128};

        private int imageSize = 256;
        private int dimIn = 0;
        private int maxConvDim = 512;
        private double wHpf = 1;
        private boolean inputGradients;

        GeneratorBuilder() {}

        /** @param imageSize the square image's side, a power of 2 from 16 (from 8 when w_hpf &gt; 0; default 256) */
        public GeneratorBuilder imageSize(int imageSize) {
            if (imageSize < 8 || Integer.bitCount(imageSize) != 1) {
                throw new IllegalArgumentException("imageSize must be a power of 2 from 8, got " + imageSize);
            }
            this.imageSize = imageSize;
            return this;
        }

        /** @param dimIn the first convolution's width (default {@code 2^14 / imageSize}, as the official code) */
        public GeneratorBuilder dimIn(int dimIn) {
            this.dimIn = positive("dimIn", dimIn);
            return this;
        }

        /** @param maxConvDim the widest convolution (default 512) */
        public GeneratorBuilder maxConvDim(int maxConvDim) {
            this.maxConvDim = positive("maxConvDim", maxConvDim);
            return this;
        }

        /**
         * @param wHpf the high-pass filter's divisor, or 0 for no high-pass skips (default 1, the official default
         *             and CelebA-HQ's; AFHQ's is 0)
         */
        public GeneratorBuilder wHpf(double wHpf) {
            if (!(wHpf >= 0) || Double.isInfinite(wHpf)) {
                throw new IllegalArgumentException("wHpf must be 0 or a positive number, got " + wHpf);
            }
            this.wHpf = wHpf;
            return this;
        }

        /**
         * @param inputGradients put a {@link GradientTapVertex} on the image and style inputs
         *                       ({@value #IMAGE_GRADIENT}, {@value #STYLE_GRADIENT}), for
         *                       {@link StarGanV2#inputGradient}; default false
         */
        public GeneratorBuilder inputGradients(boolean inputGradients) {
            this.inputGradients = inputGradients;
            return this;
        }

        private int downBlocks() {
            int downs = Integer.numberOfTrailingZeros(imageSize) - 4 + (wHpf > 0 ? 1 : 0);
            if (downs < 0) {
                throw new IllegalArgumentException(
                        "A StarGAN v2 generator needs imageSize >= 16 (>= 8 with w_hpf > 0)," + " got " + imageSize);
            }
            return downs;
        }

        private static boolean highPassSize(int size) {
            return Arrays.stream(HIGH_PASS_SIZES).anyMatch(s -> s == size);
        }

        /** @return the configuration */
        public ComputationGraphConfiguration configuration() {
            int downs = downBlocks();
            boolean highPass = wHpf > 0;
            List<String> inputs = new ArrayList<>(List.of(IMAGE, STYLE));
            List<InputType> types = new ArrayList<>(
                    List.of(InputType.convolutional(imageSize, imageSize, 3), InputType.feedForward(styleDim)));
            if (highPass) {
                // Only the masks this size uses: DL4J refuses an input that feeds nothing.
                if (imageSize >= 32) {
                    inputs.add(MASK0);
                    types.add(InputType.convolutional(imageSize, imageSize, 1));
                }
                if (imageSize >= 64) {
                    inputs.add(MASK1);
                    types.add(InputType.convolutional(imageSize, imageSize, 1));
                }
            }
            ComputationGraphConfiguration.GraphBuilder g =
                    graph().addInputs(inputs.toArray(String[]::new)).setInputTypes(types.toArray(InputType[]::new));
            int width = dimIn > 0 ? dimIn : Math.max(1, (1 << 14) / imageSize);
            g.addLayer("from_rgb", conv(width, 3, 1, true), IMAGE);
            String last = "from_rgb";
            int size = imageSize;
            Map<Integer, String> kept = new HashMap<>();
            int[] widthIn = new int[downs];
            int[] widthOut = new int[downs];
            for (int i = 0; i < downs + 2; i++) {
                if (highPass && highPassSize(size)) {
                    kept.put(size, last);
                }
                boolean down = i < downs;
                int wider = down ? Math.min(width * 2, maxConvDim) : width;
                last = resBlock(g, "encode." + i, last, width, wider, down);
                if (down) {
                    widthIn[i] = width;
                    widthOut[i] = wider;
                    size /= 2;
                }
                width = wider;
            }
            for (int k = 0; k < downs + 2; k++) {
                boolean up = k >= 2;
                int cin = up ? widthOut[downs - 1 - (k - 2)] : width;
                int cout = up ? widthIn[downs - 1 - (k - 2)] : width;
                last = adainBlock(g, "decode." + k, last, cin, cout, up, highPass);
                if (up) {
                    size *= 2;
                }
                if (highPass && highPassSize(size)) {
                    String skip = "hpf." + size;
                    g.addVertex(skip, new MaskedHighPassVertex(wHpf), kept.get(size), size == 32 ? MASK0 : MASK1);
                    g.addVertex(
                            "decode." + k + ".hpf_sum", new ElementWiseVertex(ElementWiseVertex.Op.Add), last, skip);
                    last = "decode." + k + ".hpf_sum";
                }
                width = cout;
            }
            g.addLayer("to_rgb.0", affineNorm(), last);
            g.addLayer("to_rgb.1", leakyRelu(), "to_rgb.0");
            g.addLayer("to_rgb.2", conv(3, 1, 0, true), "to_rgb.1");
            g.addVertex(OUTPUT, new ScaleVertex(1.0), "to_rgb.2");
            g.setOutputs(OUTPUT);
            return inputGradients ? withInputGradients(g.build()) : g.build();
        }

        /** @return the initialized network */
        public ComputationGraph build() {
            ComputationGraph graph = new ComputationGraph(configuration());
            graph.init();
            return graph;
        }

        /** {@code ResBlk(cin, cout, normalize=True, downsample)}. */
        private static String resBlock(
                ComputationGraphConfiguration.GraphBuilder g, String name, String in, int cin, int cout, boolean down) {
            g.addLayer(name + ".norm1", affineNorm(), in);
            g.addLayer(name + ".actv1", leakyRelu(), name + ".norm1");
            g.addLayer(name + ".conv1", conv(cin, 3, 1, true), name + ".actv1");
            String h = name + ".conv1";
            if (down) {
                g.addLayer(name + ".pool1", avgPool(), h);
                h = name + ".pool1";
            }
            g.addLayer(name + ".norm2", affineNorm(), h);
            g.addLayer(name + ".actv2", leakyRelu(), name + ".norm2");
            g.addLayer(name + ".conv2", conv(cout, 3, 1, true), name + ".actv2");
            String shortcut = in;
            if (cin != cout) {
                g.addLayer(name + ".conv1x1", conv(cout, 1, 0, false), shortcut);
                shortcut = name + ".conv1x1";
            }
            if (down) {
                g.addLayer(name + ".pool0", avgPool(), shortcut);
                shortcut = name + ".pool0";
            }
            g.addVertex(name + ".sum", new ElementWiseVertex(ElementWiseVertex.Op.Add), shortcut, name + ".conv2");
            g.addVertex(name, new ScaleVertex(INV_SQRT2), name + ".sum");
            return name;
        }

        /** {@code AdainResBlk(cin, cout, style_dim, w_hpf, upsample)}. */
        private String adainBlock(
                ComputationGraphConfiguration.GraphBuilder g,
                String name,
                String in,
                int cin,
                int cout,
                boolean up,
                boolean residualOnly) {
            g.addLayer(name + ".norm1.fc", dense(2 * cin, Activation.IDENTITY), STYLE);
            g.addVertex(name + ".norm1", new AdaptiveInstanceNormVertex(), in, name + ".norm1.fc");
            g.addLayer(name + ".actv1", leakyRelu(), name + ".norm1");
            String h = name + ".actv1";
            if (up) {
                g.addLayer(name + ".up1", upsample(), h);
                h = name + ".up1";
            }
            g.addLayer(name + ".conv1", conv(cout, 3, 1, true), h);
            g.addLayer(name + ".norm2.fc", dense(2 * cout, Activation.IDENTITY), STYLE);
            g.addVertex(name + ".norm2", new AdaptiveInstanceNormVertex(), name + ".conv1", name + ".norm2.fc");
            g.addLayer(name + ".actv2", leakyRelu(), name + ".norm2");
            g.addLayer(name + ".conv2", conv(cout, 3, 1, true), name + ".actv2");
            if (residualOnly) {
                // w_hpf > 0: the official block returns the residual; its conv1x1, if any, is never used.
                return name + ".conv2";
            }
            String shortcut = in;
            if (up) {
                g.addLayer(name + ".up0", upsample(), shortcut);
                shortcut = name + ".up0";
            }
            if (cin != cout) {
                g.addLayer(name + ".conv1x1", conv(cout, 1, 0, false), shortcut);
                shortcut = name + ".conv1x1";
            }
            g.addVertex(name + ".sum", new ElementWiseVertex(ElementWiseVertex.Op.Add), shortcut, name + ".conv2");
            g.addVertex(name, new ScaleVertex(INV_SQRT2), name + ".sum");
            return name;
        }
    }

    private static InstanceNormalization affineNorm() {
        return new InstanceNormalization.Builder()
                .affine(true)
                .trackRunningStats(false)
                .build();
    }

    private static Upsampling2D upsample() {
        return new Upsampling2D.Builder(2).build();
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
