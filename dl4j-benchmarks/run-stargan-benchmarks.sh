#!/usr/bin/env bash
# Times StarGAN's generator and discriminator on DL4J (StarGanStepBenchmark, JMH), on PyTorch 1.13
# (bench_torch.py --models) and optionally on libtorch 2.7 (dl4j-benchmarks-libtorch's LibTorchStarGan) at StarGAN's
# size and at the example's, and prints the DL4J/peer ratios.
#
#   dl4j-benchmarks/run-stargan-benchmarks.sh [--with-libtorch] [--with-dl4j-convolutions] [--retain-freed-memory]
#                                             [--quick]
#
#   --with-libtorch           also time libtorch 2.7.1 (org.bytedeco:pytorch, oneDNN + OpenBLAS; downloads ~120 MB)
#   --with-dl4j-convolutions  also time DL4J with its own im2col convolutions (FastConvolutions off), the "before"
#   --retain-freed-memory     run every side with glibc keeping freed memory for reuse (one arena, no mmap, no
#                             trimming: the settings in docs/speedups.md, "Large models: glibc's malloc")
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
TORCH_ROUNDS=3
LIBTORCH=false
RETAIN_FREED_MEMORY=false
for arg in "$@"; do
    case "$arg" in
        --with-libtorch) LIBTORCH=true ;;
        --with-dl4j-convolutions) CONVOLUTIONS=onednn,dl4j ;;
        --retain-freed-memory) RETAIN_FREED_MEMORY=true ;;
        --quick) JMH_TIME=(-wi 0 -i 1 -r 1s); TORCH_SECONDS=0.3; TORCH_ROUNDS=1 ;;
        *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done
THREADS="${THREADS:-$(nproc)}"

if $RETAIN_FREED_MEMORY; then
    # Exported once, so every side (and the build) starts with it.
    export MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184
fi
echo "== glibc malloc settings in the environment: $(env | grep "^MALLOC_" | sort | tr "\n" " " || true)"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $THREADS cores"
mvn -q -B -pl dl4j-benchmarks -am package -DskipTests
mkdir -p "$OUT"
rm -f "$OUT/libtorch-stargan-steps.json"
if $LIBTORCH; then
    mvn -q -B -pl dl4j-benchmarks-libtorch -Plibtorch package -DskipTests
fi
CP="dl4j-benchmarks/target/classes:$(cat dl4j-benchmarks/target/classpath.txt)"

echo "== JMH: StarGanStepBenchmark (convolutions: $CONVOLUTIONS)"
OMP_NUM_THREADS="$THREADS" java -cp "$CP" org.openjdk.jmh.Main "${JMH_TIME[@]}" -f 1 -p size=stargan,example \
    -p convolutions="$CONVOLUTIONS" -rf json -rff "$OUT/stargan-steps-jmh.json" 'StarGanStepBenchmark' \
    | grep -E '^(Benchmark|StarGan)' || true
echo "== PyTorch ($THREADS threads)"
"$PYTHON" dl4j-benchmarks/src/main/python/bench_torch.py --threads "$THREADS" --seconds "$TORCH_SECONDS" \
    --skip-layers --models stargan,example --out "$OUT/torch-stargan-steps.json"
if $LIBTORCH; then
    echo "== libtorch ($THREADS threads)"
    LT=dl4j-benchmarks-libtorch/target
    # Loading libtorch through JavaCPP now and then crashes in pthread_mutex_lock (seen here once in five starts):
    # one more start before giving up.
    for attempt in 1 2; do
        OMP_NUM_THREADS="$THREADS" java -Xmx4g -cp "$LT/classes:$(cat "$LT/classpath.txt")" \
            io.github.instancenorm.benchmarks.libtorch.LibTorchStarGan --threads "$THREADS" \
            --seconds "$TORCH_SECONDS" --rounds "$TORCH_ROUNDS" --out "$OUT/libtorch-stargan-steps.json" \
            && break || echo "libtorch run $attempt failed (exit $?)" >&2
    done
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$OUT/stargan-steps-jmh.json" "$OUT/torch-stargan-steps.json" "$OUT/libtorch-stargan-steps.json" \
    <<'EOF' | tee "$OUT/stargan-steps.md"
import json, os, sys
jmh = json.load(open(sys.argv[1]))
peers = [json.load(open(f)) for f in sys.argv[2:] if os.path.exists(f)]
times = [{(r["model"].split()[1], r["mode"]): r["ms"] for r in p["results"] if "model" in r} for p in peers]
names = [p["meta"]["torch"] for p in peers]
print("; ".join(f"{n}, {p['meta']['threads']} threads" for n, p in zip(names, peers)) + "; ratio = DL4J / peer\n")
print("| size | step | convolutions | DL4J ms | " + " | ".join(f"{n} ms | ratio" for n in names) + " |")
print("|---|---|---|---:|" + "---:|---:|" * len(names))
for r in jmh:
    mode = r["benchmark"].rsplit(".", 1)[1]
    size, conv = r["params"]["size"], r["params"]["convolutions"]
    ms = r["primaryMetric"]["score"]
    cells = [(t.get((size, mode))) for t in times]
    print(f"| {size} | {mode} | {conv} | {ms:.2f} | "
          + " | ".join(f"{t:.2f} | {ms / t:.2f}" if t else " | " for t in cells) + " |")
EOF
