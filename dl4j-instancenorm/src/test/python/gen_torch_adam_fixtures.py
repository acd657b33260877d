#!/usr/bin/env python3
"""Fixtures for TorchAdam: torch.optim.Adam and torch.optim.AdamW stepping small parameters on stored gradients.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch):

    /usr/bin/python3 dl4j-instancenorm/src/test/python/gen_torch_adam_fixtures.py

Each case runs one optimizer (PyTorch 1.13's single-tensor path: foreach=False, capturable=False, fused=False,
maximize=False) for STEPS steps over four parameters shaped like the parameters of a DL4J network of a DenseLayer
(3 -> 4) and an OutputLayer (4 -> 2): w0 [3, 4], b0 [4], w1 [4, 2], b1 [2]. The gradients are fixed in advance
(stored), at different scales per parameter (1, 1e-3, 10, 1e-2: near and far from eps), three times larger in the
first ten steps (so that AMSGrad's running maximum differs from exp_avg_sq) and exactly zero for one element of w0.

Writes dl4j-instancenorm/src/test/resources/fixtures/torch-adam/cases.txt (one line per case: name, optimizer,
dtype, lr, beta1, beta2, eps, weight_decay, amsgrad) and {name}.npz holding, for each parameter P in w0, b0, w1, b1:

    P_init      the parameter before the first step
    P_grad      [STEPS, *shape] the gradient of each step
    P           [STEPS, *shape] the parameter after each step
    P_exp_avg, P_exp_avg_sq (and P_max_exp_avg_sq with amsgrad)   [STEPS, *shape] the optimizer state after each step

The state's 'step' after step k is k for every parameter.
"""
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "fixtures", "torch-adam")
STEPS = 100
SHAPES = {"w0": (3, 4), "b0": (4,), "w1": (4, 2), "b1": (2,)}
SCALES = {"w0": 1.0, "b0": 1e-3, "w1": 10.0, "b1": 1e-2}

# name: (optimizer, dtype, lr, beta1, beta2, eps, weight_decay, amsgrad)
CASES = {
    "adam": ("adam", torch.float32, 1e-2, 0.9, 0.999, 1e-8, 0.0, False),
    "adam_l2": ("adam", torch.float32, 1e-2, 0.5, 0.999, 1e-8, 0.05, False),
    "adam_amsgrad": ("adam", torch.float32, 1e-2, 0.9, 0.999, 1e-8, 0.0, True),
    # StarGAN v2's betas; eps large enough to matter for the small gradients of b0 and b1
    "adam_l2_amsgrad_eps": ("adam", torch.float32, 3e-3, 0.0, 0.99, 1e-3, 0.1, True),
    "adamw": ("adamw", torch.float32, 1e-2, 0.9, 0.999, 1e-8, 0.5, False),
    "adamw_amsgrad": ("adamw", torch.float32, 1e-2, 0.0, 0.99, 1e-8, 1e-2, True),
    "adam_l2_double": ("adam", torch.float64, 1e-2, 0.9, 0.999, 1e-8, 0.05, True),
    "adamw_double": ("adamw", torch.float64, 1e-2, 0.5, 0.999, 1e-6, 0.5, False),
}


def gradients(gen, dtype):
    """The stored gradients, [STEPS, *shape] per parameter, with a drift so that the parameters move."""
    grads = {}
    for name, shape in SHAPES.items():
        drift = torch.randn(shape, generator=gen, dtype=torch.float64)
        noise = torch.randn((STEPS,) + shape, generator=gen, dtype=torch.float64)
        burst = torch.ones((STEPS,) + (1,) * len(shape), dtype=torch.float64)
        burst[:10] = 3.0
        g = (0.5 * drift + noise) * burst * SCALES[name]
        if name == "w0":
            g[:, 1, 2] = 0.0
        grads[name] = g.to(dtype)
    return grads


def run(case, index):
    optimizer, dtype, lr, beta1, beta2, eps, wd, amsgrad = case
    gen = torch.Generator().manual_seed(1000 + index)
    params = {n: torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for n, s in SHAPES.items()}
    grads = gradients(gen, dtype)
    arrays = {n + "_init": p.numpy().copy() for n, p in params.items()}
    tensors = {n: torch.nn.Parameter(p.clone()) for n, p in params.items()}
    kind = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
    opt = kind(list(tensors.values()), lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd, amsgrad=amsgrad,
               foreach=False, maximize=False, capturable=False)
    keys = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
    history = {n: {k: [] for k in [""] + keys} for n in SHAPES}
    for step in range(STEPS):
        for n, t in tensors.items():
            t.grad = grads[n][step].clone()
        opt.step()
        for n, t in tensors.items():
            state = opt.state[t]
            assert int(state["step"].item()) == step + 1
            history[n][""].append(t.detach().numpy().copy())
            for k in keys:
                history[n][k].append(state[k].numpy().copy())
    for n in SHAPES:
        arrays[n + "_grad"] = grads[n].numpy()
        arrays[n] = np.stack(history[n][""])
        for k in keys:
            arrays[n + "_" + k] = np.stack(history[n][k])
    return arrays


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = ["# name optimizer dtype lr beta1 beta2 eps weight_decay amsgrad (gen_torch_adam_fixtures.py)"]
    for i, (name, case) in enumerate(CASES.items()):
        np.savez(os.path.join(OUT, name + ".npz"), **run(case, i))
        optimizer, dtype, lr, beta1, beta2, eps, wd, amsgrad = case
        kind = "float" if dtype == torch.float32 else "double"
        lines.append(f"{name} {optimizer} {kind} {lr!r} {beta1!r} {beta2!r} {eps!r} {wd!r} {str(amsgrad).lower()}")
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(CASES)} cases to {os.path.normpath(OUT)} (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
