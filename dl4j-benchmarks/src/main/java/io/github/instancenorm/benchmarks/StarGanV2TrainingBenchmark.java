package io.github.instancenorm.benchmarks;

import io.github.instancenorm.train.StarGanV2Trainer;
import io.github.instancenorm.zoo.StarGanV2;
import java.util.concurrent.TimeUnit;
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

/**
 * One StarGAN v2 training iteration, {@link StarGanV2Trainer#step}, float32: the discriminator step with latent
 * styles and the one with reference styles (each with R1), the generator step with latent styles (Adam steps of
 * {@code G}, {@code F} and {@code E}) and the one with reference styles ({@code G}), the moving averages of
 * {@code G}, {@code F} and {@code E}, and {@code λ_ds}'s decay. The official options ({@link
 * StarGanV2Trainer.Options#OFFICIAL}: {@code λ} 1, 1, 2, 1; Adam(betas (0, 0.99), eps 1e-8, weight decay 1e-4), lr
 * 1e-4 and 1e-6 for {@code F}), the official initialization ({@link StarGanV2Trainer#initialize}), one fixed random
 * batch that every call trains on. The trainer installs oneDNN's convolutions itself; nothing else is installed.
 * The peers, the same sizes, inputs and four steps: {@code bench_stargan_v2_train.py} (PyTorch 1.13, autograd with
 * {@code create_graph} for R1) and {@code LibTorchStarGanV2Training} in {@code dl4j-benchmarks-libtorch} (libtorch
 * 2.7.1); {@code run-stargan-v2-benchmarks.sh --only train} runs all three.
 *
 * <p>Parameters:
 * <ul>
 *   <li>{@code size}: {@code example}, {@code TrainStarGanV2}'s defaults (32 px, {@code dim_in} 16,
 *       {@code max_conv_dim} 64, style 16, latent 8, mapping width 64), batch 8; or {@code small64} (64 px,
 *       {@code dim_in} 32, {@code max_conv_dim} 256, and StarGAN v2's defaults for the rest: style 64, latent 16,
 *       mapping width 512), batch 4; 3 domains in both, {@code w_hpf} 0;</li>
 *   <li>{@code r1}: where R1's three passes run, {@code DOUBLE} (the trainer's default: a double copy of the
 *       discriminator) or {@code FLOAT} ({@link StarGanV2Trainer#r1PassesIn}).</li>
 * </ul>
 * Sample {@code n} comes from domain {@code n % 3} and goes to {@code (n + 1) % 3}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 3,
        jvmArgsAppend = {
            "-Xmx4g",
            "-Dorg.bytedeco.javacpp.maxbytes=8G",
            "-Dorg.bytedeco.javacpp.maxphysicalbytes=12G",
            "--add-modules",
            "jdk.incubator.vector"
        })
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 3, time = 5)
public class StarGanV2TrainingBenchmark {

    /**
     * A configuration: image size, widths, domains and batch.
     *
     * @param imageSize  the image side
     * @param dimIn      the first convolutions' width
     * @param maxConvDim the widest convolution
     * @param styleDim   the style code's width
     * @param latentDim  the latent code's width
     * @param hidden     the mapping network's width
     * @param domains    the domains
     * @param batch      the images per iteration
     */
    public record Size(
            int imageSize, int dimIn, int maxConvDim, int styleDim, int latentDim, int hidden, int domains, int batch) {

        /**
         * @param name {@code example} (TrainStarGanV2's defaults: 32 px, dim_in 16, max_conv_dim 64, style 16,
         *             latent 8, mapping width 64, batch 8) or {@code small64} (64 px, dim_in 32, max_conv_dim 256,
         *             style 64, latent 16, mapping width 512, batch 4); 3 domains
         * @return the size
         */
        public static Size of(String name) {
            return switch (name) {
                case "example" -> new Size(32, 16, 64, 16, 8, 64, 3, 8);
                case "small64" -> new Size(64, 32, 256, 64, 16, 512, 3, 4);
                default -> throw new IllegalArgumentException("size: example or small64, got " + name);
            };
        }

        /** @return the four networks, float32, {@code w_hpf} 0, DL4J's initialization with {@code seed} */
        StarGanV2Trainer.Networks networks(long seed) {
            return new StarGanV2Trainer.Networks(
                    StarGanV2.generator()
                            .wHpf(0)
                            .imageSize(imageSize)
                            .dimIn(dimIn)
                            .maxConvDim(maxConvDim)
                            .styleDim(styleDim)
                            .seed(seed)
                            .build(),
                    StarGanV2.mappingNetwork()
                            .latentDim(latentDim)
                            .hidden(hidden)
                            .styleDim(styleDim)
                            .domains(domains)
                            .seed(seed)
                            .build(),
                    StarGanV2.styleEncoder()
                            .imageSize(imageSize)
                            .dimIn(dimIn)
                            .maxConvDim(maxConvDim)
                            .styleDim(styleDim)
                            .domains(domains)
                            .seed(seed)
                            .build(),
                    StarGanV2.discriminator()
                            .imageSize(imageSize)
                            .dimIn(dimIn)
                            .maxConvDim(maxConvDim)
                            .domains(domains)
                            .seed(seed)
                            .build());
        }

        /** @return a random batch: images uniform in [-1, 1], standard normal codes, the domains above */
        StarGanV2Trainer.Batch randomBatch() {
            int[] from = new int[batch];
            int[] to = new int[batch];
            for (int i = 0; i < batch; i++) {
                from[i] = i % domains;
                to[i] = (i + 1) % domains;
            }
            return new StarGanV2Trainer.Batch(
                    image(),
                    StarGanV2.oneHot(domains, from),
                    image(),
                    image(),
                    StarGanV2.oneHot(domains, to),
                    Nd4j.randn(DataType.FLOAT, batch, latentDim),
                    Nd4j.randn(DataType.FLOAT, batch, latentDim));
        }

        private INDArray image() {
            return Nd4j.rand(DataType.FLOAT, batch, 3, imageSize, imageSize)
                    .muli(2)
                    .subi(1);
        }
    }

    /** {@code example} or {@code small64}; see the class documentation. */
    @Param({"example", "small64"})
    public String size;

    /** {@code DOUBLE} or {@code FLOAT}: where R1's passes run. */
    @Param({"DOUBLE", "FLOAT"})
    public String r1;

    private StarGanV2Trainer trainer;
    private StarGanV2Trainer.Batch batch;

    /** Builds and initializes the networks, the trainer and the batch. */
    @Setup(Level.Trial)
    public void setUp() {
        Size s = Size.of(size);
        StarGanV2Trainer.Networks nets = s.networks(1);
        StarGanV2Trainer.Networks ema = s.networks(2);
        StarGanV2Trainer.initialize(nets, ema, 42);
        trainer =
                new StarGanV2Trainer(nets, ema, StarGanV2Trainer.Options.OFFICIAL, 0).r1PassesIn(DataType.valueOf(r1));
        Nd4j.getRandom().setSeed(42);
        batch = s.randomBatch();
    }

    /** One iteration: two D steps, two G steps, the moving averages. */
    @Benchmark
    public StarGanV2Trainer.Losses iteration() {
        return trainer.step(batch);
    }
}
