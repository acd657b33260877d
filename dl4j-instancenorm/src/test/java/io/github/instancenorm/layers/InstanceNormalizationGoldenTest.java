package io.github.instancenorm.layers;

import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.BETA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.GAMMA;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_MEAN;
import static io.github.instancenorm.params.InstanceNormalizationParamInitializer.RUNNING_VAR;
import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.ops.cpu.KernelPaths;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.testutil.Layouts;
import io.github.instancenorm.testutil.Nets;
import java.util.Map;
import java.util.stream.Stream;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The layer against PyTorch's {@code nn.InstanceNorm{1,2,3}d}: training forwards and their gradients, running
 * statistics after each, then an inference forward and backward, for every fixture case in both channel layouts
 * and through both implementations of the math.
 */
class InstanceNormalizationGoldenTest {

    static Stream<Arguments> cases() {
        return Fixtures.cases().stream()
                .flatMap(c -> Stream.of(Layouts.values())
                        .flatMap(l -> Stream.of(KernelPaths.values()).map(p -> Arguments.of(c, l, p))));
    }

    /** Every fixture through every implementation: the CPU kernels (vector and scalar loops) and the op form. */
    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void matchesPyTorch(Fixtures.Case c, Layouts layout, KernelPaths path) {
        if (path.cpuKernels()) {
            assertTrue(
                    KernelPaths.cpuKernelsApply(
                            layout.fromChannelsFirst(c.load().get("x1"))),
                    "the CPU kernels must apply to the fixtures");
        }
        path.run(() -> matchesPyTorch(c, layout));
    }

    private static void matchesPyTorch(Fixtures.Case c, Layouts layout) {
        Map<String, INDArray> fx = c.load();
        MultiLayerNetwork net = Nets.single(
                c, Nets.layerFor(c).build(), layout.inputType(fx.get("x1").shape()));
        Layer layer = net.getLayer(0);
        Nets.setInitialParams(layer, c, fx);
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();

        for (int k = 1; k <= Fixtures.STEPS; k++) {
            String step = "step " + k + " ";
            forwardBackward(layer, layout, fx, String.valueOf(k), true, step, mgr);
            if (c.track()) {
                assertClose(step + "running mean", fx.get("running_mean" + k), layer.getParam(RUNNING_MEAN));
                assertClose(step + "running var", fx.get("running_var" + k), layer.getParam(RUNNING_VAR));
                assertEquals(k, layer.getParam(NUM_BATCHES_TRACKED).getDouble(0), step + "numBatchesTracked");
            }
        }

        INDArray paramsBefore = layer.numParams() == 0 ? null : layer.params().dup();
        forwardBackward(layer, layout, fx, "_eval", false, "eval ", mgr);
        assertEquals(paramsBefore, layer.params(), "inference must not change any parameter or running statistic");

        if (c.track()) {
            ((InstanceNormalization) layer.conf().getLayer()).setUseInputStatsInInference(true);
            layer.setInput(layout.fromChannelsFirst(fx.get("x_eval")), mgr);
            assertClose(
                    "eval with input stats",
                    layout.fromChannelsFirst(fx.get("y_eval_instance")),
                    layer.activate(false, mgr));
            assertEquals(paramsBefore, layer.params(), "useInputStatsInInference must not update running stats");
        }
    }

    private static void forwardBackward(
            Layer layer,
            Layouts layout,
            Map<String, INDArray> fx,
            String suffix,
            boolean training,
            String what,
            LayerWorkspaceMgr mgr) {
        layer.setInput(layout.fromChannelsFirst(fx.get("x" + suffix)), mgr);
        INDArray y = layer.activate(training, mgr);
        assertClose(what + "output", layout.fromChannelsFirst(fx.get("y" + suffix)), y);

        Pair<Gradient, INDArray> back = layer.backpropGradient(layout.fromChannelsFirst(fx.get("dy" + suffix)), mgr);
        assertClose(what + "input gradient", layout.fromChannelsFirst(fx.get("dx" + suffix)), back.getSecond());
        Map<String, INDArray> grads = back.getFirst().gradientForVariable();
        if (fx.containsKey("dgamma" + suffix)) {
            assertClose(what + "gamma gradient", fx.get("dgamma" + suffix), grads.get(GAMMA));
            assertClose(what + "beta gradient", fx.get("dbeta" + suffix), grads.get(BETA));
        } else {
            assertFalse(grads.containsKey(GAMMA), "no gamma without affine");
        }
        assertNull(grads.get(RUNNING_MEAN), "running statistics have no gradient");
    }
}
