package io.github.instancenorm.samediff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.ops.InstanceNormLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** What the op and {@link RunningStats} refuse while a graph is built, and that the messages say why. */
class SDInstanceNormArgumentsTest {

    private static final InstanceNormLayout NCHW = new InstanceNormLayout(4, false);

    @Test
    void rejectsInputOfTheWrongRank() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 3, 8);
        assertMessage(
                () -> SDInstanceNorm.training(sd, "in", x, null, null, 1e-5, NCHW),
                "expected 4D input (NCHW)",
                "got 3D input with shape [-1, 3, 8]");
    }

    @Test
    void rejectsGammaThatDoesNotMatchTheChannels() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 5, 6, 3);
        SDVariable gamma = sd.var("gamma", Nd4j.ones(DataType.FLOAT, 5));
        assertMessage(
                () -> SDInstanceNorm.instanceStats(sd, "in", x, gamma, null, 1e-5, new InstanceNormLayout(4, true)),
                "expected gamma of shape [3]",
                "got [5]");
    }

    @Test
    void rejectsASingleSpatialElementWithInstanceStatistics() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 3, 1, 1);
        assertMessage(
                () -> SDInstanceNorm.training(sd, "in", x, null, null, 1e-5, NCHW),
                "expected more than 1 spatial element",
                "[-1, 3, 1, 1]");
        SDVariable mean = sd.constant("m", Nd4j.zeros(DataType.FLOAT, 3));
        SDVariable var = sd.constant("v", Nd4j.ones(DataType.FLOAT, 3));
        SDInstanceNorm.inference(sd, "in", x, mean, var, null, null, 1e-5, NCHW); // running stats: fine
    }

    @Test
    void rejectsBadEpsAndReusedNames() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 3, 4, 4);
        assertMessage(
                () -> SDInstanceNorm.training(sd, "in", x, null, null, -1e-5, NCHW),
                "in: eps must be a finite value >= 0, got -1.0E-5");
        assertMessage(() -> SDInstanceNorm.training(sd, "in", x, null, null, Double.NaN, NCHW), "eps", "NaN");
        SDInstanceNorm.training(sd, "in0", x, null, null, 0, NCHW); // PyTorch's rule: eps = 0 is allowed
        SDInstanceNorm.training(sd, "in", x, null, null, 1e-5, NCHW);
        assertMessage(() -> SDInstanceNorm.training(sd, "in", x, null, null, 1e-5, NCHW), "already has", "\"in\"");
        SDInstanceNorm.Result unnamed = SDInstanceNorm.training(sd, null, x, null, null, 1e-5, NCHW);
        assertEquals("instance_norm_0/batchMean", unnamed.batchMean().name());
    }

    @Test
    void runningStatsRejectBadMomentumAndBatchStatistics() {
        assertMessage(() -> RunningStats.create(3, DataType.FLOAT, 1.5), "momentum must be in [0, 1]", "got 1.5");
        RunningStats stats = RunningStats.create(3, DataType.FLOAT, 0.1);
        assertMessage(
                () -> stats.update(Nd4j.zeros(DataType.FLOAT, 4), Nd4j.ones(DataType.FLOAT, 3)),
                "expected batchMean with 3 elements",
                "got shape [4]");
        assertEquals(0, stats.numBatchesTracked(), "a refused update changes nothing");
        assertMessage(() -> RunningStats.of(SameDiff.create(), "in", 0.1), "no array named \"in/runningMean\"");
    }

    private static void assertMessage(Executable call, String... parts) {
        String message = assertThrows(IllegalArgumentException.class, call).getMessage();
        for (String part : parts) {
            assertTrue(message.contains(part), "message should contain \"" + part + "\": " + message);
        }
    }
}
