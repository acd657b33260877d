package io.github.instancenorm.examples.stargan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.learning.LinearDecaySchedule;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.train.StarGanTrainer;
import io.github.instancenorm.zoo.StarGan;
import io.github.instancenorm.zoo.gan.GradientPenalty;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A few iterations on tiny images: the losses are finite and both networks learn, checkpoints are written and a
 * resumed run continues from them, samples and the evaluation come out.
 */
class TrainStarGanSmokeTest {

    private static TrainingOptions tiny(Path out, int iterations) {
        TrainingOptions o = new TrainingOptions();
        o.iterations = iterations;
        o.batchSize = 4;
        o.imageSize = 16;
        o.convDim = 4;
        o.generatorBlocks = 1;
        o.discriminatorLayers = 3;
        o.logEvery = 1;
        o.sampleEvery = 2;
        o.checkpointEvery = 2;
        o.classifierIterations = 3;
        o.evalImages = 8;
        o.out = out;
        return o;
    }

    /** The zoo's generator at 16 px, conv_dim 4, one block, with input gradients, for the example's attributes. */
    private static StarGan.GeneratorBuilder tinyGenerator() {
        return StarGan.generator()
                .convDim(4)
                .cDim(ShapesData.ATTRIBUTES.size())
                .repeatNum(1)
                .imageSize(16)
                .inputGradients(true);
    }

    /** The zoo's discriminator at 16 px, conv_dim 4, three layers, with input gradients. */
    private static StarGan.DiscriminatorBuilder tinyDiscriminator() {
        return StarGan.discriminator()
                .convDim(4)
                .cDim(ShapesData.ATTRIBUTES.size())
                .repeatNum(3)
                .imageSize(16)
                .inputGradients(true);
    }

    @Test
    void stepsGiveFiniteLossesAndMoveBothNetworks() {
        ComputationGraph g = tinyGenerator().build();
        ComputationGraph d = tinyDiscriminator().build();
        INDArray gBefore = g.params().dup();
        INDArray dBefore = d.params().dup();
        StarGanTrainer trainer = new StarGanTrainer(g, d, StarGanTrainer.LossWeights.STARGAN.withIdentity(10));
        ShapesData data = new ShapesData(16, 5);
        for (int i = 0; i < 3; i++) {
            Batch b = data.next(4);
            StarGanTrainer.Losses l = trainer.step(b.images(), b.labels(), StarGanTrainer.shuffledRows(b.labels()));
            for (double v : new double[] {
                l.dReal(), l.dFake(), l.dClass(), l.gAdversarial(), l.gClass(), l.gReconstruction(), l.gIdentity()
            }) {
                assertTrue(Double.isFinite(v), "loss " + v + " in " + l);
            }
        }
        assertEquals(3, trainer.iteration());
        assertNotEquals(gBefore, g.params(), "the generator must learn");
        assertNotEquals(dBefore, d.params(), "the discriminator must learn");
    }

    /** Mean ‖∇_x̂ D(x̂)‖ over WGAN-GP interpolates of a fixed batch and its translations. */
    private static double meanCriticGradientNorm(ComputationGraph g, ComputationGraph d, Batch b, INDArray targets) {
        Nd4j.getRandom().setSeed(11);
        INDArray fake = g.output(false, b.images(), targets)[0];
        INDArray x = GradientPenalty.interpolates(b.images(), fake);
        return GradientPenalty.wganGp(10)
                .compute(d, x, StarGan.D_SOURCE)
                .gradientNorms()
                .meanNumber()
                .doubleValue();
    }

    @Test
    void wganGpStepsPullTheCriticGradientNormTowardsOne() {
        Nd4j.getRandom().setSeed(3);
        ComputationGraph g = tinyGenerator()
                .updater(new org.nd4j.linalg.learning.config.Adam(1e-3, 0.5, 0.999, 1e-8))
                .build();
        ComputationGraph d = tinyDiscriminator()
                .updater(new org.nd4j.linalg.learning.config.Adam(1e-3, 0.5, 0.999, 1e-8))
                .build();
        // Halved weights start the critic's gradient norms far below 1 (about 0.07), where the penalty pulls hardest.
        d.params().muli(0.5);
        StarGanTrainer trainer = new StarGanTrainer(g, d, StarGanTrainer.LossWeights.STARGAN).wganGp(10, 2);
        ShapesData data = new ShapesData(16, 9);
        Batch probe = new ShapesData(16, 10).next(8);
        INDArray probeTargets = StarGanTrainer.shuffledRows(probe.labels());
        double before = meanCriticGradientNorm(g, d, probe, probeTargets);
        for (int i = 0; i < 40; i++) {
            Batch b = data.next(8);
            StarGanTrainer.Losses l = trainer.step(b.images(), b.labels(), StarGanTrainer.shuffledRows(b.labels()));
            assertTrue(
                    Double.isFinite(l.dReal()) && Double.isFinite(l.dFake()) && Double.isFinite(l.dPenalty()),
                    l.toString());
            assertEquals(i % 2 == 1, Double.isFinite(l.gAdversarial()), "a generator step every 2 iterations: " + l);
        }
        double after = meanCriticGradientNorm(g, d, probe, probeTargets);
        System.out.printf("WGAN-GP smoke run: mean critic gradient norm %.4f before, %.4f after%n", before, after);
        assertTrue(
                Math.abs(after - 1) < Math.abs(before - 1),
                "mean critic gradient norm on interpolates: " + before + " before, " + after + " after");
    }

