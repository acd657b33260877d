package io.github.instancenorm.testutil;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Channels-first (PyTorch) and channels-last versions of the 1d, 2d and 3d input layouts.
 */
public enum Layouts {
    CHANNELS_FIRST(false),
    CHANNELS_LAST(true);

    private final boolean channelsLast;

    Layouts(boolean channelsLast) {
        this.channelsLast = channelsLast;
    }

    /** @return whether channels are the last axis */
    public boolean channelsLast() {
        return channelsLast;
    }

    /** @return a channels-first array in this layout, as a fresh c-ordered copy */
    public INDArray fromChannelsFirst(INDArray a) {
        if (!channelsLast) {
            return a.dup('c');
        }
        int rank = a.rank();
        int[] perm = new int[rank];
        perm[0] = 0;
        for (int i = 1; i < rank - 1; i++) {
            perm[i] = i + 1;
        }
        perm[rank - 1] = 1;
        return a.permute(perm).dup('c');
    }

    /** @return the DL4J input type for a channels-first shape {@code [N, C, spatial...]} in this layout */
    public InputType inputType(long[] shape) {
        long c = shape[1];
        return switch (shape.length) {
            case 3 -> InputType.recurrent(c, shape[2], channelsLast ? RNNFormat.NWC : RNNFormat.NCW);
            case 4 ->
                InputType.convolutional(shape[2], shape[3], c, channelsLast ? CNN2DFormat.NHWC : CNN2DFormat.NCHW);
            case 5 ->
                InputType.convolutional3D(
                        channelsLast ? Convolution3D.DataFormat.NDHWC : Convolution3D.DataFormat.NCDHW,
                        shape[2],
                        shape[3],
                        shape[4],
                        c);
            default -> throw new IllegalArgumentException("rank " + shape.length);
        };
    }

    /** @return the 2d format */
    public CNN2DFormat cnn2d() {
        return channelsLast ? CNN2DFormat.NHWC : CNN2DFormat.NCHW;
    }

    /** @return the 1d format */
    public RNNFormat rnn() {
        return channelsLast ? RNNFormat.NWC : RNNFormat.NCW;
    }

    /** @return the 3d format */
    public Convolution3D.DataFormat cnn3d() {
        return channelsLast ? Convolution3D.DataFormat.NDHWC : Convolution3D.DataFormat.NCDHW;
    }
}
