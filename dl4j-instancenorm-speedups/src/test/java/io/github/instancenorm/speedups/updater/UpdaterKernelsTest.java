package io.github.instancenorm.speedups.updater;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.updaters.AdamUpdater;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link UpdaterKernels#adam} against libnd4j's {@code adam_updater} op, to the bit, and the arrays it declines.
 */
class UpdaterKernelsTest {

    /** Gradient, first and second moment as DL4J lays them out: views into a parameter and a state array. */
    private record Arrays(INDArray gradient, INDArray m, INDArray v) {
        static Arrays random(DataType type, int length, long seed) {
            Nd4j.getRandom().setSeed(seed);
            INDArray gradients = Nd4j.randn(type, 3 + length + 2).muli(0.1);
            INDArray state = Nd4j.rand(type, 2 * length + 6);
            INDArray v = state.get(NDArrayIndex.interval(length + 6, 2 * length + 6));
            v.muli(v).muli(0.01);
            return new Arrays(
                    gradients.get(NDArrayIndex.interval(3, 3 + length)),
                    state.get(NDArrayIndex.interval(5, 5 + length)).subi(0.5).muli(0.2),
                    v);
        }

        Arrays copy() {
            return new Arrays(gradient.dup(), m.dup(), v.dup());
        }
    }

    private static final double LR = 2e-4;

    /** The op, as ND4J's {@code AdamUpdater} calls it. */
    private static void op(Arrays a, double beta1, double beta2, double epsilon, int iteration) {
        Nd4j.exec(new AdamUpdater(a.gradient, a.v, a.m, LR, beta1, beta2, epsilon, iteration));
    }

    private static boolean kernel(
            UpdaterKernels.Loops loops, Arrays a, double beta1, double beta2, double eps, int iteration) {
        return UpdaterKernels.adam(loops, a.gradient, a.m, a.v, LR, beta1, beta2, eps, iteration);
    }

    @ParameterizedTest
    @CsvSource({
        "1, 0.9, 0.999, 1e-8, 0",
        "15, 0.9, 0.999, 1e-8, 1",
        "16, 0.5, 0.999, 1e-8, 7",
        "17, 0.5, 0.999, 1e-8, 0",
        "1000, 0.9, 0.99, 1e-6, 4999",
        "98309, 0.5, 0.999, 1e-8, 2",
        "98309, 0, 0.9, 1e-3, 100000"
    })
    void matchesLibnd4jsOp(int length, double beta1, double beta2, double epsilon, int iteration) {
        for (UpdaterKernels.Loops path :
                new UpdaterKernels.Loops[] {UpdaterKernels.Loops.fromSettings(), UpdaterKernels.Loops.SCALAR}) {
            Arrays expected = Arrays.random(DataType.FLOAT, length, length + iteration);
            Arrays actual = expected.copy();
            op(expected, beta1, beta2, epsilon, iteration);
            assertTrue(kernel(path, actual, beta1, beta2, epsilon, iteration), path + " took the arrays");
            // To the bit: the kernel probes which rounding the loaded libnd4j build uses.
            assertArrayEquals(expected.gradient.toFloatVector(), actual.gradient.toFloatVector(), path + " update");
            assertArrayEquals(expected.m.toFloatVector(), actual.m.toFloatVector(), path + " m");
            assertArrayEquals(expected.v.toFloatVector(), actual.v.toFloatVector(), path + " v");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {5, 33, 98309})
    void vectorAndScalarLoopsGiveTheSameBits(int length) {
        Arrays vector = Arrays.random(DataType.FLOAT, length, 9);
        Arrays scalar = vector.copy();
        assertTrue(kernel(UpdaterKernels.Loops.fromSettings(), vector, 0.5, 0.999, 1e-8, 3));
        assertTrue(kernel(UpdaterKernels.Loops.SCALAR, scalar, 0.5, 0.999, 1e-8, 3));
        assertArrayEquals(scalar.gradient.toFloatVector(), vector.gradient.toFloatVector());
        assertArrayEquals(scalar.m.toFloatVector(), vector.m.toFloatVector());
        assertArrayEquals(scalar.v.toFloatVector(), vector.v.toFloatVector());
    }

    @ParameterizedTest
    @EnumSource(
            value = Declined.class,
            names = {"DOUBLE", "STRIDED_GRADIENT", "LENGTHS_DIFFER", "NO_BIAS_CORRECTION", "OP_FORM"})
    void declinesAndLeavesTheArraysAlone(Declined why) {
        Arrays a = why.arrays();
        Arrays before = a.copy();
        double beta2 = why == Declined.NO_BIAS_CORRECTION ? 1.0 : 0.999;
        UpdaterKernels.Loops path =
                why == Declined.OP_FORM ? UpdaterKernels.Loops.OFF : UpdaterKernels.Loops.fromSettings();
        assertFalse(kernel(path, a, 0.9, beta2, 1e-8, 0), why.name());
        assertEquals(before.gradient, a.gradient);
        assertEquals(before.m, a.m);
        assertEquals(before.v, a.v);
    }

    enum Declined {
        DOUBLE,
        STRIDED_GRADIENT,
        LENGTHS_DIFFER,
        NO_BIAS_CORRECTION,
        OP_FORM;

        Arrays arrays() {
            Arrays floats = Arrays.random(DataType.FLOAT, 40, 1);
            return switch (this) {
                case DOUBLE -> Arrays.random(DataType.DOUBLE, 40, 1);
                // Every other element of a longer vector.
                case STRIDED_GRADIENT ->
                    new Arrays(Nd4j.rand(DataType.FLOAT, 80).get(NDArrayIndex.interval(0, 2, 80)), floats.m, floats.v);
                case LENGTHS_DIFFER ->
                    new Arrays(floats.gradient.get(NDArrayIndex.interval(0, 39)), floats.m, floats.v);
                default -> floats;
            };
        }
    }
}
