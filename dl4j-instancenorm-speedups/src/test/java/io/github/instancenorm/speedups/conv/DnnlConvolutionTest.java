package io.github.instancenorm.speedups.conv;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.util.ConvolutionUtils;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link DnnlConvolution} against libnd4j's {@code conv2d} and {@code conv2d_bp} in double (the exact reference for
 * the float path), over kernels, strides, padding modes, layouts and widths that StarGAN's and StarGAN v2's
 * networks use, and views with an offset (a layer's gradient view into the network's gradient array).
 */
class DnnlConvolutionTest {

    /** Float against double, scaled by the largest magnitude of the expected array. */
    private static final double TOL = 2e-5;

    record Case(
            int n,
            int c,
            int o,
            int h,
            int w,
            int k,
            int s,
            int p,
            ConvolutionMode mode,
            boolean bias,
            CNN2DFormat format) {}

    static List<Case> cases() {
        List<Case> out = new ArrayList<>();
        for (CNN2DFormat f : CNN2DFormat.values()) {
            out.add(new Case(2, 3, 8, 16, 16, 7, 1, 3, ConvolutionMode.Truncate, false, f)); // StarGAN G's first
            out.add(new Case(2, 8, 3, 16, 16, 7, 1, 3, ConvolutionMode.Truncate, false, f)); // StarGAN G's last
            out.add(new Case(2, 8, 16, 16, 16, 4, 2, 1, ConvolutionMode.Truncate, false, f)); // StarGAN down
            out.add(new Case(3, 16, 16, 9, 11, 3, 1, 1, ConvolutionMode.Truncate, true, f)); // StarGAN v2's 3x3
            out.add(new Case(3, 16, 32, 8, 8, 1, 1, 0, ConvolutionMode.Truncate, false, f)); // v2's 1x1 shortcut
            out.add(new Case(2, 5, 7, 13, 10, 3, 2, 0, ConvolutionMode.Same, true, f)); // asymmetric padding
            out.add(new Case(2, 5, 7, 13, 10, 3, 2, 1, ConvolutionMode.Truncate, true, f)); // a row dropped
            out.add(new Case(2, 16, 4, 4, 4, 4, 1, 0, ConvolutionMode.Truncate, true, f)); // v2 D's 4x4 valid
        }
        return out;
    }

    @Test
    void forwardAndBackwardMatchLibnd4jInDouble() {
        assumeTrue(
                DnnlConvolution.unavailable() == null,
                "oneDNN's preset did not load: " + DnnlConvolution.unavailable());
        int checked = 0;
        for (Case c : cases()) {
            boolean nchw = c.format() == CNN2DFormat.NCHW;
            Nd4j.getRandom().setSeed(5);
            long[] inShape = nchw ? new long[] {c.n(), c.c(), c.h(), c.w()} : new long[] {c.n(), c.h(), c.w(), c.c()};
            INDArray x = Nd4j.rand(DataType.DOUBLE, inShape).subi(0.5);
            INDArray w = Nd4j.rand(DataType.DOUBLE, c.o(), c.c(), c.k(), c.k()).subi(0.5);
            INDArray b = Nd4j.rand(DataType.DOUBLE, c.o()).subi(0.5);
            int[] k = {c.k(), c.k()};
            int[] s = {c.s(), c.s()};
            int[] p = {c.p(), c.p()};
            boolean same = c.mode() == ConvolutionMode.Same;
            int[] outSize =
                    ConvolutionUtils.getOutputSize(x, k, s, same ? null : p, c.mode(), new int[] {1, 1}, c.format());
            long[] outShape = nchw
                    ? new long[] {c.n(), c.o(), outSize[0], outSize[1]}
                    : new long[] {c.n(), outSize[0], outSize[1], c.o()};
            INDArray dy = Nd4j.rand(DataType.DOUBLE, outShape).subi(0.5);
            int[] iargs = {c.k(), c.k(), c.s(), c.s(), c.p(), c.p(), 1, 1, same ? 1 : 0, nchw ? 0 : 1, 1};

            INDArray y = Nd4j.create(DataType.DOUBLE, outShape);
            DynamicCustomOp.DynamicCustomOpsBuilder fwd =
                    DynamicCustomOp.builder("conv2d").addIntegerArguments(iargs);
            (c.bias() ? fwd.addInputs(x, w, b) : fwd.addInputs(x, w)).addOutputs(y);
            Nd4j.exec(fwd.build());
            INDArray dx = Nd4j.create(DataType.DOUBLE, inShape);
            INDArray dw = Nd4j.create(DataType.DOUBLE, w.shape());
            INDArray db = Nd4j.create(DataType.DOUBLE, c.o());
            DynamicCustomOp.DynamicCustomOpsBuilder bwd =
                    DynamicCustomOp.builder("conv2d_bp").addIntegerArguments(iargs);
            if (c.bias()) {
                bwd.addInputs(x, w, b, dy).addOutputs(dx, dw, db);
            } else {
                bwd.addInputs(x, w, dy).addOutputs(dx, dw);
            }
            Nd4j.exec(bwd.build());

            INDArray xf = x.castTo(DataType.FLOAT);
            INDArray wf = w.castTo(DataType.FLOAT);
            int[] in = {(int) (nchw ? c.h() : c.h()), c.w()};
            int[] low = same ? ConvolutionUtils.getSameModeTopLeftPadding(outSize, in, k, s, new int[] {1, 1}) : p;
            int[] high = {
                (outSize[0] - 1) * c.s() + c.k() - c.h() - low[0], (outSize[1] - 1) * c.s() + c.k() - c.w() - low[1]
            };
            DnnlConvolution conv = DnnlConvolution.create(xf, wf, outShape, nchw, s, low, high, c.bias(), false);
            assertNotNull(conv, c.toString());
            // NaN-filled outputs: anything left unwritten shows.
            INDArray yf = Nd4j.valueArrayOf(outShape, Float.NaN, DataType.FLOAT);
            conv.forward(xf, wf, c.bias() ? b.castTo(DataType.FLOAT) : null, yf);
            assertClose(c + " forward", y, yf);

            INDArray dxf = Nd4j.valueArrayOf(inShape, Float.NaN, DataType.FLOAT);
            // The weight and bias gradients as views with an offset, as a layer's views into a gradient array.
            INDArray flat = Nd4j.valueArrayOf(new long[] {1, 3 + w.length() + c.o()}, Float.NaN, DataType.FLOAT);
            INDArray dwf = flat.get(
                            org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                            org.nd4j.linalg.indexing.NDArrayIndex.interval(3, 3 + w.length()))
                    .reshape('c', w.shape());
            INDArray dbf = flat.get(
                    org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval(3 + w.length(), 3 + w.length() + c.o()));
            conv.backward(xf, wf, dy.castTo(DataType.FLOAT), dxf, dwf, c.bias() ? dbf : null);
            assertClose(c + " input gradient", dx, dxf);
            assertClose(c + " weight gradient", dw, dwf);
            if (c.bias()) {
                assertClose(c + " bias gradient", db, dbf);
            }
            checked++;
        }
        assertTrue(checked == cases().size());
    }

    private static void assertClose(String what, INDArray expected, INDArray actual) {
        INDArray a = actual.castTo(DataType.DOUBLE);
        assertTrue(!Double.isNaN(a.sumNumber().doubleValue()), what + ": NaN left, an element was not written");
        double scale = expected.amaxNumber().doubleValue();
        double err = expected.sub(a).amaxNumber().doubleValue() / scale;
        assertTrue(err <= TOL, what + ": scaled error " + err);
    }
}
