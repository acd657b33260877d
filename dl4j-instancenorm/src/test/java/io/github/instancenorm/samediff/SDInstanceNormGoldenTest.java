package io.github.instancenorm.samediff;

import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.instancenorm.ops.InstanceNormLayout;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.testutil.Layouts;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The SameDiff op against PyTorch's {@code nn.InstanceNorm{1,2,3}d}, on the layer's fixtures: training outputs and
 * the gradients {@code sd.calculateGradientsAndOutputs} gives for input, gamma and beta; the running statistics that
 * {@link RunningStats#update} makes of the batch statistics; then the inference forward and backward (running
 * statistics, or instance statistics without tracking) and the instance-statistics forward. Every case, both
 * layouts.
 */
class SDInstanceNormGoldenTest {

    private static final double EPS = 1e-5;

    static Stream<Arguments> cases() {
        return Fixtures.cases().stream()
                .flatMap(c -> Stream.of(Layouts.values()).map(l -> Arguments.of(c, l)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesPyTorch(Fixtures.Case c, Layouts layouts) {
        Map<String, INDArray> fx = c.load();
        InstanceNormLayout layout = new InstanceNormLayout(c.rank(), layouts.channelsLast());
        long[] shape = layouts.fromChannelsFirst(fx.get("x1")).shape();

        Graph train = Graph.build(c, fx, shape, (sd, x, g, b) -> {
            SDInstanceNorm.Result r = SDInstanceNorm.training(sd, "in", x, g, b, EPS, layout);
            return r.output();
        });
        RunningStats stats = c.track()
                ? RunningStats.wrap(
                        fx.get("running_mean_init").dup(),
                        fx.get("running_var_init").dup(),
                        Nd4j.scalar(DataType.LONG, 0L),
                        c.momentum())
                : null;

        for (int k = 1; k <= Fixtures.STEPS; k++) {
            String step = "step " + k + " ";
            Map<String, INDArray> out =
                    train.check(layouts, fx, String.valueOf(k), step, "in/batchMean", "in/batchVar");
            if (c.track()) {
                stats.update(out.get("in/batchMean"), out.get("in/batchVar"));
                assertClose(step + "running mean", fx.get("running_mean" + k), stats.mean());
                assertClose(step + "running var", fx.get("running_var" + k), stats.variance());
                assertEquals(k, stats.numBatchesTracked(), step + "numBatchesTracked");
            }
        }

        if (c.track()) {
            Graph eval = Graph.build(
                    c,
                    fx,
                    shape,
                    (sd, x, g, b) -> SDInstanceNorm.inference(
                            sd,
                            "in",
                            x,
                            sd.constant("runningMean", stats.mean()),
                            sd.constant("runningVar", stats.variance()),
                            g,
                            b,
                            EPS,
                            layout));
            eval.check(layouts, fx, "_eval", "eval ");
        }
        // PyTorch's eval without tracking, and F.instance_norm for y_eval_instance: the instance statistics.
        // instanceStats builds the training graph less the batch statistics; with tracking on, the training graph
        // stands in for it (its outputs and gradients were checked against instanceStats' in the other cases).
        Graph instance = c.track()
                ? train
                : Graph.build(
                        c, fx, shape, (sd, x, g, b) -> SDInstanceNorm.instanceStats(sd, "in", x, g, b, EPS, layout));
        if (!c.track()) {
            instance.check(layouts, fx, "_eval", "eval ");
        }
        instance.sd.getArrForVarName("x").assign(layouts.fromChannelsFirst(fx.get("x_eval")));
        assertClose(
                "eval with instance stats",
                layouts.fromChannelsFirst(fx.get("y_eval_instance")),
                instance.sd.output(Map.of(), "in").get("in"));
    }

    /** Builds the op under test into a graph with placeholder {@code dy} and variables x, gamma, beta. */
    interface Op {
        SDVariable apply(SameDiff sd, SDVariable x, SDVariable gamma, SDVariable beta);
    }

    /** A graph {@code loss = sum(op(x) * dy)}, whose gradients are PyTorch's {@code y.backward(dy)}. */
    record Graph(SameDiff sd, boolean affine) {

        static Graph build(Fixtures.Case c, Map<String, INDArray> fx, long[] shape, Op op) {
            SameDiff sd = SameDiff.create();
            // A variable, not a placeholder: M2.1 neither returns placeholder gradients nor differentiates a graph
            // without variables (affine off).
            SDVariable x = sd.var("x", Nd4j.zeros(c.dataType(), shape));
            SDVariable dy = sd.placeHolder("dy", c.dataType(), shape);
            SDVariable gamma = c.affine() ? sd.var("gamma", fx.get("gamma").dup()) : null;
            SDVariable beta = c.affine() ? sd.var("beta", fx.get("beta").dup()) : null;
            SDVariable y = op.apply(sd, x, gamma, beta);
            sd.sum("loss", y.mul(dy));
            sd.setLossVariables("loss");
            return new Graph(sd, c.affine());
        }

        /** Checks output and gradients for fixture step {@code suffix}; returns the outputs named in {@code also}. */
        Map<String, INDArray> check(
                Layouts layouts, Map<String, INDArray> fx, String suffix, String what, String... also) {
            sd.getArrForVarName("x").assign(layouts.fromChannelsFirst(fx.get("x" + suffix)));
            Map<String, INDArray> ph = new HashMap<>();
            ph.put("dy", layouts.fromChannelsFirst(fx.get("dy" + suffix)));
            List<String> outs = Stream.concat(Stream.of("in"), Stream.of(also)).toList();
            List<String> params = affine ? List.of("x", "gamma", "beta") : List.of("x");
            OutAndGrad result = sd.calculateGradientsAndOutputs(ph, outs, params);
            Map<String, INDArray> out = result.getOutputs();
            Map<String, INDArray> grads = result.getGradients();
            assertClose(what + "output", layouts.fromChannelsFirst(fx.get("y" + suffix)), out.get("in"));
            assertClose(what + "input gradient", layouts.fromChannelsFirst(fx.get("dx" + suffix)), grads.get("x"));
            if (affine) {
                assertClose(what + "gamma gradient", fx.get("dgamma" + suffix), grads.get("gamma"));
                assertClose(what + "beta gradient", fx.get("dbeta" + suffix), grads.get("beta"));
            }
            return out;
        }
    }
}
