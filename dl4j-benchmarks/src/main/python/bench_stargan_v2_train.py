"""Times one StarGAN v2 training iteration in PyTorch, as StarGanV2TrainingBenchmark times the JVM trainer.

Run with the Debian PyTorch 1.13 (python3-torch):

    /usr/bin/python3 bench_stargan_v2_train.py [--threads 2] [--seconds 10] [--rounds 3] [--warmup 2] [--min-runs 3]
                                               [--train example,small64] [--out file.json]
    /usr/bin/python3 bench_stargan_v2_train.py --check NETS.ckpt INPUTS.npz OUT.json [--export NETS.npz]

The networks are the modules of the zoo's gen_stargan_v2_fixtures.py; the iteration is iteration() of the train
module's gen_stargan_v2_train_fixtures.py, the one the JVM trainer's tests compare with (its losses are those of
gen_stargan_v2_step_fixtures.py, R1 by torch.autograd.grad(create_graph=True)):
  D step with latent styles, D step with reference styles (each: zero every gradient, backward, Adam step of D),
  G step with latent styles (Adam steps of G, F and E), G step with reference styles (G only),
  then ema = torch.lerp(p, ema, 0.999) for G, F and E; then lambda_ds decays by 2 / 100000.
Optimizers torch.optim.Adam(lr, betas=(0, 0.99), eps=1e-8, weight_decay=1e-4), lr 1e-4 and 1e-6 for F; loss
weights lambda reg, sty, ds, cyc = 1, 1, 2, 1. Float32.

--train: the trained networks He-initialized (kaiming_normal_, fan_in, relu; biases 0), the averages PyTorch's
default initialization, one fixed random batch that every call trains on; sample n from domain n % 3 to (n + 1) % 3.
  example   32 px, dim_in 16, max_conv_dim 64, style 16, latent 8, mapping width 64, 3 domains, batch 8
            (TrainStarGanV2's defaults)
  small64   64 px, dim_in 32, max_conv_dim 256, style 64, latent 16, mapping width 512, 3 domains, batch 4
Every size runs --rounds rounds of at least --seconds seconds and --min-runs (3) iterations after --warmup (2)
warm-up iterations; the
results file has bench_torch.py's JSON layout with each round's median, and "ms" their median.

--check: two iterations from the networks of NETS.ckpt (the averages start from the same weights) on the inputs of
INPUTS.npz (x_real, x_ref, x_ref2, z_trg, z_trg2, one-hot y_org, y_trg: the train module's small16_inputs.npz), and
writes their loss terms and the sums of every network's parameters as JSON (StarGanV2TrainingCheck's layout).
--export also writes NETS.ckpt's tensors as NETS.npz, named NET.PARAM, for LibTorchStarGanV2Training --check.
"""
import argparse
import json
import math
import os
import statistics
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source folders of the imports below
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "dl4j-instancenorm-train", "src", "test", "python"))

from bench_torch import timed  # noqa: E402
import gen_stargan_v2_train_fixtures as train  # noqa: E402  (puts the zoo's fixture folder on sys.path too)
import gen_stargan_v2_fixtures as nets_def  # noqa: E402

SIZES = {
    "example": dict(img=32, dim_in=16, max_conv_dim=64, style_dim=16, latent_dim=8, hidden=64, domains=3, batch=8),
    "small64": dict(img=64, dim_in=32, max_conv_dim=256, style_dim=64, latent_dim=16, hidden=512, domains=3,
                    batch=4),
}
DS_ITER = 100_000
NETS = train.NETS
TERM_NAMES = {"d_latent": "D/latent", "d_reference": "D/reference", "g_latent": "G/latent",
              "g_reference": "G/reference"}


def build(p):
    return {
        "generator": nets_def.Gen(p["img"], p["dim_in"], p["max_conv_dim"], p["style_dim"], 0),
        "mapping_network": nets_def.Mapping(p["latent_dim"], p["style_dim"], p["domains"], p["hidden"]),
        "style_encoder": nets_def.Encoder(p["img"], p["dim_in"], p["max_conv_dim"], p["domains"], p["style_dim"]),
        "discriminator": nets_def.Critic(p["img"], p["dim_in"], p["max_conv_dim"], p["domains"]),
    }


def he_init(module):
    if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
        torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            torch.nn.init.constant_(module.bias, 0)


class Trainer:
    """The networks, their averages and optimizers, and lambda_ds: step() is one iteration."""

    def __init__(self, nets, ema):
        self.nets, self.ema = nets, ema
        for m in nets.values():
            m.train()
        self.optims = train.optimizers(nets)
        self.lambda_ds = train.LAMBDA["ds"]

    def step(self, inputs):
        terms = train.iteration(self.nets, self.ema, self.optims, inputs, self.lambda_ds, torch.float32)
        terms["lambda_ds"] = self.lambda_ds
        if self.lambda_ds > 0:
            self.lambda_ds -= train.LAMBDA["ds"] / DS_ITER
        return terms


