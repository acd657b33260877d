package io.github.instancenorm.examples.starganv2;

import io.github.instancenorm.train.data.DomainImages;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Generated images for the StarGAN v2 example, deterministic from a seed: one object on a plain background, where
 *
 * <ul>
 *   <li><b>the domain</b> is the object's texture, {@link #DOMAINS}: a {@code checker} of 2×2 cells, {@code plain},
 *       or horizontal {@code stripes} (bands two pixels high). Textured pixels alternate between the object colour and
 *       its <i>shade</i>, the object colour moved 60% of the way to black on a light background, to white on a dark
 *       one. The pattern's phase is random. Translation changes this and nothing else of the content.
 *   <li><b>the style</b>, which varies within a domain, is the colour scheme: one of {@link #PALETTE_COUNT} palettes
 *       (an object colour and a background colour), each colour jittered per image by up to ±{@value #COLOUR_JITTER}
 *       per channel (in [0, 1] units). Reference-guided translation should take the reference's palette.
 *   <li><b>the content</b>, which translation must keep, is the object's silhouette: its outline (circle, square or
 *       triangle), position and size. Its mask comes with every image, so a translation's mask can be compared with
 *       the input's by IoU ({@link ShapesV2Judge#contentIoU}).
 * </ul>
 *
 * Every pixel also gets independent noise of up to ±{@value #PIXEL_NOISE}. Images are {@code [N, 3, S, S]} (NCHW,
 * RGB) in [-1, 1], quantized to 8 bits ({@code q / 127.5 - 1} for an integer {@code q} in [0, 255]) so that
 * {@link #writeFolder} and {@link DomainImages#fromFolder} give back exactly the same values. The palettes are chosen
 * so that the judge can tell them apart: the background and both object colours are at least 1.4 apart, the object
 * colour and its shade at least 0.8 (Euclidean RGB distance in [-1, 1] units), and see {@link ShapesV2Judge} for the
 * palette margins.
 */
public final class ShapesV2Data {

    /**
     * The domains, in label order: the object's texture. The names are sorted, so a folder written by {@link
     * #writeFolder} and read by {@link DomainImages#fromFolder} (which sorts folder names) keeps these labels.
     */
    public static final List<String> DOMAINS = List.of("checker", "plain", "stripes");

    /** The label of a checker of 2×2 cells. */
    public static final int CHECKER = 0;

    /** The label of an untextured object. */
    public static final int PLAIN = 1;

    /** The label of horizontal stripes two pixels high. */
    public static final int STRIPES = 2;

    /** The example's image size: small enough to train on two cores in minutes. */
    public static final int DEFAULT_IMAGE_SIZE = 32;

    /** How many palettes the style is drawn from. */
    public static final int PALETTE_COUNT = 6;

    /** Per-image jitter of each palette colour channel, in [0, 1] units: the style's variation within a palette. */
    public static final double COLOUR_JITTER = 0.05;

    /** Per-pixel noise, in [0, 1] units. */
    public static final double PIXEL_NOISE = 0.02;

    /** How far the shade moves the object colour towards black (light background) or white (dark background). */
    static final double SHADE = 0.6;

    /** Palettes as {object RGB, background RGB}, in [0, 1]. */
    private static final double[][][] PALETTES = {
        {{0.85, 0.20, 0.20}, {0.92, 0.90, 0.78}}, // red on cream
        {{0.25, 0.45, 0.95}, {0.10, 0.10, 0.18}}, // blue on near-black
        {{0.95, 0.80, 0.15}, {0.12, 0.20, 0.45}}, // yellow on navy
        {{0.15, 0.60, 0.25}, {0.95, 0.72, 0.80}}, // green on pink
        {{0.20, 0.65, 0.70}, {0.45, 0.08, 0.12}}, // teal on maroon
        {{0.50, 0.20, 0.65}, {0.70, 0.90, 0.55}}, // purple on lime
    };

    /** The object's outline. */
    public enum Outline {
        CIRCLE,
        SQUARE,
        TRIANGLE
    }

    /**
     * An image's content: the object's outline, centre and size, in pixels. Re-rendering it ({@link #render}) in
     * another domain or palette gives the ideal translation.
     *
     * @param outline the outline
     * @param centreX centre, from the left edge
     * @param centreY centre, from the top edge
     * @param radius  half the object's extent
     */
    public record Shape(Outline outline, double centreX, double centreY, double radius) {}

    /**
     * Generated images with their ground truth.
     *
     * @param images   {@code [N, 3, S, S]} in [-1, 1]
     * @param masks    {@code [N, S, S]}, 1 on the object, 0 on the background
     * @param domains  each image's domain, an index into {@link #DOMAINS}
     * @param palettes each image's palette, in {@code [0, PALETTE_COUNT)}
     * @param shapes   each image's content
     */
    public record Batch(INDArray images, INDArray masks, int[] domains, int[] palettes, List<Shape> shapes) {
        /** @return the images as a StarGAN v2 training set, labelled by {@link #domains} */
        public DomainImages domainImages() {
            return DomainImages.fromArrays(DOMAINS, images, domains);
        }

        /** @return the number of images */
        public int size() {
            return domains.length;
        }
    }

    private final int size;
    private final SplittableRandom random;

    /**
     * @param imageSize side of the square images in pixels, at least 16
     * @param seed      the same seed gives the same sequence of images
     */
    public ShapesV2Data(int imageSize, long seed) {
        if (imageSize < 16) {
            throw new IllegalArgumentException("ShapesV2Data needs images of at least 16x16 pixels, got " + imageSize);
        }
        this.size = imageSize;
        this.random = new SplittableRandom(seed);
    }

    /** @return side of the images in pixels */
    public int imageSize() {
        return size;
    }

    /**
     * @param palette an index in {@code [0, PALETTE_COUNT)}
     * @return the palette's object colour, RGB in [0, 1], before jitter
     */
    public static double[] objectColour(int palette) {
        return PALETTES[palette][0].clone();
    }

    /**
     * @param palette an index in {@code [0, PALETTE_COUNT)}
     * @return the palette's background colour, RGB in [0, 1], before jitter
     */
    public static double[] backgroundColour(int palette) {
        return PALETTES[palette][1].clone();
    }

    /**
     * The texture's second colour: {@code object · (1 - SHADE)} on a light background (luminance above one half),
     * {@code object + (1 - object) · SHADE} on a dark one.
     *
     * @param object     RGB in [0, 1]
     * @param background RGB in [0, 1]
     * @return the shade, RGB in [0, 1]
     */
    public static double[] shade(double[] object, double[] background) {
        boolean light = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2] > 0.5;
        double[] s = new double[3];
        for (int c = 0; c < 3; c++) {
            s[c] = light ? object[c] * (1 - SHADE) : object[c] + (1 - object[c]) * SHADE;
        }
        return s;
    }

    /**
     * Draws {@code n} new images. Domains come in shuffled blocks of one of each (so any {@code n ≥ 3} has every
     * domain, and the counts differ by at most one); palettes, outlines, positions and sizes are uniform.
     *
     * @param n how many, at least 1
     * @return the images and their ground truth
     */
    public Batch next(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("Need at least one image, got " + n);
        }
        int[] domains = new int[n];
        int[] palettes = new int[n];
        List<Shape> shapes = new ArrayList<>(n);
        int k = DOMAINS.size();
        int[] block = new int[k];
        for (int i = 0; i < n; i++) {
            if (i % k == 0) {
                for (int d = 0; d < k; d++) {
                    block[d] = d;
                }
                for (int d = k - 1; d > 0; d--) {
                    int j = random.nextInt(d + 1);
                    int t = block[d];
                    block[d] = block[j];
                    block[j] = t;
                }
            }
            domains[i] = block[i % k];
            palettes[i] = random.nextInt(PALETTE_COUNT);
            shapes.add(randomShape());
        }
        return render(shapes, domains, palettes);
    }

    /**
     * Draws {@code n} new images ({@link #next}) as a training set.
     *
     * @param n how many, at least 3 (every domain needs an image)
     * @return the images, labelled by domain
     */
    public DomainImages domainImages(int n) {
        if (n < DOMAINS.size()) {
            throw new IllegalArgumentException("Need at least " + DOMAINS.size() + " images, one per domain, got " + n);
        }
        return next(n).domainImages();
    }

    /**
     * Paints given contents in given domains and palettes, with fresh jitter, texture phase and noise: for a
     * content taken from another batch, the ideal translation of that batch's images.
     *
     * @param shapes   the contents
     * @param domains  a domain per content
     * @param palettes a palette per content
     * @return the images and their ground truth
     */
    public Batch render(List<Shape> shapes, int[] domains, int[] palettes) {
        int n = shapes.size();
        if (domains.length != n || palettes.length != n) {
            throw new IllegalArgumentException("Got " + n + " shapes, " + domains.length + " domains and "
                    + palettes.length + " palettes; expected one of each per image");
        }
        for (int i = 0; i < n; i++) {
            if (domains[i] < 0 || domains[i] >= DOMAINS.size()) {
                throw new IllegalArgumentException(
                        "Domain " + domains[i] + " of image " + i + " is outside [0, " + DOMAINS.size() + ")");
            }
            if (palettes[i] < 0 || palettes[i] >= PALETTE_COUNT) {
                throw new IllegalArgumentException(
                        "Palette " + palettes[i] + " of image " + i + " is outside [0, " + PALETTE_COUNT + ")");
            }
        }
        int plane = size * size;
        float[] images = new float[n * 3 * plane];
        float[] masks = new float[n * plane];
        for (int i = 0; i < n; i++) {
            Shape shape = Objects.requireNonNull(shapes.get(i), "shape");
            for (int y = 0; y < size; y++) {
                for (int x = 0; x < size; x++) {
                    masks[i * plane + y * size + x] = inside(shape, x, y) ? 1 : 0;
                }
            }
            paint(images, i * 3 * plane, masks, i * plane, domains[i], palettes[i]);
        }
        return new Batch(
                Nd4j.create(images, new long[] {n, 3, size, size}, DataType.FLOAT),
                Nd4j.create(masks, new long[] {n, size, size}, DataType.FLOAT),
                domains.clone(),
                palettes.clone(),
                List.copyOf(shapes));
    }

    private Shape randomShape() {
        Outline outline = Outline.values()[random.nextInt(Outline.values().length)];
        double radius = size * (0.22 + 0.12 * random.nextDouble());
        // Two pixels of margin: the border ring stays background, which the judge reads as the background colour.
        double free = size - 2 * radius - 4;
        double cx = radius + 2 + random.nextDouble() * free;
        double cy = radius + 2 + random.nextDouble() * free;
        return new Shape(outline, cx, cy, radius);
    }

    private static boolean inside(Shape shape, int x, int y) {
        double dx = x + 0.5 - shape.centreX();
        double dy = y + 0.5 - shape.centreY();
        double r = shape.radius();
        return switch (shape.outline()) {
            case CIRCLE -> dx * dx + dy * dy <= r * r;
            case SQUARE -> Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85;
            case TRIANGLE -> dy <= r * 0.8 && dy >= -r && Math.abs(dx) <= (dy + r) * 0.55;
        };
    }

    private void paint(float[] images, int offset, float[] masks, int maskOffset, int domain, int palette) {
        double[] object = jitter(PALETTES[palette][0]);
        double[] background = jitter(PALETTES[palette][1]);
        double[] shade = shade(object, background);
        int phaseX = random.nextInt(4);
        int phaseY = random.nextInt(4);
        int plane = size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int p = y * size + x;
                boolean shaded = switch (domain) {
                    case STRIPES -> ((y + phaseY) / 2) % 2 == 1;
                    case CHECKER -> (((y + phaseY) / 2) + ((x + phaseX) / 2)) % 2 == 1;
                    default -> false;
                };
                double[] colour = masks[maskOffset + p] == 0 ? background : shaded ? shade : object;
                for (int c = 0; c < 3; c++) {
                    double v = colour[c] + (random.nextDouble() * 2 - 1) * PIXEL_NOISE;
                    images[offset + c * plane + p] = toUnit(v);
                }
            }
        }
    }

    private double[] jitter(double[] colour) {
        double[] out = new double[3];
        for (int c = 0; c < 3; c++) {
            out[c] = Math.min(1, Math.max(0, colour[c] + (random.nextDouble() * 2 - 1) * COLOUR_JITTER));
        }
        return out;
    }

    /** A value in [0, 1], quantized to 8 bits, in [-1, 1] as an 8-bit image reads ({@code q / 127.5 - 1}). */
    private static float toUnit(double v) {
        long q = Math.round(Math.min(1, Math.max(0, v)) * 255);
        return (float) (q / 127.5 - 1);
    }

    /**
     * Writes images in StarGAN v2's folder layout, {@code root/{domain}/{index}.png} (index zero-padded to 5 digits,
     * in batch order), for {@link DomainImages#fromFolder}. Values are rounded to 8 bits (exact for this class's
     * images). Written into a temporary sibling folder first and then moved into place, so a failure leaves no
     * {@code root} behind.
     *
     * @param batch images with their domains; every domain needs at least one image
     * @param root  the folder to create; it must not exist yet
     * @return {@code root}
     * @throws IllegalArgumentException if {@code root} exists or a domain has no image
     * @throws IOException              if writing fails
     */
    public static Path writeFolder(Batch batch, Path root) throws IOException {
        Path target = root.toAbsolutePath();
        if (Files.exists(target)) {
            throw new IllegalArgumentException(
                    "The folder " + target + " already exists; pass a new folder (it is created) or delete it first");
        }
        int[] counts = new int[DOMAINS.size()];
        for (int d : batch.domains()) {
            counts[d]++;
        }
        for (int d = 0; d < counts.length; d++) {
            if (counts[d] == 0) {
                throw new IllegalArgumentException("The batch has no image of the domain '" + DOMAINS.get(d)
                        + "', so its folder would be empty; generate at least " + DOMAINS.size() + " images");
            }
        }
        Path parent = Files.createDirectories(target.getParent());
        Path staging = Files.createTempDirectory(parent, "." + target.getFileName() + ".");
        try {
            for (String domain : DOMAINS) {
                Files.createDirectory(staging.resolve(domain));
            }
            float[] images =
                    batch.images().castTo(DataType.FLOAT).dup('c').data().asFloat();
            int s = (int) batch.images().size(2);
            int plane = s * s;
            for (int i = 0; i < batch.size(); i++) {
                BufferedImage image = new BufferedImage(s, s, BufferedImage.TYPE_INT_RGB);
                int base = i * 3 * plane;
                for (int p = 0; p < plane; p++) {
                    int r = to8Bit(images[base + p]);
                    int g = to8Bit(images[base + plane + p]);
                    int b = to8Bit(images[base + 2 * plane + p]);
                    image.setRGB(p % s, p / s, (r << 16) | (g << 8) | b);
                }
                Path file = staging.resolve(DOMAINS.get(batch.domains()[i])).resolve(String.format("%05d.png", i));
                if (!ImageIO.write(image, "png", file.toFile())) {
                    throw new IOException("No PNG writer in this JDK's ImageIO");
                }
            }
            Files.move(staging, target);
        } catch (IOException | RuntimeException e) {
            deleteTree(staging);
            throw e;
        }
        return root;
    }

    private static int to8Bit(float v) {
        return (int) Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // Best effort: the original failure is the one to report.
        }
    }

    @Override
    public String toString() {
        return "ShapesV2Data[" + size + " px, domains " + DOMAINS + ", " + PALETTE_COUNT + " palettes]";
    }
}
