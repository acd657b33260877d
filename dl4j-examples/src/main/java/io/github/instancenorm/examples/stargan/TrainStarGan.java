package io.github.instancenorm.examples.stargan;

import io.github.instancenorm.conv.FastConvolutions;
import io.github.instancenorm.examples.ImageGrids;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.zoo.StarGan;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

/**
 * Trains a StarGAN-like multi-domain image translator on the JVM, end to end.
 *
 * <p>By default the data are generated shapes ({@link ShapesData}: colour, background and stripes are the
 * domains), so a fresh machine needs nothing else; {@code --data celeba} reads a CelebA-style folder and
 * attribute list instead. While training it prints losses, throughput and ETA, writes sample grids (input row,
 * then one row per target domain) and resumable checkpoints; at the end it measures the translator with an
 * independently trained attribute classifier and a content (shape mask IoU) check, writes a summary, and
 * exports the generator as a PyTorch state dict ({@code G.ckpt}) that yunjey/stargan's {@code Generator} loads.
 *
 * <p>Run (the examples module's default main class): {@code mvn -q -B install -DskipTests &&
 * mvn -q -B -f dl4j-examples exec:java}; {@code -Dexec.args="--help"} lists the flags.
 */
public final class TrainStarGan {

    private TrainStarGan() {
    }

    /** Command-line settings, with defaults that finish in about three minutes on two CPU cores. */
    static final class Options {
        int iterations = 1500;
        int batchSize = 16;
        int imageSize = 32;
        int convDim = 8;
        int generatorBlocks = 2;
        int discriminatorLayers = 4;
        double generatorLr = 2e-3;
        double discriminatorLr = 1e-3;
        double lambdaClass = 1;
        double lambdaReconstruction = 10;
        double lambdaIdentity = 10;
        double lrDecay = 0.5;
        int logEvery = 50;
        int sampleEvery = 250;
        int checkpointEvery = 500;
        int classifierIterations = 300;
        int evalImages = 256;
        long seed = 1;
        boolean resume = false;
        Path out = Path.of("target", "stargan");
        String data = "shapes";
        Path celebaImages;
        Path celebaAttributes;
        List<String> attributes = List.of("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young");
        int[] exclusive = {0, 1, 2};

        static Options parse(String[] args) {
            Options o = new Options();
            Map<String, String> a = new HashMap<>();
            for (int i = 0; i < args.length; i++) {
                String key = args[i];
                if (key.equals("--help") || key.equals("-h")) {
                    usage();
                    System.exit(0);
                }
                if (key.equals("--resume")) {
                    o.resume = true;
                    continue;
                }
                if (!key.startsWith("--") || i + 1 >= args.length) {
                    throw new IllegalArgumentException("Expected --flag value pairs, got \"" + key + "\"; see --help");
                }
                a.put(key.substring(2), args[++i]);
            }
            for (Map.Entry<String, String> e : a.entrySet()) {
                String v = e.getValue();
                switch (e.getKey()) {
                    case "iterations" -> o.iterations = Integer.parseInt(v);
                    case "batch-size" -> o.batchSize = Integer.parseInt(v);
                    case "image-size" -> o.imageSize = Integer.parseInt(v);
                    case "conv-dim" -> o.convDim = Integer.parseInt(v);
                    case "g-repeat" -> o.generatorBlocks = Integer.parseInt(v);
                    case "d-repeat" -> o.discriminatorLayers = Integer.parseInt(v);
                    case "g-lr" -> o.generatorLr = Double.parseDouble(v);
                    case "d-lr" -> o.discriminatorLr = Double.parseDouble(v);
                    case "lr-decay" -> o.lrDecay = Double.parseDouble(v);
                    case "lambda-cls" -> o.lambdaClass = Double.parseDouble(v);
                    case "lambda-rec" -> o.lambdaReconstruction = Double.parseDouble(v);
                    case "lambda-id" -> o.lambdaIdentity = Double.parseDouble(v);
                    case "log-every" -> o.logEvery = Integer.parseInt(v);
                    case "sample-every" -> o.sampleEvery = Integer.parseInt(v);
                    case "checkpoint-every" -> o.checkpointEvery = Integer.parseInt(v);
                    case "classifier-iterations" -> o.classifierIterations = Integer.parseInt(v);
                    case "eval-images" -> o.evalImages = Integer.parseInt(v);
                    case "seed" -> o.seed = Long.parseLong(v);
                    case "out" -> o.out = Path.of(v);
                    case "data" -> o.data = v;
                    case "celeba-images" -> o.celebaImages = Path.of(v);
                    case "celeba-attrs" -> o.celebaAttributes = Path.of(v);
                    case "attrs" -> o.attributes = Arrays.asList(v.split(","));
                    case "exclusive" -> o.exclusive = v.isEmpty() ? new int[0]
                            : Arrays.stream(v.split(",")).mapToInt(Integer::parseInt).toArray();
                    default -> throw new IllegalArgumentException("Unknown flag --" + e.getKey() + "; see --help");
                }
            }
            if (o.lrDecay < 0 || o.lrDecay > 1) {
                throw new IllegalArgumentException("--lr-decay must be in [0, 1], got " + o.lrDecay);
            }
            return o;
        }

