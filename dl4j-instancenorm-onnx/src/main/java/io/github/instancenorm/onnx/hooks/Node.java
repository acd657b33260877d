package io.github.instancenorm.onnx.hooks;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * One ONNX node as an import hook sees it: its inputs as SameDiff variables, its attributes with ONNX's defaults,
 * and a description for error messages.
 */
final class Node {
    private final String opType;
    private final SameDiff sd;
    private final SameDiffOp op;
    private final Map<String, ?> attributes;
    private final List<String> outputNames;

    Node(String opType, SameDiff sd, SameDiffOp op, Map<String, ?> attributes, List<String> outputNames) {
        this.opType = opType;
        this.sd = sd;
        this.op = op;
        this.attributes = attributes;
        this.outputNames = outputNames;
    }

    /**
     * The import's limit on one array, in bytes: the system property {@code io.github.instancenorm.onnx.maxArrayBytes},
     * 256 MiB by default (as {@code OnnxModels} documents it).
     */
    static long maxArrayBytes() {
        Long bytes = Long.getLong("io.github.instancenorm.onnx.maxArrayBytes");
        return bytes == null || bytes <= 0 ? 256L << 20 : bytes;
    }

    /**
     * Refuses a result of {@code shape} before the op that would allocate it is added: M2.1 imports eagerly, and
     * libnd4j crashes the JVM where it cannot allocate a result (a damaged pad or stride asks for petabytes).
     */
    static void checkResultSize(String what, long[] shape, DataType type) {
        long elements = 1;
        for (long d : shape) {
            if (d < 0 || d > 0 && elements > Integer.MAX_VALUE / d) {
                throw new IllegalArgumentException(what + " of shape " + Arrays.toString(shape)
                        + " would be above 2^31-1 elements (a damaged file?)");
            }
            elements *= d;
        }
        long bytes = elements * Math.max(1, type.width());
        if (bytes > maxArrayBytes()) {
            throw new IllegalArgumentException(what + " of shape " + Arrays.toString(shape) + " would take " + bytes
                    + " bytes, above the import's limit of " + maxArrayBytes()
                    + " (system property io.github.instancenorm.onnx.maxArrayBytes)");
        }
    }

    /** @return the input's shape while importing (M2.1 imports eagerly, so it is usually known), or null */
    static long[] knownShape(SDVariable v) {
        if (v.getArr() != null) {
            return v.getArr().shape();
        }
        return v.getShape();
    }

    /** @return "ONNX node 'name' (OpType)" */
    String describe() {
        return "ONNX node '" + op.getName() + "' (" + opType + ")";
    }

    /** @return the names of the node's outputs, in ONNX order */
    List<String> outputs() {
        return outputNames;
    }

    /** @return whether output {@code i} exists and is named (ONNX marks an unused optional output with "") */
    boolean hasOutput(int i) {
        return i < outputNames.size() && !outputNames.get(i).isEmpty();
    }

    /**
     * @param i the input's index
     * @return the input, or null where an optional input is absent
     */
    SDVariable input(int i) {
        List<String> inputs = op.getInputsToOp();
        if (inputs == null || i >= inputs.size() || inputs.get(i).isEmpty()) {
            return null;
        }
        SDVariable v = sd.getVariable(inputs.get(i));
        if (v == null) {
            throw new IllegalArgumentException("input " + i + " ('" + inputs.get(i) + "') is not in the graph");
        }
        return v;
    }

    /** @return input {@code i}, which ONNX requires */
    SDVariable required(int i, String what) {
        SDVariable v = input(i);
        if (v == null) {
            throw new IllegalArgumentException("missing input " + i + " (" + what + ")");
        }
        return v;
    }

    /** @return a scalar attribute, or {@code defaultValue} where the node does not set it */
    double number(String name, double defaultValue) {
        Object v = attributes.get(name);
        if (v == null) {
            return defaultValue;
        }
        if (!(v instanceof Number n)) {
            throw new IllegalArgumentException("attribute " + name + " should be a number, got " + v);
        }
        return n.doubleValue();
    }

    /** @return a string attribute, or {@code defaultValue} */
    String string(String name, String defaultValue) {
        Object v = attributes.get(name);
        return v == null ? defaultValue : v.toString();
    }

    /** @return whether the node sets the attribute */
    boolean has(String name) {
        return attributes.containsKey(name) && attributes.get(name) != null;
    }

    /**
     * @return an integer-list attribute, or {@code defaultValue} where the node does not set it
     */
    long[] longs(String name, long[] defaultValue) {
        Object v = attributes.get(name);
        if (v == null) {
            return defaultValue;
        }
        if (v instanceof Number n) {
            return new long[] {n.longValue()};
        }
        if (!(v instanceof List<?> list)) {
            throw new IllegalArgumentException("attribute " + name + " should be a list of integers, got " + v);
        }
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Number n)) {
                throw new IllegalArgumentException("attribute " + name + " should be a list of integers, got " + v);
            }
            out[i] = n.longValue();
        }
        return out;
    }
}
