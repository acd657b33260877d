package io.github.instancenorm.speedups.layers;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link JavaActivationLayer}'s loops in the Vector API's full-width lanes, lane for lane what the scalar loops
 * compute: a blend under the mask {@code x < 0}, so no branch depends on the data (the scalar loop's branch on the
 * sign is mispredicted half the time on activations, 3 ns an element on a 2-core AVX-512 VM). Loaded only when
 * {@link io.github.instancenorm.runtime.KernelSettings#vectorLoops()} says the module {@code jdk.incubator.vector} is
 * present.
 */
final class LeakyReluVectorLoop {

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private LeakyReluVectorLoop() {}

    /** @return the elements from 0 that it computed; the caller does the rest */
    static int forward(ByteBuffer x, int xFrom, ByteBuffer out, int outFrom, int n, float alpha) {
        int lanes = SPECIES.length();
        int i = 0;
        for (; i + lanes <= n; i += lanes) {
            FloatVector v = FloatVector.fromByteBuffer(SPECIES, x, (xFrom + i) * Float.BYTES, NATIVE);
            v.blend(v.mul(alpha), v.compare(VectorOperators.LT, 0f))
                    .intoByteBuffer(out, (outFrom + i) * Float.BYTES, NATIVE);
        }
        return i;
    }

    /** @return the elements from 0 that it computed; the caller does the rest */
    static int backward(
            ByteBuffer x,
            int xFrom,
            ByteBuffer epsilon,
            int epsFrom,
            ByteBuffer delta,
            int deltaFrom,
            int n,
            float alpha) {
        int lanes = SPECIES.length();
        int i = 0;
        for (; i + lanes <= n; i += lanes) {
            FloatVector v = FloatVector.fromByteBuffer(SPECIES, x, (xFrom + i) * Float.BYTES, NATIVE);
            FloatVector e = FloatVector.fromByteBuffer(SPECIES, epsilon, (epsFrom + i) * Float.BYTES, NATIVE);
            e.blend(e.mul(alpha), v.compare(VectorOperators.LT, 0f))
                    .intoByteBuffer(delta, (deltaFrom + i) * Float.BYTES, NATIVE);
        }
        return i;
    }

    /** ReLU, {@code x < 0 ? 0 : x}: @return the elements from 0 that it computed; the caller does the rest */
    static int reluForward(ByteBuffer x, int xFrom, ByteBuffer out, int outFrom, int n) {
        int lanes = SPECIES.length();
        FloatVector zero = FloatVector.zero(SPECIES);
        int i = 0;
        for (; i + lanes <= n; i += lanes) {
            FloatVector v = FloatVector.fromByteBuffer(SPECIES, x, (xFrom + i) * Float.BYTES, NATIVE);
            v.blend(zero, v.compare(VectorOperators.LT, 0f)).intoByteBuffer(out, (outFrom + i) * Float.BYTES, NATIVE);
        }
        return i;
    }

    /** ReLU's derivative, {@code x > 0 ? ε : 0}: @return the elements from 0 that it computed */
    static int reluBackward(
            ByteBuffer x, int xFrom, ByteBuffer epsilon, int epsFrom, ByteBuffer delta, int deltaFrom, int n) {
        int lanes = SPECIES.length();
        FloatVector zero = FloatVector.zero(SPECIES);
        int i = 0;
        for (; i + lanes <= n; i += lanes) {
            FloatVector v = FloatVector.fromByteBuffer(SPECIES, x, (xFrom + i) * Float.BYTES, NATIVE);
            FloatVector e = FloatVector.fromByteBuffer(SPECIES, epsilon, (epsFrom + i) * Float.BYTES, NATIVE);
            zero.blend(e, v.compare(VectorOperators.GT, 0f))
                    .intoByteBuffer(delta, (deltaFrom + i) * Float.BYTES, NATIVE);
        }
        return i;
    }
}
