package io.github.instancenorm.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.Fixtures;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged copies of the committed ONNX fixtures (bit flips, truncations, overwritten runs of bytes, from a fixed
 * seed): each imports, or is refused with an {@link OnnxFormatException} (or another {@link IOException}) whose
 * message names the file; nothing else escapes {@link OnnxModels#importGraph}, and the JVM survives.
 *
 * <p>Tagged {@code fuzz}: the build runs it in a JVM of its own with a 1 GB heap (the onnx module's pom, execution
 * {@code onnx-fuzz}). {@code -Donnx.fuzz.count=N} (300 by default) and {@code -Donnx.fuzz.seed=S} change the run;
 * the counts are written to {@code target/onnx-fuzz-summary.txt}. After a JVM crash, the mutant that caused it is left
 * in the test's temporary directory ({@code /tmp/junit...}): each is deleted once it has been imported or refused.
 */
@Tag("fuzz")
class OnnxFuzzTest {
    /** The smaller fixtures, so that a damaged byte often lands in the graph's structure rather than in weights. */
    private static final List<String> FIXTURES = List.of(
            "batchnorm_training_mode_opset15",
            "convtranspose_asymmetric",
            "instancenorm_ranks_norunning_opset11",
            "instancenorm_ranks_norunning_opset17",
            "instancenorm_ranks_eval_opset11",
            "instancenorm_ranks_train_opset13",
            "convtranspose_grid_opset17",
            "pix2pix_opset11",
            "cyclegan_opset11",
            "starganv2/gemm_attributes_opset13",
            "starganv2/sg2_hpf64_mapping_opset17");

    @Test
    void damagedFixturesImportOrAreRefusedWithTheProjectsException(@TempDir Path dir) throws Exception {
        int count = Integer.getInteger("onnx.fuzz.count", 300);
        long seed = Long.getLong("onnx.fuzz.seed", 20261207L);
        List<byte[]> originals = new ArrayList<>();
        for (String name : FIXTURES) {
            originals.add(Files.readAllBytes(Fixtures.resource("fixtures/onnx/" + name + ".onnx")));
        }
        PrintStream stdout = System.out;
        Random random = new Random(seed);
        Map<String, Integer> outcomes = new TreeMap<>();
        Map<String, String> examples = new TreeMap<>();
        List<String> untyped = new ArrayList<>();
        List<String> unnamed = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < count; i++) {
            int f = random.nextInt(FIXTURES.size());
            Mutant mutant = mutate(originals.get(f), random);
            String stem = FIXTURES.get(f).substring(FIXTURES.get(f).lastIndexOf('/') + 1);
            Path file = dir.resolve(String.format("mutant-%05d-%s-%s.onnx", i, stem, mutant.kind()));
            Files.write(file, mutant.bytes());
            String outcome;
            try {
                OnnxModels.importGraph(file);
                outcome = "imported";
            } catch (OnnxFormatException e) {
                outcome = "refused: OnnxFormatException, " + stage(e);
                examples.putIfAbsent(outcome, e.getMessage());
                if (!e.getMessage().contains(file.toString())) {
                    unnamed.add(e.getMessage());
                }
            } catch (IOException e) {
                outcome = "refused: " + e.getClass().getSimpleName();
                if (!e.getMessage().contains(file.toString())) {
                    unnamed.add(e.getMessage());
                }
            } catch (Throwable e) {
                outcome = "untyped: " + e.getClass().getName();
                untyped.add(file.getFileName() + ": " + e);
            }
            outcomes.merge(outcome, 1, Integer::sum);
            Files.delete(file);
            if ((i + 1) % 1000 == 0) {
                System.out.printf("onnx fuzz: %d of %d mutants, %.0f s, %s%n", i + 1, count, seconds(start), outcomes);
            }
        }
        double seconds = seconds(start);
        String summary = String.format(
                "onnx fuzz: seed %d, %d mutants of %d fixtures in %.1f s (max heap %d MB): %s%n",
                seed, count, FIXTURES.size(), seconds, Runtime.getRuntime().maxMemory() >> 20, outcomes);
        System.out.print(summary);
        StringBuilder report = new StringBuilder(summary);
        examples.forEach((outcome, message) ->
                report.append(outcome).append(", e.g. ").append(message).append('\n'));
        untyped.forEach(u -> report.append("untyped: ").append(u).append('\n'));
        Files.writeString(Path.of("target", "onnx-fuzz-summary.txt"), report);

        assertEquals(List.of(), untyped, "exceptions other than the project's and IOExceptions");
        assertEquals(List.of(), unnamed.stream().limit(5).toList(), "refusals that do not name the file");
        assertSame(stdout, System.out, "System.out is the original stream after every import");
        // The importer is unchanged by the failures: a good file still imports.
        assertNotNull(OnnxModels.importGraph(Fixtures.resource("fixtures/onnx/cyclegan_opset11.onnx")));
        assertTrue(outcomes.getOrDefault("imported", 0) > 0, "some mutants (in the weights) still import");
    }

    /** @return where the refusal came from: protobuf, the checks, the folding, M2.1's importer (and its error) */
    private static String stage(OnnxFormatException e) {
        String m = e.getMessage();
        if (m.contains("not a readable ONNX model") || m.contains("no graph nodes")) {
            return "protobuf";
        }
        if (m.contains("DL4J 1.0.0-M2.1's ONNX importer failed")) {
            return "in M2.1: " + e.getCause().getClass().getSimpleName();
        }
        if (e.getCause() != null) {
            return "hook or folding: " + e.getCause().getClass().getSimpleName();
        }
        return m.contains("cannot import") ? "unmapped op" : "checks";
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    record Mutant(byte[] bytes, String kind) {}

    /** One damage: 1 to 8 flipped bits, a truncation, or a run of 1 to 16 bytes overwritten. */
    private static Mutant mutate(byte[] original, Random random) {
        byte[] b = original.clone();
        switch (random.nextInt(3)) {
            case 0 -> {
                int flips = 1 + random.nextInt(8);
                for (int k = 0; k < flips; k++) {
                    int at = random.nextInt(b.length);
                    b[at] ^= (byte) (1 << random.nextInt(8));
                }
                return new Mutant(b, "flip" + flips);
            }
            case 1 -> {
                int length = random.nextInt(b.length);
                return new Mutant(Arrays.copyOf(b, length), "truncate" + length);
            }
            default -> {
                int length = 1 + random.nextInt(16);
                int at = random.nextInt(Math.max(1, b.length - length));
                int fill = random.nextInt(3); // zeros, 0xFF, random bytes
                for (int k = at; k < Math.min(b.length, at + length); k++) {
                    b[k] = switch (fill) {
                        case 0 -> 0;
                        case 1 -> (byte) 0xFF;
                        default -> (byte) random.nextInt(256);
                    };
                }
                return new Mutant(b, "overwrite" + length);
            }
        }
    }
}
