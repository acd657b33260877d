#!/usr/bin/env python3
"""Fixtures for the layer's defaults: nn.InstanceNorm{1,2,3}d(C) with no other argument, in real PyTorch.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch):

    /usr/bin/python3 dl4j-instancenorm/src/test/python/gen_default_fixtures.py

Writes dl4j-instancenorm/src/test/resources/fixtures/defaults/{1,2,3}d.npz, float32, channels-first. Each holds
two training-mode forwards (x_train0/y_train0, x_train1/y_train1), then an eval-mode forward (x_eval/y_eval), and
what the module declares (arrays of one element, as ND4J reads no 0-d arrays): n_parameters (tensors in m.parameters()), n_buffers (tensors in m.buffers()), eps and
momentum. The Java test builds `new InstanceNormalization.Builder().build()` with no option and compares.
"""
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "fixtures", "defaults")
N, C = 3, 4
SPATIAL = {1: (7,), 2: (5, 6), 3: (3, 4, 5)}
MODULES = {1: torch.nn.InstanceNorm1d, 2: torch.nn.InstanceNorm2d, 3: torch.nn.InstanceNorm3d}


def make_input(gen, dims):
    shape = (N, C) + SPATIAL[dims]
    scale = torch.empty(1, C, *([1] * dims)).uniform_(0.5, 3.0, generator=gen)
    offset = torch.empty(1, C, *([1] * dims)).uniform_(-2.0, 2.0, generator=gen)
    return torch.randn(shape, generator=gen) * scale + offset


def main():
    os.makedirs(OUT, exist_ok=True)
    for dims, module in MODULES.items():
        gen = torch.Generator().manual_seed(100 + dims)
        m = module(C)
        arrays = {
            "n_parameters": np.array([len(list(m.parameters()))], dtype=np.int64),
            "n_buffers": np.array([len(list(m.buffers()))], dtype=np.int64),
            "eps": np.array([m.eps], dtype=np.float64),
            "momentum": np.array([m.momentum], dtype=np.float64),
        }
        m.train()
        for step in range(2):
            x = make_input(gen, dims)
            with torch.no_grad():
                arrays[f"x_train{step}"] = x.numpy()
                arrays[f"y_train{step}"] = m(x).numpy()
        m.eval()
        x = make_input(gen, dims)
        with torch.no_grad():
            arrays["x_eval"] = x.numpy()
            arrays["y_eval"] = m(x).numpy()
        np.savez(os.path.join(OUT, f"{dims}d.npz"), **arrays)
    print(f"wrote {len(MODULES)} files to {os.path.normpath(OUT)} (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
