package io.github.instancenorm.benchmarks;

import io.github.instancenorm.speedups.Speedups;
import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.zoo.StarGanV2;
import java.util.concurrent.TimeUnit;
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

/**
 * StarGAN v2's latent-guided synthesis on the zoo's networks ({@link StarGanV2}), float32, random weights: the
 * mapping network turns latent codes and target domains into style codes, {@code s = F(z, y)}, and the generator
 * translates the source images with them, {@code G(x, s)} ({@link StarGanV2#generate}, {@code w_hpf = 0}, so no
 * masks). Both are called as a user calls them, {@code outputSingle} in inference mode (the generator's instance
 * norms use the instance statistics either way: StarGAN v2's have no running statistics), with {@link Speedups}
 * installed (oneDNN convolutions). The peers, the same networks and sizes: {@code bench_stargan_v2.py --models}
 * (PyTorch 1.13, the modules of the zoo's {@code gen_stargan_v2_fixtures.py}) and {@code LibTorchStarGanV2} in
 * {@code dl4j-benchmarks-libtorch} (libtorch 2.7.1); {@code run-stargan-v2-benchmarks.sh} runs all three.
 *
 * <p>Parameters:
 * <ul>
 *   <li>{@code size}: {@code afhq}, the AFHQ release's configuration (256 px, {@code dim_in} 64,
 *       {@code max_conv_dim} 512, style 64, latent 16, mapping width 512, 3 domains, {@code w_hpf} 0), batch 1; or
 *       {@code small} (64 px, {@code dim_in} 32, {@code max_conv_dim} 256, otherwise the same), batch 8;</li>
 *   <li>{@code batch}: overrides the size's batch when positive;</li>
 *   <li>{@code convolutions}: {@code onednn} ({@link FastConvolutions}, what {@code Speedups.install} does) or
 *       {@code dl4j} (DL4J's own {@code im2col} convolutions).</li>
 * </ul>
 * Sample {@code n}'s target domain is {@code n % 3}.
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
@Warmup(iterations = 3, time = 4)
@Measurement(iterations = 5, time = 4)
public class StarGanV2InferenceBenchmark {

    /** A configuration of the four widths, the image size and the batch. */
    record Size(
            int imageSize, int dimIn, int maxConvDim, int styleDim, int latentDim, int hidden, int domains, int batch) {

        static Size of(String name) {
            return switch (name) {
                case "afhq" -> new Size(256, 64, 512, 64, 16, 512, 3, 1);
                case "small" -> new Size(64, 32, 256, 64, 16, 512, 3, 8);
                default -> throw new IllegalArgumentException("size: afhq or small, got " + name);
            };
        }
    }

    /** {@code afhq} or {@code small}; see the class documentation. */
    @Param({"afhq", "small"})
    public String size;

    /** The batch; 0 takes the size's own. */
    @Param({"0"})
    public int batch;

    /** {@code onednn} or {@code dl4j}; see the class documentation. */
    @Param({"onednn"})
    public String convolutions;

    private ComputationGraph mapping;
    private ComputationGraph generator;
    private INDArray latent;
    private INDArray domain;
    private INDArray image;

    /** Builds both networks and a random batch: images in [-1, 1], standard normal latent codes. */
    @Setup(Level.Trial)
    public void setUp() {
        System.setProperty(FastConvolutions.PROPERTY, String.valueOf("onednn".equals(convolutions)));
        Size s = Size.of(size);
        int n = batch > 0 ? batch : s.batch();
        mapping = StarGanV2.mappingNetwork()
                .latentDim(s.latentDim())
                .hidden(s.hidden())
                .styleDim(s.styleDim())
                .domains(s.domains())
                .build();
        generator = StarGanV2.generator()
                .imageSize(s.imageSize())
                .dimIn(s.dimIn())
                .maxConvDim(s.maxConvDim())
                .styleDim(s.styleDim())
                .wHpf(0)
                .build();
        Speedups.install(mapping);
        Speedups.install(generator);
        Nd4j.getRandom().setSeed(42);
        latent = Nd4j.randn(DataType.FLOAT, n, s.latentDim());
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % s.domains();
        }
        domain = StarGanV2.oneHot(s.domains(), labels);
        image = Nd4j.rand(DataType.FLOAT, n, 3, s.imageSize(), s.imageSize())
                .muli(2)
                .subi(1);
    }

    /** {@code s = F(z, y)}, then {@code G(x, s)}. */
    @Benchmark
    public INDArray latentGuided() {
        INDArray style = mapping.outputSingle(latent, domain);
        return StarGanV2.generate(generator, image, style);
    }
}
