package io.github.instancenorm.ops.cpu;

import io.github.instancenorm.ops.InstanceNorm;
import java.util.function.UnaryOperator;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Lets tests, in this package and outside it, choose which implementation of {@link InstanceNorm} runs: the CPU
 * kernels where they apply, with or without their Vector API loops, or the backend-agnostic ND4J-op form
 * everywhere. Each path is a {@link KernelChoice} built from the system properties' and handed to the calls
 * {@link #run} makes on the calling thread; nothing global changes.
 */
public enum KernelPaths {
    /**
     * The CPU kernels wherever they apply, with the Vector API loops when the JVM has the module (the build's tests
     * do).
     */
    CPU_KERNELS(s -> s),
    /**
     * {@link #CPU_KERNELS} with the affine passes reading and writing native memory in place for arrays of any
     * size (normally only for arrays larger than the caches).
     */
    CPU_IN_PLACE_AFFINE(KernelChoice::inPlaceAffineForAnySize),
    /** The CPU kernels with their scalar float loops only, as on a JVM without the Vector API module. */
    CPU_SCALAR_LOOPS(KernelChoice::scalarLoops),
    /**
     * The CPU kernels with float arrays widened to run the double loops, the benchmarks' one-source alternative to
     * the float loops.
     */
    CPU_FLOAT_AS_DOUBLE(KernelChoice::floatAsDouble),
    /** The ND4J-op form only, as on a non-CPU backend. */
    OP_FORM(KernelChoice::opForm);

    private final KernelChoice settings;

    KernelPaths(UnaryOperator<KernelChoice> fromDefaults) {
        settings = fromDefaults.apply(KernelChoice.fromProperties());
    }

    /** @return the settings of this path */
    KernelChoice settings() {
        return settings;
    }

    /** @return whether this path runs the CPU kernels where they apply */
    public boolean cpuKernels() {
        return settings.cpuKernels;
    }

    /**
     * Whether the CPU kernels (with the system properties' settings) take an op on these arrays, for tests outside
     * this package: the kernels themselves are package-private.
     */
    public static boolean cpuKernelsApply(INDArray... arrays) {
        return CpuKernels.applies(arrays);
    }

    /** Runs {@code body} with this path for the calls it makes on this thread. */
    public void run(Runnable body) {
        KernelChoice.runWith(settings, body);
    }
}
