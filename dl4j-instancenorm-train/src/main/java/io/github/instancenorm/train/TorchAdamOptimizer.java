package io.github.instancenorm.train;

import io.github.instancenorm.learning.TorchAdam;
import io.github.instancenorm.learning.TorchAdamUpdater;
import io.github.instancenorm.speedups.updater.FastUpdaters;
import io.github.instancenorm.torch.LoadReport;
import io.github.instancenorm.torch.OptimizerState;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;

/**
 * {@code torch.optim.Adam} with its coupled {@code weight_decay} over all of one graph's parameters, as one
 * optimizer of a PyTorch training script: a step takes the gradient of the whole network (laid out as
 * {@link ComputationGraph#params()}), adds {@code weight_decay · p}, and applies {@link TorchAdamUpdater}'s step (by
 * the CPU kernel of {@link FastUpdaters#withKernel} where it takes the arrays), so every parameter, biases and normalization weights
 * included, is decayed as PyTorch decays it. The graph's own DL4J updater is not used.
 *
 * <p>Unlike DL4J's updaters, which count iterations per network, this optimizer keeps PyTorch's step count per
 * parameter, so that a PyTorch optimizer state in which parameters have different counts (one that never had a
 * gradient has none) resumes exactly; while every count is the same, one step is one call over the whole array.
 * {@link #load} and {@link #state} convert to and from {@code optimizer.state_dict()} ({@link OptimizerState}), with
 * parameters numbered in PyTorch's order, which the caller gives by name ({@code StarGanV2.parameterNames}).
 *
 * <p>Not thread-safe; the state arrays are the graph's data type.
 */
public final class TorchAdamOptimizer {

    private final ComputationGraph net;
    private final TorchAdam config;
    private final double weightDecay;
    private final INDArray m;
    private final INDArray v;
    private final GradientUpdater<TorchAdam> whole;
    /** The graph's parameters by key ("layer_param"), views of params(), m and v at the same offsets. */
    private final List<Slot> slots = new ArrayList<>();
    /** Per-parameter steps ({@code state['step']}), in {@link #slots}' order. */
    private final long[] steps;

    private record Slot(String key, long offset, long length) {}

    /**
     * @param net         the network to optimize, initialized
     * @param lr          {@code lr}
     * @param beta1       {@code betas[0]}
     * @param beta2       {@code betas[1]}
     * @param eps         {@code eps}
     * @param weightDecay {@code weight_decay}, the coupled L2 term added to the gradient (0: none)
     * @throws IllegalArgumentException on a hyper-parameter PyTorch refuses
     */
    public TorchAdamOptimizer(
            ComputationGraph net, double lr, double beta1, double beta2, double eps, double weightDecay) {
        this.net = Objects.requireNonNull(net, "net");
        if (!(weightDecay >= 0)) {
            throw new IllegalArgumentException("weight_decay must be >= 0, got " + weightDecay);
        }
        this.config = new TorchAdam(lr, beta1, beta2, eps, false);
        this.weightDecay = weightDecay;
        INDArray params = net.params();
        if (params == null) {
            throw new IllegalArgumentException("the network is not initialized: call init() first");
        }
        long n = params.length();
        this.m = Nd4j.zeros(params.dataType(), n);
        this.v = Nd4j.zeros(params.dataType(), n);
        TorchAdamUpdater ops = new TorchAdamUpdater(config);
        ops.setState(Map.of(TorchAdamUpdater.M_STATE, m, TorchAdamUpdater.V_STATE, v), false);
        this.whole = FastUpdaters.withKernel(ops);
        long base = params.offset();
        for (Map.Entry<String, INDArray> e : net.paramTable().entrySet()) {
            INDArray view = e.getValue();
            slots.add(new Slot(e.getKey(), view.offset() - base, view.length()));
        }
        slots.sort((a, b) -> Long.compare(a.offset(), b.offset()));
        this.steps = new long[slots.size()];
    }

    /** @return the network this optimizer updates */
    public ComputationGraph network() {
        return net;
    }

    /** @return the configuration of the update ({@code lr}, betas, {@code eps}) */
    public TorchAdam config() {
        return config;
    }

    /** @return {@code weight_decay} */
    public double weightDecay() {
        return weightDecay;
    }

