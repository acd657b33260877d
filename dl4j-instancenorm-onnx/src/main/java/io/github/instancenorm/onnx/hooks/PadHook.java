package io.github.instancenorm.onnx.hooks;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.enums.PadMode;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.samediff.frameworkimport.hooks.annotations.PreHookRule;

/**
 * Imports ONNX {@code Pad} (opsets 2 onwards) with constant pads as libnd4j's {@code pad}: modes {@code constant}
 * and {@code reflect} (PyTorch's {@code ReflectionPad2d}, which CycleGAN's generators use). M2.1's own mapping
 * passes ONNX's flat {@code [begin_1, ..., begin_n, end_1, ..., end_n]} where libnd4j expects {@code [n, 2]}, and
 * the op fails with "Op validation failed".
 *
 * <p>Refused with the node's name: {@code edge} mode (libnd4j has no such mode), negative pads (cropping), and
 * pads that are not constants of the file.
 *
 * <p>Registered by {@link io.github.instancenorm.onnx.OnnxModels}; not meant to be called directly.
 */
@PreHookRule(
        nodeNames = {},
        opNames = {"Pad"},
        frameworkName = "onnx")
public final class PadHook extends OnnxHook {
    /** The largest pad accepted, far above any real network's: a larger one is taken for a damaged file. */
    private static final long MAX_PAD = 1024;

    /** For the importer's scan. */
    public PadHook() {}

    @Override
    protected String opType() {
        return "Pad";
    }

    @Override
    protected Map<String, List<SDVariable>> build(SameDiff sd, Node node) {
        SDVariable x = node.required(0, "data");
        String out = node.outputs().get(0);
        long[] pads;
        double value = node.number("value", 0);
        if (node.has("pads")) {
            pads = node.longs("pads", null);
        } else {
            SDVariable p = node.required(1, "pads");
            INDArray arr = p.getArr();
            if (arr == null
                    || !p.isConstant() && p.getVariableType() != org.nd4j.autodiff.samediff.VariableType.VARIABLE) {
                throw new IllegalArgumentException(
                        "pads must be a constant of the file, got the computed value '" + p.name() + "'");
            }
            pads = arr.toLongVector();
            SDVariable v = node.input(2);
            if (v != null) {
                if (v.getArr() == null) {
                    throw new IllegalArgumentException("constant_value must be a constant of the file");
                }
                value = v.getArr().getDouble(0);
            }
        }
        if (pads.length % 2 != 0) {
            throw new IllegalArgumentException("expected an even number of pads, got " + Arrays.toString(pads));
        }
        String mode = node.string("mode", "constant");
        PadMode padMode = switch (mode) {
            case "constant" -> PadMode.CONSTANT;
            case "reflect" -> PadMode.REFLECT;
            default ->
                throw new IllegalArgumentException(
                        "mode=" + mode + " is not supported (constant and" + " reflect are)");
        };
        int rank = pads.length / 2;
        if (rank > 32) {
            throw new IllegalArgumentException(
                    "expected at most 64 pads (libnd4j's rank is at most 32), got " + pads.length);
        }
        int[][] paddings = new int[rank][2];
        for (int d = 0; d < rank; d++) {
            if (pads[d] < 0 || pads[d + rank] < 0) {
                throw new IllegalArgumentException(
                        "negative pads (cropping) are not supported, got " + Arrays.toString(pads));
            }
            if (pads[d] > MAX_PAD || pads[d + rank] > MAX_PAD) {
                throw new IllegalArgumentException("pads above " + MAX_PAD + " are not supported (a damaged file?),"
                        + " got " + Arrays.toString(pads));
            }
            paddings[d][0] = Math.toIntExact(pads[d]);
            paddings[d][1] = Math.toIntExact(pads[d + rank]);
        }
        long[] inShape = Node.knownShape(x);
        if (inShape != null && inShape.length == rank) {
            long[] padded = new long[rank];
            for (int d = 0; d < rank; d++) {
                padded[d] = inShape[d] + paddings[d][0] + paddings[d][1];
            }
            Node.checkResultSize("the padded result", padded, x.dataType());
        }
        SDVariable p =
                sd.constant(out + "/paddings", Nd4j.createFromArray(paddings).castTo(DataType.INT32));
        SDVariable y = sd.nn.pad(out, x, p, padMode, value);
        return Map.of(y.name(), List.of(y));
    }
}
