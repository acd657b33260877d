package io.github.instancenorm.examples.starganv2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.examples.Cli;
import java.awt.image.BufferedImage;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The StarGAN v2 example end to end at a tiny size (its full run takes minutes and is not part of the build): data
 * written in the folder layout and read back, training with checkpoints, the judge's results, the grid and the report.
 */
class TrainStarGanV2SmokeTest {

    @Test
    void runsEndToEnd(@TempDir Path out) throws Exception {
        TrainStarGanV2 o = Cli.parse(
                new TrainStarGanV2(),
                "--iterations",
                "4",
                "--images",
                "60",
                "--eval-images",
                "6",
                "--batch-size",
                "4",
                "--dim-in",
                "8",
                "--max-conv-dim",
                "16",
                "--image-size",
                "16",
                "--save-every",
                "2",
                "--sample-every",
                "2",
                "--log-every",
                "2",
                "--out",
                out.toString());
        Map<String, Double> results = o.run();
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(out.resolve("results.properties"))) {
            p.load(in);
        }
        for (String key : List.of(
                "latent_accuracy", "reference_accuracy", "style_match", "diversity", "content_iou", "iterations")) {
            double v = Double.parseDouble(p.getProperty(key));
            assertEquals(results.get(key), v, 1e-4, key);
            assertTrue(Double.isFinite(v), key);
        }
        // 6 inputs, each to the 2 domains that are not its own
        assertEquals(12.0, results.get("translations"));
        for (String d : ShapesV2Data.DOMAINS) {
            assertTrue(Files.isDirectory(out.resolve("data").resolve(d)), d);
        }
        assertTrue(Files.isRegularFile(out.resolve("checkpoints/000004_optims.ckpt")));
        assertTrue(Files.isRegularFile(out.resolve("checkpoints/000002_nets_ema.ckpt")));
        BufferedImage grid = ImageIO.read(out.resolve("translations.png").toFile());
        // columns: input, 3 latent, 3 reference; rows: the references, then 6 inputs; 16 px and a 2 px gutter
        assertEquals(7 * 18 + 2, grid.getWidth());
        assertEquals(7 * 18 + 2, grid.getHeight());
        assertTrue(Files.readString(out.resolve("report/index.html")).contains("G/latent/total"));
        assertTrue(Files.readString(out.resolve("report/losses.csv")).contains("D/reference/reg"));
    }
}
