"""Times PyTorch's nn.InstanceNorm{1,2}d on the shapes and modes of NormalizationBenchmark.

Run with the Debian PyTorch 1.13 (python3-torch): /usr/bin/python3 bench_torch.py [--threads 2] [--out file.json]

Modes, as a network in training uses the layer:
  trainingForward   module.train(); y = m(x), x requiring grad (autograd records the graph)
  inferenceForward  module.eval() under torch.no_grad(): running statistics
  forwardBackward   the training forward, then torch.autograd.grad(y, (x, weight, bias), dy)
Layouts: "first" is NCHW / NCW; "last" is NHWC as torch.channels_last (4D) or an NWC array permuted to NCW (3D),
which is what a channels-last model hands the layer.
Each layer case runs --rounds rounds (default 3) of at least --seconds seconds after a warm-up and reports the
lowest of the rounds' median milliseconds per call (see timed() for why), and every round's median.

With --stargan it also times StarGAN's whole generator (conv_dim 64, c_dim 5, repeat_num 6, 128 px, float32;
the Generator of dl4j-instancenorm-zoo/src/test/python/stargan_model.py, yunjey/stargan's architecture), as
StarGanStepBenchmark does:
  trainingStep  G.train(); out = G(x, c); mean(out).backward(); Adam(1e-4, (0.5, 0.999)).step()
  inference     G.eval() under torch.no_grad(): G(x, c)

With --models stargan,example it times both networks at StarGAN's size and at the example's (TrainStarGan's
defaults), as StarGanStepBenchmark's generatorStep, discriminatorStep and generatorInference do:
  stargan  128 px, conv_dim 64, G repeat_num 6, D repeat_num 6, c_dim 5, batch 2
  example   32 px, conv_dim 8,  G repeat_num 2, D repeat_num 4, c_dim 5, batch 16
  generatorStep                 the trainingStep above
  generatorForwardBackward      the same without optimizer.step()
  discriminatorStep             D.train(); src, cls = D(x); (mean(src) + mean(cls)).backward(); Adam step
  discriminatorForwardBackward  the same without optimizer.step()
  generatorInference            the inference above
  trainerStep                   one iteration of StarGanTrainer.step as the example trains (LSGAN, lambda_cls 1,
                                lambda_rec 10, lambda_id 10), the networks' steps alternating in one loop as a GAN
                                trainer runs them; see trainer_step()
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..",
                                "dl4j-instancenorm-zoo", "src", "test", "python"))

SHAPES = [(10, 64, 128, 128), (16, 256, 32, 32), (64, 32, 64)]


def make_input(shape, last):
    if not last:
        return torch.randn(shape)
    if len(shape) == 4:
        return torch.randn(shape).contiguous(memory_format=torch.channels_last)
    n, c, w = shape
    return torch.randn(n, w, c).permute(0, 2, 1)


def timed(fn, min_seconds, rounds, min_runs=5, warmup=3):
    """Median milliseconds per call in each of `rounds` rounds; returns (lowest median, all medians).

    PyTorch's time per call switches between two levels on a small VM: when glibc hands a freed buffer back to
    the kernel, the next call's output is fresh memory and page-faults (16 MiB arrays then take about twice as
    long). Which level a round sees depends on the allocation history, so a single median can land on either. The
    lowest round median is PyTorch at its faster level: the ratios are never flattered by its page faults.
    """
    medians = []
    for _ in range(rounds):
        for _ in range(warmup):
            fn()
        times = []
        start = time.perf_counter()
        while len(times) < min_runs or time.perf_counter() - start < min_seconds:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        medians.append(statistics.median(times) * 1e3)
    return min(medians), medians


def bench(shape, last, seconds, rounds):
    c = shape[1]
    module = (torch.nn.InstanceNorm1d if len(shape) == 3 else torch.nn.InstanceNorm2d)(
        c, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)
    x = make_input(shape, last).requires_grad_(True)
    dy = torch.randn_like(x)
    params = (x, module.weight, module.bias)

    def training_forward():
        module.train()
        return module(x)

    def inference_forward():
        module.eval()
        with torch.no_grad():
            return module(x)

    def forward_backward():
        module.train()
        return torch.autograd.grad(module(x), params, dy)

    return {
        "trainingForward": timed(training_forward, seconds, rounds),
        "inferenceForward": timed(inference_forward, seconds, rounds),
        "forwardBackward": timed(forward_backward, seconds, rounds),
    }


MODEL_SIZES = {
    "stargan": dict(pixels=128, conv_dim=64, g_repeat=6, d_repeat=6, c_dim=5, batch=2),
    "example": dict(pixels=32, conv_dim=8, g_repeat=2, d_repeat=4, c_dim=5, batch=16),
}


def generator_steps(p, update=True):
    """StarGanStepBenchmark's generatorStep (generatorForwardBackward without `update`) and generatorInference for
    the sizes `p` (a MODEL_SIZES entry)."""
    from stargan_model import Generator
    g = Generator(conv_dim=p["conv_dim"], c_dim=p["c_dim"], repeat_num=p["g_repeat"])
    optimizer = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.5, 0.999))
    x = torch.rand(p["batch"], 3, p["pixels"], p["pixels"]) * 2 - 1
    c = (torch.rand(p["batch"], p["c_dim"]) > 0.5).float()

    def step():
        g.train()
        optimizer.zero_grad()
        g(x, c).mean().backward()
        if update:
            optimizer.step()

    def inference():
        g.eval()
        with torch.no_grad():
            return g(x, c)

    return step, inference


def discriminator_step(p, update=True):
    """StarGanStepBenchmark's discriminatorStep (discriminatorForwardBackward without `update`) for the sizes `p`
    (a MODEL_SIZES entry)."""
    from stargan_model import Discriminator
    d = Discriminator(image_size=p["pixels"], conv_dim=p["conv_dim"], c_dim=p["c_dim"], repeat_num=p["d_repeat"])
    optimizer = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.5, 0.999))
    x = torch.rand(p["batch"], 3, p["pixels"], p["pixels"]) * 2 - 1

    def step():
        d.train()
        optimizer.zero_grad()
        src, cls = d(x)
        (src.mean() + cls.mean()).backward()
        if update:
            optimizer.step()

    return step


def trainer_step(p):
    """StarGanStepBenchmark's trainerStep for the sizes `p` (a MODEL_SIZES entry): one iteration of the project's
    StarGanTrainer.step with the example's loss weights, written as a PyTorch user writes a StarGAN loop (the work is
    the trainer's: G runs three times, D three times forward and backward, each network takes one Adam step):

      x_fake = G(x, c_trg)
      D step: mean((D_src(x) - 1)^2) + BCE(D_cls(x), c_org) + mean(D_src(x_fake.detach())^2)
      G step: mean((D_src(x_fake) - 1)^2) + BCE(D_cls(x_fake), c_trg) + 10 mean|G(x_fake, c_org) - x|
              + 10 mean|G(x, c_org) - x|
    BCE is summed over the attributes and averaged over the batch, as StarGAN's classification loss.
    """
    from stargan_model import Discriminator, Generator
    g = Generator(conv_dim=p["conv_dim"], c_dim=p["c_dim"], repeat_num=p["g_repeat"])
    d = Discriminator(image_size=p["pixels"], conv_dim=p["conv_dim"], c_dim=p["c_dim"], repeat_num=p["d_repeat"])
    g_optimizer = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.5, 0.999))
    d_optimizer = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.5, 0.999))
    x = torch.rand(p["batch"], 3, p["pixels"], p["pixels"]) * 2 - 1
    c_org = (torch.rand(p["batch"], p["c_dim"]) > 0.5).float()
    c_trg = (torch.rand(p["batch"], p["c_dim"]) > 0.5).float()

    def classification(logits, target):
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.size(0)

    def step():
        g.train()
        d.train()
        x_fake = g(x, c_trg)
        src, cls = d(x)
        d_loss = torch.mean((src - 1) ** 2) + classification(cls, c_org)
        src, _ = d(x_fake.detach())
        d_loss = d_loss + torch.mean(src ** 2)
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()

        x_rec = g(x_fake, c_org)
        same = g(x, c_org)
        src, cls = d(x_fake)
        g_loss = (torch.mean((src - 1) ** 2) + classification(cls, c_trg) + 10 * torch.mean(torch.abs(x_rec - x))
                  + 10 * torch.mean(torch.abs(same - x)))
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()

    return step


def bench_stargan(batch, seconds):
    step, inference = generator_steps(dict(MODEL_SIZES["stargan"], batch=batch))
    # Each call takes seconds: one round, a short warm-up and at least three timed calls.
    return {
        "trainingStep": timed(step, seconds, 1, min_runs=3, warmup=1),
        "inference": timed(inference, seconds, 1, min_runs=3, warmup=1),
    }


def bench_models(size, seconds, only=None, rounds=3):
    p = MODEL_SIZES[size]
    g_step, g_inference = generator_steps(p)
    calls = {
        "generatorStep": g_step,
        "generatorForwardBackward": generator_steps(p, update=False)[0],
        "discriminatorStep": discriminator_step(p),
        "discriminatorForwardBackward": discriminator_step(p, update=False),
        "generatorInference": g_inference,
        "trainerStep": trainer_step(p),
    }
    return {mode: timed(call, seconds, rounds, min_runs=5, warmup=3) for mode, call in calls.items()
            if only is None or mode in only}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (match the JVM's cores)")
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum measuring time per case and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per case; the lowest median counts")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--stargan", type=int, default=0, metavar="BATCH",
                        help="also time the StarGAN generator on BATCH images (0: skip)")
    parser.add_argument("--skip-layers", action="store_true", help="only the StarGAN generator")
    parser.add_argument("--models", help="comma-separated StarGAN sizes to time G and D at: stargan,example")
    parser.add_argument("--modes", help="comma-separated modes to time with --models (default: all), e.g. trainerStep")
    parser.add_argument("--shapes", help="comma-separated layer shapes such as 16x256x32x32 (default: all three)")
    args = parser.parse_args()
    shapes = SHAPES if not args.shapes else [tuple(int(d) for d in s.split("x")) for s in args.shapes.split(",")]
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    results = []
    for shape in [] if args.skip_layers else shapes:
        for layout in ("first", "last"):
            for mode, (ms, medians) in bench(shape, layout == "last", args.seconds, args.rounds).items():
                row = {"shape": "x".join(map(str, shape)), "layout": layout, "mode": mode, "ms": ms,
                       "roundMedians": medians}
                results.append(row)
                spread = " ".join(f"{m:.3f}" for m in medians)
                print(f"{row['shape']:>14} {layout:>5} {mode:>16} {ms:9.3f} ms  (rounds: {spread})", flush=True)
    if args.stargan:
        for mode, (ms, _) in bench_stargan(args.stargan, 2 * args.seconds).items():
            row = {"model": "StarGAN Generator", "batch": args.stargan, "mode": mode, "ms": ms}
            results.append(row)
            print(f"StarGAN G x{args.stargan:<3} {mode:>16} {ms:9.3f} ms", flush=True)
    for size in args.models.split(",") if args.models else []:
        only = set(args.modes.split(",")) if args.modes else None
        for mode, (ms, medians) in bench_models(size, args.seconds, only, args.rounds).items():
            row = {"model": "StarGAN " + size, "mode": mode, "ms": ms, "roundMedians": medians}
            results.append(row)
            spread = " ".join(f"{m:.3f}" for m in medians)
            print(f"StarGAN {size:>8} {mode:>18} {ms:9.3f} ms  (rounds: {spread})", flush=True)
    # glibc reads these at start-up; run-benchmarks.sh sets them for the "buffers reused" measurement.
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "malloc": malloc}
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
