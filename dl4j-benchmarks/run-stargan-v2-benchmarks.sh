#!/usr/bin/env bash
# Times StarGAN v2 on DL4J against PyTorch 1.13 and libtorch 2.7.1, and prints the ratios:
#   1. AdaIN: the AdaptiveInstanceNormVertex's forward and forward + backward next to the affine InstanceNormalization
#      layer at the AFHQ generator's AdaIN shapes (AdaptiveNormalizationBenchmark, JMH), and PyTorch's StyleNorm and
#      nn.InstanceNorm2d at the same shapes (bench_stargan_v2.py --adain). Ratio AdaIN / InstanceNorm, target <= 1.2.
#   2. Latent-guided synthesis, s = F(z, y) then G(x, s) with w_hpf = 0, random weights, at the AFHQ configuration
#      (256 px, batch 1) and a small one (64 px, dim_in 32, batch 8): StarGanV2InferenceBenchmark (JMH, with
#      Speedups.install), bench_stargan_v2.py --models (PyTorch 1.13) and LibTorchStarGanV2 (libtorch 2.7.1).
#
#   dl4j-benchmarks/run-stargan-v2-benchmarks.sh [--only adain|inference] [--without-libtorch]
#                                                [--retain-freed-memory] [--omp-passive] [--quick]
#
#   --only adain|inference    run one of the two parts
#   --without-libtorch        skip libtorch (org.bytedeco:pytorch, oneDNN + OpenBLAS; ~120 MB of natives on the
#                             first run)
#   --retain-freed-memory     run every side with glibc keeping freed memory for reuse (one arena, no mmap, no
#                             trimming), as run-stargan-benchmarks.sh --retain-freed-memory
#   --omp-passive             run every side with OMP_WAIT_POLICY=passive (OpenMP workers sleep instead of spinning):
#                             a diagnostic for a machine that other jobs load (see the README's StarGAN v2 section);
#                             on a quiet 2-core machine it made DL4J's StarGAN D step 2x slower
#   --quick                   one short measurement per case, to check that everything runs (the numbers mean little)
#
# Needs JDK 17 + Maven and PyTorch for Python 3 (Debian's python3-torch; PYTHON overrides the interpreter). Each
# side runs in its own process, one after the other, with THREADS threads (default: nproc). MVN_FLAGS is passed to
# Maven (MVN_FLAGS=-o to build offline). Run it on a quiet machine: about 12-15 minutes on 2 cores (--quick: about 4).
# Results: dl4j-benchmarks/target/benchmarks/adain-jmh.json (and .log), torch-adain.json, stargan-v2-jmh.json (and
# .log), torch-stargan-v2.json, libtorch-stargan-v2.json and the tables in stargan-v2.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
OUT=dl4j-benchmarks/target/benchmarks
SHAPES=8x512x16x16,8x256x64x64,8x64x256x256
SIZES=afhq,small
ADAIN_JMH=(-wi 3 -w 1s -i 5 -r 2s)
INFERENCE_JMH=(-wi 3 -w 4s -i 5 -r 4s)   # an AFHQ call takes seconds: JMH runs whole calls past the iteration time
ADAIN_SECONDS=1
PEER_SECONDS=2
PEER_ROUNDS=3
PARTS="adain inference"
LIBTORCH=true
RETAIN_FREED_MEMORY=false
while [ $# -gt 0 ]; do
    case "$1" in
        --only) PARTS="${2:?--only adain|inference}"; shift ;;
        --without-libtorch) LIBTORCH=false ;;
        --retain-freed-memory) RETAIN_FREED_MEMORY=true ;;
        --omp-passive) export OMP_WAIT_POLICY=passive ;;
        --quick)
            ADAIN_JMH=(-wi 1 -w 1s -i 1 -r 1s); INFERENCE_JMH=(-wi 1 -w 1s -i 1 -r 1s)
            ADAIN_SECONDS=0.3; PEER_SECONDS=0.3; PEER_ROUNDS=1 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
case "$PARTS" in
    "adain inference"|adain|inference) ;;
    *) echo "--only takes adain or inference, got $PARTS" >&2; exit 2 ;;