    /**
     * @return the step count of every parameter when they are all equal (as after steps of this optimizer from a
     *         fresh or uniform state), else -1
     */
    public long uniformStep() {
        long first = steps.length == 0 ? 0 : steps[0];
        return Arrays.stream(steps).allMatch(s -> s == first) ? first : -1;
    }

    /**
     * One {@code optimizer.step()}: {@code g += weight_decay · p}, then Adam's update of every parameter.
     *
     * @param gradient the gradient of the loss with respect to {@code network().params()}, the same length; it is
     *                 overwritten (it ends as the update)
     * @throws IllegalArgumentException if the gradient does not fit
     */
    public void step(INDArray gradient) {
        INDArray params = net.params();
        if (gradient.length() != params.length() || gradient.dataType() != params.dataType()) {
            throw new IllegalArgumentException("the gradient must be a " + params.dataType() + " vector of "
                    + params.length() + " elements, like the network's parameters; got " + gradient.dataType() + " "
                    + Arrays.toString(gradient.shape()));
        }
        INDArray g = gradient.reshape(gradient.length());
        if (weightDecay != 0) {
            g.addi(params.mul(weightDecay)); // grad = grad.add(param, alpha=weight_decay)
        }
        long t = uniformStep();
        if (t >= 0) {
            apply(whole, g, t);
        } else {
            for (int i = 0; i < slots.size(); i++) {
                Slot s = slots.get(i);
                TorchAdamUpdater one = new TorchAdamUpdater(config);
                INDArray ms = part(m, s);
                INDArray vs = part(v, s);
                one.setState(Map.of(TorchAdamUpdater.M_STATE, ms, TorchAdamUpdater.V_STATE, vs), false);
                apply(FastUpdaters.withKernel(one), part(g, s), steps[i]);
            }
        }
        params.subi(g.reshape(params.shape()));
        for (int i = 0; i < steps.length; i++) {
            steps[i]++;
        }
    }

    private static void apply(GradientUpdater<TorchAdam> updater, INDArray g, long done) {
        updater.applyUpdater(g, Math.toIntExact(done), 0);
    }

