package io.github.instancenorm.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The files this library's writers produce, committed under {@code torch-io/java-written} so that real PyTorch
 * checks them: {@code src/test/python/verify_java_written.py} loads each one with {@code torch.load} (and reads the
 * safetensors files) and compares it with what PyTorch wrote or with {@code net.txt}. This test writes them again
 * and fails when the bytes differ from the committed ones: then rerun it with
 * {@code -Dtorchio.update=true} to rewrite them, and run the script before committing.
 */
class JavaWrittenFilesTest {

    private static final Path COMMITTED = Path.of("src", "test", "resources", "torch-io", "java-written");
    private static final List<String> FILES = List.of(
            "net.pt",
            "net.safetensors",
            "net.txt",
            "dtypes.pt",
            "dtypes.safetensors",
            "wrapped.pt",
            "optims.ckpt",
            "optims_built.ckpt");

    /** TorchWeightsTest's generator-like network with every parameter distinct, from java.util.Random (the same on
     * every machine and backend). */
    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = TorchWeightsTest.generator(false, DataType.FLOAT);
        Random random = new Random(42);
        float[] values = new float[(int) net.numParams()];
        for (int i = 0; i < values.length; i++) {
            values[i] = 0.5f + random.nextFloat();
        }
        net.setParams(Nd4j.createFromArray(values).reshape(1, values.length));
        return net;
    }

    static void writeAll(Path dir) throws IOException {
        StateDict net = StateDict.of(network());
        net.writeTorch(dir.resolve("net.pt"));
        net.writeSafetensors(dir.resolve("net.safetensors"));
        List<String> lines = new ArrayList<>();
        for (Map.Entry<String, INDArray> e : net.tensors().entrySet()) {
            double[] v = e.getValue().castTo(DataType.DOUBLE).data().asDouble();
            StringBuilder line = new StringBuilder(e.getKey()).append(" [");
            for (int i = 0; i < v.length; i++) {
                line.append(i == 0 ? "" : ", ").append(v[i]); // shortest repr: parses back to the same double
            }
            lines.add(line.append(']').toString());
        }
        Files.write(dir.resolve("net.txt"), lines);
        StateDict dtypes = StateDict.read(Fixtures.path("dtypes.pt"));
        dtypes.writeTorch(dir.resolve("dtypes.pt"));
        dtypes.writeSafetensors(dir.resolve("dtypes.safetensors"));
        StateDict.read(Fixtures.path("wrapped.pt")).writeTorch(dir.resolve("wrapped.pt"));
        // optimizer states: PyTorch's legacy-format file rewritten, and one built in Java (OptimizerStateTest.built)
        OptimizerState.writeAll(
                OptimizerState.readAll(Fixtures.path("optims_legacy.ckpt")), dir.resolve("optims.ckpt"));
        OptimizerState.writeAll(Map.of("generator", OptimizerStateTest.built()), dir.resolve("optims_built.ckpt"));
    }

    @Test
    void committedFilesAreWhatTheWritersWriteToday(@TempDir Path dir) throws IOException {
        writeAll(dir);
        if (Boolean.getBoolean("torchio.update")) {
            Files.createDirectories(COMMITTED);
            for (String f : FILES) {
                Files.copy(dir.resolve(f), COMMITTED.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        for (String f : FILES) {
            Path committed = COMMITTED.resolve(f);
            assertTrue(Files.exists(committed), committed + " is missing; run this test with -Dtorchio.update=true");
            assertArrayEquals(
                    Files.readAllBytes(committed),
                    Files.readAllBytes(dir.resolve(f)),
                    f + " differs from what the writer writes now: rerun with -Dtorchio.update=true, then check the"
                            + " files in PyTorch with src/test/python/verify_java_written.py");
        }
    }
}
