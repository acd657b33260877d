package io.github.instancenorm.examples.starganv2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.examples.starganv2.ShapesV2Data.Batch;
import io.github.instancenorm.examples.starganv2.ShapesV2Data.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The judge against the generator's ground truth, on images it was not tuned on (seeds other than those used while
 * choosing its thresholds).
 */
class ShapesV2JudgeTest {

    private static final int N = 400;

    private static double mean(double[] values) {
        return Arrays.stream(values).average().orElseThrow();
    }

    @Test
    void classifiesHeldOutDomains() {
        for (int size : new int[] {32, 64}) {
            Batch batch = new ShapesV2Data(size, 9001 + size).next(N);
            double accuracy = ShapesV2Judge.domainAccuracy(batch.images(), batch.domains());
            System.out.printf("domain accuracy at %d px: %.4f%n", size, accuracy);
            assertTrue(accuracy >= 0.98, "domain accuracy " + accuracy + " at " + size + " px");
            // The margins behind the threshold: textured objects' weakest contrast, plain objects' strongest noise.
            double weakestTexture = Double.MAX_VALUE;
            double strongestPlain = 0;
            List<ShapesV2Judge.Measurement> measured = ShapesV2Judge.measure(batch.images());
            for (int i = 0; i < N; i++) {
                ShapesV2Judge.Measurement m = measured.get(i);
                if (batch.domains()[i] == ShapesV2Data.PLAIN) {
                    strongestPlain = Math.max(strongestPlain, Math.max(m.vertical(), m.horizontal()));
                } else {
                    weakestTexture = Math.min(weakestTexture, m.vertical());
                }
            }
            System.out.printf(
                    "  weakest texture v %.3f, strongest plain max(v, h) %.3f%n", weakestTexture, strongestPlain);
            assertTrue(weakestTexture >= 3 * ShapesV2Judge.TEXTURE_THRESHOLD, "weakest texture " + weakestTexture);
            assertTrue(strongestPlain <= ShapesV2Judge.TEXTURE_THRESHOLD / 2, "strongest plain " + strongestPlain);
        }
    }

    @Test
    void measuresTheTrueMask() {
        Batch batch = new ShapesV2Data(32, 9002).next(N);
        double[] iou = ShapesV2Judge.maskIoU(ShapesV2Judge.masks(batch.images()), batch.masks());
        System.out.printf(
                "segmented vs true mask IoU: mean %.4f, min %.4f%n",
                mean(iou), Arrays.stream(iou).min().orElseThrow());
        assertTrue(Arrays.stream(iou).min().orElseThrow() >= 0.99, "worst mask IoU " + Arrays.toString(iou));
    }

    @Test
    void contentIoUIsOneOnTheSameContentAndLowOnShiftedContent() {
        ShapesV2Data data = new ShapesV2Data(32, 9003);
        Batch batch = data.next(200);
        for (double v : ShapesV2Judge.contentIoU(batch.images(), batch.images())) {
            assertEquals(1.0, v, 0.0);
        }
        // The same content in other domains and palettes: the ideal translation keeps the mask.
        SplittableRandom random = new SplittableRandom(1);
        int[] domains = random.ints(200, 0, 3).toArray();
        int[] palettes = random.ints(200, 0, ShapesV2Data.PALETTE_COUNT).toArray();
        Batch recoloured = data.render(batch.shapes(), domains, palettes);
        double[] kept = ShapesV2Judge.contentIoU(batch.images(), recoloured.images());
        System.out.printf("IoU, same content re-rendered: mean %.4f, min %.4f%n", mean(kept), min(kept));
        assertTrue(min(kept) >= 0.98, "min IoU " + min(kept));

        // Moved by 5 pixels right and down: the judge's IoU follows the true masks' IoU.
        List<Shape> moved = new ArrayList<>();
        for (Shape s : batch.shapes()) {
            moved.add(new Shape(s.outline(), s.centreX() + 5, s.centreY() + 5, s.radius()));
        }
        Batch shifted = data.render(moved, batch.domains(), batch.palettes());
        double[] judged = ShapesV2Judge.contentIoU(batch.images(), shifted.images());
        double[] truth = ShapesV2Judge.maskIoU(batch.masks(), shifted.masks());
        System.out.printf("IoU, shifted by 5 px: judged mean %.4f, true mean %.4f%n", mean(judged), mean(truth));
        for (int i = 0; i < judged.length; i++) {
            assertEquals(truth[i], judged[i], 0.02, "row " + i);
        }
        assertTrue(mean(judged) < 0.5, "shifted content IoU " + mean(judged));
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElseThrow();
    }

