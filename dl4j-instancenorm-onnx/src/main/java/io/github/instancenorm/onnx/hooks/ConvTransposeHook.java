package io.github.instancenorm.onnx.hooks;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.enums.PadMode;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.DeConv2DConfig;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.samediff.frameworkimport.hooks.annotations.PreHookRule;

/**
 * Imports ONNX {@code ConvTranspose} on 4D input (PyTorch's {@code nn.ConvTranspose2d}, as StarGAN, CycleGAN and
 * pix2pix generators use it) as libnd4j's {@code deconv2d}: {@code strides}, {@code dilations}, {@code pads}
 * (symmetric or not), {@code output_padding}, an optional bias, {@code group} 1, {@code auto_pad} NOTSET or VALID.
 *
 * <p>Per spatial axis ONNX defines the output size as
 * <pre>
 *   out = stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pad_begin - pad_end
 * </pre>
 * that is, the rows {@code [pad_begin, F - pad_end + output_padding)} of the unpadded ("full") result of length
 * {@code F = stride * (in - 1) + (kernel - 1) * dilation + 1}, where rows past {@code F} hold only the bias.
 * libnd4j's {@code deconv2d} takes one symmetric padding {@code p} and returns the rows {@code [p, F - p)}, so the
 * hook uses {@code p = max(0, min(pad_begin, pad_end - output_padding))}, which is the whole answer for PyTorch's
 * usual symmetric padding without output padding, and crops, or extends with zeros, what remains.
 *
 * <p>ONNX weights {@code [C_in, C_out, kH, kW]} are permuted to libnd4j's {@code [kH, kW, C_out, C_in]}.
 * Refused with the node's name: other ranks, {@code group} above 1, {@code output_shape}, and {@code auto_pad}
 * SAME_UPPER/SAME_LOWER (their padding depends on the input size, which is not known while importing).
 *
 * <p>Found by M2.1's classpath scan through its {@link PreHookRule}, and registered by
 * {@link io.github.instancenorm.onnx.OnnxModels} in any case; not meant to be called directly.
 */
@PreHookRule(
        nodeNames = {},
        opNames = {"ConvTranspose"},
        frameworkName = "onnx")
public final class ConvTransposeHook extends OnnxHook {

    /** For the importer's scan. */
    public ConvTransposeHook() {}

    @Override
    protected String opType() {
        return "ConvTranspose";
    }

