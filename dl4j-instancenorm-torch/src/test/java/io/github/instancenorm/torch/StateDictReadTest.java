package io.github.instancenorm.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Reads checkpoints written by real PyTorch and compares every value with the generator's JSON. */
class StateDictReadTest {

    @ParameterizedTest
    @ValueSource(
            strings = {
                "dtypes.pt",
                "dtypes_legacy.pt",
                "views.pt",
                "views_legacy.pt",
                "generator.pt",
                "generator_io.pt",
                "mlp.pt",
                "mlp_io.pt",
                "wrapped.pt",
                "wrapped_legacy.pt",
                "misc.pt",
                "dtypes_st.safetensors",
                "dtypes_repacked.pt"
            })
    void everyValueMatchesWhatPyTorchSaved(String file) throws Exception {
        StateDict sd = StateDict.read(Fixtures.path(file));
        Fixtures.assertMatches(Fixtures.expected(file.substring(0, file.lastIndexOf('.'))), sd, file);
    }

    @Test
    void formatIsDetectedFromContentNotName(@TempDir Path dir) throws Exception {
        for (String f : List.of("dtypes.pt", "dtypes_legacy.pt", "dtypes_st.safetensors")) {
            Path renamed = dir.resolve("200000-G.ckpt");
            Files.copy(Fixtures.path(f), renamed, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            assertEquals(DataType.BFLOAT16, StateDict.read(renamed).get("bf16").dataType(), f);
            assertEquals(
                    DataType.BFLOAT16,
                    StateDict.read(Files.readAllBytes(renamed)).get("bf16").dataType(),
                    f);
        }
    }

    @Test
    void wrappedCheckpointSelectsAndStripsPrefix() throws Exception {
        StateDict ckpt = StateDict.read(Fixtures.path("wrapped.pt"));
        assertEquals(List.of("G", "step", "name", "lr", "done", "nothing", "betas"), ckpt.keys());
        assertEquals(5L, ckpt.value("step"));
        StateDict g = ckpt.select("G").stripPrefix("module.");
        assertEquals(
                List.of(
                        "main.0.weight",
                        "main.0.bias",
                        "main.1.weight",
                        "main.1.bias",
                        "main.1.running_mean",
                        "main.1.running_var",
                        "main.1.num_batches_tracked",
                        "main.3.weight",
                        "main.3.bias"),
                g.keys());
        assertEquals(DataType.LONG, g.get("main.1.num_batches_tracked").dataType());
        assertEquals(11L, g.get("main.1.num_batches_tracked").getLong(0));
        // OrderedDict attributes survive: PyTorch's _metadata with module versions
        StateDict meta = (StateDict) ckpt.select("G").metadata().get("_metadata");
        assertEquals(2L, ((StateDict) meta.value("module.main.1")).value("version"));
        assertEquals(ckpt.select("G").get("module.main.0.weight"), g.get("main.0.weight"));
    }

    @Test
    void misuseNamesTheProblem() throws Exception {
        StateDict ckpt = StateDict.read(Fixtures.path("wrapped.pt"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ckpt.get("step"));
        assertTrue(e.getMessage().contains("not a tensor"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ckpt.select("nope"));
        assertTrue(e.getMessage().contains("no entry 'nope'") && e.getMessage().contains("step"), e.getMessage());
    }

    @Test
    void viewsAreIndependentContiguousCopies() throws Exception {
        StateDict sd = StateDict.read(Fixtures.path("views.pt"));
        INDArray base = sd.get("base");
        INDArray slice = sd.get("slice");
        assertEquals('c', slice.ordering());
        slice.putScalar(0, -1f);
        assertEquals(10f, base.getFloat(10), 0f);
    }

    @Test
    void notACheckpointIsRefusedWithTheLibrarysException() {
        TorchFormatException e = assertThrows(
                TorchFormatException.class,
                () -> StateDict.read(
                        "hello, world, this is text".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
        assertTrue(e.getMessage().contains("not a PyTorch checkpoint"), e.getMessage());
    }
}
