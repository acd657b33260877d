package io.github.instancenorm.torch;

/**
 * Strict loading found missing keys, unexpected keys, shape mismatches or unmapped layers; the
 * message lists all of them and the network was not changed. Load with
 * {@code LoadOptions.defaults().strict(false)} to take what matches, or rename layers / use
 * {@link LoadOptions#mapLayer} so the names agree.
 */
public class StateDictMismatchException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;
    private final transient LoadReport report;

    /**
     * @param message the full description
     * @param report  what matched and what did not
     */
    public StateDictMismatchException(String message, LoadReport report) {
        super(message);
        this.report = report;
    }

    /** @return what matched and what did not */
    public LoadReport report() {
        return report;
    }
}
