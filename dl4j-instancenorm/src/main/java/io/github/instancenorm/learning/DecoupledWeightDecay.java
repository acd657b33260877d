package io.github.instancenorm.learning;

import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.schedule.FixedSchedule;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonAutoDetect;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * {@code torch.optim.AdamW}'s decoupled weight decay, {@code param.mul_(1 - lr * weight_decay)} before the step, as a
 * DL4J regularization: with {@link TorchAdam} it makes PyTorch's AdamW.
 *
 * <pre>{@code
 * // torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
 * List<Regularization> decay = List.of(new DecoupledWeightDecay(1e-2));
 * new NeuralNetConfiguration.Builder()
 *         .updater(new TorchAdam(1e-3))
 *         .list()
 *         .layer(new DenseLayer.Builder().nOut(64)
 *                 .regularization(decay).regularizationBias(decay)   // PyTorch decays the biases too
 *                 .build())
 *         ...
 * }</pre>
 *
 * <p>Give it on each layer: DL4J 1.0.0-M2.1 puts a regularization other than L1 and L2 that is given to
 * {@code NeuralNetConfiguration.Builder} into each layer's list twice ({@code copyConfigToLayer} copies the list,
 * then {@code LayerValidation.configureBaseLayer} appends it again), which decays by {@code 2 wd}; its own
 * {@code .weightDecay(wd)} on the builder has the same fault.
 *
 * <p>DL4J's own {@code WeightDecay(wd, applyLR=true)} ({@code .weightDecay(wd)}) is the same decay in exact
 * arithmetic, {@code update += lr wd p}, but not in float: PyTorch multiplies by {@code 1 - lr wd} rounded to the
 * parameter's type, off by up to 3e-8 in float ({@code 0.9999f} is 1.66e-8 below 0.9999, so PyTorch decays by
 * 1.000166e-4 instead of 1e-4), and that difference adds up over the steps: with {@code lr = wd = 1e-2}, 100 steps
 * put DL4J's weight decay 1.4e-6 (1 + |p|) away from PyTorch's AdamW, this class 5e-8. This class adds to the update
 * exactly what PyTorch's multiplication takes away, {@code p - fl(p · fl(1 - lr wd))} (an exact difference while
 * {@code lr wd <= 0.5}), so that DL4J's {@code p - update} is PyTorch's result up to the rounding of the update.
 *
 * <p>It runs after the updater ({@link ApplyStep#POST_UPDATER}) with the updater's learning rate of the iteration,
 * schedules included, as AdamW's decay follows the group's {@code lr}. Its {@link #score} is DL4J's weight decay's,
 * {@code 0.5 wd |p|²}, which DL4J adds to the network's score (PyTorch's loss has no such term).
 */
@JsonAutoDetect(
        fieldVisibility = JsonAutoDetect.Visibility.ANY,
        getterVisibility = JsonAutoDetect.Visibility.NONE,
        isGetterVisibility = JsonAutoDetect.Visibility.NONE,
        setterVisibility = JsonAutoDetect.Visibility.NONE)
public final class DecoupledWeightDecay implements Regularization {

    private static final long serialVersionUID = 1L;

    private final ISchedule coeff;

    /**
     * @param coeff {@code weight_decay}, at least 0
     * @throws IllegalArgumentException if {@code coeff} is negative or not finite
     */
    public DecoupledWeightDecay(double coeff) {
        this(new FixedSchedule(check(coeff)));
    }

    /**
     * @param coeff {@code weight_decay} by iteration or epoch
     * @throws NullPointerException if {@code coeff} is null
     */
    @JsonCreator
    public DecoupledWeightDecay(@JsonProperty("coeff") ISchedule coeff) {
        this.coeff = Objects.requireNonNull(coeff, "coeff");
    }

    private static double check(double coeff) {
        if (!(coeff >= 0 && coeff < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("weight decay must be finite and at least 0; got " + coeff);
        }
        return coeff;
    }

    /** @return {@code weight_decay} by iteration or epoch */
    public ISchedule getCoeff() {
        return coeff;
    }

    @Override
    public ApplyStep applyStep() {
        return ApplyStep.POST_UPDATER;
    }

    /**
     * Adds {@code param - fl(param · fl(1 - lr coeff))} to {@code update}.
     *
     * @param param     the parameters, unchanged
     * @param update    the updater's update, which DL4J then subtracts from the parameters
     * @param lr        the updater's learning rate of this iteration
     * @param iteration the iterations done so far
     * @param epoch     the epoch
     */
    @Override
    public void apply(INDArray param, INDArray update, double lr, int iteration, int epoch) {
        double factor = 1 - lr * coeff.valueAt(iteration, epoch);
        if (factor == 1) {
            return;
        }
        INDArray decayed = param.mul(factor); // param.mul_(1 - lr * weight_decay), the factor rounded as PyTorch does
        update.addi(decayed.rsubi(param)); // what the multiplication takes away, exactly
    }

    @Override
    public double score(INDArray param, int iteration, int epoch) {
        double norm = param.norm2Number().doubleValue();
        return 0.5 * coeff.valueAt(iteration, epoch) * norm * norm;
    }

    @Override
    public DecoupledWeightDecay clone() {
        return new DecoupledWeightDecay(coeff.clone());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DecoupledWeightDecay d && coeff.equals(d.coeff);
    }

    @Override
    public int hashCode() {
        return coeff.hashCode();
    }

    @Override
    public String toString() {
        return "DecoupledWeightDecay(" + coeff + ")";
    }
}
