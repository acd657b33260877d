#!/usr/bin/env python3
"""Loads the StarGAN v2 run that the JVM trainer wrote back (StarGanV2TrainerTest.savedRunResumesExactly writes
dl4j-instancenorm-train/target/starganv2-train-written/000003_{nets,nets_ema,optims}.ckpt) into PyTorch as the
official solver resumes (strict load_state_dict of every network, Adam's load_state_dict), compares it with
PyTorch's own float run of the same two iterations (fixtures/starganv2-train/resume.npz), and trains one more
iteration on it. Run from the repository root after the test, with PyTorch 1.13:

    /usr/bin/python3 dl4j-instancenorm-train/src/test/python/verify_stargan_v2_train_written.py
"""
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
import gen_stargan_v2_train_fixtures as run  # noqa: E402

WRITTEN = os.path.join(ROOT, "..", "..", "..", "target", "starganv2-train-written")


def main():
    files = {name: os.path.join(WRITTEN, f"000003_{name}.ckpt") for name in ("nets", "nets_ema", "optims")}
    saved = {name: torch.load(path) for name, path in files.items()}
    print("entries:", {name: sorted(value) for name, value in saved.items()})
    nets, ema = run.build(), run.build()
    for k in run.NETS:
        print(k, nets[k].load_state_dict(saved["nets"][k], strict=True))
    for k in run.EMA:
        print(k, "(ema)", ema[k].load_state_dict(saved["nets_ema"][k], strict=True))
    optims = run.optimizers(nets)
    for k in run.NETS:
        optims[k].load_state_dict(saved["optims"][k])
        steps = sorted({int(st["step"]) for st in optims[k].state.values()})
        print(f"{k} optimizer: {len(optims[k].state)} of {len(list(nets[k].parameters()))} parameters with state,"
              f" steps {steps}, lr {optims[k].param_groups[0]['lr']}, betas {optims[k].param_groups[0]['betas']},"
              f" weight_decay {optims[k].param_groups[0]['weight_decay']}")
    ref = np.load(os.path.join(run.OUT, "resume.npz"))
    for group, modules in (("nets", nets), ("ema", ema)):
        for k in (run.NETS if group == "nets" else run.EMA):
            worst = max(np.abs(p.detach().numpy() - ref[f"float32.{group}.{k}.{n}"]).max()
                        for n, p in modules[k].named_parameters())
            print(f"{group}.{k}: max |java - pytorch float run| = {worst:.3g}")
    gen = torch.Generator().manual_seed(31)
    img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, _ = run.nets_def.CONFIGS[run.CONFIG]
    terms = run.iteration(nets, ema, optims, run.inputs(gen, img, domains, latent, batch), run.LAMBDA["ds"],
                          torch.float32)
    print("iteration 4 in PyTorch:", {k: round(v, 5) for k, v in terms.items() if k.endswith("total")})
    steps = {k: sorted({int(st["step"]) for st in optims[k].state.values()}) for k in run.NETS}
    print("steps after it:", steps)


if __name__ == "__main__":
    main()
