package io.github.instancenorm.train.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

class DomainImagesTest {

    private static final int SIZE = 4;
    /** Images per domain folder; the folders are written in an unsorted order to check the sorting. */
    private static final Map<String, Integer> COUNTS = Map.of("wild", 1, "cat", 2, "dog", 3);

    @TempDir
    Path dir;

    /**
     * Image {@code id}'s pixel (x, y): red = 40·id (the image's identity, read back from pixel (0, 0)), green =
     * 17·(4y + x) (0 to 255 over the image), blue = 255 - green.
     */
    private static int[] rgb(int id, int x, int y) {
        int g = 17 * (SIZE * y + x);
        return new int[] {40 * id, g, 255 - g};
    }

    /** Writes the three domains; ids 0..5 by domain in sorted order (cat 0-1, dog 2-4, wild 5). */
    private Path writeDomains() throws IOException {
        Path root = dir.resolve("train");
        int id = 0;
        for (String domain : new TreeMap<>(COUNTS).keySet()) {
            Path folder = Files.createDirectories(root.resolve(domain));
            for (int j = 0; j < COUNTS.get(domain); j++) {
                writePng(folder.resolve("img" + j + ".png"), id++, SIZE, SIZE);
            }
            Files.writeString(folder.resolve("notes.txt"), "not an image");
        }
        Files.createDirectories(root.resolve(".cache"));
        Files.writeString(root.resolve("README"), "not a domain");
        return root;
    }

