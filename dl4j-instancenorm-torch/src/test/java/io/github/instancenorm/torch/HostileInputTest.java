package io.github.instancenorm.torch;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * Malicious and damaged checkpoints: every failure must be a {@link TorchFormatException} with
 * a message, never another exception, an out-of-memory, a hang, or code running.
 */
class HostileInputTest {
    private static final List<String> SEEDS = List.of(
            "dtypes.pt",
            "dtypes_legacy.pt",
            "views.pt",
            "views_legacy.pt",
            "wrapped.pt",
            "wrapped_legacy.pt",
            "dtypes_st.safetensors",
            "dtypes_repacked.pt");
    /** Time box for the whole fuzz run, so the suite stays fast on two cores. */
    private static final long FUZZ_MILLIS = 20_000;

    private static final int ITERATIONS_PER_SEED = 700;

    @Test
    void picklesThatWouldRunCodeAreRefusedNamingTheGlobal() throws Exception {
        JsonNode expected = new ObjectMapper()
                .readTree(Fixtures.path("malicious.expected.json").toFile());
        Iterator<Map.Entry<String, JsonNode>> it = expected.fields();
        int n = 0;
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            TorchFormatException ex =
                    assertThrows(TorchFormatException.class, () -> StateDict.read(Fixtures.path(e.getKey())));
            assertTrue(
                    ex.getMessage()
                            .contains("refusing pickle global '" + e.getValue().asText() + "'"),
                    ex.getMessage());
            n++;
        }
        assertEquals(3, n);
    }

    @Test
    void handWrittenHostilePicklesAreRefused() {
        // protocol-2 pickles as a zip's data.pkl would hold them; each must fail cleanly
        List<byte[]> pickles = List.of(
                pickle("c", "builtins\neval\n", "X", str("1"), "\u0085R."), // eval via REDUCE
                pickle("c", "os\nsystem\n", "."), // just naming it
                pickle("\u008c", "\u0008builtins", "\u008c", "\u0004exec", "\u0093."), // STACK_GLOBAL
                pickle("c", "torch\nload\n", "."), // torch, not allowlisted
                pickle("}(", "i", "os\nsystem\n", "."), // INST
                pickle("J\u00ff\u00ff\u00ff\u007fh\u00ff."), // BINGET never stored
                pickle("X\u00ff\u00ff\u00ff\u007f"), // huge string length
                pickle("\u008b\u00ff\u00ff\u00ff\u007f"), // huge LONG4
                pickle("((((((((((((((((.")); // marks only
        for (byte[] p : pickles) {
            TorchFormatException e = assertThrows(
                    TorchFormatException.class,
                    () -> new Unpickler(new Cursor(new ByteSource.OfArray(p), 0, "test"), null).load());
            assertFalse(e.getMessage().isBlank());
        }
        // the one class NEWOBJ may build is OrderedDict
        assertTrue(
                assertDoesNotThrow(() -> new Unpickler(
                                        new Cursor(
                                                new ByteSource.OfArray(
                                                        pickle("c", "collections\nOrderedDict\n", ")\u0081.")),
                                                0,
                                                "test"),
                                        null)
                                .load())
                        instanceof Py.Dict);
        TorchFormatException e = assertThrows(
                TorchFormatException.class,
                () -> new Unpickler(new Cursor(new ByteSource.OfArray(pickles.get(0)), 0, "test"), null).load());
        assertTrue(e.getMessage().contains("'builtins.eval'"), e.getMessage());
    }

    @Test
    void deepNestingAndSharedReferencesAreBounded() {
        // a list nested 100000 deep, then a DAG whose naive expansion is 2^60 nodes
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(0x80);
        b.write(2);
        b.writeBytes("}X\u0001\u0000\u0000\u0000a".getBytes(StandardCharsets.ISO_8859_1));
        for (int i = 0; i < 100_000; i++) {
            b.write(']');
        }
        for (int i = 0; i < 99_999; i++) {
            b.write('a');
        }
        b.write('s');
        b.write('.');
        assertCleanFailure(b.toByteArray(), "deep");
        ByteArrayOutputStream d = new ByteArrayOutputStream();
        d.write(0x80);
        d.write(2);
        d.writeBytes("}X\u0001\u0000\u0000\u0000a".getBytes(StandardCharsets.ISO_8859_1));
        d.write('N');
        for (int i = 0; i < 60; i++) {
            d.writeBytes("2\u0086".getBytes(StandardCharsets.ISO_8859_1)); // (x, x)
        }
        d.write('s');
        d.write('.');
        assertCleanFailure(d.toByteArray(), "dag");
    }

    private static void assertCleanFailure(byte[] pickle, String what) {
        TorchFormatException e = assertThrows(TorchFormatException.class, () -> {
            Object root = new Unpickler(new Cursor(new ByteSource.OfArray(pickle), 0, what), null).load();
            // the value tree is walked the way a checkpoint's is
            java.lang.reflect.Method m = CheckpointReader.class.getDeclaredMethod(
                    "toStateDict",
                    Object.class,
                    Class.forName("io.github.instancenorm.torch.CheckpointReader$Tensors"),
                    String.class);
            m.setAccessible(true);
            try {
                m.invoke(null, root, null, what);
            } catch (java.lang.reflect.InvocationTargetException ex) {
                throw ex.getCause();
            }
        });
        assertTrue(e.getMessage().contains("deeper") || e.getMessage().contains("more than"), e.getMessage());
    }

    @Test
    void mutatedFixturesFailOnlyWithTheLibrarysException() throws Exception {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            long deadline = System.currentTimeMillis() + FUZZ_MILLIS;
            int runs = 0;
            int refused = 0;
            for (int s = 0; s < SEEDS.size(); s++) {
                byte[] original = Files.readAllBytes(Fixtures.path(SEEDS.get(s)));
                Random rnd = new Random(1234 + s);
                for (int i = 0; i < ITERATIONS_PER_SEED && System.currentTimeMillis() < deadline; i++) {
                    String how;
                    byte[] m;
                    switch (rnd.nextInt(5)) {
                        case 0 -> {
                            m = original.clone();
                            int flips = 1 + rnd.nextInt(8);
                            for (int k = 0; k < flips; k++) {
                                m[rnd.nextInt(m.length)] ^= (byte) (1 << rnd.nextInt(8));
                            }
                            how = flips + " bit flips";
                        }
                        case 1 -> {
                            int len = rnd.nextInt(original.length);
                            m = java.util.Arrays.copyOf(original, len);
                            how = "truncated to " + len;
                        }
                        case 2 -> {
                            m = original.clone();
                            int at = rnd.nextInt(m.length - 8);
                            long huge = List.of(0xFFFFFFFFL, 0x7FFFFFFFL, 1L << 40, Long.MAX_VALUE, -1L)
                                    .get(rnd.nextInt(5));
                            int width = rnd.nextBoolean() ? 4 : 8;
                            for (int k = 0; k < width; k++) {
                                m[at + k] = (byte) (huge >>> (8 * k));
                            }
                            how = "huge value " + huge + " (" + width + " bytes) at " + at;
                        }
                        case 3 -> {
                            m = original.clone();
                            int at = rnd.nextInt(m.length);
                            m[at] = (byte) rnd.nextInt(256);
                            how = "random byte at " + at;
                        }
                        default -> {
                            m = replaceAll(
                                    original,
                                    rnd.nextBoolean() ? "OrderedDict" : "FloatStorage",
                                    rnd.nextBoolean() ? "OrderedDicX" : "FloatStorXge");
                            how = "renamed global";
                        }
                    }
                    runs++;
                    try {
                        StateDict.read(m);
                    } catch (TorchFormatException e) {
                        refused++;
                        if (e.getMessage() == null || e.getMessage().isBlank()) {
                            fail(SEEDS.get(s) + " " + how + ": exception without message");
                        }
                        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                            if (c instanceof RuntimeException || c instanceof Error) {
                                throw new AssertionError(SEEDS.get(s) + " " + how + ": internal failure wrapped", c);
                            }
                        }
                    } catch (Throwable t) {
                        throw new AssertionError(SEEDS.get(s) + " " + how + ": " + t, t);
                    }
                }
            }
            System.out.println("fuzz: " + runs + " mutated checkpoints, " + refused + " refused, rest read");
            assertTrue(runs >= 1000, "only " + runs + " iterations ran in the time box");
            assertTrue(refused > runs / 4, "suspiciously few refusals: " + refused + " of " + runs);
        });
    }

    private static byte[] replaceAll(byte[] data, String from, String to) {
        String s = new String(data, StandardCharsets.ISO_8859_1).replace(from, to);
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static String str(String s) {
        return "" + (char) s.length() + "\u0000\u0000\u0000" + s;
    }

    private static byte[] pickle(String... parts) {
        return ("\u0080\u0002" + String.join("", parts)).getBytes(StandardCharsets.ISO_8859_1);
    }
}
