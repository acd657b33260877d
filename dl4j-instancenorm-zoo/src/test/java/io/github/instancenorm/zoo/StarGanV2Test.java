package io.github.instancenorm.zoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.instancenorm.testutil.Compare;
import io.github.instancenorm.testutil.Fixtures;
import io.github.instancenorm.torch.StateDict;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * StarGAN v2's mapping network, style encoder and discriminator loaded from a {@code nets} file that real PyTorch
 * wrote ({@code src/test/python/gen_stargan_v2_fixtures.py}: random weights, two configurations of non-default
 * widths) and run on the same inputs: the same outputs within 1e-5 · (1 + |e|).
 */
class StarGanV2Test {

    private static Path nets(String config) {
        return Fixtures.resource("fixtures/starganv2/" + config + "_nets.ckpt");
    }

    private static Map<String, INDArray> arrays(String config) throws Exception {
        return Nd4j.createFromNpzFile(Fixtures.file("fixtures/starganv2/" + config + ".npz"));
    }

    private static INDArray run(ComputationGraph g, INDArray input, INDArray y) {
        return g.outputSingle(input, y);
    }

    @ParameterizedTest
    @ValueSource(strings = {"small16", "narrow32", "hpf64"})
    void loadedNetworksComputeWhatPyTorchDid(String config) throws Exception {
        Map<String, INDArray> fx = arrays(config);
        StarGanV2.Nets nets = StarGanV2.load(nets(config));
        INDArray y = fx.get("y_onehot");
        Compare.assertClose(
                config + " mapping network", fx.get("s_mapping"), run(nets.mappingNetwork(), fx.get("z"), y));
        Compare.assertClose(config + " style encoder", fx.get("s_style"), run(nets.styleEncoder(), fx.get("x"), y));
        INDArray d = run(nets.discriminator(), fx.get("x"), y);
        Compare.assertClose(config + " discriminator", fx.get("d_out").reshape(d.shape()), d);
    }

    /** The generator's inputs: the source images, a style code and, where w_hpf &gt; 0, the masks it uses. */
    private static INDArray[] generatorInputs(ComputationGraph g, Map<String, INDArray> fx, INDArray style) {
        List<String> names = g.getConfiguration().getNetworkInputs();
        INDArray[] in = new INDArray[names.size()];
        for (int i = 0; i < in.length; i++) {
            in[i] = switch (names.get(i)) {
                case StarGanV2.IMAGE -> fx.get("x_src");
                case StarGanV2.STYLE -> style;
                default -> fx.get(names.get(i));
            };
        }
        return in;
    }

    @ParameterizedTest
    @ValueSource(strings = {"small16", "narrow32", "hpf64"})
    void theGeneratorTranslatesAsPyTorchDid(String config) throws Exception {
        Map<String, INDArray> fx = arrays(config);
        StarGanV2.Nets nets = StarGanV2.load(nets(config));
        ComputationGraph g = nets.generator();
        INDArray y = fx.get("y_onehot");
        // Latent-guided: s = F(z, y); reference-guided: s = E(x_ref, y); each computed here, from the loaded nets.
        INDArray sLatent = run(nets.mappingNetwork(), fx.get("z"), y);
        INDArray sReference = run(nets.styleEncoder(), fx.get("x"), y);
        Compare.assertClose(
                config + " latent-guided", fx.get("g_latent"), g.outputSingle(generatorInputs(g, fx, sLatent)));
        Compare.assertClose(
                config + " reference-guided",
                fx.get("g_reference"),
                g.outputSingle(generatorInputs(g, fx, sReference)));
    }

