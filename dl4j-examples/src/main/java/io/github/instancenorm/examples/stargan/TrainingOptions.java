package io.github.instancenorm.examples.stargan;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * TrainStarGan's command-line settings ({@code --help} lists them), with defaults that finish in about three minutes
 * on two CPU cores.
 */
final class TrainingOptions {
    int iterations = 1500;
    int batchSize = 16;
    int imageSize = 32;
    int convDim = 8;
    int generatorBlocks = 2;
    int discriminatorLayers = 4;
    double generatorLr = 2e-3;
    double discriminatorLr = 1e-3;
    /** {@code lsgan} or {@code wgan-gp}. */
    String loss = "lsgan";

    double lambdaGp = 10;
    int nCritic = 5;
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

    static TrainingOptions parse(String[] args) {
        TrainingOptions o = new TrainingOptions();
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
                case "loss" -> o.loss = v;
                case "lambda-gp" -> o.lambdaGp = Double.parseDouble(v);
                case "n-critic" -> o.nCritic = Integer.parseInt(v);
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
                case "exclusive" ->
                    o.exclusive = v.isEmpty()
                            ? new int[0]
                            : Arrays.stream(v.split(","))
                                    .mapToInt(Integer::parseInt)
                                    .toArray();
                default -> throw new IllegalArgumentException("Unknown flag --" + e.getKey() + "; see --help");
            }
        }
        if (!o.loss.equals("lsgan") && !o.loss.equals("wgan-gp")) {
            throw new IllegalArgumentException("--loss must be lsgan or wgan-gp, got " + o.loss);
        }
        if (o.loss.equals("wgan-gp")) {
            // StarGAN's rates for its objective, unless given.
            o.generatorLr = a.containsKey("g-lr") ? o.generatorLr : 1e-4;
            o.discriminatorLr = a.containsKey("d-lr") ? o.discriminatorLr : 1e-4;
        }
        if (o.nCritic < 1) {
            throw new IllegalArgumentException("--n-critic must be >= 1, got " + o.nCritic);
        }
        if (o.lrDecay < 0 || o.lrDecay > 1) {
            throw new IllegalArgumentException("--lr-decay must be in [0, 1], got " + o.lrDecay);
        }
        return o;
    }

    /** The generator's loss weights these settings give. */
    StarGanTrainer.LossWeights lossWeights() {
        return StarGanTrainer.LossWeights.STARGAN
                .withClassification(lambdaClass)
                .withReconstruction(lambdaReconstruction)
                .withIdentity(lambdaIdentity);
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
                  --loss lsgan|wgan-gp    adversarial objective: least squares (default) or StarGAN's WGAN-GP
                                          (one critic step per iteration, a generator step every --n-critic)
                  --lambda-gp X           WGAN-GP's gradient penalty weight (10)
                  --n-critic N            WGAN-GP: critic steps per generator step (5)
                  --iterations counts discriminator steps; with wgan-gp the generator takes iterations / n-critic
                  --g-lr X / --d-lr X     Adam learning rates (lsgan 2e-3 / 1e-3; wgan-gp 1e-4 / 1e-4, StarGAN's)
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
