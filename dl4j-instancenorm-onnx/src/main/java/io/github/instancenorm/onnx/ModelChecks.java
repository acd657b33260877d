package io.github.instancenorm.onnx;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import onnx.Onnx;

/**
 * Checks an ONNX model before anything is built from it, where DL4J 1.0.0-M2.1's importer (or this module's
 * folding) would otherwise fail with an untyped exception, allocate what a damaged size asks for, or crash the JVM:
 * every tensor's dimensions, element count and data length; that every name a node reads is defined before it; and
 * the ranges of the attributes that size arrays. Each refusal is an {@link OnnxFormatException} naming the node or
 * tensor.
 */
final class ModelChecks {
    /** libnd4j's largest rank. */
    static final int MAX_RANK = 32;
    /** The largest kernel size, dilation or group accepted; far above any real network's. */
    static final long MAX_KERNEL = 4096;
    /**
     * The largest stride, pad or output padding accepted: far above any real network's, and small enough that the
     * padded or strided result of a small input stays far below the memory limits (a pad of 65536 on every axis
     * made libnd4j crash allocating the result).
     */
    static final long MAX_PAD = 1024;
    /** The largest number of values in one integer-list attribute. */
    private static final int MAX_INTS = 4096;
    /** Nesting of subgraphs (If, Loop, Scan) checked before giving up. */
    private static final int MAX_DEPTH = 16;

    private final Path file;
    private final ImportLimits limits;

    ModelChecks(Path file, ImportLimits limits) {
        this.file = file;
        this.limits = limits;
    }

    /** Checks the whole graph: tensors, names, attributes and the graph inputs' declared shapes. */
    void check(Onnx.GraphProto graph) throws OnnxFormatException {
        checkTensors(graph, 0);
        if (graph.getSparseInitializerCount() > 0) {
            throw refuse(
                    "tensor '" + graph.getSparseInitializer(0).getValues().getName() + "'",
                    "sparse initializers are not supported");
        }
        Set<String> defined = new HashSet<>();
        Set<String> initializers = new HashSet<>();
        for (Onnx.TensorProto t : graph.getInitializerList()) {
            if (t.getName().isEmpty()) {
                throw refuse("an initializer", "has no name");
            }
            if (!initializers.add(t.getName())) {
                throw refuse(tensor(t.getName()), "is defined twice");
            }
        }
        defined.addAll(initializers);
        for (Onnx.ValueInfoProto input : graph.getInputList()) {
            if (input.getName().isEmpty()) {
                throw refuse("a graph input", "has no name");
            }
            if (!initializers.contains(input.getName())) {
                if (!defined.add(input.getName())) {
                    throw refuse("input '" + input.getName() + "'", "is declared twice");
                }
                checkInput(input);
            }
        }
        List<Onnx.NodeProto> nodes = graph.getNodeList();
        for (int i = 0; i < nodes.size(); i++) {
            Onnx.NodeProto node = nodes.get(i);
            String name = describe(node, i);
            if (node.getOpType().isEmpty()) {
                throw refuse(name, "has no op type");
            }
            if (node.getOutputCount() == 0) {
                throw refuse(name, "has no outputs");
            }
            for (String in : node.getInputList()) {
                if (!in.isEmpty() && !defined.contains(in)) {
                    throw refuse(name, "reads '" + in + "', which no graph input, initializer or earlier node defines");
                }
            }
            checkAttributes(node, name);
            for (String out : node.getOutputList()) {
                if (!out.isEmpty() && !defined.add(out)) {
                    throw refuse(name, "defines '" + out + "', which is already defined");
                }
            }
        }
        if (graph.getOutputCount() == 0) {
            throw refuse(null, "the graph has no outputs");
        }
        for (Onnx.ValueInfoProto output : graph.getOutputList()) {
            if (!defined.contains(output.getName())) {
                throw refuse("output '" + output.getName() + "'", "is not defined by any node, input or initializer");
            }
        }
    }

    /** @return "node 'name' (OpType)", or, for a node without a name, its index and first output */
    static String describe(Onnx.NodeProto node, int index) {
        String name = node.getName().isEmpty()
                ? "#" + index + (node.getOutputCount() > 0 ? " -> '" + node.getOutput(0) + "'" : "")
                : "'" + node.getName() + "'";
        return "node " + name + " (" + node.getOpType() + ")";
    }

    static String tensor(String name) {
        return "tensor '" + name + "'";
    }

