#!/usr/bin/env python3
"""Fixtures for the instance-norm statistics pass (InstanceNormStatistics), in real PyTorch.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch):

    /usr/bin/python3 dl4j-instancenorm/src/test/python/gen_statistics_pass_fixtures.py

A small network, conv3x3(3 -> 4) -> InstanceNorm2d(4, track_running_stats=True) -> ReLU -> conv3x3(4 -> 5) ->
InstanceNorm2d(5, affine=True, track_running_stats=True, momentum=0.3), with random weights, sees 3 batches of
different sizes in training mode (which normalizes with each instance's statistics); forward hooks read every
instance-norm input and pool its instances: the mean of the instance means and the mean of the unbiased instance
variances, per channel, over all instances of all batches. The modules' running statistics after 2 earlier
training batches are the starting point of the fold, running = (1 - momentum) * running + momentum * pooled: the
module's own update rule with its momentum, applied here in float64 to the pooled statistics.

Writes dl4j-instancenorm/src/test/resources/fixtures/statistics/pass.npz: the weights (conv{1,2}_w/_b, in2_gamma,
in2_beta), the running statistics before (in{1,2}_running_mean/var, in{1,2}_tracked), the batches x0, x1, x2, and
per layer the pooled in{1,2}_mean, in{1,2}_var, in{1,2}_count, and the folded in{1,2}_fold_mean/var.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "fixtures", "statistics")


def main():
    torch.manual_seed(31)
    conv1 = nn.Conv2d(3, 4, 3, 1, 1)
    in1 = nn.InstanceNorm2d(4, track_running_stats=True)
    conv2 = nn.Conv2d(4, 5, 3, 1, 1)
    in2 = nn.InstanceNorm2d(5, affine=True, track_running_stats=True, momentum=0.3)
    with torch.no_grad():
        in2.weight.uniform_(0.5, 1.5)
        in2.bias.uniform_(-0.5, 0.5)
    net = nn.Sequential(conv1, in1, nn.ReLU(), conv2, in2).train()
    # Two earlier training batches, so that the running statistics are not the initial ones.
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(2, 3, 6, 5) * 2 + 1)
    arrays = {
        "conv1_w": conv1.weight.detach().numpy(), "conv1_b": conv1.bias.detach().numpy(),
        "conv2_w": conv2.weight.detach().numpy(), "conv2_b": conv2.bias.detach().numpy(),
        "in2_gamma": in2.weight.detach().numpy(), "in2_beta": in2.bias.detach().numpy(),
    }
    for name, m in (("in1", in1), ("in2", in2)):
        arrays[name + "_running_mean"] = m.running_mean.numpy().copy()
        arrays[name + "_running_var"] = m.running_var.numpy().copy()
        arrays[name + "_tracked"] = np.array([float(m.num_batches_tracked)])
    sums = {"in1": [0, 0, 0], "in2": [0, 0, 0]}

    def hook(name):
        def record(module, inputs, output):
            x = inputs[0].double()
            m = x.shape[2] * x.shape[3]
            mean = x.mean(dim=(2, 3))
            var = x.var(dim=(2, 3), unbiased=True)
            s = sums[name]
            s[0] = s[0] + mean.sum(0)
            s[1] = s[1] + var.sum(0)
            s[2] += x.shape[0]
        return record

    in1.register_forward_hook(hook("in1"))
    in2.register_forward_hook(hook("in2"))
    before = {k: v.copy() for k, v in arrays.items()}
    with torch.no_grad():
        for i, n in enumerate((3, 2, 4)):
            x = torch.randn(n, 3, 7, 6) * 1.5 + 0.5
            arrays[f"x{i}"] = x.numpy()
            net(x)
    for name, m in (("in1", in1), ("in2", in2)):
        mean = (sums[name][0] / sums[name][2]).numpy()
        var = (sums[name][1] / sums[name][2]).numpy()
        arrays[name + "_mean"] = mean
        arrays[name + "_var"] = var
        arrays[name + "_count"] = np.array([float(sums[name][2])])
        f = m.momentum
        arrays[name + "_fold_mean"] = (1 - f) * before[name + "_running_mean"].astype(np.float64) + f * mean
        arrays[name + "_fold_var"] = (1 - f) * before[name + "_running_var"].astype(np.float64) + f * var
    os.makedirs(OUT, exist_ok=True)
    np.savez(os.path.join(OUT, "pass.npz"), **arrays)
    print(f"wrote {os.path.normpath(OUT)}/pass.npz (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
