#!/usr/bin/env bash
# Runs memrun_bench_client_burst against a c_echo worker on `memrun dev-kafka`,
# so that the bench process holds only the client. Usage: bench/run_client_burst.sh [N...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
# shellcheck source=bench/processes.sh
source "$root/bench/processes.sh"
"$build/src/memrun" dev-kafka --brokers 1 --service c_echo:16 --bootstrap-file "$work/bootstrap" >"$work/kafka.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
[ -s "$work/bootstrap" ] || { echo "dev-kafka did not start" >&2; cat "$work/kafka.log" >&2; exit 1; }
bootstrap=$(cat "$work/bootstrap")
"$build/src/memrun-host" --plugin "$build/plugins/libmemrun_c_echo.so" -b "$bootstrap" --partitions 16 \
  --worker-id burst-w1 --cache-root "$work/cache" --metrics-address off --heartbeat-interval 0 \
  -X fetch.wait.max.ms=10 -X session.timeout.ms=6000 >"$work/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q "assigned partitions" "$work/worker.log" && break; sleep 0.1; done
grep -q "assigned partitions" "$work/worker.log" || { echo "worker got no partitions" >&2; cat "$work/worker.log" >&2; exit 1; }
"$build/bench/memrun_bench_client_burst" "$bootstrap" c_echo "$@"
