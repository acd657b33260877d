package io.github.instancenorm.onnx.hooks;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.samediff.frameworkimport.hooks.annotations.PreHookRule;

/**
 * Imports ONNX {@code Gemm} (opsets 1 onwards), PyTorch's export of {@code nn.Linear} on 2D input and of
 * {@code F.linear}, as {@code Y = alpha * op(A) op(B) + beta * C} with {@code C} broadcast to {@code [M, N]}.
 * M2.1's own mapping passes only {@code A} and {@code B} to {@code matmul} and drops {@code C}: every
 * {@code nn.Linear} came in without its bias (StarGAN v2's mapping network and the AdaIN layers' style projections).
 *
 * <p>Refused with the node's name: inputs that are not matrices, inner dimensions that differ, and a product above
 * the import's array limit.
 *
 * <p>Registered by {@link io.github.instancenorm.onnx.OnnxModels}; not meant to be called directly.
 */
@PreHookRule(
        nodeNames = {},
        opNames = {"Gemm"},
        frameworkName = "onnx")
public final class GemmHook extends OnnxHook {

    /** For the importer's scan. */
    public GemmHook() {}

    @Override
    protected String opType() {
        return "Gemm";
    }

    @Override
    protected Map<String, List<SDVariable>> build(SameDiff sd, Node node) {
        SDVariable a = node.required(0, "A");
        SDVariable b = node.required(1, "B");
        SDVariable c = node.input(2);
        double alpha = node.number("alpha", 1);
        double beta = node.number("beta", 1);
        boolean transA = node.number("transA", 0) != 0;
        boolean transB = node.number("transB", 0) != 0;
        String out = node.outputs().get(0);

        long[] aShape = Node.knownShape(a);
        long[] bShape = Node.knownShape(b);
        if (aShape != null && bShape != null) {
            if (aShape.length != 2 || bShape.length != 2) {
                throw new IllegalArgumentException("A and B must be matrices, got shapes " + Arrays.toString(aShape)
                        + " and " + Arrays.toString(bShape));
            }
            long m = aShape[transA ? 1 : 0];
            long k = aShape[transA ? 0 : 1];
            long kB = bShape[transB ? 1 : 0];
            long n = bShape[transB ? 0 : 1];
            if (k != kB) {
                throw new IllegalArgumentException(
                        "the inner dimensions differ: op(A) is [" + m + ", " + k + "], op(B) [" + kB + ", " + n + "]");
            }
            Node.checkResultSize("the product", new long[] {m, n}, a.dataType());
        }
        SDVariable y = sd.mmul(out + "/product", a, b, transA, transB, false);
        if (alpha != 1) {
            y = y.mul(out + "/alpha", alpha);
        }
        if (c != null && beta != 0) {
            y = y.add(out, beta == 1 ? c : c.mul(out + "/beta", beta));
        } else {
            y = sd.identity(out, y);
        }
        return Map.of(y.name(), List.of(y));
    }
}
