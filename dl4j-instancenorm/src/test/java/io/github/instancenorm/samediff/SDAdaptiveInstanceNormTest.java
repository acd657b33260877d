package io.github.instancenorm.samediff;

import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.conf.graph.AdaptiveInstanceNormVertex.Modulation;
import io.github.instancenorm.ops.InstanceNormLayout;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.testutil.Layouts;
import java.io.File;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.autodiff.validation.GradCheckUtil;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link SDInstanceNorm#adaptive} and {@link SDInstanceNorm#adaptiveModulated} (AdaIN) against PyTorch's
 * {@code (1 + gamma) * F.instance_norm(x) + beta} and {@code gamma * F.instance_norm(x) + beta} with
 * {@code gamma, beta = torch.chunk(h, 2, dim=1)} (fixtures from {@code src/test/python/gen_adain_fixtures.py}):
 * outputs and the gradients of {@code <g, out>} with respect to x and h (or scale and shift), every fixture, both
 * forms, both layouts; the forms without scale or shift; SameDiff's numerical gradient check in double; a save/load
 * round trip; errors for shapes known while building.
 */
class SDAdaptiveInstanceNormTest {

    private static final double EPS = 1e-5;

    private static final String[] CASES = {
        "1d_float",
        "1d_double",
        "2d_float",
        "2d_double",
        "3d_float",
        "3d_double",
        "2d_one_sample_float",
        "2d_large_float"
    };

    @TempDir
    Path dir;

    static Stream<Arguments> fixtureCases() {
        return Stream.of(CASES)
                .flatMap(name -> Stream.of(Modulation.values())
                        .flatMap(m -> Stream.of(Layouts.values()).map(l -> Arguments.of(name, m, l))));
    }

    private static String form(Modulation m) {
        return m == Modulation.ONE_PLUS_GAMMA ? "one_plus" : "plain";
    }

    private static Map<String, INDArray> fixture(String name) throws Exception {
        return Nd4j.createFromNpzFile(Fixtures.file("fixtures/adain/" + name + ".npz"));
    }

