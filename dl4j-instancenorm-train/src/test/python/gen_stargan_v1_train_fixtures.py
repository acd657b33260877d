#!/usr/bin/env python3
"""Two whole iterations of the project's StarGAN v1 training step (StarGanTrainer), transcribed to PyTorch.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch):

    /usr/bin/python3 dl4j-instancenorm-train/src/test/python/gen_stargan_v1_train_fixtures.py

The networks are yunjey/stargan's (module definitions in dl4j-instancenorm-zoo/src/test/python/stargan_model.py), on a
small configuration: 16 px, conv_dim 4, c_dim 3, 2 residual blocks in G, 2 stride-2 layers in D, batch 2. Everything
runs in float64, so the reference is exact to about 1e-15; the initial weights and the inputs are float32 values (so
a float run of the trainer starts from the same numbers).

What is transcribed is StarGanTrainer.step, not yunjey/stargan's solver; where the two differ, the trainer's way is
written here, and said so:

  one iteration (i = iterations done so far, from 0); a G step when LSGAN, or when (i + 1) % n_critic == 0 (WGAN-GP)
    1. if a G step and lambda_id > 0: same = G(x, c_org); g_identity = mean|same - x|           (not StarGAN's)
    2. x_fake = G(x, c_trg), once: it serves the D step (detached) and the G step     (StarGAN runs G twice)
    3. WGAN-GP: x_hat = x_fake + (x - x_fake) * alpha (alpha [N, 1, 1, 1], an input here);
       d_penalty = lambda_gp * mean_i (|d sum(D_src(x_hat)) / d x_hat_i| - 1)^2
    4. D on x: d_real = mean((src - 1)^2) (LSGAN) or -mean(src) (WGAN-GP);
       d_class = BCE-with-logits(cls, c_org) summed over attributes, averaged over the batch
    5. D on x_fake (detached): d_fake = mean(src^2) (LSGAN) or mean(src) (WGAN-GP)
       D step on d_real + d_fake + lambda_cls * d_class + d_penalty
    6. if a G step: x_rec = G(x_fake, c_org); D (just updated) on x_fake: g_adversarial = mean((src - 1)^2) (LSGAN)
       or -mean(src) (WGAN-GP), g_class = BCE(cls, c_trg) as above; g_reconstruction = mean|x_rec - x|;
       G step on g_adversarial + lambda_cls * g_class + lambda_rec * g_reconstruction + lambda_id * g_identity
  Every pass runs in training mode: G's instance norms use each image's statistics and fold them into the running
  statistics (momentum 0.1, unbiased variance), in the order identity, translation, reconstruction. (PyTorch's
  InstanceNorm2d does not count num_batches_tracked; DL4J's layer does, so that entry is not compared.)

The optimizer is DL4J's Adam as the trainer runs it (GraphUpdates on the graphs' org.nd4j.linalg.learning.config.Adam,
lr, beta1 0.5, beta2 0.999, eps 1e-8), which is not torch.optim.Adam. Transcribed from the 1.0.0-M2.1 sources:
nd4j-api's org.nd4j.linalg.learning.AdamUpdater.applyUpdater runs libnd4j's adam_updater op
(ops/declarable/helpers/cpu/updaterAdam.cpp) with the iteration the caller passes, which computes, with t = iteration+1,
    m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
    alpha_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t);   p -= alpha_t * m / (sqrt(v) + eps)
(torch.optim.Adam divides by sqrt(v / (1 - beta2^t)) + eps instead). The trainer passes its iteration count to both
networks' updaters, so G's bias correction counts iterations, not G steps: under WGAN-GP with n_critic 2, G's first
step has t = 2 (StarGAN's Adam would use t = 1). The trainer multiplies the batch-mean gradient by N and DL4J's
updater divides it by N again (exact for N = 2).

Writes into dl4j-instancenorm-train/src/test/resources/fixtures/stargan-v1-train/:
  init.npz       G.KEY, D.KEY: the initial state dicts (float64 holding float32 values; G's instance norms with
                 perturbed affine parameters and running statistics, so those are tested too)
  CASE.npz       for CASE lsgan_identity (LSGAN, lambda_id 10) and wgangp_ncritic2 (WGAN-GP, lambda_gp 10,
                 n_critic 2, no identity term):
                   weights [5] = lambda_cls, lambda_rec, lambda_id, lambda_gp (0: LSGAN), n_critic;
                   lr [2] = G's, D's learning rate; adam [3] = beta1, beta2, eps;
                   it{k}.real [N, 3, 16, 16], it{k}.labels, it{k}.targets [N, c_dim] (0/1), it{k}.alpha [N]
                   (WGAN-GP) for k = 0, 1;
                   it{k}.TERM [1] for TERM in dReal, dFake, dClass, dPenalty, gAdversarial, gClass,
                   gReconstruction, gIdentity (the trainer's Losses; NaN for G's terms in an iteration without a
                   G step, 0 for dPenalty under LSGAN and gIdentity with lambda_id 0);
                   final.G.KEY, final.D.KEY: the state dicts after both iterations (float64);
                   torch_float32.NET.KIND [1] for NET G, D and KIND parameters, running (G only): how far PyTorch's
                   own float32 run of the same two iterations ends from the float64 one, |p32 - p64| / |p64 - p0|
                   over the network (float32 Adam amplifies rounding where a step's m nearly cancels; the float
                   comparison's tolerance is a multiple of this).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "..", "..", "..", "..", "dl4j-instancenorm-zoo", "src", "test", "python"))
from stargan_model import Discriminator, Generator  # noqa: E402

OUT = os.path.join(ROOT, "..", "resources", "fixtures", "stargan-v1-train")
IMAGE, CONV_DIM, C_DIM, G_REPEAT, D_REPEAT, BATCH = 16, 4, 3, 2, 2, 2
LR_G, LR_D, BETA1, BETA2, EPS = 1e-3, 2e-3, 0.5, 0.999, 1e-8
ITERATIONS = 2
TERMS = ("dReal", "dFake", "dClass", "dPenalty", "gAdversarial", "gClass", "gReconstruction", "gIdentity")
CASES = {
    # lambda_cls, lambda_rec, lambda_id, lambda_gp (0: LSGAN), n_critic
    "lsgan_identity": (1.0, 10.0, 10.0, 0.0, 1),
    "wgangp_ncritic2": (1.0, 10.0, 0.0, 10.0, 2),
}


def f32(t):
    """Rounds to float32 values, kept in float64."""
    return t.float().double()


def initial_nets():
    torch.manual_seed(20240601)
    g = Generator(conv_dim=CONV_DIM, c_dim=C_DIM, repeat_num=G_REPEAT).double()
    d = Discriminator(image_size=IMAGE, conv_dim=CONV_DIM, c_dim=C_DIM, repeat_num=D_REPEAT).double()
    with torch.no_grad():
        # G's instance norms away from their defaults (gamma 1, beta 0, running mean 0 and variance 1).
        for name, t in g.state_dict().items():
            if name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(0.1 * torch.randn_like(t))
            elif name.endswith("running_var"):
                t.copy_(1 + 0.2 * torch.rand_like(t))
            elif name.endswith("weight") and t.dim() == 1:
                t.copy_(1 + 0.1 * torch.randn_like(t))
        for t in list(g.state_dict().values()) + list(d.state_dict().values()):
            if t.is_floating_point():
                t.copy_(f32(t))
    return g, d


def inputs(seed, wgan):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(ITERATIONS):
        real = f32(torch.rand(BATCH, 3, IMAGE, IMAGE, generator=gen, dtype=torch.float64) * 2 - 1)
        labels = (torch.rand(BATCH, C_DIM, generator=gen) > 0.5).double()
        targets = labels[torch.randperm(BATCH, generator=gen)]  # StarGAN: the labels of shuffled images
        if torch.equal(targets, labels):
            targets = 1 - labels
        alpha = f32(torch.rand(BATCH, generator=gen, dtype=torch.float64)) if wgan else None
        out.append((real, labels, targets, alpha))
    return out


def bce(logits, targets):
    """StarGAN's classification_loss: BCE with logits, summed over attributes, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / logits.size(0)


