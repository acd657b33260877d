#!/usr/bin/env bash
# Runs the instance-norm benchmarks side by side with PyTorch and prints the markdown table.
#
#   dl4j-benchmarks/run-benchmarks.sh [--with-op-form] [--quick]
#
#   --with-op-form  also time the layer with its CPU kernels switched off (the ND4J-op form), the "before"
#   --quick         one short measurement per case, to check that everything runs
#
# Needs JDK 17 + Maven (the build) and PyTorch for Python 3 (Debian's python3-torch; PYTHON overrides the
# interpreter, default /usr/bin/python3). Takes about 15 minutes on 2 cores; run it on a quiet machine.
# THREADS overrides the thread count (default: nproc); both sides then use that many.
# Results: dl4j-benchmarks/target/benchmarks/: jmh-<shape>.json, stargan-jmh.json, torch-default-*.json (PyTorch
# with glibc's default malloc), torch-reuse-*.json (PyTorch reusing its freed buffers), table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
OUT=dl4j-benchmarks/target/benchmarks
LAYERS=InstanceNorm,InstanceNormScalarLoops,BatchNorm
STARGAN_LAYERS=InstanceNorm
STARGAN_BATCH=2
JMH_TIME=(-wi 4 -w 1s -i 5 -r 1s)
STARGAN_TIME=(-wi 1 -w 2s -i 3 -r 3s)
TORCH_SECONDS=1
for arg in "$@"; do
    case "$arg" in
        --with-op-form) LAYERS=InstanceNorm,InstanceNormScalarLoops,InstanceNormOpForm,BatchNorm
                        STARGAN_LAYERS=InstanceNorm,InstanceNormOpForm ;;
        --quick) JMH_TIME=(-wi 1 -w 200ms -i 1 -r 200ms); STARGAN_TIME=(-wi 0 -i 1 -r 1s); TORCH_SECONDS=0.2 ;;
        *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done
THREADS="${THREADS:-$(nproc)}"

echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $THREADS cores"
echo "== building"
mvn -q -B -pl dl4j-benchmarks -am package -DskipTests
rm -f "$OUT"/*.json "$OUT/table.md"
mkdir -p "$OUT"
CP="dl4j-benchmarks/target/classes:$(cat dl4j-benchmarks/target/classpath.txt)"

# glibc settings under which PyTorch reuses the buffers it frees (no mmap'ed chunks, no trimming), as DL4J reuses
# its workspaces; with the defaults, arrays of 16 MiB and more are often fresh pages that fault in on every call.
REUSE_ENV=(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736)
TORCH=("$PYTHON" dl4j-benchmarks/src/main/python/bench_torch.py --threads "$THREADS" --seconds "$TORCH_SECONDS")

# Shape by shape, DL4J and PyTorch one after the other, so that both sides of a ratio see the machine in the same
# state (on a shared VM its speed drifts by tens of percent over minutes).
for shape in 10x64x128x128 16x256x32x32 64x32x64; do
    echo "== $shape: JMH (DL4J InstanceNormalization, BatchNormalization, memory copy)"
    java -cp "$CP" org.openjdk.jmh.Main "${JMH_TIME[@]}" -f 1 -p layer="$LAYERS" -p shape="$shape" \
        -rf json -rff "$OUT/jmh-$shape.json" 'NormalizationBenchmark|MemoryBandwidthBenchmark' \
        | grep -E '^(Benchmark|Normalization|MemoryBandwidth)' || true
    echo "== $shape: PyTorch ($THREADS threads)"
    "${TORCH[@]}" --shapes "$shape" --out "$OUT/torch-default-$shape.json"
    echo "== $shape: PyTorch ($THREADS threads), buffers reused: ${REUSE_ENV[*]}"
    env "${REUSE_ENV[@]}" "${TORCH[@]}" --shapes "$shape" --out "$OUT/torch-reuse-$shape.json"
done

echo "== JMH: StarGAN generator, $STARGAN_BATCH images, training step and inference"
# StarGAN's size has batch 2 (STARGAN_BATCH); run-stargan-benchmarks.sh times the discriminator and other sizes.
java -cp "$CP" org.openjdk.jmh.Main "${STARGAN_TIME[@]}" -f 1 -p layer="$STARGAN_LAYERS" -p size=stargan \
    -p convolutions=onednn -rf json -rff "$OUT/stargan-jmh.json" 'StarGanStepBenchmark.generator' \
    | grep -E '^(Benchmark|StarGan)' || true
echo "== PyTorch StarGAN generator"
"${TORCH[@]}" --skip-layers --stargan "$STARGAN_BATCH" --out "$OUT/torch-default-stargan.json"
env "${REUSE_ENV[@]}" "${TORCH[@]}" --skip-layers --stargan "$STARGAN_BATCH" --out "$OUT/torch-reuse-stargan.json"

echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" dl4j-benchmarks/src/main/python/report.py --jmh "$OUT"/jmh-*.json --torch "$OUT"/torch-default-*.json \
    --torch-reuse "$OUT"/torch-reuse-*.json --stargan "$OUT/stargan-jmh.json" | tee "$OUT/table.md"
