package io.github.instancenorm.onnx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import onnx.Onnx;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.shade.protobuf.ByteString;

/**
 * Folds the shape plumbing of PyTorch's exports into initializers before DL4J 1.0.0-M2.1 imports them: the nodes
 * whose inputs are all constants, among {@code Shape}, {@code ConstantOfShape}, {@code Expand}, {@code Tile},
 * {@code Unsqueeze}, {@code Reshape}, {@code Concat}, {@code Slice}, {@code Transpose}, {@code Cast} and
 * {@code Identity}; and {@code Expand} by a shape of ones, which leaves an input of at least that rank as it is,
 * is removed (its consumers read its input).
 *
 * <p>PyTorch writes such chains for every instance norm with running statistics (the statistics and the affine
 * parameters tiled to {@code N*C}), for StarGAN's label tiling ({@code Expand} by ones, then {@code Tile}), and for
 * {@code ReflectionPad2d}'s pads (CycleGAN).
 * M2.1 imports them into ops that fail, or crash the JVM in {@code libnd4j}'s shape calculation when the graph runs
 * ({@code ConstantOfShape} with a graph-computed shape). Folded, the graph holds only the arithmetic. Written
 * here because neither ND4J nor Maven Central has a Java ONNX constant folder; the ops are the few above, with
 * ND4J doing the array work.
 */
final class ConstantFolding {
    private final Path file;
    private final ImportLimits limits;
    /** The node being folded, for error messages. */
    private String node;

    private ConstantFolding(Path file, ImportLimits limits) {
        this.file = file;
        this.limits = limits;
    }

    /**
     * @param file   the model's file, for error messages
     * @param graph  a graph that passed {@link ModelChecks}
     * @param limits the budget for the folded values: each is checked against it before it is allocated
     * @return {@code graph} with foldable nodes replaced by initializers
     * @throws OnnxFormatException where a foldable node's constant inputs are inconsistent (a shape with negative
     *                             sizes, a permutation that is not one, ...) or its value is above the limits
     */
    static Onnx.GraphProto fold(Path file, Onnx.GraphProto graph, ImportLimits limits) throws OnnxFormatException {
        return new ConstantFolding(file, limits).fold(graph);
    }

