package io.github.instancenorm.examples;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Image input and output for the StarGAN examples: StarGAN's preprocessing (center crop, resize, RGB scaled to
 * [-1, 1], NCHW) and sample grids written as PNG.
 */
public final class ImageGrids {

    private ImageGrids() {}

    /**
     * Reads an image the way StarGAN's data loader prepares CelebA: the largest centered square is cropped,
     * resized to {@code size} x {@code size} (bilinear) and scaled to [-1, 1].
     *
     * @param file an image file ImageIO can read (PNG, JPEG, BMP, GIF)
     * @param size the side of the square result
     * @return {@code [1, 3, size, size]} float, RGB
     * @throws IOException if the file cannot be read or is not an image
     */
    public static INDArray readImage(Path file, int size) throws IOException {
        BufferedImage image = ImageIO.read(file.toFile());
        if (image == null) {
            throw new IOException("Not an image ImageIO can read (PNG, JPEG, BMP, GIF): " + file);
        }
        int side = Math.min(image.getWidth(), image.getHeight());
        BufferedImage square =
                image.getSubimage((image.getWidth() - side) / 2, (image.getHeight() - side) / 2, side, side);
        BufferedImage resized = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = resized.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(square, 0, 0, size, size, null);
        g.dispose();

        float[] chw = new float[3 * size * size];
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int rgb = resized.getRGB(x, y);
                int at = y * size + x;
                chw[at] = ((rgb >> 16) & 0xff) / 127.5f - 1f;
                chw[size * size + at] = ((rgb >> 8) & 0xff) / 127.5f - 1f;
                chw[2 * size * size + at] = (rgb & 0xff) / 127.5f - 1f;
            }
        }
        return Nd4j.create(chw, new long[] {1, 3, size, size}, DataType.FLOAT);
    }

    /**
     * Writes a grid of images as one PNG, row by row: {@code rows.get(r)} is an {@code [N, 3, H, W]} batch in
     * [-1, 1] whose images fill the columns of row {@code r}, with a 2-pixel white gutter.
     *
     * @param rows the rows; all batches the same shape
     * @param file the PNG to write; parent folders are created
     * @return the grid that was written
     * @throws IOException if the file cannot be written
     */
    public static BufferedImage writeGrid(List<INDArray> rows, Path file) throws IOException {
        BufferedImage grid = grid(rows);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        if (!ImageIO.write(grid, "png", file.toFile())) {
            throw new IOException("No PNG writer available for " + file);
        }
        return grid;
    }

    /**
     * A grid of images, row by row, as {@link #writeGrid} writes it.
     *
     * @param rows {@code [N, 3, H, W]} batches in [-1, 1], all the same shape: row {@code r} shows
     *     {@code rows.get(r)}
     * @return the grid, with a 2-pixel white gutter
     */
    public static BufferedImage grid(List<INDArray> rows) {
        long[] shape = rows.get(0).shape();
        int cols = (int) shape[0];
        int h = (int) shape[2];
        int w = (int) shape[3];
        int gutter = 2;
        BufferedImage grid = new BufferedImage(
                cols * (w + gutter) + gutter, rows.size() * (h + gutter) + gutter, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = grid.createGraphics();
        g.setColor(java.awt.Color.WHITE);
        g.fillRect(0, 0, grid.getWidth(), grid.getHeight());
        g.dispose();
        for (int r = 0; r < rows.size(); r++) {
            float[] data = rows.get(r).castTo(DataType.FLOAT).dup('c').data().asFloat();
            for (int c = 0; c < cols; c++) {
                int base = c * 3 * h * w;
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        int at = base + y * w + x;
                        int red = toByte(data[at]);
                        int green = toByte(data[at + h * w]);
                        int blue = toByte(data[at + 2 * h * w]);
                        grid.setRGB(
                                gutter + c * (w + gutter) + x,
                                gutter + r * (h + gutter) + y,
                                (red << 16) | (green << 8) | blue);
                    }
                }
            }
        }
        return grid;
    }

    private static int toByte(float v) {
        return Math.max(0, Math.min(255, Math.round((v + 1f) * 127.5f)));
    }
}
