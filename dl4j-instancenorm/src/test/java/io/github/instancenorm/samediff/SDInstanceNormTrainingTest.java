package io.github.instancenorm.samediff;

import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.InstanceNormLayout;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trains a tiny SameDiff model through the op with {@code sd.fit} and Adam: the loss goes down, the
 * {@link RunningStats#updater} listener folds every iteration's batch statistics into the running statistics
 * (checked against the layer's INDArray kernels), and the inference output reads the statistics training left.
 */
class SDInstanceNormTrainingTest {

    private static final int BATCHES = 4;
    private static final int EPOCHS = 25;
    private static final long C = 3;

    @Test
    void fitLowersLossAndTracksRunningStats() {
        Nd4j.getRandom().setSeed(123);
        InstanceNormLayout layout = new InstanceNormLayout(4, true);   // NHWC
        long[] shape = {8, 5, 5, C};

        // Targets: the input normalized per instance, then scaled and shifted per channel by values the model
        // must find. Batches differ in offset, so the running statistics have something to average.
        INDArray trueGamma = Nd4j.createFromArray(2.0f, 0.5f, -1.0f);
        INDArray trueBeta = Nd4j.createFromArray(1.0f, -2.0f, 0.5f);
        List<DataSet> data = new ArrayList<>();
        for (int b = 0; b < BATCHES; b++) {
            INDArray x = Nd4j.randn(DataType.FLOAT, shape).muli(3).addi(b);
            INDArray y = InstanceNorm.normalizeWithInstanceStats(x, InstanceNorm.moments(x, layout), trueGamma,
                    trueBeta, 1e-5, layout, x.ulike());
            data.add(new DataSet(x, y));
        }

        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 5, 5, C);
        SDVariable label = sd.placeHolder("label", DataType.FLOAT, -1, 5, 5, C);
        SDVariable gamma = sd.var("gamma", Nd4j.ones(DataType.FLOAT, C));
        SDVariable beta = sd.var("beta", Nd4j.zeros(DataType.FLOAT, C));
        RunningStats stats = RunningStats.attach(sd, "in", C, DataType.FLOAT, null);   // cumulative average
        SDInstanceNorm.Result train = SDInstanceNorm.training(sd, "in", x, gamma, beta, 1e-5, layout);
        SDInstanceNorm.inference(sd, "in_infer", x, stats.meanVariable(sd), stats.varianceVariable(sd), gamma,
                beta, 1e-5, layout);
        sd.loss.meanSquaredError("loss", label, train.output(), null);
        sd.setTrainingConfig(TrainingConfig.builder()
                .updater(new Adam(0.05))
                .dataSetFeatureMapping("x")
                .dataSetLabelMapping("label")
                .build());
        sd.setListeners(stats.updater(train));

        double lossBefore = meanLoss(sd, data);
        for (int epoch = 0; epoch < EPOCHS; epoch++) {
            for (DataSet batch : data) {
                sd.fit(batch);
            }
        }
        double lossAfter = meanLoss(sd, data);
        assertTrue(lossAfter < 0.01 * lossBefore, "loss should fall at least 100-fold: " + lossBefore + " -> "
                + lossAfter);

        // Every iteration's batch went into the cumulative average, so it is the mean of the batches' statistics.
        assertEquals(BATCHES * EPOCHS, stats.numBatchesTracked(), "numBatchesTracked");
        INDArray expectedMean = Nd4j.zeros(DataType.DOUBLE, C);
        INDArray expectedVar = Nd4j.zeros(DataType.DOUBLE, C);
        for (DataSet d : data) {
            INDArray features = d.getFeatures().castTo(DataType.DOUBLE);
            InstanceNorm.Moments m = InstanceNorm.moments(features, layout);
            expectedMean.addi(InstanceNorm.batchMean(m).divi(BATCHES));
            expectedVar.addi(InstanceNorm.batchUnbiasedVariance(m, layout.spatialSize(features.shape()))
                    .divi(BATCHES));
        }
        // float running averages over 100 updates: rounding grows with the count
        assertClose("running mean", expectedMean, stats.mean(), 1e-4);
        assertClose("running var", expectedVar, stats.variance(), 1e-4);

        // The inference branch reads the running statistics and the trained gamma and beta.
        INDArray probe = data.get(0).getFeatures();
        INDArray expected = InstanceNorm.normalizeWithRunningStats(probe, stats.mean(), stats.variance(),
                sd.getArrForVarName("gamma"), sd.getArrForVarName("beta"), 1e-5, layout, probe.ulike());
        assertClose("inference output", expected, sd.output(Map.of("x", probe), "in_infer").get("in_infer"));
    }

    private static double meanLoss(SameDiff sd, List<DataSet> data) {
        double sum = 0;
        for (DataSet d : data) {
            sum += sd.output(Map.of("x", d.getFeatures(), "label", d.getLabels()), "loss").get("loss").getDouble(0);
        }
        return sum / data.size();
    }
}
