package io.github.instancenorm.speedups.updater;

import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.gradient.Gradient;
import org.nd4j.linalg.api.ndarray.INDArray;

/** {@code delegate} with {@link #gradient()} the network's gradient view object itself. */
record InViewGradient(Gradient delegate, INDArray view) implements Gradient {

    @Override
    public Map<String, INDArray> gradientForVariable() {
        return delegate.gradientForVariable();
    }

    @Override
    public INDArray gradient(List<String> order) {
        return delegate.gradient(order);
    }

    @Override
    public INDArray gradient() {
        return view;
    }

    @Override
    public void clear() {
        delegate.clear();
    }

    @Override
    public INDArray getGradientFor(String variable) {
        return delegate.getGradientFor(variable);
    }

    @Override
    public INDArray setGradientFor(String variable, INDArray value) {
        return delegate.setGradientFor(variable, value);
    }

    @Override
    public INDArray setGradientFor(String variable, INDArray value, Character flatteningOrder) {
        return delegate.setGradientFor(variable, value, flatteningOrder);
    }

    @Override
    public Character flatteningOrderForVariable(String variable) {
        return delegate.flatteningOrderForVariable(variable);
    }
}