    private static void writePng(Path file, int id, int width, int height) throws IOException {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int[] c = rgb(id, x % SIZE, y % SIZE);
                image.setRGB(x, y, (c[0] << 16) | (c[1] << 8) | c[2]);
            }
        }
        assertTrue(ImageIO.write(image, "png", file.toFile()));
    }

    /** The image's id, from its red value at (0, 0) in [-1, 1]. */
    private static int id(INDArray images, int row) {
        return (int) Math.round((images.getDouble(row, 0, 0, 0) + 1) * 127.5 / 40);
    }

    private static int label(INDArray oneHot, int row) {
        int hot = -1;
        for (int k = 0; k < oneHot.size(1); k++) {
            double v = oneHot.getDouble(row, k);
            assertTrue(v == 0 || v == 1, "one-hot value " + v);
            if (v == 1) {
                assertEquals(-1, hot, "two hot entries in row " + row);
                hot = k;
            }
        }
        assertTrue(hot >= 0, "no hot entry in row " + row);
        return hot;
    }

    /** The domain (sorted label) of an image id, by construction of {@link #writeDomains}. */
    private static int domainOf(int id) {
        return id < 2 ? 0 : id < 5 ? 1 : 2;
    }

    @Test
    void readsSortedDomainsAndMapsPixelsToMinusOneOne() throws IOException {
        DomainImages data = DomainImages.fromFolder(writeDomains(), SIZE);
        assertEquals(List.of("cat", "dog", "wild"), data.domains());
        assertEquals(6, data.size());
        assertEquals(SIZE, data.imageSize());
        assertEquals(3, data.domainSize(1));

        MultiDataSetIterator source = data.source(1, 7);
        Set<Integer> seen = new HashSet<>();
        while (source.hasNext()) {
            MultiDataSet batch = source.next();
            INDArray x = batch.getFeatures(0);
            assertArrayEquals(new long[] {1, 3, SIZE, SIZE}, x.shape());
            assertEquals(DataType.FLOAT, x.dataType());
            int id = id(x, 0);
            assertTrue(seen.add(id));
            assertEquals(domainOf(id), label(batch.getLabels(0), 0));
            for (int y = 0; y < SIZE; y++) {
                for (int xx = 0; xx < SIZE; xx++) {
                    int[] c = rgb(id, xx, y);
                    for (int ch = 0; ch < 3; ch++) {
                        assertEquals((float) (c[ch] / 127.5 - 1), x.getFloat(0, ch, y, xx), 0f, "pixel");
                    }
                }
            }
        }
        assertEquals(Set.of(0, 1, 2, 3, 4, 5), seen);

        // The ends and a value in between, written out: 0 -> -1, 255 -> 1, 51 -> -0.6.
        INDArray first = firstImageWithId(data, 0);
        assertEquals(-1f, first.getFloat(0, 0, 0, 0), 0f); // red 0
        assertEquals(1f, first.getFloat(0, 2, 0, 0), 0f); // blue 255
        assertEquals(-1f, first.getFloat(0, 2, SIZE - 1, SIZE - 1), 0f); // blue 0
        assertEquals(1f, first.getFloat(0, 1, SIZE - 1, SIZE - 1), 0f); // green 255
        assertEquals(-0.6f, first.getFloat(0, 1, 0, 3), 1e-7f); // green 51
    }

    private static INDArray firstImageWithId(DomainImages data, int wanted) {
        MultiDataSetIterator source = data.source(1, 1);
        while (source.hasNext()) {
            INDArray x = source.next().getFeatures(0);
            if (id(x, 0) == wanted) {
                return x;
            }
        }
        throw new AssertionError("image " + wanted + " not found");
    }

    @Test
    void readsJpegAndUpperCaseExtensions() throws IOException {
        Path root = dir.resolve("jpeg");
        for (String domain : List.of("a", "b")) {
            BufferedImage image = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
            for (int p = 0; p < SIZE * SIZE; p++) {
                image.setRGB(p % SIZE, p / SIZE, 0x808080);
            }
            Path folder = Files.createDirectories(root.resolve(domain));
            assertTrue(ImageIO.write(
                    image,
                    "jpg",
                    folder.resolve("x." + (domain.equals("a") ? "JPG" : "jpeg")).toFile()));
        }
        DomainImages data = DomainImages.fromFolder(root, SIZE);
        assertEquals(2, data.size());
        INDArray x = data.source(2, 0).next().getFeatures(0);
        // Flat grey 128 survives JPEG up to a level or two.
        assertEquals(128 / 127.5 - 1, x.meanNumber().doubleValue(), 2 / 127.5);
    }

    /** A grey PNG keeps its stored levels (Java's getRGB would turn grey 128 into 188, its sRGB rendering). */
    @Test
    void readsGreyImagesAsTheirLevels() throws IOException {
        Path root = dir.resolve("grey");
        int[] levels = {0, 51, 128, 255};
        for (String domain : List.of("a", "b")) {
            BufferedImage image = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_GRAY);
            for (int p = 0; p < 4; p++) {
                image.getRaster().setSample(p % 2, p / 2, 0, levels[p]);
            }
            assertTrue(ImageIO.write(
                    image,
                    "png",
                    Files.createDirectories(root.resolve(domain))
                            .resolve("g.png")
                            .toFile()));
        }
        INDArray x = DomainImages.fromFolder(root, 2).source(1, 0).next().getFeatures(0);
        for (int c = 0; c < 3; c++) {
            assertEquals(-1f, x.getFloat(0, c, 0, 0), 0f);
            assertEquals(-0.6f, x.getFloat(0, c, 0, 1), 1e-7f);
            assertEquals(128 / 127.5 - 1, x.getFloat(0, c, 1, 0), 1e-7);
            assertEquals(1f, x.getFloat(0, c, 1, 1), 0f);
        }
    }

    @Test
    void sourceVisitsEveryImageOncePerEpochAndDropsThePartialBatch() throws IOException {
        DomainImages data = DomainImages.fromFolder(writeDomains(), SIZE);
        MultiDataSetIterator source = data.source(2, 11);
        assertTrue(source.resetSupported());
        List<List<Integer>> epochs = new ArrayList<>();
        for (int epoch = 0; epoch < 6; epoch++) {
            List<Integer> order = new ArrayList<>();
            int batches = 0;
            while (source.hasNext()) {
                MultiDataSet b = source.next();
                assertArrayEquals(
                        new long[] {2, 3, SIZE, SIZE}, b.getFeatures(0).shape());
                assertArrayEquals(new long[] {2, 3}, b.getLabels(0).shape());
                for (int r = 0; r < 2; r++) {
                    int id = id(b.getFeatures(0), r);
                    assertEquals(domainOf(id), label(b.getLabels(0), r));
                    order.add(id);
                }
                batches++;
            }
            assertEquals(3, batches);
            assertEquals(Set.of(0, 1, 2, 3, 4, 5), new HashSet<>(order));
            epochs.add(order);
            source.reset();
        }
        assertTrue(new HashSet<>(epochs).size() > 1, "every epoch had the same order: " + epochs);

        // 6 images in batches of 4: one batch, the 2 left over dropped.
        MultiDataSetIterator four = data.source(4, 11);
        assertEquals(4, four.next().getFeatures(0).size(0));
        assertFalse(four.hasNext());
        assertThrows(java.util.NoSuchElementException.class, four::next);
        four.reset();
        assertTrue(four.hasNext());
        assertThrows(UnsupportedOperationException.class, () -> four.next(3));
        assertEquals(4, four.next(4).getFeatures(0).size(0));
    }

    @Test
    void sameSeedSameBatches() throws IOException {
        DomainImages data = DomainImages.fromFolder(writeDomains(), SIZE);
        for (boolean reference : new boolean[] {false, true}) {
            List<Integer> a = ids(reference ? data.reference(2, 5) : data.source(2, 5), 4);
            List<Integer> b = ids(reference ? data.reference(2, 5) : data.source(2, 5), 4);
            List<Integer> c = ids(reference ? data.reference(2, 6) : data.source(2, 6), 4);
            assertEquals(a, b);
            assertNotEquals(a, c);
        }
    }

    /** The ids of every row of every feature array over {@code epochs} epochs. */
    private static List<Integer> ids(MultiDataSetIterator it, int epochs) {
        List<Integer> ids = new ArrayList<>();
        for (int e = 0; e < epochs; e++) {
            while (it.hasNext()) {
                MultiDataSet b = it.next();
                for (INDArray f : b.getFeatures()) {
                    for (int r = 0; r < f.size(0); r++) {
                        ids.add(id(f, r));
                    }
                }
            }
            it.reset();
        }
        return ids;
    }

    @Test
    void referencePairsAreTwoDifferentImagesOfTheLabelledDomain() throws IOException {
        DomainImages data = DomainImages.fromFolder(writeDomains(), SIZE);
        MultiDataSetIterator reference = data.reference(2, 3);
        assertTrue(reference.resetSupported());
        int rows = 0;
        for (int epoch = 0; epoch < 50; epoch++) {
            int batches = 0;
            while (reference.hasNext()) {
                MultiDataSet b = reference.next();
                assertEquals(2, b.getFeatures().length);
                for (INDArray f : b.getFeatures()) {
                    assertArrayEquals(new long[] {2, 3, SIZE, SIZE}, f.shape());
                }
                for (int r = 0; r < 2; r++) {
                    int domain = label(b.getLabels(0), r);
                    int first = id(b.getFeatures(0), r);
                    int second = id(b.getFeatures(1), r);
                    assertEquals(domain, domainOf(first));
                    assertEquals(domain, domainOf(second));
                    if (domain == 2) {
                        assertEquals(first, second, "wild has one image");
                    } else {
                        assertNotEquals(first, second, "x_ref2 must differ from x_ref");
                        // The ids differ, and so do the pixels.
                        assertNotEquals(
                                b.getFeatures(0).slice(r), b.getFeatures(1).slice(r));
                    }
                    rows++;
                }
                batches++;
            }
            assertEquals(3, batches, "as many batches as the source: 6 images / 2");
            reference.reset();
        }
        assertEquals(300, rows);
    }

    /**
     * Domains of 1, 3 and 16 images: each row's domain is uniform, so over M rows each count is Binomial(M, 1/3), of
     * mean M/3 and standard deviation σ = √(M·(1/3)·(2/3)). M = 6000 gives σ = 36.5; the test allows 5σ = 183 around
     * 2000 (a fair sampler lands outside with probability below 1e-6 per domain). Sampling by image, as an
     * unweighted sampler does, would give 300, 900 and 4800.
     */
    @Test
    void referenceDomainsAreBalancedWhateverTheirSizes() {
        int[] sizes = {1, 3, 16};
        int n = 20;
        int[] labels = new int[n];
        int i = 0;
        for (int d = 0; d < 3; d++) {
            for (int j = 0; j < sizes[d]; j++) {
                labels[i++] = d;
            }
        }
        // Image i is constant (i + 1) / 32, so its id is readable from any pixel.
        float[] pixels = new float[n * 3 * 2 * 2];
        for (int k = 0; k < pixels.length; k++) {
            pixels[k] = (k / 12 + 1) / 32f;
        }
        DomainImages data = DomainImages.fromArrays(
                List.of("a", "b", "c"), Nd4j.create(pixels, new long[] {n, 3, 2, 2}, DataType.FLOAT), labels);
        MultiDataSetIterator reference = data.reference(4, 2024);
        int[] counts = new int[3];
        int[] imageCounts = new int[n];
        int rows = 0;
        for (int epoch = 0; epoch < 300; epoch++) {
            while (reference.hasNext()) {
                MultiDataSet b = reference.next();
                for (int r = 0; r < 4; r++) {
                    int domain = label(b.getLabels(0), r);
                    counts[domain]++;
                    int image = Math.round(b.getFeatures(0).getFloat(r, 0, 0, 0) * 32) - 1;
                    assertEquals(domain, labels[image]);
                    imageCounts[image]++;
                    rows++;
                }
            }
            reference.reset();
        }
        assertEquals(6000, rows);
        double sigma = Math.sqrt(rows * (1.0 / 3) * (2.0 / 3));
        for (int d = 0; d < 3; d++) {
            assertEquals(
                    rows / 3.0, counts[d], 5 * sigma, "domain " + d + " counts " + java.util.Arrays.toString(counts));
        }
        // Within the domain of 16, images are uniform: each Binomial(~2000, 1/16), σ ≈ 10.8, 5σ ≈ 54 around 125.
        for (int image = 4; image < n; image++) {
            assertEquals(counts[2] / 16.0, imageCounts[image], 5 * Math.sqrt(counts[2] / 16.0 * 15 / 16));
        }
    }

    @Test
    void fromArraysCopiesItsInput() {
        INDArray images = Nd4j.zeros(DataType.FLOAT, 2, 3, 2, 2);
        DomainImages data = DomainImages.fromArrays(List.of("a", "b"), images, new int[] {0, 1});
        images.assign(0.5);
        assertEquals(0.0, data.source(2, 0).next().getFeatures(0).sumNumber().doubleValue(), 0.0);
    }

    @Test
    void anImageOfAnotherSizeIsAnErrorNamingItAndBothSizes() throws IOException {
        Path root = writeDomains();
        Path odd = root.resolve("dog").resolve("odd.png");
        writePng(odd, 1, SIZE + 1, SIZE);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> DomainImages.fromFolder(root, SIZE));
        assertTrue(e.getMessage().contains(odd.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("5x4"), e.getMessage());
        assertTrue(e.getMessage().contains("expected 4x4"), e.getMessage());
    }

    @Test
    void aDomainFolderWithoutImagesIsAnErrorNamingIt() throws IOException {
        Path root = writeDomains();
        Path empty = Files.createDirectories(root.resolve("bird"));
        Files.writeString(empty.resolve("labels.csv"), "x");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> DomainImages.fromFolder(root, SIZE));
        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("no images"), e.getMessage());
    }

    @Test
    void fewerThanTwoDomainsIsAnError() throws IOException {
        Path root = dir.resolve("one");
        writePng(Files.createDirectories(root.resolve("cat")).resolve("a.png"), 0, SIZE, SIZE);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> DomainImages.fromFolder(root, SIZE));
        assertTrue(e.getMessage().contains("Found 1 domain folder"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DomainImages.fromFolder(root.resolve("cat/a.png"), SIZE));
        assertThrows(IllegalArgumentException.class, () -> DomainImages.fromFolder(dir.resolve("missing"), SIZE));
    }

    @Test
    void anUndecodableImageIsAnErrorNamingIt() throws IOException {
        Path root = writeDomains();
        Path broken = root.resolve("cat").resolve("broken.png");
        Files.writeString(broken, "not a png");
        IOException e = assertThrows(IOException.class, () -> DomainImages.fromFolder(root, SIZE));
        assertTrue(e.getMessage().contains(broken.toString()), e.getMessage());
    }

    @Test
    void fromArraysRejectsInconsistentInput() {
        INDArray images = Nd4j.zeros(DataType.FLOAT, 3, 3, 2, 2);
        List<String> ab = List.of("a", "b");
        assertThrows(IllegalArgumentException.class, () -> DomainImages.fromArrays(List.of("a"), images, new int[3]));
        assertThrows(
                IllegalArgumentException.class, () -> DomainImages.fromArrays(List.of("a", "a"), images, new int[3]));
        assertThrows(IllegalArgumentException.class, () -> DomainImages.fromArrays(ab, images, new int[] {0, 1}));
        assertThrows(IllegalArgumentException.class, () -> DomainImages.fromArrays(ab, images, new int[] {0, 1, 2}));
        IllegalArgumentException empty = assertThrows(
                IllegalArgumentException.class, () -> DomainImages.fromArrays(ab, images, new int[] {0, 0, 0}));
        assertTrue(empty.getMessage().contains("'b'"), empty.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> DomainImages.fromArrays(ab, Nd4j.zeros(DataType.FLOAT, 3, 1, 2, 2), new int[] {0, 1, 1}));
        assertThrows(
                IllegalArgumentException.class,
                () -> DomainImages.fromArrays(ab, Nd4j.zeros(DataType.FLOAT, 3, 3, 2, 3), new int[] {0, 1, 1}));
        INDArray outOfRange = images.dup();
        outOfRange.putScalar(new long[] {2, 1, 1, 0}, 1.5);
        IllegalArgumentException range = assertThrows(
                IllegalArgumentException.class, () -> DomainImages.fromArrays(ab, outOfRange, new int[] {0, 1, 1}));
        assertTrue(range.getMessage().contains("Image 2"), range.getMessage());
        DomainImages data = DomainImages.fromArrays(ab, images, new int[] {0, 1, 1});
        assertThrows(IllegalArgumentException.class, () -> data.source(0, 0));
        assertThrows(IllegalArgumentException.class, () -> data.reference(4, 0));
    }
}
