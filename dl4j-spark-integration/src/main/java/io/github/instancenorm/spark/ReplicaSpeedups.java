package io.github.instancenorm.spark;

import io.github.instancenorm.speedups.Speedups;
import java.io.Serializable;
import java.lang.ref.WeakReference;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A training listener that installs this project's speed-ups ({@link Speedups}: convolutions on oneDNN, the in-place
 * updater and the Adam kernels) on every network it is called for, once, and logs that it did.
 *
 * <p>Distributed training builds its training networks where user code cannot reach them: {@code ParallelWrapper}'s
 * trainer threads create each replica from the configuration, and dl4j-spark's workers build theirs from the
 * broadcast (and {@code SharedTrainingWorker} takes no {@code TrainingHook}). Both hand every replica the listeners,
 * so this listener is how the speed-ups get there:
 * <pre>{@code
 * parallelWrapper.setListeners(new ReplicaSpeedups());   // each trainer thread's replica, the root included
 * sparkNet.setListeners(new ReplicaSpeedups());          // each Spark worker's network (both training masters)
 * }</pre>
 *
 * <p>It installs at the end of a replica's first iteration ({@code iterationDone}), or at the start of an epoch
 * where the replica trains on an iterator: the first minibatch of each replica runs DL4J's own code, the rest the
 * speed-ups. The speed-ups give DL4J's numbers (the updater's to the bit, the convolutions within float rounding),
 * and where one cannot apply, DL4J's code stays and the log line says why ({@link Speedups#install}). The last
 * installs in this JVM are kept for inspection ({@link #recentInstallations}).
 */
public final class ReplicaSpeedups extends BaseTrainingListener implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(ReplicaSpeedups.class);
    private static final int KEPT = 64;

    /** The networks installed into in this JVM, by identity (DL4J's networks do not promise identity equality). */
    private static final List<WeakReference<Model>> INSTALLED = new ArrayList<>();

    private static final Deque<Installation> RECENT = new ArrayDeque<>();

    /**
     * One install.
     *
     * @param thread       the thread that trains the replica
     * @param network      the replica's class and identity hash
     * @param updaterClass the replica's updater class after the install
     * @param report       what {@link Speedups#install} did
     */
    public record Installation(String thread, String network, String updaterClass, Speedups.Report report) {}

    @Override
    public void onEpochStart(Model model) {
        installOnce(model);
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        installOnce(model);
    }

    /** @return the last (up to 64) installs in this JVM, oldest first */
    public static List<Installation> recentInstallations() {
        synchronized (INSTALLED) {
            return List.copyOf(RECENT);
        }
    }

    private static void installOnce(Model model) {
        if (!(model instanceof MultiLayerNetwork) && !(model instanceof ComputationGraph)) {
            return;
        }
        synchronized (INSTALLED) {
            INSTALLED.removeIf(r -> r.get() == null);
            for (WeakReference<Model> r : INSTALLED) {
                if (r.get() == model) {
                    return;
                }
            }
            INSTALLED.add(new WeakReference<>(model));
        }
        Speedups.Report report;
        String updater;
        if (model instanceof MultiLayerNetwork net) {
            report = Speedups.install(net);
            updater = net.getUpdater(false).getClass().getName();
        } else {
            ComputationGraph graph = (ComputationGraph) model;
            report = Speedups.install(graph);
            updater = graph.getUpdater(false).getClass().getName();
        }
        String network = model.getClass().getSimpleName() + "@" + Integer.toHexString(System.identityHashCode(model));
        Installation done = new Installation(Thread.currentThread().getName(), network, updater, report);
        LOG.info(
                "Speed-ups installed on the training replica {} (thread {}): {} oneDNN convolutions, in-place updater {},"
                        + " {} Adam kernel blocks{}",
                network,
                done.thread(),
                report.oneDnnConvolutions(),
                report.inPlaceUpdater(),
                report.adamKernelBlocks(),
                report.fallbacks().isEmpty() ? "" : "; DL4J's code kept for " + report.fallbacks());
        synchronized (INSTALLED) {
            if (RECENT.size() == KEPT) {
                RECENT.removeFirst();
            }
            RECENT.addLast(done);
        }
    }
}
