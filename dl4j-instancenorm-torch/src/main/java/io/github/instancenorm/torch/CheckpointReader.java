package io.github.instancenorm.torch;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Detects the format of a checkpoint from its first bytes and reads it into a {@link StateDict}:
 * the {@code torch.save} zip format, the legacy format of PyTorch before 1.6, or safetensors.
 */
final class CheckpointReader {
    private static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
    private static final long LEGACY_PROTOCOL = 1001;
    private static final int MAX_DEPTH = 100;
    private static final long MAX_NODES = 10_000_000;
    private static final long MAX_SAFETENSORS_HEADER = 100L << 20;
    /** The file-format versions PyTorch's own reader accepts ({@code caffe2/serialize/versions.h}); torch.save
     * writes 3, and the records this reader uses are the same in all of them. */
    private static final int MIN_ZIP_VERSION = 1;

    private static final int MAX_ZIP_VERSION = 10;

    /** Resolves a tensor description to an array. */
    private interface Tensors {
        TensorBuilder.Blob blob(Py.Storage s) throws IOException;
    }

    private CheckpointReader() {}

    static StateDict read(ByteSource src, String name) throws IOException {
        try {
            return dispatch(src, name);
        } catch (TorchFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new TorchFormatException(name + ": " + e.getMessage() + "; the file is truncated or damaged", e);
        } catch (StackOverflowError | OutOfMemoryError e) {
            throw new TorchFormatException(
                    name + ": the checkpoint needs more memory or nesting than is available (" + e
                            + "); it is damaged, or raise -Xmx / -Xss",
                    e);
        } catch (RuntimeException e) {
            // ND4J or an unforeseen path; every failure still leaves as the library's exception
            throw new TorchFormatException(name + ": cannot read the checkpoint: " + e, e);
        }
    }

    private static StateDict dispatch(ByteSource src, String name) throws IOException {
        long size = src.size();
        byte[] head = src.bytes(0, Math.min(size, 16), "file header");
        if (head.length >= 4 && head[0] == 'P' && head[1] == 'K' && (head[2] == 3 || head[2] == 5)) {
            return readZip(src, name);
        }
        if (head.length >= 2 && (head[0] & 0xff) == 0x80) {
            return readLegacy(src, name);
        }
        if (head.length >= 9 && head[8] == '{') {
            return readSafetensors(src, name);
        }
        if (size >= 262 && new String(src.bytes(257, 5, "tar header"), StandardCharsets.ISO_8859_1).equals("ustar")) {
            throw new TorchFormatException(name + ": a tar checkpoint from PyTorch before 0.4 is not supported;"
                    + " load it in PyTorch and save it again with torch.save");
        }
        throw new TorchFormatException(
                name + ": not a PyTorch checkpoint (zip or legacy pickle) nor a safetensors file;"
                        + " it starts with bytes " + hex(head));
    }