    /**
     * Input taps: the tapped copies compute what the loaded networks compute, keep every parameter, and record the
     * gradients with respect to the image and the style code (here of {@code Σ out}: the image gradient of the
     * generator against a central difference along a random direction).
     */
    @Test
    void inputGradientsAreRecordedByTappedCopies() throws Exception {
        Map<String, INDArray> fx = arrays("small16");
        StarGanV2.Nets nets = StarGanV2.load(nets("small16"));
        INDArray y = fx.get("y_onehot");
        INDArray s = run(nets.mappingNetwork(), fx.get("z"), y);
        ComputationGraph g = StarGanV2.withInputGradients(nets.generator());
        ComputationGraph e = StarGanV2.withInputGradients(nets.styleEncoder());
        ComputationGraph f = StarGanV2.withInputGradients(nets.mappingNetwork());
        assertEquals(StateDict.of(nets.generator()).tensors(), StateDict.of(g).tensors());
        assertTrue(g.getConfiguration().getVertices().containsKey(StarGanV2.IMAGE_GRADIENT));
        assertTrue(g.getConfiguration().getVertices().containsKey(StarGanV2.STYLE_GRADIENT));
        assertTrue(!e.getConfiguration().getVertices().containsKey(StarGanV2.STYLE_GRADIENT));
        assertEquals(nets.mappingNetwork().params(), f.params(), "the mapping network has nothing to tap");
        INDArray x = fx.get("x_src");
        assertEquals(nets.generator().outputSingle(x, s), g.outputSingle(x, s));
        assertEquals(run(nets.styleEncoder(), fx.get("x"), y), run(e, fx.get("x"), y));

        INDArray out = g.feedForward(new INDArray[] {x, s}, true, false).get(StarGanV2.OUTPUT);
        g.backpropGradient(Nd4j.onesLike(out));
        INDArray dx = StarGanV2.inputGradient(g, StarGanV2.IMAGE).dup();
        assertArrayEquals(x.shape(), dx.shape());
        assertArrayEquals(s.shape(), StarGanV2.inputGradient(g, StarGanV2.STYLE).shape());
        ComputationGraph gd = g.convertDataType(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
        INDArray xd = x.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
        INDArray sd = s.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
        INDArray u = Nd4j.randn(org.nd4j.linalg.api.buffer.DataType.DOUBLE, x.shape());
        double h = 1e-6;
        double numeric = (gd.outputSingle(xd.add(u.mul(h)), sd).sumNumber().doubleValue()
                        - gd.outputSingle(xd.sub(u.mul(h)), sd).sumNumber().doubleValue())
                / (2 * h);
        double analytic = dx.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE)
                .mul(u)
                .sumNumber()
                .doubleValue();
        assertEquals(numeric, analytic, 1e-4 * (1 + Math.abs(numeric)));

        ComputationGraph built = StarGanV2.discriminator()
                .imageSize(16)
                .dimIn(4)
                .maxConvDim(8)
                .inputGradients(true)
                .build();
        assertTrue(built.getConfiguration().getVertices().containsKey(StarGanV2.IMAGE_GRADIENT));
        IllegalStateException none = assertThrows(
                IllegalStateException.class, () -> StarGanV2.inputGradient(nets.generator(), StarGanV2.IMAGE));
        assertTrue(none.getMessage().contains("withInputGradients"), none.getMessage());
    }

    @Test
    void theHighPassConfigurationIsReadOffTheCheckpoint() throws Exception {
        StarGanV2.Nets nets = StarGanV2.load(nets("hpf64"));
        // hpf64: 64 px, w_hpf 2 (filter centre 8 / 2 = 4), 3 + 1 down blocks, masks at 32 and 64 px
        assertEquals(64, nets.imageSize());
        assertEquals(2.0, nets.wHpf());
        assertEquals(
                List.of(StarGanV2.IMAGE, StarGanV2.STYLE, StarGanV2.MASK0, StarGanV2.MASK1),
                nets.generator().getConfiguration().getNetworkInputs());
        assertTrue(
                nets.notes().stream().anyMatch(n -> n.contains("decode.4.conv1x1.weight is not used")),
                nets.notes().toString());
        // Without hpf.filter (the CelebA-HQ release predates it): w_hpf 1, said in the notes, and not strict.
        StateDict g = StateDict.read(nets("hpf64")).select("generator");
        StateDict noFilter = new StateDict();
        g.keys().stream().filter(k -> !k.equals("hpf.filter")).forEach(k -> noFilter.put(k, g.value(k)));
        StarGanV2.LoadedGenerator loaded = StarGanV2.loadGenerator(noFilter, 64);
        assertEquals(1.0, loaded.wHpf());
        assertTrue(
                loaded.notes().stream().anyMatch(n -> n.contains("no hpf.filter")),
                loaded.notes().toString());
        IOException strict = assertThrows(IOException.class, () -> StarGanV2.load(nets("hpf64"), true));
        assertTrue(strict.getMessage().contains("conv1x1"), strict.getMessage());
    }

