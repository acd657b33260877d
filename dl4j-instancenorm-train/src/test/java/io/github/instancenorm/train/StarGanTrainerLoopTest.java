package io.github.instancenorm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.speedups.Speedups;
import io.github.instancenorm.zoo.StarGan;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.adapter.SingletonDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * {@link StarGanTrainer#train} over a DL4J iterator, and its checkpoints: the loop is the documented sequence of
 * {@link StarGanTrainer#step} calls, a saved and resumed run goes on exactly as an uninterrupted one, checkpoints
 * of the example before 0.1.0 still load, and bad input changes nothing.
 */
class StarGanTrainerLoopTest {

    private static final int IMAGE = 16;
    private static final int DOMAINS = 2;
    private static final StarGanTrainer.LossWeights WEIGHTS = StarGanTrainer.LossWeights.STARGAN.withIdentity(2);

    @TempDir
    Path dir;

    private static ComputationGraph generator() {
        ComputationGraph g = StarGan.generator()
                .convDim(4)
                .cDim(DOMAINS)
                .repeatNum(1)
                .imageSize(IMAGE)
                .updater(new Adam(1e-3, 0.5, 0.999, 1e-8))
                .seed(3)
                .inputGradients(true)
                .build();
        Speedups.install(g);
        return g;
    }

    private static ComputationGraph discriminator() {
        ComputationGraph d = StarGan.discriminator()
                .convDim(4)
                .cDim(DOMAINS)
                .repeatNum(2)
                .imageSize(IMAGE)
                .updater(new Adam(1e-3, 0.5, 0.999, 1e-8))
                .seed(4)
                .inputGradients(true)
                .build();
        Speedups.install(d);
        return d;
    }

    /** Two batches of 3 images with one-hot labels: one epoch is two iterations. */
    private static List<DataSet> batches() {
        Nd4j.getRandom().setSeed(11);
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < 2; b++) {
            INDArray x = Nd4j.rand(DataType.FLOAT, 3, 3, IMAGE, IMAGE).muli(2).subi(1);
            INDArray y = Nd4j.zeros(DataType.FLOAT, 3, DOMAINS);
            for (int i = 0; i < 3; i++) {
                y.putScalar(i, (i + b) % DOMAINS, 1);
            }
            out.add(new DataSet(x, y));
        }
        return out;
    }

    private static ListDataSetIterator<DataSet> iterator() {
        return new ListDataSetIterator<>(batches(), 1);
    }

    @Test
    void trainIsStepsOverTheBatchesWithShuffledTargetsAndResetsAnExhaustedIterator() throws IOException {
        List<DataSet> data = batches();
        StarGanTrainer looped = new StarGanTrainer(generator(), discriminator(), WEIGHTS);
        List<Progress> seen = new ArrayList<>();
        ListDataSetIterator<DataSet> it = iterator();
        Nd4j.getRandom().setSeed(7);
        looped.train(it, 5, 0, 0, null, (t, l, p) -> seen.add(p));

        StarGanTrainer stepped = new StarGanTrainer(generator(), discriminator(), WEIGHTS);
        Nd4j.getRandom().setSeed(7);
        for (int i = 0; i < 5; i++) {
            DataSet b = data.get(i % 2);
            stepped.step(b.getFeatures(), b.getLabels(), StarGanTrainer.shuffledRows(b.getLabels()));
        }
        assertEquals(5, looped.iteration());
        assertEquals(stepped.generator().params(), looped.generator().params());
        assertEquals(stepped.discriminator().params(), looped.discriminator().params());
        assertEquals(5, seen.size());
        assertEquals(1, seen.get(0).iteration());
        assertEquals(5, seen.get(4).last());
    }

    @Test
    void aSavedAndResumedRunGoesOnExactlyAsAnUninterruptedOne() throws IOException {
        StarGanTrainer whole = new StarGanTrainer(generator(), discriminator(), WEIGHTS).wganGp(10, 2);
        ListDataSetIterator<DataSet> all = iterator();
        Nd4j.getRandom().setSeed(9);
        whole.train(all, 4, 0, 0, null, null);

        StarGanTrainer first = new StarGanTrainer(generator(), discriminator(), WEIGHTS).wganGp(10, 2);
        ListDataSetIterator<DataSet> it = iterator();
        Nd4j.getRandom().setSeed(9);
        first.train(it, 2, 0, 0, dir, null); // saves after its last iteration
        StarGanTrainer resumed = StarGanTrainer.resume(dir, WEIGHTS);
        assertEquals(2, resumed.iteration());
        assertEquals(StarGanTrainer.Objective.WGAN_GP, resumed.objective());
        resumed.train(it, 2, 0, 0, null, null);

        assertEquals(4, resumed.iteration());
        assertEquals(whole.generator().params(), resumed.generator().params());
        assertEquals(whole.discriminator().params(), resumed.discriminator().params());
    }

    @Test
    void checkpointsOfTheExampleBefore010StillLoad() throws IOException {
        // TrainStarGan before 0.1.0: the two model zips and a state file with only the iteration and the loss.
        ComputationGraph g = generator();
        ComputationGraph d = discriminator();
        ModelSerializer.writeModel(g, dir.resolve("G.zip").toFile(), true);
        ModelSerializer.writeModel(d, dir.resolve("D.zip").toFile(), true);
        Properties state = new Properties();
        state.setProperty("iteration", "120");
        state.setProperty("loss", "wgan-gp");
        try (Writer w = Files.newBufferedWriter(dir.resolve("state.properties"))) {
            state.store(w, "TrainStarGan checkpoint");
        }
        StarGanTrainer.Checkpoint c = StarGanTrainer.readCheckpoint(dir);
        assertEquals(120, c.iteration());
        assertEquals(StarGanTrainer.Objective.WGAN_GP, c.objective());
        assertTrue(Double.isNaN(c.lambdaGp()));
        assertEquals(g.params(), c.generator().params());
        assertEquals(d.params(), c.discriminator().params());
        StarGanTrainer resumed = StarGanTrainer.resume(dir, WEIGHTS);
        assertEquals(StarGanTrainer.Objective.WGAN_GP, resumed.objective());
        assertEquals(120, resumed.iteration());
    }

    @Test
    void aBatchWithoutLabelsIsRefusedAndChangesNothing() {
        StarGanTrainer trainer = new StarGanTrainer(generator(), discriminator(), WEIGHTS);
        INDArray g = trainer.generator().params().dup();
        INDArray d = trainer.discriminator().params().dup();
        DataSet unlabelled = new DataSet(Nd4j.rand(DataType.FLOAT, 2, 3, IMAGE, IMAGE), null);
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> trainer.train(new SingletonDataSetIterator(unlabelled), 1, 0, 0, null, null));
        assertTrue(e.getMessage().contains("labels = domain labels [N, L]"), e.getMessage());
        assertEquals(0, trainer.iteration());
        assertEquals(g, trainer.generator().params());
        assertEquals(d, trainer.discriminator().params());
    }

    @Test
    void anExhaustedIteratorThatCannotResetIsNamed() throws IOException {
        StarGanTrainer trainer = new StarGanTrainer(generator(), discriminator(), WEIGHTS);
        ExistingDataSetIterator once =
                new ExistingDataSetIterator(List.of(batches().get(0)).iterator());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> trainer.train(once, 2, 0, 0, null, null));
        assertTrue(e.getMessage().contains("exhausted and cannot be reset"), e.getMessage());
        assertEquals(1, trainer.iteration());
    }

    @Test
    void aMissingCheckpointFileOrAnUnknownLossIsNamed() throws IOException {
        new StarGanTrainer(generator(), discriminator(), WEIGHTS).save(dir);
        Files.delete(dir.resolve("D.zip"));
        IOException missing = assertThrows(IOException.class, () -> StarGanTrainer.readCheckpoint(dir));
        assertTrue(missing.getMessage().contains("No D.zip"), missing.getMessage());

        new StarGanTrainer(generator(), discriminator(), WEIGHTS).save(dir);
        Files.writeString(dir.resolve("state.properties"), "iteration=3\nloss=hinge\n");
        IOException loss = assertThrows(IOException.class, () -> StarGanTrainer.readCheckpoint(dir));
        assertTrue(loss.getMessage().contains("\"hinge\""), loss.getMessage());
    }
}
