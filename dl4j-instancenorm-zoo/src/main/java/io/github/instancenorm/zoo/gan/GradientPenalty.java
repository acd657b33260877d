package io.github.instancenorm.zoo.gan;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.zoo.conf.graph.GradientTapVertex;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Gradient penalties for a GAN critic, {@code P = (1/N) Σ_i f(‖g_i‖)} with {@code g_i = ∇_x Σ score(x_i)}, and
 * their parameter gradient, on DL4J graphs that cannot differentiate a backward pass:
 * <ul>
 *   <li>{@link #wganGp(double) WGAN-GP} (Gulrajani et al., 2017; StarGAN's {@code gradient_penalty}):
 *       {@code f(n) = λ (n - 1)²}, evaluated on {@link #interpolates interpolates} of real and fake images;</li>
 *   <li>{@link #r1(double) R1} (Mescheder et al., 2018): {@code f(n) = γ/2 · n²}, on real images.</li>
 * </ul>
 * A conditional critic ({@code D(x, y)}, as StarGAN v2's discriminator) takes the penalty with respect to one named
 * input, the others held fixed: {@link #compute(ComputationGraph, INDArray[], String, String)}.
 *
 * <p>How. {@code d‖g_i‖ = ⟨u_i, dg_i⟩} with {@code u_i = g_i / ‖g_i‖}, and by the symmetry of mixed partials
 * {@code ∂/∂θ ⟨u_i, ∇_x D(x_i; θ)⟩ = d/dh ∇_θ D(x_i + h·u_i; θ) at h = 0}: a Hessian-vector product, which a central
 * difference of two ordinary backward passes gives,
 * {@code ∇_θ P ≈ Σ_i c_i (∇_θ D(x_i + h_i u_i) - ∇_θ D(x_i - h_i u_i))}, {@code c_i = f'(‖g_i‖) / (2 h_i N)}. One
 * backward for {@code g}, then two forward + backward passes whose score gradients are {@code +c_i} and
 * {@code -c_i} per sample (backprop is linear in them); every other output of the critic gets a zero gradient.
 *
 * <p>Accuracy. Where the critic is piecewise linear in {@code x} (convolutions, biases, (leaky) ReLU) and the
 * {@code ±h·u} steps cross no kink, {@code ∇_θ D} is affine in {@code x} and the difference is exact up to rounding,
 * about {@code ε‖∇_θ D‖/h}. A step that crosses a kink adds that unit's jump in {@code ∇_θ D} divided by
 * {@code 2h}, which can swamp the result; the chance of one grows with {@code h}. The step is
 * {@code h_i = √ε · max(‖x_i‖, 1)} for the passes' data type ({@code ε} its machine epsilon), and the difference
 * is divided by the step the arithmetic actually took (the projection on {@code u_i} of {@code fl(x + h u) - x}
 * and {@code x - fl(x - h u)}). So the passes run in double by default (on a double copy of a float critic, on a
 * double critic itself): against
 * PyTorch's autograd on a small StarGAN discriminator the relative error per parameter tensor was 2e-9 to 6e-9
 * (double critic and double passes) and 1.4e-7 to 3.1e-7 for a float critic. With {@link #withPassesIn} {@code FLOAT}
 * they run on the critic itself (faster, with oneDNN): 4e-5 to 1.1e-4 for R1 on real images, but up to 15 for
 * WGAN-GP on the same critic's interpolates, where a float step crossed LeakyReLU kinks. A sample whose gradient
 * is exactly zero has no direction: it adds {@code f(0)} to the value and nothing to the gradient.
 *
 * <p>State. The three passes run in training mode, as StarGAN's, on a copy of the critic or on the critic itself;
 * then its parameters, running statistics included, are restored, so the penalty changes nothing but, when the
 * passes run on the critic, its gradient views (which every backward overwrites: copy the critic's own gradient
 * before calling this). A critic with dropout is refused,
 * because its passes would see different masks (weight noise too). StarGAN detaches {@code x̂}: nothing flows to the generator.
 */
public final class GradientPenalty {

    /** Which penalty, and how its {@code f} and {@code f'} read. */
    public enum Kind {
        /** {@code f(n) = λ (n - 1)²}. */
        WGAN_GP,
        /** {@code f(n) = γ/2 · n²}. */
        R1
    }

    /**
     * The penalty of one batch.
     *
     * @param value             {@code P}, the penalty term of the critic's loss
     * @param parameterGradient {@code ∇_θ P}, laid out as {@link ComputationGraph#params()} (a new array)
     * @param gradientNorms     {@code ‖g_i‖}, one per sample ({@code [N]}, the critic's data type)
     */
    public record Result(double value, INDArray parameterGradient, INDArray gradientNorms) {}

    private final Kind kind;
    private final double weight;
    private final DataType passes;

    private GradientPenalty(Kind kind, double weight, DataType passes) {
        if (!(weight >= 0) || Double.isInfinite(weight)) {
            throw new IllegalArgumentException(
                    (kind == Kind.WGAN_GP ? "λ" : "γ") + " must be a finite value >= 0, got " + weight);
        }
        if (passes != null && passes != DataType.DOUBLE && passes != DataType.FLOAT) {
            throw new IllegalArgumentException(
                    "the penalty passes run in DOUBLE or FLOAT (or null: the critic's" + " own type), got " + passes);
        }
        this.kind = kind;
        this.weight = weight;
        this.passes = passes;
    }

    /**
     * @param type {@code DOUBLE} (the default: a double copy of the critic runs the three passes), {@code FLOAT},
     *             or {@code null} for the critic's own type
     * @return this penalty with its passes in {@code type}
     */
    public GradientPenalty withPassesIn(DataType type) {
        return new GradientPenalty(kind, weight, type);
    }

    /**
     * @param lambda the weight λ (StarGAN: 10)
     * @return WGAN-GP's penalty {@code λ E[(‖∇_x̂ D(x̂)‖ - 1)²]}
     */
    public static GradientPenalty wganGp(double lambda) {
        return new GradientPenalty(Kind.WGAN_GP, lambda, DataType.DOUBLE);
    }

    /**
     * @param gamma the weight γ
     * @return R1's penalty {@code γ/2 E[‖∇_x D(x)‖²]} on real images
     */
    public static GradientPenalty r1(double gamma) {
        return new GradientPenalty(Kind.R1, gamma, DataType.DOUBLE);
    }

    /** @return which penalty this is */
    public Kind kind() {
        return kind;
    }

    /** @return λ or γ */
    public double weight() {
        return weight;
    }

    double f(double n) {
        return kind == Kind.WGAN_GP ? weight * (n - 1) * (n - 1) : weight / 2 * n * n;
    }

    double derivative(double n) {
        return kind == Kind.WGAN_GP ? 2 * weight * (n - 1) : weight * n;
    }

    /**
     * WGAN-GP's points: {@code α·real + (1 - α)·fake} with one {@code α ~ U(0, 1)} per sample, from ND4J's random
     * generator.
     *
     * @param real  {@code [N, ...]} real images
     * @param fake  fake images of the same shape
     * @return the interpolates, a new array
     * @throws IllegalArgumentException if the shapes differ
     */
    public static INDArray interpolates(INDArray real, INDArray fake) {
        checkSameShape(real, fake);
        return interpolates(real, fake, Nd4j.rand(real.dataType(), perSample(real)));
    }

    /**
     * WGAN-GP's points for given weights: {@code α_i·real_i + (1 - α_i)·fake_i}, computed as
     * {@code fake + (real - fake)·α}.
     *
     * @param real  {@code [N, ...]} real images
     * @param fake  fake images of the same shape
     * @param alpha the {@code N} weights of the real images, any shape with {@code N} elements (StarGAN draws them
     *              from {@code U(0, 1)})
     * @return the interpolates, a new array in {@code real}'s data type
     * @throws IllegalArgumentException if the shapes differ or {@code alpha} does not hold {@code N} elements
     */
    public static INDArray interpolates(INDArray real, INDArray fake, INDArray alpha) {
        checkSameShape(real, fake);
        Objects.requireNonNull(alpha, "alpha");
        if (alpha.length() != real.size(0)) {
            throw new IllegalArgumentException("alpha must hold one weight per sample, " + real.size(0) + ", got shape "
                    + java.util.Arrays.toString(alpha.shape()));
        }
        INDArray weights = alpha.castTo(real.dataType()).reshape(perSample(real));
        return fake.add(real.sub(fake).muli(weights));
    }

    /** @return {@code [N, 1, ..., 1]} for an {@code [N, ...]} array */
    private static long[] perSample(INDArray x) {
        long[] shape = new long[x.rank()];
        java.util.Arrays.fill(shape, 1);
        shape[0] = x.size(0);
        return shape;
    }

    private static void checkSameShape(INDArray real, INDArray fake) {
        if (!java.util.Arrays.equals(real.shape(), fake.shape())) {
            throw new IllegalArgumentException("real and fake must have the same shape, got "
                    + java.util.Arrays.toString(real.shape()) + " and " + java.util.Arrays.toString(fake.shape()));
        }
    }

    /**
     * Computes the penalty and its parameter gradient for a critic with one input.
     *
     * @param critic      the critic, with a {@code GradientTapVertex} on its input (the zoo's discriminators built
     *                    with {@code inputGradients(true)})
     * @param x           the points to penalize ({@link #interpolates} for WGAN-GP, real images for R1)
     * @param scoreOutput the critic output whose per-sample sum is {@code D(x)} (the zoo's
     *                    {@code StarGan.D_SOURCE}); other outputs get a zero gradient
     * @return the value, {@code ∇_θ P} and the per-sample gradient norms
     * @throws IllegalArgumentException if the critic has no such output, not exactly one input, no gradient tap on
     *                                  it, or dropout
     */
    public Result compute(ComputationGraph critic, INDArray x, String scoreOutput) {
        List<String> inputs = critic.getConfiguration().getNetworkInputs();
        if (inputs.size() != 1) {
            throw new IllegalArgumentException("expected a critic with one input, got inputs " + inputs
                    + "; for a conditional critic name the penalized input (compute(critic, inputs, input, score))");
        }
        return compute(critic, new INDArray[] {x}, inputs.get(0), scoreOutput);
    }

    /**
     * Computes the penalty and its parameter gradient for a critic with several inputs, with respect to one of them;
     * the others are held fixed (a conditional critic's labels: StarGAN v2's discriminator {@code D(x, y)} takes
     * R1 with respect to {@code x} at the real images' own domains {@code y}).
     *
     * @param critic      the critic, with a {@code GradientTapVertex} on the penalized input (the zoo's
     *                    discriminators built with {@code inputGradients(true)})
     * @param inputs      the critic's inputs in the order of its network inputs; the penalized one holds the points
     * @param penalized   the name of the input the gradient is taken with respect to
     * @param scoreOutput the critic output whose per-sample sum is {@code D(x)}; other outputs get a zero gradient
     * @return the value, {@code ∇_θ P} and the per-sample gradient norms
     * @throws IllegalArgumentException if the critic has no such output or input, the number of inputs does not
     *                                  match, there is no gradient tap on the penalized input, or dropout
     */
    public Result compute(ComputationGraph critic, INDArray[] inputs, String penalized, String scoreOutput) {
        ComputationGraphConfiguration conf = critic.getConfiguration();
        List<String> outputs = conf.getNetworkOutputs();
        int score = outputs.indexOf(scoreOutput);
        if (score < 0) {
            throw new IllegalArgumentException(
                    "the critic has no output '" + scoreOutput + "'; its outputs: " + outputs);
        }
        List<String> names = conf.getNetworkInputs();
        int at = names.indexOf(penalized);
        if (at < 0) {
            throw new IllegalArgumentException("the critic has no input '" + penalized + "'; its inputs: " + names);
        }
        Objects.requireNonNull(inputs, "inputs");
        if (inputs.length != names.size()) {
            throw new IllegalArgumentException(
                    "the critic takes the inputs " + names + ", got " + inputs.length + " arrays");
        }
        String tap = tapOf(conf, penalized);
        for (Layer layer : critic.getLayers()) {
            if (layer.conf().getLayer() instanceof BaseLayer base && base.getIDropout() != null) {
                throw new IllegalArgumentException(
                        "layer '" + layer.conf().getLayer().getLayerName()
                                + "' has dropout: the penalty's three passes would see different masks; build the critic"
                                + " without dropout");
            }
        }
        for (int k = 0; k < inputs.length; k++) {
            Objects.requireNonNull(inputs[k], names.get(k));
        }
        DataType criticType = critic.params().dataType();
        DataType type = passes == null ? criticType : passes;
        // A copy in another type leaves the critic's own state alone; the critic itself is restored afterwards.
        ComputationGraph work = type == criticType ? critic : critic.convertDataType(type);
        INDArray[] in = new INDArray[inputs.length];
        for (int k = 0; k < in.length; k++) {
            in[k] = inputs[k].castTo(type);
        }
        INDArray points = in[at];
        long n = points.size(0);
        INDArray state = work == critic && hasState(critic) ? critic.params().dup() : null;
        try {
            // 1. g = ∇_x Σ score(x): an ordinary backward with a gradient of ones on the score.
            double[] ones = new double[(int) n];
            java.util.Arrays.fill(ones, 1);
            backward(work, in, outputs, score, ones, 1);
            INDArray g = tapGradient(work, tap).reshape(n, -1).castTo(DataType.DOUBLE);
            INDArray norms = g.norm2(1);

            // 2. Steps h_i along u_i; taken_i ≈ h_i is the step the arithmetic took, projected on u_i.
            double eps = type == DataType.DOUBLE ? Math.ulp(1.0) : Math.ulp(1.0f);
            INDArray flat = points.reshape(n, -1);
            INDArray xNorms = flat.castTo(DataType.DOUBLE).norm2(1);
            double[] h = new double[(int) n];
            INDArray u = g.dup();
            for (int i = 0; i < n; i++) {
                double norm = norms.getDouble(i);
                h[i] = norm > 0 ? Math.sqrt(eps) * Math.max(xNorms.getDouble(i), 1) : 0;
                u.getRow(i).divi(norm > 0 ? norm : 1);
            }
            INDArray step =
                    u.mulColumnVector(Nd4j.createFromArray(h).reshape(n, 1)).castTo(type);
            INDArray plus = flat.add(step);
            INDArray minus = flat.sub(step);
            INDArray taken = plus.castTo(DataType.DOUBLE)
                    .sub(minus.castTo(DataType.DOUBLE))
                    .muli(u)
                    .sum(1)
                    .divi(2);
            double value = 0;
            double[] c = new double[(int) n];
            for (int i = 0; i < n; i++) {
                double norm = norms.getDouble(i);
                value += f(norm) / n;
                double hi = taken.getDouble(i);
                c[i] = norm > 0 && hi > 0 ? derivative(norm) / (2 * hi * n) : 0;
            }

            // 3. ∇_θ P = backward(+c at x + h u) + backward(-c at x - h u).
            in[at] = plus.reshape(points.shape());
            INDArray gradient = backward(work, in, outputs, score, c, 1).dup();
            in[at] = minus.reshape(points.shape());
            gradient.addi(backward(work, in, outputs, score, c, -1));
            return new Result(value, gradient.castTo(criticType), norms.castTo(criticType));
        } finally {
            if (state != null) {
                critic.params().assign(state);
            }
        }
    }

    /**
     * A training forward at {@code inputs} and the backward of {@code sign · Σ_i w_i Σ score(x_i)} (zero for every
     * other output); returns the critic's parameter-gradient view, which the next backward overwrites.
     */
    private static INDArray backward(
            ComputationGraph critic, INDArray[] inputs, List<String> outputs, int score, double[] w, double sign) {
        Map<String, INDArray> out = critic.feedForward(inputs, true, false);
        INDArray[] epsilons = new INDArray[outputs.size()];
        for (int k = 0; k < outputs.size(); k++) {
            INDArray o = out.get(outputs.get(k));
            if (k != score) {
                epsilons[k] = Nd4j.zerosLike(o);
                continue;
            }
            long[] perSample = new long[o.rank()];
            java.util.Arrays.fill(perSample, 1);
            perSample[0] = o.size(0);
            INDArray weights =
                    Nd4j.createFromArray(w).muli(sign).castTo(o.dataType()).reshape(perSample);
            epsilons[k] = Nd4j.zerosLike(o).addi(weights);
        }
        return critic.backpropGradient(epsilons).gradient();
    }

    private static String tapOf(ComputationGraphConfiguration conf, String input) {
        for (Map.Entry<String, List<String>> e : conf.getVertexInputs().entrySet()) {
            if (e.getValue().equals(List.of(input))
                    && conf.getVertices().get(e.getKey()) instanceof GradientTapVertex) {
                return e.getKey();
            }
        }
        throw new IllegalArgumentException("the critic records no gradient for its input '" + input + "': put a "
                + "GradientTapVertex on it (the zoo's discriminators: build with inputGradients(true))");
    }

    private static INDArray tapGradient(ComputationGraph critic, String tap) {
        if (!(critic.getVertex(tap) instanceof io.github.instancenorm.zoo.layers.graph.GradientTapVertex vertex)
                || vertex.lastGradient() == null) {
            throw new IllegalStateException("gradient tap '" + tap + "' recorded nothing");
        }
        return vertex.lastGradient();
    }

    /** Layers whose training forward changes parameters (running statistics). */
    private static boolean hasState(ComputationGraph critic) {
        for (Layer layer : critic.getLayers()) {
            Object conf = layer.conf().getLayer();
            if (conf instanceof BatchNormalization
                    || conf instanceof InstanceNormalization in && in.isTrackRunningStats()) {
                return true;
            }
        }
        return false;
    }
}
