package io.github.instancenorm.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * StarGAN v2's generator {@code G(x, s)} and mapping network {@code F(z, y)}, exported by real
 * {@code torch.onnx.export} from the zoo's fixture checkpoints ({@code src/test/python/gen_stargan_v2_onnx_fixtures.py},
 * {@code fixtures/onnx/starganv2/manifest.txt}), and {@code Gemm} in the forms {@code nn.Linear} does not export:
 * each imported with {@link OnnxModels#importGraph} and run on the inputs PyTorch ran, every output within
 * {@code |a - e| <= 1e-5 (1 + |e|)} of PyTorch's in float, the tolerance of the zoo's checkpoint path
 * ({@code StarGanV2Test}).
 */
class StarGanV2ExportsTest {
    private static final double TOLERANCE = 1e-5;

    record Export(String name, String config, String net, int opset) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Export> exports() throws IOException {
        List<Export> out = new ArrayList<>();
        for (String line : Files.readAllLines(dir().resolve("manifest.txt"))) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.trim().split("\\s+");
            out.add(new Export(f[0], f[1], f[2], Integer.parseInt(f[3])));
        }
        assertTrue(out.size() >= 9, "the manifest lists every export");
        return out.stream();
    }

    private static Path dir() {
        return Fixtures.resource("fixtures/onnx/starganv2");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("exports")
    void matchesPyTorch(Export export) throws Exception {
        SameDiff sd = OnnxModels.importGraph(dir().resolve(export.name() + ".onnx"));
        Map<String, INDArray> npz =
                Nd4j.createFromNpzFile(dir().resolve(export.name() + ".npz").toFile());
        Map<String, INDArray> inputs = new HashMap<>();
        List<String> outputs = new ArrayList<>();
        for (String key : npz.keySet()) {
            if (sd.hasVariable(key) && sd.getVariable(key).getVariableType() == VariableType.PLACEHOLDER) {
                inputs.put(key, npz.get(key));
            } else {
                outputs.add(key);
            }
        }
        List<String> expectedInputs = switch (export.net()) {
            case "generator" ->
                export.config().equals("hpf64") ? List.of("mask0", "mask1", "s", "x") : List.of("s", "x");
            case "mapping" -> List.of("y", "z");
            default -> inputs.keySet().stream().sorted().toList();
        };
        assertEquals(expectedInputs, inputs.keySet().stream().sorted().toList(), "placeholders named as in ONNX");
        if (export.net().equals("mapping")) {
            assertEquals(DataType.INT64, inputs.get("y").dataType(), "domain indices, as the official code takes them");
        }
        assertFalse(outputs.isEmpty(), "outputs");
        Map<String, INDArray> actual = sd.output(inputs, outputs.toArray(new String[0]));
        for (String o : outputs) {
            INDArray e = npz.get(o);
            double err = PyTorchExportsTest.scaledError(e, actual.get(o));
            double abs = Transforms.abs(e.sub(actual.get(o))).maxNumber().doubleValue();
            System.out.printf("%s %s: max scaled error vs PyTorch %.2e (absolute %.2e)%n", export.name(), o, err, abs);
            assertTrue(err <= TOLERANCE, export.name() + " output " + o + ": scaled error " + err);
        }
    }
}
