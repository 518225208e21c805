# Sourced by bench scripts that start servers: a scratch directory $work and a
# list $pids of what the script started; on exit (normal, error or signal)
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
