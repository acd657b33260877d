package io.github.instancenorm.onnx;

import java.nio.file.Path;

/**
 * The largest arrays an import builds from sizes it computes rather than reads: the example values of the graph
 * inputs (from their declared shapes) and the values {@link ConstantFolding} computes ({@code ConstantOfShape},
 * {@code Expand}, {@code Tile}, ...), each and all of them together. Arrays read from the file are bounded by the
 * file itself ({@link ModelChecks} checks that a tensor's data holds what its dimensions say). A damaged size is
 * refused before anything of that size is allocated.
 *
 * <p>The limit is {@value #DEFAULT_MAX_ARRAY_BYTES} bytes unless the system property {@value #PROPERTY} sets
 * another number of bytes; no array is ever above 2^31-1 elements.
 */
final class ImportLimits {
    static final String PROPERTY = "io.github.instancenorm.onnx.maxArrayBytes";
    static final long DEFAULT_MAX_ARRAY_BYTES = 256L << 20;

    private final long maxArrayBytes;
    private long folded;

    ImportLimits(long maxArrayBytes) {
        this.maxArrayBytes = maxArrayBytes;
    }

    /** @return the limits of this JVM's settings, with a fresh budget for folded values */
    static ImportLimits fromSystemProperties() {
        Long bytes = Long.getLong(PROPERTY);
        return new ImportLimits(bytes == null || bytes <= 0 ? DEFAULT_MAX_ARRAY_BYTES : bytes);
    }

    /** Refuses an array of {@code bytes} (negative: too large to count), before it is allocated. */
    void checkArray(Path file, String element, long bytes, String what) throws OnnxFormatException {
        if (bytes < 0 || bytes > maxArrayBytes) {
            throw new OnnxFormatException(
                    file,
                    element,
                    what + " would take " + (bytes < 0 ? "more than 2^31-1 elements" : bytes + " bytes")
                            + ", above the import's limit of " + maxArrayBytes + " bytes (system property "
                            + PROPERTY + ")",
                    null);
        }
    }

    /**
     * Refuses a folded value of {@code elements} elements of {@code width} bytes (negative elements: too many to
     * count), alone or added to the values folded before, and otherwise counts it.
     */
    void fold(Path file, String element, long elements, int width) throws OnnxFormatException {
        long bytes = elements < 0 || elements > Integer.MAX_VALUE
                ? -1
                : ModelChecks.timesWithin(elements, width, Long.MAX_VALUE / 2);
        checkArray(file, element, bytes, "the folded constant");
        checkArray(file, element, folded + bytes, "the folded constants together");
        folded += bytes;
    }
}
