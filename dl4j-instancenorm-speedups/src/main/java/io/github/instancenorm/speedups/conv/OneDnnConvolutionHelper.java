package io.github.instancenorm.speedups.conv;

import io.github.instancenorm.speedups.layers.LayerObjects;
import java.lang.invoke.VarHandle;
import java.util.Collections;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdDataAlgo;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdFilterAlgo;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer.FwdAlgo;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Runs one DL4J {@link ConvolutionLayer} on oneDNN: float convolutions directly ({@link DnnlConvolution}, made once
 * per input shape, {@link ConvolutionPlans}), the rest through libnd4j's {@code conv2d} /
 * {@code conv2d_bp} ops, which the oneDNN builds of {@code nd4j-native} execute with oneDNN kernels. Installed by
 * {@link FastConvolutions}.
 *
 * <p>DL4J calls a {@link ConvolutionHelper} from the layer's own forward and backward and falls back to its
 * {@code im2col} path when the helper returns {@code null} (see {@link #supported}) or throws (then
 * for good, with a warning, as {@code cudnnAllowFallback} allows). Two things differ from DL4J's own, unreachable,
 * {@code MKLDNNConvHelper}:
 * <ul>
 *   <li>the integer arguments are set on every call, so a layer that sees several input sizes in
 *       {@link ConvolutionMode#Same} gets the right padding each time;</li>
 *   <li>DL4J's backward asks the helper for the forward output again, to differentiate the activation, and so
 *       computes every convolution twice. Here the training forward hands DL4J's own cache
 *       ({@code AbstractLayer.preOutput}) the pre-activation output: for the identity activation (a convolution
 *       followed by a norm layer, as in StarGAN) the array it already has, for others a copy taken before the
 *       activation overwrites it in place (one output-sized array per layer, as DL4J's {@code CacheMode} keeps).
 *       The backward then skips the second convolution.</li>
 * </ul>
 */
final class OneDnnConvolutionHelper implements ConvolutionHelper {

    /** {@code AbstractLayer.preOutput}: the array that {@code ConvolutionLayer.preOutput} returns for backprop. */
    private static final VarHandle PRE_OUTPUT =
            LayerObjects.protectedField(AbstractLayer.class, "preOutput", INDArray.class);

    private final ConvolutionLayer layer;
    private final ConvolutionPlans plans;

    /** Why {@link DnnlConvolution} is not used in this process, or {@code null} where it is. */
    static final String DIRECT_UNAVAILABLE = directUnavailable();

    private static String directUnavailable() {
        try {
            return DnnlConvolution.unavailable();
        } catch (LinkageError e) { // org.bytedeco:dnnl left off the classpath
            return "oneDNN's JavaCPP preset (org.bytedeco:dnnl) is not on the classpath: " + e;
        }
    }
    /** The workspaces of the forward this helper computed last, or null when DL4J's own path computed it. */
    private LayerWorkspaceMgr forwardWorkspaces;

    OneDnnConvolutionHelper(ConvolutionLayer layer) {
        this.layer = layer;
        this.plans = new ConvolutionPlans(layer.hasBias(), false);
    }

    /** @return whether the DL4J fields the helper writes were found */
    static boolean fieldsFound() {
        return PRE_OUTPUT != null;
    }

    @Override
    public boolean checkSupported() {
        return true;
    }

    /**
     * Float only (oneDNN's f32 kernels), and no dilation: M2.1's oneDNN conv2d refuses dilated convolutions ("could
     * not create a descriptor for a dilated convolution forward propagation primitive").
     */
    private static boolean supported(INDArray input, INDArray weights, int[] dilation) {
        return input.dataType() == DataType.FLOAT
                && weights.dataType() == DataType.FLOAT
                && dilation[0] == 1
                && dilation[1] == 1;
    }

    @Override
    public INDArray preOutput(
            INDArray input,
            INDArray weights,
            INDArray bias,
            int[] kernel,
            int[] strides,
            int[] pad,
            AlgoMode mode,
            FwdAlgo fwdAlgo,
            ConvolutionMode convolutionMode,
            int[] dilation,
            CNN2DFormat format,
            LayerWorkspaceMgr workspaceMgr) {
        forwardWorkspaces = null;
        if (!supported(input, weights, dilation)) {
            return null;
        }
        boolean same = convolutionMode == ConvolutionMode.Same;
        // Validates the sizes the way DL4J's own path does, with its messages.
        int[] outSize = ConvolutionUtils.getOutputSize(
                input, kernel, strides, same ? null : pad, convolutionMode, dilation, format);
        long outChannels = weights.size(0);
        long[] outShape = format == CNN2DFormat.NCHW
                ? new long[] {input.size(0), outChannels, outSize[0], outSize[1]}
                : new long[] {input.size(0), outSize[0], outSize[1], outChannels};
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), outShape);
        DnnlConvolution direct = plans.get(input, weights, outShape, kernel, strides, pad, convolutionMode, format);
        if (direct != null) {
            direct.forward(input, weights, layer.hasBias() ? bias : null, out);
            forwardWorkspaces = workspaceMgr;
            return out;
        }
        DynamicCustomOp.DynamicCustomOpsBuilder op = DynamicCustomOp.builder("conv2d")
                .addIntegerArguments(arguments(kernel, strides, pad, dilation, same, format))
                .addOutputs(out)
                .callInplace(false);
        if (layer.hasBias()) {
            op.addInputs(input, weights, bias);
        } else {
            op.addInputs(input, weights);
        }
        Nd4j.exec(op.build());
        forwardWorkspaces = workspaceMgr;
        return out;
    }

    @Override
    public INDArray activate(INDArray z, IActivation afn, boolean training) {
        INDArray cached = null;
        if (training && forwardWorkspaces != null) {
            // The activation overwrites z in place; the copy lives in the activations' workspace, as z does.
            cached = afn instanceof ActivationIdentity ? z : forwardWorkspaces.dup(ArrayType.ACTIVATIONS, z);
        }
        PRE_OUTPUT.set(layer, cached);
        forwardWorkspaces = null;
        return afn.getActivation(z, training);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(
            INDArray input,
            INDArray weights,
            INDArray bias,
            INDArray delta,
            int[] kernel,
            int[] strides,
            int[] pad,
            INDArray biasGradView,
            INDArray weightGradView,
            IActivation afn,
            AlgoMode mode,
            BwdFilterAlgo bwdFilterAlgo,
            BwdDataAlgo bwdDataAlgo,
            ConvolutionMode convolutionMode,
            int[] dilation,
            CNN2DFormat format,
            LayerWorkspaceMgr workspaceMgr) {
        PRE_OUTPUT.set(layer, null);
        if (!supported(input, weights, dilation)) {
            return null;
        }
        boolean same = convolutionMode == ConvolutionMode.Same;
        // For NHWC, DL4J hands over a permuted view of its NCHW delta; libnd4j's oneDNN conv2d_bp reads such a
        // view wrongly (measured against DL4J's path), so it gets a plain copy.
        delta = contiguous(delta);
        INDArray inputGrad =
                workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape());
        boolean hasBias = layer.hasBias();
        DnnlConvolution direct =
                plans.get(input, weights, delta.shape(), kernel, strides, pad, convolutionMode, format);
        if (direct != null) {
            direct.backward(input, weights, delta, inputGrad, weightGradView, hasBias ? biasGradView : null);
            return new Pair<>(gradient(weightGradView, biasGradView, hasBias), inputGrad);
        }
        DynamicCustomOp.DynamicCustomOpsBuilder op = DynamicCustomOp.builder("conv2d_bp")
                .addIntegerArguments(arguments(kernel, strides, pad, dilation, same, format))
                .callInplace(false);
        if (hasBias) {
            op.addInputs(input, weights, bias, delta).addOutputs(inputGrad, weightGradView, biasGradView);
        } else {
            op.addInputs(input, weights, delta).addOutputs(inputGrad, weightGradView);
        }
        Nd4j.exec(op.build());
        return new Pair<>(gradient(weightGradView, biasGradView, hasBias), inputGrad);
    }

    private static Gradient gradient(INDArray weightGradView, INDArray biasGradView, boolean hasBias) {
        Gradient gradient = new DefaultGradient();
        gradient.setGradientFor(ConvolutionParamInitializer.WEIGHT_KEY, weightGradView, 'c');
        if (hasBias) {
            gradient.setGradientFor(ConvolutionParamInitializer.BIAS_KEY, biasGradView);
        }
        return gradient;
    }

    private static INDArray contiguous(INDArray array) {
        return Shape.hasDefaultStridesForShape(array) && array.ordering() == 'c' ? array : array.dup('c');
    }

    /** libnd4j's {@code conv2d} integer arguments; weights in DL4J's {@code [out, in, kH, kW]} order (format 1). */
    private static int[] arguments(
            int[] kernel, int[] strides, int[] pad, int[] dilation, boolean same, CNN2DFormat format) {
        return new int[] {
            kernel[0],
            kernel[1],
            strides[0],
            strides[1],
            pad[0],
            pad[1],
            dilation[0],
            dilation[1],
            same ? 1 : 0,
            format == CNN2DFormat.NCHW ? 0 : 1,
            1
        };
    }

    @Override
    public Map<String, Long> helperMemoryUse() {
        return Collections.emptyMap();
    }
}
