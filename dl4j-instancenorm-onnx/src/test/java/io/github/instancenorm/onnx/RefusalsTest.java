package io.github.instancenorm.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.onnx.hooks.BatchNormalizationTrainingHook;
import io.github.instancenorm.onnx.hooks.ConvTransposeHook;
import io.github.instancenorm.onnx.hooks.GemmHook;
import io.github.instancenorm.onnx.hooks.InstanceNormalizationHook;
import io.github.instancenorm.onnx.hooks.PadHook;
import io.github.instancenorm.testutil.Fixtures;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.samediff.frameworkimport.hooks.PreImportHook;

/** What bad input gets: errors that name the node and the op, never a native crash; and how the hooks are found. */
class RefusalsTest {

    @Test
    void anUnmappedOpIsNamedWithItsNode() {
        OnnxFormatException e = assertThrows(
                OnnxFormatException.class,
                () -> OnnxModels.importGraph(Fixtures.resource("fixtures/onnx/refused/unmapped_op.onnx")));
        assertTrue(e.getMessage().contains("node 'my_celu' (Celu)"), e.getMessage());
        assertTrue(!e.getMessage().contains("first_relu"), "mapped ops are not listed: " + e.getMessage());
    }

    @Test
    void aGroupedTransposedConvolutionIsRefusedWithTheNodeAndTheFix() {
        OnnxFormatException e = assertThrows(
                OnnxFormatException.class,
                () -> OnnxModels.importGraph(Fixtures.resource("fixtures/onnx/refused/grouped_convtranspose.onnx")));
        assertTrue(e.getMessage().contains("(ConvTranspose)"), e.getMessage());
        assertTrue(e.getMessage().contains("group=2"), e.getMessage());
        assertTrue(e.getMessage().startsWith(e.file().toString()), e.getMessage());
        assertTrue(e.element().orElseThrow().endsWith("(ConvTranspose)"), e.getMessage());
    }

    @Test
    void damagedFilesGiveIoErrors(@TempDir Path dir) throws Exception {
        byte[] good = Files.readAllBytes(Fixtures.resource("fixtures/onnx/stargan_eval_opset11.onnx"));
        Path truncated = dir.resolve("truncated.onnx");
        Files.write(truncated, Arrays.copyOf(good, good.length / 2));
        OnnxFormatException e = assertThrows(OnnxFormatException.class, () -> OnnxModels.importGraph(truncated));
        assertTrue(e.getMessage().contains("truncated.onnx"), e.getMessage());

        byte[] noise = new byte[4096];
        new Random(1).nextBytes(noise);
        Path random = dir.resolve("noise.onnx");
        Files.write(random, noise);
        assertThrows(OnnxFormatException.class, () -> OnnxModels.importGraph(random));

        Path empty = dir.resolve("empty.onnx");
        Files.write(empty, new byte[0]);
        OnnxFormatException emptyError = assertThrows(OnnxFormatException.class, () -> OnnxModels.importGraph(empty));
        assertTrue(emptyError.getMessage().contains("no graph nodes"), emptyError.getMessage());

        assertThrows(NoSuchFileException.class, () -> OnnxModels.importGraph(dir.resolve("missing.onnx")));
    }

    @Test
    void eachHookIsRegisteredOnceAndFirst() {
        OnnxModels.importer();
        for (var entry : List.of(
                List.of("InstanceNormalization", InstanceNormalizationHook.class),
                List.of("ConvTranspose", ConvTransposeHook.class),
                List.of("Pad", PadHook.class),
                List.of("Gemm", GemmHook.class),
                List.of("BatchNormalization", BatchNormalizationTrainingHook.class))) {
            String op = (String) entry.get(0);
            List<PreImportHook> hooks = OnnxModels.hooksFor(op);
            assertEquals(entry.get(1), hooks.get(0).getClass(), op + ": this module's hook runs first");
            assertEquals(
                    1, hooks.stream().filter(h -> h.getClass() == entry.get(1)).count(), op + ": once");
        }
        assertTrue(OnnxModels.importableOps().containsAll(List.of("InstanceNormalization", "ConvTranspose")));
    }
}
