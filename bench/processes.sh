# Sourced by bench scripts that start servers: a scratch directory $work and a
# list $pids of what the script started; on exit (normal, error or signal)
# every one of them gets SIGTERM, is waited for, and $work is removed.
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