def random_inputs(p):
    n, img = p["batch"], p["img"]
    return {"x_real": torch.rand(n, 3, img, img) * 2 - 1, "x_ref": torch.rand(n, 3, img, img) * 2 - 1,
            "x_ref2": torch.rand(n, 3, img, img) * 2 - 1, "z_trg": torch.randn(n, p["latent_dim"]),
            "z_trg2": torch.randn(n, p["latent_dim"]), "y_org": torch.arange(n) % p["domains"],
            "y_trg": (torch.arange(n) + 1) % p["domains"]}


def bench(size, seconds, rounds, warmup, min_runs):
    p = SIZES[size]
    nets, ema = build(p), build(p)
    for m in nets.values():
        m.apply(he_init)
    trainer = Trainer(nets, ema)
    inputs = random_inputs(p)
    counts = {k: sum(t.numel() for t in m.parameters()) for k, m in nets.items()}
    print(f"StarGAN v2 train {size}: parameters {counts}, batch {p['batch']}", flush=True)
    _, medians = timed(lambda: trainer.step(inputs), seconds, rounds, min_runs=min_runs, warmup=warmup)
    return p["batch"], statistics.median(medians), medians


def sums(modules):
    return {k: float(sum(t.detach().double().sum() for t in m.parameters())) for k, m in modules.items()}


def check(nets_file, inputs_file, out_file, export):
    saved = torch.load(nets_file)
    if export:
        np.savez(export, **{f"{k}.{name}": t.numpy() for k in NETS for name, t in saved[k].items()})
    cfg = nets_def.CONFIGS["small16"]
    p = dict(img=cfg[0], dim_in=cfg[1], max_conv_dim=cfg[2], domains=cfg[3], style_dim=cfg[4], latent_dim=cfg[5],
             hidden=cfg[6])
    nets, ema = build(p), build(p)
    for k in NETS:
        nets[k].load_state_dict(saved[k], strict=True)
        ema[k].load_state_dict(saved[k], strict=True)
    trainer = Trainer(nets, ema)
    arrays = np.load(inputs_file)
    inputs = {k: torch.from_numpy(arrays[k]) for k in ("x_real", "x_ref", "x_ref2", "z_trg", "z_trg2")}
    inputs["y_org"] = torch.from_numpy(arrays["y_org"]).argmax(1)
    inputs["y_trg"] = torch.from_numpy(arrays["y_trg"]).argmax(1)
    terms = {}
    for it in (1, 2):
        for key, value in trainer.step(inputs).items():
            if key == "lambda_ds":
                terms[f"it{it}.G/lambda_ds"] = value
            else:
                loss, term = key.split(".")
                terms[f"it{it}.{TERM_NAMES[loss]}/{term}"] = value
    out = {"meta": {"side": f"PyTorch {torch.__version__}", "r1": "autograd, float32"}, "terms": terms,
           "sums": {**{f"nets.{k}": v for k, v in sums(nets).items()},
                    **{f"ema.{k}": v for k, v in sums({k: ema[k] for k in train.EMA}).items()}}}
    with open(out_file, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (match the JVM's cores)")
    parser.add_argument("--seconds", type=float, default=10.0, help="minimum measuring time per size and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size; the median of their medians counts")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up iterations per round")
    parser.add_argument("--min-runs", type=int, default=3, help="timed iterations per round, at least")
    parser.add_argument("--train", default="example,small64", help="comma-separated sizes: example,small64")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--check", nargs=3, metavar=("NETS_CKPT", "INPUTS_NPZ", "OUT_JSON"),
                        help="two iterations from given networks and inputs instead of timing")
    parser.add_argument("--export", help="with --check: also write the networks as NET.PARAM arrays into this npz")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        check(*args.check, args.export)
        return
    torch.manual_seed(42)
    results = []
    for size in args.train.split(","):
        n, ms, medians = bench(size, args.seconds, args.rounds, args.warmup, args.min_runs)
        results.append({"model": "StarGAN v2 train " + size, "mode": "iteration", "batch": n, "ms": ms,
                        "roundMedians": medians})
        spread = " ".join(f"{m:.1f}" for m in medians)
        print(f"StarGAN v2 train {size:>8} iteration {ms:10.1f} ms  (round medians: {spread})", flush=True)
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "malloc": malloc,
            "r1": "autograd (create_graph), float32"}
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
