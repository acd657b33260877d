#!/usr/bin/env python3
"""Golden loss terms and parameter gradients of StarGAN v2's training losses, in real PyTorch (autograd).

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch), after
dl4j-instancenorm-zoo/src/test/python/gen_stargan_v2_fixtures.py:

    /usr/bin/python3 dl4j-instancenorm-train/src/test/python/gen_stargan_v2_step_fixtures.py

Uses the networks of the zoo's fixture checkpoint small16_nets.ckpt (16 px, 3 domains, w_hpf 0; modules defined in
gen_stargan_v2_fixtures.py), converted to double so that the reference is exact to about 1e-15; the inputs are
float32 values. The losses are StarGAN v2's (Choi et al., CVPR 2020), written here from their definition:

  D loss, style s_trg = F(z_trg, y_trg) (latent) or E(x_ref, y_trg) (reference):
    real = BCE(D(x_real, y_org), 1); R1 = 0.5 * mean_i sum_pixels (dD(x_real_i, y_org_i)/dx)^2 (create_graph=True);
    fake = BCE(D(G(x_real, s_trg), y_trg), 0) with x_fake and s_trg computed under no_grad;
    total = real + fake + lambda_reg * R1.
  G loss, s_trg from z_trg (latent) or x_ref (reference), s_trg2 from z_trg2 or x_ref2:
    x_fake = G(x_real, s_trg); adv = BCE(D(x_fake, y_trg), 1); sty = mean|E(x_fake, y_trg) - s_trg|;
    x_fake2 = G(x_real, s_trg2).detach(); ds = mean|x_fake - x_fake2|;
    x_rec = G(x_fake, E(x_real, y_org)); cyc = mean|x_rec - x_real|;
    total = adv + lambda_sty * sty - lambda_ds * ds + lambda_cyc * cyc [+ lambda_id * mean|G(x_real, E(x_real, y_org)) - x_real|].
BCE is binary cross-entropy with logits, averaged over the batch.

Writes into dl4j-instancenorm-train/src/test/resources/fixtures/starganv2-step/:
  small16_inputs.npz   x_real, x_ref, x_ref2 [N, 3, 16, 16] in [-1, 1]; z_trg, z_trg2 [N, latent_dim];
                       y_org, y_trg one-hot [N, K] (float32); and R1 alone, unweighted, as a check of the penalty by
                       itself (its share of the D loss's gradient is small with these weights): r1.value [1],
                       r1.norms [N] (|dD(x_real_i, y_org_i)/dx|, float64), r1.grad.discriminator.PARAM (float32; zero
                       for the head's bias, which R1 does not reach);
  small16_WEIGHTS.npz  for WEIGHTS official (lambda reg, sty, ds, cyc = 1, 1, 2, 1), unusual (0.3, 2.5, 0.7, 1.9) and
                       identity (1, 1, 2, 1 and lambda_id 1.7 for the identity term G(x_real, E(x_real, y_org)) vs
                       x_real, L1, which is not StarGAN v2's):
                       weights [4] (float64); per loss LOSS in d_latent, d_reference, g_latent, g_reference its terms
                       LOSS.TERM [1] (float64; D: real, fake, reg, total; G: adv, sty, ds, cyc, total) and the
                       gradient of its total with respect to every parameter that gets one,
                       LOSS.grad.NET.PARAM (float32, PyTorch layout; NET generator, mapping_network, style_encoder,
                       discriminator). A network a loss does not reach (None in autograd) has no entries.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.abspath(__file__))
ZOO_PY = os.path.join(ROOT, "..", "..", "..", "..", "dl4j-instancenorm-zoo", "src", "test", "python")
sys.path.insert(0, ZOO_PY)
import gen_stargan_v2_fixtures as nets_def  # noqa: E402

ZOO_FIXTURES = os.path.join(ZOO_PY, "..", "resources", "fixtures", "starganv2")
OUT = os.path.join(ROOT, "..", "resources", "fixtures", "starganv2-step")
CONFIG = "small16"
WEIGHTS = {"official": (1.0, 1.0, 2.0, 1.0), "unusual": (0.3, 2.5, 0.7, 1.9), "identity": (1.0, 1.0, 2.0, 1.0, 1.7)}
NETS = ("generator", "mapping_network", "style_encoder", "discriminator")


def load_nets():
    img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, _ = nets_def.CONFIGS[CONFIG]
    assert w_hpf == 0
    nets = {
        "generator": nets_def.Gen(img, dim_in, max_dim, style_dim, w_hpf),
        "mapping_network": nets_def.Mapping(latent, style_dim, domains, hidden),
        "style_encoder": nets_def.Encoder(img, dim_in, max_dim, domains, style_dim),
        "discriminator": nets_def.Critic(img, dim_in, max_dim, domains),
    }
    sd = torch.load(os.path.join(ZOO_FIXTURES, CONFIG + "_nets.ckpt"))
    for key, module in nets.items():
        module.load_state_dict(sd[key], strict=True)
        module.double().train()
    return nets, (img, domains, latent, batch)


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_loss(nets, lam, x_real, y_org, y_trg, z_trg=None, x_ref=None):
    G, Fm, E, D = (nets[k] for k in NETS)
    x = x_real.clone().requires_grad_()
    out = D(x, y_org)
    real = bce(out, 1.0)
    grad_x, = torch.autograd.grad(out.sum(), x, create_graph=True)
    reg = 0.5 * grad_x.pow(2).flatten(1).sum(1).mean()
    with torch.no_grad():
        s_trg = Fm(z_trg, y_trg) if z_trg is not None else E(x_ref, y_trg)
        x_fake = G(x_real, s_trg)
    fake = bce(D(x_fake, y_trg), 0.0)
    total = real + fake + lam[0] * reg
    return total, {"real": real, "fake": fake, "reg": reg, "total": total}


def g_loss(nets, lam, x_real, y_org, y_trg, z_trgs=None, x_refs=None):
    G, Fm, E, D = (nets[k] for k in NETS)
    style = (lambda k: Fm(z_trgs[k], y_trg)) if z_trgs is not None else (lambda k: E(x_refs[k], y_trg))
    s_trg = style(0)
    x_fake = G(x_real, s_trg)
    adv = bce(D(x_fake, y_trg), 1.0)
    sty = (E(x_fake, y_trg) - s_trg).abs().mean()
    x_fake2 = G(x_real, style(1)).detach()
    ds = (x_fake - x_fake2).abs().mean()
    x_rec = G(x_fake, E(x_real, y_org))
    cyc = (x_rec - x_real).abs().mean()
    total = adv + lam[1] * sty - lam[2] * ds + lam[3] * cyc
    terms = {"adv": adv, "sty": sty, "ds": ds, "cyc": cyc}
    if len(lam) > 4:
        # not StarGAN v2's: the input rebuilt from its own style, G(x_real, E(x_real, y_org))
        identity = (G(x_real, E(x_real, y_org)) - x_real).abs().mean()
        total = total + lam[4] * identity
        terms["id"] = identity
    terms["total"] = total
    return total, terms


def r1_alone(nets, x_real, y_org, arrays):
    D = nets["discriminator"]
    D.zero_grad(set_to_none=True)
    x = x_real.clone().requires_grad_()
    grad_x, = torch.autograd.grad(D(x, y_org).sum(), x, create_graph=True)
    norms = grad_x.flatten(1).norm(dim=1)
    reg = 0.5 * norms.pow(2).mean()
    reg.backward()
    arrays["r1.value"] = np.array([reg.item()], dtype=np.float64)
    arrays["r1.norms"] = norms.detach().numpy()
    for pname, p in D.named_parameters():
        # The head's bias does not change dD/dx: None in autograd, zero here.
        grad = p.grad if p.grad is not None else torch.zeros_like(p)
        arrays[f"r1.grad.discriminator.{pname}"] = grad.detach().float().numpy()


def run(nets, name, loss_fn, arrays):
    for module in nets.values():
        module.zero_grad(set_to_none=True)
    total, terms = loss_fn()
    total.backward()
    for term, value in terms.items():
        arrays[f"{name}.{term}"] = np.array([value.item()], dtype=np.float64)
    for net in NETS:
        for pname, p in nets[net].named_parameters():
            if p.grad is not None:
                arrays[f"{name}.grad.{net}.{pname}"] = p.grad.detach().float().numpy()


def main():
    os.makedirs(OUT, exist_ok=True)
    nets, (img, domains, latent, batch) = load_nets()
    gen = torch.Generator().manual_seed(4242)
    x_real, x_ref, x_ref2 = (torch.rand(batch, 3, img, img, generator=gen) * 2 - 1 for _ in range(3))
    z_trg, z_trg2 = (torch.randn(batch, latent, generator=gen) for _ in range(2))
    y_org = torch.tensor([0, 1, 2, 1])[:batch]
    y_trg = torch.tensor([1, 2, 0, 1])[:batch]  # the last sample keeps its domain
    inputs = {"x_real": x_real.numpy(), "x_ref": x_ref.numpy(), "x_ref2": x_ref2.numpy(), "z_trg": z_trg.numpy(),
              "z_trg2": z_trg2.numpy(), "y_org": F.one_hot(y_org, domains).float().numpy(),
              "y_trg": F.one_hot(y_trg, domains).float().numpy()}
    x_real, x_ref, x_ref2, z_trg, z_trg2 = (t.double() for t in (x_real, x_ref, x_ref2, z_trg, z_trg2))
    r1_alone(nets, x_real, y_org, inputs)
    np.savez(os.path.join(OUT, CONFIG + "_inputs.npz"), **inputs)
    for wname, lam in WEIGHTS.items():
        arrays = {"weights": np.array(lam, dtype=np.float64)}
        run(nets, "d_latent", lambda: d_loss(nets, lam, x_real, y_org, y_trg, z_trg=z_trg), arrays)
        run(nets, "d_reference", lambda: d_loss(nets, lam, x_real, y_org, y_trg, x_ref=x_ref), arrays)
        run(nets, "g_latent", lambda: g_loss(nets, lam, x_real, y_org, y_trg, z_trgs=(z_trg, z_trg2)), arrays)
        run(nets, "g_reference", lambda: g_loss(nets, lam, x_real, y_org, y_trg, x_refs=(x_ref, x_ref2)), arrays)
        np.savez(os.path.join(OUT, f"{CONFIG}_{wname}.npz"), **arrays)
        print(wname, {k: round(float(v[0]), 6) for k, v in arrays.items() if v.ndim == 1 and v.size == 1},
              file=sys.stderr)
    print(f"wrote {os.path.normpath(OUT)} (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
