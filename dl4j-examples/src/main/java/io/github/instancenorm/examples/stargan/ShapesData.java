package io.github.instancenorm.examples.stargan;

import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A procedurally generated multi-domain image set, deterministic from a seed: one shape (circle, square or
 * triangle, at a random place and size) on a plain light or dark background. The attributes, the domains a
 * translator moves between, are the shape's colour (red, green or blue: exactly one) and stripes on the shape
 * (a darker shade of its colour on a light background, a lighter one on a dark background).
 * The shape's outline and the background are the content a translation must keep; the mask comes with every
 * image.
 *
 * <p>The background is deliberately not a domain: flipping it changes every pixel, and StarGAN's generator sees
 * its target label only as constant input planes, which the first instance normalization subtracts away except
 * near the zero-padded border. A global change therefore takes far longer to learn than a change of the shape's
 * appearance (measured with the PyTorch reference model, conv_dim 8, 2 residual blocks, identity loss, after
 * 400 iterations: mask IoU 0.24 for background flips, 0.73 to 0.76 for colour changes), too long for an example
 * that should finish in minutes.
 */
public final class ShapesData implements ImageSource {

    /** The attribute names, in label order. */
    public static final List<String> ATTRIBUTES = List.of("red", "green", "blue", "striped");

    private static final float[][] COLOURS = {{0.9f, 0.15f, 0.15f}, {0.15f, 0.8f, 0.15f}, {0.15f, 0.15f, 0.9f}};
    private static final float DARK = 0.1f;
    private static final float LIGHT = 0.9f;
    /** Stripes move the shape's colour this far towards black on a light background, towards white on a dark one. */
    private static final float STRIPE_SHADE = 0.55f;

    private final int size;
    private final SplittableRandom random;

    /**
     * @param size side of the square images in pixels, at least 16
     * @param seed the same seed gives the same sequence of images
     */
    public ShapesData(int size, long seed) {
        if (size < 16) {
            throw new IllegalArgumentException("Shapes need at least 16x16 pixels, got " + size);
        }
        this.size = size;
        this.random = new SplittableRandom(seed);
    }

    @Override
    public Batch next(int n) {
        int pixels = size * size;
        float[] images = new float[n * 3 * pixels];
        float[] labels = new float[n * ATTRIBUTES.size()];
        float[] masks = new float[n * pixels];
        for (int i = 0; i < n; i++) {
            int colour = random.nextInt(3);
            boolean light = random.nextBoolean();
            boolean striped = random.nextBoolean();
            int row = i * ATTRIBUTES.size();
            labels[row + colour] = 1;
            labels[row + 3] = striped ? 1 : 0;
            drawShape(masks, i * pixels);
            paint(images, i * 3 * pixels, masks, i * pixels, COLOURS[colour], light ? LIGHT : DARK, striped);
        }
        return new Batch(
                Nd4j.create(images, new long[] {n, 3, size, size}, DataType.FLOAT),
                Nd4j.create(labels, new long[] {n, ATTRIBUTES.size()}, DataType.FLOAT),
                Nd4j.create(masks, new long[] {n, size, size}, DataType.FLOAT));
    }

    private void drawShape(float[] mask, int offset) {
        int kind = random.nextInt(3);
        double radius = size * (0.18 + 0.14 * random.nextDouble());
        double cx = radius + 1 + random.nextDouble() * (size - 2 * radius - 2);
        double cy = radius + 1 + random.nextDouble() * (size - 2 * radius - 2);
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                double dx = x + 0.5 - cx;
                double dy = y + 0.5 - cy;
                boolean inside = switch (kind) {
                    case 0 -> dx * dx + dy * dy <= radius * radius;
                    case 1 -> Math.abs(dx) <= radius * 0.85 && Math.abs(dy) <= radius * 0.85;
                    default -> dy <= radius * 0.8 && dy >= -radius && Math.abs(dx) <= (dy + radius) * 0.6;
                };
                mask[offset + y * size + x] = inside ? 1 : 0;
            }
        }
    }

    private void paint(
            float[] images,
            int offset,
            float[] mask,
            int maskOffset,
            float[] colour,
            float background,
            boolean striped) {
        int plane = size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int p = y * size + x;
                boolean inside = mask[maskOffset + p] > 0;
                boolean stripe = striped && ((x + y) / 3) % 2 == 0;
                for (int c = 0; c < 3; c++) {
                    float v = !inside
                            ? background
                            : !stripe
                                    ? colour[c]
                                    : background > 0.5f ? colour[c] * STRIPE_SHADE : 1 - (1 - colour[c]) * STRIPE_SHADE;
                    v += (float) (random.nextDouble() - 0.5) * 0.06f;
                    images[offset + c * plane + p] = 2 * v - 1;
                }
            }
        }
    }

    @Override
    public List<String> attributes() {
        return ATTRIBUTES;
    }

    @Override
    public List<int[]> exclusiveGroups() {
        return List.of(new int[] {0, 1, 2});
    }

    @Override
    public int imageSize() {
        return size;
    }
}
