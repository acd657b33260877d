package io.github.instancenorm.benchmarks.libtorch;

import io.github.instancenorm.benchmarks.libtorch.LibTorchStarGanV2.Conv;
import io.github.instancenorm.benchmarks.libtorch.LibTorchStarGanV2.Linear;
import io.github.instancenorm.benchmarks.libtorch.LibTorchStarGanV2.Norm;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * One StarGAN v2 training iteration on libtorch 2.7 through JavaCPP, the peer of {@code StarGanV2TrainingBenchmark}
 * (DL4J's {@code StarGanV2Trainer.step}) and {@code bench_stargan_v2_train.py} (PyTorch 1.13): the same four
 * networks as {@link LibTorchStarGanV2}'s functional graph (parameters named as PyTorch's state dicts), trained with
 * libtorch's autograd and {@code torch::optim::Adam}.
 *
 * <pre>
 *   dl4j-benchmarks/run-stargan-v2-benchmarks.sh --only train     (or, after mvn -Plibtorch package:)
 *   java -cp target/classes:$(cat target/classpath.txt) \
 *        io.github.instancenorm.benchmarks.libtorch.LibTorchStarGanV2Training \
 *        [--threads 2] [--seconds 10] [--rounds 3] [--warmup 2] [--min-runs 3] [--train example,small64]
 *        [--out file.json]
 *        | --check NETS.npz INPUTS.npz OUT.json
 * </pre>
 *
 * <p>One iteration on {@code x_real, y_org, x_ref, x_ref2, y_trg, z_trg, z_trg2}, float32:
 * <ol>
 *   <li>a D step with latent styles {@code s = F(z_trg, y_trg)} and one with reference styles
 *       {@code s = E(x_ref, y_trg)}: {@code real = BCE(D(x_real, y_org), 1)}, R1 = {@code 0.5 · Σ (∂D/∂x)² / N}
 *       with the input gradient from {@code torch::autograd::grad(..., create_graph = true)} (so its parameter
 *       gradient is a double backward, as in PyTorch), {@code fake = BCE(D(G(x_real, s), y_trg), 0)} with the fake
 *       made under {@link NoGradGuard}; every gradient zeroed, backward, an Adam step of D;</li>
 *   <li>a G step with latent styles, {@code adv + λ_sty·sty − λ_ds·ds + λ_cyc·cyc} ({@code x_fake2} detached), Adam
 *       steps of G, F and E; then one with reference styles, an Adam step of G only;</li>
 *   <li>{@code ema = lerp(p, ema, 0.999)} for G, F and E, under {@link NoGradGuard}; {@code λ_ds -= 2 / 100000}.</li>
 * </ol>
 * Adam: {@code lr} 1e-4 (F 1e-6), betas (0, 0.99), eps 1e-8, weight decay 1e-4 (libtorch's Adam adds it to the
 * gradient, as {@code torch.optim.Adam}); gradients are zeroed, not set to undefined, as PyTorch 1.13's
 * {@code zero_grad()} does. Loss weights {@code λ} reg, sty, ds, cyc = 1, 1, 2, 1.
 *
 * <p>Sizes as {@code StarGanV2TrainingBenchmark}'s: {@code example} (32 px, dim_in 16, max_conv_dim 64, style 16,
 * latent 8, mapping width 64, batch 8) and {@code small64} (64 px, dim_in 32, max_conv_dim 256, style 64, latent 16,
 * mapping width 512, batch 4), 3 domains; the trained networks He-initialized, the averages with PyTorch's default
 * bounds; one fixed random batch, sample {@code n} from domain {@code n % 3} to {@code (n + 1) % 3}. Each size runs
 * {@code --rounds} rounds of at least {@code --seconds} seconds and {@code --min-runs} (3) iterations after
 * {@code --warmup} (2) warm-up iterations; the
 * results file has {@code bench_stargan_v2.py}'s JSON layout, {@code ms} the median of the round medians.
 *
 * <p>{@code --check}: two iterations from the networks in {@code NETS.npz} ({@code NET.PARAM} arrays, as
 * {@code bench_stargan_v2_train.py --check ... --export} writes them from the zoo fixture {@code small16_nets.ckpt}),
 * the averages starting from the same weights, on the inputs of {@code INPUTS.npz}; writes the loss terms and the
 * parameter sums as JSON. {@link #main} halts the JVM once done, as {@link LibTorchStarGanV2}'s.
 */
public final class LibTorchStarGanV2Training {

    /** A configuration: image size, widths, domains and batch. */
    record Size(
            String name,
            int imageSize,
            int dimIn,
            int maxConvDim,
            int styleDim,
            int latentDim,
            int hidden,
            int domains,
            int batch) {}

    static final List<Size> SIZES = List.of(
            new Size("example", 32, 16, 64, 16, 8, 64, 3, 8), new Size("small64", 64, 32, 256, 64, 16, 512, 3, 4));

    /** The check's networks: the zoo fixture {@code small16} (batch from the inputs). */
    static final Size SMALL16 = new Size("small16", 16, 8, 16, 8, 4, 32, 3, 0);

    static final List<String> NETS = List.of("generator", "mapping_network", "style_encoder", "discriminator");

    private static final Scalar SLOPE = new Scalar(0.2f);
    private static final Scalar SQRT2 = new Scalar((float) Math.sqrt(2));
    private static final double DS = 2;
    private static final int DS_ITER = 100_000;
    private static final double EMA_BETA = 0.999;

    private LibTorchStarGanV2Training() {}

    /** Runs the benchmark or the check; see the class documentation for the arguments. */
    public static void main(String[] args) throws IOException, ClassNotFoundException {
        // The layers' static Scalars are JavaCPP pointers: created inside a step's PointerScope, they would be freed
        // with it. Initialize their class now, outside any scope.
        Class.forName(LibTorchStarGanV2.class.getName(), true, LibTorchStarGanV2.class.getClassLoader());
        int threads = 2;
        double seconds = 10;
        int rounds = 3;
        int warmup = 2;
        int minRuns = 3;
        List<String> sizes = List.of("example", "small64");
        Path out = null;
        String[] check = null;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(value);
                case "--seconds" -> seconds = Double.parseDouble(value);
                case "--rounds" -> rounds = Integer.parseInt(value);
                case "--warmup" -> warmup = Integer.parseInt(value);
                case "--min-runs" -> minRuns = Integer.parseInt(value);
                case "--train" -> sizes = List.of(value.split(","));
                case "--out" -> out = Path.of(value);
                case "--check" -> {
                    check = Arrays.copyOfRange(args, i + 1, Math.min(args.length, i + 4));
                    if (check.length != 3) {
                        throw new IllegalArgumentException("--check takes NETS.npz INPUTS.npz OUT.json");
                    }
                    i += 2;
                }
                default ->
                    throw new IllegalArgumentException("unknown argument " + args[i] + "; expected --threads N,"
                            + " --seconds S, --rounds R, --warmup W, --min-runs M, --train example,small64, --out FILE or --check NETS.npz"
                            + " INPUTS.npz OUT.json");
            }
            i++;
        }
        torch.set_num_threads(threads);
        torch.manual_seed(42);
        if (check != null) {
            check(Path.of(check[0]), Path.of(check[1]), Path.of(check[2]));
        } else {
            bench(sizes, seconds, rounds, warmup, minRuns, threads, out);
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    private static void bench(
            List<String> sizes, double seconds, int rounds, int warmup, int minRuns, int threads, Path out)
            throws IOException {
        List<String> rows = new ArrayList<>();
        for (String name : sizes) {
            Size size = SIZES.stream()
                    .filter(s -> s.name().equals(name))
                    .findFirst()
                    .orElseThrow(() ->
                            new IllegalArgumentException("unknown size " + name + "; expected example or small64"));
            Trainer trainer = new Trainer(size, Init.he(), Init.pytorchDefault());
            Batch batch = Batch.random(size);
            System.out.printf(
                    Locale.ROOT,
                    "StarGAN v2 train %s: parameters %s, batch %d%n",
                    name,
                    trainer.parameterCounts(),
                    size.batch());
            double[] medians = timed(
                    () -> {
                        try (PointerScope scope = new PointerScope()) {
                            trainer.step(batch);
                        }
                    },
                    seconds,
                    rounds,
                    warmup,
                    minRuns);
            double median = median(medians);
            String spread = Arrays.stream(medians)
                    .mapToObj(v -> String.format(Locale.ROOT, "%.1f", v))
                    .collect(Collectors.joining(" "));
            System.out.printf(
                    Locale.ROOT,
                    "StarGAN v2 train %8s iteration %10.1f ms  (round medians: %s)%n",
                    name,
                    median,
                    spread);
            rows.add(String.format(
                    Locale.ROOT,
                    "{\"model\": \"StarGAN v2 train %s\", \"mode\": \"iteration\", \"batch\": %d, \"ms\": %.4f,"
                            + " \"roundMedians\": [%s]}",
                    name,
                    size.batch(),
                    median,
                    spread.replace(" ", ", ")));
        }
        if (out != null) {
            String meta = String.format(
                    Locale.ROOT,
                    "{\"torch\": \"libtorch %s (org.bytedeco:pytorch)\", \"threads\": %d,"
                            + " \"r1\": \"autograd (create_graph), float32\"}",
                    torch.TORCH_VERSION,
                    threads);
            Files.writeString(
                    out, "{\"meta\": " + meta + ",\n \"results\": [\n  " + String.join(",\n  ", rows) + "]}\n");
        }
    }

    private static void check(Path netsFile, Path inputsFile, Path outFile) throws IOException {
        Map<String, Tensor> weights = readNpz(netsFile);
        Map<String, Tensor> in = readNpz(inputsFile);
        Trainer trainer = new Trainer(SMALL16, Init.from(weights), Init.from(weights));
        Batch batch = new Batch(
                in.get("x_real"),
                in.get("y_org").argmax(new org.bytedeco.pytorch.LongOptional(1), false),
                in.get("x_ref"),
                in.get("x_ref2"),
                in.get("y_trg").argmax(new org.bytedeco.pytorch.LongOptional(1), false),
                in.get("z_trg"),
                in.get("z_trg2"));
        List<String> terms = new ArrayList<>();
        for (int it = 1; it <= 2; it++) {
            for (Map.Entry<String, Double> e : trainer.step(batch).entrySet()) {
                terms.add(String.format(Locale.ROOT, "\"it%d.%s\": %.17g", it, e.getKey(), e.getValue()));
            }
        }
        List<String> sums = new ArrayList<>();
        for (String net : NETS) {
            sums.add(String.format(
                    Locale.ROOT,
                    "\"nets.%s\": %.17g",
                    net,
                    trainer.nets.get(net).sum()));
            if (!net.equals("discriminator")) {
                sums.add(String.format(
                        Locale.ROOT,
                        "\"ema.%s\": %.17g",
                        net,
                        trainer.ema.get(net).sum()));
            }
        }
        String json = String.format(
                "{\"meta\": {\"side\": \"libtorch %s\", \"r1\": \"autograd, float32\"},%n \"terms\": {%s},%n"
                        + " \"sums\": {%s}}%n",
                torch.TORCH_VERSION, String.join(", ", terms), String.join(", ", sums));
        Files.writeString(outFile, json);
        System.out.print(json);
    }

    /**
     * Median milliseconds per call in each round: {@code warmup} calls, then at least {@code minRuns} calls and
     * {@code minSeconds} seconds.
     */
    static double[] timed(Runnable call, double minSeconds, int rounds, int warmup, int minRuns) {
        double[] medians = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < warmup; i++) {
                call.run();
            }
            List<Double> times = new ArrayList<>();
            long start = System.nanoTime();
            while (times.size() < minRuns || System.nanoTime() - start < minSeconds * 1e9) {
                long t0 = System.nanoTime();
                call.run();
                times.add((System.nanoTime() - t0) / 1e6);
            }
            medians[r] = median(times.stream().mapToDouble(Double::doubleValue).toArray());
        }
        return medians;
    }

    static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int k = v.length;
        return k % 2 == 1 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    }

    /** The inputs of one iteration; domains as indices. */
    record Batch(Tensor xReal, Tensor yOrg, Tensor xRef, Tensor xRef2, Tensor yTrg, Tensor zTrg, Tensor zTrg2) {
        static Batch random(Size s) {
            int n = s.batch();
            Tensor index = torch.arange(new Scalar(n));
            return new Batch(
                    image(s),
                    index.remainder(new Scalar(s.domains())),
                    image(s),
                    image(s),
                    index.add(new Scalar(1)).remainder(new Scalar(s.domains())),
                    torch.randn(n, s.latentDim()),
                    torch.randn(n, s.latentDim()));
        }

        private static Tensor image(Size s) {
            return torch.rand(s.batch(), 3, s.imageSize(), s.imageSize())
                    .mul_(new Scalar(2f))
                    .sub_(new Scalar(1f));
        }
    }

    /** How a parameter gets its first value. */
    interface Init {
        /**
         * @param name  its name in PyTorch's state dict, {@code NET.PARAM}
         * @param fanIn its layer's fan-in (0 for an instance norm's parameters)
         * @param bias  whether it is a bias (for a norm: its beta)
         * @param shape its shape
         */
        Tensor make(String name, long fanIn, boolean bias, long... shape);

        /** {@code kaiming_normal_(fan_in, relu)} weights, zero biases; norms 1 and 0. */
        static Init he() {
            return (name, fanIn, bias, shape) -> fanIn == 0
                    ? (bias ? torch.zeros(shape) : torch.ones(shape))
                    : bias ? torch.zeros(shape) : torch.randn(shape).mul_(new Scalar((float) Math.sqrt(2.0 / fanIn)));
        }

        /** PyTorch's default: {@code U(±1/sqrt(fan_in))} for weights and biases; norms 1 and 0. */
        static Init pytorchDefault() {
            return (name, fanIn, bias, shape) -> fanIn == 0
                    ? (bias ? torch.zeros(shape) : torch.ones(shape))
                    : torch.rand(shape)
                            .mul_(new Scalar(2f))
                            .sub_(new Scalar(1f))
                            .mul_(new Scalar((float) (1 / Math.sqrt(fanIn))));
        }

        /** A copy of the tensor of that name; its shape must match. */
        static Init from(Map<String, Tensor> weights) {
            return (name, fanIn, bias, shape) -> {
                Tensor t = weights.get(name);
                if (t == null) {
                    throw new IllegalArgumentException("no tensor \"" + name + "\" in the networks' file");
                }
                if (!Arrays.equals(t.sizes().vec().get(), shape)) {
                    throw new IllegalArgumentException("\"" + name + "\" has the shape "
                            + Arrays.toString(t.sizes().vec().get()) + ", expected " + Arrays.toString(shape));
                }
                return t.clone();
            };
        }
    }

    /** A network's parameters by PyTorch name, each requiring grad. */
    static class Params {
        final String net;
        final Init init;
        final Map<String, Tensor> byName = new LinkedHashMap<>();

        Params(String net, Init init) {
            this.net = net;
            this.init = init;
        }

        Tensor param(String name, long fanIn, boolean bias, long... shape) {
            Tensor t = init.make(net + "." + name, fanIn, bias, shape).requires_grad_(true);
            byName.put(name, t);
            return t;
        }

        Linear linear(String name, long in, long out) {
            return new Linear(param(name + ".weight", in, false, out, in), param(name + ".bias", in, true, out));
        }

        Conv conv(String name, long in, long out, long kernel, boolean bias, long padding) {
            long fanIn = in * kernel * kernel;
            return new Conv(
                    param(name + ".weight", fanIn, false, out, in, kernel, kernel),
                    bias ? param(name + ".bias", fanIn, true, out) : null,
                    padding);
        }

        Norm norm(String name, long channels) {
            return new Norm(param(name + ".weight", 0, false, channels), param(name + ".bias", 0, true, channels));
        }

        TensorVector vector() {
            TensorVector v = new TensorVector();
            byName.values().forEach(v::push_back);
            return v;
        }

        long count() {
            return byName.values().stream().mapToLong(Tensor::numel).sum();
        }

        double sum() {
            try (NoGradGuard g = new NoGradGuard()) {
                double s = 0;
                for (Tensor t : byName.values()) {
                    s += t.to(org.bytedeco.pytorch.global.torch.ScalarType.Double)
                            .sum()
                            .item_double();
                }
                return s;
            }
        }
    }

    /** A network: its parameters and its forward. */
    interface Net {
        Params params();

        Tensor forward(Tensor x, Tensor y);
    }

    /** {@code Generator(img, dim_in, max_conv_dim, style_dim, w_hpf=0)}, parameters named as PyTorch's. */
    static final class Generator {
        final Params p;
        private final Conv fromRgb;
        private final List<LibTorchStarGanV2.DownBlock> encode = new ArrayList<>();
        private final List<LibTorchStarGanV2.UpBlock> decode = new ArrayList<>();
        private final Norm toRgbNorm;
        private final Conv toRgb;

        Generator(Size size, Init init) {
            p = new Params("generator", init);
            int downs = Integer.numberOfTrailingZeros(size.imageSize()) - 4;
            int blocks = downs + 2;
            long width = size.dimIn();
            fromRgb = p.conv("from_rgb", 3, width, 3, true, 1);
            for (int i = 0; i < blocks; i++) {
                boolean down = i < downs;
                long wider = down ? Math.min(width * 2, size.maxConvDim()) : width;
                String e = "encode." + i + ".";
                Conv conv1 = p.conv(e + "conv1", width, width, 3, true, 1);
                Conv conv2 = p.conv(e + "conv2", width, wider, 3, true, 1);
                Norm norm1 = p.norm(e + "norm1", width);
                Norm norm2 = p.norm(e + "norm2", width);
                Conv skip = width != wider ? p.conv(e + "conv1x1", width, wider, 1, false, 0) : null;
                encode.add(new LibTorchStarGanV2.DownBlock(norm1, conv1, norm2, conv2, skip, down));
                // The decoder mirrors the encoder: the block made now ends up at index blocks - 1 - i.
                String d = "decode." + (blocks - 1 - i) + ".";
                Conv upConv1 = p.conv(d + "conv1", wider, width, 3, true, 1);
                Conv upConv2 = p.conv(d + "conv2", width, width, 3, true, 1);
                Linear fc1 = p.linear(d + "norm1.fc", size.styleDim(), 2 * wider);
                Linear fc2 = p.linear(d + "norm2.fc", size.styleDim(), 2 * width);
                Conv upSkip = width != wider ? p.conv(d + "conv1x1", wider, width, 1, false, 0) : null;
                decode.add(0, new LibTorchStarGanV2.UpBlock(fc1, upConv1, fc2, upConv2, upSkip, down));
                width = wider;
            }
            toRgbNorm = p.norm("to_rgb.0", size.dimIn());
            toRgb = p.conv("to_rgb.2", size.dimIn(), 3, 1, true, 0);
        }

        Tensor forward(Tensor x, Tensor s) {
            Tensor h = fromRgb.apply(x);
            for (LibTorchStarGanV2.DownBlock b : encode) {
                h = b.apply(h);
            }
            for (LibTorchStarGanV2.UpBlock b : decode) {
                h = b.apply(h, s);
            }
            return toRgb.apply(torch.leaky_relu(toRgbNorm.apply(h), SLOPE));
        }
    }

    /** {@code MappingNetwork}: {@code shared.{0,2,4,6}}, {@code unshared.K.{0,2,4,6}}; each sample's own head. */
    static final class Mapping implements Net {
        final Params p;
        private final List<Linear> shared = new ArrayList<>();
        private final List<List<Linear>> heads = new ArrayList<>();

        Mapping(Size size, Init init) {
            p = new Params("mapping_network", init);
            long in = size.latentDim();
            for (int i = 0; i < 4; i++) {
                shared.add(p.linear("shared." + 2 * i, in, size.hidden()));
                in = size.hidden();
            }
            for (int k = 0; k < size.domains(); k++) {
                List<Linear> head = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    head.add(p.linear(
                            "unshared." + k + "." + 2 * i, size.hidden(), i < 3 ? size.hidden() : size.styleDim()));
                }
                heads.add(head);
            }
        }

        @Override
        public Params params() {
            return p;
        }

        @Override
        public Tensor forward(Tensor z, Tensor y) {
            Tensor h = z;
            for (Linear l : shared) {
                h = l.apply(h).relu();
            }
            TensorVector outs = new TensorVector();
            for (List<Linear> head : heads) {
                Tensor o = h;
                for (int i = 0; i < head.size(); i++) {
                    o = head.get(i).apply(o);
                    if (i < head.size() - 1) {
                        o = o.relu();
                    }
                }
                outs.push_back(o);
            }
            return select(torch.stack(outs, 1), y);
        }
    }

    /** {@code out[n, y[n]]} of {@code [N, K]} or {@code [N, K, S]}. */
    static Tensor select(Tensor stacked, Tensor y) {
        long n = stacked.size(0);
        if (stacked.dim() == 2) {
            return torch.gather(stacked, 1, y.view(n, 1)).view(n);
        }
        long s = stacked.size(2);
        return torch.gather(stacked, 1, y.view(n, 1, 1).repeat(1, 1, s)).view(n, s);
    }

    /** The style encoder's and discriminator's {@code ResBlk} without normalization: always down-sampling. */
    record PlainDown(Conv conv1, Conv conv2, Conv conv1x1) {
        Tensor apply(Tensor x) {
            Tensor skip = torch.avg_pool2d(conv1x1 == null ? x : conv1x1.apply(x), 2, 2);
            Tensor h = torch.avg_pool2d(conv1.apply(torch.leaky_relu(x, SLOPE)), 2, 2);
            h = conv2.apply(torch.leaky_relu(h, SLOPE));
            return skip.add(h).div(SQRT2);
        }
    }

    /** {@code StyleEncoder} ({@code shared}, heads {@code unshared.K}) or {@code Discriminator} ({@code main}). */
    static final class Trunk implements Net {
        final Params p;
        private final boolean discriminator;
        private final Conv first;
        private final List<PlainDown> blocks = new ArrayList<>();
        private final Conv last;
        private final Conv logits;
        private final List<Linear> heads = new ArrayList<>();

        Trunk(Size size, Init init, boolean discriminator) {
            this.discriminator = discriminator;
            p = new Params(discriminator ? "discriminator" : "style_encoder", init);
            String prefix = discriminator ? "main." : "shared.";
            int m = Integer.numberOfTrailingZeros(size.imageSize()) - 2;
            long width = size.dimIn();
            first = p.conv(prefix + 0, 3, width, 3, true, 1);
            for (int i = 1; i <= m; i++) {
                long wider = Math.min(width * 2, size.maxConvDim());
                String b = prefix + i + ".";
                Conv conv1 = p.conv(b + "conv1", width, width, 3, true, 1);
                Conv conv2 = p.conv(b + "conv2", width, wider, 3, true, 1);
                Conv skip = width != wider ? p.conv(b + "conv1x1", width, wider, 1, false, 0) : null;
                blocks.add(new PlainDown(conv1, conv2, skip));
                width = wider;
            }
            last = p.conv(prefix + (m + 2), width, width, 4, true, 0);
            if (discriminator) {
                logits = p.conv(prefix + (m + 4), width, size.domains(), 1, true, 0);
            } else {
                logits = null;
                for (int k = 0; k < size.domains(); k++) {
                    heads.add(p.linear("unshared." + k, width, size.styleDim()));
                }
            }
        }

        @Override
        public Params params() {
            return p;
        }

        @Override
        public Tensor forward(Tensor x, Tensor y) {
            Tensor h = first.apply(x);
            for (PlainDown b : blocks) {
                h = b.apply(h);
            }
            h = torch.leaky_relu(last.apply(torch.leaky_relu(h, SLOPE)), SLOPE);
            long n = x.size(0);
            if (discriminator) {
                return select(logits.apply(h).view(n, -1), y);
            }
            h = h.view(n, -1);
            TensorVector outs = new TensorVector();
            for (Linear head : heads) {
                outs.push_back(head.apply(h));
            }
            return select(torch.stack(outs, 1), y);
        }
    }

    /** The four networks, their averages, the four Adam optimizers and {@code λ_ds}. */
    static final class Trainer {
        final Generator g;
        final Mapping f;
        final Trunk e;
        final Trunk d;
        final Map<String, Params> nets = new LinkedHashMap<>();
        final Map<String, Params> ema = new LinkedHashMap<>();
        final Map<String, Adam> optims = new LinkedHashMap<>();
        double lambdaDs = DS;

        Trainer(Size size, Init init, Init emaInit) {
            g = new Generator(size, init);
            f = new Mapping(size, init);
            e = new Trunk(size, init, false);
            d = new Trunk(size, init, true);
            List<Params> all = List.of(g.p, f.p, e.p, d.p);
            for (int i = 0; i < 4; i++) {
                nets.put(NETS.get(i), all.get(i));
                optims.put(NETS.get(i), adam(all.get(i), i == 1 ? 1e-6 : 1e-4));
            }
            try (NoGradGuard noGrad = new NoGradGuard()) {
                ema.put("generator", new Generator(size, emaInit).p);
                ema.put("mapping_network", new Mapping(size, emaInit).p);
                ema.put("style_encoder", new Trunk(size, emaInit, false).p);
            }
            for (Params a : ema.values()) {
                a.byName.values().forEach(t -> t.requires_grad_(false));
            }
        }

        private static Adam adam(Params p, double lr) {
            AdamOptions o = new AdamOptions(lr);
            // betas is a std::tuple<double, double>; libstdc++ lays its elements out last first: find beta2's slot
            // by its default, 0.999.
            int beta1 = o.betas().get(0) == 0.999 ? 1 : 0;
            o.betas().put(beta1, 0.0).put(1 - beta1, 0.99);
            o.eps().put(1e-8);
            o.weight_decay().put(1e-4);
            return new Adam(p.vector(), o);
        }

        Map<String, Long> parameterCounts() {
            Map<String, Long> m = new LinkedHashMap<>();
            nets.forEach((k, v) -> m.put(k, v.count()));
            return m;
        }

        /** One iteration; returns the loss terms named as DL4J's trainer names them. */
        Map<String, Double> step(Batch b) {
            Map<String, Double> terms = new LinkedHashMap<>();
            run("D/latent/", discriminatorLoss(b, f, b.zTrg()), List.of("discriminator"), terms);
            run("D/reference/", discriminatorLoss(b, e, b.xRef()), List.of("discriminator"), terms);
            run(
                    "G/latent/",
                    generatorLoss(b, f, b.zTrg(), b.zTrg2()),
                    List.of("generator", "mapping_network", "style_encoder"),
                    terms);
            run("G/reference/", generatorLoss(b, e, b.xRef(), b.xRef2()), List.of("generator"), terms);
            try (NoGradGuard noGrad = new NoGradGuard()) {
                for (Map.Entry<String, Params> a : ema.entrySet()) {
                    Map<String, Tensor> trained = nets.get(a.getKey()).byName;
                    a.getValue()
                            .byName
                            .forEach(
                                    (name, avg) -> avg.copy_(torch.lerp(trained.get(name), avg, new Scalar(EMA_BETA))));
                }
            }
            terms.put("G/lambda_ds", lambdaDs);
            if (lambdaDs > 0) {
                lambdaDs -= DS / DS_ITER;
            }
            return terms;
        }

        /** Zeroes every gradient, backward of {@code loss[total]}, steps the named networks; records the terms. */
        private void run(String prefix, Map<String, Tensor> loss, List<String> updated, Map<String, Double> terms) {
            for (Adam o : optims.values()) {
                o.zero_grad(false);
            }
            loss.get("total").backward();
            for (String net : updated) {
                optims.get(net).step();
            }
            loss.forEach((k, v) -> terms.put(prefix + k, v.item_double()));
        }

        private Map<String, Tensor> discriminatorLoss(Batch b, Net styles, Tensor source) {
            Tensor x = b.xReal().detach().requires_grad_(true);
            Tensor out = d.forward(x, b.yOrg());
            Tensor real = bce(out, 1);
            Tensor gradX = torch.grad(
                            new TensorVector(out.sum()),
                            new TensorVector(x),
                            new TensorVector(),
                            new BoolOptional(true),
                            true,
                            false)
                    .get(0);
            Tensor reg =
                    gradX.mul(gradX).sum().div(new Scalar((float) x.size(0))).mul(new Scalar(0.5f));
            Tensor xFake;
            try (NoGradGuard noGrad = new NoGradGuard()) {
                xFake = g.forward(b.xReal(), styles.forward(source, b.yTrg()));
            }
            Tensor fake = bce(d.forward(xFake, b.yTrg()), 0);
            Map<String, Tensor> m = new LinkedHashMap<>();
            m.put("real", real);
            m.put("fake", fake);
            m.put("reg", reg);
            m.put("total", real.add(fake).add(reg)); // λ_reg 1
            return m;
        }

        private Map<String, Tensor> generatorLoss(Batch b, Net styles, Tensor first, Tensor second) {
            Tensor sTrg = styles.forward(first, b.yTrg());
            Tensor xFake = g.forward(b.xReal(), sTrg);
            Tensor adv = bce(d.forward(xFake, b.yTrg()), 1);
            Tensor sty = e.forward(xFake, b.yTrg()).sub(sTrg).abs().mean();
            Tensor xFake2 =
                    g.forward(b.xReal(), styles.forward(second, b.yTrg())).detach();
            Tensor ds = xFake.sub(xFake2).abs().mean();
            Tensor xRec = g.forward(xFake, e.forward(b.xReal(), b.yOrg()));
            Tensor cyc = xRec.sub(b.xReal()).abs().mean();
            // λ_sty 1, λ_cyc 1
            Tensor total = adv.add(sty).sub(ds.mul(new Scalar(lambdaDs))).add(cyc);
            Map<String, Tensor> m = new LinkedHashMap<>();
            m.put("adv", adv);
            m.put("sty", sty);
            m.put("ds", ds);
            m.put("cyc", cyc);
            m.put("total", total);
            return m;
        }

        private static Tensor bce(Tensor logits, float target) {
            return torch.binary_cross_entropy_with_logits(
                    logits,
                    torch.full_like(logits, new Scalar(target)),
                    new TensorOptional(),
                    new TensorOptional(),
                    1); // mean
        }
    }

    /**
     * Reads the float32 arrays of an {@code .npz} file ({@code numpy.savez}: stored {@code .npy} entries); arrays of
     * other types are left out.
     */
    static Map<String, Tensor> readNpz(Path file) throws IOException {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (ZipFile zip = new ZipFile(file.toFile())) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry entry = entries.nextElement();
                byte[] bytes;
                try (InputStream is = zip.getInputStream(entry)) {
                    ByteArrayOutputStream bos = new ByteArrayOutputStream();
                    is.transferTo(bos);
                    bytes = bos.toByteArray();
                }
                String name = entry.getName().replaceFirst("\\.npy$", "");
                Tensor t = readNpy(bytes, file + ":" + name);
                if (t != null) {
                    out.put(name, t);
                }
            }
        }
        return out;
    }

    private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']*)'");
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

    /** @return the array, or null if it is not float32 */
    private static Tensor readNpy(byte[] bytes, String what) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int major = bytes[6];
        int headerLength = major == 1 ? buf.getShort(8) & 0xffff : buf.getInt(8);
        int start = major == 1 ? 10 : 12;
        String header = new String(bytes, start, headerLength, StandardCharsets.ISO_8859_1);
        Matcher descr = DESCR.matcher(header);
        Matcher shape = SHAPE.matcher(header);
        if (!descr.find() || !shape.find() || header.contains("'fortran_order': True")) {
            throw new IOException(what + ": expected a C-ordered array, got the header " + header);
        }
        if (!descr.group(1).equals("<f4")) {
            return null;
        }
        long[] dims = Arrays.stream(shape.group(1).split(","))
                .map(String::trim)
                .filter(s -> !s.isEmpty())
                .mapToLong(Long::parseLong)
                .toArray();
        float[] values = new float[(int) Arrays.stream(dims).reduce(1, (a, b) -> a * b)];
        buf.position(start + headerLength);
        buf.asFloatBuffer().get(values);
        try (FloatPointer pointer = new FloatPointer(values)) {
            return torch.from_blob(pointer, dims).clone();
        }
    }
}
