package io.github.instancenorm.torch;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * How {@link TorchWeights} matches a state dict to a network. Immutable; every method returns a
 * changed copy.
 *
 * <pre>{@code
 * LoadOptions o = LoadOptions.defaults()
 *         .strict(false)
 *         .mapLayer("conv1", "main.0")                  // DL4J layer name -> PyTorch module path
 *         .layerNames(name -> name.replace('_', '.'));   // for every other layer
 * }</pre>
 */
public final class LoadOptions {
    private final boolean strict;
    private final Map<String, String> explicit;
    private final Function<String, String> rule;

    private LoadOptions(boolean strict, Map<String, String> explicit, Function<String, String> rule) {
        this.strict = strict;
        this.explicit = explicit;
        this.rule = rule;
    }

    /** @return strict matching, each DL4J layer named after its PyTorch module path */
    public static LoadOptions defaults() {
        return new LoadOptions(true, Map.of(), Function.identity());
    }

    /**
     * @param strict true (the default) to fail on any missing key, unexpected key or shape
     *               mismatch, like PyTorch's {@code load_state_dict(strict=True)}; false to load
     *               what matches and list the rest in the {@link LoadReport}. Shape mismatches
     *               are never loaded.
     * @return a copy with the setting
     */
    public LoadOptions strict(boolean strict) {
        return new LoadOptions(strict, explicit, rule);
    }

    /**
     * @param dl4jLayerName a layer name in the network
     * @param torchModule   the PyTorch module path whose tensors it takes (e.g. {@code main.1}),
     *                      "" for tensors without a module prefix, or null to skip the layer
     * @return a copy with the mapping added
     */
    public LoadOptions mapLayer(String dl4jLayerName, String torchModule) {
        Map<String, String> m = new HashMap<>(explicit);
        m.put(Objects.requireNonNull(dl4jLayerName, "dl4jLayerName"), torchModule);
        return new LoadOptions(strict, m, rule);
    }

    /**
     * @param rule the PyTorch module path of every layer not given to {@link #mapLayer}; it may
     *             return null to skip a layer
     * @return a copy with the rule
     */
    public LoadOptions layerNames(Function<String, String> rule) {
        return new LoadOptions(strict, explicit, Objects.requireNonNull(rule, "rule"));
    }

    /** @return whether loading is strict */
    public boolean isStrict() {
        return strict;
    }

    /**
     * @param dl4jLayerName a layer name
     * @return its PyTorch module path, or null to skip the layer
     */
    public String torchModule(String dl4jLayerName) {
        if (explicit.containsKey(dl4jLayerName)) {
            return explicit.get(dl4jLayerName);
        }
        return rule.apply(dl4jLayerName);
    }
}
