package io.github.instancenorm.speedups;

import org.bytedeco.javacpp.Pointer;

/**
 * Asks the JVM to collect garbage after a training step once the process's resident memory has grown by more than a
 * threshold since the last collection, so that the native memory of the step's arrays is freed while it is still
 * mapped and the next step's arrays reuse it.
 *
 * <p>Why: a hand-driven training step (a GAN's {@code feedForward} and {@code backpropGradient} with external
 * gradients) allocates its activations outside DL4J's workspaces, and in ND4J 1.0.0-M2.1 such an array's native
 * buffer is freed only when the JVM collects the array's Java object: {@code INDArray.close()} does not free it
 * (measured: 20 arrays of 8 MB created and closed per round grew the resident memory by 160 MB every round). The
 * native memory does not count towards the Java heap, so collections are rare, and every new buffer lands on fresh
 * pages that the kernel must fault in and zero (about 11-16 µs a page on this project's 2-core VM). On the
 * StarGAN-size generator (128 px, batch 2, 159 MB of activations per step) this took about as many of the main
 * thread's samples as all of its convolutions. Collecting when the resident memory grew by 64 MB brought its
 * forward + backward from 783-792 ms to 545-564 ms (median of 25 steps, two runs each); at the example's size (32
 * px, batch 16) a 32 MB threshold gave 27 ms against 43 ms without collections, and collecting after every step 48
 * ms (a collection costs about 18 ms there). The resident size comes from {@code /proc/self/statm} through
 * JavaCPP's {@link Pointer#physicalBytes()}, one read per step.
 *
 * <p>Not thread-safe: one per training loop.
 */
public final class NativeMemoryRecycler {

    /** The default threshold: 32 MiB of growth. */
    public static final long DEFAULT_GROWTH_BYTES = 32L << 20;

    private final long growthBytes;
    private long baseline = -1;
    private long collections;

    /**
     * @param growthBytes growth of the resident memory, in bytes, after which {@link #afterStep} collects; 0 turns
     *                    it off
     * @throws IllegalArgumentException if negative
     */
    public NativeMemoryRecycler(long growthBytes) {
        if (growthBytes < 0) {
            throw new IllegalArgumentException("growthBytes must be >= 0 (0: off), got " + growthBytes);
        }
        this.growthBytes = growthBytes;
    }

    /**
     * Collects garbage if the resident memory grew by more than the threshold since the last collection (or since
     * the first call).
     *
     * @return whether it collected
     */
    public boolean afterStep() {
        if (growthBytes == 0) {
            return false;
        }
        long resident = Pointer.physicalBytes();
        if (baseline < 0) {
            baseline = resident;
            return false;
        }
        if (resident - baseline <= growthBytes) {
            return false;
        }
        System.gc();
        collections++;
        baseline = Pointer.physicalBytes();
        return true;
    }

    /** @return the threshold in bytes (0: off) */
    public long growthBytes() {
        return growthBytes;
    }

    /** @return the collections {@link #afterStep} asked for */
    public long collections() {
        return collections;
    }
}