        static void usage() {
            System.out.println("""
                    TrainStarGan: train a StarGAN-like translator on the JVM.
                      --iterations N          training iterations (default 1500)
                      --batch-size N          images per iteration (16)
                      --image-size N          image side in pixels (32)
                      --conv-dim N            generator/discriminator width (8)
                      --g-repeat N            generator residual blocks (2)
                      --d-repeat N            discriminator stride-2 layers (4)
                      --g-lr X / --d-lr X     Adam learning rates (2e-3 / 1e-3)
                      --lr-decay X            fraction of the run over which the rates fall to 0, as StarGAN (0.5)
                      --lambda-cls X          domain loss weight (1)
                      --lambda-rec X          cycle reconstruction (L1) weight (10)
                      --lambda-id X           identity-mapping (L1) weight, not in StarGAN; 0 turns it off (10)
                      --log-every N           progress line every N iterations (50)
                      --sample-every N        sample grid PNG every N iterations (250)
                      --checkpoint-every N    resumable checkpoint every N iterations (500)
                      --out DIR               output folder (target/stargan)
                      --resume                continue from DIR/checkpoint
                      --seed N                data and initialization seed (1)
                      --data shapes|celeba    generated shapes (default) or a CelebA-style folder:
                      --celeba-images DIR --celeba-attrs FILE --attrs A,B,C --exclusive 0,1,2
                      --classifier-iterations N, --eval-images N   final evaluation (300, 256)
                    """);
        }
    }

    /**
     * @param args flags, see {@code --help}
     * @throws IOException if outputs cannot be written or inputs read
     */
    public static void main(String[] args) throws IOException {
        run(Options.parse(args));
    }

