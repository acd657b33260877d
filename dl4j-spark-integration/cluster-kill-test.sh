#!/usr/bin/env bash
# Outside CI: kills worker 1's executor JVM (SIGKILL) in the middle of training on the loopback cluster and shows
# what follows, for each training master: ClusterCheck's verdict (PASS: Spark retried and the result equals the
# single-process reference; FAIL: silently wrong), a clear error, or a hang (the run is bounded; a hang fails the
# test). Needs the shaded jar (cluster-smoke.sh builds it). Output: target/cluster/kill-<master>.{out,err}.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
JAR=$(ls "$HERE"/target/dl4j-spark-integration-*-shaded.jar) || { echo "build the shaded jar first" >&2; exit 2; }
OUT=$HERE/target/cluster
LIMIT=${KILL_TEST_SECONDS:-240}
EPOCHS=8
trap '"$HERE/cluster.sh" stop >/dev/null' EXIT
rc=0
for master in ${*:-averaging sharing}; do
    "$HERE/cluster.sh" start >/dev/null || exit 1
    rm -f "$OUT/kill-$master.out" "$OUT/kill-$master.err"
    SECONDS=0
    timeout --kill-after=10 "$LIMIT" "$HERE/cluster.sh" submit --class io.github.instancenorm.spark.ClusterCheck \
        "$JAR" "$master" "$EPOCHS" >"$OUT/kill-$master.out" 2>"$OUT/kill-$master.err" &
    submit=$!
    # mid-training, mid-task: once epoch 2 (of 8) has ended, the executor that the next task starts on
    until grep -q "^epoch 2/$EPOCHS" "$OUT/kill-$master.out" 2>/dev/null || ! kill -0 $submit 2>/dev/null; do sleep 0.2; done
    started=$(grep -c "Starting task" "$OUT/kill-$master.err")
    until (($(grep -c "Starting task" "$OUT/kill-$master.err") > started)) || ! kill -0 $submit 2>/dev/null; do
        sleep 0.02
    done
    task=$(grep "Starting task" "$OUT/kill-$master.err" | tail -1)
    id=$(sed -n 's/.*executor \([0-9]*\),.*/\1/p' <<<"$task")
    victim=
    for pid in $("$HERE/cluster.sh" executors); do
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--executor-id $id " && victim=$pid
    done
    if [[ -n $victim ]]; then
        kill -9 "$victim"
        echo "[$master] killed executor $id (pid $victim) at ${SECONDS}s, after: $(grep '^epoch' "$OUT/kill-$master.out" | tail -1)"
        echo "[$master]   as it started: ${task#*INFO }"
    else
        echo "[$master] no executor to kill (did the run end early?)"
    fi
    wait $submit
    status=$?
    echo "[$master] driver exit status $status after ${SECONDS}s (limit ${LIMIT}s)"
    sed "s/^/[$master]   /" "$OUT/kill-$master.out"
    echo "[$master] what Spark said:"
    grep -E "Lost executor|Lost task|failed because|Executor .* removed|Resubmitted|Granted executor|ERROR|Exception" "$OUT/kill-$master.err" \
        | cut -c19-260 | sort | uniq -c | sort -rn | head -12 | sed "s/^/[$master]   /"
    if ((status == 124 || status == 137)); then
        echo "[$master] HANG: no result within ${LIMIT}s"; rc=1
    elif ((status == 0)); then
        echo "[$master] RECOVERED: Spark retried and the result matches the reference"
    elif grep -q '^FAIL' "$OUT/kill-$master.out"; then
        echo "[$master] SILENTLY WRONG: training finished but the result differs from the reference"; rc=1
    else
        echo "[$master] CLEAR ERROR: the driver failed with: $(grep -m1 -E 'Exception|Error' "$OUT/kill-$master.err" | cut -c1-300)"
    fi
    "$HERE/cluster.sh" stop >/dev/null
done
exit $rc
