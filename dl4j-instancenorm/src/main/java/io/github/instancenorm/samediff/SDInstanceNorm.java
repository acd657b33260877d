package io.github.instancenorm.samediff;

import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.InstanceNormLayout;
import java.util.Arrays;
import java.util.Objects;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Instance normalization as a SameDiff function, with the semantics of PyTorch's
 * {@code nn.InstanceNorm{1,2,3}d} and of the {@link io.github.instancenorm.conf.InstanceNormalization} layer.
 *
 * <p>For an input {@code x} (rank 3 to 5, channels-first or channels-last, as the {@link InstanceNormLayout}
 * says) whose instance {@code (n, c)} has {@code M} spatial elements:
 * <pre>
 *   mean[n,c] = sum(x[n,c,...]) / M
 *   var[n,c]  = sum((x[n,c,...] - mean[n,c])^2) / M                         (biased)
 *   y         = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]              training, instanceStats
 *   y         = (x - runningMean[c]) / sqrt(runningVar[c] + eps) * gamma[c] + beta[c]   inference
 *
 *   batchMean[c] = mean_n(mean[n,c])                                          training only, [C]
 *   batchVar[c]  = mean_n(var[n,c]) * M / (M - 1)                             unbiased, [C]
 * </pre>
 * {@code gamma} and {@code beta} ({@code [C]}) are optional; without them the scale is 1 and the shift 0. The batch
 * statistics feed the running averages, which {@link RunningStats} updates with PyTorch's momentum convention;
 * they are not on any gradient path.
 *
 * <p>The graph uses only ops whose gradients are exact in ND4J 1.0.0-M2.1 and whose meaning survives
 * {@code SameDiff.save}/{@code load}: {@code reduce_mean} with kept dimensions and element-wise arithmetic, the
 * {@code [C]} vectors reshaped to the layout's channel-broadcast shape. The biased variance is the mean of the
 * squared centred input, which the output needs anyway. Not used, on purpose: {@code sd.nn.batchNorm} (no
 * gradient), {@code sd.variance} (its backprop is wrong for the biased variance, and it turns unbiased after a
 * save/load round trip) and {@code sd.math.moments} (its variance backprop is off by about 1e-8 relative in
 * double precision). Intermediate variables are named {@code <name>/...}; the output is named {@code name}.
 *
 * <pre>{@code
 * InstanceNormLayout layout = new InstanceNormLayout(4, false);                 // NCHW
 * SDInstanceNorm.Result r = SDInstanceNorm.training(sd, "in1", x, gamma, beta, 1e-5, layout);
 * SDVariable yInfer = SDInstanceNorm.inference(sd, "in1_infer", x, runningMean, runningVar, gamma, beta, 1e-5,
 *         layout);
 * }</pre>
 */
public final class SDInstanceNorm {

    private SDInstanceNorm() {}

    /**
     * The variables a training-mode instance norm adds to a graph.
     *
     * @param output       the normalized input, same shape as the input; named {@code name}
     * @param batchMean    {@code [C]}, the batch average of the instance means; named {@code name/batchMean}
     * @param batchVar     {@code [C]}, the batch average of the unbiased instance variances; named
     *                     {@code name/batchVar}
     * @param instanceMean each instance's mean, the input's shape with the spatial axes of size 1; named
     *                     {@code name/mean}
     * @param instanceVar  each instance's biased variance, shaped as {@code instanceMean}; named {@code name/var}
     * @param centered     {@code x - instanceMean}, the input's shape; named {@code name/centered}
     */
    public record Result(
            SDVariable output,
            SDVariable batchMean,
            SDVariable batchVar,
            SDVariable instanceMean,
            SDVariable instanceVar,
            SDVariable centered) {}

