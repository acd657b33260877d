package io.github.instancenorm.testutil;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Golden fixtures written by {@code src/test/python/gen_instancenorm_fixtures.py} with real PyTorch.
 */
public final class Fixtures {

    /** Number of training forwards each case records. */
    public static final int STEPS = 3;

    private Fixtures() {}

    /** One case of {@code cases.txt}: a PyTorch module configuration and the arrays it produced. */
    public record Case(String name, int dims, DataType dataType, boolean affine, boolean track, Double momentum) {

        /** @return the case's arrays, channels-first, as PyTorch wrote them */
        public Map<String, INDArray> load() {
            try {
                return Nd4j.createFromNpzFile(
                        resource("fixtures/instancenorm/" + name + ".npz").toFile());
            } catch (Exception e) {
                throw new IllegalStateException(
                        "Cannot read fixture " + name
                                + "; regenerate with src/test/python/gen_instancenorm_fixtures.py",
                        e);
            }
        }

        /** @return the input rank */
        public int rank() {
            return dims + 2;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** @return every case in {@code fixtures/instancenorm/cases.txt} */
    public static List<Case> cases() {
        try {
            return Files.readAllLines(resource("fixtures/instancenorm/cases.txt")).stream()
                    .filter(line -> !line.isBlank() && !line.startsWith("#"))
                    .map(Fixtures::parse)
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Case parse(String line) {
        String[] f = line.trim().split("\\s+");
        DataType type = switch (f[2]) {
            case "float" -> DataType.FLOAT;
            case "double" -> DataType.DOUBLE;
            default -> throw new IllegalArgumentException("Unknown dtype in cases.txt: " + line);
        };
        Double momentum = "null".equals(f[5]) ? null : Double.valueOf(f[5]);
        return new Case(
                f[0], Integer.parseInt(f[1]), type, Boolean.parseBoolean(f[3]), Boolean.parseBoolean(f[4]), momentum);
    }

    /** @return the path of a test resource */
    public static Path resource(String name) {
        URL url = Fixtures.class.getClassLoader().getResource(name);
        if (url == null) {
            throw new IllegalStateException("Missing test resource " + name);
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** @return {@code file} as a File, for ND4J readers */
    public static File file(String name) {
        return resource(name).toFile();
    }
}
