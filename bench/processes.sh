# shellcheck shell=bash disable=SC2154,SC2034  # $build is the caller's; $bootstrap is for it
# Sourced by bench scripts that start servers: a scratch directory $work, a
# list $pids of what the script started, and the helpers below (they use
# $build, the build directory); on exit (normal, error or signal)
# each of them, the last started first, gets SIGTERM and 10 s to end (then
# SIGKILL), and $work is removed. In reverse order: a Kafka client whose
# cluster ended first can wait forever to leave its group (the raw echo's
# rd_kafka_consumer_close did).
work=$(mktemp -d)
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# start_dev_kafka SERVICE:PARTITIONS...: a one-broker `memrun dev-kafka` with
# those services' topics; sets $bootstrap.
start_dev_kafka() {
  local services=()
  for s in "$@"; do services+=(--service "$s"); done
  "$build/src/memrun" dev-kafka --brokers 1 "${services[@]}" --bootstrap-file "$work/bootstrap" >"$work/kafka.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
  [ -s "$work/bootstrap" ] || { echo "dev-kafka did not start" >&2; cat "$work/kafka.log" >&2; exit 1; }
  bootstrap=$(cat "$work/bootstrap")
}

# wait_assigned LOG NAME: until LOG says partitions were assigned (60 s).
wait_assigned() {
  for _ in $(seq 600); do grep -q "assigned partitions" "$1" && return 0; sleep 0.1; done
  echo "$2 got no partitions" >&2; cat "$1" >&2; exit 1
}