    /**
     * True pairs: two images of one palette, any domains and contents. Mismatched pairs: the second image's palette
     * is any other one. The rule must accept true pairs and reject mismatched ones at ≥ 0.99.
     */
    @Test
    void matchesStyleOnTruePairsAndRejectsMismatchedPairs() {
        ShapesV2Data data = new ShapesV2Data(32, 9004);
        Batch first = data.next(N);
        int[] mismatched = new int[N];
        SplittableRandom random = new SplittableRandom(2);
        for (int i = 0; i < N; i++) {
            int other = random.nextInt(ShapesV2Data.PALETTE_COUNT - 1);
            mismatched[i] = other >= first.palettes()[i] ? other + 1 : other;
        }
        Batch same = data.render(data.next(N).shapes(), data.next(N).domains(), first.palettes());
        Batch different = data.render(data.next(N).shapes(), data.next(N).domains(), mismatched);
        double accepted = ShapesV2Judge.styleMatchRate(same.images(), first.images());
        double rejected = 1 - ShapesV2Judge.styleMatchRate(different.images(), first.images());
        int[] palettes = ShapesV2Judge.palettes(first.images());
        double paletteAccuracy = 0;
        double worst = 0;
        List<ShapesV2Judge.Measurement> measured = ShapesV2Judge.measure(first.images());
        for (int i = 0; i < N; i++) {
            paletteAccuracy += palettes[i] == first.palettes()[i] ? 1.0 / N : 0;
            worst = Math.max(worst, measured.get(i).paletteDistance());
        }
        System.out.printf(
                "style: true pairs accepted %.4f, mismatched rejected %.4f, palette accuracy %.4f, farthest from"
                        + " its palette %.3f (radius %.3f)%n",
                accepted, rejected, paletteAccuracy, worst, ShapesV2Judge.STYLE_RADIUS);
        assertTrue(accepted >= 0.99, "true pairs accepted " + accepted);
        assertTrue(rejected >= 0.99, "mismatched pairs rejected " + rejected);
    }

    /** The ideal translation (the input's content re-rendered in the target domain and reference palette) passes. */
    @Test
    void theIdealTranslationPassesAndTheIdentityFails() {
        ShapesV2Data data = new ShapesV2Data(32, 9005);
        Batch inputs = data.next(300);
        Batch references = data.next(300);
        Batch ideal = data.render(inputs.shapes(), references.domains(), references.palettes());
        assertTrue(ShapesV2Judge.domainAccuracy(ideal.images(), references.domains()) >= 0.98);
        assertTrue(ShapesV2Judge.styleMatchRate(ideal.images(), references.images()) >= 0.98);
        assertTrue(mean(ShapesV2Judge.contentIoU(inputs.images(), ideal.images())) >= 0.98);

        // Returning the input unchanged is right only where the target is the input's own domain (or palette).
        int[] found = ShapesV2Judge.domains(inputs.images());
        boolean[] sameStyle = ShapesV2Judge.sameStyle(inputs.images(), references.images());
        int changes = 0;
        int wrongly = 0;
        for (int i = 0; i < 300; i++) {
            if (inputs.domains()[i] != references.domains()[i]) {
                changes++;
                wrongly += found[i] == references.domains()[i] ? 1 : 0;
            }
            if (inputs.palettes()[i] != references.palettes()[i]) {
                wrongly += sameStyle[i] ? 1 : 0;
            }
        }
        assertTrue(changes > 150, "changes " + changes);
        assertEquals(0, wrongly);
    }

