package io.github.instancenorm.learning;

import java.util.Map;
import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * PyTorch's Adam ({@code torch.optim.Adam}, and with DL4J's weight decay {@code torch.optim.AdamW}) as a DL4J
 * updater: the step of PyTorch 1.13's {@code _single_tensor_adam}, which is not ND4J's {@code Adam}. With
 * {@code t} the step number (DL4J's iteration count + 1), {@code g} the gradient after DL4J's minibatch division,
 * gradient normalization and L1/L2 regularization:
 * <pre>
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g²
 *   vMax = max(vMax, v)                                  (amsgrad only; then v below is vMax)
 *   update = lr / (1 - beta1^t) · m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * </pre>
 * and DL4J subtracts {@code update} from the parameters. ND4J's {@code Adam} (libnd4j's {@code adam_updater})
 * computes {@code lr sqrt(1 - beta2^t) / (1 - beta1^t) · m / (sqrt(v) + eps)}: its {@code eps} is added before the
 * bias correction of {@code v}, so it weighs {@code 1 / sqrt(1 - beta2^t)} times more than PyTorch's (about 32
 * times at {@code t = 1} with {@code beta2 = 0.999}), and ND4J's {@code AMSGrad} is a different variant again. The
 * rounding follows PyTorch's order of operations, with the scalars {@code beta1}, {@code 1 - beta1}, {@code beta2},
 * {@code 1 - beta2}, {@code lr / (1 - beta1^t)}, {@code sqrt(1 - beta2^t)} and {@code eps} computed in double and
 * rounded to the arrays' type, as PyTorch rounds them; the one difference is that PyTorch's AVX2 kernels fuse the
 * moment updates into multiply-adds. Over 100 float steps the parameters stay within {@code 1.1e-7 (1 + |p|)} of
 * PyTorch's (the fixture tests, docs/training.md).
 *
 * <p><b>Weight decay.</b> The updater never sees the parameters (DL4J 1.0.0-M2.1), so PyTorch's
 * {@code weight_decay} comes from DL4J's regularization, which DL4J applies to the parameters' gradients and
 * updates around this updater:
 * <ul>
 *   <li>{@code torch.optim.Adam(..., weight_decay=wd)}, the coupled form {@code g += wd p} before the moments, is
 *       DL4J's {@code L2Regularization}: {@code .l2(wd).l2Bias(wd)};</li>
 *   <li>{@code torch.optim.AdamW(..., weight_decay=wd)}, the decoupled form {@code p *= 1 - lr wd} before the
 *       step, is {@link DecoupledWeightDecay}, given on each layer ({@code .regularization(...)} and
 *       {@code .regularizationBias(...)}): DL4J 1.0.0-M2.1 applies a weight decay given to
 *       {@code NeuralNetConfiguration.Builder} twice. DL4J's own {@code WeightDecay(wd, true)} is the same decay in
 *       exact arithmetic, but PyTorch rounds its factor {@code 1 - lr wd} to float, and over many steps that
 *       difference shows ({@link DecoupledWeightDecay} says how much). AdamW's default {@code weight_decay} is
 *       {@code 1e-2}; DL4J's is none.</li>
 * </ul>
 * PyTorch decays every parameter in the group, biases included; DL4J separates weights ({@code l2},
 * {@code regularization}) from biases ({@code l2Bias}, {@code regularizationBias}), and some layers (DL4J's
 * {@code BatchNormalization}) regularize no parameter at all. PyTorch's param groups with their own {@code lr} or
 * {@code weight_decay} are per-layer {@code .updater(...)} and regularization in DL4J.
 *
 * <pre>{@code
 * // torch.optim.Adam(params, lr=1e-4, betas=(0.0, 0.99), weight_decay=1e-4)   (StarGAN v2's optimizers)
 * new NeuralNetConfiguration.Builder()
 *         .updater(new TorchAdam(1e-4, 0.0, 0.99))
 *         .l2(1e-4).l2Bias(1e-4)
 *         ...
 * // torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2, amsgrad=True)
 * List<Regularization> decay = List.of(new DecoupledWeightDecay(1e-2));
 * new NeuralNetConfiguration.Builder()
 *         .updater(TorchAdam.builder().learningRate(1e-3).amsgrad(true).build())
 *         .list()
 *         .layer(new DenseLayer.Builder().nOut(64).regularization(decay).regularizationBias(decay).build())
 *         ...
 * }</pre>
 *
 * <p>Every parameter shares DL4J's iteration count as its step {@code t}, as in PyTorch when every parameter gets a
 * gradient at every step. Learning-rate schedules are DL4J's {@link ISchedule}s (the learning rate of
 * {@code WeightDecay} follows them, as AdamW's decay follows the group's {@code lr}). PyTorch's {@code maximize},
 * {@code foreach}, {@code capturable} and {@code fused} options do not apply (the last three change how, not what,
 * PyTorch computes).
 *
 * <p>The state per parameter is {@code m}, {@code v} and, with {@code amsgrad}, {@code vMax} (PyTorch's
 * {@code exp_avg}, {@code exp_avg_sq} and {@code max_exp_avg_sq}): DL4J's updater state array holds, per updater
 * block, the block's {@code m}, then its {@code v}, then its {@code vMax}. The configuration is written into a
 * network's JSON under this class's name (like ND4J's own {@code Adam}), so a saved network with it loads with this
 * artifact alone; {@code FastUpdaters.install} (the speed-ups) runs its step in the Adam kernel's vector loops, to
 * the bit of {@link TorchAdamUpdater}.
 */
public final class TorchAdam implements IUpdater {

    private static final long serialVersionUID = 1L;

    /** PyTorch's default {@code lr}. */
    public static final double DEFAULT_LEARNING_RATE = 1e-3;
    /** PyTorch's default {@code betas[0]}. */
    public static final double DEFAULT_BETA1 = 0.9;
    /** PyTorch's default {@code betas[1]}. */
    public static final double DEFAULT_BETA2 = 0.999;
    /** PyTorch's default {@code eps}. */
    public static final double DEFAULT_EPSILON = 1e-8;

    private double learningRate;
    private ISchedule learningRateSchedule;
    private final double beta1;
    private final double beta2;
    private final double epsilon;
    private final boolean amsgrad;

    /** PyTorch's defaults: {@code lr=1e-3, betas=(0.9, 0.999), eps=1e-8, amsgrad=False}. */
    public TorchAdam() {
        this(DEFAULT_LEARNING_RATE);
    }

    /**
     * @param learningRate {@code lr}; the other options PyTorch's defaults
     * @throws IllegalArgumentException if {@code learningRate} is negative or not finite
     */
    public TorchAdam(double learningRate) {
        this(learningRate, DEFAULT_BETA1, DEFAULT_BETA2);
    }

    /**
     * @param learningRate {@code lr}
     * @param beta1        {@code betas[0]}, in [0, 1)
     * @param beta2        {@code betas[1]}, in [0, 1)
     * @throws IllegalArgumentException if an argument is out of its range
     */
    public TorchAdam(double learningRate, double beta1, double beta2) {
        this(learningRate, null, beta1, beta2, DEFAULT_EPSILON, false);
    }

    /**
     * @param learningRate {@code lr}
     * @param beta1        {@code betas[0]}, in [0, 1)
     * @param beta2        {@code betas[1]}, in [0, 1)
     * @param epsilon      {@code eps}, at least 0
     * @param amsgrad      {@code amsgrad}: divide by the running maximum of {@code v}
     * @throws IllegalArgumentException if an argument is out of its range
     */
    public TorchAdam(double learningRate, double beta1, double beta2, double epsilon, boolean amsgrad) {
        this(learningRate, null, beta1, beta2, epsilon, amsgrad);
    }

    /**
     * The constructor that JSON and {@link Builder} use.
     *
     * @param learningRate         {@code lr}, used where {@code learningRateSchedule} is null
     * @param learningRateSchedule the learning rate by iteration or epoch, or null
     * @param beta1                {@code betas[0]}, in [0, 1)
     * @param beta2                {@code betas[1]}, in [0, 1)
     * @param epsilon              {@code eps}, at least 0
     * @param amsgrad              {@code amsgrad}
     * @throws IllegalArgumentException if an argument is out of its range
     */
    @JsonCreator
    public TorchAdam(
            @JsonProperty("learningRate") double learningRate,
            @JsonProperty("learningRateSchedule") ISchedule learningRateSchedule,
            @JsonProperty("beta1") double beta1,
            @JsonProperty("beta2") double beta2,
            @JsonProperty("epsilon") double epsilon,
            @JsonProperty("amsgrad") boolean amsgrad) {
        checkLearningRate(learningRate);
        if (!(beta1 >= 0 && beta1 < 1)) {
            throw new IllegalArgumentException("beta1 must be in [0, 1), as PyTorch's betas[0]; got " + beta1);
        }
        if (!(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("beta2 must be in [0, 1), as PyTorch's betas[1]; got " + beta2);
        }
        if (!(epsilon >= 0 && epsilon < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("epsilon must be finite and at least 0; got " + epsilon);
        }
        this.learningRate = learningRate;
        this.learningRateSchedule = learningRateSchedule;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        this.amsgrad = amsgrad;
    }

    private static void checkLearningRate(double learningRate) {
        if (!(learningRate >= 0 && learningRate < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("learningRate must be finite and at least 0; got " + learningRate);
        }
    }

    /** @return a builder with PyTorch's defaults */
    public static Builder builder() {
        return new Builder();
    }

    /** @return the fixed learning rate, used where {@link #getLearningRateSchedule()} is null */
    public double getLearningRate() {
        return learningRate;
    }

    /** @return the learning-rate schedule, or null for the fixed {@link #getLearningRate()} */
    public ISchedule getLearningRateSchedule() {
        return learningRateSchedule;
    }

    /** @return {@code betas[0]} */
    public double getBeta1() {
        return beta1;
    }

    /** @return {@code betas[1]} */
    public double getBeta2() {
        return beta2;
    }

    /** @return {@code eps} */
    public double getEpsilon() {
        return epsilon;
    }

    /** @return whether the step divides by the running maximum of {@code v} ({@code amsgrad}) */
    public boolean isAmsgrad() {
        return amsgrad;
    }

    /**
     * PyTorch's {@code step_size} of step {@code t = iteration + 1}: {@code lr / (1 - beta1^t)}, in double.
     *
     * @param iteration the iterations done so far
     * @param epoch     the epoch, for a schedule
     * @return the step size
     */
    public double stepSize(int iteration, int epoch) {
        return getLearningRate(iteration, epoch) / (1 - Math.pow(beta1, step(iteration)));
    }

    /**
     * PyTorch's {@code bias_correction2_sqrt} of step {@code t = iteration + 1}: {@code sqrt(1 - beta2^t)}, in
     * double.
     *
     * @param iteration the iterations done so far
     * @return the square root of the second moment's bias correction
     */
    public double biasCorrection2Sqrt(int iteration) {
        return Math.sqrt(1 - Math.pow(beta2, step(iteration)));
    }

    /** PyTorch's {@code step} (a float tensor, so exact up to 2^24) of the update after {@code iteration}. */
    private static double step(int iteration) {
        return (double) iteration + 1;
    }

    @Override
    public long stateSize(long numParams) {
        return (amsgrad ? 3 : 2) * numParams;
    }

    @Override
    public GradientUpdater instantiate(INDArray viewArray, boolean initializeViewArray) {
        TorchAdamUpdater updater = new TorchAdamUpdater(this);
        INDArray flat = viewArray.reshape(viewArray.length());
        updater.setStateViewArray(
                flat, new long[] {flat.length() / (amsgrad ? 3 : 2)}, flat.ordering(), initializeViewArray);
        return updater;
    }

    @Override
    public GradientUpdater instantiate(Map<String, INDArray> updaterState, boolean initializeStateArrays) {
        TorchAdamUpdater updater = new TorchAdamUpdater(this);
        updater.setState(updaterState, initializeStateArrays);
        return updater;
    }

    @Override
    public double getLearningRate(int iteration, int epoch) {
        return learningRateSchedule != null ? learningRateSchedule.valueAt(iteration, epoch) : learningRate;
    }

    @Override
    public boolean hasLearningRate() {
        return true;
    }

    @Override
    public void setLrAndSchedule(double lr, ISchedule lrSchedule) {
        checkLearningRate(lr);
        this.learningRate = lr;
        this.learningRateSchedule = lrSchedule;
    }

    @Override
    public TorchAdam clone() {
        return new TorchAdam(
                learningRate,
                learningRateSchedule == null ? null : learningRateSchedule.clone(),
                beta1,
                beta2,
                epsilon,
                amsgrad);
    }

    /**
     * Equal configurations put consecutive parameters into one DL4J updater block.
     *
     * @param o another object
     * @return whether {@code o} is a {@code TorchAdam} with the same options and an equal schedule
     */
    @Override
    public boolean equals(Object o) {
        return o instanceof TorchAdam a
                && Double.compare(learningRate, a.learningRate) == 0
                && Objects.equals(learningRateSchedule, a.learningRateSchedule)
                && Double.compare(beta1, a.beta1) == 0
                && Double.compare(beta2, a.beta2) == 0
                && Double.compare(epsilon, a.epsilon) == 0
                && amsgrad == a.amsgrad;
    }

    @Override
    public int hashCode() {
        return Objects.hash(learningRate, learningRateSchedule, beta1, beta2, epsilon, amsgrad);
    }

    @Override
    public String toString() {
        return "TorchAdam(lr=" + (learningRateSchedule != null ? learningRateSchedule : learningRate) + ", betas=("
                + beta1 + ", " + beta2 + "), eps=" + epsilon + ", amsgrad=" + amsgrad + ")";
    }

    /** Builds a {@link TorchAdam}; every option starts at PyTorch's default. */
    public static final class Builder {
        private double learningRate = DEFAULT_LEARNING_RATE;
        private ISchedule learningRateSchedule;
        private double beta1 = DEFAULT_BETA1;
        private double beta2 = DEFAULT_BETA2;
        private double epsilon = DEFAULT_EPSILON;
        private boolean amsgrad;

        private Builder() {}

        /**
         * @param learningRate {@code lr}
         * @return this builder
         */
        public Builder learningRate(double learningRate) {
            this.learningRate = learningRate;
            return this;
        }

        /**
         * @param schedule the learning rate by iteration or epoch, replacing {@link #learningRate(double)}; null for
         *                 none
         * @return this builder
         */
        public Builder learningRateSchedule(ISchedule schedule) {
            this.learningRateSchedule = schedule;
            return this;
        }

        /**
         * @param beta1 {@code betas[0]}, in [0, 1)
         * @param beta2 {@code betas[1]}, in [0, 1)
         * @return this builder
         */
        public Builder betas(double beta1, double beta2) {
            this.beta1 = beta1;
            this.beta2 = beta2;
            return this;
        }

        /**
         * @param epsilon {@code eps}, at least 0
         * @return this builder
         */
        public Builder epsilon(double epsilon) {
            this.epsilon = epsilon;
            return this;
        }

        /**
         * @param amsgrad {@code amsgrad}: divide by the running maximum of {@code v}
         * @return this builder
         */
        public Builder amsgrad(boolean amsgrad) {
            this.amsgrad = amsgrad;
            return this;
        }

        /**
         * @return the configuration
         * @throws IllegalArgumentException if an option is out of its range
         */
        public TorchAdam build() {
            return new TorchAdam(learningRate, learningRateSchedule, beta1, beta2, epsilon, amsgrad);
        }
    }
}
