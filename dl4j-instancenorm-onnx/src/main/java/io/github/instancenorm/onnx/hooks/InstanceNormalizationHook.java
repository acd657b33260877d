package io.github.instancenorm.onnx.hooks;

import io.github.instancenorm.ops.InstanceNormLayout;
import io.github.instancenorm.samediff.SDInstanceNorm;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.samediff.frameworkimport.hooks.annotations.PreHookRule;

/**
 * Imports ONNX {@code InstanceNormalization} (opsets 6 onwards) as {@link SDInstanceNorm#instanceStats}: each
 * instance normalized with its own mean and biased variance, then {@code scale} and {@code B} per channel. This is
 * what PyTorch 1.13 exports for an {@code nn.InstanceNorm*d} without running statistics, in any mode.
 *
 * <p>The input's rank is often unknown while importing (it is the output of another op), so the hook views
 * {@code [N, C, D1, ..., Dk]} as {@code [N, C, D1*...*Dk]}, normalizes that, and restores the shape: one graph
 * for 1d, 2d and 3d, with the statistics over the same elements.
 *
 * <p>Found by M2.1's classpath scan through its {@link PreHookRule}, and registered by
 * {@link io.github.instancenorm.onnx.OnnxModels} in any case; not meant to be called directly.
 */
@PreHookRule(
        nodeNames = {},
        opNames = {"InstanceNormalization"},
        frameworkName = "onnx")
public final class InstanceNormalizationHook extends OnnxHook {
    private static final InstanceNormLayout NCW = new InstanceNormLayout(3, false);

    /** For the importer's scan. */
    public InstanceNormalizationHook() {}

    @Override
    protected String opType() {
        return "InstanceNormalization";
    }

    @Override
    protected Map<String, List<SDVariable>> build(SameDiff sd, Node node) {
        SDVariable x = node.required(0, "input");
        SDVariable scale = node.required(1, "scale");
        SDVariable bias = node.required(2, "B");
        double eps = node.number("epsilon", 1e-5);
        String out = node.outputs().get(0);

        ChannelView view = channelView(sd, out, x);
        SDVariable y = SDInstanceNorm.instanceStats(sd, out + "/normalized", view.flat(), scale, bias, eps, NCW);
        SDVariable result = sd.reshape(out, y, view.shape());
        return Map.of(result.name(), List.of(result));
    }
}
