package io.github.instancenorm.onnx.hooks;

import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;

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
