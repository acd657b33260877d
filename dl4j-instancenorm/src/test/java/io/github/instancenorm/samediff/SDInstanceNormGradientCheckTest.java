package io.github.instancenorm.samediff;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.ops.InstanceNormLayout;
import java.util.Collections;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.validation.GradCheckUtil;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Numerical gradient checks ({@link GradCheckUtil}, double precision) of the training and inference forms, for each
 * rank, layout and affine setting: input, gamma and beta, and in inference also the running statistics.
 */
class SDInstanceNormGradientCheckTest {

    private static final long N = 2;
    private static final long C = 3;
    private static final int MAX_PER_PARAM = 24;
    private static DataType defaultType;
    private static DataType defaultFloatType;

    /** instanceStats builds the same graph as training, less the batch statistics, so it is not repeated here. */
    enum Mode {
        TRAINING,
        INFERENCE
    }

    @BeforeAll
    static void doublePrecision() {
        defaultType = Nd4j.dataType();
        defaultFloatType = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE); // GradCheckUtil refuses anything else
    }

    @AfterAll
    static void restorePrecision() {
        Nd4j.setDefaultDataTypes(defaultType, defaultFloatType);
    }

    static Stream<Arguments> configurations() {
        return IntStream.rangeClosed(InstanceNormLayout.MIN_RANK, InstanceNormLayout.MAX_RANK)
                .boxed()
                .flatMap(rank -> Stream.of(false, true)
                        .flatMap(last -> Stream.of(true, false)
                                .flatMap(affine -> Stream.of(Mode.values())
                                        .map(mode -> Arguments.of(new InstanceNormLayout(rank, last), affine, mode)))));
    }

    @ParameterizedTest(name = "{0} affine={1} {2}")
    @MethodSource("configurations")
    void gradientsMatchFiniteDifferences(InstanceNormLayout layout, boolean affine, Mode mode) {
        Nd4j.getRandom().setSeed(42);
        long[] shape = shape(layout);
        SameDiff sd = SameDiff.create();
        // Channels on different scales and offsets, as real activations are.
        SDVariable x = sd.var("x", Nd4j.rand(DataType.DOUBLE, shape).muli(4).subi(1.5));
        SDVariable gamma =
                affine ? sd.var("gamma", Nd4j.rand(DataType.DOUBLE, C).addi(0.5)) : null;
        SDVariable beta = affine ? sd.var("beta", Nd4j.randn(DataType.DOUBLE, C)) : null;
        SDVariable y = switch (mode) {
            case TRAINING ->
                SDInstanceNorm.training(sd, "in", x, gamma, beta, 1e-5, layout).output();
            case INFERENCE ->
                SDInstanceNorm.inference(
                        sd,
                        "in",
                        x,
                        sd.var("runningMean", Nd4j.randn(DataType.DOUBLE, C)),
                        sd.var("runningVar", Nd4j.rand(DataType.DOUBLE, C).addi(0.5)),
                        gamma,
                        beta,
                        1e-5,
                        layout);
        };
        // sum(y) alone would have a zero input gradient: weight the outputs.
        INDArray weights = Nd4j.randn(DataType.DOUBLE, shape);
        sd.sum("loss", y.mul(sd.constant("w", weights)));
        sd.setLossVariables("loss");

        // At most MAX_PER_PARAM evenly spaced elements of each parameter: every instance still gets probed.
        assertTrue(
                GradCheckUtil.checkGradients(
                        sd,
                        Collections.emptyMap(),
                        1e-6,
                        1e-5,
                        1e-9,
                        false,
                        false,
                        false,
                        false,
                        null,
                        null,
                        MAX_PER_PARAM,
                        GradCheckUtil.Subset.EVERY_N),
                "gradient check failed for " + layout.formatName() + " affine=" + affine + " " + mode);
    }

    private static long[] shape(InstanceNormLayout layout) {
        long[] spatial = switch (layout.rank()) {
            case 3 -> new long[] {5};
            case 4 -> new long[] {3, 4};
            default -> new long[] {2, 3, 2};
        };
        long[] shape = new long[layout.rank()];
        shape[0] = N;
        shape[layout.channelAxis()] = C;
        int[] axes = layout.spatialAxes();
        for (int i = 0; i < axes.length; i++) {
            shape[axes[i]] = spatial[i];
        }
        return shape;
    }
}
