package io.github.instancenorm.torch;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The central directory of a zip file, as {@code torch.save} writes it: ZIP64 records, stored
 * entries, data descriptors (sizes come from the central directory, so they are not needed) and
 * deflated entries from re-packed archives. Offsets and sizes are checked against the file.
 */
final class ZipArchive {
    private static final int EOCD = 0x06054b50;
    private static final int ZIP64_LOCATOR = 0x07064b50;
    private static final int ZIP64_EOCD = 0x06064b50;
    private static final int CEN = 0x02014b50;
    private static final int LOC = 0x04034b50;
    private static final long MAX_ENTRIES = 1_000_000;

    /** One file in the archive. */
    record Entry(String name, int method, long compressedSize, long size, long headerOffset) {}

    private final ByteSource src;
    private final Map<String, Entry> entries = new LinkedHashMap<>();

    ZipArchive(ByteSource src) throws IOException {
        this.src = src;
        readCentralDirectory();
    }

    Map<String, Entry> entries() {
        return entries;
    }

    private static TorchFormatException bad(String msg) {
        return new TorchFormatException("zip checkpoint: " + msg + "; the file is truncated or damaged");
    }

    private ByteBuffer at(long pos, int len, String what) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        src.read(pos, b, "zip " + what);
        b.flip();
        return b;
    }

    private void readCentralDirectory() throws IOException {
        long size = src.size();
        if (size < 22) {
            throw bad("only " + size + " bytes, smaller than an empty zip");
        }
        int tail = (int) Math.min(size, 22 + 65535);
        ByteBuffer t = at(size - tail, tail, "end of central directory");
        int eocd = -1;
        for (int i = tail - 22; i >= 0; i--) {
            if (t.getInt(i) == EOCD) {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) {
            throw bad("no end-of-central-directory record");
        }
        long eocdPos = size - tail + eocd;
        long count = t.getShort(eocd + 10) & 0xffff;
        long cdSize = t.getInt(eocd + 12) & 0xffffffffL;
        long cdOffset = t.getInt(eocd + 16) & 0xffffffffL;
        if (count == 0xffff || cdSize == 0xffffffffL || cdOffset == 0xffffffffL) {
            if (eocdPos < 20) {
                throw bad("ZIP64 sizes but no ZIP64 locator");
            }
            ByteBuffer loc = at(eocdPos - 20, 20, "ZIP64 locator");
            if (loc.getInt(0) != ZIP64_LOCATOR) {
                throw bad("ZIP64 sizes but no ZIP64 locator");
            }
            long z64 = loc.getLong(8);
            ByteBuffer z = at(z64, 56, "ZIP64 end record");
            if (z.getInt(0) != ZIP64_EOCD) {
                throw bad("ZIP64 end record not found at byte " + z64);
            }
            count = z.getLong(32);
            cdSize = z.getLong(40);
            cdOffset = z.getLong(48);
        }
        src.check(cdOffset, cdSize, "zip central directory");
        if (count < 0 || count > MAX_ENTRIES || count * 46 > cdSize) {
            throw bad("central directory claims " + count + " entries in " + cdSize + " bytes");
        }
        if (cdSize > Integer.MAX_VALUE - 16) {
            throw bad("central directory of " + cdSize + " bytes");
        }
        ByteBuffer cd = at(cdOffset, (int) cdSize, "central directory");
        int p = 0;
        for (long i = 0; i < count; i++) {
            if (p + 46 > cd.limit() || cd.getInt(p) != CEN) {
                throw bad("central directory entry " + i + " is damaged");
            }
            int method = cd.getShort(p + 10) & 0xffff;
            long comp = cd.getInt(p + 20) & 0xffffffffL;
            long uncomp = cd.getInt(p + 24) & 0xffffffffL;
            int nameLen = cd.getShort(p + 28) & 0xffff;
            int extraLen = cd.getShort(p + 30) & 0xffff;
            int commentLen = cd.getShort(p + 32) & 0xffff;
            long off = cd.getInt(p + 42) & 0xffffffffL;
            int end = p + 46 + nameLen + extraLen + commentLen;
            if (end > cd.limit()) {
                throw bad("central directory entry " + i + " runs past the directory");
            }
            byte[] nb = new byte[nameLen];
            cd.get(p + 46, nb);
            String name = new String(nb, StandardCharsets.UTF_8);
            int e = p + 46 + nameLen;
            int extraEnd = e + extraLen;
            while (e + 4 <= extraEnd) {
                int id = cd.getShort(e) & 0xffff;
                int len = cd.getShort(e + 2) & 0xffff;
                int q = e + 4;
                if (q + len > extraEnd) {
                    break;
                }
                if (id == 0x0001) {
                    if (uncomp == 0xffffffffL && q + 8 <= e + 4 + len) {
                        uncomp = cd.getLong(q);
                        q += 8;
                    }
                    if (comp == 0xffffffffL && q + 8 <= e + 4 + len) {
                        comp = cd.getLong(q);
                        q += 8;
                    }
                    if (off == 0xffffffffL && q + 8 <= e + 4 + len) {
                        off = cd.getLong(q);
                    }
                }
                e += 4 + len;
            }
            if (comp < 0 || uncomp < 0 || off < 0) {
                throw bad("entry '" + name + "' has negative sizes");
            }
            entries.put(name, new Entry(name, method, comp, uncomp, off));
            p = end;
        }
    }

    /** @return the byte offset of the entry's data, after its local header */
    long dataOffset(Entry e) throws IOException {
        ByteBuffer h = at(e.headerOffset(), 30, "local header of " + e.name());
        if (h.getInt(0) != LOC) {
            throw bad("local header of '" + e.name() + "' not found at byte " + e.headerOffset());
        }
        long start = e.headerOffset() + 30 + (h.getShort(26) & 0xffff) + (h.getShort(28) & 0xffff);
        src.check(start, e.compressedSize(), "zip entry '" + e.name() + "'");
        if (e.method() == 0 && e.size() != e.compressedSize()) {
            throw bad("stored entry '" + e.name() + "' has different compressed and uncompressed sizes");
        }
        return start;
    }

    /** Reads a whole entry, inflating it when deflated; the output never grows past the declared size. */
    byte[] read(Entry e) throws IOException {
        long start = dataOffset(e);
        if (e.method() == 0) {
            return src.bytes(start, e.size(), "zip entry '" + e.name() + "'");
        }
        if (e.method() != 8) {
            throw new TorchFormatException("zip entry '" + e.name() + "' uses compression method " + e.method()
                    + "; only stored and deflated entries are supported: re-save with torch.save");
        }
        if (e.size() > Integer.MAX_VALUE - 16) {
            throw bad("deflated entry '" + e.name() + "' of " + e.size() + " bytes");
        }
        byte[] comp = src.bytes(start, e.compressedSize(), "zip entry '" + e.name() + "'");
        Inflater inf = new Inflater(true);
        try {
            inf.setInput(comp);
            ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(e.size(), 1 << 20));
            byte[] buf = new byte[1 << 16];
            while (!inf.finished()) {
                int n = inf.inflate(buf);
                if (n == 0 && (inf.needsInput() || inf.needsDictionary())) {
                    break;
                }
                if (out.size() + (long) n > e.size()) {
                    throw bad("deflated entry '" + e.name() + "' inflates past its declared " + e.size() + " bytes");
                }
                out.write(buf, 0, n);
            }
            if (out.size() != e.size()) {
                throw bad("deflated entry '" + e.name() + "' inflates to " + out.size() + " bytes, not the declared "
                        + e.size());
            }
            return out.toByteArray();
        } catch (DataFormatException ex) {
            throw new TorchFormatException(
                    "zip entry '" + e.name() + "' is not valid deflate data: " + ex.getMessage(), ex);
        } finally {
            inf.end();
        }
    }
}
