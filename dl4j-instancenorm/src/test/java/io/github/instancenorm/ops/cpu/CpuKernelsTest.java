package io.github.instancenorm.ops.cpu;

import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.ops.InstanceNorm;
import io.github.instancenorm.ops.InstanceNormLayout;
import io.github.instancenorm.ops.KernelDispatch;
import io.github.instancenorm.testutil.Compare;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.util.ArrayUtil;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The CPU kernels against the ND4J-op form on shapes the small golden fixtures do not reach: instances longer than
 * one cached block, jobs big enough to run in parallel, more channels than a block holds, and inputs that are
 * views into a larger buffer.
 */
class CpuKernelsTest {

    static Stream<Arguments> cases() {
        long[][] shapes = {
            {3, 5, 70, 70}, // channels-first: several blocks per instance, one thread
            {4, 6, 90, 90}, // parallel in both layouts
            {2, 40, 5000}, // channels-last: 5000 channels, more than a block
            {5, 3, 7}, // tiny 1d
            {2, 3, 4, 5, 6}, // 3d
            {1, 4, 300, 300}, // a batch of one, split by rows when channels-last
            {3, 70, 20, 1}, // a trailing axis of size 1
            {64, 32, 64}, // many small instances per block, pairwise float sums, parallel
            {4, 8, 32, 32}, // four 1024-element instances per block
            {6, 10, 203}, // short instances, not a multiple of the unrolling
            {2, 3, 1001}, // grouped instances of several partial-sum runs and a tail
            {7, 9, 48}, // short instances of three 512-bit vectors; whole samples per block when last
            {2, 20, 16, 16}, // 256-element instances, the longest the short-instance vector loops take
            {32, 40, 30, 30}, // channels-last samples of several blocks, many samples; in place when float
        };
        Stream<KernelPaths> paths = Stream.of(
                KernelPaths.CPU_KERNELS,
                KernelPaths.CPU_IN_PLACE_AFFINE,
                KernelPaths.CPU_SCALAR_LOOPS,
                KernelPaths.CPU_FLOAT_AS_DOUBLE);
        return paths.flatMap(path -> Stream.of(DataType.FLOAT, DataType.DOUBLE)
                .flatMap(type -> Stream.of(false, true)
                        .flatMap(last -> Stream.of(shapes).map(shape -> Arguments.of(path, type, last, shape)))));
    }

    /** Scaled error allowed in float against the double op form; see {@link #kernelsMatchOpForm}. */
    private static final double FLOAT_TOLERANCE = 1e-4;

    /** The op finds the kernels through its dispatch stub (META-INF/services), and hands them a suitable call. */
    @Test
    void theOpDispatchesToTheseKernels() {
        KernelDispatch dispatch = KernelDispatch.installed();
        assertInstanceOf(CpuDispatch.class, dispatch);
        assertInstanceOf(CpuKernels.class, dispatch.forArrays(Nd4j.ones(2, 3, 4)));
        KernelPaths.OP_FORM.run(() -> assertNull(dispatch.forArrays(Nd4j.ones(2, 3, 4))));
    }

    @Test
    void testsRunTheVectorLoops() {
        assertTrue(
                KernelPaths.CPU_KERNELS.settings().kernels.vectorLoops(),
                "the build's tests run with"
                        + " --add-modules jdk.incubator.vector (surefire argLine), so that the Vector API loops are tested");
        assertFalse(KernelPaths.CPU_SCALAR_LOOPS.settings().kernels.vectorLoops());
        assertFalse(KernelPaths.CPU_FLOAT_AS_DOUBLE.settings().kernels.vectorLoops());
        KernelPaths.CPU_SCALAR_LOOPS.run(
                () -> assertFalse(CpuKernels.forArrays(Nd4j.ones(2, 3, 4)).vectorLoops()));
        KernelPaths.OP_FORM.run(() -> assertNull(CpuKernels.forArrays(Nd4j.ones(2, 3, 4))));
    }

