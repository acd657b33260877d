package io.github.instancenorm.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.Fixtures;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import onnx.Onnx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.shade.protobuf.ByteString;

/**
 * Hand-made damage, one kind per test: each file is refused with an {@link OnnxFormatException} that names the file
 * and the node or tensor, before anything of a damaged size is allocated.
 */
class HostileInputTest {
    @TempDir
    Path dir;

    @Test
    void aFlippedDimensionIsRefusedNotAllocated() throws Exception {
        Onnx.ModelProto.Builder model = fixture("convtranspose_asymmetric");
        Onnx.TensorProto.Builder w = model.getGraphBuilder().getInitializerBuilder(0);
        w.setDims(0, w.getDims(0) | 1L << 40);
        OnnxFormatException e = refused("flipped_dim", model.build());
        assertEquals("tensor '" + w.getName() + "'", e.element().orElseThrow(), e.getMessage());
    }

    @Test
    void rawDataShorterThanItsDimensionsIsRefused() throws Exception {
        Onnx.ModelProto.Builder model = fixture("convtranspose_asymmetric");
        Onnx.TensorProto.Builder w = model.getGraphBuilder().getInitializerBuilder(0);
        w.setRawData(w.getRawData().substring(0, w.getRawData().size() - 4));
        OnnxFormatException e = refused("short_raw_data", model.build());
        assertTrue(e.getMessage().contains("bytes of raw data"), e.getMessage());
        assertEquals("tensor '" + w.getName() + "'", e.element().orElseThrow());
    }

    @Test
    void anEmptyTensorOfHigherRankIsRefused() throws Exception {
        // A flipped bit in the fuzz run turned a Constant's raw_data (16 bytes) into 16 dimensions of 0: imported,
        // the empty [4, 0, ..., 0] bias crashed the JVM in libnd4j's shape calculation.
        Onnx.ModelProto.Builder model = fixture("instancenorm_ranks_norunning_opset11");
        Onnx.NodeProto.Builder constant = model.getGraphBuilder().getNodeBuilderList().stream()
                .filter(n -> n.getOpType().equals("Constant"))
                .findFirst()
                .orElseThrow();
        Onnx.TensorProto.Builder value = constant.getAttributeBuilder(0).getTBuilder();
        value.clearRawData();
        for (int i = 0; i < 16; i++) {
            value.addDims(0);
        }
        OnnxFormatException e = refused("empty_rank_17", model.build());
        assertTrue(e.element().orElseThrow().contains("(Constant), attribute 'value'"), e.getMessage());
        assertTrue(e.getMessage().contains("is empty"), e.getMessage());
    }

    @Test
    void hugePadsComputedFromTheFileAreRefused() throws Exception {
        // The fuzz run's second crash: CycleGAN's reflection pads are computed from a ConstantOfShape of zeros; a
        // fill of 65536 padded every axis by that much, and libnd4j crashed allocating the result.
        Onnx.ModelProto.Builder model = fixture("cyclegan_opset11");
        Onnx.NodeProto.Builder fill = model.getGraphBuilder().getNodeBuilderList().stream()
                .filter(n -> n.getOpType().equals("ConstantOfShape"))
                .findFirst()
                .orElseThrow();
        Onnx.TensorProto.Builder value = fill.getAttributeBuilder(0).getTBuilder();
        value.setRawData(int64("v", 1L << 16).getRawData());
        OnnxFormatException e = refused("huge_pads", model.build());
        assertTrue(e.element().orElseThrow().endsWith("(Pad)"), e.getMessage());
    }

    @Test
    void aNegativeStrideIsRefusedWithItsNode() throws Exception {
        Onnx.ModelProto.Builder model = fixture("convtranspose_asymmetric");
        Onnx.NodeProto.Builder node = model.getGraphBuilder().getNodeBuilder(0);
        for (Onnx.AttributeProto.Builder a : node.getAttributeBuilderList()) {
            if (a.getName().equals("strides")) {
                a.setInts(0, -1);
            }
        }
        OnnxFormatException e = refused("negative_stride", model.build());
        assertTrue(e.element().orElseThrow().endsWith("(ConvTranspose)"), e.getMessage());
        assertTrue(e.getMessage().contains("strides"), e.getMessage());
    }

    @Test
    void aConstantOfShapeAskingForTooMuchIsRefusedBeforeItIsFolded() throws Exception {
        // 2^60 elements (above 2^31-1), and 2^30 floats (below it, above the 256 MiB limit).
        for (long[] shape : new long[][] {{1L << 20, 1L << 20, 1L << 20}, {1L << 15, 1L << 15}}) {
            Onnx.GraphProto.Builder g = graph("x", 1)
                    .addInitializer(int64("shape", shape))
                    .addNode(node("fill", "ConstantOfShape", "shape", "filled"))
                    .addNode(node("sum", "Add", "x", "filled", "y"))
                    .addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"));
            OnnxFormatException e = refused("huge_constant_of_shape", model(g));
            assertEquals("node 'fill' (ConstantOfShape)", e.element().orElseThrow(), e.getMessage());
        }
    }

