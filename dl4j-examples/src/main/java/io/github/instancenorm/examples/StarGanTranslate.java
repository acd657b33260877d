package io.github.instancenorm.examples;

import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.zoo.StarGan;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Translates images with a PyTorch StarGAN generator checkpoint, on the JVM:
 * <pre>
 * translate --checkpoint 200000-G.ckpt --image in.jpg --labels 0,1,0,0,1 --out out.png
 * </pre>
 * Images get StarGAN's preprocessing (center crop, resize, RGB in [-1, 1]). With several {@code --labels} (or
 * label sets separated by {@code ;}) the PNG is a grid as StarGAN's samples are: one row per input image, the
 * input first, then one translation per label set. {@code --statistics instance} (default) normalizes each image
 * with its own statistics, as StarGAN's test code does; {@code --statistics running} uses the checkpoint's running
 * statistics, as PyTorch's {@code G.eval()} does.
 */
public final class StarGanTranslate {

    private StarGanTranslate() {}

    /**
     * @param args see the class documentation; {@code --help} prints them
     * @throws IOException if the checkpoint or an image cannot be read, or the PNG written
     */
    /** The flags; {@code --help} lists them. */
    @Command(
            name = "StarGanTranslate",
            mixinStandardHelpOptions = true,
            description = "Translates images with a PyTorch StarGAN generator checkpoint.")
    static final class Options {
        @Option(
                names = "--checkpoint",
                required = true,
                description = "the generator's checkpoint (e.g. 200000-G.ckpt)")
        Path checkpoint;

        @Option(names = "--image", required = true, description = "input image (repeat for several rows)")
        List<Path> images = new ArrayList<>();

        @Option(
                names = "--labels",
                required = true,
                split = ";",
                description = "target domain labels, e.g. 0,1,0,0,1 (repeat, or separate sets with ';', for a grid)")
        List<String> labels = new ArrayList<>();

        @Option(names = "--out", description = "PNG to write (default ${DEFAULT-VALUE})")
        Path out = Path.of("translated.png");

        @Option(names = "--image-size", description = "image side (default ${DEFAULT-VALUE})")
        int size = 128;

        @Option(
                names = "--statistics",
                description = "instance (StarGAN's test code, default) or running (PyTorch's G.eval())")
        StarGan.Statistics statistics = StarGan.Statistics.INSTANCE;
    }

    /**
     * @param args see the class documentation; {@code --help} prints them
     * @throws IOException if the checkpoint or an image cannot be read, or the PNG written
     */
    public static void main(String[] args) throws IOException {
        Options o = Cli.parse(new Options(), args);
        if (o == null) {
            return;
        }
        Path checkpoint = o.checkpoint;
        Path out = o.out;
        List<Path> images = o.images;
        List<float[]> labelSets =
                o.labels.stream().map(StarGanTranslate::labels).toList();
        StarGan.Statistics statistics = o.statistics;
        int size = o.size;

        long t0 = System.nanoTime();
        ComputationGraph g = StarGan.loadGenerator(checkpoint, statistics);
        FastConvolutions.install(g); // inference only: the convolutions on oneDNN, no updater
        long cDim = g.getLayer("main.0").getParam("W").size(1) - 3; // the first convolution sees RGB + labels
        System.out.printf(
                Locale.ROOT,
                "Loaded %s: %,d parameters, %d labels, %s statistics (%.1f s)%n",
                checkpoint,
                g.numParams(),
                cDim,
                statistics.name().toLowerCase(Locale.ROOT),
                seconds(t0));
        for (float[] l : labelSets) {
            if (l.length != cDim) {
                throw new IllegalArgumentException("The checkpoint expects " + cDim + " labels per set, got " + l.length
                        + ": " + Arrays.toString(l));
            }
        }

        List<INDArray> rows = new ArrayList<>();
        for (Path image : images) {
            long t1 = System.nanoTime();
            INDArray x = ImageGrids.readImage(image, size);
            INDArray xs = x.repeat(0, labelSets.size());
            INDArray targets = Nd4j.create(labelSets.toArray(new float[0][]));
            INDArray fakes = g.output(false, xs, targets.castTo(DataType.FLOAT))[0];
            rows.add(Nd4j.concat(0, x, fakes));
            System.out.printf(Locale.ROOT, "%s: %d translations in %.2f s%n", image, labelSets.size(), seconds(t1));
        }
        ImageGrids.writeGrid(rows, out);
        System.out.printf(
                Locale.ROOT,
                "Wrote %s (%d x %d images) in %.1f s total%n",
                out,
                rows.size(),
                labelSets.size() + 1,
                seconds(t0));
    }

    /** @return a label set from {@code 0,1,0,...}; shared with {@link OnnxTranslate} */
    static float[] labels(String csv) {
        String[] parts = csv.trim().split(",");
        float[] l = new float[parts.length];
        for (int i = 0; i < parts.length; i++) {
            l[i] = Float.parseFloat(parts[i].trim());
        }
        return l;
    }

    /** @return seconds since {@code System.nanoTime()} was {@code since}; shared with {@link OnnxTranslate} */
    static double seconds(long since) {
        return (System.nanoTime() - since) / 1e9;
    }
}
