package io.github.instancenorm.torch;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes the {@code torch.save} zip format: {@code archive/data.pkl}, one stored (uncompressed)
 * record {@code archive/data/N} per tensor with its data aligned to 64 bytes as PyTorch does,
 * {@code archive/version} and {@code archive/byteorder}. ZIP64 is used when sizes need it.
 */
final class TorchZipWriter {
    private static final String PREFIX = "archive/";
    private static final int ALIGN = 64;
    private static final long FIXED_TIME = 946684800000L; // 2000-01-01, for reproducible files

    private TorchZipWriter() {}

    static void write(StateDict sd, Path path) throws IOException {
        write((Object) sd, path);
    }

    /** @param root what {@link PickleWriter#write(Object)} takes: a state dict or a tree of plain dicts */
    static void write(Object root, Path path) throws IOException {
        Map<INDArray, Integer> keys = new IdentityHashMap<>();
        List<INDArray> order = new ArrayList<>();
        byte[] pickle = new PickleWriter(a -> keys.computeIfAbsent(a, x -> {
                    order.add(x);
                    return order.size() - 1;
                }))
                .write(root);
        try (Counting count = new Counting(new BufferedOutputStream(Files.newOutputStream(path), 1 << 20));
                ZipOutputStream zip = new ZipOutputStream(count)) {
            zip.setLevel(0);
            entry(zip, count, PREFIX + "data.pkl", ByteBuffer.wrap(pickle));
            for (int i = 0; i < order.size(); i++) {
                entry(zip, count, PREFIX + "data/" + i, TensorBytes.of(order.get(i)));
            }
            entry(zip, count, PREFIX + "version", ByteBuffer.wrap("3\n".getBytes(StandardCharsets.US_ASCII)));
            entry(zip, count, PREFIX + "byteorder", ByteBuffer.wrap("little".getBytes(StandardCharsets.US_ASCII)));
        }
    }

    private static void entry(ZipOutputStream zip, Counting count, String name, ByteBuffer data) throws IOException {
        CRC32 crc = new CRC32();
        crc.update(data.duplicate());
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.remaining());
        e.setCompressedSize(data.remaining());
        e.setCrc(crc.getValue());
        e.setTime(FIXED_TIME);
        // pad with an extra field so the data starts on a 64-byte boundary (mmap-friendly, as torch.save does)
        long start = count.count + 30 + name.getBytes(StandardCharsets.UTF_8).length;
        int pad = (int) ((ALIGN - start % ALIGN) % ALIGN);
        if (pad < 4) {
            pad += ALIGN;
        }
        byte[] extra = new byte[pad];
        extra[0] = 'F';
        extra[1] = 'B';
        extra[2] = (byte) (pad - 4);
        extra[3] = (byte) ((pad - 4) >>> 8);
        e.setExtra(extra);
        zip.putNextEntry(e);
        byte[] chunk = new byte[(int) Math.min(1 << 20, Math.max(1, data.remaining()))];
        ByteBuffer d = data.duplicate();
        while (d.hasRemaining()) {
            int n = Math.min(chunk.length, d.remaining());
            d.get(chunk, 0, n);
            zip.write(chunk, 0, n);
        }
        zip.closeEntry();
    }

    /** Counts bytes on their way to the file, to know where each entry starts. */
    private static final class Counting extends FilterOutputStream {
        long count;

        Counting(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}
