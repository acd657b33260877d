package io.github.instancenorm.speedups.updater;

import io.github.instancenorm.learning.TorchAdam;
import io.github.instancenorm.learning.TorchAdamUpdater;
import java.util.List;
import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.MultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.AdamUpdater;
import org.nd4j.linalg.learning.GradientUpdater;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a network's optimizer step cheaper, in one line after {@code init()}: {@code FastUpdaters.install(net)}. The
 * arithmetic stays DL4J's, so training gives the same parameters and updater state, to the bit, and a saved
 * network is plain DL4J.
 *
 * <p>Two costs of DL4J 1.0.0-M2.1's updater go:
 * <ul>
 *   <li><b>The external-gradient path.</b> {@code BaseMultiLayerUpdater.update} treats a gradient as external unless
 *       {@code gradient.gradient()} is the network's gradient view object itself, and {@code DefaultGradient} returns
 *       a new reshaped view on every call, so every {@code fit()} takes that path. It builds two views per parameter
 *       array per step and reads {@code /proc/self/statm} in JavaCPP for each: on the example's generator (62,105
 *       parameters in 19 updater blocks) an update took 12-22 ms on that path against 2-4 ms on the standard one.
 *       The installed updater hands DL4J's code the view itself whenever the gradient lies in it, as it does in
 *       {@code fit()} and in {@code backpropGradient}'s result.</li>
 *   <li><b>libnd4j's {@code adam_updater} op</b>, which does not vectorize its arithmetic: each block whose updater is
 *       plain {@link org.nd4j.linalg.learning.config.Adam} gets a {@code KernelAdamUpdater} with the same state
 *       arrays, which computes the step in Java vector loops on the CPU backend, to the op's bit (StarGAN's
 *       discriminator, 44.8 million parameters: the whole update 52 ms with the op, 23 ms with the kernel on a
 *       2-core VM). Each block of {@link io.github.instancenorm.learning.TorchAdam} (PyTorch's Adam) likewise gets a
 *       {@code KernelTorchAdamUpdater}, to the bit of {@code TorchAdamUpdater}'s ND4J ops. Other updaters, double
 *       precision and other backends keep ND4J's ops.</li>
 * </ul>
 *
 * <p>What the updater does is unchanged: minibatch division, gradient normalization, regularization and schedules are
 * DL4J's code. Install again after loading, cloning or {@code MultiLayerNetwork.clear()} (which drops the updater):
 * the updater is not part of the saved configuration, its state array is, and the installed updater uses the
 * network's existing state array, so installing in the middle of training continues it. {@value #PROPERTY}
 * {@code =false} makes {@code install} do nothing.
 */
public final class FastUpdaters {

    /** System property; {@code false} keeps DL4J's updater as it is. Read on each {@code install}. */
    public static final String PROPERTY = "io.github.instancenorm.fastUpdaters";

    private static final Logger LOG = LoggerFactory.getLogger(FastUpdaters.class);

    private FastUpdaters() {}

    /**
     * Gives {@code network} an updater that takes DL4J's in-place path, with the Adam kernels in its Adam and TorchAdam blocks.
     *
     * @param network an initialized graph; its updater state, if it has one, carries over
     * @return the number of updater blocks given an Adam kernel (0 off the CPU backend or with
     *         {@value #PROPERTY}{@code =false})
     * @throws IllegalStateException if the graph is not initialized
     */
    public static int install(ComputationGraph network) {
        if (!wanted(network.getLayers())) {
            return 0;
        }
        ComputationGraphUpdater current = network.getUpdater(false);
        InPlaceGraphUpdater updater =
                current instanceof InPlaceGraphUpdater mine ? mine : new InPlaceGraphUpdater(network, stateOf(current));
        int kernels = useKernels(updater);
        network.setUpdater(updater);
        return kernels;
    }

    /**
     * Gives {@code network} an updater that takes DL4J's in-place path, with the Adam kernels in its Adam and TorchAdam blocks.
     *
     * @param network an initialized network; its updater state, if it has one, carries over
     * @return the number of updater blocks given an Adam kernel (0 off the CPU backend or with
     *         {@value #PROPERTY}{@code =false})
     * @throws IllegalStateException if the network is not initialized
     */
    public static int install(MultiLayerNetwork network) {
        if (!wanted(network.getLayers())) {
            return 0;
        }
        Updater current = network.getUpdater(false);
        InPlaceNetworkUpdater updater = current instanceof InPlaceNetworkUpdater mine
                ? mine
                : new InPlaceNetworkUpdater(network, stateOf(current));
        int kernels = useKernels(updater);
        network.setUpdater(updater);
        return kernels;
    }

    /**
     * The gradient as DL4J's updater takes it on its in-place path: a gradient whose flattened array covers exactly
     * {@code gradientView}'s memory comes back with {@code gradient()} returning {@code gradientView} itself; any
     * other comes back unchanged (and takes DL4J's external-gradient path: same arithmetic, slower).
     *
     * @param gradient     a gradient, usually as {@code backpropGradient} or {@code computeGradientAndScore} made it
     * @param gradientView the network's gradient view ({@code getFlattenedGradients()})
     * @return the gradient to hand to {@code updater.update}
     */
    public static Gradient inGradientView(Gradient gradient, INDArray gradientView) {
        INDArray flat = gradient.gradient();
        if (flat == gradientView || gradientView == null || !sameMemory(flat, gradientView)) {
            return gradient;
        }
        return new InViewGradient(gradient, gradientView);
    }

    /**
     * Whether {@code a} covers exactly {@code view}'s elements: views of one buffer carry different buffer objects,
     * and a row vector's order does not matter.
     */
    private static boolean sameMemory(INDArray a, INDArray view) {
        return a != null
                && a.data().address() == view.data().address()
                && a.offset() == view.offset()
                && a.length() == view.length()
                && a.isVectorOrScalar()
                && view.isVectorOrScalar()
                && a.elementWiseStride() == 1
                && view.elementWiseStride() == 1;
    }

    /**
     * {@code updater} with its step run by the CPU kernel where that takes the arrays, to the bit of
     * {@code TorchAdamUpdater}'s ND4J ops, for code that applies updates itself instead of through a network's
     * updater blocks (a trainer with PyTorch's per-optimizer state, say). The returned updater shares
     * {@code updater}'s configuration and state arrays.
     *
     * @param updater an updater whose state is or will be set
     * @return the kernel-backed updater; {@code updater} itself when switched off ({@value #PROPERTY}=false)
     */
    public static GradientUpdater<TorchAdam> withKernel(TorchAdamUpdater updater) {
        return enabled() ? new KernelTorchAdamUpdater(updater) : updater;
    }

    /** @return where Adam blocks run their step in this process, in words, for a log line */
    public static String describeAdam() {
        return UpdaterKernels.available()
                ? "the CPU kernel"
                : "ND4J's op (not the CPU backend, or -D"
                        + io.github.instancenorm.runtime.KernelSettings.CPU_KERNELS_PROPERTY + "=false)";
    }

    /** @return whether {@link #install} replaces updaters in this process ({@value #PROPERTY} is not false) */
    public static boolean enabled() {
        return !"false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").trim());
    }

    /**
     * @param layers the network's layers, {@code null} before {@code init()}
     * @return whether to install: not switched off by {@value #PROPERTY}
     * @throws IllegalStateException if the network is not initialized
     */
    private static boolean wanted(Object[] layers) {
        if (layers == null) {
            throw new IllegalStateException("The network has no layers yet: call init() before FastUpdaters.install");
        }
        return enabled();
    }

    /** @return the state array of the network's current updater, {@code null} without one or without state */
    private static INDArray stateOf(Updater current) {
        return current == null ? null : current.getStateViewArray();
    }

    /**
     * Puts the Adam kernels into the blocks that run plain Adam or TorchAdam, logs the first network's paths once, and returns how
     * many blocks run the kernel.
     */
    private static int useKernels(BaseMultiLayerUpdater<?> updater) {
        int kernels = UpdaterKernels.available() ? swapAdam(updater.getUpdaterBlocks()) : 0;
        LOG.debug(
                "Updaters: DL4J's in-place path; Adam on {} ({} of {} updater blocks)",
                UpdaterKernels.available() ? "the CPU kernel" : "ND4J's op",
                kernels,
                updater.getUpdaterBlocks().size());
        return kernels;
    }

    /**
     * Gives each block of plain ND4J {@code Adam} or of {@link io.github.instancenorm.learning.TorchAdam} its kernel;
     * returns how many blocks have one, those of an earlier install too.
     */
    private static int swapAdam(List<UpdaterBlock> blocks) {
        int kernels = 0;
        for (UpdaterBlock block : blocks) {
            GradientUpdater<?> u = block.getGradientUpdater();
            if (u != null && u.getClass() == AdamUpdater.class) {
                block.setGradientUpdater(new KernelAdamUpdater((AdamUpdater) u));
                kernels++;
            } else if (u instanceof TorchAdamUpdater torch) {
                block.setGradientUpdater(new KernelTorchAdamUpdater(torch));
                kernels++;
            } else if (u instanceof KernelAdamUpdater || u instanceof KernelTorchAdamUpdater) {
                kernels++;
            }
        }
        return kernels;
    }

    /** A graph updater that hands DL4J's code the gradient view whenever the gradient lies in it. */
    static final class InPlaceGraphUpdater extends ComputationGraphUpdater {
        InPlaceGraphUpdater(ComputationGraph graph, INDArray state) {
            super(graph, state);
        }

        @Override
        public synchronized void update(
                Gradient gradient, int iteration, int epoch, int batchSize, LayerWorkspaceMgr workspaceMgr) {
            super.update(
                    inGradientView(gradient, getFlattenedGradientsView()), iteration, epoch, batchSize, workspaceMgr);
        }
    }

    /** A network updater that hands DL4J's code the gradient view whenever the gradient lies in it. */
    static final class InPlaceNetworkUpdater extends MultiLayerUpdater {
        InPlaceNetworkUpdater(MultiLayerNetwork network, INDArray state) {
            super(network, state);
        }

        @Override
        public synchronized void update(
                Gradient gradient, int iteration, int epoch, int batchSize, LayerWorkspaceMgr workspaceMgr) {
            super.update(
                    inGradientView(gradient, getFlattenedGradientsView()), iteration, epoch, batchSize, workspaceMgr);
        }
    }
}
