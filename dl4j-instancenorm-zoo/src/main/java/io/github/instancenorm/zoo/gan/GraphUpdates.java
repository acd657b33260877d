package io.github.instancenorm.zoo.gan;

import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One optimizer step on a {@link ComputationGraph} from a gradient computed by hand (a GAN's steps call
 * {@code feedForward} and {@code backpropGradient} themselves, then update): the graph's updater, then
 * {@code params -= update}.
 *
 * <p>Why not {@code graph.getUpdater().update(gradient, ...)} alone: DL4J 1.0.0-M2.1's updater takes its
 * per-variable "external gradient" path unless {@code gradient.gradient()} is the very object of the graph's
 * gradient view, and {@code DefaultGradient.gradient()} returns a new reshaped view on every call, so it never is.
 * That path builds two views per parameter array and step (each with a native shape buffer, and JavaCPP reading
 * {@code /proc/self/statm} for each). When the gradient lies in the graph's own gradient view (as
 * {@code backpropGradient} returns it), this hands the updater that view object itself, so it runs its blocks on
 * the views it built once; the arithmetic is the same.
 */
public final class GraphUpdates {

    private GraphUpdates() {}

    /**
     * Updates {@code graph}'s parameters from {@code gradient}, as DL4J's solver does after a backward pass.
     *
     * @param graph     an initialized graph with an updater
     * @param gradient  its gradient, usually as {@code graph.backpropGradient(...)} returned it; one held in other
     *                  memory takes DL4J's external-gradient path (same result, slower)
     * @param iteration the iterations done so far (schedules and the updater's bias correction count from it)
     * @param epoch     the epoch, for schedules
     * @param minibatch the minibatch size the updater divides the gradient by
     */
    public static void apply(ComputationGraph graph, Gradient gradient, int iteration, int epoch, int minibatch) {
        if (minibatch < 1) {
            throw new IllegalArgumentException("minibatch must be >= 1, got " + minibatch);
        }
        INDArray view = graph.getFlattenedGradients();
        if (view == null) {
            throw new IllegalStateException("the graph has no gradient view: call graph.init() first");
        }
        // DefaultGradient.gradient() builds a new view per call: take it once.
        INDArray flat = gradient.gradient();
        Gradient handed = sameMemory(flat, view) ? new InView(gradient, view) : gradient;
        graph.getUpdater().update(handed, iteration, epoch, minibatch, LayerWorkspaceMgr.noWorkspaces());
        graph.params().subi(flat);
    }

    /** Whether {@code a} covers exactly {@code view}'s memory (views of one buffer carry different buffer objects). */
    private static boolean sameMemory(INDArray a, INDArray view) {
        return a == view
                || (a.data().address() == view.data().address()
                        && a.offset() == view.offset()
                        && a.length() == view.length()
                        && a.ordering() == view.ordering());
    }

    /** {@code delegate} with {@link #gradient()} the graph's gradient view object itself. */
    private record InView(Gradient delegate, INDArray view) implements Gradient {
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
}
