package io.github.instancenorm.ops.cpu;

import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.runtime.KernelSettings;

/**
 * One choice of the CPU kernels' paths behind {@link InstanceNorm}: whether the kernels run at all, which float loops
 * they run, and when the affine passes work in place. Read from the system properties once ({@link #current}: those
 * of {@link KernelSettings}, and {@value #FLOAT_AS_DOUBLE_PROPERTY}), or built by a test, and handed to the kernels
 * of a call: nothing in the loops reads a global switch.
 *
 * <p>The kernels take float and double contiguous c-order arrays on ND4J's CPU backend; every other case (CUDA,
 * f-order or strided views, half precision) runs the backend-agnostic ND4J-op form. Both compute the same math;
 * these settings only choose which code computes it.
 */
public final class KernelChoice {

    /**
     * For a measurement only: {@code true} runs float arrays through the double kernels, each block widened to
     * double and rounded back (results may differ from PyTorch's in the last bit), as the benchmarks' comparison of
     * the float loops with one double source. Implies the scalar loops. Default {@code false}.
     */
    public static final String FLOAT_AS_DOUBLE_PROPERTY = "io.github.instancenorm.floatAsDouble";

    /**
     * Float arrays from this many elements (4 MiB) on are read and written in place by the vector affine passes:
     * larger than the caches, copying them through working memory costs as much as the pass.
     */
    static final long IN_PLACE_MIN_ELEMENTS = 1 << 20;

    /** A test's choice for the calling thread, see {@link #runWith}; {@code null}: the system properties'. */
    private static final ThreadLocal<KernelChoice> chosen = new ThreadLocal<>();

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

    private KernelChoice(boolean cpuKernels, boolean vectorLoops, boolean floatAsDouble, long inPlaceMinElements) {
        this.cpuKernels = cpuKernels;
        this.vectorLoops = vectorLoops && !floatAsDouble;
        this.floatAsDouble = floatAsDouble;
        this.inPlaceMinElements = inPlaceMinElements;
        this.kernels = new CpuKernels(this);
    }

    /** @return the settings of a call on this thread: a test's choice, else the system properties' */
    static KernelChoice current() {
        KernelChoice s = chosen.get();
        return s != null ? s : FromProperties.SETTINGS;
    }

    /** @return the settings the system properties give, read once */
    static KernelChoice fromProperties() {
        return FromProperties.SETTINGS;
    }

    /** @return these settings with the ND4J-op form everywhere */
    KernelChoice opForm() {
        return new KernelChoice(false, vectorLoops, floatAsDouble, inPlaceMinElements);
    }

    /** @return these settings with the scalar float loops, as on a JVM without the Vector API module */
    KernelChoice scalarLoops() {
        return new KernelChoice(cpuKernels, false, floatAsDouble, inPlaceMinElements);
    }

    /** @return these settings with float arrays widened to run the double kernels */
    KernelChoice floatAsDouble() {
        return new KernelChoice(cpuKernels, false, true, inPlaceMinElements);
    }

    /** @return these settings with the in-place vector affine passes for float arrays of every size */
    KernelChoice inPlaceAffineForAnySize() {
        return new KernelChoice(cpuKernels, vectorLoops, floatAsDouble, 0);
    }

    /**
     * Runs {@code body} with {@code settings} for the calls it makes on this thread, for tests that reach the kernels
     * through {@link InstanceNorm} or a layer. Read once per call, where the call picks its kernels.
     */
    static void runWith(KernelChoice settings, Runnable body) {
        KernelChoice before = chosen.get();
        chosen.set(settings);
        try {
            body.run();
        } finally {
            chosen.set(before);
        }
    }

    /** Reads the properties when first asked, so that a benchmark's setup can still set them. */
    private static final class FromProperties {
        static final KernelChoice SETTINGS = new KernelChoice(
                KernelSettings.cpuKernels(),
                KernelSettings.vectorLoops(),
                Boolean.parseBoolean(System.getProperty(FLOAT_AS_DOUBLE_PROPERTY, "false")),
                IN_PLACE_MIN_ELEMENTS);
    }
}