    static Map<String, Double> run(Options o) throws IOException {
        Files.createDirectories(o.out);
        Nd4j.getRandom().setSeed(o.seed);
        ImageSource data = source(o, o.seed);
        int attributes = data.attributes().size();
        Path checkpoint = o.out.resolve("checkpoint");

        ComputationGraph generator;
        ComputationGraph discriminator;
        int start = 0;
        if (o.resume) {
            generator = ModelSerializer.restoreComputationGraph(checkpoint.resolve("G.zip").toFile(), true);
            discriminator = ModelSerializer.restoreComputationGraph(checkpoint.resolve("D.zip").toFile(), true);
            // A saved network is plain DL4J: the oneDNN helpers are installed on the loaded objects.
            FastConvolutions.install(generator);
            FastConvolutions.install(discriminator);
            Properties state = new Properties();
            try (Reader r = Files.newBufferedReader(checkpoint.resolve("state.properties"))) {
                state.load(r);
            }
            start = Integer.parseInt(state.getProperty("iteration"));
            data = source(o, o.seed + start);   // fresh images after the resume point
            System.out.printf("Resumed from %s at iteration %d%n", checkpoint, start);
        } else {
            generator = StarGan.generator().convDim(o.convDim).cDim(attributes).repeatNum(o.generatorBlocks)
                    .imageSize(o.imageSize).updater(new Adam(o.generatorLr, 0.5, 0.999, 1e-8)).seed(o.seed)
                    .inputGradients(true).build();
            discriminator = StarGan.discriminator().convDim(o.convDim).cDim(attributes)
                    .repeatNum(o.discriminatorLayers).imageSize(o.imageSize)
                    .updater(new Adam(o.discriminatorLr, 0.5, 0.999, 1e-8)).seed(o.seed + 1)
                    .inputGradients(true).build();
        }
        int decayStart = (int) Math.round(o.iterations * (1 - o.lrDecay));
        useSchedule(generator, new LinearDecaySchedule(o.generatorLr, decayStart, o.iterations));
        useSchedule(discriminator, new LinearDecaySchedule(o.discriminatorLr, decayStart, o.iterations));
        // Sample and evaluate as StarGAN's test code does: each image normalized with its own statistics.
        StarGan.useStatistics(generator, StarGan.Statistics.INSTANCE);
        StarGanTrainer trainer = new StarGanTrainer(generator, discriminator, o.generatorBlocks, o.lambdaClass,
                o.lambdaReconstruction, o.lambdaIdentity, start);

        System.out.printf("StarGAN-like training: %s data %dpx, attributes %s, G %,d params, D %,d params,"
                        + " %d iterations of %d%n", o.data, o.imageSize, data.attributes(), generator.numParams(),
                discriminator.numParams(), o.iterations, o.batchSize);
        // Maven's -q hides FastConvolutions' INFO line under exec:java, so the example says it itself.
        System.out.println("Convolutions: " + (FastConvolutions.path() == FastConvolutions.Path.ONEDNN
                ? "oneDNN (FastConvolutions)" : "DL4J's built-in path (no oneDNN on this backend, or switched off)"));
        System.out.println("Adversarial loss: least squares (DL4J cannot differentiate WGAN-GP's gradient penalty)");
        if (o.lambdaIdentity > 0) {
            System.out.printf(Locale.ROOT,
                    "Identity-mapping loss, weight %s (not in StarGAN; --lambda-id 0 turns it off)%n", o.lambdaIdentity);
        }
        Batch fixed = source(o, o.seed + 1_000_003).next(8);
        long t0 = System.nanoTime();
        for (int it = start + 1; it <= o.iterations; it++) {
            Batch b = data.next(o.batchSize);
            INDArray targets = shuffledRows(b.labels());
            StarGanTrainer.Losses l = trainer.step(b.images(), b.labels(), targets);
            if (it % o.logEvery == 0 || it == start + 1) {
                double seconds = (System.nanoTime() - t0) / 1e9;
                double perIt = seconds / (it - start);
                System.out.printf(Locale.ROOT, "iter %5d/%d  D real %.3f fake %.3f cls %.3f | G adv %.3f cls %.3f"
                                + " rec %.4f id %.4f | %.2f it/s %.1f img/s ETA %s%n", it, o.iterations, l.dReal(),
                        l.dFake(), l.dClass(), l.gAdversarial(), l.gClass(), l.gReconstruction(), l.gIdentity(),
                        1 / perIt, o.batchSize / perIt, duration(perIt * (o.iterations - it)));
            }
            if (it % o.sampleEvery == 0 || it == o.iterations) {
                Path png = o.out.resolve(String.format("samples/%06d.png", it));
                writeSamples(generator, fixed, data.exclusiveGroups(), png);
                System.out.println("  wrote " + png);
            }
            if (it % o.checkpointEvery == 0 || it == o.iterations) {
                saveCheckpoint(generator, discriminator, it, checkpoint);
            }
        }

        // The generator as a PyTorch state dict: loads into yunjey/stargan's Generator(conv_dim, c_dim, repeat_num).
        Path exported = o.out.resolve("G.ckpt");
        StateDict.of(generator).writeTorch(exported);
        System.out.printf("Exported the generator for PyTorch: %s (Generator(conv_dim=%d, c_dim=%d, repeat_num=%d)"
                + ".load_state_dict(torch.load(path)))%n", exported, o.convDim, attributes, o.generatorBlocks);

        Map<String, Double> results = evaluate(o, generator, data);
        try (Writer w = Files.newBufferedWriter(o.out.resolve("results.properties"))) {
            Properties p = new Properties();
            results.forEach((k, v) -> p.setProperty(k, String.format(Locale.ROOT, "%.4f", v)));
            p.store(w, "TrainStarGan final evaluation");
        }
        return results;
    }

