package io.github.instancenorm.ops;

import java.util.ServiceLoader;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.LoggerFactory;

/**
 * Where {@link InstanceNorm} hands a call to faster kernels, in the manner of ATen's dispatch stubs: this package
 * holds the op's contract (checks, shapes, the backend-agnostic ND4J-op form) and this interface; the CPU kernels in
 * {@code io.github.instancenorm.ops.cpu} implement it and register themselves as a {@link ServiceLoader} provider.
 * The contract never names its kernels, and a build without them computes everything with ND4J's ops.
 *
 * <p>Not an extension point for users: its methods follow the kernels' needs and may change in any release.
 */
public interface KernelDispatch {

    /**
     * @param arrays the large arrays of an op (input, output, gradients); {@code null}s are skipped
     * @return the kernels that take an op on these arrays, or {@code null}: the ND4J-op form computes it
     */
    Kernels forArrays(INDArray... arrays);

    /**
     * @param arrays running statistics, counter and instance statistics
     * @return whether {@link #foldInstanceStats} takes these small arrays
     */
    boolean foldsInstanceStats(INDArray... arrays);

    /** As {@link InstanceNorm#foldInstanceStats}, on arrays that {@link #foldsInstanceStats} took. */
    void foldInstanceStats(
            INDArray runningMean,
            INDArray runningVar,
            INDArray numBatchesTracked,
            Double momentum,
            InstanceNorm.Moments moments,
            long spatialSize);

    /** The kernels of one call; each method computes what the {@link InstanceNorm} method of its name does. */
    interface Kernels {
        /** As {@link InstanceNorm#moments}. */
        InstanceNorm.Moments moments(INDArray x, InstanceNormLayout layout);

        /**
         * As {@link InstanceNorm#forwardWithInstanceStats(INDArray, INDArray, INDArray, double, InstanceNormLayout,
         * INDArray, InstanceNorm.Moments)}.
         */
        InstanceNorm.Moments forwardWithInstanceStats(
                INDArray x,
                INDArray gamma,
                INDArray beta,
                double eps,
                InstanceNormLayout layout,
                INDArray out,
                InstanceNorm.Moments statsOut);

        /** As {@link InstanceNorm#forwardModulated}. */
        InstanceNorm.Moments forwardModulated(
                INDArray x,
                INDArray scale,
                INDArray shift,
                double scaleOffset,
                double eps,
                InstanceNormLayout layout,
                INDArray out,
                InstanceNorm.Moments statsOut);

        /** As {@link InstanceNorm#normalizeWithInstanceStats}. */
        void normalizeWithInstanceStats(
                INDArray x,
                InstanceNorm.Moments moments,
                INDArray gamma,
                INDArray beta,
                double eps,
                InstanceNormLayout layout,
                INDArray out);

        /** As {@link InstanceNorm#normalizeWithRunningStats}. */
        void normalizeWithRunningStats(
                INDArray x,
                INDArray runningMean,
                INDArray runningVar,
                INDArray gamma,
                INDArray beta,
                double eps,
                InstanceNormLayout layout,
                INDArray out);

        /** As {@link InstanceNorm#backwardWithInstanceStats}. */
        void backwardWithInstanceStats(
                INDArray x,
                INDArray grad,
                InstanceNorm.Moments moments,
                INDArray gamma,
                double eps,
                InstanceNormLayout layout,
                INDArray dx,
                INDArray dGamma,
                INDArray dBeta);

        /** As {@link InstanceNorm#backwardModulated}. */
        void backwardModulated(
                INDArray x,
                INDArray grad,
                InstanceNorm.Moments moments,
                INDArray scale,
                double scaleOffset,
                double eps,
                InstanceNormLayout layout,
                INDArray dx,
                INDArray dScale,
                INDArray dShift);

        /** As {@link InstanceNorm#backwardWithRunningStats}. */
        void backwardWithRunningStats(
                INDArray x,
                INDArray grad,
                INDArray runningMean,
                INDArray runningVar,
                INDArray gamma,
                double eps,
                InstanceNormLayout layout,
                INDArray dx,
                INDArray dGamma,
                INDArray dBeta);
    }

    /** No kernels: the ND4J-op form everywhere. */
    KernelDispatch NONE = new KernelDispatch() {
        @Override
        public Kernels forArrays(INDArray... arrays) {
            return null;
        }

        @Override
        public boolean foldsInstanceStats(INDArray... arrays) {
            return false;
        }

        @Override
        public void foldInstanceStats(
                INDArray runningMean,
                INDArray runningVar,
                INDArray numBatchesTracked,
                Double momentum,
                InstanceNorm.Moments moments,
                long spatialSize) {
            throw new UnsupportedOperationException("No kernels: the ND4J-op form folds the statistics");
        }
    };

    /**
     * @return the registered kernels (the first provider on the class path of this interface's loader), or
     *         {@link #NONE}; looked up once
     */
    static KernelDispatch installed() {
        return Installed.DISPATCH;
    }

    /** Looks the provider up when first asked. */
    final class Installed {
        static final KernelDispatch DISPATCH = find();

        private Installed() {}

        private static KernelDispatch find() {
            try {
                return ServiceLoader.load(KernelDispatch.class, KernelDispatch.class.getClassLoader())
                        .findFirst()
                        .orElseGet(() -> {
                            LoggerFactory.getLogger(KernelDispatch.class)
                                    .info("InstanceNorm: no CPU kernels registered; ND4J's ops compute everything");
                            return NONE;
                        });
            } catch (java.util.ServiceConfigurationError | LinkageError e) {
                LoggerFactory.getLogger(KernelDispatch.class)
                        .warn(
                                "InstanceNorm: the CPU kernels could not be loaded ({}); ND4J's ops compute everything",
                                e.toString());
                return NONE;
            }
        }
    }
}
