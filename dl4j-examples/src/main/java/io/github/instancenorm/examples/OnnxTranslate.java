package io.github.instancenorm.examples;

import io.github.instancenorm.onnx.OnnxModels;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Translates images with a StarGAN generator exported to ONNX by {@code torch.onnx.export}, imported into
 * SameDiff by {@link OnnxModels}; the same grid as {@link StarGanTranslate}:
 * <pre>
 * translate-onnx --model stargan_G.onnx --image in.jpg --labels 0,1,0,0,1 --out out.png
 * </pre>
 * The model's image input is its rank-4 input and its label input the rank-2 one; the image size is the image
 * input's. Which statistics the instance norms use is fixed by the export (see docs/onnx.md). An
 * export with running statistics in eval mode accepts only the batch size it was exported with; the label sets
 * are then run in batches of that size, the last one padded by repetition.
 */
public final class OnnxTranslate {

    private OnnxTranslate() {}

    /**
     * @param args see the class documentation; {@code --help} prints them
     * @throws IOException if the model or an image cannot be read, or the PNG written
     */
    /** The flags; {@code --help} lists them. */
    @Command(
            name = "OnnxTranslate",
            mixinStandardHelpOptions = true,
            description = "StarGAN image translation with a generator exported by torch.onnx.export.")
    static final class Options {
        @Option(names = "--model", required = true, description = "the .onnx file")
        Path model;

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
    }

    /**
     * @param args see the class documentation; {@code --help} prints them
     * @throws IOException if the model or an image cannot be read, or the PNG written
     */
    public static void main(String[] args) throws IOException {
        Options o = Cli.parse(new Options(), args);
        if (o == null) {
            return;
        }
        Path model = o.model;
        Path out = o.out;
        List<Path> images = o.images;
        List<float[]> labelSets =
                o.labels.stream().map(StarGanTranslate::labels).toList();

        long t0 = System.nanoTime();
        SameDiff g = OnnxModels.importGraph(model);
        SDVariable image = input(g, 4, model);
        SDVariable label = input(g, 2, model);
        String output = g.outputs().get(0);
        long[] imageShape = image.getShape();
        int size = Math.toIntExact(imageShape[2]);
        long batch = imageShape[0] > 0 ? imageShape[0] : labelSets.size();
        long cDim = label.getShape()[1];
        System.out.printf(
                Locale.ROOT,
                "Imported %s: inputs %s %s and %s %s, output %s, batch %s (%.1f s)%n",
                model,
                image.name(),
                Arrays.toString(imageShape),
                label.name(),
                Arrays.toString(label.getShape()),
                output,
                imageShape[0] > 0 ? "fixed at " + batch : "free",
                StarGanTranslate.seconds(t0));
        for (float[] l : labelSets) {
            if (l.length != cDim) {
                throw new IllegalArgumentException(
                        "The model expects " + cDim + " labels per set, got " + l.length + ": " + Arrays.toString(l));
            }
        }

        List<INDArray> rows = new ArrayList<>();
        for (Path file : images) {
            long t1 = System.nanoTime();
            INDArray x = ImageGrids.readImage(file, size);
            List<INDArray> fakes = new ArrayList<>();
            for (int first = 0; first < labelSets.size(); first += (int) batch) {
                float[][] chunk = new float[(int) batch][];
                for (int k = 0; k < batch; k++) {
                    chunk[k] = labelSets.get(Math.min(first + k, labelSets.size() - 1));
                }
                INDArray y = g.outputSingle(
                        Map.of(image.name(), x.repeat(0, batch), label.name(), Nd4j.create(chunk)), output);
                int used = (int) Math.min(batch, labelSets.size() - first);
                fakes.add(y.get(NDArrayIndex.interval(0, used)).castTo(DataType.FLOAT));
            }
            rows.add(Nd4j.concat(0, x, Nd4j.concat(0, fakes.toArray(new INDArray[0]))));
            System.out.printf(
                    Locale.ROOT,
                    "%s: %d translations in %.2f s%n",
                    file,
                    labelSets.size(),
                    StarGanTranslate.seconds(t1));
        }
        ImageGrids.writeGrid(rows, out);
        System.out.printf(
                Locale.ROOT,
                "Wrote %s (%d x %d images) in %.1f s total%n",
                out,
                rows.size(),
                labelSets.size() + 1,
                StarGanTranslate.seconds(t0));
    }

    private static SDVariable input(SameDiff g, int rank, Path model) {
        for (String name : g.inputs()) {
            long[] shape = g.getVariable(name).getShape();
            if (shape != null && shape.length == rank) {
                return g.getVariable(name);
            }
        }
        throw new IllegalArgumentException(model + " has no rank-" + rank + " input (a StarGAN generator takes an"
                + " image [N, 3, H, W] and labels [N, c_dim]); its inputs: " + g.inputs());
    }
}
