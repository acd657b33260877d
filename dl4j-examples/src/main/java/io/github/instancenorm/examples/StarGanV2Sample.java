package io.github.instancenorm.examples;

import io.github.instancenorm.zoo.StarGanV2;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * StarGAN v2 synthesis from the command line, with a PyTorch checkpoint ({@code nets_ema.ckpt}) and folders of
 * images, writing StarGAN v2's grids as PNG:
 * <pre>
 * StarGanV2Sample --checkpoint 100000_nets_ema.ckpt --src assets/src --ref assets/ref --out results
 * </pre>
 * <ul>
 *   <li>{@code reference.png}: {@code translate_using_reference}, what {@code main.py --mode sample} writes as
 *       {@code reference.jpg}. The first row is a white image and the sources; then one row per reference: the
 *       reference, then every source translated with the reference's style {@code E(x_ref, y_ref)}.</li>
 *   <li>{@code latent_psi_P.png} for each {@code --psi}: {@code translate_using_latent}, as StarGAN v2's debug
 *       images. The first row is the sources; then, for each target domain (at most 5) and each latent code, the
 *       sources translated with {@code lerp(s_avg, F(z, y), psi)}, where {@code s_avg} is the mean style of
 *       {@code --mean-of} latent codes of that domain (truncation towards the mean).</li>
 * </ul>
 * Folders are read as torchvision's {@code ImageFolder}: one subfolder per domain (sorted by name; a reference's
 * domain is its subfolder's index), files sorted by name, the first {@code --batch} images used. Images are scaled
 * to [-1, 1]; images not at the model's size are resized with Java2D's bilinear filter, which differs slightly from
 * the official loader's (PIL); give images at the model's size to match it. Pixels are written as torchvision's
 * {@code save_image} does. Where the generator has {@code w_hpf > 0}, {@code --masks} gives its masks (StarGAN v2
 * computes them with the FAN landmark network, which is not ported): an {@code .npz} with {@code mask0} and
 * {@code mask1}, {@code [N_src, 1, H, W]}. Latent codes come from {@code --seed}, or from {@code --latents}
 * ({@code z_trg [num_outs, latent_dim]} and {@code z_many_K [mean_of, latent_dim]} per target domain {@code K}) to
 * reproduce another program's draw.
 */
@Command(
        name = "StarGanV2Sample",
        mixinStandardHelpOptions = true,
        description = "Writes StarGAN v2's reference- and latent-guided grids as PNG, from a PyTorch checkpoint.")
