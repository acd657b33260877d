package io.github.instancenorm.runtime;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Whether an array's elements can be read and written from Java directly: the checks every CPU kernel makes. */
public final class HostArrays {

    private static final String CPU_BACKEND = "org.nd4j.linalg.cpu.nativecpu.CpuBackend";
    private static volatile Boolean cpuBackend;

    private HostArrays() {}

    /** @return whether ND4J runs on its CPU backend ({@code nd4j-native}), whose arrays live in host memory */
    public static boolean isCpuBackend() {
        Boolean cpu = cpuBackend;
        if (cpu == null) {
            cpu = CPU_BACKEND.equals(Nd4j.getBackend().getClass().getName());
            cpuBackend = cpu;
        }
        return cpu;
    }

    /**
     * Whether the elements lie in row-major (c) order with no gaps. Axes of size 1 are skipped: their stride is
     * irrelevant (ND4J's own {@code Shape.hasDefaultStridesForShape} rejects some such arrays).
     *
     * @param a any array
     * @return whether {@code a}'s elements are contiguous in row-major order
     */
    public static boolean denseRowMajor(INDArray a) {
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1) {
                if (stride[i] != expected) {
                    return false;
                }
                expected *= shape[i];
            }
        }
        return true;
    }
}
