package io.github.instancenorm.zoo;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import io.github.instancenorm.zoo.conf.graph.GradientTapVertex;
import io.github.instancenorm.zoo.conf.graph.TiledLabelConcatVertex;
import java.io.IOException;
import java.nio.file.Path;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.ReshapeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Deconvolution2D;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * StarGAN v1 (Choi et al., 2018; the yunjey/stargan code) as DL4J {@link ComputationGraph}s with the same
 * structure, parameter shapes and layer names as the PyTorch modules, so a PyTorch state dict maps onto them by
 * name.
 *
 * <p>Generator {@code (conv_dim, c_dim, repeat_num)}: inputs {@code "image"} {@code [N, 3, H, W]} and
 * {@code "label"} {@code [N, c_dim]}; the label is tiled over the image and concatenated after the RGB channels;
 * then a 7x7 convolution, two stride-2 down-sampling convolutions, {@code repeat_num} residual blocks, two
 * stride-2 transposed convolutions and a 7x7 convolution with tanh; the output {@code [N, 3, H, W]} in [-1, 1]
 * is the last layer, {@link #generatorOutput(int)} ({@code "main.22"} for six blocks). Every convolution is bias-free and followed by an
 * {@link InstanceNormalization} with affine parameters and running statistics (17 of them for
 * {@code repeat_num = 6}) and a ReLU.
 *
 * <p>Discriminator {@code (image_size, conv_dim, c_dim, repeat_num)}: input {@code "image"}; {@code repeat_num}
 * stride-2 4x4 convolutions with LeakyReLU(0.01); outputs {@code "conv1"} (real/fake scores per patch,
 * {@code [N, 1, H/2^r, W/2^r]}) and {@code "cls"} (domain logits {@code [N, c_dim]}).
 *
 * <p>Which statistics the generator's instance norms use in inference is a choice, not an accident:
 * {@link Statistics#INSTANCE} is what StarGAN's own test code does (it never calls {@code eval()}, so every
 * instance norm uses the image's own statistics); {@link Statistics#RUNNING} is PyTorch's {@code G.eval()}, which
 * uses the running statistics in the checkpoint and gives visibly different images. Neither updates the running
 * statistics; training forwards ({@code fit}) always use instance statistics and update them.
 *
 * <p>The graphs are plain DL4J and their JSON names only this artifact's and DL4J's classes, so saved models never need
 * the speed-ups; install those ({@code Speedups.install}) after building or loading, for training on the CPU.
 */
public final class StarGan {

    /** Which statistics the instance norms use in inference. */
    public enum Statistics {
        /** Each image's own statistics, as StarGAN's test code (and ONNX InstanceNormalization) does. */
        INSTANCE,
        /** The running statistics, as PyTorch's {@code eval()} mode does. */
        RUNNING
    }

    /** Name of the generator's image input. */
    public static final String IMAGE = "image";
    /** Name of the generator's label input. */
    public static final String LABEL = "label";
    /** Name of the discriminator's real/fake output. */
    public static final String D_SOURCE = "conv1";
    /** Name of the discriminator's domain-classification output. */
    public static final String D_CLASS = "cls";
    /** Name of the optional {@link GradientTapVertex} that records the gradient with respect to the image. */
    public static final String IMAGE_GRADIENT = "image.grad";

    private StarGan() {}

    /** @return a builder for the generator, with StarGAN's defaults */
    public static GeneratorBuilder generator() {
        return new GeneratorBuilder();
    }

    /** @return a builder for the discriminator, with StarGAN's defaults */
    public static DiscriminatorBuilder discriminator() {
        return new DiscriminatorBuilder();
    }

    /**
     * Switches the inference behaviour of every {@link InstanceNormalization} in a graph.
     *
     * @param graph      a graph built here, or any graph with instance norms
     * @param statistics which statistics inference uses
     * @return the number of instance-norm layers changed
     */
    public static int useStatistics(ComputationGraph graph, Statistics statistics) {
        int changed = 0;
        for (org.deeplearning4j.nn.api.Layer layer : graph.getLayers()) {
            if (layer.conf().getLayer() instanceof InstanceNormalization in) {
                in.setUseInputStatsInInference(statistics == Statistics.INSTANCE);
                changed++;
            }
        }
        return changed;
    }

    /**
     * @param graph a graph built with {@code inputGradients(true)}
     * @return the gradient with respect to the {@code "image"} input from the last
     *         {@link ComputationGraph#backpropGradient(org.nd4j.linalg.api.ndarray.INDArray...)}
     * @throws IllegalStateException if the graph records no input gradient or has not been backpropagated
     */
    public static org.nd4j.linalg.api.ndarray.INDArray imageGradient(ComputationGraph graph) {
        if (!(graph.getVertex(IMAGE_GRADIENT)
                instanceof io.github.instancenorm.zoo.layers.graph.GradientTapVertex tap)) {
            throw new IllegalStateException("The graph records no image gradient: build it with inputGradients(true)");
        }
        if (tap.lastGradient() == null) {
            throw new IllegalStateException("No image gradient yet: call backpropGradient(...) first");
        }
        return tap.lastGradient();
    }

    /**
     * Builds a generator shaped like the one a PyTorch StarGAN checkpoint ({@code torch.save(G.state_dict())},
     * e.g. {@code 200000-G.ckpt}, zip or legacy format) holds and loads its weights and running statistics.
     * {@code conv_dim}, {@code c_dim} and {@code repeat_num} are read off the tensor shapes.
     *
     * @param checkpoint the state dict file
     * @param statistics which statistics inference uses
     * @return the loaded generator, for images of any size divisible by 4
     * @throws IOException if the file cannot be read or does not hold a StarGAN generator
     */
    public static ComputationGraph loadGenerator(Path checkpoint, Statistics statistics) throws IOException {
        StateDict sd = stripWrappers(StateDict.read(checkpoint));
        long[] first = shapeOf(sd, "main.0.weight", checkpoint);
        int repeat = 0;
        while (sd.keys().contains("main." + (9 + repeat) + ".main.0.weight")) {
            repeat++;
        }
        ComputationGraph g = generator()
                .convDim((int) first[0])
                .cDim((int) first[1] - 3)
                .repeatNum(repeat)
                .statistics(statistics)
                .build();
        TorchWeights.load(g, sd);
        return g;
    }

    /**
     * Builds a discriminator shaped like the one a PyTorch StarGAN checkpoint ({@code 200000-D.ckpt}) holds and
     * loads its weights. {@code conv_dim}, {@code c_dim}, {@code repeat_num} and {@code image_size} are read off
     * the tensor shapes.
     *
     * @param checkpoint the state dict file
     * @return the loaded discriminator
     * @throws IOException if the file cannot be read or does not hold a StarGAN discriminator
     */
    public static ComputationGraph loadDiscriminator(Path checkpoint) throws IOException {
        StateDict sd = stripWrappers(StateDict.read(checkpoint));
        long[] first = shapeOf(sd, "main.0.weight", checkpoint);
        int repeat = 0;
        while (sd.keys().contains("main." + (2 * repeat) + ".weight")) {
            repeat++;
        }
        long[] cls = shapeOf(sd, "conv2.weight", checkpoint);
        ComputationGraph d = discriminator()
                .convDim((int) first[0])
                .cDim((int) cls[0])
                .repeatNum(repeat)
                .imageSize((int) (cls[2] << repeat))
                .build();
        TorchWeights.load(d, sd);
        return d;
    }

    private static StateDict stripWrappers(StateDict sd) {
        return sd.keys().stream().allMatch(k -> k.startsWith("module.")) ? sd.stripPrefix("module.") : sd;
    }

    private static long[] shapeOf(StateDict sd, String key, Path file) throws IOException {
        if (!sd.contains(key)) {
            throw new IOException(file + " does not hold a StarGAN network: no \"" + key + "\" among "
                    + sd.keys().subList(0, Math.min(8, sd.size())) + (sd.size() > 8 ? "..." : ""));
        }
        return sd.get(key).shape();
    }

    /** @return the generator's output vertex name for a given residual block count */
    public static String generatorOutput(int repeatNum) {
        return "main." + (generatorFirstUpsamplingIndex(repeatNum) + 7);
    }

    private static int generatorFirstUpsamplingIndex(int repeatNum) {
        return 9 + repeatNum;
    }

    /** Settings common to both networks. */
    @SuppressWarnings("unchecked")
    abstract static class Common<B extends Common<B>> {
        int convDim = 64;
        int cDim = 5;
        int repeatNum = 6;
        int imageSize = 128;
        DataType dataType = DataType.FLOAT;
        IUpdater updater = new Adam(1e-4, 0.5, 0.999, 1e-8);
        long seed = 1234;
        boolean inputGradients = false;

        /** @param convDim width of the first convolution (StarGAN: 64) */
        public B convDim(int convDim) {
            this.convDim = positive("convDim", convDim);
            return (B) this;
        }

        /** @param cDim number of domain labels (StarGAN CelebA: 5) */
        public B cDim(int cDim) {
            this.cDim = positive("cDim", cDim);
            return (B) this;
        }

        /** @param repeatNum generator: residual blocks; discriminator: stride-2 convolutions (StarGAN: 6) */
        public B repeatNum(int repeatNum) {
            this.repeatNum = positive("repeatNum", repeatNum);
            return (B) this;
        }

        /** @param imageSize square image side in pixels (StarGAN: 128) */
        public B imageSize(int imageSize) {
            this.imageSize = positive("imageSize", imageSize);
            return (B) this;
        }

        /** @param dataType the network's data type; default FLOAT */
        public B dataType(DataType dataType) {
            this.dataType = dataType;
            return (B) this;
        }

        /** @param updater the updater for training; default StarGAN's Adam(1e-4, 0.5, 0.999) */
        public B updater(IUpdater updater) {
            this.updater = updater;
            return (B) this;
        }

        /** @param seed seed of the weight initialization */
        public B seed(long seed) {
            this.seed = seed;
            return (B) this;
        }

        /**
         * @param inputGradients insert a {@link GradientTapVertex} named {@value #IMAGE_GRADIENT} after the image
         *                       input, for training loops that need the gradient with respect to the image (see
         *                       {@link StarGan#imageGradient(ComputationGraph)}); default false
         */
        public B inputGradients(boolean inputGradients) {
            this.inputGradients = inputGradients;
            return (B) this;
        }

        /** @return the name of the vertex the first layer reads the image from */
        String imageSource(ComputationGraphConfiguration.GraphBuilder g) {
            if (!inputGradients) {
                return IMAGE;
            }
            g.addVertex(IMAGE_GRADIENT, new GradientTapVertex(), IMAGE);
            return IMAGE_GRADIENT;
        }

        ComputationGraphConfiguration.GraphBuilder graph() {
            return new NeuralNetConfiguration.Builder()
                    .seed(seed)
                    .dataType(dataType)
                    .updater(updater)
                    .weightInit(WeightInit.RELU)
                    .convolutionMode(ConvolutionMode.Truncate)
                    .graphBuilder();
        }

        static int positive(String what, int value) {
            if (value <= 0) {
                throw new IllegalArgumentException(what + " must be positive, got " + value);
            }
            return value;
        }
    }

    /** Builds StarGAN's {@code Generator(conv_dim, c_dim, repeat_num)}. */
    public static final class GeneratorBuilder extends Common<GeneratorBuilder> {
        private Statistics statistics = Statistics.RUNNING;

        GeneratorBuilder() {}

        /** @param statistics which statistics inference uses; default {@link Statistics#RUNNING} (PyTorch eval) */
        public GeneratorBuilder statistics(Statistics statistics) {
            this.statistics = statistics;
            return this;
        }

        /** @return the configuration */
        public ComputationGraphConfiguration configuration() {
            if (imageSize % 4 != 0) {
                throw new IllegalArgumentException("The generator down-samples twice by 2: imageSize must be a"
                        + " multiple of 4, got " + imageSize);
            }
            ComputationGraphConfiguration.GraphBuilder g = graph().addInputs(IMAGE, LABEL)
                    .setInputTypes(InputType.convolutional(imageSize, imageSize, 3), InputType.feedForward(cDim));
            g.addVertex("input", new TiledLabelConcatVertex(), imageSource(g), LABEL);
            Stack s = new Stack(g, "main", "input");
            s.conv(convDim, 7, 1, 3).norm(convDim).relu();
            int dim = convDim;
            for (int i = 0; i < 2; i++) {
                s.conv(dim * 2, 4, 2, 1).norm(dim * 2).relu();
                dim *= 2;
            }
            for (int i = 0; i < repeatNum; i++) {
                String block = "main." + s.index;
                Stack r = new Stack(g, block + ".main", s.last);
                r.conv(dim, 3, 1, 1).norm(dim).relu().conv(dim, 3, 1, 1).norm(dim);
                g.addVertex(block, new ElementWiseVertex(ElementWiseVertex.Op.Add), s.last, r.last);
                s.skip(block);
            }
            for (int i = 0; i < 2; i++) {
                s.deconv(dim / 2).norm(dim / 2).relu();
                dim /= 2;
            }
            s.conv(3, 7, 1, 3).activation(Activation.TANH);
            g.setOutputs(s.last);
            return g.build();
        }

        /**
         * @return the initialized generator, instance norms set to the chosen inference statistics (plain DL4J: for
         *         training speed on the CPU, {@code Speedups.install(graph)} from {@code dl4j-instancenorm-speedups})
         */
        public ComputationGraph build() {
            ComputationGraph graph = new ComputationGraph(configuration());
            graph.init();
            useStatistics(graph, statistics);
            return graph;
        }
    }

    /** Builds StarGAN's {@code Discriminator(image_size, conv_dim, c_dim, repeat_num)}. */
    public static final class DiscriminatorBuilder extends Common<DiscriminatorBuilder> {

        DiscriminatorBuilder() {}

        /** @return the configuration */
        public ComputationGraphConfiguration configuration() {
            int finalSize = imageSize >> repeatNum;
            if (finalSize < 1 || finalSize << repeatNum != imageSize) {
                throw new IllegalArgumentException("The discriminator halves the image " + repeatNum + " times:"
                        + " imageSize must be a multiple of 2^repeatNum = " + (1 << repeatNum) + ", got "
                        + imageSize);
            }
            ComputationGraphConfiguration.GraphBuilder g =
                    graph().addInputs(IMAGE).setInputTypes(InputType.convolutional(imageSize, imageSize, 3));
            Stack s = new Stack(g, "main", imageSource(g));
            int dim = convDim;
            s.biasedConv(dim, 4, 2, 1).activation(new ActivationLReLU(0.01));
            for (int i = 1; i < repeatNum; i++) {
                s.biasedConv(dim * 2, 4, 2, 1).activation(new ActivationLReLU(0.01));
                dim *= 2;
            }
            g.addLayer(D_SOURCE, convolution(1, 3, 1, 1, false), s.last);
            g.addLayer("conv2", convolution(cDim, finalSize, 1, 0, false), s.last);
            g.addVertex(D_CLASS, new ReshapeVertex('c', new int[] {-1, cDim}, null), "conv2");
            g.setOutputs(D_SOURCE, D_CLASS);
            return g.build();
        }

        /**
         * @return the initialized discriminator (plain DL4J: for training speed on the CPU,
         *         {@code Speedups.install(graph)} from {@code dl4j-instancenorm-speedups})
         */
        public ComputationGraph build() {
            ComputationGraph graph = new ComputationGraph(configuration());
            graph.init();
            return graph;
        }
    }

    private static ConvolutionLayer convolution(int nOut, int kernel, int stride, int padding, boolean bias) {
        return new ConvolutionLayer.Builder(kernel, kernel)
                .stride(stride, stride)
                .padding(padding, padding)
                .nOut(nOut)
                .hasBias(bias)
                .activation(Activation.IDENTITY)
                .build();
    }

    /** Appends layers named like the entries of a PyTorch {@code nn.Sequential}: prefix.0, prefix.1, ... */
    private static final class Stack {
        private final ComputationGraphConfiguration.GraphBuilder g;
        private final String prefix;
        private int index;
        private String last;

        Stack(ComputationGraphConfiguration.GraphBuilder g, String prefix, String input) {
            this.g = g;
            this.prefix = prefix;
            this.last = input;
        }

        private Stack add(org.deeplearning4j.nn.conf.layers.Layer layer) {
            String name = prefix + "." + index++;
            g.addLayer(name, layer, last);
            last = name;
            return this;
        }

        Stack skip(String vertex) {
            index++;
            last = vertex;
            return this;
        }

        Stack conv(int nOut, int kernel, int stride, int padding) {
            return add(convolution(nOut, kernel, stride, padding, false));
        }

        Stack biasedConv(int nOut, int kernel, int stride, int padding) {
            return add(convolution(nOut, kernel, stride, padding, true));
        }

        Stack deconv(int nOut) {
            return add(new Deconvolution2D.Builder(4, 4)
                    .stride(2, 2)
                    .padding(1, 1)
                    .nOut(nOut)
                    .hasBias(false)
                    .activation(Activation.IDENTITY)
                    .build());
        }

        Stack norm(int channels) {
            return add(new InstanceNormalization.Builder()
                    .nOut(channels)
                    .affine(true)
                    .trackRunningStats(true)
                    .build());
        }

        Stack relu() {
            return activation(Activation.RELU);
        }

        Stack activation(Activation activation) {
            return add(new ActivationLayer.Builder().activation(activation).build());
        }

        Stack activation(org.nd4j.linalg.activations.IActivation activation) {
            return add(new ActivationLayer.Builder().activation(activation).build());
        }
    }
}
