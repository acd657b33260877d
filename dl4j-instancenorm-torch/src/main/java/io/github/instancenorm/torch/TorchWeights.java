package io.github.instancenorm.torch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * PyTorch's {@code load_state_dict} for DL4J networks.
 *
 * <p>Each DL4J layer takes the tensors of the PyTorch module with the same path: a layer named
 * {@code "main.1"} (set with {@code .name("main.1")} on the layer builder, or the vertex name of a
 * ComputationGraph) takes {@code main.1.weight}, {@code main.1.bias}, ... converted to DL4J's
 * layout by the {@link ParamMapper} of its class (see {@link ParamMappers} for the built-in
 * layers) and cast to the parameter's dtype. {@link LoadOptions} maps other names.
 *
 * <p>Everything is checked before anything is written: strict loading that fails throws a
 * {@link StateDictMismatchException} listing every missing key, unexpected key and shape
 * mismatch (with both shapes), and leaves the network unchanged.
 */
public final class TorchWeights {
    private TorchWeights() {}

    /**
     * Strict load into a MultiLayerNetwork.
     *
     * @param net an initialized network
     * @param sd  the state dict
     * @return what was loaded
     * @throws StateDictMismatchException when the state dict does not match the network exactly
     */
    public static LoadReport load(MultiLayerNetwork net, StateDict sd) {
        return load(net, sd, LoadOptions.defaults());
    }

    /**
     * Load into a MultiLayerNetwork.
     *
     * @param net     an initialized network
     * @param sd      the state dict
     * @param options strictness and name mapping
     * @return what was loaded and what was not
     * @throws StateDictMismatchException when loading is strict and the state dict does not match
     */
    public static LoadReport load(MultiLayerNetwork net, StateDict sd, LoadOptions options) {
        return load(net.getLayers(), sd, options);
    }

    /**
     * Strict load into a ComputationGraph.
     *
     * @param net an initialized graph
     * @param sd  the state dict
     * @return what was loaded
     * @throws StateDictMismatchException when the state dict does not match the graph exactly
     */
    public static LoadReport load(ComputationGraph net, StateDict sd) {
        return load(net, sd, LoadOptions.defaults());
    }

    /**
     * Load into a ComputationGraph.
     *
     * @param net     an initialized graph
     * @param sd      the state dict
     * @param options strictness and name mapping
     * @return what was loaded and what was not
     * @throws StateDictMismatchException when loading is strict and the state dict does not match
     */
    public static LoadReport load(ComputationGraph net, StateDict sd, LoadOptions options) {
        return load(net.getLayers(), sd, options);
    }

    /** One layer with its bindings. */
    private record Bound(String module, Map<String, INDArray> params, List<ParamBinding> bindings) {
        String key(ParamBinding b) {
            return module.isEmpty() ? b.torchName() : module + "." + b.torchName();
        }
    }

    private static List<Bound> bind(Layer[] layers, LoadOptions options, List<String> unmapped) {
        if (layers == null) {
            throw new IllegalStateException("the network has no layers; call net.init() before loading weights");
        }
        List<Bound> r = new ArrayList<>();
        for (Layer layer : layers) {
            org.deeplearning4j.nn.conf.layers.Layer conf = layer.conf().getLayer();
            String name = conf.getLayerName();
            conf = unwrap(conf);
            if (name == null) {
                name = conf.getLayerName();
            }
            Map<String, INDArray> params = layer.paramTable();
            if (params == null || params.isEmpty()) {
                continue;
            }
            String module = options.torchModule(name);
            if (module == null) {
                continue;
            }
            ParamMapper mapper = ParamMappers.find(conf.getClass());
            if (mapper == null) {
                unmapped.add("layer '" + name + "' (" + conf.getClass().getSimpleName() + ") has parameters "
                        + params.keySet()
                        + " but no ParamMapper; register one with ParamMappers.register("
                        + conf.getClass().getSimpleName()
                        + ".class, ...)");
                continue;
            }
            List<ParamBinding> bindings = mapper.bindings(conf, params);
            Set<String> bound = new LinkedHashSet<>();
            for (ParamBinding b : bindings) {
                if (b.dl4jKey() != null) {
                    bound.add(b.dl4jKey());
                }
            }
            for (String k : params.keySet()) {
                if (!bound.contains(k)) {
                    unmapped.add("layer '" + name + "' parameter '" + k + "' has no PyTorch counterpart in "
                            + mapper.getClass().getSimpleName());
                }
            }
            r.add(new Bound(module, params, bindings));
        }
        return r;
    }

