package io.github.instancenorm.examples.stargan;

import io.github.instancenorm.examples.ImageGrids;
import io.github.instancenorm.learning.LinearDecaySchedule;
import io.github.instancenorm.speedups.Speedups;
import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.train.StarGanTrainer;
import io.github.instancenorm.train.report.TrainingReport;
import io.github.instancenorm.zoo.StarGan;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * Trains a StarGAN-like multi-domain image translator on the JVM, end to end.
 *
 * <p>By default the data are generated shapes ({@link ShapesData}: colour, background and stripes are the
 * domains), so a fresh machine needs nothing else; {@code --data celeba} reads a CelebA-style folder and
 * attribute list instead. While training it prints losses, throughput and ETA, writes sample grids (input row,
 * then one row per target domain), resumable checkpoints and a training report ({@code OUT/report/index.html}: the
 * loss curves, latest values and the sample grids on one page that a browser opens offline); at the end it measures the translator with an
 * independently trained attribute classifier and a content (shape mask IoU) check, writes a summary, and
 * exports the generator as a PyTorch state dict ({@code G.ckpt}) that yunjey/stargan's {@code Generator} loads.
 *
 * <p>The steps: {@link TrainingOptions} (the flags), {@link #build} or {@link #resume}, {@link #prepare} (schedule
 * and statistics), the training loop over {@link StarGanTrainer#step}, the PyTorch export, and
 * {@link TranslatorEvaluation}.
 *
 * <p>Run (the examples module's default main class): {@code mvn -q -B install -DskipTests &&
 * mvn -q -B -f dl4j-examples exec:java}; {@code -Dexec.args="--help"} lists the flags.
 */
public final class TrainStarGan {

    private TrainStarGan() {}

    /**
     * @param args flags, see {@code --help}
     * @throws IOException if outputs cannot be written or inputs read
     */
    public static void main(String[] args) throws IOException {
        run(TrainingOptions.parse(args));
    }

    /** The two networks and where training starts. */
    record Networks(ComputationGraph generator, ComputationGraph discriminator, int completedIterations) {}

    static Map<String, Double> run(TrainingOptions o) throws IOException {
        Files.createDirectories(o.out);
        Nd4j.getRandom().setSeed(o.seed);
        Path checkpoint = o.out.resolve("checkpoint");
        Networks nets;
        ImageSource data;
        if (o.resume) {
            nets = resume(checkpoint, o.loss);
            data = source(o, o.seed + nets.completedIterations()); // fresh images after the resume point
        } else {
            data = source(o, o.seed);
            nets = build(o, data.attributes().size());
        }
        int attributes = data.attributes().size();
        prepare(o, nets);
        StarGanTrainer trainer =
                new StarGanTrainer(nets.generator(), nets.discriminator(), o.lossWeights(), nets.completedIterations());
        if (o.loss.equals("wgan-gp")) {
            trainer.wganGp(o.lambdaGp, o.nCritic);
        }
        describe(o, nets, data);
        TrainingReport report = report(o, nets.completedIterations());
        train(o, nets, trainer, data, checkpoint, report);
        export(o, nets.generator(), attributes);
        Map<String, Double> results = TranslatorEvaluation.evaluate(o, nets.generator(), data);
        writeResults(results, o.out.resolve("results.properties"));
        if (report != null) {
            System.out.println("Training report: " + report.write().toAbsolutePath());
        }
        return results;
    }

    /** New networks with StarGAN's Adam settings and the given learning rates. */
    static Networks build(TrainingOptions o, int attributes) {
        ComputationGraph generator = StarGan.generator()
                .convDim(o.convDim)
                .cDim(attributes)
                .repeatNum(o.generatorBlocks)
                .imageSize(o.imageSize)
                .updater(new Adam(o.generatorLr, 0.5, 0.999, 1e-8))
                .seed(o.seed)
                .inputGradients(true)
                .build();
        ComputationGraph discriminator = StarGan.discriminator()
                .convDim(o.convDim)
                .cDim(attributes)
                .repeatNum(o.discriminatorLayers)
                .imageSize(o.imageSize)
                .updater(new Adam(o.discriminatorLr, 0.5, 0.999, 1e-8))
                .seed(o.seed + 1)
                .inputGradients(true)
                .build();
        Speedups.install(generator);
        Speedups.install(discriminator);
        return new Networks(generator, discriminator, 0);
    }

    /**
     * The networks, their optimizer state and the iteration count of the last checkpoint
     * ({@link StarGanTrainer#readCheckpoint}), trained with {@code loss}.
     */
    static Networks resume(Path checkpoint, String loss) throws IOException {
        StarGanTrainer.Checkpoint c = StarGanTrainer.readCheckpoint(checkpoint);
        String saved = c.objective() == StarGanTrainer.Objective.WGAN_GP ? "wgan-gp" : "lsgan";
        if (!saved.equals(loss)) {
            throw new IllegalArgumentException("the checkpoint in " + checkpoint + " was trained with --loss " + saved
                    + "; resume with the same --loss " + saved);
        }
        System.out.printf("Resumed from %s at iteration %d%n", checkpoint, c.iteration());
        return new Networks(c.generator(), c.discriminator(), c.iteration());
    }

    /** StarGAN's learning-rate schedule, and instance statistics for sampling as StarGAN's test code does. */
    static void prepare(TrainingOptions o, Networks nets) {
        int decayStart = (int) Math.round(o.iterations * (1 - o.lrDecay));
        useSchedule(nets.generator(), new LinearDecaySchedule(o.generatorLr, decayStart, o.iterations));
        useSchedule(nets.discriminator(), new LinearDecaySchedule(o.discriminatorLr, decayStart, o.iterations));
        StarGan.useStatistics(nets.generator(), StarGan.Statistics.INSTANCE);
    }

    private static void describe(TrainingOptions o, Networks nets, ImageSource data) {
        System.out.printf(
                "StarGAN-like training: %s data %dpx, attributes %s, G %,d params, D %,d params,"
                        + " %d iterations of %d%n",
                o.data,
                o.imageSize,
                data.attributes(),
                nets.generator().numParams(),
                nets.discriminator().numParams(),
                o.iterations,
                o.batchSize);
        // Maven's -q hides Speedups' INFO line under exec:java, so the example says it itself.
        System.out.println("Convolutions: "
                + (FastConvolutions.path() == FastConvolutions.Path.ONEDNN
                        ? "oneDNN (FastConvolutions)"
                        : "DL4J's built-in path (no oneDNN on this backend, or switched off)"));
        System.out.println(
                o.loss.equals("wgan-gp")
                        ? String.format(
                                Locale.ROOT,
                                "Adversarial loss: WGAN-GP (lambda_gp %s, a generator step every %d"
                                        + " iterations; the penalty's gradient by finite differences, GradientPenalty)",
                                o.lambdaGp,
                                o.nCritic)
                        : "Adversarial loss: least squares (--loss wgan-gp for StarGAN's WGAN-GP)");
        if (o.lambdaIdentity > 0) {
            System.out.printf(
                    Locale.ROOT,
                    "Identity-mapping loss, weight %s (not in StarGAN; --lambda-id 0 turns it off)%n",
                    o.lambdaIdentity);
        }
    }

    /**
     * The training report of {@code --report} (null with {@code --no-report}); a resumed run continues the earlier
     * report from its checkpoint's iteration.
     */
    static TrainingReport report(TrainingOptions o, int completedIterations) throws IOException {
        Path dir = o.reportDirectory();
        if (dir == null) {
            return null;
        }
        String title = String.format(
                Locale.ROOT,
                "TrainStarGan: %s data, %d px, %s, batch %d, %d iterations",
                o.data,
                o.imageSize,
                o.loss,
                o.batchSize,
                o.iterations);
        TrainingReport report =
                o.resume ? TrainingReport.resume(dir, title, completedIterations) : TrainingReport.create(dir, title);
        System.out.println("Training report: " + report.write().toAbsolutePath() + " (open it in a browser)");
        return report;
    }

    /**
     * The losses of one iteration by report series: the discriminator's in chart D, the generator's in chart G
     * when the iteration had a generator step (WGAN-GP: every {@code n_critic}-th); the gradient penalty with
     * WGAN-GP and the identity term when its weight is not 0, which the trainer does not compute otherwise.
     */
    static Map<String, Double> reportedLosses(TrainingOptions o, StarGanTrainer trainer, StarGanTrainer.Losses l) {
        boolean wgan = trainer.objective() == StarGanTrainer.Objective.WGAN_GP;
        Map<String, Double> values = new LinkedHashMap<>();
        values.put("D/real", l.dReal());
        values.put("D/fake", l.dFake());
        values.put("D/cls", l.dClass());
        if (wgan) {
            values.put("D/gp", l.dPenalty());
        }
        if (!wgan || trainer.iteration() % o.nCritic == 0) {
            values.put("G/adv", l.gAdversarial());
            values.put("G/cls", l.gClass());
            values.put("G/rec", l.gReconstruction());
            if (o.lambdaIdentity > 0) {
                values.put("G/id", l.gIdentity());
            }
        }
        return values;
    }

    /**
     * The training loop, {@link StarGanTrainer#train} over the image source, with progress lines, sample grids, the
     * report and checkpoints.
     */
    private static void train(
            TrainingOptions o,
            Networks nets,
            StarGanTrainer trainer,
            ImageSource data,
            Path checkpoint,
            TrainingReport report)
            throws IOException {
        Batch fixed = source(o, o.seed + 1_000_003).next(8);
        int start = nets.completedIterations();
        trainer.train(
                new ImageSourceIterator(data, o.batchSize),
                o.iterations - start,
                0, // the listener prints progress (SLF4J's INFO is off under mvn -q exec:java)
                o.checkpointEvery,
                checkpoint,
                (t, l, progress) -> {
                    int it = t.iteration();
                    if (report != null) {
                        report.scalars(it, reportedLosses(o, t, l));
                    }
                    if (it % o.logEvery == 0 || it == start + 1) {
                        double perIt = progress.secondsPerIteration();
                        System.out.printf(
                                Locale.ROOT,
                                "iter %5d/%d  D real %.3f fake %.3f cls %.3f gp %.3f | G adv %.3f cls %.3f"
                                        + " rec %.4f id %.4f | %.2f it/s %.1f img/s ETA %s%n",
                                it,
                                o.iterations,
                                l.dReal(),
                                l.dFake(),
                                l.dClass(),
                                l.dPenalty(),
                                l.gAdversarial(),
                                l.gClass(),
                                l.gReconstruction(),
                                l.gIdentity(),
                                1 / perIt,
                                o.batchSize / perIt,
                                duration(perIt * (o.iterations - it)));
                    }
                    if (it % o.sampleEvery == 0 || it == o.iterations) {
                        Path png = o.out.resolve(String.format("samples/%06d.png", it));
                        BufferedImage grid = writeSamples(nets.generator(), fixed, data.exclusiveGroups(), png);
                        System.out.println("  wrote " + png);
                        if (report != null) {
                            report.image(
                                    it, "first row the inputs, then one row per target: " + data.attributes(), grid);
                            report.write();
                        }
                    }
                });
    }

    /** The generator as a PyTorch state dict: loads into yunjey/stargan's Generator(conv_dim, c_dim, repeat_num). */
    private static void export(TrainingOptions o, ComputationGraph generator, int attributes) throws IOException {
        Path exported = o.out.resolve("G.ckpt");
        StateDict.of(generator).writeTorch(exported);
        System.out.printf(
                "Exported the generator for PyTorch: %s (Generator(conv_dim=%d, c_dim=%d, repeat_num=%d)"
                        + ".load_state_dict(torch.load(path)))%n",
                exported, o.convDim, attributes, o.generatorBlocks);
    }

    private static void writeResults(Map<String, Double> results, Path file) throws IOException {
        try (Writer w = Files.newBufferedWriter(file)) {
            Properties p = new Properties();
            results.forEach((k, v) -> p.setProperty(k, String.format(Locale.ROOT, "%.4f", v)));
            p.store(w, "TrainStarGan final evaluation");
        }
    }

    /**
     * Puts the schedule into every layer's optimizer configuration, in place: the updater's blocks read their
     * rate from those objects, and a checkpoint saves it. ({@code ComputationGraph.setLearningRate} rebuilds the
     * updater instead, which fails in M2.1 for some graphs with a NullPointerException in
     * {@code NetworkUtils.rebuildUpdaterStateArray}.)
     */
    static void useSchedule(ComputationGraph graph, ISchedule schedule) {
        for (org.deeplearning4j.nn.api.Layer layer : graph.getLayers()) {
            if (layer.conf().getLayer() instanceof BaseLayer conf
                    && conf.getIUpdater() != null
                    && conf.getIUpdater().hasLearningRate()) {
                conf.getIUpdater().setLrAndSchedule(schedule.valueAt(0, 0), schedule);
            }
        }
    }

    static ImageSource source(TrainingOptions o, long seed) throws IOException {
        return switch (o.data) {
            case "shapes" -> new ShapesData(o.imageSize, seed);
            case "celeba" -> {
                if (o.celebaImages == null || o.celebaAttributes == null) {
                    throw new IllegalArgumentException(
                            "--data celeba needs --celeba-images DIR and --celeba-attrs FILE");
                }
                yield new CelebALikeData(
                        o.celebaImages,
                        o.celebaAttributes,
                        o.attributes,
                        o.exclusive.length == 0 ? List.of() : List.<int[]>of(o.exclusive),
                        o.imageSize,
                        seed);
            }
            default -> throw new IllegalArgumentException("--data must be shapes or celeba, got " + o.data);
        };
    }

    static BufferedImage writeSamples(ComputationGraph generator, Batch fixed, List<int[]> exclusive, Path png)
            throws IOException {
        List<INDArray> rows = new ArrayList<>();
        rows.add(fixed.images());
        for (INDArray target : Translations.perAttribute(fixed.labels(), exclusive)) {
            rows.add(generator.output(false, fixed.images(), target)[0]);
        }
        return ImageGrids.writeGrid(rows, png);
    }

    private static String duration(double seconds) {
        long s = Math.round(seconds);
        return String.format("%d:%02d", s / 60, s % 60);
    }
}
