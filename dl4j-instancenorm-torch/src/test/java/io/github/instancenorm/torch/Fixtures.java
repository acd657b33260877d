package io.github.instancenorm.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * The fixtures written by src/test/python/gen_torch_io_fixtures.py and the comparison of what
 * the reader returns with the independent JSON description the script wrote next to each file.
 */
final class Fixtures {
    private Fixtures() {}

    static Path path(String file) {
        try {
            return Path.of(Fixtures.class.getResource("/torch-io/" + file).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException(
                    "fixture " + file + " missing; run src/test/python/gen_torch_io_fixtures.py", e);
        }
    }

    static JsonNode expected(String name) throws IOException {
        return new ObjectMapper().readTree(path(name + ".expected.json").toFile());
    }

    static DataType dtype(String torchName) {
        return switch (torchName) {
            case "float32" -> DataType.FLOAT;
            case "float64" -> DataType.DOUBLE;
            case "float16" -> DataType.HALF;
            case "bfloat16" -> DataType.BFLOAT16;
            case "int64" -> DataType.LONG;
            case "int32" -> DataType.INT;
            case "int16" -> DataType.SHORT;
            case "int8" -> DataType.BYTE;
            case "uint8" -> DataType.UBYTE;
            case "bool" -> DataType.BOOL;
            default -> throw new IllegalArgumentException(torchName);
        };
    }

    /** Asserts that {@code actual} is exactly what the JSON node describes. */
    static void assertMatches(JsonNode e, Object actual, String where) {
        if (e.has("tensor")) {
            INDArray a = assertInstanceOf(INDArray.class, actual, where);
            assertEquals(dtype(e.get("dtype").asText()), a.dataType(), where + " dtype");
            List<Long> shape = new ArrayList<>();
            e.get("shape").forEach(n -> shape.add(n.asLong()));
            assertEquals(shape.toString(), java.util.Arrays.toString(a.shape()), where + " shape");
            JsonNode values = e.get("values");
            assertEquals(values.size(), a.isEmpty() ? 0 : a.length(), where + " length");
            if (values.size() == 0) {
                return;
            }
            INDArray flat = a.reshape('c', new long[] {a.length()});
            for (int i = 0; i < values.size(); i++) {
                JsonNode v = values.get(i);
                if (v.isBoolean()) {
                    assertEquals(v.asBoolean(), flat.getDouble(i) != 0, where + "[" + i + "]");
                } else if (v.isIntegralNumber()) {
                    assertEquals(v.asLong(), flat.getLong(i), where + "[" + i + "]");
                } else {
                    assertEquals(v.asDouble(), flat.getDouble(i), 0.0, where + "[" + i + "]");
                }
            }
        } else if (e.has("dict")) {
            StateDict sd = assertInstanceOf(StateDict.class, actual, where);
            List<String> keys = new ArrayList<>();
            e.get("dict").forEach(kv -> keys.add(kv.get(0).asText()));
            assertEquals(keys, sd.keys(), where + " keys");
            for (JsonNode kv : e.get("dict")) {
                String k = kv.get(0).asText();
                assertMatches(kv.get(1), sd.value(k), where + "." + k);
            }
        } else if (e.has("list")) {
            List<?> l = assertInstanceOf(List.class, actual, where);
            assertEquals(e.get("list").size(), l.size(), where + " size");
            Iterator<JsonNode> it = e.get("list").iterator();
            for (int i = 0; it.hasNext(); i++) {
                assertMatches(it.next(), l.get(i), where + "[" + i + "]");
            }
        } else {
            JsonNode v = e.get("value");
            if (v.isNull()) {
                assertEquals(null, actual, where);
            } else if (v.isBoolean()) {
                assertEquals(v.asBoolean(), actual, where);
            } else if (v.isIntegralNumber()) {
                assertEquals(v.asLong(), actual, where);
            } else if (v.isNumber()) {
                assertEquals(v.asDouble(), (Double) actual, 0.0, where);
            } else {
                assertTrue(v.isTextual(), where);
                assertEquals(v.asText(), actual, where);
            }
        }
    }
}
