package io.github.instancenorm.ops;

import java.util.Arrays;

/**
 * Where the batch, channel and spatial axes of an instance-norm input lie.
 *
 * <p>Instance normalization treats every (sample, channel) pair as its own population: the statistics run over
 * the spatial axes only. Axis 0 is always the batch; the channel axis is 1 for channels-first layouts
 * ({@code NCW}, {@code NCHW}, {@code NCDHW}) and the last axis for channels-last layouts ({@code NWC},
 * {@code NHWC}, {@code NDHWC}). Every other axis is spatial.
 *
 * <p>The layer and the SameDiff op both take their axes from here, so the two cannot disagree.
 *
 * @param rank         input rank: 3 (1d), 4 (2d) or 5 (3d)
 * @param channelsLast whether channels are the last axis
 */
public record InstanceNormLayout(int rank, boolean channelsLast) {

    /** Smallest supported input rank: {@code (N, C, L)}. */
    public static final int MIN_RANK = 3;
    /** Largest supported input rank: {@code (N, C, D, H, W)}. */
    public static final int MAX_RANK = 5;

    /**
     * @throws IllegalArgumentException if the rank is not 3, 4 or 5
     */
    public InstanceNormLayout {
        if (rank < MIN_RANK || rank > MAX_RANK) {
            throw new IllegalArgumentException("Instance normalization expects 3D, 4D or 5D input (N, C, spatial...)"
                    + " or its channels-last form; got rank " + rank);
        }
    }

    /** @return the index of the channel axis */
    public int channelAxis() {
        return channelsLast ? rank - 1 : 1;
    }

    /** @return the spatial axes, in increasing order; the statistics are taken over these */
    public int[] spatialAxes() {
        int[] axes = new int[rank - 2];
        int first = channelsLast ? 1 : 2;
        for (int i = 0; i < axes.length; i++) {
            axes[i] = first + i;
        }
        return axes;
    }

    /** @return every axis but the channel axis, in increasing order; per-channel sums run over these */
    public int[] nonChannelAxes() {
        int[] axes = new int[rank - 1];
        for (int i = 0, j = 0; i < rank; i++) {
            if (i != channelAxis()) {
                axes[j++] = i;
            }
        }
        return axes;
    }

    /** @return the axes a per-instance {@code [N, C]} statistic is broadcast along: batch and channel */
    public int[] instanceAxes() {
        return new int[] {0, channelAxis()};
    }

    /** @return the number of spatial elements of one instance */
    public long spatialSize(long[] shape) {
        long m = 1;
        for (int axis : spatialAxes()) {
            m *= shape[axis];
        }
        return m;
    }

    /** @return the shape a per-channel statistic takes when kept broadcastable against an input of this layout */
    public long[] channelBroadcastShape(long channels) {
        long[] shape = new long[rank];
        Arrays.fill(shape, 1);
        shape[channelAxis()] = channels;
        return shape;
    }

    /** @return the layout's conventional name, e.g. {@code NCHW} or {@code NDHWC} */
    public String formatName() {
        String spatial = switch (rank) {
            case 3 -> "W";
            case 4 -> "HW";
            default -> "DHW";
        };
        return channelsLast ? "N" + spatial + "C" : "NC" + spatial;
    }

    /**
     * Checks an input shape against this layout.
     *
     * @param shape             the input's shape
     * @param channels          the expected channel count, or a non-positive value to skip that check
     * @param usesInstanceStats whether this forward normalizes with the input's own statistics, which needs more
     *                          than one spatial element (PyTorch refuses such input too)
     * @param who               names the caller in error messages, e.g. the layer's name
     * @throws IllegalArgumentException naming the expected and actual shapes
     */
    public void checkInput(long[] shape, long channels, boolean usesInstanceStats, String who) {
        if (shape.length != rank) {
            throw new IllegalArgumentException(who + ": expected " + rank + "D input (" + formatName() + ") but got "
                    + shape.length + "D input with shape " + Arrays.toString(shape));
        }
        long actualChannels = shape[channelAxis()];
        if (channels > 0 && actualChannels != channels) {
            String hint = rank == 5 && channelsLast && shape[1] == channels
                    ? ". The input looks NCDHW: DL4J 1.0.0-M2.1's Convolution3D reports NDHWC to the next layer in"
                            + " Truncate mode whatever its format; give the layer"
                            + " .dataFormat(Convolution3D.DataFormat.NCDHW)"
                    : ". Check nOut and the layer's data format";
            throw new IllegalArgumentException(who + ": expected " + channels + " channels on axis " + channelAxis()
                    + " (" + formatName() + ") but input with shape " + Arrays.toString(shape) + " has "
                    + actualChannels + hint);
        }
        if (usesInstanceStats && spatialSize(shape) <= 1) {
            throw new IllegalArgumentException(who + ": expected more than 1 spatial element when normalizing with"
                    + " instance statistics, got input shape " + Arrays.toString(shape));
        }
    }
}
