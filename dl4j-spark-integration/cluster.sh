#!/usr/bin/env bash
# A Spark standalone cluster on this machine, on loopback only: one master and two workers, each its own JVM; the
# workers launch each application's executors as JVMs of their own.
#
#   cluster.sh start            copy Spark's jars into target/spark-home/jars (once), start master and workers
#   cluster.sh status           which of them run
#   cluster.sh submit ARGS...   spark-submit (org.apache.spark.deploy.SparkSubmit) in client mode, the driver in
#                               this shell's JVM; ARGS as for spark-submit after --master, e.g.
#                               --class io.github.instancenorm.spark.ClusterCheck target/*-shaded.jar averaging 2
#   cluster.sh executors [N]    the pids of the executor JVMs (worker N's only)
#   cluster.sh stop             stop workers (and their executors), then the master
#
# Environment: CLUSTER_PORT (master port, default 17077), EXECUTOR_MEMORY (default 768m), WORKER_MEMORY (what each
# worker offers, default 1g). Logs and pids in target/cluster/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$HERE/target/cluster
export SPARK_HOME=$HERE/target/spark-home
export SPARK_SCALA_VERSION=2.12             # the executor launch (spark-launcher) looks for jars/ with it
export SPARK_LOCAL_IP=127.0.0.1             # every service and web UI binds here
export SPARK_LOCAL_HOSTNAME=127.0.0.1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} # one thread per JVM: modest on a small machine, deterministic reductions
PORT=${CLUSTER_PORT:-17077}
MASTER_URL=spark://127.0.0.1:$PORT
EXECUTOR_MEMORY=${EXECUTOR_MEMORY:-768m}
WORKER_MEMORY=${WORKER_MEMORY:-1g}
# The JDK 17 flags Spark's launcher adds, and Aeron's timeout (see pom.xml), from the one place they are written
OPENS=$(sed -n 's:.*<spark.jvm.opens>\(.*\)</spark.jvm.opens>.*:\1:p' "$HERE/pom.xml")
AERON=$(sed -n 's:.*<aeron.jvm.props>\(.*\)</aeron.jvm.props>.*:\1:p' "$HERE/pom.xml")
VECTOR="--add-modules jdk.incubator.vector" # the speed-ups' Adam kernels use the Vector API when the JVM has it
DAEMON_JAVA=(java -Xmx256m $OPENS -cp "$SPARK_HOME/jars/*")

alive() { [[ -f $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

await() { # await NAME PATTERN SECONDS
    local i
    for ((i = 0; i < $3 * 5; i++)); do
        grep -q "$2" "$RUN/$1.log" 2>/dev/null && return 0
        alive "$1" || { echo "$1 exited; see $RUN/$1.log" >&2; tail -20 "$RUN/$1.log" >&2; return 1; }
        sleep 0.2
    done
    echo "$1 not ready within $3 s; see $RUN/$1.log" >&2
    return 1
}

start() {
    if [[ ! -d $SPARK_HOME/jars ]]; then
        mvn -B -q -f "$HERE/cluster/pom.xml" dependency:copy-dependencies -DoutputDirectory="$SPARK_HOME/jars"
    fi
    mkdir -p "$RUN" "$SPARK_HOME/conf"
    if alive master; then echo "already running (cluster.sh stop first)" >&2; return 1; fi
    nohup "${DAEMON_JAVA[@]}" org.apache.spark.deploy.master.Master \
        --host 127.0.0.1 --port "$PORT" --webui-port 0 >"$RUN/master.log" 2>&1 &
    echo $! >"$RUN/master.pid"
    await master "Starting Spark master at" 60
    for w in 1 2; do
        nohup "${DAEMON_JAVA[@]}" org.apache.spark.deploy.worker.Worker \
            --host 127.0.0.1 --cores 1 --memory "$WORKER_MEMORY" --webui-port 0 \
            --work-dir "$RUN/worker$w-work" "$MASTER_URL" >"$RUN/worker$w.log" 2>&1 &
        echo $! >"$RUN/worker$w.pid"
    done
    await worker1 "Successfully registered with master" 60
    await worker2 "Successfully registered with master" 60
    echo "cluster at $MASTER_URL: master pid $(cat "$RUN/master.pid"), workers $(cat "$RUN/worker1.pid") $(cat "$RUN/worker2.pid")"
}

stop() {
    local name pid i
    for name in worker1 worker2 master; do
        alive "$name" || { rm -f "$RUN/$name.pid"; continue; }
        pid=$(cat "$RUN/$name.pid")
        kill "$pid" # a worker kills its executors as it stops
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && { echo "$name (pid $pid) ignored SIGTERM for 20 s; SIGKILL" >&2; kill -9 "$pid"; }
        rm -f "$RUN/$name.pid"
    done
    # an executor whose worker died without stopping it (it runs in one of this cluster's work directories)
    for pid in $(executors); do kill -9 "$pid"; done
    echo "cluster stopped"
}

executors() { # the pids of this cluster's executor JVMs, optionally only worker N's: executors [N]
    local pid
    for pid in $(pgrep -f CoarseGrainedExecutorBackend || true); do
        case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in "$RUN/worker${1:-}"*) echo "$pid" ;; esac
    done
}

status() {
    local name rc=0
    for name in master worker1 worker2; do
        if alive "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped"; rc=1; fi
    done
    return $rc
}

submit() {
    java -Xmx1g $VECTOR $OPENS $AERON -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.SparkSubmit \
        --master "$MASTER_URL" --deploy-mode client \
        --conf spark.ui.enabled=false \
        --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
        --conf spark.executor.memory="$EXECUTOR_MEMORY" --conf spark.executor.cores=1 --conf spark.cores.max=2 \
        --conf "spark.executor.extraJavaOptions=$VECTOR $OPENS $AERON -Dorg.bytedeco.javacpp.maxbytes=1G" \
        --conf spark.executorEnv.OMP_NUM_THREADS="$OMP_NUM_THREADS" \
        "$@"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    submit) shift; submit "$@" ;;
    executors) executors "${2:-}" ;;
    *) echo "usage: $0 start|stop|status|executors [N]|submit ARGS..." >&2; exit 2 ;;
esac
