"""Prints the tables of run-stargan-v2-benchmarks.sh from the result files in a folder (Markdown).

    /usr/bin/python3 report_stargan_v2.py dl4j-benchmarks/target/benchmarks

Reads adain-jmh.json (AdaptiveNormalizationBenchmark), torch-adain.json (bench_stargan_v2.py --adain),
stargan-v2-jmh.json (StarGanV2InferenceBenchmark), torch-stargan-v2.json (bench_stargan_v2.py --models) and
libtorch-stargan-v2.json (LibTorchStarGanV2); a missing file leaves its table or columns out.
"""
import json
import os
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


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "dl4j-benchmarks/target/benchmarks"
    adain = load(folder, "adain-jmh.json")
    if adain:
        adain_table(adain, load(folder, "torch-adain.json"))
    inference = load(folder, "stargan-v2-jmh.json")
    if inference:
        peers = [p for p in (load(folder, "torch-stargan-v2.json"), load(folder, "libtorch-stargan-v2.json")) if p]
        inference_table(inference, peers)
    if not adain and not inference:
        sys.exit(f"no JMH results in {folder}")


if __name__ == "__main__":
    main()
