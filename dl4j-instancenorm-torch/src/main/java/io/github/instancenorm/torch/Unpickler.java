package io.github.instancenorm.torch;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A pickle machine for state dicts. It understands the opcodes of protocols 0 to 4 that hold
 * data, and a fixed allowlist of globals: {@code collections.OrderedDict}, the tensor rebuild
 * functions of {@code torch._utils}, the {@code torch.*Storage} classes, {@code torch.Size},
 * {@code torch.device}, torch dtypes, {@code _codecs.encode} (bytes in protocol 2) and
 * {@code builtins.set}. Any other global is refused when it is named, before anything could be
 * called: no class is instantiated and no code runs, whatever the pickle says.
 *
 * <p>Every opcode consumes at least one byte and nothing jumps back, so the machine stops; all
 * lengths are checked against the bytes left before allocating.
 */
final class Unpickler {

    /** Resolves a persistent id (the {@code ('storage', ...)} tuple) to a value. */
    interface PersistentLoader {
        Object load(Object pid) throws IOException;
    }

    private static final Object MARK = new Object() {
        @Override
        public String toString() {
            return "MARK";
        }
    };
    private static final int MAX_LONG_BYTES = 256;
    private static final int MAX_LINE = 1 << 16;

    private static final Set<String> TORCH_DTYPES = Set.of(
            "float32",
            "float",
            "float64",
            "double",
            "float16",
            "half",
            "bfloat16",
            "int64",
            "long",
            "int32",
            "int",
            "int16",
            "short",
            "int8",
            "uint8",
            "bool");

    private final Cursor in;
    private final PersistentLoader persistent;
    private final List<Object> stack = new ArrayList<>();
    private final List<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();

    Unpickler(Cursor in, PersistentLoader persistent) {
        this.in = in;
        this.persistent = persistent;
    }

    private TorchFormatException error(String msg) {
        return new TorchFormatException(in.name() + ": " + msg + " (pickle byte " + in.position() + ")");
    }

    private void push(Object o) {
        stack.add(o);
    }

    private Object pop() throws TorchFormatException {
        if (stack.isEmpty()) {
            throw error("pickle stack underflow; the pickle is damaged");
        }
        Object o = stack.remove(stack.size() - 1);
        if (o == MARK) {
            throw error("unexpected MARK on the pickle stack; the pickle is damaged");
        }
        return o;
    }

    private Object peek() throws TorchFormatException {
        if (stack.isEmpty()) {
            throw error("pickle stack underflow; the pickle is damaged");
        }
        Object o = stack.get(stack.size() - 1);
        if (o == MARK) {
            throw error("unexpected MARK on the pickle stack; the pickle is damaged");
        }
        return o;
    }

    /** Pops everything above the topmost mark, and the mark. */
    private List<Object> popMark() throws TorchFormatException {
        if (marks.isEmpty()) {
            throw error("no MARK for an opcode that needs one; the pickle is damaged");
        }
        int m = marks.remove(marks.size() - 1);
        if (m > stack.size() || stack.get(m) != MARK) {
            throw error("MARK was consumed by another opcode; the pickle is damaged");
        }
        List<Object> items = new ArrayList<>(stack.subList(m + 1, stack.size()));
        stack.subList(m, stack.size()).clear();
        for (Object o : items) {
            if (o == MARK) {
                throw error("nested MARK inside a marked group; the pickle is damaged");
            }
        }
        return items;
    }

    private void memoPut(long index) throws TorchFormatException {
        if (index < 0) {
            throw error("negative memo index " + index);
        }
        memo.put(index, peek());
    }

    private Object memoGet(long index) throws TorchFormatException {
        if (!memo.containsKey(index)) {
            throw error("memo index " + index + " was never stored; the pickle is damaged");
        }
        return memo.get(index);
    }

    private String text(long n, String what) throws IOException {
        return new String(in.bytes(n, what), StandardCharsets.UTF_8);
    }