class Nd4jAdam:
    """DL4J 1.0.0-M2.1's Adam (libnd4j adam_updater), stepped with the trainer's iteration count."""

    def __init__(self, params, lr):
        self.params = list(params)
        self.lr = lr
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads, iteration):
        t = iteration + 1
        alpha_t = self.lr * np.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.mul_(BETA1).add_(g * (1 - BETA1))
            v.mul_(BETA2).add_(g * g * (1 - BETA2))
            p.sub_(m * alpha_t / (v.sqrt() + EPS))


def gradient_penalty(d, x_hat, lambda_gp):
    x_hat = x_hat.detach().requires_grad_(True)
    src, _ = d(x_hat)
    g = torch.autograd.grad(src, x_hat, grad_outputs=torch.ones_like(src), create_graph=True)[0]
    norms = g.reshape(g.size(0), -1).norm(2, dim=1)
    return lambda_gp * torch.mean((norms - 1) ** 2)


def run(weights, init_g, init_d, batches, dtype):
    """Two iterations in dtype; returns the loss terms per iteration and the final state dicts."""
    lambda_cls, lambda_rec, lambda_id, lambda_gp, n_critic = weights
    wgan = lambda_gp > 0
    g = Generator(conv_dim=CONV_DIM, c_dim=C_DIM, repeat_num=G_REPEAT).to(dtype).train()
    d = Discriminator(image_size=IMAGE, conv_dim=CONV_DIM, c_dim=C_DIM, repeat_num=D_REPEAT).to(dtype).train()
    g.load_state_dict(init_g)
    d.load_state_dict(init_d)
    g_params, d_params = list(g.parameters()), list(d.parameters())
    g_opt, d_opt = Nd4jAdam(g_params, LR_G), Nd4jAdam(d_params, LR_D)
    losses = []
    for i, batch in enumerate(batches):
        real, labels, targets, alpha = (None if t is None else t.to(dtype) for t in batch)
        terms = dict.fromkeys(TERMS, float("nan"))
        generator_step = not wgan or (i + 1) % n_critic == 0

        identity = None
        if generator_step and lambda_id > 0:
            identity = torch.mean(torch.abs(g(real, labels) - real))
        fake = g(real, targets)

        penalty = torch.zeros((), dtype=dtype)
        if wgan:
            fd = fake.detach()
            penalty = gradient_penalty(d, fd + (real - fd) * alpha.view(-1, 1, 1, 1), lambda_gp)
        src_real, cls_real = d(real)
        d_real = -torch.mean(src_real) if wgan else torch.mean((src_real - 1) ** 2)
        d_class = bce(cls_real, labels)
        src_fake, _ = d(fake.detach())
        d_fake = torch.mean(src_fake) if wgan else torch.mean(src_fake ** 2)
        d_loss = d_real + d_fake + lambda_cls * d_class + penalty
        d_opt.step(torch.autograd.grad(d_loss, d_params), i)
        terms.update(dReal=d_real.item(), dFake=d_fake.item(), dClass=d_class.item(), dPenalty=penalty.item())

        if generator_step:
            rec = g(fake, labels)
            src, cls = d(fake)
            g_adv = -torch.mean(src) if wgan else torch.mean((src - 1) ** 2)
            g_class = bce(cls, targets)
            g_rec = torch.mean(torch.abs(rec - real))
            g_loss = g_adv + lambda_cls * g_class + lambda_rec * g_rec
            if identity is not None:
                g_loss = g_loss + lambda_id * identity
            g_opt.step(torch.autograd.grad(g_loss, g_params), i)
            terms.update(gAdversarial=g_adv.item(), gClass=g_class.item(), gReconstruction=g_rec.item(),
                         gIdentity=identity.item() if identity is not None else 0.0)
        losses.append(terms)
    final = {"G": g.state_dict(), "D": d.state_dict()}
    return losses, {net: {k: t.detach().double() for k, t in sd.items() if not k.endswith("num_batches_tracked")}
                    for net, sd in final.items()}


