package io.github.instancenorm.torch;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader and writer for safetensors headers. Objects keep their order
 * ({@link LinkedHashMap}), integers that fit become {@link Long}, other numbers {@link Double}.
 * Nesting is limited so a hostile header cannot exhaust the stack.
 */
final class Json {
    private static final int MAX_DEPTH = 64;

    private final String s;
    private int p;

    private Json(String s) {
        this.s = s;
    }

    static Object parse(String text) throws TorchFormatException {
        Json j = new Json(text);
        j.ws();
        Object v = j.value(0);
        j.ws();
        if (j.p != j.s.length()) {
            throw j.bad("text after the JSON value");
        }
        return v;
    }

    private TorchFormatException bad(String msg) {
        return new TorchFormatException("safetensors header: invalid JSON, " + msg + " at character " + p);
    }

    private void ws() {
        while (p < s.length() && (s.charAt(p) == ' ' || s.charAt(p) == '\n' || s.charAt(p) == '\r' || s.charAt(p) == '\t')) {
            p++;
        }
    }

    private char next() throws TorchFormatException {
        if (p >= s.length()) {
            throw bad("unexpected end");
        }
        return s.charAt(p++);
    }

    private void expect(char c) throws TorchFormatException {
        if (next() != c) {
            throw bad("expected '" + c + "'");
        }
    }

    private Object value(int depth) throws TorchFormatException {
        if (depth > MAX_DEPTH) {
            throw bad("nesting deeper than " + MAX_DEPTH);
        }
        if (p >= s.length()) {
            throw bad("unexpected end");
        }
        char c = s.charAt(p);
        switch (c) {
            case '{': {
                p++;
                Map<String, Object> m = new LinkedHashMap<>();
                ws();
                if (p < s.length() && s.charAt(p) == '}') {
                    p++;
                    return m;
                }
                while (true) {
                    ws();
                    if (p >= s.length() || s.charAt(p) != '"') {
                        throw bad("expected a string key");
                    }
                    String k = string();
                    ws();
                    expect(':');
                    ws();
                    if (m.put(k, value(depth + 1)) != null) {
                        throw bad("duplicate key '" + k + "'");
                    }
                    ws();
                    char d = next();
                    if (d == '}') {
                        return m;
                    }
                    if (d != ',') {
                        throw bad("expected ',' or '}'");
                    }
                }
            }
            case '[': {
                p++;
                List<Object> l = new ArrayList<>();
                ws();
                if (p < s.length() && s.charAt(p) == ']') {
                    p++;
                    return l;
                }
                while (true) {
                    ws();
                    l.add(value(depth + 1));
                    ws();
                    char d = next();
                    if (d == ']') {
                        return l;
                    }
                    if (d != ',') {
                        throw bad("expected ',' or ']'");
                    }
                }
            }
            case '"':
                return string();
            case 't':
                word("true");
                return Boolean.TRUE;
            case 'f':
                word("false");
                return Boolean.FALSE;
            case 'n':
                word("null");
                return null;
            default:
                return number();
        }
    }

    private void word(String w) throws TorchFormatException {
        if (!s.startsWith(w, p)) {
            throw bad("unknown literal");
        }
        p += w.length();
    }

    private Object number() throws TorchFormatException {
        int start = p;
        while (p < s.length() && "+-0123456789.eE".indexOf(s.charAt(p)) >= 0) {
            p++;
        }
        String t = s.substring(start, p);
        if (t.isEmpty()) {
            throw bad("unexpected character");
        }
        try {
            if (t.indexOf('.') < 0 && t.indexOf('e') < 0 && t.indexOf('E') < 0) {
                return Long.parseLong(t);
            }
            return Double.parseDouble(t);
        } catch (NumberFormatException e) {
            throw bad("bad number '" + (t.length() > 30 ? t.substring(0, 30) : t) + "'");
        }
    }

    private String string() throws TorchFormatException {
        expect('"');
        StringBuilder b = new StringBuilder();
        while (true) {
            char c = next();
            if (c == '"') {
                return b.toString();
            }
            if (c != '\\') {
                b.append(c);
                continue;
            }
            char e = next();
            switch (e) {
                case '"', '\\', '/' -> b.append(e);
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'u' -> {
                    if (p + 4 > s.length()) {
                        throw bad("short \\u escape");
                    }
                    try {
                        b.append((char) Integer.parseInt(s.substring(p, p + 4), 16));
                    } catch (NumberFormatException ex) {
                        throw bad("bad \\u escape");
                    }
                    p += 4;
                }
                default -> throw bad("bad escape \\" + e);
            }
        }
    }

    /** @return {@code v} as a JSON string literal */
    static String quote(String v) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
