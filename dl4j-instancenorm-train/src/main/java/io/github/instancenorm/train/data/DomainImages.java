package io.github.instancenorm.train.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.MultiDataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A multi-domain image set for StarGAN v2 training, and its two data streams: the source images with their domains,
 * and pairs of reference images of one domain.
 *
 * <p><b>Layout.</b> {@link #fromFolder} reads StarGAN v2's folder-per-domain layout, {@code root/{domain}/*.png}
 * (or {@code .jpg}, {@code .jpeg}), for example {@code data/afhq/train/{cat,dog,wild}}. The domains are the
 * sub-folder names in sorted order ({@link String#compareTo}, as Python's {@code sorted}), and a domain's label is its
 * index in that order. {@link #fromArrays} takes images already in memory, such as generated ones.
 *
 * <p><b>Values.</b> Images are RGB, {@code [3, S, S]} (NCHW), float, in [-1, 1]: an 8-bit value {@code v} becomes
 * {@code v / 127.5 - 1}, so 0 is -1 and 255 is 1. Every image is decoded once and held in memory as floats, {@code
 * 12·S²} bytes per image (12 KiB at 32 px, 768 KiB at 256 px: AFHQ's 14,630 training images at 256 px would take
 * 11 GB, so sets of that size need a streaming reader instead).
 *
 * <p><b>Streams.</b> Both iterators are finite: one epoch is one pass over the images in a fresh random order,
 * {@code size() / batch} batches of exactly {@code batch} rows, the last partial batch dropped (so every batch has
 * the same size). {@link MultiDataSetIterator#reset()} starts the next epoch, which draws a new order from the same
 * random stream; two iterators made with the same seed and driven by the same calls give the same batches.
 * <ul>
 *   <li>{@link #source}: {@code features[0]} = images {@code [N, 3, S, S]}, {@code labels[0]} = one-hot domains
 *       {@code [N, K]}.
 *   <li>{@link #reference}: {@code features = {x_ref, x_ref2}}, each {@code [N, 3, S, S]}, two different images of
 *       one domain in every row; {@code labels[0]} = one-hot of that domain {@code [N, K]}. The domain of each row is
 *       drawn uniformly, whatever the domains' sizes, as StarGAN v2's weighted sampler does (it weights each image by
 *       the inverse of its domain's count); the two images are drawn uniformly from the domain, without replacement
 *       (a domain of one image gives that image twice). It yields as many batches per epoch as {@link #source}.
 * </ul>
 *
 * <p>Instances are immutable; the iterators are not thread-safe.
 */
public final class DomainImages {

    private static final List<String> IMAGE_EXTENSIONS = List.of(".png", ".jpg", ".jpeg");

    private final List<String> domains;
    private final int imageSize;
    /** One {@code [3, S, S]} C-order image per entry. */
    private final float[][] images;

    private final int[] labels;
    /** The indices of each domain's images. */
    private final int[][] byDomain;

    private DomainImages(List<String> domains, int imageSize, float[][] images, int[] labels) {
        this.domains = List.copyOf(domains);
        this.imageSize = imageSize;
        this.images = images;
        this.labels = labels;
        int[] counts = new int[domains.size()];
        for (int label : labels) {
            counts[label]++;
        }
        this.byDomain = new int[domains.size()][];
        for (int d = 0; d < counts.length; d++) {
            byDomain[d] = new int[counts[d]];
        }
        int[] filled = new int[domains.size()];
        for (int i = 0; i < labels.length; i++) {
            byDomain[labels[i]][filled[labels[i]]++] = i;
        }
    }

    /**
     * Reads a folder in StarGAN v2's layout, {@code root/{domain}/*.{png,jpg,jpeg}}, decoding every image with
     * {@link ImageIO}.
     *
     * <p>Every sub-folder of {@code root} whose name does not start with a dot is a domain, sorted by name. Only the
     * image files directly in a domain folder are read (extensions compared ignoring case, nested folders not
     * searched); other files are ignored. Images are converted to RGB (a grey image's stored levels are replicated
     * into the three channels, an alpha channel is dropped) and not resized. Within a domain, images are ordered by file name.
     *
     * <p>Nothing is kept if any image fails: the call either returns the whole set or throws.
     *
     * @param root      the folder holding one sub-folder per domain
     * @param imageSize the width and height every image must have, in pixels
     * @return the images, with labels by domain folder
     * @throws IllegalArgumentException if {@code root} is not a folder, it has fewer than 2 domain folders, a domain
     *                                  folder has no image, or an image is not {@code imageSize × imageSize} (the
     *                                  message names the file, its size and the expected one)
     * @throws IOException              if a folder cannot be listed or an image file cannot be read or decoded (the
     *                                  message names the file)
     */
    public static DomainImages fromFolder(Path root, int imageSize) throws IOException {
        Objects.requireNonNull(root, "root");
        requirePositive(imageSize);
        if (!Files.isDirectory(root)) {
            throw new IllegalArgumentException("Not a folder: " + root
                    + "; expected the root of StarGAN v2's layout, root/{domain}/*.png, one sub-folder per domain");
        }
        List<Path> domainFolders;
        try (Stream<Path> entries = Files.list(root)) {
            domainFolders = entries.filter(Files::isDirectory)
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted((a, b) ->
                            a.getFileName().toString().compareTo(b.getFileName().toString()))
                    .toList();
        }
        if (domainFolders.size() < 2) {
            throw new IllegalArgumentException("Found " + domainFolders.size() + " domain folder(s) in " + root
                    + "; StarGAN v2 needs at least 2, as root/{domain}/*.png (for example afhq/train/cat, .../dog)");
        }
        List<String> domains = new ArrayList<>();
        List<float[]> images = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (Path folder : domainFolders) {
            List<Path> files;
            try (Stream<Path> entries = Files.list(folder)) {
                files = entries.filter(Files::isRegularFile)
                        .filter(DomainImages::isImageFile)
                        .sorted((a, b) -> a.getFileName()
                                .toString()
                                .compareTo(b.getFileName().toString()))
                        .toList();
            }
            if (files.isEmpty()) {
                throw new IllegalArgumentException("The domain folder " + folder + " has no images (.png, .jpg or"
                        + " .jpeg directly inside it); add its images or remove the folder");
            }
            int label = domains.size();
            domains.add(folder.getFileName().toString());
            for (Path file : files) {
                images.add(decode(file, imageSize));
                labels.add(label);
            }
        }
        return new DomainImages(
                domains,
                imageSize,
                images.toArray(new float[0][]),
                labels.stream().mapToInt(Integer::intValue).toArray());
    }

    /**
     * An image set from images in memory, for example generated ones. The values are copied.
     *
     * @param domains the domain names, in label order; at least 2, distinct
     * @param images  {@code [N, 3, S, S]} (NCHW, RGB), values in [-1, 1], any floating-point type
     * @param labels  the domain of each image, {@code N} values in {@code [0, domains.size())}; every domain needs
     *                at least one image
     * @return the image set
     * @throws IllegalArgumentException if the shapes or labels do not fit each other or the rules above (the message
     *                                  quotes what came and what was expected)
     */
    public static DomainImages fromArrays(List<String> domains, INDArray images, int[] labels) {
        Objects.requireNonNull(domains, "domains");
        Objects.requireNonNull(images, "images");
        Objects.requireNonNull(labels, "labels");
        if (domains.size() < 2) {
            throw new IllegalArgumentException("Got " + domains.size() + " domain(s); StarGAN v2 needs at least 2");
        }
        if (domains.stream().anyMatch(Objects::isNull) || new HashSet<>(domains).size() != domains.size()) {
            throw new IllegalArgumentException("Domain names must be distinct and not null, got " + domains);
        }
        long[] shape = images.shape();
        if (shape.length != 4 || shape[1] != 3 || shape[2] != shape[3] || shape[2] < 1) {
            throw new IllegalArgumentException(
                    "Expected images [N, 3, S, S] (NCHW, RGB, square), got " + Arrays.toString(shape));
        }
        if (shape[0] != labels.length) {
            throw new IllegalArgumentException(
                    "Got " + shape[0] + " images but " + labels.length + " labels; expected one label per image");
        }
        int[] counts = new int[domains.size()];
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= domains.size()) {
                throw new IllegalArgumentException("Label " + labels[i] + " of image " + i + " is outside [0, "
                        + domains.size() + "), the domains " + domains);
            }
            counts[labels[i]]++;
        }
        for (int d = 0; d < counts.length; d++) {
            if (counts[d] == 0) {
                throw new IllegalArgumentException("The domain '" + domains.get(d) + "' (label " + d
                        + ") has no images; every domain needs at least one");
            }
        }
        int n = labels.length;
        int size = (int) shape[2];
        int imageLength = 3 * size * size;
        float[] all = images.castTo(DataType.FLOAT).dup('c').data().asFloat();
        float[][] copies = new float[n][];
        for (int i = 0; i < n; i++) {
            copies[i] = Arrays.copyOfRange(all, i * imageLength, (i + 1) * imageLength);
            for (int k = 0; k < imageLength; k++) {
                float v = copies[i][k];
                if (!(v >= -1f && v <= 1f)) {
                    throw new IllegalArgumentException("Image " + i + " has the value " + v + " at flat index " + k
                            + "; expected values in [-1, 1] (8-bit v maps to v / 127.5 - 1)");
                }
            }
        }
        return new DomainImages(domains, size, copies, labels.clone());
    }

    /** @return the domain names in label order (sorted folder names for {@link #fromFolder}) */
    public List<String> domains() {
        return domains;
    }

    /** @return the number of images, over all domains */
    public int size() {
        return images.length;
    }

    /** @return the width and height of every image, in pixels */
    public int imageSize() {
        return imageSize;
    }

    /**
     * @param domain a label, in {@code [0, domains().size())}
     * @return how many images the domain has
     */
    public int domainSize(int domain) {
        return byDomain[domain].length;
    }

    /**
     * The source stream: each image once per epoch, in an order shuffled anew for each epoch.
     *
     * @param batch rows per batch, in {@code [1, size()]}; a last partial batch is dropped
     * @param seed  seed of the shuffling
     * @return an iterator of {@code features[0]} = images {@code [batch, 3, S, S]}, {@code labels[0]} = one-hot
     *         domains {@code [batch, K]}
     * @throws IllegalArgumentException if {@code batch} is outside {@code [1, size()]}
     */
    public MultiDataSetIterator source(int batch, long seed) {
        checkBatch(batch);
        return new SourceIterator(batch, seed);
    }

    /**
     * The reference stream: pairs of different images of one domain, the domain drawn uniformly for every row, as
     * many batches per epoch as {@link #source} gives.
     *
     * @param batch rows per batch, in {@code [1, size()]}
     * @param seed  seed of the draws
     * @return an iterator of {@code features = {x_ref, x_ref2}}, each {@code [batch, 3, S, S]}, and {@code
     *         labels[0]} = one-hot domain {@code [batch, K]}
     * @throws IllegalArgumentException if {@code batch} is outside {@code [1, size()]}
     */
    public MultiDataSetIterator reference(int batch, long seed) {
        checkBatch(batch);
        return new ReferenceIterator(batch, seed);
    }

    private void checkBatch(int batch) {
        if (batch < 1 || batch > images.length) {
            throw new IllegalArgumentException("Batch size " + batch + " is outside [1, " + images.length
                    + "], the number of images; the last partial batch is dropped, so a larger one gives nothing");
        }
    }

    private static void requirePositive(int imageSize) {
        if (imageSize < 1) {
            throw new IllegalArgumentException("Image size must be positive, got " + imageSize);
        }
    }

    private static boolean isImageFile(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return !name.startsWith(".") && IMAGE_EXTENSIONS.stream().anyMatch(name::endsWith);
    }

    private static float[] decode(Path file, int imageSize) throws IOException {
        BufferedImage image;
        try {
            image = ImageIO.read(file.toFile());
        } catch (IOException e) {
            throw new IOException("Cannot read the image " + file + ": " + e.getMessage(), e);
        }
        if (image == null) {
            throw new IOException("Cannot decode " + file + ": no image reader accepts it (is it a PNG or JPEG?)");
        }
        if (image.getWidth() != imageSize || image.getHeight() != imageSize) {
            throw new IllegalArgumentException("The image " + file + " is " + image.getWidth() + "x"
                    + image.getHeight() + " pixels, expected " + imageSize + "x" + imageSize
                    + "; images are not resized, so resize the data set or pass its size");
        }
        int plane = imageSize * imageSize;
        float[] chw = new float[3 * plane];
        ColorModel colours = image.getColorModel();
        if (colours.getColorSpace().getType() == ColorSpace.TYPE_GRAY) {
            // getRGB would convert ImageIO's linear grey to sRGB (grey 128 reads as 188): take the stored levels.
            Raster raster = image.getRaster();
            double max = (1L << colours.getComponentSize(0)) - 1;
            for (int p = 0; p < plane; p++) {
                float v = (float) (raster.getSample(p % imageSize, p / imageSize, 0) / max * 2 - 1);
                chw[p] = v;
                chw[plane + p] = v;
                chw[2 * plane + p] = v;
            }
            return chw;
        }
        int[] argb = image.getRGB(0, 0, imageSize, imageSize, null, 0, imageSize);
        for (int p = 0; p < plane; p++) {
            chw[p] = toUnit((argb[p] >> 16) & 0xff);
            chw[plane + p] = toUnit((argb[p] >> 8) & 0xff);
            chw[2 * plane + p] = toUnit(argb[p] & 0xff);
        }
        return chw;
    }

    /** An 8-bit value in [-1, 1]: {@code v / 127.5 - 1}, rounded once to float. */
    private static float toUnit(int v) {
        return (float) (v / 127.5 - 1);
    }

    private INDArray oneHot(int[] rowLabels) {
        float[] data = new float[rowLabels.length * domains.size()];
        for (int r = 0; r < rowLabels.length; r++) {
            data[r * domains.size() + rowLabels[r]] = 1f;
        }
        return Nd4j.create(data, new long[] {rowLabels.length, domains.size()}, DataType.FLOAT);
    }

    private INDArray gather(int[] indices) {
        int imageLength = 3 * imageSize * imageSize;
        float[] data = new float[indices.length * imageLength];
        for (int r = 0; r < indices.length; r++) {
            System.arraycopy(images[indices[r]], 0, data, r * imageLength, imageLength);
        }
        return Nd4j.create(data, new long[] {indices.length, 3, imageSize, imageSize}, DataType.FLOAT);
    }

    /** What both streams share: a fixed batch size, {@code size() / batch} batches an epoch, a preprocessor. */
    private abstract class EpochIterator implements MultiDataSetIterator {
        final int batch;
        final SplittableRandom random;
        int cursor;
        private MultiDataSetPreProcessor preProcessor;

        EpochIterator(int batch, long seed) {
            this.batch = batch;
            this.random = new SplittableRandom(seed);
        }

        abstract MultiDataSet nextBatch();

        /** Starts an epoch: a batch counter at zero, and whatever the stream draws once per epoch. */
        abstract void startEpoch();

        @Override
        public boolean hasNext() {
            return cursor < images.length / batch;
        }

        @Override
        public MultiDataSet next() {
            if (!hasNext()) {
                throw new NoSuchElementException(
                        "The epoch is over (" + images.length / batch + " batches); call reset() to start the next");
            }
            MultiDataSet data = nextBatch();
            cursor++;
            if (preProcessor != null) {
                preProcessor.preProcess(data);
            }
            return data;
        }

        /**
         * @param num must equal the iterator's batch size, which is fixed
         * @throws UnsupportedOperationException for another size
         */
        @Override
        public MultiDataSet next(int num) {
            if (num != batch) {
                throw new UnsupportedOperationException(
                        "The batch size is fixed at " + batch + ", got " + num + "; make another iterator");
            }
            return next();
        }

        /** Starts the next epoch, with a new random order. */
        @Override
        public void reset() {
            cursor = 0;
            startEpoch();
        }

        /** @return true: {@link #reset()} starts the next epoch */
        @Override
        public boolean resetSupported() {
            return true;
        }

        /** @return false: a batch is a copy from memory, nothing to prefetch */
        @Override
        public boolean asyncSupported() {
            return false;
        }

        @Override
        public void setPreProcessor(MultiDataSetPreProcessor preProcessor) {
            this.preProcessor = preProcessor;
        }

        @Override
        public MultiDataSetPreProcessor getPreProcessor() {
            return preProcessor;
        }
    }

    private final class SourceIterator extends EpochIterator {
        private final int[] order = new int[images.length];

        SourceIterator(int batch, long seed) {
            super(batch, seed);
            startEpoch();
        }

        @Override
        void startEpoch() {
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            for (int i = order.length - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }

        @Override
        MultiDataSet nextBatch() {
            int[] rows = Arrays.copyOfRange(order, cursor * batch, (cursor + 1) * batch);
            int[] rowLabels = new int[batch];
            for (int r = 0; r < batch; r++) {
                rowLabels[r] = labels[rows[r]];
            }
            return new org.nd4j.linalg.dataset.MultiDataSet(
                    new INDArray[] {gather(rows)}, new INDArray[] {oneHot(rowLabels)});
        }
    }

    private final class ReferenceIterator extends EpochIterator {
        ReferenceIterator(int batch, long seed) {
            super(batch, seed);
        }

        @Override
        void startEpoch() {
            // Every row is an independent draw; nothing is fixed per epoch.
        }

        @Override
        MultiDataSet nextBatch() {
            int[] first = new int[batch];
            int[] second = new int[batch];
            int[] rowLabels = new int[batch];
            for (int r = 0; r < batch; r++) {
                int domain = random.nextInt(domains.size());
                int[] members = byDomain[domain];
                int a = random.nextInt(members.length);
                int b = a;
                if (members.length > 1) {
                    b = random.nextInt(members.length - 1);
                    b += b >= a ? 1 : 0;
                }
                rowLabels[r] = domain;
                first[r] = members[a];
                second[r] = members[b];
            }
            return new org.nd4j.linalg.dataset.MultiDataSet(
                    new INDArray[] {gather(first), gather(second)}, new INDArray[] {oneHot(rowLabels)});
        }
    }
}
