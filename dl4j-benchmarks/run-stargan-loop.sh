#!/usr/bin/env bash
# Times what a GAN trainer does: one iteration of StarGanTrainer.step (the discriminator's step, then the
# generator's, LSGAN with the example's loss weights) back to back in a loop, on DL4J (TrainerStepTiming), PyTorch
# 1.13 (bench_torch.py --modes trainerStep) and libtorch 2.7.1 (LibTorchStarGan --modes trainerStep), at StarGAN's
# size and at the example's, RUNS times with the sides in alternation, and prints each run's times, the DL4J/peer
# ratios, and their medians with ranges.
#
#   dl4j-benchmarks/run-stargan-loop.sh [RUNS]      (default 3)
#
# Each side runs alone in its own process with THREADS threads (default: nproc). Every side's figure is the median
# step time of one loop after its warm-up: DL4J drops the first fifth of its steps, the peers run 3 steps first.
# StarGAN's size: 128 px, conv_dim 64, batch 2 (DL4J 20 steps, the peers at least 30 s); the example's: 32 px,
# conv_dim 8, batch 16 (DL4J 300 steps, the peers at least 15 s). About 12 minutes per run on 2 cores.
# Needs JDK 17 + Maven, PyTorch for Python 3 (Debian's python3-torch; PYTHON overrides the interpreter) and, on
# the first run, the libtorch natives (~120 MB, downloaded by Maven).
# Results: dl4j-benchmarks/target/benchmarks/loop/*.json and loop.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
RUNS="${1:-3}"
THREADS="${THREADS:-$(nproc)}"
OUT=dl4j-benchmarks/target/benchmarks/loop
# MVN_FLAGS=-o builds offline.
mvn -q -B ${MVN_FLAGS:-} -pl dl4j-benchmarks -am package -DskipTests -Dmaven.javadoc.skip=true -Dmaven.source.skip=true
mvn -q -B ${MVN_FLAGS:-} -pl dl4j-benchmarks-libtorch -Plibtorch package -DskipTests -Dmaven.javadoc.skip=true
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.txt
CP="dl4j-benchmarks/target/classes:$(cat dl4j-benchmarks/target/classpath.txt)"
LT=dl4j-benchmarks-libtorch/target

for run in $(seq 1 "$RUNS"); do
    for size in stargan example; do
        if [ "$size" = stargan ]; then steps=20; seconds=30; else steps=300; seconds=15; fi
        echo "== run $run, $size: DL4J (load $(cut -d' ' -f1 /proc/loadavg))"
        OMP_NUM_THREADS="$THREADS" java -cp "$CP" io.github.instancenorm.benchmarks.TrainerStepTiming \
            "$size" 32 "$steps" | tee "$OUT/dl4j-$size-$run.txt"
        echo "== run $run, $size: libtorch"
        # Loading libtorch through JavaCPP now and then crashes (see run-stargan-benchmarks.sh): one more start.
        for attempt in 1 2; do
            OMP_NUM_THREADS="$THREADS" java -Xmx4g -cp "$LT/classes:$(cat "$LT/classpath.txt")" \
                io.github.instancenorm.benchmarks.libtorch.LibTorchStarGan --threads "$THREADS" --models "$size" \
                --modes trainerStep --seconds "$seconds" --rounds 1 --out "$OUT/libtorch-$size-$run.json" \
                && break || echo "libtorch run $attempt failed (exit $?)" >&2
        done
        echo "== run $run, $size: PyTorch"
        "$PYTHON" dl4j-benchmarks/src/main/python/bench_torch.py --threads "$THREADS" --skip-layers \
            --models "$size" --modes trainerStep --seconds "$seconds" --rounds 1 --out "$OUT/torch-$size-$run.json"
    done
done

"$PYTHON" - "$OUT" "$RUNS" <<'EOF' | tee "$OUT/loop.md"
import json, re, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def dl4j(size, run):
    text = open(f"{out}/dl4j-{size}-{run}.txt").read()
    return float(re.search(r"median ([0-9.]+) ms", text).group(1))
def peer(name, size, run):
    try:
        return json.load(open(f"{out}/{name}-{size}-{run}.json"))["results"][0]["ms"]
    except (OSError, IndexError, KeyError):
        return float("nan")
print("StarGanTrainer.step in a loop, ms per iteration (median of one loop per run); ratio = DL4J / peer\n")
print("| size | run | DL4J | PyTorch 1.13 | ratio | libtorch 2.7.1 | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|")
summary = []
for size in ("stargan", "example"):
    ratios = {"PyTorch 1.13": [], "libtorch 2.7.1": []}
    for run in range(1, runs + 1):
        d, t, l = dl4j(size, run), peer("torch", size, run), peer("libtorch", size, run)
        ratios["PyTorch 1.13"].append(d / t)
        ratios["libtorch 2.7.1"].append(d / l)
        print(f"| {size} | {run} | {d:.1f} | {t:.1f} | {d / t:.2f} | {l:.1f} | {d / l:.2f} |")
    for name, values in ratios.items():
        summary.append(f"{size}, DL4J / {name}: median {statistics.median(values):.2f},"
                       f" range {min(values):.2f}-{max(values):.2f}")
print()
print("\n".join(summary))
EOF
