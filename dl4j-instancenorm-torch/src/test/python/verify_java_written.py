"""Checks in real PyTorch the files the Java writers wrote: torch-io/java-written/{net.pt, net.safetensors, net.txt,
dtypes.pt, dtypes.safetensors, wrapped.pt, optims.ckpt, optims_built.ckpt}, committed and kept current by
JavaWrittenFilesTest (which fails when the writers' bytes change; rewrite them with -Dtorchio.update=true). The
optimizer files are loaded into torch.optim.Adam with load_state_dict (section 5). Run from the repository root:
    /usr/bin/python3 dl4j-instancenorm-torch/src/test/python/verify_java_written.py
It exits non-zero on any mismatch. Note: torch 1.13 weights_only=True cannot read floats (BINFLOAT)
outside tensors, even in files torch itself wrote, so the nested checkpoint is loaded without it.
"""
import collections, json, os, struct, sys
import torch
HERE = os.path.dirname(os.path.abspath(__file__))
IO = os.path.join(HERE, "..", "resources", "torch-io")
JW = os.path.join(IO, "java-written")
ok = True
def cmp(a, b, name):
    global ok
    same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if not same:
        ok = False
        print("MISMATCH", name, a.dtype, b.dtype, a.shape, b.shape)
    return same
# 1. network written by Java, both formats, vs Java's own printout
sd = torch.load(os.path.join(JW, "net.pt"), weights_only=True)
print(type(sd).__name__, list(sd.keys()))
for line in open(os.path.join(JW, "net.txt")):
    k, vals = line.split(" ", 1)
    ref = torch.tensor(json.loads(vals), dtype=torch.float64)
    if not torch.allclose(sd[k].double().reshape(-1), ref, rtol=0, atol=0): ok=False; print("value mismatch", k)
# safetensors parsed by hand (no safetensors package): u64 len, JSON, data
def read_st(path):
    raw = open(path, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8+n], object_pairs_hook=collections.OrderedDict); data = raw[8+n:]
    dt = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
          "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
    out = collections.OrderedDict()
    for k, v in h.items():
        if k == "__metadata__": continue
        b, e = v["data_offsets"]
        buf = bytearray(data[b:e])
        t = torch.frombuffer(buf, dtype=dt[v["dtype"]]) if e > b else torch.empty(0, dtype=dt[v["dtype"]])
        out[k] = t.reshape(v["shape"])
    return out
st = read_st(os.path.join(JW, "net.safetensors"))
for k in sd: cmp(sd[k], st[k], "net.safetensors " + k)
# 2. every dtype, Java rewrite vs the original written by PyTorch
orig = torch.load(os.path.join(IO, "dtypes.pt"))
back = torch.load(os.path.join(JW, "dtypes.pt"), weights_only=True)
stb = read_st(os.path.join(JW, "dtypes.safetensors"))
assert list(orig) == list(back) == list(stb), (list(back), list(stb))
for k in orig:
    cmp(orig[k], back[k], "dtypes.pt " + k); cmp(orig[k], stb[k], "dtypes.safetensors " + k)
# 3. nested checkpoint
w0 = torch.load(os.path.join(IO, "wrapped.pt"))
w1 = torch.load(os.path.join(JW, "wrapped.pt"))  # 1.13 weights_only lacks BINFLOAT (fails on torch-written float too)
w1g = torch.load(os.path.join(JW, "wrapped.pt"), weights_only=False)
print({k: w1[k] for k in w1 if k != "G"})
for k in w0["G"]: cmp(w0["G"][k], w1["G"][k], "wrapped " + k)
assert w1["step"] == 5 and w1["name"] == "gen" and w1["lr"] == 0.0002 and w1["done"] is False and w1["nothing"] is None
# 4. loads into the torch module
import importlib.util, sys
spec = importlib.util.spec_from_file_location("gen", os.path.join(HERE, "gen_torch_io_fixtures.py"))
gen = importlib.util.module_from_spec(spec); spec.loader.exec_module(gen)
m = gen.Generator(); print(m.load_state_dict(sd))
# 5. optimizer states (OptimizerState.writeAll): torch.load, then Adam.load_state_dict into the optimizers of
# gen_optimizer_fixtures.py; the loaded state must equal what PyTorch saved, and one more step must give the same
# parameters to the bit
spec = importlib.util.spec_from_file_location("genopt", os.path.join(HERE, "gen_optimizer_fixtures.py"))
genopt = importlib.util.module_from_spec(spec); spec.loader.exec_module(genopt)
def tuple_betas(groups):  # Adam takes betas as any pair; the Java writer writes a tuple, as Adam's default is one
    return [dict(g, betas=tuple(g["betas"])) for g in groups]
