package io.github.instancenorm.samediff;

import io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex.Modulation;
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
 * {@code [C]} vectors reshaped to the layout's channel-broadcast shape (the adaptive forms' {@code [N, C]} ones
 * expanded with {@code expand_dims}, a modulation cut with {@code split}). The biased variance is the mean of the
 * squared centred input, which the output needs anyway. Not used, on purpose: {@code sd.nn.batchNorm} (no
 * gradient), {@code sd.variance} (its backprop is wrong for the biased variance, and it turns unbiased after a
 * save/load round trip) and {@code sd.math.moments} (its variance backprop is off by about 1e-8 relative in
 * double precision). Intermediate variables are named {@code <name>/...}; the output is named {@code name}.
 *
 * <p>{@link #adaptive} and {@link #adaptiveModulated} are adaptive instance normalization (AdaIN): the instance
 * statistics as above, with a per-sample, per-channel scale and shift ({@code [N, C]}, usually computed from a style
 * code) in place of {@code gamma[c]} and {@code beta[c]}.
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

    /**
     * Adaptive instance normalization (AdaIN) with a per-sample, per-channel scale and shift:
     * <pre>
     *   mean[n,c] = sum(x[n,c,...]) / M,   var[n,c] = sum((x[n,c,...] - mean[n,c])^2) / M      (biased)
     *   out[n,c,...] = (x[n,c,...] - mean[n,c]) / sqrt(var[n,c] + eps) * scale[n,c] + shift[n,c]
     * </pre>
     * which is PyTorch's {@code F.instance_norm(x, eps=eps) * scale.view(N, C, 1, ...) + shift.view(N, C, 1, ...)}
     * (indices written channels-first; for a channels-last layout the channel index is the last one). The
     * {@code [N, C]} scale and shift are broadcast to {@code [N, C, 1, ...]} (channels-first) or
     * {@code [N, 1, ..., C]} (channels-last) with {@code expand_dims}, so N and C need not be known while
     * building. Shapes known while building are checked; shapes known only when the graph runs are not: there,
     * as in PyTorch, a width that does not broadcast against C fails in the multiply, and a width or batch of 1
     * broadcasts. Gradients flow to {@code x}, {@code scale} and {@code shift}. Intermediates are named
     * {@code name/...}: {@code name/mean}, {@code name/var}, {@code name/centered}, {@code name/invStd},
     * {@code name/scaleB}, {@code name/shiftB}.
     *
     * @param sd     the graph to add to
     * @param name   the output's name, and the prefix of the intermediate variables; {@code null} for a generated
     *               one
     * @param x      the input, rank {@code layout.rank()}
     * @param scale  {@code [N, C]}, one scale per sample and channel, or {@code null} for 1
     * @param shift  {@code [N, C]}, one shift per sample and channel, or {@code null} for 0
     * @param eps    added to the variance, {@code >= 0} (PyTorch's rule)
     * @param layout where the channel and spatial axes are
     * @return the output, {@code x}'s shape, named {@code name}
     * @throws IllegalArgumentException if eps is negative or not finite, {@code x} is not floating point, the
     *                                  graph already has a variable {@code name}, or a shape known while building
     *                                  contradicts the layout: {@code x}'s rank, a single spatial element,
     *                                  {@code scale} or {@code shift} not of rank 2, or their {@code N} or
     *                                  {@code C} not {@code x}'s
     * @throws NullPointerException     if {@code sd}, {@code x} or {@code layout} is null
     */
    public static SDVariable adaptive(
            SameDiff sd,
            String name,
            SDVariable x,
            SDVariable scale,
            SDVariable shift,
            double eps,
            InstanceNormLayout layout) {
        String base = baseName(sd, name);
        checkArguments(x, layout, eps, true, base);
        long[] xShape = knownShape(x);
        checkPerInstance(base, xShape, layout, scale, 1);
        checkPerInstance(base, xShape, layout, shift, 1);
        return adaptiveUnchecked(sd, base, x, scale, shift, eps, layout);
    }

    /**
     * Adaptive instance normalization from one modulation {@code h} of shape {@code [N, 2C]}, as StarGAN v2's
     * {@code AdaIN} module applies its Linear layer's output: {@code gamma, beta = torch.chunk(h, 2, dim=1)}, so
     * {@code gamma = h[:, :C]} and {@code beta = h[:, C:]}, then, with {@code xHat} each instance normalized by its
     * own mean and biased variance ({@code F.instance_norm(x, eps=eps)}),
     * <pre>
     *   out = (1 + gamma) * xHat + beta      {@link Modulation#ONE_PLUS_GAMMA}: StarGAN v2, StyleGAN
     *   out = gamma * xHat + beta            {@link Modulation#GAMMA}: MUNIT, AdaIN style transfer
     * </pre>
     * The same forms as the {@link io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex} of a
     * {@code ComputationGraph}.
     *
     * <p>{@code h} is cut into two equal halves along axis 1 with {@code split} (the graph's own
     * {@code torch.chunk}), so C need not be known while building: the width is read when the graph runs. Where the
     * shapes are known while building (placeholders, variables, constants), the width is checked against
     * {@code 2C}. Where they are not (op outputs, such as a Linear layer's), the graph checks nothing more than
     * PyTorch's {@code chunk} and broadcasting would: an odd width fails in ND4J's {@code split}, halves of another
     * width than C in the multiply (a {@code RuntimeException}, "Op validation failed"), except halves of width 1,
     * which broadcast over the channels. The halves are named {@code name/gamma} and
     * {@code name/beta}; the rest is {@link #adaptive}'s graph with {@code scale = 1 + gamma}
     * ({@code name/onePlusGamma}) or {@code gamma}, and {@code shift = beta}.
     *
     * @param sd         the graph to add to
     * @param name       the output's name, and the prefix of the intermediate variables; {@code null} for a
     *                   generated one
     * @param x          the input, rank {@code layout.rank()}
     * @param h          {@code [N, 2C]}: gamma in columns {@code 0 .. C-1}, beta in {@code C .. 2C-1}
     * @param modulation how gamma scales the normalized input
     * @param eps        added to the variance, {@code >= 0} (PyTorch's rule)
     * @param layout     where the channel and spatial axes are
     * @return the output, {@code x}'s shape, named {@code name}
     * @throws IllegalArgumentException if eps is negative or not finite, {@code x} is not floating point, the
     *                                  graph already has a variable {@code name}, or a shape known while building
     *                                  contradicts the layout: {@code x}'s rank, a single spatial element,
     *                                  {@code h} not of rank 2, an odd width, a width not {@code 2C} or a batch
     *                                  size not {@code x}'s
     * @throws NullPointerException     if {@code sd}, {@code x}, {@code h}, {@code modulation} or {@code layout}
     *                                  is null
     */
    public static SDVariable adaptiveModulated(
            SameDiff sd,
            String name,
            SDVariable x,
            SDVariable h,
            Modulation modulation,
            double eps,
            InstanceNormLayout layout) {
        Objects.requireNonNull(h, "h");
        Objects.requireNonNull(modulation, "modulation");
        String base = baseName(sd, name);
        checkArguments(x, layout, eps, true, base);
        checkPerInstance(base, knownShape(x), layout, h, 2);
        SDVariable[] halves = sd.split(new String[] {base + "/gamma", base + "/beta"}, h, 2, 1);
        SDVariable scale =
                modulation == Modulation.ONE_PLUS_GAMMA ? halves[0].add(base + "/onePlusGamma", 1.0) : halves[0];
        return adaptiveUnchecked(sd, base, x, scale, halves[1], eps, layout);
    }

    /** {@code y = (x - mean) * (rsqrt(var + eps) * scaleB) + shiftB}, the {@code [N, C]} vectors broadcast. */
    private static SDVariable adaptiveUnchecked(
            SameDiff sd,
            String base,
            SDVariable x,
            SDVariable scale,
            SDVariable shift,
            double eps,
            InstanceNormLayout layout) {
        DataType type = x.dataType();
        Moments moments = instanceMoments(base, x, layout);
        SDVariable factor = sd.math.rsqrt(base + "/invStd", moments.variance().add(base + "/varPlusEps", eps));
        if (scale != null) {
            factor = factor.mul(
                    base + "/factor",
                    perInstanceBroadcast(sd, base + "/scaleB", as(type, scale, base + "/scaleCast"), layout));
        }
        if (shift == null) {
            return moments.centered().mul(base, factor);
        }
        return moments.centered()
                .mul(base + "/normalized", factor)
                .add(base, perInstanceBroadcast(sd, base + "/shiftB", as(type, shift, base + "/shiftCast"), layout));
    }

    /**
     * {@code [N, C]} to {@code [N, C, 1, ...]} (channels-first) or {@code [N, 1, ..., C]} (channels-last): one
     * {@code expand_dims} per spatial axis, whose gradient is the exact {@code squeeze} and which needs neither N
     * nor C. The last one is named {@code name}, the others {@code name_1}, {@code name_2}.
     */
    private static SDVariable perInstanceBroadcast(SameDiff sd, String name, SDVariable v, InstanceNormLayout layout) {
        int spatialDims = layout.rank() - 2;
        int axis = layout.channelsLast() ? 1 : 2;
        SDVariable out = v;
        for (int i = 1; i <= spatialDims; i++) {
            out = sd.expandDims(i == spatialDims ? name : name + "_" + i, out, axis);
        }
        return out;
    }

    /**
     * Checks a {@code [N, widthFactor * C]} argument of the adaptive forms against {@code x}, where both shapes are
     * known while building.
     */
    private static void checkPerInstance(
            String who, long[] xShape, InstanceNormLayout layout, SDVariable v, int widthFactor) {
        long[] s = v == null ? null : knownShape(v);
        if (s == null) {
            return;
        }
        String expected = widthFactor == 1 ? "[N, C]" : "[N, " + widthFactor + "C] (gamma, then beta)";
        if (s.length != 2) {
            throw new IllegalArgumentException(who + ": expected " + v.name() + " of shape " + expected + ", got "
                    + s.length + "D with shape " + Arrays.toString(s));
        }
        if (widthFactor == 2 && s[1] > 0 && s[1] % 2 != 0) {
            throw new IllegalArgumentException(who + ": expected " + v.name() + " of shape " + expected
                    + " with an even width, got " + Arrays.toString(s));
        }
        if (xShape == null) {
            return;
        }
        long n = xShape[0];
        long channels = xShape[layout.channelAxis()];
        if (channels > 0 && s[1] > 0 && s[1] != widthFactor * channels) {
            throw new IllegalArgumentException(who + ": expected " + v.name() + " of shape [N, "
                    + (widthFactor == 1 ? "C" : widthFactor + "C") + "] = [" + (n > 0 ? n : "N") + ", "
                    + widthFactor * channels + "] for the " + channels + " channels on axis " + layout.channelAxis()
                    + " of input " + Arrays.toString(xShape) + " (" + layout.formatName() + "), got "
                    + Arrays.toString(s));
        }
        if (n > 0 && s[0] > 0 && s[0] != n) {
            throw new IllegalArgumentException(who + ": expected " + v.name() + " to have one row per sample, " + n
                    + " for input " + Arrays.toString(xShape) + ", got " + Arrays.toString(s));
        }
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
