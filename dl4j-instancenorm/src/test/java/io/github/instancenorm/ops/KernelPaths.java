package io.github.instancenorm.ops;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Lets tests outside this package choose which implementation of {@link InstanceNorm} runs: the CPU fast path
 * ({@link InstanceNormCpuKernels}) where it applies, with or without its Vector API loops, or the
 * backend-agnostic ND4J-op form everywhere.
 */
public enum KernelPaths {
    /**
     * The CPU kernels wherever {@link InstanceNormCpuKernels#applies} holds, with the Vector API loops when the
     * JVM has the module (the build's tests do).
     */
    CPU_KERNELS,
    /**
     * {@link #CPU_KERNELS} with the affine passes reading and writing native memory in place for arrays of any
     * size (normally only for arrays larger than the caches).
     */
    CPU_IN_PLACE_AFFINE,
    /** The CPU kernels with their scalar float loops only, as on a JVM without the Vector API module. */
    CPU_SCALAR_LOOPS,
    /** The ND4J-op form only, as on a non-CPU backend. */
    OP_FORM;

    /** @return whether this path runs the CPU kernels where they apply */
    public boolean cpuKernels() {
        return this != OP_FORM;
    }

    /**
     * Whether the CPU kernels take an op on these arrays, for tests outside this package (the kernels themselves
     * are package-private).
     */
    public static boolean cpuKernelsApply(INDArray... arrays) {
        return InstanceNormCpuKernels.applies(arrays);
    }

    /** Runs {@code body} with this path selected, restoring the previous choice afterwards. */
    public void run(Runnable body) {
        boolean opFormBefore = InstanceNormCpuKernels.forceOpForm;
        boolean scalarBefore = InstanceNormCpuKernels.forceScalarLoops;
        boolean directBefore = InstanceNormCpuKernels.forceDirect;
        InstanceNormCpuKernels.forceOpForm = this == OP_FORM;
        InstanceNormCpuKernels.forceScalarLoops = this == CPU_SCALAR_LOOPS;
        InstanceNormCpuKernels.forceDirect = this == CPU_IN_PLACE_AFFINE;
        try {
            body.run();
        } finally {
            InstanceNormCpuKernels.forceOpForm = opFormBefore;
            InstanceNormCpuKernels.forceScalarLoops = scalarBefore;
            InstanceNormCpuKernels.forceDirect = directBefore;
        }
    }
}
