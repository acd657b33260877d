package io.github.instancenorm.zoo.golden;

import io.github.instancenorm.params.InstanceNormalizationParamInitializer;
import io.github.instancenorm.zoo.StarGan;
import java.io.File;
import java.io.IOException;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A StarGAN generator saved with {@link ModelSerializer} by one version of this project and read back by every later
 * build ({@link SavedGeneratorTest}): the zoo's graph vertices and the layer's configuration are in its JSON, so a
 * moved class or a changed default would break it.
 *
 * <p>The generator ({@code conv_dim} {@value #CONV_DIM}, {@code c_dim} {@value #C_DIM}, {@code repeat_num} 1,
 * {@value #SIZE} px) gets random weights and running statistics (variances in [0.5, 1.5)), so that both inference
 * modes differ. Beside {@code generator.zip} lie the image and label inputs and the outputs with running statistics
 * ({@code eval.npy}) and with instance statistics ({@code instance.npy}). Written by {@link #main} at
 * {@link #VERSION}; run it again only to add a new version's directory:
 * <pre>
 * mvn -B -q -pl dl4j-instancenorm-zoo -am install -DskipTests
 * mvn -B -q -f dl4j-instancenorm-zoo exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.github.instancenorm.zoo.golden.SavedGenerator \
 *     -Dexec.args=dl4j-instancenorm-zoo/src/test/resources/golden
 * </pre>
 */
public final class SavedGenerator {

    /** The version of the project that wrote the committed files: its directory under {@code golden/}. */
    public static final String VERSION = "0.1.0-pre-defaults";

    static final int CONV_DIM = 4;
    static final int C_DIM = 3;
    static final int SIZE = 8;
    static final long SEED = 20261207L;

    private SavedGenerator() {}

    /** Writes the generator and its inputs and outputs into {@code args[0]/VERSION}. */
    public static void main(String[] args) throws IOException {
        File dir = new File(args.length > 0 ? args[0] : "src/test/resources/golden", VERSION);
        if (!dir.mkdirs() && !dir.isDirectory()) {
            throw new IOException("Cannot create " + dir);
        }
        ComputationGraph g = StarGan.generator()
                .convDim(CONV_DIM)
                .cDim(C_DIM)
                .repeatNum(1)
                .imageSize(SIZE)
                .seed(SEED)
                .build();
        Nd4j.getRandom().setSeed(SEED);
        for (Map.Entry<String, INDArray> p : g.paramTable().entrySet()) {
            boolean variance = p.getKey().endsWith("_" + InstanceNormalizationParamInitializer.RUNNING_VAR);
            p.getValue()
                    .assign(
                            variance
                                    ? Nd4j.rand(p.getValue().shape()).addi(0.5)
                                    : Nd4j.randn(p.getValue().shape()).muli(0.3));
        }
        INDArray image = Nd4j.rand(2, 3, SIZE, SIZE).muli(2).subi(1);
        INDArray label = Nd4j.createFromArray(new float[][] {{1, 0, 1}, {0, 1, 0}});
        ModelSerializer.writeModel(g, new File(dir, "generator.zip"), true);
        Nd4j.writeAsNumpy(image.dup('c'), new File(dir, "image.npy"));
        Nd4j.writeAsNumpy(label.dup('c'), new File(dir, "label.npy"));
        Nd4j.writeAsNumpy(g.outputSingle(image, label).dup('c'), new File(dir, "eval.npy"));
        StarGan.useStatistics(g, StarGan.Statistics.INSTANCE);
        Nd4j.writeAsNumpy(g.outputSingle(image, label).dup('c'), new File(dir, "instance.npy"));
    }
}
