package io.github.instancenorm.train;

import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.speedups.layers.FastLayers;
import io.github.instancenorm.zoo.StarGanV2;
import io.github.instancenorm.zoo.gan.GradientPenalty;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * StarGAN v2's training losses (Choi et al., CVPR 2020; the objective of clovaai/stargan-v2's solver at 875b70a) on
 * the zoo's DL4J graphs: every loss term of one discriminator or generator step, and the gradient of the step's
 * loss with respect to every network's parameters, computed by hand-driven backward passes (the losses' output
 * gradients are formed here and fed to {@link ComputationGraph#backpropGradient(INDArray...)}; image and style
 * gradients are chained between the networks through their input taps). Nothing is updated: the gradients are
 * returned for an optimizer to apply.
 *
 * <p>Notation: {@code G(x, s)} the generator, {@code F(z, y)} the mapping network, {@code E(x, y)} the style
 * encoder, {@code D(x, y)} the discriminator's logit for domain {@code y}; {@code y_org} the real images' domains,
 * {@code y_trg} the target domains (one-hot {@code [N, K]}); {@code BCE(l, t)} binary cross-entropy with logits,
 * averaged over the batch; {@code mean} averages over every element. The style {@code s_trg} comes from a latent
 * code, {@code F(z_trg, y_trg)}, or from a reference image, {@code E(x_ref, y_trg)} (the {@code ...Latent} and
 * {@code ...Reference} methods).
 *
 * <p><b>Discriminator</b> ({@link #discriminatorLatent}, {@link #discriminatorReference}):
 * <pre>
 *   real  = BCE(D(x_real, y_org), 1)
 *   R1    = 0.5 · (1/N) Σ_i ‖∇_x D(x_real_i, y_org_i)‖²        (sum over the pixels, mean over the batch)
 *   fake  = BCE(D(G(x_real, s_trg), y_trg), 0)                  (x_fake and s_trg computed without gradients)
 *   L_D   = real + fake + λ_reg · R1
 * </pre>
 * Only {@code D} gets a gradient. R1's parameter gradient needs the gradient of a gradient, which DL4J cannot take:
 * {@link GradientPenalty#r1} gives it by a central difference of two ordinary backward passes, by default on a
 * double copy of the discriminator ({@link #r1PassesIn}).
 *
 * <p><b>Generator</b> ({@link #generatorLatent}, {@link #generatorReference}):
 * <pre>
 *   s_trg  = F(z_trg, y_trg)  or  E(x_ref, y_trg)
 *   x_fake = G(x_real, s_trg)
 *   adv    = BCE(D(x_fake, y_trg), 1)
 *   sty    = mean |E(x_fake, y_trg) - s_trg|
 *   s_trg2 = F(z_trg2, y_trg) or  E(x_ref2, y_trg);   x_fake2 = G(x_real, s_trg2), without gradients
 *   ds     = mean |x_fake - x_fake2|
 *   x_rec  = G(x_fake, E(x_real, y_org))
 *   cyc    = mean |x_rec - x_real|
 *   L_G    = adv + λ_sty · sty - λ_ds · ds + λ_cyc · cyc
 * </pre>
 * and optionally, not StarGAN v2's, {@code + λ_id · mean |G(x_real, E(x_real, y_org)) - x_real|}
 * ({@link Weights#id()}, 0 by default).
 * Gradients flow into {@code G} (both passes), into {@code F} through {@code s_trg} (latent), into {@code E} through
 * {@code E(x_fake)}, through {@code s_org = E(x_real, y_org)} and, for a reference, through {@code s_trg}; and into
 * {@code D}'s parameters through {@code adv}, which is returned too although StarGAN v2's solver discards it (it
 * clears the gradients before each step). Which networks a step then updates is the optimizer's business: the
 * official solver updates {@code G}, {@code F} and {@code E} after the latent step and {@code G} alone after the
 * reference step.
 *
 * <p>Graphs: the four networks of {@link StarGanV2} with input taps ({@link StarGanV2#withInputGradients}, or built
 * with {@code inputGradients(true)}), generator with {@code w_hpf = 0} (with {@code w_hpf > 0} the cycle's
 * generator pass takes the masks of a face-landmark network on {@code x_fake}, FAN, which is not ported). Every pass
 * runs in training mode, as the official solver's (these networks have no layer that behaves otherwise). The
 * generator runs twice with gradients ({@code x_fake}, then {@code x_rec} from it), so a twin graph shares its
 * parameter array for the second pass, as {@link StarGanTrainer}'s; the style encoder's passes are ordered so that
 * each backward follows its own forward (the reference's {@code E(x_ref)} is recomputed before its backward). The
 * computations overwrite the graphs' gradient views and stored activations, not their parameters. Not thread-safe.
 */
public final class StarGanV2Losses {

    /**
     * The loss weights.
     *
     * @param reg {@code λ_reg}, R1's weight in the discriminator loss (official: 1)
     * @param sty {@code λ_sty}, the style reconstruction loss (official: 1)
     * @param ds  {@code λ_ds}, the diversity-sensitive loss, subtracted (official: 2 at the start, decayed linearly
     *            to 0 over {@code ds_iter} iterations; the caller passes the current value)
     * @param cyc {@code λ_cyc}, the cycle loss (official: 1)
     * @param id  {@code λ_id}, an identity-reconstruction loss that is not StarGAN v2's (0 turns it off, the
     *            official setting): {@code mean |G(x_real, E(x_real, y_org)) - x_real|}, the input rebuilt from its own
     *            style. Like the identity-mapping term of the StarGAN v1 trainer, it teaches the generator to keep
     *            the content, and the style encoder to capture the style, in far fewer iterations than the cycle
     *            alone
     */
    public record Weights(double reg, double sty, double ds, double cyc, double id) {

        /** StarGAN v2's defaults at the first iteration: {@code λ_reg 1, λ_sty 1, λ_ds 2, λ_cyc 1}, no identity term. */
        public static final Weights OFFICIAL = new Weights(1, 1, 2, 1);

        /** Checks that every weight is finite and not negative. */
        public Weights {
            for (double w : new double[] {reg, sty, ds, cyc, id}) {
                if (!(w >= 0) || Double.isInfinite(w)) {
                    throw new IllegalArgumentException("loss weights must be finite and >= 0, got reg " + reg + ", sty "
                            + sty + ", ds " + ds + ", cyc " + cyc + ", id " + id);
                }
            }
        }

        /**
         * StarGAN v2's weights, without the identity term.
         *
         * @param reg {@code λ_reg}
         * @param sty {@code λ_sty}
         * @param ds  {@code λ_ds}
         * @param cyc {@code λ_cyc}
         */
        public Weights(double reg, double sty, double ds, double cyc) {
            this(reg, sty, ds, cyc, 0);
        }

        /** @return these weights with {@code λ_ds} replaced (its linear decay) */
        public Weights withDs(double ds) {
            return new Weights(reg, sty, ds, cyc, id);
        }
    }

    /**
     * The discriminator loss of one batch.
     *
     * @param real                  {@code BCE(D(x_real, y_org), 1)}
     * @param fake                  {@code BCE(D(x_fake, y_trg), 0)}
     * @param reg                   {@code R1}, unweighted
     * @param total                 {@code real + fake + λ_reg · R1}
     * @param discriminatorGradient {@code ∇ L_D} with respect to {@code D}'s parameters, laid out as its
     *                              {@link ComputationGraph#params()} (a new array); the other networks get none
     */
    public record DiscriminatorLoss(
            double real, double fake, double reg, double total, INDArray discriminatorGradient) {}

    /**
     * The generator loss of one batch; each gradient is a new array laid out as its network's
     * {@link ComputationGraph#params()}.
     *
     * @param adv                   {@code BCE(D(x_fake, y_trg), 1)}
     * @param sty                   {@code mean |E(x_fake, y_trg) - s_trg|}
     * @param ds                    {@code mean |x_fake - x_fake2|}
     * @param cyc                   {@code mean |G(x_fake, s_org) - x_real|}
     * @param total                 {@code adv + λ_sty · sty - λ_ds · ds + λ_cyc · cyc}
     * @param generatorGradient     {@code ∇ L_G} for {@code G}
     * @param mappingGradient       for {@code F}: zeros in a reference step, which does not use it
     * @param styleEncoderGradient  for {@code E}
     * @param discriminatorGradient for {@code D}, through {@code adv} (the official solver discards it)
     */
    public record GeneratorLoss(
            double adv,
            double sty,
            double ds,
            double cyc,
            double id,
            double total,
            INDArray generatorGradient,
            INDArray mappingGradient,
            INDArray styleEncoderGradient,
            INDArray discriminatorGradient) {}

    private static final String X = StarGanV2.IMAGE;
    private static final String S = StarGanV2.STYLE;
    private static final String OUT = StarGanV2.OUTPUT;

    private final ComputationGraph generator;
    private final ComputationGraph twin;
    private final ComputationGraph mapping;
    private final ComputationGraph encoder;
    private final ComputationGraph discriminator;
    private GradientPenalty r1 = GradientPenalty.r1(1);

    /**
     * @param generator     {@code G}, {@code w_hpf = 0}, with taps on its image and style inputs
     * @param mapping       {@code F}
     * @param styleEncoder  {@code E}, with a tap on its image input
     * @param discriminator {@code D}, with a tap on its image input
     * @throws IllegalArgumentException if a network lacks its taps, or the generator takes masks
     */
    public StarGanV2Losses(
            ComputationGraph generator,
            ComputationGraph mapping,
            ComputationGraph styleEncoder,
            ComputationGraph discriminator) {
        this.generator = Objects.requireNonNull(generator, "generator");
        this.mapping = Objects.requireNonNull(mapping, "mapping");
        this.encoder = Objects.requireNonNull(styleEncoder, "styleEncoder");
        this.discriminator = Objects.requireNonNull(discriminator, "discriminator");
        List<String> inputs = generator.getConfiguration().getNetworkInputs();
        if (!inputs.equals(List.of(X, S))) {
            throw new IllegalArgumentException(
                    "expected a StarGAN v2 generator with w_hpf = 0 and the inputs " + List.of(X, S) + ", got " + inputs
                            + ": with w_hpf > 0 the cycle needs FAN's masks of x_fake, which is not ported");
        }
        requireTap(generator, StarGanV2.IMAGE_GRADIENT, "generator");
        requireTap(generator, StarGanV2.STYLE_GRADIENT, "generator");
        requireTap(styleEncoder, StarGanV2.IMAGE_GRADIENT, "style encoder");
        requireTap(discriminator, StarGanV2.IMAGE_GRADIENT, "discriminator");
        this.twin = new ComputationGraph(generator.getConfiguration().clone());
        this.twin.init(generator.params(), false); // shares the generator's parameters
        FastConvolutions.install(twin);
        FastLayers.install(twin);
    }

    private static void requireTap(ComputationGraph graph, String tap, String what) {
        if (graph.getConfiguration().getVertices().get(tap) == null) {
            throw new IllegalArgumentException("the " + what + " records no input gradient \"" + tap
                    + "\": pass StarGanV2.withInputGradients(net), or build it with inputGradients(true)");
        }
    }

    /**
     * @param type where R1's three passes run: {@code DOUBLE} (the default: on a double copy of the
     *             discriminator), {@code FLOAT}, or {@code null} for the discriminator's own type; see
     *             {@link GradientPenalty#withPassesIn}
     * @return this
     */
    public StarGanV2Losses r1PassesIn(DataType type) {
        this.r1 = GradientPenalty.r1(1).withPassesIn(type);
        return this;
    }

    /**
     * The discriminator loss with a latent-guided fake: {@code s_trg = F(z_trg, y_trg)}.
     *
     * @param xReal {@code [N, 3, H, W]} real images
     * @param yOrg  their domains, one-hot {@code [N, K]}
     * @param yTrg  the target domains, one-hot {@code [N, K]}
     * @param zTrg  latent codes {@code [N, latent_dim]}
     * @param w     the loss weights (only {@code λ_reg} is used)
     * @return the terms and {@code D}'s gradient
     */
    public DiscriminatorLoss discriminatorLatent(
            INDArray xReal, INDArray yOrg, INDArray yTrg, INDArray zTrg, Weights w) {
        check(xReal, yOrg, yTrg, zTrg, null);
        return discriminatorLoss(xReal, yOrg, yTrg, mapping.outputSingle(true, zTrg, yTrg), w);
    }

    /**
     * The discriminator loss with a reference-guided fake: {@code s_trg = E(x_ref, y_trg)}.
     *
     * @param xReal {@code [N, 3, H, W]} real images
     * @param yOrg  their domains, one-hot {@code [N, K]}
     * @param yTrg  the target domains (the references' domains), one-hot {@code [N, K]}
     * @param xRef  reference images {@code [N, 3, H, W]}
     * @param w     the loss weights (only {@code λ_reg} is used)
     * @return the terms and {@code D}'s gradient
     */
    public DiscriminatorLoss discriminatorReference(
            INDArray xReal, INDArray yOrg, INDArray yTrg, INDArray xRef, Weights w) {
        check(xReal, yOrg, yTrg, xRef, null);
        return discriminatorLoss(xReal, yOrg, yTrg, encoder.outputSingle(true, xRef, yTrg), w);
    }

    /**
     * The generator loss with latent-guided styles: {@code s_trg = F(z_trg, y_trg)}, {@code s_trg2 = F(z_trg2, y_trg)}.
     *
     * @param xReal {@code [N, 3, H, W]} real images
     * @param yOrg  their domains, one-hot {@code [N, K]}
     * @param yTrg  the target domains, one-hot {@code [N, K]}
     * @param zTrg  latent codes {@code [N, latent_dim]}
     * @param zTrg2 a second set of latent codes, for the diversity term
     * @param w     the loss weights
     * @return the terms and the gradients of {@code G}, {@code F}, {@code E} and {@code D}
     */
    public GeneratorLoss generatorLatent(
            INDArray xReal, INDArray yOrg, INDArray yTrg, INDArray zTrg, INDArray zTrg2, Weights w) {
        check(xReal, yOrg, yTrg, zTrg, zTrg2);
        return generatorLoss(xReal, yOrg, yTrg, zTrg, zTrg2, true, w);
    }

    /**
     * The generator loss with reference-guided styles: {@code s_trg = E(x_ref, y_trg)},
     * {@code s_trg2 = E(x_ref2, y_trg)}.
     *
     * @param xReal {@code [N, 3, H, W]} real images
     * @param yOrg  their domains, one-hot {@code [N, K]}
     * @param yTrg  the target domains (the references' domains), one-hot {@code [N, K]}
     * @param xRef  reference images {@code [N, 3, H, W]}
     * @param xRef2 a second set of references of the same domains, for the diversity term
     * @param w     the loss weights
     * @return the terms and the gradients of {@code G}, {@code E} and {@code D} ({@code F}'s are zeros)
     */
    public GeneratorLoss generatorReference(
            INDArray xReal, INDArray yOrg, INDArray yTrg, INDArray xRef, INDArray xRef2, Weights w) {
        check(xReal, yOrg, yTrg, xRef, xRef2);
        return generatorLoss(xReal, yOrg, yTrg, xRef, xRef2, false, w);
    }

    private DiscriminatorLoss discriminatorLoss(
            INDArray xReal, INDArray yOrg, INDArray yTrg, INDArray sTrg, Weights w) {
        // R1 first: its passes run on a double copy (by default) or on D itself, whose gradient view they overwrite.
        GradientPenalty.Result penalty = r1.compute(discriminator, new INDArray[] {xReal, yOrg}, X, OUT);
        INDArray xFake = generator.outputSingle(true, xReal, sTrg);

        INDArray outReal = discriminator
                .feedForward(new INDArray[] {xReal, yOrg}, true, false)
                .get(OUT);
        double real = bceWithLogits(outReal, 1);
        INDArray gradient =
                discriminator.backpropGradient(bceGrad(outReal, 1)).gradient().dup();
        INDArray outFake = discriminator
                .feedForward(new INDArray[] {xFake, yTrg}, true, false)
                .get(OUT);
        double fake = bceWithLogits(outFake, 0);
        gradient.addi(discriminator.backpropGradient(bceGrad(outFake, 0)).gradient());
        gradient.addi(penalty.parameterGradient().mul(w.reg()));
        return new DiscriminatorLoss(real, fake, penalty.value(), real + fake + w.reg() * penalty.value(), gradient);
    }

    private GeneratorLoss generatorLoss(
            INDArray xReal, INDArray yOrg, INDArray yTrg, INDArray first, INDArray second, boolean latent, Weights w) {
        ComputationGraph styles = latent ? mapping : encoder;

        // Identity (not StarGAN v2's; off by default): λ_id · mean|G(x_real, E(x_real, y_org)) - x_real|, forward and
        // backward done before the other passes overwrite the graphs' activations.
        double id = 0;
        INDArray gIdentity = null;
        INDArray eIdentity = null;
        if (w.id() > 0) {
            INDArray sOwn = encoder.feedForward(new INDArray[] {xReal, yOrg}, true, false)
                    .get(OUT);
            INDArray xId = generator
                    .feedForward(new INDArray[] {xReal, sOwn}, true, false)
                    .get(OUT);
            INDArray idDiff = xId.sub(xReal);
            id = meanAbs(idDiff);
            gIdentity = generator
                    .backpropGradient(Transforms.sign(idDiff, false).muli(w.id() / idDiff.length()))
                    .gradient()
                    .dup();
            INDArray dsOwn = StarGanV2.inputGradient(generator, S).dup();
            eIdentity = encoder.backpropGradient(dsOwn).gradient().dup();
        }

        // The diversity term's second translation, without gradients; then s_trg, whose activations the final
        // backward through F uses (for a reference, E runs again before its backward).
        INDArray sTrg2 = styles.outputSingle(true, second, yTrg);
        INDArray xFake2 = generator.outputSingle(true, xReal, sTrg2);
        INDArray sTrg =
                styles.feedForward(new INDArray[] {first, yTrg}, true, false).get(OUT);
        INDArray xFake =
                generator.feedForward(new INDArray[] {xReal, sTrg}, true, false).get(OUT);

        // Diversity: -λ_ds · mean|x_fake - x_fake2|, x_fake2 a constant.
        INDArray diff = xFake.sub(xFake2);
        double ds = meanAbs(diff);
        INDArray dxFake = Transforms.sign(diff, false).muli(-w.ds() / diff.length());

        // Adversarial: D(x_fake, y_trg) -> real.
        INDArray out = discriminator
                .feedForward(new INDArray[] {xFake, yTrg}, true, false)
                .get(OUT);
        double adv = bceWithLogits(out, 1);
        INDArray dGradient =
                discriminator.backpropGradient(bceGrad(out, 1)).gradient().dup();
        dxFake.addi(StarGanV2.inputGradient(discriminator, X));

        // Style reconstruction: λ_sty · mean|E(x_fake, y_trg) - s_trg|, with gradients into both.
        INDArray sPred =
                encoder.feedForward(new INDArray[] {xFake, yTrg}, true, false).get(OUT);
        INDArray styleDiff = sPred.sub(sTrg);
        double sty = meanAbs(styleDiff);
        INDArray dsPred = Transforms.sign(styleDiff, false).muli(w.sty() / styleDiff.length());
        INDArray dsTrg = dsPred.neg();
        INDArray eGradient = encoder.backpropGradient(dsPred).gradient().dup();
        dxFake.addi(StarGanV2.inputGradient(encoder, X));

        // Cycle: λ_cyc · mean|G(x_fake, E(x_real, y_org)) - x_real|, through the twin (G's second pass) and E.
        INDArray sOrg =
                encoder.feedForward(new INDArray[] {xReal, yOrg}, true, false).get(OUT);
        INDArray xRec =
                twin.feedForward(new INDArray[] {xFake, sOrg}, true, false).get(OUT);
        INDArray recDiff = xRec.sub(xReal);
        double cyc = meanAbs(recDiff);
        INDArray gGradient = twin.backpropGradient(
                        Transforms.sign(recDiff, false).muli(w.cyc() / recDiff.length()))
                .gradient()
                .dup();
        dxFake.addi(StarGanV2.inputGradient(twin, X));
        INDArray dsOrg = StarGanV2.inputGradient(twin, S).dup();
        eGradient.addi(encoder.backpropGradient(dsOrg).gradient());

        // Back through the translation x_fake = G(x_real, s_trg), then into the style's source.
        gGradient.addi(generator.backpropGradient(dxFake).gradient());
        dsTrg.addi(StarGanV2.inputGradient(generator, S));
        INDArray fGradient;
        if (latent) {
            fGradient = mapping.backpropGradient(dsTrg).gradient().dup();
        } else {
            encoder.feedForward(new INDArray[] {first, yTrg}, true, false);
            eGradient.addi(encoder.backpropGradient(dsTrg).gradient());
            fGradient = Nd4j.zerosLike(mapping.params());
        }
        if (gIdentity != null) {
            gGradient.addi(gIdentity);
            eGradient.addi(eIdentity);
        }
        double total = adv + w.sty() * sty - w.ds() * ds + w.cyc() * cyc + w.id() * id;
        return new GeneratorLoss(adv, sty, ds, cyc, id, total, gGradient, fGradient, eGradient, dGradient);
    }

    private static void check(INDArray xReal, INDArray yOrg, INDArray yTrg, INDArray a, INDArray b) {
        Objects.requireNonNull(xReal, "xReal");
        Objects.requireNonNull(yOrg, "yOrg");
        Objects.requireNonNull(yTrg, "yTrg");
        Objects.requireNonNull(a, "the style source (z_trg or x_ref)");
        if (xReal.rank() != 4) {
            throw new IllegalArgumentException("xReal must be [N, 3, H, W], got " + Arrays.toString(xReal.shape()));
        }
        long n = xReal.size(0);
        for (INDArray other : new INDArray[] {yOrg, yTrg, a, b}) {
            if (other != null && other.size(0) != n) {
                throw new IllegalArgumentException(
                        "every input must hold the " + n + " samples of xReal, got " + Arrays.toString(other.shape()));
            }
        }
        if (yOrg.rank() != 2 || !Arrays.equals(yOrg.shape(), yTrg.shape())) {
            throw new IllegalArgumentException("yOrg and yTrg must be one-hot [N, K] of one shape, got "
                    + Arrays.toString(yOrg.shape()) + " and " + Arrays.toString(yTrg.shape()));
        }
    }

    /** {@code mean |diff|} in double; {@code diff} is left alone (castTo returns the array itself when double). */
    private static double meanAbs(INDArray diff) {
        return Transforms.abs(diff.castTo(DataType.DOUBLE), true).meanNumber().doubleValue();
    }

    /** {@code BCE(logits, target)} averaged over the batch, in double, in the stable form. */
    private static double bceWithLogits(INDArray logits, double target) {
        INDArray z = logits.castTo(DataType.DOUBLE);
        // max(z, 0) - z * t + log(1 + exp(-|z|))
        INDArray loss = Transforms.relu(z, true)
                .subi(z.mul(target))
                .addi(Transforms.log(
                        Transforms.exp(Transforms.abs(z, true).negi(), false).addi(1), false));
        return loss.sumNumber().doubleValue() / logits.size(0);
    }

    /** The gradient of {@link #bceWithLogits} with respect to the logits: {@code (σ(z) - t) / N}. */
    private static INDArray bceGrad(INDArray logits, double target) {
        return Transforms.sigmoid(logits, true).subi(target).divi(logits.size(0));
    }
}
