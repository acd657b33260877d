package io.github.instancenorm.onnx;

import io.github.instancenorm.onnx.hooks.BatchNormalizationTrainingHook;
import io.github.instancenorm.onnx.hooks.ConvTransposeHook;
import io.github.instancenorm.onnx.hooks.GemmHook;
import io.github.instancenorm.onnx.hooks.InstanceNormalizationHook;
import io.github.instancenorm.onnx.hooks.PadHook;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import onnx.Onnx;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.ir.MapperNamespace;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.samediff.frameworkimport.hooks.PreImportHook;
import org.nd4j.samediff.frameworkimport.onnx.OnnxProtobufExtensionsKt;
import org.nd4j.samediff.frameworkimport.onnx.definitions.OnnxOpDeclarationsKt;
import org.nd4j.samediff.frameworkimport.onnx.importer.OnnxFrameworkImporter;
import org.nd4j.samediff.frameworkimport.onnx.ir.OnnxIRGraph;
import org.nd4j.samediff.frameworkimport.onnx.process.OnnxMappingProcess;
import org.nd4j.samediff.frameworkimport.process.MappingProcess;
import org.nd4j.samediff.frameworkimport.reflect.ImportReflectionCache;
import org.nd4j.samediff.frameworkimport.registry.OpMappingRegistry;
import org.nd4j.shade.protobuf.InvalidProtocolBufferException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Imports ONNX models exported from PyTorch, with instance normalization and transposed convolutions, into
 * SameDiff: DL4J 1.0.0-M2.1's ONNX importer plus this module's import hooks.
 *
 * <pre>{@code
 * SameDiff g = OnnxModels.importGraph(Path.of("stargan_G.onnx"));
 * INDArray y = g.outputSingle(Map.of("x", images, "c", labels), "y");
 * }</pre>
 *
 * <p>What M2.1's importer lacks, and the hooks add:
 * <ul>
 *   <li>{@code InstanceNormalization}, PyTorch's export of an {@code nn.InstanceNorm*d} without running
 *       statistics: each instance's own statistics ({@link InstanceNormalizationHook});
 *   <li>{@code ConvTranspose} in 2D ({@link ConvTransposeHook});
 *   <li>{@code BatchNormalization} in its training form, PyTorch's export of an instance norm with running
 *       statistics in train mode ({@code training=TrainingMode.PRESERVE}): M2.1 imports it as inference with the
 *       running statistics, which is not what the file says ({@link BatchNormalizationTrainingHook});
 *   <li>{@code Pad} with constant pads, modes constant and reflect ({@link PadHook}), which M2.1 maps wrongly;
 *   <li>{@code Gemm}, PyTorch's export of {@code nn.Linear}, whose bias {@code C} (and {@code alpha},
 *       {@code beta}) M2.1's mapping drops ({@link GemmHook}).
 * </ul>
 * The inference form of {@code BatchNormalization}, which PyTorch writes for an instance norm with running
 * statistics in eval mode (the running statistics tiled to the batch size the file was exported with), is
 * imported by M2.1's own hook; such a file accepts that batch size only.
 *
 * <p>The hooks carry M2.1's {@code @PreHookRule}, but M2.1's ClassGraph scan did not pick them up under Surefire
 * (it instantiates only what it lists; this module's hooks were not among them), so {@link #importer} registers
 * them in code: that does not depend on how the classpath is laid out, puts each hook before M2.1's own for the
 * op (the training-form {@code BatchNormalization} hook must run first), replaces any instance the scan did find,
 * and adds the {@code noop} mapping entries without which the importer fails with "No import process defined
 * for ...".
 *
 * <p>Before importing, the model is rewritten in memory where M2.1 misreads valid files ({@code M21Repairs}) and
 * its constant shape plumbing is folded ({@code ConstantFolding}); see those classes for the failures each
 * avoids. M2.1 builds the graph in eager mode, so the graph inputs get example values of their declared shapes
 * while importing; the returned graph takes any values of those shapes.
 */
public final class OnnxModels {
    private static final Logger log = LoggerFactory.getLogger(OnnxModels.class);
    /** What M2.1's importer prints to {@code System.out} while importing, at DEBUG. */
    private static final Logger m21Output = LoggerFactory.getLogger(OnnxModels.class.getName() + ".m21");
    /** How this module's hooks name the node in their refusals ({@code Node.describe()}). */
    private static final Pattern HOOK_NODE = Pattern.compile("ONNX node '([^']*)' \\((\\w+)\\): ");

    /** The ONNX ops the hooks import, with the hook class. */
    private static final List<Hook> HOOKS = List.of(
            new Hook("InstanceNormalization", InstanceNormalizationHook.class, InstanceNormalizationHook::new, true),
            new Hook("ConvTranspose", ConvTransposeHook.class, ConvTransposeHook::new, true),
            new Hook("Pad", PadHook.class, PadHook::new, false),
            new Hook("Gemm", GemmHook.class, GemmHook::new, false),
            new Hook(
                    "BatchNormalization",
                    BatchNormalizationTrainingHook.class,
                    BatchNormalizationTrainingHook::new,
                    false));

    private static final String ONNX = "onnx";
    /** The importer whose registry holds the hooks' mapping entries (each importer builds a registry of its own). */
    private static OnnxFrameworkImporter importer;
    /** The ops whose hook M2.1's classpath scan had found before {@link #importer} registered it. */
    private static final Set<String> foundByScan = new LinkedHashSet<>();

    private OnnxModels() {}

    /**
     * Imports an ONNX model file into a new SameDiff graph. The graph's placeholders are the model's inputs, by
     * their ONNX names; its outputs keep their ONNX names too, and {@code sd.outputs()} lists them.
     *
     * <p>The file is checked before anything is built from it ({@code ModelChecks}): each tensor's dimensions
     * against its data, every name a node reads, the attributes that size arrays; the arrays the import computes
     * sizes for (the graph inputs' example values, folded constants) are limited to 256 MiB each unless the system
     * property {@code io.github.instancenorm.onnx.maxArrayBytes} says otherwise. Whatever fails inside M2.1's
     * importer for a file that passed these checks is reported the same way, and leaves the importer usable.
     *
     * <p>What M2.1's importer prints while importing (its initializers, "Unable to resolve attribute ...", a graph
     * summary; hundreds of lines for a GAN generator) does not reach standard output: the importing thread's
     * {@code System.out} is logged at DEBUG, one line per line, on the logger {@code
     * io.github.instancenorm.onnx.OnnxModels.m21}, while other threads print to {@code System.out} as usual. One
     * INFO line on this class's logger summarizes each import: the nodes and ops, the hooks used, the time.
     *
     * @param model an ONNX model ({@code .onnx}, protobuf {@code ModelProto})
     * @return the imported graph
     * @throws OnnxFormatException if the file is not a well-formed ONNX model (the message names the file and the
     *                             node or tensor involved), uses ops that neither M2.1 nor this module import
     *                             (each is named, with its node; ops from other domains too), has a node this
     *                             module cannot import as configured (the message names the node and the fix), or
     *                             M2.1's importer fails on it
     * @throws IOException         if the file cannot be read
     */
    public static SameDiff importGraph(Path model) throws IOException {
        long start = System.nanoTime();
        try (QuietStdout.Capture printed = QuietStdout.capture(line -> m21Output.debug("{}", line))) {
            return importQuietly(model, start, printed);
        }
    }

    private static SameDiff importQuietly(Path model, long start, QuietStdout.Capture printed) throws IOException {
        byte[] bytes = Files.readAllBytes(model);
        Onnx.ModelProto proto;
        try {
            proto = Onnx.ModelProto.parseFrom(bytes);
        } catch (InvalidProtocolBufferException | RuntimeException | StackOverflowError e) {
            throw new OnnxFormatException(
                    model, null, "not a readable ONNX model (protobuf ModelProto): " + e.getMessage(), e);
        }
        if (!proto.hasGraph() || proto.getGraph().getNodeCount() == 0) {
            throw new OnnxFormatException(model, null, "not an ONNX model: it has no graph nodes", null);
        }
        OnnxFrameworkImporter onnx = importer();
        Onnx.GraphProto graph;
        Map<String, INDArray> inputs;
        try {
            ImportLimits limits = ImportLimits.fromSystemProperties();
            new ModelChecks(model, limits).check(proto.getGraph());
            checkOps(model, proto.getGraph(), onnx);
            graph = ConstantFolding.fold(model, M21Repairs.repair(model, proto.getGraph()), limits);
            inputs = exampleInputs(model, graph);
        } catch (RuntimeException | OutOfMemoryError | StackOverflowError e) {
            throw new OnnxFormatException(model, null, "could not be prepared for M2.1's importer: " + e, e);
        }
        SameDiff sd;
        synchronized (OnnxModels.class) {
            try {
                sd = onnx.getOnnxImporter()
                        .importGraph(
                                new OnnxIRGraph(graph, onnx.getRegistry()),
                                null,
                                null,
                                OnnxProtobufExtensionsKt.convertToOnnxTensors(inputs),
                                onnx.getRegistry());
                List<String> outputs = new ArrayList<>();
                graph.getOutputList().forEach(o -> outputs.add(o.getName()));
                // Fails where M2.1 did not create a variable for an output (a damaged file seen in the fuzz run)
                sd.setOutputs(outputs);
            } catch (RuntimeException | OutOfMemoryError | StackOverflowError e) {
                throw m21Failure(model, e);
            }
        }
        log.info(
                "Imported {}: {} ONNX nodes, {} SameDiff ops; this module's hooks: {}; {} ms (M2.1 printed {} lines,"
                        + " logged at DEBUG on {})",
                model.getFileName(),
                proto.getGraph().getNodeCount(),
                sd.getOps().size(),
                hooksUsed(graph),
                (System.nanoTime() - start) / 1_000_000,
                printed.lines(),
                m21Output.getName());
        return sd;
    }

    /** M2.1's failure as this module's exception, with the node where a hook's message names one. */
    private static OnnxFormatException m21Failure(Path model, Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            Matcher m = t.getMessage() == null ? null : HOOK_NODE.matcher(t.getMessage());
            if (m != null && m.find()) {
                return new OnnxFormatException(
                        model,
                        "node '" + m.group(1) + "' (" + m.group(2) + ")",
                        t.getMessage().substring(m.end()),
                        e);
            }
        }
        return new OnnxFormatException(model, null, "DL4J 1.0.0-M2.1's ONNX importer failed: " + e, e);
    }

    /** @return the hooks the graph's nodes go to, with their counts: "InstanceNormalization x12, Pad x2" or "none" */
    private static String hooksUsed(Onnx.GraphProto graph) {
        Map<String, Integer> used = new LinkedHashMap<>();
        for (Onnx.NodeProto node : graph.getNodeList()) {
            for (Hook hook : HOOKS) {
                boolean accepted = !node.getOpType().equals("BatchNormalization") || isTrainingForm(node);
                if (hook.op().equals(node.getOpType()) && accepted) {
                    used.merge(hook.type().getSimpleName(), 1, Integer::sum);
                }
            }
        }
        List<String> parts = new ArrayList<>();
        used.forEach((hook, n) -> parts.add(hook + " x" + n));
        return parts.isEmpty() ? "none" : String.join(", ", parts);
    }

    /** The form {@link BatchNormalizationTrainingHook} accepts: {@code training_mode=1}, or several outputs. */
    private static boolean isTrainingForm(Onnx.NodeProto node) {
        for (Onnx.AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals("training_mode")) {
                return a.getI() != 0;
            }
        }
        return node.getOutputList().stream().filter(o -> !o.isEmpty()).count() > 1;
    }

    /**
     * The M2.1 importer that {@link #importGraph} uses, with this module's hooks and mapping entries installed:
     * for calls {@code importGraph} does not offer, such as {@code runImport} with dynamic variables. A plain
     * {@code new OnnxFrameworkImporter()} builds its own registry without the mapping entries and fails on
     * {@code InstanceNormalization} and {@code ConvTranspose}. The importer is not thread-safe; importing is
     * rare, so share it under a lock as {@code importGraph} does.
     *
     * @return the one hooked importer of this JVM
     */
    public static synchronized OnnxFrameworkImporter importer() {
        if (importer != null) {
            return importer;
        }
        // The importer's constructor loads M2.1's ONNX registry (and, on first use, its classpath scan for hooks).
        OnnxFrameworkImporter onnx = new OnnxFrameworkImporter();
        // M2.1 reads a node's mapping entry from the importer's registry, and again from a global one
        // (OnnxOpDeclarationsKt.registry(), in OnnxMappingContext.preProcessNode): both need the entries.
        List<OpMappingRegistry<?, ?, ?, ?, ?, ?, ?>> registries =
                List.of(onnx.getRegistry(), OnnxOpDeclarationsKt.registry());
        MappingProcess<?, ?, ?, ?, ?, ?, ?> template = onnx.getRegistry().lookupOpMappingProcess("Expand");
        for (Hook hook : HOOKS) {
            for (OpMappingRegistry<?, ?, ?, ?, ?, ?, ?> registry : registries) {
                if (hook.needsMapping() && !registry.hasMappingOpProcess(hook.op())) {
                    registerNoop(registry, hook.op(), template);
                }
            }
            List<PreImportHook> list = hooksFor(hook.op());
            boolean scanned = list.removeIf(h -> h.getClass() == hook.type());
            if (scanned) {
                foundByScan.add(hook.op());
            }
            list.add(0, hook.factory().get());
            log.debug(
                    "ONNX import hook for {}: {} ({})",
                    hook.op(),
                    hook.type().getSimpleName(),
                    scanned ? "found by the classpath scan" : "registered in code");
        }
        importer = onnx;
        return onnx;
    }

    /** @return the ONNX ops that {@link #importGraph} can import, M2.1's and the hooks' */
    public static Set<String> importableOps() {
        return Collections.unmodifiableSet(
                new LinkedHashSet<>(importer().getRegistry().inputFrameworkOpNames()));
    }

    /** @return the ops whose hook M2.1's own classpath scan found (all of them, unless the classpath hides them) */
    static synchronized Set<String> foundByScan() {
        return Set.copyOf(foundByScan);
    }

    /** The live list M2.1's importer reads the pre-import hooks of one ONNX op from. */
    static List<PreImportHook> hooksFor(String op) {
        var table = ImportReflectionCache.INSTANCE.getPreProcessRuleImplementationsByOp();
        if (!table.contains(ONNX, op)) {
            table.put(ONNX, op, new ArrayList<>());
        }
        return table.get(ONNX, op);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void registerNoop(
            OpMappingRegistry registry, String op, MappingProcess<?, ?, ?, ?, ?, ?, ?> template) {
        OnnxMappingProcess process = new OnnxMappingProcess(
                template.inputFramework(),
                template.frameworkVersion(),
                op,
                "noop",
                registry,
                List.of(),
                Map.of(),
                List.of(),
                MapperNamespace.VariableResolutionType.DIRECT);
        registry.registerMappingProcess(op, process);
    }

    /**
     * M2.1's importer builds the graph in eager mode: it runs each op as it adds it, so every graph input needs a
     * value while importing (without one, the first {@code Reshape} of an input fails with "Data types validation
     * failed"). These values only drive that run; the imported graph takes its inputs as placeholders. Shapes come
     * from the model's input declarations, with 1 for a symbolic dimension.
     */
    static Map<String, INDArray> exampleInputs(Path model, Onnx.GraphProto graph) throws OnnxFormatException {
        Set<String> initializers = new HashSet<>();
        graph.getInitializerList().forEach(t -> initializers.add(t.getName()));
        Map<String, INDArray> inputs = new LinkedHashMap<>();
        Random random = new Random(0);
        for (Onnx.ValueInfoProto input : graph.getInputList()) {
            if (initializers.contains(input.getName())) {
                continue;
            }
            Onnx.TypeProto.Tensor type = input.getType().getTensorType();
            long[] shape = type.getShape().getDimList().stream()
                    .mapToLong(d -> d.hasDimValue() && d.getDimValue() > 0 ? d.getDimValue() : 1)
                    .toArray();
            DataType dtype = dataType(model, input.getName(), type.getElemType());
            INDArray value = Nd4j.create(dtype, shape);
            if (dtype.isFPType()) {
                double[] data = random.doubles(value.length()).toArray();
                value = Nd4j.create(data, shape, DataType.DOUBLE).castTo(dtype);
            }
            inputs.put(input.getName(), value);
        }
        return inputs;
    }

    private static DataType dataType(Path model, String input, int onnxType) throws OnnxFormatException {
        DataType type = ConstantFolding.dataType(onnxType);
        if (type == null) {
            throw new OnnxFormatException(
                    model,
                    "input '" + input + "'",
                    "has ONNX element type " + onnxType
                            + ", which this importer does not feed (float, double, float16, int32, int64 and bool are)",
                    null);
        }
        return type;
    }

    private static void checkOps(Path model, Onnx.GraphProto graph, OnnxFrameworkImporter onnx)
            throws OnnxFormatException {
        var registry = onnx.getRegistry();
        List<String> problems = new ArrayList<>();
        for (Onnx.NodeProto node : graph.getNodeList()) {
            String domain = node.getDomain();
            if (!domain.isEmpty() && !domain.equals("ai.onnx")) {
                problems.add("node '" + node.getName() + "' (" + domain + "::" + node.getOpType() + ", not the"
                        + " standard ai.onnx domain)");
            } else if (!registry.hasMappingOpProcess(node.getOpType())) {
                problems.add("node '" + node.getName() + "' (" + node.getOpType() + ")");
            }
        }
        if (!problems.isEmpty()) {
            throw new OnnxFormatException(
                    model,
                    null,
                    "uses ops that DL4J 1.0.0-M2.1's ONNX importer and dl4j-instancenorm-onnx cannot import: "
                            + String.join(", ", problems) + ". Export the model without them, or with a different"
                            + " opset",
                    null);
        }
    }

    private record Hook(
            String op, Class<? extends PreImportHook> type, Supplier<PreImportHook> factory, boolean needsMapping) {}
}
