package io.github.instancenorm.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.zoo.StarGan;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Every model in {@code fixtures/onnx/manifest.txt}, exported by real {@code torch.onnx.export}
 * ({@code src/test/python/gen_onnx_fixtures.py}), imported into SameDiff and run on the inputs PyTorch ran: each
 * output within {@code |a - e| <= 1e-4 (1 + |e|)} of PyTorch's. The StarGAN exports are also compared with the
 * project's own {@code ComputationGraph} loaded from the same weights' checkpoint, in the matching statistics mode.
 */
class PyTorchExportsTest {
    private static final double TOLERANCE = 1e-4;

    record Export(String name, String checkpoint, String statistics) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Export> exports() throws IOException {
        List<Export> out = manifest(Fixtures.resource("fixtures/onnx"));
        assertTrue(out.size() >= 18, "the manifest lists every export");
        return out.stream();
    }

    static List<Export> manifest(Path dir) throws IOException {
        List<Export> out = new ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve("manifest.txt"))) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.trim().split("\\s+");
            out.add(new Export(f[0], f[1], f[2]));
        }
        return out;
    }

    /** @return the largest {@code |a - e| / (1 + |e|)} */
    static double scaledError(INDArray expected, INDArray actual) {
        assertArrayEquals(expected.shape(), actual.shape(), "shape");
        INDArray diff = Transforms.abs(expected.sub(actual));
        return diff.div(Transforms.abs(expected).add(1)).maxNumber().doubleValue();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("exports")
    void matchesPyTorch(Export export) throws Exception {
        check(Fixtures.resource("fixtures/onnx"), export);
    }

    /** The StarGAN-sized exports of {@code gen_onnx_fixtures.py --full DIR}: {@code -Donnx.full=DIR}. */
    @Test
    @EnabledIfSystemProperty(named = "onnx.full", matches = ".+")
    void stargansSizeMatchesPyTorch() throws Exception {
        Path dir = Path.of(System.getProperty("onnx.full"));
        for (Export export : manifest(dir)) {
            check(dir, export);
        }
    }

    private static void check(Path dir, Export export) throws Exception {
        long t0 = System.nanoTime();
        SameDiff sd = OnnxModels.importGraph(dir.resolve(export.name() + ".onnx"));
        System.out.printf("%s: imported in %.1f s%n", export.name(), (System.nanoTime() - t0) / 1e9);
        Map<String, INDArray> npz =
                Nd4j.createFromNpzFile(dir.resolve(export.name() + ".npz").toFile());
        Map<String, INDArray> inputs = new HashMap<>();
        List<String> outputs = new ArrayList<>();
        for (String key : npz.keySet()) {
            if (sd.hasVariable(key) && sd.getVariable(key).getVariableType() == VariableType.PLACEHOLDER) {
                inputs.put(key, npz.get(key));
            } else {
                outputs.add(key);
            }
        }
        assertFalse(inputs.isEmpty(), "placeholders named as the ONNX inputs");
        assertFalse(outputs.isEmpty(), "outputs");
        Map<String, INDArray> actual = sd.output(inputs, outputs.toArray(new String[0]));
        for (String o : outputs) {
            double err = scaledError(npz.get(o), actual.get(o));
            System.out.printf("%s %s: max scaled error vs PyTorch %.2e%n", export.name(), o, err);
            assertTrue(err <= TOLERANCE, export.name() + " output " + o + ": scaled error " + err);
        }
        if (!export.checkpoint().equals("-")) {
            ComputationGraph g = StarGan.loadGenerator(
                    dir.resolve(export.checkpoint()), StarGan.Statistics.valueOf(export.statistics()));
            INDArray dl4j = g.outputSingle(inputs.get("x"), inputs.get("c"));
            double err = scaledError(dl4j, actual.get("y"));
            System.out.printf(
                    "%s: max scaled error vs the ComputationGraph (%s) %.2e%n",
                    export.name(), export.statistics(), err);
            assertTrue(err <= TOLERANCE, export.name() + ": SameDiff vs ComputationGraph, scaled error " + err);
        }
    }
}
