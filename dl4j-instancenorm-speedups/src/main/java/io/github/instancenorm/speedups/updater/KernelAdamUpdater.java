package io.github.instancenorm.speedups.updater;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.AdamUpdater;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.Adam;

/**
 * ND4J's {@link AdamUpdater} with its step computed by {@link UpdaterKernels#adam} where that takes the arrays (float,
 * dense, on the CPU backend), with libnd4j's {@code adam_updater} op's results to the bit and several times its
 * speed on large blocks. State, configuration, schedules and every other case are ND4J's own: this class keeps an
 * {@code AdamUpdater} for them, and its state arrays are the ones the kernel updates. {@link FastUpdaters#install} puts it in a network's updater blocks.
 */
final class KernelAdamUpdater implements GradientUpdater<Adam> {

    private final AdamUpdater nd4j;
    private INDArray m;
    private INDArray v;

    /** @param nd4j the updater whose configuration and state this one takes over */
    KernelAdamUpdater(AdamUpdater nd4j) {
        this.nd4j = nd4j;
        takeState();
    }

    @Override
    public Adam getConfig() {
        return nd4j.getConfig();
    }

    @Override
    public void setState(Map<String, INDArray> stateMap, boolean initialize) {
        nd4j.setState(stateMap, initialize);
        takeState();
    }

    @Override
    public Map<String, INDArray> getState() {
        return nd4j.getState();
    }

    @Override
    public void setStateViewArray(INDArray viewArray, long[] gradientShape, char gradientOrder, boolean initialize) {
        nd4j.setStateViewArray(viewArray, gradientShape, gradientOrder, initialize);
        takeState();
    }

    @Override
    public void applyUpdater(INDArray gradient, int iteration, int epoch) {
        Adam config = nd4j.getConfig();
        if (m == null
                || !UpdaterKernels.adam(
                        gradient,
                        m,
                        v,
                        config.getLearningRate(iteration, epoch),
                        config.getBeta1(),
                        config.getBeta2(),
                        config.getEpsilon(),
                        iteration)) {
            nd4j.applyUpdater(gradient, iteration, epoch);
        }
    }

    private void takeState() {
        Map<String, INDArray> state = nd4j.getState();
        m = state.get(AdamUpdater.M_STATE);
        v = state.get(AdamUpdater.V_STATE);
    }
}
