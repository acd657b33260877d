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

    /**
     * {@link UpdaterKernels#torchScalar}'s loop, lane for lane: {@link io.github.instancenorm.learning.TorchAdam}'s
     * step with every operation rounded once, in the order of {@code TorchAdamUpdater}'s ND4J ops.
     *
     * @param x     the running maximum of {@code v}, or null without {@code amsgrad}
     * @param xFrom its first element
     */
    static void runTorch(
            UpdaterKernels.TorchAdamStep s,
            ByteBuffer g,
            int gFrom,
            ByteBuffer m,
            int mFrom,
            ByteBuffer v,
            int vFrom,
            ByteBuffer x,
            int xFrom,
            int len) {
        FloatVector beta1 = FloatVector.broadcast(SPECIES, s.beta1());
        FloatVector beta2 = FloatVector.broadcast(SPECIES, s.beta2());
        float c1 = s.oneMinusBeta1();
        float c2 = s.oneMinusBeta2();
        float stepSize = s.stepSize();
        float bc2 = s.biasCorrection2Sqrt();
        float eps = s.epsilon();
        int lanes = SPECIES.length();
        int i = 0;
        if (x == null) {
            for (; i + lanes <= len; i += lanes) {
                int gi = (gFrom + i) * Float.BYTES;
                int mi = (mFrom + i) * Float.BYTES;
                int vi = (vFrom + i) * Float.BYTES;
                FloatVector grad = FloatVector.fromByteBuffer(SPECIES, g, gi, NATIVE);
                FloatVector mt = FloatVector.fromByteBuffer(SPECIES, m, mi, NATIVE)
                        .mul(beta1)
                        .add(grad.mul(c1));
                FloatVector vt = FloatVector.fromByteBuffer(SPECIES, v, vi, NATIVE)
                        .mul(beta2)
                        .add(grad.mul(c2).mul(grad));
                mt.intoByteBuffer(m, mi, NATIVE);
                vt.intoByteBuffer(v, vi, NATIVE);
                mt.mul(stepSize).div(vt.sqrt().div(bc2).add(eps)).intoByteBuffer(g, gi, NATIVE);
            }
        } else {
            for (; i + lanes <= len; i += lanes) {
                int gi = (gFrom + i) * Float.BYTES;
                int mi = (mFrom + i) * Float.BYTES;
                int vi = (vFrom + i) * Float.BYTES;
                int xi = (xFrom + i) * Float.BYTES;
                FloatVector grad = FloatVector.fromByteBuffer(SPECIES, g, gi, NATIVE);
                FloatVector mt = FloatVector.fromByteBuffer(SPECIES, m, mi, NATIVE)
                        .mul(beta1)
                        .add(grad.mul(c1));
                FloatVector vt = FloatVector.fromByteBuffer(SPECIES, v, vi, NATIVE)
                        .mul(beta2)
                        .add(grad.mul(c2).mul(grad));
                FloatVector second =
                        FloatVector.fromByteBuffer(SPECIES, x, xi, NATIVE).max(vt);
                mt.intoByteBuffer(m, mi, NATIVE);
                vt.intoByteBuffer(v, vi, NATIVE);
                second.intoByteBuffer(x, xi, NATIVE);
                mt.mul(stepSize).div(second.sqrt().div(bc2).add(eps)).intoByteBuffer(g, gi, NATIVE);
            }
        }
        UpdaterKernels.torchScalar(s, g, gFrom + i, m, mFrom + i, v, vFrom + i, x, xFrom + i, len - i);
    }
}
