package io.github.instancenorm.benchmarks;

import io.github.instancenorm.torch.StateDict;
import io.github.instancenorm.train.StarGanV2Trainer;
import io.github.instancenorm.zoo.StarGanV2;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * That {@link StarGanV2TrainingBenchmark} and its two peers do the same work: two iterations of
 * {@link StarGanV2Trainer#step} from given networks and inputs, float32, with their loss terms and the sums of every
 * trained and averaged network's parameters written as JSON. {@code bench_stargan_v2_train.py --check} and
 * {@code LibTorchStarGanV2Training --check} write the same from the same files, and {@code report_stargan_v2.py}
 * compares them; {@code run-stargan-v2-benchmarks.sh --only train-check} runs all of it. Not a test: a check to run
 * once by hand.
 *
 * <pre>
 *   java -cp ... io.github.instancenorm.benchmarks.StarGanV2TrainingCheck NETS.ckpt INPUTS.npz OUT.json [DOUBLE|FLOAT]
 * </pre>
 *
 * <p>{@code NETS.ckpt}: a StarGAN v2 network file (the zoo fixture {@code small16_nets.ckpt}); the averages start from
 * the same weights. {@code INPUTS.npz}: {@code x_real, x_ref, x_ref2, z_trg, z_trg2}, one-hot {@code y_org, y_trg}
 * (the train module's {@code small16_inputs.npz}); both iterations train on it. The official options, {@code ds_iter}
 * 100,000; the last argument is where R1's passes run (default DOUBLE, the trainer's).
 */
public final class StarGanV2TrainingCheck {

    private StarGanV2TrainingCheck() {}

    /**
     * Runs the check; see the class documentation.
     *
     * @param args the networks, the inputs, the output file and optionally R1's data type
     * @throws Exception if a file cannot be read or written
     */
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            throw new IllegalArgumentException(
                    "expected NETS.ckpt INPUTS.npz OUT.json [DOUBLE|FLOAT], got " + List.of(args));
        }
        Path netsFile = Path.of(args[0]);
        DataType r1 = args.length > 3 ? DataType.valueOf(args[3]) : DataType.DOUBLE;
        StarGanV2.Nets n = StarGanV2.load(netsFile, true);
        StarGanV2.Nets a = StarGanV2.load(netsFile, true);
        StarGanV2Trainer trainer = new StarGanV2Trainer(
                        new StarGanV2Trainer.Networks(
                                n.generator(), n.mappingNetwork(), n.styleEncoder(), n.discriminator()),
                        new StarGanV2Trainer.Networks(a.generator(), a.mappingNetwork(), a.styleEncoder(), null),
                        StarGanV2Trainer.Options.OFFICIAL,
                        0)
                .r1PassesIn(r1);
        Map<String, INDArray> in = Nd4j.createFromNpzFile(Path.of(args[1]).toFile());
        StarGanV2Trainer.Batch batch = new StarGanV2Trainer.Batch(
                        in.get("x_real"),
                        in.get("y_org"),
                        in.get("x_ref"),
                        in.get("x_ref2"),
                        in.get("y_trg"),
                        in.get("z_trg"),
                        in.get("z_trg2"))
                .castTo(DataType.FLOAT);
        List<String> terms = new ArrayList<>();
        for (int it = 1; it <= 2; it++) {
            for (Map.Entry<String, Double> e : trainer.step(batch).byName().entrySet()) {
                terms.add(String.format(Locale.ROOT, "\"it%d.%s\": %.17g", it, e.getKey(), e.getValue()));
            }
        }
        List<String> sums = new ArrayList<>();
        String[] names = {"generator", "mapping_network", "style_encoder", "discriminator"};
        StarGanV2Trainer.Networks t = trainer.networks();
        StarGanV2Trainer.Networks e = trainer.ema();
        ComputationGraph[] trained = {t.generator(), t.mappingNetwork(), t.styleEncoder(), t.discriminator()};
        ComputationGraph[] averaged = {e.generator(), e.mappingNetwork(), e.styleEncoder()};
        for (int i = 0; i < 4; i++) {
            sums.add(String.format(Locale.ROOT, "\"nets.%s\": %.17g", names[i], sum(trained[i])));
            if (i < 3) {
                sums.add(String.format(Locale.ROOT, "\"ema.%s\": %.17g", names[i], sum(averaged[i])));
            }
        }
        String json = String.format(
                "{\"meta\": {\"side\": \"DL4J\", \"r1\": \"%s\"},%n \"terms\": {%s},%n \"sums\": {%s}}%n",
                r1, String.join(", ", terms), String.join(", ", sums));
        Files.writeString(Path.of(args[2]), json);
        System.out.print(json);
    }

    /** The sum of a network's parameters in PyTorch's naming (the taps and layouts of DL4J's graph aside). */
    private static double sum(ComputationGraph net) {
        StateDict sd = StateDict.of(net);
        double s = 0;
        for (String key : sd.keys()) {
            s += sd.get(key).castTo(DataType.DOUBLE).sumNumber().doubleValue();
        }
        return s;
    }
}
