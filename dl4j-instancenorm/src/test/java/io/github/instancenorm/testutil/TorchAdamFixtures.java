package io.github.instancenorm.testutil;

import io.github.instancenorm.learning.TorchAdam;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The fixtures of {@code src/test/python/gen_torch_adam_fixtures.py}: {@code torch.optim.Adam} and {@code AdamW}
 * stepping four small parameters on stored gradients for {@value #STEPS} steps. Read from the class path (also from
 * this module's test jar, for the speed-ups' tests).
 */
public final class TorchAdamFixtures {

    /** The steps each case records. */
    public static final int STEPS = 100;

    /**
     * The parameters in PyTorch's order, shaped as a DL4J network's of a {@code DenseLayer} (3 to 4) and an
     * {@code OutputLayer} (4 to 2): {@code w0} [3, 4], {@code b0} [4], {@code w1} [4, 2], {@code b1} [2].
     */
    public static final List<String> PARAMS = List.of("w0", "b0", "w1", "b1");

    /** The DL4J parameter keys of {@link #PARAMS}, in the same order. */
    public static final List<String> DL4J_KEYS = List.of("0_W", "0_b", "1_W", "1_b");

    /** PyTorch's names of the state that a case with {@code amsgrad} records ({@code max_exp_avg_sq} the last). */
    public static final List<String> STATE = List.of("exp_avg", "exp_avg_sq", "max_exp_avg_sq");

    private static final String DIR = "fixtures/torch-adam/";
    private static final Map<String, Map<String, INDArray>> LOADED = new ConcurrentHashMap<>();
    private static final Map<String, double[][]> FLAT = new ConcurrentHashMap<>();

    private TorchAdamFixtures() {}

