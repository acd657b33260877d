package io.github.instancenorm.examples.stargan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** TrainStarGan's flags, read by picocli: defaults, values, the loss-dependent rates and clear errors. */
class TrainingOptionsTest {

    @Test
    void defaultsAndValues() {
        TrainingOptions d = TrainingOptions.parse(new String[0]);
        assertEquals(1750, d.iterations);
        assertEquals(12, d.convDim);
        assertEquals(2e-3, d.generatorLr);
        assertEquals(1e-3, d.discriminatorLr);
        TrainingOptions o = TrainingOptions.parse(new String[] {
            "--iterations",
            "20",
            "--loss",
            "wgan-gp",
            "--attrs",
            "A,B",
            "--exclusive",
            "",
            "--resume",
            "--out",
            "x/y",
            "--d-lr",
            "3e-4"
        });
        assertEquals(20, o.iterations);
        assertEquals(1e-4, o.generatorLr, "wgan-gp's rate unless given");
        assertEquals(3e-4, o.discriminatorLr);
        assertEquals(List.of("A", "B"), o.attributes);
        assertArrayEquals(new int[0], o.exclusive);
        assertTrue(o.resume);
        assertEquals(Path.of("x/y"), o.out);
    }

    @Test
    void theReportGoesIntoTheOutputFolderUnlessToldOtherwise() {
        assertEquals(
                Path.of("target", "stargan", "report"),
                TrainingOptions.parse(new String[0]).reportDirectory());
        assertEquals(
                Path.of("runs/a/report"),
                TrainingOptions.parse(new String[] {"--out", "runs/a"}).reportDirectory());
        assertEquals(
                Path.of("elsewhere/r"),
                TrainingOptions.parse(new String[] {"--out", "runs/a", "--report", "elsewhere/r"})
                        .reportDirectory());
        assertNull(TrainingOptions.parse(new String[] {"--no-report"}).reportDirectory());
        IllegalArgumentException both = assertThrows(
                IllegalArgumentException.class,
                () -> TrainingOptions.parse(new String[] {"--report", "r", "--no-report"}));
        assertTrue(both.getMessage().contains("--no-report"), both.getMessage());
        IllegalArgumentException missing =
                assertThrows(IllegalArgumentException.class, () -> TrainingOptions.parse(new String[] {"--report"}));
        assertTrue(missing.getMessage().contains("--report"), missing.getMessage());
    }

    @Test
    void errorsNameTheFlag() {
        IllegalArgumentException unknown = assertThrows(
                IllegalArgumentException.class, () -> TrainingOptions.parse(new String[] {"--iteration", "3"}));
        assertTrue(unknown.getMessage().contains("--iteration"), unknown.getMessage());
        IllegalArgumentException number = assertThrows(
                IllegalArgumentException.class, () -> TrainingOptions.parse(new String[] {"--iterations", "x"}));
        assertTrue(number.getMessage().contains("--iterations"), number.getMessage());
        IllegalArgumentException loss = assertThrows(
                IllegalArgumentException.class, () -> TrainingOptions.parse(new String[] {"--loss", "hinge"}));
        assertTrue(loss.getMessage().contains("lsgan or wgan-gp"), loss.getMessage());
    }
}
