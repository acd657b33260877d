package io.github.instancenorm.benchmarks;

import io.github.instancenorm.learning.TorchAdam;
import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.speedups.updater.FastUpdaters;
import io.github.instancenorm.speedups.updater.GraphUpdates;
import io.github.instancenorm.zoo.StarGan;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
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
 * One Adam update of a zoo graph from a fixed gradient, along three paths (parameter {@code path}), with ND4J's
 * {@code Adam} or PyTorch's ({@link TorchAdam}; parameter {@code updater}, both with StarGAN's
 * {@code lr = 1e-4, betas = (0.5, 0.999)}):
 * <ul>
 *   <li>{@code dl4j}: DL4J's updater as it comes, {@code getUpdater().update(gradient, ...)} followed by
 *       {@code params -= gradient}, which takes DL4J's external-gradient path;</li>
 *   <li>{@code GraphUpdates}: DL4J's updater through {@link GraphUpdates}, the in-place path, libnd4j's
 *       {@code adam_updater} op;</li>
 *   <li>{@code FastUpdaters}: {@link FastUpdaters#install}, then {@link GraphUpdates}: the in-place path with the
 *       Adam kernel ({@code TorchAdam}'s kernel for {@code TorchAdam}).</li>
 * </ul>
 * Parameter {@code model}: {@code example-G}, StarGAN's generator at the example's size (32 px, conv_dim 8, 2 blocks:
 * 62,105 parameters in 19 updater blocks, batch 16), or {@code stargan-D}, StarGAN's discriminator at its own size
 * (128 px, conv_dim 64, 6 layers: 44.8 million parameters in one block, batch 2). Each call first copies the saved
 * gradient back into the graph's gradient view, as every path updates it in place; {@code copyOnly} times that copy
 * alone.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {"-Xmx4g", "--add-modules", "jdk.incubator.vector"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class UpdaterBenchmark {

    /** {@code dl4j}, {@code GraphUpdates} or {@code FastUpdaters}; see the class documentation. */
    @Param({"dl4j", "GraphUpdates", "FastUpdaters"})
    public String path;

    /** {@code Adam} (ND4J's) or {@code TorchAdam}; see the class documentation. */
    @Param({"Adam", "TorchAdam"})
    public String updater;

    /** {@code example-G} or {@code stargan-D}; see the class documentation. */
    @Param({"example-G", "stargan-D"})
    public String model;

    private ComputationGraph graph;
    private Gradient gradient;
    private INDArray saved;
    private int batch;
    private int iteration;

    /** Builds the graph, gives it the path's updater and computes one gradient. */
    @Setup(Level.Trial)
    public void setUp() {
        boolean example = "example-G".equals(model);
        if (!example && !"stargan-D".equals(model)) {
            throw new IllegalArgumentException("model must be example-G or stargan-D, got " + model);
        }
        IUpdater config = switch (updater) {
            case "Adam" -> new Adam(1e-4, 0.5, 0.999, 1e-8);
            case "TorchAdam" -> new TorchAdam(1e-4, 0.5, 0.999);
            default -> throw new IllegalArgumentException("updater must be Adam or TorchAdam, got " + updater);
        };
        batch = example ? 16 : 2;
        int pixels = example ? 32 : 128;
        graph = example
                ? StarGan.generator()
                        .convDim(8)
                        .cDim(5)
                        .repeatNum(2)
                        .imageSize(32)
                        .updater(config)
                        .dataType(DataType.FLOAT)
                        .build()
                : StarGan.discriminator()
                        .convDim(64)
                        .cDim(5)
                        .repeatNum(6)
                        .imageSize(128)
                        .updater(config)
                        .dataType(DataType.FLOAT)
                        .build();
        // Every path runs the convolutions on oneDNN; the updater is what differs.
        FastConvolutions.install(graph);
        switch (path) {
            case "FastUpdaters" -> FastUpdaters.install(graph);
            case "dl4j", "GraphUpdates" -> graph.setUpdater(new ComputationGraphUpdater(graph));
            default ->
                throw new IllegalArgumentException("path must be dl4j, GraphUpdates or FastUpdaters, got " + path);
        }
        Nd4j.getRandom().setSeed(42);
        INDArray image =
                Nd4j.rand(DataType.FLOAT, batch, 3, pixels, pixels).muli(2).subi(1);
        if (example) {
            INDArray label = Nd4j.rand(DataType.FLOAT, batch, 5).gt(0.5).castTo(DataType.FLOAT);
            INDArray out = graph.feedForward(new INDArray[] {image, label}, true, false)
                    .get(StarGan.generatorOutput(2));
            gradient = graph.backpropGradient(Nd4j.valueArrayOf(out.shape(), 1.0 / out.length(), DataType.FLOAT));
        } else {
            Map<String, INDArray> out = graph.feedForward(new INDArray[] {image}, true, false);
            INDArray source = out.get(StarGan.D_SOURCE);
            INDArray classes = out.get(StarGan.D_CLASS);
            gradient = graph.backpropGradient(
                    Nd4j.valueArrayOf(source.shape(), 1.0 / source.length(), DataType.FLOAT),
                    Nd4j.valueArrayOf(classes.shape(), 1.0 / classes.length(), DataType.FLOAT));
        }
        saved = gradient.gradient().dup();
    }

    /** Restores the gradient, then one update. */
    @Benchmark
    public INDArray update() {
        gradient.gradient().assign(saved);
        if ("dl4j".equals(path)) {
            graph.getUpdater().update(gradient, iteration++, 0, batch, LayerWorkspaceMgr.noWorkspaces());
            graph.params().subi(gradient.gradient());
        } else {
            GraphUpdates.apply(graph, gradient, iteration++, 0, batch);
        }
        return graph.params();
    }

    /** The gradient's restore alone, to subtract from {@link #update}. */
    @Benchmark
    public INDArray copyOnly() {
        return gradient.gradient().assign(saved);
    }
}
