package io.github.instancenorm.testutil;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Element-wise comparison against a reference (PyTorch's fixtures, or another code path):
 * {@code |actual - expected| <= tol * (1 + |expected|)}, with {@code tol} = 1e-5 in float and 1e-9 in double.
 */
public final class Compare {

    private Compare() {}

    /** @return the tolerance for a data type */
    public static double tolerance(DataType type) {
        return type == DataType.DOUBLE ? 1e-9 : 1e-5;
    }

    /** Asserts equal shapes and values within the data type's tolerance. */
    public static void assertClose(String what, INDArray expected, INDArray actual) {
        assertClose(what, expected, actual, tolerance(expected.dataType()));
    }

    /** Asserts equal shapes and values within {@code tol}. */
    public static void assertClose(String what, INDArray expected, INDArray actual, double tol) {
        long[] expShape = expected.length() == 1 ? new long[] {1} : expected.shape();
        long[] actShape = actual.length() == 1 ? new long[] {1} : actual.shape();
        assertArrayEquals(expShape, actShape, what + ": shape");
        double[] e = expected.dup('c').castTo(DataType.DOUBLE).data().asDouble();
        double[] a = actual.dup('c').castTo(DataType.DOUBLE).data().asDouble();
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < e.length; i++) {
            double excess = Math.abs(a[i] - e[i]) / (1 + Math.abs(e[i]));
            if (!(excess <= worst)) {
                worst = excess;
                worstAt = i;
            }
        }
        if (!(worst <= tol)) {
            fail(what + ": element " + worstAt + " is " + a[worstAt] + ", expected " + e[worstAt] + " (scaled error "
                    + worst + " > " + tol + ") shape " + Arrays.toString(expected.shape()));
        }
    }
}
