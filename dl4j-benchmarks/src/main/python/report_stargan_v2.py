"""Prints the tables of run-stargan-v2-benchmarks.sh from the result files in a folder (Markdown).

    /usr/bin/python3 report_stargan_v2.py dl4j-benchmarks/target/benchmarks

Reads adain-jmh.json (AdaptiveNormalizationBenchmark), torch-adain.json (bench_stargan_v2.py --adain),
stargan-v2-jmh.json (StarGanV2InferenceBenchmark), torch-stargan-v2.json (bench_stargan_v2.py --models),
libtorch-stargan-v2.json (LibTorchStarGanV2), train-jmh.json (StarGanV2TrainingBenchmark), torch-train.json
(bench_stargan_v2_train.py), libtorch-train.json (LibTorchStarGanV2Training), and the "same work" check's
check-torch.json, check-libtorch.json and check-dl4j-*.json; a missing file leaves its table or columns out.
"""
import json
import os
import statistics
import sys

ADAIN_TARGET = 1.2


def load(folder, name):
    path = os.path.join(folder, name)
    return json.load(open(path)) if os.path.exists(path) else None


def peer_name(result_file):
    """"PyTorch 1.13.0a0" or "libtorch 2.7.1": the meta's torch version with the framework's name."""
    name = result_file["meta"]["torch"]
    return name.split(" (")[0] if name.startswith("libtorch") else "PyTorch " + name


def jmh_rows(results):
    """(method, params, ms, error) per JMH result."""
    for r in results:
        m = r["primaryMetric"]
        yield r["benchmark"].rsplit(".", 1)[1], r["params"], m["score"], m.get("scoreError")


def fmt(v, digits=3):
    return "" if v is None else f"{v:.{digits}f}"


def err(e):
    # JMH writes the error as the string "NaN" when it had one iteration.
    return "" if not isinstance(e, (int, float)) or e != e else f" ± {e:.3f}"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else ""


def adain_table(jmh, torch):
    dl4j = {(p["shape"], method, p["layer"]): (ms, e) for method, p, ms, e in jmh_rows(jmh)}
    peer = {(r["shape"], r["mode"], r["layer"]): r["ms"] for r in torch["results"]} if torch else {}
    print(f"AdaIN (AdaptiveInstanceNormVertex) against the affine InstanceNormalization layer, float32 NCHW; ms;"
          f" target AdaIN / InstanceNorm <= {ADAIN_TARGET}"
          + (f"; {peer_name(torch)}, {torch['meta']['threads']} threads" if torch else "") + "\n")
    head = "| shape | mode | DL4J AdaIN | DL4J InstanceNorm | AdaIN / IN | met |"
    rule = "|---|---|---:|---:|---:|:-:|"
    if torch:
        head += " PyTorch AdaIN | PyTorch IN | its AdaIN / IN | DL4J / PyTorch, AdaIN | DL4J / PyTorch, IN |"
        rule += "---:|---:|---:|---:|---:|"
    print(head)
    print(rule)
    shapes = sorted({k[0] for k in dl4j}, key=lambda s: [int(d) for d in s.split("x")][1:], reverse=True)
    for shape in shapes:
        for mode in ("forward", "forwardBackward"):
            a, ae = dl4j.get((shape, mode, "AdaIN"), (None, None))
            p, pe = dl4j.get((shape, mode, "InstanceNorm"), (None, None))
            met = "" if a is None or p is None else ("yes" if a / p <= ADAIN_TARGET else "no")
            row = f"| {shape} | {mode} | {fmt(a)}{err(ae)} | {fmt(p)}{err(pe)} | {ratio(a, p)} | {met} |"
            if torch:
                ta, tp = peer.get((shape, mode, "AdaIN")), peer.get((shape, mode, "InstanceNorm"))
                row += f" {fmt(ta)} | {fmt(tp)} | {ratio(ta, tp)} | {ratio(a, ta)} | {ratio(p, tp)} |"
            print(row)
    print()


def inference_table(jmh, peers):
    names = [peer_name(p) for p in peers]
    times = [{r["model"].split()[-1]: r for r in p["results"] if "model" in r} for p in peers]
    print("StarGAN v2 latent-guided synthesis, s = F(z, y) then G(x, s) (w_hpf 0, random weights, float32); ms;"
          " ratio = DL4J / peer; "
          + "; ".join(f"{n}, {p['meta']['threads']} threads" for n, p in zip(names, peers)) + "\n")
    print("| size | batch | convolutions | DL4J | " + " | ".join(f"{n} | ratio" for n in names) + " |")
    print("|---|---:|---|---:|" + "---:|---:|" * len(names))
    batches = {"afhq": 1, "small": 8}
    for method, p, ms, e in jmh_rows(jmh):
        size = p["size"]
        batch = int(p.get("batch", "0")) or batches.get(size, "")
        cells = []
        for t in times:
            r = t.get(size)
            cells.append(f"{r['ms']:.1f} | {ms / r['ms']:.2f}" if r else " | ")
        print(f"| {size} | {batch} | {p.get('convolutions', '')} | {ms:.1f}{err(e)} | " + " | ".join(cells) + " |")
    print()


