package io.github.instancenorm.benchmarks;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The memory-bandwidth yardstick: copying a float32 array of each benchmark shape's size, which reads it once and
 * writes it once, the least any normalization forward must do. The fastest of the four copies gives the bound
 * that {@code report.py} divides into: forward = 1 copy (read x, write y), forward + backward = 2.5 copies (read x,
 * write y; read x and dy, write dx).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {"-Xmx2g", "-Dorg.bytedeco.javacpp.maxbytes=6G"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
public class MemoryBandwidthBenchmark {

    /** Channels-first shape; only its element count matters here. */
    @Param({"10x64x128x128", "16x256x32x32", "64x32x64"})
    public String shape;

    private float[] source;
    private float[] target;
    private INDArray sourceArray;
    private INDArray targetArray;
    private int halves;

    /** Allocates and fills the arrays. */
    @Setup(Level.Trial)
    public void setUp() {
        long n = Arrays.stream(shape.split("x")).mapToLong(Long::parseLong).reduce(1, (a, b) -> a * b);
        source = new float[(int) n];
        target = new float[(int) n];
        Arrays.fill(source, 1.5f);
        Arrays.fill(target, 0.5f);
        sourceArray = Nd4j.rand(DataType.FLOAT, n);
        targetArray = Nd4j.zeros(DataType.FLOAT, n);
        halves = Runtime.getRuntime().availableProcessors();
    }

    /**
     * The polling threads of {@link #spinningThreadsArraycopy}, only in that benchmark's trial: polling, they would
     * take a core from the other copies.
     */
    @State(Scope.Benchmark)
    public static class PollingThreads {
        private SpinningCopier copier;

        /** Starts the threads on the benchmark's arrays. */
        @Setup(Level.Trial)
        public void setUp(MemoryBandwidthBenchmark arrays) {
            copier = new SpinningCopier(arrays.source, arrays.target, arrays.halves);
        }

        /** Stops them. */
        @TearDown(Level.Trial)
        public void tearDown() {
            copier.close();
        }
    }

    /** The caller plus {@code parts - 1} polling threads; part {@code i} of the arrays is thread {@code i}'s. */
    private static final class SpinningCopier implements AutoCloseable {
        private final float[] source;
        private final float[] target;
        private final int parts;
        private final Thread[] threads;
        private final AtomicInteger done = new AtomicInteger();
        private volatile int generation;
        private volatile boolean closed;

        SpinningCopier(float[] source, float[] target, int parts) {
            this.source = source;
            this.target = target;
            this.parts = parts;
            threads = new Thread[parts - 1];
            for (int i = 1; i < parts; i++) {
                int part = i;
                threads[i - 1] = new Thread(() -> poll(part), "copier-" + i);
                threads[i - 1].setDaemon(true);
                threads[i - 1].start();
            }
        }

        void copy() {
            done.set(0);
            generation++;
            copyPart(0);
            while (done.get() < parts - 1) {
                Thread.onSpinWait();
            }
        }

        private void poll(int part) {
            int seen = 0;
            while (!closed) {
                int g = generation;
                if (g != seen) {
                    seen = g;
                    copyPart(part);
                    done.incrementAndGet();
                } else {
                    Thread.onSpinWait();
                }
            }
        }

        private void copyPart(int part) {
            int n = source.length;
            int from = (int) ((long) n * part / parts);
            int to = (int) ((long) n * (part + 1) / parts);
            System.arraycopy(source, from, target, from, to - from);
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /** One thread, {@code System.arraycopy} of Java arrays. */
    @Benchmark
    public float[] arraycopy() {
        System.arraycopy(source, 0, target, 0, source.length);
        return target;
    }

    /** Every core, each copying its share of the Java arrays. */
    @Benchmark
    public float[] parallelArraycopy() {
        int n = source.length;
        IntStream.range(0, halves).parallel().forEach(i -> {
            int from = (int) ((long) n * i / halves);
            int to = (int) ((long) n * (i + 1) / halves);
            System.arraycopy(source, from, target, from, to - from);
        });
        return target;
    }

    /**
     * Every core, each copying one contiguous part of the Java arrays, on threads that poll for the next copy
     * instead of sleeping: no wake-up latency in the measurement, as with the layer's kernel threads.
     */
    @Benchmark
    public float[] spinningThreadsArraycopy(PollingThreads threads) {
        threads.copier.copy();
        return target;
    }

    /** ND4J's own copy of native arrays, multi-threaded by libnd4j. */
    @Benchmark
    public INDArray assign() {
        return targetArray.assign(sourceArray);
    }
}
