#!/usr/bin/python3
"""Writes the PyTorch checkpoint fixtures read by the io.github.instancenorm.torch tests.

Run with the interpreter that has PyTorch (1.13 was used):
    /usr/bin/python3 dl4j-instancenorm-torch/src/test/python/gen_torch_io_fixtures.py

For every checkpoint NAME.pt (or NAME.safetensors) it also writes NAME.expected.json, an
independent description of what the file holds: for each tensor its dtype, shape and every value
in C order (floats of every width are exact in a JSON double; int64 values as JSON integers), and
for other entries their plain value. Tests compare the Java reader against these files exactly.
Seeds are fixed so the files are reproducible.
"""
import _compat_pickle
import collections
import json
import os
import struct
import sys

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "torch-io")


def describe(v):
    """Plain-JSON description of a checkpoint value."""
    if isinstance(v, torch.Tensor):
        t = v.detach()
        flat = t.reshape(-1)
        if t.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            values = [float(x) for x in flat.double().tolist()]
        elif t.dtype == torch.bool:
            values = [bool(x) for x in flat.tolist()]
        else:
            values = [int(x) for x in flat.tolist()]
        return {"tensor": True, "dtype": str(t.dtype).replace("torch.", ""),
                "shape": list(t.shape), "values": values}
    if isinstance(v, dict):
        return {"dict": [[str(k), describe(x)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return {"list": [describe(x) for x in v]}
    return {"value": v}


def save(name, obj, legacy=False):
    path = os.path.join(OUT, name + ".pt")
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
        json.dump(describe(obj), f)
    print("wrote", path, os.path.getsize(path), "bytes")


def save_safetensors(name, tensors, metadata=None):
    """safetensors written by hand from the documented layout (python3-safetensors is not
    installed): u64 little-endian header length, JSON header {name: {dtype, shape,
    data_offsets: [begin, end]}} with offsets relative to the data section, then the raw
    little-endian bytes."""
    codes = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
             torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}
    header = collections.OrderedDict()
    if metadata:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for k, t in tensors.items():
        t = t.contiguous()
        # raw bytes through an untyped storage: works for bfloat16, which numpy lacks
        raw = bytes(t.reshape(-1).view(torch.uint8).tolist()) if t.numel() else b""
        header[k] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                     "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hb = json.dumps(header).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    path = os.path.join(OUT, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
        json.dump(describe(collections.OrderedDict(tensors)), f)
    print("wrote", path, os.path.getsize(path), "bytes")


def all_dtypes():
    g = torch.Generator().manual_seed(1)
    d = collections.OrderedDict()
    d["f32"] = torch.randn(2, 3, generator=g)
    d["f64"] = torch.randn(3, 2, generator=g, dtype=torch.float64)
    d["f16"] = torch.randn(4, generator=g).half()
    d["bf16"] = torch.randn(2, 2, generator=g).bfloat16()
    d["i64"] = torch.tensor([0, -1, 2**62 + 7, -(2**63)], dtype=torch.int64)
    d["i32"] = torch.tensor([[1, -2], [2**31 - 1, -(2**31)]], dtype=torch.int32)
    d["i16"] = torch.tensor([1, -2, 32767, -32768], dtype=torch.int16)
    d["i8"] = torch.tensor([1, -2, 127, -128], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["scalar"] = torch.tensor(3.5)
    d["empty"] = torch.zeros(0, 3)
    d["nbt"] = torch.tensor(7, dtype=torch.int64)
    return d


def views():
    base = torch.arange(60, dtype=torch.float32)
    d = collections.OrderedDict()
    d["base"] = base                                   # whole storage
    d["slice"] = base[10:22].view(3, 4)                # offset 10
    d["transposed"] = base[:12].view(3, 4).t()         # strides (1, 4)
    d["strided"] = base.view(6, 10)[::2, 1::3]         # offset 1, strides (20, 3)
    d["expanded"] = base[5:6].expand(2, 3)             # stride 0
    other = torch.arange(24, dtype=torch.float64).view(2, 3, 4)
    d["perm"] = other.permute(2, 0, 1)                 # 3-d permutation
    d["perm_base"] = other                             # shares storage with perm
    return d


class Generator(nn.Module):
    """A small generator-like network: Conv2d, BatchNorm2d, ReLU, ConvTranspose2d."""

    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1, bias=True),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.ConvTranspose2d(4, 2, 3, stride=2, bias=True),
        )

    def forward(self, x):
        return self.main(x)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 4)
        self.bn = nn.BatchNorm1d(4)
        self.fc2 = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def randomize_bn(bn, g):
    with torch.no_grad():
        bn.weight.copy_(torch.rand(bn.weight.shape, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(bn.bias.shape, generator=g))
        bn.running_mean.copy_(torch.randn(bn.running_mean.shape, generator=g))
        bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g) + 0.5)
        bn.num_batches_tracked.fill_(11)


