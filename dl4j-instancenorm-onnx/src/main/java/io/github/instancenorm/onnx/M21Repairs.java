package io.github.instancenorm.onnx;

import java.nio.file.Path;
import onnx.Onnx;

/**
 * Rewrites, in memory, what DL4J 1.0.0-M2.1's ONNX importer misreads in valid ONNX files, without changing what
 * the graph computes. Each repair is for a failure seen on PyTorch 1.13's exports:
 *
 * <ul>
 *   <li>{@code Constant} nodes become graph initializers of the same name. M2.1 imports a {@code Constant}'s
 *       {@code value} with the wrong type and shape (an int64 {@code [2, 3, 1, 1]} came in as a float of shape
 *       {@code [1]}, so the {@code Reshape} that used it failed with "Data types validation failed"), while it
 *       reads initializers correctly.
 *   <li>Any other {@code TENSOR} attribute (such as {@code ConstantOfShape}'s {@code value}) keeps its tensor in
 *       the attribute's {@code t} field; M2.1's {@code OnnxIRAttr.tensorValue()} reads the first element of the
 *       {@code tensors} list instead and fails with "IndexOutOfBoundsException: Index: 0". The repair copies
 *       {@code t} into {@code tensors}; the attribute's type stays {@code TENSOR}.
 *   <li>{@code Reshape}'s {@code allowzero=0} (written from opset 14 on, and the default) is removed: M2.1's
 *       {@code Reshape} hook takes any attribute as a sign of the opset-1 {@code shape} attribute, and fails with
 *       "null cannot be cast to non-null type kotlin.collections.List". {@code allowzero=1} is refused.
 * </ul>
 */
final class M21Repairs {
    private M21Repairs() {}

    /**
     * @param file the model's file, for error messages
     * @return {@code graph} with the repairs applied
     * @throws OnnxFormatException for a {@code Reshape} with {@code allowzero=1}
     */
    static Onnx.GraphProto repair(Path file, Onnx.GraphProto graph) throws OnnxFormatException {
        Onnx.GraphProto.Builder out = graph.toBuilder().clearNode();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            Onnx.NodeProto node = graph.getNode(i);
            if (node.getOpType().equals("Constant") && node.getOutputCount() == 1 && onlyTensorValue(node)) {
                out.addInitializer(node.getAttribute(0).getT().toBuilder().setName(node.getOutput(0)));
                continue;
            }
            Onnx.NodeProto.Builder b = node.toBuilder().clearAttribute();
            for (Onnx.AttributeProto attr : node.getAttributeList()) {
                if (node.getOpType().equals("Reshape") && attr.getName().equals("allowzero")) {
                    if (attr.getI() != 0) {
                        throw new OnnxFormatException(
                                file,
                                ModelChecks.describe(node, i),
                                "allowzero=1 is not supported by DL4J 1.0.0-M2.1's importer",
                                null);
                    }
                    continue;
                }
                if (attr.getType() == Onnx.AttributeProto.AttributeType.TENSOR
                        && attr.hasT()
                        && attr.getTensorsCount() == 0) {
                    attr = attr.toBuilder().addTensors(attr.getT()).build();
                }
                b.addAttribute(attr);
            }
            out.addNode(b);
        }
        return out.build();
    }

    private static boolean onlyTensorValue(Onnx.NodeProto node) {
        return node.getAttributeCount() == 1
                && node.getAttribute(0).getName().equals("value")
                && node.getAttribute(0).getType() == Onnx.AttributeProto.AttributeType.TENSOR
                && node.getAttribute(0).hasT();
    }
}
