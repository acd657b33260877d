package io.github.instancenorm.benchmarks;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.ops.cpu.KernelChoice;
import io.github.instancenorm.runtime.KernelSettings;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
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
 * One normalization layer's training forward, inference forward and training forward + backward on a float32
 * input, the way a {@link MultiLayerNetwork} runs them while training: activations, gradients and working memory
 * in workspaces that are reused from one iteration to the next.
 *
 * <p>Parameters: {@code shape} is the PyTorch (channels-first) shape, {@code layout} {@code first} or {@code last}
 * says whether the array is fed as {@code NC...} or {@code N...C}, and {@code layer} is
 * <ul>
 *   <li>{@code InstanceNorm}: this project's layer (affine, tracking running statistics; PyTorch's
 *       {@code nn.InstanceNorm2d(C, affine=True, track_running_stats=True)});</li>
 *   <li>{@code InstanceNormScalarLoops}: the same layer with the kernels' Vector API loops turned off
 *       ({@link KernelSettings#VECTOR_LOOPS_PROPERTY}), as on a JVM started without
 *       {@code --add-modules jdk.incubator.vector} (the benchmark JVMs have it);</li>
 *   <li>{@code InstanceNormFloatAsDouble}: the same layer with float blocks widened to double and run through the
 *       double kernels ({@link KernelChoice.FLOAT_AS_DOUBLE_PROPERTY}), the one-source alternative to the scalar
 *       float loops that {@code InstanceNormScalarLoops} times;</li>
 *   <li>{@code InstanceNormOpForm}: the same layer with its CPU kernels turned off
 *       ({@link KernelSettings#CPU_KERNELS_PROPERTY}), i.e. the backend-agnostic ND4J-op form;</li>
 *   <li>{@code BatchNorm}: DL4J's own {@link BatchNormalization} on the same array (1d input is given to it as
 *       {@code [N, C, W, 1]}, which it accepts; the statistics are per channel instead of per instance, the
 *       memory traffic is the same kind).</li>
 * </ul>
 * Inference uses the running statistics.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {
            "-Xmx2g",
            "-Dorg.bytedeco.javacpp.maxbytes=6G",
            "-Dorg.bytedeco.javacpp.maxphysicalbytes=8G",
            "--add-modules",
            "jdk.incubator.vector"
        })
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
public class NormalizationBenchmark {

    /** Channels-first shape, {@code N x C x spatial...}. */
    @Param({"10x64x128x128", "16x256x32x32", "64x32x64"})
    public String shape;

    /** {@code first}: NCHW / NCW; {@code last}: NHWC / NWC. */
    @Param({"first", "last"})
    public String layout;

    /** Which layer; see the class documentation. */
    @Param({"InstanceNorm", "BatchNorm"})
    public String layer;

    private Layer impl;
    private INDArray input;
    private INDArray gradient;
    private LayerWorkspaceMgr workspaces;

    /** Builds the layer in a one-layer network, random input and output gradient, and the workspaces. */
    @Setup(Level.Trial)
    public void setUp() {
        if ("InstanceNormOpForm".equals(layer)) {
            System.setProperty(KernelSettings.CPU_KERNELS_PROPERTY, "false");
        }
        if ("InstanceNormScalarLoops".equals(layer)) {
            // Read when the kernels class is initialized, i.e. at the first forward below.
            System.setProperty(KernelSettings.VECTOR_LOOPS_PROPERTY, "false");
        }
        if ("InstanceNormFloatAsDouble".equals(layer)) {
            System.setProperty(KernelChoice.FLOAT_AS_DOUBLE_PROPERTY, "true");
        }
        long[] nchw = Arrays.stream(shape.split("x")).mapToLong(Long::parseLong).toArray();
        boolean last = "last".equals(layout);
        boolean batchNorm = "BatchNorm".equals(layer);
        long[] channelsFirst = nchw.length == 3 && batchNorm ? new long[] {nchw[0], nchw[1], nchw[2], 1} : nchw;
        long[] arrayShape = last ? toChannelsLast(channelsFirst) : channelsFirst;

        long c = channelsFirst[1];
        InputType type = channelsFirst.length == 3
                ? InputType.recurrent(c, channelsFirst[2], last ? RNNFormat.NWC : RNNFormat.NCW)
                : InputType.convolutional(
                        channelsFirst[2], channelsFirst[3], c, last ? CNN2DFormat.NHWC : CNN2DFormat.NCHW);
        org.deeplearning4j.nn.conf.layers.Layer conf = batchNorm
                ? new BatchNormalization.Builder().build()
                : new InstanceNormalization.Builder()
                        .eps(1e-5)
                        .momentum(0.1)
                        .affine(true)
                        .trackRunningStats(true)
                        .build();
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.FLOAT)
                .list()
                .layer(conf)
                .setInputType(type)
                .build());
        net.init();
        net.initGradientsView();
        impl = net.getLayer(0);

        Nd4j.getRandom().setSeed(42);
        input = Nd4j.randn(DataType.FLOAT, arrayShape);
        gradient = Nd4j.randn(DataType.FLOAT, arrayShape);
        workspaces = trainingWorkspaces();
        // One untimed round so that the workspaces learn their sizes.
        forwardBackward(new Blackhole(
                "Today's password is swordfish. I understand instantiating Blackholes directly is dangerous."));
    }

    /** Training forward: instance statistics, running-statistics update. */
    @Benchmark
    public void trainingForward(Blackhole bh) {
        try (MemoryWorkspace act = workspaces.notifyScopeEntered(ArrayType.ACTIVATIONS);
                MemoryWorkspace work = workspaces.notifyScopeEntered(ArrayType.FF_WORKING_MEM)) {
            impl.setInput(input, workspaces);
            bh.consume(impl.activate(true, workspaces));
        }
    }

    /** Inference forward: running statistics. */
    @Benchmark
    public void inferenceForward(Blackhole bh) {
        try (MemoryWorkspace act = workspaces.notifyScopeEntered(ArrayType.ACTIVATIONS);
                MemoryWorkspace work = workspaces.notifyScopeEntered(ArrayType.FF_WORKING_MEM)) {
            impl.setInput(input, workspaces);
            bh.consume(impl.activate(false, workspaces));
        }
    }

    /** Training forward, then the backward pass for a given output gradient. */
    @Benchmark
    public void forwardBackward(Blackhole bh) {
        try (MemoryWorkspace act = workspaces.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
            impl.setInput(input, workspaces);
            try (MemoryWorkspace work = workspaces.notifyScopeEntered(ArrayType.FF_WORKING_MEM)) {
                bh.consume(impl.activate(true, workspaces));
            }
            try (MemoryWorkspace grad = workspaces.notifyScopeEntered(ArrayType.ACTIVATION_GRAD);
                    MemoryWorkspace work = workspaces.notifyScopeEntered(ArrayType.BP_WORKING_MEM)) {
                Pair<Gradient, INDArray> back = impl.backpropGradient(gradient, workspaces);
                bh.consume(back.getSecond());
            }
        }
    }

    /** The workspace set-up of {@code MultiLayerNetwork} training: one workspace per array role, reused. */
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

    private static long[] toChannelsLast(long[] channelsFirst) {
        long[] s = new long[channelsFirst.length];
        s[0] = channelsFirst[0];
        System.arraycopy(channelsFirst, 2, s, 1, channelsFirst.length - 2);
        s[s.length - 1] = channelsFirst[1];
        return s;
    }
}
