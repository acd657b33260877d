package io.github.instancenorm.speedups;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** {@link NativeMemoryRecycler}: when it collects, and its refusals. */
class NativeMemoryRecyclerTest {

    @Test
    void collectsOnlyAfterTheResidentMemoryGrewPastTheThreshold() {
        NativeMemoryRecycler recycler = new NativeMemoryRecycler(16L << 20);
        assertFalse(recycler.afterStep(), "the first call only takes the baseline");
        assertFalse(recycler.afterStep(), "nothing allocated since");
        INDArray big = Nd4j.valueArrayOf(new long[] {16L << 20}, 1.0f, DataType.FLOAT); // 64 MiB, every page written
        assertTrue(recycler.afterStep(), "64 MiB of new resident memory");
        assertEquals(1, recycler.collections());
        assertFalse(recycler.afterStep(), "the baseline moved to after the collection");
        assertEquals(1f, big.getFloat(big.length() - 1));
    }

    @Test
    void zeroIsOffAndNegativeIsRefused() {
        NativeMemoryRecycler off = new NativeMemoryRecycler(0);
        off.afterStep();
        INDArray big = Nd4j.valueArrayOf(new long[] {16L << 20}, 1.0f, DataType.FLOAT);
        assertFalse(off.afterStep());
        assertEquals(0, off.collections());
        assertEquals(1f, big.getFloat(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new NativeMemoryRecycler(-1));
        assertTrue(e.getMessage().contains("growthBytes must be >= 0"), e.getMessage());
    }
}
