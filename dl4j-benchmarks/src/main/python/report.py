"""Merges the JMH and PyTorch results into the markdown tables of dl4j-benchmarks/README.md.

    python3 report.py --jmh jmh-*.json --torch torch-default-*.json [--torch-reuse torch-reuse-*.json]
                      [--stargan stargan-jmh.json]

Columns: DL4J InstanceNormalization, its ratio to PyTorch (targets: training forward <= 0.5, forward+backward
<= 0.7, inference <= 1.0), the same against PyTorch reusing its freed buffers (--torch-reuse), the layer without the Vector API loops (a JVM without
--add-modules jdk.incubator.vector) and its ratio, DL4J BatchNormalization on the same array, and the memory-bandwidth bound: the fastest
copy of an array of the same size (read once, write once) is the least a forward can take; forward+backward must
move 2.5 times as much (forward: read x, write y; backward: read x and dy, write dx).
--stargan names StarGanStepBenchmark's results: a second table, the whole StarGAN generator (training step and
inference) in DL4J and PyTorch.
"""
import argparse
import json

MODES = [("trainingForward", "training forward", 0.5, 1.0),
         ("forwardBackward", "forward+backward", 0.7, 2.5),
         ("inferenceForward", "inference", 1.0, 1.0)]


# StarGanStepBenchmark's method names (older runs: trainingStep, inference) onto the PyTorch script's modes.
JMH_GENERATOR_MODES = {"generatorStep": "trainingStep", "generatorInference": "inference",
                       "trainingStep": "trainingStep", "inference": "inference"}
STARGAN_MODES = [("trainingStep", "training step (forward, backward, Adam)"),
                 ("inference", "inference (eval, no grad)")]


def load_all(paths):
    """The concatenated JMH result lists, or the merged PyTorch files ({"meta": first meta, "results": all})."""
    merged = None
    for path in paths or []:
        with open(path) as f:
            data = json.load(f)
        if isinstance(data, list):
            merged = (merged or []) + data
        elif merged is None:
            merged = {"meta": data["meta"], "results": list(data["results"])}
        else:
            merged["results"] += data["results"]
    return merged


def ratio_cells(ours, theirs, target=None):
    if theirs is None:
        return " | |" + (" |" if target is not None else "")
    cells = f" {theirs:.3f} | {ours / theirs:.2f} |"
    if target is not None:
        cells += f" {'yes' if ours / theirs <= target else 'no'} |"
    return cells


