package io.github.instancenorm.train;

import io.github.instancenorm.speedups.NativeMemoryRecycler;
import io.github.instancenorm.speedups.conv.FastConvolutions;
import io.github.instancenorm.speedups.layers.FastLayers;
import io.github.instancenorm.torch.OptimizerState;
import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.torch.TorchWeights;
import io.github.instancenorm.zoo.StarGanV2;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.function.DoubleSupplier;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * StarGAN v2's training procedure (Choi et al., CVPR 2020; the solver of clovaai/stargan-v2 at 875b70a, written here
 * from its description) on the zoo's DL4J graphs, with PyTorch's optimizers, so that a run can move between PyTorch
 * and the JVM in both directions: {@link #resume} reads the official checkpoint files, {@link #save} writes them.
 *
 * <p>One iteration ({@link #step}) on the inputs {@code x_real, y_org, x_ref, x_ref2, y_trg, z_trg, z_trg2}, each
 * loss as {@link StarGanV2Losses} defines it:
 * <ol>
 *   <li>a discriminator step with latent styles {@code F(z_trg, y_trg)}, then one with reference styles
 *       {@code E(x_ref, y_trg)}: each an Adam step of {@code D};</li>
 *   <li>a generator step with latent styles ({@code z_trg, z_trg2}): Adam steps of {@code G}, {@code F} and
 *       {@code E};</li>
 *   <li>a generator step with reference styles ({@code x_ref, x_ref2}): an Adam step of {@code G} alone ({@code E}'s
 *       gradient is discarded);</li>
 *   <li>the moving averages {@code ema = p + β (ema - p)} ({@code torch.lerp(p, ema, β)}, β = 0.999) of
 *       {@code G}, {@code F} and {@code E}'s parameters;</li>
 *   <li>{@code λ_ds} decays linearly: {@code λ_ds -= λ_ds_initial / ds_iter} while it is above 0.</li>
 * </ol>
 * Each optimizer is {@code torch.optim.Adam(lr, betas=(0, 0.99), eps=1e-8, weight_decay=1e-4)}, lr 1e-4 for
 * {@code G}, {@code E} and {@code D} and 1e-6 for {@code F} ({@link Options#OFFICIAL}), as {@link TorchAdamOptimizer}s:
 * PyTorch's ε placement and its coupled weight decay on every parameter. R1's passes run in double by default
 * ({@link StarGanV2Losses#r1PassesIn}).
 *
 * <p>Quirks of the official procedure that this port keeps:
 * <ul>
 *   <li>The domain heads a batch does not select still take Adam steps, driven by weight decay alone (their
 *       gradient is zero, not absent).</li>
 *   <li>A resumed run restarts {@code λ_ds} from its configured value, whatever the iteration.</li>
 *   <li>PyTorch counts Adam's {@code step} per parameter; so does {@link TorchAdamOptimizer}. {@code G} and
 *       {@code D} take two steps per iteration, {@code F} and {@code E} one.</li>
 *   <li>A fresh run ({@link #initialize}) He-initializes the trained networks and starts the averages from PyTorch's
 *       default initialization of the same modules, not from the trained networks' weights.</li>
 * </ul>
 * Not supported: {@code w_hpf > 0} (its cycle pass takes the masks of the face-landmark network FAN on the fake
 * images, which is not ported).
 *
 * <p>The networks are trained in place; {@link #networks()} and {@link #ema()} return them (a network without
 * StarGAN v2's input-gradient taps is replaced by a copy with them, {@link StarGanV2#withInputGradients}). Not
 * thread-safe.
 */
public final class StarGanV2Trainer {

    /**
     * The training configuration.
     *
     * @param weights     the loss weights; {@code ds} is {@code λ_ds}'s initial value
     * @param dsIter      the iterations over which {@code λ_ds} decays to 0 ({@code ds_iter}, official 100,000)
     * @param lr          the learning rate of {@code G}, {@code E} and {@code D} ({@code lr}, official 1e-4)
     * @param fLr         the mapping network's ({@code f_lr}, official 1e-6)
     * @param beta1       Adam's {@code betas[0]} (official 0)
     * @param beta2       Adam's {@code betas[1]} (official 0.99)
     * @param eps         Adam's {@code eps} (PyTorch's default 1e-8)
     * @param weightDecay Adam's coupled {@code weight_decay} (official 1e-4)
     * @param emaBeta     the moving average's {@code β} (official 0.999)
     */
    public record Options(
            StarGanV2Losses.Weights weights,
            int dsIter,
            double lr,
            double fLr,
            double beta1,
            double beta2,
            double eps,
            double weightDecay,
            double emaBeta) {

        /** StarGAN v2's defaults for AFHQ: {@code λ_reg 1, λ_sty 1, λ_ds 2, λ_cyc 1}, ds_iter 100,000, the rest above. */
        public static final Options OFFICIAL =
                new Options(StarGanV2Losses.Weights.OFFICIAL, 100_000, 1e-4, 1e-6, 0.0, 0.99, 1e-8, 1e-4, 0.999);

        /** Checks the values. */
        public Options {
            Objects.requireNonNull(weights, "weights");
            if (dsIter < 1) {
                throw new IllegalArgumentException("dsIter must be >= 1, got " + dsIter);
            }
            if (!(emaBeta >= 0 && emaBeta <= 1)) {
                throw new IllegalArgumentException("emaBeta must be in [0, 1], got " + emaBeta);
            }
            if (!(lr >= 0) || !(fLr >= 0) || !(weightDecay >= 0)) {
                throw new IllegalArgumentException(
                        "lr, fLr and weightDecay must be >= 0, got " + lr + ", " + fLr + ", " + weightDecay);
            }
        }

        /** @return these options with other loss weights */
        public Options withWeights(StarGanV2Losses.Weights weights) {
            return new Options(weights, dsIter, lr, fLr, beta1, beta2, eps, weightDecay, emaBeta);
        }

        /** @return these options with another {@code ds_iter} */
        public Options withDsIter(int dsIter) {
            return new Options(weights, dsIter, lr, fLr, beta1, beta2, eps, weightDecay, emaBeta);
        }

        /** @return these options with another moving-average {@code β} */
        public Options withEmaBeta(double emaBeta) {
            return new Options(weights, dsIter, lr, fLr, beta1, beta2, eps, weightDecay, emaBeta);
        }

        /** @return these options with other learning rates ({@code G}, {@code E}, {@code D}; and {@code F}) */
        public Options withLearningRates(double lr, double fLr) {
            return new Options(weights, dsIter, lr, fLr, beta1, beta2, eps, weightDecay, emaBeta);
        }
    }

    /**
     * The inputs of one iteration, as the official input fetcher draws them.
     *
     * @param xReal the source images {@code [N, 3, H, W]} in {@code [-1, 1]}
     * @param yOrg  their domains, one-hot {@code [N, K]}
     * @param xRef  reference images {@code [N, 3, H, W]}
     * @param xRef2 second references, each of its row's reference domain
     * @param yTrg  the references' domains, the targets, one-hot {@code [N, K]}
     * @param zTrg  latent codes {@code [N, latent_dim]}, standard normal
     * @param zTrg2 second latent codes
     */
    public record Batch(
            INDArray xReal,
            INDArray yOrg,
            INDArray xRef,
            INDArray xRef2,
            INDArray yTrg,
            INDArray zTrg,
            INDArray zTrg2) {
        /** Checks that nothing is missing; shapes are checked by the losses. */
        public Batch {
            for (INDArray a : new INDArray[] {xReal, yOrg, xRef, xRef2, yTrg, zTrg, zTrg2}) {
                Objects.requireNonNull(a, "every input of a batch is required");
            }
        }

        /** @return this batch in another data type (labels and images alike) */
        public Batch castTo(DataType type) {
            return new Batch(
                    xReal.castTo(type),
                    yOrg.castTo(type),
                    xRef.castTo(type),
                    xRef2.castTo(type),
                    yTrg.castTo(type),
                    zTrg.castTo(type),
                    zTrg2.castTo(type));
        }
    }

    /**
     * The loss terms of one iteration's four steps.
     *
     * @param dLatent    the discriminator step with latent styles (its gradient is not kept)
     * @param dReference the discriminator step with reference styles
     * @param gLatent    the generator step with latent styles
     * @param gReference the generator step with reference styles
     * @param lambdaDs   the {@code λ_ds} the generator steps used
     */
    public record Losses(Terms dLatent, Terms dReference, Terms gLatent, Terms gReference, double lambdaDs) {
        /** @return the totals, G's latent-guided terms and {@code λ_ds}, on one line for a log */
        public String summary() {
            return String.format(
                    "D latent %.4f reference %.4f | G latent %.4f reference %.4f (adv %.4f sty %.4f ds %.4f cyc %.4f)"
                            + " | λ_ds %.4f",
                    dLatent.get("total"),
                    dReference.get("total"),
                    gLatent.get("total"),
                    gReference.get("total"),
                    gLatent.get("adv"),
                    gLatent.get("sty"),
                    gLatent.get("ds"),
                    gLatent.get("cyc"),
                    lambdaDs);
        }

        /** @return every term by name, {@code "D/latent/real"}, ..., {@code "G/reference/total"}, as in the log */
        public Map<String, Double> byName() {
            Map<String, Double> out = new LinkedHashMap<>();
            dLatent.into("D/latent/", out);
            dReference.into("D/reference/", out);
            gLatent.into("G/latent/", out);
            gReference.into("G/reference/", out);
            out.put("G/lambda_ds", lambdaDs);
            return out;
        }
    }

    /**
     * The terms of one loss by name: {@code real, fake, reg, total} for the discriminator and
     * {@code adv, sty, ds, cyc, id, total} for the generator ({@code id} is 0 unless its weight is set).
     *
     * @param values the terms, in that order
     */
    public record Terms(Map<String, Double> values) {
        /** Copies the map. */
        public Terms {
            values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
        }

        /** @return the term, or NaN if this loss has none of that name */
        public double get(String name) {
            return values.getOrDefault(name, Double.NaN);
        }

        void into(String prefix, Map<String, Double> out) {
            values.forEach((k, v) -> out.put(prefix + k, v));
        }

        static Terms of(StarGanV2Losses.DiscriminatorLoss l) {
            Map<String, Double> m = new LinkedHashMap<>();
            m.put("real", l.real());
            m.put("fake", l.fake());
            m.put("reg", l.reg());
            m.put("total", l.total());
            return new Terms(m);
        }

        static Terms of(StarGanV2Losses.GeneratorLoss l) {
            Map<String, Double> m = new LinkedHashMap<>();
            m.put("adv", l.adv());
            m.put("sty", l.sty());
            m.put("ds", l.ds());
            m.put("cyc", l.cyc());
            m.put("id", l.id());
            m.put("total", l.total());
            return new Terms(m);
        }
    }

    /**
     * Four networks, {@code G, F, E, D}; an exponential-moving-average set has no discriminator.
     *
     * @param generator      {@code G}
     * @param mappingNetwork {@code F}
     * @param styleEncoder   {@code E}
     * @param discriminator  {@code D}, or null in an average set
     */
    public record Networks(
            ComputationGraph generator,
            ComputationGraph mappingNetwork,
            ComputationGraph styleEncoder,
            ComputationGraph discriminator) {}

    /** The names of the networks in the official checkpoint files, in the solver's order. */
    static final List<String> NAMES = List.of("generator", "mapping_network", "style_encoder", "discriminator");

    private final Networks nets;
    private final Networks ema;
    private final Options options;
    private final StarGanV2Losses losses;
    private final Map<String, TorchAdamOptimizer> optims = new LinkedHashMap<>();
    private int iteration;
    private double lambdaDs;
    private int collectEvery = 10;
    private NativeMemoryRecycler recycler = new NativeMemoryRecycler(NativeMemoryRecycler.DEFAULT_GROWTH_BYTES);

    /**
     * A trainer of the given networks, with fresh optimizers (as at the start of a run; {@link #resume} loads a
     * run's state).
     *
     * @param nets      the networks to train, {@code w_hpf = 0}, one data type
     * @param ema       their moving averages ({@code G}, {@code F}, {@code E}; the discriminator is ignored), shaped
     *                  like {@code nets}
     * @param options   the configuration
     * @param iteration the iterations already done (the number in the checkpoint files' names)
     * @throws IllegalArgumentException if a network is missing, the generator has {@code w_hpf > 0}, or an average
     *                                  does not have its network's shape
     */
    public StarGanV2Trainer(Networks nets, Networks ema, Options options, int iteration) {
        Objects.requireNonNull(nets, "nets");
        Objects.requireNonNull(ema, "ema");
        this.options = Objects.requireNonNull(options, "options");
        if (iteration < 0) {
            throw new IllegalArgumentException("iteration must be >= 0, got " + iteration);
        }
        ComputationGraph[] trained = {nets.generator(), nets.mappingNetwork(), nets.styleEncoder(), nets.discriminator()
        };
        ComputationGraph[] averaged = {ema.generator(), ema.mappingNetwork(), ema.styleEncoder()};
        for (int i = 0; i < 4; i++) {
            Objects.requireNonNull(trained[i], NAMES.get(i));
            if (i < 3) {
                Objects.requireNonNull(averaged[i], NAMES.get(i) + " (moving average)");
                if (trained[i].params().length() != averaged[i].params().length()
                        || !StateDict.of(trained[i])
                                .keys()
                                .equals(StateDict.of(averaged[i]).keys())) {
                    throw new IllegalArgumentException(
                            "the moving average of the " + NAMES.get(i) + " is not shaped like the network");
                }
            }
        }
        if (nets.generator().getConfiguration().getNetworkInputs().size() != 2) {
            throw new IllegalArgumentException("the generator has w_hpf > 0 (it takes masks): training it needs the"
                    + " face-landmark network FAN, which is not ported; use a generator with wHpf(0)");
        }
        ComputationGraph g = tapped(nets.generator());
        ComputationGraph e = tapped(nets.styleEncoder());
        ComputationGraph d = tapped(nets.discriminator());
        ComputationGraph f = nets.mappingNetwork();
        for (ComputationGraph net : new ComputationGraph[] {g, f, e, d, ema.generator(), ema.styleEncoder()}) {
            FastConvolutions.install(net);
            FastLayers.install(net);
        }
        this.nets = new Networks(g, f, e, d);
        this.ema = new Networks(ema.generator(), ema.mappingNetwork(), ema.styleEncoder(), null);
        this.losses = new StarGanV2Losses(g, f, e, d);
        for (int i = 0; i < 4; i++) {
            ComputationGraph net = new ComputationGraph[] {g, f, e, d}[i];
            double lr = i == 1 ? options.fLr() : options.lr();
            optims.put(
                    NAMES.get(i),
                    new TorchAdamOptimizer(
                            net, lr, options.beta1(), options.beta2(), options.eps(), options.weightDecay()));
        }
        this.iteration = iteration;
        this.lambdaDs = options.weights().ds();
    }

    private static ComputationGraph tapped(ComputationGraph net) {
        return net.getConfiguration().getVertices().containsKey(StarGanV2.IMAGE_GRADIENT)
                ? net
                : StarGanV2.withInputGradients(net);
    }

    /**
     * Resumes a run from its official checkpoint files ({@code --resume_iter}): {@code {step:06d}_nets.ckpt},
     * {@code _nets_ema.ckpt} and {@code _optims.ckpt} in {@code directory}, as PyTorch or {@link #save} wrote them.
     * Adam's moments and per-parameter steps are taken over; the hyper-parameters are {@code options}' (a resumed
     * PyTorch run takes them from its arguments too), and {@code λ_ds} restarts at {@code options}' value.
     *
     * @param directory the checkpoint directory
     * @param step      the iteration the files are named by
     * @param options   the configuration
     * @return the trainer, at iteration {@code step}
     * @throws IOException if a file is missing or unreadable, lacks a network or an optimizer, or holds a state of
     *                     another configuration; nothing is half-loaded
     */
    public static StarGanV2Trainer resume(Path directory, int step, Options options) throws IOException {
        return resume(directory, step, options, DataType.FLOAT);
    }

    /**
     * {@link #resume(Path, int, Options)} with the networks and optimizer states converted to {@code type} (PyTorch's
     * {@code module.to(dtype)} before {@code optimizer.load_state_dict}, which casts the moments to the parameters'
     * type): DOUBLE to check a run without float rounding.
     *
     * @param directory the checkpoint directory
     * @param step      the iteration the files are named by
     * @param options   the configuration
     * @param type      FLOAT (as trained) or DOUBLE
     * @return the trainer, at iteration {@code step}
     * @throws IOException as {@link #resume(Path, int, Options)}
     */
    public static StarGanV2Trainer resume(Path directory, int step, Options options, DataType type) throws IOException {
        Path netsFile = file(directory, step, "nets");
        Path emaFile = file(directory, step, "nets_ema");
        Path optimsFile = file(directory, step, "optims");
        StarGanV2.Nets n = StarGanV2.load(netsFile);
        StarGanV2.Nets a = StarGanV2.load(emaFile);
        ComputationGraph[] got = {n.generator(), n.mappingNetwork(), n.styleEncoder(), n.discriminator()};
        for (int i = 0; i < 4; i++) {
            if (got[i] == null) {
                throw new IOException(netsFile + " has no \"" + NAMES.get(i) + "\" entry: not a nets.ckpt of"
                        + " StarGAN v2 (nets_ema.ckpt has no discriminator)");
            }
        }
        // StarGanV2.load sized the averaged generator from the averaged style encoder, so a null one is a missing
        // entry.
        if (a.generator() == null || a.mappingNetwork() == null || a.styleEncoder() == null) {
            throw new IOException(emaFile + " lacks the generator, the mapping network or the style encoder");
        }
        ComputationGraph emaG = a.generator();
        Map<String, OptimizerState> states = OptimizerState.readAll(optimsFile);
        for (String name : NAMES) {
            if (!states.containsKey(name)) {
                throw new IOException(optimsFile + " has no \"" + name + "\" optimizer; it holds " + states.keySet());
            }
        }
        StarGanV2Trainer trainer;
        try {
            trainer = new StarGanV2Trainer(
                    new Networks(as(got[0], type), as(got[1], type), as(got[2], type), as(got[3], type)),
                    new Networks(as(emaG, type), as(a.mappingNetwork(), type), as(a.styleEncoder(), type), null),
                    options,
                    step);
            trainer.loadOptimizers(states);
        } catch (IllegalArgumentException e) {
            throw new IOException("Cannot resume from " + directory + " at step " + step + ": " + e.getMessage(), e);
        }
        return trainer;
    }

    private static ComputationGraph as(ComputationGraph net, DataType type) {
        return net.params().dataType() == type ? net : net.convertDataType(type);
    }

    private void loadOptimizers(Map<String, OptimizerState> states) {
        // All-or-nothing: each optimizer checks before writing, and a trainer that failed here is discarded.
        for (String name : NAMES) {
            try {
                optims.get(name).load(states.get(name), StarGanV2.parameterNames(network(name)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("optimizer \"" + name + "\": " + e.getMessage(), e);
            }
        }
    }

    private static Path file(Path directory, int step, String what) throws IOException {
        Path p = directory.resolve(String.format("%06d_%s.ckpt", step, what));
        if (!Files.isRegularFile(p)) {
            throw new IOException("No checkpoint " + p + ": StarGAN v2 resumes from {step:06d}_nets.ckpt,"
                    + " _nets_ema.ckpt and _optims.ckpt in one directory");
        }
        return p;
    }

    /**
     * Writes the run's state in the official layout: {@code {iteration:06d}_nets.ckpt} (the four networks),
     * {@code _nets_ema.ckpt} (the three averages) and {@code _optims.ckpt} (the four Adam states, parameters in
     * PyTorch's order), each a dict of state dicts in PyTorch's zip format, which the official solver and
     * {@link #resume} read.
     *
     * @param directory the directory, created if missing
     * @return the {@code nets.ckpt} written
     * @throws IOException if writing fails
     */
    public Path save(Path directory) throws IOException {
        Files.createDirectories(directory);
        Path netsFile = directory.resolve(String.format("%06d_nets.ckpt", iteration));
        StarGanV2.save(
                netsFile,
                new StarGanV2.Nets(
                        nets.generator(),
                        nets.mappingNetwork(),
                        nets.styleEncoder(),
                        nets.discriminator(),
                        0,
                        0,
                        List.of()));
        StarGanV2.save(
                directory.resolve(String.format("%06d_nets_ema.ckpt", iteration)),
                new StarGanV2.Nets(ema.generator(), ema.mappingNetwork(), ema.styleEncoder(), null, 0, 0, List.of()));
        Map<String, OptimizerState> states = new LinkedHashMap<>();
        for (String name : NAMES) {
            states.put(name, optims.get(name).state(StarGanV2.parameterNames(network(name))));
        }
        OptimizerState.writeAll(states, directory.resolve(String.format("%06d_optims.ckpt", iteration)));
        return netsFile;
    }

    /**
     * One iteration: the two discriminator steps, the two generator steps, the moving averages and {@code λ_ds}'s
     * decay.
     *
     * @param batch the inputs, in the networks' data type
     * @return the loss terms of the four steps
     * @throws IllegalArgumentException if the inputs do not fit the networks (nothing is updated then)
     */
    public Losses step(Batch batch) {
        Objects.requireNonNull(batch, "batch");
        StarGanV2Losses.Weights w = options.weights().withDs(lambdaDs);
        StarGanV2Losses.DiscriminatorLoss dl =
                losses.discriminatorLatent(batch.xReal(), batch.yOrg(), batch.yTrg(), batch.zTrg(), w);
        optims.get("discriminator").step(dl.discriminatorGradient());
        StarGanV2Losses.DiscriminatorLoss dr =
                losses.discriminatorReference(batch.xReal(), batch.yOrg(), batch.yTrg(), batch.xRef(), w);
        optims.get("discriminator").step(dr.discriminatorGradient());
        StarGanV2Losses.GeneratorLoss gl =
                losses.generatorLatent(batch.xReal(), batch.yOrg(), batch.yTrg(), batch.zTrg(), batch.zTrg2(), w);
        optims.get("generator").step(gl.generatorGradient());
        optims.get("mapping_network").step(gl.mappingGradient());
        optims.get("style_encoder").step(gl.styleEncoderGradient());
        StarGanV2Losses.GeneratorLoss gr =
                losses.generatorReference(batch.xReal(), batch.yOrg(), batch.yTrg(), batch.xRef(), batch.xRef2(), w);
        optims.get("generator").step(gr.generatorGradient());
        average(nets.generator(), ema.generator());
        average(nets.mappingNetwork(), ema.mappingNetwork());
        average(nets.styleEncoder(), ema.styleEncoder());
        Losses out = new Losses(Terms.of(dl), Terms.of(dr), Terms.of(gl), Terms.of(gr), lambdaDs);
        if (lambdaDs > 0) {
            lambdaDs -= options.weights().ds() / options.dsIter();
        }
        iteration++;
        recycler.afterStep();
        return out;
    }

    /**
     * When {@link #step} asks the JVM to collect garbage: after a step that grew the process's resident memory by
     * more than {@code bytes} since the last collection ({@link NativeMemoryRecycler}: ND4J frees the native memory
     * of the passes' arrays only then, and new arrays on fresh pages cost page faults). {@link #collectGarbageEvery}
     * collects on a fixed count besides.
     *
     * @param bytes the growth that triggers a collection (default {@link NativeMemoryRecycler#DEFAULT_GROWTH_BYTES}; 0:
     *              never)
     * @return this
     * @throws IllegalArgumentException if negative (nothing is changed)
     */
    public StarGanV2Trainer recycleNativeMemoryAfter(long bytes) {
        this.recycler = new NativeMemoryRecycler(bytes);
        return this;
    }

    /** Called after each iteration of {@link #train}, e.g. to record losses or write sample grids. */
    @FunctionalInterface
    public interface Listener {
        /**
         * @param trainer  the trainer, after the iteration ({@link #iteration()} counts it)
         * @param losses   the iteration's loss terms
         * @param progress where the run stands
         * @throws IOException if the listener's writing fails; training stops
         */
        void afterIteration(StarGanV2Trainer trainer, Losses losses, Progress progress) throws IOException;
    }

    /**
     * Trains for {@code iterations} more iterations on two DL4J streams, as the official solver's input fetcher feeds
     * it: each iteration takes the next batch of each (an exhausted iterator is reset, an epoch each) and draws
     * {@code z_trg} and {@code z_trg2} from a standard normal. Logs the losses, the speed and the time left every
     * {@code logEvery} iterations (SLF4J, INFO), and writes the official checkpoint files into
     * {@code checkpoints} every {@code saveEvery} iterations and after the last.
     *
     * @param source      batches of {@code features[0]} = images {@code [N, 3, H, W]} in {@code [-1, 1]} and
     *                    {@code labels[0]} = their domains, one-hot {@code [N, K]}
     * @param reference   batches of {@code features[0]} = {@code x_ref}, {@code features[1]} = {@code x_ref2} (two
     *                    images of each row's domain) and {@code labels[0]} = that domain, one-hot; the same
     *                    {@code N}
     * @param iterations  how many iterations to run
     * @param seed        the latent codes' seed
     * @param logEvery    iterations between log lines (0: none)
     * @param saveEvery   iterations between checkpoints (0: only after the last)
     * @param checkpoints the checkpoint directory, or null for none
     * @param listener    called after every iteration, or null
     * @throws IOException              if writing a checkpoint or the listener fails
     * @throws IllegalArgumentException if a stream's batches do not have the layout above, or the two streams
     *                                  differ in batch size
     */
    public void train(
            MultiDataSetIterator source,
            MultiDataSetIterator reference,
            int iterations,
            long seed,
            int logEvery,
            int saveEvery,
            Path checkpoints,
            Listener listener)
            throws IOException {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(reference, "reference");
        long latentDim =
                nets.mappingNetwork().getLayer("shared.0").getParam("W").size(0);
        Random rng = new Random(seed);
        DataType type = nets.generator().params().dataType();
        long started = System.nanoTime();
        int first = iteration;
        for (int i = 0; i < iterations; i++) {
            MultiDataSet src = next(source, "source");
            MultiDataSet ref = next(reference, "reference");
            if (src.numFeatureArrays() < 1 || src.numLabelsArrays() < 1) {
                throw new IllegalArgumentException("the source stream must give features[0] = images and"
                        + " labels[0] = one-hot domains; got " + src.numFeatureArrays() + " feature and "
                        + src.numLabelsArrays() + " label arrays");
            }
            if (ref.numFeatureArrays() < 2 || ref.numLabelsArrays() < 1) {
                throw new IllegalArgumentException("the reference stream must give features = {x_ref, x_ref2} and"
                        + " labels[0] = their one-hot domain; got " + ref.numFeatureArrays() + " feature and "
                        + ref.numLabelsArrays() + " label arrays");
            }
            long n = src.getFeatures(0).size(0);
            if (ref.getFeatures(0).size(0) != n) {
                throw new IllegalArgumentException("the source and reference batches differ in size: " + n + " and "
                        + ref.getFeatures(0).size(0));
            }
            Batch batch = new Batch(
                    src.getFeatures(0),
                    src.getLabels(0),
                    ref.getFeatures(0),
                    ref.getFeatures(1),
                    ref.getLabels(0),
                    gaussian(rng, n, latentDim),
                    gaussian(rng, n, latentDim));
            Losses losses = step(batch.castTo(type));
            int done = iteration - first;
            Progress progress = new Progress(iteration, first + iterations, (System.nanoTime() - started) / 1e9 / done);
            if (logEvery > 0 && (done % logEvery == 0 || done == iterations)) {
                LOG.info("{} | {}", progress, losses.summary());
            }
            if (listener != null) {
                listener.afterIteration(this, losses, progress);
            }
            if (collectEvery > 0 && done % collectEvery == 0) {
                Nd4j.getMemoryManager().invokeGc();
            }
            if (checkpoints != null && ((saveEvery > 0 && done % saveEvery == 0) || done == iterations)) {
                save(checkpoints);
            }
        }
    }

    private static INDArray gaussian(Random rng, long rows, long columns) {
        INDArray z = Nd4j.zeros(DataType.DOUBLE, rows, columns);
        fill(z, rng::nextGaussian);
        return z;
    }

    private static MultiDataSet next(MultiDataSetIterator it, String what) {
        if (!it.hasNext()) {
            if (!it.resetSupported()) {
                throw new IllegalArgumentException("the " + what + " iterator is exhausted and cannot be reset");
            }
            it.reset();
            if (!it.hasNext()) {
                throw new IllegalArgumentException("the " + what + " iterator has no batch");
            }
        }
        return it.next();
    }

    private static final Logger LOG = LoggerFactory.getLogger(StarGanV2Trainer.class);

    /**
     * {@code ema = torch.lerp(p, ema, β)}, which PyTorch computes as {@code ema - (ema - p) · (1 - β)} for
     * {@code β ≥ 0.5} (and {@code p + β (ema - p)} below), with {@code β} rounded to the arrays' type first. The two
     * graphs' parameter layouts may differ (taps reorder them), so the average goes parameter by parameter.
     */
    private void average(ComputationGraph net, ComputationGraph avg) {
        DataType type = avg.params().dataType();
        double beta = type == DataType.FLOAT ? (float) options.emaBeta() : options.emaBeta();
        Map<String, INDArray> to = avg.paramTable();
        for (Map.Entry<String, INDArray> e : net.paramTable().entrySet()) {
            INDArray a = to.get(e.getKey());
            INDArray p = e.getValue();
            if (beta >= 0.5) {
                a.subi(a.sub(p).muli(1 - beta));
            } else {
                a.assign(a.sub(p).muli(beta).addi(p));
            }
        }
    }

    private ComputationGraph network(String name) {
        return switch (name) {
            case "generator" -> nets.generator();
            case "mapping_network" -> nets.mappingNetwork();
            case "style_encoder" -> nets.styleEncoder();
            case "discriminator" -> nets.discriminator();
            default -> throw new IllegalArgumentException(name);
        };
    }

    /**
     * @param r1Passes where R1's passes run: DOUBLE (the default), FLOAT, or null for the discriminator's own type
     * @return this
     */
    public StarGanV2Trainer r1PassesIn(DataType r1Passes) {
        losses.r1PassesIn(r1Passes);
        return this;
    }

    /**
     * How often {@link #train} asks the JVM to collect garbage. ND4J frees an array's native memory only when the JVM
     * collects the array's Java object, and its native allocations do not count towards the heap, so the
     * intermediate arrays of hand-driven passes pile up unseen: at the example's size (32 px, batch 8) about 60 MB
     * per iteration, 24 GB within 450 iterations of a JVM with a 6 GB heap, where the kernel's OOM killer ended it.
     * Collecting every 10 iterations kept the same loop at 1.2 GB, and took no measurable time per iteration.
     *
     * @param iterations iterations between collections (default 10; 0: never, leaving it to the JVM)
     * @return this
     */
    public StarGanV2Trainer collectGarbageEvery(int iterations) {
        if (iterations < 0) {
            throw new IllegalArgumentException("iterations must be >= 0, got " + iterations);
        }
        this.collectEvery = iterations;
        return this;
    }

    /** @return the networks being trained ({@code G, F, E, D}) */
    public Networks networks() {
        return nets;
    }

    /** @return the moving averages ({@code G, F, E}; no discriminator), the networks to sample with */
    public Networks ema() {
        return ema;
    }

    /** @return the iterations done, counting those before a resume */
    public int iteration() {
        return iteration;
    }

    /** @return the {@code λ_ds} of the next iteration */
    public double lambdaDs() {
        return lambdaDs;
    }

    /** @return the configuration */
    public Options options() {
        return options;
    }

    /**
     * @param name {@code generator}, {@code mapping_network}, {@code style_encoder} or {@code discriminator}
     * @return that network's optimizer
     */
    public TorchAdamOptimizer optimizer(String name) {
        TorchAdamOptimizer o = optims.get(name);
        if (o == null) {
            throw new IllegalArgumentException("no optimizer \"" + name + "\"; there are " + optims.keySet());
        }
        return o;
    }

    /**
     * The official initialization of a fresh run: the trained networks' convolutions and linear layers
     * He-initialized ({@code kaiming_normal_(mode='fan_in', nonlinearity='relu')}, biases 0), and the averages'
     * PyTorch's defaults for the same layers ({@code U(±1/sqrt(fan_in))} for weights and biases); instance-norm
     * weights and biases stay 1 and 0.
     *
     * @param nets the networks to train, overwritten
     * @param ema  their averages ({@code G, F, E}), overwritten
     * @param seed the random seed
     */
    public static void initialize(Networks nets, Networks ema, long seed) {
        Random random = new Random(seed);
        for (ComputationGraph net : new ComputationGraph[] {
            nets.generator(), nets.mappingNetwork(), nets.styleEncoder(), nets.discriminator()
        }) {
            initialize(net, true, random);
        }
        for (ComputationGraph net :
                new ComputationGraph[] {ema.generator(), ema.mappingNetwork(), ema.styleEncoder()}) {
            initialize(net, false, random);
        }
    }

    private static void initialize(ComputationGraph net, boolean he, Random random) {
        StateDict sd = StateDict.of(net);
        StateDict out = new StateDict();
        for (String key : sd.keys()) {
            INDArray t = sd.get(key);
            if (!key.endsWith(".weight") || t.rank() < 2) {
                continue; // instance-norm weights; biases are set with their weight
            }
            long fanIn = t.length() / t.size(0);
            String bias = key.substring(0, key.length() - ".weight".length()) + ".bias";
            INDArray w = t.dup();
            double bound = 1 / Math.sqrt(fanIn);
            double std = Math.sqrt(2.0 / fanIn);
            fill(w, () -> he ? random.nextGaussian() * std : (2 * random.nextDouble() - 1) * bound);
            out.put(key, w);
            if (sd.contains(bias)) {
                INDArray b = sd.get(bias).dup();
                fill(b, () -> he ? 0 : (2 * random.nextDouble() - 1) * bound);
                out.put(bias, b);
            }
        }
        for (String key : sd.keys()) {
            if (!out.contains(key)) {
                out.put(key, sd.get(key));
            }
        }
        TorchWeights.load(net, out);
    }

    private static void fill(INDArray a, DoubleSupplier values) {
        double[] v = new double[(int) a.length()];
        for (int i = 0; i < v.length; i++) {
            v[i] = values.getAsDouble();
        }
        a.assign(Nd4j.createFromArray(v).castTo(a.dataType()).reshape(a.shape()));
    }
}