    /**
     * Training-mode instance normalization: normalizes with each instance's own statistics and also returns the
     * batch statistics a training loop folds into the running averages (see {@link RunningStats}).
     *
     * @param sd     the graph to add to
     * @param name   the output's name, and the prefix of the intermediate variables; {@code null} for a generated
     *               one
     * @param x      the input, rank {@code layout.rank()}
     * @param gamma  {@code [C]} scale, or {@code null} for none
     * @param beta   {@code [C]} shift, or {@code null} for none
     * @param eps    added to the variance, {@code >= 0} (PyTorch's rule)
     * @param layout where the channel and spatial axes are
     * @return the output and the batch statistics
     * @throws IllegalArgumentException if a shape known while building contradicts the layout
     */
    public static Result training(
            SameDiff sd,
            String name,
            SDVariable x,
            SDVariable gamma,
            SDVariable beta,
            double eps,
            InstanceNormLayout layout) {
        String base = baseName(sd, name);
        checkArguments(x, layout, eps, true, base, gamma, beta);
        Moments moments = instanceMoments(base, x, layout);
        SDVariable y = normalize(sd, base, x, moments, gamma, beta, eps, layout);

        // Mean over the batch and the (size-1) spatial axes of the keep-dims statistics leaves [C].
        int[] allButChannel = layout.nonChannelAxes();
        SDVariable batchMean = sd.mean(base + "/batchMean", moments.mean(), false, allButChannel);
        // M, known only when the graph runs: the input's length over the statistics' length.
        DataType type = x.dataType();
        SDVariable m = sd.size(base + "/m_long", x)
                .castTo(base + "/m_total", type)
                .div(
                        base + "/spatialSize",
                        sd.size(base + "/nc_long", moments.mean()).castTo(base + "/nc", type));
        SDVariable correction = m.div(base + "/unbiasedCorrection", m.sub(base + "/mMinus1", 1.0));
        SDVariable batchVar = sd.mean(base + "/batchBiasedVar", moments.variance(), false, allButChannel)
                .mul(base + "/batchVar", correction);
        return new Result(y, batchMean, batchVar, moments.mean(), moments.variance(), moments.centered());
    }

    /**
     * Instance normalization with each instance's own statistics, without the batch statistics: the inference
     * forward of a PyTorch module built with {@code track_running_stats=False} (or the layer's
     * {@code useInputStatsInInference}). Same output as {@link #training}.
     *
     * @param sd     the graph to add to
     * @param name   the output's name; {@code null} for a generated one
     * @param x      the input, rank {@code layout.rank()}
     * @param gamma  {@code [C]} scale, or {@code null} for none
     * @param beta   {@code [C]} shift, or {@code null} for none
     * @param eps    added to the variance, {@code >= 0} (PyTorch's rule)
     * @param layout where the channel and spatial axes are
     * @return the normalized input
     */
    public static SDVariable instanceStats(
            SameDiff sd,
            String name,
            SDVariable x,
            SDVariable gamma,
            SDVariable beta,
            double eps,
            InstanceNormLayout layout) {
        String base = baseName(sd, name);
        checkArguments(x, layout, eps, true, base, gamma, beta);
        return normalize(sd, base, x, instanceMoments(base, x, layout), gamma, beta, eps, layout);
    }

    /**
     * Inference-mode instance normalization with running statistics, which are constants of this forward:
     * {@code y = (x - runningMean) / sqrt(runningVar + eps) * gamma + beta}, per channel.
     *
     * @param sd          the graph to add to
     * @param name        the output's name; {@code null} for a generated one
     * @param x           the input, rank {@code layout.rank()}
     * @param runningMean {@code [C]}, e.g. {@link RunningStats#attach}'s constant
     * @param runningVar  {@code [C]}, a plain (unbiased, as PyTorch keeps it) variance
     * @param gamma       {@code [C]} scale, or {@code null} for none
     * @param beta        {@code [C]} shift, or {@code null} for none
     * @param eps         added to the variance, {@code >= 0} (PyTorch's rule)
     * @param layout      where the channel and spatial axes are
     * @return the normalized input
     */
    public static SDVariable inference(
            SameDiff sd,
            String name,
            SDVariable x,
            SDVariable runningMean,
            SDVariable runningVar,
            SDVariable gamma,
            SDVariable beta,
            double eps,
            InstanceNormLayout layout) {
        Objects.requireNonNull(runningMean, "runningMean");
        Objects.requireNonNull(runningVar, "runningVar");
        String base = baseName(sd, name);
        checkArguments(x, layout, eps, false, base, gamma, beta, runningMean, runningVar);
        DataType type = x.dataType();
        // Fold everything into one [C] scale and one [C] shift, as PyTorch's eval kernel does.
        SDVariable scale = sd.math.rsqrt(
                base + "/invStd", as(type, runningVar, base + "/runningVarCast").add(base + "/varPlusEps", eps));
        if (gamma != null) {
            scale = scale.mul(base + "/scale", as(type, gamma, base + "/gammaCast"));
        }
        SDVariable shift = as(type, runningMean, base + "/runningMeanCast")
                .mul(base + "/meanTimesScale", scale)
                .neg(base + "/negShift");
        if (beta != null) {
            shift = shift.add(base + "/shift", as(type, beta, base + "/betaCast"));
        }
        long[] bShape = layout.channelBroadcastShape(-1);
        return x.mul(base + "/scaled", sd.reshape(base + "/scaleB", scale, bShape))
                .add(base, sd.reshape(base + "/shiftB", shift, bShape));
    }