    /**
     * Outputs of a generator are not crisp: a [1, 2, 1] / 4 blur along one axis halves the texture's contrast, and the
     * judge still reads every domain and palette (its thresholds are set for that, see its javadoc).
     */
    @Test
    void toleratesABlurAlongOneAxis() {
        Batch batch = new ShapesV2Data(32, 9009).next(300);
        for (boolean vertical : new boolean[] {true, false}) {
            INDArray blurred = blur(batch.images(), vertical);
            double accuracy = ShapesV2Judge.domainAccuracy(blurred, batch.domains());
            double style = ShapesV2Judge.styleMatchRate(blurred, batch.images());
            double iou = mean(ShapesV2Judge.contentIoU(batch.images(), blurred));
            System.out.printf(
                    "blurred %s: domain accuracy %.4f, style match %.4f, IoU %.4f%n",
                    vertical ? "vertically" : "horizontally", accuracy, style, iou);
            assertTrue(accuracy >= 0.98, "domain accuracy " + accuracy);
            assertTrue(style >= 0.98, "style match " + style);
            assertTrue(iou >= 0.95, "IoU " + iou);
        }
    }

    /** A [1, 2, 1] / 4 filter along one axis, edges left as they are. */
    private static INDArray blur(INDArray images, boolean vertical) {
        int s = (int) images.size(2);
        float[] in = images.dup('c').data().asFloat();
        float[] out = in.clone();
        int step = vertical ? s : 1;
        for (int plane = 0; plane < images.size(0) * 3; plane++) {
            for (int y = 1; y < s - 1; y++) {
                for (int x = 1; x < s - 1; x++) {
                    int p = plane * s * s + y * s + x;
                    out[p] = 0.25f * in[p - step] + 0.5f * in[p] + 0.25f * in[p + step];
                }
            }
        }
        return Nd4j.create(out, images.shape(), 'c');
    }