public final class StarGanV2Sample implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "a nets_ema.ckpt (or nets.ckpt) of StarGAN v2")
    Path checkpoint;

    @Option(names = "--src", required = true, description = "source images: one subfolder per domain")
    Path srcDir;

    @Option(names = "--ref", description = "reference images: one subfolder per domain (for the reference grid)")
    Path refDir;

    @Option(names = "--out", required = true, description = "folder for the PNG files")
    Path outDir;

    @Option(
            names = "--mode",
            defaultValue = "both",
            description = "reference, latent or both (default: ${DEFAULT-VALUE})")
    String mode;

    @Option(names = "--batch", defaultValue = "32", description = "images read per folder (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--masks", description = ".npz with mask0 and mask1 [N_src, 1, H, W], where w_hpf > 0")
    Path masksFile;

    @Option(
            names = "--psi",
            split = ",",
            defaultValue = "0.5,0.7,1.0",
            description = "truncation values of the latent grids (default: ${DEFAULT-VALUE})")
    List<Double> psis;

    @Option(
            names = "--num-outs",
            defaultValue = "10",
            description = "latent codes per domain (default: ${DEFAULT-VALUE})")
    int numOuts;

    @Option(
            names = "--mean-of",
            defaultValue = "10000",
            description = "latent codes averaged into a domain's mean style (default: ${DEFAULT-VALUE})")
    int meanOf;

    @Option(
            names = "--seed",
            defaultValue = "777",
            description = "seed of the latent codes (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--latents", description = ".npz with z_trg and z_many_K instead of drawing them")
    Path latentsFile;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Generator forwards run on this many images at once, to bound memory at 256 px. */
    private static final int CHUNK = 8;

    private static final List<String> IMAGE_EXTENSIONS =
            List.of(".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp");

    /**
     * @param args see the class documentation; {@code --help} prints them
     */
    public static void main(String[] args) {
        int code = new CommandLine(new StarGanV2Sample()).execute(args);
        if (code != 0) {
            System.exit(code);
        }
    }

    @Override
    public Integer call() throws IOException {
        boolean reference = mode.equals("reference") || mode.equals("both");
        boolean latent = mode.equals("latent") || mode.equals("both");
        if (!reference && !latent) {
            throw new CommandLine.ParameterException(
                    spec.commandLine(), "--mode must be reference, latent or both, got " + mode);
        }
        if (reference && refDir == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "the reference grid needs --ref");
        }
        StarGanV2.Nets nets = StarGanV2.load(checkpoint);
        if (nets.generator() == null) {
            throw new IOException(checkpoint + " has no generator");
        }
        int size = nets.imageSize();
        Folder src = readFolder(srcDir, size, batch);
        INDArray[] masks = masks(nets, src.images().size(0));
        Files.createDirectories(outDir);
        if (reference) {
            if (nets.styleEncoder() == null) {
                throw new IOException(checkpoint + " has no style encoder, which the reference grid needs");
            }
            Path file = outDir.resolve("reference.png");
            writeGrid(referenceGrid(nets, src.images(), readFolder(refDir, size, batch), masks), src.count() + 1, file);
            System.out.println("Wrote " + file);
        }
        if (latent) {
            if (nets.mappingNetwork() == null) {
                throw new IOException(checkpoint + " has no mapping network, which the latent grids need");
            }
            for (double psi : psis) {
                Path file = outDir.resolve(String.format(Locale.ROOT, "latent_psi_%.1f.png", psi));
                writeGrid(latentGrid(nets, src.images(), masks, psi), src.count(), file);
                System.out.println("Wrote " + file);
            }
        }
        return 0;
    }

    /** {@code translate_using_reference}: [white, sources], then per reference [reference, translations]. */
    static INDArray referenceGrid(StarGanV2.Nets nets, INDArray src, Folder ref, INDArray[] masks) {
        long n = src.size(0);
        INDArray styles = nets.styleEncoder().outputSingle(ref.images(), StarGanV2.oneHot(ref.domains(), ref.labels()));
        List<INDArray> rows = new ArrayList<>();
        rows.add(Nd4j.ones(DataType.FLOAT, 1, 3, src.size(2), src.size(3)));
        rows.add(src);
        for (int i = 0; i < ref.count(); i++) {
            INDArray s = styles.getRow(i, true).repeat(0, n);
            rows.add(ref.images().get(NDArrayIndex.interval(i, i + 1)));
            rows.add(generate(nets.generator(), src, s, masks));
        }
        return Nd4j.concat(0, rows.toArray(INDArray[]::new));
    }

    /** {@code translate_using_latent}: the sources, then per target domain and code the translations. */
    INDArray latentGrid(StarGanV2.Nets nets, INDArray src, INDArray[] masks, double psi) throws IOException {
        ComputationGraph f = nets.mappingNetwork();
        int n = (int) src.size(0);
        int latentDim = (int) f.getLayer("shared.0").getParam("W").size(0);
        int domains = domainsOf(f);
        Map<String, INDArray> given = latentsFile == null ? Map.of() : readNpz(latentsFile);
        INDArray zTrg =
                given.containsKey("z_trg") ? given.get("z_trg") : gaussian(new Random(seed), numOuts, latentDim);
        List<INDArray> rows = new ArrayList<>();
        rows.add(src);
        Random draws = new Random(seed + 1);
        for (int k = 0; k < Math.min(domains, 5); k++) {
            INDArray zMany =
                    given.containsKey("z_many_" + k) ? given.get("z_many_" + k) : gaussian(draws, meanOf, latentDim);
            int[] manyLabels = new int[(int) zMany.size(0)];
            Arrays.fill(manyLabels, k);
            INDArray sAvg =
                    f.outputSingle(zMany, StarGanV2.oneHot(domains, manyLabels)).mean(true, 0);
            int[] labels = new int[n];
            Arrays.fill(labels, k);
            INDArray y = StarGanV2.oneHot(domains, labels);
            for (int j = 0; j < zTrg.size(0); j++) {
                INDArray z = zTrg.getRow(j, true).repeat(0, n);
                INDArray s = f.outputSingle(z, y);
                // torch.lerp(s_avg, s, psi) = s_avg + psi * (s - s_avg)
                INDArray mixed = s.subRowVector(sAvg).muli(psi).addiRowVector(sAvg);
                rows.add(generate(nets.generator(), src, mixed, masks));
            }
        }
        return Nd4j.concat(0, rows.toArray(INDArray[]::new));
    }

    private static Map<String, INDArray> readNpz(Path file) throws IOException {
        try {
            return Nd4j.createFromNpzFile(file.toFile());
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("Cannot read " + file + " as .npz: " + e.getMessage(), e);
        }
    }

    private static int domainsOf(ComputationGraph f) {
        int k = 0;
        while (f.getConfiguration().getVertices().containsKey("unshared." + k + ".0")) {
            k++;
        }
        return k;
    }

    private static INDArray gaussian(Random random, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return Nd4j.create(v, new long[] {rows, cols}, 'c');
    }

    /** {@code G(x, s, masks)} in chunks of {@link #CHUNK} images. */
    private static INDArray generate(ComputationGraph g, INDArray x, INDArray s, INDArray[] masks) {
        long n = x.size(0);
        List<INDArray> parts = new ArrayList<>();
        for (long from = 0; from < n; from += CHUNK) {
            long to = Math.min(n, from + CHUNK);
            INDArray[] m = new INDArray[masks.length];
            for (int i = 0; i < m.length; i++) {
                m[i] = masks[i].get(NDArrayIndex.interval(from, to));
            }
            parts.add(StarGanV2.generate(
                    g, x.get(NDArrayIndex.interval(from, to)), s.get(NDArrayIndex.interval(from, to)), m));
        }
        return parts.size() == 1 ? parts.get(0) : Nd4j.concat(0, parts.toArray(INDArray[]::new));
    }

    private INDArray[] masks(StarGanV2.Nets nets, long n) throws IOException {
        List<String> inputs = nets.generator().getConfiguration().getNetworkInputs();
        List<String> wanted = inputs.subList(2, inputs.size());
        if (wanted.isEmpty()) {
            return new INDArray[0];
        }
        if (masksFile == null) {
            throw new CommandLine.ParameterException(
                    spec.commandLine(),
                    "This generator has w_hpf = " + nets.wHpf() + " > 0 and needs its masks " + wanted
                            + ": give --masks FILE.npz with mask0 and mask1 [N_src, 1, H, W] (StarGAN v2 computes"
                            + " them with the FAN landmark network, which is not ported)");
        }
        Map<String, INDArray> file = readNpz(masksFile);
        INDArray[] masks = new INDArray[wanted.size()];
        for (int i = 0; i < masks.length; i++) {
            INDArray m = file.get(wanted.get(i));
            if (m == null || m.rank() != 4 || m.size(0) != n || m.size(1) != 1) {
                throw new IOException(masksFile + ": " + wanted.get(i) + " must be [" + n + ", 1, H, W] (one per"
                        + " source image), got " + (m == null ? "nothing" : Arrays.toString(m.shape())));
            }
            masks[i] = m.castTo(DataType.FLOAT);
        }
        return masks;
    }

    /** Images of a folder read as torchvision's ImageFolder, with each one's domain. */
    record Folder(INDArray images, int[] labels, int domains) {
        int count() {
            return labels.length;
        }
    }

    static Folder readFolder(Path dir, int size, int max) throws IOException {
        List<Path> classes;
        try (Stream<Path> s = Files.list(dir)) {
            classes = s.filter(Files::isDirectory)
                    .sorted(Comparator.comparing(p -> p.getFileName().toString()))
                    .toList();
        }
        if (classes.isEmpty()) {
            throw new IOException(dir + " has no subfolders: give one subfolder of images per domain");
        }
        List<INDArray> images = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (int k = 0; k < classes.size() && images.size() < max; k++) {
            List<Path> files;
            try (Stream<Path> s = Files.walk(classes.get(k))) {
                files = s.filter(Files::isRegularFile)
                        .filter(p -> IMAGE_EXTENSIONS.stream()
                                .anyMatch(e -> p.getFileName()
                                        .toString()
                                        .toLowerCase(Locale.ROOT)
                                        .endsWith(e)))
                        .sorted()
                        .toList();
            }
            for (Path file : files) {
                if (images.size() == max) {
                    break;
                }
                images.add(readImage(file, size));
                labels.add(k);
            }
        }
        if (images.isEmpty()) {
            throw new IOException(dir + " has no images in its subfolders");
        }
        return new Folder(
                Nd4j.concat(0, images.toArray(INDArray[]::new)),
                labels.stream().mapToInt(Integer::intValue).toArray(),
                classes.size());
    }

    /** @return {@code [1, 3, size, size]} in [-1, 1], as ToTensor then Normalize(0.5, 0.5) */
    static INDArray readImage(Path file, int size) throws IOException {
        BufferedImage image = ImageIO.read(file.toFile());
        if (image == null) {
            throw new IOException("Not an image ImageIO can read: " + file);
        }
        if (image.getWidth() != size || image.getHeight() != size) {
            BufferedImage resized = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = resized.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(image, 0, 0, size, size, null);
            g.dispose();
            image = resized;
        }
        float[] chw = new float[3 * size * size];
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int rgb = image.getRGB(x, y);
                int at = y * size + x;
                chw[at] = ((rgb >> 16) & 0xff) / 255f / 0.5f - 1f;
                chw[size * size + at] = ((rgb >> 8) & 0xff) / 255f / 0.5f - 1f;
                chw[2 * size * size + at] = (rgb & 0xff) / 255f / 0.5f - 1f;
            }
        }
        return Nd4j.create(chw, new long[] {1, 3, size, size}, 'c');
    }

    /**
     * Writes images {@code [B, 3, H, W]} in [-1, 1] as torchvision's {@code save_image(denormalize(x), nrow,
     * padding=0)}: {@code nrow} images per row, byte {@code floor(clamp((x + 1) / 2, 0, 1) * 255 + 0.5)}.
     */
    static void writeGrid(INDArray images, int nrow, Path file) throws IOException {
        int b = (int) images.size(0);
        int h = (int) images.size(2);
        int w = (int) images.size(3);
        int rows = (b + nrow - 1) / nrow;
        BufferedImage grid = new BufferedImage(nrow * w, rows * h, BufferedImage.TYPE_INT_RGB);
        float[] data = images.castTo(DataType.FLOAT).dup('c').data().asFloat();
        for (int i = 0; i < b; i++) {
            int top = (i / nrow) * h;
            int left = (i % nrow) * w;
            int base = i * 3 * h * w;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int at = base + y * w + x;
                    int rgb = (toByte(data[at]) << 16) | (toByte(data[at + h * w]) << 8) | toByte(data[at + 2 * h * w]);
                    grid.setRGB(left + x, top + y, rgb);
                }
            }
        }
        if (!ImageIO.write(grid, "png", file.toFile())) {
            throw new UncheckedIOException(new IOException("No PNG writer available for " + file));
        }
    }

    private static int toByte(float v) {
        float unit = Math.max(0f, Math.min(1f, (v + 1f) / 2f));
        return (int) Math.min(255f, Math.max(0f, unit * 255f + 0.5f));
    }
}
