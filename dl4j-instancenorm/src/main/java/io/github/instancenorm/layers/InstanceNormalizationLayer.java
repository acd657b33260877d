package io.github.instancenorm.layers;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.BETA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.GAMMA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.InstanceNormLayout;
import java.util.Arrays;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The network-side implementation of {@link InstanceNormalization}; see that class for the semantics.
 *
 * <p>A training forward normalizes with the instance statistics and, when running statistics are tracked,
 * writes the updated running mean, variance and batch counter straight into their parameter views. Their gradient
 * views are never written, so they stay zero and the optimizer's step leaves the running statistics exactly as
 * the forward left them.
 *
 * <p>That is also why dl4j-spark's gradient sharing ({@code SharedTrainingMaster}) cannot carry them: on such a
 * worker the training forward normalizes with the instance statistics and skips the running update (see
 * {@code SparkGradientSharingCheck}); the statistics are then computed by a statistics pass over the trained
 * weights ({@link InstanceNormStatistics}). Parameter averaging averages them with the other parameters.
 */
public class InstanceNormalizationLayer extends BaseLayer<InstanceNormalization> {

    /** What the last forward used, kept (outside any workspace; they are tiny) for the backward pass. */
    private InstanceNorm.Moments moments;
    /** The arrays training forwards write their statistics into, allocated again only when the shape changes. */
    private InstanceNorm.Moments statsBuffer;

    private boolean lastForwardUsedInstanceStats;

    /**
     * @param conf     the layer's configuration
     * @param dataType the network's data type
     */
    public InstanceNormalizationLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public Type type() {
        return Type.NORMALIZATION;
    }

    /** Re-declared so that {@link SparkGradientSharingCheck}, in this package, can name the layer. */
    @Override
    protected String layerId() {
        return super.layerId();
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        applyDropOutIfNecessary(training, workspaceMgr);
        InstanceNormalization conf = layerConf();
        INDArray x = input.castTo(dataType);
        InstanceNormLayout layout = layoutFor(x);
        // A statistics pass (InstanceNormStatistics) runs inference forwards in which tracking layers normalize
        // with each instance's statistics, as in training, and report them instead of updating anything.
        InstanceNormStatistics.Collector collector =
                conf.isTrackRunningStats() ? InstanceNormStatistics.active() : null;
        boolean instanceStats = collector != null || conf.usesInstanceStats(training);
        layout.checkInput(x.shape(), conf.getNOut(), instanceStats, layerId());

        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, x.shape(), 'c');
        if (instanceStats) {
            InstanceNorm.Moments m = InstanceNorm.forwardWithInstanceStats(
                    x,
                    gamma(),
                    beta(),
                    conf.getEps(),
                    layout,
                    out,
                    statsBuffer(x.size(0), x.size(layout.channelAxis())));
            if (collector != null) {
                collector.add(this, m, layout.spatialSize(x.shape()));
            } else if (training && conf.isTrackRunningStats() && !SparkGradientSharingCheck.onGradientSharingWorker()) {
                // Under gradient sharing the update would stay on this worker: the statistics pass computes them.
                updateRunningStats(m, layout.spatialSize(x.shape()));
            }
            moments = m;
        } else {
            SparkGradientSharingCheck.refuseUnupdatedStatsUnderGradientSharing(this);
            InstanceNorm.normalizeWithRunningStats(
                    x, getParam(RUNNING_MEAN), getParam(RUNNING_VAR), gamma(), beta(), conf.getEps(), layout, out);
            moments = null;
        }
        lastForwardUsedInstanceStats = instanceStats;
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        InstanceNormalization conf = layerConf();
        INDArray x = input.castTo(dataType);
        INDArray grad = epsilon.castTo(dataType);
        InstanceNormLayout layout = layoutFor(x);
        if (lastForwardUsedInstanceStats && moments == null) {
            throw new IllegalStateException(layerId() + ": backpropGradient called without a forward pass");
        }

        INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, x.shape(), 'c');
        INDArray dGamma = conf.isAffine() ? gradientViews.get(GAMMA) : null;
        INDArray dBeta = conf.isAffine() ? gradientViews.get(BETA) : null;
        if (lastForwardUsedInstanceStats) {
            InstanceNorm.backwardWithInstanceStats(x, grad, moments, gamma(), conf.getEps(), layout, dx, dGamma, dBeta);
        } else {
            InstanceNorm.backwardWithRunningStats(
                    x,
                    grad,
                    getParam(RUNNING_MEAN),
                    getParam(RUNNING_VAR),
                    gamma(),
                    conf.getEps(),
                    layout,
                    dx,
                    dGamma,
                    dBeta);
        }

        Gradient gradient = new DefaultGradient();
        if (conf.isAffine()) {
            gradient.setGradientFor(GAMMA, dGamma);
            gradient.setGradientFor(BETA, dBeta);
        }
        moments = null;
        return new Pair<>(gradient, backpropDropOutIfPresent(dx));
    }

    @Override
    public void fit(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        throw new UnsupportedOperationException(
                layerId() + ": InstanceNormalization has no unsupervised fit;" + " train the network it belongs to");
    }

    @Override
    public boolean hasBias() {
        return layerConf().isAffine();
    }

    @Override
    public void clear() {
        super.clear();
        moments = null;
    }

    private void updateRunningStats(InstanceNorm.Moments m, long spatialSize) {
        InstanceNorm.foldInstanceStats(
                getParam(RUNNING_MEAN),
                getParam(RUNNING_VAR),
                getParam(NUM_BATCHES_TRACKED),
                layerConf().getMomentum(),
                m,
                spatialSize);
    }

    private InstanceNormLayout layoutFor(INDArray x) {
        InstanceNormalization conf = layerConf();
        // Without an input type or data format: channels-first, as in PyTorch (the constructor checks the rank).
        return conf.hasLayout() ? conf.layout() : new InstanceNormLayout(x.rank(), false);
    }

    private INDArray gamma() {
        return layerConf().isAffine() ? getParam(GAMMA) : null;
    }

    private INDArray beta() {
        return layerConf().isAffine() ? getParam(BETA) : null;
    }

    /** @return {@link #statsBuffer}, first allocated (outside any workspace) for {@code [batch, channels]} */
    private InstanceNorm.Moments statsBuffer(long batch, long channels) {
        long[] shape = {batch, channels};
        if (statsBuffer == null
                || !Arrays.equals(statsBuffer.mean().shape(), shape)
                || statsBuffer.mean().dataType() != dataType) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                statsBuffer = new InstanceNorm.Moments(
                        Nd4j.createUninitialized(dataType, shape), Nd4j.createUninitialized(dataType, shape));
            }
        }
        return statsBuffer;
    }
}
