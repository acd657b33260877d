package io.github.instancenorm.torch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Turns a tensor description (storage, offset, size, stride) into a contiguous C-order
 * {@link INDArray} of the stored dtype. Views (offsets, strides, stride 0, permutations) are
 * gathered element by element; a contiguous tensor is read straight into the array's memory.
 */
final class TensorBuilder {
    /** ND4J's largest rank. */
    static final int MAX_RANK = 32;

    /** Where a storage's bytes are: {@code numBytes} bytes of {@code src} from {@code pos}. */
    record Blob(ByteSource src, long pos, long numBytes, boolean bigEndian) {}

    private TensorBuilder() {}

    /**
     * @param name   checkpoint key, for error messages
     * @param t      the tensor description
     * @param blob   the bytes of {@code t.storage()}'s root storage
     * @return a new C-order array
     * @throws IOException when the description does not fit the storage
     */
    static INDArray build(String name, Py.Tensor t, Blob blob) throws IOException {
        TorchDType dtype = t.storage().dtype();
        int es = dtype.elementSize();
        long[] size = t.size();
        long[] stride = t.stride();
        if (size.length != stride.length) {
            throw bad(name, "has " + size.length + " sizes but " + stride.length + " strides");
        }
        if (size.length > MAX_RANK) {
            throw bad(name, "has rank " + size.length + "; ND4J holds at most rank " + MAX_RANK);
        }
        if (t.offset() < 0) {
            throw bad(name, "has negative storage offset " + t.offset());
        }
        long numel = 1;
        long maxIndex = 0;
        try {
            for (int i = 0; i < size.length; i++) {
                if (size[i] < 0 || stride[i] < 0) {
                    throw bad(
                            name,
                            "has negative size or stride: size " + Arrays.toString(size) + ", stride "
                                    + Arrays.toString(stride));
                }
                numel = Math.multiplyExact(numel, size[i]);
            }
            if (numel > 0) {
                for (int i = 0; i < size.length; i++) {
                    maxIndex = Math.addExact(maxIndex, Math.multiplyExact(size[i] - 1, stride[i]));
                }
                maxIndex = Math.addExact(maxIndex, t.offset());
            }
        } catch (ArithmeticException e) {
            throw bad(
                    name,
                    "declares size " + Arrays.toString(size) + " and stride " + Arrays.toString(stride)
                            + " that overflow 64 bits");
        }
        long storageNumel = t.storage().numel();
        if (numel > 0 && maxIndex >= storageNumel) {
            throw bad(
                    name,
                    "with offset " + t.offset() + ", size " + Arrays.toString(size) + " and stride "
                            + Arrays.toString(stride) + " reaches element " + maxIndex + " of a storage of "
                            + storageNumel + " elements");
        }
        long storageStart = t.storage().offset();
        if (storageStart < 0 || storageNumel < 0 || (storageStart + storageNumel) > blob.numBytes() / es) {
            throw bad(
                    name,
                    "uses a storage of " + storageNumel + " elements at element " + storageStart + " but only "
                            + blob.numBytes() + " bytes are stored");
        }
        if (numel == 0) {
            return Nd4j.create(dtype.nd4j(), size, 'c');
        }
        if (numel > Integer.MAX_VALUE / es) {
            throw bad(name, "has " + numel + " elements; one array above 2 GiB is not supported by this reader");
        }
        INDArray arr = Nd4j.createUninitialized(dtype.nd4j(), size, 'c');
        ByteBuffer dst = arr.data().asNio().order(ByteOrder.LITTLE_ENDIAN);
        dst.clear();
        dst.limit((int) (numel * es));
        long first = storageStart + t.offset();
        if (isContiguous(size, stride)) {
            blob.src().read(blob.pos() + first * es, dst, "tensor '" + name + "'");
        } else {
            gather(name, t, blob, dst, es, first, maxIndex - t.offset());
        }
        if (blob.bigEndian() && es > 1) {
            swap(dst, es, (int) numel);
        }
        Nd4j.getAffinityManager().tagLocation(arr, AffinityManager.Location.HOST);
        return arr;
    }

    private static TorchFormatException bad(String name, String msg) {
        return new TorchFormatException("tensor '" + name + "' " + msg + "; the checkpoint is damaged");
    }

    static boolean isContiguous(long[] size, long[] stride) {
        long expected = 1;
        for (int i = size.length - 1; i >= 0; i--) {
            if (size[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= size[i];
        }
        return true;
    }

    /** Copies a strided view: reads the span it touches once, then picks the elements. */
    private static void gather(String name, Py.Tensor t, Blob blob, ByteBuffer dst, int es, long first, long span)
            throws IOException {
        long spanBytes = (span + 1) * es;
        if (spanBytes > Integer.MAX_VALUE - 16) {
            throw bad(name, "is a view spanning " + spanBytes + " bytes; views above 2 GiB are not supported");
        }
        ByteBuffer src = ByteBuffer.allocate((int) spanBytes);
        blob.src().read(blob.pos() + first * es, src, "tensor '" + name + "'");
        byte[] s = src.array();
        long[] size = t.size();
        long[] stride = t.stride();
        int rank = size.length;
        long[] idx = new long[rank];
        long off = 0;
        byte[] one = new byte[es];
        while (true) {
            System.arraycopy(s, (int) (off * es), one, 0, es);
            dst.put(one);
            int d = rank - 1;
            while (d >= 0) {
                idx[d]++;
                off += stride[d];
                if (idx[d] < size[d]) {
                    break;
                }
                off -= stride[d] * idx[d];
                idx[d] = 0;
                d--;
            }
            if (d < 0) {
                return;
            }
        }
    }

    private static void swap(ByteBuffer b, int es, int n) {
        byte[] tmp = new byte[es];
        for (int i = 0; i < n; i++) {
            int p = i * es;
            for (int k = 0; k < es; k++) {
                tmp[k] = b.get(p + k);
            }
            for (int k = 0; k < es; k++) {
                b.put(p + k, tmp[es - 1 - k]);
            }
        }
    }
}
