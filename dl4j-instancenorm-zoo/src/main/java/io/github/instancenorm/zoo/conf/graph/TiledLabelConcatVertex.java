package io.github.instancenorm.zoo.conf.graph;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.inputs.InvalidInputTypeException;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Conditions an image on a label vector the way StarGAN's generator does: the label {@code [N, L]} is tiled over
 * the image's spatial extent and concatenated after the image's channels,
 * {@code [N, C, H, W] + [N, L] -> [N, C + L, H, W]}; in PyTorch,
 * {@code torch.cat([x, c.view(N, L, 1, 1).repeat(1, 1, H, W)], dim=1)}.
 *
 * <p>Inputs, in order: the image (convolutional, NCHW) and the label (feed-forward). Backprop returns the image's
 * slice of the gradient and, for the label, the gradient summed over the spatial positions.
 */
public class TiledLabelConcatVertex extends GraphVertex {

    @Override
    public TiledLabelConcatVertex clone() {
        return new TiledLabelConcatVertex();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TiledLabelConcatVertex;
    }

    @Override
    public int hashCode() {
        return TiledLabelConcatVertex.class.hashCode();
    }

    @Override
    public long numParams(boolean backprop) {
        return 0;
    }

    @Override
    public int minVertexInputs() {
        return 2;
    }

    @Override
    public int maxVertexInputs() {
        return 2;
    }

    @Override
    public org.deeplearning4j.nn.graph.vertex.GraphVertex instantiate(
            ComputationGraph graph,
            String name,
            int idx,
            INDArray paramsView,
            boolean initializeParams,
            DataType networkDatatype) {
        return new io.github.instancenorm.zoo.layers.graph.TiledLabelConcatVertex(graph, name, idx, networkDatatype);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) throws InvalidInputTypeException {
        if (vertexInputs.length != 2
                || vertexInputs[0].getType() != InputType.Type.CNN
                || vertexInputs[1].getType() != InputType.Type.FF) {
            throw new InvalidInputTypeException("TiledLabelConcatVertex expects (convolutional image, feed-forward"
                    + " label) inputs, got " + java.util.Arrays.toString(vertexInputs));
        }
        InputType.InputTypeConvolutional image = (InputType.InputTypeConvolutional) vertexInputs[0];
        if (image.getFormat() != CNN2DFormat.NCHW) {
            throw new InvalidInputTypeException(
                    "TiledLabelConcatVertex supports NCHW images only, got " + image.getFormat());
        }
        long labels = ((InputType.InputTypeFeedForward) vertexInputs[1]).getSize();
        return InputType.convolutional(image.getHeight(), image.getWidth(), image.getChannels() + labels);
    }

    @Override
    public MemoryReport getMemoryReport(InputType... inputTypes) {
        InputType out = getOutputType(-1, inputTypes);
        return new LayerMemoryReport.Builder(null, TiledLabelConcatVertex.class, inputTypes[0], out)
                .standardMemory(0, 0)
                .workingMemory(0, 0, 0, 0)
                .cacheMemory(0, 0)
                .build();
    }
}