    /** A graph input without an initializer: the import feeds it an example value of its declared shape. */
    private void checkInput(Onnx.ValueInfoProto input) throws OnnxFormatException {
        String name = "input '" + input.getName() + "'";
        Onnx.TypeProto type = input.getType();
        if (!type.hasTensorType()) {
            throw refuse(name, "is not a tensor (sequences, maps and optionals are not supported)");
        }
        Onnx.TypeProto.Tensor tensor = type.getTensorType();
        if (ConstantFolding.dataType(tensor.getElemType()) == null) {
            throw refuse(
                    name,
                    "has ONNX element type " + tensor.getElemType()
                            + ", which this importer does not feed (float, double, float16, int32, int64 and bool"
                            + " are)");
        }
        List<Onnx.TensorShapeProto.Dimension> dims = tensor.getShape().getDimList();
        if (dims.size() > MAX_RANK) {
            throw refuse(name, "has rank " + dims.size() + ", above libnd4j's " + MAX_RANK);
        }
        long elements = 1;
        for (Onnx.TensorShapeProto.Dimension d : dims) {
            if (d.hasDimValue() && d.getDimValue() < 0) {
                throw refuse(name, "has a negative dimension " + d.getDimValue() + " in " + dims(dims));
            }
            long size = d.hasDimValue() && d.getDimValue() > 0 ? d.getDimValue() : 1;
            elements = timesWithin(elements, size, Integer.MAX_VALUE);
            if (elements < 0) {
                throw refuse(name, "has more than 2^31-1 elements: " + dims(dims));
            }
        }
        long bytes = elements * ConstantFolding.dataType(tensor.getElemType()).width();
        limits.checkArray(file, name, bytes, "its example value for the import");
    }