def stargan_table(jmh, torch, reuse):
    dl4j = {}
    for r in jmh:
        p = r["params"]
        mode = JMH_GENERATOR_MODES.get(r["benchmark"].rsplit(".", 1)[1])
        if mode is None or p.get("size", "stargan") != "stargan" or p.get("convolutions", "onednn") != "onednn":
            continue   # run-stargan-benchmarks.sh reports the discriminator, the example's size and DL4J's convolutions
        dl4j[(p["layer"], int(p.get("batch", 2)), mode)] = r["primaryMetric"]["score"]
    pt = {(r["batch"], r["mode"]): r["ms"] for r in torch["results"] if r.get("model") == "StarGAN Generator"}
    pr = {} if reuse is None else {(r["batch"], r["mode"]): r["ms"] for r in reuse["results"]
                                   if r.get("model") == "StarGAN Generator"}
    op_form = any(k[0] == "InstanceNormOpForm" for k in dl4j)
    print("\nStarGAN generator (conv_dim 64, c_dim 5, repeat_num 6), 128×128, float32; times in ms.\n")
    head = "| batch | mode | DL4J | PyTorch | ratio |"
    rule = "|---:|---|---:|---:|---:|"
    if pr:
        head += " PyTorch, buffers reused | ratio |"
        rule += "---:|---:|"
    if op_form:
        head += " DL4J op form (before) |"
        rule += "---:|"
    print(head)
    print(rule)
    for batch in sorted({k[1] for k in dl4j}):
        for mode, label in STARGAN_MODES:
            ours = dl4j.get(("InstanceNorm", batch, mode))
            if ours is None:
                continue
            row = f"| {batch} | {label} | {ours:.1f} |"
            for table in [pt] + ([pr] if pr else []):
                theirs = table.get((batch, mode))
                row += f" {theirs:.1f} | {ours / theirs:.2f} |" if theirs else " | |"
            if op_form:
                before = dl4j.get(("InstanceNormOpForm", batch, mode))
                row += f" {before:.1f} |" if before is not None else " |"
            print(row)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jmh", nargs="+", required=True, help="NormalizationBenchmark/MemoryBandwidthBenchmark")
    parser.add_argument("--torch", nargs="+", required=True, help="bench_torch.py results, default malloc")
    parser.add_argument("--torch-reuse", nargs="*", help="bench_torch.py results, buffers reused")
    parser.add_argument("--stargan", help="StarGanStepBenchmark results")
    args = parser.parse_args()
    jmh = load_all(args.jmh)
    torch = load_all(args.torch)
    reuse = load_all(args.torch_reuse)
    dl4j = {}
    copy = {}
    for r in jmh:
        method = r["benchmark"].rsplit(".", 1)[1]
        p = r["params"]
        ms = r["primaryMetric"]["score"]
        if "MemoryBandwidth" in r["benchmark"]:
            copy[p["shape"]] = min(copy.get(p["shape"], float("inf")), ms)
        else:
            dl4j[(p["layer"], p["shape"], p["layout"], method)] = ms
    pt = {(r["shape"], r["layout"], r["mode"]): r["ms"] for r in torch["results"] if "shape" in r}
    pr = {} if reuse is None else {(r["shape"], r["layout"], r["mode"]): r["ms"] for r in reuse["results"]
                                   if "shape" in r}
    op_form = any(k[0] == "InstanceNormOpForm" for k in dl4j)
    scalar = any(k[0] == "InstanceNormScalarLoops" for k in dl4j)

    print(f"PyTorch {torch['meta']['torch']}, {torch['meta']['threads']} threads; times in ms (DL4J: JMH average;"
          f" PyTorch: the lowest of its rounds' medians); float32.\n")
    head = "| shape | layout | mode | DL4J InstanceNorm | PyTorch | ratio | target | met |"
    rule = "|---|---|---|---:|---:|---:|---:|:-:|"
    if pr:
        head += " PyTorch, buffers reused | ratio | met |"
        rule += "---:|---:|:-:|"
    if scalar:
        head += " no Vector API | its ratio |"
        rule += "---:|---:|"
    if op_form:
        head += " op form (before) |"
        rule += "---:|"
    head += " DL4J BatchNorm | bound | x bound |"
    rule += "---:|---:|---:|"
    print(head)
    print(rule)
    for shape in ["10x64x128x128", "16x256x32x32", "64x32x64"]:
        rank = len(shape.split("x"))
        for layout in ["first", "last"]:
            name = {(4, "first"): "NCHW", (4, "last"): "NHWC", (3, "first"): "NCW", (3, "last"): "NWC"}[
                (rank, layout)]
            for mode, label, target, traffic in MODES:
                ours = dl4j.get(("InstanceNorm", shape, layout, mode))
                theirs = pt.get((shape, layout, mode))
                if ours is None or theirs is None:
                    continue
                bound = copy[shape] * traffic if shape in copy else float("nan")
                row = (f"| {shape.replace('x', '×')} | {name} | {label} | {ours:.3f} | {theirs:.3f} | "
                       f"{ours / theirs:.2f} | ≤ {target} | {'yes' if ours / theirs <= target else 'no'} |")
                if pr:
                    row += ratio_cells(ours, pr.get((shape, layout, mode)), target)
                if scalar:
                    plain = dl4j.get(("InstanceNormScalarLoops", shape, layout, mode))
                    row += f" {plain:.3f} | {plain / theirs:.2f} |" if plain is not None else " | |"
                if op_form:
                    before = dl4j.get(("InstanceNormOpForm", shape, layout, mode))
                    row += f" {before:.3f} |" if before is not None else " |"
                bn = dl4j.get(("BatchNorm", shape, layout, mode))
                row += f" {bn:.3f} |" if bn is not None else " |"
                row += f" {bound:.3f} | {ours / bound:.1f} |"
                print(row)
    print()
    for shape in sorted(copy):
        n = 1
        for d in shape.split("x"):
            n *= int(d)
        gbs = 2 * 4 * n / (copy[shape] * 1e-3) / 1e9
        print(f"- copy of {shape.replace('x', '×')} float32 ({4 * n / 2**20:.1f} MiB): {copy[shape]:.3f} ms,"
              f" {gbs:.1f} GB/s read+write")
    if args.stargan:
        stargan_table(load_all([args.stargan]), torch, reuse)


if __name__ == "__main__":
    main()
