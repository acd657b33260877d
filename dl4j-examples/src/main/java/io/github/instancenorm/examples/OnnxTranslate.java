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
    public static void main(String[] args) throws IOException {
        Path model = null;
        Path out = Path.of("translated.png");
        List<Path> images = new ArrayList<>();
        List<float[]> labelSets = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (flag.equals("--help") || flag.equals("-h")) {
                usage();
                return;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(flag + " needs a value; see --help");
            }
            String v = args[++i];
            switch (flag) {
                case "--model" -> model = Path.of(v);
                case "--image" -> images.add(Path.of(v));
                case "--labels" ->
                    Arrays.stream(v.split(";")).map(StarGanTranslate::labels).forEach(labelSets::add);
                case "--out" -> out = Path.of(v);
                default -> throw new IllegalArgumentException("Unknown flag " + flag + "; see --help");
            }
        }
        if (model == null || images.isEmpty() || labelSets.isEmpty()) {
            usage();
            throw new IllegalArgumentException("--model, --image and --labels are required");
        }

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

    private static void usage() {
        System.out.println("""
                translate-onnx: StarGAN image translation with a generator exported by torch.onnx.export
                  --model FILE           the .onnx file
                  --image FILE           input image (repeat for several)
                  --labels 0,1,0,0,1     target domain labels (repeat, or separate sets with ';', for a grid)
                  --out FILE             PNG to write (translated.png)
                """);
    }
}