    @Test
    void aGemmProductAboveTheLimitIsRefusedBeforeItIsAllocated() throws Exception {
        // [16384, 1] x [1, 16384]: two 64 KiB matrices whose product would take 1 GiB.
        Onnx.GraphProto.Builder g = graph("x", 1)
                .addInitializer(zeros("a", 1 << 14, 1))
                .addInitializer(zeros("b", 1, 1 << 14))
                .addNode(node("outer", "Gemm", "a", "b", "p"))
                .addNode(node("sum", "Add", "p", "x", "y"))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"));
        OnnxFormatException e = refused("huge_gemm", model(g));
        assertEquals("node 'outer' (Gemm)", e.element().orElseThrow(), e.getMessage());
        assertTrue(e.getMessage().contains("above the import's limit"), e.getMessage());
    }

    @Test
    void aGemmOfAVectorIsRefusedWithItsNode() throws Exception {
        Onnx.GraphProto.Builder g = graph("x", 4)
                .addInitializer(zeros("w", 4, 3))
                .addNode(node("linear", "Gemm", "x", "w", "y"))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"));
        OnnxFormatException e = refused("gemm_of_a_vector", model(g));
        assertEquals("node 'linear' (Gemm)", e.element().orElseThrow(), e.getMessage());
        assertTrue(e.getMessage().contains("must be matrices"), e.getMessage());
    }

    @Test
    void aNodeReadingAnUndefinedNameIsRefused() throws Exception {
        Onnx.GraphProto.Builder g = graph("x", 4)
                .addNode(node("act", "Relu", "nowhere", "y"))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"));
        OnnxFormatException e = refused("dangling", model(g));
        assertEquals("node 'act' (Relu)", e.element().orElseThrow());
        assertTrue(e.getMessage().contains("'nowhere'"), e.getMessage());
    }

    @Test
    void aHugeDeclaredInputIsRefused() throws Exception {
        Onnx.GraphProto.Builder g = graph("x", 1L << 40)
                .addNode(node("act", "Relu", "x", "y"))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"));
        OnnxFormatException e = refused("huge_input", model(g));
        assertEquals("input 'x'", e.element().orElseThrow());
    }

    @Test
    void aFailureInsideM21IsTheProjectsExceptionAndTheImporterStaysUsable() throws Exception {
        // Well-formed, but [4] + [3] does not broadcast: M2.1's eager import fails.
        Onnx.GraphProto.Builder g = graph("x", 4)
                .addInitializer(Onnx.TensorProto.newBuilder()
                        .setName("b")
                        .setDataType(Onnx.TensorProto.DataType.FLOAT_VALUE)
                        .addDims(3)
                        .addFloatData(1)
                        .addFloatData(2)
                        .addFloatData(3))
                .addNode(node("sum", "Add", "x", "b", "y"))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"));
        refused("no_broadcast", model(g));
        assertNotNull(OnnxModels.importGraph(Fixtures.resource("fixtures/onnx/convtranspose_asymmetric.onnx")));
    }

    private OnnxFormatException refused(String name, Onnx.ModelProto model) throws Exception {
        Path file = dir.resolve(name + ".onnx");
        Files.write(file, model.toByteArray());
        OnnxFormatException e = assertThrows(OnnxFormatException.class, () -> OnnxModels.importGraph(file));
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        assertEquals(file, e.file());
        return e;
    }

    private static Onnx.ModelProto.Builder fixture(String name) throws Exception {
        return Onnx.ModelProto.parseFrom(Files.readAllBytes(Fixtures.resource("fixtures/onnx/" + name + ".onnx")))
                .toBuilder();
    }

    private static Onnx.ModelProto model(Onnx.GraphProto.Builder graph) {
        return Onnx.ModelProto.newBuilder()
                .setIrVersion(7)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setVersion(13))
                .setGraph(graph)
                .build();
    }

    /** @return a graph named "g" with one float input of shape {@code [size]} */
    private static Onnx.GraphProto.Builder graph(String input, long size) {
        Onnx.TypeProto.Tensor.Builder type = Onnx.TypeProto.Tensor.newBuilder()
                .setElemType(Onnx.TensorProto.DataType.FLOAT_VALUE)
                .setShape(Onnx.TensorShapeProto.newBuilder()
                        .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(size)));
        return Onnx.GraphProto.newBuilder()
                .setName("g")
                .addInput(Onnx.ValueInfoProto.newBuilder()
                        .setName(input)
                        .setType(Onnx.TypeProto.newBuilder().setTensorType(type)));
    }

    /** @return a node; the last name is its output, the others its inputs */
    private static Onnx.NodeProto node(String name, String op, String... names) {
        Onnx.NodeProto.Builder n = Onnx.NodeProto.newBuilder().setName(name).setOpType(op);
        for (int i = 0; i < names.length - 1; i++) {
            n.addInput(names[i]);
        }
        return n.addOutput(names[names.length - 1]).build();
    }

    /** @return a float tensor of zeros of the given dimensions, as raw data */
    private static Onnx.TensorProto zeros(String name, long... dims) {
        long elements = 1;
        Onnx.TensorProto.Builder t =
                Onnx.TensorProto.newBuilder().setName(name).setDataType(Onnx.TensorProto.DataType.FLOAT_VALUE);
        for (long d : dims) {
            t.addDims(d);
            elements *= d;
        }
        return t.setRawData(ByteString.copyFrom(new byte[Math.toIntExact(4 * elements)]))
                .build();
    }

    private static Onnx.TensorProto int64(String name, long... values) {
        ByteBuffer raw = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            raw.putLong(v);
        }
        return Onnx.TensorProto.newBuilder()
                .setName(name)
                .setDataType(Onnx.TensorProto.DataType.INT64_VALUE)
                .addDims(values.length)
                .setRawData(ByteString.copyFrom(raw.array()))
                .build();
    }
}
