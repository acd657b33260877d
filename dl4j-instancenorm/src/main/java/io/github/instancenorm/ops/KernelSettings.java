package io.github.instancenorm.ops;

/**
 * The system properties that tune the CPU kernels behind {@link InstanceNorm}. Each is read once, when the first
 * instance norm runs on ND4J's CPU backend, so set them on the command line or before the first forward.
 *
 * <p>The kernels take float and double contiguous c-order arrays on the CPU backend; every other case (CUDA, f-order
 * or strided views, half precision) runs the backend-agnostic ND4J-op form. The results agree within rounding either
 * way; these settings only choose how fast they come.
 */
public final class KernelSettings {

    /** {@code false}: the ND4J-op form everywhere, as on a non-CPU backend. Default {@code true}. */
    public static final String CPU_KERNELS_PROPERTY = "io.github.instancenorm.cpuKernels";
    /**
     * {@code false}: the kernels' scalar float loops even when the JVM has the Vector API module
     * ({@code --add-modules jdk.incubator.vector}), as on a JVM without it. Default {@code true}.
     */
    public static final String VECTOR_LOOPS_PROPERTY = "io.github.instancenorm.vectorLoops";
    /**
     * The number of threads a pass may use, the caller included; {@code 1}: everything on the calling thread.
     * Default {@code min(cores, 8)}.
     */
    public static final String THREADS_PROPERTY = "io.github.instancenorm.threads";
    /**
     * How long, in microseconds, an idle helper thread polls for the next pass (yielding its core between looks)
     * before it parks; {@code 0}: park at once. Default {@code 200}.
     */
    public static final String SPIN_MICROS_PROPERTY = "io.github.instancenorm.spinMicros";

    private KernelSettings() {
    }
}
