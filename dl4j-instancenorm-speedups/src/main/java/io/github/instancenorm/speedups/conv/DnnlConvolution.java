package io.github.instancenorm.speedups.conv;

import java.util.Arrays;
import java.util.function.Supplier;
import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.deconvolution_backward_data;
import org.bytedeco.dnnl.deconvolution_backward_weights;
import org.bytedeco.dnnl.deconvolution_forward;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive;
import org.bytedeco.dnnl.primitive_desc_base;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.LoggerFactory;

/**
 * One 2d convolution or transposed convolution ("deconvolution") shape on oneDNN, called directly through the JavaCPP preset {@code org.bytedeco:dnnl} (oneDNN
 * 2.5.2, the JavaCPP 1.5.7 of ND4J M2.1), with its primitives created once and reused on every call.
 *
 * <p>Why not libnd4j's {@code conv2d_bp}: it describes every array in its plain layout ({@code nchw}, {@code oihw}),
 * for which oneDNN 2.5 has only its {@code gemm} backward, and it allocates its temporaries on each call. Measured on
 * this project's 2-core AVX-512 VM (float, 3×3, stride 1, median of 5): the backward of {@code [16, 256, 32, 32] →
 * 256} took 444 ms in {@code conv2d_bp} and 128 ms here; {@code [8, 16, 32, 32] → 16} 955 µs and 351 µs. Here each
 * primitive chooses its own blocked layout ({@code format_tag::any}, the {@code jit:avx512_common} or {@code avx2}
 * kernels), and the arrays are reordered into and out of it around the call. The blocked copies live in scratch
 * buffers per thread that grow to the largest shape seen, so a network pays for one set, not one per layer.
 *
 * <p>A transposed convolution runs oneDNN's {@code deconvolution} primitives on DL4J's {@code Deconvolution2D}
 * weights as they are ({@code [in, out, kH, kW]}, oneDNN's {@code iohw}); libnd4j's {@code deconv2d_bp} instead
 * permutes them and gives oneDNN plain layouts, as {@code conv2d_bp} does.
 *
 * <p>Float arrays only; the results equal libnd4j's {@code conv2d}, {@code conv2d_bp}, {@code deconv2d} and
 * {@code deconv2d_bp} up to the order of float sums (a relative difference of at most about 1e-5 was measured;
 * {@code DnnlConvolutionTest}).
 */
final class DnnlConvolution {

    /** {@link FastConvolutions#DIRECT_PROPERTY}. */
    static final String PROPERTY = FastConvolutions.DIRECT_PROPERTY;

    private static final engine ENGINE;
    private static final String UNAVAILABLE;

