package io.github.instancenorm.examples.starganv2;

import io.github.instancenorm.examples.Cli;
import io.github.instancenorm.examples.ImageGrids;
import io.github.instancenorm.train.StarGanV2Losses;
import io.github.instancenorm.train.StarGanV2Trainer;
import io.github.instancenorm.train.data.DomainImages;
import io.github.instancenorm.train.report.TrainingReport;
import io.github.instancenorm.zoo.StarGanV2;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * StarGAN v2 trained on generated shapes ({@link ShapesV2Data}): three domains (the object's texture: checker, plain,
 * stripes), a style that varies within each domain (the palette: object and background colours), and a content to
 * keep (the object's outline and place). The data goes through the StarGAN v2 folder layout ({@code OUT/data/{domain}})
 * and {@link DomainImages}, the trainer is the library's {@link StarGanV2Trainer}, and the result is judged by
 * {@link ShapesV2Judge}, which measures texture, colours and masks directly and involves no trained network:
 * <ul>
 *   <li>{@code latent_accuracy}, {@code reference_accuracy}: the share of translations (every input to every other
 *       domain) whose texture is the target domain's;</li>
 *   <li>{@code style_match}: in reference-guided translation, the share whose palette is the reference's;</li>
 *   <li>{@code diversity}: the mean pairwise L1 between translations of one input under different latent codes;</li>
 *   <li>{@code content_iou}: the mean IoU of the object masks of input and translation.</li>
 * </ul>
 * Results go to {@code OUT/results.properties}, a grid to {@code OUT/translations.png} (first column the inputs,
 * then the latent-guided translations to each domain, then reference-guided ones with their references above), and
 * losses and samples to the training report {@code OUT/report/index.html}. Translations use the moving-average
 * networks, as StarGAN v2's evaluation does.
 *
 * <p>Run: {@code mvn -q -pl dl4j-examples -am exec:java -Dexec.mainClass=...TrainStarGanV2}, or with
 * {@code --help} for the options.
 */
@Command(
        name = "TrainStarGanV2",
        mixinStandardHelpOptions = true,
        description = "Trains StarGAN v2 on generated shapes and judges the translations.")
public final class TrainStarGanV2 {

    @Option(names = "--iterations", description = "training iterations (default ${DEFAULT-VALUE})")
    int iterations = 600;

    @Option(names = "--batch-size", description = "images per iteration (default ${DEFAULT-VALUE})")
    int batchSize = 8;

    @Option(names = "--image-size", description = "image side in pixels (default ${DEFAULT-VALUE})")
    int imageSize = 32;

    @Option(names = "--dim-in", description = "the first convolutions' width (default ${DEFAULT-VALUE})")
    int dimIn = 16;

    @Option(names = "--max-conv-dim", description = "the widest convolution (default ${DEFAULT-VALUE})")
    int maxConvDim = 64;

    @Option(names = "--style-dim", description = "style code width (default ${DEFAULT-VALUE})")
    int styleDim = 16;

    @Option(names = "--latent-dim", description = "latent code width (default ${DEFAULT-VALUE})")
    int latentDim = 8;

    @Option(names = "--hidden", description = "mapping network width (default ${DEFAULT-VALUE})")
    int hidden = 64;

    @Option(names = "--images", description = "training images (default ${DEFAULT-VALUE})")
    int images = 3000;

    @Option(
            names = "--lr",
            description = "Adam's learning rate for G, E and D; StarGAN v2's is 1e-4 (default ${DEFAULT-VALUE})")
    double lr = 1e-3;

    @Option(
            names = "--f-lr",
            description =
                    "Adam's learning rate for the mapping network; StarGAN v2's is 1e-6 (default ${DEFAULT-VALUE})")
    double fLr = 1e-5;

    @Option(names = "--lambda-reg", description = "R1 weight (default ${DEFAULT-VALUE})")
    double lambdaReg = 1;

    @Option(names = "--lambda-sty", description = "style reconstruction weight (default ${DEFAULT-VALUE})")
    double lambdaSty = 1;

    @Option(names = "--lambda-ds", description = "diversity weight at the start (default ${DEFAULT-VALUE})")
    double lambdaDs = 1;

    @Option(names = "--lambda-cyc", description = "cycle weight (default ${DEFAULT-VALUE})")
    double lambdaCyc = 1;

    @Option(
            names = "--lambda-id",
            description = "identity reconstruction weight, not StarGAN v2's; 0 turns it off (default ${DEFAULT-VALUE})")
    double lambdaId = 5;

    @Option(names = "--ds-iter", description = "iterations over which lambda-ds decays to 0 (default ${DEFAULT-VALUE})")
    int dsIter = 600;

    @Option(
            names = "--ema-beta",
            description = "the moving average's beta; StarGAN v2's 0.999 averages over about 1000 iterations, longer"
                    + " than this run (default ${DEFAULT-VALUE})")
    double emaBeta = 0.99;

    @Option(names = "--r1", description = "where R1's passes run: FLOAT or DOUBLE (default ${DEFAULT-VALUE})")
    DataType r1 = DataType.FLOAT;

    @Option(names = "--eval-images", description = "inputs in the final evaluation (default ${DEFAULT-VALUE})")
    int evalImages = 96;

    @Option(
            names = "--eval-every",
            description = "judge the averaged and the trained networks every N iterations, 0 never (default"
                    + " ${DEFAULT-VALUE})")
    int evalEvery;

    @Option(names = "--log-every", description = "progress line every N iterations (default ${DEFAULT-VALUE})")
    int logEvery = 50;

    @Option(names = "--sample-every", description = "sample grid every N iterations (default ${DEFAULT-VALUE})")
    int sampleEvery = 250;

    @Option(names = "--save-every", description = "checkpoint every N iterations (default ${DEFAULT-VALUE})")
    int saveEvery = 500;

    @Option(names = "--seed", description = "data, initialization and latent seed (default ${DEFAULT-VALUE})")
    long seed = 1;

    @Option(names = "--out", description = "output folder (default ${DEFAULT-VALUE})")
    Path out = Path.of("target/stargan-v2");

    @Option(
            names = "--resume",
            description = "continue from OUT/checkpoints/{STEP}_*.ckpt (StarGAN v2's --resume_iter) up to --iterations")
    int resume;

    @Option(names = "--no-report", description = "write no training report")
    boolean noReport;

    private static final int DOMAINS = ShapesV2Data.DOMAINS.size();

    /**
     * @param args the command line; {@code --help} lists it
     * @throws IOException if a file cannot be written
     */
    public static void main(String[] args) throws IOException {
        TrainStarGanV2 o = Cli.parse(new TrainStarGanV2(), args);
        if (o != null) {
            Map<String, Double> results = o.run();
            results.forEach((k, v) -> System.out.printf("%s = %.4f%n", k, v));
        }
    }

    /**
     * Generates the data, trains, evaluates and writes the results.
     *
     * @return the results, as written to {@code results.properties}
     * @throws IOException if a file cannot be written
     */
    Map<String, Double> run() throws IOException {
        long started = System.nanoTime();
        Files.createDirectories(out);
        Path folder = out.resolve("data");
        if (!Files.isDirectory(folder)) {
            ShapesV2Data.writeFolder(new ShapesV2Data(imageSize, seed).next(images), folder);
        }
        DomainImages data = DomainImages.fromFolder(folder, imageSize);
        if (!data.domains().equals(ShapesV2Data.DOMAINS)) {
            throw new IOException(folder + " holds the domains " + data.domains() + ", not " + ShapesV2Data.DOMAINS
                    + ": delete it to generate the data again");
        }
        StarGanV2Trainer.Options options = StarGanV2Trainer.Options.OFFICIAL
                .withWeights(new StarGanV2Losses.Weights(lambdaReg, lambdaSty, lambdaDs, lambdaCyc, lambdaId))
                .withDsIter(dsIter)
                .withLearningRates(lr, fLr)
                .withEmaBeta(emaBeta);
        StarGanV2Trainer trainer;
        if (resume > 0) {
            trainer = StarGanV2Trainer.resume(out.resolve("checkpoints"), resume, options);
        } else {
            StarGanV2Trainer.Networks nets = networks(seed);
            StarGanV2Trainer.Networks ema = networks(seed + 1);
            StarGanV2Trainer.initialize(nets, ema, seed);
            trainer = new StarGanV2Trainer(nets, ema, options, 0);
        }
        trainer.r1PassesIn(r1);
        StarGanV2Trainer.Networks nets = trainer.networks();
        if (resume > iterations) {
            throw new IllegalArgumentException(
                    "--resume " + resume + " is past --iterations " + iterations + ": nothing to train");
        }
        System.out.printf(
                "StarGAN v2 on %d generated %d px images of %s; G %,d, F %,d, E %,d, D %,d parameters; %d iterations"
                        + " of batch %d%n",
                data.size(),
                imageSize,
                data.domains(),
                nets.generator().numParams(),
                nets.mappingNetwork().numParams(),
                nets.styleEncoder().numParams(),
                nets.discriminator().numParams(),
                iterations,
                batchSize);

        ShapesV2Data.Batch shown = new ShapesV2Data(imageSize, seed + 7).next(6);
        TrainingReport report = noReport
                ? null
                : TrainingReport.create(
                        out.resolve("report"),
                        "TrainStarGanV2: shapes, " + imageSize + " px, batch " + batchSize + ", " + iterations
                                + " iterations");
        trainer.train(
                data.source(batchSize, seed + resume),
                data.reference(batchSize, seed + 1 + resume),
                iterations - resume,
                seed + 2 + resume,
                0, // the listener prints progress (SLF4J's INFO is off under mvn -q exec:java)
                saveEvery,
                out.resolve("checkpoints"),
                (t, losses, progress) -> {
                    if (logEvery > 0 && (t.iteration() % logEvery == 0 || t.iteration() == iterations)) {
                        System.out.println(progress + " | " + losses.summary());
                    }
                    if (evalEvery > 0 && t.iteration() % evalEvery == 0) {
                        System.out.println("  judged at " + t.iteration() + ": averages "
                                + evaluate(t.ema(), new ShapesV2Data(imageSize, seed + 1000)) + "; trained "
                                + evaluate(t.networks(), new ShapesV2Data(imageSize, seed + 1000)));
                    }
                    if (report == null) {
                        return;
                    }
                    report.scalars(t.iteration(), losses.byName());
                    if (t.iteration() % sampleEvery == 0 || t.iteration() == iterations) {
                        report.image(t.iteration(), "inputs, then latent-guided to each domain", grid(t.ema(), shown));
                        report.write();
                    }
                });
        double trainSeconds = (System.nanoTime() - started) / 1e9;

        Map<String, Double> results = evaluate(trainer.ema(), new ShapesV2Data(imageSize, seed + 1000));
        results.put("iterations", (double) iterations);
        results.put("train_seconds", trainSeconds);
        results.put("total_seconds", (System.nanoTime() - started) / 1e9);
        Properties p = new Properties();
        results.forEach((k, v) -> p.setProperty(k, String.format("%.4f", v)));
        try (OutputStream os = Files.newOutputStream(out.resolve("results.properties"))) {
            p.store(os, "TrainStarGanV2 on generated shapes, judged by ShapesV2Judge");
        }
        ImageGrids.writeGrid(translations(trainer.ema(), shown), out.resolve("translations.png"));
        if (report != null) {
            System.out.println("Training report: " + report.write().toAbsolutePath());
        }
        return results;
    }

    private StarGanV2Trainer.Networks networks(long s) {
        return new StarGanV2Trainer.Networks(
                StarGanV2.generator()
                        .wHpf(0)
                        .imageSize(imageSize)
                        .dimIn(dimIn)
                        .maxConvDim(maxConvDim)
                        .styleDim(styleDim)
                        .seed(s)
                        .build(),
                StarGanV2.mappingNetwork()
                        .latentDim(latentDim)
                        .hidden(hidden)
                        .styleDim(styleDim)
                        .domains(DOMAINS)
                        .seed(s)
                        .build(),
                StarGanV2.styleEncoder()
                        .imageSize(imageSize)
                        .dimIn(dimIn)
                        .maxConvDim(maxConvDim)
                        .styleDim(styleDim)
                        .domains(DOMAINS)
                        .seed(s)
                        .build(),
                StarGanV2.discriminator()
                        .imageSize(imageSize)
                        .dimIn(dimIn)
                        .maxConvDim(maxConvDim)
                        .domains(DOMAINS)
                        .seed(s)
                        .build());
    }

    /** Latent-guided translations of {@code x} to {@code domain} with the averages, one latent code per image. */
    private static INDArray latent(StarGanV2Trainer.Networks t, INDArray x, int domain, Random random) {
        ComputationGraph f = t.mappingNetwork();
        long latentDim = f.getLayer("shared.0").getParam("W").size(0);
        INDArray z = Nd4j.zeros(DataType.FLOAT, x.size(0), latentDim);
        for (long i = 0; i < z.length(); i++) {
            z.putScalar(i, (float) random.nextGaussian());
        }
        INDArray y = StarGanV2.oneHot(DOMAINS, filled((int) x.size(0), domain));
        return StarGanV2.generate(t.generator(), x, f.outputSingle(z, y));
    }

    private static INDArray reference(StarGanV2Trainer.Networks t, INDArray x, INDArray ref, int[] refDomains) {
        INDArray s = t.styleEncoder().outputSingle(ref, StarGanV2.oneHot(DOMAINS, refDomains));
        return StarGanV2.generate(t.generator(), x, s);
    }

    private static int[] filled(int n, int value) {
        int[] a = new int[n];
        Arrays.fill(a, value);
        return a;
    }

    /**
     * Every input to every other domain: latent-guided (two latent codes each, for the diversity) and
     * reference-guided (a reference of the target domain with its own palette).
     */
    private Map<String, Double> evaluate(StarGanV2Trainer.Networks t, ShapesV2Data held) {
        ShapesV2Data.Batch inputs = held.next(evalImages);
        ShapesV2Data.Batch refs = held.next(evalImages * 3);
        Random random = new Random(seed + 2000);
        double latentHits = 0;
        double referenceHits = 0;
        double styleHits = 0;
        double diversity = 0;
        double iou = 0;
        int translations = 0;
        for (int target = 0; target < DOMAINS; target++) {
            List<Integer> rows = new ArrayList<>();
            for (int i = 0; i < evalImages; i++) {
                if (inputs.domains()[i] != target) {
                    rows.add(i);
                }
            }
            INDArray x = rows(inputs.images(), rows);
            int n = rows.size();
            int[] targets = filled(n, target);
            INDArray first = latent(t, x, target, random);
            INDArray second = latent(t, x, target, random);
            latentHits += ShapesV2Judge.domainAccuracy(first, targets) * n;
            diversity += ShapesV2Judge.diversity(List.of(first, second)) * n;
            List<Integer> picked = new ArrayList<>();
            for (int i = 0; i < refs.size() && picked.size() < n; i++) {
                if (refs.domains()[i] == target) {
                    picked.add(i);
                }
            }
            INDArray ref = rows(refs.images(), picked);
            INDArray byReference = reference(t, x, ref, targets);
            referenceHits += ShapesV2Judge.domainAccuracy(byReference, targets) * n;
            styleHits += ShapesV2Judge.styleMatchRate(byReference, ref) * n;
            for (double v : ShapesV2Judge.contentIoU(x, first)) {
                iou += v / 2;
            }
            for (double v : ShapesV2Judge.contentIoU(x, byReference)) {
                iou += v / 2;
            }
            translations += n;
        }
        Map<String, Double> r = new LinkedHashMap<>();
        r.put("latent_accuracy", latentHits / translations);
        r.put("reference_accuracy", referenceHits / translations);
        r.put("style_match", styleHits / translations);
        r.put("diversity", diversity / translations);
        r.put("content_iou", iou / translations);
        r.put("translations", (double) translations);
        return r;
    }

    private static INDArray rows(INDArray images, List<Integer> rows) {
        long[] idx = rows.stream().mapToLong(Integer::longValue).toArray();
        return images.get(NDArrayIndex.indices(idx), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all())
                .dup();
    }

    /** The report's sample: inputs, then each domain's latent-guided translation (fixed codes). */
    private java.awt.image.BufferedImage grid(StarGanV2Trainer.Networks t, ShapesV2Data.Batch shown) {
        List<INDArray> columns = new ArrayList<>();
        columns.add(shown.images());
        Random random = new Random(seed + 3000);
        for (int d = 0; d < DOMAINS; d++) {
            columns.add(latent(t, shown.images(), d, random));
        }
        return ImageGrids.grid(transpose(columns));
    }

    /**
     * The final grid: for each input (a row), the input, its latent-guided translation to each domain, then the
     * reference-guided translations to each domain, with the reference used shown in the last rows.
     */
    private List<INDArray> translations(StarGanV2Trainer.Networks t, ShapesV2Data.Batch shown) {
        ShapesV2Data.Batch refs = new ShapesV2Data(imageSize, seed + 11).next(DOMAINS);
        List<INDArray> columns = new ArrayList<>();
        columns.add(shown.images());
        Random random = new Random(seed + 4000);
        for (int d = 0; d < DOMAINS; d++) {
            columns.add(latent(t, shown.images(), d, random));
        }
        for (int k = 0; k < DOMAINS; k++) {
            INDArray ref = refs.images().get(NDArrayIndex.interval(k, k + 1));
            INDArray repeated = ref.repeat(0, shown.images().size(0));
            columns.add(reference(
                    t, shown.images(), repeated, filled((int) shown.images().size(0), refs.domains()[k])));
        }
        List<INDArray> grid = transpose(columns);
        INDArray header = Nd4j.zeros(DataType.FLOAT, columns.size(), 3, imageSize, imageSize)
                .addi(1);
        for (int k = 0; k < DOMAINS; k++) {
            header.get(NDArrayIndex.point(1 + DOMAINS + k)).assign(refs.images().get(NDArrayIndex.point(k)));
        }
        grid.add(0, header);
        return grid;
    }

    /** Columns of {@code [N, 3, H, W]} batches to rows of {@code [columns, 3, H, W]}. */
    private static List<INDArray> transpose(List<INDArray> columns) {
        List<INDArray> rows = new ArrayList<>();
        long n = columns.get(0).size(0);
        for (long i = 0; i < n; i++) {
            List<INDArray> row = new ArrayList<>();
            for (INDArray c : columns) {
                row.add(c.get(NDArrayIndex.interval(i, i + 1)));
            }
            rows.add(Nd4j.concat(0, row.toArray(INDArray[]::new)));
        }
        return rows;
    }
}
