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
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * StarGAN's generator and discriminator (yunjey/stargan's architecture, as {@code StarGan} in the zoo and
 * {@code stargan_model.py} build them) on libtorch 2.7 through JavaCPP, timed as {@code StarGanStepBenchmark}
 * times the zoo's graphs and {@code bench_torch.py --models} times PyTorch 1.13. This is the peer a JVM user would
 * pick: libtorch_cpu with oneDNN and OpenBLAS, the same library as PyTorch 2.7's wheel.
 *
 * <pre>
 *   dl4j-benchmarks/run-stargan-benchmarks.sh --with-libtorch      (or, after mvn -Plibtorch package:)
 *   java -cp target/classes:$(cat target/classpath.txt) io.github.instancenorm.benchmarks.libtorch.LibTorchStarGan \
 *        [--threads 2] [--seconds 2] [--rounds 3] [--models stargan,example] [--modes trainerStep,...] \
 *        [--out file.json]
 * </pre>
 *
 * <p>The networks are written with libtorch's functional ops ({@code conv2d}, {@code conv_transpose2d},
 * {@code instance_norm}, ...), which is what its {@code nn} modules call; every tensor a call creates is freed at
 * its end ({@link PointerScope}). Modes, per size:
 * <ul>
 *   <li>{@code generatorStep}: forward in training mode (instance statistics, running-statistics update), backward of
 *       {@code mean(out)}, one Adam(1e-4, 0.5, 0.999) step;</li>
 *   <li>{@code generatorForwardBackward}: the same without the optimizer;</li>
 *   <li>{@code discriminatorStep}: forward, backward of {@code mean(out_src) + mean(out_cls)}, one Adam step;</li>
 *   <li>{@code discriminatorForwardBackward}: the same without the optimizer;</li>
 *   <li>{@code generatorInference}: running statistics, no autograd ({@code NoGradGuard});</li>
 *   <li>{@code trainerStep}: one iteration of the project's {@code StarGanTrainer.step} (see {@link
 *       Models#trainerStep()}), the discriminator's and the generator's steps alternating as a GAN trainer runs
 *       them.</li>
 * </ul>
 * Each mode runs {@code --rounds} rounds of at least {@code --seconds} seconds after a warm-up and reports the lowest
 * round median, as {@code bench_torch.py} does. The results file has {@code bench_torch.py}'s JSON layout.
 *
 * <p>JavaCPP's libtorch build crashes in a native destructor when the JVM exits, so {@link #main} halts the JVM
 * once the results are written.
 */
public final class LibTorchStarGan {

    /** A network size: {@code stargan} (StarGAN's own) and {@code example} (TrainStarGan's defaults). */
    record Size(
            String name,
            int pixels,
            int convDim,
            int generatorBlocks,
            int discriminatorLayers,
            int labels,
            int batch) {}

    static final List<Size> SIZES =
            List.of(new Size("stargan", 128, 64, 6, 6, 5, 2), new Size("example", 32, 8, 2, 4, 5, 16));

    private LibTorchStarGan() {}

