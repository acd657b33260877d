#!/usr/bin/env python3
"""A StarGAN v2 run in real PyTorch that the JVM trainer resumes: a checkpoint, then two whole iterations after it.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch), after
dl4j-instancenorm-zoo/src/test/python/gen_stargan_v2_fixtures.py:

    /usr/bin/python3 dl4j-instancenorm-train/src/test/python/gen_stargan_v2_train_fixtures.py

The networks are the zoo fixture's small16 (16 px, 3 domains, batch 4, w_hpf 0; modules defined in
gen_stargan_v2_fixtures.py). The training procedure is StarGAN v2's (Choi et al., CVPR 2020), written here from its
description (the losses are those of gen_stargan_v2_step_fixtures.py):

  one iteration, inputs x_real, y_org, x_ref, x_ref2, y_trg, z_trg, z_trg2:
    D step, latent styles (s = F(z_trg, y_trg));     zero every gradient, backward, Adam step of D
    D step, reference styles (s = E(x_ref, y_trg));  the same
    G step, latent styles (z_trg, z_trg2);           zero, backward, Adam steps of G, F and E
    G step, reference styles (x_ref, x_ref2);        zero, backward, Adam step of G only
    ema = torch.lerp(p, ema, 0.999) for the parameters of G, F and E
    lambda_ds -= initial_lambda_ds / ds_iter while lambda_ds > 0
  optimizers: torch.optim.Adam(lr, betas=(0, 0.99), eps=1e-8, weight_decay=1e-4); lr 1e-4 for G, E, D and 1e-6 for F.

Steps:
  1. Start from small16_nets.ckpt; the EMA copies are those weights moved by 0.01 * N(0, 1) (so the average is
     not trivial). One iteration from fresh optimizers (lambda_ds 2, inputs it0), then write the official checkpoint
     layout of clovaai/stargan-v2 at 875b70a, zip format:
       starganv2-train/000001_nets.ckpt      {generator, mapping_network, style_encoder, discriminator: state_dict}
       starganv2-train/000001_nets_ema.ckpt  {generator, mapping_network, style_encoder: state_dict}
       starganv2-train/000001_optims.ckpt    {same four names: Adam's state_dict}
  2. Resume as the official solver does: fresh modules and optimizers, load_state_dict of all three files;
     lambda_ds restarts from its configured value 2, ds_iter 4 (so it is 2, then 1.5). Two iterations (inputs it1,
     it2), once in float32 (as trained) and once in float64 (modules and optimizer states converted after loading).
Writes starganv2-train/resume.npz:
  itK.INPUT for K in 0..2: x_real, x_ref, x_ref2 [4, 3, 16, 16]; z_trg, z_trg2 [4, 4]; y_org, y_trg one-hot [4, 3]
  TYPE.itK.LOSS.TERM [1] float64, TYPE in float32/float64, K in 1..2: the loss terms of d_latent, d_reference
      (real, fake, reg, total), g_latent and g_reference (adv, sty, ds, cyc, total)
  TYPE.nets.NET.PARAM, TYPE.ema.NET.PARAM: every parameter after the two iterations, PyTorch layout, in TYPE
  TYPE.optims.NET.INDEX.step [1] (float64), and float64.optims.NET.INDEX.exp_avg / exp_avg_sq: Adam's state
      afterwards, INDEX numbering the parameters as the optimizer does (the moments of the double run only: in float,
      exp_avg is the last gradient, whose L1 terms' signs flip where an output ties, so it is compared in double)
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.abspath(__file__))
ZOO_PY = os.path.join(ROOT, "..", "..", "..", "..", "dl4j-instancenorm-zoo", "src", "test", "python")
sys.path.insert(0, ZOO_PY)
sys.path.insert(0, ROOT)
import gen_stargan_v2_fixtures as nets_def  # noqa: E402
from gen_stargan_v2_step_fixtures import d_loss, g_loss  # noqa: E402

ZOO_FIXTURES = os.path.join(ZOO_PY, "..", "resources", "fixtures", "starganv2")
OUT = os.path.join(ROOT, "..", "resources", "fixtures", "starganv2-train")
CONFIG = "small16"
NETS = ("generator", "mapping_network", "style_encoder", "discriminator")
EMA = NETS[:3]
LAMBDA = {"reg": 1.0, "sty": 1.0, "ds": 2.0, "cyc": 1.0}
DS_ITER = 4
LR = {"generator": 1e-4, "mapping_network": 1e-6, "style_encoder": 1e-4, "discriminator": 1e-4}


def build():
    img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, _ = nets_def.CONFIGS[CONFIG]
    return {
        "generator": nets_def.Gen(img, dim_in, max_dim, style_dim, w_hpf),
        "mapping_network": nets_def.Mapping(latent, style_dim, domains, hidden),
        "style_encoder": nets_def.Encoder(img, dim_in, max_dim, domains, style_dim),
        "discriminator": nets_def.Critic(img, dim_in, max_dim, domains),
    }


def optimizers(nets):
    return {k: torch.optim.Adam(nets[k].parameters(), lr=LR[k], betas=(0.0, 0.99), eps=1e-8, weight_decay=1e-4)
            for k in NETS}


def inputs(gen, img, domains, latent, batch):
    x_real, x_ref, x_ref2 = (torch.rand(batch, 3, img, img, generator=gen) * 2 - 1 for _ in range(3))
    z_trg, z_trg2 = (torch.randn(batch, latent, generator=gen) for _ in range(2))
    y_org = torch.randint(domains, (batch,), generator=gen)
    y_trg = torch.randint(domains, (batch,), generator=gen)
    return {"x_real": x_real, "x_ref": x_ref, "x_ref2": x_ref2, "z_trg": z_trg, "z_trg2": z_trg2, "y_org": y_org,
            "y_trg": y_trg}


def iteration(nets, ema, optims, inp, lam_ds, dtype):
    x_real, x_ref, x_ref2, z_trg, z_trg2 = (inp[k].to(dtype) for k in ("x_real", "x_ref", "x_ref2", "z_trg", "z_trg2"))
    y_org, y_trg = inp["y_org"], inp["y_trg"]
    lam = (LAMBDA["reg"], LAMBDA["sty"], lam_ds, LAMBDA["cyc"])
    terms = {}

    def step(name, loss_fn, updated):
        for opt in optims.values():
            opt.zero_grad()
        total, values = loss_fn()
        total.backward()
        for k in updated:
            optims[k].step()
        for term, value in values.items():
            terms[f"{name}.{term}"] = value.item()

    step("d_latent", lambda: d_loss(nets, lam, x_real, y_org, y_trg, z_trg=z_trg), ["discriminator"])
    step("d_reference", lambda: d_loss(nets, lam, x_real, y_org, y_trg, x_ref=x_ref), ["discriminator"])
    step("g_latent", lambda: g_loss(nets, lam, x_real, y_org, y_trg, z_trgs=(z_trg, z_trg2)),
         ["generator", "mapping_network", "style_encoder"])
    step("g_reference", lambda: g_loss(nets, lam, x_real, y_org, y_trg, x_refs=(x_ref, x_ref2)), ["generator"])
    with torch.no_grad():
        for k in EMA:
            for p, p_ema in zip(nets[k].parameters(), ema[k].parameters()):
                p_ema.copy_(torch.lerp(p, p_ema, 0.999))
    return terms


def decayed(lam_ds):
    return lam_ds - LAMBDA["ds"] / DS_ITER if lam_ds > 0 else lam_ds


def main():
    os.makedirs(OUT, exist_ok=True)
    img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, _ = nets_def.CONFIGS[CONFIG]
    gen = torch.Generator().manual_seed(29)
    batches = [inputs(gen, img, domains, latent, batch) for _ in range(3)]

    # 1. The run being resumed: one iteration from the fixture weights and fresh optimizers.
    start = torch.load(os.path.join(ZOO_FIXTURES, CONFIG + "_nets.ckpt"))
    nets, ema = build(), build()
    for k in NETS:
        nets[k].load_state_dict(start[k], strict=True)
        nets[k].train()
    with torch.no_grad():
        for k in EMA:
            ema[k].load_state_dict(start[k], strict=True)
            for p in ema[k].parameters():
                p.add_(0.01 * torch.randn(p.shape, generator=gen))
    optims = optimizers(nets)
    iteration(nets, ema, optims, batches[0], LAMBDA["ds"], torch.float32)
    paths = {name: os.path.join(OUT, f"000001_{name}.ckpt") for name in ("nets", "nets_ema", "optims")}
    torch.save({k: nets[k].state_dict() for k in NETS}, paths["nets"])
    torch.save({k: ema[k].state_dict() for k in EMA}, paths["nets_ema"])
    torch.save({k: optims[k].state_dict() for k in NETS}, paths["optims"])

    arrays = {}
    for i, b in enumerate(batches):
        for key, value in b.items():
            arrays[f"it{i}.{key}"] = (F.one_hot(value, domains).float() if key.startswith("y") else value).numpy()

    # 2. Resume, as the official solver's _load_checkpoint does, and train two iterations.
    for dtype, type_name in ((torch.float32, "float32"), (torch.float64, "float64")):
        nets, ema = build(), build()
        saved = {name: torch.load(path) for name, path in paths.items()}
        for k in NETS:
            nets[k].load_state_dict(saved["nets"][k], strict=True)
            nets[k].to(dtype).train()
        for k in EMA:
            ema[k].load_state_dict(saved["nets_ema"][k], strict=True)
            ema[k].to(dtype)
        optims = optimizers(nets)
        for k in NETS:
            optims[k].load_state_dict(saved["optims"][k])
        lam_ds = LAMBDA["ds"]
        for i in (1, 2):
            terms = iteration(nets, ema, optims, batches[i], lam_ds, dtype)
            lam_ds = decayed(lam_ds)
            for term, value in terms.items():
                arrays[f"{type_name}.it{i}.{term}"] = np.array([value], dtype=np.float64)
            print(type_name, i, {k: round(v, 6) for k, v in terms.items() if k.endswith("total")}, file=sys.stderr)
        for k in NETS:
            for pname, p in nets[k].named_parameters():
                arrays[f"{type_name}.nets.{k}.{pname}"] = p.detach().numpy()
        for k in EMA:
            for pname, p in ema[k].named_parameters():
                arrays[f"{type_name}.ema.{k}.{pname}"] = p.detach().numpy()
        for k in NETS:
            for index, st in optims[k].state_dict()["state"].items():
                arrays[f"{type_name}.optims.{k}.{index}.step"] = np.array([float(st["step"])], dtype=np.float64)
                if dtype == torch.float64:
                    arrays[f"float64.optims.{k}.{index}.exp_avg"] = st["exp_avg"].numpy()
                    arrays[f"float64.optims.{k}.{index}.exp_avg_sq"] = st["exp_avg_sq"].numpy()
    np.savez(os.path.join(OUT, "resume.npz"), **arrays)
    print(f"wrote {os.path.normpath(OUT)} (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