def models():
    torch.manual_seed(7)
    g = torch.Generator().manual_seed(3)
    gen = Generator().eval()
    randomize_bn(gen.main[1], g)
    x = torch.randn(2, 3, 5, 5, generator=g)
    save("generator", gen.state_dict())
    save("generator_io", collections.OrderedDict(input=x, output=gen(x).detach()))

    mlp = Mlp().eval()
    randomize_bn(mlp.bn, g)
    xm = torch.randn(3, 5, generator=g)
    save("mlp", mlp.state_dict())
    save("mlp_io", collections.OrderedDict(input=xm, output=mlp(xm).detach()))

    # A checkpoint as GAN training scripts write it: generator wrapped in DataParallel
    # ("module." prefixes, OrderedDict with _metadata) plus plain values.
    wrapped = {"G": nn.DataParallel(gen).state_dict(), "step": 5, "name": "gen",
               "lr": 0.0002, "done": False, "nothing": None, "betas": (0.5, 0.999)}
    save("wrapped", wrapped)
    save("wrapped_legacy", wrapped, legacy=True)

    misc = nn.ModuleDict({"c1": nn.Conv1d(2, 3, 4), "c3": nn.Conv3d(2, 3, (1, 2, 3)),
                          "emb": nn.Embedding(6, 4), "inorm": nn.InstanceNorm2d(3, affine=True,
                                                                                track_running_stats=True)})
    save("misc", misc.state_dict())


class Evil:
    """An object whose pickle calls fn(arg) on load: what a malicious checkpoint contains."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def malicious():
    """Checkpoints that would run code in pickle.load; the reader must refuse them. The file
    malicious.expected.json names the global each one imports, as pickle wrote it."""
    import subprocess
    cases = [("malicious_os_system", os.system, "echo pwned > /tmp/pwned", False),
             ("malicious_eval_legacy", eval, "__import__('os').system('echo pwned')", True),
             ("malicious_popen", subprocess.Popen, "id", False)]
    expected = {}
    for name, fn, arg, legacy in cases:
        path = os.path.join(OUT, name + ".pt")
        torch.save({"w": torch.ones(2), "x": Evil(fn, arg)}, path, _use_new_zipfile_serialization=not legacy)
        # protocol 2 (torch.save's) writes Python 2 module names, e.g. __builtin__ for builtins
        module = _compat_pickle.REVERSE_IMPORT_MAPPING.get(fn.__module__, fn.__module__)
        expected[name + ".pt"] = module + "." + fn.__name__
        print("wrote", path)
    with open(os.path.join(OUT, "malicious.expected.json"), "w") as f:
        json.dump(expected, f)


class _Unseekable:
    """A write-only stream, so zipfile must use data descriptors after each entry."""

    def __init__(self, f):
        self.f = f

    def write(self, b):
        return self.f.write(b)

    def flush(self):
        self.f.flush()


def repack(src, name):
    """Re-packs a torch.save zip the way other tools may: another top-level folder, deflated
    entries, ZIP64 local extras and data descriptors. PyTorch itself reads it back, which
    checks the re-packing; the expected values are those of the source."""
    import shutil
    import zipfile
    dst = os.path.join(OUT, name + ".pt")
    with zipfile.ZipFile(os.path.join(OUT, src + ".pt")) as zin, open(dst, "wb") as raw:
        with zipfile.ZipFile(_Unseekable(raw), "w", compression=zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                new_name = "my_ckpt/" + info.filename.split("/", 1)[1]
                with zin.open(info) as i, zout.open(new_name, "w", force_zip64=True) as o:
                    shutil.copyfileobj(i, o)
    assert list(torch.load(dst).keys()) == list(torch.load(os.path.join(OUT, src + ".pt")).keys())
    shutil.copy(os.path.join(OUT, src + ".expected.json"), os.path.join(OUT, name + ".expected.json"))
    print("wrote", dst)


def main():
    os.makedirs(OUT, exist_ok=True)
    save("dtypes", all_dtypes())
    save("dtypes_legacy", all_dtypes(), legacy=True)
    save("views", views())
    save("views_legacy", views(), legacy=True)
    models()
    malicious()
    repack("dtypes", "dtypes_repacked")
    d = all_dtypes()
    del d["scalar"]
    save_safetensors("dtypes_st", d, metadata={"format": "pt"})
    print("torch", torch.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
