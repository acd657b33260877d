package io.github.instancenorm.torch;

import java.io.IOException;

/**
 * A checkpoint could not be read or written: the file is not a PyTorch checkpoint or a
 * safetensors file, it is damaged or truncated, or it asks for something this reader refuses
 * (an unknown pickle global, an unsupported dtype). The message names the problem and, where
 * there is one, the fix.
 */
public class TorchFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message what is wrong and how to fix it
     */
    public TorchFormatException(String message) {
        super(message);
    }

    /**
     * @param message what is wrong and how to fix it
     * @param cause   the underlying failure
     */
    public TorchFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
