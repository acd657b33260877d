package io.github.instancenorm.torch;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes the {@code data.pkl} of a {@code torch.save} zip in pickle protocol 2, using only the
 * globals {@code torch.load(..., weights_only=True)} accepts: {@code collections.OrderedDict},
 * {@code torch._utils._rebuild_tensor_v2} and the {@code torch.*Storage} classes. A {@link StateDict} is
 * written as an OrderedDict; a {@link Py.Dict} as a plain dict, whose keys may be strings or integers (an
 * optimizer's {@code state} is keyed by parameter index), and a {@link Py.Tuple} as a tuple.
 */
final class PickleWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ToIntFunction<INDArray> storageKey;

    /** @param storageKey assigns each array the name of its storage record */
    PickleWriter(ToIntFunction<INDArray> storageKey) {
        this.storageKey = storageKey;
    }

    byte[] write(StateDict sd) throws TorchFormatException {
        return write((Object) sd);
    }

    /** @param root a {@link StateDict}, a {@link Py.Dict} or any other value {@link #value} writes */
    byte[] write(Object root) throws TorchFormatException {
        out.write(0x80);
        out.write(2);
        value(root, "", 0);
        out.write('.');
        return out.toByteArray();
    }

    private void global(String module, String name) {
        out.write('c');
        ascii(module + "\n" + name + "\n");
    }

    private void ascii(String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        out.write(b, 0, b.length);
    }

    private void str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.write('X');
        int32(b.length);
        out.write(b, 0, b.length);
    }

    private void int32(int v) {
        out.write(v);
        out.write(v >>> 8);
        out.write(v >>> 16);
        out.write(v >>> 24);
    }

    private void integer(long v) {
        if (v >= 0 && v < 256) {
            out.write('K');
            out.write((int) v);
        } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            out.write('J');
            int32((int) v);
        } else {
            bigInteger(BigInteger.valueOf(v));
        }
    }

    private void bigInteger(BigInteger v) {
        byte[] be = v.toByteArray();
        out.write(0x8a);
        out.write(be.length);
        for (int i = be.length - 1; i >= 0; i--) {
            out.write(be[i]);
        }
    }

    private void emptyOrderedDict() {
        global("collections", "OrderedDict");
        out.write(')');
        out.write('R');
    }

    private void dict(StateDict sd, int depth) throws TorchFormatException {
        emptyOrderedDict();
        Map<String, Object> entries = sd.entries();
        if (entries.isEmpty()) {
            return;
        }
        out.write('(');
        for (Map.Entry<String, Object> e : entries.entrySet()) {
            str(e.getKey());
            value(e.getValue(), e.getKey(), depth + 1);
        }
        out.write('u');
    }

    private void value(Object v, String key, int depth) throws TorchFormatException {
        if (depth > 100) {
            throw new TorchFormatException(
                    "'" + key + "' is nested deeper than 100 levels (a cycle?); cannot write it");
        }
        if (v == null) {
            out.write('N');
        } else if (v instanceof Boolean b) {
            out.write(b ? 0x88 : 0x89);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            integer(((Number) v).longValue());
        } else if (v instanceof BigInteger b) {
            bigInteger(b);
        } else if (v instanceof Double || v instanceof Float) {
            out.write('G');
            long bits = Double.doubleToLongBits(((Number) v).doubleValue());
            for (int i = 7; i >= 0; i--) {
                out.write((int) (bits >>> (8 * i)));
            }
        } else if (v instanceof String s) {
            str(s);
        } else if (v instanceof byte[] b) {
            out.write('B');
            int32(b.length);
            out.write(b, 0, b.length);
        } else if (v instanceof StateDict sd) {
            dict(sd, depth);
        } else if (v instanceof Py.Dict d) {
            plainDict(d, key, depth);
        } else if (v instanceof Py.Tuple t) {
            tuple(t, key, depth);
        } else if (v instanceof List<?> l) {
            out.write(']');
            if (!l.isEmpty()) {
                out.write('(');
                for (Object o : l) {
                    value(o, key, depth + 1);
                }
                out.write('e');
            }
        } else if (v instanceof INDArray a) {
            tensor(a);
        } else {
            throw new TorchFormatException("'" + key + "' is a " + v.getClass().getName() + ", which has no PyTorch"
                    + " equivalent; store tensors, dicts, numbers, strings, booleans, lists or null");
        }
    }

    private void plainDict(Py.Dict d, String key, int depth) throws TorchFormatException {
        out.write('}');
        if (d.items.isEmpty()) {
            return;
        }
        out.write('(');
        for (Map.Entry<Object, Object> e : d.items.entrySet()) {
            Object k = e.getKey();
            if (!(k instanceof String || k instanceof Long || k instanceof Integer)) {
                throw new TorchFormatException("'" + key + "' has the key " + k + " of type "
                        + (k == null ? "null" : k.getClass().getName()) + "; dict keys are written as str or int");
            }
            String name = key.isEmpty() ? String.valueOf(k) : key + "." + k;
            value(k, name, depth + 1);
            value(e.getValue(), name, depth + 1);
        }
        out.write('u');
    }

    private void tuple(Py.Tuple t, String key, int depth) throws TorchFormatException {
        int n = t.size();
        if (n == 0) {
            out.write(')');
            return;
        }
        if (n > 3) {
            out.write('(');
        }
        for (Object o : t.items()) {
            value(o, key, depth + 1);
        }
        out.write(n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't'); // TUPLE1..3 as pickle writes them
    }

    private void tensor(INDArray a) throws TorchFormatException {
        TorchDType dtype = TorchDType.of(a.dataType());
        long[] shape = a.shape();
        global("torch._utils", "_rebuild_tensor_v2");
        out.write('(');
        // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
        out.write('(');
        str("storage");
        global("torch", dtype.storageClass());
        str(Integer.toString(storageKey.applyAsInt(a)));
        str("cpu");
        integer(a.isEmpty() ? 0 : a.length());
        out.write('t');
        out.write('Q');
        integer(0);
        out.write('(');
        for (long s : shape) {
            integer(s);
        }
        out.write('t');
        out.write('(');
        long stride = 1;
        long[] strides = new long[shape.length];
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= Math.max(1, shape[i]);
        }
        for (long s : strides) {
            integer(s);
        }
        out.write('t');
        out.write(0x89); // requires_grad
        emptyOrderedDict(); // backward hooks
        out.write('t');
        out.write('R');
    }
}
