package io.github.instancenorm.zoo.conf.graph;

import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * An identity vertex that remembers the gradient flowing back through it, so that code driving a
 * {@link ComputationGraph} by hand (a GAN's generator step backpropagates through the discriminator into the
 * generated image) can read the gradient with respect to a graph input after
 * {@link ComputationGraph#backpropGradient(INDArray...)}, which otherwise discards it.
 *
 * <p>Read it with {@link io.github.instancenorm.zoo.layers.graph.GradientTapVertex#lastGradient()} on the vertex
 * instance, {@code (GradientTapVertex) graph.getVertex(name)}.
 */
public class GradientTapVertex extends GraphVertex {

    @Override
    public GradientTapVertex clone() {
        return new GradientTapVertex();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GradientTapVertex;
    }

    @Override
    public int hashCode() {
        return GradientTapVertex.class.hashCode();
    }

    @Override
    public long numParams(boolean backprop) {
        return 0;
    }

    @Override
    public int minVertexInputs() {
        return 1;
    }

    @Override
    public int maxVertexInputs() {
        return 1;
    }

    @Override
    public org.deeplearning4j.nn.graph.vertex.GraphVertex instantiate(
            ComputationGraph graph,
            String name,
            int idx,
            INDArray paramsView,
            boolean initializeParams,
            DataType networkDatatype) {
        return new io.github.instancenorm.zoo.layers.graph.GradientTapVertex(graph, name, idx, networkDatatype);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) {
        return vertexInputs[0];
    }

    @Override
    public MemoryReport getMemoryReport(InputType... inputTypes) {
        return new LayerMemoryReport.Builder(null, GradientTapVertex.class, inputTypes[0], inputTypes[0])
                .standardMemory(0, 0)
                .workingMemory(0, 0, 0, 0)
                .cacheMemory(0, 0)
                .build();
    }
}