def kind(key):
    return "running" if key.endswith("running_mean") or key.endswith("running_var") else "parameters"


def deviation(final, reference, init):
    """|final - reference| / |reference - init| per network and kind (learned parameters, running statistics)."""
    out = {}
    for net in reference:
        for k_ in ("parameters", "running"):
            keys = [k for k in reference[net] if kind(k) == k_]
            if not keys:
                continue
            diff = sum(float(((final[net][k] - reference[net][k]) ** 2).sum()) for k in keys) ** 0.5
            update = sum(float(((reference[net][k] - init[net][k]) ** 2).sum()) for k in keys) ** 0.5
            out[f"{net}.{k_}"] = (diff / update, update)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    g, d = initial_nets()
    init = {"G": {k: v.clone() for k, v in g.state_dict().items()}, "D": {k: v.clone() for k, v in d.state_dict().items()}}
    arrays = {f"{net}.{k}": v.numpy() for net, sd in init.items() for k, v in sd.items()
              if not k.endswith("num_batches_tracked")}
    np.savez(os.path.join(OUT, "init.npz"), **arrays)
    init64 = {net: {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")} for net, sd in init.items()}
    for seed, (case, weights) in enumerate(CASES.items()):
        wgan = weights[3] > 0
        batches = inputs(100 + seed, wgan)
        losses, final = run(weights, init["G"], init["D"], batches, torch.float64)
        # PyTorch's own float32 run of the same step, for the float comparison's tolerance.
        _, final32 = run(weights, init["G"], init["D"], batches, torch.float32)
        arrays = {
            "weights": np.array(weights, dtype=np.float64),
            "lr": np.array([LR_G, LR_D]),
            "adam": np.array([BETA1, BETA2, EPS]),
        }
        for i, ((real, labels, targets, alpha), terms) in enumerate(zip(batches, losses)):
            arrays[f"it{i}.real"] = real.numpy()
            arrays[f"it{i}.labels"] = labels.numpy()
            arrays[f"it{i}.targets"] = targets.numpy()
            if wgan:
                arrays[f"it{i}.alpha"] = alpha.numpy()
            for k, v in terms.items():
                arrays[f"it{i}.{k}"] = np.array([v], dtype=np.float64)
            print(case, i, " ".join(f"{k}={v:.10g}" for k, v in terms.items()))
        for net, sd in final.items():
            for k, t in sd.items():
                arrays[f"final.{net}.{k}"] = t.numpy()
        for name, (relative, update) in deviation(final32, final, init64).items():
            arrays[f"torch_float32.{name}"] = np.array([relative])
            print(case, name, f"|update| {update:.4e}, PyTorch float32 off by {relative:.2e} of it")
        np.savez(os.path.join(OUT, case + ".npz"), **arrays)


if __name__ == "__main__":
    main()
