package io.github.instancenorm.benchmarks;

import io.github.instancenorm.speedups.Speedups;
import io.github.instancenorm.train.StarGanTrainer;
import io.github.instancenorm.zoo.StarGan;
import java.util.Arrays;
import java.util.Locale;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * Times {@link StarGanTrainer#step} (LSGAN, StarGAN's loss weights) in a plain loop, the way a training run calls it,
 * with a given {@code recycleNativeMemoryAfter} threshold. A harness, not JMH: at StarGAN's size one step takes
 * seconds on 2 cores, which JMH's fixed-time iterations measure once or twice each, and what it times (how freed
 * native memory is reused from step to step) needs the steps back to back. Run it with each setting in alternation,
 * nothing else running:
 *
 * <pre>
 *   java -cp ... io.github.instancenorm.benchmarks.TrainerStepTiming stargan|example RECYCLE_MIB STEPS
 * </pre>
 *
 * <p>{@code stargan}: 128 px, conv_dim 64, 6 blocks / 6 layers, batch 2; {@code example}: the main example's
 * networks (32 px, conv_dim 12, 2 blocks / 4 layers, batch 16); 5 labels. Prints the median and mean step time over
 * the steps after the first fifth (the JIT's and the workspaces' warm-up), and the collections the trainer asked for
 * are not separated out: they are part of the step.
 */
public final class TrainerStepTiming {

    private TrainerStepTiming() {}

    /**
     * Runs the loop; see the class documentation.
     *
     * @param args size, threshold in MiB (0: never collect), steps
     */
    public static void main(String[] args) {
        if (args.length != 3 || !(args[0].equals("stargan") || args[0].equals("example"))) {
            System.err.println("usage: TrainerStepTiming stargan|example RECYCLE_MIB STEPS");
            System.exit(2);
        }
        boolean full = args[0].equals("stargan");
        long mib = Long.parseLong(args[1]);
        int steps = Integer.parseInt(args[2]);
        int pixels = full ? 128 : 32;
        int width = full ? 64 : 12;
        int batch = full ? 2 : 16;
        int labels = 5;
        ComputationGraph generator = StarGan.generator()
                .convDim(width)
                .cDim(labels)
                .repeatNum(full ? 6 : 2)
                .imageSize(pixels)
                .updater(new Adam(1e-4, 0.5, 0.999, 1e-8))
                .inputGradients(true)
                .build();
        ComputationGraph discriminator = StarGan.discriminator()
                .convDim(width)
                .cDim(labels)
                .repeatNum(full ? 6 : 4)
                .imageSize(pixels)
                .updater(new Adam(1e-4, 0.5, 0.999, 1e-8))
                .inputGradients(true)
                .build();
        Speedups.install(generator);
        Speedups.install(discriminator);
        StarGanTrainer trainer = new StarGanTrainer(generator, discriminator, StarGanTrainer.LossWeights.STARGAN)
                .recycleNativeMemoryAfter(mib << 20);
        INDArray images =
                Nd4j.rand(DataType.FLOAT, batch, 3, pixels, pixels).muli(2).subi(1);
        INDArray label = Nd4j.rand(DataType.FLOAT, batch, labels).gt(0.5).castTo(DataType.FLOAT);
        INDArray target = Nd4j.rand(DataType.FLOAT, batch, labels).gt(0.5).castTo(DataType.FLOAT);
        long[] nanos = new long[steps];
        for (int i = 0; i < steps; i++) {
            long start = System.nanoTime();
            trainer.step(images, label, target);
            nanos[i] = System.nanoTime() - start;
        }
        long[] timed = Arrays.copyOfRange(nanos, steps / 5, steps);
        Arrays.sort(timed);
        System.out.printf(
                Locale.ROOT,
                "%s, recycle after %d MiB: median %.1f ms, mean %.1f ms over %d steps%n",
                args[0],
                mib,
                timed[timed.length / 2] / 1e6,
                Arrays.stream(timed).average().orElse(Double.NaN) / 1e6,
                timed.length);
    }
}
