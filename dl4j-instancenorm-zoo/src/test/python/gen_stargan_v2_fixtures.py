#!/usr/bin/env python3
"""Golden fixtures for StarGAN v2's four networks, in real PyTorch.

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
    3 x (Linear, ReLU) + Linear(hidden, style_dim) per domain;
  - Generator: `from_rgb` conv3(3 -> dim_in); `encode` = log2(img) - 4 down ResBlks (one more when w_hpf > 0) with
    affine instance norms before each LeakyReLU, then 2 same-size ones; `decode` mirrors them with AdainResBlks:
    residual = AdaIN -> LeakyReLU -> [nearest x2] -> conv3 -> AdaIN -> LeakyReLU -> conv3, where AdaIN(x, s) =
    (1 + gamma) * IN(x) + beta, [gamma, beta] = Linear(style_dim, 2C)(s); shortcut = [nearest x2] -> [conv1x1
    without bias], output (shortcut + residual) / sqrt(2) when w_hpf == 0 and the residual alone otherwise; `to_rgb` =
    IN(affine) -> LeakyReLU -> conv1x1(dim_in -> 3). With w_hpf > 0 and masks (m0, m1) [N, 1, Hm, Wm]: the encoder
    keeps its feature map at each of the sizes 32, 64, 128 (before the block that takes it), and after each decoder
    block whose output has one of those sizes adds hpf(mask * kept) with mask = bilinear(m0 if size 32 else m1,
    size), hpf the fixed depthwise filter [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] / w_hpf (buffer `hpf.filter`).

Every parameter is moved off its initial value by a small random step, so that instance norms' gamma and beta and
all biases matter.

Writes into dl4j-instancenorm-zoo/src/test/resources/fixtures/starganv2/, per configuration NAME:
  NAME_nets.ckpt  a {"generator": sd, "mapping_network": sd, "style_encoder": sd, "discriminator": sd} dict,
                  torch.save (zip); small16 also in the legacy format, small16_nets_legacy.ckpt;
  NAME.npz        z, x (images in [-1, 1]), y_onehot, and the outputs s_mapping = F(z, y), s_style = E(x, y),
                  d_out = D(x, y); x_src (source images), g_latent = G(x_src, s_mapping[, masks]) and
                  g_reference = G(x_src, s_style[, masks]); with w_hpf > 0 also mask0, mask1.
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
    # name: img, dim_in, max_conv_dim, domains, style_dim, latent_dim, hidden, batch, w_hpf, mask size
    "small16": (16, 8, 16, 3, 8, 4, 32, 4, 0, 0),
    "narrow32": (32, 4, 16, 2, 6, 5, 24, 3, 0, 0),
    # masks smaller than the image (upsampled to 64, downsampled to 32); w_hpf 2 so that its value is read
    "hpf64": (64, 4, 16, 2, 6, 4, 16, 2, 2, 48),
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


class GenDown(nn.Module):
    """ResBlk(normalize=True): instance norms with affine parameters before each activation."""

    def __init__(self, cin, cout, downsample):
        super().__init__()
        self.downsample = downsample
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm1 = nn.InstanceNorm2d(cin, affine=True)
        self.norm2 = nn.InstanceNorm2d(cin, affine=True)
        self.has_projection = cin != cout
        if self.has_projection:
            self.conv1x1 = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)

    def forward(self, x):
        skip = self.conv1x1(x) if self.has_projection else x
        h = self.conv1(F.leaky_relu(self.norm1(x), 0.2))
        if self.downsample:
            skip = F.avg_pool2d(skip, 2)
            h = F.avg_pool2d(h, 2)
        h = self.conv2(F.leaky_relu(self.norm2(h), 0.2))
        return (skip + h) / math.sqrt(2)


class StyleNorm(nn.Module):
    """AdaIN: (1 + gamma) * IN(x) + beta, [gamma, beta] from a Linear layer of the style code."""

    def __init__(self, style_dim, channels):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.fc = nn.Linear(style_dim, 2 * channels)

    def forward(self, x, s):
        h = self.fc(s).view(s.size(0), -1, 1, 1)
        gamma, beta = torch.chunk(h, 2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class GenUp(nn.Module):
    """AdainResBlk."""

    def __init__(self, cin, cout, style_dim, w_hpf, upsample):
        super().__init__()
        self.w_hpf = w_hpf
        self.upsample = upsample
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.norm1 = StyleNorm(style_dim, cin)
        self.norm2 = StyleNorm(style_dim, cout)
        self.has_projection = cin != cout
        if self.has_projection:
            self.conv1x1 = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)

    def forward(self, x, s):
        h = F.leaky_relu(self.norm1(x, s), 0.2)
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv2(F.leaky_relu(self.norm2(self.conv1(h), s), 0.2))
        if self.w_hpf > 0:
            return h
        skip = F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x
        if self.has_projection:
            skip = self.conv1x1(skip)
        return (skip + h) / math.sqrt(2)


class HighPassFilter(nn.Module):
    def __init__(self, w_hpf):
        super().__init__()
        self.register_buffer("filter", torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]) / w_hpf)

    def forward(self, x):
        k = self.filter.view(1, 1, 3, 3).repeat(x.size(1), 1, 1, 1)
        return F.conv2d(x, k, padding=1, groups=x.size(1))


class Gen(nn.Module):
    def __init__(self, img, dim_in, max_conv_dim, style_dim, w_hpf):
        super().__init__()
        self.from_rgb = nn.Conv2d(3, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(nn.InstanceNorm2d(dim_in, affine=True), nn.LeakyReLU(0.2),
                                    nn.Conv2d(dim_in, 3, 1, 1, 0))
        downs = int(round(math.log2(img))) - 4 + (1 if w_hpf > 0 else 0)
        width = dim_in
        for _ in range(downs):
            wider = min(width * 2, max_conv_dim)
            self.encode.append(GenDown(width, wider, True))
            self.decode.insert(0, GenUp(wider, width, style_dim, w_hpf, True))
            width = wider
        for _ in range(2):
            self.encode.append(GenDown(width, width, False))
            self.decode.insert(0, GenUp(width, width, style_dim, w_hpf, False))
        if w_hpf > 0:
            self.hpf = HighPassFilter(w_hpf)

    def forward(self, x, s, masks=None):
        x = self.from_rgb(x)
        kept = {}
        for block in self.encode:
            if masks is not None and x.size(2) in (32, 64, 128):
                kept[x.size(2)] = x
            x = block(x)
        for block in self.decode:
            x = block(x, s)
            if masks is not None and x.size(2) in (32, 64, 128):
                mask = masks[0] if x.size(2) == 32 else masks[1]
                mask = F.interpolate(mask, size=x.size(2), mode="bilinear")
                x = x + self.hpf(mask * kept[x.size(2)])
        return self.to_rgb(x)


def nudge(net, gen):
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return net


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, config) in enumerate(CONFIGS.items()):
        img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, mask_size = config
        torch.manual_seed(1000 + seed)
        gen = torch.Generator().manual_seed(2000 + seed)
        f = nudge(Mapping(latent, style_dim, domains, hidden), gen).eval()
        e = nudge(Encoder(img, dim_in, max_dim, domains, style_dim), gen).eval()
        d = nudge(Critic(img, dim_in, max_dim, domains), gen).eval()
        g = nudge(Gen(img, dim_in, max_dim, style_dim, w_hpf), gen).eval()
        z = torch.randn(batch, latent)
        x = torch.rand(batch, 3, img, img) * 2 - 1
        x_src = torch.rand(batch, 3, img, img) * 2 - 1
        y = torch.arange(batch) % domains
        masks = None
        if w_hpf > 0:
            masks = (torch.rand(batch, 1, mask_size, mask_size), torch.rand(batch, 1, mask_size, mask_size))
        with torch.no_grad():
            s_mapping = f(z, y)
            s_style = e(x, y)
            arrays = {
                "z": z.numpy(),
                "x": x.numpy(),
                "x_src": x_src.numpy(),
                "y_onehot": F.one_hot(y, domains).float().numpy(),
                "s_mapping": s_mapping.numpy(),
                "s_style": s_style.numpy(),
                "d_out": d(x, y).numpy(),
                "g_latent": g(x_src, s_mapping, masks).numpy(),
                "g_reference": g(x_src, s_style, masks).numpy(),
            }
            if masks is not None:
                arrays["mask0"] = masks[0].numpy()
                arrays["mask1"] = masks[1].numpy()
        np.savez(os.path.join(OUT, name + ".npz"), **arrays)
        nets = {"generator": g.state_dict(), "mapping_network": f.state_dict(), "style_encoder": e.state_dict(),
                "discriminator": d.state_dict()}
        torch.save(nets, os.path.join(OUT, name + "_nets.ckpt"))
        if name == "small16":
            torch.save(nets, os.path.join(OUT, name + "_nets_legacy.ckpt"), _use_new_zipfile_serialization=False)
    print(f"wrote {len(CONFIGS)} configurations to {os.path.normpath(OUT)} (torch {torch.__version__})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
