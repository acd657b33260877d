package io.github.instancenorm.onnx.hooks;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.samediff.frameworkimport.hooks.annotations.PreHookRule;

/**
 * Imports ONNX {@code BatchNormalization} in its training form, which M2.1's own hook imports as inference with
 * the running statistics: with {@code training_mode=1} (opsets 14 and 15), or with more than one output (opsets 9
 * to 13, whose training form also returns the updated statistics). PyTorch 1.13 writes that form for an
 * {@code nn.InstanceNorm*d} with running statistics exported in train mode with
 * {@code training=TrainingMode.PRESERVE}, as {@code BatchNormalization} of the input viewed as
 * {@code [1, N*C, ...]}: the form of StarGAN's {@code test()}, which never calls {@code G.eval()}, so each
 * instance is normalized with its own statistics.
 *
 * <p>For input {@code [N, C, D1, ..., Dk]} with {@code M = N * D1 * ... * Dk} elements per channel:
 * <pre>
 *   mean[c] = sum(x[:, c, ...]) / M,   var[c] = sum((x[:, c, ...] - mean[c])^2) / M      (biased)
 *   Y       = (x - mean) / sqrt(var + epsilon) * scale[c] + B[c]
 *   running_mean_out = input_mean * momentum + mean * (1 - momentum)                    (ONNX's convention)
 *   running_var_out  = input_var  * momentum + var  * (1 - momentum)
 * </pre>
 * and, for opsets 9 to 13, {@code saved_mean = mean} and {@code saved_var = var}. The statistics outputs are
 * graph values; nothing is written back into the imported graph's variables.
 *
 * <p>The inference form (one output, no {@code training_mode}) is left to M2.1's hook. This hook is registered
 * before it by {@link io.github.instancenorm.onnx.OnnxModels}; not meant to be called directly.
 */
@PreHookRule(
        nodeNames = {},
        opNames = {"BatchNormalization"},
        frameworkName = "onnx")
public final class BatchNormalizationTrainingHook extends OnnxHook {

    /** For the importer's scan. */
    public BatchNormalizationTrainingHook() {}

    @Override
    protected String opType() {
        return "BatchNormalization";
    }

    @Override
    protected boolean accepts(SameDiffOp op, Map<String, ?> attributes, List<String> outputNames) {
        Object mode = attributes.get("training_mode");
        if (mode instanceof Number n) {
            return n.longValue() != 0;
        }
        return outputNames.stream().filter(o -> !o.isEmpty()).count() > 1;
    }

    @Override
    protected Map<String, List<SDVariable>> build(SameDiff sd, Node node) {
        SDVariable x = node.required(0, "X");
        SDVariable scale = node.required(1, "scale");
        SDVariable bias = node.required(2, "B");
        SDVariable inputMean = node.required(3, "input_mean");
        SDVariable inputVar = node.required(4, "input_var");
        double eps = node.number("epsilon", 1e-5);
        double momentum = node.number("momentum", 0.9);
        if (node.has("spatial") && node.number("spatial", 1) == 0) {
            throw new IllegalArgumentException("spatial=0 (statistics per element, opsets 7 and 8) is not supported");
        }
        String out = node.outputs().get(0);

        // [N, C, D1, ..., Dk] viewed as [N, C, M/N]; the statistics are over axes 0 and 2.
        ChannelView view = channelView(sd, out, x);
        SDVariable flat = view.flat();
        SDVariable mean = flat.mean(out + "/mean", true, 0, 2);
        SDVariable centered = flat.sub(out + "/centered", mean);
        SDVariable var = centered.mul(out + "/squared", centered).mean(out + "/var", true, 0, 2);
        SDVariable factor = sd.math
                .rsqrt(out + "/invStd", var.add(out + "/varPlusEps", eps))
                .mul(out + "/factor", sd.reshape(out + "/scaleB", scale, 1, -1, 1));
        SDVariable y = centered.mul(out + "/normalized", factor)
                .add(out + "/shifted", sd.reshape(out + "/biasB", bias, 1, -1, 1));

        Map<String, List<SDVariable>> outputs = new LinkedHashMap<>();
        SDVariable result = sd.reshape(out, y, view.shape());
        outputs.put(result.name(), List.of(result));
        SDVariable meanC = sd.reshape(out + "/meanC", mean, -1);
        SDVariable varC = sd.reshape(out + "/varC", var, -1);
        String[] names = node.outputs().toArray(new String[0]);
        if (node.hasOutput(1)) {
            put(outputs, inputMean.mul(names[1] + "/kept", momentum).add(names[1], meanC.mul(1 - momentum)));
        }
        if (node.hasOutput(2)) {
            put(outputs, inputVar.mul(names[2] + "/kept", momentum).add(names[2], varC.mul(1 - momentum)));
        }
        if (node.hasOutput(3)) {
            put(outputs, sd.identity(names[3], meanC));
        }
        if (node.hasOutput(4)) {
            put(outputs, sd.identity(names[4], varC));
        }
        return outputs;
    }

    private static void put(Map<String, List<SDVariable>> outputs, SDVariable v) {
        outputs.put(v.name(), List.of(v));
    }
}
