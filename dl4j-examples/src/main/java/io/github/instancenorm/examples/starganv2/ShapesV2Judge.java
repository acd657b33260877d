package io.github.instancenorm.examples.starganv2;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * An independent judge of translations of {@link ShapesV2Data} images: it measures images directly, never through a
 * trained network, so its verdict on a generator's outputs is not the GAN grading itself. All images are {@code [N,
 * 3, S, S]} in [-1, 1]; distances are Euclidean over RGB in [-1, 1] units.
 *
 * <p><b>Segmentation.</b> The background colour {@code B} is the per-channel median of the one-pixel border ring (the
 * generator keeps objects two pixels from the edge). A pixel belongs to the object when it is more than {@link
 * #FOREGROUND_DISTANCE} from {@code B}: under half the smallest distance between a palette's background and either
 * object colour (1.47; the jitter moves that distance by at most √3 · 0.2 = 0.35, the noise a pixel by at most 0.07),
 * so neither moves a pixel across.
 *
 * <p><b>Domain</b> ({@link #domains}): the texture, read from differences at a lag of two pixels, the texture's
 * half-period, between pixels of the object's interior (the mask eroded by one pixel, so that edges do not count):
 * {@code v} vertically, {@code h} horizontally, {@code g} diagonally (mean distances). Stripes two pixels high give
 * {@code v} ≈ c (the object-shade contrast: at least 0.8 in the palettes, down to about 0.73 with the jitter) and {@code
 * h} ≈ 0; a checker of 2×2 cells gives {@code v} ≈ {@code h} ≈ c and {@code g} ≈ 0; plain gives all three at the noise
 * level (about 0.06; {@code ShapesV2JudgeTest} prints both on held-out images). With
 * {@code T} = {@link #TEXTURE_THRESHOLD}: {@code plain} if {@code v < T} and {@code h < T}; {@code stripes} if {@code
 * v ≥ T > h}; {@code checker} if both are at least {@code T} and {@code g < min(v, h) / 2}; otherwise (vertical
 * stripes, noise, no interior) {@link #UNKNOWN}, which matches no domain.
 *
 * <p><b>Style</b> ({@link #palettes}): the background colour {@code B} and the object colour {@code A}, the mean of the
 * interior pixels on the unshaded side of the texture (the brightest quarter by luminance on a light background, where
 * the shade is darker; the darkest quarter on a dark one), so that {@code A} does not depend on how much of the object
 * the texture shades (at most 70%). The palette is the one whose (background, object) pair is
 * nearest to {@code (B, A)}, if it is within {@link #STYLE_RADIUS}, and {@link #UNKNOWN} otherwise. Two images have the
 * same style when they have the same known palette. The radius is half the smallest distance between two palettes'
 * pairs (0.96, blue on near-black against teal on maroon), so the balls are disjoint; the generator's jitter moves
 * a pair by at most √6 · 0.1 = 0.245.
 *
 * <p><b>Content</b> ({@link #contentIoU}): the intersection over union of the two images' object masks.
 *
 * <p><b>Diversity</b> ({@link #diversity}): the mean over inputs and over pairs of latent codes of the mean absolute
 * difference between two translations of one input.
 */
public final class ShapesV2Judge {

    /** A domain or palette that the judge cannot name: it matches nothing. */
    public static final int UNKNOWN = -1;

    /** Distance from the background colour above which a pixel belongs to the object. */
    public static final double FOREGROUND_DISTANCE = 0.7;

    /**
     * Lag-two difference above which a direction is textured: about the geometric mean of the plain objects' noise
     * level (0.06) and the weakest contrast (0.73), so a blur that halves the contrast (a [1, 2, 1] / 4 filter along
     * one axis) still reads every domain right.
     */
    public static final double TEXTURE_THRESHOLD = 0.2;

    /** Largest distance from a palette's (background, object) pair at which an image still has that palette. */
    public static final double STYLE_RADIUS;

    /** Each palette's (background, object) colours in [-1, 1], six values. */
    private static final double[][] PALETTE_PAIRS = new double[ShapesV2Data.PALETTE_COUNT][];

    static {
        for (int p = 0; p < ShapesV2Data.PALETTE_COUNT; p++) {
            double[] pair = new double[6];
            double[] background = ShapesV2Data.backgroundColour(p);
            double[] object = ShapesV2Data.objectColour(p);
            for (int c = 0; c < 3; c++) {
                pair[c] = 2 * background[c] - 1;
                pair[3 + c] = 2 * object[c] - 1;
            }
            PALETTE_PAIRS[p] = pair;
        }
        double closest = Double.MAX_VALUE;
        for (int p = 0; p < PALETTE_PAIRS.length; p++) {
            for (int q = p + 1; q < PALETTE_PAIRS.length; q++) {
                closest = Math.min(closest, distance(PALETTE_PAIRS[p], PALETTE_PAIRS[q]));
            }
        }
        STYLE_RADIUS = closest / 2;
    }

    private ShapesV2Judge() {}

    /**
     * What the judge reads from one image.
     *
     * @param background   the background colour {@code B}, RGB in [-1, 1]
     * @param object       the object colour {@code A}, RGB in [-1, 1] (NaN if the image has no object pixel)
     * @param objectPixels how many pixels the mask has
     * @param vertical     {@code v}, the interior's mean vertical lag-two difference (NaN without an interior)
     * @param horizontal   {@code h}, the horizontal one
     * @param diagonal     {@code g}, the diagonal one
     * @param domain       the domain read from {@code v, h, g}, or {@link #UNKNOWN}
     * @param palette      the palette within {@link #STYLE_RADIUS} of {@code (B, A)}, or {@link #UNKNOWN}
     * @param nearestPalette the palette nearest to {@code (B, A)}, however far ({@link #UNKNOWN} without an object)
     * @param paletteDistance the distance from {@code (B, A)} to the nearest palette's pair (NaN without an object)
     */
    public record Measurement(
            double[] background,
            double[] object,
            int objectPixels,
            double vertical,
            double horizontal,
            double diagonal,
            int domain,
            int palette,
            int nearestPalette,
            double paletteDistance) {}

    /**
     * @param images {@code [N, 3, S, S]} in [-1, 1]
     * @return what the judge reads from each image
     */
    public static List<Measurement> measure(INDArray images) {
        int s = checkImages(images, "images");
        float[] data = floats(images);
        int n = (int) images.size(0);
        List<Measurement> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(measure(data, i * 3 * s * s, s));
        }
        return out;
    }

    /**
     * @param images {@code [N, 3, S, S]} in [-1, 1]
     * @return each image's domain (an index into {@link ShapesV2Data#DOMAINS}) or {@link #UNKNOWN}
     */
    public static int[] domains(INDArray images) {
        return measure(images).stream().mapToInt(Measurement::domain).toArray();
    }

    /**
     * @param images  {@code [N, 3, S, S]} in [-1, 1]
     * @param targets the domain each image should have
     * @return the fraction of images whose domain is their target
     */
    public static double domainAccuracy(INDArray images, int[] targets) {
        int[] found = domains(images);
        checkCount(found.length, targets.length, "targets");
        int right = 0;
        for (int i = 0; i < found.length; i++) {
            right += found[i] == targets[i] ? 1 : 0;
        }
        return (double) right / found.length;
    }

    /**
     * @param images {@code [N, 3, S, S]} in [-1, 1]
     * @return each image's palette, in {@code [0, ShapesV2Data.PALETTE_COUNT)}, or {@link #UNKNOWN}
     */
    public static int[] palettes(INDArray images) {
        return measure(images).stream().mapToInt(Measurement::palette).toArray();
    }

    /**
     * @param outputs    translations, {@code [N, 3, S, S]}
     * @param references the reference image of each, {@code [N, 3, S, S]}
     * @return per row, whether both have the same known palette
     */
    public static boolean[] sameStyle(INDArray outputs, INDArray references) {
        int[] a = palettes(outputs);
        int[] b = palettes(references);
        checkCount(a.length, b.length, "references");
        boolean[] same = new boolean[a.length];
        for (int i = 0; i < a.length; i++) {
            same[i] = a[i] != UNKNOWN && a[i] == b[i];
        }
        return same;
    }

    /**
     * @param outputs    translations, {@code [N, 3, S, S]}
     * @param references the reference image of each
     * @return the fraction of rows with the same style ({@link #sameStyle})
     */
    public static double styleMatchRate(INDArray outputs, INDArray references) {
        boolean[] same = sameStyle(outputs, references);
        int matched = 0;
        for (boolean m : same) {
            matched += m ? 1 : 0;
        }
        return (double) matched / same.length;
    }

    /**
     * @param images {@code [N, 3, S, S]} in [-1, 1]
     * @return the object masks the judge segments, {@code [N, S, S]}, 1 on the object and 0 elsewhere
     */
    public static INDArray masks(INDArray images) {
        int s = checkImages(images, "images");
        float[] data = floats(images);
        int n = (int) images.size(0);
        float[] masks = new float[n * s * s];
        for (int i = 0; i < n; i++) {
            boolean[] mask = segment(data, i * 3 * s * s, s, background(data, i * 3 * s * s, s));
            for (int p = 0; p < s * s; p++) {
                masks[i * s * s + p] = mask[p] ? 1 : 0;
            }
        }
        return Nd4j.create(masks, new long[] {n, s, s}, DataType.FLOAT);
    }

    /**
     * Content kept by a translation: the IoU of the masks the judge segments in the inputs and in the outputs.
     *
     * @param inputs  {@code [N, 3, S, S]}
     * @param outputs their translations, same shape
     * @return the IoU per row (1 where both masks are empty)
     */
    public static double[] contentIoU(INDArray inputs, INDArray outputs) {
        checkSameShape(inputs, outputs, "outputs");
        return maskIoU(masks(inputs), masks(outputs));
    }

    /**
     * @param a masks {@code [N, S, S]} (a value above one half is the object)
     * @param b masks of the same shape
     * @return the IoU per row (1 where both are empty)
     */
    public static double[] maskIoU(INDArray a, INDArray b) {
        checkSameShape(a, b, "masks");
        if (a.rank() != 3) {
            throw new IllegalArgumentException("Expected masks [N, S, S], got " + Arrays.toString(a.shape()));
        }
        int n = (int) a.size(0);
        int plane = (int) (a.size(1) * a.size(2));
        float[] x = floats(a);
        float[] y = floats(b);
        double[] iou = new double[n];
        for (int i = 0; i < n; i++) {
            long intersection = 0;
            long union = 0;
            for (int p = i * plane; p < (i + 1) * plane; p++) {
                boolean u = x[p] > 0.5f;
                boolean v = y[p] > 0.5f;
                intersection += u && v ? 1 : 0;
                union += u || v ? 1 : 0;
            }
            iou[i] = union == 0 ? 1 : (double) intersection / union;
        }
        return iou;
    }

    /**
     * Diversity of latent-guided translation: for each input, the mean absolute difference (over every pixel and
     * channel, images in [-1, 1]) between its translations under two different latent codes, averaged over all pairs
     * of codes and over the inputs.
     *
     * @param translations one array {@code [N, 3, S, S]} per latent code, row {@code i} of each translating input
     *                     {@code i}; at least two, all of the same shape
     * @return the mean pairwise L1 distance
     */
    public static double diversity(List<INDArray> translations) {
        if (translations.size() < 2) {
            throw new IllegalArgumentException(
                    "Diversity needs translations under at least 2 latent codes, got " + translations.size());
        }
        List<float[]> data = new ArrayList<>();
        for (INDArray t : translations) {
            checkSameShape(translations.get(0), t, "translations");
            data.add(floats(t));
        }
        int length = data.get(0).length;
        double sum = 0;
        int pairs = 0;
        for (int a = 0; a < data.size(); a++) {
            for (int b = a + 1; b < data.size(); b++) {
                float[] x = data.get(a);
                float[] y = data.get(b);
                double l1 = 0;
                for (int k = 0; k < length; k++) {
                    l1 += Math.abs(x[k] - y[k]);
                }
                sum += l1 / length;
                pairs++;
            }
        }
        return sum / pairs;
    }

    private static Measurement measure(float[] data, int offset, int s) {
        int plane = s * s;
        double[] background = background(data, offset, s);
        boolean[] mask = segment(data, offset, s, background);
        int objectPixels = 0;
        for (boolean m : mask) {
            objectPixels += m ? 1 : 0;
        }
        boolean[] interior = new boolean[plane];
        int interiorPixels = 0;
        for (int y = 1; y < s - 1; y++) {
            for (int x = 1; x < s - 1; x++) {
                int p = y * s + x;
                interior[p] = mask[p] && mask[p - 1] && mask[p + 1] && mask[p - s] && mask[p + s];
                interiorPixels += interior[p] ? 1 : 0;
            }
        }
        double vertical = lagDistance(data, offset, s, interior, 2, 0);
        double horizontal = lagDistance(data, offset, s, interior, 0, 2);
        double diagonal = lagDistance(data, offset, s, interior, 2, 2);
        int domain = domain(vertical, horizontal, diagonal);

        boolean[] region = interiorPixels > 0 ? interior : mask;
        double[] object = objectColour(data, offset, s, region, luminance(background) > 0);
        int nearestPalette = UNKNOWN;
        double nearest = Double.NaN;
        if (!Double.isNaN(object[0])) {
            double[] pair = {background[0], background[1], background[2], object[0], object[1], object[2]};
            nearest = Double.MAX_VALUE;
            for (int p = 0; p < PALETTE_PAIRS.length; p++) {
                double d = distance(pair, PALETTE_PAIRS[p]);
                if (d < nearest) {
                    nearest = d;
                    nearestPalette = p;
                }
            }
        }
        int palette = nearest <= STYLE_RADIUS ? nearestPalette : UNKNOWN;
        return new Measurement(
                background,
                object,
                objectPixels,
                vertical,
                horizontal,
                diagonal,
                domain,
                palette,
                nearestPalette,
                nearest);
    }

    private static int domain(double v, double h, double g) {
        if (Double.isNaN(v) || Double.isNaN(h)) {
            return UNKNOWN;
        }
        double t = TEXTURE_THRESHOLD;
        if (v < t && h < t) {
            return ShapesV2Data.PLAIN;
        }
        if (v >= t && h < t) {
            return ShapesV2Data.STRIPES;
        }
        if (v >= t && h >= t && g < Math.min(v, h) / 2) {
            return ShapesV2Data.CHECKER;
        }
        return UNKNOWN;
    }

    /** Per-channel median of the one-pixel border ring. */
    private static double[] background(float[] data, int offset, int s) {
        int plane = s * s;
        int ring = 4 * s - 4;
        double[] out = new double[3];
        float[] values = new float[ring];
        for (int c = 0; c < 3; c++) {
            int k = 0;
            for (int y = 0; y < s; y++) {
                for (int x = 0; x < s; x++) {
                    if (x == 0 || y == 0 || x == s - 1 || y == s - 1) {
                        values[k++] = data[offset + c * plane + y * s + x];
                    }
                }
            }
            Arrays.sort(values);
            out[c] = (values[(ring - 1) / 2] + values[ring / 2]) / 2.0;
        }
        return out;
    }

    private static boolean[] segment(float[] data, int offset, int s, double[] background) {
        int plane = s * s;
        boolean[] mask = new boolean[plane];
        for (int p = 0; p < plane; p++) {
            double d2 = 0;
            for (int c = 0; c < 3; c++) {
                double d = data[offset + c * plane + p] - background[c];
                d2 += d * d;
            }
            mask[p] = d2 > FOREGROUND_DISTANCE * FOREGROUND_DISTANCE;
        }
        return mask;
    }

    /** Mean distance between interior pixels {@code (dy, dx)} apart; NaN if no such pair. */
    private static double lagDistance(float[] data, int offset, int s, boolean[] interior, int dy, int dx) {
        int plane = s * s;
        double sum = 0;
        int pairs = 0;
        for (int y = 0; y + dy < s; y++) {
            for (int x = 0; x + dx < s; x++) {
                int p = y * s + x;
                int q = (y + dy) * s + x + dx;
                if (interior[p] && interior[q]) {
                    double d2 = 0;
                    for (int c = 0; c < 3; c++) {
                        double d = data[offset + c * plane + p] - data[offset + c * plane + q];
                        d2 += d * d;
                    }
                    sum += Math.sqrt(d2);
                    pairs++;
                }
            }
        }
        return pairs == 0 ? Double.NaN : sum / pairs;
    }

    /**
     * The mean colour of the region's pixels on the unshaded side: the brighter ones on a light background (the
     * shade darkens), the darker ones on a dark background.
     */
    private static double[] objectColour(float[] data, int offset, int s, boolean[] region, boolean lightBackground) {
        int plane = s * s;
        int count = 0;
        for (boolean r : region) {
            count += r ? 1 : 0;
        }
        if (count == 0) {
            return new double[] {Double.NaN, Double.NaN, Double.NaN};
        }
        double[] lum = new double[count];
        int k = 0;
        for (int p = 0; p < plane; p++) {
            if (region[p]) {
                lum[k++] = luminance(data, offset, plane, p);
            }
        }
        double[] sorted = lum.clone();
        Arrays.sort(sorted);
        double bound =
                lightBackground ? sorted[(int) Math.ceil(0.75 * (count - 1))] : sorted[(int) (0.25 * (count - 1))];
        double[] sum = new double[3];
        int used = 0;
        k = 0;
        for (int p = 0; p < plane; p++) {
            if (region[p]) {
                double l = lum[k++];
                if (lightBackground ? l >= bound : l <= bound) {
                    for (int c = 0; c < 3; c++) {
                        sum[c] += data[offset + c * plane + p];
                    }
                    used++;
                }
            }
        }
        return new double[] {sum[0] / used, sum[1] / used, sum[2] / used};
    }

    private static double luminance(float[] data, int offset, int plane, int p) {
        return 0.299 * data[offset + p] + 0.587 * data[offset + plane + p] + 0.114 * data[offset + 2 * plane + p];
    }

    /** Luminance in [-1, 1] units: above 0 is a light colour. */
    private static double luminance(double[] rgb) {
        return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
    }

    private static double distance(double[] a, double[] b) {
        double d2 = 0;
        for (int k = 0; k < a.length; k++) {
            d2 += (a[k] - b[k]) * (a[k] - b[k]);
        }
        return Math.sqrt(d2);
    }

    private static float[] floats(INDArray a) {
        return a.castTo(DataType.FLOAT).dup('c').data().asFloat();
    }

    private static int checkImages(INDArray images, String name) {
        long[] shape = images.shape();
        if (shape.length != 4 || shape[1] != 3 || shape[2] != shape[3] || shape[2] < 3) {
            throw new IllegalArgumentException(
                    "Expected " + name + " [N, 3, S, S] (NCHW, RGB, square), got " + Arrays.toString(shape));
        }
        return (int) shape[2];
    }

    private static void checkSameShape(INDArray a, INDArray b, String name) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalArgumentException("Expected " + name + " of shape " + Arrays.toString(a.shape()) + ", got "
                    + Arrays.toString(b.shape()));
        }
    }

    private static void checkCount(int expected, int got, String name) {
        if (expected != got) {
            throw new IllegalArgumentException("Expected " + expected + " " + name + ", one per image, got " + got);
        }
    }
}
