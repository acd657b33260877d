package io.github.instancenorm.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The records around the tensors: the safetensors JSON header and a zip checkpoint's {@code archive/version}. */
class FormatRecordsTest {

    private static byte[] safetensors(String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + 4)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length)
                .put(h)
                .putFloat(1.5f)
                .array();
    }

    private static final String ONE_TENSOR = "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";

    private static void assertRefused(byte[] file, String... parts) {
        TorchFormatException e = assertThrows(TorchFormatException.class, () -> StateDict.read(file));
        assertFalse(e.getMessage().contains("safetensors header: safetensors header"), e.getMessage());
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
        }
    }

    @Test
    void safetensorsHeaderIsParsedStrictly() throws Exception {
        assertEquals(
                1.5f,
                StateDict.read(safetensors("{" + ONE_TENSOR + "}")).get("w").getFloat(0));
        String deep = "[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH);
        assertRefused(
                safetensors("{\"__metadata__\":{\"x\":" + deep + "}," + ONE_TENSOR + "}"),
                "nesting deeper than " + Json.MAX_DEPTH);
        assertRefused(safetensors("{" + ONE_TENSOR + "," + ONE_TENSOR + "}"), "duplicate key 'w'");
        assertRefused(safetensors("{" + ONE_TENSOR), "invalid JSON");
        assertRefused(safetensors("{" + ONE_TENSOR + "} {}"), "text after the JSON value");
        assertRefused(safetensors("{\"w\":{\"dtype\":'F32'}}"), "invalid JSON");
    }

    @Test
    void safetensorsNamesAndMetadataNeedingEscapesRoundTrip(@TempDir Path dir) throws IOException {
        String name = "la\"yer\\0/\u00fc\u2603\t.weight";
        INDArray value = Nd4j.createFromArray(new float[] {1, -2, 3.25f}).reshape(1, 3);
        Path file = dir.resolve("escaped.safetensors");
        StateDict withMetadata = StateDict.read(
                safetensors("{\"__metadata__\":{\"format\":\"pt\\nline \\\"two\\\"\"}," + ONE_TENSOR + "}"));
        assertEquals("pt\nline \"two\"", withMetadata.metadata().get("format"));
        StateDict sd = withMetadata.put(name, value).put("b", Nd4j.createFromArray(7L));
        sd.writeSafetensors(file);

        long headerLength = ByteBuffer.wrap(Files.readAllBytes(file), 0, 8)
                .order(ByteOrder.LITTLE_ENDIAN)
                .getLong();
        assertEquals(0, (8 + headerLength) % 8, "the data section starts 8-byte aligned");
        StateDict back = StateDict.read(file);
        assertEquals(List.of("w", name, "b"), back.keys());
        assertEquals(value, back.get(name));
        assertEquals(DataType.LONG, back.get("b").dataType());
        assertEquals("pt\nline \"two\"", back.metadata().get("format"));
    }

    /**
     * The generator fixture (PyTorch 1.13's torch.save) re-packed (deflated) with its version record replaced, or
     * without one for {@code null}.
     */
    private static byte[] withVersion(String version) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipFile in = new ZipFile(Fixtures.path("generator.pt").toFile());
                ZipOutputStream z = new ZipOutputStream(out)) {
            for (ZipEntry e : Collections.list(in.entries())) {
                byte[] data = in.getInputStream(e).readAllBytes();
                if (e.getName().endsWith("/version")) {
                    if (version == null) {
                        continue;
                    }
                    data = version.getBytes(StandardCharsets.US_ASCII);
                }
                z.putNextEntry(new ZipEntry(e.getName()));
                z.write(data);
                z.closeEntry();
            }
        }
        return out.toByteArray();
    }

    @Test
    void zipVersionRecordIsChecked() throws Exception {
        StateDict original = StateDict.read(Fixtures.path("generator.pt"));
        for (String accepted : List.of("1\n", "3\n", "10")) {
            StateDict sd = StateDict.read(withVersion(accepted));
            assertEquals(original.keys(), sd.keys(), "version " + accepted.trim());
            assertEquals(
                    original.get(original.keys().get(0)), sd.get(original.keys().get(0)));
        }
        assertRefused(withVersion("11\n"), "file-format version 11", "[1, 10]");
        assertRefused(withVersion("0"), "file-format version 0");
        assertRefused(withVersion("three"), "version record 'three' is not a number");
        assertRefused(withVersion(null), "without a generator/version record");
    }
}
