package io.github.instancenorm.onnx;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * M2.1's importer prints hundreds of lines per import; {@link OnnxModels#importGraph} keeps them off standard output
 * without swallowing what other threads print at the same time, and gives {@code System.out} back on every path.
 */
class QuietImportTest {

    @Test
    void otherThreadsPrintWhileImportsRunAndNothingTheImportsPrintReachesStdout(@TempDir Path dir) throws Exception {
        PrintStream before = System.out;
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        PrintStream original = new PrintStream(stdout, true, UTF_8);
        System.setOut(original);
        List<String> printed = new ArrayList<>();
        AtomicInteger printedWhileRouted = new AtomicInteger();
        AtomicBoolean importing = new AtomicBoolean(true);
        Thread printer = null;
        try {
            printer = new Thread(() -> {
                for (int i = 0; importing.get(); i++) {
                    boolean routed = System.out != original;
                    String line = "printer line " + i;
                    System.out.println(line);
                    printed.add(line);
                    if (routed) {
                        printedWhileRouted.incrementAndGet();
                    }
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            printer.start();
            // Two imports at once (the second thread's import waits for the first's lock, its capture does not).
            AtomicReference<SameDiff> second = new AtomicReference<>();
            AtomicReference<Throwable> secondError = new AtomicReference<>();
            Thread importer = new Thread(() -> {
                try {
                    second.set(OnnxModels.importGraph(Fixtures.resource("fixtures/onnx/pix2pix_opset11.onnx")));
                } catch (Throwable e) {
                    secondError.set(e);
                }
            });
            importer.start();
            SameDiff sd = OnnxModels.importGraph(Fixtures.resource("fixtures/onnx/cyclegan_opset11.onnx"));
            importer.join();
            assertNotNull(sd);
            assertEquals(null, secondError.get());
            assertNotNull(second.get());
            assertSame(original, System.out, "System.out is the original stream after the imports");

            // Failing imports: refused before M2.1 runs, and refused inside M2.1 (by a hook).
            Path truncated = dir.resolve("truncated.onnx");
            byte[] good = Files.readAllBytes(Fixtures.resource("fixtures/onnx/cyclegan_opset11.onnx"));
            Files.write(truncated, Arrays.copyOf(good, good.length / 3));
            assertThrows(OnnxFormatException.class, () -> OnnxModels.importGraph(truncated));
            assertSame(original, System.out, "after a file refused before M2.1 runs");
            assertThrows(
                    OnnxFormatException.class,
                    () -> OnnxModels.importGraph(
                            Fixtures.resource("fixtures/onnx/refused/grouped_convtranspose.onnx")));
            assertSame(original, System.out, "after a failure inside M2.1's importer");
        } finally {
            importing.set(false);
            if (printer != null) {
                printer.join();
            }
            System.setOut(before);
        }
        assertTrue(printedWhileRouted.get() > 0, "the other thread printed while the routing stream was installed");
        List<String> lines = stdout.toString(UTF_8).lines().toList();
        List<String> foreign = lines.stream()
                .filter(l -> !l.startsWith("printer line "))
                .limit(5)
                .toList();
        assertEquals(List.of(), foreign, "lines on standard output that the other thread did not print (the first 5)");
        assertTrue(
                printed.equals(lines),
                "standard output holds the other thread's " + printed.size() + " lines in order, got " + lines.size());
        assertFalse(printed.isEmpty());
    }
}