    @Test
    void texturesThatAreNoDomainAreUnknown() {
        Batch batch = new ShapesV2Data(32, 9006)
                .render(
                        List.of(new Shape(ShapesV2Data.Outline.SQUARE, 16, 16, 11)),
                        new int[] {ShapesV2Data.STRIPES},
                        new int[] {0});
        assertEquals(ShapesV2Data.STRIPES, ShapesV2Judge.domains(batch.images())[0]);
        // Stripes turned by 90 degrees: vertical stripes.
        INDArray vertical = batch.images().permute(0, 1, 3, 2).dup('c');
        assertEquals(ShapesV2Judge.UNKNOWN, ShapesV2Judge.domains(vertical)[0]);
        // Independent noise on the object: as much difference along the diagonal as along the axes.
        INDArray noisy = batch.images().dup();
        SplittableRandom random = new SplittableRandom(3);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                if (batch.masks().getDouble(0, y, x) > 0) {
                    for (int c = 0; c < 3; c++) {
                        noisy.putScalar(new long[] {0, c, y, x}, random.nextDouble(-1, -0.2));
                    }
                }
            }
        }
        ShapesV2Judge.Measurement m = ShapesV2Judge.measure(noisy).get(0);
        assertTrue(m.vertical() > ShapesV2Judge.TEXTURE_THRESHOLD && m.horizontal() > ShapesV2Judge.TEXTURE_THRESHOLD);
        assertEquals(ShapesV2Judge.UNKNOWN, m.domain(), m.toString());
        // An empty image has no object: no domain, no palette, and its style matches nothing, not even itself.
        INDArray blank = Nd4j.zeros(DataType.FLOAT, 1, 3, 32, 32);
        assertEquals(ShapesV2Judge.UNKNOWN, ShapesV2Judge.domains(blank)[0]);
        assertEquals(ShapesV2Judge.UNKNOWN, ShapesV2Judge.palettes(blank)[0]);
        assertEquals(0.0, ShapesV2Judge.styleMatchRate(blank, blank));
    }

    @Test
    void colourSchemesFarFromEveryPaletteAreUnknown() {
        Batch batch = new ShapesV2Data(32, 9007).next(30);
        // Negated colours: each palette's object and background replaced by their opposites.
        int[] found = ShapesV2Judge.palettes(batch.images().neg());
        for (int p : found) {
            assertEquals(ShapesV2Judge.UNKNOWN, p);
        }
        assertNotEquals(ShapesV2Judge.UNKNOWN, ShapesV2Judge.palettes(batch.images())[0]);
    }

    /** The palette table gives the margins the judge's constants are justified by (see its javadoc). */
    @Test
    void thePalettesHaveTheMarginsTheJudgeAssumes() {
        double closestPair = Double.MAX_VALUE;
        for (int p = 0; p < ShapesV2Data.PALETTE_COUNT; p++) {
            double[] a = unit(ShapesV2Data.objectColour(p));
            double[] b = unit(ShapesV2Data.backgroundColour(p));
            double[] shade = unit(ShapesV2Data.shade(ShapesV2Data.objectColour(p), ShapesV2Data.backgroundColour(p)));
            // Segmentation: background to either object colour, less the jitter's worst √3·0.2, more than twice
            // the threshold's distance minus the noise.
            assertTrue(dist(a, b) - Math.sqrt(3) * 0.2 > ShapesV2Judge.FOREGROUND_DISTANCE + 0.07, "palette " + p);
            assertTrue(dist(shade, b) - Math.sqrt(3) * 0.2 > ShapesV2Judge.FOREGROUND_DISTANCE + 0.07, "palette " + p);
            // Texture: contrast over the threshold with room for blur.
            assertTrue(dist(a, shade) >= 2 * ShapesV2Judge.TEXTURE_THRESHOLD + 0.15, "palette " + p);
            for (int q = p + 1; q < ShapesV2Data.PALETTE_COUNT; q++) {
                double d = Math.hypot(
                        dist(b, unit(ShapesV2Data.backgroundColour(q))), dist(a, unit(ShapesV2Data.objectColour(q))));
                closestPair = Math.min(closestPair, d);
            }
        }
        assertEquals(closestPair / 2, ShapesV2Judge.STYLE_RADIUS, 1e-12);
        // Jitter moves a pair by at most √6·0.1; the radius leaves room for estimation error.
        assertTrue(ShapesV2Judge.STYLE_RADIUS > Math.sqrt(6) * 2 * ShapesV2Data.COLOUR_JITTER + 0.15);
    }

    private static double[] unit(double[] rgb01) {
        return Arrays.stream(rgb01).map(v -> 2 * v - 1).toArray();
    }

    private static double dist(double[] a, double[] b) {
        double d2 = 0;
        for (int c = 0; c < a.length; c++) {
            d2 += (a[c] - b[c]) * (a[c] - b[c]);
        }
        return Math.sqrt(d2);
    }

    @Test
    void diversityIsTheMeanPairwiseL1() {
        INDArray base = new ShapesV2Data(32, 9008).next(4).images();
        assertEquals(0.0, ShapesV2Judge.diversity(List.of(base, base.dup())), 0.0);
        // Offsets 0, 0.1 and 0.3 (values may leave [-1, 1]; the L1 is plain arithmetic): pairs 0.1, 0.3, 0.2.
        double d = ShapesV2Judge.diversity(List.of(base, base.add(0.1), base.add(0.3)));
        assertEquals(0.2, d, 1e-6);
        assertThrows(IllegalArgumentException.class, () -> ShapesV2Judge.diversity(List.of(base)));
        assertThrows(
                IllegalArgumentException.class,
                () -> ShapesV2Judge.diversity(List.of(base, Nd4j.zeros(DataType.FLOAT, 3, 3, 32, 32))));
    }
}