    private Onnx.GraphProto fold(Onnx.GraphProto graph) throws OnnxFormatException {
        Map<String, INDArray> constants = new HashMap<>();
        for (Onnx.TensorProto t : graph.getInitializerList()) {
            INDArray a = toArray(t);
            if (a != null) {
                constants.put(t.getName(), a);
            }
        }
        Map<String, Integer> ranks = new HashMap<>();
        for (Onnx.ValueInfoProto v : graph.getInputList()) {
            if (v.getType().getTensorType().hasShape()) {
                ranks.put(v.getName(), v.getType().getTensorType().getShape().getDimCount());
            }
        }
        java.util.Set<String> graphOutputs = new java.util.HashSet<>();
        graph.getOutputList().forEach(o -> graphOutputs.add(o.getName()));
        Map<String, String> renamed = new HashMap<>();
        Onnx.GraphProto.Builder out = graph.toBuilder().clearNode();
        List<Onnx.TensorProto> folded = new ArrayList<>();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            Onnx.NodeProto original = graph.getNode(i);
            Onnx.NodeProto.Builder rewired = original.toBuilder();
            for (int k = 0; k < rewired.getInputCount(); k++) {
                rewired.setInput(k, renamed.getOrDefault(rewired.getInput(k), rewired.getInput(k)));
            }
            Onnx.NodeProto node = rewired.build();
            this.node = ModelChecks.describe(node, i);
            INDArray value;
            try {
                value = node.getOutputCount() == 1 ? evaluate(node, constants) : null;
                if (value != null) {
                    constants.put(node.getOutput(0), value);
                    folded.add(toTensor(node.getOutput(0), value));
                    continue;
                }
            } catch (RuntimeException e) {
                // ND4J's own checks of what the node asks (the checks here come first where sizes are computed)
                throw refuse("could not be folded into a constant: " + e, e);
            }
            if (node.getOpType().equals("Expand")
                    && !graphOutputs.contains(node.getOutput(0))
                    && expandsByOnes(node, constants, ranks)) {
                // Its consumers read its input instead (M2.1's Identity confuses the Tile after it).
                renamed.put(node.getOutput(0), node.getInput(0));
                continue;
            }
            if (node.getOpType().equals("Reshape")
                    && node.getInputCount() == 2
                    && constants.containsKey(node.getInput(1))) {
                ranks.put(
                        node.getOutput(0), (int) constants.get(node.getInput(1)).length());
            }
            out.addNode(node);
        }
        folded.forEach(out::addInitializer);
        return out.build();
    }

    private static boolean expandsByOnes(
            Onnx.NodeProto node, Map<String, INDArray> constants, Map<String, Integer> ranks) {
        if (node.getInputCount() != 2) {
            return false;
        }
        INDArray shape = constants.get(node.getInput(1));
        Integer rank = ranks.get(node.getInput(0));
        if (shape == null || rank == null || shape.length() > rank) {
            return false;
        }
        for (long s : shape.toLongVector()) {
            if (s != 1) {
                return false;
            }
        }
        return true;
    }

    /** @return the node's value, or null where it is not one of the folded ops or an input is not constant */
    private INDArray evaluate(Onnx.NodeProto node, Map<String, INDArray> constants) throws OnnxFormatException {
        List<INDArray> in = new ArrayList<>();
        for (String name : node.getInputList()) {
            if (name.isEmpty()) {
                in.add(null);
                continue;
            }
            INDArray a = constants.get(name);
            if (a == null) {
                return null;
            }
            in.add(a);
        }
        Map<String, Onnx.AttributeProto> attrs = new HashMap<>();
        node.getAttributeList().forEach(a -> attrs.put(a.getName(), a));
        int required = switch (node.getOpType()) {
            case "Identity", "Shape", "ConstantOfShape", "Transpose", "Cast" -> 1;
            case "Expand", "Tile" -> 2;
            case "Reshape" -> attrs.containsKey("shape") ? 1 : 2;
            case "Unsqueeze" -> attrs.containsKey("axes") ? 1 : 2;
            case "Slice" -> attrs.containsKey("starts") ? 1 : 3;
            case "Concat" -> 1;
            default -> 0;
        };
        if (required == 0) {
            return null;
        }
        for (int k = 0; k < required; k++) {
            if (k >= in.size() || in.get(k) == null) {
                throw refuse("input " + k + " is missing", null);
            }
        }
        switch (node.getOpType()) {
            case "Identity":
                return in.get(0);
            case "Shape":
                return fold(Nd4j.createFromArray(in.get(0).shape()));
            case "ConstantOfShape": {
                long[] shape = shape(in.get(0), 1, "the shape"); // empty arrays crash libnd4j's shape functions
                INDArray fill =
                        attrs.containsKey("value") ? toArray(attrs.get("value").getT()) : null;
                if (attrs.containsKey("value") && fill == null) {
                    return null;
                }
                if (fill != null && fill.length() != 1) {
                    throw refuse("the value attribute holds " + fill.length() + " elements, not 1", null);
                }
                DataType type = fill == null ? DataType.FLOAT : fill.dataType();
                budget(elements(shape), type);
                double v = fill == null ? 0 : fill.getDouble(0);
                return Nd4j.valueArrayOf(shape, v, type);
            }
            case "Expand": {
                INDArray x = in.get(0);
                long[] target = shape(in.get(1), 1, "the target shape");
                long[] shape = broadcast(x.shape(), target);
                if (shape == null) {
                    throw refuse(
                            "cannot expand " + Arrays.toString(x.shape()) + " to " + Arrays.toString(target), null);
                }
                budget(elements(shape), x.dataType());
                return withRank(x, shape.length).broadcast(shape).dup();
            }
            case "Tile": {
                INDArray x = in.get(0);
                long[] reps = shape(in.get(1), 1, "repeats");
                if (reps.length != x.rank()) {
                    throw refuse(
                            "expected " + x.rank() + " repeats for input of shape " + Arrays.toString(x.shape())
                                    + ", got " + Arrays.toString(reps),
                            null);
                }
                long[] shape = new long[reps.length];
                for (int d = 0; d < reps.length; d++) {
                    shape[d] = ModelChecks.timesWithin(x.size(d), reps[d], Integer.MAX_VALUE);
                    if (shape[d] < 0) {
                        throw refuse(
                                "tiles " + Arrays.toString(x.shape()) + " by " + Arrays.toString(reps)
                                        + ": above 2^31-1 elements",
                                null);
                    }
                }
                budget(elements(shape), x.dataType());
                return Nd4j.tile(
                        x, Arrays.stream(reps).mapToInt(Math::toIntExact).toArray());
            }
            case "Unsqueeze": {
                INDArray x = in.get(0);
                long[] axes = in.size() > 1 ? in.get(1).toLongVector() : ints(attrs.get("axes"));
                int rank = x.rank() + Math.min(axes.length, ModelChecks.MAX_RANK + 1);
                if (rank > ModelChecks.MAX_RANK) {
                    throw refuse("the result's rank " + rank + " is above libnd4j's " + ModelChecks.MAX_RANK, null);
                }
                List<Long> shape = new ArrayList<>();
                boolean[] inserted = new boolean[rank];
                for (long a : axes) {
                    long axis = a < 0 ? a + rank : a;
                    if (axis < 0 || axis >= rank || inserted[(int) axis]) {
                        throw refuse("axes " + Arrays.toString(axes) + " for rank " + rank, null);
                    }
                    inserted[(int) axis] = true;
                }
                int k = 0;
                for (int d = 0; d < rank; d++) {
                    shape.add(inserted[d] ? 1L : x.size(k++));
                }
                budget(x.length(), x.dataType());
                return x.reshape(shape.stream().mapToLong(Long::longValue).toArray())
                        .dup();
            }
            case "Reshape": {
                if (attrs.containsKey("allowzero") && attrs.get("allowzero").getI() != 0) {
                    return null;
                }
                INDArray x = in.get(0);
                long[] shape = in.size() > 1 ? in.get(1).toLongVector().clone() : ints(attrs.get("shape"));
                budget(x.length(), x.dataType());
                return x.reshape(reshaped(x, shape)).dup();
            }
            case "Concat": {
                if (!attrs.containsKey("axis")) {
                    throw refuse("the axis attribute is missing", null);
                }
                INDArray[] parts = in.toArray(new INDArray[0]);
                int rank = parts[0].rank();
                long axisAttr = attrs.get("axis").getI();
                long axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
                if (axis < 0 || axis >= rank) {
                    throw refuse("axis " + axisAttr + " for inputs of rank " + rank, null);
                }
                long length = 0;
                for (INDArray p : parts) {
                    if (p == null || p.rank() != rank) {
                        throw refuse("the inputs' ranks differ", null);
                    }
                    for (int d = 0; d < rank; d++) {
                        if (d != axis && p.size(d) != parts[0].size(d)) {
                            throw refuse(
                                    "cannot concatenate " + Arrays.toString(parts[0].shape()) + " and "
                                            + Arrays.toString(p.shape()) + " along axis " + axis,
                                    null);
                        }
                    }
                    if (p.dataType() != parts[0].dataType()) {
                        throw refuse("the inputs' types differ", null);
                    }
                    length += p.length();
                }
                budget(length, parts[0].dataType());
                return Nd4j.concat((int) axis, parts);
            }
            case "Transpose": {
                INDArray x = in.get(0);
                long[] perm = ints(attrs.get("perm"));
                int[] p = perm == null
                        ? java.util.stream.IntStream.range(0, x.rank())
                                .map(d -> x.rank() - 1 - d)
                                .toArray()
                        : Arrays.stream(perm).mapToInt(v -> (int) v).toArray();
                int[] sorted = p.clone();
                Arrays.sort(sorted);
                for (int d = 0; d < sorted.length; d++) {
                    if (sorted[d] != d || sorted.length != x.rank()) {
                        throw refuse(
                                "perm " + Arrays.toString(p) + " is not a permutation of the input's " + x.rank()
                                        + " axes",
                                null);
                    }
                }
                budget(x.length(), x.dataType());
                return x.permute(p).dup('c');
            }
            case "Cast": {
                if (!attrs.containsKey("to")) {
                    throw refuse("the to attribute is missing", null);
                }
                DataType to = dataType((int) attrs.get("to").getI());
                boolean writable = to == DataType.FLOAT
                        || to == DataType.DOUBLE
                        || to == DataType.INT64
                        || to == DataType.INT32; // the types toTensor writes
                if (!writable) {
                    return null;
                }
                budget(in.get(0).length(), to);
                return in.get(0).castTo(to);
            }
            case "Slice": {
                if (in.size() < 3) {
                    return null; // opset 1-9 attributes form
                }
                INDArray x = in.get(0);
                long[] starts = in.get(1).toLongVector();
                long[] ends = in.get(2).toLongVector();
                long[] axes = in.size() > 3 && in.get(3) != null ? in.get(3).toLongVector() : null;
                long[] steps = in.size() > 4 && in.get(4) != null ? in.get(4).toLongVector() : null;
                if (starts.length != ends.length
                        || axes != null && axes.length != starts.length
                        || steps != null && steps.length != starts.length
                        || starts.length > x.rank()) {
                    throw refuse(
                            "starts " + Arrays.toString(starts) + ", ends " + Arrays.toString(ends) + ", axes "
                                    + Arrays.toString(axes) + " and steps " + Arrays.toString(steps)
                                    + " do not fit an input of shape " + Arrays.toString(x.shape()),
                            null);
                }
                org.nd4j.linalg.indexing.INDArrayIndex[] index = new org.nd4j.linalg.indexing.INDArrayIndex[x.rank()];
                Arrays.fill(index, org.nd4j.linalg.indexing.NDArrayIndex.all());
                for (int i = 0; i < starts.length; i++) {
                    long axis = axes == null ? i : axes[i] < 0 ? axes[i] + x.rank() : axes[i];
                    if (axis < 0 || axis >= x.rank()) {
                        throw refuse("axis " + axes[i] + " for an input of rank " + x.rank(), null);
                    }
                    long[] picked = sliceIndices(starts[i], ends[i], steps == null ? 1 : steps[i], x.size((int) axis));
                    if (picked == null || picked.length == 0) {
                        return null;
                    }
                    index[(int) axis] = org.nd4j.linalg.indexing.NDArrayIndex.indices(picked);
                }
                budget(x.length(), x.dataType());
                return x.get(index).dup('c');
            }
            default:
                return null;
        }
    }

    /** @return a shape input's values, each at least {@code min}, at most libnd4j's rank */
    private long[] shape(INDArray values, long min, String what) throws OnnxFormatException {
        if (values.rank() > 1) {
            throw refuse(what + " should be a vector, got shape " + Arrays.toString(values.shape()), null);
        }
        if (values.length() > ModelChecks.MAX_RANK) {
            throw refuse(
                    what + " has " + values.length() + " values, above libnd4j's rank " + ModelChecks.MAX_RANK, null);
        }
        long[] v = values.toLongVector();
        for (long d : v) {
            if (d < min) {
                throw refuse(what + " " + Arrays.toString(v) + " holds a value below " + min, null);
            }
        }
        return v;
    }

    /** @return the product of the sizes, or -1 where it is above 2^31-1 */
    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = ModelChecks.timesWithin(n, d, Integer.MAX_VALUE);
            if (n < 0) {
                return -1;
            }
        }
        return n;
    }

    /** @return ONNX's {@code Reshape} target with its 0s and -1 resolved, checked against the input's length */
    private long[] reshaped(INDArray x, long[] shape) throws OnnxFormatException {
        if (shape == null || shape.length > ModelChecks.MAX_RANK) {
            throw refuse("the target shape is missing or above libnd4j's rank " + ModelChecks.MAX_RANK, null);
        }
        long[] out = shape.clone();
        int inferred = -1;
        long known = 1;
        for (int d = 0; d < out.length; d++) {
            if (out[d] == 0) {
                if (d >= x.rank()) {
                    throw refuse(
                            "target shape " + Arrays.toString(shape) + " copies axis " + d + " of a rank " + x.rank()
                                    + " input",
                            null);
                }
                out[d] = x.size(d);
            }
            if (out[d] == -1 && inferred < 0) {
                inferred = d;
                continue;
            }
            if (out[d] < 0) {
                throw refuse("target shape " + Arrays.toString(shape) + " holds a negative size", null);
            }
            known = ModelChecks.timesWithin(known, out[d], Integer.MAX_VALUE);
            if (known < 0) {
                throw refuse("target shape " + Arrays.toString(shape) + " has above 2^31-1 elements", null);
            }
        }
        if (inferred >= 0) {
            if (known == 0 || x.length() % known != 0) {
                throw refuse("cannot reshape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(shape), null);
            }
            out[inferred] = x.length() / known;
        } else if (known != x.length()) {
            throw refuse("cannot reshape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(shape), null);
        }
        return out;
    }

    /** Counts a value of {@code elements} (-1: too many) of {@code type} against the limits, or refuses it. */
    private void budget(long elements, DataType type) throws OnnxFormatException {
        limits.fold(file, node, elements, Math.max(1, type.width()));
    }

    private INDArray fold(INDArray value) throws OnnxFormatException {
        budget(value.length(), value.dataType());
        return value;
    }

    private OnnxFormatException refuse(String problem, Throwable cause) {
        return new OnnxFormatException(file, node, problem, cause);
    }

    /** @return the indices ONNX's {@code Slice} takes along one axis (negative steps included) */
    private static long[] sliceIndices(long start, long end, long step, long size) {
        if (step == 0) {
            return null;
        }
        long b = start < 0 ? start + size : start;
        long e = end < 0 ? end + size : end;
        List<Long> out = new ArrayList<>();
        if (step > 0) {
            b = Math.max(0, Math.min(b, size));
            e = Math.max(0, Math.min(e, size));
            for (long i = b; i < e; i += step) {
                out.add(i);
            }
        } else {
            b = Math.max(-1, Math.min(b, size - 1));
            e = Math.max(-1, Math.min(e, size - 1));
            for (long i = b; i > e; i += step) {
                out.add(i);
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** @return the ND4J type of an ONNX element type, or null for one ND4J has no match for here */
    static DataType dataType(int onnxType) {
        return switch (onnxType) {
            case Onnx.TensorProto.DataType.FLOAT_VALUE -> DataType.FLOAT;
            case Onnx.TensorProto.DataType.DOUBLE_VALUE -> DataType.DOUBLE;
            case Onnx.TensorProto.DataType.FLOAT16_VALUE -> DataType.HALF;
            case Onnx.TensorProto.DataType.INT64_VALUE -> DataType.INT64;
            case Onnx.TensorProto.DataType.INT32_VALUE -> DataType.INT32;
            case Onnx.TensorProto.DataType.BOOL_VALUE -> DataType.BOOL;
            default -> null;
        };
    }

    private static long[] ints(Onnx.AttributeProto attr) {
        return attr == null
                ? null
                : attr.getIntsList().stream().mapToLong(Long::longValue).toArray();
    }

    private static INDArray withRank(INDArray x, int rank) {
        if (x.rank() == rank) {
            return x;
        }
        long[] shape = new long[rank];
        Arrays.fill(shape, 1);
        System.arraycopy(x.shape(), 0, shape, rank - x.rank(), x.rank());
        return x.reshape(shape);
    }

    /** @return numpy's broadcast of two shapes, or null where they do not broadcast */
    private static long[] broadcast(long[] a, long[] b) {
        int rank = Math.max(a.length, b.length);
        long[] out = new long[rank];
        for (int i = 0; i < rank; i++) {
            long x = i < rank - a.length ? 1 : a[i - (rank - a.length)];
            long y = i < rank - b.length ? 1 : b[i - (rank - b.length)];
            if (x != y && x != 1 && y != 1) {
                return null;
            }
            out[i] = Math.max(x, y);
        }
        return out;
    }

    /** @return the tensor's values (float, double, int32, int64), or null for another type or external data */
    static INDArray toArray(Onnx.TensorProto t) {
        long[] shape = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
        if (t.getDataLocation() == Onnx.TensorProto.DataLocation.EXTERNAL) {
            return null;
        }
        ByteBuffer raw = !t.getRawData().isEmpty()
                ? t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN)
                : null;
        int n = Math.toIntExact(Arrays.stream(shape).reduce(1, (x, y) -> x * y));
        switch (t.getDataType()) {
            case Onnx.TensorProto.DataType.FLOAT_VALUE: {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) {
                    v[i] = raw != null ? raw.getFloat(4 * i) : t.getFloatData(i);
                }
                return Nd4j.create(v, shape, 'c');
            }
            case Onnx.TensorProto.DataType.DOUBLE_VALUE: {
                double[] v = new double[n];
                for (int i = 0; i < n; i++) {
                    v[i] = raw != null ? raw.getDouble(8 * i) : t.getDoubleData(i);
                }
                return Nd4j.create(v, shape, 'c');
            }
            case Onnx.TensorProto.DataType.INT64_VALUE: {
                long[] v = new long[n];
                for (int i = 0; i < n; i++) {
                    v[i] = raw != null ? raw.getLong(8 * i) : t.getInt64Data(i);
                }
                return Nd4j.createFromArray(v).reshape(shape);
            }
            case Onnx.TensorProto.DataType.INT32_VALUE: {
                int[] v = new int[n];
                for (int i = 0; i < n; i++) {
                    v[i] = raw != null ? raw.getInt(4 * i) : t.getInt32Data(i);
                }
                return Nd4j.createFromArray(v).reshape(shape);
            }
            default:
                return null;
        }
    }

    static Onnx.TensorProto toTensor(String name, INDArray a) {
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name);
        for (long d : a.shape()) {
            t.addDims(d);
        }
        long n = a.length();
        INDArray c = a.dup('c').reshape(n);
        ByteBuffer buf;
        switch (a.dataType()) {
            case FLOAT -> {
                t.setDataType(Onnx.TensorProto.DataType.FLOAT_VALUE);
                buf = ByteBuffer.allocate(Math.toIntExact(4 * n)).order(ByteOrder.LITTLE_ENDIAN);
                for (float f : c.toFloatVector()) {
                    buf.putFloat(f);
                }
            }
            case DOUBLE -> {
                t.setDataType(Onnx.TensorProto.DataType.DOUBLE_VALUE);
                buf = ByteBuffer.allocate(Math.toIntExact(8 * n)).order(ByteOrder.LITTLE_ENDIAN);
                for (double f : c.toDoubleVector()) {
                    buf.putDouble(f);
                }
            }
            case INT -> {
                t.setDataType(Onnx.TensorProto.DataType.INT32_VALUE);
                buf = ByteBuffer.allocate(Math.toIntExact(4 * n)).order(ByteOrder.LITTLE_ENDIAN);
                for (int f : c.toIntVector()) {
                    buf.putInt(f);
                }
            }
            case LONG -> {
                t.setDataType(Onnx.TensorProto.DataType.INT64_VALUE);
                buf = ByteBuffer.allocate(Math.toIntExact(8 * n)).order(ByteOrder.LITTLE_ENDIAN);
                for (long f : c.toLongVector()) {
                    buf.putLong(f);
                }
            }
            default -> throw new IllegalStateException("folded an unexpected type " + a.dataType());
        }
        return t.setRawData(ByteString.copyFrom(buf.array())).build();
    }
}
