package io.github.instancenorm.onnx;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * An ONNX file that {@link OnnxModels#importGraph} refuses: damaged or not a well-formed ONNX model (a tensor
 * whose data does not match its dimensions, a node that reads a name nothing defines, an attribute out of range,
 * an array larger than the import's limits), or a well-formed model that DL4J 1.0.0-M2.1's importer and this
 * module cannot import (an unmapped op, a configuration a hook refuses, a failure inside M2.1's importer).
 *
 * <p>The message starts with the file and names the node ({@code node 'name' (OpType)}) or the tensor
 * ({@code tensor 'name'}) involved where one is known; {@link #file()} and {@link #element()} return them.
 * Nothing is left half-done by a refusal: the next import in the same JVM runs as if it had not happened.
 */
public class OnnxFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String element;

    /**
     * @param file    the ONNX file
     * @param element the node ({@code node 'name' (OpType)}) or tensor ({@code tensor 'name'}) involved, or null
     * @param problem what is wrong, without the file or the element
     * @param cause   the underlying error, or null
     */
    public OnnxFormatException(Path file, String element, String problem, Throwable cause) {
        super(file + ": " + (element == null ? "" : element + ": ") + problem, cause);
        this.file = file;
        this.element = element;
    }

    /** @return the ONNX file */
    public Path file() {
        return file;
    }

    /** @return the node or tensor involved, as the message names it, where one is known */
    public Optional<String> element() {
        return Optional.ofNullable(element);
    }
}
