package io.github.instancenorm.torch;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Random access to the bytes of a checkpoint, either a file (positional reads, nothing loaded
 * ahead) or an array. Every read is checked against the size, so a damaged offset or length
 * becomes a {@link TorchFormatException} instead of an allocation or an index error.
 */
abstract class ByteSource {

    /** @return the number of bytes */
    abstract long size();

    /**
     * Fills {@code dst} from its position to its limit with the bytes at {@code pos}.
     *
     * @param pos byte offset
     * @param dst destination
     * @param what what is being read, for the error message
     * @throws IOException when the range is outside the source or the read fails
     */
    abstract void read(long pos, ByteBuffer dst, String what) throws IOException;

    /**
     * @param pos  byte offset
     * @param len  number of bytes, at most the bytes left after {@code pos}
     * @param what what is being read, for the error message
     * @return a new array with the bytes
     * @throws IOException when the range is outside the source
     */
    byte[] bytes(long pos, long len, String what) throws IOException {
        check(pos, len, what);
        if (len > Integer.MAX_VALUE - 16) {
            throw new TorchFormatException(what + " is " + len + " bytes, more than one Java array holds");
        }
        byte[] b = new byte[(int) len];
        read(pos, ByteBuffer.wrap(b), what);
        return b;
    }

    /**
     * @param pos  byte offset
     * @param len  length
     * @param what what is being read, for the error message
     * @throws TorchFormatException when {@code [pos, pos + len)} is not inside the source
     */
    void check(long pos, long len, String what) throws TorchFormatException {
        if (pos < 0 || len < 0 || pos > size() || len > size() - pos) {
            throw new TorchFormatException(what + " at byte " + pos + " with length " + len + " lies outside the "
                    + size() + "-byte input: the file is truncated or damaged");
        }
    }

    /** A byte array. */
    static final class OfArray extends ByteSource {
        private final byte[] data;
        private final int from;
        private final int length;

        OfArray(byte[] data) {
            this(data, 0, data.length);
        }

        OfArray(byte[] data, int from, int length) {
            this.data = data;
            this.from = from;
            this.length = length;
        }

        @Override
        long size() {
            return length;
        }

        @Override
        void read(long pos, ByteBuffer dst, String what) throws IOException {
            check(pos, dst.remaining(), what);
            dst.put(data, from + (int) pos, dst.remaining());
        }

        byte get(long pos) {
            return data[from + (int) pos];
        }
    }

    /** An open file channel; the caller closes it. */
    static final class OfChannel extends ByteSource {
        private final FileChannel channel;
        private final long size;

        OfChannel(FileChannel channel) throws IOException {
            this.channel = channel;
            this.size = channel.size();
        }

        @Override
        long size() {
            return size;
        }

        @Override
        void read(long pos, ByteBuffer dst, String what) throws IOException {
            check(pos, dst.remaining(), what);
            long p = pos;
            while (dst.hasRemaining()) {
                int n = channel.read(dst, p);
                if (n < 0) {
                    throw new EOFException(
                            what + ": file ended at byte " + p + " while reading; it changed or is truncated");
                }
                p += n;
            }
        }
    }
}
