package io.github.instancenorm.examples.starganv2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.examples.starganv2.ShapesV2Data.Batch;
import io.github.instancenorm.train.data.DomainImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;

/** The generator against its own description, checked on pixels (not through the judge). */
class ShapesV2DataTest {

    private static final int S = 32;

    @TempDir
    Path dir;

    @Test
    void sameSeedSameImages() {
        Batch a = new ShapesV2Data(S, 5).next(12);
        Batch b = new ShapesV2Data(S, 5).next(12);
        Batch c = new ShapesV2Data(S, 6).next(12);
        assertEquals(a.images(), b.images());
        assertArrayEquals(a.domains(), b.domains());
        assertArrayEquals(a.palettes(), b.palettes());
        assertEquals(a.shapes(), b.shapes());
        assertNotEquals(a.images(), c.images());
    }

    @Test
    void shapesValuesAndDomainCounts() {
        Batch batch = new ShapesV2Data(S, 1).next(300);
        assertArrayEquals(new long[] {300, 3, S, S}, batch.images().shape());
        assertArrayEquals(new long[] {300, S, S}, batch.masks().shape());
        int[] counts = new int[3];
        for (int d : batch.domains()) {
            counts[d]++;
        }
        assertArrayEquals(new int[] {100, 100, 100}, counts);
        Set<Integer> palettes = new HashSet<>();
        for (int p : batch.palettes()) {
            palettes.add(p);
        }
        assertEquals(ShapesV2Data.PALETTE_COUNT, palettes.size());
        // 8-bit levels in [-1, 1]: (v + 1) · 127.5 is an integer in [0, 255].
        for (float v : batch.images().data().asFloat()) {
            double q = (v + 1) * 127.5;
            assertTrue(q >= -1e-4 && q <= 255 + 1e-4 && Math.abs(q - Math.round(q)) < 1e-3, "value " + v);
        }
        // The two-pixel border ring is background.
        float[] masks = batch.masks().data().asFloat();
        for (int i = 0; i < 300; i++) {
            for (int k = 0; k < S; k++) {
                for (int e : new int[] {0, 1, S - 2, S - 1}) {
                    assertEquals(0f, masks[i * S * S + e * S + k]);
                    assertEquals(0f, masks[i * S * S + k * S + e]);
                }
            }
        }
    }

    /**
     * Each pixel is its palette colour (background, object, or the shade where the texture says) within the jitter,
     * the noise and the 8-bit rounding; the texture's pattern is read from pixel pairs.
     */
    @Test
    void pixelsFollowThePaletteAndTheTexture() {
        Batch batch = new ShapesV2Data(S, 2).next(60);
        Pixels px = new Pixels(batch);
        double tolerance = ShapesV2Data.COLOUR_JITTER + ShapesV2Data.PIXEL_NOISE + 0.5 / 255 + 1e-6;
        for (int i = 0; i < batch.size(); i++) {
            int p = batch.palettes()[i];
            double[] background = ShapesV2Data.backgroundColour(p);
            double[] object = ShapesV2Data.objectColour(p);
            double[] shade = ShapesV2Data.shade(object, background);
            int shaded = 0;
            int objectPixels = 0;
            for (int y = 0; y < S; y++) {
                for (int x = 0; x < S; x++) {
                    double[] rgb = px.rgb01(i, y, x);
                    if (!px.inMask(i, y, x)) {
                        assertTrue(near(rgb, background, tolerance), "background at " + i + "," + y + "," + x);
                        continue;
                    }
                    objectPixels++;
                    boolean isObject = near(rgb, object, tolerance);
                    // Shade tolerance: the shade scales the jitter by at most 1.
                    boolean isShade = near(rgb, shade, tolerance);
                    assertTrue(isObject != isShade, "exactly one of object/shade at " + i + "," + y + "," + x);
                    shaded += isShade ? 1 : 0;
                }
            }
            int domain = batch.domains()[i];
            if (domain == ShapesV2Data.PLAIN) {
                assertEquals(0, shaded, "plain image " + i);
            } else {
                // Half the rows (stripes) or half the cells (checker), up to the edges' share.
                double fraction = (double) shaded / objectPixels;
                assertTrue(fraction > 0.3 && fraction < 0.7, "image " + i + " shaded fraction " + fraction);
                assertPattern(px, i, shade, tolerance, domain);
            }
        }
    }

    /** Stripes: a pixel's shading equals its horizontal neighbour's and flips two rows down; checker: flips both. */
    private static void assertPattern(Pixels px, int i, double[] shade, double tolerance, int domain) {
        for (int y = 0; y + 2 < S; y++) {
            for (int x = 0; x + 2 < S; x++) {
                if (!px.inMask(i, y, x)) {
                    continue;
                }
                boolean here = near(px.rgb01(i, y, x), shade, tolerance);
                if (px.inMask(i, y, x + 2)) {
                    boolean right = near(px.rgb01(i, y, x + 2), shade, tolerance);
                    assertEquals(
                            domain == ShapesV2Data.CHECKER,
                            here != right,
                            "image " + i + " horizontal at " + y + "," + x);
                }
                if (px.inMask(i, y + 2, x)) {
                    boolean below = near(px.rgb01(i, y + 2, x), shade, tolerance);
                    assertTrue(here != below, "image " + i + " vertical at " + y + "," + x);
                }
            }
        }
    }