    @ParameterizedTest(name = "{0} {1} channelsLast={2} {3}")
    @MethodSource("cases")
    void kernelsMatchOpForm(KernelPaths path, DataType type, boolean channelsLast, long[] shape) {
        InstanceNormLayout layout = new InstanceNormLayout(shape.length, channelsLast);
        long channels = shape[layout.channelAxis()];
        // java.util.Random, not ND4J's generator: its normal draws differ between nd4j-native builds (the
        // onednn-avx2 build gives other numbers than the plain one), and the inputs should not.
        Random random = new Random(shape.length * 1000L + channels);
        INDArray x = gaussian(random, type, shape).muli(2).addi(3);
        INDArray g = gaussian(random, type, shape);
        INDArray gamma = uniform(random, type, channels).addi(0.5);
        INDArray beta = gaussian(random, type, channels);
        INDArray runningMean = gaussian(random, type, channels);
        INDArray runningVar = uniform(random, type, channels).addi(0.5);
        INDArray scale = uniform(random, type, shape[0], channels).addi(0.5); // per instance, as AdaIN's
        INDArray shift = gaussian(random, type, shape[0], channels);
        assertTrue(CpuKernels.applies(x, g), "the fast path must apply here");

        Result fast = new Result();
        Result ops = new Result();
        path.run(() -> fast.compute(x, g, gamma, beta, runningMean, runningVar, scale, shift, layout));
        // The reference is the op form in double: in float it loses digits of x - mean that the kernels keep.
        KernelPaths.OP_FORM.run(() -> ops.compute(
                x.castTo(DataType.DOUBLE),
                g.castTo(DataType.DOUBLE),
                gamma.castTo(DataType.DOUBLE),
                beta.castTo(DataType.DOUBLE),
                runningMean.castTo(DataType.DOUBLE),
                runningVar.castTo(DataType.DOUBLE),
                scale.castTo(DataType.DOUBLE),
                shift.castTo(DataType.DOUBLE),
                layout));
        // Float: the gradients sum up to 28,800 float products per channel; against the double reference the worst
        // scaled error over these inputs was 4.4e-5 (gamma gradient, running stats, [32, 40, 30, 30]).
        ops.assertMatches(
                fast, Arrays.toString(shape), type == DataType.FLOAT ? FLOAT_TOLERANCE : Compare.tolerance(type));
    }

    private static INDArray gaussian(Random random, DataType type, long... shape) {
        double[] v = new double[(int) ArrayUtil.prodLong(shape)];
        Arrays.setAll(v, i -> random.nextGaussian());
        return Nd4j.create(v, shape, 'c').castTo(type);
    }