    static {
        engine e = null;
        String why = null;
        if ("false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").trim())) {
            why = PROPERTY + "=false";
        } else {
            try {
                e = new engine(engine.kind.cpu, 0);
            } catch (Throwable t) { // a missing native library is an Error; the ops path still works
                why = "oneDNN's JavaCPP preset did not load: " + t;
                LoggerFactory.getLogger(DnnlConvolution.class).info("Convolutions stay on libnd4j's ops: {}", why);
            }
        }
        ENGINE = e;
        UNAVAILABLE = why;
    }

    private static final ThreadLocal<stream> STREAM = ThreadLocal.withInitial(() -> new stream(ENGINE));

    /** Scratch buffers of one thread, by role; each grows to the largest size asked for. */
    private static final ThreadLocal<BytePointer[]> SCRATCH = ThreadLocal.withInitial(() -> new BytePointer[6]);

    private static final int SRC = 0;
    private static final int WEIGHTS = 1;
    private static final int DST = 2;
    private static final int DIFF_SRC = 3;
    private static final int DIFF_WEIGHTS = 4;
    private static final int SRC_FOR_WEIGHTS = 5;

    /** @return why oneDNN is not called directly in this process, or {@code null} where it is */
    static String unavailable() {
        return UNAVAILABLE;
    }

    private final boolean hasBias;
    // The arrays' own layouts: activations in the network's, weights oihw, bias a vector.
    private final memory.desc srcUser;
    private final memory.desc weightUser;
    private final memory.desc dstUser;
    private final memory.desc biasUser;

    private final boolean transposed;
    private final primitive_desc_base forwardDesc;
    private final primitive_desc_base backwardData;
    private final primitive_desc_base backwardWeights;
    private Step forwardStep;
    private Step backwardDataStep;
    private Step backwardWeightsStep;

    /**
     * @param input   {@code [N, C, H, W]} (NCHW) or {@code [N, H, W, C]} (NHWC)
     * @param weights    {@code [O, C, kH, kW]}, or {@code [C, O, kH, kW]} where transposed
     * @param output     the output shape, in the input's layout
     * @param nchw       the activations' layout
     * @param strides    {@code [sH, sW]}
     * @param padLow     top and left padding
     * @param padHigh    bottom and right padding
     * @param hasBias    whether a bias is added
     * @param transposed a transposed convolution (DL4J's {@code Deconvolution2D})
     */
    private DnnlConvolution(
            long[] input,
            long[] weights,
            long[] output,
            boolean nchw,
            int[] strides,
            int[] padLow,
            int[] padHigh,
            boolean hasBias,
            boolean transposed) {
        long[] srcDims = nchw ? input.clone() : new long[] {input[0], input[3], input[1], input[2]};
        long[] dstDims = nchw ? output.clone() : new long[] {output[0], output[3], output[1], output[2]};
        // oneDNN's weight dimensions are always (out, in, kH, kW); the layout tag says how they lie in memory.
        long[] weightDims = transposed ? new long[] {weights[1], weights[0], weights[2], weights[3]} : weights.clone();
        this.hasBias = hasBias;
        this.transposed = transposed;
        memory.format_tag activationTag = nchw ? memory.format_tag.nchw : memory.format_tag.nhwc;
        this.srcUser = plain(srcDims, activationTag);
        this.weightUser = plain(weightDims, transposed ? memory.format_tag.iohw : memory.format_tag.oihw);
        this.dstUser = plain(dstDims, activationTag);
        this.biasUser = plain(new long[] {weightDims[0]}, memory.format_tag.x);
        long[] s = {strides[0], strides[1]};
        long[] l = {padLow[0], padLow[1]};
        long[] h = {padHigh[0], padHigh[1]};
        memory.desc src = any(srcDims);
        memory.desc w = any(weightDims);
        memory.desc dst = any(dstDims);
        memory.desc bias = hasBias ? biasUser : new memory.desc();
        dnnl.prop_kind training = dnnl.prop_kind.forward_training;
        if (transposed) {
            dnnl.algorithm direct = dnnl.algorithm.deconvolution_direct;
            deconvolution_forward.primitive_desc f = new deconvolution_forward.primitive_desc(
                    new deconvolution_forward.desc(training, direct, src, w, bias, dst, s, l, h), ENGINE);
            forwardDesc = f;
            backwardData = new deconvolution_backward_data.primitive_desc(
                    new deconvolution_backward_data.desc(direct, src, w, dst, s, l, h), ENGINE, f);
            backwardWeights = new deconvolution_backward_weights.primitive_desc(
                    new deconvolution_backward_weights.desc(direct, src, w, bias, dst, s, l, h), ENGINE, f);
        } else {
            dnnl.algorithm direct = dnnl.algorithm.convolution_direct;
            convolution_forward.primitive_desc f = new convolution_forward.primitive_desc(
                    new convolution_forward.desc(training, direct, src, w, bias, dst, s, l, h), ENGINE);
            forwardDesc = f;
            backwardData = new convolution_backward_data.primitive_desc(
                    new convolution_backward_data.desc(direct, src, w, dst, s, l, h), ENGINE, f);
            backwardWeights = new convolution_backward_weights.primitive_desc(
                    new convolution_backward_weights.desc(direct, src, w, bias, dst, s, l, h), ENGINE, f);
        }
    }

    /**
     * A convolution on oneDNN for these shapes, or {@code null} where this class does not apply: oneDNN did not load,
     * the arrays are not float, or oneDNN refuses the configuration (then libnd4j's ops run).
     *
     * @param input      the input
     * @param weights    {@code [O, C, kH, kW]}, or DL4J's deconvolution weights {@code [C, O, kH, kW]} where
     *                   transposed
     * @param output     the output shape
     * @param nchw       the activations' layout
     * @param strides    {@code [sH, sW]}
     * @param padLow     top and left padding
     * @param padHigh    bottom and right padding, at least 0
     * @param hasBias    whether a bias is added
     * @param transposed a transposed convolution, whose output is larger than its input
     * @return the convolution, or {@code null}
     */
    static DnnlConvolution create(
            INDArray input,
            INDArray weights,
            long[] output,
            boolean nchw,
            int[] strides,
            int[] padLow,
            int[] padHigh,
            boolean hasBias,
            boolean transposed) {
        if (ENGINE == null
                || input.dataType() != DataType.FLOAT
                || weights.dataType() != DataType.FLOAT
                || input.rank() != 4
                || padHigh[0] < 0
                || padHigh[1] < 0) {
            return null;
        }
        try {
            return new DnnlConvolution(
                    input.shape(), weights.shape(), output, nchw, strides, padLow, padHigh, hasBias, transposed);
        } catch (RuntimeException e) { // oneDNN's "could not create a primitive descriptor"
            LoggerFactory.getLogger(DnnlConvolution.class)
                    .debug(
                            "oneDNN refuses the {}convolution {} -> {}: {}",
                            transposed ? "transposed " : "",
                            Arrays.toString(input.shape()),
                            Arrays.toString(output),
                            e.toString());
            return null;
        }
    }

    /**
     * {@code output = conv(input, weights) + bias}.
     *
     * @param input   the input, in this convolution's shape
     * @param weights the weights, in this convolution's shape (any strides: copied where oneDNN cannot read them)
     * @param bias    {@code O} values, or {@code null} without bias
     * @param output  written, the output shape, c-order
     */
    void forward(INDArray input, INDArray weights, INDArray bias, INDArray output) {
        input = dense(input);
        weights = dense(weights);
        if (forwardStep == null) {
            primitive p = transposed
                    ? new deconvolution_forward((deconvolution_forward.primitive_desc) forwardDesc)
                    : new convolution_forward((convolution_forward.primitive_desc) forwardDesc);
            forwardStep = new Step(p, hasBias ? 4 : 3);
        }
        Step st = forwardStep;
        st.in(dnnl.DNNL_ARG_SRC, srcUser, () -> forwardDesc.src_desc(), SRC, input);
        st.in(dnnl.DNNL_ARG_WEIGHTS, weightUser, () -> forwardDesc.weights_desc(), WEIGHTS, weights);
        if (hasBias) {
            st.in(dnnl.DNNL_ARG_BIAS, biasUser, () -> null, -1, bias);
        }
        st.out(dnnl.DNNL_ARG_DST, dstUser, () -> forwardDesc.dst_desc(), DST, output);
        st.run();
    }

    /**
     * The gradients of a loss with respect to the input, the weights and the bias, given its gradient {@code delta}
     * with respect to the output.
     *
     * @param input      the forward's input (any strides, as the three below)
     * @param weights    the forward's weights
     * @param delta      the output's gradient
     * @param inputGrad  written, the input's shape, c-order
     * @param weightGrad written, the weights' shape (a view into a network's gradient array with other strides is
     *                   written through a copy)
     * @param biasGrad   written, {@code O} values, or {@code null} without bias
     */
    void backward(
            INDArray input,
            INDArray weights,
            INDArray delta,
            INDArray inputGrad,
            INDArray weightGrad,
            INDArray biasGrad) {
        if (backwardDataStep == null) {
            primitive data = transposed
                    ? new deconvolution_backward_data((deconvolution_backward_data.primitive_desc) backwardData)
                    : new convolution_backward_data((convolution_backward_data.primitive_desc) backwardData);
            primitive filter = transposed
                    ? new deconvolution_backward_weights(
                            (deconvolution_backward_weights.primitive_desc) backwardWeights)
                    : new convolution_backward_weights((convolution_backward_weights.primitive_desc) backwardWeights);
            backwardDataStep = new Step(data, 3);
            backwardWeightsStep = new Step(filter, hasBias ? 4 : 3);
        }
        input = dense(input);
        weights = dense(weights);
        delta = dense(delta);
        INDArray weightTarget = dense(weightGrad);
        Step d = backwardDataStep;
        d.in(dnnl.DNNL_ARG_DIFF_DST, dstUser, () -> backwardData.diff_dst_desc(), DST, delta);
        d.in(dnnl.DNNL_ARG_WEIGHTS, weightUser, () -> backwardData.weights_desc(), WEIGHTS, weights);
        d.out(dnnl.DNNL_ARG_DIFF_SRC, srcUser, () -> backwardData.diff_src_desc(), DIFF_SRC, inputGrad);
        d.run();

        Step w = backwardWeightsStep;
        // The delta's blocked copy from the step above serves again where both primitives chose one layout.
        w.in(
                dnnl.DNNL_ARG_DIFF_DST,
                dstUser,
                () -> backwardWeights.diff_dst_desc(),
                DST,
                delta,
                () -> backwardData.diff_dst_desc());
        w.in(dnnl.DNNL_ARG_SRC, srcUser, () -> backwardWeights.src_desc(), SRC_FOR_WEIGHTS, input);
        w.out(
                dnnl.DNNL_ARG_DIFF_WEIGHTS,
                weightUser,
                () -> backwardWeights.diff_weights_desc(),
                DIFF_WEIGHTS,
                weightTarget);
        if (hasBias) {
            w.out(dnnl.DNNL_ARG_DIFF_BIAS, biasUser, () -> null, -1, biasGrad);
        }
        w.run();
        if (weightTarget != weightGrad) {
            weightGrad.assign(weightTarget);
        }
    }

    /** The array itself where oneDNN can read it in place, else a row-major copy. */
    private static INDArray dense(INDArray array) {
        return denseC(array) ? array : array.dup('c');
    }

    private static memory.desc any(long[] dims) {
        return new memory.desc(dims, memory.data_type.f32, memory.format_tag.any);
    }

    private static memory.desc plain(long[] dims, memory.format_tag tag) {
        return new memory.desc(dims, memory.data_type.f32, tag);
    }

    /** The address of an array's first element, for oneDNN. */
    private static Pointer address(INDArray a) {
        if (!denseC(a)) {
            throw new IllegalArgumentException("oneDNN needs a c-order array with default strides, got shape "
                    + Arrays.toString(a.shape()) + " strides " + Arrays.toString(a.stride()));
        }
        // A view's buffer is itself a view: its address already includes the array's offset.
        return a.data().addressPointer();
    }

    /**
     * Whether the array's elements lie in row-major order without gaps: each stride the product of the sizes after
     * it, except on dimensions of size 1, whose stride ND4J sets freely.
     */
    static boolean denseC(INDArray a) {
        long expected = 1;
        for (int i = a.rank() - 1; i >= 0; i--) {
            long size = a.size(i);
            if (size != 1 && a.stride(i) != expected) {
                return false;
            }
            expected *= size;
        }
        return true;
    }

    /** A scratch buffer of this thread, at least {@code bytes} long. */
    private static Pointer scratch(int slot, long bytes) {
        BytePointer[] pool = SCRATCH.get();
        if (pool[slot] == null || pool[slot].capacity() < bytes) {
            if (pool[slot] != null) {
                pool[slot].close();
            }
            pool[slot] = new BytePointer(bytes);
        }
        return pool[slot];
    }

    /**
     * One primitive with its arguments: each bound either to the user's array (where the primitive takes its layout)
     * or to a blocked scratch copy, reordered in before the call or out after it. The memory objects, reorders and
     * argument map are made on the first call and reused; each call only sets the data handles.
     */
    private static final class Step {
        private final primitive primitive;
        private final IntMemoryMap args = new IntMemoryMap();
        private final Arg[] bound;
        private int count;

        Step(primitive primitive, int arguments) {
            this.primitive = primitive;
            this.bound = new Arg[arguments];
        }

        // The primitive's layouts are asked for (a JNI call and a new object each) only on the first call.

        void in(int key, memory.desc userDesc, Supplier<memory.desc> wanted, int slot, INDArray array) {
            in(key, userDesc, wanted, slot, array, () -> null);
        }

        /** @param reuse a layout whose scratch copy of the same array an earlier step of this call left in slot */
        void in(
                int key,
                memory.desc userDesc,
                Supplier<memory.desc> wanted,
                int slot,
                INDArray array,
                Supplier<memory.desc> reuse) {
            bind(key, userDesc, wanted, slot, array, true, reuse);
        }

        void out(int key, memory.desc userDesc, Supplier<memory.desc> wanted, int slot, INDArray array) {
            bind(key, userDesc, wanted, slot, array, false, () -> null);
        }

        private void bind(
                int key,
                memory.desc userDesc,
                Supplier<memory.desc> wanted,
                int slot,
                INDArray array,
                boolean input,
                Supplier<memory.desc> reuse) {
            Arg a = bound[count];
            if (a == null) {
                a = new Arg(userDesc, wanted.get(), slot, input, reuse.get());
                bound[count] = a;
                args.put(key, a.primary());
            }
            count++;
            a.user.set_data_handle(address(array));
            if (a.blocked != null) {
                a.blocked.set_data_handle(scratch(a.slot, a.blockedBytes));
            }
        }

        void run() {
            stream s = STREAM.get();
            for (int i = 0; i < count; i++) {
                Arg a = bound[i];
                if (a.input && a.toBlocked != null && !a.reused) {
                    a.toBlocked.execute(s, a.user, a.blocked);
                }
            }
            primitive.execute(s, args);
            for (int i = 0; i < count; i++) {
                Arg a = bound[i];
                if (!a.input && a.fromBlocked != null) {
                    a.fromBlocked.execute(s, a.blocked, a.user);
                }
            }
            s._wait();
            count = 0;
        }
    }

    /** One argument of a {@link Step}: the user's memory and, where the layouts differ, a blocked one. */
    private static final class Arg {
        final memory user;
        final memory blocked;
        final reorder toBlocked;
        final reorder fromBlocked;
        final long blockedBytes;
        final int slot;
        final boolean input;
        final boolean reused;

        Arg(memory.desc userDesc, memory.desc wanted, int slot, boolean input, memory.desc reuse) {
            this.user = new memory(userDesc, ENGINE, (Pointer) null);
            this.input = input;
            boolean same = wanted == null || wanted.equals(userDesc);
            this.slot = same ? -1 : slot;
            this.blocked = same ? null : new memory(wanted, ENGINE, (Pointer) null);
            this.blockedBytes = same ? 0 : wanted.get_size();
            this.reused = !same && reuse != null && reuse.equals(wanted);
            this.toBlocked = !same && input ? new reorder(user, blocked) : null;
            this.fromBlocked = !same && !input ? new reorder(blocked, user) : null;
        }

        memory primary() {
            return blocked != null ? blocked : user;
        }
    }
}
