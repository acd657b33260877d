package io.github.instancenorm.torch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the safetensors format: an 8-byte little-endian header length, a JSON header
 * {@code {name: {"dtype", "shape", "data_offsets": [begin, end]}}} padded with spaces to a
 * multiple of 8, then the C-order little-endian bytes of every tensor in header order.
 */
final class SafetensorsWriter {
    private static final Logger log = LoggerFactory.getLogger(SafetensorsWriter.class);

    private SafetensorsWriter() {}

    static void write(StateDict sd, Path path) throws IOException {
        List<ByteBuffer> data = new ArrayList<>();
        List<String> dtypes = new ArrayList<>();
        for (Map.Entry<String, Object> e : sd.entries().entrySet()) {
            if (!(e.getValue() instanceof INDArray a)) {
                throw new TorchFormatException("safetensors holds tensors only, but '" + e.getKey() + "' is a "
                        + StateDict.describe(e.getValue())
                        + "; write a dict of tensors (select(...) it first) or use writeTorch");
            }
            dtypes.add(TorchDType.of(a.dataType()).safetensorsCode());
            data.add(TensorBytes.of(a));
        }
        String json = Json.writeObject(g -> {
            Map<String, String> metadata = new LinkedHashMap<>();
            List<String> dropped = new ArrayList<>();
            sd.metadata().forEach((k, v) -> {
                if (v instanceof String text) {
                    metadata.put(k, text);
                } else {
                    dropped.add(k);
                }
            });
            if (!dropped.isEmpty()) {
                log.warn(
                        "{}: safetensors metadata holds strings only; not written: {} (PyTorch's _metadata, the"
                                + " modules' versions, is not needed to load a state dict)",
                        path.getFileName(),
                        dropped);
            }
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart("__metadata__");
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    g.writeStringField(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            int i = 0;
            for (Map.Entry<String, Object> e : sd.entries().entrySet()) {
                INDArray a = (INDArray) e.getValue();
                long bytes = data.get(i).remaining();
                g.writeObjectFieldStart(e.getKey());
                g.writeStringField("dtype", dtypes.get(i++));
                g.writeArrayFieldStart("shape");
                for (long d : a.shape()) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(offset + bytes);
                g.writeEndArray();
                g.writeEndObject();
                offset += bytes;
            }
        });
        // The data section starts 8-byte aligned: pad the header with spaces, as the safetensors library does.
        StringBuilder h = new StringBuilder(json);
        while ((h.toString().getBytes(StandardCharsets.UTF_8).length % 8) != 0) {
            h.append(' ');
        }
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(
                path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer len =
                    ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
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
