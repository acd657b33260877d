package io.github.instancenorm.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The translate command end to end on the small PyTorch StarGAN checkpoint of the library's fixtures: an image
 * in, a grid PNG out.
 */
class StarGanTranslateTest {

    private static final Path CHECKPOINT =
            Path.of("..", "dl4j-instancenorm-zoo", "src", "test", "resources", "fixtures", "stargan", "G.ckpt");

    @Test
    void writesAGridOfTranslations(@TempDir Path dir) throws Exception {
        BufferedImage in = new BufferedImage(48, 40, BufferedImage.TYPE_INT_RGB); // not square: gets cropped
        Graphics2D g = in.createGraphics();
        g.setColor(new Color(30, 90, 200));
        g.fillRect(0, 0, 48, 40);
        g.setColor(new Color(240, 200, 40));
        g.fillOval(10, 8, 24, 24);
        g.dispose();
        Path image = dir.resolve("in.png");
        ImageIO.write(in, "png", image.toFile());
        Path out = dir.resolve("grid.png");

        StarGanTranslate.main(new String[] {
            "--checkpoint",
            CHECKPOINT.toString(),
            "--image",
            image.toString(),
            "--image",
            image.toString(),
            "--labels",
            "1,0,1;0,1,0",
            "--image-size",
            "32",
            "--statistics",
            "running",
            "--out",
            out.toString()
        });

        BufferedImage grid = ImageIO.read(out.toFile());
        assertNotNull(grid, "a PNG");
        assertEquals(3 * (32 + 2) + 2, grid.getWidth(), "input + 2 translations per row");
        assertEquals(2 * (32 + 2) + 2, grid.getHeight(), "one row per input image");
        int inputPixel = grid.getRGB(2 + 16, 2 + 16);
        int translatedPixel = grid.getRGB(2 + 34 + 16, 2 + 16);
        assertNotEquals(inputPixel, translatedPixel, "the generator changed the image");
    }
}