def same_optimizer_state(a, b, name):
    global ok
    if tuple_betas(a["param_groups"]) != b["param_groups"] or list(a["state"]) != list(b["state"]):
        ok = False; print("MISMATCH", name, a["param_groups"], b["param_groups"], list(a["state"]), list(b["state"]))
        return
    for g in b["param_groups"]:
        if type(g["betas"]) is not tuple: ok = False; print("MISMATCH", name, "betas is a", type(g["betas"]))
    for k in a["state"]:
        if not isinstance(k, int): ok = False; print("MISMATCH", name, "state key", repr(k))
        if list(a["state"][k]) != list(b["state"][k]):
            ok = False; print("MISMATCH", name, k, list(a["state"][k]), list(b["state"][k]))
        for e in a["state"][k]:
            cmp(a["state"][k][e], b["state"][k][e], "%s state %d %s" % (name, k, e))
def step_both(pa, oa, pb, ob, indices, name):
    g = torch.Generator().manual_seed(17)
    for i, (p, q) in enumerate(zip(pa, pb)):
        if i in indices:
            grad = torch.randn(p.shape, generator=g); p.grad = grad.clone(); q.grad = grad.clone()
    oa.step(); ob.step()
    for i, (p, q) in enumerate(zip(pa, pb)): cmp(p.detach(), q.detach(), "%s param %d after a step" % (name, i))
orig = torch.load(os.path.join(IO, "optims.ckpt"))
java = torch.load(os.path.join(JW, "optims.ckpt"))
assert type(java) is dict and list(orig) == list(java), (type(java), list(java))
for name in orig:
    (pa, oa), (pb, ob) = genopt.build()[0][name], genopt.build()[0][name]
    oa.load_state_dict(orig[name]); ob.load_state_dict(java[name])
    same_optimizer_state(oa.state_dict(), ob.state_dict(), "optims.ckpt " + name)
    step_both(pa, oa, pb, ob, set(orig[name]["state"]), "optims.ckpt " + name)
    print("optims.ckpt", name, "loaded:", len(java[name]["state"]), "param states,",
          [{k: v for k, v in g.items() if k != "params"} for g in java[name]["param_groups"]])
# built in Java (OptimizerStateTest.built): the same values built here in Python
def formula(shape, p, scale):
    n = 1
    for s in shape: n *= s
    return ((p + 1) / scale + torch.arange(n, dtype=torch.float64) / (32 * scale)).float().reshape(shape)
shapes = [(3, 2, 3, 3), (3,), (2, 3), (2,), (4,)]
ref = {"state": {p: {"step": torch.tensor(float(100000 + p)), "exp_avg": formula(shapes[p], p, 8),
                     "exp_avg_sq": formula(shapes[p], p, 16)} for p in range(4)},
       "param_groups": [{"lr": 1e-4, "betas": (0.0, 0.99), "eps": 1e-8, "weight_decay": 1e-4, "amsgrad": False,
                         "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                         "fused": False, "params": [0, 1, 2, 3, 4]}]}
built = torch.load(os.path.join(JW, "optims_built.ckpt"))
assert list(built) == ["generator"], list(built)
same_optimizer_state(ref, built["generator"], "optims_built.ckpt as written")
(pa, oa), (pb, ob) = genopt.build()[0]["generator"], genopt.build()[0]["generator"]
oa.load_state_dict(ref); ob.load_state_dict(built["generator"])
same_optimizer_state(oa.state_dict(), ob.state_dict(), "optims_built.ckpt loaded")
step_both(pa, oa, pb, ob, {0, 1, 2, 3}, "optims_built.ckpt")
print("optims_built.ckpt loaded; steps after one more step:", [int(s["step"]) for s in ob.state_dict()["state"].values()])
print("ALL MATCH" if ok else "FAILURES", torch.__version__)
sys.exit(0 if ok else 1)
