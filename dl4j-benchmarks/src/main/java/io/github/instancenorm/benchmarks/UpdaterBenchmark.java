package io.github.instancenorm.benchmarks;

import io.github.instancenorm.zoo.StarGan;
import io.github.instancenorm.zoo.gan.GraphUpdates;
import java.util.concurrent.TimeUnit;
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

/**
 * One Adam update of StarGAN's generator at the example's size (32 px, conv_dim 8, 2 blocks: 62,105 parameters in
 * 19 updater blocks) from a fixed gradient, through {@link GraphUpdates} or through DL4J's
 * {@code getUpdater().update(gradient, ...)} followed by {@code params -= gradient} (parameter {@code path}:
 * {@code GraphUpdates} or {@code dl4j}). Each call first copies the saved gradient back into the graph's gradient
 * view, as both paths update it in place.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {"-Xmx2g", "--add-modules", "jdk.incubator.vector"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class UpdaterBenchmark {

    private static final int BATCH = 16;

    /** {@code GraphUpdates} or {@code dl4j}; see the class documentation. */
    @Param({"GraphUpdates", "dl4j"})
    public String path;

    private ComputationGraph generator;
    private Gradient gradient;
    private INDArray saved;
    private int iteration;

    /** Builds the generator and computes one gradient. */
    @Setup(Level.Trial)
    public void setUp() {
        generator = StarGan.generator()
                .convDim(8)
                .cDim(5)
                .repeatNum(2)
                .imageSize(32)
                .dataType(DataType.FLOAT)
                .build();
        Nd4j.getRandom().setSeed(42);
        INDArray image = Nd4j.rand(DataType.FLOAT, BATCH, 3, 32, 32).muli(2).subi(1);
        INDArray label = Nd4j.rand(DataType.FLOAT, BATCH, 5).gt(0.5).castTo(DataType.FLOAT);
        INDArray out = generator
                .feedForward(new INDArray[] {image, label}, true, false)
                .get(StarGan.generatorOutput(2));
        gradient = generator.backpropGradient(Nd4j.valueArrayOf(out.shape(), 1.0 / out.length(), DataType.FLOAT));
        saved = gradient.gradient().dup();
    }

    /** Restores the gradient, then one update. */
    @Benchmark
    public INDArray update() {
        gradient.gradient().assign(saved);
        if ("dl4j".equals(path)) {
            generator.getUpdater().update(gradient, iteration++, 0, BATCH, LayerWorkspaceMgr.noWorkspaces());
            generator.params().subi(gradient.gradient());
        } else {
            GraphUpdates.apply(generator, gradient, iteration++, 0, BATCH);
        }
        return generator.params();
    }
}
