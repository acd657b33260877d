package io.github.instancenorm.torch;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The state of a {@code torch.optim.Adam} optimizer, what {@code optimizer.state_dict()} returns (AdamW keeps the
 * same entries): the hyper-parameters of each param group, and for each parameter that has been updated its step
 * count and moment estimates. Parameters are numbered as PyTorch numbers them, by their position across the
 * optimizer's param groups.
 *
 * <pre>{@code
 * // StarGAN v2's {step:06d}_optims.ckpt: torch.save({name: optimizer.state_dict() for name in ...}, path)
 * Map<String, OptimizerState> optims = OptimizerState.readAll(Path.of("100000_optims.ckpt"));
 * OptimizerState g = optims.get("generator");
 * double lr = g.paramGroups().get(0).lr();
 * OptimizerState.ParamState s = g.state(0).orElseThrow();   // parameter 0
 * INDArray m = s.expAvg(), v = s.expAvgSq();                  // shaped like the parameter
 * long step = s.step();
 * OptimizerState.writeAll(optims, Path.of("copy_optims.ckpt")); // torch.load + optimizer.load_state_dict
 * }</pre>
 *
 * <p>A parameter that never received a gradient has no state entry ({@link #state(int)} is empty), as in
 * PyTorch. Both the zip and the legacy {@code torch.save} formats are read, with {@link StateDict}'s reader: no
 * code from the file runs. {@code step} may be a tensor (PyTorch 1.12 and later) or an int (before); the writer
 * writes PyTorch 1.13's layout: plain dicts, integer parameter indices, {@code betas} as a tuple and {@code step}
 * as a 0-d float32 tensor.
 *
 * <p>Instances are immutable, but the arrays they hold are not copied: do not modify them while the state is in
 * use.
 */
public final class OptimizerState {
    private final List<ParamGroup> paramGroups;
    private final Map<Integer, ParamState> state;

    /**
     * The state of one parameter: what Adam keeps in {@code optimizer.state[p]}.
     *
     * @param step        how many updates the parameter has had ({@code state['step']})
     * @param expAvg      the first moment estimate ({@code exp_avg}), shaped like the parameter
     * @param expAvgSq    the second moment estimate ({@code exp_avg_sq}), shaped like the parameter
     * @param maxExpAvgSq the running maximum of {@code exp_avg_sq} that AMSGrad keeps ({@code max_exp_avg_sq}), or
     *                    null when the parameter's group does not use AMSGrad
     */
    public record ParamState(long step, INDArray expAvg, INDArray expAvgSq, INDArray maxExpAvgSq) {
        /**
         * @throws IllegalArgumentException when {@code step} is negative or the arrays differ in shape
         */
        public ParamState {
            Objects.requireNonNull(expAvg, "expAvg");
            Objects.requireNonNull(expAvgSq, "expAvgSq");
            if (step < 0) {
                throw new IllegalArgumentException("step " + step + " is negative");
            }
            if (!Arrays.equals(expAvg.shape(), expAvgSq.shape())) {
                throw new IllegalArgumentException("exp_avg " + Arrays.toString(expAvg.shape()) + " and exp_avg_sq "
                        + Arrays.toString(expAvgSq.shape()) + " differ in shape");
            }
            if (maxExpAvgSq != null && !Arrays.equals(expAvg.shape(), maxExpAvgSq.shape())) {
                throw new IllegalArgumentException("exp_avg " + Arrays.toString(expAvg.shape()) + " and max_exp_avg_sq "
                        + Arrays.toString(maxExpAvgSq.shape()) + " differ in shape");
            }
        }

        /**
         * The state of a parameter in a group without AMSGrad.
         *
         * @param step     how many updates the parameter has had
         * @param expAvg   the first moment estimate
         * @param expAvgSq the second moment estimate
         */
        public ParamState(long step, INDArray expAvg, INDArray expAvgSq) {
            this(step, expAvg, expAvgSq, null);
        }
    }

    /**
     * One entry of {@code optimizer.state_dict()['param_groups']}.
     *
     * @param lr          the learning rate ({@code lr})
     * @param beta1       {@code betas[0]}
     * @param beta2       {@code betas[1]}
     * @param eps         {@code eps}
     * @param weightDecay {@code weight_decay}
     * @param amsgrad     {@code amsgrad}
     * @param params      the indices of the group's parameters ({@code params})
     * @param options     the group's other entries, in order, such as PyTorch 1.13's {@code maximize},
     *                    {@code foreach} (None: null), {@code capturable}, {@code differentiable} and
     *                    {@code fused}; values as {@link StateDict} describes them
     */
    public record ParamGroup(
            double lr,
            double beta1,
            double beta2,
            double eps,
            double weightDecay,
            boolean amsgrad,
            List<Integer> params,
            Map<String, Object> options) {

        private static final Set<String> NAMED = Set.of("lr", "betas", "eps", "weight_decay", "amsgrad", "params");

        /**
         * @throws IllegalArgumentException when a parameter index is negative or repeated, or {@code options} holds
         *                                  one of the named entries
         */
        public ParamGroup {
            params = List.copyOf(params);
            Set<Integer> seen = new java.util.HashSet<>();
            for (int p : params) {
                if (p < 0 || !seen.add(p)) {
                    throw new IllegalArgumentException(
                            "parameter index " + p + " is negative or repeated in " + params);
                }
            }
            LinkedHashMap<String, Object> o = new LinkedHashMap<>(options);
            for (String k : o.keySet()) {
                if (NAMED.contains(Objects.requireNonNull(k, "option name"))) {
                    throw new IllegalArgumentException("option '" + k + "' is a component of ParamGroup itself");
                }
            }
            options = Collections.unmodifiableMap(o);
        }

        /**
         * A group as {@code torch.optim.Adam(params, lr, betas=(beta1, beta2), eps, weight_decay)} of PyTorch 1.13
         * makes it: no AMSGrad, and options {@code maximize=False, foreach=None, capturable=False,
         * differentiable=False, fused=False}.
         *
         * @param lr          learning rate
         * @param beta1       first-moment decay
         * @param beta2       second-moment decay
         * @param eps         term added to the denominator
         * @param weightDecay L2 penalty
         * @param params      the indices of the group's parameters
         * @return the group
         */
        public static ParamGroup adam(
                double lr, double beta1, double beta2, double eps, double weightDecay, List<Integer> params) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("maximize", false);
            o.put("foreach", null);
            o.put("capturable", false);
            o.put("differentiable", false);
            o.put("fused", false);
            return new ParamGroup(lr, beta1, beta2, eps, weightDecay, false, params, o);
        }
    }

    /**
     * @param paramGroups the param groups, at least one
     * @param state       the state of each parameter that has one, by parameter index; each index must be in a
     *                    group, and a parameter of an AMSGrad group needs {@code maxExpAvgSq}
     * @throws IllegalArgumentException when the groups and the state do not fit together
     */
    public OptimizerState(List<ParamGroup> paramGroups, Map<Integer, ParamState> state) {
        this.paramGroups = List.copyOf(paramGroups);
        if (this.paramGroups.isEmpty()) {
            throw new IllegalArgumentException("an optimizer has at least one param group");
        }
        Map<Integer, ParamGroup> groupOf = new HashMap<>();
        for (ParamGroup g : this.paramGroups) {
            for (int p : g.params()) {
                if (groupOf.put(p, g) != null) {
                    throw new IllegalArgumentException("parameter index " + p + " is in two param groups");
                }
            }
        }
        LinkedHashMap<Integer, ParamState> s = new LinkedHashMap<>();
        for (Map.Entry<Integer, ParamState> e : state.entrySet()) {
            int p = Objects.requireNonNull(e.getKey(), "parameter index");
            ParamState ps = Objects.requireNonNull(e.getValue(), "state of parameter " + p);
            ParamGroup g = groupOf.get(p);
            if (g == null) {
                throw new IllegalArgumentException("parameter " + p + " has state but is in no param group; the"
                        + " groups hold " + groupOf.keySet());
            }
            if (g.amsgrad() && ps.maxExpAvgSq() == null) {
                throw new IllegalArgumentException(
                        "parameter " + p + " is in an AMSGrad group (amsgrad=True) but has no max_exp_avg_sq");
            }
            s.put(p, ps);
        }
        this.state = Collections.unmodifiableMap(s);
    }

    // ---------------------------------------------------------------- reading

    /**
     * Reads a file holding the state dicts of several optimizers by name, as
     * {@code torch.save({name: optimizer.state_dict(), ...}, path)} writes it (StarGAN v2's {@code *_optims.ckpt}).
     *
     * @param path a {@code torch.save} file, zip or legacy format
     * @return the optimizers' states by name, in the file's order
     * @throws TorchFormatException when the file is not a checkpoint, is damaged, or is not such a dict; the message
     *                              names the file and the entry
     * @throws IOException          when the file cannot be read
     */
    public static Map<String, OptimizerState> readAll(Path path) throws IOException {
        return allOf(StateDict.read(path), path.toString());
    }

    /**
     * Reads a file holding one optimizer's state dict: {@code torch.save(optimizer.state_dict(), path)}.
     *
     * @param path a {@code torch.save} file, zip or legacy format
     * @return the state
     * @throws TorchFormatException when the file is not a checkpoint, is damaged, or is not an Adam state dict; the
     *                              message names the file and the entry
     * @throws IOException          when the file cannot be read
     */
    public static OptimizerState read(Path path) throws IOException {
        return of(StateDict.read(path), path.toString());
    }

    /**
     * The optimizers in a checkpoint already read, e.g. {@code allOf(StateDict.read(path))}, or
     * {@code allOf(ckpt.select("optims"))} for a checkpoint that keeps them under one entry.
     *
     * @param checkpoint a dict of optimizer state dicts by name
     * @return the optimizers' states by name, in order
     * @throws TorchFormatException when an entry is not an Adam state dict
     */
    public static Map<String, OptimizerState> allOf(StateDict checkpoint) throws TorchFormatException {
        return allOf(checkpoint, "checkpoint");
    }

    /**
     * One optimizer's state from a dict already read, e.g. {@code of(StateDict.read(path).select("generator"))}.
     *
     * @param optimizerStateDict what {@code optimizer.state_dict()} returned
     * @return the state
     * @throws TorchFormatException when the dict is not an Adam state dict
     */
    public static OptimizerState of(StateDict optimizerStateDict) throws TorchFormatException {
        return of(optimizerStateDict, "state dict");
    }

    static Map<String, OptimizerState> allOf(StateDict checkpoint, String where) throws TorchFormatException {
        try {
            if (checkpoint.contains("state") && checkpoint.contains("param_groups")) {
                throw new TorchFormatException(where + ": holds a single optimizer state dict ('state' and"
                        + " 'param_groups'), not a dict of them by name; read it with OptimizerState.read or of");
            }
            Map<String, OptimizerState> r = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : checkpoint.entries().entrySet()) {
                if (!(e.getValue() instanceof StateDict sd)) {
                    throw new TorchFormatException(where + ": entry '" + e.getKey() + "' is a "
                            + StateDict.describe(e.getValue()) + ", not an optimizer's state dict");
                }
                r.put(e.getKey(), parse(sd, where, e.getKey()));
            }
            return Collections.unmodifiableMap(r);
        } catch (RuntimeException e) {
            throw new TorchFormatException(where + ": cannot read the optimizer states: " + e, e);
        }
    }

    static OptimizerState of(StateDict sd, String where) throws TorchFormatException {
        try {
            return parse(sd, where, "");
        } catch (RuntimeException e) {
            throw new TorchFormatException(where + ": cannot read the optimizer state: " + e, e);
        }
    }

    /** Reads {@code sd}, found at entry {@code at} ("" for the root) of {@code where}. */
    private static OptimizerState parse(StateDict sd, String where, String at) throws TorchFormatException {
        String prefix = at.isEmpty() ? "" : at + ".";
        if (!sd.contains("state") || !sd.contains("param_groups")) {
            throw new TorchFormatException(where + ": " + (at.isEmpty() ? "the dict" : "entry '" + at + "'")
                    + " has no 'state' and 'param_groups' (its entries are " + preview(sd.keys())
                    + "); it is not an optimizer.state_dict()"
                    + (looksLikeModel(sd) ? " but holds tensors, like a model's state dict" : ""));
        }
        for (String k : sd.keys()) {
            if (!k.equals("state") && !k.equals("param_groups")) {
                throw new TorchFormatException(where + ": entry '" + prefix + k
                        + "' is not part of an optimizer state dict, which holds 'state' and 'param_groups' only");
            }
        }
        Object groupsValue = sd.value("param_groups");
        if (!(groupsValue instanceof List<?> groupList) || groupList.isEmpty()) {
            throw bad(where, prefix + "param_groups", groupsValue, "a non-empty list of param groups");
        }
        List<ParamGroup> groups = new ArrayList<>();
        for (int i = 0; i < groupList.size(); i++) {
            groups.add(group(groupList.get(i), where, prefix + "param_groups[" + i + "]"));
        }
        Object stateValue = sd.value("state");
        if (!(stateValue instanceof StateDict stateDict)) {
            throw bad(where, prefix + "state", stateValue, "a dict from parameter index to state");
        }
        Map<Integer, ParamState> state = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : stateDict.entries().entrySet()) {
            String entry = prefix + "state." + e.getKey();
            int index = index(e.getKey(), where, entry);
            if (!(e.getValue() instanceof StateDict ps)) {
                throw bad(where, entry, e.getValue(), "a dict with step, exp_avg and exp_avg_sq");
            }
            state.put(index, paramState(ps, where, entry));
        }
        try {
            return new OptimizerState(groups, state);
        } catch (IllegalArgumentException e) {
            throw new TorchFormatException(
                    where + ": entry '" + (at.isEmpty() ? "state" : prefix + "state") + "': " + e.getMessage());
        }
    }

    private static boolean looksLikeModel(StateDict sd) {
        return !sd.tensors().isEmpty();
    }

    private static String preview(List<String> keys) {
        return keys.size() <= 8 ? keys.toString() : keys.subList(0, 8) + " and " + (keys.size() - 8) + " more";
    }

    private static TorchFormatException bad(String where, String entry, Object value, String expected) {
        return new TorchFormatException(where + ": entry '" + entry + "' is " + describe(value) + ", not " + expected);
    }

    private static String describe(Object v) {
        if (v instanceof List<?> l) {
            return "a list of " + l.size();
        }
        return "a " + StateDict.describe(v);
    }

    private static int index(String key, String where, String entry) throws TorchFormatException {
        try {
            int i = Integer.parseInt(key);
            if (i >= 0 && Integer.toString(i).equals(key)) {
                return i;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new TorchFormatException(
                where + ": entry '" + entry + "' is keyed '" + key + "', not a parameter index (an int from 0)");
    }

    private static ParamGroup group(Object value, String where, String entry) throws TorchFormatException {
        if (!(value instanceof StateDict g)) {
            throw bad(where, entry, value, "a dict of hyper-parameters");
        }
        for (String k : List.of("lr", "betas", "eps", "weight_decay", "amsgrad", "params")) {
            if (!g.contains(k)) {
                throw new TorchFormatException(where + ": entry '" + entry + "' has no '" + k + "'; an Adam param"
                        + " group holds lr, betas, eps, weight_decay, amsgrad and params (its entries are "
                        + preview(g.keys()) + ")");
            }
        }
        double lr = number(g.value("lr"), where, entry + ".lr");
        Object betas = g.value("betas");
        if (!(betas instanceof List<?> b) || b.size() != 2) {
            throw bad(where, entry + ".betas", betas, "a pair of numbers (beta1, beta2)");
        }
        double beta1 = number(b.get(0), where, entry + ".betas[0]");
        double beta2 = number(b.get(1), where, entry + ".betas[1]");
        double eps = number(g.value("eps"), where, entry + ".eps");
        double weightDecay = number(g.value("weight_decay"), where, entry + ".weight_decay");
        Object amsgrad = g.value("amsgrad");
        if (!(amsgrad instanceof Boolean ams)) {
            throw bad(where, entry + ".amsgrad", amsgrad, "a bool");
        }
        Object paramsValue = g.value("params");
        if (!(paramsValue instanceof List<?> pl)) {
            throw bad(where, entry + ".params", paramsValue, "a list of parameter indices");
        }
        List<Integer> params = new ArrayList<>(pl.size());
        Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < pl.size(); i++) {
            Object p = pl.get(i);
            if (!(p instanceof Long l) || l < 0 || l > Integer.MAX_VALUE) {
                throw bad(where, entry + ".params[" + i + "]", p, "a parameter index (an int from 0)");
            }
            if (!seen.add(l.intValue())) {
                throw new TorchFormatException(
                        where + ": entry '" + entry + ".params' lists parameter " + l + " twice");
            }
            params.add(l.intValue());
        }
        Map<String, Object> options = new LinkedHashMap<>();
        for (String k : g.keys()) {
            if (!ParamGroup.NAMED.contains(k)) {
                options.put(k, g.value(k));
            }
        }
        return new ParamGroup(lr, beta1, beta2, eps, weightDecay, ams, params, options);
    }

    private static double number(Object v, String where, String entry) throws TorchFormatException {
        if (v instanceof Double || v instanceof Long || v instanceof BigInteger) {
            return ((Number) v).doubleValue();
        }
        throw bad(where, entry, v, "a number");
    }

    private static ParamState paramState(StateDict ps, String where, String entry) throws TorchFormatException {
        for (String k : ps.keys()) {
            if (!k.equals("step") && !k.equals("exp_avg") && !k.equals("exp_avg_sq") && !k.equals("max_exp_avg_sq")) {
                throw new TorchFormatException(where + ": entry '" + entry + "." + k + "' is not part of Adam's"
                        + " state (step, exp_avg, exp_avg_sq, max_exp_avg_sq); is this another optimizer's?");
            }
        }
        for (String k : List.of("step", "exp_avg", "exp_avg_sq")) {
            if (!ps.contains(k)) {
                throw new TorchFormatException(where + ": entry '" + entry + "' has no '" + k + "'; Adam's state of"
                        + " a parameter holds step, exp_avg and exp_avg_sq (its entries are " + ps.keys() + ")");
            }
        }
        long step = step(ps.value("step"), where, entry + ".step");
        INDArray m = tensor(ps.value("exp_avg"), where, entry + ".exp_avg");
        INDArray v = tensor(ps.value("exp_avg_sq"), where, entry + ".exp_avg_sq");
        INDArray max = ps.contains("max_exp_avg_sq")
                ? tensor(ps.value("max_exp_avg_sq"), where, entry + ".max_exp_avg_sq")
                : null;
        try {
            return new ParamState(step, m, v, max);
        } catch (IllegalArgumentException e) {
            throw new TorchFormatException(where + ": entry '" + entry + "': " + e.getMessage());
        }
    }

    private static INDArray tensor(Object v, String where, String entry) throws TorchFormatException {
        if (v instanceof INDArray a) {
            return a;
        }
        throw bad(where, entry, v, "a tensor");
    }

    /** A step count: an int, or a one-element tensor or a float holding a whole number. */
    private static long step(Object v, String where, String entry) throws TorchFormatException {
        double d;
        if (v instanceof Long l) {
            if (l < 0) {
                throw bad(where, entry, v, "a step count (an int from 0)");
            }
            return l;
        } else if (v instanceof Double x) {
            d = x;
        } else if (v instanceof INDArray a
                && !a.isEmpty()
                && a.length() == 1
                && a.dataType().isNumerical()) {
            d = a.getDouble(0);
        } else {
            throw bad(where, entry, v, "a step count (an int, or a tensor of one element)");
        }
        if (!(d >= 0 && d <= 1L << 53 && d == Math.rint(d))) {
            throw bad(where, entry, v, "a step count (a whole number from 0)");
        }
        return (long) d;
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes this state in the {@code torch.save} zip format, for {@code optimizer.load_state_dict(torch.load(path))}.
     *
     * @param path the file to create or replace
     * @throws TorchFormatException when an option has no PyTorch equivalent
     * @throws IOException          when writing fails
     */
    public void write(Path path) throws IOException {
        TorchZipWriter.write(toPy(), path);
    }

    /**
     * Writes several optimizers' states by name in the {@code torch.save} zip format, as StarGAN v2's
     * {@code torch.save({name: optimizer.state_dict(), ...}, path)} does: a plain dict, in the map's order.
     *
     * @param optimizers the states by name
     * @param path       the file to create or replace
     * @throws TorchFormatException when an option has no PyTorch equivalent
     * @throws IOException          when writing fails
     */
    public static void writeAll(Map<String, OptimizerState> optimizers, Path path) throws IOException {
        Py.Dict root = new Py.Dict();
        for (Map.Entry<String, OptimizerState> e : optimizers.entrySet()) {
            root.items.put(
                    Objects.requireNonNull(e.getKey(), "optimizer name"),
                    Objects.requireNonNull(e.getValue(), "state of " + e.getKey())
                            .toPy());
        }
        TorchZipWriter.write(root, path);
    }

    /** This state as the Python objects {@code optimizer.state_dict()} of PyTorch 1.13 returns. */
    private Py.Dict toPy() {
        Py.Dict states = new Py.Dict();
        for (Map.Entry<Integer, ParamState> e : state.entrySet()) {
            ParamState s = e.getValue();
            Py.Dict d = new Py.Dict();
            d.items.put("step", Nd4j.scalar(DataType.FLOAT, (float) s.step()));
            d.items.put("exp_avg", s.expAvg());
            d.items.put("exp_avg_sq", s.expAvgSq());
            if (s.maxExpAvgSq() != null) {
                d.items.put("max_exp_avg_sq", s.maxExpAvgSq());
            }
            states.items.put((long) e.getKey(), d);
        }
        List<Object> groups = new ArrayList<>();
        for (ParamGroup g : paramGroups) {
            Py.Dict d = new Py.Dict();
            d.items.put("lr", g.lr());
            d.items.put("betas", new Py.Tuple(List.of(g.beta1(), g.beta2())));
            d.items.put("eps", g.eps());
            d.items.put("weight_decay", g.weightDecay());
            d.items.put("amsgrad", g.amsgrad());
            d.items.putAll(g.options());
            List<Object> params = new ArrayList<>();
            for (int p : g.params()) {
                params.add((long) p);
            }
            d.items.put("params", params);
            groups.add(d);
        }
        Py.Dict sd = new Py.Dict();
        sd.items.put("state", states);
        sd.items.put("param_groups", groups);
        return sd;
    }

    // ---------------------------------------------------------------- access

    /** @return the param groups, in order */
    public List<ParamGroup> paramGroups() {
        return paramGroups;
    }

    /** @return the state of each parameter that has one, by parameter index, in the file's (or given) order */
    public Map<Integer, ParamState> state() {
        return state;
    }

    /**
     * @param paramIndex a parameter's index
     * @return its state, or empty when it has none (it never received a gradient)
     */
    public Optional<ParamState> state(int paramIndex) {
        return Optional.ofNullable(state.get(paramIndex));
    }

    /** @return the indices of all parameters, group by group */
    public List<Integer> params() {
        List<Integer> r = new ArrayList<>();
        for (ParamGroup g : paramGroups) {
            r.addAll(g.params());
        }
        return Collections.unmodifiableList(r);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof OptimizerState s && paramGroups.equals(s.paramGroups) && state.equals(s.state);
    }

    @Override
    public int hashCode() {
        return Objects.hash(paramGroups, state);
    }

    @Override
    public String toString() {
        return "OptimizerState{" + paramGroups.size() + " param groups, " + params().size() + " params, " + state.size()
                + " with state}";
    }
}
