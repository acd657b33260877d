package io.github.instancenorm.torch;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The contents of a PyTorch checkpoint: an ordered map from names to tensors and plain values,
 * the Java side of {@code model.state_dict()} and of dicts such as
 * {@code {"G": G.state_dict(), "step": 5}}.
 *
 * <pre>{@code
 * StateDict sd = StateDict.read(Path.of("200000-G.ckpt"));     // zip, legacy or safetensors
 * INDArray w = sd.get("main.0.weight");                         // dtype as stored
 * StateDict g = StateDict.read(path).select("G").stripPrefix("module.");
 * }</pre>
 *
 * <p>Values are: {@link INDArray} for tensors (always a new contiguous C-order array of the
 * stored dtype; tensors that shared a storage in PyTorch do not share memory here); a nested
 * {@code StateDict} for a dict or OrderedDict; {@link Long} (or {@link java.math.BigInteger})
 * for int, {@link Double} for float, {@link Boolean}, {@link String}, {@code byte[]} for bytes,
 * null for None, an unmodifiable {@link List} for tuples, lists and sets; torch dtypes and
 * devices come back as their names ({@code "torch.float32"}, {@code "cpu"}). Keys that were
 * not strings in Python are converted with {@link String#valueOf}. Attributes of an
 * OrderedDict, such as {@code _metadata}, are in {@link #metadata()}; safetensors'
 * {@code __metadata__} is there too.
 *
 * <p>Reading never runs code from the file: the pickle machine accepts only the globals a state
 * dict needs and refuses every other one with a {@link TorchFormatException}.
 *
 * <p>Instances are mutable ({@link #put}) and not thread-safe.
 */
public final class StateDict {
    private final LinkedHashMap<String, Object> entries;
    private final Map<String, Object> metadata;

    /** Creates an empty state dict, to fill with {@link #put} and write. */
    public StateDict() {
        this(new LinkedHashMap<>(), new LinkedHashMap<>());
    }

    StateDict(LinkedHashMap<String, Object> entries, Map<String, Object> metadata) {
        this.entries = entries;
        this.metadata = metadata;
    }

    /**
     * Reads a checkpoint; the format is detected from the content, not the file name.
     *
     * @param path a file written by {@code torch.save} (zip or legacy format) or a safetensors file
     * @return its contents
     * @throws TorchFormatException when the file is not a checkpoint, is damaged, or holds
     *                              something other than a state dict
     * @throws IOException          when the file cannot be opened or read
     */
    public static StateDict read(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return CheckpointReader.read(
                    new ByteSource.OfChannel(ch), path.getFileName().toString());
        }
    }

    /**
     * Reads a checkpoint held in memory.
     *
     * @param bytes the bytes of a checkpoint file
     * @return its contents
     * @throws TorchFormatException when the bytes are not a checkpoint or are damaged
     */
    public static StateDict read(byte[] bytes) throws TorchFormatException {
        try {
            return CheckpointReader.read(new ByteSource.OfArray(bytes), "checkpoint");
        } catch (TorchFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new TorchFormatException("checkpoint: " + e.getMessage(), e);
        }
    }

    /**
     * The parameters of a network under PyTorch names and layouts, the inverse of
     * {@link TorchWeights#load(MultiLayerNetwork, StateDict)}.
     *
     * @param net a network whose layers are named after PyTorch module paths
     * @return a new state dict of copies of the parameters
     */
    public static StateDict of(MultiLayerNetwork net) {
        return TorchWeights.stateDict(net, LoadOptions.defaults());
    }

    /**
     * The parameters of a graph under PyTorch names and layouts.
     *
     * @param net a graph whose layer vertices are named after PyTorch module paths
     * @return a new state dict of copies of the parameters
     */
    public static StateDict of(ComputationGraph net) {
        return TorchWeights.stateDict(net, LoadOptions.defaults());
    }

    /** @return the keys in the order they were saved */
    public List<String> keys() {
        return Collections.unmodifiableList(new ArrayList<>(entries.keySet()));
    }

    /** @return the number of entries at this level */
    public int size() {
        return entries.size();
    }

    /**
     * @param key an entry name
     * @return whether the entry exists (its value may still be null, Python's None)
     */
    public boolean contains(String key) {
        return entries.containsKey(key);
    }

    /**
     * @param key a tensor's name, e.g. {@code main.0.weight}
     * @return the tensor, in the dtype it was stored with
     * @throws IllegalArgumentException when there is no such entry or it is not a tensor
     */
    public INDArray get(String key) {
        Object v = require(key);
        if (v instanceof INDArray a) {
            return a;
        }
        throw new IllegalArgumentException(
                "'" + key + "' is a " + describe(v) + ", not a tensor; use value(\"" + key + "\")");
    }

    /**
     * @param key an entry name
     * @return the value as described in the class documentation
     * @throws IllegalArgumentException when there is no such entry
     */
    public Object value(String key) {
        return require(key);
    }

    /**
     * The nested dict under {@code key}, for wrapped checkpoints such as {@code {"G": ..., "step": 5}}.
     *
     * @param key the entry holding a dict
     * @return the nested state dict (not a copy)
     * @throws IllegalArgumentException when there is no such entry or it is not a dict
     */
    public StateDict select(String key) {
        Object v = require(key);
        if (v instanceof StateDict s) {
            return s;
        }
        throw new IllegalArgumentException(
                "'" + key + "' is a " + describe(v) + ", not a dict; select() takes the key of a"
                        + " nested state dict, e.g. \"G\" in {\"G\": G.state_dict(), \"step\": 5}");
    }

    /**
     * Removes a prefix from every key that has it, like PyTorch's
     * {@code consume_prefix_in_state_dict_if_present}; keys without it stay as they are.
     *
     * @param prefix e.g. {@code "module."} added by DataParallel
     * @return a new state dict sharing the values
     * @throws IllegalArgumentException when stripping makes two keys equal
     */
    public StateDict stripPrefix(String prefix) {
        Objects.requireNonNull(prefix, "prefix");
        LinkedHashMap<String, Object> r = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : entries.entrySet()) {
            String k = e.getKey().startsWith(prefix) ? e.getKey().substring(prefix.length()) : e.getKey();
            if (r.put(k, e.getValue()) != null) {
                throw new IllegalArgumentException("stripping '" + prefix + "' makes two entries named '" + k + "'");
            }
        }
        return new StateDict(r, new LinkedHashMap<>(metadata));
    }

    /**
     * Adds or replaces an entry.
     *
     * @param key   the name
     * @param value an {@link INDArray}, a nested {@code StateDict}, or a plain value as listed in
     *              the class documentation
     * @return this
     */
    public StateDict put(String key, Object value) {
        entries.put(Objects.requireNonNull(key, "key"), value);
        return this;
    }

    /** @return the tensors at this level, in order (nested dicts and plain values left out) */
    public Map<String, INDArray> tensors() {
        Map<String, INDArray> r = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : entries.entrySet()) {
            if (e.getValue() instanceof INDArray a) {
                r.put(e.getKey(), a);
            }
        }
        return Collections.unmodifiableMap(r);
    }

    /**
     * @return the attributes of the pickled OrderedDict (PyTorch keeps {@code _metadata} there,
     *         a nested StateDict of module versions) or the {@code __metadata__} of a
     *         safetensors file; empty when there are none
     */
    public Map<String, Object> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    /**
     * Writes this state dict in the {@code torch.save} zip format, readable by
     * {@code torch.load(path, weights_only=True)}. Nested state dicts, numbers, strings,
     * booleans, None and lists are written too.
     *
     * @param path the file to create or replace
     * @throws TorchFormatException when a value has no PyTorch equivalent
     * @throws IOException          when writing fails
     */
    public void writeTorch(Path path) throws IOException {
        TorchZipWriter.write(this, path);
    }

    /**
     * Writes the tensors of this state dict as a safetensors file. {@link #metadata()} entries
     * whose values are strings go to {@code __metadata__}; the format has room for strings only, so
     * other entries (such as PyTorch's {@code _metadata} of module versions) are left out, with a
     * warning that names them.
     *
     * @param path the file to create or replace
     * @throws TorchFormatException when an entry is not a tensor (safetensors holds tensors only;
     *                              {@link #select} the dict of tensors first)
     * @throws IOException          when writing fails
     */
    public void writeSafetensors(Path path) throws IOException {
        SafetensorsWriter.write(this, path);
    }

    Map<String, Object> entries() {
        return Collections.unmodifiableMap(entries);
    }

    private Object require(String key) {
        if (!entries.containsKey(key)) {
            throw new IllegalArgumentException("no entry '" + key + "'; the entries are " + preview());
        }
        return entries.get(key);
    }

    private String preview() {
        List<String> k = keys();
        return k.size() <= 20 ? k.toString() : k.subList(0, 20) + " and " + (k.size() - 20) + " more";
    }

    static String describe(Object v) {
        if (v == null) {
            return "None";
        }
        if (v instanceof INDArray a) {
            return "tensor " + a.dataType() + java.util.Arrays.toString(a.shape());
        }
        if (v instanceof StateDict) {
            return "dict";
        }
        return v.getClass().getSimpleName() + " (" + v + ")";
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("StateDict{");
        boolean first = true;
        for (Map.Entry<String, Object> e : entries.entrySet()) {
            if (!first) {
                b.append(", ");
            }
            first = false;
            b.append(e.getKey()).append(": ").append(describe(e.getValue()));
        }
        return b.append('}').toString();
    }
}