    /** Columns {@code [from, to)} of an {@code [N, W]} array, as a fresh copy. */
    private static INDArray columns(INDArray a, long from, long to) {
        return a.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to)).dup();
    }

    /**
     * {@code loss = sum(out * g)} with {@code g} a placeholder, whose gradients are PyTorch's
     * {@code out.backward(g)}; x and the modulation are variables (M2.1 returns no gradients for placeholders).
     */
    private static OutAndGrad lossGradients(SameDiff sd, SDVariable out, INDArray g, String... params) {
        SDVariable gPh = sd.placeHolder("g", g.dataType(), g.shape());
        sd.sum("loss", out.mul(gPh));
        sd.setLossVariables("loss");
        return sd.calculateGradientsAndOutputs(Map.of("g", g), List.of(out.name()), List.of(params));
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("fixtureCases")
    void modulationMatchesPyTorch(String name, Modulation m, Layouts layouts) throws Exception {
        Map<String, INDArray> fx = fixture(name);
        INDArray x = layouts.fromChannelsFirst(fx.get("x"));
        INDArray g = layouts.fromChannelsFirst(fx.get("g"));
        InstanceNormLayout layout = new InstanceNormLayout(x.rank(), layouts.channelsLast());
        String what = name + " " + form(m) + " " + layouts;

        SameDiff sd = SameDiff.create();
        SDVariable out = SDInstanceNorm.adaptiveModulated(
                sd, "adain", sd.var("x", x.dup()), sd.var("h", fx.get("h").dup()), m, EPS, layout);
        assertEquals("adain", out.name());
        OutAndGrad r = lossGradients(sd, out, g, "x", "h");
        assertClose(
                what + " output",
                layouts.fromChannelsFirst(fx.get("y_" + form(m))),
                r.getOutputs().get("adain"));
        assertClose(
                what + " dx",
                layouts.fromChannelsFirst(fx.get("dx_" + form(m))),
                r.getGradients().get("x"));
        assertClose(what + " dh", fx.get("dh_" + form(m)), r.getGradients().get("h"));
    }

    /**
     * The usual StarGAN v2 graph: x a placeholder with a free batch size and h an op's output (a Linear layer's,
     * here {@code s @ I}), so that neither N nor C is known from h while building.
     */
    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("fixtureCases")
    void modulationFromAnOpOutputMatchesPyTorch(String name, Modulation m, Layouts layouts) throws Exception {
        Map<String, INDArray> fx = fixture(name);
        INDArray x = layouts.fromChannelsFirst(fx.get("x"));
        INDArray h = fx.get("h");
        InstanceNormLayout layout = new InstanceNormLayout(x.rank(), layouts.channelsLast());
        long[] free = x.shape().clone();
        free[0] = -1;

        SameDiff sd = SameDiff.create();
        SDVariable xPh = sd.placeHolder("x", x.dataType(), free);
        SDVariable s = sd.placeHolder("s", h.dataType(), -1, h.size(1));
        SDVariable fc = s.mmul("fc", sd.constant("identity", Nd4j.eye(h.size(1)).castTo(h.dataType())));
        SDInstanceNorm.adaptiveModulated(sd, "adain", xPh, fc, m, EPS, layout);
        INDArray y = sd.output(Map.of("x", x, "s", h), "adain").get("adain");
        assertClose(
                name + " " + form(m) + " " + layouts + " output, shapes unknown while building",
                layouts.fromChannelsFirst(fx.get("y_" + form(m))),
                y);
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("fixtureCases")
    void separateScaleAndShiftMatchPyTorch(String name, Modulation m, Layouts layouts) throws Exception {
        Map<String, INDArray> fx = fixture(name);
        INDArray x = layouts.fromChannelsFirst(fx.get("x"));
        INDArray g = layouts.fromChannelsFirst(fx.get("g"));
        INDArray h = fx.get("h");
        long c = h.size(1) / 2;
        INDArray gamma = columns(h, 0, c);
        INDArray scale = m == Modulation.ONE_PLUS_GAMMA ? gamma.add(1.0) : gamma;
        InstanceNormLayout layout = new InstanceNormLayout(x.rank(), layouts.channelsLast());
        String what = name + " " + form(m) + " " + layouts + " scale/shift";

        SameDiff sd = SameDiff.create();
        SDVariable out = SDInstanceNorm.adaptive(
                sd,
                "adain",
                sd.var("x", x.dup()),
                sd.var("scale", scale),
                sd.var("shift", columns(h, c, 2 * c)),
                EPS,
                layout);
        OutAndGrad r = lossGradients(sd, out, g, "x", "scale", "shift");
        INDArray dh = fx.get("dh_" + form(m));
        assertClose(
                what + " output",
                layouts.fromChannelsFirst(fx.get("y_" + form(m))),
                r.getOutputs().get("adain"));
        assertClose(
                what + " dx",
                layouts.fromChannelsFirst(fx.get("dx_" + form(m))),
                r.getGradients().get("x"));
        // d/dscale = d/dgamma in both forms: (1 + gamma) and gamma have the same derivative.
        assertClose(what + " dscale", columns(dh, 0, c), r.getGradients().get("scale"));
        assertClose(what + " dshift", columns(dh, c, 2 * c), r.getGradients().get("shift"));
    }

    static Stream<Arguments> doubleCasesAndLayouts() {
        return Stream.of("1d_double", "2d_double", "3d_double")
                .flatMap(name -> Stream.of(Layouts.values()).map(l -> Arguments.of(name, l)));
    }

    /**
     * Without a scale or a shift, from the fixtures' two forms: {@code y_one_plus - y_plain = xHat} and
     * {@code y_plain - beta = gamma * xHat}. Double only, where the subtraction costs nothing measurable.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("doubleCasesAndLayouts")
    void withoutScaleOrShift(String name, Layouts layouts) throws Exception {
        Map<String, INDArray> fx = fixture(name);
        INDArray h = fx.get("h");
        long c = h.size(1) / 2;
        INDArray xHat = fx.get("y_one_plus").sub(fx.get("y_plain"));
        long[] instanceShape = new long[fx.get("x").rank()];
        Arrays.fill(instanceShape, 1);
        instanceShape[0] = h.size(0);
        instanceShape[1] = c;
        INDArray gammaXHat = fx.get("y_plain").sub(columns(h, c, 2 * c).reshape(instanceShape));
        INDArray xHatPlusBeta = xHat.add(columns(h, c, 2 * c).reshape(instanceShape));

        INDArray x = layouts.fromChannelsFirst(fx.get("x"));
        InstanceNormLayout layout = new InstanceNormLayout(x.rank(), layouts.channelsLast());
        SameDiff sd = SameDiff.create();
        SDVariable xv = sd.var("x", x);
        SDInstanceNorm.adaptive(sd, "none", xv, null, null, EPS, layout);
        SDInstanceNorm.adaptive(sd, "scaleOnly", xv, sd.var("gamma", columns(h, 0, c)), null, EPS, layout);
        SDInstanceNorm.adaptive(sd, "shiftOnly", xv, null, sd.var("beta", columns(h, c, 2 * c)), EPS, layout);
        Map<String, INDArray> out = sd.output(Collections.emptyMap(), "none", "scaleOnly", "shiftOnly");
        assertClose(name + " " + layouts + " no scale, no shift", layouts.fromChannelsFirst(xHat), out.get("none"));
        assertClose(name + " " + layouts + " scale only", layouts.fromChannelsFirst(gammaXHat), out.get("scaleOnly"));
        assertClose(
                name + " " + layouts + " shift only", layouts.fromChannelsFirst(xHatPlusBeta), out.get("shiftOnly"));
    }

    private static final long N = 2;
    private static final long C = 3;

    private static long[] shape(InstanceNormLayout layout) {
        long[] spatial = switch (layout.rank()) {
            case 3 -> new long[] {5};
            case 4 -> new long[] {3, 4};
            default -> new long[] {2, 3, 3}; // not 12 elements per instance, as the 2d case has
        };
        long[] shape = new long[layout.rank()];
        shape[0] = N;
        shape[layout.channelAxis()] = C;
        int[] axes = layout.spatialAxes();
        for (int i = 0; i < axes.length; i++) {
            shape[axes[i]] = spatial[i];
        }
        return shape;
    }

    static Stream<Arguments> configurations() {
        return IntStream.rangeClosed(InstanceNormLayout.MIN_RANK, InstanceNormLayout.MAX_RANK)
                .boxed()
                .flatMap(rank -> Stream.of(false, true)
                        .flatMap(last -> Stream.of(Modulation.values())
                                .map(m -> Arguments.of(new InstanceNormLayout(rank, last), m))));
    }

    static Stream<Arguments> layouts() {
        return IntStream.rangeClosed(InstanceNormLayout.MIN_RANK, InstanceNormLayout.MAX_RANK)
                .boxed()
                .flatMap(rank -> Stream.of(false, true).map(last -> Arguments.of(new InstanceNormLayout(rank, last))));
    }

    /**
     * Both modulated forms and the separate-argument form, each of the same x with its own modulation, in one
     * graph: x, both h and scale and shift are probed. (Not chained: a second instance norm would undo the first
     * one's per-instance affine map, and the first h's gradient would be about 0, all rounding noise.)
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void gradientsMatchFiniteDifferences(InstanceNormLayout layout) {
        DataType type = Nd4j.dataType();
        DataType floatType = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE); // GradCheckUtil refuses anything else
        try {
            Nd4j.getRandom().setSeed(11);
            long[] shape = shape(layout);
            SameDiff sd = SameDiff.create();
            SDVariable x = sd.var("x", Nd4j.rand(DataType.DOUBLE, shape).muli(4).subi(1.5));
            SDVariable loss = null;
            for (Modulation m : Modulation.values()) {
                SDVariable h = sd.var("h_" + m, Nd4j.randn(DataType.DOUBLE, N, 2 * C));
                SDVariable y = SDInstanceNorm.adaptiveModulated(sd, "adain_" + m, x, h, m, EPS, layout);
                loss = weightedSum(sd, y, shape, loss);
            }
            SDVariable z = SDInstanceNorm.adaptive(
                    sd,
                    "adain_scaleShift",
                    x,
                    sd.var("scale", Nd4j.rand(DataType.DOUBLE, N, C).addi(0.5)),
                    sd.var("shift", Nd4j.randn(DataType.DOUBLE, N, C)),
                    EPS,
                    layout);
            weightedSum(sd, z, shape, loss).rename("loss");
            sd.setLossVariables("loss");
            // M2.1's GradCheckUtil probes constants too (two forward passes per element) before finding they have no
            // gradient: skip them. Its EVERY_N subset can miss whole channels of a channels-last x (a stride that is a
            // multiple of C): probe the x elements of a mask instead, a few of every instance; h, scale, shift all.
            Set<String> constants = sd.variables().stream()
                    .filter(v -> v.getVariableType() != VariableType.VARIABLE)
                    .map(SDVariable::name)
                    .collect(Collectors.toSet());
            assertTrue(
                    GradCheckUtil.checkGradients(
                            sd,
                            Collections.emptyMap(),
                            1e-6,
                            1e-5,
                            1e-9,
                            false,
                            false,
                            false,
                            false,
                            constants,
                            Map.of("x", probeMask(layout, shape)),
                            0,
                            null),
                    "gradient check failed for " + layout.formatName());
        } finally {
            Nd4j.setDefaultDataTypes(type, floatType);
        }
    }

    /**
     * A BOOL mask of x's shape selecting, in instance {@code (n, c)}, the spatial positions {@code s} with
     * {@code s % 4 == (n + c) % 4}: at least one (M >= 4) and about a quarter of each instance, at varied positions.
     */
    private static INDArray probeMask(InstanceNormLayout layout, long[] shape) {
        long m = layout.spatialSize(shape);
        double[] channelsFirst = new double[(int) (N * C * m)];
        for (int i = 0; i < channelsFirst.length; i++) {
            long n = i / (C * m);
            long c = (i / m) % C;
            channelsFirst[i] = (i % m) % 4 == (n + c) % 4 ? 1 : 0;
        }
        long[] firstShape = new long[shape.length];
        firstShape[0] = N;
        firstShape[1] = C;
        int[] spatial = layout.spatialAxes();
        for (int i = 0; i < spatial.length; i++) {
            firstShape[2 + i] = shape[spatial[i]];
        }
        INDArray mask = Nd4j.create(channelsFirst, firstShape, DataType.DOUBLE);
        Layouts layouts = layout.channelsLast() ? Layouts.CHANNELS_LAST : Layouts.CHANNELS_FIRST;
        return layouts.fromChannelsFirst(mask).castTo(DataType.BOOL);
    }

    /** {@code previous + sum(y * w)}, w random: {@code sum(y)} alone would have a zero gradient for x. */
    private static SDVariable weightedSum(SameDiff sd, SDVariable y, long[] shape, SDVariable previous) {
        SDVariable term = y.mul(sd.constant(y.name() + "_w", Nd4j.randn(DataType.DOUBLE, shape)))
                .sum();
        return previous == null ? term : previous.add(term);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("configurations")
    void saveAndLoadGiveIdenticalResults(InstanceNormLayout layout, Modulation m) throws Exception {
        Nd4j.getRandom().setSeed(3);
        long[] shape = shape(layout);
        long[] free = shape.clone();
        free[0] = -1;
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, free);
        SDVariable s = sd.placeHolder("s", DataType.FLOAT, -1, 4);
        SDVariable w = sd.var("w", Nd4j.randn(DataType.FLOAT, 4, 2 * C));
        SDVariable y = SDInstanceNorm.adaptiveModulated(sd, "adain", x, s.mmul("fc", w), m, EPS, layout);
        SDVariable z = SDInstanceNorm.adaptive(
                sd,
                "adain2",
                x,
                sd.var("scale", Nd4j.rand(DataType.FLOAT, N, C).addi(0.5)),
                sd.var("shift", Nd4j.randn(DataType.FLOAT, N, C)),
                EPS,
                layout);
        sd.sum("loss", y.add(z).mul(sd.constant("g", Nd4j.randn(DataType.FLOAT, shape))));
        sd.setLossVariables("loss");
        Map<String, INDArray> ph =
                Map.of("x", Nd4j.randn(DataType.FLOAT, shape).muli(2).addi(1), "s", Nd4j.randn(DataType.FLOAT, N, 4));
        List<String> outputs = List.of("adain", "adain2", "loss");
        Map<String, INDArray> before = sd.output(ph, outputs);
        Map<String, INDArray> gradsBefore = sd.calculateGradients(ph, "w", "scale", "shift");

        File file = dir.resolve("adain.sd").toFile();
        sd.save(file, true);
        SameDiff loaded = SameDiff.load(file, true);

        Map<String, INDArray> after = loaded.output(ph, outputs);
        for (String name : outputs) {
            assertEquals(before.get(name), after.get(name), name + " after save/load");
        }
        assertEquals(gradsBefore, loaded.calculateGradients(ph, "w", "scale", "shift"), "gradients after save/load");
    }

    @Test
    void aModulationOfTheWrongWidthIsNamed() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 3, 4, 4);
        IllegalArgumentException wide = assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptiveModulated(
                        sd,
                        "adain",
                        x,
                        sd.placeHolder("h", DataType.FLOAT, -1, 8),
                        Modulation.ONE_PLUS_GAMMA,
                        EPS,
                        new InstanceNormLayout(4, false)));
        assertTrue(
                wide.getMessage().contains("adain")
                        && wide.getMessage().contains("[N, 6]")
                        && wide.getMessage().contains("[-1, 8]")
                        && wide.getMessage().contains("3 channels"),
                wide.getMessage());

        IllegalArgumentException odd = assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptiveModulated(
                        sd,
                        "adain",
                        sd.placeHolder("x2", DataType.FLOAT, -1, -1, 4, 4),
                        sd.placeHolder("h2", DataType.FLOAT, -1, 5),
                        Modulation.GAMMA,
                        EPS,
                        new InstanceNormLayout(4, false)));
        assertTrue(odd.getMessage().contains("even width") && odd.getMessage().contains("[-1, 5]"), odd.getMessage());

        IllegalArgumentException rank = assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptiveModulated(
                        sd,
                        "adain",
                        x,
                        sd.placeHolder("h3", DataType.FLOAT, -1, 6, 1),
                        Modulation.GAMMA,
                        EPS,
                        new InstanceNormLayout(4, false)));
        assertTrue(rank.getMessage().contains("3D") && rank.getMessage().contains("[-1, 6, 1]"), rank.getMessage());

        // Channels-last: C is the last axis.
        IllegalArgumentException last = assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptiveModulated(
                        sd,
                        "adain",
                        sd.placeHolder("x4", DataType.FLOAT, 2, 4, 4, 5),
                        sd.var("h4", Nd4j.zeros(DataType.FLOAT, 2, 6)),
                        Modulation.ONE_PLUS_GAMMA,
                        EPS,
                        new InstanceNormLayout(4, true)));
        assertTrue(last.getMessage().contains("[2, 10]") && last.getMessage().contains("NHWC"), last.getMessage());
        // Nothing was added under the name of a failed call.
        assertFalse(sd.hasVariable("adain"));
    }

    /** Shapes unknown while building: a width other than 2C still fails, when the graph runs. */
    @Test
    void aWrongWidthUnknownWhileBuildingFailsWhenRun() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 3, 4, 4);
        SDVariable s = sd.placeHolder("s", DataType.FLOAT, -1, 8);
        SDInstanceNorm.adaptiveModulated(
                sd, "adain", x, s.mul("fc", 1.0), Modulation.GAMMA, EPS, new InstanceNormLayout(4, false));
        Map<String, INDArray> ph =
                Map.of("x", Nd4j.rand(DataType.FLOAT, 2, 3, 4, 4), "s", Nd4j.rand(DataType.FLOAT, 2, 8));
        assertThrows(RuntimeException.class, () -> sd.output(ph, "adain"));
    }

    @Test
    void wrongScaleOrShiftShapesAreNamed() {
        SameDiff sd = SameDiff.create();
        InstanceNormLayout layout = new InstanceNormLayout(3, false);
        SDVariable x = sd.placeHolder("x", DataType.DOUBLE, 2, 3, 7);
        IllegalArgumentException channels = assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptive(
                        sd, "a", x, sd.var("scale", Nd4j.ones(DataType.DOUBLE, 2, 4)), null, EPS, layout));
        assertTrue(
                channels.getMessage().contains("[2, 3]")
                        && channels.getMessage().contains("[2, 4]"),
                channels.getMessage());
        IllegalArgumentException batch = assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptive(
                        sd, "a", x, null, sd.var("shift", Nd4j.ones(DataType.DOUBLE, 5, 3)), EPS, layout));
        assertTrue(
                batch.getMessage().contains("one row per sample")
                        && batch.getMessage().contains("[5, 3]"),
                batch.getMessage());
        IllegalArgumentException perChannel = assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptive(
                        sd, "a", x, sd.var("gamma", Nd4j.ones(DataType.DOUBLE, 3)), null, EPS, layout));
        assertTrue(
                perChannel.getMessage().contains("[N, C]")
                        && perChannel.getMessage().contains("1D"),
                perChannel.getMessage());
        IllegalArgumentException inputRank = assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptive(sd, "a", x, null, null, EPS, new InstanceNormLayout(4, false)));
        assertTrue(inputRank.getMessage().contains("expected 4D input"), inputRank.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> SDInstanceNorm.adaptive(
                        sd, "a", sd.placeHolder("x1", DataType.DOUBLE, 2, 3, 1), null, null, EPS, layout));
        assertThrows(IllegalArgumentException.class, () -> SDInstanceNorm.adaptive(sd, "a", x, null, null, -1, layout));
    }
}
