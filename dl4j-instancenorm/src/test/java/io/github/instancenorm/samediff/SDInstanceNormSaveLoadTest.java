package io.github.instancenorm.samediff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.github.instancenorm.ops.InstanceNormLayout;
import java.io.File;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A graph holding every op form and attached running statistics gives identical outputs, batch statistics and
 * gradients after {@code sd.save(file, true)} and {@code SameDiff.load(file, true)}, and its running statistics
 * still update in place.
 */
class SDInstanceNormSaveLoadTest {

    private static final long C = 3;
    private static final List<String> OUTPUTS = List.of("in", "in/batchMean", "in/batchVar", "in_infer", "in_inst");

    @TempDir
    Path dir;

    static Stream<Arguments> layouts() {
        return IntStream.rangeClosed(InstanceNormLayout.MIN_RANK, InstanceNormLayout.MAX_RANK)
                .boxed()
                .flatMap(rank -> Stream.of(false, true).map(last -> Arguments.of(new InstanceNormLayout(rank, last))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void roundTripGivesIdenticalResults(InstanceNormLayout layout) {
        Nd4j.getRandom().setSeed(7);
        long[] shape = layout.channelsLast()
                ? switch (layout.rank()) {
                    case 3 -> new long[] {2, 5, C};
                    case 4 -> new long[] {2, 3, 4, C};
                    default -> new long[] {2, 2, 3, 2, C};
                }
                : switch (layout.rank()) {
                    case 3 -> new long[] {2, C, 5};
                    case 4 -> new long[] {2, C, 3, 4};
                    default -> new long[] {2, C, 2, 3, 2};
                };
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, shape);
        SDVariable gamma = sd.var("gamma", Nd4j.rand(DataType.FLOAT, C).addi(0.5));
        SDVariable beta = sd.var("beta", Nd4j.randn(DataType.FLOAT, C));
        RunningStats stats = RunningStats.attach(sd, "in", C, DataType.FLOAT, 0.1);
        SDInstanceNorm.Result train = SDInstanceNorm.training(sd, "in", x, gamma, beta, 1e-5, layout);
        SDInstanceNorm.inference(
                sd, "in_infer", x, stats.meanVariable(sd), stats.varianceVariable(sd), gamma, beta, 1e-5, layout);
        SDInstanceNorm.instanceStats(sd, "in_inst", x, gamma, beta, 1e-5, layout);
        sd.sum("loss", train.output().mul(sd.constant("w", Nd4j.randn(DataType.FLOAT, shape))));
        sd.setLossVariables("loss");

        Map<String, INDArray> ph =
                Map.of("x", Nd4j.randn(DataType.FLOAT, shape).muli(2).addi(1));
        for (int i = 0; i < 2; i++) { // running statistics away from their initial 0 and 1
            Map<String, INDArray> out =
                    sd.output(ph, train.batchMean().name(), train.batchVar().name());
            stats.update(
                    out.get(train.batchMean().name()), out.get(train.batchVar().name()));
        }
        Map<String, INDArray> before = sd.output(ph, OUTPUTS);
        Map<String, INDArray> gradsBefore = sd.calculateGradients(ph, "gamma", "beta");

        File file = dir.resolve("instancenorm.sd").toFile();
        sd.save(file, true);
        SameDiff loaded = SameDiff.load(file, true);

        Map<String, INDArray> after = loaded.output(ph, OUTPUTS);
        for (String name : OUTPUTS) {
            assertEquals(before.get(name), after.get(name), name + " after save/load");
        }
        assertEquals(gradsBefore, loaded.calculateGradients(ph, "gamma", "beta"), "gradients after save/load");

        RunningStats reloaded = RunningStats.of(loaded, "in", 0.1);
        assertEquals(2, reloaded.numBatchesTracked(), "numBatchesTracked after save/load");
        assertEquals(stats.mean(), reloaded.mean(), "running mean after save/load");
        assertEquals(stats.variance(), reloaded.variance(), "running var after save/load");

        // Both graphs take one more identical update; their inference outputs must follow it identically.
        Map<String, INDArray> batch =
                sd.output(ph, train.batchMean().name(), train.batchVar().name());
        stats.update(
                batch.get(train.batchMean().name()), batch.get(train.batchVar().name()));
        reloaded.update(
                batch.get(train.batchMean().name()), batch.get(train.batchVar().name()));
        INDArray inferAfterUpdate = sd.output(ph, "in_infer").get("in_infer");
        assertEquals(inferAfterUpdate, loaded.output(ph, "in_infer").get("in_infer"), "inference after an update");
        assertNotEquals(
                before.get("in_infer"), inferAfterUpdate, "inference output must read the updated running statistics");
    }
}
