#!/usr/bin/env bash
# Where one answerer's CPU goes, per thread: starts `memrun dev-kafka` and one
# answerer of the c_echo service (a memrun-host worker running PLUGIN, or
# "raw" for bench/raw_echo.cc), sends one warm-up burst and then RUNS bursts
# of BURST requests with bench/client_burst.cc, and prints, per thread name,
# the threads' run time, context switches and page faults per request over
# those bursts (/proc/PID/task/*: schedstat, status, stat). memrun names its
# threads (memrun-poll, memrun-handler, memrun-outbox); librdkafka's are
# rdk:main and rdk:broker<id>, one set per Kafka client in the process.
#
#   bench/run_thread_costs.sh [PLUGIN=c_echo|echo|raw] [BURST=3000] [RUNS=3]
#
# Extra worker flags come from $WORKER_FLAGS, its extra environment from
# $WORKER_ENV (as bench/run_request_path.sh). PERF_OUT=FILE records the
# answerer with `perf record` (flags: $PERF_RECORD_FLAGS, default -g) over
# the measured bursts; `perf report -i FILE --sort comm,symbol` then splits
# the CPU by thread name.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
target=${1:-c_echo}
burst=${2:-3000}
runs=${3:-3}
# shellcheck source=bench/processes.sh
source "$root/bench/processes.sh"

start_dev_kafka c_echo:16

worker() {  # PLUGIN ID LOG
  # shellcheck disable=SC2086
  env ${WORKER_ENV:-} "$build/src/memrun-host" --plugin "$build/plugins/libmemrun_$1.so" --service c_echo \
    -b "$bootstrap" --partitions 16 --worker-id "$2" --cache-root "$work/cache-$2" --metrics-address off \
    --heartbeat-interval 0 --no-supervise -X fetch.wait.max.ms=10 -X session.timeout.ms=6000 \
    ${WORKER_FLAGS:-} >"$3" 2>&1 &
  pids+=($!)
}

if [ "$target" = raw ]; then
  # The client finds the sticky key in memrun.services: a worker registers
  # the service, then leaves the group to the raw echo.
  worker c_echo register "$work/register.log"
  wait_assigned "$work/register.log" "the registering worker"
  kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true
  unset 'pids[-1]'
  "$build/bench/memrun_bench_raw_echo" "$bootstrap" c_echo 10 >"$work/answerer.log" 2>&1 &
  pids+=($!)
else
  worker "$target" threads "$work/answerer.log"
fi
answerer=${pids[-1]}
wait_assigned "$work/answerer.log" "$target"

snapshot() {  # PID: "tid name switches run_ns faults" per thread
  for t in /proc/"$1"/task/*; do
    echo "${t##*/} $(tr ' ' '_' <"$t/comm") $(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")" \
      "$(cut -d' ' -f1 "$t/schedstat") $(sed 's/.*) //' "$t/stat" | cut -d' ' -f8)"
  done | sort
}

"$build/bench/memrun_bench_client_burst" "$bootstrap" c_echo 1000 >/dev/null  # warm-up
snapshot "$answerer" >"$work/before"
perf_pid=
if [ -n "${PERF_OUT:-}" ]; then
  # shellcheck disable=SC2086  # the flags are words
  perf record ${PERF_RECORD_FLAGS:--g} -o "$PERF_OUT" -p "$answerer" >"$work/perf.log" 2>&1 &
  perf_pid=$!
  sleep 1
fi
sizes=()
for _ in $(seq "$runs"); do sizes+=("$burst"); done
"$build/bench/memrun_bench_client_burst" "$bootstrap" c_echo "${sizes[@]}"
snapshot "$answerer" >"$work/after"
if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
echo "per request over $((burst * runs)) requests, $target, by thread name (threads that ran in the bursts)"
join "$work/before" "$work/after" | awk -v n=$((burst * runs)) '
  # joined: tid, then name switches run_ns faults before, then the same after
  { name = $2; cpu[name] += ($8 - $4) / 1000 / n; sw[name] += ($7 - $3) / n; flt[name] += ($9 - $5) / n
    if ($8 > $4) used[name]++; all[name]++ }
  END { for (name in cpu) { if (!used[name]) continue
          printf "%-16s %3d threads  %7.2f us CPU  %6.3f switches  %6.3f faults\n", name, all[name], cpu[name], sw[name], flt[name]
          tc += cpu[name]; ts += sw[name]; tf += flt[name] }
        printf "%-16s %11s  %7.2f us CPU  %6.3f switches  %6.3f faults\n", "total", "", tc, ts, tf }' | sort -k4 -n -r
