package io.github.instancenorm.benchmarks;

import io.github.instancenorm.ops.InstanceNormCpuKernels;
import io.github.instancenorm.zoo.StarGan;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
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

import java.util.concurrent.TimeUnit;

/**
 * The whole StarGAN generator of the zoo ({@link StarGan#generator()}: {@code convDim} 64, {@code cDim} 5,
 * {@code repeatNum} 6, 128 x 128 images, float32; 17 instance norms among 15 convolutions), timed as a training
 * loop and an inference call use it. The matching PyTorch timing is {@code StarGAN Generator} in
 * {@code src/main/python/bench_torch.py}.
 *
 * <ul>
 *   <li>{@code trainingStep}: forward in training mode (instance statistics, running-statistics update), the
 *       gradient of {@code mean(out)} ({@code 1 / out.length()} everywhere) fed to
 *       {@link ComputationGraph#backpropGradient}, and one Adam step (StarGAN's {@code Adam(1e-4, 0.5, 0.999)})
 *       applied to the parameters, as {@code StarGanTrainer} in dl4j-examples does;</li>
 *   <li>{@code inference}: {@link ComputationGraph#output} in inference mode (running statistics, PyTorch's
 *       {@code G.eval()} under {@code no_grad}).</li>
 * </ul>
 *
 * <p>Parameters: {@code batch} images per call; {@code layer} {@code InstanceNorm} (the CPU kernels) or
 * {@code InstanceNormOpForm} (the same network with {@link InstanceNormCpuKernels#PROPERTY} off).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "-Dorg.bytedeco.javacpp.maxbytes=8G",
        "-Dorg.bytedeco.javacpp.maxphysicalbytes=12G", "--add-modules", "jdk.incubator.vector"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class StarGanStepBenchmark {

    /** Images per call. */
    @Param({"2"})
    public int batch;

    /** {@code InstanceNorm} or {@code InstanceNormOpForm}; see the class documentation. */
    @Param({"InstanceNorm"})
    public String layer;

    private ComputationGraph generator;
    private INDArray image;
    private INDArray label;
    private final LayerWorkspaceMgr noWorkspaces = LayerWorkspaceMgr.noWorkspaces();
    private int iteration;

    /** Builds the generator and a random batch of images in [-1, 1] with random binary labels. */
    @Setup(Level.Trial)
    public void setUp() {
        if ("InstanceNormOpForm".equals(layer)) {
            System.setProperty(InstanceNormCpuKernels.PROPERTY, "false");
        }
        generator = StarGan.generator().convDim(64).cDim(5).repeatNum(6).imageSize(128)
                .dataType(DataType.FLOAT).statistics(StarGan.Statistics.RUNNING).build();
        Nd4j.getRandom().setSeed(42);
        image = Nd4j.rand(DataType.FLOAT, batch, 3, 128, 128).muli(2).subi(1);
        label = Nd4j.rand(DataType.FLOAT, batch, 5).gt(0.5).castTo(DataType.FLOAT);
    }

    /** Forward in training mode, backward of {@code mean(out)}, one Adam step. */
    @Benchmark
    public double trainingStep() {
        INDArray out = generator.feedForward(new INDArray[] {image, label}, true, false)
                .get(StarGan.generatorOutput(6));
        // d mean(out) / d out; DL4J's updater divides by the minibatch size, so scale by it here (as the trainer).
        INDArray dOut = Nd4j.valueArrayOf(out.shape(), (double) batch / out.length(), DataType.FLOAT);
        Gradient gradient = generator.backpropGradient(dOut);
        generator.getUpdater().update(gradient, iteration++, 0, batch, noWorkspaces);
        generator.params().subi(gradient.gradient());
        return out.getDouble(0);
    }

    /** Inference forward with the running statistics. */
    @Benchmark
    public INDArray inference() {
        return generator.output(false, image, label)[0];
    }
}