    @Override
    protected Map<String, List<SDVariable>> build(SameDiff sd, Node node) {
        SDVariable x = node.required(0, "X");
        SDVariable w = node.required(1, "W");
        SDVariable bias = node.input(2);
        String out = node.outputs().get(0);

        long[] wShape = w.getShape();
        if (wShape == null || wShape.length != 4) {
            throw new IllegalArgumentException("only 2D transposed convolutions (4D weights [C_in, C_out, kH, kW]) are"
                    + " supported, got weights of shape " + Arrays.toString(wShape));
        }
        long group = (long) node.number("group", 1);
        if (group != 1) {
            throw new IllegalArgumentException("group=" + group
                    + " is not supported (only group 1); export without grouped transposed convolutions");
        }
        if (node.has("output_shape")) {
            throw new IllegalArgumentException("the output_shape attribute is not supported; export with explicit pads"
                    + " (PyTorch's exporter does)");
        }
        String autoPad = node.string("auto_pad", "NOTSET");
        long[] kernel = node.longs("kernel_shape", new long[] {wShape[2], wShape[3]});
        long[] strides = node.longs("strides", new long[] {1, 1});
        long[] dilations = node.longs("dilations", new long[] {1, 1});
        long[] outputPadding = node.longs("output_padding", new long[] {0, 0});
        long[] pads = switch (autoPad) {
            case "NOTSET" -> node.longs("pads", new long[] {0, 0, 0, 0});
            case "VALID" -> new long[] {0, 0, 0, 0};
            default ->
                throw new IllegalArgumentException("auto_pad=" + autoPad + " is not supported (NOTSET"
                        + " and VALID are); export with explicit pads");
        };
        checkLength("kernel_shape", kernel, 2);
        checkLength("strides", strides, 2);
        checkLength("dilations", dilations, 2);
        checkLength("output_padding", outputPadding, 2);
        checkLength("pads", pads, 4);
        if (kernel[0] != wShape[2] || kernel[1] != wShape[3]) {
            throw new IllegalArgumentException("kernel_shape " + Arrays.toString(kernel)
                    + " does not match the weights' shape " + Arrays.toString(wShape));
        }
        for (int a = 0; a < 2; a++) {
            if (strides[a] < 1 || dilations[a] < 1 || pads[a] < 0 || pads[a + 2] < 0 || outputPadding[a] < 0) {
                throw new IllegalArgumentException("expected strides and dilations >= 1 and pads, output_padding >= 0,"
                        + " got strides " + Arrays.toString(strides) + ", dilations " + Arrays.toString(dilations)
                        + ", pads " + Arrays.toString(pads) + ", output_padding " + Arrays.toString(outputPadding));
            }
        }

        long[] inShape = Node.knownShape(x);
        if (inShape != null && inShape.length == 4) {
            long[] full = {inShape[0], wShape[1], 0, 0};
            for (int a = 0; a < 2; a++) {
                // the unpadded result, before cropping: stride * (in - 1) + (kernel - 1) * dilation + 1 +
                // output_padding
                full[a + 2] = Math.max(0, strides[a] * (inShape[a + 2] - 1) + (kernel[a] - 1) * dilations[a] + 1)
                        + outputPadding[a];
            }
            Node.checkResultSize("the transposed convolution's result", full, x.dataType());
        }
        Axis h = new Axis(pads[0], pads[2], outputPadding[0]);
        Axis wAxis = new Axis(pads[1], pads[3], outputPadding[1]);
        boolean extends_ = h.extension() > 0 || wAxis.extension() > 0;
        DeConv2DConfig config = DeConv2DConfig.builder()
                .kH(kernel[0])
                .kW(kernel[1])
                .sH(strides[0])
                .sW(strides[1])
                .pH(h.symmetric())
                .pW(wAxis.symmetric())
                .dH(dilations[0])
                .dW(dilations[1])
                .isSameMode(false)
                .dataFormat(DeConv2DConfig.NCHW)
                .build();
        SDVariable weights = sd.permute(out + "/weightsYXOI", w, 2, 3, 1, 0);
        boolean exact = h.exact() && wAxis.exact();
        SDVariable y = exact
                ? sd.cnn.deconv2d(out, x, weights, bias, config)
                : sd.cnn.deconv2d(out + "/deconv", x, weights, extends_ ? null : bias, config);
        if (exact) {
            return Map.of(y.name(), List.of(y));
        }
        if (extends_) {
            SDVariable paddings = sd.constant(out + "/extension", Nd4j.createFromArray(new int[][] {
                {0, 0}, {0, 0}, {0, h.extension()}, {0, wAxis.extension()}
            }));
            y = sd.nn.pad(out + "/extended", y, paddings, PadMode.CONSTANT, 0.0);
        }
        boolean addBias = extends_ && bias != null;
        SDVariable cropped = sd.stridedSlice(
                addBias ? out + "/cropped" : out,
                y,
                new long[] {0, 0, h.cropBegin(), wAxis.cropBegin()},
                new long[] {0, 0, -h.cropEnd(), -wAxis.cropEnd()},
                new long[] {1, 1, 1, 1},
                0,
                0b0011 | (h.cropEnd() == 0 ? 0b0100 : 0) | (wAxis.cropEnd() == 0 ? 0b1000 : 0),
                0,
                0,
                0);
        if (addBias) {
            cropped = cropped.add(out, sd.reshape(out + "/biasB", bias, 1, -1, 1, 1));
        }
        return Map.of(cropped.name(), List.of(cropped));
    }

    private static void checkLength(String name, long[] values, int expected) {
        if (values.length != expected) {
            throw new IllegalArgumentException("expected " + expected + " values in " + name + " for a 2D transposed"
                    + " convolution, got " + Arrays.toString(values));
        }
    }

    /**
     * One spatial axis: which symmetric padding libnd4j gets, and how many rows to crop at each end or to add with
     * zeros at the end of its result.
     */
    private record Axis(long padBegin, long padEnd, long outputPadding) {
        /** The padding given to {@code deconv2d}: {@code max(0, min(padBegin, padEnd - outputPadding))}. */
        long symmetric() {
            return Math.max(0, Math.min(padBegin, padEnd - outputPadding));
        }

        /** Rows to drop at the start of {@code deconv2d}'s result. */
        long cropBegin() {
            return padBegin - symmetric();
        }

        /** Rows to drop at the end: {@code padEnd - outputPadding - p} when that is positive. */
        long cropEnd() {
            return Math.max(0, padEnd - outputPadding - symmetric());
        }

        /** Zero rows to add at the end, before cropping: {@code outputPadding - padEnd} when positive. */
        int extension() {
            return (int) Math.max(0, outputPadding - padEnd);
        }

        /** Whether {@code deconv2d}'s result is already the answer. */
        boolean exact() {
            return cropBegin() == 0 && cropEnd() == 0 && extension() == 0;
        }
    }
}
