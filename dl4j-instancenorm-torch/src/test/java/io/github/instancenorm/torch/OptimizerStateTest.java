package io.github.instancenorm.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.shade.jackson.databind.JsonNode;

/**
 * {@link OptimizerState} against the Adam state dicts PyTorch 1.13 saved (src/test/python/gen_optimizer_fixtures.py)
 * in both formats, its writer, and its refusals.
 */
class OptimizerStateTest {
    private static final List<String> NAMED = List.of("lr", "betas", "eps", "weight_decay", "amsgrad", "params");

    /** Asserts that {@code actual} holds exactly what optims.expected.json describes. */
    static void assertMatchesExpected(Map<String, OptimizerState> actual, String where) throws Exception {
        JsonNode expected = Fixtures.expected("optims");
        List<String> names = new ArrayList<>();
        expected.fieldNames().forEachRemaining(names::add);
        assertEquals(names, new ArrayList<>(actual.keySet()), where);
        for (String name : names) {
            JsonNode e = expected.get(name);
            OptimizerState s = actual.get(name);
            String at = where + " " + name;
            assertEquals(e.get("param_groups").size(), s.paramGroups().size(), at + " groups");
            for (int i = 0; i < s.paramGroups().size(); i++) {
                JsonNode eg = e.get("param_groups").get(i);
                OptimizerState.ParamGroup g = s.paramGroups().get(i);
                String gat = at + ".param_groups[" + i + "]";
                assertEquals(eg.get("lr").asDouble(), g.lr(), 0.0, gat);
                assertEquals(eg.get("betas").get(0).asDouble(), g.beta1(), 0.0, gat);
                assertEquals(eg.get("betas").get(1).asDouble(), g.beta2(), 0.0, gat);
                assertEquals(eg.get("eps").asDouble(), g.eps(), 0.0, gat);
                assertEquals(eg.get("weight_decay").asDouble(), g.weightDecay(), 0.0, gat);
                assertEquals(eg.get("amsgrad").asBoolean(), g.amsgrad(), gat);
                List<Integer> params = new ArrayList<>();
                eg.get("params").forEach(p -> params.add(p.asInt()));
                assertEquals(params, g.params(), gat);
                List<String> options = new ArrayList<>();
                eg.fieldNames().forEachRemaining(k -> {
                    if (!NAMED.contains(k)) {
                        options.add(k);
                    }
                });
                assertEquals(options, new ArrayList<>(g.options().keySet()), gat + " options");
                for (String k : options) {
                    Fixtures.assertMatches(
                            new org.nd4j.shade.jackson.databind.ObjectMapper()
                                    .createObjectNode()
                                    .set("value", eg.get(k)),
                            g.options().get(k),
                            gat + "." + k);
                }
            }
            List<Integer> indices = new ArrayList<>();
            e.get("state").forEach(kv -> indices.add(kv.get(0).asInt()));
            assertEquals(indices, new ArrayList<>(s.state().keySet()), at + " state indices");
            for (JsonNode kv : e.get("state")) {
                int index = kv.get(0).asInt();
                JsonNode es = kv.get(1);
                OptimizerState.ParamState ps = s.state(index).orElseThrow();
                String sat = at + ".state." + index;
                assertEquals(es.get("step").asLong(), ps.step(), sat + ".step");
                assertTensor(es.get("exp_avg"), ps.expAvg(), sat + ".exp_avg");
                assertTensor(es.get("exp_avg_sq"), ps.expAvgSq(), sat + ".exp_avg_sq");
                if (es.has("max_exp_avg_sq")) {
                    assertTensor(es.get("max_exp_avg_sq"), ps.maxExpAvgSq(), sat + ".max_exp_avg_sq");
                } else {
                    assertNull(ps.maxExpAvgSq(), sat);
                }
            }
            // every parameter without an entry has no state
            for (int p : s.params()) {
                assertEquals(indices.contains(p), s.state(p).isPresent(), at + " param " + p);
            }
        }
    }

    private static void assertTensor(JsonNode e, INDArray a, String where) {
        ((org.nd4j.shade.jackson.databind.node.ObjectNode) e).put("tensor", true);
        Fixtures.assertMatches(e, a, where);
    }

