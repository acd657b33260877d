package io.github.instancenorm.train;

import java.time.Duration;

/**
 * Where a training run stands, as a trainer's listener sees it after each iteration.
 *
 * @param iteration           the iterations done, counting those before a resume
 * @param last                the iteration the run ends at
 * @param secondsPerIteration the mean time per iteration so far in this run
 */
public record Progress(int iteration, int last, double secondsPerIteration) {

    /** @return the estimated time left */
    public Duration eta() {
        return Duration.ofSeconds(Math.round(secondsPerIteration * (last - iteration)));
    }

    /** @return {@code "iteration i/last | 0.52 s/it, ETA PT1M3S"} */
    @Override
    public String toString() {
        return String.format("iteration %d/%d | %.2f s/it, ETA %s", iteration, last, secondsPerIteration, eta());
    }
}
