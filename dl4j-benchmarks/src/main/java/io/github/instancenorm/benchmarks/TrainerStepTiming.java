package io.github.instancenorm.benchmarks;

import java.util.Arrays;
import java.util.Locale;

/**
 * Times {@link io.github.instancenorm.train.StarGanTrainer#step} in a plain loop, the way a training run calls it:
 * {@link StarGanStepBenchmark#trainerStep} (the discriminator's and the generator's steps alternating, LSGAN with the
 * example's loss weights) on that benchmark's networks and batch, with a given {@code recycleNativeMemoryAfter}
 * threshold. A harness, not JMH: at StarGAN's size one step takes seconds on 2 cores, which JMH's fixed-time
 * iterations measure once or twice each, and what it times (how freed native memory is reused from step to step)
 * needs the steps back to back. The peers of this loop are {@code bench_torch.py --models ... --modes trainerStep}
 * (PyTorch 1.13) and {@code LibTorchStarGan --modes trainerStep} (libtorch 2.7.1). Run it with each setting in
 * alternation, nothing else running:
 *
 * <pre>
 *   java -cp ... io.github.instancenorm.benchmarks.TrainerStepTiming stargan|example RECYCLE_MIB STEPS
 * </pre>
 *
 * <p>{@code stargan}: 128 px, conv_dim 64, 6 blocks / 6 layers, batch 2; {@code example}: 32 px, conv_dim 8, 2 blocks
 * / 4 layers, batch 16 (the benchmark's sizes); 5 labels. Prints the median and mean step time over the steps after
 * the first fifth (the JIT's and the workspaces' warm-up), and the collections the trainer asked for are not
 * separated out: they are part of the step.
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
        int steps = Integer.parseInt(args[2]);
        StarGanStepBenchmark benchmark = new StarGanStepBenchmark();
        benchmark.size = args[0];
        benchmark.convolutions = "onednn";
        benchmark.layer = "InstanceNorm";
        benchmark.recycleMb = Integer.parseInt(args[1]);
        benchmark.setUp(null);
        long[] nanos = new long[steps];
        for (int i = 0; i < steps; i++) {
            long start = System.nanoTime();
            benchmark.trainerStep();
            nanos[i] = System.nanoTime() - start;
        }
        long[] timed = Arrays.copyOfRange(nanos, steps / 5, steps);
        Arrays.sort(timed);
        System.out.printf(
                Locale.ROOT,
                "%s, recycle after %d MiB: median %.1f ms, mean %.1f ms over %d steps%n",
                args[0],
                benchmark.recycleMb,
                timed[timed.length / 2] / 1e6,
                Arrays.stream(timed).average().orElse(Double.NaN) / 1e6,
                timed.length);
    }
}