    @ParameterizedTest
    @ValueSource(strings = {"optims.ckpt", "optims_legacy.ckpt"})
    void everyValueMatchesWhatPyTorchSaved(String file) throws Exception {
        Map<String, OptimizerState> optims = OptimizerState.readAll(Fixtures.path(file));
        assertMatchesExpected(optims, file);
        OptimizerState g = optims.get("generator");
        // the parameter that never got a gradient: listed in the group, no state
        assertEquals(List.of(0, 1, 2, 3, 4), g.params());
        assertTrue(g.state(4).isEmpty());
        assertEquals(DataType.FLOAT, g.state(0).orElseThrow().expAvg().dataType());
        assertArrayEquals(
                new long[] {3, 2, 3, 3}, g.state(0).orElseThrow().expAvg().shape());
        OptimizerState.ParamGroup gg = g.paramGroups().get(0);
        assertEquals(0.0, gg.beta1());
        assertEquals(0.99, gg.beta2());
        assertEquals(1e-8, gg.eps());
        assertEquals(1e-4, gg.weightDecay());
        assertEquals(3L, g.state(0).orElseThrow().step());
        assertTrue(optims.get("discriminator").paramGroups().get(1).amsgrad());
        assertEquals(1L, optims.get("mapping_network").state(1).orElseThrow().step()); // an int step
        // the same through StateDict
        StateDict ckpt = StateDict.read(Fixtures.path(file));
        assertEquals(optims, OptimizerState.allOf(ckpt));
        assertEquals(g, OptimizerState.of(ckpt.select("generator")));
    }

    @Test
    void bothFormatsReadTheSame() throws Exception {
        assertEquals(
                OptimizerState.readAll(Fixtures.path("optims.ckpt")),
                OptimizerState.readAll(Fixtures.path("optims_legacy.ckpt")));
    }

    @Test
    void writerRoundTrips(@TempDir Path dir) throws Exception {
        Map<String, OptimizerState> optims = OptimizerState.readAll(Fixtures.path("optims_legacy.ckpt"));
        Path all = dir.resolve("000010_optims.ckpt");
        OptimizerState.writeAll(optims, all);
        Map<String, OptimizerState> back = OptimizerState.readAll(all);
        assertEquals(optims, back);
        assertMatchesExpected(back, "rewritten");
        Path one = dir.resolve("d.ckpt");
        optims.get("discriminator").write(one);
        assertEquals(optims.get("discriminator"), OptimizerState.read(one));
        // a state built in Java
        OptimizerState built = built();
        Path b = dir.resolve("built.ckpt");
        built.write(b);
        OptimizerState builtBack = OptimizerState.read(b);
        assertEquals(built, builtBack);
        assertEquals(
                built.state(2).orElseThrow().expAvg().getDouble(1),
                builtBack.state(2).orElseThrow().expAvg().getDouble(1),
                0.0);
    }

    /** A state as a trainer would build one: one group, a parameter without state, a long step count. */
    static OptimizerState built() {
        long[][] shapes = {{3, 2, 3, 3}, {3}, {2, 3}, {2}, {4}};
        Map<Integer, OptimizerState.ParamState> state = new LinkedHashMap<>();
        for (int p = 0; p < 4; p++) {
            state.put(
                    p,
                    new OptimizerState.ParamState(100_000L + p, formula(shapes[p], p, 8), formula(shapes[p], p, 16)));
        }
        List<Integer> params = List.of(0, 1, 2, 3, 4);
        return new OptimizerState(List.of(OptimizerState.ParamGroup.adam(1e-4, 0.0, 0.99, 1e-8, 1e-4, params)), state);
    }

    /** (p + 1) / scale + k / (32 scale) for the k-th element: exact in float32, recomputed by the Python check. */
    static INDArray formula(long[] shape, int p, int scale) {
        int n = 1;
        for (long s : shape) {
            n *= (int) s;
        }
        float[] v = new float[n];
        for (int k = 0; k < n; k++) {
            v[k] = (p + 1f) / scale + k / (32f * scale);
        }
        return Nd4j.createFromArray(v).reshape(shape);
    }

