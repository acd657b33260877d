package io.github.instancenorm.train;

import io.github.instancenorm.speedups.NativeMemoryRecycler;
import io.github.instancenorm.speedups.Speedups;
import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.speedups.layers.FastLayers;
import io.github.instancenorm.speedups.updater.GraphUpdates;
import io.github.instancenorm.zoo.StarGan;
import io.github.instancenorm.zoo.gan.GradientPenalty;
import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 *
 * <p>{@link #train} runs the steps over a DL4J {@link DataSetIterator} of labelled images, with progress, a listener
 * and checkpoints; {@link #save} and {@link #resume} write and read those checkpoints.
 */
public final class StarGanTrainer {

    /** The checkpoint's generator file, a DL4J model zip with its updater state. */
    public static final String GENERATOR_FILE = "G.zip";

    /** The checkpoint's discriminator file. */
    public static final String DISCRIMINATOR_FILE = "D.zip";

    /** The checkpoint's iteration count and objective, a properties file. */
    public static final String STATE_FILE = "state.properties";

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
    private NativeMemoryRecycler recycler = new NativeMemoryRecycler(NativeMemoryRecycler.DEFAULT_GROWTH_BYTES);
    private final ComputationGraph discriminator;
    private final String generatorOutput;
    private final double lambdaClass;
    private final double lambdaReconstruction;
    private final double lambdaIdentity;
    private Objective objective = Objective.LSGAN;
    private GradientPenalty penalty;
    private double lambdaGp;
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
        FastLayers.install(twin);
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
        this.lambdaGp = lambdaGp;
        this.objective = Objective.WGAN_GP;
        this.nCritic = nCritic;
        return this;
    }

    /** @return the adversarial objective */
    public Objective objective() {
        return objective;
    }

    /** @return the generator being trained */
    public ComputationGraph generator() {
        return generator;
    }

    /** @return the discriminator being trained */
    public ComputationGraph discriminator() {
        return discriminator;
    }

    /** Called after each iteration of {@link #train}, e.g. to record losses or write sample grids. */
    @FunctionalInterface
    public interface Listener {
        /**
         * @param trainer  the trainer, after the iteration ({@link #iteration()} counts it)
         * @param losses   the iteration's losses
         * @param progress where the run stands
         * @throws IOException if the listener's writing fails; training stops
         */
        void afterIteration(StarGanTrainer trainer, Losses losses, Progress progress) throws IOException;
    }

    /**
     * Trains for {@code iterations} more iterations on a DL4J stream of labelled images. Each iteration takes the
     * next batch (an exhausted iterator is reset: an epoch each) and translates it to StarGAN's targets, the batch's
     * own labels in a random order ({@code label_trg = label_org[randperm(N)]}), drawn from ND4J's random generator
     * as WGAN-GP's interpolation weights are: seed {@code Nd4j.getRandom()} for a reproducible run. Logs the losses, the speed and the time left every {@code logEvery} iterations (SLF4J, INFO), and
     * writes a checkpoint ({@link #save}) into {@code checkpoints} every {@code saveEvery} iterations and after the
     * last.
     *
     * @param data        batches of {@code features} = images {@code [N, 3, S, S]} in [-1, 1] and {@code labels} =
     *                    their domain labels {@code [N, L]} (0/1), as CelebA's attribute file or a folder per domain
     *                    gives them
     * @param iterations  how many iterations to run
     * @param logEvery    iterations between log lines (0: none)
     * @param saveEvery   iterations between checkpoints (0: only after the last)
     * @param checkpoints the checkpoint directory, or null for none
     * @param listener    called after every iteration, or null
     * @throws IOException              if writing a checkpoint or the listener fails
     * @throws IllegalArgumentException if a batch lacks images or labels, or the iterator is exhausted and cannot be
     *                                  reset; an iteration that fails this way changes nothing
     */
    public void train(
            DataSetIterator data, int iterations, int logEvery, int saveEvery, Path checkpoints, Listener listener)
            throws IOException {
        Objects.requireNonNull(data, "data");
        if (iterations < 0) {
            throw new IllegalArgumentException("iterations must be >= 0, got " + iterations);
        }
        long started = System.nanoTime();
        int first = iteration;
        for (int i = 0; i < iterations; i++) {
            DataSet batch = next(data);
            INDArray images = batch.getFeatures();
            INDArray labels = batch.getLabels();
            if (images == null || labels == null || images.rank() != 4 || labels.rank() != 2) {
                throw new IllegalArgumentException("each batch must give features = images [N, 3, S, S] and labels ="
                        + " domain labels [N, L]; got features " + shape(images) + " and labels " + shape(labels));
            }
            if (images.size(0) != labels.size(0)) {
                throw new IllegalArgumentException(
                        "a batch has " + images.size(0) + " images but " + labels.size(0) + " label rows");
            }
            Losses losses = step(images, labels, shuffledRows(labels));
            int done = iteration - first;
            Progress progress = new Progress(iteration, first + iterations, (System.nanoTime() - started) / 1e9 / done);
            if (logEvery > 0 && (done % logEvery == 0 || done == iterations)) {
                LOG.info("{} | {}", progress, losses);
            }
            if (listener != null) {
                listener.afterIteration(this, losses, progress);
            }
            if (checkpoints != null && ((saveEvery > 0 && done % saveEvery == 0) || done == iterations)) {
                save(checkpoints);
            }
        }
    }

    private static DataSet next(DataSetIterator it) {
        if (!it.hasNext()) {
            if (!it.resetSupported()) {
                throw new IllegalArgumentException("the data iterator is exhausted and cannot be reset");
            }
            it.reset();
            if (!it.hasNext()) {
                throw new IllegalArgumentException("the data iterator has no batch");
            }
        }
        return it.next();
    }

    private static String shape(INDArray a) {
        return a == null ? "none" : Arrays.toString(a.shape());
    }

    /**
     * StarGAN's target domains: the rows of {@code labels} in a random order, a Fisher-Yates shuffle drawn from
     * {@code Nd4j.getRandom()}.
     *
     * @param labels {@code [N, L]}
     * @return a new {@code [N, L]} array
     */
    public static INDArray shuffledRows(INDArray labels) {
        int n = (int) labels.size(0);
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = Nd4j.getRandom().nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return labels.getRows(order);
    }

    /**
     * Writes a checkpoint that {@link #resume} continues from: {@value #GENERATOR_FILE} and
     * {@value #DISCRIMINATOR_FILE} (DL4J model zips with their updater state, so Adam's moments and the schedules go
     * on) and {@value #STATE_FILE} (the iteration count and the objective). It replaces a checkpoint already there.
     *
     * @param directory the directory, created if missing
     * @return {@code directory}
     * @throws IOException if writing fails
     */
    public Path save(Path directory) throws IOException {
        Files.createDirectories(directory);
        ModelSerializer.writeModel(generator, directory.resolve(GENERATOR_FILE).toFile(), true);
        ModelSerializer.writeModel(
                discriminator, directory.resolve(DISCRIMINATOR_FILE).toFile(), true);
        Properties state = new Properties();
        state.setProperty("iteration", Integer.toString(iteration));
        state.setProperty("loss", objective == Objective.WGAN_GP ? "wgan-gp" : "lsgan");
        if (objective == Objective.WGAN_GP) {
            state.setProperty("lambda_gp", Double.toString(lambdaGp));
            state.setProperty("n_critic", Integer.toString(nCritic));
        }
        try (Writer w = Files.newBufferedWriter(directory.resolve(STATE_FILE))) {
            state.store(w, "StarGanTrainer checkpoint");
        }
        return directory;
    }

    /**
     * A checkpoint as {@link #save} (or {@code TrainStarGan} before 0.1.0, which wrote the same files without the
     * WGAN-GP settings) left it.
     *
     * @param generator     the generator, with its updater state and the project's speed-ups installed
     * @param discriminator the discriminator, likewise
     * @param iteration     the iterations done
     * @param objective     the adversarial objective
     * @param lambdaGp      WGAN-GP's penalty weight, NaN for LSGAN or where the checkpoint does not say
     * @param nCritic       WGAN-GP's critic steps per generator step, 0 for LSGAN or where the checkpoint does not
     *                      say
     */
    public record Checkpoint(
            ComputationGraph generator,
            ComputationGraph discriminator,
            int iteration,
            Objective objective,
            double lambdaGp,
            int nCritic) {}

    /**
     * Reads a checkpoint that {@link #save} wrote.
     *
     * @param directory the checkpoint directory
     * @return the networks and the state
     * @throws IOException if a file is missing or unreadable, or the state file is not a StarGanTrainer's
     */
    public static Checkpoint readCheckpoint(Path directory) throws IOException {
        for (String f : List.of(GENERATOR_FILE, DISCRIMINATOR_FILE, STATE_FILE)) {
            if (!Files.isRegularFile(directory.resolve(f))) {
                throw new IOException("No " + f + " in " + directory + ": a StarGanTrainer checkpoint holds "
                        + GENERATOR_FILE + ", " + DISCRIMINATOR_FILE + " and " + STATE_FILE);
            }
        }
        Properties state = new Properties();
        try (Reader r = Files.newBufferedReader(directory.resolve(STATE_FILE))) {
            state.load(r);
        }
        int iteration;
        try {
            iteration = Integer.parseInt(state.getProperty("iteration", ""));
        } catch (NumberFormatException e) {
            throw new IOException(
                    directory.resolve(STATE_FILE) + " has no integer \"iteration\": not a"
                            + " StarGanTrainer checkpoint",
                    e);
        }
        String loss = state.getProperty("loss", "lsgan");
        Objective objective = switch (loss) {
            case "lsgan" -> Objective.LSGAN;
            case "wgan-gp" -> Objective.WGAN_GP;
            default ->
                throw new IOException(
                        directory.resolve(STATE_FILE) + " names the loss \"" + loss + "\"; expected lsgan or wgan-gp");
        };
        double lambdaGp = Double.parseDouble(state.getProperty("lambda_gp", "NaN"));
        int nCritic = Integer.parseInt(state.getProperty("n_critic", "0"));
        // A saved network is plain DL4J: the speed-ups go onto the loaded objects (the updater keeps its state).
        ComputationGraph generator = Speedups.restoreComputationGraph(
                directory.resolve(GENERATOR_FILE).toFile(), true);
        ComputationGraph discriminator = Speedups.restoreComputationGraph(
                directory.resolve(DISCRIMINATOR_FILE).toFile(), true);
        return new Checkpoint(generator, discriminator, iteration, objective, lambdaGp, nCritic);
    }

    /**
     * A trainer that continues a checkpoint: its networks, iteration count and objective. A WGAN-GP checkpoint that
     * does not record its settings (written before 0.1.0) continues with StarGAN's, {@code λ_gp = 10} and
     * {@code n_critic = 5}.
     *
     * @param directory the checkpoint directory
     * @param weights   the generator's loss weights (a checkpoint does not hold them)
     * @return the trainer
     * @throws IOException as {@link #readCheckpoint}
     */
    public static StarGanTrainer resume(Path directory, LossWeights weights) throws IOException {
        Checkpoint c = readCheckpoint(directory);
        StarGanTrainer trainer = new StarGanTrainer(c.generator(), c.discriminator(), weights, c.iteration());
        if (c.objective() == Objective.WGAN_GP) {
            trainer.wganGp(Double.isNaN(c.lambdaGp()) ? 10 : c.lambdaGp(), c.nCritic() > 0 ? c.nCritic() : 5);
        }
        return trainer;
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
            recycler.afterStep();
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
        recycler.afterStep();
        return new Losses(dReal, dFake, dClass, dPenalty, gAdversarial, gClass, gReconstruction, gIdentity);
    }

    /**
     * When {@link #step} asks the JVM to collect garbage: after a step that grew the process's resident memory by
     * more than {@code bytes} since the last collection ({@link NativeMemoryRecycler}: ND4J frees the native memory
     * of the step's detached activations only then, and new arrays on fresh pages cost page faults; at StarGAN's
     * size (128 px) this made the step 1.7 times faster, {@code TrainerStepTiming}).
     *
     * @param bytes the growth that triggers a collection (default {@link NativeMemoryRecycler#DEFAULT_GROWTH_BYTES}; 0:
     *              never, leaving it to the JVM)
     * @return this trainer
     * @throws IllegalArgumentException if negative (nothing is changed)
     */
    public StarGanTrainer recycleNativeMemoryAfter(long bytes) {
        this.recycler = new NativeMemoryRecycler(bytes);
        return this;
    }

    /**
     * Runs the optimizer on a gradient held in the graph's own gradient view. DL4J's updater divides by the
     * minibatch size, so the gradient of the batch-mean loss is scaled up by it first.
     */
    private void apply(ComputationGraph graph, Gradient gradient, long minibatch) {
        gradient.gradient().muli(minibatch);
        GraphUpdates.apply(graph, gradient, iteration, 0, (int) minibatch);
    }

    private static final Logger LOG = LoggerFactory.getLogger(StarGanTrainer.class);

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
