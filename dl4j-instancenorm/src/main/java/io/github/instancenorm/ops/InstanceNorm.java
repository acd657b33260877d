package io.github.instancenorm.ops;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Instance normalization with PyTorch's semantics, as plain functions on {@link INDArray}s: the one
 * definition of the math that the DL4J layer and the SameDiff op share.
 *
 * <p>For an input {@code x} whose instance {@code (n, c)} has {@code M} spatial elements:
 * <pre>
 *   mean[n,c] = sum(x[n,c,...]) / M
 *   var[n,c]  = sum((x[n,c,...] - mean[n,c])^2) / M                     (biased)
 *   y         = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]
 * </pre>
 * With running statistics the same affine map uses {@code runningMean[c]} and {@code runningVar[c]}
 * instead. After a training forward the running statistics move towards the batch average of the instance
 * statistics, the variance term unbiased:
 * <pre>
 *   runningMean = (1 - m) * runningMean + m * mean_n(mean[n,c])
 *   runningVar  = (1 - m) * runningVar  + m * mean_n(var[n,c]) * M / (M - 1)
 * </pre>
 * where {@code m} is the momentum, or {@code 1/numBatchesTracked} for a cumulative average
 * (see {@link #updateFactor(Double, long)}).
 *
 * <p>Every computation has a backend-agnostic ND4J-op form: reductions over the spatial axes and broadcasts of
 * the small {@code [N, C]} or {@code [C]} statistics. On ND4J's CPU backend, float and double contiguous c-order
 * arrays take the CPU kernels of {@code io.github.instancenorm.ops.cpu} instead ({@link KernelDispatch}), the same
 * math in fused loops over host memory. As PyTorch does, the forward folds the statistics and the affine parameters into one scale and
 * one shift per instance, so the large tensor is read once and written once after the statistics.
 */
public final class InstanceNorm {

    /** PyTorch's default {@code eps}. */
    public static final double DEFAULT_EPS = 1e-5;
    /** PyTorch's default {@code momentum}. */
    public static final double DEFAULT_MOMENTUM = 0.1;

    private InstanceNorm() {}

    /**
     * The one rule for {@code eps}, PyTorch's: any finite value {@code >= 0}. With 0, a constant instance normalizes
     * to NaN, as in PyTorch.
     *
     * @param eps the value to check
     * @return {@code eps}
     * @throws IllegalArgumentException if {@code eps} is negative, infinite or NaN
     */
    public static double checkEps(double eps) {
        if (!(eps >= 0) || Double.isInfinite(eps)) {
            throw new IllegalArgumentException("eps must be a finite value >= 0, got " + eps);
        }
        return eps;
    }

    /**
     * The one rule for {@code momentum}: PyTorch's convention, the weight of the new batch, in {@code [0, 1]}, or
     * {@code null} for a cumulative moving average (see {@link #updateFactor(Double, long)}).
     *
     * @param momentum the value to check
     * @return {@code momentum}
     * @throws IllegalArgumentException if {@code momentum} is outside {@code [0, 1]} or NaN
     */
    public static Double checkMomentum(Double momentum) {
        if (momentum != null && !(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1] (PyTorch convention: the weight of"
                    + " the new batch) or null for a cumulative moving average, got " + momentum);
        }
        return momentum;
    }

    /**
     * Statistics of each instance, both {@code [N, C]}.
     *
     * @param mean     the mean over the spatial axes
     * @param variance the biased variance over the spatial axes
     */
    public record Moments(INDArray mean, INDArray variance) {}

    /**
     * Computes each instance's mean and biased variance over the spatial axes.
     *
     * @param x      the input, laid out as {@code layout} says
     * @param layout where the channel and spatial axes are
     * @return the {@code [N, C]} statistics
     */
    public static Moments moments(INDArray x, InstanceNormLayout layout) {
        KernelDispatch.Kernels cpu = KernelDispatch.installed().forArrays(x);
        if (cpu != null) {
            return cpu.moments(x, layout);
        }
        int[] spatial = layout.spatialAxes();
        return new Moments(x.mean(spatial), x.var(false, spatial));
    }

    /** @return {@code 1 / sqrt(variance + eps)}, a new array */
    public static INDArray inverseStd(INDArray variance, double eps) {
        return Transforms.sqrt(variance.add(eps), false).rdivi(1.0);
    }

    /**
     * Training forward in one call: computes each instance's statistics and normalizes with them, the same as
     * {@link #moments} followed by {@link #normalizeWithInstanceStats}. On the CPU backend this is the fused
     * CPU-kernel path, which reads {@code x} from memory once for both steps.
     *
     * @param x      the input
     * @param gamma  {@code [C]} scale, or {@code null} for none
     * @param beta   {@code [C]} shift, or {@code null} for none
     * @param eps    added to the variance
     * @param layout where the channel and spatial axes are
     * @param out    receives the result; same shape as {@code x}
     * @return the {@code [N, C]} statistics the forward used, for the backward and the running statistics
     */
    public static Moments forwardWithInstanceStats(
            INDArray x, INDArray gamma, INDArray beta, double eps, InstanceNormLayout layout, INDArray out) {
        return forwardWithInstanceStats(x, gamma, beta, eps, layout, out, null);
    }

    /**
     * {@link #forwardWithInstanceStats(INDArray, INDArray, INDArray, double, InstanceNormLayout, INDArray)} that
     * writes the statistics into given arrays, so that a caller running many forwards (the layer) allocates them
     * once instead of on every call.
     *
     * @param x       the input
     * @param gamma   {@code [C]} scale, or {@code null} for none
     * @param beta    {@code [C]} shift, or {@code null} for none
     * @param eps     added to the variance
     * @param layout  where the channel and spatial axes are
     * @param out     receives the result; same shape as {@code x}
     * @param statsOut receives the {@code [N, C]} statistics: two arrays of {@code x}'s data type and shape
     *                 {@code [N, C]}; {@code null} to allocate new ones
     * @return the statistics the forward used: {@code statsOut}, or new arrays when it is {@code null}
     * @throws IllegalArgumentException if {@code statsOut} does not have the shape and type of the statistics
     */
    public static Moments forwardWithInstanceStats(
            INDArray x,
            INDArray gamma,
            INDArray beta,
            double eps,
            InstanceNormLayout layout,
            INDArray out,
            Moments statsOut) {
        if (statsOut != null) {
            long[] expected = {x.size(0), x.size(layout.channelAxis())};
            for (INDArray a : new INDArray[] {statsOut.mean(), statsOut.variance()}) {
                if (!Arrays.equals(a.shape(), expected) || a.dataType() != x.dataType()) {
                    throw new IllegalArgumentException("Statistics arrays must be " + x.dataType() + " of shape "
                            + Arrays.toString(expected) + ", got " + a.dataType() + " " + Arrays.toString(a.shape()));
                }
            }
        }
        KernelDispatch.Kernels cpu = KernelDispatch.installed().forArrays(x, out);
        if (cpu != null) {
            return cpu.forwardWithInstanceStats(x, gamma, beta, eps, layout, out, statsOut);
        }
        Moments m = moments(x, layout);
        normalizeWithInstanceStats(x, m, gamma, beta, eps, layout, out);
        if (statsOut == null) {
            return m;
        }
        statsOut.mean().assign(m.mean());
        statsOut.variance().assign(m.variance());
        return statsOut;
    }

    /**
     * Normalizes with each instance's own statistics: {@code out = (x - mean) * invStd * gamma + beta}.
     *
     * @param x       the input
     * @param moments its per-instance statistics, from {@link #moments}
     * @param gamma   {@code [C]} scale, or {@code null} for none
     * @param beta    {@code [C]} shift, or {@code null} for none
     * @param eps     added to the variance
     * @param layout  where the channel and spatial axes are
     * @param out     receives the result; same shape as {@code x}
     * @return {@code out}
     */
    public static INDArray normalizeWithInstanceStats(
            INDArray x,
            Moments moments,
            INDArray gamma,
            INDArray beta,
            double eps,
            InstanceNormLayout layout,
            INDArray out) {
        KernelDispatch.Kernels cpu = KernelDispatch.installed().forArrays(x, out);
        if (cpu != null) {
            cpu.normalizeWithInstanceStats(x, moments, gamma, beta, eps, layout, out);
            return out;
        }
        INDArray scale = inverseStd(moments.variance(), eps); // [N, C]
        if (gamma != null) {
            scale.muliRowVector(gamma);
        }
        INDArray shift = moments.mean().mul(scale).negi(); // beta - mean * scale
        if (beta != null) {
            shift.addiRowVector(beta);
        }
        return scaleAndShift(x, scale, shift, layout.instanceAxes(), out);
    }

    /**
     * Normalizes with per-channel running statistics:
     * {@code out = (x - runningMean) / sqrt(runningVar + eps) * gamma + beta}.
     *
     * @param x           the input
     * @param runningMean {@code [C]}
     * @param runningVar  {@code [C]}, a plain variance
     * @param gamma       {@code [C]} scale, or {@code null} for none
     * @param beta        {@code [C]} shift, or {@code null} for none
     * @param eps         added to the variance
     * @param layout      where the channel and spatial axes are
     * @param out         receives the result; same shape as {@code x}
     * @return {@code out}
     */
    public static INDArray normalizeWithRunningStats(
            INDArray x,
            INDArray runningMean,
            INDArray runningVar,
            INDArray gamma,
            INDArray beta,
            double eps,
            InstanceNormLayout layout,
            INDArray out) {
        KernelDispatch.Kernels cpu = KernelDispatch.installed().forArrays(x, out);
        if (cpu != null) {
            cpu.normalizeWithRunningStats(x, runningMean, runningVar, gamma, beta, eps, layout, out);
            return out;
        }
        INDArray scale = channelScale(runningVar, gamma, eps, x);
        INDArray shift = runningMean.castTo(x.dataType()).mul(scale).negi();
        if (beta != null) {
            shift.addi(beta);
        }
        return scaleAndShift(x, scale, shift, new int[] {layout.channelAxis()}, out);
    }

    /**
     * Backpropagates through {@link #normalizeWithInstanceStats}: the statistics depend on the input, so the
     * input gradient has PyTorch's three terms,
     * {@code dx = gamma * invStd * (g - mean_s(g) - xHat * mean_s(g * xHat))}.
     *
     * @param x       the forward input
     * @param grad    gradient of the loss with respect to the output
     * @param moments the statistics the forward used
     * @param gamma   {@code [C]}, or {@code null} when there is no affine transform
     * @param eps     as in the forward
     * @param layout  where the channel and spatial axes are
     * @param dx      receives the input gradient; same shape as {@code x}
     * @param dGamma  receives the {@code [C]} gamma gradient, or {@code null} when not wanted
     * @param dBeta   receives the {@code [C]} beta gradient, or {@code null} when not wanted
     */
    public static void backwardWithInstanceStats(
            INDArray x,
            INDArray grad,
            Moments moments,
            INDArray gamma,
            double eps,
            InstanceNormLayout layout,
            INDArray dx,
            INDArray dGamma,
            INDArray dBeta) {
        KernelDispatch.Kernels cpu = KernelDispatch.installed().forArrays(x, grad, dx);
        if (cpu != null) {
            cpu.backwardWithInstanceStats(x, grad, moments, gamma, eps, layout, dx, dGamma, dBeta);
            return;
        }
        INDArray invStd = inverseStd(moments.variance(), eps); // [N, C]
        INDArray a = gamma == null ? invStd.dup() : invStd.mulRowVector(gamma); // gamma * invStd
        InstanceSums sums = backwardInOpForm(x, grad, moments, invStd, a, layout, dx);
        if (dBeta != null) {
            dBeta.assign(sums.gradSum().sum(0));
        }
        if (dGamma != null) {
            dGamma.assign(sums.dot().mul(invStd).sum(0));
        }
    }

    /** Per-instance {@code sum_s(g)} and {@code sum_s((x - mean) g)}, {@code [N, C]}. */
    private record InstanceSums(INDArray gradSum, INDArray dot) {}

    /**
     * The ND4J-op form of both backwards through instance statistics, for a per-instance scale
     * {@code a = scale * invStd}: writes {@code dx = a g + b (x - mean) + c} with {@code b = -a dot invStd^2 / M} and
     * {@code c = -a sum(g) / M}, and returns the per-instance sums the parameter gradients are made of.
     */
    private static InstanceSums backwardInOpForm(
            INDArray x,
            INDArray grad,
            Moments moments,
            INDArray invStd,
            INDArray a,
            InstanceNormLayout layout,
            INDArray dx) {
        int[] spatial = layout.spatialAxes();
        int[] instance = layout.instanceAxes();
        double m = layout.spatialSize(x.shape());
        INDArray centered = broadcast(new BroadcastSubOp(x, moments.mean(), dx.ulike(), instance));
        INDArray gradSum = grad.sum(spatial); // [N, C]
        INDArray dot = centered.mul(grad).sum(spatial); // sum((x - mean) * g)
        INDArray b = a.mul(dot).muli(invStd).muli(invStd).divi(-m); // coefficient of (x - mean)
        INDArray c = a.mul(gradSum).divi(-m); // constant term
        broadcast(new BroadcastMulOp(centered, b, centered, instance));
        broadcast(new BroadcastMulOp(grad, a, dx, instance));
        dx.addi(centered);
        broadcast(new BroadcastAddOp(dx, c, dx, instance));
        return new InstanceSums(gradSum, dot);
    }

    /**
     * Training-mode normalization with a per-instance affine transform, the core of adaptive instance normalization
     * (AdaIN): {@code out[n,c] = (x[n,c] - mean[n,c]) / sqrt(var[n,c] + eps) * (scaleOffset + scale[n,c]) +
     * shift[n,c]}, with each instance's own mean and biased variance, as PyTorch's {@code InstanceNorm(affine=False)}
     * followed by a per-sample, per-channel scale and shift. StarGAN v2's {@code (1 + gamma)} is
     * {@code scaleOffset = 1}. Same passes as {@link #forwardWithInstanceStats} (fused on the CPU kernels).
     *
     * <p>{@code scale} and {@code shift} may be views with a row stride, such as the two halves of a {@code [N, 2C]}
     * modulation: the CPU kernels read them in place.
     *
     * @param x           the input
     * @param scale       {@code [N, C]} added to {@code scaleOffset}, or {@code null} for none
     * @param shift       {@code [N, C]} added after scaling, or {@code null} for 0
     * @param scaleOffset added to every scale value: 1 for StarGAN v2's {@code (1 + gamma)}, 0 for a plain scale
     * @param eps         added to the variance
     * @param layout      where the channel and spatial axes are
     * @param out         receives the result; same shape as {@code x}
     * @return the {@code [N, C]} statistics the forward used, for {@link #backwardModulated}
     * @throws IllegalArgumentException if {@code scale} or {@code shift} is not {@code [N, C]} in {@code x}'s type
     */
    public static Moments forwardModulated(
            INDArray x,
            INDArray scale,
            INDArray shift,
            double scaleOffset,
            double eps,
            InstanceNormLayout layout,
            INDArray out) {
        return forwardModulated(x, scale, shift, scaleOffset, eps, layout, out, null);
    }

    /**
     * {@link #forwardModulated(INDArray, INDArray, INDArray, double, double, InstanceNormLayout, INDArray)} that
     * writes the statistics into given arrays, so that a caller running many forwards (the AdaIN vertex) allocates
     * them once.
     *
     * @param statsOut receives the {@code [N, C]} statistics (two arrays of {@code x}'s type), or {@code null} to
     *                 allocate new ones
     * @return the statistics: {@code statsOut}, or new arrays
     */
    public static Moments forwardModulated(
            INDArray x,
            INDArray scale,
            INDArray shift,
            double scaleOffset,
            double eps,
            InstanceNormLayout layout,
            INDArray out,
            Moments statsOut) {
        checkInstanceArray("scale", scale, x, layout);
        checkInstanceArray("shift", shift, x, layout);
        if (statsOut != null) {
            checkInstanceArray("statsOut.mean", statsOut.mean(), x, layout);
            checkInstanceArray("statsOut.variance", statsOut.variance(), x, layout);
        }
        KernelDispatch.Kernels cpu = KernelDispatch.installed().forArrays(x, out);
        if (cpu != null) {
            return cpu.forwardModulated(x, scale, shift, scaleOffset, eps, layout, out, statsOut);
        }
        Moments m = moments(x, layout);
        if (statsOut != null) {
            statsOut.mean().assign(m.mean());
            statsOut.variance().assign(m.variance());
            m = statsOut;
        }
        INDArray invStd = inverseStd(m.variance(), eps); // [N, C]
        INDArray a =
                scale == null ? invStd.mul(scaleOffset) : scale.add(scaleOffset).muli(invStd);
        INDArray b = m.mean().mul(a).negi(); // shift - mean * a
        if (shift != null) {
            b.addi(shift);
        }
        scaleAndShift(x, a, b, layout.instanceAxes(), out);
        return m;
    }

    /**
     * Backpropagates through {@link #forwardModulated}: with {@code a = (scaleOffset + scale) * invStd} per
     * instance, {@code dx = a * (g - mean_s(g) - xHat * mean_s(g * xHat))}, {@code dScale = sum_s(g * xHat)} and
     * {@code dShift = sum_s(g)}, each {@code [N, C]} (the offset does not change the scale's gradient).
     *
     * @param x           the forward input
     * @param grad        gradient of the loss with respect to the output
     * @param moments     the statistics the forward used
     * @param scale       the forward's {@code [N, C]} scale, or {@code null}
     * @param scaleOffset the forward's scale offset
     * @param eps         as in the forward
     * @param layout      where the channel and spatial axes are
     * @param dx          receives the input gradient; same shape as {@code x}
     * @param dScale      receives the {@code [N, C]} scale gradient (may be a row-strided view), or {@code null}
     * @param dShift      receives the {@code [N, C]} shift gradient (may be a row-strided view), or {@code null}
     * @throws IllegalArgumentException if {@code scale}, {@code dScale} or {@code dShift} is not {@code [N, C]} in
     *                                  {@code x}'s type
     */
    public static void backwardModulated(
            INDArray x,
            INDArray grad,
            Moments moments,
            INDArray scale,
            double scaleOffset,
            double eps,
            InstanceNormLayout layout,
            INDArray dx,
            INDArray dScale,
            INDArray dShift) {
        checkInstanceArray("scale", scale, x, layout);
        checkInstanceArray("dScale", dScale, x, layout);
        checkInstanceArray("dShift", dShift, x, layout);
        KernelDispatch.Kernels cpu = KernelDispatch.installed().forArrays(x, grad, dx);
        if (cpu != null) {
            cpu.backwardModulated(x, grad, moments, scale, scaleOffset, eps, layout, dx, dScale, dShift);
            return;
        }
        INDArray invStd = inverseStd(moments.variance(), eps); // [N, C]
        INDArray a =
                scale == null ? invStd.mul(scaleOffset) : scale.add(scaleOffset).muli(invStd);
        InstanceSums sums = backwardInOpForm(x, grad, moments, invStd, a, layout, dx);
        if (dShift != null) {
            dShift.assign(sums.gradSum());
        }
        if (dScale != null) {
            dScale.assign(sums.dot().mul(invStd));
        }
    }

    private static void checkInstanceArray(String name, INDArray a, INDArray x, InstanceNormLayout layout) {
        if (a == null) {
            return;
        }
        long[] expected = {x.size(0), x.size(layout.channelAxis())};
        if (!Arrays.equals(a.shape(), expected) || a.dataType() != x.dataType()) {
            throw new IllegalArgumentException(name + " must be " + x.dataType() + " of shape [N, C] = "
                    + Arrays.toString(expected) + " for an input of shape " + Arrays.toString(x.shape()) + ", got "
                    + a.dataType() + " " + Arrays.toString(a.shape()));
        }
    }

    /**
     * Backpropagates through {@link #normalizeWithRunningStats}: the statistics are constants, so
     * {@code dx = g * gamma / sqrt(runningVar + eps)}.
     *
     * @param x           the forward input
     * @param grad        gradient of the loss with respect to the output
     * @param runningMean {@code [C]}
     * @param runningVar  {@code [C]}
     * @param gamma       {@code [C]}, or {@code null} when there is no affine transform
     * @param eps         as in the forward
     * @param layout      where the channel and spatial axes are
     * @param dx          receives the input gradient; same shape as {@code x}
     * @param dGamma      receives the {@code [C]} gamma gradient, or {@code null} when not wanted
     * @param dBeta       receives the {@code [C]} beta gradient, or {@code null} when not wanted
     */
    public static void backwardWithRunningStats(
            INDArray x,
            INDArray grad,
            INDArray runningMean,
            INDArray runningVar,
            INDArray gamma,
            double eps,
            InstanceNormLayout layout,
            INDArray dx,
            INDArray dGamma,
            INDArray dBeta) {
        KernelDispatch.Kernels cpu = KernelDispatch.installed().forArrays(x, grad, dx);
        if (cpu != null) {
            cpu.backwardWithRunningStats(x, grad, runningMean, runningVar, gamma, eps, layout, dx, dGamma, dBeta);
            return;
        }
        int channel = layout.channelAxis();
        int[] allButChannel = layout.nonChannelAxes();
        INDArray invStd = inverseStd(runningVar.castTo(x.dataType()), eps);

        if (dBeta != null) {
            dBeta.assign(grad.sum(allButChannel));
        }
        if (dGamma != null) {
            INDArray centered = broadcast(new BroadcastSubOp(x, runningMean.castTo(x.dataType()), dx.ulike(), channel));
            dGamma.assign(centered.muli(grad).sum(allButChannel).muli(invStd));
        }
        INDArray scale = gamma == null ? invStd : invStd.mul(gamma);
        broadcast(new BroadcastMulOp(grad, scale, dx, channel));
    }

    /**
     * The weight the newest batch gets in the running averages.
     *
     * @param momentum          PyTorch's momentum in [0, 1], or {@code null} for a cumulative moving average
     * @param numBatchesTracked the number of updates including the one being made, at least 1
     * @return {@code momentum}, or {@code 1 / numBatchesTracked} when momentum is {@code null}
     */
    public static double updateFactor(Double momentum, long numBatchesTracked) {
        if (momentum != null) {
            return momentum;
        }
        if (numBatchesTracked < 1) {
            throw new IllegalArgumentException(
                    "numBatchesTracked must count the update being made (>= 1), got " + numBatchesTracked);
        }
        return 1.0 / numBatchesTracked;
    }

    /**
     * Folds one training batch into running statistics, in place: counts the batch, then moves each statistic
     * towards the batch's with {@link #blend} and the weight {@link #updateFactor(Double, long)} gives. The layer
     * and the SameDiff {@code RunningStats} both update through here.
     *
     * @param runningMean       {@code [C]}, updated in place
     * @param runningVar        {@code [C]}, updated in place
     * @param numBatchesTracked one element, the number of batches folded in so far; incremented
     * @param momentum          PyTorch's momentum in [0, 1], or {@code null} for a cumulative moving average
     * @param batchMean         {@code [C]}, the batch average of the instance means ({@link #batchMean})
     * @param batchUnbiasedVar  {@code [C]}, the batch average of the unbiased instance variances
     *                          ({@link #batchUnbiasedVariance})
     */
    public static void foldBatch(
            INDArray runningMean,
            INDArray runningVar,
            INDArray numBatchesTracked,
            Double momentum,
            INDArray batchMean,
            INDArray batchUnbiasedVar) {
        long tracked = Math.round(numBatchesTracked.getDouble(0)) + 1;
        double factor = updateFactor(momentum, tracked);
        blend(runningMean, batchMean, factor);
        blend(runningVar, batchUnbiasedVar, factor);
        numBatchesTracked.assign(tracked);
    }

    /**
     * Folds one training batch's instance statistics into running statistics, in place: the same update as
     * {@link #foldBatch} with {@link #batchMean} and {@link #batchUnbiasedVariance}. On the CPU backend, with the
     * small arrays plain float or double vectors, it is computed in plain Java on them
     * (the CPU kernels' {@code foldInstanceStats}) instead of some ten ND4J ops, whose fixed cost per call
     * outweighs the arithmetic on a few hundred numbers.
     *
     * @param runningMean       {@code [C]}, updated in place
     * @param runningVar        {@code [C]}, updated in place
     * @param numBatchesTracked one element, the number of batches folded in so far; incremented
     * @param momentum          PyTorch's momentum in [0, 1], or {@code null} for a cumulative moving average
     * @param moments           the batch's per-instance statistics, {@code [N, C]}, biased variance
     * @param spatialSize       the number of spatial elements per instance, at least 2
     */
    public static void foldInstanceStats(
            INDArray runningMean,
            INDArray runningVar,
            INDArray numBatchesTracked,
            Double momentum,
            Moments moments,
            long spatialSize) {
        KernelDispatch dispatch = KernelDispatch.installed();
        if (dispatch.foldsInstanceStats(
                runningMean, runningVar, numBatchesTracked, moments.mean(), moments.variance())) {
            dispatch.foldInstanceStats(runningMean, runningVar, numBatchesTracked, momentum, moments, spatialSize);
            return;
        }
        foldBatch(
                runningMean,
                runningVar,
                numBatchesTracked,
                momentum,
                batchMean(moments),
                batchUnbiasedVariance(moments, spatialSize));
    }

    /**
     * @param moments the batch's per-instance statistics, {@code [N, C]}
     * @return the batch average of the instance means, {@code [C]}
     */
    public static INDArray batchMean(Moments moments) {
        return moments.mean().mean(0);
    }

    /**
     * @param moments     the batch's per-instance statistics, {@code [N, C]}, biased variance
     * @param spatialSize the number of spatial elements per instance, at least 2
     * @return the batch average of the unbiased instance variances,
     *         {@code mean_n(var[n,c]) * M / (M - 1)}, {@code [C]}
     */
    public static INDArray batchUnbiasedVariance(Moments moments, long spatialSize) {
        return moments.variance().mean(0).muli(unbiasedCorrection(spatialSize));
    }

    /**
     * @param spatialSize the number of elements a variance was taken over, at least 2
     * @return the factor {@code M / (M - 1)} that turns a biased variance into an unbiased one
     */
    public static double unbiasedCorrection(long spatialSize) {
        if (spatialSize < 2) {
            throw new IllegalArgumentException("An unbiased variance needs at least 2 elements, got " + spatialSize);
        }
        return spatialSize / (spatialSize - 1.0);
    }

    /**
     * Moves a running statistic towards a batch statistic, in place and in the running array's data type:
     * {@code running = (1 - factor) * running + factor * batchStat}. The layer and the SameDiff
     * {@code RunningStats} both update through here.
     *
     * @param running   {@code [C]}, updated in place
     * @param batchStat {@code [C]} (any shape with {@code C} elements), not modified
     * @param factor    the weight of the batch, from {@link #updateFactor(Double, long)}
     * @return {@code running}
     * @throws IllegalArgumentException if the element counts differ
     */
    public static INDArray blend(INDArray running, INDArray batchStat, double factor) {
        if (running.length() != batchStat.length()) {
            throw new IllegalArgumentException("Cannot blend a batch statistic of shape "
                    + Arrays.toString(batchStat.shape()) + " into a running statistic of shape "
                    + Arrays.toString(running.shape()) + ": expected " + running.length() + " elements, got "
                    + batchStat.length());
        }
        INDArray v =
                batchStat.castTo(running.dataType()).reshape(running.shape()).mul(factor);
        return running.muli(1.0 - factor).addi(v);
    }

    private static INDArray channelScale(INDArray runningVar, INDArray gamma, double eps, INDArray like) {
        INDArray scale = inverseStd(runningVar.castTo(like.dataType()), eps);
        return gamma == null ? scale : scale.muli(gamma);
    }

    /** {@code out = x * scale + shift}, with {@code scale} and {@code shift} broadcast along {@code axes}. */
    private static INDArray scaleAndShift(INDArray x, INDArray scale, INDArray shift, int[] axes, INDArray out) {
        broadcast(new BroadcastMulOp(x, scale, out, axes));
        broadcast(new BroadcastAddOp(out, shift, out, axes));
        return out;
    }

    private static INDArray broadcast(org.nd4j.linalg.api.ops.BroadcastOp op) {
        Nd4j.getExecutioner().exec(op);
        return op.z();
    }
}
