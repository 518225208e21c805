#!/usr/bin/env bash
# Runs memrun_bench_client_burst against a c_echo worker on `memrun dev-kafka`,
# so that the bench process holds only the client. Usage: bench/run_client_burst.sh [N...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
# shellcheck source=bench/processes.sh
source "$root/bench/processes.sh"
start_dev_kafka c_echo:16
"$build/src/memrun-host" --plugin "$build/plugins/libmemrun_c_echo.so" -b "$bootstrap" --partitions 16 \
  --worker-id burst-w1 --cache-root "$work/cache" --metrics-address off --heartbeat-interval 0 \
  -X fetch.wait.max.ms=10 -X session.timeout.ms=6000 >"$work/worker.log" 2>&1 &
pids+=($!)
wait_assigned "$work/worker.log" worker
"$build/bench/memrun_bench_client_burst" "$bootstrap" c_echo "$@"