    /**
     * Puts the schedule into every layer's optimizer configuration, in place: the updater's blocks read their
     * rate from those objects, and a checkpoint saves it. ({@code ComputationGraph.setLearningRate} rebuilds the
     * updater instead, which fails in M2.1 for some graphs with a NullPointerException in
     * {@code NetworkUtils.rebuildUpdaterStateArray}.)
     */
    static void useSchedule(ComputationGraph graph, ISchedule schedule) {
        for (org.deeplearning4j.nn.api.Layer layer : graph.getLayers()) {
            if (layer.conf().getLayer() instanceof BaseLayer conf && conf.getIUpdater() != null
                    && conf.getIUpdater().hasLearningRate()) {
                conf.getIUpdater().setLrAndSchedule(schedule.valueAt(0, 0), schedule);
            }
        }
    }

    static ImageSource source(Options o, long seed) throws IOException {
        return switch (o.data) {
            case "shapes" -> new ShapesData(o.imageSize, seed);
            case "celeba" -> {
                if (o.celebaImages == null || o.celebaAttributes == null) {
                    throw new IllegalArgumentException("--data celeba needs --celeba-images DIR and --celeba-attrs FILE");
                }
                yield new CelebALikeData(o.celebaImages, o.celebaAttributes, o.attributes,
                        o.exclusive.length == 0 ? List.of() : List.<int[]>of(o.exclusive), o.imageSize, seed);
            }
            default -> throw new IllegalArgumentException("--data must be shapes or celeba, got " + o.data);
        };
    }

    /** StarGAN's target domains: the labels of the batch in a random order. */
    static INDArray shuffledRows(INDArray labels) {
        int n = (int) labels.size(0);
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = Nd4j.getRandom().nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return labels.getRows(order);
    }

    static void writeSamples(ComputationGraph generator, Batch fixed, List<int[]> exclusive, Path png)
            throws IOException {
        List<INDArray> rows = new ArrayList<>();
        rows.add(fixed.images());
        for (INDArray target : Translations.perAttribute(fixed.labels(), exclusive)) {
            rows.add(generator.output(false, fixed.images(), target)[0]);
        }
        ImageGrids.writeGrid(rows, png);
    }

    static void saveCheckpoint(ComputationGraph g, ComputationGraph d, int iteration, Path dir) throws IOException {
        Files.createDirectories(dir);
        ModelSerializer.writeModel(g, dir.resolve("G.zip").toFile(), true);
        ModelSerializer.writeModel(d, dir.resolve("D.zip").toFile(), true);
        Properties state = new Properties();
        state.setProperty("iteration", Integer.toString(iteration));
        try (Writer w = Files.newBufferedWriter(dir.resolve("state.properties"))) {
            state.store(w, "TrainStarGan checkpoint");
        }
    }