    @Test
    void theGeneratorWithTheOfficialDefaults() {
        ComputationGraph g = StarGanV2.generator().imageSize(32).wHpf(0).build();
        // dim_in = 2^14 / 32 = 512 = max_conv_dim; log2(32) - 4 = 1 down block, then 2 bottleneck blocks
        assertEquals(512, g.getLayer("from_rgb").getParam("W").size(0));
        assertEquals(128, g.getLayer("decode.0.norm1.fc").getParam("W").size(0) * 2); // style 64 -> [64, 1024]
        assertTrue(g.getConfiguration().getVertices().containsKey("encode.2.conv2"));
        assertTrue(!g.getConfiguration().getVertices().containsKey("encode.3.conv2"));
        INDArray out = g.outputSingle(Nd4j.rand(1, 3, 32, 32), Nd4j.randn(1, 64));
        assertArrayEquals(new long[] {1, 3, 32, 32}, out.shape());
        ComputationGraph withMasks = StarGanV2.generator()
                .imageSize(64)
                .dimIn(8)
                .maxConvDim(16)
                .styleDim(4)
                .build();
        assertEquals(
                List.of(StarGanV2.IMAGE, StarGanV2.STYLE, StarGanV2.MASK0, StarGanV2.MASK1),
                withMasks.getConfiguration().getNetworkInputs());
    }

    @Test
    void shapesAreReadOffTheCheckpoint() throws Exception {
        StarGanV2.Nets nets = StarGanV2.load(nets("narrow32"));
        // narrow32: img 32, dim_in 4, max_conv_dim 16, 2 domains, style 6, latent 5, hidden 24
        assertArrayEquals(
                new long[] {3, 6},
                nets.styleEncoder()
                        .outputSingle(Nd4j.rand(3, 3, 32, 32), StarGanV2.oneHot(2, 0, 1, 1))
                        .shape());
        assertEquals(
                24, nets.mappingNetwork().getLayer("shared.0").getParam("W").size(1));
        assertEquals(4, nets.discriminator().getLayer("main.0").getParam("W").size(0));
        assertEquals(
                16, nets.discriminator().getLayer("main.3.conv2").getParam("W").size(0));
    }

    @Test
    void builtFromOptionsWithTheOfficialDefaults() {
        ComputationGraph d = StarGanV2.discriminator().imageSize(64).domains(3).build();
        // dim_in = 2^14 / 64 = 256, doubled up to 512, log2(64) - 2 = 4 blocks
        assertEquals(256, d.getLayer("main.0").getParam("W").size(0));
        assertEquals(512, d.getLayer("main.4.conv2").getParam("W").size(0));
        INDArray out = d.outputSingle(Nd4j.rand(2, 3, 64, 64), StarGanV2.oneHot(3, 2, 0));
        assertArrayEquals(new long[] {2, 1}, out.shape());
    }

    @Test
    void theSampleOwnDomainIsSelected() throws Exception {
        StarGanV2.Nets nets = StarGanV2.load(nets("small16"));
        INDArray z = Nd4j.rand(1, 4);
        INDArray s0 = nets.mappingNetwork().outputSingle(z, StarGanV2.oneHot(3, 0));
        INDArray s2 = nets.mappingNetwork().outputSingle(z, StarGanV2.oneHot(3, 2));
        INDArray head2 = nets.mappingNetwork()
                .feedForward(new INDArray[] {z, StarGanV2.oneHot(3, 0)}, false)
                .get("unshared.2.6");
        assertEquals(head2, s2);
        assertTrue(s0.sub(s2).norm2Number().doubleValue() > 1e-3, "different domains give different styles");
    }

