#!/usr/bin/env bash
# Times StarGAN v2 on DL4J against PyTorch 1.13 and libtorch 2.7.1, and prints the ratios:
#   1. AdaIN: the AdaptiveInstanceNormVertex's forward and forward + backward next to the affine InstanceNormalization
#      layer at the AFHQ generator's AdaIN shapes (AdaptiveNormalizationBenchmark, JMH), and PyTorch's StyleNorm and
#      nn.InstanceNorm2d at the same shapes (bench_stargan_v2.py --adain). Ratio AdaIN / InstanceNorm, target <= 1.2.
#   2. Latent-guided synthesis, s = F(z, y) then G(x, s) with w_hpf = 0, random weights, at the AFHQ configuration
#      (256 px, batch 1) and a small one (64 px, dim_in 32, batch 8): StarGanV2InferenceBenchmark (JMH, with
#      Speedups.install), bench_stargan_v2.py --models (PyTorch 1.13) and LibTorchStarGanV2 (libtorch 2.7.1).
#   3. Training (only with --only train): one iteration of StarGanV2Trainer.step (two D steps with R1, two G steps,
#      the EMA) at the example's size (32 px, dim_in 16, max_conv_dim 64, batch 8) and small64 (64 px, dim_in 32,
#      max_conv_dim 256, batch 4), R1's passes in DOUBLE and in FLOAT: StarGanV2TrainingBenchmark (JMH, 3 forks =
#      3 runs), bench_stargan_v2_train.py (PyTorch 1.13) and LibTorchStarGanV2Training (libtorch 2.7.1), each 3
#      rounds = 3 runs; the median and range of the 3 runs, ratios DL4J / peer.
#   train-check (only with --only train-check): not timing; all sides run two iterations from the zoo fixture
#      small16_nets.ckpt on small16_inputs.npz and the loss terms and parameter sums are compared.
#
#   dl4j-benchmarks/run-stargan-v2-benchmarks.sh [--only adain|inference|train|train-check] [--without-libtorch]
#                                                [--retain-freed-memory] [--omp-passive] [--quick]
#
#   --only PART               run one part: adain, inference, train or train-check (without it: adain and
#                             inference)
#   --without-libtorch        skip libtorch (org.bytedeco:pytorch, oneDNN + OpenBLAS; ~120 MB of natives on the
#                             first run)
#   --retain-freed-memory     run every side with glibc keeping freed memory for reuse (one arena, no mmap, no
#                             trimming), as run-stargan-benchmarks.sh --retain-freed-memory
#   --omp-passive             run every side with OMP_WAIT_POLICY=passive (OpenMP workers sleep instead of spinning):
#                             a diagnostic for a machine that other jobs load (see the README's StarGAN v2 section);
#                             on a quiet 2-core machine it made DL4J's StarGAN D step 2x slower
#   --quick                   one short measurement per case, to check that everything runs (the numbers mean little;
#                             train: one iteration per case and side, no warm-up)
#
# Needs JDK 17 + Maven and PyTorch for Python 3 (Debian's python3-torch; PYTHON overrides the interpreter). Each
# side runs in its own process, one after the other, with THREADS threads (default: nproc). MVN_FLAGS is passed to
# Maven (MVN_FLAGS=-o to build offline). Run it on a quiet machine: about 12-15 minutes on 2 cores (--quick: about 4);
# --only train about 15-25 minutes. Results: dl4j-benchmarks/target/benchmarks/adain-jmh.json (and .log),
# torch-adain.json, stargan-v2-jmh.json (and .log), torch-stargan-v2.json, libtorch-stargan-v2.json, train-jmh.json
# (and .log), torch-train.json, libtorch-train.json, check-*.json and the tables in stargan-v2.md.
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
TRAIN_JMH=(-wi 3 -w 5s -i 3 -r 5s)   # a small64 iteration takes seconds: JMH runs whole calls past the time
TRAIN_FORKS=3                        # a fork is a run
TRAIN_PEER=(--seconds 10 --rounds 3 --warmup 2 --min-runs 3)
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
            ADAIN_SECONDS=0.3; PEER_SECONDS=0.3; PEER_ROUNDS=1
            TRAIN_JMH=(-wi 0 -i 1 -r 1ms); TRAIN_FORKS=1; TRAIN_PEER=(--seconds 0 --rounds 1 --warmup 0 --min-runs 1) ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
