package io.github.instancenorm.runtime;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The system properties that tune this project's CPU kernels, those of the layer and those of the speed-ups, and what
 * they say, each read once when first asked. Set them on the command line, or before the first forward.
 *
 * <p>The kernels take dense float (and, for the layer, double) arrays on ND4J's CPU backend; every other case (CUDA,
 * strided views, half precision) runs ND4J's own ops. Both compute the same math; these settings only choose which
 * code computes it.
 */
public final class KernelSettings {

    /** {@code false}: ND4J's ops everywhere, as on a non-CPU backend. Default {@code true}. */
    public static final String CPU_KERNELS_PROPERTY = "io.github.instancenorm.cpuKernels";
    /**
     * {@code false}: the kernels' scalar float loops even when the JVM has the Vector API module
     * ({@code --add-modules jdk.incubator.vector}), as on a JVM without it. Default {@code true}.
     */
    public static final String VECTOR_LOOPS_PROPERTY = "io.github.instancenorm.vectorLoops";
    /**
     * The number of threads a pass may use, the caller included; {@code 1}: everything on the calling thread.
     * Default {@code min(cores, 8)}.
     */
    public static final String THREADS_PROPERTY = "io.github.instancenorm.threads";
    /**
     * How long, in microseconds, an idle helper thread polls for the next pass (yielding its core between looks)
     * before it parks; {@code 0}: park at once. Default {@code 200}.
     */
    public static final String SPIN_MICROS_PROPERTY = "io.github.instancenorm.spinMicros";

    private static final Logger log = LoggerFactory.getLogger(KernelSettings.class);

    private KernelSettings() {}

    /** @return whether the CPU kernels run where they apply ({@value #CPU_KERNELS_PROPERTY}), read once */
    public static boolean cpuKernels() {
        return FromProperties.CPU_KERNELS;
    }

    /**
     * @return whether the float kernels may run Vector API loops: {@value #VECTOR_LOOPS_PROPERTY} is not
     *         {@code false}, the JVM has the module {@code jdk.incubator.vector}, and its preferred float vector has at
     *         least four lanes. Read once; the first call logs the outcome (INFO when the module is missing).
     */
    public static boolean vectorLoops() {
        return FromProperties.VECTOR_LOOPS;
    }

    /** Reads the properties when first asked, so that a benchmark's setup can still set them. */
    private static final class FromProperties {
        static final boolean CPU_KERNELS = Boolean.parseBoolean(System.getProperty(CPU_KERNELS_PROPERTY, "true"));
        static final boolean VECTOR_LOOPS = detectVectorApi();
    }

    private static boolean detectVectorApi() {
        if (!Boolean.parseBoolean(System.getProperty(VECTOR_LOOPS_PROPERTY, "true"))) {
            log.debug("CPU kernels: Vector API loops turned off by -D{}=false", VECTOR_LOOPS_PROPERTY);
            return false;
        }
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            log.info("CPU kernels: scalar float loops. Start the JVM with --add-modules jdk.incubator.vector for the"
                    + " faster Vector API loops");
            return false;
        }
        try {
            // Vectors of fewer than four floats would not pay for themselves.
            int lanes = VectorApi.floatLanes();
            log.debug("CPU kernels: Vector API loops, {} float lanes", lanes);
            return lanes >= 4;
        } catch (LinkageError e) {
            log.info("CPU kernels: the Vector API could not be loaded ({}); scalar float loops", e.toString());
            return false;
        }
    }

    /** Loaded only where the module is present. */
    private static final class VectorApi {
        static int floatLanes() {
            return jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        }
    }
}
