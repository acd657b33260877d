package io.github.instancenorm.examples.stargan;

import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * The schedule's name before 0.1.0, kept so that checkpoints that {@code TrainStarGan} wrote before it moved still
 * load: their updater configurations name this class. New code uses
 * {@link io.github.instancenorm.learning.LinearDecaySchedule}; a schedule of this class equals one of that class with
 * the same values, and clones into one.
 *
 * @deprecated use {@link io.github.instancenorm.learning.LinearDecaySchedule}
 */
@Deprecated
public final class LinearDecaySchedule extends io.github.instancenorm.learning.LinearDecaySchedule {

    /**
     * @param initialValue the rate until {@code decayStart}
     * @param decayStart   the iteration from which the rate falls
     * @param end          the iteration at which it reaches zero
     */
    public LinearDecaySchedule(
            @JsonProperty("initialValue") double initialValue,
            @JsonProperty("decayStart") int decayStart,
            @JsonProperty("end") int end) {
        super(initialValue, decayStart, end);
    }
}