    private static String dims(List<Onnx.TensorShapeProto.Dimension> dims) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < dims.size(); i++) {
            Onnx.TensorShapeProto.Dimension d = dims.get(i);
            s.append(i == 0 ? "" : ", ").append(d.hasDimValue() ? Long.toString(d.getDimValue()) : d.getDimParam());
        }
        return s.append("]").toString();
    }

    private void checkTensors(Onnx.GraphProto graph, int depth) throws OnnxFormatException {
        if (depth > MAX_DEPTH) {
            throw refuse(null, "subgraphs nested deeper than " + MAX_DEPTH);
        }
        for (Onnx.TensorProto t : graph.getInitializerList()) {
            checkTensor(t, tensor(t.getName()));
        }
        for (int i = 0; i < graph.getNodeCount(); i++) {
            Onnx.NodeProto node = graph.getNode(i);
            for (Onnx.AttributeProto a : node.getAttributeList()) {
                String where = describe(node, i) + ", attribute '" + a.getName() + "'";
                if (a.hasT()) {
                    checkTensor(a.getT(), where);
                }
                for (Onnx.TensorProto t : a.getTensorsList()) {
                    checkTensor(t, where);
                }
                if (a.hasG()) {
                    checkTensors(a.getG(), depth + 1);
                }
                for (Onnx.GraphProto g : a.getGraphsList()) {
                    checkTensors(g, depth + 1);
                }
            }
        }
    }

    /**
     * A tensor's dimensions are non-negative, its element count fits in an int, and its data holds exactly that
     * many elements: so the data the file holds bounds every array built from it.
     */
    void checkTensor(Onnx.TensorProto t, String name) throws OnnxFormatException {
        int type = t.getDataType();
        int width = width(type);
        if (width == 0) {
            throw refuse(name, "has ONNX data type " + type + ", which is unknown or not supported");
        }
        if (t.getDataLocation() == Onnx.TensorProto.DataLocation.EXTERNAL || t.getExternalDataCount() > 0) {
            throw refuse(name, "keeps its data in an external file, which is not supported");
        }
        if (t.hasSegment()) {
            throw refuse(name, "is a segment of a tensor, which is not supported");
        }
        if (t.getDimsCount() > MAX_RANK) {
            throw refuse(name, "has rank " + t.getDimsCount() + ", above libnd4j's " + MAX_RANK);
        }
        long elements = 1;
        for (long d : t.getDimsList()) {
            if (d < 0) {
                throw refuse(name, "has a negative dimension in " + t.getDimsList());
            }
            elements = timesWithin(elements, d, Integer.MAX_VALUE);
            if (elements < 0) {
                throw refuse(name, "has more than 2^31-1 elements: dimensions " + t.getDimsList());
            }
        }
        if (elements == 0 && t.getDimsCount() > 1) {
            // libnd4j's shape functions crash the JVM on such arrays (a bit flip that turned raw_data into 16
            // dimensions of 0 did); an empty vector, which exporters write for absent inputs, is kept.
            throw refuse(
                    name,
                    "is empty with " + t.getDimsCount() + " dimensions " + t.getDimsList()
                            + ": only an empty vector is supported");
        }
        long bytes = elements * width;
        if (!t.getRawData().isEmpty()) {
            if (t.getRawData().size() != bytes) {
                throw refuse(
                        name,
                        "holds " + t.getRawData().size() + " bytes of raw data, but its dimensions " + t.getDimsList()
                                + " of " + width + "-byte elements need " + bytes);
            }
        } else {
            long values = typedValues(t);
            long expected = elements * (complex(type) ? 2 : 1);
            if (values != expected) {
                throw refuse(
                        name,
                        "holds " + values + " values, but its dimensions " + t.getDimsList() + " need " + expected);
            }
        }
    }

    private void checkAttributes(Onnx.NodeProto node, String name) throws OnnxFormatException {
        Set<String> seen = new HashSet<>();
        for (Onnx.AttributeProto a : node.getAttributeList()) {
            String attr = "attribute " + a.getName();
            if (a.getName().isEmpty() || !seen.add(a.getName())) {
                throw refuse(name, "has an attribute without a name, or one twice ('" + a.getName() + "')");
            }
            if (a.getType() == Onnx.AttributeProto.AttributeType.UNDEFINED
                    || a.getType() == Onnx.AttributeProto.AttributeType.UNRECOGNIZED) {
                throw refuse(name, attr + " has no type");
            }
            if (a.getType() == Onnx.AttributeProto.AttributeType.TENSOR && !a.hasT()
                    || a.getType() == Onnx.AttributeProto.AttributeType.GRAPH && !a.hasG()) {
                throw refuse(name, attr + " has type " + a.getType() + " but holds no value of it");
            }
            if (a.getIntsCount() > MAX_INTS || a.getFloatsCount() > MAX_INTS) {
                throw refuse(name, attr + " has more than " + MAX_INTS + " values");
            }
            switch (a.getName()) {
                case "kernel_shape", "dilations", "group" -> range(name, a, 1, MAX_KERNEL);
                case "strides" -> range(name, a, 1, MAX_PAD);
                case "pads" -> range(name, a, node.getOpType().equals("Pad") ? -MAX_PAD : 0, MAX_PAD);
                case "output_padding" -> range(name, a, 0, MAX_PAD);
                case "axis", "axes" -> range(name, a, -MAX_RANK, MAX_RANK);
                case "perm" -> range(name, a, 0, MAX_RANK - 1);
                case "to" -> {
                    if (node.getOpType().equals("Cast") && width((int) a.getI()) == 0) {
                        throw refuse(name, attr + ": unknown ONNX data type " + a.getI());
                    }
                }
                default -> {}
            }
        }
    }

    private void range(String node, Onnx.AttributeProto a, long min, long max) throws OnnxFormatException {
        List<Long> values = a.getType() == Onnx.AttributeProto.AttributeType.INT ? List.of(a.getI()) : a.getIntsList();
        if (values.size() > MAX_RANK * 2) {
            throw refuse(node, "attribute " + a.getName() + " has " + values.size() + " values");
        }
        for (long v : values) {
            if (v < min || v > max) {
                throw refuse(
                        node,
                        "attribute " + a.getName() + " = " + values + " is out of range: each value must be in [" + min
                                + ", " + max + "]");
            }
        }
    }

    /** @return how many values the typed field of the tensor's type holds */
    private static long typedValues(Onnx.TensorProto t) {
        return switch (t.getDataType()) {
            case Onnx.TensorProto.DataType.FLOAT_VALUE, Onnx.TensorProto.DataType.COMPLEX64_VALUE ->
                t.getFloatDataCount();
            case Onnx.TensorProto.DataType.DOUBLE_VALUE, Onnx.TensorProto.DataType.COMPLEX128_VALUE ->
                t.getDoubleDataCount();
            case Onnx.TensorProto.DataType.INT64_VALUE -> t.getInt64DataCount();
            case Onnx.TensorProto.DataType.UINT32_VALUE, Onnx.TensorProto.DataType.UINT64_VALUE ->
                t.getUint64DataCount();
            case Onnx.TensorProto.DataType.STRING_VALUE -> t.getStringDataCount();
            default -> t.getInt32DataCount(); // int32, int16, int8, uint16, uint8, bool, float16, bfloat16
        };
    }

    private static boolean complex(int type) {
        return type == Onnx.TensorProto.DataType.COMPLEX64_VALUE || type == Onnx.TensorProto.DataType.COMPLEX128_VALUE;
    }

    /** @return the bytes of one element of an ONNX data type in raw data; 0 for an unknown or string type */
    static int width(int type) {
        return switch (type) {
            case Onnx.TensorProto.DataType.UINT8_VALUE,
                    Onnx.TensorProto.DataType.INT8_VALUE,
                    Onnx.TensorProto.DataType.BOOL_VALUE -> 1;
            case Onnx.TensorProto.DataType.UINT16_VALUE,
                    Onnx.TensorProto.DataType.INT16_VALUE,
                    Onnx.TensorProto.DataType.FLOAT16_VALUE,
                    Onnx.TensorProto.DataType.BFLOAT16_VALUE -> 2;
            case Onnx.TensorProto.DataType.FLOAT_VALUE,
                    Onnx.TensorProto.DataType.INT32_VALUE,
                    Onnx.TensorProto.DataType.UINT32_VALUE -> 4;
            case Onnx.TensorProto.DataType.INT64_VALUE,
                    Onnx.TensorProto.DataType.DOUBLE_VALUE,
                    Onnx.TensorProto.DataType.UINT64_VALUE,
                    Onnx.TensorProto.DataType.COMPLEX64_VALUE -> 8;
            case Onnx.TensorProto.DataType.COMPLEX128_VALUE -> 16;
            default -> 0;
        };
    }

    /** @return {@code a * b} for non-negative factors, or -1 where it is above {@code max} */
    static long timesWithin(long a, long b, long max) {
        if (a == 0 || b == 0) {
            return 0;
        }
        return a > max / b ? -1 : a * b;
    }

    private OnnxFormatException refuse(String element, String problem) {
        return new OnnxFormatException(file, element, problem, null);
    }
}
