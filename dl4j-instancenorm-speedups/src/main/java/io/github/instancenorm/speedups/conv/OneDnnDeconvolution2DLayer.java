package io.github.instancenorm.speedups.conv;

import io.github.instancenorm.speedups.layers.LayerObjects;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.Deconvolution2DLayer;
import org.deeplearning4j.nn.params.DeconvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * DL4J's {@link Deconvolution2DLayer} with its float computations on oneDNN's transposed-convolution primitives,
 * called directly ({@link DnnlConvolution}); {@link FastConvolutions} puts one in place of each plain
 * {@code Deconvolution2DLayer} of a network.
 *
 * <p>Why a subclass: DL4J's deconvolution layer calls libnd4j's {@code deconv2d} and {@code deconv2d_bp} ops itself
 * and never asks a {@code ConvolutionHelper}, so the helper that serves {@code ConvolutionLayer} cannot reach it. Its
 * backward also computes the forward again, only to differentiate the activation. Here:
 * <ul>
 *   <li>the forward and backward run oneDNN's {@code deconvolution} primitives in blocked layouts, made once per input
 *       shape ({@link ConvolutionPlans});</li>
 *   <li>the backward skips the second forward where the activation is the identity (a deconvolution followed by a norm
 *       layer, as in StarGAN's generator), whose derivative does not read it;</li>
 *   <li>everything else is DL4J's own code: an input that is not float or a shape oneDNN refuses. Layers with
 *       dilation or weight noise, or parameters other than float, are not replaced at all ({@link #runs}).</li>
 * </ul>
 * The object is a field-by-field copy of the layer it replaces ({@link #replacing}): it shares that layer's
 * configuration, parameter and gradient views and listeners, and starts from its counters, so the network's updater,
 * its parameters and its saved form are unchanged. A oneDNN error while running propagates (there is no fallback per
 * call, as DL4J's helpers have).
 */
final class OneDnnDeconvolution2DLayer extends Deconvolution2DLayer {

    private final ConvolutionPlans plans;

    private OneDnnDeconvolution2DLayer(Deconvolution2DLayer original) {
        super(original.conf(), DataType.FLOAT); // the data type, like every other field, is copied below
        LayerObjects.copyFields(Deconvolution2DLayer.class, original, this);
        this.plans = new ConvolutionPlans(hasBias(), true);
    }

    /**
     * @param original a plain {@code Deconvolution2DLayer} of an initialized network
     * @return a layer that computes as the original does, on oneDNN, sharing all of its state
     */
    static OneDnnDeconvolution2DLayer replacing(Deconvolution2DLayer original) {
        if (original.getClass() != Deconvolution2DLayer.class) {
            throw new IllegalArgumentException("Only DL4J's own Deconvolution2DLayer is replaced, not "
                    + original.getClass().getName());
        }
        return new OneDnnDeconvolution2DLayer(original);
    }

    /**
     * @param layer a plain {@code Deconvolution2DLayer}
     * @return whether its configuration lets oneDNN run it: float parameters, no dilation, no weight noise
     */
    static boolean runs(org.deeplearning4j.nn.api.Layer layer) {
        var conf = (org.deeplearning4j.nn.conf.layers.ConvolutionLayer)
                layer.conf().getLayer();
        INDArray weights = layer.getParam(DeconvolutionParamInitializer.WEIGHT_KEY);
        return weights != null
                && weights.dataType() == DataType.FLOAT
                && conf.getDilation()[0] == 1
                && conf.getDilation()[1] == 1
                && conf.getWeightNoise() == null;
    }

    /** The direct oneDNN deconvolution for this input, or {@code null} where DL4J's code runs. */
    private DnnlConvolution direct(INDArray input, INDArray weights, long[] outShape) {
        var conf = layerConf();
        if (input.rank() != 4 || weights.dataType() != DataType.FLOAT) {
            return null;
        }
        return plans.get(
                input,
                weights,
                outShape,
                conf.getKernelSize(),
                conf.getStride(),
                conf.getPadding(),
                convolutionMode,
                conf.getCnn2dDataFormat());
    }

    /** @return whether this input runs on oneDNN (else DL4J's own code runs) */
    boolean runsOnOneDnn(INDArray input) {
        INDArray weights = getParam(DeconvolutionParamInitializer.WEIGHT_KEY);
        long[] outShape = outputShape(input, weights);
        return outShape != null && direct(input, weights, outShape) != null;
    }

    /** The output's shape, or {@code null} where the input is not one this layer can take (DL4J's code says why). */
    private long[] outputShape(INDArray input, INDArray weights) {
        var conf = layerConf();
        CNN2DFormat format = conf.getCnn2dDataFormat();
        boolean nchw = format == CNN2DFormat.NCHW;
        if (input.rank() != 4 || input.size(nchw ? 1 : 3) != weights.size(0)) {
            return null;
        }
        boolean same = convolutionMode == ConvolutionMode.Same;
        int[] size = ConvolutionUtils.getDeconvolutionOutputSize(
                input,
                conf.getKernelSize(),
                conf.getStride(),
                same ? null : conf.getPadding(),
                convolutionMode,
                conf.getDilation(),
                format);
        long out = weights.size(1);
        return nchw
                ? new long[] {input.size(0), out, size[0], size[1]}
                : new long[] {input.size(0), size[0], size[1], out};
    }

    @Override
    protected Pair<INDArray, INDArray> preOutput(
            boolean training, boolean forBackprop, LayerWorkspaceMgr workspaceMgr) {
        INDArray weights = getParamWithNoise(DeconvolutionParamInitializer.WEIGHT_KEY, training, workspaceMgr);
        long[] outShape = input == null ? null : outputShape(input, weights);
        DnnlConvolution direct = outShape == null ? null : direct(input, weights, outShape);
        if (direct == null) {
            return super.preOutput(training, forBackprop, workspaceMgr);
        }
        INDArray bias =
                hasBias() ? getParamWithNoise(DeconvolutionParamInitializer.BIAS_KEY, training, workspaceMgr) : null;
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), outShape);
        direct.forward(input, weights, bias, out);
        return new Pair<>(out, null);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        INDArray weights = getParamWithNoise(DeconvolutionParamInitializer.WEIGHT_KEY, true, workspaceMgr);
        long[] outShape = outputShape(input, weights);
        DnnlConvolution direct = outShape == null ? null : direct(input, weights, outShape);
        if (direct == null) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        IActivation activation = layerConf().getActivationFn();
        INDArray delta = activation instanceof ActivationIdentity
                ? epsilon // its derivative is 1: the forward need not be computed again
                : activation
                        .backprop(preOutput4d(true, true, workspaceMgr).getFirst(), epsilon)
                        .getFirst();
        INDArray inputGrad =
                workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape());
        INDArray weightGradView = gradientViews.get(DeconvolutionParamInitializer.WEIGHT_KEY);
        INDArray biasGradView = hasBias() ? gradientViews.get(DeconvolutionParamInitializer.BIAS_KEY) : null;
        direct.backward(input, weights, delta, inputGrad, weightGradView, biasGradView);
        Gradient gradient = new DefaultGradient();
        if (hasBias()) {
            gradient.setGradientFor(DeconvolutionParamInitializer.BIAS_KEY, biasGradView);
        }
        gradient.setGradientFor(DeconvolutionParamInitializer.WEIGHT_KEY, weightGradView, 'c');
        weightNoiseParams.clear();
        return new Pair<>(gradient, inputGrad);
    }
}