    private static INDArray uniform(Random random, DataType type, long... shape) {
        double[] v = new double[(int) ArrayUtil.prodLong(shape)];
        Arrays.setAll(v, i -> random.nextDouble());
        return Nd4j.create(v, shape, 'c').castTo(type);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("types")
    void runningStatisticsFoldMatchesOpForm(DataType type) {
        Nd4j.getRandom().setSeed(7);
        InstanceNorm.Moments moments = new InstanceNorm.Moments(
                Nd4j.randn(type, 5, 3), Nd4j.rand(type, 5, 3).addi(0.1));
        for (Double momentum : new Double[] {0.3, null}) {
            INDArray[][] state = new INDArray[2][];
            for (int path = 0; path < 2; path++) {
                Nd4j.getRandom().setSeed(8);
                INDArray[] s = {
                    Nd4j.randn(type, 3),
                    Nd4j.rand(type, 3).addi(0.5),
                    Nd4j.scalar(type, 4).reshape(1)
                };
                state[path] = s;
                assertTrue(CpuKernels.appliesToVectors(s[0], s[1], s[2], moments.mean(), moments.variance()));
                (path == 0 ? KernelPaths.CPU_KERNELS : KernelPaths.OP_FORM).run(() -> {
                    for (int step = 0; step < 2; step++) {
                        InstanceNorm.foldInstanceStats(s[0], s[1], s[2], momentum, moments, 49);
                    }
                });
            }
            String what = type + " momentum " + momentum;
            assertClose(what + " running mean", state[1][0], state[0][0]);
            assertClose(what + " running var", state[1][1], state[0][1]);
            assertClose(what + " batches tracked", state[1][2], state[0][2]);
            assertClose(what + " batches tracked is 6", Nd4j.scalar(type, 6).reshape(1), state[0][2]);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("types")
    void viewsIntoALargerBufferAreRead(DataType type) {
        INDArray whole = Nd4j.randn(type, 3, 20, 9, 9);
        INDArray view = whole.get(NDArrayIndex.interval(1, 3)); // samples 1 and 2: contiguous, offset
        InstanceNormLayout layout = new InstanceNormLayout(4, false);
        assertTrue(view.offset() > 0);
        INDArray[] out = new INDArray[2];
        KernelPaths.CPU_KERNELS.run(
                () -> out[0] = InstanceNorm.moments(view, layout).variance());
        KernelPaths.OP_FORM.run(
                () -> out[1] = InstanceNorm.moments(view, layout).variance());
        assertClose("variance of a view", out[1], out[0]);

        // Reading a view and writing into a view, in both layouts (20 channels: a vector of 16 and a scalar tail):
        // the element offsets of both arrays count.
        INDArray target = Nd4j.zeros(type, 4, 20, 9, 9);
        INDArray targetView = target.get(NDArrayIndex.interval(2, 4)); // a different offset from the source
        INDArray mean = Nd4j.randn(type, 20);
        INDArray var = Nd4j.rand(type, 20).addi(0.5);
        INDArray gamma = Nd4j.rand(type, 20);
        INDArray beta = Nd4j.randn(type, 20);
        for (InstanceNormLayout l : new InstanceNormLayout[] {layout, new InstanceNormLayout(4, true)}) {
            INDArray src =
                    l.channelsLast() ? whole.permute(0, 2, 3, 1).dup('c').get(NDArrayIndex.interval(1, 3)) : view;
            INDArray dst =
                    l.channelsLast() ? Nd4j.zeros(type, 4, 9, 9, 20).get(NDArrayIndex.interval(2, 4)) : targetView;
            assertTrue(CpuKernels.applies(src, dst), "views of contiguous samples take the kernels");
            INDArray expected = src.ulike();
            KernelPaths.OP_FORM.run(
                    () -> InstanceNorm.normalizeWithRunningStats(src, mean, var, gamma, beta, 1e-5, l, expected));
            for (KernelPaths path : new KernelPaths[] {
                KernelPaths.CPU_KERNELS, KernelPaths.CPU_IN_PLACE_AFFINE, KernelPaths.CPU_SCALAR_LOOPS
            }) {
                dst.assign(0);
                path.run(() -> InstanceNorm.normalizeWithRunningStats(src, mean, var, gamma, beta, 1e-5, l, dst));
                assertClose(path + " inference into a view, channelsLast=" + l.channelsLast(), expected, dst);
            }
        }
        assertEquals(
                0.0,
                target.get(NDArrayIndex.interval(0, 2)).sumNumber().doubleValue(),
                "nothing written outside the view");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("allPaths")
    void statisticsGoIntoGivenArrays(KernelPaths path) {
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 3, 10).addi(1);
        InstanceNormLayout layout = new InstanceNormLayout(3, false);
        INDArray gamma = Nd4j.rand(DataType.FLOAT, 3);
        INDArray beta = Nd4j.randn(DataType.FLOAT, 3);
        InstanceNorm.Moments into =
                new InstanceNorm.Moments(Nd4j.create(DataType.FLOAT, 4, 3), Nd4j.create(DataType.FLOAT, 4, 3));
        INDArray y = x.ulike();
        INDArray yInto = x.ulike();
        path.run(() -> {
            InstanceNorm.Moments fresh = InstanceNorm.forwardWithInstanceStats(x, gamma, beta, 1e-5, layout, y);
            InstanceNorm.Moments given =
                    InstanceNorm.forwardWithInstanceStats(x, gamma, beta, 1e-5, layout, yInto, into);
            assertSame(into, given);
            assertClose("mean", fresh.mean(), into.mean());
            assertClose("variance", fresh.variance(), into.variance());
            assertClose("output", y, yInto);

            INDArray untouched = Nd4j.zeros(DataType.FLOAT, 4, 3, 10);
            InstanceNorm.Moments wrong =
                    new InstanceNorm.Moments(Nd4j.create(DataType.FLOAT, 3, 4), Nd4j.create(DataType.FLOAT, 3, 4));
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> InstanceNorm.forwardWithInstanceStats(x, gamma, beta, 1e-5, layout, untouched, wrong));
            assertTrue(e.getMessage().contains("[4, 3]"), e.getMessage());
            assertEquals(0.0, untouched.sumNumber().doubleValue(), "a rejected call writes nothing");
        });
    }

    static Stream<KernelPaths> allPaths() {
        return Stream.of(KernelPaths.values());
    }

    static Stream<DataType> types() {
        return Stream.of(DataType.FLOAT, DataType.DOUBLE);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("types")
    void stridedAndFOrderArraysKeepTheOpForm(DataType type) {
        INDArray x = Nd4j.randn(type, 2, 3, 4, 5);
        assertFalse(CpuKernels.applies(x.permute(0, 2, 3, 1)));
        assertFalse(CpuKernels.applies(x.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 2))));
        assertFalse(CpuKernels.applies(x.dup('f')));
        assertFalse(CpuKernels.applies(x.castTo(DataType.HALF)));
        assertFalse(CpuKernels.applies(x, x.castTo(type == DataType.FLOAT ? DataType.DOUBLE : DataType.FLOAT)));
    }

    /** Everything one path computes from the same inputs. */
    private static final class Result {
        INDArray mean;
        INDArray var;
        INDArray y;
        INDArray yRunning;
        INDArray dx;
        INDArray dGamma;
        INDArray dBeta;
        INDArray dxRunning;
        INDArray dGammaRunning;
        INDArray dBetaRunning;
        INDArray yFromMoments;
        INDArray yModulated;
        INDArray dxModulated;
        INDArray dScale;
        INDArray dShift;
        INDArray yPlainScale;

        void compute(
                INDArray x,
                INDArray g,
                INDArray gamma,
                INDArray beta,
                INDArray runningMean,
                INDArray runningVar,
                INDArray scale,
                INDArray shift,
                InstanceNormLayout layout) {
            long channels = gamma.length();
            y = x.ulike();
            InstanceNorm.Moments m = InstanceNorm.forwardWithInstanceStats(x, gamma, beta, 1e-5, layout, y);
            mean = m.mean();
            var = m.variance();
            yFromMoments = InstanceNorm.normalizeWithInstanceStats(x, m, gamma, beta, 1e-5, layout, x.ulike());
            dx = x.ulike();
            dGamma = Nd4j.create(x.dataType(), channels);
            dBeta = Nd4j.create(x.dataType(), channels);
            InstanceNorm.backwardWithInstanceStats(x, g, m, gamma, 1e-5, layout, dx, dGamma, dBeta);
            yRunning = InstanceNorm.normalizeWithRunningStats(
                    x, runningMean, runningVar, gamma, beta, 1e-5, layout, x.ulike());
            dxRunning = x.ulike();
            dGammaRunning = Nd4j.create(x.dataType(), channels);
            dBetaRunning = Nd4j.create(x.dataType(), channels);
            InstanceNorm.backwardWithRunningStats(
                    x, g, runningMean, runningVar, gamma, 1e-5, layout, dxRunning, dGammaRunning, dBetaRunning);
            yModulated = x.ulike();
            // StarGAN v2's (1 + gamma): the scale's offset, with the scale and shift read as halves of [N, 2C].
            INDArray h = Nd4j.concat(1, scale, shift);
            long c = scale.size(1);
            INDArray gammaView = h.get(NDArrayIndex.all(), NDArrayIndex.interval(0, c));
            INDArray betaView = h.get(NDArrayIndex.all(), NDArrayIndex.interval(c, 2 * c));
            InstanceNorm.Moments mm =
                    InstanceNorm.forwardModulated(x, gammaView, betaView, 1.0, 1e-5, layout, yModulated);
            dxModulated = x.ulike();
            INDArray dh = Nd4j.create(x.dataType(), scale.size(0), 2 * c);
            dScale = dh.get(NDArrayIndex.all(), NDArrayIndex.interval(0, c));
            dShift = dh.get(NDArrayIndex.all(), NDArrayIndex.interval(c, 2 * c));
            InstanceNorm.backwardModulated(x, g, mm, gammaView, 1.0, 1e-5, layout, dxModulated, dScale, dShift);
            yPlainScale = x.ulike();
            InstanceNorm.forwardModulated(x, scale, shift, 0.0, 1e-5, layout, yPlainScale);
        }

        void assertMatches(Result actual, String what, double tol) {
            assertClose(what + " mean", mean, actual.mean, tol);
            assertClose(what + " variance", var, actual.var, tol);
            assertClose(what + " output", y, actual.y, tol);
            assertClose(what + " output from moments", yFromMoments, actual.yFromMoments, tol);
            assertClose(what + " input gradient", dx, actual.dx, tol);
            assertClose(what + " gamma gradient", dGamma, actual.dGamma, tol);
            assertClose(what + " beta gradient", dBeta, actual.dBeta, tol);
            assertClose(what + " output, running stats", yRunning, actual.yRunning, tol);
            assertClose(what + " input gradient, running stats", dxRunning, actual.dxRunning, tol);
            assertClose(what + " gamma gradient, running stats", dGammaRunning, actual.dGammaRunning, tol);
            assertClose(what + " beta gradient, running stats", dBetaRunning, actual.dBetaRunning, tol);
            assertClose(what + " output, per-instance scale and shift", yModulated, actual.yModulated, tol);
            assertClose(what + " input gradient, per-instance scale", dxModulated, actual.dxModulated, tol);
            assertClose(what + " scale gradient, per instance", dScale, actual.dScale, tol);
            assertClose(what + " shift gradient, per instance", dShift, actual.dShift, tol);
            assertClose(what + " output, per-instance scale without offset", yPlainScale, actual.yPlainScale, tol);
        }
    }
}
