#!/usr/bin/env bash
# CI smoke of the real cluster (cluster.sh): builds the shaded jar, starts a standalone master and two workers on
# 127.0.0.1, runs ClusterCheck from the shaded jar with parameter averaging and with gradient sharing (1 epoch each,
# compared with a single-process reference), and always stops the cluster. Exits non-zero if a check fails or the
# cluster, the two runs and the stop take over SMOKE_SECONDS (default 180). The full comparison, outside CI:
# SMOKE_SECONDS=900 cluster-smoke.sh 5   (5 epochs each; the argument is the number of epochs, default 1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
(cd "$ROOT" && mvn -B -q -Pshade -pl dl4j-spark-integration -am package -DskipTests)
JAR=$(ls "$HERE"/target/dl4j-spark-integration-*-shaded.jar)
trap '"$HERE/cluster.sh" stop' EXIT
SECONDS=0
LIMIT=${SMOKE_SECONDS:-180}
EPOCHS=${1:-1}
"$HERE/cluster.sh" start
for master in averaging sharing; do
    left=$((LIMIT - 15 - SECONDS)) # 15 s for the stop
    ((left > 0)) || { echo "cluster smoke: no time left for $master after ${SECONDS}s" >&2; exit 1; }
    timeout --kill-after=10 "$left" "$HERE/cluster.sh" submit \
        --class io.github.instancenorm.spark.ClusterCheck "$JAR" "$master" "$EPOCHS" \
        2>"$HERE/target/cluster/smoke-$master.log" \
        | grep -E '^(PASS|FAIL|epoch|statistics|reference|summary)' \
        || { echo "cluster smoke: $master failed or timed out after ${SECONDS}s; see target/cluster/smoke-$master.log" >&2; exit 1; }
done
echo "cluster smoke passed in ${SECONDS}s"