    /** The keep-dims instance statistics, and the centred input they come from. */
    private record Moments(SDVariable mean, SDVariable centered, SDVariable variance) {}

    private static Moments instanceMoments(String base, SDVariable x, InstanceNormLayout layout) {
        int[] spatial = layout.spatialAxes();
        SDVariable mean = x.mean(base + "/mean", true, spatial);
        SDVariable centered = x.sub(base + "/centered", mean);
        SDVariable variance = centered.mul(base + "/squared", centered).mean(base + "/var", true, spatial);
        return new Moments(mean, centered, variance);
    }

    /** {@code y = (x - mean) * (rsqrt(var + eps) * gamma) + beta}. */
    private static SDVariable normalize(
            SameDiff sd,
            String base,
            SDVariable x,
            Moments moments,
            SDVariable gamma,
            SDVariable beta,
            double eps,
            InstanceNormLayout layout) {
        DataType type = x.dataType();
        long[] bShape = layout.channelBroadcastShape(-1);
        SDVariable scale = sd.math.rsqrt(base + "/invStd", moments.variance().add(base + "/varPlusEps", eps));
        if (gamma != null) {
            scale = scale.mul(
                    base + "/scale", sd.reshape(base + "/gammaB", as(type, gamma, base + "/gammaCast"), bShape));
        }
        if (beta == null) {
            return moments.centered().mul(base, scale);
        }
        return moments.centered()
                .mul(base + "/normalized", scale)
                .add(base, sd.reshape(base + "/betaB", as(type, beta, base + "/betaCast"), bShape));
    }

    private static SDVariable as(DataType type, SDVariable v, String castName) {
        return v.dataType() == type ? v : v.castTo(castName, type);
    }

    /** Checks what is known while building: the rank, eps, and the channel counts where shapes are fixed. */
    private static void checkArguments(
            SDVariable x,
            InstanceNormLayout layout,
            double eps,
            boolean instanceStats,
            String who,
            SDVariable... perChannel) {
        Objects.requireNonNull(x, "x");
        Objects.requireNonNull(layout, "layout");
        try {
            InstanceNorm.checkEps(eps);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(who + ": " + e.getMessage(), e);
        }
        if (!x.dataType().isFPType()) {
            throw new IllegalArgumentException(who + ": expected a floating point input, got " + x.dataType());
        }
        long[] shape = knownShape(x);
        if (shape == null) {
            return;
        }
        if (shape.length != layout.rank()) {
            throw new IllegalArgumentException(who + ": expected " + layout.rank() + "D input (" + layout.formatName()
                    + ") but got " + shape.length + "D input with shape " + Arrays.toString(shape));
        }
        long channels = shape[layout.channelAxis()];
        for (SDVariable v : perChannel) {
            long[] s = v == null ? null : knownShape(v);
            if (s != null && channels > 0 && (s.length != 1 || s[0] != channels)) {
                throw new IllegalArgumentException(who + ": expected " + v.name() + " of shape [" + channels
                        + "] to match the " + channels + " channels on axis " + layout.channelAxis() + " of input "
                        + Arrays.toString(shape) + " (" + layout.formatName() + "), got " + Arrays.toString(s));
            }
        }
        if (instanceStats
                && Arrays.stream(layout.spatialAxes()).allMatch(a -> shape[a] > 0)
                && layout.spatialSize(shape) <= 1) {
            throw new IllegalArgumentException(who + ": expected more than 1 spatial element when normalizing with"
                    + " instance statistics, got input shape " + Arrays.toString(shape));
        }
    }

    /** @return the shape of a placeholder, variable or constant ({@code -1} where free), or null for op outputs */
    private static long[] knownShape(SDVariable v) {
        if (v.getVariableType() == VariableType.ARRAY) {
            return null;
        }
        return v.getShape();
    }

    private static String baseName(SameDiff sd, String name) {
        Objects.requireNonNull(sd, "sd");
        if (name != null) {
            if (sd.hasVariable(name)) {
                throw new IllegalArgumentException("The graph already has a variable named \"" + name + "\"");
            }
            return name;
        }
        int i = 0;
        while (sd.hasVariable("instance_norm_" + i) || sd.hasVariable("instance_norm_" + i + "/mean")) {
            i++;
        }
        return "instance_norm_" + i;
    }
}