    /**
     * The selection's backward pass: in double, the gradient of {@code sum(out * eps)} with respect to heads'
     * weights of the selected and the unselected domains, against central differences.
     */
    @Test
    void backpropagatesIntoTheSelectedHeadOnly() {
        ComputationGraph f = StarGanV2.mappingNetwork()
                .latentDim(3)
                .hidden(5)
                .styleDim(2)
                .domains(3)
                .dataType(org.nd4j.linalg.api.buffer.DataType.DOUBLE)
                .build();
        Nd4j.getRandom().setSeed(3);
        INDArray z = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 4, 3);
        INDArray y = StarGanV2.oneHot(3, 0, 2, 2, 1).castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
        INDArray eps = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 4, 2);
        f.feedForward(new INDArray[] {z, y}, true, false);
        org.deeplearning4j.nn.gradient.Gradient g = f.backpropGradient(eps);
        for (String key : new String[] {"unshared.1.6_W", "unshared.2.6_W", "shared.0_W", "unshared.0.4_b"}) {
            INDArray param = f.getParam(key);
            INDArray analytic = g.getGradientFor(key);
            for (int i = 0; i < Math.min(4, param.length()); i++) {
                double original = param.getDouble(i);
                double h = 1e-6;
                param.putScalar(i, original + h);
                double plus = f.outputSingle(z, y).mul(eps).sumNumber().doubleValue();
                param.putScalar(i, original - h);
                double minus = f.outputSingle(z, y).mul(eps).sumNumber().doubleValue();
                param.putScalar(i, original);
                double numeric = (plus - minus) / (2 * h);
                assertEquals(numeric, analytic.getDouble(i), 1e-7 * (1 + Math.abs(numeric)), key + "[" + i + "]");
            }
        }
    }

    @Test
    void savedAndLoadedWithModelSerializer(@TempDir Path dir) throws Exception {
        StarGanV2.Nets nets = StarGanV2.load(nets("small16"));
        File file = dir.resolve("e.zip").toFile();
        ModelSerializer.writeModel(nets.styleEncoder(), file, false);
        ComputationGraph back = ModelSerializer.restoreComputationGraph(file, false);
        INDArray x = Nd4j.rand(2, 3, 16, 16);
        INDArray y = StarGanV2.oneHot(3, 1, 2);
        assertEquals(nets.styleEncoder().outputSingle(x, y), back.outputSingle(x, y));

        // The generator with masks: the AdaIN and high-pass vertices' configurations survive the JSON.
        ComputationGraph g = StarGanV2.load(nets("hpf64")).generator();
        File gFile = dir.resolve("g.zip").toFile();
        ModelSerializer.writeModel(g, gFile, false);
        ComputationGraph gBack = ModelSerializer.restoreComputationGraph(gFile, false);
        INDArray[] in = {Nd4j.rand(2, 3, 64, 64), Nd4j.randn(2, 6), Nd4j.rand(2, 1, 48, 48), Nd4j.rand(2, 1, 48, 48)};
        assertEquals(g.outputSingle(in), gBack.outputSingle(in));
    }

    @Test
    void clearErrors() throws Exception {
        IllegalArgumentException label = assertThrows(IllegalArgumentException.class, () -> StarGanV2.oneHot(3, 0, 3));
        assertTrue(label.getMessage().contains("label 3 of sample 1 is outside the 3 domains"), label.getMessage());
        StateDict all = StateDict.read(nets("small16"));
        IOException wrong =
                assertThrows(IOException.class, () -> StarGanV2.loadDiscriminator(all.select("style_encoder")));
        assertTrue(wrong.getMessage().contains("Not a StarGAN v2 discriminator"), wrong.getMessage());
        StarGanV2.Nets nets = StarGanV2.load(nets("small16"));
        IllegalArgumentException width = assertThrows(
                IllegalArgumentException.class,
                () -> nets.mappingNetwork().outputSingle(Nd4j.rand(2, 4), Nd4j.zeros(2, 2)));
        assertTrue(width.getMessage().contains("selects among 3 domains"), width.getMessage());

        ComputationGraph g = StarGanV2.load(nets("hpf64")).generator();
        INDArray x = Nd4j.rand(2, 3, 64, 64);
        INDArray mask = Nd4j.rand(2, 1, 48, 48);
        Exception style = assertThrows(Exception.class, () -> g.outputSingle(x, Nd4j.rand(2, 5), mask, mask));
        assertTrue(String.valueOf(style.getMessage()).contains("6"), style.getMessage());
        Exception masks = assertThrows(Exception.class, () -> g.outputSingle(x, Nd4j.rand(2, 6)));
        assertTrue(String.valueOf(masks.getMessage()).contains("4"), masks.getMessage());
        IOException v1 =
                assertThrows(IOException.class, () -> StarGanV2.load(Fixtures.resource("fixtures/stargan/G.ckpt")));
        assertTrue(v1.getMessage().contains("Not a StarGAN v2 network file"), v1.getMessage());
        IOException size = assertThrows(
                IOException.class,
                () -> StarGanV2.loadGenerator(StateDict.read(nets("hpf64")).select("generator"), 256));
        assertTrue(size.getMessage().contains("Not a StarGAN v2 generator for 256 px"), size.getMessage());
    }
}
