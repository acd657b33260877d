package io.github.instancenorm.conf;

import io.github.instancenorm.layers.InstanceNormalizationLayer;
import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.InstanceNormLayout;
import io.github.instancenorm.params.InstanceNormalizationParamInitializer;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution3D;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.regularization.Regularization;

/**
 * Instance normalization with the semantics of PyTorch's {@code nn.InstanceNorm1d}, {@code InstanceNorm2d} and
 * {@code InstanceNorm3d}: one configuration for every rank and channel layout.
 *
 * <p>Each (sample, channel) instance of an input {@code x} with {@code M} spatial elements is normalized on its
 * own:
 * <pre>
 *   y = (x - mean) / sqrt(var + eps) * gamma + beta
 * </pre>
 * where, in training, {@code mean} and {@code var} are the instance's own mean and biased variance. With
 * {@link Builder#trackRunningStats(boolean) trackRunningStats}, every training forward (one {@code fit}
 * minibatch) also updates per-channel running statistics,
 * <pre>
 *   running_mean = (1 - momentum) * running_mean + momentum * mean_over_batch(mean)
 *   running_var  = (1 - momentum) * running_var  + momentum * mean_over_batch(var * M / (M - 1))
 * </pre>
 * and inference normalizes with them; without it (or with
 * {@link Builder#useInputStatsInInference(boolean) useInputStatsInInference}) inference uses the instance's own
 * statistics too. {@code momentum} follows PyTorch's convention (the weight of the new batch, not DL4J's decay);
 * {@code momentum(null)} gives a cumulative moving average, {@code momentum = 1 / numBatchesTracked}.
 *
 * <table>
 *   <caption>Which statistics normalize</caption>
 *   <tr><th></th><th>training</th><th>inference</th></tr>
 *   <tr><td>trackRunningStats=false</td><td>instance</td><td>instance</td></tr>
 *   <tr><td>trackRunningStats=true</td><td>instance; running stats updated</td><td>running</td></tr>
 *   <tr><td>trackRunningStats=true, useInputStatsInInference=true</td><td>instance; running stats updated</td>
 *       <td>instance</td></tr>
 * </table>
 *
 * <p>The channel count, rank and layout come from the {@link InputType}: {@code recurrent} (1d, {@code NCW} or
 * {@code NWC}), {@code convolutional} (2d, {@code NCHW} or {@code NHWC}) or {@code convolutional3D} (3d,
 * {@code NCDHW} or {@code NDHWC}). Without an input type, give {@code nOut} and a {@code dataFormat}. After a
 * channels-first {@code Convolution3D}, give {@code .dataFormat(Convolution3D.DataFormat.NCDHW)}: DL4J M2.1
 * reports such a layer's output as {@code NDHWC} in {@code Truncate} mode, and an explicit 3d format wins.
 * Parameters are described in {@link InstanceNormalizationParamInitializer}; the running statistics are state,
 * never touched by updaters, regularization, gradient normalization or clipping. Like DL4J's
 * {@code BatchNormalization}, the layer applies no activation function, whatever the network's default: follow
 * it with an {@code ActivationLayer}.
 *
 * <p>The defaults are PyTorch's: {@code new InstanceNormalization.Builder().build()} is
 * {@code nn.InstanceNorm2d(C)} (or 1d, 3d), with {@code eps=1e-5, momentum=0.1, affine=False,
 * track_running_stats=False} and no parameters. StarGAN's and CycleGAN's layers opt in:
 * <pre>{@code
 * Layer norm = new InstanceNormalization.Builder()    // nn.InstanceNorm2d(C, affine=True, track_running_stats=True)
 *         .affine(true).trackRunningStats(true)
 *         .build();
 * }</pre>
 */
public class InstanceNormalization extends FeedForwardLayer {

    private double eps = InstanceNorm.DEFAULT_EPS;
    private Double momentum = InstanceNorm.DEFAULT_MOMENTUM;
    private boolean affine = false;
    private boolean trackRunningStats = false;
    private boolean useInputStatsInInference = false;
    /** Expected input rank; 0 while unknown (no input type and no data format given), then any rank 3-5 goes. */
    private int inputRank = 0;

    private boolean channelsLast = false;

    private InstanceNormalization(Builder builder) {
        super(builder);
        this.eps = builder.eps;
        this.momentum = builder.momentum;
        this.affine = builder.affine;
        this.trackRunningStats = builder.trackRunningStats;
        this.useInputStatsInInference = builder.useInputStatsInInference;
        this.inputRank = builder.inputRank;
        this.channelsLast = builder.channelsLast;
        initializeConstraints(builder);
    }

