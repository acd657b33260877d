package io.github.instancenorm.learning;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.floating.Sqrt;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * {@link TorchAdam}'s step on a DL4J updater block, in ND4J ops (any backend, float or double): the gradient becomes
 * {@code lr / (1 - beta1^t) · m / (sqrt(v) / sqrt(1 - beta2^t) + eps)} with {@code t = iteration + 1}, after the
 * moments' update, in PyTorch 1.13's order of operations, each operation rounded once in the arrays' type.
 *
 * <p>The state is {@code m}, {@code v} and, with {@code amsgrad}, {@code vMax}, under the keys {@value #M_STATE},
 * {@value #V_STATE} and {@value #MAX_V_STATE}; in DL4J's state view array they are its first, second and third
 * part.
 */
public final class TorchAdamUpdater implements GradientUpdater<TorchAdam> {

    /** The first moment, PyTorch's {@code exp_avg}. */
    public static final String M_STATE = "M";
    /** The second moment, PyTorch's {@code exp_avg_sq}. */
    public static final String V_STATE = "V";
    /** The running maximum of the second moment with {@code amsgrad}, PyTorch's {@code max_exp_avg_sq}. */
    public static final String MAX_V_STATE = "V_MAX";

    private final TorchAdam config;
    private INDArray m;
    private INDArray v;
    private INDArray maxV;

    /** @param config the configuration; the state arrays come with {@code setStateViewArray} or {@code setState} */
    public TorchAdamUpdater(TorchAdam config) {
        this.config = Objects.requireNonNull(config, "config");
    }

    @Override
    public TorchAdam getConfig() {
        return config;
    }

    /** @return the first moment, {@code exp_avg}; null before the state is set */
    public INDArray getM() {
        return m;
    }

    /** @return the second moment, {@code exp_avg_sq}; null before the state is set */
    public INDArray getV() {
        return v;
    }

    /** @return the running maximum of {@code v}, {@code max_exp_avg_sq}; null without {@code amsgrad} */
    public INDArray getMaxV() {
        return maxV;
    }

    @Override
    public void setState(Map<String, INDArray> stateMap, boolean initialize) {
        Objects.requireNonNull(stateMap, "stateMap");
        int expected = config.isAmsgrad() ? 3 : 2;
        if (stateMap.size() != expected
                || !stateMap.containsKey(M_STATE)
                || !stateMap.containsKey(V_STATE)
                || (config.isAmsgrad() && !stateMap.containsKey(MAX_V_STATE))) {
            throw new IllegalStateException("TorchAdam" + (config.isAmsgrad() ? " with amsgrad" : "")
                    + " expects state " + (config.isAmsgrad() ? "M, V and V_MAX" : "M and V") + "; got "
                    + stateMap.keySet());
        }
        m = stateMap.get(M_STATE);
        v = stateMap.get(V_STATE);
        maxV = config.isAmsgrad() ? stateMap.get(MAX_V_STATE) : null;
        if (initialize) {
            m.assign(0);
            v.assign(0);
            if (maxV != null) {
                maxV.assign(0);
            }
        }
    }

    @Override
    public Map<String, INDArray> getState() {
        Map<String, INDArray> state = new LinkedHashMap<>();
        state.put(M_STATE, m);
        state.put(V_STATE, v);
        if (config.isAmsgrad()) {
            state.put(MAX_V_STATE, maxV);
        }
        return state;
    }

    /**
     * Takes the state as views of {@code viewArray}: {@code m}, {@code v} (and {@code vMax}) in consecutive parts.
     *
     * @param viewArray     the state of {@link TorchAdam#stateSize} elements, a vector
     * @param gradientShape the shape of the gradients that {@link #applyUpdater} will get
     * @param gradientOrder their order
     * @param initialize    whether to zero the state
     * @throws IllegalArgumentException if {@code viewArray} is not a vector of the state's size
     */
    @Override
    public void setStateViewArray(INDArray viewArray, long[] gradientShape, char gradientOrder, boolean initialize) {
        long n = Arrays.stream(gradientShape).reduce(1, Math::multiplyExact);
        if (!viewArray.isVectorOrScalar() || viewArray.length() != config.stateSize(n)) {
            throw new IllegalArgumentException("TorchAdam's state for " + n + " parameters is a vector of "
                    + config.stateSize(n) + " elements; got shape " + Arrays.toString(viewArray.shape()));
        }
        if (initialize) {
            viewArray.assign(0);
        }
        INDArray flat = viewArray.reshape(viewArray.length());
        m = part(flat, 0, n, gradientShape, gradientOrder);
        v = part(flat, 1, n, gradientShape, gradientOrder);
        maxV = config.isAmsgrad() ? part(flat, 2, n, gradientShape, gradientOrder) : null;
    }

    private static INDArray part(INDArray flat, int index, long n, long[] shape, char order) {
        return flat.get(NDArrayIndex.interval(index * n, (index + 1) * n)).reshape(order, shape);
    }

    /**
     * Replaces {@code gradient} with PyTorch's update of step {@code iteration + 1}, updating the moments.
     *
     * @param gradient  the gradient, shaped as {@code setStateViewArray} said; replaced by the update
     * @param iteration the iterations done so far
     * @param epoch     the epoch, for a learning-rate schedule
     * @throws IllegalStateException before the state is set
     */
    @Override
    public void applyUpdater(INDArray gradient, int iteration, int epoch) {
        if (m == null || v == null) {
            throw new IllegalStateException("TorchAdamUpdater has no state: call setStateViewArray or setState");
        }
        double beta1 = config.getBeta1();
        double beta2 = config.getBeta2();
        // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        INDArray work = gradient.mul(1.0 - beta1);
        m.muli(beta1).addi(work);
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2): (value * grad) * grad
        gradient.mul(1.0 - beta2, work).muli(gradient);
        v.muli(beta2).addi(work);
        INDArray second = v;
        if (maxV != null) {
            // torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
            Transforms.max(maxV, v, false);
            second = maxV;
        }
        // denom = (sqrt(second) / bias_correction2_sqrt).add_(eps), into the gradient's memory
        Nd4j.exec(new Sqrt(second, gradient));
        gradient.divi(config.biasCorrection2Sqrt(iteration)).addi(config.getEpsilon());
        // param.addcdiv_(exp_avg, denom, value=-step_size): DL4J subtracts (step_size * exp_avg) / denom
        m.mul(config.stepSize(iteration, epoch), work);
        gradient.rdivi(work);
    }

    @Override
    public String toString() {
        return "TorchAdamUpdater(" + config + ")";
    }
}