esac
THREADS="${THREADS:-$(nproc)}"
MVN_FLAGS="${MVN_FLAGS:-}"

if $RETAIN_FREED_MEMORY; then
    # Exported once, so every side (and the build) starts with it.
    export MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184
fi
echo "== glibc malloc and OpenMP settings in the environment:" \
    "$(env | grep -E "^(MALLOC_|OMP_WAIT_POLICY)" | sort | tr "\n" " " || true)"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $THREADS cores"
# shellcheck disable=SC2086
mvn $MVN_FLAGS -q -B -pl dl4j-benchmarks -am package -DskipTests
mkdir -p "$OUT"
rm -f "$OUT"/adain-jmh.json "$OUT"/torch-adain.json "$OUT"/stargan-v2-jmh.json "$OUT"/torch-stargan-v2.json \
    "$OUT"/libtorch-stargan-v2.json
if $LIBTORCH && [[ " $PARTS " == *" inference "* ]]; then
    # shellcheck disable=SC2086
    mvn $MVN_FLAGS -q -B -pl dl4j-benchmarks-libtorch -Plibtorch package -DskipTests
fi
CP="dl4j-benchmarks/target/classes:$(cat dl4j-benchmarks/target/classpath.txt)"
PY=dl4j-benchmarks/src/main/python

# jmh RESULT ARGS...: runs JMH with RESULT.json and RESULT.log, prints its result lines, stops the script if it fails
# (for one: when another JMH holds /tmp/jmh.lock).
jmh() {
    local result="$1"
    shift
    if ! OMP_NUM_THREADS="$THREADS" java -cp "$CP" org.openjdk.jmh.Main -f 1 -rf json -rff "$result.json" "$@" \
        > "$result.log" 2>&1; then
        tail -20 "$result.log" >&2
        echo "JMH failed; its output is in $result.log" >&2
        exit 1
    fi
    grep -E '^(Benchmark |[A-Za-z0-9]+Benchmark\.)' "$result.log" || true
}

if [[ " $PARTS " == *" adain "* ]]; then
    echo "== JMH: AdaptiveNormalizationBenchmark ($SHAPES)"
    jmh "$OUT/adain-jmh" "${ADAIN_JMH[@]}" -p shape="$SHAPES" 'AdaptiveNormalizationBenchmark'
    echo "== PyTorch: AdaIN and InstanceNorm2d ($THREADS threads)"
    "$PYTHON" "$PY/bench_stargan_v2.py" --threads "$THREADS" --seconds "$ADAIN_SECONDS" --rounds "$PEER_ROUNDS" \
        --adain "$SHAPES" --out "$OUT/torch-adain.json"
fi

if [[ " $PARTS " == *" inference "* ]]; then
    echo "== JMH: StarGanV2InferenceBenchmark ($SIZES)"
    jmh "$OUT/stargan-v2-jmh" "${INFERENCE_JMH[@]}" -p size="$SIZES" 'StarGanV2InferenceBenchmark'
    echo "== PyTorch: F then G ($THREADS threads)"
    "$PYTHON" "$PY/bench_stargan_v2.py" --threads "$THREADS" --seconds "$PEER_SECONDS" --rounds "$PEER_ROUNDS" \
        --models "$SIZES" --out "$OUT/torch-stargan-v2.json"
    if $LIBTORCH; then
        echo "== libtorch: F then G ($THREADS threads)"
        LT=dl4j-benchmarks-libtorch/target
        # Loading libtorch through JavaCPP now and then crashes in pthread_mutex_lock: one more start before giving up.
        for attempt in 1 2; do
            OMP_NUM_THREADS="$THREADS" java -Xmx4g -cp "$LT/classes:$(cat "$LT/classpath.txt")" \
                io.github.instancenorm.benchmarks.libtorch.LibTorchStarGanV2 --threads "$THREADS" \
                --seconds "$PEER_SECONDS" --rounds "$PEER_ROUNDS" --models "$SIZES" \
                --out "$OUT/libtorch-stargan-v2.json" \
                && break || echo "libtorch run $attempt failed (exit $?)" >&2
        done
    fi
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" "$PY/report_stargan_v2.py" "$OUT" | tee "$OUT/stargan-v2.md"
