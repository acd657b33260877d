package io.github.instancenorm.torch;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.shade.jackson.core.JsonFactory;
import org.nd4j.shade.jackson.core.JsonGenerator;
import org.nd4j.shade.jackson.core.JsonLocation;
import org.nd4j.shade.jackson.core.JsonParseException;
import org.nd4j.shade.jackson.core.JsonParser;
import org.nd4j.shade.jackson.core.JsonToken;

/**
 * The safetensors header as JSON, through ND4J's shaded Jackson streaming API ({@code org.nd4j.shade.jackson}).
 *
 * <p>Reading builds plain Java values: objects keep their order ({@link LinkedHashMap}), integers that fit become
 * {@link Long}, other numbers {@link Double}. A hostile header is refused with a {@link TorchFormatException}: the
 * nesting depth is capped here because the shaded Jackson predates {@code StreamReadConstraints}, and duplicate
 * keys are an error (safetensors' own parser refuses them too). The header's size is capped by the caller.
 */
final class Json {
    /** Far deeper than any safetensors header (two levels), shallow enough for any stack. */
    static final int MAX_DEPTH = 64;

    private static final JsonFactory FACTORY = new JsonFactory();

    private Json() {}

    /** Parses one JSON value, with nothing after it but whitespace. */
    static Object parse(String text) throws TorchFormatException {
        try (JsonParser p = FACTORY.createParser(text)) {
            if (p.nextToken() == null) {
                throw bad("empty header", p.getCurrentLocation());
            }
            Object value = value(p, 1);
            if (p.nextToken() != null) {
                throw bad("text after the JSON value", p.getTokenLocation());
            }
            return value;
        } catch (TorchFormatException e) {
            throw e;
        } catch (JsonParseException e) {
            throw bad(e.getOriginalMessage(), e.getLocation());
        } catch (IOException e) {
            throw new TorchFormatException("safetensors header: " + e.getMessage(), e);
        }
    }

    private static Object value(JsonParser p, int depth) throws IOException {
        JsonToken t = p.currentToken();
        if ((t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) && depth > MAX_DEPTH) {
            throw bad("nesting deeper than " + MAX_DEPTH, p.getTokenLocation());
        }
        switch (t) {
            case START_OBJECT -> {
                Map<String, Object> m = new LinkedHashMap<>();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String key = p.getCurrentName();
                    if (m.containsKey(key)) {
                        throw bad("duplicate key '" + key + "'", p.getTokenLocation());
                    }
                    p.nextToken();
                    m.put(key, value(p, depth + 1));
                }
                return m;
            }
            case START_ARRAY -> {
                List<Object> l = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    l.add(value(p, depth + 1));
                }
                return l;
            }
            case VALUE_STRING -> {
                return p.getText();
            }
            case VALUE_NUMBER_INT -> {
                if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    return p.getDoubleValue();
                }
                return p.getLongValue();
            }
            case VALUE_NUMBER_FLOAT -> {
                return p.getDoubleValue();
            }
            case VALUE_TRUE -> {
                return Boolean.TRUE;
            }
            case VALUE_FALSE -> {
                return Boolean.FALSE;
            }
            case VALUE_NULL -> {
                return null;
            }
            default -> throw bad("unexpected " + t, p.getTokenLocation());
        }
    }

    private static TorchFormatException bad(String message, JsonLocation at) {
        return new TorchFormatException(
                "safetensors header: invalid JSON, " + message + " at character " + at.getCharOffset());
    }

    /** Writes a header with Jackson's escaping; {@code body} emits the fields of the top-level object. */
    static String writeObject(Body body) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.writeStartObject();
            body.write(g);
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException("writing JSON to a string", e);
        }
        return out.toString();
    }

    /** The fields of a JSON object, written with a {@link JsonGenerator}. */
    @FunctionalInterface
    interface Body {
        void write(JsonGenerator g) throws IOException;
    }
}
