package io.github.instancenorm.torch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The few Python values the pickle machine builds. Python's None is Java null, bool is
 * {@link Boolean}, int is {@link Long} (or {@link java.math.BigInteger}), float is {@link Double},
 * str is {@link String} and bytes is {@code byte[]}.
 */
final class Py {
    private Py() {}

    /** A Python tuple. */
    record Tuple(List<Object> items) {
        int size() {
            return items.size();
        }

        Object get(int i) {
            return items.get(i);
        }
    }

    /** A Python list (also used for sets, whose order does not matter here). */
    static final class PyList extends ArrayList<Object> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean equals(Object o) {
            return this == o;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(this);
        }
    }

    /** A Python dict or OrderedDict, with the instance attributes a BUILD gave it. */
    static final class Dict {
        final Map<Object, Object> items = new LinkedHashMap<>();
        final Map<String, Object> attributes = new LinkedHashMap<>();
    }

    /** A global the allowlist accepted, e.g. {@code collections.OrderedDict}. */
    record Global(String module, String name) {
        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    /** A storage named by a persistent id; {@code offset} is the element offset of a legacy storage view. */
    record Storage(TorchDType dtype, String key, long numel, long offset) {}

    /** A tensor described by {@code _rebuild_tensor_v2}: a view of a storage. */
    record Tensor(Storage storage, long offset, long[] size, long[] stride) {
        @Override
        public boolean equals(Object o) {
            return this == o;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(this);
        }

        @Override
        public String toString() {
            return "tensor(" + storage.dtype() + Arrays.toString(size) + ")";
        }
    }

    static String typeName(Object o) {
        if (o == null) {
            return "None";
        }
        if (o instanceof Tuple) {
            return "tuple";
        }
        if (o instanceof PyList) {
            return "list";
        }
        if (o instanceof Dict) {
            return "dict";
        }
        if (o instanceof Global g) {
            return "global " + g;
        }
        if (o instanceof String) {
            return "str";
        }
        if (o instanceof byte[]) {
            return "bytes";
        }
        if (o instanceof Long || o instanceof java.math.BigInteger) {
            return "int";
        }
        if (o instanceof Double) {
            return "float";
        }
        if (o instanceof Boolean) {
            return "bool";
        }
        if (o instanceof Storage) {
            return "storage";
        }
        if (o instanceof Tensor) {
            return "tensor";
        }
        return o.getClass().getSimpleName();
    }
}