case "$PARTS" in
    "adain inference"|adain|inference|train|train-check) ;;
    *) echo "--only takes adain, inference, train or train-check, got $PARTS" >&2; exit 2 ;;
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
    "$OUT"/libtorch-stargan-v2.json "$OUT"/train-jmh.json "$OUT"/torch-train.json "$OUT"/libtorch-train.json \
    "$OUT"/check-*.json
if $LIBTORCH && [[ " $PARTS " == *" inference "* || " $PARTS " == *" train"* ]]; then
    # shellcheck disable=SC2086
    mvn $MVN_FLAGS -q -B -pl dl4j-benchmarks-libtorch -Plibtorch package -DskipTests
fi
CP="dl4j-benchmarks/target/classes:$(cat dl4j-benchmarks/target/classpath.txt)"
PY=dl4j-benchmarks/src/main/python

# jmh RESULT ARGS...: runs JMH with RESULT.json and RESULT.log (JMH_FORKS forks, default 1), prints its result lines,
# stops the script if it fails (for one: when another JMH holds /tmp/jmh.lock).
jmh() {
    local result="$1"
    shift
    if ! OMP_NUM_THREADS="$THREADS" java -cp "$CP" org.openjdk.jmh.Main -f "${JMH_FORKS:-1}" -rf json \
        -rff "$result.json" "$@" \
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
# libtorch MAIN ARGS...: starts a libtorch peer; loading libtorch through JavaCPP now and then crashes in
# pthread_mutex_lock, so one more start before giving up.
libtorch() {
    local main="$1" lt=dl4j-benchmarks-libtorch/target
    shift
    for attempt in 1 2; do
        OMP_NUM_THREADS="$THREADS" java -Xmx4g -cp "$lt/classes:$(cat "$lt/classpath.txt")" \
            "io.github.instancenorm.benchmarks.libtorch.$main" "$@" \
            && break || echo "libtorch run $attempt failed (exit $?)" >&2
    done
    rm -f hs_err_pid*.log # the JVM's crash reports
}

if [[ " $PARTS " == *" train "* ]]; then
    echo "== JMH: StarGanV2TrainingBenchmark (example, small64; R1 in DOUBLE and FLOAT)"
    JMH_FORKS=$TRAIN_FORKS jmh "$OUT/train-jmh" "${TRAIN_JMH[@]}" 'StarGanV2TrainingBenchmark'
    echo "== PyTorch: one training iteration ($THREADS threads)"
    "$PYTHON" "$PY/bench_stargan_v2_train.py" --threads "$THREADS" "${TRAIN_PEER[@]}" --out "$OUT/torch-train.json"
    if $LIBTORCH; then
        echo "== libtorch: one training iteration ($THREADS threads)"
        libtorch LibTorchStarGanV2Training --threads "$THREADS" "${TRAIN_PEER[@]}" --out "$OUT/libtorch-train.json"
    fi
fi

if [[ " $PARTS " == *" train-check "* ]]; then
    NETS=dl4j-instancenorm-zoo/src/test/resources/fixtures/starganv2/small16_nets.ckpt
    INPUTS=dl4j-instancenorm-train/src/test/resources/fixtures/starganv2-step/small16_inputs.npz
    echo "== same work: two iterations from $NETS on each side"
    "$PYTHON" "$PY/bench_stargan_v2_train.py" --threads "$THREADS" --check "$NETS" "$INPUTS" "$OUT/check-torch.json" \
        --export "$OUT/small16_nets.npz" > /dev/null
    for r1 in DOUBLE FLOAT; do
        OMP_NUM_THREADS="$THREADS" java -Xmx4g --add-modules jdk.incubator.vector -cp "$CP" \
            io.github.instancenorm.benchmarks.StarGanV2TrainingCheck "$NETS" "$INPUTS" "$OUT/check-dl4j-$r1.json" \
            "$r1" > /dev/null
    done
    if $LIBTORCH; then
        libtorch LibTorchStarGanV2Training --threads "$THREADS" \
            --check "$OUT/small16_nets.npz" "$INPUTS" "$OUT/check-libtorch.json" > /dev/null
    fi
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" "$PY/report_stargan_v2.py" "$OUT" | tee "$OUT/stargan-v2.md"
