package io.github.instancenorm.speedups.updater;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link UpdaterKernels#adam}'s loop in the Vector API's full-width lanes. Loaded only when
 * {@link io.github.instancenorm.runtime.KernelSettings#vectorLoops()} says the module {@code jdk.incubator.vector} is present. Each lane computes what
 * {@link UpdaterKernels#scalar} computes, operation for operation (fused multiply-adds where
 * {@link UpdaterKernels.AdamStep#fused} says so), so both loops give the same bits.
 */
final class AdamVectorLoop {

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private AdamVectorLoop() {}

    static void run(
            UpdaterKernels.AdamStep s,
            ByteBuffer g,
            int gFrom,
            ByteBuffer m,
            int mFrom,
            ByteBuffer v,
            int vFrom,
            int len) {
        float c1 = s.oneMinusBeta1();
        float c2 = s.oneMinusBeta2();
        boolean fused = s.fused();
        FloatVector beta1 = FloatVector.broadcast(SPECIES, s.beta1());
        FloatVector beta2 = FloatVector.broadcast(SPECIES, s.beta2());
        int lanes = SPECIES.length();
        int i = 0;
        for (; i + lanes <= len; i += lanes) {
            int gi = (gFrom + i) * Float.BYTES;
            int mi = (mFrom + i) * Float.BYTES;
            int vi = (vFrom + i) * Float.BYTES;
            FloatVector grad = FloatVector.fromByteBuffer(SPECIES, g, gi, NATIVE);
            FloatVector mOld = FloatVector.fromByteBuffer(SPECIES, m, mi, NATIVE);
            FloatVector vOld = FloatVector.fromByteBuffer(SPECIES, v, vi, NATIVE);
            FloatVector mt;
            FloatVector vt;
            if (fused) {
                mt = mOld.fma(beta1, grad.mul(c1));
                vt = vOld.fma(beta2, grad.mul(grad).mul(c2));
            } else {
                mt = mOld.mul(beta1).add(grad.mul(c1));
                vt = vOld.mul(beta2).add(grad.mul(grad).mul(c2));
            }
            mt.intoByteBuffer(m, mi, NATIVE);
            vt.intoByteBuffer(v, vi, NATIVE);
            mt.mul(s.alpha()).div(vt.sqrt().add(s.epsilon())).intoByteBuffer(g, gi, NATIVE);
        }
        UpdaterKernels.scalar(s, g, gFrom + i, m, mFrom + i, v, vFrom + i, len - i);
    }
}
