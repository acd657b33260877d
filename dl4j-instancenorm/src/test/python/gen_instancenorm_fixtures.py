#!/usr/bin/env python3
"""Golden fixtures for InstanceNormalization, computed by real PyTorch.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch):

    /usr/bin/python3 dl4j-instancenorm/src/test/python/gen_instancenorm_fixtures.py

Writes one .npz per case into dl4j-instancenorm/src/test/resources/fixtures/instancenorm/ plus an index
(cases.txt, one line per case: name dims dtype affine track momentum). Every case is channels-first, as PyTorch
is; the Java tests permute inputs and expectations for the channels-last layouts.

Each case runs STEPS training forwards of nn.InstanceNorm{1,2,3}d on different inputs, recording after each the
output, the gradients of sum(y * dy) with respect to input, weight and bias, and the running statistics; then an
eval-mode forward and backward on a fresh input, and the instance-statistics forward of that input (what
useInputStatsInInference gives). Weight, bias and the initial running statistics are random, as after loading a
checkpoint.

momentum=None (cumulative moving average) is not accepted by nn.InstanceNorm in PyTorch 1.13; for it the script
calls F.instance_norm with momentum = 1/k on the k-th update, which is how PyTorch's batch norm defines it.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "fixtures", "instancenorm")
N, C = 3, 4
SPATIAL = {1: (7,), 2: (5, 6), 3: (3, 4, 5)}
STEPS = 3
EPS = 1e-5
MOMENTA = {"0.1": 0.1, "0.3": 0.3, "null": None}
MODULES = {1: torch.nn.InstanceNorm1d, 2: torch.nn.InstanceNorm2d, 3: torch.nn.InstanceNorm3d}


def make_input(gen, dims, dtype):
    shape = (N, C) + SPATIAL[dims]
    scale = torch.empty(1, C, *([1] * dims), dtype=torch.float64).uniform_(0.5, 3.0, generator=gen)
    offset = torch.empty(1, C, *([1] * dims), dtype=torch.float64).uniform_(-2.0, 2.0, generator=gen)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale + offset
    return x.to(dtype)


def run_case(seed, dims, dtype, affine, track, momentum_key):
    gen = torch.Generator().manual_seed(seed)
    momentum = MOMENTA[momentum_key]
    m = MODULES[dims](C, eps=EPS, momentum=0.1 if momentum is None else momentum, affine=affine,
                      track_running_stats=track).to(dtype)
    arrays = {}
    with torch.no_grad():
        if affine:
            m.weight.copy_(torch.empty(C, dtype=torch.float64).uniform_(0.5, 1.5, generator=gen))
            m.bias.copy_(torch.empty(C, dtype=torch.float64).uniform_(-0.5, 0.5, generator=gen))
            arrays["gamma"] = m.weight.detach().numpy().copy()
            arrays["beta"] = m.bias.detach().numpy().copy()
        if track:
            m.running_mean.copy_(torch.empty(C, dtype=torch.float64).uniform_(-1.0, 1.0, generator=gen))
            m.running_var.copy_(torch.empty(C, dtype=torch.float64).uniform_(0.5, 2.0, generator=gen))
            arrays["running_mean_init"] = m.running_mean.numpy().copy()
            arrays["running_var_init"] = m.running_var.numpy().copy()

    def forward_backward(x, dy, training, step):
        x = x.clone().requires_grad_(True)
        m.train(training)
        if momentum is None and training and track:
            y = F.instance_norm(x, m.running_mean, m.running_var, m.weight, m.bias, True, 1.0 / step, EPS)
        else:
            y = m(x)
        y.backward(dy)
        out = {"y": y.detach().numpy(), "dx": x.grad.numpy()}
        if affine:
            out["dgamma"] = m.weight.grad.numpy().copy()
            out["dbeta"] = m.bias.grad.numpy().copy()
            m.weight.grad = None
            m.bias.grad = None
        return out

    for k in range(1, STEPS + 1):
        x = make_input(gen, dims, dtype)
        dy = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(dtype)
        arrays[f"x{k}"] = x.numpy()
        arrays[f"dy{k}"] = dy.numpy()
        for name, value in forward_backward(x, dy, True, k).items():
            arrays[f"{name}{k}"] = value
        if track:
            arrays[f"running_mean{k}"] = m.running_mean.numpy().copy()
            arrays[f"running_var{k}"] = m.running_var.numpy().copy()

    x = make_input(gen, dims, dtype)
    dy = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(dtype)
    arrays["x_eval"] = x.numpy()
    arrays["dy_eval"] = dy.numpy()
    for name, value in forward_backward(x, dy, False, None).items():
        arrays[f"{name}_eval"] = value
    with torch.no_grad():
        arrays["y_eval_instance"] = F.instance_norm(x, None, None, m.weight, m.bias, True, 0.1, EPS).numpy()
    if track:  # eval must not have moved them
        assert np.array_equal(arrays[f"running_mean{STEPS}"], m.running_mean.numpy())
    return arrays


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npz") or f == "cases.txt":
            os.remove(os.path.join(OUT, f))
    index = []
    seed = 1000
    for dims in (1, 2, 3):
        for dtype, dname in ((torch.float32, "float"), (torch.float64, "double")):
            for affine in (True, False):
                for track, momenta in ((False, ["0.1"]), (True, ["0.1", "0.3", "null"])):
                    for mk in momenta:
                        seed += 1
                        name = f"in{dims}d_{dname}_affine{int(affine)}_track{int(track)}_m{mk}"
                        arrays = run_case(seed, dims, dtype, affine, track, mk)
                        np.savez(os.path.join(OUT, name + ".npz"), **arrays)
                        index.append(f"{name} {dims} {dname} {str(affine).lower()} {str(track).lower()} {mk}")
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write(f"# generated by gen_instancenorm_fixtures.py with torch {torch.__version__}; eps={EPS} steps={STEPS}\n")
        f.write("\n".join(index) + "\n")
    print(f"wrote {len(index)} cases to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
