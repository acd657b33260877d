#!/usr/bin/env python3
"""Golden fixtures for StarGAN v2's mapping network, style encoder and discriminator, in real PyTorch.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch):

    /usr/bin/python3 dl4j-instancenorm-zoo/src/test/python/gen_stargan_v2_fixtures.py

The modules are written here from StarGAN v2's definition (Choi et al., CVPR 2020; the layout of the state dicts
of clovaai/stargan-v2 at 875b70a), with the widths as parameters, so that small models can be made:
  - ResBlk(dim_in, dim_out, downsample): residual = LeakyReLU(0.2) -> conv3 -> [avg_pool 2] -> LeakyReLU -> conv3
    (StyleEncoder and Discriminator use no normalization), shortcut = [conv1x1 without bias] -> [avg_pool 2],
    output (shortcut + residual) / sqrt(2);
  - StyleEncoder / Discriminator trunk `shared` / `main`: conv3(3 -> dim_in), log2(img) - 2 down ResBlks doubling the
    width up to max_conv_dim, LeakyReLU, conv4 valid, LeakyReLU; then one Linear(dim, style_dim) per domain
    (`unshared.d`) for E, a conv1x1 to one logit per domain for D; the sample's own domain is selected;
  - MappingNetwork: `shared` = 4 x (Linear, ReLU) of width `hidden` (512 in the paper), `unshared.d` =
    3 x (Linear, ReLU) + Linear(hidden, style_dim) per domain.

Writes into dl4j-instancenorm-zoo/src/test/resources/fixtures/starganv2/, per configuration NAME:
  NAME_nets.ckpt  a {"mapping_network": sd, "style_encoder": sd, "discriminator": sd} dict, torch.save (zip);
  NAME.npz        z, x (images in [-1, 1]), y_onehot, and the outputs s_mapping, s_style, d_out.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "fixtures", "starganv2")

CONFIGS = {
    # name: img, dim_in, max_conv_dim, domains, style_dim, latent_dim, hidden, batch
    "small16": (16, 8, 16, 3, 8, 4, 32, 4),
    "narrow32": (32, 4, 16, 2, 6, 5, 24, 3),
}


class DownBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.has_projection = cin != cout
        if self.has_projection:
            self.conv1x1 = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)

    def forward(self, x):
        skip = self.conv1x1(x) if self.has_projection else x
        skip = F.avg_pool2d(skip, 2)
        h = self.conv1(F.leaky_relu(x, 0.2))
        h = F.avg_pool2d(h, 2)
        h = self.conv2(F.leaky_relu(h, 0.2))
        return (skip + h) / math.sqrt(2)


def trunk(img, dim_in, max_conv_dim):
    layers = [nn.Conv2d(3, dim_in, 3, 1, 1)]
    width = dim_in
    for _ in range(int(round(math.log2(img))) - 2):
        wider = min(width * 2, max_conv_dim)
        layers.append(DownBlock(width, wider))
        width = wider
    layers += [nn.LeakyReLU(0.2), nn.Conv2d(width, width, 4, 1, 0), nn.LeakyReLU(0.2)]
    return layers, width


class Encoder(nn.Module):
    def __init__(self, img, dim_in, max_conv_dim, domains, style_dim):
        super().__init__()
        layers, width = trunk(img, dim_in, max_conv_dim)
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList([nn.Linear(width, style_dim) for _ in range(domains)])

    def forward(self, x, y):
        h = self.shared(x).flatten(1)
        heads = torch.stack([head(h) for head in self.unshared], dim=1)
        return heads[torch.arange(x.size(0)), y]


class Critic(nn.Module):
    def __init__(self, img, dim_in, max_conv_dim, domains):
        super().__init__()
        layers, width = trunk(img, dim_in, max_conv_dim)
        self.main = nn.Sequential(*layers, nn.Conv2d(width, domains, 1, 1, 0))

    def forward(self, x, y):
        logits = self.main(x).flatten(1)
        return logits[torch.arange(x.size(0)), y]


class Mapping(nn.Module):
    def __init__(self, latent_dim, style_dim, domains, hidden):
        super().__init__()
        shared = [nn.Linear(latent_dim, hidden), nn.ReLU()]
        for _ in range(3):
            shared += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.shared = nn.Sequential(*shared)
        heads = []
        for _ in range(domains):
            head = []
            for _ in range(3):
                head += [nn.Linear(hidden, hidden), nn.ReLU()]
            head.append(nn.Linear(hidden, style_dim))
            heads.append(nn.Sequential(*head))
        self.unshared = nn.ModuleList(heads)

    def forward(self, z, y):
        h = self.shared(z)
        heads = torch.stack([head(h) for head in self.unshared], dim=1)
        return heads[torch.arange(z.size(0)), y]


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, (img, dim_in, max_dim, domains, style_dim, latent, hidden, batch)) in enumerate(CONFIGS.items()):
        torch.manual_seed(1000 + seed)
        f = Mapping(latent, style_dim, domains, hidden).eval()
        e = Encoder(img, dim_in, max_dim, domains, style_dim).eval()
        d = Critic(img, dim_in, max_dim, domains).eval()
        z = torch.randn(batch, latent)
        x = torch.rand(batch, 3, img, img) * 2 - 1
        y = torch.arange(batch) % domains
        with torch.no_grad():
            arrays = {
                "z": z.numpy(),
                "x": x.numpy(),
                "y_onehot": F.one_hot(y, domains).float().numpy(),
                "s_mapping": f(z, y).numpy(),
                "s_style": e(x, y).numpy(),
                "d_out": d(x, y).numpy(),
            }
        np.savez(os.path.join(OUT, name + ".npz"), **arrays)
        torch.save({"mapping_network": f.state_dict(), "style_encoder": e.state_dict(),
                    "discriminator": d.state_dict()}, os.path.join(OUT, name + "_nets.ckpt"))
    print(f"wrote {len(CONFIGS)} configurations to {os.path.normpath(OUT)} (torch {torch.__version__})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
