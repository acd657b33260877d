package io.github.instancenorm.speedups.layers;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.LayerVertex;
import org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.slf4j.LoggerFactory;

/**
 * Replaces layer objects of an initialized network, for this artifact's installs: a replacement shares the original's
 * configuration and parameter views, so only the objects change, never the network's parameters, updater or saved
 * form. DL4J keeps a layer object in several places, and each is swapped:
 * <ul>
 *   <li>{@code getLayers()}'s array, which is the network's own array, not a copy;</li>
 *   <li>a {@code ComputationGraph}'s {@code LayerVertex.layer};</li>
 *   <li>a {@code MultiLayerNetwork}'s {@code layerMap}, which may hold a wrapped layer itself (TransferLearning's
 *       frozen layers);</li>
 *   <li>a wrapper's {@code underlying} (frozen layers): the wrapped layer is replaced inside its innermost wrapper.</li>
 * </ul>
 * Not swapped: the layers that an already built {@code MultiLayerNetwork} updater keeps by name (it uses them for
 * layers with parameters, whose replacement shares the original's configuration), so replace before the updater is
 * made where that matters. Every replacement is made before anything is written: one that throws changes nothing.
 * Not API: the speed-ups' classes use it, and its signature may change.
 */
public final class LayerObjects {

    private static final VarHandle VERTEX_LAYER = protectedField(LayerVertex.class, "layer", Layer.class);
    private static final VarHandle NETWORK_LAYER_MAP =
            protectedField(MultiLayerNetwork.class, "layerMap", LinkedHashMap.class);

    private LayerObjects() {}

    /**
     * A handle on a DL4J class's protected or private field, or {@code null} where this DL4J version lacks it or the
     * module system refuses access; the caller then installs nothing.
     *
     * @param owner the class that declares the field
     * @param name  its name
     * @param type  its declared type
     * @return the handle, or {@code null}
     */
    public static VarHandle protectedField(Class<?> owner, String name, Class<?> type) {
        try {
            return MethodHandles.privateLookupIn(owner, MethodHandles.lookup()).findVarHandle(owner, name, type);
        } catch (ReflectiveOperationException | RuntimeException e) {
            LoggerFactory.getLogger(LayerObjects.class)
                    .debug("No access to {}.{}: {}", owner.getName(), name, e.toString());
            return null;
        }
    }

    /** @return whether this DL4J version has the fields that {@link #replace} writes */
    public static boolean available() {
        return VERTEX_LAYER != null && NETWORK_LAYER_MAP != null;
    }

    /**
     * Replaces every layer object of the graph for which {@code replacement} returns another object.
     *
     * @param network     an initialized graph
     * @param replacement maps an unwrapped layer to its replacement, or to itself to keep it
     * @return each replaced layer and its replacement
     * @throws IllegalStateException if this DL4J version lacks the fields ({@link #available()}); nothing is changed
     */
    public static Map<Layer, Layer> replace(ComputationGraph network, UnaryOperator<Layer> replacement) {
        requireAvailable();
        // Every replacement is made before anything is written, so a replacement that throws changes nothing.
        Map<Layer, Layer> replaced = new IdentityHashMap<>();
        for (GraphVertex vertex : network.getVertices()) {
            if (vertex instanceof LayerVertex v) {
                propose(v.getLayer(), replacement, replaced);
            }
        }
        for (GraphVertex vertex : network.getVertices()) {
            if (vertex instanceof LayerVertex v) {
                Layer before = v.getLayer();
                Layer after = swapWrapped(before, replaced);
                if (after != before) {
                    VERTEX_LAYER.set(v, after);
                }
            }
        }
        Layer[] layers = network.getLayers();
        for (int i = 0; i < layers.length; i++) {
            layers[i] = replaced.getOrDefault(layers[i], layers[i]);
        }
        return replaced;
    }

    /**
     * Replaces every layer object of the network for which {@code replacement} returns another object.
     *
     * @param network     an initialized network
     * @param replacement maps an unwrapped layer to its replacement, or to itself to keep it
     * @return each replaced layer and its replacement
     * @throws IllegalStateException if this DL4J version lacks the fields ({@link #available()}); nothing is changed
     */
    public static Map<Layer, Layer> replace(MultiLayerNetwork network, UnaryOperator<Layer> replacement) {
        requireAvailable();
        Map<Layer, Layer> replaced = new IdentityHashMap<>();
        Layer[] layers = network.getLayers();
        for (Layer layer : layers) {
            propose(layer, replacement, replaced);
        }
        for (int i = 0; i < layers.length; i++) {
            layers[i] = swapWrapped(layers[i], replaced);
        }
        @SuppressWarnings("unchecked")
        Map<String, Layer> byName = (Map<String, Layer>) NETWORK_LAYER_MAP.get(network);
        byName.replaceAll((name, l) -> replaced.getOrDefault(l, l));
        return replaced;
    }

    /** Records the replacement of the layer under any wrappers, where {@code replacement} gives another object. */
    private static void propose(Layer layer, UnaryOperator<Layer> replacement, Map<Layer, Layer> replaced) {
        while (layer instanceof BaseWrapperLayer wrapper) {
            layer = wrapper.getUnderlying();
        }
        if (layer != null && !replaced.containsKey(layer)) {
            Layer fast = replacement.apply(layer);
            if (fast != layer) {
                replaced.put(layer, fast);
            }
        }
    }

    /** The layer itself, or under wrappers: returns the outer object, its innermost layer swapped where replaced. */
    private static Layer swapWrapped(Layer layer, Map<Layer, Layer> replaced) {
        Layer outer = layer;
        BaseWrapperLayer innermostWrapper = null;
        while (layer instanceof BaseWrapperLayer wrapper) {
            innermostWrapper = wrapper;
            layer = wrapper.getUnderlying();
        }
        Layer fast = layer == null ? null : replaced.get(layer);
        if (fast == null) {
            return outer;
        }
        if (innermostWrapper == null) {
            return fast;
        }
        innermostWrapper.setUnderlying(fast);
        return outer;
    }

    /**
     * Copies every instance field that {@code from} and its superclasses declare from {@code original} into
     * {@code copy}: a replacement built this way shares all of the original's state.
     *
     * @param from     the most derived class whose fields are copied (the original's class)
     * @param original the layer replaced
     * @param copy     its replacement, an instance of a subclass of {@code from}
     * @param <T>      the layer type
     * @throws IllegalStateException if a field cannot be copied (a DL4J version whose fields differ); {@code copy}
     *                               is then partly written and must be dropped
     */
    public static <T> void copyFields(Class<T> from, T original, T copy) {
        for (Class<?> c = from; c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers())) {
                    continue;
                }
                try {
                    f.setAccessible(true);
                    f.set(copy, f.get(original));
                } catch (ReflectiveOperationException | RuntimeException e) {
                    throw new IllegalStateException(
                            "cannot copy " + c.getName() + "." + f.getName() + " into "
                                    + copy.getClass().getSimpleName() + " (a DL4J other than 1.0.0-M2.1?)",
                            e);
                }
            }
        }
    }

    private static void requireAvailable() {
        if (!available()) {
            throw new IllegalStateException("This DL4J version does not keep its layer objects where the speed-ups"
                    + " expect them (LayerVertex.layer, MultiLayerNetwork.layerMap): no layer is replaced");
        }
    }
}
