package io.github.instancenorm.learning;

import java.util.Objects;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * StarGAN's learning-rate schedule: constant, then falling linearly to zero over the last iterations (StarGAN
 * decays over the last 100,000 of 200,000). {@code valueAt(i)} is the rate for the update after {@code i}
 * completed iterations.
 *
 * <p>A configuration class: DL4J writes its name into a saved network's updater configuration. (Until 0.1.0 it was
 * {@code io.github.instancenorm.examples.stargan.LinearDecaySchedule}; that name stays in the examples as a
 * deprecated subclass, so networks saved with it still load where the examples are on the class path.)
 */
public class LinearDecaySchedule implements ISchedule {

    private final double initialValue;
    private final int decayStart;
    private final int end;

    /**
     * @param initialValue the rate until {@code decayStart}
     * @param decayStart   the iteration from which the rate falls
     * @param end          the iteration at which it reaches zero (the run's length)
     */
    public LinearDecaySchedule(
            @JsonProperty("initialValue") double initialValue,
            @JsonProperty("decayStart") int decayStart,
            @JsonProperty("end") int end) {
        if (decayStart < 0 || decayStart > end) {
            throw new IllegalArgumentException(
                    "Need 0 <= decayStart <= end, got decayStart " + decayStart + " and end " + end);
        }
        this.initialValue = initialValue;
        this.decayStart = decayStart;
        this.end = end;
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        if (iteration < decayStart) {
            return initialValue;
        }
        return initialValue * Math.max(0, end - iteration) / Math.max(1, end - decayStart);
    }

    @Override
    public ISchedule clone() {
        return new LinearDecaySchedule(initialValue, decayStart, end);
    }

    /**
     * Equal schedules make equal optimizer configurations, which DL4J's updater groups into one block; the
     * grouping must not change between a run and its resumption, or the restored optimizer state is misread.
     */
    @Override
    public boolean equals(Object o) {
        return o instanceof LinearDecaySchedule s
                && Double.compare(s.initialValue, initialValue) == 0
                && s.decayStart == decayStart
                && s.end == end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(initialValue, decayStart, end);
    }

    /** @return the rate before the decay */
    @JsonProperty("initialValue")
    public double getInitialValue() {
        return initialValue;
    }

    /** @return the iteration from which the rate falls */
    @JsonProperty("decayStart")
    public int getDecayStart() {
        return decayStart;
    }

    /** @return the iteration at which the rate reaches zero */
    @JsonProperty("end")
    public int getEnd() {
        return end;
    }
}
