#!/usr/bin/env python3
"""Golden grids for the StarGAN v2 synthesis command (StarGanV2Sample), in real PyTorch.

Run from the repository root with the interpreter that has PyTorch 1.13 and Pillow (Debian: python3-torch,
python3-pil), after dl4j-instancenorm-zoo/src/test/python/gen_stargan_v2_fixtures.py:

    /usr/bin/python3 dl4j-examples/src/test/python/gen_stargan_v2_sample_fixtures.py

Uses the networks of the zoo's fixture checkpoints (configurations narrow32 and hpf64, modules defined in
gen_stargan_v2_fixtures.py) and writes, per configuration, into
dl4j-examples/src/test/resources/fixtures/starganv2-sample/NAME/:
  src/<domain>/<i>.png, ref/<domain>/<i>.png   smooth synthetic images at the image size, read as torchvision's
                                               ImageFolder would (domains sorted, files sorted);
  masks.npz (hpf64)     mask0, mask1 [N_src, 1, 48, 48]: the generator's masks for the source images (FAN is
                        not ported; in StarGAN v2 they are FAN's heatmaps);
  latents.npz           z_trg [num_outs, latent_dim] and, per target domain k, z_many_k [10000, latent_dim]: the
                        latent codes, since Java cannot draw torch's random numbers;
  reference.png         StarGAN v2's translate_using_reference grid (what `main.py --mode sample` writes as
                        reference.jpg): first row a white image then the sources; then per reference, the
                        reference and the sources translated with its style;
  latent_psi_P.png      translate_using_latent's grid for psi P in 0.5, 0.7, 1.0: the sources, then per target
                        domain (at most 5) and latent code, the sources translated with
                        lerp(mean style of the 10,000 codes, F(z, y), psi).
Grids are saved as torchvision's save_image(denormalize(x), nrow, padding=0) does: byte = floor(clamp((x + 1) / 2,
0, 1) * 255 + 0.5), as PNG (lossless; the official code writes JPEG).
"""
import os
import sys

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.abspath(__file__))
ZOO_PY = os.path.join(ROOT, "..", "..", "..", "..", "dl4j-instancenorm-zoo", "src", "test", "python")
sys.path.insert(0, ZOO_PY)
import gen_stargan_v2_fixtures as nets_def  # noqa: E402

ZOO_FIXTURES = os.path.join(ZOO_PY, "..", "resources", "fixtures", "starganv2")
OUT = os.path.join(ROOT, "..", "resources", "fixtures", "starganv2-sample")
NUM_OUTS = 2
MEAN_OF = 10000


def synthetic(gen, size):
    """A smooth RGB image: a few random gradients and discs, uint8."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for c in range(3):
        a, b, d = torch.rand(3, generator=gen).tolist()
        img[:, :, c] = 0.5 + 0.4 * np.sin(6 * a * xx + 5 * b * yy + 6 * d)
    for _ in range(2):
        cx, cy, r = torch.rand(3, generator=gen).tolist()
        colour = torch.rand(3, generator=gen).numpy()
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < (0.1 + 0.2 * r) ** 2
        img[inside] = colour
    return (img * 255).round().clip(0, 255).astype(np.uint8)


def write_folder(gen, folder, domains, per_domain, size):
    images, labels = [], []
    for k in range(domains):
        d = os.path.join(folder, f"domain{k}")
        os.makedirs(d, exist_ok=True)
        for i in range(per_domain):
            arr = synthetic(gen, size)
            Image.fromarray(arr).save(os.path.join(d, f"{i}.png"))
            images.append(arr)
            labels.append(k)
    # As ToTensor then Normalize(0.5, 0.5): [-1, 1], NCHW
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return (x - 0.5) / 0.5, torch.tensor(labels)


def save_grid(images, nrow, path):
    x = ((images + 1) / 2).clamp(0, 1)
    b, c, h, w = x.shape
    rows = (b + nrow - 1) // nrow
    grid = torch.zeros(c, rows * h, nrow * w)
    for i in range(b):
        r, col = divmod(i, nrow)
        grid[:, r * h:(r + 1) * h, col * w:(col + 1) * w] = x[i]
    arr = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(arr).save(path)


def main():
    for seed, name in enumerate(("narrow32", "hpf64")):
        img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, mask_size = nets_def.CONFIGS[name]
        g = nets_def.Gen(img, dim_in, max_dim, style_dim, w_hpf)
        f = nets_def.Mapping(latent, style_dim, domains, hidden)
        e = nets_def.Encoder(img, dim_in, max_dim, domains, style_dim)
        sd = torch.load(os.path.join(ZOO_FIXTURES, name + "_nets.ckpt"))
        for module, key in ((g, "generator"), (f, "mapping_network"), (e, "style_encoder")):
            module.load_state_dict(sd[key], strict=True)
            module.eval()
        out = os.path.join(OUT, name)
        gen = torch.Generator().manual_seed(500 + seed)
        x_src, _ = write_folder(gen, os.path.join(out, "src"), domains, 2 if name == "narrow32" else 1, img)
        x_ref, y_ref = write_folder(gen, os.path.join(out, "ref"), domains, 1, img)
        n = x_src.size(0)
        masks = None
        if w_hpf > 0:
            masks = (torch.rand(n, 1, mask_size, mask_size, generator=gen),
                     torch.rand(n, 1, mask_size, mask_size, generator=gen))
            np.savez(os.path.join(out, "masks.npz"), mask0=masks[0].numpy(), mask1=masks[1].numpy())
        targets = list(range(min(domains, 5)))
        z_trg = torch.randn(NUM_OUTS, latent, generator=gen)
        z_many = {k: torch.randn(MEAN_OF, latent, generator=gen) for k in targets}
        np.savez(os.path.join(out, "latents.npz"), z_trg=z_trg.numpy(),
                 **{f"z_many_{k}": v.numpy() for k, v in z_many.items()})
        with torch.no_grad():
            # translate_using_reference
            white = torch.ones(1, 3, img, img)
            s_ref = e(x_ref, y_ref)
            rows = [torch.cat([white, x_src])]
            for i in range(x_ref.size(0)):
                fake = g(x_src, s_ref[i:i + 1].repeat(n, 1), masks)
                rows.append(torch.cat([x_ref[i:i + 1], fake]))
            save_grid(torch.cat(rows), n + 1, os.path.join(out, "reference.png"))
            # translate_using_latent, for each psi
            for psi in (0.5, 0.7, 1.0):
                rows = [x_src]
                for k in targets:
                    y = torch.full((n,), k, dtype=torch.long)
                    s_avg = f(z_many[k], torch.full((MEAN_OF,), k, dtype=torch.long)).mean(dim=0, keepdim=True)
                    for z in z_trg:
                        s = torch.lerp(s_avg.repeat(n, 1), f(z.unsqueeze(0).repeat(n, 1), y), psi)
                        rows.append(g(x_src, s, masks))
                save_grid(torch.cat(rows), n, os.path.join(out, f"latent_psi_{psi:.1f}.png"))
    print(f"wrote 2 configurations to {os.path.normpath(OUT)} (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
