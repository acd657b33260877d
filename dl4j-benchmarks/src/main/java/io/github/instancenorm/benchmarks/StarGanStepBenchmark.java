package io.github.instancenorm.benchmarks;

import io.github.instancenorm.runtime.KernelSettings;
import io.github.instancenorm.speedups.Speedups;
import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.speedups.updater.GraphUpdates;
import io.github.instancenorm.train.StarGanTrainer;
import io.github.instancenorm.zoo.StarGan;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * StarGAN's generator and discriminator from the zoo ({@link StarGan}), float32, timed as a training loop and an
 * inference call use them: a whole iteration of the real trainer ({@link StarGanTrainer}), and each network's
 * forward, backward and update alone. The PyTorch timings that match the per-network methods are in
 * {@code src/main/python/bench_torch.py} ({@code --models}) and, for libtorch 2.7, in the
 * {@code dl4j-benchmarks-libtorch} module's {@code LibTorchStarGan}; the same sizes and steps there.
 *
 * <ul>
 *   <li>{@code trainerStep}: one {@link StarGanTrainer#step} with the example's defaults (LSGAN, {@code λ_cls 1},
 *       {@code λ_rec 10}, identity term {@code λ_id 10}): the identity, translation and reconstruction passes of the
 *       generator, the discriminator's step on real and translated images, and the generator's step, each with its
 *       Adam update;</li>
 *   <li>{@code trainerStepWganGp}: the same with StarGAN's WGAN-GP ({@code λ_gp 10}, {@code n_critic 5}, no
 *       identity term): every call a critic step with the gradient penalty (its three passes in double), every fifth
 *       a generator step too, so the score is the average iteration of a run;</li>
 *   <li>{@code generatorStep}: forward in training mode (instance statistics, running-statistics update), the
 *       gradient of {@code mean(out)} fed to {@link ComputationGraph#backpropGradient}, and one Adam step
 *       (StarGAN's {@code Adam(1e-4, 0.5, 0.999)}) applied to the parameters, as {@code StarGanTrainer} does for
 *       each of its passes;</li>
 *   <li>{@code generatorForwardBackward}: the same without the update (libtorch's peer measurement);</li>
 *   <li>{@code discriminatorStep}: the same for the discriminator, loss {@code mean(out_src) + mean(out_cls)};</li>
 *   <li>{@code discriminatorForwardBackward}: the same without the update;</li>
 *   <li>{@code generatorInference}: {@link ComputationGraph#output} in inference mode (running statistics,
 *       PyTorch's {@code G.eval()} under {@code no_grad}).</li>
 * </ul>
 *
 * <p>Parameters:
 * <ul>
 *   <li>{@code size}: {@code stargan} (128 px, conv_dim 64, 6 blocks / 6 layers, 5 labels, batch 2) or
 *       {@code example} (TrainStarGan's defaults until 2026-12-07: 32 px, conv_dim 8, 2 blocks / 4 layers, 5 labels,
 *       batch 16; the example now trains conv_dim 12);</li>
 *   <li>{@code convolutions}: {@code onednn} ({@link FastConvolutions#install}) or {@code dl4j} (DL4J's own
 *       {@code im2col} path);</li>
 *   <li>{@code layer} {@code InstanceNorm} (the CPU kernels) or {@code InstanceNormOpForm} (the same network with
 *       {@link KernelSettings#CPU_KERNELS_PROPERTY} off).</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {
            "-Xmx4g",
            "-Dorg.bytedeco.javacpp.maxbytes=8G",
            "-Dorg.bytedeco.javacpp.maxphysicalbytes=12G",
            "--add-modules",
            "jdk.incubator.vector"
        })
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class StarGanStepBenchmark {

    /** {@code stargan} or {@code example}; see the class documentation. */
    @Param({"stargan", "example"})
    public String size;

    /** {@code onednn} or {@code dl4j}; see the class documentation. */
    @Param({"onednn"})
    public String convolutions;

    /** {@code InstanceNorm} or {@code InstanceNormOpForm}; see the class documentation. */
    @Param({"InstanceNorm"})
    public String layer;

    /**
     * The trainers' {@code recycleNativeMemoryAfter}, in MiB: 32 (the default) or 0 (never collect; the trainer
     * before 2026-12-07).
     */
    @Param({"32"})
    public int recycleMb;

    private int batch;
    private int blocks;
    private ComputationGraph generator;
    private ComputationGraph discriminator;
    private INDArray image;
    private INDArray label;
    private INDArray target;
    private int iteration;
    private StarGanTrainer lsgan;
    private StarGanTrainer wganGp;

    /**
     * Builds both networks and a random batch of images in [-1, 1] with random binary labels and targets; for the
     * trainer's methods, the networks record their image gradients ({@code inputGradients(true)}, which the trainer
     * needs) and a trainer drives them.
     *
     * @param benchmark JMH's description of the method about to run ({@code null}: set up for every method)
     */
    @Setup(Level.Trial)
    public void setUp(BenchmarkParams benchmark) {
        boolean trainer = benchmark == null || benchmark.getBenchmark().contains(".trainerStep");
        if ("InstanceNormOpForm".equals(layer)) {
            System.setProperty(KernelSettings.CPU_KERNELS_PROPERTY, "false");
        }
        System.setProperty(FastConvolutions.PROPERTY, String.valueOf("onednn".equals(convolutions)));
        boolean full = switch (size) {
            case "stargan" -> true;
            case "example" -> false;
            default -> throw new IllegalArgumentException("size: stargan or example, got " + size);
        };
        int pixels = full ? 128 : 32;
        int convDim = full ? 64 : 8;
        int labels = 5;
        batch = full ? 2 : 16;
        blocks = full ? 6 : 2;
        generator = StarGan.generator()
                .convDim(convDim)
                .cDim(labels)
                .repeatNum(blocks)
                .imageSize(pixels)
                .dataType(DataType.FLOAT)
                .statistics(StarGan.Statistics.RUNNING)
                .inputGradients(trainer)
                .build();
        discriminator = StarGan.discriminator()
                .convDim(convDim)
                .cDim(labels)
                .repeatNum(full ? 6 : 4)
                .imageSize(pixels)
                .dataType(DataType.FLOAT)
                .inputGradients(trainer)
                .build();
        Speedups.install(generator); // what the properties above leave on
        Speedups.install(discriminator);
        Nd4j.getRandom().setSeed(42);
        image = Nd4j.rand(DataType.FLOAT, batch, 3, pixels, pixels).muli(2).subi(1);
        label = Nd4j.rand(DataType.FLOAT, batch, labels).gt(0.5).castTo(DataType.FLOAT);
        target = Nd4j.rand(DataType.FLOAT, batch, labels).gt(0.5).castTo(DataType.FLOAT);
        if (trainer) {
            // Both trainers share the two graphs (a benchmark method uses one of them); the example's loss weights.
            StarGanTrainer.LossWeights weights = StarGanTrainer.LossWeights.STARGAN.withIdentity(10);
            lsgan = new StarGanTrainer(generator, discriminator, weights)
                    .recycleNativeMemoryAfter((long) recycleMb << 20);
            wganGp = new StarGanTrainer(generator, discriminator, StarGanTrainer.LossWeights.STARGAN)
                    .wganGp(10, 5)
                    .recycleNativeMemoryAfter((long) recycleMb << 20);
        }
    }

    /** One iteration of {@link StarGanTrainer}, LSGAN with the identity term (the example's default). */
    @Benchmark
    public StarGanTrainer.Losses trainerStep() {
        return lsgan.step(image, label, target);
    }

    /** One iteration of {@link StarGanTrainer} with WGAN-GP, {@code n_critic 5}: a generator step every fifth call. */
    @Benchmark
    public StarGanTrainer.Losses trainerStepWganGp() {
        return wganGp.step(image, label, target);
    }

    /** Forward in training mode, backward of {@code mean(out)}, one Adam step. */
    @Benchmark
    public double generatorStep() {
        INDArray out = generator
                .feedForward(new INDArray[] {image, label}, true, false)
                .get(StarGan.generatorOutput(blocks));
        step(generator, out);
        return out.getDouble(0);
    }

    /** Forward in training mode and backward of {@code mean(out)}, no update. */
    @Benchmark
    public Gradient generatorForwardBackward() {
        INDArray out = generator
                .feedForward(new INDArray[] {image, label}, true, false)
                .get(StarGan.generatorOutput(blocks));
        return generator.backpropGradient(meanGradients(out));
    }

    /** Forward in training mode, backward of {@code mean(out_src) + mean(out_cls)}, one Adam step. */
    @Benchmark
    public double discriminatorStep() {
        Map<String, INDArray> out = discriminator.feedForward(new INDArray[] {image}, true, false);
        step(discriminator, out.get(StarGan.D_SOURCE), out.get(StarGan.D_CLASS));
        return out.get(StarGan.D_SOURCE).getDouble(0);
    }

    /** Forward in training mode and backward of {@code mean(out_src) + mean(out_cls)}, no update. */
    @Benchmark
    public Gradient discriminatorForwardBackward() {
        Map<String, INDArray> out = discriminator.feedForward(new INDArray[] {image}, true, false);
        return discriminator.backpropGradient(meanGradients(out.get(StarGan.D_SOURCE), out.get(StarGan.D_CLASS)));
    }

    /** Inference forward with the running statistics. */
    @Benchmark
    public INDArray generatorInference() {
        return generator.output(false, image, label)[0];
    }

    /** Backward of the sum of the outputs' means, then one update ({@link GraphUpdates}, as the example trains). */
    private void step(ComputationGraph graph, INDArray... outputs) {
        Gradient gradient = graph.backpropGradient(meanGradients(outputs));
        GraphUpdates.apply(graph, gradient, iteration++, 0, batch);
    }

    /** d mean(out) / d out for each output, scaled by the batch size: DL4J's updater divides by it (as the trainer). */
    private INDArray[] meanGradients(INDArray... outputs) {
        INDArray[] dOut = new INDArray[outputs.length];
        for (int i = 0; i < outputs.length; i++) {
            dOut[i] = Nd4j.valueArrayOf(outputs[i].shape(), (double) batch / outputs[i].length(), DataType.FLOAT);
        }
        return dOut;
    }
}
