package io.github.instancenorm.torch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Benchmark harness (not a unit test): how long {@link StateDict#read} takes compared with just
 * reading the file's bytes, with the file in the page cache.
 *
 * <pre>
 * mvn -q -pl dl4j-instancenorm-torch test-compile exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.github.instancenorm.torch.ReadBenchmark -Dexec.args="big.pt [reps]"
 * </pre>
 *
 * Without a file argument it writes a 100 MB checkpoint (25 float32 tensors of 1024 x 1024) with
 * {@link StateDict#writeTorch} to a temporary file first. Prints the median of each measurement
 * and the ratio read / plain read.
 */
public final class ReadBenchmark {
    private ReadBenchmark() {}

    /**
     * @param args optional checkpoint path, optional repetitions (default 9)
     * @throws IOException when the file cannot be read
     */
    public static void main(String[] args) throws IOException {
        Path path;
        if (args.length > 0) {
            path = Path.of(args[0]);
        } else {
            path = Files.createTempFile("bench", ".pt");
            path.toFile().deleteOnExit();
            StateDict sd = new StateDict();
            for (int i = 0; i < 25; i++) {
                sd.put("layer" + i + ".weight", Nd4j.rand(DataType.FLOAT, 1024, 1024));
            }
            sd.writeTorch(path);
        }
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 9;
        long size = Files.size(path);
        System.out.printf(
                "file %s, %.1f MB, %d repetitions (first run of each discarded as warm-up)%n", path, size / 1e6, reps);
        double[] bytes = new double[reps];
        double[] channel = new double[reps];
        double[] read = new double[reps];
        long sink = 0;
        for (int r = -1; r < reps; r++) {
            long t0 = System.nanoTime();
            byte[] all = Files.readAllBytes(path);
            long t1 = System.nanoTime();
            ByteBuffer direct = ByteBuffer.allocateDirect((int) size);
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                while (direct.hasRemaining() && ch.read(direct) >= 0) {
                    // read everything
                }
            }
            long t2 = System.nanoTime();
            StateDict sd = StateDict.read(path);
            long t3 = System.nanoTime();
            sink += all.length + direct.position() + sd.size();
            if (r >= 0) {
                bytes[r] = (t1 - t0) / 1e6;
                channel[r] = (t2 - t1) / 1e6;
                read[r] = (t3 - t2) / 1e6;
            }
        }
        double b = median(bytes);
        double c = median(channel);
        double s = median(read);
        System.out.printf("Files.readAllBytes      %8.1f ms  (%.2f GB/s)%n", b, size / b / 1e6);
        System.out.printf("FileChannel -> direct   %8.1f ms  (%.2f GB/s)%n", c, size / c / 1e6);
        System.out.printf("StateDict.read          %8.1f ms  (%.2f GB/s)%n", s, size / s / 1e6);
        System.out.printf(
                "ratio StateDict.read / readAllBytes = %.2f, / FileChannel read = %.2f   (%d)%n",
                s / b, s / c, sink % 7);
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }
}
