package io.github.instancenorm.torch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes the safetensors format: an 8-byte little-endian header length, a JSON header
 * {@code {name: {"dtype", "shape", "data_offsets": [begin, end]}}} padded with spaces to a
 * multiple of 8, then the C-order little-endian bytes of every tensor in header order.
 */
final class SafetensorsWriter {
    private SafetensorsWriter() {
    }

    static void write(StateDict sd, Path path) throws IOException {
        StringBuilder h = new StringBuilder("{");
        List<ByteBuffer> data = new ArrayList<>();
        boolean first = true;
        StringBuilder meta = new StringBuilder();
        for (Map.Entry<String, Object> e : sd.metadata().entrySet()) {
            if (e.getValue() instanceof String s) {
                meta.append(meta.length() == 0 ? "" : ",").append(Json.quote(e.getKey())).append(':').append(Json.quote(s));
            }
        }
        if (meta.length() > 0) {
            h.append("\"__metadata__\":{").append(meta).append('}');
            first = false;
        }
        long offset = 0;
        for (Map.Entry<String, Object> e : sd.entries().entrySet()) {
            if (!(e.getValue() instanceof INDArray a)) {
                throw new TorchFormatException("safetensors holds tensors only, but '" + e.getKey() + "' is a "
                        + StateDict.describe(e.getValue()) + "; write a dict of tensors (select(...) it first) or use writeTorch");
            }
            TorchDType dtype = TorchDType.of(a.dataType());
            ByteBuffer b = TensorBytes.of(a);
            h.append(first ? "" : ",").append(Json.quote(e.getKey())).append(":{\"dtype\":\"").append(dtype.safetensorsCode())
                    .append("\",\"shape\":[");
            long[] shape = a.shape();
            for (int i = 0; i < shape.length; i++) {
                h.append(i == 0 ? "" : ",").append(shape[i]);
            }
            h.append("],\"data_offsets\":[").append(offset).append(',').append(offset + b.remaining()).append("]}");
            offset += b.remaining();
            data.add(b);
            first = false;
        }
        h.append('}');
        while ((h.toString().getBytes(StandardCharsets.UTF_8).length % 8) != 0) {
            h.append(' ');
        }
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            writeAll(ch, len);
            writeAll(ch, ByteBuffer.wrap(header));
            for (ByteBuffer b : data) {
                writeAll(ch, b.duplicate());
            }
        }
    }

    private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