    @Test
    void wganGpRunResumesAndRefusesAnotherLoss(@TempDir Path out) throws Exception {
        TrainingOptions first = tiny(out, 4);
        first.loss = "wgan-gp";
        first.nCritic = 2;
        first.checkpointEvery = 2;
        TrainStarGan.run(first).values().forEach(v -> assertTrue(Double.isFinite(v), "evaluation"));
        Properties state = new Properties();
        try (var r = Files.newBufferedReader(out.resolve("checkpoint/state.properties"))) {
            state.load(r);
        }
        assertEquals("wgan-gp", state.getProperty("loss"));

        TrainingOptions resumed = tiny(out, 6);
        resumed.loss = "wgan-gp";
        resumed.nCritic = 2;
        resumed.resume = true;
        TrainStarGan.run(resumed).values().forEach(v -> assertTrue(Double.isFinite(v), "evaluation after resuming"));
        assertEquals("6", checkpointIteration(out));
        assertTrue(Files.exists(out.resolve("G.ckpt")), "the PyTorch export");
        // The report has the critic's losses every iteration, the penalty, and the generator's every n_critic.
        List<String> losses = Files.readAllLines(out.resolve("report/losses.csv"));
        assertEquals(
                List.of("2", "4", "6"),
                losses.stream()
                        .filter(line -> line.contains(",G/adv,"))
                        .map(line -> line.substring(0, line.indexOf(',')))
                        .toList());
        assertEquals(6, losses.stream().filter(line -> line.contains(",D/gp,")).count(), losses.toString());

        TrainingOptions wrong = tiny(out, 8);
        wrong.resume = true; // lsgan, the default
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainStarGan.run(wrong));
        assertTrue(e.getMessage().contains("--loss wgan-gp"), e.getMessage());
    }

    @Test
    void runWritesSamplesCheckpointsAndResumes(@TempDir Path out) throws Exception {
        Map<String, Double> first = TrainStarGan.run(tiny(out, 2));
        assertTrue(Files.exists(out.resolve("samples/000002.png")));
        assertTrue(Files.exists(out.resolve("checkpoint/G.zip")));
        assertEquals("2", checkpointIteration(out));
        first.values().forEach(v -> assertTrue(Double.isFinite(v), "evaluation " + first));

        TrainingOptions resumed = tiny(out, 4);
        resumed.resume = true;
        Map<String, Double> second = TrainStarGan.run(resumed);
        second.values().forEach(v -> assertTrue(Double.isFinite(v), "evaluation after resuming " + second));
        assertEquals("4", checkpointIteration(out));
        assertTrue(Files.exists(out.resolve("samples/000004.png")));
        assertTrue(Files.exists(out.resolve("results.properties")));
        // The report continues across the resume: every iteration's losses, the grids at 2 and 4, two charts.
        Path report = out.resolve("report");
        List<String> losses = Files.readAllLines(report.resolve("losses.csv"));
        assertEquals(1 + 4 * 7, losses.size(), "D/real, fake, cls and G/adv, cls, rec, id at 1..4: " + losses);
        String html = Files.readString(report.resolve("index.html"));
        assertTrue(html.contains("src=\"charts/d.png\"") && html.contains("src=\"charts/g.png\""), html);
        int newer = html.indexOf("iteration 4: first row the inputs");
        int older = html.indexOf("iteration 2: first row the inputs");
        assertTrue(newer > 0 && older > newer, "the grids, newest first: " + html);
        assertTrue(Files.isRegularFile(report.resolve("charts/g.png")));

        // the exported PyTorch state dict reads back and rebuilds the same generator
        ComputationGraph trained = org.deeplearning4j.util.ModelSerializer.restoreComputationGraph(
                out.resolve("checkpoint/G.zip").toFile(), false);
        assertTrue(
                trained.getConfiguration().toJson().contains(LinearDecaySchedule.class.getName()),
                "the checkpoint keeps the learning-rate schedule");
        StateDict exported = StateDict.read(out.resolve("G.ckpt"));
        assertTrue(
                exported.contains("main.0.weight") && exported.contains("main.1.running_var"),
                exported.keys().toString());
        ComputationGraph reloaded = StarGan.loadGenerator(out.resolve("G.ckpt"), StarGan.Statistics.INSTANCE);
        Batch b = new ShapesData(16, 9).next(2);
        StarGan.useStatistics(trained, StarGan.Statistics.INSTANCE);
        assertEquals(trained.outputSingle(b.images(), b.labels()), reloaded.outputSingle(b.images(), b.labels()));
    }

    /**
     * A checkpoint that this example wrote before the trainer and the schedule moved (their updater configurations
     * name {@code io.github.instancenorm.examples.stargan.LinearDecaySchedule}) resumes: the old name is kept as a
     * deprecated subclass of the schedule.
     */
    @Test
    void aCheckpointFromBeforeTheMoveResumes(@TempDir Path out) throws Exception {
        Path golden = Path.of("src/test/resources/golden/examples-0.1.0-pre-train-module/checkpoint");
        Files.createDirectories(out.resolve("checkpoint"));
        for (String f : new String[] {"G.zip", "D.zip", "state.properties"}) {
            Files.copy(golden.resolve(f), out.resolve("checkpoint").resolve(f));
        }
        TrainingOptions resumed = tiny(out, 4);
        resumed.resume = true;
        Map<String, Double> results = TrainStarGan.run(resumed);
        results.values().forEach(v -> assertTrue(Double.isFinite(v), "evaluation after resuming " + results));
        assertEquals("4", checkpointIteration(out));
    }

    private static String checkpointIteration(Path out) throws Exception {
        Properties p = new Properties();
        try (var r = Files.newBufferedReader(out.resolve("checkpoint/state.properties"))) {
            p.load(r);
        }
        return p.getProperty("iteration");
    }
}
