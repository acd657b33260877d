package io.github.instancenorm.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.InstanceNormalization;
import io.github.instancenorm.ops.cpu.KernelPaths;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Memory of a training step, measured in the workspaces {@code MultiLayerNetwork} gives a layer: the forward's and
 * the backward's working memory (every temporary the layer allocates while training) holds no input-sized array
 * on the CPU kernels and at most two in the ND4J-op form, and after backprop the layer itself keeps nothing
 * input-sized.
 */
class InstanceNormalizationMemoryTest {

    @ParameterizedTest
    @EnumSource(
            value = KernelPaths.class,
            names = {"CPU_KERNELS", "OP_FORM"})
    void workingMemoryStaysUnderTwoInputsAndNothingIsRetainedAfterBackprop(KernelPaths path) {
        String prefix = "MEM_TEST_" + path + "_";
        path.run(() -> {
            long[] shape = {4, 16, 48, 48};
            MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                    .dataType(DataType.FLOAT)
                    .list()
                    .layer(new InstanceNormalization.Builder()
                            .affine(true)
                            .trackRunningStats(true)
                            .build())
                    .setInputType(InputType.convolutional(shape[2], shape[3], shape[1], CNN2DFormat.NCHW))
                    .build());
            net.init();
            net.initGradientsView();
            Layer layer = net.getLayer(0);
            Nd4j.getRandom().setSeed(3);
            INDArray x = Nd4j.randn(DataType.FLOAT, shape);
            INDArray dy = Nd4j.randn(DataType.FLOAT, shape);
            long inputBytes = x.length() * Float.BYTES;
            LayerWorkspaceMgr workspaces = workspaces(prefix);

            // The first step teaches the workspaces their sizes; the second one runs in them.
            for (int step = 0; step < 2; step++) {
                try (MemoryWorkspace act = workspaces.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
                    layer.setInput(x, workspaces);
                    try (MemoryWorkspace ff = workspaces.notifyScopeEntered(ArrayType.FF_WORKING_MEM)) {
                        layer.activate(true, workspaces);
                    }
                    try (MemoryWorkspace grad = workspaces.notifyScopeEntered(ArrayType.ACTIVATION_GRAD);
                            MemoryWorkspace bp = workspaces.notifyScopeEntered(ArrayType.BP_WORKING_MEM)) {
                        layer.backpropGradient(dy, workspaces);
                    }
                }
            }
            long forward = workspaceBytes(prefix + "FF");
            long backward = workspaceBytes(prefix + "BP");
            // The kernels allocate no input-sized temporaries at all, only [N, C] statistics; the op form at most
            // two input-sized ones per pass, plus the small per-instance arrays.
            long limit = path.cpuKernels() ? inputBytes / 16 : 2 * inputBytes + inputBytes / 100;
            assertTrue(
                    forward <= limit && backward <= limit,
                    path + ": working memory " + forward
                            + " bytes (forward) and " + backward + " bytes (backward), limit " + limit + ", input "
                            + inputBytes + " bytes");

            List<String> retained = inputSizedFields(layer, x.length());
            assertEquals(List.of(), retained, path + ": input-sized arrays the layer keeps after backprop");
        });
        for (String role : new String[] {"ACT", "GRAD", "FF", "BP"}) {
            MemoryWorkspace ws = Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(prefix + role);
            Nd4j.getWorkspaceManager().destroyWorkspace(ws);
        }
    }

    private static long workspaceBytes(String id) {
        MemoryWorkspace ws = Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(id);
        return ws == null ? 0 : ws.getCurrentSize();
    }

    /** The layer's own fields (not DL4J's {@code input}, which every layer keeps) holding input-sized arrays. */
    private static List<String> inputSizedFields(Layer layer, long inputLength) {
        List<String> found = new ArrayList<>();
        for (Field f : InstanceNormalizationLayer.class.getDeclaredFields()) {
            f.setAccessible(true);
            Object v;
            try {
                v = f.get(layer);
            } catch (IllegalAccessException e) {
                throw new AssertionError(e);
            }
            if (v instanceof INDArray a && a.length() >= inputLength) {
                found.add(f.getName());
            }
            if (v instanceof io.github.instancenorm.ops.InstanceNorm.Moments m
                    && (m.mean().length() >= inputLength || m.variance().length() >= inputLength)) {
                found.add(f.getName());
            }
        }
        return found;
    }

    private static LayerWorkspaceMgr workspaces(String prefix) {
        WorkspaceConfiguration conf = WorkspaceConfiguration.builder()
                .initialSize(0)
                .overallocationLimit(0.0)
                .policyLearning(LearningPolicy.FIRST_LOOP)
                .policyReset(ResetPolicy.BLOCK_LEFT)
                .policySpill(SpillPolicy.REALLOCATE)
                .policyAllocation(AllocationPolicy.STRICT)
                .build();
        return LayerWorkspaceMgr.builder()
                .with(ArrayType.INPUT, prefix + "ACT", conf)
                .with(ArrayType.ACTIVATIONS, prefix + "ACT", conf)
                .with(ArrayType.ACTIVATION_GRAD, prefix + "GRAD", conf)
                .with(ArrayType.FF_WORKING_MEM, prefix + "FF", conf)
                .with(ArrayType.BP_WORKING_MEM, prefix + "BP", conf)
                .defaultNoWorkspace()
                .build();
    }
}
