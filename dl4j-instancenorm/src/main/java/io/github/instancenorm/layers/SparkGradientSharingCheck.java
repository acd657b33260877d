package io.github.instancenorm.layers;

import io.github.instancenorm.params.InstanceNormalizationParamInitializer;
import java.lang.reflect.Method;

/**
 * Refuses training with running statistics under dl4j-spark's gradient sharing ({@code SharedTrainingMaster}).
 *
 * <p>There the driver's model changes only through the shared updates. The running statistics are written in
 * place by each worker's forward and are never in an update (their gradient is zero, which is what keeps
 * clipping and gradient normalization off them), so each worker's copy drifts on its own data and the model that
 * training hands back keeps its initial mean 0 / variance 1: wrong statistics in inference, with nothing to say
 * so. This check turns that into an error on the workers, and inference with never-updated statistics while
 * gradient sharing runs into an error on the driver (where a worker swallowed the first).
 *
 * <p>How a worker is recognised, with no compile-time dependency on dl4j-spark: its training forward runs either
 * under {@code SharedTrainingWrapper} (one worker per executor), or in a {@code ParallelWrapper} trainer while
 * gradient sharing's {@code ModelParameterServer} is up in this JVM (several workers per executor; the trainers run
 * on pool threads, and their frames name {@code DefaultTrainer}, the class that declares their methods, whatever
 * the mode). Single-machine training and {@code ParameterAveragingTrainingMaster} meet neither condition; nor does
 * a {@code ParallelWrapper} of one's own, unless this JVM also runs gradient sharing's parameter server. Where dl4j-spark's parameter server is not on
 * the classpath, the check is one read of a cached flag.
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
     * @param layer the layer whose training forward this is (named in the message; read only when dl4j-spark's
     *              parameter server is on the classpath, so the forward pays nothing otherwise)
     * @throws IllegalStateException when this training forward runs on a gradient-sharing Spark worker
     */
    static void refuseRunningStatsUnderGradientSharing(InstanceNormalizationLayer layer) {
        if (!SPARK_GRADIENT_SHARING_PRESENT || !onGradientSharingWorker()) {
            return;
        }
        throw new IllegalStateException(
                layer.layerId() + ": InstanceNormalization with trackRunningStats(true) cannot be"
                        + " trained with dl4j-spark's SharedTrainingMaster (gradient sharing): the running mean and variance"
                        + " are state written by each worker's forward, never part of the shared updates, so the trained"
                        + " model would keep its initial mean 0 / variance 1 and normalize with them in inference. Train"
                        + " with ParameterAveragingTrainingMaster (the statistics are averaged with the parameters), or"
                        + " build the layer with trackRunningStats(false) (instance statistics in training and inference,"
                        + " as StarGAN's test code uses them)");
    }

    /**
     * The driver-side half: dl4j-spark's worker can swallow the training error (the first task of an executor logs
     * it and returns a normal result), and the model then comes back untrained. Inference with running statistics
     * that no training forward ever updated, in a JVM where gradient sharing's parameter server runs, is that case.
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
                + " updated (numBatchesTracked = 0) while dl4j-spark's gradient sharing (SharedTrainingMaster) runs"
                + " in this JVM: a model trained with SharedTrainingMaster keeps its initial mean 0 / variance 1."
                + " Train with ParameterAveragingTrainingMaster, or build the layer with trackRunningStats(false)");
    }

    private static boolean onGradientSharingWorker() {
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