    /** A batch's pixels as Java arrays (ND4J's element access is slow in loops). */
    private static final class Pixels {
        final float[] images;
        final float[] masks;

        Pixels(Batch batch) {
            images = batch.images().dup('c').data().asFloat();
            masks = batch.masks().dup('c').data().asFloat();
        }

        boolean inMask(int i, int y, int x) {
            return masks[i * S * S + y * S + x] > 0;
        }

        /** RGB in [0, 1]. */
        double[] rgb01(int i, int y, int x) {
            double[] rgb = new double[3];
            for (int c = 0; c < 3; c++) {
                rgb[c] = (images[((i * 3 + c) * S + y) * S + x] + 1) / 2.0;
            }
            return rgb;
        }
    }

    private static boolean near(double[] rgb, double[] colour, double tolerance) {
        for (int c = 0; c < 3; c++) {
            if (Math.abs(rgb[c] - colour[c]) > tolerance) {
                return false;
            }
        }
        return true;
    }

    @Test
    void renderKeepsTheContent() {
        ShapesV2Data data = new ShapesV2Data(S, 3);
        Batch batch = data.next(9);
        int[] domains = {2, 2, 2, 0, 0, 0, 1, 1, 1};
        int[] palettes = {5, 4, 3, 2, 1, 0, 5, 4, 3};
        Batch again = data.render(batch.shapes(), domains, palettes);
        assertEquals(batch.masks(), again.masks());
        assertArrayEquals(domains, again.domains());
        assertArrayEquals(palettes, again.palettes());
        assertThrows(IllegalArgumentException.class, () -> data.render(batch.shapes(), new int[8], palettes));
        int[] badPalette = palettes.clone();
        badPalette[0] = ShapesV2Data.PALETTE_COUNT;
        assertThrows(IllegalArgumentException.class, () -> data.render(batch.shapes(), domains, badPalette));
        assertThrows(IllegalArgumentException.class, () -> new ShapesV2Data(8, 0));
    }

    @Test
    void domainImagesHoldTheBatch() {
        DomainImages images = new ShapesV2Data(S, 4).domainImages(30);
        assertEquals(ShapesV2Data.DOMAINS, images.domains());
        assertEquals(30, images.size());
        assertEquals(S, images.imageSize());
        assertEquals(10, images.domainSize(2));
        assertThrows(IllegalArgumentException.class, () -> new ShapesV2Data(S, 4).domainImages(2));
    }

    /** Written as PNGs and read back by the folder reader, every image comes back with its domain, exactly. */
    @Test
    void writeFolderRoundTripsThroughTheFolderReader() throws IOException {
        Batch batch = new ShapesV2Data(S, 7).next(20);
        Path root = ShapesV2Data.writeFolder(batch, dir.resolve("shapes/train"));
        for (String domain : ShapesV2Data.DOMAINS) {
            assertTrue(Files.isDirectory(root.resolve(domain)));
        }
        DomainImages read = DomainImages.fromFolder(root, S);
        // The reader sorts the domains by name, which is the generator's label order.
        assertEquals(List.of("checker", "plain", "stripes"), read.domains());
        assertEquals(20, read.size());
        MultiDataSetIterator source = read.source(1, 0);
        boolean[] found = new boolean[20];
        while (source.hasNext()) {
            MultiDataSet one = source.next();
            INDArray image = one.getFeatures(0);
            int label = one.getLabels(0).argMax(1).getInt(0);
            int match = -1;
            for (int i = 0; i < 20; i++) {
                if (!found[i] && batch.images().slice(i).reshape(1, 3, S, S).equals(image)) {
                    match = i;
                }
            }
            assertTrue(match >= 0, "an image read back matches no generated image exactly");
            found[match] = true;
            assertEquals(batch.domains()[match], label);
        }
        for (boolean f : found) {
            assertTrue(f);
        }
    }

    @Test
    void writeFolderRefusesAnExistingFolderOrAMissingDomainAndLeavesNothing() throws IOException {
        Batch batch = new ShapesV2Data(S, 8).next(6);
        Path existing = Files.createDirectories(dir.resolve("exists"));
        assertThrows(IllegalArgumentException.class, () -> ShapesV2Data.writeFolder(batch, existing));
        try (var entries = Files.list(existing)) {
            assertEquals(0, entries.count());
        }
        Batch twoDomains = new ShapesV2Data(S, 8)
                .render(batch.shapes().subList(0, 2), new int[] {ShapesV2Data.PLAIN, ShapesV2Data.STRIPES}, new int[] {
                    0, 0
                });
        Path target = dir.resolve("missing-domain");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> ShapesV2Data.writeFolder(twoDomains, target));
        assertTrue(e.getMessage().contains("checker"), e.getMessage());
        assertFalse(Files.exists(target));
        try (var entries = Files.list(dir)) {
            assertEquals(
                    Set.of("exists"),
                    new HashSet<>(entries.map(p -> p.getFileName().toString()).toList()));
        }
    }

    @Test
    void paletteAccessorsReturnCopies() {
        double[] colour = ShapesV2Data.objectColour(0);
        colour[0] = -5;
        assertTrue(ShapesV2Data.objectColour(0)[0] >= 0);
        assertEquals(3, Arrays.stream(ShapesV2Data.backgroundColour(1)).count());
    }
}
