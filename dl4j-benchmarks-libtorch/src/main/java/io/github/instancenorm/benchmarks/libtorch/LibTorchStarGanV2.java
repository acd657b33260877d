package io.github.instancenorm.benchmarks.libtorch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * StarGAN v2's latent-guided synthesis on libtorch 2.7 through JavaCPP: the mapping network {@code s = F(z, y)},
 * then the generator {@code G(x, s)} with {@code w_hpf = 0}, random weights, under {@link NoGradGuard}. The same
 * networks, sizes and call as {@code StarGanV2InferenceBenchmark} (DL4J, the zoo's {@code StarGanV2}) and
 * {@code bench_stargan_v2.py --models} (PyTorch 1.13, the modules of the zoo's {@code gen_stargan_v2_fixtures.py}).
 *
 * <pre>
 *   dl4j-benchmarks/run-stargan-v2-benchmarks.sh      (or, after mvn -Plibtorch package:)
 *   java -cp target/classes:$(cat target/classpath.txt) io.github.instancenorm.benchmarks.libtorch.LibTorchStarGanV2 \
 *        [--threads 2] [--seconds 2] [--rounds 3] [--models afhq,small] [--batch 0] [--out file.json]
 * </pre>
 *
 * <p>Sizes: {@code afhq} (256 px, {@code dim_in} 64, {@code max_conv_dim} 512, style 64, latent 16, mapping width 512,
 * 3 domains, batch 1) and {@code small} (64 px, {@code dim_in} 32, {@code max_conv_dim} 256, otherwise the same,
 * batch 8); {@code --batch} overrides both. Sample {@code n}'s target domain is {@code n % 3}.
 *
 * <p>The networks are written with libtorch's functional ops ({@code linear}, {@code conv2d}, {@code instance_norm},
 * {@code leaky_relu}, {@code avg_pool2d}, {@code upsample_nearest2d}), which its {@code nn} modules call:
 * <ul>
 *   <li>mapping network: 4 × (Linear, ReLU) shared, then per domain 3 × (Linear, ReLU) and a Linear to the style
 *       width; the heads are stacked and each sample's own domain's row is gathered;</li>
 *   <li>generator: {@code from_rgb} 3×3 conv; {@code log2(img) - 4} down blocks and 2 same-size blocks
 *       {@code (shortcut + residual) / sqrt(2)}, residual IN(affine) → LeakyReLU(0.2) → 3×3 conv → [avg pool 2] →
 *       IN(affine) → LeakyReLU → 3×3 conv, shortcut [1×1 conv without bias] → [avg pool 2]; the decoder mirrors
 *       them with AdaIN blocks, residual AdaIN → LeakyReLU → [nearest ×2] → 3×3 conv → AdaIN → LeakyReLU → 3×3
 *       conv, shortcut [nearest ×2] → [1×1 conv], where AdaIN(x, s) = (1 + gamma) * IN(x) + beta with
 *       {@code [gamma, beta] = Linear(s)}; {@code to_rgb} IN(affine) → LeakyReLU → 1×1 conv.</li>
 * </ul>
 * Each size runs {@code --rounds} rounds of at least {@code --seconds} seconds after a warm-up and reports the
 * lowest round median, as {@code bench_stargan_v2.py} does; the results file has its JSON layout. Like
 * {@link LibTorchStarGan}, {@link #main} halts the JVM once the results are written (JavaCPP's libtorch build
 * crashes in a native destructor at exit).
 */
public final class LibTorchStarGanV2 {

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
            new Size("afhq", 256, 64, 512, 64, 16, 512, 3, 1), new Size("small", 64, 32, 256, 64, 16, 512, 3, 8));

    private static final Scalar SLOPE = new Scalar(0.2f);
    private static final Scalar SQRT2 = new Scalar((float) Math.sqrt(2));
    private static final Scalar ONE = new Scalar(1f);

    private LibTorchStarGanV2() {}

    /** Runs the benchmark; see the class documentation for the arguments. */
    public static void main(String[] args) throws IOException {
        int threads = 2;
        double seconds = 2;
        int rounds = 3;
        int batch = 0;
        List<String> models = List.of("afhq", "small");
        Path out = null;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(value);
                case "--seconds" -> seconds = Double.parseDouble(value);
                case "--rounds" -> rounds = Integer.parseInt(value);
                case "--batch" -> batch = Integer.parseInt(value);
                case "--models" -> models = List.of(value.split(","));
                case "--out" -> out = Path.of(value);
                default ->
                    throw new IllegalArgumentException("unknown argument " + args[i] + "; expected --threads N,"
                            + " --seconds S, --rounds R, --models afhq,small, --batch N, --out FILE");
            }
            i++;
        }
        torch.set_num_threads(threads);
        torch.manual_seed(42);
        List<String> rows = new ArrayList<>();
        for (String name : models) {
            Size size = SIZES.stream()
                    .filter(s -> s.name().equals(name))
                    .findFirst()
                    .orElseThrow(
                            () -> new IllegalArgumentException("unknown size " + name + "; expected afhq or small"));
            int n = batch > 0 ? batch : size.batch();
            Mapping f = new Mapping(size);
            Generator g = new Generator(size);
            Tensor z = torch.randn(n, size.latentDim());
            Tensor y = torch.arange(new Scalar(n)).remainder(new Scalar(size.domains()));
            Tensor x = torch.rand(n, 3, size.imageSize(), size.imageSize())
                    .mul_(new Scalar(2f))
                    .sub_(ONE);
            System.out.printf(
                    Locale.ROOT,
                    "StarGAN v2 %s: F %d parameters, G %d parameters, batch %d%n",
                    name,
                    f.parameterCount(),
                    g.parameterCount(),
                    n);
            Runnable call = () -> {
                try (PointerScope scope = new PointerScope();
                        NoGradGuard noGrad = new NoGradGuard()) {
                    g.forward(x, f.forward(z, y));
                }
            };
            double[] medians = timed(call, seconds, rounds);
            double best = Arrays.stream(medians).min().orElseThrow();
            String spread = Arrays.stream(medians)
                    .mapToObj(v -> String.format(Locale.ROOT, "%.3f", v))
                    .collect(Collectors.joining(" "));
            System.out.printf(Locale.ROOT, "StarGAN v2 %6s latentGuided %9.3f ms  (rounds: %s)%n", name, best, spread);
            rows.add(String.format(
                    Locale.ROOT,
                    "{\"model\": \"StarGAN v2 %s\", \"mode\": \"latentGuided\", \"batch\": %d, \"ms\": %.4f,"
                            + " \"roundMedians\": [%s]}",
                    name,
                    n,
                    best,
                    spread.replace(" ", ", ")));
        }
        if (out != null) {
            String meta = String.format(
                    Locale.ROOT,
                    "{\"torch\": \"libtorch %s (org.bytedeco:pytorch)\", \"threads\": %d}",
                    torch.TORCH_VERSION,
                    torch.get_num_threads());
            Files.writeString(
                    out, "{\"meta\": " + meta + ",\n \"results\": [\n  " + String.join(",\n  ", rows) + "]}\n");
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    /** Median milliseconds per call in each round, after a warm-up of two calls per round (calls take seconds). */
    static double[] timed(Runnable call, double minSeconds, int rounds) {
        double[] medians = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < 2; i++) {
                call.run();
            }
            List<Double> times = new ArrayList<>();
            long start = System.nanoTime();
            while (times.size() < 3 || System.nanoTime() - start < minSeconds * 1e9) {
                long t0 = System.nanoTime();
                call.run();
                times.add((System.nanoTime() - t0) / 1e6);
            }
            times.sort(null);
            int k = times.size();
            medians[r] = k % 2 == 1 ? times.get(k / 2) : (times.get(k / 2 - 1) + times.get(k / 2)) / 2;
        }
        return medians;
    }

    /** A Linear layer, {@code y = x W^T + b}. */
    record Linear(Tensor weight, Tensor bias) {
        Tensor apply(Tensor x) {
            return torch.linear(x, weight, new TensorOptional(bias));
        }
    }

    /** A 2d convolution, stride 1, padding {@code (k - 1) / 2}, with or without bias. */
    record Conv(Tensor weight, Tensor bias, long padding) {
        Tensor apply(Tensor x) {
            return torch.conv2d(
                    x,
                    weight,
                    bias == null ? new TensorOptional() : new TensorOptional(bias),
                    new long[] {1, 1},
                    new long[] {padding, padding},
                    new long[] {1, 1},
                    1);
        }
    }

    /** {@code nn.InstanceNorm2d(C, affine=True)}: instance statistics, no running statistics. */
    record Norm(Tensor weight, Tensor bias) {
        Tensor apply(Tensor x) {
            return instanceNorm(x, new TensorOptional(weight), new TensorOptional(bias));
        }
    }

    static Tensor instanceNorm(Tensor x, TensorOptional weight, TensorOptional bias) {
        return torch.instance_norm(x, weight, bias, new TensorOptional(), new TensorOptional(), true, 0.1, 1e-5, false);
    }

    /** Parameters with PyTorch's default initialization bound, {@code U(-1/sqrt(fan_in), 1/sqrt(fan_in))}. */
    static class Weights {
        private long count;

        Tensor uniform(double bound, long... shape) {
            Tensor t = torch.rand(shape).mul_(new Scalar(2f)).sub_(ONE).mul_(new Scalar((float) bound));
            count += t.numel();
            return t;
        }

        Linear linear(long in, long out) {
            double bound = 1 / Math.sqrt(in);
            return new Linear(uniform(bound, out, in), uniform(bound, out));
        }

        Conv conv(long in, long out, long kernel, boolean bias) {
            double bound = 1 / Math.sqrt(in * kernel * kernel);
            return new Conv(
                    uniform(bound, out, in, kernel, kernel), bias ? uniform(bound, out) : null, (kernel - 1) / 2);
        }

        Norm norm(long channels) {
            count += 2 * channels;
            return new Norm(torch.ones(channels), torch.zeros(channels));
        }

        long parameterCount() {
            return count;
        }
    }

    /** {@code MappingNetwork}: shared trunk, one head per domain, each sample's own domain's head. */
    static final class Mapping extends Weights {
        private final List<Linear> shared = new ArrayList<>();
        private final List<List<Linear>> heads = new ArrayList<>();
        private final int styleDim;

        Mapping(Size size) {
            styleDim = size.styleDim();
            shared.add(linear(size.latentDim(), size.hidden()));
            for (int i = 0; i < 3; i++) {
                shared.add(linear(size.hidden(), size.hidden()));
            }
            for (int k = 0; k < size.domains(); k++) {
                List<Linear> head = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    head.add(linear(size.hidden(), size.hidden()));
                }
                head.add(linear(size.hidden(), size.styleDim()));
                heads.add(head);
            }
        }

        /** @return {@code [N, style]}: {@code heads(h)[n, y[n]]} */
        Tensor forward(Tensor z, Tensor y) {
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
            Tensor stacked = torch.stack(outs, 1); // [N, K, S]
            long n = z.size(0);
            Tensor index = y.view(n, 1, 1).repeat(1, 1, styleDim);
            return torch.gather(stacked, 1, index).view(n, styleDim);
        }
    }

    /** {@code ResBlk(cin, cout, normalize=True, downsample)}. */
    record DownBlock(Norm norm1, Conv conv1, Norm norm2, Conv conv2, Conv conv1x1, boolean down) {
        Tensor apply(Tensor x) {
            Tensor skip = conv1x1 == null ? x : conv1x1.apply(x);
            Tensor h = conv1.apply(torch.leaky_relu(norm1.apply(x), SLOPE));
            if (down) {
                skip = torch.avg_pool2d(skip, 2, 2);
                h = torch.avg_pool2d(h, 2, 2);
            }
            h = conv2.apply(torch.leaky_relu(norm2.apply(h), SLOPE));
            return skip.add(h).div(SQRT2);
        }
    }

    /** {@code AdainResBlk(cin, cout, style_dim, w_hpf=0, upsample)}. */
    record UpBlock(Linear fc1, Conv conv1, Linear fc2, Conv conv2, Conv conv1x1, boolean up) {
        Tensor apply(Tensor x, Tensor s) {
            Tensor h = torch.leaky_relu(adain(x, s, fc1), SLOPE);
            if (up) {
                h = upsample(h);
            }
            h = conv2.apply(torch.leaky_relu(adain(conv1.apply(h), s, fc2), SLOPE));
            Tensor skip = up ? upsample(x) : x;
            if (conv1x1 != null) {
                skip = conv1x1.apply(skip);
            }
            return skip.add(h).div(SQRT2);
        }

        /** {@code (1 + gamma) * IN(x) + beta}, {@code [gamma, beta] = fc(s)}. */
        private static Tensor adain(Tensor x, Tensor s, Linear fc) {
            Tensor h = fc.apply(s).view(s.size(0), -1, 1, 1);
            TensorVector gammaBeta = h.chunk(2, 1);
            Tensor normalized = instanceNorm(x, new TensorOptional(), new TensorOptional());
            return gammaBeta.get(0).add(ONE).mul(normalized).add(gammaBeta.get(1));
        }

        private static Tensor upsample(Tensor x) {
            return torch.upsample_nearest2d(x, 2 * x.size(2), 2 * x.size(3));
        }
    }

    /** {@code Generator(img_size, style_dim, max_conv_dim, w_hpf=0)}. */
    static final class Generator extends Weights {
        private final Conv fromRgb;
        private final List<DownBlock> encode = new ArrayList<>();
        private final List<UpBlock> decode = new ArrayList<>();
        private final Norm toRgbNorm;
        private final Conv toRgb;

        Generator(Size size) {
            int downs = Integer.numberOfTrailingZeros(size.imageSize()) - 4;
            long width = size.dimIn();
            fromRgb = conv(3, width, 3, true);
            for (int i = 0; i < downs + 2; i++) {
                boolean down = i < downs;
                long wider = down ? Math.min(width * 2, size.maxConvDim()) : width;
                encode.add(new DownBlock(
                        norm(width),
                        conv(width, width, 3, true),
                        norm(width),
                        conv(width, wider, 3, true),
                        width != wider ? conv(width, wider, 1, false) : null,
                        down));
                // The decoder mirrors the encoder: insert at the front.
                decode.add(
                        0,
                        new UpBlock(
                                linear(size.styleDim(), 2 * wider),
                                conv(wider, width, 3, true),
                                linear(size.styleDim(), 2 * width),
                                conv(width, width, 3, true),
                                width != wider ? conv(wider, width, 1, false) : null,
                                down));
                width = wider;
            }
            toRgbNorm = norm(size.dimIn());
            toRgb = conv(size.dimIn(), 3, 1, true);
        }

        Tensor forward(Tensor x, Tensor s) {
            Tensor h = fromRgb.apply(x);
            for (DownBlock b : encode) {
                h = b.apply(h);
            }
            for (UpBlock b : decode) {
                h = b.apply(h, s);
            }
            return toRgb.apply(torch.leaky_relu(toRgbNorm.apply(h), SLOPE));
        }
    }
}
