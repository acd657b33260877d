package io.github.instancenorm.train;

import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.speedups.updater.GraphUpdates;
import io.github.instancenorm.zoo.StarGan;
import io.github.instancenorm.zoo.gan.GradientPenalty;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * StarGAN's training step on DL4J graphs driven by hand: the discriminator learns real/fake and the domains of
 * real images; the generator learns to fool it, to produce the target domains and to reconstruct the input from
 * its translation (cycle consistency, L1, weight 10).
 *
 * <p>Optionally, and not part of StarGAN, the generator also learns to leave an image alone when asked for the
 * domains it already has: the identity-mapping loss of CycleGAN (Zhu et al., 2017), {@code |G(x, c) - x|} (L1)
 * with weight {@link LossWeights#identity()}. StarGAN keeps the content through the cycle loss alone, which is too slow
 * for a run of minutes: on the generated shapes, PyTorch's StarGAN (conv_dim 8, 2 residual blocks) reached a mask
 * IoU of 0.37 after 600 iterations without the identity term and 0.79 with it (weight 10). With
 * {@link LossWeights#STARGAN} the step is StarGAN's.
 *
 * <p>The adversarial loss is the least-squares GAN loss (Mao et al., 2017) by default: the discriminator pushes
 * real scores to 1 and fake scores to 0, the generator pushes fake scores to 1. {@link #wganGp} switches to
 * StarGAN's own WGAN-GP, whose gradient penalty ({@link GradientPenalty}) needs the gradient of a gradient, which
 * DL4J cannot take by differentiating its own backward pass. The domain loss is StarGAN's: binary cross-entropy with
 * logits, summed over attributes, averaged over the batch.
 *
 * <p>The generator runs twice in a row for the cycle (translation, then reconstruction) with one set of weights:
 * a twin graph shares the generator's parameter array, so both passes also update the same running statistics,
 * as the PyTorch forwards of {@code G} do. The translation is computed once per iteration and serves the
 * discriminator's step and the generator's (StarGAN computes it twice with the same weights). The losses'
 * gradients with respect to the graph outputs are computed here and fed to
 * {@link ComputationGraph#backpropGradient(INDArray...)}; the gradients with respect to the generated image come
 * back through {@link StarGan#imageGradient(ComputationGraph)}.
 */
public final class StarGanTrainer {

    /**
     * The weights of the generator's losses besides the adversarial one.
     *
     * @param classification  the domain classification loss (also the discriminator's, on real images)
     * @param reconstruction  the cycle reconstruction loss (L1)
     * @param identity        the identity-mapping loss (L1; not StarGAN's, 0 turns it off)
     */
    public record LossWeights(double classification, double reconstruction, double identity) {

        /** StarGAN's {@code lambda_cls = 1}, {@code lambda_rec = 10}, and no identity term. */
        public static final LossWeights STARGAN = new LossWeights(1, 10, 0);

        /** Checks that no weight is negative or NaN. */
        public LossWeights {
            for (double w : new double[] {classification, reconstruction, identity}) {
                if (!(w >= 0)) {
                    throw new IllegalArgumentException("loss weights must be >= 0, got classification " + classification
                            + ", reconstruction " + reconstruction + ", identity " + identity);
                }
            }
        }

        /** @return these weights with the classification weight replaced */
        public LossWeights withClassification(double weight) {
            return new LossWeights(weight, reconstruction, identity);
        }

        /** @return these weights with the reconstruction weight replaced */
        public LossWeights withReconstruction(double weight) {
            return new LossWeights(classification, weight, identity);
        }

        /** @return these weights with the identity weight replaced */
        public LossWeights withIdentity(double weight) {
            return new LossWeights(classification, reconstruction, weight);
        }
    }

    /**
     * The adversarial objective.
     *
     * <ul>
     *   <li>{@code LSGAN}: least squares (Mao et al., 2017), real scores to 1 and fake ones to 0; one discriminator
     *       and one generator step per iteration;</li>
     *   <li>{@code WGAN_GP}: StarGAN's, {@code -D(real) + D(fake) + λ_gp·GP} for the critic with the gradient penalty on
     *       interpolates ({@link GradientPenalty#wganGp}), {@code -D(G(x))} for the generator; one critic step per
     *       iteration and a generator step every {@code nCritic} iterations.</li>
     * </ul>
     */
    public enum Objective {
        LSGAN,
        WGAN_GP
    }

    /**
     * Loss values of one iteration; the generator's are NaN in an iteration without a generator step.
     *
     * @param dPenalty the gradient penalty's value (WGAN-GP), 0 for LSGAN
     */
    public record Losses(
            double dReal,
            double dFake,
            double dClass,
            double dPenalty,
            double gAdversarial,
            double gClass,
            double gReconstruction,
            double gIdentity) {}

    private final ComputationGraph generator;
    private final ComputationGraph twin;
    private final ComputationGraph discriminator;
    private final String generatorOutput;
    private final double lambdaClass;
    private final double lambdaReconstruction;
    private final double lambdaIdentity;
    private Objective objective = Objective.LSGAN;
    private GradientPenalty penalty;
    private int nCritic = 1;
    private int iteration;

    /**
     * A trainer for freshly built networks.
     *
     * @param generator     built with {@code StarGan.generator()...inputGradients(true)}
     * @param discriminator built with {@code StarGan.discriminator()...inputGradients(true)}
     * @param weights       the loss weights, e.g. {@code LossWeights.STARGAN.withIdentity(10)}
     */
    public StarGanTrainer(ComputationGraph generator, ComputationGraph discriminator, LossWeights weights) {
        this(generator, discriminator, weights, 0);
    }

    /**
     * A trainer that continues where a checkpoint left off.
     *
     * @param generator           built with {@code StarGan.generator()...inputGradients(true)}
     * @param discriminator       built with {@code StarGan.discriminator()...inputGradients(true)}
     * @param weights             the loss weights
     * @param completedIterations the iterations already done (the updaters' bias correction counts from them)
     */
    public StarGanTrainer(
            ComputationGraph generator, ComputationGraph discriminator, LossWeights weights, int completedIterations) {
        if (completedIterations < 0) {
            throw new IllegalArgumentException("completedIterations must be >= 0, got " + completedIterations);
        }
        List<String> outputs = generator.getConfiguration().getNetworkOutputs();
        if (outputs.size() != 1) {
            throw new IllegalArgumentException("expected a StarGAN generator with one output, got outputs " + outputs);
        }
        this.generator = generator;
        this.discriminator = discriminator;
        this.generatorOutput = outputs.get(0);
        this.lambdaClass = weights.classification();
        this.lambdaReconstruction = weights.reconstruction();
        this.lambdaIdentity = weights.identity();
        this.iteration = completedIterations;
        this.twin = new ComputationGraph(generator.getConfiguration().clone());
        this.twin.init(generator.params(), false); // shares weights and running statistics
        FastConvolutions.install(twin);
    }

    /** @return the number of iterations done */
    public int iteration() {
        return iteration;
    }

    /**
     * Switches to StarGAN's WGAN-GP objective; without this call the trainer uses LSGAN.
     *
     * @param lambdaGp the gradient penalty's weight (StarGAN: 10)
     * @param nCritic  critic steps per generator step (StarGAN: 5)
     * @return this trainer
     */
    public StarGanTrainer wganGp(double lambdaGp, int nCritic) {
        if (nCritic < 1) {
            throw new IllegalArgumentException("nCritic must be >= 1, got " + nCritic);
        }
        this.penalty = GradientPenalty.wganGp(lambdaGp);
        this.objective = Objective.WGAN_GP;
        this.nCritic = nCritic;
        return this;
    }

    /** @return the adversarial objective */
    public Objective objective() {
        return objective;
    }

    /**
     * One iteration on a batch: a discriminator step, and a generator step (LSGAN: always; WGAN-GP: when the
     * iterations done so far are a multiple of {@code nCritic}, as StarGAN's {@code (i+1) % n_critic == 0}).
     *
     * @param real        {@code [N, 3, S, S]} images in [-1, 1]
     * @param labels      their {@code [N, L]} domain labels
     * @param targets     the domains to translate them to
     * @return the losses before the updates
     */
    public Losses step(INDArray real, INDArray labels, INDArray targets) {
        return step(real, labels, targets, null);
    }

    /**
     * {@link #step(INDArray, INDArray, INDArray)} with WGAN-GP's interpolation weights given: the penalty is taken at
     * {@code α_i·real_i + (1 - α_i)·fake_i} ({@link GradientPenalty#interpolates(INDArray, INDArray, INDArray)}), so
     * that a test can feed a reference implementation's random numbers.
     *
     * @param real    {@code [N, 3, S, S]} images in [-1, 1]
     * @param labels  their {@code [N, L]} domain labels
     * @param targets the domains to translate them to
     * @param alpha   {@code N} weights in [0, 1] (any shape with {@code N} elements), or {@code null} to draw them
     *                from {@code U(0, 1)} with ND4J's random generator; unused under LSGAN
     * @return the losses before the updates
     * @throws IllegalArgumentException if {@code alpha} does not hold {@code N} elements (nothing is changed)
     */
    public Losses step(INDArray real, INDArray labels, INDArray targets, INDArray alpha) {
        long n = real.size(0);
        if (alpha != null && alpha.length() != n) {
            throw new IllegalArgumentException("alpha must hold one interpolation weight per image, " + n
                    + ", got shape " + java.util.Arrays.toString(alpha.shape()));
        }
        boolean wgan = objective == Objective.WGAN_GP;
        boolean generatorStep = !wgan || (iteration + 1) % nCritic == 0;

        // Identity (optional) first: it reuses the generator graph, whose activations of the translation below
        // must survive until the generator's backward pass.
        double gIdentity = 0;
        INDArray identityGrad = null;
        if (generatorStep && lambdaIdentity > 0) {
            INDArray same = generator
                    .feedForward(new INDArray[] {real, labels}, true, false)
                    .get(generatorOutput);
            gIdentity = Transforms.abs(same.sub(real)).meanNumber().doubleValue();
            identityGrad = generator
                    .backpropGradient(l1Grad(same, real, lambdaIdentity))
                    .gradient()
                    .dup();
        }

        // One translation serves both steps: the generator does not change during the discriminator's step, so
        // StarGAN's second forward of G(x, c') would compute the same images (it would only move G's running
        // statistics once more).
        INDArray fake = generator
                .feedForward(new INDArray[] {real, targets}, true, false)
                .get(generatorOutput);

        // The penalty first: for this float critic it runs on a double copy, so the critic's gradient views stay out.
        double dPenalty = 0;
        INDArray penaltyGrad = null;
        if (wgan) {
            INDArray points = alpha == null
                    ? GradientPenalty.interpolates(real, fake)
                    : GradientPenalty.interpolates(real, fake, alpha);
            GradientPenalty.Result gp = penalty.compute(discriminator, points, StarGan.D_SOURCE);
            dPenalty = gp.value();
            penaltyGrad = gp.parameterGradient();
        }

        // Discriminator: real images -> real (LSGAN 1, WGAN high) and their domains; translations -> fake.
        Map<String, INDArray> onReal = discriminator.feedForward(new INDArray[] {real}, true, false);
        INDArray srcReal = onReal.get(StarGan.D_SOURCE);
        INDArray clsReal = onReal.get(StarGan.D_CLASS);
        double dReal = wgan ? -srcReal.meanNumber().doubleValue() : meanSquare(srcReal, 1);
        double dClass = bceWithLogits(clsReal, labels);
        INDArray realGrad = discriminator
                .backpropGradient(
                        wgan ? meanGrad(srcReal, -1) : squareGrad(srcReal, 1),
                        bceGrad(clsReal, labels).muli(lambdaClass))
                .gradient()
                .dup();

        Map<String, INDArray> onFake = discriminator.feedForward(new INDArray[] {fake}, true, false);
        INDArray srcFake = onFake.get(StarGan.D_SOURCE);
        double dFake = wgan ? srcFake.meanNumber().doubleValue() : meanSquare(srcFake, 0);
        Gradient total = discriminator.backpropGradient(
                wgan ? meanGrad(srcFake, 1) : squareGrad(srcFake, 0), Nd4j.zerosLike(onFake.get(StarGan.D_CLASS)));
        total.gradient().addi(realGrad);
        if (penaltyGrad != null) {
            total.gradient().addi(penaltyGrad);
        }
        apply(discriminator, total, n);

        if (!generatorStep) {
            iteration++;
            return new Losses(dReal, dFake, dClass, dPenalty, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        }

        // Generator: fool the updated discriminator, hit the targets, reconstruct the input.
        INDArray reconstruction =
                twin.feedForward(new INDArray[] {fake, labels}, true, false).get(generatorOutput);
        Map<String, INDArray> judged = discriminator.feedForward(new INDArray[] {fake}, true, false);
        INDArray srcJudged = judged.get(StarGan.D_SOURCE);
        INDArray clsJudged = judged.get(StarGan.D_CLASS);
        double gAdversarial = wgan ? -srcJudged.meanNumber().doubleValue() : meanSquare(srcJudged, 1);
        double gClass = bceWithLogits(clsJudged, targets);
        double gReconstruction =
                Transforms.abs(reconstruction.sub(real)).meanNumber().doubleValue();

        discriminator.backpropGradient(
                wgan ? meanGrad(srcJudged, -1) : squareGrad(srcJudged, 1),
                bceGrad(clsJudged, targets).muli(lambdaClass));
        INDArray fakeGrad = StarGan.imageGradient(discriminator).dup();
        INDArray twinGrad = twin.backpropGradient(l1Grad(reconstruction, real, lambdaReconstruction))
                .gradient()
                .dup();
        fakeGrad.addi(StarGan.imageGradient(twin));
        Gradient generatorGrad = generator.backpropGradient(fakeGrad);
        generatorGrad.gradient().addi(twinGrad);
        if (identityGrad != null) {
            generatorGrad.gradient().addi(identityGrad);
        }
        apply(generator, generatorGrad, n);

        iteration++;
        return new Losses(dReal, dFake, dClass, dPenalty, gAdversarial, gClass, gReconstruction, gIdentity);
    }

    /**
     * Runs the optimizer on a gradient held in the graph's own gradient view. DL4J's updater divides by the
     * minibatch size, so the gradient of the batch-mean loss is scaled up by it first.
     */
    private void apply(ComputationGraph graph, Gradient gradient, long minibatch) {
        gradient.gradient().muli(minibatch);
        GraphUpdates.apply(graph, gradient, iteration, 0, (int) minibatch);
    }

    /** Gradient of {@code weight * mean(|output - target|)}. */
    private static INDArray l1Grad(INDArray output, INDArray target, double weight) {
        return Transforms.sign(output.sub(target)).muli(weight / target.length());
    }

    private static double meanSquare(INDArray scores, double target) {
        return Transforms.pow(scores.sub(target), 2, false).meanNumber().doubleValue();
    }

    /** Gradient of {@code sign * mean(scores)}. */
    private static INDArray meanGrad(INDArray scores, double sign) {
        return Nd4j.valueArrayOf(scores.shape(), sign / scores.length(), scores.dataType());
    }

    /** Gradient of {@code mean((scores - target)^2)}. */
    private static INDArray squareGrad(INDArray scores, double target) {
        return scores.sub(target).muli(2.0 / scores.length());
    }

    /** StarGAN's domain loss: BCE with logits, summed over attributes, averaged over the batch. */
    private static double bceWithLogits(INDArray logits, INDArray targets) {
        // max(z, 0) - z * t + log(1 + exp(-|z|)), the stable form
        INDArray z = logits;
        INDArray loss = Transforms.relu(z, true)
                .subi(z.mul(targets))
                .addi(Transforms.log(
                        Transforms.exp(Transforms.abs(z, true).negi(), false).addi(1), false));
        return loss.sumNumber().doubleValue() / logits.size(0);
    }

    private static INDArray bceGrad(INDArray logits, INDArray targets) {
        return Transforms.sigmoid(logits, true).subi(targets).divi(logits.size(0));
    }
}