    @Test
    void writtenFileHasTorchsLayout(@TempDir Path dir) throws Exception {
        Path p = dir.resolve("o.ckpt");
        OptimizerState.writeAll(Map.of("generator", built()), p);
        ZipArchive zip = new ZipArchive(new ByteSource.OfArray(Files.readAllBytes(p)));
        byte[] pickle = zip.read(zip.entries().get("archive/data.pkl"));
        Unpickler.PersistentLoader storages = pid -> {
            Py.Tuple t = (Py.Tuple) pid; // ('storage', torch.FloatStorage, key, 'cpu', numel)
            return new Py.Storage(
                    TorchDType.ofStorageClass(((Py.Global) t.get(1)).name()), (String) t.get(2), (Long) t.get(4), 0);
        };
        Object root = new Unpickler(new Cursor(new ByteSource.OfArray(pickle), 0, "data.pkl"), storages).load();
        Py.Dict top = assertInstanceOf(Py.Dict.class, root);
        assertTrue(top.attributes.isEmpty());
        Py.Dict g = assertInstanceOf(Py.Dict.class, top.items.get("generator"));
        assertEquals(List.of("state", "param_groups"), new ArrayList<>(g.items.keySet()));
        Py.Dict state = assertInstanceOf(Py.Dict.class, g.items.get("state"));
        assertEquals(List.of(0L, 1L, 2L, 3L), new ArrayList<>(state.items.keySet()), "int keys");
        Py.Dict s0 = assertInstanceOf(Py.Dict.class, state.items.get(0L));
        assertEquals(List.of("step", "exp_avg", "exp_avg_sq"), new ArrayList<>(s0.items.keySet()));
        Py.Tensor step = assertInstanceOf(Py.Tensor.class, s0.items.get("step"));
        assertEquals(0, step.size().length, "0-d step");
        assertEquals(TorchDType.FLOAT32, step.storage().dtype());
        Py.PyList groups = assertInstanceOf(Py.PyList.class, g.items.get("param_groups"));
        Py.Dict g0 = assertInstanceOf(Py.Dict.class, groups.get(0));
        assertEquals(
                List.of(
                        "lr",
                        "betas",
                        "eps",
                        "weight_decay",
                        "amsgrad",
                        "maximize",
                        "foreach",
                        "capturable",
                        "differentiable",
                        "fused",
                        "params"),
                new ArrayList<>(g0.items.keySet()));
        assertEquals(new Py.Tuple(List.of(0.0, 0.99)), g0.items.get("betas"));
        assertTrue(g0.items.containsKey("foreach") && g0.items.get("foreach") == null);
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L), g0.items.get("params"));
    }

    private static void assertRefused(StateDict sd, String... parts) {
        TorchFormatException e = assertThrows(TorchFormatException.class, () -> OptimizerState.allOf(sd));
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
        }
    }

    /** The generator fixture with one change made by {@code edit} to its (mutable) state dict. */
    private static StateDict edited(Consumer<StateDict> edit) throws Exception {
        StateDict ckpt = StateDict.read(Fixtures.path("optims.ckpt"));
        edit.accept(ckpt.select("generator"));
        return ckpt;
    }

    @SuppressWarnings("unchecked")
    private static StateDict group0(StateDict g) {
        return ((List<StateDict>) g.value("param_groups")).get(0);
    }

    @Test
    void whatIsNotAnAdamStateIsRefusedNamingTheEntry(@TempDir Path dir) throws Exception {
        TorchFormatException e =
                assertThrows(TorchFormatException.class, () -> OptimizerState.readAll(Fixtures.path("wrapped.pt")));
        assertTrue(e.getMessage().contains("wrapped.pt") && e.getMessage().contains("entry 'G'"), e.getMessage());
        assertTrue(e.getMessage().contains("no 'state' and 'param_groups'"), e.getMessage());
        e = assertThrows(TorchFormatException.class, () -> OptimizerState.read(Fixtures.path("generator.pt")));
        assertTrue(e.getMessage().contains("generator.pt") && e.getMessage().contains("model's state"), e.getMessage());
        // a single optimizer's file read as a dict of them, and the other way round
        Path one = dir.resolve("one.ckpt");
        OptimizerState.readAll(Fixtures.path("optims.ckpt")).get("generator").write(one);
        e = assertThrows(TorchFormatException.class, () -> OptimizerState.readAll(one));
        assertTrue(e.getMessage().contains(one.toString()) && e.getMessage().contains("OptimizerState.read"));
        e = assertThrows(TorchFormatException.class, () -> OptimizerState.read(Fixtures.path("optims.ckpt")));
        assertTrue(e.getMessage().contains("optims.ckpt") && e.getMessage().contains("no 'state'"), e.getMessage());

        assertRefused(edited(g -> g.put("extra", 1L)), "entry 'generator.extra'");
        assertRefused(edited(g -> g.put("param_groups", List.of())), "entry 'generator.param_groups'", "non-empty");
        assertRefused(edited(g -> group0(g).put("betas", List.of(0.5))), "'generator.param_groups[0].betas'");
        assertRefused(edited(g -> group0(g).put("lr", "fast")), "'generator.param_groups[0].lr'", "not a number");
        assertRefused(edited(g -> group0(g).put("amsgrad", 0L)), "'generator.param_groups[0].amsgrad'", "bool");
        assertRefused(edited(g -> group0(g).put("params", List.of(0L, 0L))), "lists parameter 0 twice");
        assertRefused(edited(g -> group0(g).put("params", List.of(0L, -1L))), "'generator.param_groups[0].params[1]'");
        assertRefused(edited(g -> group0(g).put("params", List.of(0L, 1L))), "parameter 2 has state but is in no");
        assertRefused(edited(g -> g.select("state").put("x", g.select("state").value("0"))), "'generator.state.x'");
        assertRefused(edited(g -> g.select("state").put("07", g.select("state").value("0"))), "keyed '07'");
        assertRefused(
                edited(g -> g.select("state").select("1").put("momentum_buffer", Nd4j.zeros(2))),
                "'generator.state.1.momentum_buffer'");
        assertRefused(
                edited(g -> g.select("state").put("2", new StateDict().put("step", 1L))),
                "'generator.state.2' has no 'exp_avg'");
        assertRefused(edited(g -> g.select("state").select("0").put("step", -1L)), "'generator.state.0.step'");
        assertRefused(edited(g -> g.select("state").select("0").put("step", 1.5)), "whole number");
        assertRefused(
                edited(g -> g.select("state").select("0").put("step", Nd4j.zeros(2))), "'generator.state.0.step'");
        assertRefused(edited(g -> g.select("state").select("0").put("exp_avg", 0.0)), "'generator.state.0.exp_avg'");
        assertRefused(
                edited(g -> g.select("state").select("0").put("exp_avg_sq", Nd4j.zeros(3))),
                "'generator.state.0'",
                "differ in shape");
        assertRefused(edited(g -> group0(g).put("amsgrad", true)), "AMSGrad", "max_exp_avg_sq");
        // through a file: the message names the file and the entry
        Path broken = dir.resolve("broken_optims.ckpt");
        edited(g -> g.select("state").select("3").put("exp_avg", "x")).writeTorch(broken);
        e = assertThrows(TorchFormatException.class, () -> OptimizerState.readAll(broken));
        assertTrue(
                e.getMessage().startsWith(broken.toString() + ": entry 'generator.state.3.exp_avg'"), e.getMessage());
    }

    @Test
    void maliciousPicklesAreStillRefused() {
        for (String f : List.of("malicious_os_system.pt", "malicious_eval_legacy.pt", "malicious_popen.pt")) {
            TorchFormatException e =
                    assertThrows(TorchFormatException.class, () -> OptimizerState.readAll(Fixtures.path(f)));
            assertTrue(e.getMessage().contains("refusing pickle global"), e.getMessage());
        }
    }

    @Test
    void constructorsCheckTheirArguments() {
        INDArray a = Nd4j.zeros(DataType.FLOAT, 2, 3);
        assertThrows(IllegalArgumentException.class, () -> new OptimizerState.ParamState(-1, a, a));
        assertThrows(
                IllegalArgumentException.class,
                () -> new OptimizerState.ParamState(1, a, Nd4j.zeros(DataType.FLOAT, 3, 2)));
        assertThrows(
                IllegalArgumentException.class,
                () -> new OptimizerState.ParamState(1, a, a, Nd4j.zeros(DataType.FLOAT, 6)));
        assertThrows(
                IllegalArgumentException.class,
                () -> OptimizerState.ParamGroup.adam(1e-3, 0.9, 0.999, 1e-8, 0, List.of(0, 0)));
        assertThrows(
                IllegalArgumentException.class,
                () -> new OptimizerState.ParamGroup(1e-3, 0.9, 0.999, 1e-8, 0, false, List.of(0), Map.of("lr", 1.0)));
        OptimizerState.ParamGroup g0 = OptimizerState.ParamGroup.adam(1e-3, 0.9, 0.999, 1e-8, 0, List.of(0, 1));
        OptimizerState.ParamGroup g1 = OptimizerState.ParamGroup.adam(1e-3, 0.9, 0.999, 1e-8, 0, List.of(1));
        assertThrows(IllegalArgumentException.class, () -> new OptimizerState(List.of(), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new OptimizerState(List.of(g0, g1), Map.of()));
        assertThrows(
                IllegalArgumentException.class,
                () -> new OptimizerState(List.of(g0), Map.of(2, new OptimizerState.ParamState(1, a, a))));
        OptimizerState.ParamGroup ams =
                new OptimizerState.ParamGroup(1e-3, 0.9, 0.999, 1e-8, 0, true, List.of(0), Map.of());
        assertThrows(
                IllegalArgumentException.class,
                () -> new OptimizerState(List.of(ams), Map.of(0, new OptimizerState.ParamState(1, a, a))));
        OptimizerState ok = new OptimizerState(List.of(ams), Map.of(0, new OptimizerState.ParamState(1, a, a, a)));
        assertEquals(List.of(0), ok.params());
        assertFalse(ok.state(1).isPresent());
        assertEquals(
                List.of("maximize", "foreach", "capturable", "differentiable", "fused"),
                new ArrayList<>(g0.options().keySet()));
    }

    @Test
    void mutatedOptimizerFilesFailOnlyWithTheLibrarysException() {
        // A fixed count with fixed seeds, so that every run tries the same files; the timeout only stops a hang.
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            int runs = 0;
            int refused = 0;
            List<String> seeds = List.of("optims.ckpt", "optims_legacy.ckpt");
            for (int s = 0; s < seeds.size(); s++) {
                byte[] original = Files.readAllBytes(Fixtures.path(seeds.get(s)));
                Random rnd = new Random(99 + s);
                for (int i = 0; i < 300; i++) {
                    byte[] m = original.clone();
                    String how;
                    if (rnd.nextInt(4) == 0) {
                        m = java.util.Arrays.copyOf(original, rnd.nextInt(original.length));
                        how = "truncated to " + m.length;
                    } else {
                        int flips = 1 + rnd.nextInt(4);
                        for (int k = 0; k < flips; k++) {
                            int at = rnd.nextInt(m.length);
                            m[at] = rnd.nextBoolean()
                                    ? (byte) rnd.nextInt(256)
                                    : (byte) (m[at] ^ (1 << rnd.nextInt(8)));
                        }
                        how = flips + " changed bytes";
                    }
                    runs++;
                    try {
                        OptimizerState.allOf(StateDict.read(m));
                    } catch (TorchFormatException e) {
                        refused++;
                        if (e.getMessage() == null || e.getMessage().isBlank()) {
                            fail(seeds.get(s) + " " + how + ": exception without message");
                        }
                        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                            if (c instanceof RuntimeException || c instanceof Error) {
                                throw new AssertionError(seeds.get(s) + " " + how + ": internal failure wrapped", c);
                            }
                        }
                    } catch (Throwable t) {
                        throw new AssertionError(seeds.get(s) + " " + how + ": " + t, t);
                    }
                }
            }
            System.out.println("optimizer fuzz: " + runs + " mutated files, " + refused + " refused, rest read");
            assertTrue(refused > runs / 10, "suspiciously few refusals: " + refused + " of " + runs);
        });
    }
}
