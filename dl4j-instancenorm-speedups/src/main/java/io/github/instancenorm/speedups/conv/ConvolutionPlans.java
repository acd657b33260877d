package io.github.instancenorm.speedups.conv;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One layer's direct oneDNN convolutions ({@link DnnlConvolution}), made on first use and kept for the layer's last
 * {@value #PLANS} input shapes, as a {@code ComputationGraph} that sees several image sizes needs.
 */
final class ConvolutionPlans {

    private static final int PLANS = 4;

    private final boolean hasBias;
    private final boolean transposed;
    /** By input shape and output size; a {@code null} value remembers that oneDNN refused that shape. */
    private final Map<List<Long>, DnnlConvolution> plans = new LinkedHashMap<>(8, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<List<Long>, DnnlConvolution> eldest) {
            return size() > PLANS;
        }
    };

    /**
     * @param hasBias    whether the layer adds a bias
     * @param transposed a transposed convolution (DL4J's {@code Deconvolution2D})
     */
    ConvolutionPlans(boolean hasBias, boolean transposed) {
        this.hasBias = hasBias;
        this.transposed = transposed;
    }

    /**
     * The direct convolution for these shapes, or {@code null} where it does not apply (then libnd4j's ops or DL4J's
     * own code run): oneDNN's preset did not load, the arrays are not float, or oneDNN refuses the configuration.
     * Padding comes from the sizes, as libnd4j's ops compute it: in {@link ConvolutionMode#Same} the top-left
     * padding is half the total, rounded down; otherwise it is {@code pad}, and the bottom-right padding is whatever
     * makes the sizes agree (less than {@code pad} where the last rows do not fit a stride).
     *
     * @param input    the layer's input
     * @param weights  the layer's weights, as DL4J holds them
     * @param outShape the output's shape, in the activations' layout
     * @param kernel   {@code [kH, kW]}
     * @param strides  {@code [sH, sW]}
     * @param pad      the configured padding (unused in {@link ConvolutionMode#Same})
     * @param mode     the layer's convolution mode
     * @param format   the activations' layout
     * @return the convolution, or {@code null}
     */
    DnnlConvolution get(
            INDArray input,
            INDArray weights,
            long[] outShape,
            int[] kernel,
            int[] strides,
            int[] pad,
            ConvolutionMode mode,
            CNN2DFormat format) {
        if (OneDnnConvolutionHelper.DIRECT_UNAVAILABLE != null || input.dataType() != DataType.FLOAT) {
            return null;
        }
        boolean nchw = format == CNN2DFormat.NCHW;
        List<Long> key = new ArrayList<>(6);
        for (long d : input.shape()) {
            key.add(d);
        }
        key.add(outShape[nchw ? 2 : 1]);
        key.add(outShape[nchw ? 3 : 2]);
        if (plans.containsKey(key)) {
            return plans.get(key);
        }
        int[] in = {(int) input.size(nchw ? 2 : 1), (int) input.size(nchw ? 3 : 2)};
        int[] out = {(int) outShape[nchw ? 2 : 1], (int) outShape[nchw ? 3 : 2]};
        // A transposed convolution pads its output as the convolution that it transposes pads its input.
        int[] large = transposed ? out : in;
        int[] small = transposed ? in : out;
        int[] low = new int[2];
        int[] high = new int[2];
        for (int i = 0; i < 2; i++) {
            int total = (small[i] - 1) * strides[i] + kernel[i] - large[i];
            low[i] = mode == ConvolutionMode.Same ? Math.max(0, total / 2) : pad[i];
            high[i] = total - low[i];
        }
        DnnlConvolution made =
                DnnlConvolution.create(input, weights, outShape, nchw, strides, low, high, hasBias, transposed);
        plans.put(key, made);
        return made;
    }
}
