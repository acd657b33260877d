package io.github.instancenorm.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ONNX translate command end to end on the ONNX module's StarGAN export (running statistics, eval mode, batch
 * fixed at 2): its grid equals the grid {@link StarGanTranslate} draws from the same weights' checkpoint with
 * running statistics, pixel for pixel up to one level of 8-bit rounding. Three label sets in batches of 2 also run
 * the padded last batch.
 */
class OnnxTranslateTest {
    private static final Path FIXTURES =
            Path.of("..", "dl4j-instancenorm-onnx", "src", "test", "resources", "fixtures", "onnx");

    @Test
    void drawsTheSameGridAsTheCheckpointPath(@TempDir Path dir) throws Exception {
        BufferedImage in = new BufferedImage(40, 36, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = in.createGraphics();
        g.setColor(new Color(200, 60, 40));
        g.fillRect(0, 0, 40, 36);
        g.setColor(new Color(40, 200, 230));
        g.fillOval(6, 6, 22, 22);
        g.dispose();
        Path image = dir.resolve("in.png");
        ImageIO.write(in, "png", image.toFile());
        String labels = "1,0,1;0,1,0;1,1,0";

        Path onnxGrid = dir.resolve("onnx.png");
        OnnxTranslate.main(new String[] {
            "--model", FIXTURES.resolve("stargan_eval_opset11.onnx").toString(),
            "--image", image.toString(),
            "--labels", labels,
            "--out", onnxGrid.toString()
        });
        Path ckptGrid = dir.resolve("ckpt.png");
        StarGanTranslate.main(new String[] {
            "--checkpoint",
            FIXTURES.resolve("stargan_G.ckpt").toString(),
            "--image",
            image.toString(),
            "--labels",
            labels,
            "--image-size",
            "16",
            "--statistics",
            "running",
            "--out",
            ckptGrid.toString()
        });

        BufferedImage a = ImageIO.read(onnxGrid.toFile());
        BufferedImage b = ImageIO.read(ckptGrid.toFile());
        assertEquals(4 * (16 + 2) + 2, a.getWidth(), "input + 3 translations");
        assertEquals(b.getWidth(), a.getWidth());
        assertEquals(b.getHeight(), a.getHeight());
        int worst = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y);
                int q = b.getRGB(x, y);
                for (int shift = 0; shift < 24; shift += 8) {
                    worst = Math.max(worst, Math.abs(((p >> shift) & 255) - ((q >> shift) & 255)));
                }
            }
        }
        assertTrue(worst <= 1, "largest channel difference between the two grids: " + worst);
    }
}