    /**
     * Runs the machine to the STOP opcode.
     *
     * @return the pickled value
     * @throws IOException on any damage or refused content
     */
    Object load() throws IOException {
        while (true) {
            int op = in.u8("pickle opcode");
            switch (op) {
                case 0x80 -> { // PROTO
                    int v = in.u8("protocol");
                    if (v > 5) {
                        throw error("pickle protocol " + v
                                + " is newer than 5; save with protocol 2 (torch.save's default)");
                    }
                }
                case 0x95 -> in.i64("frame length"); // FRAME: framing is only a read-ahead hint
                case '.' -> { // STOP
                    Object result = pop();
                    return result;
                }
                case '(' -> {
                    marks.add(stack.size());
                    push(MARK);
                }
                case '0' -> pop();
                case '1' -> popMark();
                case '2' -> push(peek());
                case 'N' -> push(null);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'J' -> push((long) in.i32("BININT"));
                case 'K' -> push((long) in.u8("BININT1"));
                case 'M' -> push((long) in.u16("BININT2"));
                case 0x8a -> push(longBytes(in.u8("LONG1 length")));
                case 0x8b -> push(longBytes(in.i32("LONG4 length")));
                case 'I' -> push(parseIntLine(in.line(MAX_LINE, "INT")));
                case 'L' -> {
                    String s = in.line(MAX_LINE, "LONG");
                    push(parseIntLine(s.endsWith("L") ? s.substring(0, s.length() - 1) : s));
                }
                case 'G' -> push(in.f64BigEndian("BINFLOAT"));
                case 'F' -> {
                    String s = in.line(MAX_LINE, "FLOAT");
                    try {
                        push(Double.parseDouble(s.trim()));
                    } catch (NumberFormatException e) {
                        throw error("FLOAT opcode holds '" + s + "', not a number");
                    }
                }
                case 0x8c -> push(text(in.u8("SHORT_BINUNICODE length"), "SHORT_BINUNICODE"));
                case 'X' -> push(text(in.i32("BINUNICODE length") & 0xffffffffL, "BINUNICODE"));
                case 0x8d -> push(text(in.i64("BINUNICODE8 length"), "BINUNICODE8"));
                case 'U' ->
                    push(new String(
                            in.bytes(in.u8("SHORT_BINSTRING length"), "SHORT_BINSTRING"), StandardCharsets.ISO_8859_1));
                case 'T' ->
                    push(new String(in.bytes(in.i32("BINSTRING length"), "BINSTRING"), StandardCharsets.ISO_8859_1));
                case 'C' -> push(in.bytes(in.u8("SHORT_BINBYTES length"), "SHORT_BINBYTES"));
                case 'B' -> push(in.bytes(in.i32("BINBYTES length") & 0xffffffffL, "BINBYTES"));
                case 0x8e -> push(in.bytes(in.i64("BINBYTES8 length"), "BINBYTES8"));
                case 'V' -> push(in.line(MAX_LINE, "UNICODE"));
                case ']' -> push(new Py.PyList());
                case '}' -> push(new Py.Dict());
                case ')' -> push(new Py.Tuple(List.of()));
                case 0x8f -> push(new Py.PyList()); // EMPTY_SET
                case 'l' -> { // LIST
                    Py.PyList l = new Py.PyList();
                    l.addAll(popMark());
                    push(l);
                }
                case 'd' -> { // DICT
                    List<Object> items = popMark();
                    Py.Dict d = new Py.Dict();
                    putPairs(d, items);
                    push(d);
                }
                case 't' -> push(new Py.Tuple(popMark()));
                case 0x85 -> push(new Py.Tuple(java.util.Collections.singletonList(pop())));
                case 0x86 -> {
                    Object b = pop();
                    Object a = pop();
                    push(new Py.Tuple(Arrays.asList(a, b)));
                }
                case 0x87 -> {
                    Object c = pop();
                    Object b = pop();
                    Object a = pop();
                    push(new Py.Tuple(Arrays.asList(a, b, c)));
                }
                case 0x91 -> { // FROZENSET
                    Py.PyList l = new Py.PyList();
                    l.addAll(popMark());
                    push(l);
                }
                case 0x90 -> { // ADDITEMS
                    List<Object> items = popMark();
                    asList(peek(), "ADDITEMS").addAll(items);
                }
                case 'a' -> {
                    Object v = pop();
                    asList(peek(), "APPEND").add(v);
                }
                case 'e' -> {
                    List<Object> items = popMark();
                    asList(peek(), "APPENDS").addAll(items);
                }
                case 's' -> {
                    Object v = pop();
                    Object k = pop();
                    asDict(peek(), "SETITEM").items.put(key(k), v);
                }
                case 'u' -> {
                    List<Object> items = popMark();
                    putPairs(asDict(peek(), "SETITEMS"), items);
                }
                case 'p' -> memoPut(parseIndex(in.line(MAX_LINE, "PUT")));
                case 'q' -> memoPut(in.u8("BINPUT index"));
                case 'r' -> memoPut(in.i32("LONG_BINPUT index") & 0xffffffffL);
                case 0x94 -> memoPut(memo.size());
                case 'g' -> push(memoGet(parseIndex(in.line(MAX_LINE, "GET"))));
                case 'h' -> push(memoGet(in.u8("BINGET index")));
                case 'j' -> push(memoGet(in.i32("LONG_BINGET index") & 0xffffffffL));
                case 'c' -> {
                    String module = in.line(MAX_LINE, "GLOBAL module");
                    String name = in.line(MAX_LINE, "GLOBAL name");
                    push(global(module, name));
                }
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw error("STACK_GLOBAL needs two strings, got " + Py.typeName(module) + " and "
                                + Py.typeName(name));
                    }
                    push(global(m, n));
                }
                case 'R' -> {
                    Object args = pop();
                    Object callable = pop();
                    push(reduce(callable, args));
                }
                case 0x81 -> { // NEWOBJ
                    Object args = pop();
                    Object cls = pop();
                    push(newObject(cls, args));
                }
                case 0x92 -> { // NEWOBJ_EX
                    Object kwargs = pop();
                    Object args = pop();
                    Object cls = pop();
                    if (!(kwargs instanceof Py.Dict kw) || !kw.items.isEmpty()) {
                        throw error("NEWOBJ_EX with keyword arguments is not used by state dicts and is refused");
                    }
                    push(newObject(cls, args));
                }
                case 'b' -> { // BUILD
                    Object state = pop();
                    build(peek(), state);
                }
                case 'Q' -> push(persistentLoad(pop()));
                case 'P' -> push(persistentLoad(in.line(MAX_LINE, "PERSID")));
                case 'i', 'o' ->
                    throw error("INST/OBJ opcodes create arbitrary objects and are refused;"
                            + " only state dicts (tensors, dicts, numbers, strings) can be read");
                case 0x82, 0x83, 0x84 ->
                    throw error(
                            "EXT opcodes (copyreg extension registry) are refused;" + " only state dicts can be read");
                case 0x96, 0x97, 0x98 ->
                    throw error("protocol 5 out-of-band buffers are not supported;"
                            + " save with torch.save's default protocol 2");
                default ->
                    throw error(String.format("unknown pickle opcode 0x%02x; the file is damaged or not a pickle", op));
            }
        }
    }

    private Object persistentLoad(Object pid) throws IOException {
        if (persistent == null) {
            throw error("persistent id in a pickle that should have none");
        }
        return persistent.load(pid);
    }

    private Object key(Object k) throws TorchFormatException {
        if (k instanceof Py.Dict || k instanceof Py.PyList) {
            throw error("unhashable " + Py.typeName(k) + " used as a dict key");
        }
        return k;
    }

    private void putPairs(Py.Dict d, List<Object> items) throws TorchFormatException {
        if (items.size() % 2 != 0) {
            throw error("odd number of items for a dict; the pickle is damaged");
        }
        for (int i = 0; i < items.size(); i += 2) {
            d.items.put(key(items.get(i)), items.get(i + 1));
        }
    }

    private List<Object> asList(Object o, String op) throws TorchFormatException {
        if (o instanceof Py.PyList l) {
            return l;
        }
        throw error(op + " on a " + Py.typeName(o) + " instead of a list; the pickle is damaged");
    }

    private Py.Dict asDict(Object o, String op) throws TorchFormatException {
        if (o instanceof Py.Dict d) {
            return d;
        }
        throw error(op + " on a " + Py.typeName(o) + " instead of a dict; the pickle is damaged");
    }

    private Object longBytes(long n) throws IOException {
        if (n < 0 || n > MAX_LONG_BYTES) {
            throw error("integer of " + n + " bytes; state dicts hold no integers that large");
        }
        byte[] le = in.bytes(n, "LONG");
        if (n == 0) {
            return 0L;
        }
        byte[] be = new byte[le.length];
        for (int i = 0; i < le.length; i++) {
            be[i] = le[le.length - 1 - i];
        }
        BigInteger v = new BigInteger(be);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private Object parseIntLine(String s) throws TorchFormatException {
        String t = s.trim();
        if ("01".equals(t)) {
            return Boolean.TRUE;
        }
        if ("00".equals(t)) {
            return Boolean.FALSE;
        }
        if (t.length() > MAX_LONG_BYTES * 3 || !t.matches("[+-]?[0-9]+")) {
            throw error("INT/LONG opcode holds '" + (t.length() > 40 ? t.substring(0, 40) + "..." : t)
                    + "', not an integer");
        }
        BigInteger v = new BigInteger(t);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private long parseIndex(String s) throws TorchFormatException {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw error("memo index '" + s + "' is not a number");
        }
    }

    /** The allowlist: anything not named here is refused before it could be used. */
    private Py.Global global(String module, String name) throws TorchFormatException {
        boolean ok = switch (module) {
            case "collections" -> name.equals("OrderedDict");
            case "torch._utils" ->
                name.equals("_rebuild_tensor_v2")
                        || name.equals("_rebuild_tensor")
                        || name.equals("_rebuild_parameter")
                        || name.equals("_rebuild_parameter_with_state");
            case "torch" ->
                TorchDType.ofStorageClass(name) != null
                        || name.equals("Size")
                        || name.equals("device")
                        || TORCH_DTYPES.contains(name);
            case "_codecs" -> name.equals("encode");
            case "builtins", "__builtin__" -> name.equals("set") || name.equals("frozenset");
            default -> false;
        };
        if (!ok) {
            String hint = module.equals("torch") && name.endsWith("Storage")
                    ? " (storage type " + name
                            + " is not supported; convert the tensor to a supported dtype before saving)"
                    : "; a state dict needs none: save model.state_dict() rather than the model or other objects";
            throw error("refusing pickle global '" + module + "." + name + "'" + hint);
        }
        return new Py.Global(module, name);
    }

    private Py.Tuple tupleArgs(Object args, Py.Global g) throws TorchFormatException {
        if (args instanceof Py.Tuple t) {
            return t;
        }
        throw error(g + " called with " + Py.typeName(args) + " instead of an argument tuple");
    }

    private Object newObject(Object cls, Object args) throws TorchFormatException {
        if (cls instanceof Py.Global g
                && (g.name().equals("OrderedDict") || g.name().endsWith("set"))) {
            return reduce(cls, args);
        }
        throw error("NEWOBJ of " + Py.typeName(cls) + " is refused; only OrderedDict and set are constructed");
    }

    private Object reduce(Object callable, Object argsObject) throws TorchFormatException {
        if (!(callable instanceof Py.Global g)) {
            throw error("REDUCE on a " + Py.typeName(callable) + ", which is not callable");
        }
        Py.Tuple args = tupleArgs(argsObject, g);
        switch (g.module() + "." + g.name()) {
            case "collections.OrderedDict": {
                Py.Dict d = new Py.Dict();
                if (args.size() == 1 && args.get(0) instanceof Py.PyList pairs) {
                    for (Object p : pairs) {
                        if (!(p instanceof Py.Tuple t) || t.size() != 2) {
                            throw error("OrderedDict built from something other than (key, value) pairs");
                        }
                        d.items.put(key(t.get(0)), t.get(1));
                    }
                } else if (args.size() != 0) {
                    throw error("OrderedDict called with " + args.size() + " arguments");
                }
                return d;
            }
            case "torch._utils._rebuild_tensor":
            case "torch._utils._rebuild_tensor_v2": {
                int min = g.name().endsWith("v2") ? 6 : 4;
                if (args.size() < 4 || (min == 6 && args.size() > 7)) {
                    throw error(g + " called with " + args.size() + " arguments; expected " + min);
                }
                if (!(args.get(0) instanceof Py.Storage s)) {
                    throw error(g + " needs a storage first, got " + Py.typeName(args.get(0)));
                }
                long offset = asLong(args.get(1), "storage offset");
                long[] size = longs(args.get(2), "size");
                long[] stride = longs(args.get(3), "stride");
                return new Py.Tensor(s, offset, size, stride);
            }
            case "torch._utils._rebuild_parameter":
            case "torch._utils._rebuild_parameter_with_state": {
                if (args.size() < 1 || !(args.get(0) instanceof Py.Tensor)) {
                    throw error(g + " needs a tensor first");
                }
                return args.get(0);
            }
            case "torch.Size": {
                if (args.size() != 1) {
                    throw error("torch.Size called with " + args.size() + " arguments");
                }
                Object a = args.get(0);
                if (a instanceof Py.PyList l) {
                    return new Py.Tuple(new ArrayList<>(l));
                }
                if (a instanceof Py.Tuple) {
                    return a;
                }
                throw error("torch.Size built from a " + Py.typeName(a));
            }
            case "torch.device": {
                if (args.size() < 1 || !(args.get(0) instanceof String)) {
                    throw error("torch.device needs a string");
                }
                return args.size() > 1 ? args.get(0) + ":" + args.get(1) : args.get(0);
            }
            case "_codecs.encode": {
                if (args.size() != 2 || !(args.get(0) instanceof String s) || !(args.get(1) instanceof String enc)) {
                    throw error("_codecs.encode needs (str, encoding)");
                }
                if (enc.equals("latin1") || enc.equals("latin-1")) {
                    return s.getBytes(StandardCharsets.ISO_8859_1);
                }
                if (enc.equals("utf-8") || enc.equals("utf8")) {
                    return s.getBytes(StandardCharsets.UTF_8);
                }
                throw error("_codecs.encode with encoding '" + enc + "' is not supported");
            }
            case "builtins.set":
            case "builtins.frozenset":
            case "__builtin__.set":
            case "__builtin__.frozenset": {
                Py.PyList l = new Py.PyList();
                if (args.size() == 1 && args.get(0) instanceof Py.PyList src) {
                    l.addAll(src);
                } else if (args.size() == 1 && args.get(0) instanceof Py.Tuple src) {
                    l.addAll(src.items());
                } else if (args.size() != 0) {
                    throw error(g + " built from a " + Py.typeName(args.get(0)));
                }
                return l;
            }
            default:
                throw error(g + " is not callable here; it may only appear inside a persistent id");
        }
    }

    private void build(Object target, Object state) throws TorchFormatException {
        if (target instanceof Py.Dict d && state instanceof Py.Dict s) {
            for (Map.Entry<Object, Object> e : s.items.entrySet()) {
                d.attributes.put(String.valueOf(e.getKey()), e.getValue());
            }
            return;
        }
        if (target instanceof Py.Dict
                && state instanceof Py.Tuple t
                && t.size() == 2
                && t.get(1) == null
                && t.get(0) instanceof Py.Dict s) {
            build(target, s);
            return;
        }
        throw error("BUILD of a " + Py.typeName(target) + " with a " + Py.typeName(state)
                + " is refused; only attributes of an OrderedDict (such as _metadata) are set");
    }

    private long asLong(Object o, String what) throws TorchFormatException {
        if (o instanceof Long l) {
            return l;
        }
        if (o instanceof Boolean b) {
            return b ? 1 : 0;
        }
        throw error(what + " is a " + Py.typeName(o) + ", not an integer that fits 64 bits");
    }

    private long[] longs(Object o, String what) throws TorchFormatException {
        List<Object> items;
        if (o instanceof Py.Tuple t) {
            items = t.items();
        } else if (o instanceof Py.PyList l) {
            items = l;
        } else {
            throw error(what + " is a " + Py.typeName(o) + ", not a tuple of integers");
        }
        long[] r = new long[items.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = asLong(items.get(i), what + "[" + i + "]");
        }
        return r;
    }
}
