package io.github.instancenorm.ops;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The system properties that tune the CPU kernels behind {@link InstanceNorm}. Each is read once: the first two when
 * the first instance norm runs, the thread settings when the first pass runs in parallel. Set them on the command
 * line, or before the first forward.
 *
 * <p>The kernels take float and double contiguous c-order arrays on ND4J's CPU backend; every other case (CUDA,
 * f-order or strided views, half precision) runs the backend-agnostic ND4J-op form. Both compute the same math;
 * these settings only choose which code computes it.
 *
 * <p>Inside this package an instance is one choice of paths, read from the properties once ({@link #current}) or
 * built by a test, and handed to the kernels of a call: nothing in the loops reads a global switch.
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
     * For a measurement only: {@code true} runs float arrays through the double kernels, each block widened to
     * double and rounded back (results may differ from PyTorch's in the last bit), as the benchmarks' comparison of
     * the float loops with one double source. Implies the scalar loops. Default {@code false}.
     */
    public static final String FLOAT_AS_DOUBLE_PROPERTY = "io.github.instancenorm.floatAsDouble";
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

    /**
     * Float arrays from this many elements (4 MiB) on are read and written in place by the vector affine passes:
     * larger than the caches, copying them through working memory costs as much as the pass.
     */
    static final long IN_PLACE_MIN_ELEMENTS = 1 << 20;

    private static final Logger log = LoggerFactory.getLogger(KernelSettings.class);
    /** A test's choice for the calling thread, see {@link #runWith}; {@code null}: the system properties'. */
    private static final ThreadLocal<KernelSettings> chosen = new ThreadLocal<>();

    /** Whether the CPU kernels run where they apply; else the ND4J-op form everywhere. */
    final boolean cpuKernels;
    /** Whether the float kernels run their Vector API loops ({@link VectorFloatBlocks}). */
    final boolean vectorLoops;
    /** Whether float arrays run the double kernels, widened block by block (a measurement's choice). */
    final boolean floatAsDouble;
    /** Float arrays from this many elements on take the in-place vector affine passes. */
    final long inPlaceMinElements;
    /** The kernels with these settings. */
    final CpuKernels kernels;

    private KernelSettings(boolean cpuKernels, boolean vectorLoops, boolean floatAsDouble, long inPlaceMinElements) {
        this.cpuKernels = cpuKernels;
        this.vectorLoops = vectorLoops && !floatAsDouble;
        this.floatAsDouble = floatAsDouble;
        this.inPlaceMinElements = inPlaceMinElements;
        this.kernels = new CpuKernels(this);
    }

    /** @return the settings of a call on this thread: a test's choice, else the system properties' */
    static KernelSettings current() {
        KernelSettings s = chosen.get();
        return s != null ? s : FromProperties.SETTINGS;
    }

    /** @return the settings the system properties give, read once */
    static KernelSettings fromProperties() {
        return FromProperties.SETTINGS;
    }

    /** @return these settings with the ND4J-op form everywhere */
    KernelSettings opForm() {
        return new KernelSettings(false, vectorLoops, floatAsDouble, inPlaceMinElements);
    }

    /** @return these settings with the scalar float loops, as on a JVM without the Vector API module */
    KernelSettings scalarLoops() {
        return new KernelSettings(cpuKernels, false, floatAsDouble, inPlaceMinElements);
    }

    /** @return these settings with float arrays widened to run the double kernels */
    KernelSettings floatAsDouble() {
        return new KernelSettings(cpuKernels, false, true, inPlaceMinElements);
    }

    /** @return these settings with the in-place vector affine passes for float arrays of every size */
    KernelSettings inPlaceAffineForAnySize() {
        return new KernelSettings(cpuKernels, vectorLoops, floatAsDouble, 0);
    }

    /**
     * Runs {@code body} with {@code settings} for the calls it makes on this thread, for tests that reach the kernels
     * through {@link InstanceNorm} or a layer. Read once per call, where the call picks its kernels.
     */
    static void runWith(KernelSettings settings, Runnable body) {
        KernelSettings before = chosen.get();
        chosen.set(settings);
        try {
            body.run();
        } finally {
            chosen.set(before);
        }
    }

    /** Reads the properties when first asked, so that a benchmark's setup can still set them. */
    private static final class FromProperties {
        static final KernelSettings SETTINGS = new KernelSettings(
                Boolean.parseBoolean(System.getProperty(CPU_KERNELS_PROPERTY, "true")),
                detectVectorApi(),
                Boolean.parseBoolean(System.getProperty(FLOAT_AS_DOUBLE_PROPERTY, "false")),
                IN_PLACE_MIN_ELEMENTS);
    }

    private static boolean detectVectorApi() {
        if (!Boolean.parseBoolean(System.getProperty(VECTOR_LOOPS_PROPERTY, "true"))) {
            log.debug("Vector API loops turned off by -D{}=false", VECTOR_LOOPS_PROPERTY);
            return false;
        }
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            log.info("InstanceNormalization CPU kernels: scalar float loops. Start the JVM with --add-modules"
                    + " jdk.incubator.vector for the faster Vector API loops (training passes 1.2-3.4x faster in the"
                    + " benchmark)");
            return false;
        }
        try {
            // Vectors of fewer than four floats would not pay for themselves.
            int lanes = FloatVectorLoops.lanes();
            log.debug("InstanceNormalization CPU kernels: Vector API loops, {} float lanes", lanes);
            return lanes >= 4;
        } catch (LinkageError e) {
            log.info(
                    "InstanceNormalization CPU kernels: the Vector API could not be loaded ({}); scalar float loops",
                    e.toString());
            return false;
        }
    }
}
