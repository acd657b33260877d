package io.github.instancenorm.ops.cpu;

import io.github.instancenorm.runtime.HostArrays;
import java.util.Arrays;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The small arrays of a call (statistics, parameters, their gradients) copied to and from {@code double[]}s: straight
 * through their buffers when they are plain contiguous vectors, through ND4J otherwise.
 */
final class SmallArrays {

    private SmallArrays() {}

    /** Whether {@code a} is a float or double vector whose elements lie in order from its buffer's offset. */
    static boolean plainVector(INDArray a) {
        return (a.dataType() == DataType.FLOAT || a.dataType() == DataType.DOUBLE)
                && !a.isEmpty()
                && HostArrays.denseRowMajor(a)
                && a.offset() == a.data().offset();
    }

    /**
     * @param dst receives the values, at least {@code a.length()} long
     * @param vec lends its float buffer for the copy
     * @return {@code dst}, holding {@code a}'s values in order
     */
    static double[] values(INDArray a, double[] dst, InstanceVectors vec) {
        int n = (int) a.length();
        if (rowStrided(a)) {
            int rows = (int) a.size(0);
            int cols = (int) a.size(1);
            long stride = a.stride(0);
            for (int r = 0; r < rows; r++) {
                long at = a.offset() + r * stride;
                if (a.dataType() == DataType.FLOAT) {
                    float[] f = vec.floats;
                    floatsAt(a, at).get(f, 0, cols);
                    for (int c = 0; c < cols; c++) {
                        dst[r * cols + c] = f[c];
                    }
                } else {
                    doublesAt(a, at).get(dst, r * cols, cols);
                }
            }
        } else if (!plainVector(a)) {
            System.arraycopy(a.castTo(DataType.DOUBLE).dup('c').data().asDouble(), 0, dst, 0, n);
        } else if (a.dataType() == DataType.FLOAT) {
            // One bulk copy and a plain loop: a buffer access per element costs several times as much.
            float[] f = vec.floats;
            floatsAt(a).get(f, 0, n);
            for (int i = 0; i < n; i++) {
                dst[i] = f[i];
            }
        } else {
            doublesAt(a).get(dst, 0, n);
        }
        return dst;
    }

    /**
     * Pointers to a plain float or double vector's first element, for bulk copies of small arrays: a new
     * {@code Pointer} object over the buffer's memory (shared, never freed through it) costs a tenth of the JNI
     * call with which {@code asNioFloat()} makes a new {@code ByteBuffer}.
     */
    private static FloatPointer floatsAt(INDArray a) {
        return floatsAt(a, a.data().offset());
    }

    /** As {@link #floatsAt}, for a double vector. */
    private static DoublePointer doublesAt(INDArray a) {
        return doublesAt(a, a.data().offset());
    }

    /**
     * A pointer to element {@code at} of a float array, counted as {@link #floatsAt(INDArray)} counts (a view's
     * buffer reports the view's offset, which equals {@code a.offset()} for the arrays these helpers take).
     */
    private static FloatPointer floatsAt(INDArray a, long at) {
        Pointer p = a.data().pointer();
        return new FloatPointer(p).position(p.position() + at);
    }

    /** As {@link #floatsAt(INDArray, long)}, for a double array. */
    private static DoublePointer doublesAt(INDArray a, long at) {
        Pointer p = a.data().pointer();
        return new DoublePointer(p).position(p.position() + at);
    }

    /**
     * Whether {@code a} is a float or double matrix of contiguous rows at a fixed row stride, such as one half of
     * a row-major {@code [N, 2C]} modulation, on the CPU backend: read and written row by row in place.
     */
    static boolean rowStrided(INDArray a) {
        return (a.dataType() == DataType.FLOAT || a.dataType() == DataType.DOUBLE)
                && HostArrays.isCpuBackend()
                && a.rank() == 2
                && !a.isEmpty()
                && a.ordering() == 'c'
                && a.stride(1) == 1
                && a.stride(0) >= a.size(1)
                && a.offset() == a.data().offset()
                && !plainVector(a);
    }

    /** @return a {@code [C]} array's values in {@code dst}, or {@code fill} repeated when it is {@code null} */
    static double[] channelValues(INDArray a, int channels, double fill, double[] dst, InstanceVectors vec) {
        if (a == null) {
            Arrays.fill(dst, 0, channels, fill);
            return dst;
        }
        return values(a, dst, vec);
    }

    /** @return the {@code [N, C]} statistic, outside any workspace: it is tiny and outlives the forward pass */
    static INDArray instanceArray(double[] v, Geometry geo, DataType type, InstanceVectors vec) {
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            INDArray a = Nd4j.createUninitialized(type, geo.batch, geo.channels);
            write(a, v, geo.instances(), vec);
            return a;
        }
    }

    /** Writes {@code v} into {@code target} unless it is {@code null} (a gradient nobody asked for). */
    static void assignChannels(INDArray target, double[] v, InstanceVectors vec) {
        if (target != null) {
            write(target, v, v.length, vec);
        }
    }

    /** Writes {@code v[0, n)} into {@code target}, which has {@code n} elements, in its own type. */
    static void write(INDArray target, double[] v, int n, InstanceVectors vec) {
        if (rowStrided(target)) {
            int rows = (int) target.size(0);
            int cols = (int) target.size(1);
            long stride = target.stride(0);
            for (int r = 0; r < rows; r++) {
                long at = target.offset() + r * stride;
                if (target.dataType() == DataType.FLOAT) {
                    float[] f = vec.floats;
                    for (int c = 0; c < cols; c++) {
                        f[c] = (float) v[r * cols + c];
                    }
                    floatsAt(target, at).put(f, 0, cols);
                } else {
                    doublesAt(target, at).put(v, r * cols, cols);
                }
            }
        } else if (!plainVector(target)) {
            target.assign(Nd4j.createFromArray(Arrays.copyOf(v, n))
                    .castTo(target.dataType())
                    .reshape(target.shape()));
        } else if (target.dataType() == DataType.FLOAT) {
            float[] f = vec.floats;
            for (int i = 0; i < n; i++) {
                f[i] = (float) v[i];
            }
            floatsAt(target).put(f, 0, n);
        } else {
            doublesAt(target).put(v, 0, n);
        }
    }
}
