package io.github.instancenorm.onnx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
    private ConstantFolding() {}

    /** @return {@code graph} with foldable nodes replaced by initializers */
    static Onnx.GraphProto fold(Onnx.GraphProto graph) {
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
        for (Onnx.NodeProto original : graph.getNodeList()) {
            Onnx.NodeProto.Builder rewired = original.toBuilder();
            for (int i = 0; i < rewired.getInputCount(); i++) {
                rewired.setInput(i, renamed.getOrDefault(rewired.getInput(i), rewired.getInput(i)));
            }
            Onnx.NodeProto node = rewired.build();
            INDArray value = node.getOutputCount() == 1 ? evaluate(node, constants) : null;
            if (value != null) {
                constants.put(node.getOutput(0), value);
                folded.add(toTensor(node.getOutput(0), value));
                continue;
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
    private static INDArray evaluate(Onnx.NodeProto node, Map<String, INDArray> constants) {
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
        switch (node.getOpType()) {
            case "Identity":
                return in.get(0);
            case "Shape":
                return Nd4j.createFromArray(in.get(0).shape());
            case "ConstantOfShape": {
                long[] shape = in.get(0).toLongVector();
                INDArray fill =
                        attrs.containsKey("value") ? toArray(attrs.get("value").getT()) : null;
                if (attrs.containsKey("value") && fill == null) {
                    return null;
                }
                DataType type = fill == null ? DataType.FLOAT : fill.dataType();
                double v = fill == null ? 0 : fill.getDouble(0);
                return Nd4j.valueArrayOf(shape, v, type);
            }
            case "Expand": {
                INDArray x = in.get(0);
                long[] target = in.get(1).toLongVector();
                long[] shape = broadcast(x.shape(), target);
                return shape == null
                        ? null
                        : withRank(x, shape.length).broadcast(shape).dup();
            }
            case "Tile": {
                long[] reps = in.get(1).toLongVector();
                if (reps.length != in.get(0).rank()) {
                    return null;
                }
                return Nd4j.tile(
                        in.get(0),
                        Arrays.stream(reps).mapToInt(Math::toIntExact).toArray());
            }
            case "Unsqueeze": {
                long[] axes = in.size() > 1 ? in.get(1).toLongVector() : ints(attrs.get("axes"));
                if (axes == null) {
                    return null;
                }
                int rank = in.get(0).rank() + axes.length;
                List<Long> shape = new ArrayList<>();
                boolean[] inserted = new boolean[rank];
                for (long a : axes) {
                    inserted[(int) (a < 0 ? a + rank : a)] = true;
                }
                int k = 0;
                for (int d = 0; d < rank; d++) {
                    shape.add(inserted[d] ? 1L : in.get(0).size(k++));
                }
                return in.get(0)
                        .reshape(shape.stream().mapToLong(Long::longValue).toArray())
                        .dup();
            }
            case "Reshape": {
                if (attrs.containsKey("allowzero") && attrs.get("allowzero").getI() != 0) {
                    return null;
                }
                long[] shape = in.get(1).toLongVector().clone();
                for (int d = 0; d < shape.length; d++) {
                    if (shape[d] == 0) {
                        shape[d] = in.get(0).size(d);
                    }
                }
                return in.get(0).reshape(shape).dup();
            }
            case "Concat": {
                int axis = (int) attrs.get("axis").getI();
                INDArray[] parts = in.toArray(new INDArray[0]);
                return Nd4j.concat(axis < 0 ? axis + parts[0].rank() : axis, parts);
            }
            case "Transpose": {
                long[] perm = ints(attrs.get("perm"));
                int[] p = perm == null
                        ? java.util.stream.IntStream.range(0, in.get(0).rank())
                                .map(d -> in.get(0).rank() - 1 - d)
                                .toArray()
                        : Arrays.stream(perm).mapToInt(Math::toIntExact).toArray();
                return in.get(0).permute(p).dup('c');
            }
            case "Cast": {
                DataType to = dataType((int) attrs.get("to").getI());
                boolean writable = to == DataType.FLOAT
                        || to == DataType.DOUBLE
                        || to == DataType.INT64
                        || to == DataType.INT32; // the types toTensor writes
                return writable ? in.get(0).castTo(to) : null;
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
                org.nd4j.linalg.indexing.INDArrayIndex[] index = new org.nd4j.linalg.indexing.INDArrayIndex[x.rank()];
                Arrays.fill(index, org.nd4j.linalg.indexing.NDArrayIndex.all());
                for (int i = 0; i < starts.length; i++) {
                    int axis = (int) (axes == null ? i : axes[i] < 0 ? axes[i] + x.rank() : axes[i]);
                    long[] picked = sliceIndices(starts[i], ends[i], steps == null ? 1 : steps[i], x.size(axis));
                    if (picked == null || picked.length == 0) {
                        return null;
                    }
                    index[axis] = org.nd4j.linalg.indexing.NDArrayIndex.indices(picked);
                }
                return x.get(index).dup('c');
            }
            default:
                return null;
        }
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
        switch (Onnx.TensorProto.DataType.forNumber(t.getDataType())) {
            case FLOAT: {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) {
                    v[i] = raw != null ? raw.getFloat(4 * i) : t.getFloatData(i);
                }
                return Nd4j.create(v, shape, 'c');
            }
            case DOUBLE: {
                double[] v = new double[n];
                for (int i = 0; i < n; i++) {
                    v[i] = raw != null ? raw.getDouble(8 * i) : t.getDoubleData(i);
                }
                return Nd4j.create(v, shape, 'c');
            }
            case INT64: {
                long[] v = new long[n];
                for (int i = 0; i < n; i++) {
                    v[i] = raw != null ? raw.getLong(8 * i) : t.getInt64Data(i);
                }
                return Nd4j.createFromArray(v).reshape(shape);
            }
            case INT32: {
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
