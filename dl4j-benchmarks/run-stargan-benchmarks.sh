#!/usr/bin/env bash
# Times StarGAN's generator and discriminator on DL4J (StarGanStepBenchmark, JMH) and on PyTorch
# (bench_torch.py --models) at StarGAN's size and at the example's, and prints DL4J/PyTorch ratios.
#
#   dl4j-benchmarks/run-stargan-benchmarks.sh [--with-dl4j-convolutions] [--quick]
#
#   --with-dl4j-convolutions  also time DL4J with its own im2col convolutions (FastConvolutions off), the "before"
#   --quick                   one short measurement per case, to check that everything runs
#
# Needs JDK 17 + Maven and PyTorch for Python 3 (Debian's python3-torch; PYTHON overrides the interpreter). Each
# side runs in its own process, one after the other, with THREADS threads (default: nproc). Run it on a quiet
# machine: about 10 minutes on 2 cores (20 with --with-dl4j-convolutions).
# Results: dl4j-benchmarks/target/benchmarks/stargan-steps-jmh.json, torch-stargan-steps.json, stargan-steps.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
OUT=dl4j-benchmarks/target/benchmarks
CONVOLUTIONS=onednn
JMH_TIME=(-wi 4 -w 3s -i 5 -r 3s)   # the example size needs the longer warm-up (its first iterations are 2x slower)
TORCH_SECONDS=2
for arg in "$@"; do
    case "$arg" in
        --with-dl4j-convolutions) CONVOLUTIONS=onednn,dl4j ;;
        --quick) JMH_TIME=(-wi 0 -i 1 -r 1s); TORCH_SECONDS=0.3 ;;
        *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done
THREADS="${THREADS:-$(nproc)}"

echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $THREADS cores"
mvn -q -B -pl dl4j-benchmarks -am package -Dmaven.test.skip=true
mkdir -p "$OUT"
CP="dl4j-benchmarks/target/classes:$(cat dl4j-benchmarks/target/classpath.txt)"

echo "== JMH: StarGanStepBenchmark (convolutions: $CONVOLUTIONS)"
OMP_NUM_THREADS="$THREADS" java -cp "$CP" org.openjdk.jmh.Main "${JMH_TIME[@]}" -f 1 -p size=stargan,example \
    -p convolutions="$CONVOLUTIONS" -rf json -rff "$OUT/stargan-steps-jmh.json" 'StarGanStepBenchmark' \
    | grep -E '^(Benchmark|StarGan)' || true
echo "== PyTorch ($THREADS threads)"
"$PYTHON" dl4j-benchmarks/src/main/python/bench_torch.py --threads "$THREADS" --seconds "$TORCH_SECONDS" \
    --skip-layers --models stargan,example --out "$OUT/torch-stargan-steps.json"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$OUT/stargan-steps-jmh.json" "$OUT/torch-stargan-steps.json" <<'EOF' | tee "$OUT/stargan-steps.md"
import json, sys
jmh = json.load(open(sys.argv[1]))
torch = json.load(open(sys.argv[2]))
peer = {(r["model"].split()[1], r["mode"]): r["ms"] for r in torch["results"] if "model" in r}
print(f"PyTorch {torch['meta']['torch']}, {torch['meta']['threads']} threads; ratio = DL4J / PyTorch\n")
print("| size | step | convolutions | DL4J ms | PyTorch ms | ratio |")
print("|---|---|---|---:|---:|---:|")
for r in jmh:
    mode = r["benchmark"].rsplit(".", 1)[1]
    size, conv = r["params"]["size"], r["params"]["convolutions"]
    ms = r["primaryMetric"]["score"]
    t = peer.get((size, mode))
    print(f"| {size} | {mode} | {conv} | {ms:.2f} | {t:.2f} | {ms / t:.2f} |" if t else
          f"| {size} | {mode} | {conv} | {ms:.2f} | | |")
EOF
