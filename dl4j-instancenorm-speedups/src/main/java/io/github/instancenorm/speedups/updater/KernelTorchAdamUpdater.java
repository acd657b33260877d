package io.github.instancenorm.speedups.updater;

import io.github.instancenorm.learning.TorchAdam;
import io.github.instancenorm.learning.TorchAdamUpdater;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.GradientUpdater;

/**
 * {@link TorchAdamUpdater} with its step computed by {@link UpdaterKernels#torchAdam} where that takes the arrays
 * (float, dense, on the CPU backend), to {@code TorchAdamUpdater}'s bits. State, configuration, schedules and every
 * other case are {@code TorchAdamUpdater}'s own: this class keeps one for them, and its state arrays are the ones
 * the kernel updates. {@link FastUpdaters#install} puts it in a network's updater blocks.
 */
final class KernelTorchAdamUpdater implements GradientUpdater<TorchAdam> {

    private final TorchAdamUpdater ops;

    /** @param ops the updater whose configuration and state this one takes over */
    KernelTorchAdamUpdater(TorchAdamUpdater ops) {
        this.ops = ops;
    }

    @Override
    public TorchAdam getConfig() {
        return ops.getConfig();
    }

    @Override
    public void setState(Map<String, INDArray> stateMap, boolean initialize) {
        ops.setState(stateMap, initialize);
    }

    @Override
    public Map<String, INDArray> getState() {
        return ops.getState();
    }

    @Override
    public void setStateViewArray(INDArray viewArray, long[] gradientShape, char gradientOrder, boolean initialize) {
        ops.setStateViewArray(viewArray, gradientShape, gradientOrder, initialize);
    }

    @Override
    public void applyUpdater(INDArray gradient, int iteration, int epoch) {
        if (ops.getM() == null
                || !UpdaterKernels.torchAdam(
                        gradient, ops.getM(), ops.getV(), ops.getMaxV(), ops.getConfig(), iteration, epoch)) {
            ops.applyUpdater(gradient, iteration, epoch);
        }
    }
}