    /** For JSON deserialization; use the {@link Builder}. */
    public InstanceNormalization() {
        this(new Builder());
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(
            NeuralNetConfiguration conf,
            Collection<TrainingListener> trainingListeners,
            int layerIndex,
            INDArray layerParamsView,
            boolean initializeParams,
            DataType networkDataType) {
        LayerValidation.assertNOutSet("InstanceNormalization", getLayerName(), layerIndex, getNOut());
        InstanceNormalizationLayer layer = new InstanceNormalizationLayer(conf, networkDataType);
        layer.setListeners(trainingListeners);
        layer.setIndex(layerIndex);
        layer.setParamsViewArray(layerParamsView);
        Map<String, INDArray> paramTable = initializer().init(conf, layerParamsView, initializeParams);
        layer.setParamTable(paramTable);
        layer.setConf(conf);
        return layer;
    }

    @Override
    public ParamInitializer initializer() {
        return InstanceNormalizationParamInitializer.getInstance();
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        layoutOf(inputType); // validates
        return inputType;
    }

    /**
     * Takes the channel count, rank and layout from the input type. For 3d input, a layout already fixed by
     * {@link Builder#dataFormat(Convolution3D.DataFormat)} stays: DL4J 1.0.0-M2.1's {@code Convolution3D} reports
     * {@code NDHWC} to the next layer in {@code Truncate} mode (the default) whatever its own data format, so a 3d
     * input type's format cannot be trusted.
     */
    @Override
    public void setNIn(InputType inputType, boolean override) {
        Layout layout = layoutOf(inputType);
        boolean keepLayout = layout.rank == 5 && inputRank == 5;
        inputRank = layout.rank;
        channelsLast = keepLayout ? channelsLast : layout.channelsLast;
        if (nIn <= 0 || override) {
            nIn = layout.channels;
            nOut = layout.channels;
        }
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        if (inputType != null && inputType.getType() == InputType.Type.CNNFlat) {
            InputType.InputTypeConvolutionalFlat flat = (InputType.InputTypeConvolutionalFlat) inputType;
            return new FeedForwardToCnnPreProcessor(flat.getHeight(), flat.getWidth(), flat.getDepth());
        }
        return null;
    }

    @Override
    public List<Regularization> getRegularizationByParam(String paramName) {
        if (InstanceNormalizationParamInitializer.isRunningState(paramName)) {
            return Collections.emptyList();
        }
        List<Regularization> r = super.getRegularizationByParam(paramName);
        return r == null ? Collections.emptyList() : r;
    }

    @Override
    public IUpdater getUpdaterByParam(String paramName) {
        if (InstanceNormalizationParamInitializer.isRunningState(paramName)) {
            return new NoOp();
        }
        if (!initializer().paramKeys(this).contains(paramName)) {
            throw new IllegalArgumentException(
                    "InstanceNormalization layer \"" + getLayerName() + "\" has no parameter \"" + paramName
                            + "\"; it has " + initializer().paramKeys(this));
        }
        return super.getUpdaterByParam(paramName);
    }

    @Override
    public boolean isPretrainParam(String paramName) {
        return false;
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        long numParams = initializer().numParams(this);
        long updaterState = 0;
        for (String key : initializer().paramKeys(this)) {
            updaterState += getUpdaterByParam(key).stateSize(nOut);
        }
        long perExample = inputType.arrayElementsPerExample();
        return new LayerMemoryReport.Builder(getLayerName(), InstanceNormalization.class, inputType, inputType)
                .standardMemory(numParams, updaterState)
                // forward: the output plus [N, C] statistics; backward: two input-sized temporaries
                .workingMemory(0, 0, 4 * nOut, 2 * perExample)
                .cacheMemory(MemoryReport.CACHE_MODE_ALL_ZEROS, MemoryReport.CACHE_MODE_ALL_ZEROS)
                .build();
    }

    /**
     * @return the layout inputs must have
     * @throws IllegalStateException when neither an input type nor a data format has fixed it yet
     */
    public InstanceNormLayout layout() {
        if (inputRank == 0) {
            throw new IllegalStateException("InstanceNormalization layer \"" + getLayerName() + "\" does not know"
                    + " its input layout: set the network's input type or call Builder.dataFormat(...)");
        }
        return new InstanceNormLayout(inputRank, channelsLast);
    }

    /** @return whether the rank and channel layout have been fixed by an input type or a data format */
    public boolean hasLayout() {
        return inputRank != 0;
    }

    /** @return whether this forward normalizes with the input's own statistics */
    public boolean usesInstanceStats(boolean training) {
        return training || !trackRunningStats || useInputStatsInInference;
    }

    private record Layout(int rank, boolean channelsLast, long channels) {}

    private Layout layoutOf(InputType inputType) {
        if (inputType == null) {
            throw new IllegalStateException("InstanceNormalization layer \"" + getLayerName()
                    + "\": no input type; expected recurrent, convolutional or convolutional3D input");
        }
        return switch (inputType.getType()) {
            case RNN -> {
                InputType.InputTypeRecurrent r = (InputType.InputTypeRecurrent) inputType;
                yield new Layout(3, r.getFormat() == RNNFormat.NWC, r.getSize());
            }
            case CNN -> {
                InputType.InputTypeConvolutional c = (InputType.InputTypeConvolutional) inputType;
                yield new Layout(4, c.getFormat() == CNN2DFormat.NHWC, c.getChannels());
            }
            case CNNFlat -> new Layout(4, false, ((InputType.InputTypeConvolutionalFlat) inputType).getDepth());
            case CNN3D -> {
                InputType.InputTypeConvolutional3D c = (InputType.InputTypeConvolutional3D) inputType;
                yield new Layout(5, c.getDataFormat() == Convolution3D.DataFormat.NDHWC, c.getChannels());
            }
            default ->
                throw new IllegalArgumentException("InstanceNormalization layer \"" + getLayerName()
                        + "\" expected recurrent (1d), convolutional (2d) or convolutional3D (3d) input, got "
                        + inputType + ". Instance statistics need spatial axes; for feed-forward input use"
                        + " LayerNormalization or BatchNormalization");
        };
    }

    /** @return the value added to the variance before the square root */
    public double getEps() {
        return eps;
    }

    /** @param eps the value added to the variance, at least 0 */
    public void setEps(double eps) {
        this.eps = InstanceNorm.checkEps(eps);
    }

    /** @return PyTorch-convention momentum, or {@code null} for a cumulative moving average */
    public Double getMomentum() {
        return momentum;
    }

    /** @param momentum in [0, 1], or {@code null} for a cumulative moving average */
    public void setMomentum(Double momentum) {
        this.momentum = InstanceNorm.checkMomentum(momentum);
    }

    /** @return whether the layer has learnable gamma and beta */
    public boolean isAffine() {
        return affine;
    }

    /** @param affine whether the layer has learnable gamma and beta */
    public void setAffine(boolean affine) {
        this.affine = affine;
    }

    /** @return whether running statistics are kept and used in inference */
    public boolean isTrackRunningStats() {
        return trackRunningStats;
    }

    /** @param trackRunningStats whether running statistics are kept and used in inference */
    public void setTrackRunningStats(boolean trackRunningStats) {
        this.trackRunningStats = trackRunningStats;
    }

    /** @return whether inference normalizes with instance statistics even when running stats are tracked */
    public boolean isUseInputStatsInInference() {
        return useInputStatsInInference;
    }

    /** @param useInputStatsInInference whether inference ignores the running statistics */
    public void setUseInputStatsInInference(boolean useInputStatsInInference) {
        this.useInputStatsInInference = useInputStatsInInference;
    }

    /** @return the expected input rank (3, 4 or 5), or 0 while unknown */
    public int getInputRank() {
        return inputRank;
    }

    /** @param inputRank the expected input rank (3, 4 or 5), or 0 for unknown */
    public void setInputRank(int inputRank) {
        if (inputRank != 0) {
            new InstanceNormLayout(inputRank, channelsLast); // validates
        }
        this.inputRank = inputRank;
    }

    /** @return whether channels are the last axis of the input */
    public boolean isChannelsLast() {
        return channelsLast;
    }

    /** @param channelsLast whether channels are the last axis of the input */
    public void setChannelsLast(boolean channelsLast) {
        this.channelsLast = channelsLast;
    }

    @Override
    public InstanceNormalization clone() {
        return (InstanceNormalization) super.clone();
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof InstanceNormalization other) || !super.equals(o)) {
            return false;
        }
        return Double.compare(eps, other.eps) == 0
                && Objects.equals(momentum, other.momentum)
                && affine == other.affine
                && trackRunningStats == other.trackRunningStats
                && useInputStatsInInference == other.useInputStatsInInference
                && inputRank == other.inputRank
                && channelsLast == other.channelsLast;
    }

    @Override
    public int hashCode() {
        return Objects.hash(
                super.hashCode(),
                eps,
                momentum,
                affine,
                trackRunningStats,
                useInputStatsInInference,
                inputRank,
                channelsLast);
    }

    @Override
    public String toString() {
        return "InstanceNormalization(name=" + getLayerName() + ", nOut=" + nOut + ", eps=" + eps + ", momentum="
                + momentum + ", affine=" + affine + ", trackRunningStats=" + trackRunningStats
                + ", useInputStatsInInference=" + useInputStatsInInference
                + (hasLayout() ? ", layout=" + layout().formatName() : "") + ")";
    }

    /** Fluent builder in the DL4J idiom: {@code new InstanceNormalization.Builder().eps(1e-5).build()}. */
    public static class Builder extends FeedForwardLayer.Builder<Builder> {

        private double eps = InstanceNorm.DEFAULT_EPS;
        private Double momentum = InstanceNorm.DEFAULT_MOMENTUM;
        private boolean affine = false;
        private boolean trackRunningStats = false;
        private boolean useInputStatsInInference = false;
        private int inputRank = 0;
        private boolean channelsLast = false;

        /**
         * Starts from PyTorch's defaults, those of {@code nn.InstanceNorm2d(C)}: eps 1e-5, momentum 0.1, no affine
         * parameters, no running statistics (instance statistics in training and inference).
         */
        public Builder() {}

        /**
         * @param eps added to the variance for numerical stability; default {@value InstanceNorm#DEFAULT_EPS}
         * @throws IllegalArgumentException if negative or not finite
         */
        public Builder eps(double eps) {
            this.eps = InstanceNorm.checkEps(eps);
            return this;
        }

        /**
         * @param momentum weight of each new batch in the running statistics, PyTorch's convention (DL4J's
         *                 {@code BatchNormalization} decay is {@code 1 - momentum}); default
         *                 {@value InstanceNorm#DEFAULT_MOMENTUM}; {@code null} for a cumulative moving average
         * @throws IllegalArgumentException if outside [0, 1]
         */
        public Builder momentum(Double momentum) {
            this.momentum = InstanceNorm.checkMomentum(momentum);
            return this;
        }

        /** @param affine learnable per-channel gamma and beta; default false, as in PyTorch */
        public Builder affine(boolean affine) {
            this.affine = affine;
            return this;
        }

        /**
         * @param trackRunningStats keep running statistics and use them in inference; default false, as in PyTorch
         */
        public Builder trackRunningStats(boolean trackRunningStats) {
            this.trackRunningStats = trackRunningStats;
            return this;
        }

        /**
         * @param useInputStatsInInference normalize with the instance's own statistics in inference even when
         *                                 running statistics are tracked (what StarGAN's test code and ONNX
         *                                 {@code InstanceNormalization} do); training still updates them;
         *                                 default false
         */
        public Builder useInputStatsInInference(boolean useInputStatsInInference) {
            this.useInputStatsInInference = useInputStatsInInference;
            return this;
        }

        /** @param format 2d input layout, when the network has no input type to tell it */
        public Builder dataFormat(CNN2DFormat format) {
            return layout(4, Objects.requireNonNull(format, "format") == CNN2DFormat.NHWC);
        }

        /** @param format 1d (sequence) input layout, when the network has no input type to tell it */
        public Builder dataFormat(RNNFormat format) {
            return layout(3, Objects.requireNonNull(format, "format") == RNNFormat.NWC);
        }

        /**
         * @param format 3d input layout. Give it after a channels-first {@code Convolution3D} in {@code Truncate}
         *               mode, whose output DL4J M2.1 reports as {@code NDHWC}: for 3d, this format wins over the
         *               input type's
         */
        public Builder dataFormat(Convolution3D.DataFormat format) {
            return layout(5, Objects.requireNonNull(format, "format") == Convolution3D.DataFormat.NDHWC);
        }

        private Builder layout(int rank, boolean last) {
            this.inputRank = rank;
            this.channelsLast = last;
            return this;
        }

        @Override
        @SuppressWarnings("unchecked")
        public InstanceNormalization build() {
            if (nIn > 0 && nOut > 0 && nIn != nOut) {
                throw new IllegalArgumentException("InstanceNormalization keeps the channel count: nIn (" + nIn
                        + ") and nOut (" + nOut + ") must be equal");
            }
            if (nOut <= 0 && nIn > 0) {
                nOut = nIn;
            }
            return new InstanceNormalization(this);
        }
    }
}