    /**
     * One line of {@code cases.txt}.
     *
     * @param name        the case, and its file's name
     * @param decoupled   AdamW ({@code weight_decay} decoupled) rather than Adam (coupled, an L2 penalty)
     * @param dataType    float or double
     * @param lr          {@code lr}
     * @param beta1       {@code betas[0]}
     * @param beta2       {@code betas[1]}
     * @param eps         {@code eps}
     * @param weightDecay {@code weight_decay}
     * @param amsgrad     {@code amsgrad}
     */
    public record Case(
            String name,
            boolean decoupled,
            DataType dataType,
            double lr,
            double beta1,
            double beta2,
            double eps,
            double weightDecay,
            boolean amsgrad) {

        /** @return the updater configuration of the case's optimizer, without the weight decay */
        public TorchAdam updater() {
            return TorchAdam.builder()
                    .learningRate(lr)
                    .betas(beta1, beta2)
                    .epsilon(eps)
                    .amsgrad(amsgrad)
                    .build();
        }

        /** @return the state names the case records: {@code exp_avg}, {@code exp_avg_sq} (and the maximum) */
        public List<String> stateNames() {
            return amsgrad ? STATE : STATE.subList(0, 2);
        }

        /**
         * @param param one of {@link #PARAMS}
         * @return the parameter before the first step
         */
        public INDArray initial(String param) {
            return array(param + "_init");
        }

        /**
         * @param param one of {@link #PARAMS}
         * @param step  0 for the first step
         * @return the gradient of that step
         */
        public INDArray gradient(String param, int step) {
            return array(param + "_grad").slice(step);
        }

        /**
         * @param param one of {@link #PARAMS}
         * @param step  0 for the first step
         * @return the parameter after that step
         */
        public INDArray param(String param, int step) {
            return array(param).slice(step);
        }

        /**
         * @param param one of {@link #PARAMS}
         * @param state one of {@link #stateNames()}
         * @param step  0 for the first step
         * @return the state after that step
         */
        public INDArray state(String param, String state, int step) {
            return array(param + "_" + state).slice(step);
        }

        /** @return the number of elements of all parameters together */
        public int size() {
            return size("init");
        }

        /**
         * The parameters' arrays of one kind after one step, concatenated in {@link #PARAMS}' order, each flattened
         * in C order: PyTorch's flat order.
         *
         * @param kind {@code init} (the initial parameters; {@code step} ignored), {@code grad}, {@code param} or a
         *             state name of {@link #stateNames()}
         * @param step 0 for the first step
         * @return the values, shared: do not modify them
         */
        public double[] flat(String kind, int step) {
            double[][] all = FLAT.computeIfAbsent(name + "/" + kind, k -> flatten(kind));
            return all["init".equals(kind) ? 0 : step];
        }

        /**
         * @param index a position in {@link #flat}'s order
         * @return the index in {@link #PARAMS} of the parameter that holds it
         */
        public int paramOf(int index) {
            int end = 0;
            for (int i = 0; i < PARAMS.size(); i++) {
                end += (int) initial(PARAMS.get(i)).length();
                if (index < end) {
                    return i;
                }
            }
            throw new IndexOutOfBoundsException(index);
        }

        private double[][] flatten(String kind) {
            boolean init = "init".equals(kind);
            double[][] out = new double[init ? 1 : STEPS][size(kind)];
            int at = 0;
            for (String p : PARAMS) {
                INDArray a = array(
                        init
                                ? p + "_init"
                                : "param".equals(kind) ? p : "grad".equals(kind) ? p + "_grad" : p + "_" + kind);
                double[] all = a.dup('c').reshape(a.length()).toDoubleVector();
                int len = all.length / out.length;
                for (int step = 0; step < out.length; step++) {
                    System.arraycopy(all, step * len, out[step], at, len);
                }
                at += len;
            }
            return out;
        }

        private int size(String kind) {
            int n = 0;
            for (String p : PARAMS) {
                n += (int) initial(p).length();
            }
            return n;
        }

        /** @return the named array of the case's file, shared: do not modify it */
        private INDArray array(String key) {
            INDArray a = load().get(key);
            if (a == null) {
                throw new IllegalStateException(name + ".npz has no " + key);
            }
            return a;
        }

        /** @return every array of the case's file, cached */
        public Map<String, INDArray> load() {
            return LOADED.computeIfAbsent(name, TorchAdamFixtures::read);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** @return every case of {@code cases.txt} */
    public static List<Case> cases() {
        try (InputStream in = stream("cases.txt");
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            return r.lines()
                    .filter(line -> !line.isBlank() && !line.startsWith("#"))
                    .map(TorchAdamFixtures::parse)
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * @param name a case's name
     * @return that case
     */
    public static Case named(String name) {
        return cases().stream()
                .filter(c -> c.name().equals(name))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no case " + name));
    }

    private static Case parse(String line) {
        String[] f = line.trim().split("\\s+");
        DataType type = switch (f[2]) {
            case "float" -> DataType.FLOAT;
            case "double" -> DataType.DOUBLE;
            default -> throw new IllegalArgumentException("Unknown dtype in cases.txt: " + line);
        };
        return new Case(
                f[0],
                switch (f[1]) {
                    case "adam" -> false;
                    case "adamw" -> true;
                    default -> throw new IllegalArgumentException("Unknown optimizer in cases.txt: " + line);
                },
                type,
                Double.parseDouble(f[3]),
                Double.parseDouble(f[4]),
                Double.parseDouble(f[5]),
                Double.parseDouble(f[6]),
                Double.parseDouble(f[7]),
                Boolean.parseBoolean(f[8]));
    }

    private static Map<String, INDArray> read(String name) {
        try (InputStream in = stream(name + ".npz")) {
            Path tmp = Files.createTempFile("torch-adam-" + name, ".npz");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                return Nd4j.createFromNpzFile(tmp.toFile());
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (Exception e) {
            throw new IllegalStateException(
                    "Cannot read fixture " + name + "; regenerate with src/test/python/gen_torch_adam_fixtures.py", e);
        }
    }

    private static InputStream stream(String file) {
        InputStream in = TorchAdamFixtures.class.getClassLoader().getResourceAsStream(DIR + file);
        if (in == null) {
            throw new IllegalStateException("Missing test resource " + DIR + file);
        }
        return in;
    }
}
