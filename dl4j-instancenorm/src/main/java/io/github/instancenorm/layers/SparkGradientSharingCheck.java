package io.github.instancenorm.layers;

import io.github.instancenorm.params.InstanceNormalizationParamInitializer;
import java.lang.reflect.Method;

/**
 * Recognises dl4j-spark's gradient sharing ({@code SharedTrainingMaster}), where running statistics cannot travel.
 *
 * <p>There the driver's model changes only through the shared updates. The running statistics are written in
 * place by a worker's training forward and are never in an update (their gradient is zero, which is what keeps
 * clipping and gradient normalization off them), so each worker's copy would drift on its own data and never reach
 * the driver. So on a gradient-sharing worker the layer's training forward normalizes with the instance statistics,
 * as every training forward does, and <b>skips the running update</b> ({@link #onGradientSharingWorker}); the
 * statistics come from a statistics pass ({@link InstanceNormStatistics}, distributed in dl4j-spark-integration's
 * {@code SparkStatisticsPass}) over the trained weights. Inference on the driver with statistics that neither
 * training nor a pass ever wrote, while gradient sharing's parameter server runs in this JVM, is refused
 * ({@link #refuseUnupdatedStatsUnderGradientSharing}): that is a model trained with {@code SharedTrainingMaster}
 * without the pass.
 *
 * <p>How a worker is recognised, with no compile-time dependency on dl4j-spark: its training forward runs either
 * under {@code SharedTrainingWrapper} (one worker per executor), or in a {@code ParallelWrapper} trainer while
 * gradient sharing's {@code ModelParameterServer} is up in this JVM (several workers per executor; the trainers run
 * on pool threads, and their frames name {@code DefaultTrainer}, the class that declares their methods, whatever
 * the mode). Single-machine training, {@code ParameterAveragingTrainingMaster} and a {@code ParallelWrapper} of
 * one's own (unless this JVM also runs gradient sharing's parameter server) meet neither condition and update the
 * statistics as usual. Where dl4j-spark's parameter server is not on the classpath, the check is one read of a
 * cached flag.
 */
final class SparkGradientSharingCheck {

    private static final String SHARED_TRAINING_WRAPPER =
            "org.deeplearning4j.spark.parameterserver.pw.SharedTrainingWrapper";
    /** Declares the run and fit methods of every ParallelWrapper trainer, SymmetricTrainer (gradient sharing) too. */
    private static final String PARALLEL_WRAPPER_TRAINER = "org.deeplearning4j.parallelism.trainer.DefaultTrainer";

    private static final String MODEL_PARAMETER_SERVER = "org.nd4j.parameterserver.distributed.v2.ModelParameterServer";

    /** Whether dl4j-spark's parameter server (gradient sharing) is on the classpath at all. */
    private static final boolean SPARK_GRADIENT_SHARING_PRESENT = isPresent(SHARED_TRAINING_WRAPPER);

    private static volatile Method parameterServerInstance;
    private static volatile Method parameterServerInitialized;

    private SparkGradientSharingCheck() {}

    /**
     * @return whether this training forward runs on a dl4j-spark gradient-sharing worker (always {@code false} when
     *     dl4j-spark's parameter server is not on the classpath)
     */
    static boolean onGradientSharingWorker() {
        return SPARK_GRADIENT_SHARING_PRESENT && onGradientSharingWorkerStack();
    }

    /**
     * The driver-side check: a model trained with {@code SharedTrainingMaster} comes back with the statistics it was
     * sent (the workers skip the running update), so inference with running statistics that neither a training
     * forward nor a statistics pass ever wrote, in a JVM where gradient sharing's parameter server runs, is a model
     * whose statistics were never computed. (It also catches a worker error that dl4j-spark swallowed: the first
     * task of an executor logs it and returns a normal result.)
     *
     * @param layer the layer whose inference forward this is (its batch counter and name are read only when
     *              dl4j-spark's parameter server is on the classpath)
     * @throws IllegalStateException when the counter is 0 and gradient sharing's parameter server is up
     */
    static void refuseUnupdatedStatsUnderGradientSharing(InstanceNormalizationLayer layer) {
        if (!SPARK_GRADIENT_SHARING_PRESENT
                || layer.getParam(InstanceNormalizationParamInitializer.NUM_BATCHES_TRACKED)
                                .getDouble(0)
                        != 0
                || !parameterServerRunning()) {
            return;
        }
        throw new IllegalStateException(layer.layerId() + ": inference with running statistics that no training forward"
                + " or statistics pass updated (numBatchesTracked = 0) while dl4j-spark's gradient sharing"
                + " (SharedTrainingMaster) runs in this JVM: under gradient sharing the workers do not update the"
                + " running statistics, so the model keeps its initial mean 0 / variance 1. Run the statistics pass"
                + " after training (InstanceNormStatistics.collect and apply, or dl4j-spark-integration's"
                + " SparkStatisticsPass / SparkTrainingWithStatistics), train with ParameterAveragingTrainingMaster,"
                + " or build the layer with trackRunningStats(false)");
    }

    private static boolean onGradientSharingWorkerStack() {
        String caller = StackWalker.getInstance()
                .walk(frames -> frames.map(StackWalker.StackFrame::getClassName)
                        .filter(c -> c.equals(SHARED_TRAINING_WRAPPER) || c.equals(PARALLEL_WRAPPER_TRAINER))
                        .findFirst()
                        .orElse(null));
        if (caller == null) {
            return false;
        }
        return caller.equals(SHARED_TRAINING_WRAPPER) || parameterServerRunning();
    }

    private static boolean parameterServerRunning() {
        try {
            if (parameterServerInstance == null) {
                Class<?> server = Class.forName(MODEL_PARAMETER_SERVER, true, classLoader());
                parameterServerInitialized = server.getMethod("isInitialized");
                parameterServerInstance = server.getMethod("getInstance");
            }
            return (Boolean) parameterServerInitialized.invoke(parameterServerInstance.invoke(null));
        } catch (ReflectiveOperationException | LinkageError e) {
            return false;
        }
    }

    private static boolean isPresent(String className) {
        try {
            Class.forName(className, false, classLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    private static ClassLoader classLoader() {
        return SparkGradientSharingCheck.class.getClassLoader();
    }
}
