package io.github.instancenorm.benchmarks;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex;
import io.github.instancenorm.params.InstanceNormalizationParamInitializer;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
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
import org.openjdk.jmh.infra.Blackhole;

/**
 * StarGAN v2's adaptive instance norm ({@link AdaptiveInstanceNormVertex}, {@code (1 + gamma) * IN(x) + beta} with
 * per-sample {@code [gamma, beta]} from a {@code [N, 2C]} modulation input) next to the plain
 * {@link InstanceNormalization} layer (affine, no running statistics: StarGAN v2's encoder norms and
 * {@code nn.InstanceNorm2d(C, affine=True)}) on the same float32 NCHW input, so that the cost of the modulation can be
 * read as the ratio AdaIN / InstanceNorm at each shape. The matching PyTorch timings (its {@code StyleNorm}:
 * {@code (1 + gamma) * F.instance_norm(x) + beta}, and {@code nn.InstanceNorm2d(C, affine=True)}) are
 * {@code bench_stargan_v2.py --adain}; {@code run-stargan-v2-benchmarks.sh} runs both and prints the ratios.
 *
 * <p>Both run the way a {@link ComputationGraph} in training runs them: the vertex and the layer are taken from a
 * one-node graph built for the shape and called directly ({@code doForward}/{@code doBackward} for the vertex,
 * {@code activate}/{@code backpropGradient} for the layer), with activations, gradients and working memory in
 * workspaces reused from one call to the next, as {@link NormalizationBenchmark} does. The graph's own bookkeeping
 * is not timed.
 *
 * <p>Parameters: {@code shape} is {@code N x C x H x W}; the defaults are the AdaIN inputs of the AFHQ generator (256
 * px, {@code dim_in} 64, {@code max_conv_dim} 512) at StarGAN v2's training batch of 8: the bottleneck
 * {@code 8x512x16x16}, a middle decoder block's {@code 8x256x64x64} and the last block's {@code 8x64x256x256}.
 * {@code layer} is {@code AdaIN} or {@code InstanceNorm}. Modes:
 * <ul>
 *   <li>{@code forward}: the training forward (instance statistics; for the vertex it is also its inference);</li>
 *   <li>{@code forwardBackward}: the training forward, then the backward for a fixed output gradient: the input's
 *       gradient and, for AdaIN, the modulation's {@code [N, 2C]} gradient, for the layer gamma's and beta's.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {
            "-Xmx2g",
            "-Dorg.bytedeco.javacpp.maxbytes=8G",
            "-Dorg.bytedeco.javacpp.maxphysicalbytes=10G",
            "--add-modules",
            "jdk.incubator.vector"
        })
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 2)
public class AdaptiveNormalizationBenchmark {

    /** {@code N x C x H x W}, channels first. */
    @Param({"8x512x16x16", "8x256x64x64", "8x64x256x256"})
    public String shape;

    /** {@code AdaIN} (the vertex) or {@code InstanceNorm} (the affine layer). */
    @Param({"AdaIN", "InstanceNorm"})
    public String layer;

    private boolean adaptive;
    private GraphVertex vertex;
    private Layer norm;
    private INDArray input;
    private INDArray modulation;
    private INDArray gradient;
    private LayerWorkspaceMgr workspaces;

    /** Builds the one-node graph, random input, modulation and output gradient, and the workspaces. */
    @Setup(Level.Trial)
    public void setUp() {
        long[] nchw = Arrays.stream(shape.split("x")).mapToLong(Long::parseLong).toArray();
        if (nchw.length != 4) {
            throw new IllegalArgumentException("shape: N x C x H x W, got " + shape);
        }
        long c = nchw[1];
        Nd4j.getRandom().setSeed(42);
        adaptive = switch (layer) {
            case "AdaIN" -> true;
            case "InstanceNorm" -> false;
            default -> throw new IllegalArgumentException("layer: AdaIN or InstanceNorm, got " + layer);
        };
        var g = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).graphBuilder();
        if (adaptive) {
            g.addInputs("x", "h")
                    .setInputTypes(InputType.convolutional(nchw[2], nchw[3], c), InputType.feedForward(2 * c))
                    .addVertex("norm", new AdaptiveInstanceNormVertex(), "x", "h");
        } else {
            g.addInputs("x")
                    .setInputTypes(InputType.convolutional(nchw[2], nchw[3], c))
                    .addLayer(
                            "norm",
                            new InstanceNormalization.Builder()
                                    .eps(1e-5)
                                    .affine(true)
                                    .trackRunningStats(false)
                                    .build(),
                            "x");
        }
        g.setOutputs("norm");
        ComputationGraph graph = new ComputationGraph(g.build());
        graph.init();
        if (adaptive) {
            vertex = graph.getVertex("norm");
        } else {
            graph.initGradientsView();
            norm = graph.getLayer("norm");
            // Gamma and beta off their initial 1 and 0, as AdaIN's scale and shift are.
            norm.getParam(InstanceNormalizationParamInitializer.GAMMA)
                    .assign(Nd4j.rand(DataType.FLOAT, 1, c).addi(0.5));
            norm.getParam(InstanceNormalizationParamInitializer.BETA)
                    .assign(Nd4j.randn(DataType.FLOAT, 1, c).muli(0.1));
        }

        input = Nd4j.randn(DataType.FLOAT, nchw);
        gradient = Nd4j.randn(DataType.FLOAT, nchw);
        // gamma around 0 (scale around 1) and beta: what a Linear layer of a style code gives.
        modulation = Nd4j.randn(DataType.FLOAT, nchw[0], 2 * c).muli(0.1);
        workspaces = trainingWorkspaces();
        // One untimed round so that the workspaces learn their sizes.
        forwardBackward(new Blackhole(
                "Today's password is swordfish. I understand instantiating Blackholes directly is dangerous."));
    }

    /** The training forward. */
    @Benchmark
    public void forward(Blackhole bh) {
        try (MemoryWorkspace act = workspaces.notifyScopeEntered(ArrayType.ACTIVATIONS);
                MemoryWorkspace work = workspaces.notifyScopeEntered(ArrayType.FF_WORKING_MEM)) {
            bh.consume(doForward());
        }
    }

    /** The training forward, then the backward for the fixed output gradient. */
    @Benchmark
    public void forwardBackward(Blackhole bh) {
        try (MemoryWorkspace act = workspaces.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
            try (MemoryWorkspace work = workspaces.notifyScopeEntered(ArrayType.FF_WORKING_MEM)) {
                bh.consume(doForward());
            }
            try (MemoryWorkspace grad = workspaces.notifyScopeEntered(ArrayType.ACTIVATION_GRAD);
                    MemoryWorkspace work = workspaces.notifyScopeEntered(ArrayType.BP_WORKING_MEM)) {
                if (adaptive) {
                    vertex.setEpsilon(gradient);
                    Pair<Gradient, INDArray[]> back = vertex.doBackward(false, workspaces);
                    bh.consume(back.getSecond()[0]);
                    bh.consume(back.getSecond()[1]);
                } else {
                    Pair<Gradient, INDArray> back = norm.backpropGradient(gradient, workspaces);
                    bh.consume(back.getSecond());
                    bh.consume(back.getFirst());
                }
            }
        }
    }

    private INDArray doForward() {
        if (adaptive) {
            vertex.setInput(0, input, workspaces);
            vertex.setInput(1, modulation, workspaces);
            return vertex.doForward(true, workspaces);
        }
        norm.setInput(input, workspaces);
        return norm.activate(true, workspaces);
    }

    /** The workspace set-up of graph training: one workspace per array role, reused. */
    private static LayerWorkspaceMgr trainingWorkspaces() {
        WorkspaceConfiguration conf = WorkspaceConfiguration.builder()
                .initialSize(0)
                .overallocationLimit(0.05)
                .policyLearning(LearningPolicy.FIRST_LOOP)
                .policyReset(ResetPolicy.BLOCK_LEFT)
                .policySpill(SpillPolicy.REALLOCATE)
                .policyAllocation(AllocationPolicy.OVERALLOCATE)
                .build();
        // defaultNoWorkspace() only covers the roles not configured before it, so it comes last.
        return LayerWorkspaceMgr.builder()
                .with(ArrayType.INPUT, "BENCH_ACT", conf)
                .with(ArrayType.ACTIVATIONS, "BENCH_ACT", conf)
                .with(ArrayType.ACTIVATION_GRAD, "BENCH_GRAD", conf)
                .with(ArrayType.FF_WORKING_MEM, "BENCH_FF", conf)
                .with(ArrayType.BP_WORKING_MEM, "BENCH_BP", conf)
                .defaultNoWorkspace()
                .build();
    }
}
