package io.github.instancenorm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The trainer's settings; its steps are checked against PyTorch in {@link StarGanTrainerTorchTest}. */
class StarGanTrainerTest {

    @Test
    void lossWeightsAreNamedAndChecked() {
        StarGanTrainer.LossWeights w = StarGanTrainer.LossWeights.STARGAN.withIdentity(10);
        assertEquals(new StarGanTrainer.LossWeights(1, 10, 10), w);
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> StarGanTrainer.LossWeights.STARGAN.withReconstruction(-1));
        assertTrue(e.getMessage().contains("reconstruction -1.0"), e.getMessage());
    }
}
