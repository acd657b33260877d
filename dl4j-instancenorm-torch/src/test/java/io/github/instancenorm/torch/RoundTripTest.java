package io.github.instancenorm.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** DL4J network to checkpoint file and back, in both written formats. */
class RoundTripTest {

    private static MultiLayerNetwork randomGenerator(boolean logStd, long seed) {
        MultiLayerNetwork net = TorchWeightsTest.generator(logStd, DataType.FLOAT);
        Nd4j.getRandom().setSeed(seed);
        // running statistics are not random after init; make every parameter distinct
        net.setParams(Nd4j.rand(DataType.FLOAT, 1, net.numParams()).addi(0.5));
        return net;
    }

    @Test
    void networkThroughTorchZipAndSafetensorsIntoFreshNetwork(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = randomGenerator(false, 42);
        StateDict sd = StateDict.of(net);
        assertEquals(
                List.of(
                        "main.0.weight",
                        "main.0.bias",
                        "main.1.weight",
                        "main.1.bias",
                        "main.1.running_mean",
                        "main.1.running_var",
                        "main.3.weight",
                        "main.3.bias"),
                sd.keys());
        assertEquals(net.getLayer(0).getParam("W"), sd.get("main.0.weight"));
        for (String file : List.of("g.pt", "g.safetensors")) {
            Path p = dir.resolve(file);
            if (file.endsWith(".pt")) {
                sd.writeTorch(p);
            } else {
                sd.writeSafetensors(p);
            }
            MultiLayerNetwork fresh = randomGenerator(false, 7);
            assertNotEquals(net.params(), fresh.params());
            LoadReport r = TorchWeights.load(fresh, StateDict.read(p));
            assertTrue(r.isComplete(), r.toString());
            assertEquals(net.params(), fresh.params(), file);
        }
    }

    @Test
    void logStdBatchNormWritesPlainVariance(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = randomGenerator(true, 3);
        StateDict sd = StateDict.of(net);
        INDArray log10std = net.getLayer(1).getParam("log10stdev");
        INDArray var = sd.get("main.1.running_var");
        for (int i = 0; i < var.length(); i++) {
            assertEquals(Math.pow(Math.pow(10, log10std.getDouble(i)), 2), var.getDouble(i), 1e-6 * var.getDouble(i));
        }
        Path p = dir.resolve("g.pt");
        sd.writeTorch(p);
        MultiLayerNetwork fresh = randomGenerator(true, 4);
        TorchWeights.load(fresh, StateDict.read(p));
        assertTrue(net.params().equalsWithEps(fresh.params(), 1e-6));
    }

    @Test
    void everyDtypeSurvivesBothWriters(@TempDir Path dir) throws Exception {
        StateDict sd = StateDict.read(Fixtures.path("dtypes.pt"));
        Path pt = dir.resolve("d.pt");
        Path st = dir.resolve("d.safetensors");
        sd.writeTorch(pt);
        sd.writeSafetensors(st);
        for (Path p : List.of(pt, st)) {
            StateDict back = StateDict.read(p);
            assertEquals(sd.keys(), back.keys(), p.toString());
            Fixtures.assertMatches(Fixtures.expected("dtypes"), back, p.toString());
        }
    }

    @Test
    void nestedValuesSurviveTorchZip(@TempDir Path dir) throws Exception {
        StateDict ckpt = StateDict.read(Fixtures.path("wrapped.pt"));
        Path p = dir.resolve("w.pt");
        ckpt.writeTorch(p);
        Fixtures.assertMatches(Fixtures.expected("wrapped"), StateDict.read(p), "rewritten wrapped.pt");
        TorchFormatException e =
                assertThrows(TorchFormatException.class, () -> ckpt.writeSafetensors(dir.resolve("w.st")));
        assertTrue(e.getMessage().contains("tensors only"), e.getMessage());
    }

    @Test
    void writtenZipIsValidWithAlignedStoredEntries(@TempDir Path dir) throws Exception {
        Path p = dir.resolve("d.pt");
        StateDict.read(Fixtures.path("views.pt")).writeTorch(p);
        List<String> names = new ArrayList<>();
        try (InputStream in = Files.newInputStream(p);
                ZipInputStream zip = new ZipInputStream(in)) {
            for (ZipEntry e; (e = zip.getNextEntry()) != null; ) {
                assertEquals(ZipEntry.STORED, e.getMethod());
                zip.readAllBytes(); // verifies size and CRC-32
                names.add(e.getName());
            }
        }
        assertEquals("archive/data.pkl", names.get(0));
        assertTrue(names.contains("archive/version") && names.contains("archive/data/0"), names.toString());
        // the data of every record starts on a 64-byte boundary, as torch.save writes it
        byte[] b = Files.readAllBytes(p);
        ZipArchive zip = new ZipArchive(new ByteSource.OfArray(b));
        for (ZipArchive.Entry e : zip.entries().values()) {
            assertEquals(0, zip.dataOffset(e) % 64, e.name());
        }
    }
}
