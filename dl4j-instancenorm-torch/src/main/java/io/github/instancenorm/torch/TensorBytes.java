package io.github.instancenorm.torch;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The raw little-endian C-order bytes of an array, as both writers store them. */
final class TensorBytes {
    private TensorBytes() {}

    /**
     * @param arr any array
     * @return a buffer positioned at 0 whose remaining bytes are the elements in C order
     *         (possibly a view of the array's own memory: do not modify)
     */
    static ByteBuffer of(INDArray arr) {
        if (arr.isEmpty() || arr.length() == 0) {
            return ByteBuffer.allocate(0);
        }
        INDArray c = arr;
        if (c.isView()
                || c.ordering() != 'c'
                || c.data().offset() != 0
                || c.data().length() != c.length()) {
            c = c.dup('c');
        }
        org.nd4j.linalg.factory.Nd4j.getAffinityManager().ensureLocation(c, AffinityManager.Location.HOST);
        ByteBuffer b = c.data().asNio().duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.clear();
        b.limit((int) (c.length() * c.dataType().width()));
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("writing checkpoints on a big-endian machine is not supported");
        }
        return b;
    }
}
