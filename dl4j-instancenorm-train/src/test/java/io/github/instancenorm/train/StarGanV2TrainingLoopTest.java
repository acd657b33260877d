package io.github.instancenorm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.train.data.DomainImages;
import io.github.instancenorm.zoo.StarGanV2;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A fresh StarGAN v2 run: the official initialization, the loop over DL4J streams, checkpoints and resuming. */
class StarGanV2TrainingLoopTest {

    private static StarGanV2Trainer.Networks fresh(long seed) {
        return new StarGanV2Trainer.Networks(
                StarGanV2.generator()
                        .imageSize(16)
                        .dimIn(8)
                        .maxConvDim(16)
                        .styleDim(8)
                        .seed(seed)
                        .build(),
                StarGanV2.mappingNetwork()
                        .latentDim(4)
                        .hidden(16)
                        .styleDim(8)
                        .domains(2)
                        .seed(seed)
                        .build(),
                StarGanV2.styleEncoder()
                        .imageSize(16)
                        .dimIn(8)
                        .maxConvDim(16)
                        .styleDim(8)
                        .domains(2)
                        .seed(seed)
                        .build(),
                StarGanV2.discriminator()
                        .imageSize(16)
                        .dimIn(8)
                        .maxConvDim(16)
                        .domains(2)
                        .seed(seed)
                        .build());
    }

    /**
     * He initialization of the trained networks (weights N(0, 2 / fan_in), biases 0) and PyTorch's default for the
     * averages (U(±1 / sqrt(fan_in)) for weights and biases); instance-norm affine parameters stay 1 and 0.
     */
    @Test
    void officialInitialization() {
        StarGanV2Trainer.Networks nets = fresh(1);
        StarGanV2Trainer.Networks ema = fresh(2);
        StarGanV2Trainer.initialize(nets, ema, 3);
        StateDict g = StateDict.of(nets.generator());
        StateDict a = StateDict.of(ema.generator());
        INDArray w = g.get("encode.1.conv1.weight"); // [16, 16, 3, 3]: fan_in 144
        double fanIn = 144;
        assertEquals(fanIn, w.length() / w.size(0));
        assertEquals(Math.sqrt(2 / fanIn), w.stdNumber().doubleValue(), 0.1 * Math.sqrt(2 / fanIn));
        assertEquals(0, g.get("encode.1.conv1.bias").amaxNumber().doubleValue());
        INDArray u = a.get("encode.1.conv1.weight");
        double bound = 1 / Math.sqrt(fanIn);
        assertTrue(u.amaxNumber().doubleValue() <= bound);
        assertEquals(bound / Math.sqrt(3), u.stdNumber().doubleValue(), 0.1 * bound / Math.sqrt(3));
        INDArray ub = a.get("encode.1.conv1.bias");
        assertTrue(ub.amaxNumber().doubleValue() <= bound && ub.amaxNumber().doubleValue() > 0);
        assertEquals(1.0, g.get("encode.1.norm1.weight").minNumber().doubleValue());
        assertEquals(0.0, g.get("encode.1.norm1.bias").amaxNumber().doubleValue());
        INDArray fc = StateDict.of(nets.mappingNetwork()).get("shared.0.weight"); // [16, 4]
        assertEquals(Math.sqrt(2 / 4.0), fc.stdNumber().doubleValue(), 0.15 * Math.sqrt(2 / 4.0));
    }

    /** Three iterations from the streams; checkpoints at 2 and 3 that resume; the listener sees every iteration. */
    @Test
    void trainsFromStreamsAndResumes(@TempDir Path dir) throws Exception {
        StarGanV2Trainer.Networks nets = fresh(5);
        StarGanV2Trainer.Networks ema = fresh(6);
        StarGanV2Trainer.initialize(nets, ema, 7);
        StarGanV2Trainer t = new StarGanV2Trainer(nets, ema, StarGanV2Trainer.Options.OFFICIAL.withDsIter(10), 0)
                .r1PassesIn(DataType.FLOAT);
        INDArray before = t.networks().generator().params().dup();
        List<Map<String, Double>> seen = new ArrayList<>();
        DomainImages data = randomImages();
        t.train(data.source(4, 11), data.reference(4, 12), 3, 13, 1, 2, dir, (tr, l, p) -> seen.add(l.byName()));
        assertEquals(3, t.iteration());
        assertEquals(3, seen.size());
        for (Map<String, Double> terms : seen) {
            terms.values().forEach(v -> assertTrue(Double.isFinite(v), terms.toString()));
        }
        assertEquals(2.0, seen.get(0).get("G/lambda_ds"));
        assertEquals(1.8, seen.get(1).get("G/lambda_ds"), 1e-12);
        assertTrue(t.networks().generator().params().distance2(before) > 0);
        for (int step : new int[] {2, 3}) {
            for (String f : new String[] {"nets", "nets_ema", "optims"}) {
                assertTrue(Files.isRegularFile(dir.resolve(String.format("%06d_%s.ckpt", step, f))), step + f);
            }
        }
        StarGanV2Trainer back = StarGanV2Trainer.resume(dir, 3, StarGanV2Trainer.Options.OFFICIAL);
        assertEquals(
                t.networks().discriminator().params(),
                back.networks().discriminator().params());
        assertEquals(t.ema().generator().params(), back.ema().generator().params());
        assertEquals(3, back.optimizer("generator").uniformStep() / 2);
    }

    /** A stream of the wrong layout or batch size is refused before any update. */
    @Test
    void badStreamsAreRefused() {
        StarGanV2Trainer.Networks nets = fresh(8);
        StarGanV2Trainer t = new StarGanV2Trainer(nets, fresh(9), StarGanV2Trainer.Options.OFFICIAL, 0);
        INDArray before = t.networks().generator().params().dup();
        DomainImages data = randomImages();
        Exception e = assertThrows(
                IllegalArgumentException.class,
                () -> t.train(data.source(4, 1), data.source(4, 2), 1, 0, 0, 0, null, null));
        assertTrue(e.getMessage().contains("x_ref2"), e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> t.train(data.source(4, 1), data.reference(2, 2), 1, 0, 0, 0, null, null));
        assertTrue(e.getMessage().contains("differ in size"), e.getMessage());
        assertEquals(before, t.networks().generator().params());
        assertEquals(0, t.iteration());
    }

    /** 12 random 16 px images in [-1, 1], 6 in each of 2 domains: source batches of 4 give 3 per epoch. */
    private static DomainImages randomImages() {
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.rand(DataType.FLOAT, 12, 3, 16, 16).muli(2).subi(1);
        int[] labels = new int[12];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % 2;
        }
        return DomainImages.fromArrays(List.of("a", "b"), x, labels);
    }
}
