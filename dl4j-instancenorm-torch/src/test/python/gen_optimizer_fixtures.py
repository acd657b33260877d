#!/usr/bin/python3
"""Writes the optimizer-state fixtures read by OptimizerStateTest.

Run with the interpreter that has PyTorch (1.13 was used), from the repository root:
    /usr/bin/python3 dl4j-instancenorm-torch/src/test/python/gen_optimizer_fixtures.py

It writes, under src/test/resources/torch-io:
- optims.ckpt: torch.save of {name: optimizer.state_dict()} in the zip format, as StarGAN v2 saves its
  {step:06d}_optims.ckpt;
- optims_legacy.ckpt: the same dict in the legacy format (_use_new_zipfile_serialization=False);
- optims.expected.json: an independent description of what both files hold, written from the Python objects:
  per optimizer, each param group's entries (betas as a list) and, per parameter index, the type of 'step' and
  its value, and every tensor's dtype, shape and values in C order (float32 values are exact in a JSON double).

The optimizers (seeds fixed, so the files are reproducible):
- "generator": Adam(lr=1e-4, betas=(0.0, 0.99), eps=1e-8, weight_decay=1e-4) over a small model's parameters and
  one parameter that never gets a gradient, so it has no state entry; three steps;
- "discriminator": Adam with two param groups (the second with amsgrad=True, so its state has max_exp_avg_sq);
  two steps;
- "mapping_network": betas given as a list (as StarGAN v2 does, so the file holds a list, not a tuple); one step,
  then 'step' turned into a Python int, as PyTorch before 1.12 saved it.
verify_java_written.py imports this script's build() to load the Java-written optimizer files into the same
optimizers.
"""
import collections
import json
import os

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "torch-io")


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def build():
    """The modules and their optimizers, before any step: {name: (list of parameters, optimizer)}."""
    torch.manual_seed(11)
    g = Small()
    unused = nn.Parameter(torch.randn(4))  # never in the graph: no gradient, no state entry
    d = Small()
    m = nn.Linear(3, 3)
    out = collections.OrderedDict()
    gp = list(g.parameters()) + [unused]
    out["generator"] = (gp, torch.optim.Adam(gp, lr=1e-4, betas=(0.0, 0.99), eps=1e-8, weight_decay=1e-4))
    dp = list(d.parameters())
    out["discriminator"] = (dp, torch.optim.Adam(
        [{"params": dp[:2]}, {"params": dp[2:], "amsgrad": True, "lr": 5e-4}], lr=2e-4, betas=(0.5, 0.999)))
    mp = list(m.parameters())
    # betas as a list, as StarGAN v2's solver passes them
    out["mapping_network"] = (mp, torch.optim.Adam(mp, lr=1e-6, betas=[0.0, 0.99], weight_decay=1e-4))
    return out, (g, d, m)


def train():
    opts, (g, d, m) = build()
    gen = torch.Generator().manual_seed(5)
    for steps, name, net in ((3, "generator", g), (2, "discriminator", d), (1, "mapping_network", m)):
        opt = opts[name][1]
        for _ in range(steps):
            opt.zero_grad()
            if net is m:
                loss = (net(torch.randn(4, 3, generator=gen)) ** 2).sum()
            else:
                loss = (net(torch.randn(2, 2, 5, 5, generator=gen)) ** 2).sum()
            loss.backward()
            opt.step()
    sds = {k: v[1].state_dict() for k, v in opts.items()}  # a plain dict, as StarGAN v2's CheckpointIO saves
    for s in sds["mapping_network"]["state"].values():
        s["step"] = int(s["step"].item())  # what PyTorch before 1.12 wrote
    return sds


def tensor(t):
    t = t.detach()
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
            "values": [float(x) for x in t.reshape(-1).double().tolist()]}


def describe(sds):
    out = collections.OrderedDict()
    for name, sd in sds.items():
        groups = []
        for g in sd["param_groups"]:
            e = collections.OrderedDict()
            for k, v in g.items():
                e[k] = list(v) if isinstance(v, tuple) else v
            groups.append(e)
        state = []
        for index, s in sd["state"].items():
            assert isinstance(index, int)
            entry = collections.OrderedDict()
            for k, v in s.items():
                if k == "step":
                    entry["step"] = int(v.item()) if torch.is_tensor(v) else v
                    entry["step_type"] = "tensor " + str(v.dtype).replace("torch.", "") + " " + str(list(v.shape)) \
                        if torch.is_tensor(v) else type(v).__name__
                else:
                    entry[k] = tensor(v)
            state.append([index, entry])
        out[name] = {"param_groups": groups, "state": state}
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    sds = train()
    for file, legacy in (("optims.ckpt", False), ("optims_legacy.ckpt", True)):
        path = os.path.join(OUT, file)
        torch.save(sds, path, _use_new_zipfile_serialization=not legacy)
        print("wrote", path, os.path.getsize(path), "bytes")
    with open(os.path.join(OUT, "optims.expected.json"), "w") as f:
        json.dump(describe(sds), f)
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