    /**
     * Judges the translator without its discriminator: an attribute classifier trained on real images checks
     * that translations carry their target attribute, the shape mask IoU checks the content was kept, and the
     * cycle L1 error checks the input can be recovered.
     */
    static Map<String, Double> evaluate(Options o, ComputationGraph generator, ImageSource data) throws IOException {
        System.out.printf("Evaluating: training an attribute classifier on real images (%d iterations)...%n",
                o.classifierIterations);
        AttributeClassifier judge = new AttributeClassifier(o.imageSize, data.attributes().size(),
                data.exclusiveGroups(), o.seed + 7);
        judge.train(source(o, o.seed + 2_000_003), o.classifierIterations, 32);

        ImageSource test = source(o, o.seed + 3_000_017);
        long realOk = 0;
        long realTotal = 0;
        int attributes = data.attributes().size();
        long[] targetOk = new long[attributes];
        long[] targetTotal = new long[attributes];
        double iouSum = 0;
        long iouCount = 0;
        double recSum = 0;
        long recCount = 0;
        for (int done = 0; done < o.evalImages; done += 32) {
            Batch b = test.next(Math.min(32, o.evalImages - done));
            for (boolean[] row : judge.agreement(b.images(), b.labels())) {
                for (boolean ok : row) {
                    realOk += ok ? 1 : 0;
                    realTotal++;
                }
            }
            List<INDArray> targets = Translations.perAttribute(b.labels(), data.exclusiveGroups());
            for (int a = 0; a < targets.size(); a++) {
                INDArray fake = generator.output(false, b.images(), targets.get(a))[0];
                boolean[][] ok = judge.agreement(fake, targets.get(a));
                for (boolean[] row : ok) {
                    targetOk[a] += row[a] ? 1 : 0;
                    targetTotal[a]++;
                }
                if (b.masks() != null) {
                    for (double v : ContentMetrics.maskIoU(fake, b.masks())) {
                        iouSum += v;
                        iouCount++;
                    }
                }
                INDArray rec = generator.output(false, fake, b.labels())[0];
                recSum += Transforms.abs(rec.sub(b.images())).meanNumber().doubleValue() * b.images().size(0);
                recCount += b.images().size(0);
            }
        }
        Map<String, Double> r = new java.util.LinkedHashMap<>();
        r.put("classifier_accuracy_on_real", (double) realOk / realTotal);
        r.put("target_attribute_accuracy", (double) Arrays.stream(targetOk).sum() / Arrays.stream(targetTotal).sum());
        if (iouCount > 0) {
            r.put("content_mask_iou", iouSum / iouCount);
        }
        r.put("reconstruction_l1", recSum / recCount);
        System.out.printf(Locale.ROOT, "classifier accuracy on real images: %.1f%%%n",
                100 * r.get("classifier_accuracy_on_real"));
        StringBuilder perAttribute = new StringBuilder();
        for (int a = 0; a < attributes; a++) {
            double accuracy = (double) targetOk[a] / targetTotal[a];
            r.put("target_attribute_accuracy." + data.attributes().get(a), accuracy);
            perAttribute.append(String.format(Locale.ROOT, "%s %s %.1f%%", a == 0 ? "" : ",",
                    data.attributes().get(a), 100 * accuracy));
        }
        System.out.printf(Locale.ROOT, "target-attribute accuracy of translations: %.1f%% (%s)%n",
                100 * r.get("target_attribute_accuracy"), perAttribute.toString().trim());
        if (iouCount > 0) {
            System.out.printf(Locale.ROOT, "content kept (shape mask IoU, input vs translation): %.3f%n",
                    r.get("content_mask_iou"));
        }
        System.out.printf(Locale.ROOT, "cycle reconstruction L1 (images in [-1, 1]): %.4f%n",
                r.get("reconstruction_l1"));
        return r;
    }

    private static String duration(double seconds) {
        long s = Math.round(seconds);
        return String.format("%d:%02d", s / 60, s % 60);
    }
}
