"""Times StarGAN v2 in PyTorch, as StarGanV2InferenceBenchmark and AdaptiveNormalizationBenchmark time DL4J.

Run with the Debian PyTorch 1.13 (python3-torch):

    /usr/bin/python3 bench_stargan_v2.py [--threads 2] [--seconds 2] [--rounds 3] [--models afhq,small]
                                         [--adain 8x512x16x16,8x256x64x64,8x64x256x256] [--out file.json]

--models: latent-guided synthesis, s = F(z, y) then G(x, s), with random weights (PyTorch's default
initialization), eval() under torch.no_grad(); the modules Gen and Mapping of the zoo's
gen_stargan_v2_fixtures.py (StarGAN v2's generator and mapping network, state-dict layout of clovaai/stargan-v2):
  afhq   256 px, dim_in 64, max_conv_dim 512, style 64, latent 16, mapping width 512, 3 domains, w_hpf 0, batch 1
  small   64 px, dim_in 32, max_conv_dim 256, otherwise the same, batch 8
Sample n's target domain is n % 3. --batch overrides both sizes' batch.

--adain: at each N x C x H x W shape, float32 NCHW, the training forward and forward + backward of
  AdaIN         the fixtures' StyleNorm without its Linear layer: gamma, beta = chunk(h, 2); (1 + gamma) * IN(x) + beta,
                h [N, 2C] given; the backward is torch.autograd.grad(out, (x, h), dy)
  InstanceNorm  nn.InstanceNorm2d(C, affine=True) in train mode; torch.autograd.grad(out, (x, weight, bias), dy)
In both the forward runs on an x that requires grad, so autograd records the graph.

Every case runs --rounds rounds of at least --seconds seconds after a warm-up and reports the lowest round median
(bench_torch.timed). The results file has bench_torch.py's JSON layout.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source folders of the two imports below
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "dl4j-instancenorm-zoo", "src", "test", "python"))

from bench_torch import timed  # noqa: E402

SIZES = {
    "afhq": dict(img=256, dim_in=64, max_conv_dim=512, style_dim=64, latent_dim=16, hidden=512, domains=3, batch=1),
    "small": dict(img=64, dim_in=32, max_conv_dim=256, style_dim=64, latent_dim=16, hidden=512, domains=3, batch=8),
}

ADAIN_SHAPES = "8x512x16x16,8x256x64x64,8x64x256x256"


def latent_guided(p, batch):
    """F then G for the sizes `p` (a SIZES entry): returns the call and the two modules' parameter counts."""
    from gen_stargan_v2_fixtures import Gen, Mapping
    n = batch or p["batch"]
    f = Mapping(p["latent_dim"], p["style_dim"], p["domains"], p["hidden"]).eval()
    g = Gen(p["img"], p["dim_in"], p["max_conv_dim"], p["style_dim"], 0).eval()
    z = torch.randn(n, p["latent_dim"])
    y = torch.arange(n) % p["domains"]
    x = torch.rand(n, 3, p["img"], p["img"]) * 2 - 1

    def call():
        with torch.no_grad():
            return g(x, f(z, y))

    counts = [sum(t.numel() for t in m.parameters()) for m in (f, g)]
    return call, counts


def adain_cases(shape):
    n, c, h, w = shape
    x = torch.randn(n, c, h, w).requires_grad_(True)
    dy = torch.randn_like(x)
    mod = (0.1 * torch.randn(n, 2 * c)).requires_grad_(True)
    norm = torch.nn.InstanceNorm2d(c, eps=1e-5, affine=True).train()
    with torch.no_grad():
        norm.weight.copy_(torch.rand(c) + 0.5)
        norm.bias.copy_(0.1 * torch.randn(c))

    def adain():
        gamma, beta = torch.chunk(mod.view(n, 2 * c, 1, 1), 2, dim=1)
        return (1 + gamma) * F.instance_norm(x, eps=1e-5) + beta

    def plain():
        return norm(x)

    return {
        ("AdaIN", "forward"): adain,
        ("AdaIN", "forwardBackward"): lambda: torch.autograd.grad(adain(), (x, mod), dy),
        ("InstanceNorm", "forward"): plain,
        ("InstanceNorm", "forwardBackward"): lambda: torch.autograd.grad(plain(), (x, norm.weight, norm.bias), dy),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (match the JVM's cores)")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum measuring time per case and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per case; the lowest median counts")
    parser.add_argument("--models", help="comma-separated sizes for F then G: afhq,small")
    parser.add_argument("--batch", type=int, default=0, help="batch for --models (0: each size's own)")
    parser.add_argument("--adain", nargs="?", const=ADAIN_SHAPES,
                        help=f"comma-separated N x C x H x W shapes for AdaIN and InstanceNorm"
                             f" (default {ADAIN_SHAPES})")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    results = []
    for s in args.adain.split(",") if args.adain else []:
        shape = tuple(int(d) for d in s.split("x"))
        for (layer, mode), call in adain_cases(shape).items():
            ms, medians = timed(call, args.seconds, args.rounds)
            results.append({"shape": s, "layer": layer, "mode": mode, "ms": ms, "roundMedians": medians})
            spread = " ".join(f"{m:.3f}" for m in medians)
            print(f"{s:>14} {layer:>12} {mode:>15} {ms:9.3f} ms  (rounds: {spread})", flush=True)
    for size in args.models.split(",") if args.models else []:
        call, (f_params, g_params) = latent_guided(SIZES[size], args.batch)
        n = args.batch or SIZES[size]["batch"]
        print(f"StarGAN v2 {size}: F {f_params} parameters, G {g_params} parameters, batch {n}", flush=True)
        ms, medians = timed(call, args.seconds, args.rounds, min_runs=3, warmup=2)
        results.append({"model": "StarGAN v2 " + size, "mode": "latentGuided", "batch": n, "ms": ms,
                        "roundMedians": medians})
        spread = " ".join(f"{m:.3f}" for m in medians)
        print(f"StarGAN v2 {size:>6} latentGuided {ms:9.3f} ms  (rounds: {spread})", flush=True)
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "malloc": malloc}
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
