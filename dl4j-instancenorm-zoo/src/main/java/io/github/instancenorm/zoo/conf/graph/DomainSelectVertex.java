package io.github.instancenorm.zoo.conf.graph;

import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.inputs.InvalidInputTypeException;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Picks each sample's own domain out of per-domain outputs, as StarGAN v2's networks do with
 * {@code out[arange(N), y]}: {@code s[n, :] = heads[n, y_n, :]}.
 *
 * <p>Inputs, in order: the domain labels, one-hot {@code [N, K]}, and the heads, {@code [N, K * S]} domain-major
 * (domain {@code k}'s output in columns {@code k*S .. (k+1)*S - 1}, as a {@code MergeVertex} of {@code K} heads of
 * width {@code S} lays them out) or any array of {@code K * S} values per sample, such as a convolution's
 * {@code [N, K, 1, 1]} (then {@code S = 1}). Output: {@code [N, S]}, computed as {@code sum_k y[n, k] * heads[n, k, :]},
 * so a one-hot row selects. Backprop: the selected head's rows get the gradient, the others zero; the labels get
 * {@code sum_s g[n, s] * heads[n, k, s]}.
 */
public class DomainSelectVertex extends GraphVertex {

    private int domains;

    /** For JSON; use {@link #DomainSelectVertex(int)}. */
    public DomainSelectVertex() {}

    /** @param domains the number of domains {@code K} (the labels' width) */
    public DomainSelectVertex(int domains) {
        if (domains < 1) {
            throw new IllegalArgumentException("domains must be at least 1, got " + domains);
        }
        this.domains = domains;
    }

    /** @return the number of domains */
    public int getDomains() {
        return domains;
    }

    /** @param domains the number of domains */
    public void setDomains(int domains) {
        this.domains = domains;
    }

    @Override
    public DomainSelectVertex clone() {
        return new DomainSelectVertex(domains);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DomainSelectVertex other && other.domains == domains;
    }

    @Override
    public int hashCode() {
        return 31 * DomainSelectVertex.class.hashCode() + domains;
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
        return new io.github.instancenorm.zoo.layers.graph.DomainSelectVertex(
                graph, name, idx, networkDatatype, domains);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) throws InvalidInputTypeException {
        if (vertexInputs.length != 2 || vertexInputs[0].getType() != InputType.Type.FF) {
            throw new InvalidInputTypeException("DomainSelectVertex expects (one-hot labels [N, " + domains
                    + "], heads) inputs, got " + java.util.Arrays.toString(vertexInputs));
        }
        long labels = ((InputType.InputTypeFeedForward) vertexInputs[0]).getSize();
        long values = vertexInputs[1].arrayElementsPerExample();
        if (labels != domains || values % domains != 0) {
            throw new InvalidInputTypeException("DomainSelectVertex over " + domains + " domains expects labels of"
                    + " width " + domains + " and heads of a multiple of " + domains + " values per sample, got"
                    + " labels " + vertexInputs[0] + " and heads " + vertexInputs[1]);
        }
        return InputType.feedForward(values / domains);
    }

    @Override
    public MemoryReport getMemoryReport(InputType... inputTypes) {
        InputType out = getOutputType(-1, inputTypes);
        return new LayerMemoryReport.Builder(null, DomainSelectVertex.class, inputTypes[1], out)
                .standardMemory(0, 0)
                .workingMemory(0, 0, 0, 0)
                .cacheMemory(0, 0)
                .build();
    }
}
