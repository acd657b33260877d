package io.github.instancenorm.speedups.updater;

import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One optimizer step on a {@link ComputationGraph} or {@link MultiLayerNetwork} from a gradient computed by hand (a GAN's steps call
 * {@code feedForward} and {@code backpropGradient} themselves, then update): the network's updater, then
 * {@code params -= update}.
 *
 * <p>Why not {@code graph.getUpdater().update(gradient, ...)} alone: DL4J 1.0.0-M2.1's updater takes its
 * per-variable "external gradient" path unless {@code gradient.gradient()} is the very object of the graph's
 * gradient view, and {@code DefaultGradient.gradient()} returns a new reshaped view on every call, so it never is.
 * That path builds two views per parameter array and step (each with a native shape buffer, and JavaCPP reading
 * {@code /proc/self/statm} for each). When the gradient lies in the graph's own gradient view (as
 * {@code backpropGradient} returns it), this hands the updater that view object itself
 * ({@link FastUpdaters#inGradientView}), so it runs its blocks on the views it built once; the arithmetic is the
 * same. A graph given {@link FastUpdaters#install} (the zoo's graphs are) also runs Adam's step in the faster kernel.
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
     * @throws IllegalArgumentException if {@code minibatch < 1}
     * @throws IllegalStateException    if the graph is not initialized
     */
    public static void apply(ComputationGraph graph, Gradient gradient, int iteration, int epoch, int minibatch) {
        INDArray view = checked(graph.getFlattenedGradients(), minibatch);
        INDArray flat = gradient.gradient(); // the update, once the updater has run; the same shape as params()
        Gradient handed = FastUpdaters.inGradientView(gradient, view);
        graph.getUpdater().update(handed, iteration, epoch, minibatch, LayerWorkspaceMgr.noWorkspaces());
        graph.params().subi(flat);
    }

    /**
     * Updates {@code network}'s parameters from {@code gradient}, as DL4J's solver does after a backward pass.
     *
     * @param network   an initialized network with an updater
     * @param gradient  its gradient, usually as {@code network.backpropGradient(...)} returned it; one held in other
     *                  memory takes DL4J's external-gradient path (same result, slower)
     * @param iteration the iterations done so far (schedules and the updater's bias correction count from it)
     * @param epoch     the epoch, for schedules
     * @param minibatch the minibatch size the updater divides the gradient by
     * @throws IllegalArgumentException if {@code minibatch < 1}
     * @throws IllegalStateException    if the network is not initialized
     */
    public static void apply(MultiLayerNetwork network, Gradient gradient, int iteration, int epoch, int minibatch) {
        INDArray view = checked(network.getGradientsViewArray(), minibatch);
        INDArray flat = gradient.gradient();
        Gradient handed = FastUpdaters.inGradientView(gradient, view);
        network.getUpdater().update(network, handed, iteration, epoch, minibatch, LayerWorkspaceMgr.noWorkspaces());
        network.params().subi(flat);
    }

    private static INDArray checked(INDArray gradientView, int minibatch) {
        if (minibatch < 1) {
            throw new IllegalArgumentException("minibatch must be >= 1, got " + minibatch);
        }
        if (gradientView == null) {
            throw new IllegalStateException("the network has no gradient view: call init() first");
        }
        return gradientView;
    }
}
