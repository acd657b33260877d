package io.github.instancenorm.torch;

import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Says how the parameters of one kind of DL4J layer correspond to the tensors of the matching
 * PyTorch module. Register one for a layer class with {@link ParamMappers#register}.
 */
@FunctionalInterface
public interface ParamMapper {
    /**
     * @param layer  the layer's configuration
     * @param params the layer's parameters by DL4J key, with their current shapes
     * @return one binding per PyTorch tensor of the module; every DL4J parameter should be bound
     *         by exactly one of them (parameters left unbound are reported)
     */
    List<ParamBinding> bindings(Layer layer, Map<String, INDArray> params);
}