    private static org.deeplearning4j.nn.conf.layers.Layer unwrap(org.deeplearning4j.nn.conf.layers.Layer conf) {
        for (int i = 0; i < 8; i++) {
            if (conf instanceof FrozenLayer f) {
                conf = f.getLayer();
            } else if (conf instanceof BaseWrapperLayer w) {
                conf = w.getUnderlying();
            } else {
                break;
            }
        }
        return conf;
    }

    private static LoadReport load(Layer[] layers, StateDict sd, LoadOptions options) {
        List<String> unmapped = new ArrayList<>();
        List<Bound> bound = bind(layers, options, unmapped);
        List<String> loaded = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        List<String> mismatches = new ArrayList<>();
        Set<String> consumed = new LinkedHashSet<>();
        List<INDArray[]> assignments = new ArrayList<>(); // {target, value}: INDArray.equals compares values
        for (Bound b : bound) {
            for (ParamBinding p : b.bindings()) {
                String key = b.key(p);
                if (!sd.contains(key)) {
                    if (!p.optional()) {
                        missing.add(key);
                    }
                    continue;
                }
                consumed.add(key);
                Object v = sd.value(key);
                if (!(v instanceof INDArray t)) {
                    mismatches.add("type mismatch for " + key + ": the checkpoint holds a " + StateDict.describe(v)
                            + ", the model expects a tensor");
                    continue;
                }
                if (p.dl4jKey() == null) {
                    continue;
                }
                if (!Arrays.equals(t.shape(), p.torchShape())) {
                    mismatches.add("size mismatch for " + key + ": copying a param with shape "
                            + Arrays.toString(t.shape()) + " from checkpoint, the shape in current model is "
                            + Arrays.toString(p.torchShape()) + ".");
                    continue;
                }
                INDArray target = b.params().get(p.dl4jKey());
                INDArray value = p.toDl4j(t).castTo(target.dataType());
                if (!Arrays.equals(value.shape(), target.shape())) {
                    throw new IllegalStateException("ParamMapper bug: " + key + " converts to "
                            + Arrays.toString(value.shape()) + " but DL4J parameter '" + p.dl4jKey() + "' has shape "
                            + Arrays.toString(target.shape()));
                }
                assignments.add(new INDArray[] {target, value});
                loaded.add(key);
            }
        }
        List<String> unexpected = new ArrayList<>();
        boolean nested = false;
        for (String k : sd.keys()) {
            Object v = sd.value(k);
            if (v instanceof INDArray && !consumed.contains(k)) {
                unexpected.add(k);
            }
            nested |= v instanceof StateDict;
        }
        LoadReport report = new LoadReport(loaded, missing, unexpected, mismatches, unmapped);
        if (options.isStrict() && !report.isComplete()) {
            String hint = nested && loaded.isEmpty()
                    ? "\n  The state dict holds nested dicts " + nestedKeys(sd)
                            + ": select one first, e.g. sd.select(\"G\")"
                    : "";
            boolean prefixed = false;
            for (String k : unexpected) {
                prefixed |= k.startsWith("module.");
            }
            if (prefixed) {
                hint += "\n  Keys start with 'module.' (DataParallel): use sd.stripPrefix(\"module.\")";
            }
            throw new StateDictMismatchException(
                    "Error(s) in loading state_dict into the DL4J network, nothing was changed: " + report + hint
                            + "\n  Use LoadOptions.defaults().strict(false) to load what matches.",
                    report);
        }
        for (INDArray[] a : assignments) {
            a[0].assign(a[1]);
        }
        return report;
    }

    private static List<String> nestedKeys(StateDict sd) {
        List<String> r = new ArrayList<>();
        for (String k : sd.keys()) {
            if (sd.value(k) instanceof StateDict) {
                r.add(k);
            }
        }
        return r;
    }

    static StateDict stateDict(MultiLayerNetwork net, LoadOptions options) {
        return stateDict(net.getLayers(), options);
    }

    static StateDict stateDict(ComputationGraph net, LoadOptions options) {
        return stateDict(net.getLayers(), options);
    }

    private static StateDict stateDict(Layer[] layers, LoadOptions options) {
        List<String> unmapped = new ArrayList<>();
        List<Bound> bound = bind(layers, options, unmapped);
        if (!unmapped.isEmpty()) {
            throw new IllegalStateException(
                    "cannot express the network as a PyTorch state dict:\n  " + String.join("\n  ", unmapped));
        }
        StateDict sd = new StateDict();
        for (Bound b : bound) {
            for (ParamBinding p : b.bindings()) {
                if (p.dl4jKey() == null) {
                    continue;
                }
                String key = b.key(p);
                if (sd.contains(key)) {
                    throw new IllegalStateException(
                            "two layers write PyTorch key '" + key + "'; give the layers distinct names");
                }
                sd.put(key, p.toTorch(b.params().get(p.dl4jKey())));
            }
        }
        return sd;
    }
}
