package io.github.instancenorm.ops;

/**
 * Lets tests outside this package choose which implementation of {@link InstanceNorm} runs: the CPU fast path
 * ({@link InstanceNormCpuKernels}) where it applies, or the backend-agnostic ND4J-op form everywhere.
 */
public enum KernelPaths {
    /** The CPU kernels wherever {@link InstanceNormCpuKernels#applies} holds. */
    CPU_KERNELS,
    /** The ND4J-op form only, as on a non-CPU backend. */
    OP_FORM;

    /** Runs {@code body} with this path selected, restoring the previous choice afterwards. */
    public void run(Runnable body) {
        boolean before = InstanceNormCpuKernels.forceOpForm;
        InstanceNormCpuKernels.forceOpForm = this == OP_FORM;
        try {
            body.run();
        } finally {
            InstanceNormCpuKernels.forceOpForm = before;
        }
    }
}
