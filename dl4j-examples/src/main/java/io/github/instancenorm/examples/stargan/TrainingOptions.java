package io.github.instancenorm.examples.stargan;

import io.github.instancenorm.examples.Cli;
import io.github.instancenorm.train.StarGanTrainer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * TrainStarGan's command-line settings ({@code --help} lists them; read by picocli through {@link Cli}), with
 * defaults that finish in about three minutes on two CPU cores.
 */
@Command(
        name = "TrainStarGan",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Trains a StarGAN-like translator on the JVM.")
final class TrainingOptions {
    @Option(
            names = "--iterations",
            description = "training iterations; with wgan-gp, critic steps (default ${DEFAULT-VALUE})")
    int iterations = 1750;

    @Option(names = "--batch-size", description = "images per iteration (default ${DEFAULT-VALUE})")
    int batchSize = 16;

    @Option(names = "--image-size", description = "image side in pixels (default ${DEFAULT-VALUE})")
    int imageSize = 32;

    @Option(names = "--conv-dim", description = "generator/discriminator width (default ${DEFAULT-VALUE})")
    int convDim = 12;

    @Option(names = "--g-repeat", description = "generator residual blocks (default ${DEFAULT-VALUE})")
    int generatorBlocks = 2;

    @Option(names = "--d-repeat", description = "discriminator stride-2 layers (default ${DEFAULT-VALUE})")
    int discriminatorLayers = 4;

    @Option(names = "--g-lr", description = "generator Adam learning rate (lsgan 2e-3, wgan-gp 1e-4: StarGAN's)")
    Double generatorLrOption;

    @Option(names = "--d-lr", description = "discriminator Adam learning rate (lsgan 1e-3, wgan-gp 1e-4)")
    Double discriminatorLrOption;

    double generatorLr = 2e-3;
    double discriminatorLr = 1e-3;

    /** {@code lsgan} or {@code wgan-gp}. */
    @Option(
            names = "--loss",
            description = "adversarial objective: lsgan (least squares, default) or wgan-gp (StarGAN's: a critic step"
                    + " per iteration, a generator step every --n-critic)")
    String loss = "lsgan";

    @Option(names = "--lambda-gp", description = "WGAN-GP's gradient penalty weight (default ${DEFAULT-VALUE})")
    double lambdaGp = 10;

    @Option(names = "--n-critic", description = "WGAN-GP: critic steps per generator step (default ${DEFAULT-VALUE})")
    int nCritic = 5;

    @Option(names = "--lambda-cls", description = "domain loss weight (default ${DEFAULT-VALUE})")
    double lambdaClass = 1;

    @Option(names = "--lambda-rec", description = "cycle reconstruction (L1) weight (default ${DEFAULT-VALUE})")
    double lambdaReconstruction = 10;

    @Option(
            names = "--lambda-id",
            description = "identity-mapping (L1) weight, not in StarGAN; 0 turns it off (default ${DEFAULT-VALUE})")
    double lambdaIdentity = 10;

    @Option(
            names = "--lr-decay",
            description = "fraction of the run over which the rates fall to 0, as StarGAN (default ${DEFAULT-VALUE})")
    double lrDecay = 0.5;

    @Option(names = "--log-every", description = "progress line every N iterations (default ${DEFAULT-VALUE})")
    int logEvery = 50;

    @Option(names = "--sample-every", description = "sample grid PNG every N iterations (default ${DEFAULT-VALUE})")
    int sampleEvery = 250;

    @Option(
            names = "--checkpoint-every",
            description = "resumable checkpoint every N iterations (default ${DEFAULT-VALUE})")
    int checkpointEvery = 500;

    @Option(names = "--classifier-iterations", description = "final evaluation's classifier (default ${DEFAULT-VALUE})")
    int classifierIterations = 300;

    @Option(names = "--eval-images", description = "images in the final evaluation (default ${DEFAULT-VALUE})")
    int evalImages = 256;

    @Option(names = "--seed", description = "data and initialization seed (default ${DEFAULT-VALUE})")
    long seed = 1;

    @Option(names = "--resume", description = "continue from OUT/checkpoint")
    boolean resume = false;

    @Option(names = "--out", description = "output folder (default ${DEFAULT-VALUE})")
    Path out = Path.of("target", "stargan");

    @Option(
            names = "--report",
            paramLabel = "DIR",
            description = "training report: loss charts, latest values and sample grids on one offline page,"
                    + " DIR/index.html, rewritten with every sample grid; continued by --resume (default: OUT/report)")
    Path report;

    @Option(names = "--no-report", description = "write no training report")
    boolean noReport = false;

    @Option(names = "--data", description = "shapes (generated, default) or celeba (a CelebA-style folder)")
    String data = "shapes";

    @Option(names = "--celeba-images", description = "celeba: the image folder")
    Path celebaImages;

    @Option(names = "--celeba-attrs", description = "celeba: the attribute file (list_attr_celeba.txt)")
    Path celebaAttributes;

    @Option(names = "--attrs", split = ",", description = "celeba: the attributes (default ${DEFAULT-VALUE})")
    List<String> attributes = List.of("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young");

    @Option(
            names = "--exclusive",
            description = "celeba: indices of mutually exclusive attributes, comma-separated; empty for none"
                    + " (default ${DEFAULT-VALUE})")
    String exclusiveOption = "0,1,2";

    int[] exclusive = {0, 1, 2};

    /**
     * @param args the command line
     * @return the settings; prints the usage and exits on {@code --help}
     * @throws IllegalArgumentException naming a bad or unknown flag
     */
    static TrainingOptions parse(String[] args) {
        TrainingOptions o = Cli.parse(new TrainingOptions(), args);
        if (o == null) {
            System.exit(0);
        }
        if (!o.loss.equals("lsgan") && !o.loss.equals("wgan-gp")) {
            throw new IllegalArgumentException("--loss must be lsgan or wgan-gp, got " + o.loss);
        }
        try {
            o.exclusive = o.exclusiveOption.isBlank()
                    ? new int[0]
                    : Arrays.stream(o.exclusiveOption.split(","))
                            .mapToInt(v -> Integer.parseInt(v.trim()))
                            .toArray();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "--exclusive takes attribute indices such as 0,1,2, got \"" + o.exclusiveOption + "\"");
        }
        // StarGAN's rates for its objective, unless given.
        boolean wgan = o.loss.equals("wgan-gp");
        o.generatorLr = o.generatorLrOption != null ? o.generatorLrOption : wgan ? 1e-4 : 2e-3;
        o.discriminatorLr = o.discriminatorLrOption != null ? o.discriminatorLrOption : wgan ? 1e-4 : 1e-3;
        if (o.noReport && o.report != null) {
            throw new IllegalArgumentException("--report " + o.report + " and --no-report contradict; give one");
        }
        if (o.nCritic < 1) {
            throw new IllegalArgumentException("--n-critic must be >= 1, got " + o.nCritic);
        }
        if (o.lrDecay < 0 || o.lrDecay > 1) {
            throw new IllegalArgumentException("--lr-decay must be in [0, 1], got " + o.lrDecay);
        }
        return o;
    }

    /** @return where the training report goes: {@code --report}, else {@code OUT/report}; null with {@code --no-report} */
    Path reportDirectory() {
        return noReport ? null : report != null ? report : out.resolve("report");
    }

    /** The generator's loss weights these settings give. */
    StarGanTrainer.LossWeights lossWeights() {
        return StarGanTrainer.LossWeights.STARGAN
                .withClassification(lambdaClass)
                .withReconstruction(lambdaReconstruction)
                .withIdentity(lambdaIdentity);
    }
}
