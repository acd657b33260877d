package io.github.instancenorm.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/**
 * {@link StarGanV2Sample}'s PNG grids against the grids PyTorch wrote from the same checkpoint, images, masks and
 * latent codes ({@code src/test/python/gen_stargan_v2_sample_fixtures.py}, which builds StarGAN v2's
 * {@code translate_using_reference} and {@code translate_using_latent} grids): every pixel within 1 level in 8
 * bits. The checkpoints are the zoo's fixtures.
 */
class StarGanV2SampleTest {

    private static final Path FIXTURES = Paths.get("src/test/resources/fixtures/starganv2-sample");
    private static final Path CHECKPOINTS = Paths.get("../dl4j-instancenorm-zoo/src/test/resources/fixtures/starganv2");

    private static int run(String... args) {
        return new CommandLine(new StarGanV2Sample()).execute(args);
    }

    @ParameterizedTest
    @ValueSource(strings = {"narrow32", "hpf64"})
    void gridsMatchPyTorchs(String config, @TempDir Path out) throws Exception {
        Path dir = FIXTURES.resolve(config);
        List<String> args = new ArrayList<>(List.of(
                "--checkpoint", CHECKPOINTS.resolve(config + "_nets.ckpt").toString(),
                "--src", dir.resolve("src").toString(),
                "--ref", dir.resolve("ref").toString(),
                "--out", out.toString(),
                "--latents", dir.resolve("latents.npz").toString()));
        if (config.equals("hpf64")) {
            args.addAll(List.of("--masks", dir.resolve("masks.npz").toString()));
        }
        assertEquals(0, run(args.toArray(String[]::new)));
        for (String png : List.of("reference.png", "latent_psi_0.5.png", "latent_psi_0.7.png", "latent_psi_1.0.png")) {
            assertWithinOneLevel(config + " " + png, dir.resolve(png), out.resolve(png));
        }
    }

    private static void assertWithinOneLevel(String what, Path expectedFile, Path actualFile) throws Exception {
        BufferedImage expected = ImageIO.read(expectedFile.toFile());
        BufferedImage actual = ImageIO.read(actualFile.toFile());
        assertEquals(expected.getWidth(), actual.getWidth(), what + " width");
        assertEquals(expected.getHeight(), actual.getHeight(), what + " height");
        int worst = 0;
        for (int y = 0; y < expected.getHeight(); y++) {
            for (int x = 0; x < expected.getWidth(); x++) {
                int e = expected.getRGB(x, y);
                int a = actual.getRGB(x, y);
                for (int shift = 0; shift <= 16; shift += 8) {
                    worst = Math.max(worst, Math.abs(((e >> shift) & 0xff) - ((a >> shift) & 0xff)));
                }
            }
        }
        assertTrue(worst <= 1, what + ": a pixel differs by " + worst + " levels");
    }

    @Test
    void drawsItsOwnLatentCodes(@TempDir Path out) throws Exception {
        Path dir = FIXTURES.resolve("narrow32");
        assertEquals(
                0,
                run(
                        "--checkpoint",
                                CHECKPOINTS.resolve("narrow32_nets.ckpt").toString(),
                        "--src", dir.resolve("src").toString(),
                        "--out", out.toString(),
                        "--mode", "latent",
                        "--num-outs", "3",
                        "--mean-of", "500",
                        "--psi", "0.7"));
        BufferedImage grid = ImageIO.read(out.resolve("latent_psi_0.7.png").toFile());
        // 4 sources of 32 px per row; the sources, then 2 domains x 3 codes
        assertEquals(4 * 32, grid.getWidth());
        assertEquals((1 + 2 * 3) * 32, grid.getHeight());
    }

    @Test
    void missingMasksAreNamed(@TempDir Path out) {
        Path dir = FIXTURES.resolve("hpf64");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine cli = new CommandLine(new StarGanV2Sample());
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(
                "--checkpoint", CHECKPOINTS.resolve("hpf64_nets.ckpt").toString(),
                "--src", dir.resolve("src").toString(),
                "--out", out.toString(),
                "--mode", "latent");
        assertTrue(code != 0);
        assertTrue(err.toString().contains("needs its masks [mask0, mask1]"), err.toString());
    }
}