    /** Runs the benchmark; see the class documentation for the arguments. */
    public static void main(String[] args) throws IOException {
        int threads = 2;
        double seconds = 2;
        int rounds = 3;
        List<String> models = List.of("stargan", "example");
        List<String> only = null;
        Path out = null;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(value);
                case "--seconds" -> seconds = Double.parseDouble(value);
                case "--rounds" -> rounds = Integer.parseInt(value);
                case "--models" -> models = List.of(value.split(","));
                case "--modes" -> only = List.of(value.split(","));
                case "--out" -> out = Path.of(value);
                default ->
                    throw new IllegalArgumentException("unknown argument " + args[i]
                            + "; expected --threads N, --seconds S, --rounds R, --models stargan,example, --modes M,..."
                            + " (default: all), --out FILE");
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
                    .orElseThrow(() ->
                            new IllegalArgumentException("unknown size " + name + "; expected stargan or example"));
            Models m = new Models(size);
            System.out.printf(
                    Locale.ROOT,
                    "StarGAN %s: G %d parameters, D %d parameters%n",
                    name,
                    m.generator.parameterCount(),
                    m.discriminator.parameterCount());
            List<Mode> modes = List.of(
                    new Mode("generatorStep", m::generatorStep),
                    new Mode("generatorForwardBackward", m::generatorForwardBackward),
                    new Mode("discriminatorStep", m::discriminatorStep),
                    new Mode("discriminatorForwardBackward", m::discriminatorForwardBackward),
                    new Mode("generatorInference", m::generatorInference),
                    new Mode("trainerStep", m::trainerStep));
            for (Mode mode : modes) {
                if (only != null && !only.contains(mode.name())) {
                    continue;
                }
                double[] medians = timed(mode.call(), seconds, rounds);
                double best = Arrays.stream(medians).min().orElseThrow();
                String spread = Arrays.stream(medians)
                        .mapToObj(v -> String.format(Locale.ROOT, "%.3f", v))
                        .collect(Collectors.joining(" "));
                System.out.printf(
                        Locale.ROOT, "StarGAN %8s %28s %9.3f ms  (rounds: %s)%n", name, mode.name(), best, spread);
                rows.add(String.format(
                        Locale.ROOT,
                        "{\"model\": \"StarGAN %s\", \"mode\": \"%s\", \"ms\": %.4f, \"roundMedians\": [%s]}",
                        name,
                        mode.name(),
                        best,
                        spread.replace(" ", ", ")));
            }
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

    private record Mode(String name, Runnable call) {}

    /** Median milliseconds per call in each round, after a warm-up of three calls per round. */
    static double[] timed(Runnable call, double minSeconds, int rounds) {
        double[] medians = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < 3; i++) {
                call.run();
            }
            List<Double> times = new ArrayList<>();
            long start = System.nanoTime();
            while (times.size() < 5 || System.nanoTime() - start < minSeconds * 1e9) {
                long t0 = System.nanoTime();
                call.run();
                times.add((System.nanoTime() - t0) / 1e6);
            }
            times.sort(null);
            int n = times.size();
            medians[r] = n % 2 == 1 ? times.get(n / 2) : (times.get(n / 2 - 1) + times.get(n / 2)) / 2;
        }
        return medians;
    }

    /** Both networks of one size, their optimizers and a fixed random batch. */
    static final class Models {
        final Size size;
        final Generator generator;
        final Discriminator discriminator;
        final Adam generatorAdam;
        final Adam discriminatorAdam;
        final Tensor image;
        final Tensor label;
        final Tensor target;

        Models(Size size) {
            this.size = size;
            generator = new Generator(size);
            discriminator = new Discriminator(size);
            generatorAdam = adam(generator.parameters);
            discriminatorAdam = adam(discriminator.parameters);
            image = torch.rand(size.batch(), 3, size.pixels(), size.pixels())
                    .mul_(new Scalar(2f))
                    .sub_(new Scalar(1f));
            label = torch.rand(size.batch(), size.labels()).gt(new Scalar(0.5f)).toType(torch.ScalarType.Float);
            target =
                    torch.rand(size.batch(), size.labels()).gt(new Scalar(0.5f)).toType(torch.ScalarType.Float);
        }

        private static Adam adam(TensorVector parameters) {
            AdamOptions options = new AdamOptions(1e-4);
            options.betas().put(0, 0.5).put(1, 0.999);
            return new Adam(parameters, options);
        }

        void generatorStep() {
            try (PointerScope scope = new PointerScope()) {
                generatorAdam.zero_grad();
                generator.forward(image, label, true).mean().backward();
                generatorAdam.step();
            }
        }

        void generatorForwardBackward() {
            try (PointerScope scope = new PointerScope()) {
                generatorAdam.zero_grad();
                generator.forward(image, label, true).mean().backward();
            }
        }

        void discriminatorStep() {
            try (PointerScope scope = new PointerScope()) {
                discriminatorAdam.zero_grad();
                discriminator.loss(image).backward();
                discriminatorAdam.step();
            }
        }

        void discriminatorForwardBackward() {
            try (PointerScope scope = new PointerScope()) {
                discriminatorAdam.zero_grad();
                discriminator.loss(image).backward();
            }
        }

        /**
         * One iteration of {@code StarGanTrainer.step} with the example's loss weights (LSGAN, {@code λ_cls 1},
         * {@code λ_rec 10}, {@code λ_id 10}), as {@code bench_torch.py}'s {@code trainer_step} writes it: the
         * translation once, a discriminator step on the real and the (detached) translated images, then a generator
         * step through the reconstruction, the identity pass and the just-updated discriminator.
         */
        void trainerStep() {
            try (PointerScope scope = new PointerScope()) {
                Tensor fake = generator.forward(image, target, true);
                Tensor[] onReal = discriminator.forward(image);
                Tensor dLoss = squaredDistance(onReal[0], 1).add(classification(onReal[1], label));
                Tensor[] onFake = discriminator.forward(fake.detach());
                dLoss = dLoss.add(squaredDistance(onFake[0], 0));
                discriminatorAdam.zero_grad();
                dLoss.backward();
                discriminatorAdam.step();

                Tensor reconstruction = generator.forward(fake, label, true);
                Tensor same = generator.forward(image, label, true);
                Tensor[] judged = discriminator.forward(fake);
                Tensor gLoss = squaredDistance(judged[0], 1)
                        .add(classification(judged[1], target))
                        .add(torch.l1_loss(reconstruction, image).mul(new Scalar(10f)))
                        .add(torch.l1_loss(same, image).mul(new Scalar(10f)));
                generatorAdam.zero_grad();
                gLoss.backward();
                generatorAdam.step();
            }
        }

        /** {@code mean((scores - target)^2)}. */
        private static Tensor squaredDistance(Tensor scores, float target) {
            return scores.sub(new Scalar(target)).pow(new Scalar(2f)).mean();
        }

        /** StarGAN's classification loss: binary cross-entropy summed over the labels, averaged over the batch. */
        private Tensor classification(Tensor logits, Tensor labels) {
            return torch.binary_cross_entropy_with_logits(logits, labels, new TensorOptional(), new TensorOptional(), 2)
                    .div(new Scalar((float) size.batch()));
        }

        void generatorInference() {
            try (PointerScope scope = new PointerScope();
                    NoGradGuard noGrad = new NoGradGuard()) {
                generator.forward(image, label, false);
            }
        }
    }

    /** Parameters with PyTorch's default initialization bound, {@code U(-1/sqrt(fan_in), 1/sqrt(fan_in))}. */
    static class Network {
        final TensorVector parameters = new TensorVector();

        Tensor parameter(Tensor initial) {
            initial.requires_grad_(true);
            parameters.push_back(initial);
            return initial;
        }

        Tensor uniform(double bound, long... shape) {
            return parameter(
                    torch.rand(shape).mul_(new Scalar(2f)).sub_(new Scalar(1f)).mul_(new Scalar((float) bound)));
        }

        Tensor convWeight(long out, long in, long kernel) {
            return uniform(1 / Math.sqrt(in * kernel * kernel), out, in, kernel, kernel);
        }

        long parameterCount() {
            long n = 0;
            for (long i = 0; i < parameters.size(); i++) {
                n += parameters.get(i).numel();
            }
            return n;
        }
    }

    /** yunjey/stargan's Generator: 7x7 conv, two stride-2 convs, residual blocks, two transposed convs, 7x7 conv. */
    static final class Generator extends Network {
        private final Size size;
        private final List<Tensor> weights = new ArrayList<>();
        private final List<Norm> norms = new ArrayList<>();

        Generator(Size size) {
            this.size = size;
            int dim = size.convDim();
            add(convWeight(dim, 3 + size.labels(), 7), dim);
            for (int i = 0; i < 2; i++, dim *= 2) {
                add(convWeight(dim * 2, dim, 4), dim * 2);
            }
            for (int i = 0; i < 2 * size.generatorBlocks(); i++) {
                add(convWeight(dim, dim, 3), dim);
            }
            for (int i = 0; i < 2; i++, dim /= 2) {
                // ConvTranspose2d's weight is (in, out, k, k), and its default bound uses out * k * k.
                add(uniform(1 / Math.sqrt(dim / 2 * 16), dim, dim / 2, 4, 4), dim / 2);
            }
            weights.add(convWeight(3, dim, 7));
        }

        private void add(Tensor weight, int channels) {
            weights.add(weight);
            norms.add(new Norm(this, channels));
        }

        Tensor forward(Tensor x, Tensor c, boolean training) {
            Tensor labels = c.view(size.batch(), size.labels(), 1, 1).repeat(1, 1, size.pixels(), size.pixels());
            Tensor h = torch.cat(new TensorVector(x, labels), 1);
            int w = 0;
            h = norms.get(w).apply(conv(h, weights.get(w), 1, 3), training).relu();
            for (int i = 0; i < 2; i++) {
                w++;
                h = norms.get(w).apply(conv(h, weights.get(w), 2, 1), training).relu();
            }
            for (int i = 0; i < size.generatorBlocks(); i++) {
                w++;
                Tensor r = norms.get(w)
                        .apply(conv(h, weights.get(w), 1, 1), training)
                        .relu();
                w++;
                h = h.add(norms.get(w).apply(conv(r, weights.get(w), 1, 1), training));
            }
            for (int i = 0; i < 2; i++) {
                w++;
                Tensor up = torch.conv_transpose2d(
                        h,
                        weights.get(w),
                        new TensorOptional(),
                        new long[] {2, 2},
                        new long[] {1, 1},
                        new long[] {0, 0},
                        1,
                        1,
                        1);
                h = norms.get(w).apply(up, training).relu();
            }
            return conv(h, weights.get(w + 1), 1, 3).tanh();
        }
    }

    /** yunjey/stargan's Discriminator: stride-2 4x4 convs with bias and LeakyReLU(0.01), then the two heads. */
    static final class Discriminator extends Network {
        private final Size size;
        private final List<Tensor> weights = new ArrayList<>();
        private final List<Tensor> biases = new ArrayList<>();
        private final Tensor source;
        private final Tensor classes;

        Discriminator(Size size) {
            this.size = size;
            long in = 3;
            long dim = size.convDim();
            for (int i = 0; i < size.discriminatorLayers(); i++, in = dim, dim *= 2) {
                weights.add(convWeight(dim, in, 4));
                biases.add(uniform(1 / Math.sqrt(in * 16), dim));
            }
            source = convWeight(1, in, 3);
            classes = convWeight(size.labels(), in, size.pixels() >> size.discriminatorLayers());
        }

        /** {@code mean(out_src) + mean(out_cls)}. */
        Tensor loss(Tensor x) {
            Tensor[] out = forward(x);
            return out[0].mean().add(out[1].mean());
        }

        /** @return {@code out_src} {@code [N, 1, S/2^L, S/2^L]} and {@code out_cls} {@code [N, labels]} */
        Tensor[] forward(Tensor x) {
            Tensor h = x;
            for (int i = 0; i < weights.size(); i++) {
                Tensor z = torch.conv2d(
                        h,
                        weights.get(i),
                        new TensorOptional(biases.get(i)),
                        new long[] {2, 2},
                        new long[] {1, 1},
                        new long[] {1, 1},
                        1);
                h = torch.leaky_relu(z, new Scalar(0.01f));
            }
            Tensor src = conv(h, source, 1, 1);
            Tensor cls = conv(h, classes, 1, 0).view(size.batch(), size.labels());
            return new Tensor[] {src, cls};
        }
    }

    /** InstanceNorm2d(affine=True, track_running_stats=True): training uses instance statistics, inference the
     * running ones. */
    static final class Norm {
        private final Tensor weight;
        private final Tensor bias;
        private final Tensor runningMean;
        private final Tensor runningVar;

        Norm(Network owner, int channels) {
            weight = owner.parameter(torch.ones(channels));
            bias = owner.parameter(torch.zeros(channels));
            runningMean = torch.zeros(channels);
            runningVar = torch.ones(channels);
        }

        Tensor apply(Tensor x, boolean training) {
            return torch.instance_norm(
                    x,
                    new TensorOptional(weight),
                    new TensorOptional(bias),
                    new TensorOptional(runningMean),
                    new TensorOptional(runningVar),
                    training,
                    0.1,
                    1e-5,
                    false);
        }
    }

    private static Tensor conv(Tensor x, Tensor weight, long stride, long padding) {
        return torch.conv2d(
                x,
                weight,
                new TensorOptional(),
                new long[] {stride, stride},
                new long[] {padding, padding},
                new long[] {1, 1},
                1);
    }
}
