package io.github.instancenorm.zoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.Compare;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.torch.StateDict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * StarGAN v2's {@code nets} files: read in the legacy format too, and written by {@link StarGanV2#save} in the
 * official layout. The files written from the fixtures are committed under
 * {@code src/test/resources/fixtures/starganv2/java-written/}; {@code src/test/python/verify_stargan_v2_written.py}
 * loads them in PyTorch with a strict {@code load_state_dict} and compares the outputs with PyTorch's. When the
 * writer's bytes change on purpose, rerun with {@code -Dstarganv2.update=true} and run the script.
 */
class StarGanV2FilesTest {

    private static final String[] WRITTEN = {"narrow32", "hpf64"};

    private static Path fixture(String name) {
        return Fixtures.resource("fixtures/starganv2/" + name);
    }

    @Test
    void theLegacyFormatReadsAsTheZipFormat() throws Exception {
        StarGanV2.Nets zip = StarGanV2.load(fixture("small16_nets.ckpt"));
        StarGanV2.Nets legacy = StarGanV2.load(fixture("small16_nets_legacy.ckpt"));
        Map<String, INDArray> fx = Nd4j.createFromNpzFile(Fixtures.file("fixtures/starganv2/small16.npz"));
        INDArray y = fx.get("y_onehot");
        Compare.assertClose(
                "mapping network", fx.get("s_mapping"), legacy.mappingNetwork().outputSingle(fx.get("z"), y));
        Compare.assertClose(
                "generator",
                fx.get("g_latent"),
                StarGanV2.generate(legacy.generator(), fx.get("x_src"), fx.get("s_mapping")));
        assertEquals(zip.generator().params(), legacy.generator().params());
        assertEquals(zip.discriminator().params(), legacy.discriminator().params());
    }

    @ParameterizedTest
    @ValueSource(strings = {"small16", "narrow32", "hpf64"})
    void writtenFilesHaveTheOfficialKeysAndShapes(String config, @TempDir Path dir) throws Exception {
        Path written = dir.resolve(config + "_nets.ckpt");
        StarGanV2.save(written, StarGanV2.load(fixture(config + "_nets.ckpt")));
        StateDict ours = StateDict.read(written);
        StateDict pytorch = StateDict.read(fixture(config + "_nets.ckpt"));
        assertEquals(new TreeSet<>(pytorch.keys()), new TreeSet<>(ours.keys()), "entries");
        for (String net : pytorch.keys()) {
            StateDict p = pytorch.select(net);
            StateDict o = ours.select(net);
            assertEquals(new TreeSet<>(p.keys()), new TreeSet<>(o.keys()), net + " keys");
            for (String key : p.keys()) {
                assertArrayEquals(p.get(key).shape(), o.get(key).shape(), net + "." + key);
                if (!key.contains("conv1x1") || !config.equals("hpf64")) {
                    // Every tensor but the 1x1 convolutions that w_hpf > 0 leaves unused (written as zeros).
                    assertEquals(p.get(key).castTo(o.get(key).dataType()), o.get(key), net + "." + key);
                }
            }
        }
        // And the written file loads back to the same networks.
        StarGanV2.Nets back = StarGanV2.load(written);
        Map<String, INDArray> fx = Nd4j.createFromNpzFile(Fixtures.file("fixtures/starganv2/" + config + ".npz"));
        Compare.assertClose(
                config + " style encoder",
                fx.get("s_style"),
                back.styleEncoder().outputSingle(fx.get("x"), fx.get("y_onehot")));
    }

    @Test
    void committedFilesAreWhatTheWriterWritesToday(@TempDir Path dir) throws Exception {
        Path committedDir = Paths.get("src/test/resources/fixtures/starganv2/java-written");
        for (String config : WRITTEN) {
            Path file = dir.resolve(config + "_nets.ckpt");
            StarGanV2.save(file, StarGanV2.load(fixture(config + "_nets.ckpt")));
            Path committed = committedDir.resolve(config + "_nets.ckpt");
            if (Boolean.getBoolean("starganv2.update")) {
                Files.createDirectories(committedDir);
                Files.copy(file, committed, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            assertTrue(Files.exists(committed), committed + " is missing; run this test with -Dstarganv2.update=true");
            assertArrayEquals(
                    Files.readAllBytes(committed),
                    Files.readAllBytes(file),
                    committed + " differs from what StarGanV2.save writes now: rerun with -Dstarganv2.update=true,"
                            + " then run verify_stargan_v2_written.py");
        }
    }
}
