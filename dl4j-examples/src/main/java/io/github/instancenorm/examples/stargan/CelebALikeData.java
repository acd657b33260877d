package io.github.instancenorm.examples.stargan;

import io.github.instancenorm.examples.ImageGrids;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Images laid out as CelebA is: a folder of images and an attribute list file ({@code list_attr_celeba.txt}:
 * a count line, a line of attribute names, then one line per image, {@code name v1 v2 ...} with values 1 or -1).
 * The chosen attributes become the domains; images are prepared as StarGAN does (center crop, resize, [-1, 1]).
 */
public final class CelebALikeData implements ImageSource {

    private final Path imageDir;
    private final List<String> attributes;
    private final List<int[]> exclusive;
    private final List<String> files = new ArrayList<>();
    private final List<float[]> labels = new ArrayList<>();
    private final int size;
    private final Random random;

    /**
     * @param imageDir      folder of images
     * @param attributeFile the attribute list
     * @param attributes    the attributes to use, e.g. Black_Hair, Blond_Hair, Brown_Hair, Male, Young
     * @param exclusive     groups of the chosen attributes (by position in {@code attributes}) of which exactly
     *                      one is set, e.g. the hair colours {0, 1, 2}
     * @param size          image side after resizing
     * @param seed          shuffling seed
     * @throws IOException if the attribute file cannot be read or lacks a chosen attribute
     */
    public CelebALikeData(
            Path imageDir, Path attributeFile, List<String> attributes, List<int[]> exclusive, int size, long seed)
            throws IOException {
        this.imageDir = imageDir;
        this.attributes = List.copyOf(attributes);
        this.exclusive = exclusive;
        this.size = size;
        this.random = new Random(seed);
        List<String> lines = Files.readAllLines(attributeFile);
        if (lines.size() < 3) {
            throw new IOException("Attribute file " + attributeFile + " has no data lines");
        }
        List<String> names = Arrays.asList(lines.get(1).trim().split("\\s+"));
        int[] columns = new int[attributes.size()];
        for (int i = 0; i < columns.length; i++) {
            columns[i] = names.indexOf(attributes.get(i));
            if (columns[i] < 0) {
                throw new IOException(
                        "Attribute \"" + attributes.get(i) + "\" is not in " + attributeFile + "; it has " + names);
            }
        }
        for (String line : lines.subList(2, lines.size())) {
            String[] f = line.trim().split("\\s+");
            if (f.length < names.size() + 1) {
                continue;
            }
            float[] l = new float[columns.length];
            for (int i = 0; i < columns.length; i++) {
                l[i] = Integer.parseInt(f[columns[i] + 1]) > 0 ? 1 : 0;
            }
            files.add(f[0]);
            labels.add(l);
        }
        if (files.isEmpty()) {
            throw new IOException("No image lines in " + attributeFile);
        }
    }

    @Override
    public Batch next(int n) {
        INDArray images = Nd4j.create(org.nd4j.linalg.api.buffer.DataType.FLOAT, n, 3, size, size);
        float[][] l = new float[n][];
        for (int i = 0; i < n; i++) {
            int k = random.nextInt(files.size());
            try {
                images.putSlice(
                        i,
                        ImageGrids.readImage(imageDir.resolve(files.get(k)), size)
                                .slice(0));
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read " + imageDir.resolve(files.get(k)), e);
            }
            l[i] = labels.get(k);
        }
        return new Batch(images, Nd4j.create(l), null);
    }

    @Override
    public List<String> attributes() {
        return attributes;
    }

    @Override
    public List<int[]> exclusiveGroups() {
        return exclusive;
    }

    @Override
    public int imageSize() {
        return size;
    }
}
