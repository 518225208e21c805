#!/usr/bin/env bash
# The request path against a raw two-hop echo: starts `memrun dev-kafka`, the
# raw librdkafka echo (bench/raw_echo.cc) and two unsupervised memrun-host
# workers (plugins/c_echo in C, plugins/echo in C++), each on a service of its
# own with 16 partitions and the same librdkafka settings, then runs
# memrun_bench_request_path against them with the raw echo as the baseline.
#
#   bench/run_request_path.sh [ROUND_TRIPS=300] [BURST=3000] [RUNS=3] [FETCH_WAIT_MS=10]
#
# Needs the targets memrun-cli memrun-host memrun_c_echo memrun_echo
# memrun_bench_raw_echo memrun_bench_request_path built in $MEMRUN_BUILD_DIR
# (default ./build). Extra worker flags (e.g. --read-ahead 64) come from
# $WORKER_FLAGS, and the workers' extra environment (e.g.
# LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2) from $WORKER_ENV.
# BASELINE_BUILD=DIR adds a fourth answerer, c_echo_base: the memrun-host
# and plugins/c_echo of another build tree (e.g. of the commit before a
# change: git worktree add, then build those two targets), so a change is
# measured against the code before it in the same rounds.
# PERF_TARGET=raw|c_echo|echo records that process with
# `perf record -g` for the whole run and prints its top entries
# (PERF_OUT=FILE keeps the recording).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
round_trips=${1:-300}
burst=${2:-3000}
runs=${3:-3}
fetch_wait=${4:-10}
# shellcheck source=bench/processes.sh
source "$root/bench/processes.sh"

services=(raw:16 c_echo:16 echo:16)
[ -n "${BASELINE_BUILD:-}" ] && services+=(c_echo_base:16)
start_dev_kafka "${services[@]}"

"$build/bench/memrun_bench_raw_echo" "$bootstrap" raw "$fetch_wait" >"$work/raw.log" 2>&1 &
raw_pid=$!
pids+=("$raw_pid")
worker() {  # NAME PLUGIN [BUILD_DIR]
  local name=$1 plugin=$2 tree=${3:-$build}
  # shellcheck disable=SC2086
  env ${WORKER_ENV:-} "$tree/src/memrun-host" --plugin "$tree/plugins/libmemrun_$plugin.so" --service "$name" -b "$bootstrap" \
    --partitions 16 --worker-id "rp-$name" --cache-root "$work/cache-$name" --metrics-address off \
    --heartbeat-interval 0 --no-supervise -X fetch.wait.max.ms="$fetch_wait" -X session.timeout.ms=6000 \
    ${WORKER_FLAGS:-} >"$work/$name.log" 2>&1 &
  pids+=($!)
}
worker c_echo c_echo
c_echo_pid=$!
worker echo echo
echo_pid=$!
targets=("raw=raw:$raw_pid" "c_echo=c_echo:$c_echo_pid" "echo=echo:$echo_pid")
if [ -n "${BASELINE_BUILD:-}" ]; then
  worker c_echo_base c_echo "$BASELINE_BUILD"
  targets+=("c_echo_base=c_echo_base:$!")
fi
wait_assigned "$work/raw.log" "raw echo"
wait_assigned "$work/c_echo.log" "c_echo worker"
wait_assigned "$work/echo.log" "echo worker"
[ -z "${BASELINE_BUILD:-}" ] || wait_assigned "$work/c_echo_base.log" "baseline c_echo worker"

echo "commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src include || echo '+changes'), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
perf_pid=
if [ -n "${PERF_TARGET:-}" ]; then
  target_pid=$(eval echo "\$${PERF_TARGET}_pid")
  # shellcheck disable=SC2086  # the flags are words
  perf record ${PERF_RECORD_FLAGS:--g} -o "${PERF_OUT:-$work/perf.data}" -p "$target_pid" >"$work/perf.log" 2>&1 &
  perf_pid=$!
  sleep 1
fi
"$build/bench/memrun_bench_request_path" "$bootstrap" "$round_trips" "$burst" "$runs" "${targets[@]}"
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  echo "perf: top entries of $PERF_TARGET (self, children excluded)"
  perf report -i "${PERF_OUT:-$work/perf.data}" --stdio --no-children --sort symbol -g none --percent-limit 1.5 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed 's/  */ /g' | cut -c1-110 | head -30
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
