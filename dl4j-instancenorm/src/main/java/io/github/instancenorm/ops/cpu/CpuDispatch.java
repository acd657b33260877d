package io.github.instancenorm.ops.cpu;

import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.KernelDispatch;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Registers the CPU kernels with {@link InstanceNorm} ({@code META-INF/services}): a provider of
 * {@link KernelDispatch} that hands each call to the {@link CpuKernels} of the current {@link KernelChoice}, or to
 * none.
 */
public final class CpuDispatch implements KernelDispatch {

    /** For {@link java.util.ServiceLoader}. */
    public CpuDispatch() {}

    @Override
    public Kernels forArrays(INDArray... arrays) {
        return CpuKernels.forArrays(arrays);
    }

    @Override
    public boolean foldsInstanceStats(INDArray... arrays) {
        return CpuKernels.appliesToVectors(arrays);
    }

    @Override
    public void foldInstanceStats(
            INDArray runningMean,
            INDArray runningVar,
            INDArray numBatchesTracked,
            Double momentum,
            InstanceNorm.Moments moments,
            long spatialSize) {
        CpuKernels.foldInstanceStats(runningMean, runningVar, numBatchesTracked, momentum, moments, spatialSize);
    }
}