    private static INDArray part(INDArray flat, Slot s) {
        return flat.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(s.offset(), s.offset() + s.length()));
    }

    /**
     * This optimizer's state as {@code optimizer.state_dict()}: one param group with these hyper-parameters
     * ({@link OptimizerState.ParamGroup#adam}), and each parameter's step and moments in PyTorch's layout, numbered
     * by {@code order}. A parameter that has had no step has no state entry, as in PyTorch.
     *
     * @param order the network's parameter names ({@code StateDict.of(net)}'s keys) in PyTorch's order
     * @return a new state; the moments are copies
     * @throws IllegalArgumentException if {@code order} does not name every parameter once
     */
    public OptimizerState state(List<String> order) {
        Map<String, INDArray> mTorch = torchLayout(m);
        Map<String, INDArray> vTorch = torchLayout(v);
        Map<String, Long> stepOf = stepsByTorchName();
        checkOrder(order, mTorch.keySet());
        Map<Integer, OptimizerState.ParamState> state = new LinkedHashMap<>();
        List<Integer> indices = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            indices.add(i);
            long step = stepOf.get(order.get(i));
            if (step > 0) {
                state.put(i, new OptimizerState.ParamState(step, mTorch.get(order.get(i)), vTorch.get(order.get(i))));
            }
        }
        OptimizerState.ParamGroup group = OptimizerState.ParamGroup.adam(
                config.getLearningRate(),
                config.getBeta1(),
                config.getBeta2(),
                config.getEpsilon(),
                weightDecay,
                indices);
        return new OptimizerState(List.of(group), state);
    }

    /**
     * Takes over a PyTorch Adam state ({@code optimizer.load_state_dict}): each parameter's moments and step; a
     * parameter without an entry starts afresh (step 0, zero moments), as in PyTorch. The hyper-parameters stay
     * this optimizer's (a resumed PyTorch run takes them from its arguments, not from the file). Everything is
     * checked before anything is written: on failure this optimizer is unchanged.
     *
     * @param state the state, e.g. an entry of StarGAN v2's {@code optims.ckpt}
     * @param order the network's parameter names in PyTorch's order (the numbering of {@code state})
     * @throws IllegalArgumentException if the state is AMSGrad's, numbers another count of parameters, or a moment
     *                                  does not have its parameter's shape
     */
    public void load(OptimizerState state, List<String> order) {
        Objects.requireNonNull(state, "state");
        Map<String, INDArray> current = torchLayout(m);
        checkOrder(order, current.keySet());
        int numbered =
                state.paramGroups().stream().mapToInt(gr -> gr.params().size()).sum();
        if (numbered != order.size()) {
            throw new IllegalArgumentException("the optimizer state numbers " + numbered + " parameters, the network"
                    + " has " + order.size() + ": a state of another model or configuration");
        }
        if (state.paramGroups().stream().anyMatch(OptimizerState.ParamGroup::amsgrad)) {
            throw new IllegalArgumentException(
                    "the optimizer state is AMSGrad's (amsgrad=True): this optimizer is" + " plain Adam");
        }
        StateDict mIn = new StateDict();
        StateDict vIn = new StateDict();
        Map<String, Long> stepIn = new HashMap<>();
        for (int i = 0; i < order.size(); i++) {
            String name = order.get(i);
            INDArray like = current.get(name);
            OptimizerState.ParamState ps = state.state(i).orElse(null);
            if (ps == null) {
                mIn.put(name, Nd4j.zeros(like.dataType(), like.shape()));
                vIn.put(name, Nd4j.zeros(like.dataType(), like.shape()));
                stepIn.put(name, 0L);
                continue;
            }
            if (!Arrays.equals(ps.expAvg().shape(), like.shape())) {
                throw new IllegalArgumentException("the state of parameter " + i + " (" + name + ") has shape "
                        + Arrays.toString(ps.expAvg().shape()) + ", the parameter " + Arrays.toString(like.shape())
                        + ": a state of another model or configuration");
            }
            mIn.put(name, ps.expAvg().castTo(like.dataType()));
            vIn.put(name, ps.expAvgSq().castTo(like.dataType()));
            stepIn.put(name, ps.step());
        }
        INDArray mNew = m.dup();
        INDArray vNew = v.dup();
        intoFlat(mNew, mIn);
        intoFlat(vNew, vIn);
        long[] stepsNew = new long[steps.length];
        Map<String, String> torchNameOf = torchNames();
        for (int i = 0; i < slots.size(); i++) {
            stepsNew[i] = stepIn.get(torchNameOf.get(slots.get(i).key()));
        }
        m.assign(mNew);
        v.assign(vNew);
        System.arraycopy(stepsNew, 0, steps, 0, steps.length);
    }

    private static void checkOrder(List<String> order, java.util.Set<String> names) {
        if (order.size() != names.size() || !names.containsAll(order)) {
            throw new IllegalArgumentException("the parameter order must name each of the network's " + names.size()
                    + " parameters once; got " + order.size() + " names");
        }
    }

    /** A graph whose parameters are views of {@code flat}, so that torch-layout I/O reaches {@code flat}. */
    private ComputationGraph shadow(INDArray flat) {
        ComputationGraph s = new ComputationGraph(net.getConfiguration().clone());
        s.init(flat.reshape(net.params().shape()), false);
        return s;
    }

    private Map<String, INDArray> torchLayout(INDArray flat) {
        return StateDict.of(shadow(flat)).tensors();
    }

    private void intoFlat(INDArray flat, StateDict values) {
        LoadReport report = TorchWeights.load(shadow(flat), values);
        if (!report.isComplete()) {
            throw new IllegalStateException("optimizer state does not map onto the network: " + report);
        }
    }

    /** DL4J parameter key ("layer_param") to its state-dict name, found by writing each slot's index into it. */
    private Map<String, String> torchNames() {
        INDArray marks = Nd4j.zeros(net.params().dataType(), net.params().length());
        for (int i = 0; i < slots.size(); i++) {
            part(marks, slots.get(i)).assign(i + 1);
        }
        Map<String, String> names = new HashMap<>();
        for (Map.Entry<String, INDArray> e : torchLayout(marks).entrySet()) {
            int slot = e.getValue().ravel().getInt(0) - 1;
            names.put(slots.get(slot).key(), e.getKey());
        }
        return names;
    }

    private Map<String, Long> stepsByTorchName() {
        Map<String, String> torchNameOf = torchNames();
        Map<String, Long> out = new HashMap<>();
        for (int i = 0; i < slots.size(); i++) {
            out.put(torchNameOf.get(slots.get(i).key()), steps[i]);
        }
        return out;
    }
}
