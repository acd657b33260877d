package io.github.instancenorm.onnx.hooks;

import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.ir.OpNamespace;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.samediff.frameworkimport.ImportGraph;
import org.nd4j.samediff.frameworkimport.hooks.PreImportHook;
import org.nd4j.samediff.frameworkimport.hooks.annotations.HookResult;
import org.nd4j.samediff.frameworkimport.registry.OpMappingRegistry;
import org.nd4j.shade.protobuf.GeneratedMessageV3;
import org.nd4j.shade.protobuf.ProtocolMessageEnum;

/**
 * The part every import hook of this package shares: the two entry points of M2.1's {@link PreImportHook} that
 * Kotlin gives a default body (compiled into {@code PreImportHook.DefaultImpls}, which Java does not inherit), and
 * the reading of a node's inputs and attributes.
 *
 * <p>The default {@code preProcess} calls {@link #doImport}, then renames the op that computes each returned
 * variable to the ONNX output it stands for, and tells the importer that the node is done ({@code proceedWithInit}
 * false). A hook that leaves a node to the importer's next hook returns false from {@link #accepts}.
 */
abstract class OnnxHook implements PreImportHook {

    @Override
    public HookResult preProcess(
            SameDiffOp op,
            SameDiff sd,
            Map<String, ?> attributes,
            OpNamespace.OpDescriptor descriptor,
            List<String> outputNames,
            boolean isFinalOutput,
            OpMappingRegistry<
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            ProtocolMessageEnum,
                            GeneratedMessageV3,
                            GeneratedMessageV3>
                    mappingRegistry,
            ImportGraph<
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            ProtocolMessageEnum>
                    importGraph,
            Map<String, ? extends GeneratedMessageV3> dynamicVariables) {
        if (!accepts(op, attributes, outputNames)) {
            return new HookResult(Map.of(), List.of(), true);
        }
        return PreImportHook.DefaultImpls.preProcess(
                this,
                op,
                sd,
                attributes,
                descriptor,
                outputNames,
                isFinalOutput,
                mappingRegistry,
                importGraph,
                dynamicVariables);
    }

    @Override
    public Map<String, List<SDVariable>> handleOutputs(
            List<String> outputNames,
            SameDiff sd,
            SameDiffOp op,
            Map<String, ?> attributes,
            OpMappingRegistry<
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            ProtocolMessageEnum,
                            GeneratedMessageV3,
                            GeneratedMessageV3>
                    mappingRegistry,
            ImportGraph<
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            ProtocolMessageEnum>
                    importGraph,
            Map<String, ? extends GeneratedMessageV3> dynamicVariables) {
        return PreImportHook.DefaultImpls.handleOutputs(
                this, outputNames, sd, op, attributes, mappingRegistry, importGraph, dynamicVariables);
    }

    @Override
    public Map<String, List<SDVariable>> doImport(
            SameDiff sd,
            Map<String, ?> attributes,
            List<String> outputNames,
            SameDiffOp op,
            OpMappingRegistry<
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            ProtocolMessageEnum,
                            GeneratedMessageV3,
                            GeneratedMessageV3>
                    mappingRegistry,
            ImportGraph<
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            GeneratedMessageV3,
                            ProtocolMessageEnum>
                    importGraph,
            Map<String, ? extends GeneratedMessageV3> dynamicVariables) {
        Node node = new Node(opType(), sd, op, attributes, outputNames);
        try {
            return build(sd, node);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(node.describe() + ": " + e.getMessage(), e);
        }
    }

    /** @return the ONNX op type this hook imports, for error messages */
    protected abstract String opType();

    /**
     * @return whether this hook imports the node; false leaves it to the importer's next hook or rule
     */
    protected boolean accepts(SameDiffOp op, Map<String, ?> attributes, List<String> outputNames) {
        return true;
    }

    /** An input {@code [N, C, D1, ..., Dk]} viewed as {@code [N, C, D1*...*Dk]}, with its shape to restore. */
    protected record ChannelView(SDVariable shape, SDVariable flat) {}

    /**
     * @return {@code x} viewed as {@code [N, C, -1]}, for ops whose input rank is not known while importing;
     *         the variables are named {@code out/shape}, {@code out/flat}, ...
     */
    protected static ChannelView channelView(SameDiff sd, String out, SDVariable x) {
        SDVariable shape = sd.shape(out + "/shape", x).castTo(out + "/shapeLong", DataType.INT64);
        SDVariable flatShape = sd.concat(
                out + "/flatShape",
                0,
                shape.get(SDIndex.interval(0, 2)),
                sd.constant(out + "/minusOne", Nd4j.createFromArray(-1L)));
        return new ChannelView(shape, sd.reshape(out + "/flat", x, flatShape));
    }

    /**
     * Adds the node's computation to {@code sd}.
     *
     * @return each ONNX output name the node defines, with the variable that computes it
     */
    protected abstract Map<String, List<SDVariable>> build(SameDiff sd, Node node);
}