    private static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < Math.min(8, b.length); i++) {
            s.append(String.format("%02x", b[i] & 0xff));
        }
        return s.toString();
    }

    // ---------------------------------------------------------------- zip

    private static StateDict readZip(ByteSource src, String name) throws IOException {
        ZipArchive zip = new ZipArchive(src);
        ZipArchive.Entry pkl = null;
        for (ZipArchive.Entry e : zip.entries().values()) {
            String n = e.name();
            if (n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - "/data.pkl".length()) {
                pkl = e;
                break;
            }
            if (n.equals("data.pkl")) {
                pkl = e;
                break;
            }
        }
        if (pkl == null) {
            throw new TorchFormatException(
                    name + ": zip file without a data.pkl record; it is not a torch.save checkpoint"
                            + " (TorchScript archives saved with torch.jit.save are not supported)");
        }
        String prefix = pkl.name().substring(0, pkl.name().length() - "data.pkl".length());
        checkVersion(zip, prefix, name);
        boolean big = false;
        ZipArchive.Entry order = zip.entries().get(prefix + "byteorder");
        if (order != null && order.size() < 16) {
            String o = new String(zip.read(order), StandardCharsets.US_ASCII).trim();
            if (o.equals("big")) {
                big = true;
            } else if (!o.equals("little")) {
                throw new TorchFormatException(name + ": unknown byteorder record '" + o + "'");
            }
        }
        final boolean bigEndian = big;
        byte[] pickle = zip.read(pkl);
        Map<String, Py.Storage> storages = new HashMap<>();
        Unpickler u = new Unpickler(new Cursor(new ByteSource.OfArray(pickle), 0, name + " data.pkl"), pid -> {
            StorageId id = storageId(pid, name);
            TorchDType dtype = id.dtype();
            String key = id.key();
            long numel = id.numel();
            Py.Storage prev = storages.get(key);
            if (prev != null) {
                if (prev.dtype() != dtype || prev.numel() != numel) {
                    throw new TorchFormatException(
                            name + ": storage '" + key + "' is declared twice with different types or sizes");
                }
                return prev;
            }
            Py.Storage s = new Py.Storage(dtype, key, numel, 0);
            storages.put(key, s);
            return s;
        });
        Object root = u.load();
        Map<String, TensorBuilder.Blob> blobs = new HashMap<>();
        Tensors resolver = s -> {
            TensorBuilder.Blob b = blobs.get(s.key());
            if (b != null) {
                return b;
            }
            ZipArchive.Entry e = zip.entries().get(prefix + "data/" + s.key());
            if (e == null) {
                throw new TorchFormatException(name + ": storage '" + s.key() + "' has no record " + prefix + "data/"
                        + s.key() + " in the zip; the checkpoint is incomplete");
            }
            long need = multiply(s.numel(), s.dtype().elementSize(), name);
            if (e.size() < need) {
                throw new TorchFormatException(
                        name + ": storage '" + s.key() + "' declares " + s.numel() + " elements of " + s.dtype() + " ("
                                + need + " bytes) but its record holds " + e.size() + " bytes");
            }
            if (e.method() == 0) {
                b = new TensorBuilder.Blob(src, zip.dataOffset(e), e.size(), bigEndian);
            } else {
                byte[] data = zip.read(e);
                b = new TensorBuilder.Blob(new ByteSource.OfArray(data), 0, data.length, bigEndian);
            }
            blobs.put(s.key(), b);
            return b;
        };
        return toStateDict(root, resolver, name);
    }

    private static long multiply(long a, long b, String name) throws TorchFormatException {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new TorchFormatException(name + ": storage size " + a + " overflows; the checkpoint is damaged");
        }
    }

    /**
     * A persistent id as both formats write it: {@code ('storage', storage class, key, location, numel)}, which
     * the legacy format follows with a view {@code (root key, offset, numel)} or {@code None}.
     */
    private record StorageId(TorchDType dtype, String key, long numel, Object view) {}

    private static StorageId storageId(Object pid, String name) throws TorchFormatException {
        if (!(pid instanceof Py.Tuple t) || t.size() < 5 || !"storage".equals(t.get(0))) {
            throw new TorchFormatException(name + ": persistent id " + Py.typeName(pid)
                    + " is not a ('storage', ...) tuple; only tensors can be referenced from a state dict");
        }
        return new StorageId(
                storageType(t.get(1), name),
                String.valueOf(t.get(2)),
                pidLong(t.get(4), name),
                t.size() > 5 ? t.get(5) : null);
    }

    private static TorchDType storageType(Object o, String name) throws TorchFormatException {
        if (o instanceof Py.Global g && g.module().equals("torch")) {
            TorchDType d = TorchDType.ofStorageClass(g.name());
            if (d != null) {
                return d;
            }
        }
        throw new TorchFormatException(
                name + ": storage type " + Py.typeName(o) + " is not a supported torch storage class");
    }

    private static long pidLong(Object o, String name) throws TorchFormatException {
        if (o instanceof Long l && l >= 0) {
            return l;
        }
        throw new TorchFormatException(name + ": storage size " + o + " is not a non-negative integer");
    }

    // ---------------------------------------------------------------- legacy

    private static StateDict readLegacy(ByteSource src, String name) throws IOException {
        Cursor c = new Cursor(src, 0, name);
        Object magic = new Unpickler(c, null).load();
        if (!(magic instanceof BigInteger m) || !m.equals(LEGACY_MAGIC)) {
            throw new TorchFormatException(name + ": starts with a pickle but not with PyTorch's magic number;"
                    + " it is a plain pickle, not a torch.save checkpoint");
        }
        Object protocol = new Unpickler(c, null).load();
        if (!(protocol instanceof Long p) || p != LEGACY_PROTOCOL) {
            throw new TorchFormatException(
                    name + ": legacy checkpoint protocol " + protocol + " is not " + LEGACY_PROTOCOL);
        }
        Object sysInfo = new Unpickler(c, null).load();
        boolean big = false;
        if (sysInfo instanceof Py.Dict d && Boolean.FALSE.equals(d.items.get("little_endian"))) {
            big = true;
        }
        final boolean bigEndian = big;
        Map<String, TorchDType> rootTypes = new HashMap<>();
        Map<String, Long> rootNumel = new HashMap<>();
        List<Py.Storage> views = new ArrayList<>();
        Object root = new Unpickler(c, pid -> {
                    StorageId id = storageId(pid, name);
                    TorchDType dtype = id.dtype();
                    String key = id.key();
                    long numel = id.numel();
                    TorchDType prev = rootTypes.putIfAbsent(key, dtype);
                    if (prev != null && prev != dtype) {
                        throw new TorchFormatException(name + ": storage '" + key + "' is declared with two dtypes");
                    }
                    Object view = id.view();
                    Py.Storage s;
                    if (view == null) {
                        rootNumel.merge(key, numel, Math::max);
                        s = new Py.Storage(dtype, key, numel, 0);
                    } else {
                        if (!(view instanceof Py.Tuple v) || v.size() != 3) {
                            throw new TorchFormatException(name + ": storage view metadata is not (key, offset, size)");
                        }
                        long off = pidLong(v.get(1), name);
                        long n = pidLong(v.get(2), name);
                        s = new Py.Storage(dtype, key, n, off);
                        rootNumel.merge(key, numel, Math::max);
                    }
                    views.add(s);
                    return s;
                })
                .load();
        Object keys = new Unpickler(c, null).load();
        if (!(keys instanceof Py.PyList keyList)) {
            throw new TorchFormatException(
                    name + ": legacy checkpoint lacks the list of storage keys after the data pickle");
        }
        Map<String, TensorBuilder.Blob> blobs = new HashMap<>();
        for (Object k : keyList) {
            String key = String.valueOf(k);
            TorchDType dtype = rootTypes.get(key);
            if (dtype == null) {
                throw new TorchFormatException(
                        name + ": storage '" + key + "' is stored but no tensor declares its type");
            }
            long numel = c.i64("storage size of '" + key + "'");
            if (numel < 0) {
                throw new TorchFormatException(name + ": storage '" + key + "' declares negative size " + numel);
            }
            long bytes = multiply(numel, dtype.elementSize(), name);
            long pos = c.position();
            c.skip(bytes, "storage '" + key + "'");
            blobs.put(key, new TensorBuilder.Blob(src, pos, bytes, bigEndian));
        }
        for (Py.Storage s : views) {
            TensorBuilder.Blob b = blobs.get(s.key());
            if (b == null) {
                throw new TorchFormatException(
                        name + ": storage '" + s.key() + "' is used but not stored; the checkpoint is incomplete");
            }
        }
        Tensors resolver = s -> blobs.get(s.key());
        return toStateDict(root, resolver, name);
    }

    /** Reads {@code archive/version} and refuses what PyTorch's reader refuses: no record, or a version outside
     * {@code [MIN_ZIP_VERSION, MAX_ZIP_VERSION]}. */
    private static void checkVersion(ZipArchive zip, String prefix, String name) throws IOException {
        ZipArchive.Entry record = zip.entries().get(prefix + "version");
        if (record == null) {
            throw new TorchFormatException(name + ": zip checkpoint without a " + prefix + "version record;"
                    + " torch.save always writes one, so the file is incomplete or not from torch.save");
        }
        String text = record.size() <= 16
                ? new String(zip.read(record), StandardCharsets.US_ASCII).trim()
                : "(" + record.size() + " bytes)";
        int version;
        try {
            version = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new TorchFormatException(name + ": " + prefix + "version record '" + text + "' is not a number");
        }
        if (version < MIN_ZIP_VERSION || version > MAX_ZIP_VERSION) {
            throw new TorchFormatException(name + ": checkpoint file-format version " + version + " is not in ["
                    + MIN_ZIP_VERSION + ", " + MAX_ZIP_VERSION + "], the versions PyTorch's reader accepts; save it"
                    + " again with a PyTorch that reads it");
        }
    }

    // ---------------------------------------------------------------- safetensors

    private static StateDict readSafetensors(ByteSource src, String name) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        src.read(0, h, "safetensors header length");
        long n = h.getLong(0);
        if (n < 2 || n > src.size() - 8 || n > MAX_SAFETENSORS_HEADER) {
            throw new TorchFormatException(name + ": safetensors header length " + n + " does not fit the " + src.size()
                    + "-byte file; it is truncated or not a safetensors file");
        }
        String json = new String(src.bytes(8, n, "safetensors header"), StandardCharsets.UTF_8);
        Object parsed = Json.parse(json);
        if (!(parsed instanceof Map<?, ?> header)) {
            throw new TorchFormatException(name + ": safetensors header is not a JSON object");
        }
        long dataStart = 8 + n;
        long dataSize = src.size() - dataStart;
        LinkedHashMap<String, Object> entries = new LinkedHashMap<>();
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String key = (String) e.getKey();
            if (key.equals("__metadata__")) {
                if (e.getValue() instanceof Map<?, ?> m) {
                    for (Map.Entry<?, ?> me : m.entrySet()) {
                        metadata.put(String.valueOf(me.getKey()), me.getValue());
                    }
                }
                continue;
            }
            if (!(e.getValue() instanceof Map<?, ?> info)) {
                throw new TorchFormatException(name + ": safetensors entry '" + key + "' is not an object");
            }
            TorchDType dtype = info.get("dtype") instanceof String code ? TorchDType.ofSafetensors(code) : null;
            if (dtype == null) {
                throw new TorchFormatException(name + ": safetensors entry '" + key + "' has unsupported dtype "
                        + info.get("dtype") + "; supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL");
            }
            long[] shape = longList(info.get("shape"), key, "shape", name);
            long[] off = longList(info.get("data_offsets"), key, "data_offsets", name);
            if (off.length != 2 || off[0] < 0 || off[1] < off[0] || off[1] > dataSize) {
                throw new TorchFormatException(name + ": safetensors entry '" + key + "' has data_offsets "
                        + java.util.Arrays.toString(off) + " outside the " + dataSize + "-byte data section");
            }
            long numel = 1;
            long[] stride = new long[shape.length];
            try {
                for (int i = shape.length - 1; i >= 0; i--) {
                    if (shape[i] < 0) {
                        throw new TorchFormatException(
                                name + ": safetensors entry '" + key + "' has a negative dimension");
                    }
                    stride[i] = numel;
                    numel = Math.multiplyExact(numel, shape[i]);
                }
                if (Math.multiplyExact(numel, dtype.elementSize()) != off[1] - off[0]) {
                    throw new TorchFormatException(name + ": safetensors entry '" + key + "' of shape "
                            + java.util.Arrays.toString(shape) + " " + dtype + " needs " + numel * dtype.elementSize()
                            + " bytes but data_offsets give " + (off[1] - off[0]));
                }
            } catch (ArithmeticException ex) {
                throw new TorchFormatException(name + ": safetensors entry '" + key + "' has a shape that overflows");
            }
            Py.Tensor t = new Py.Tensor(new Py.Storage(dtype, key, numel, 0), 0, shape, stride);
            entries.put(
                    key,
                    TensorBuilder.build(
                            key, t, new TensorBuilder.Blob(src, dataStart + off[0], off[1] - off[0], false)));
        }
        return new StateDict(entries, metadata);
    }

    private static long[] longList(Object o, String key, String field, String name) throws TorchFormatException {
        if (!(o instanceof List<?> l) || l.size() > TensorBuilder.MAX_RANK) {
            throw new TorchFormatException(name + ": safetensors entry '" + key + "' lacks a valid " + field);
        }
        long[] r = new long[l.size()];
        for (int i = 0; i < r.length; i++) {
            if (!(l.get(i) instanceof Long v)) {
                throw new TorchFormatException(
                        name + ": safetensors entry '" + key + "' has a non-integer in " + field);
            }
            r[i] = v;
        }
        return r;
    }

    // ---------------------------------------------------------------- values

    private static StateDict toStateDict(Object root, Tensors tensors, String name) throws IOException {
        if (!(root instanceof Py.Dict d)) {
            throw new TorchFormatException(name + ": the checkpoint holds a " + Py.typeName(root)
                    + ", not a dict; save a state dict: torch.save(model.state_dict(), path)");
        }
        long[] budget = {MAX_NODES};
        return dict(d, tensors, name, "", 0, budget);
    }

    private static StateDict dict(Py.Dict d, Tensors tensors, String name, String path, int depth, long[] budget)
            throws IOException {
        LinkedHashMap<String, Object> entries = new LinkedHashMap<>();
        for (Map.Entry<Object, Object> e : d.items.entrySet()) {
            String k = String.valueOf(e.getKey());
            entries.put(k, convert(e.getValue(), tensors, name, path + k, depth + 1, budget));
        }
        Map<String, Object> attrs = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : d.attributes.entrySet()) {
            attrs.put(e.getKey(), convert(e.getValue(), tensors, name, path + e.getKey(), depth + 1, budget));
        }
        return new StateDict(entries, attrs);
    }

    private static Object convert(Object o, Tensors tensors, String name, String path, int depth, long[] budget)
            throws IOException {
        if (depth > MAX_DEPTH) {
            throw new TorchFormatException(name + ": values nested deeper than " + MAX_DEPTH + " at '" + path
                    + "' (or a reference cycle); the checkpoint is damaged");
        }
        if (--budget[0] < 0) {
            throw new TorchFormatException(name + ": more than " + MAX_NODES + " values (shared references repeated);"
                    + " the checkpoint is damaged");
        }
        if (o instanceof Py.Tensor t) {
            return TensorBuilder.build(path, t, tensors.blob(t.storage()));
        }
        if (o instanceof Py.Dict d) {
            return dict(d, tensors, name, path + ".", depth, budget);
        }
        if (o instanceof Py.Tuple t) {
            return list(t.items(), tensors, name, path, depth, budget);
        }
        if (o instanceof Py.PyList l) {
            return list(l, tensors, name, path, depth, budget);
        }
        if (o instanceof Py.Global g) {
            return g.toString();
        }
        if (o instanceof Py.Storage) {
            throw new TorchFormatException(
                    name + ": '" + path + "' is a bare storage, not a tensor; save tensors instead");
        }
        return o;
    }

    private static List<Object> list(
            List<Object> items, Tensors tensors, String name, String path, int depth, long[] budget)
            throws IOException {
        List<Object> r = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++) {
            r.add(convert(items.get(i), tensors, name, path + "[" + i + "]", depth + 1, budget));
        }
        return Collections.unmodifiableList(r);
    }
}
