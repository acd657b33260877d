package io.github.instancenorm.torch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Sequential little-endian reading over a {@link ByteSource} through a small window, used for
 * pickles and the headers of the legacy format. Lengths are checked against the bytes left
 * before anything is allocated.
 */
final class Cursor {
    private static final int WINDOW = 1 << 16;

    private final ByteSource src;
    private final String name;
    private long pos;
    private final ByteBuffer window = ByteBuffer.allocate(WINDOW).order(ByteOrder.LITTLE_ENDIAN);
    private long windowStart = 0;

    /**
     * @param src  the bytes
     * @param pos  where to start
     * @param name what the bytes are, for error messages
     */
    Cursor(ByteSource src, long pos, String name) {
        this.src = src;
        this.pos = pos;
        this.name = name;
        window.limit(0);
    }

    long position() {
        return pos;
    }

    void seek(long p) {
        pos = p;
    }

    long remaining() {
        return src.size() - pos;
    }

    ByteSource source() {
        return src;
    }

    String name() {
        return name;
    }

    private void need(long n, String what) throws IOException {
        if (n < 0 || n > remaining()) {
            throw new TorchFormatException(name + ": " + what + " needs " + n + " bytes at byte " + pos + " but only "
                    + Math.max(0, remaining()) + " are left; the file is truncated or a length in it is damaged");
        }
        long inWindow = pos - windowStart;
        if (inWindow < 0 || inWindow + n > window.limit()) {
            window.clear();
            int len = (int) Math.min(WINDOW, remaining());
            window.limit(len);
            src.read(pos, window, name);
            window.flip();
            windowStart = pos;
        }
    }

    int u8(String what) throws IOException {
        need(1, what);
        int v = window.get((int) (pos - windowStart)) & 0xff;
        pos += 1;
        return v;
    }

    int u16(String what) throws IOException {
        need(2, what);
        int v = window.getShort((int) (pos - windowStart)) & 0xffff;
        pos += 2;
        return v;
    }

    int i32(String what) throws IOException {
        need(4, what);
        int v = window.getInt((int) (pos - windowStart));
        pos += 4;
        return v;
    }

    long i64(String what) throws IOException {
        need(8, what);
        long v = window.getLong((int) (pos - windowStart));
        pos += 8;
        return v;
    }

    double f64BigEndian(String what) throws IOException {
        need(8, what);
        long bits = Long.reverseBytes(window.getLong((int) (pos - windowStart)));
        pos += 8;
        return Double.longBitsToDouble(bits);
    }

    /**
     * @param n    number of bytes, checked against the bytes left
     * @param what what is read, for the error message
     */
    byte[] bytes(long n, String what) throws IOException {
        if (n < 0 || n > remaining()) {
            throw new TorchFormatException(
                    name + ": " + what + " declares " + n + " bytes at byte " + pos + " but only "
                            + Math.max(0, remaining()) + " are left; the file is truncated or the length is damaged");
        }
        byte[] b;
        if (n <= WINDOW) {
            need(n, what);
            b = new byte[(int) n];
            window.get((int) (pos - windowStart), b);
        } else {
            b = src.bytes(pos, n, name + ": " + what);
        }
        pos += n;
        return b;
    }

    void skip(long n, String what) throws IOException {
        if (n < 0 || n > remaining()) {
            throw new TorchFormatException(name + ": " + what + " of " + n + " bytes runs past the end of the input");
        }
        pos += n;
    }

    /** Reads up to and excluding a newline, at most {@code max} bytes. */
    String line(int max, String what) throws IOException {
        StringBuilder sb = new StringBuilder();
        while (true) {
            int c = u8(what);
            if (c == '\n') {
                return sb.toString();
            }
            if (sb.length() >= max) {
                throw new TorchFormatException(
                        name + ": " + what + " is longer than " + max + " bytes; the pickle is damaged");
            }
            sb.append((char) c);
        }
    }
}
