#!/usr/bin/env python3
"""Fixtures for adaptive instance normalization (AdaIN), in real PyTorch.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch):

    /usr/bin/python3 dl4j-instancenorm/src/test/python/gen_adain_fixtures.py

AdaIN normalizes x with each instance's own mean and biased variance (F.instance_norm without weight or running
statistics, eps 1e-5) and applies a per-sample, per-channel scale and shift taken from a modulation h of shape
[N, 2C]: gamma = h[:, :C], beta = h[:, C:] (torch.chunk(h, 2, dim=1)), as StarGAN v2's AdaIN splits its Linear
layer's output. Two forms:

    one_plus:  out = (1 + gamma) * IN(x) + beta      (StarGAN v2, StyleGAN's style modulation)
    plain:     out = gamma * IN(x) + beta            (MUNIT, AdaIN style transfer's affine step)

Writes dl4j-instancenorm/src/test/resources/fixtures/adain/{name}.npz, channels-first, each holding x, h, g (an
upstream gradient) and, for each form F, y_F = out, dx_F = d<g, out>/dx and dh_F = d<g, out>/dh from autograd.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "fixtures", "adain")

# name: (dtype, N, C, spatial)
CASES = {
    "1d_float": (torch.float32, 3, 4, (7,)),
    "1d_double": (torch.float64, 3, 4, (7,)),
    "2d_float": (torch.float32, 3, 4, (5, 6)),
    "2d_double": (torch.float64, 2, 5, (4, 3)),
    "3d_float": (torch.float32, 2, 3, (3, 4, 5)),
    "3d_double": (torch.float64, 2, 3, (2, 3, 4)),
    "2d_one_sample_float": (torch.float32, 1, 6, (8, 8)),
    "2d_large_float": (torch.float32, 2, 3, (40, 40)),  # instances of several kernel blocks
}


def adain(x, h, one_plus):
    c = x.shape[1]
    gamma, beta = torch.chunk(h, 2, dim=1)
    assert gamma.shape[1] == c
    shape = (x.shape[0], c) + (1,) * (x.dim() - 2)
    gamma = gamma.reshape(shape)
    beta = beta.reshape(shape)
    normalized = F.instance_norm(x, eps=1e-5)
    return ((1 + gamma) if one_plus else gamma) * normalized + beta


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, (name, (dtype, n, c, spatial)) in enumerate(CASES.items()):
        gen = torch.Generator().manual_seed(300 + i)
        shape = (n, c) + spatial
        scale = torch.empty(1, c, *([1] * len(spatial))).uniform_(0.5, 3.0, generator=gen)
        offset = torch.empty(1, c, *([1] * len(spatial))).uniform_(-2.0, 2.0, generator=gen)
        x0 = (torch.randn(shape, generator=gen) * scale + offset).to(dtype)
        h0 = torch.randn(n, 2 * c, generator=gen).to(dtype)
        g = torch.randn(shape, generator=gen).to(dtype)
        arrays = {"x": x0.numpy(), "h": h0.numpy(), "g": g.numpy()}
        for form, one_plus in (("one_plus", True), ("plain", False)):
            x = x0.clone().requires_grad_(True)
            h = h0.clone().requires_grad_(True)
            y = adain(x, h, one_plus)
            y.backward(g)
            arrays["y_" + form] = y.detach().numpy()
            arrays["dx_" + form] = x.grad.numpy()
            arrays["dh_" + form] = h.grad.numpy()
        np.savez(os.path.join(OUT, name + ".npz"), **arrays)
    print(f"wrote {len(CASES)} files to {os.path.normpath(OUT)} (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
