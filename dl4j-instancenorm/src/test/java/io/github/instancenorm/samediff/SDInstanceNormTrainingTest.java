package io.github.instancenorm.samediff;

import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.InstanceNormLayout;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.testutil.Layouts;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * Trains a tiny SameDiff model through the op with {@code sd.fit} and Adam: the loss goes down, the
 * {@link RunningStats#updater} listener folds every iteration's batch statistics into the running statistics
 * (checked against PyTorch's fixtures), and the inference output reads the statistics training left.
 */
class SDInstanceNormTrainingTest {

    private static final int BATCHES = 4;
    private static final int EPOCHS = 25;
    private static final long C = 3;

    @Test
    void fitLowersLossAndTracksRunningStats() {
        Nd4j.getRandom().setSeed(123);
        InstanceNormLayout layout = new InstanceNormLayout(4, true); // NHWC
        long[] shape = {8, 5, 5, C};

        // Targets: the input normalized per instance, then scaled and shifted per channel by values the model
        // must find. Batches differ in offset, so the running statistics have something to average.
        INDArray trueGamma = Nd4j.createFromArray(2.0f, 0.5f, -1.0f);
        INDArray trueBeta = Nd4j.createFromArray(1.0f, -2.0f, 0.5f);
        List<DataSet> data = new ArrayList<>();
        for (int b = 0; b < BATCHES; b++) {
            INDArray x = Nd4j.randn(DataType.FLOAT, shape).muli(3).addi(b);
            INDArray y = InstanceNorm.normalizeWithInstanceStats(
                    x, InstanceNorm.moments(x, layout), trueGamma, trueBeta, 1e-5, layout, x.ulike());
            data.add(new DataSet(x, y));
        }

        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 5, 5, C);
        SDVariable label = sd.placeHolder("label", DataType.FLOAT, -1, 5, 5, C);
        SDVariable gamma = sd.var("gamma", Nd4j.ones(DataType.FLOAT, C));
        SDVariable beta = sd.var("beta", Nd4j.zeros(DataType.FLOAT, C));
        RunningStats stats = RunningStats.attach(sd, "in", C, DataType.FLOAT, null); // cumulative average
        trainable(sd, x, label, gamma, beta, stats, layout, new Adam(0.05));

        double lossBefore = meanLoss(sd, data);
        for (int epoch = 0; epoch < EPOCHS; epoch++) {
            for (DataSet batch : data) {
                sd.fit(batch);
            }
        }
        double lossAfter = meanLoss(sd, data);
        assertTrue(
                lossAfter < 0.01 * lossBefore,
                "loss should fall at least 100-fold: " + lossBefore + " -> " + lossAfter);

        // Every iteration's batch went into the cumulative average (the values: fitTracksPyTorchsRunningStats).
        assertEquals(BATCHES * EPOCHS, stats.numBatchesTracked(), "numBatchesTracked");

        // The inference branch reads the running statistics and the trained gamma and beta.
        INDArray probe = data.get(0).getFeatures();
        INDArray expected = InstanceNorm.normalizeWithRunningStats(
                probe,
                stats.mean(),
                stats.variance(),
                sd.getArrForVarName("gamma"),
                sd.getArrForVarName("beta"),
                1e-5,
                layout,
                probe.ulike());
        assertClose(
                "inference output",
                expected,
                sd.output(Map.of("x", probe), "in_infer").get("in_infer"));
    }

    /**
     * {@code sd.fit} with the {@link RunningStats#updater} listener over PyTorch's three training batches: the running
     * statistics after each step are PyTorch's, and the inference branch then gives PyTorch's eval output. The
     * learning rate is zero so that gamma and beta stay PyTorch's (the statistics do not depend on them).
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("trackedCases")
    void fitTracksPyTorchsRunningStats(Fixtures.Case c, Layouts layouts) {
        Map<String, INDArray> fx = c.load();
        InstanceNormLayout layout = new InstanceNormLayout(c.rank(), layouts.channelsLast());
        long[] shape = layouts.fromChannelsFirst(fx.get("x1")).shape();
        long channels = fx.get("gamma").length();
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", c.dataType(), shape);
        SDVariable label = sd.placeHolder("label", c.dataType(), shape);
        SDVariable gamma = sd.var("gamma", fx.get("gamma").dup());
        SDVariable beta = sd.var("beta", fx.get("beta").dup());
        RunningStats stats = RunningStats.attach(sd, "in", channels, c.dataType(), c.momentum());
        stats.mean().assign(fx.get("running_mean_init"));
        stats.variance().assign(fx.get("running_var_init"));
        trainable(sd, x, label, gamma, beta, stats, layout, new Sgd(0));

        for (int k = 1; k <= Fixtures.STEPS; k++) {
            INDArray features = layouts.fromChannelsFirst(fx.get("x" + k));
            sd.fit(new DataSet(features, layouts.fromChannelsFirst(fx.get("dy" + k))));
            assertEquals(k, stats.numBatchesTracked(), "numBatchesTracked");
            assertEquals(channels, stats.mean().length());
            assertClose("step " + k + " running mean", fx.get("running_mean" + k), stats.mean());
            assertClose("step " + k + " running var", fx.get("running_var" + k), stats.variance());
        }
        assertClose(
                "eval output",
                layouts.fromChannelsFirst(fx.get("y_eval")),
                sd.output(Map.of("x", layouts.fromChannelsFirst(fx.get("x_eval"))), "in_infer")
                        .get("in_infer"));
    }

    static Stream<Arguments> trackedCases() {
        return Fixtures.cases().stream()
                .filter(c -> c.track() && c.affine())
                .flatMap(c -> Stream.of(Layouts.values()).map(l -> Arguments.of(c, l)));
    }

    /**
     * Adds the model both tests fit: the op in training mode ({@code "in"}) under an MSE loss against
     * {@code label}, the inference branch {@code "in_infer"} on the running statistics, and the listener that
     * updates them.
     */
    private static void trainable(
            SameDiff sd,
            SDVariable x,
            SDVariable label,
            SDVariable gamma,
            SDVariable beta,
            RunningStats stats,
            InstanceNormLayout layout,
            IUpdater updater) {
        SDInstanceNorm.Result train = SDInstanceNorm.training(sd, "in", x, gamma, beta, 1e-5, layout);
        SDInstanceNorm.inference(
                sd, "in_infer", x, stats.meanVariable(sd), stats.varianceVariable(sd), gamma, beta, 1e-5, layout);
        sd.loss.meanSquaredError("loss", label, train.output(), null);
        sd.setTrainingConfig(TrainingConfig.builder()
                .updater(updater)
                .dataSetFeatureMapping("x")
                .dataSetLabelMapping("label")
                .build());
        sd.setListeners(stats.updater(train));
    }

    private static double meanLoss(SameDiff sd, List<DataSet> data) {
        double sum = 0;
        for (DataSet d : data) {
            sum += sd.output(Map.of("x", d.getFeatures(), "label", d.getLabels()), "loss")
                    .get("loss")
                    .getDouble(0);
        }
        return sum / data.size();
    }
}