def spread(values):
    """(median, min, max) of the values."""
    return statistics.median(values), min(values), max(values)


def cell(stats):
    return f"{stats[0]:.1f} ({stats[1]:.1f}-{stats[2]:.1f})"


def train_table(jmh, peers):
    """One iteration of each side: the median of its three runs and their range; DL4J's runs are JMH's forks."""
    names = [peer_name(p) for p in peers]
    runs = [{r["model"].split()[-1]: r for r in p["results"]} for p in peers]
    print("StarGAN v2, one training iteration (2 D steps with R1, 2 G steps, Adam, EMA), float32; ms per iteration,"
          " median of 3 runs (range); ratio = DL4J / peer (medians); target: <= 1.0 against libtorch and < 1 against"
          " PyTorch; DL4J's R1 by central differences of two backward passes in the named type, the peers' by"
          " autograd (create_graph) in float32; "
          + "; ".join(f"{n}, {p['meta']['threads']} threads" for n, p in zip(names, peers)) + "\n")
    print("| size | batch | DL4J R1 passes | DL4J | " + " | ".join(f"{n} | ratio" for n in names) + " |")
    print("|---|---:|---|---:|" + "---:|---:|" * len(names))
    batches = {"example": 8, "small64": 4}
    for r in jmh:
        size, r1 = r["params"]["size"], r["params"]["r1"]
        forks = [statistics.mean(f) for f in r["primaryMetric"]["rawData"]]
        dl4j = spread(forks)
        cells = []
        for t in runs:
            p = t.get(size)
            if p:
                peer = spread(p["roundMedians"])
                cells.append(f"{cell(peer)} | {dl4j[0] / peer[0]:.2f}")
            else:
                cells.append(" | ")
        print(f"| {size} | {batches.get(size, '')} | {r1} | {cell(dl4j)} | " + " | ".join(cells) + " |")
    print()


def check_table(folder):
    """The "same work" check: every side's loss terms and parameter sums after two iterations from one start."""
    ref = load(folder, "check-torch.json")
    others = [load(folder, n) for n in sorted(os.listdir(folder)) if n.startswith("check-") and n.endswith(".json")
              and n != "check-torch.json"]
    if not ref or not others:
        return
    sides = [ref] + others
    label = [f"{s['meta']['side']} (R1 {s['meta']['r1']})" for s in sides]
    print("Same work: two iterations from the zoo fixture small16_nets.ckpt on small16_inputs.npz, float32; loss"
          " terms and the sums of the parameters afterwards\n")
    print("| value | " + " | ".join(label) + " |")
    print("|---|" + "---:|" * len(sides))
    for section in ("terms", "sums"):
        for key in ref[section]:
            print(f"| {key} | " + " | ".join(f"{s[section].get(key, float('nan')):.7g}" for s in sides) + " |")
    print()
    for s, name in zip(others, label[1:]):
        diffs = [abs(s["terms"][k] - v) for k, v in ref["terms"].items() if k in s["terms"]]
        rel = [abs(s["terms"][k] - v) / max(abs(v), 1e-12) for k, v in ref["terms"].items() if k in s["terms"]]
        print(f"- {name} against {label[0]}: {len(diffs)} terms, largest difference {max(diffs):.2e}"
              f" (relative {max(rel):.2e}); parameter sums differ by at most"
              f" {max(abs(s['sums'][k] - v) for k, v in ref['sums'].items()):.2e}")
    print()


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "dl4j-benchmarks/target/benchmarks"
    adain = load(folder, "adain-jmh.json")
    if adain:
        adain_table(adain, load(folder, "torch-adain.json"))
    inference = load(folder, "stargan-v2-jmh.json")
    if inference:
        peers = [p for p in (load(folder, "torch-stargan-v2.json"), load(folder, "libtorch-stargan-v2.json")) if p]
        inference_table(inference, peers)
    train = load(folder, "train-jmh.json")
    if train:
        peers = [p for p in (load(folder, "torch-train.json"), load(folder, "libtorch-train.json")) if p]
        train_table(train, peers)
    check_table(folder)
    checked = os.path.exists(os.path.join(folder, "check-torch.json"))
    if not adain and not inference and not train and not checked:
        sys.exit(f"no results in {folder}")


if __name__ == "__main__":
    main()
