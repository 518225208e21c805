#!/usr/bin/env bash
# kcat, an independent Kafka client, calls a memrun service: it produces a
# request with memrun's headers and Kafka's Java partitioner, and reads the
# reply back. Proves the wire protocol in docs/protocol.md needs no memrun code.
set -euo pipefail
host_bin=$1
plugin=$2
work=$(mktemp -d)
host_pid=
cleanup() {
  if [ -n "$host_pid" ] && kill -0 "$host_pid" 2>/dev/null; then
    kill -TERM "$host_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$host_bin" --plugin "$plugin" --embedded-kafka --partitions 16 --worker-id kcat-w1 --metrics-address 127.0.0.1:0 \
  -X session.timeout.ms=6000 -X heartbeat.interval.ms=500 -X max.poll.interval.ms=8000 \
  >"$work/host.log" 2>&1 &
host_pid=$!
for _ in $(seq 300); do
  grep -q "memrun-host: ready" "$work/host.log" && break
  kill -0 "$host_pid" 2>/dev/null || { cat "$work/host.log"; echo "host died"; exit 1; }
  sleep 0.1
done
bootstrap=$(sed -n 's/.*embedded Kafka bootstrap=//p' "$work/host.log" | head -1)
[ -n "$bootstrap" ] || { cat "$work/host.log"; echo "no bootstrap address"; exit 1; }

reply_partition=5
# Key and record separated by ASCII's unit and record separators (kcat's -K
# and -D), so a key may hold '|' or a newline; the last request's does.
send() {  # request-id key payload
  printf '%s\x1f%s\x1e' "$2" "$3" |
    kcat -P -b "$bootstrap" -t memrun.requests.echo -K '\x1f' -D '\x1e' -X partitioner=murmur2_random \
      -H "memrun-request-id=$1" -H "memrun-reply-to=memrun.replies" -H "memrun-reply-partition=$reply_partition"
}
for id in kcat-1 kcat-2 kcat-3; do send "$id" "user-$id" "{\"user_id\":\"user-$id\",\"from\":\"kcat\"}"; done
send kcat-odd "$(printf 'a|b\nc')" '{"user_id":"a|b\nc","from":"kcat"}'

# Read the reply partition until all four replies are in (bounded).
found=0
for _ in $(seq 60); do
  kcat -C -b "$bootstrap" -t memrun.replies -p "$reply_partition" -o beginning -e -q \
    -f '%k\t%h\t%s\n' >"$work/replies.txt" 2>/dev/null || true
  found=$(grep -c 'memrun-status=ok' "$work/replies.txt" || true)
  [ "$found" -ge 4 ] && break
  sleep 0.5
done
cat "$work/replies.txt"
[ "$found" -ge 4 ] || { echo "expected 4 replies, got $found"; cat "$work/host.log"; exit 1; }
for id in kcat-1 kcat-2 kcat-3; do
  line=$(grep "^$id	" "$work/replies.txt") || { echo "no reply keyed $id"; exit 1; }
  echo "$line" | grep -q "\"user_id\":\"user-$id\"" || { echo "reply of $id lacks its payload"; exit 1; }
  # The request partition reported by the worker is the one Kafka's Java
  # partitioner (murmur2) assigns to the key.
  part=$(echo "$line" | sed -n 's/.*memrun-partition=\([0-9]*\).*/\1/p')
  want=$("$(dirname "$host_bin")/memrun" partition "user-$id" --partitions 16)
  [ "$part" = "$want" ] || { echo "$id served from partition $part, murmur2 says $want"; exit 1; }
done
grep -q '^kcat-odd	.*"user_id":"a|b\\nc"' "$work/replies.txt" || { echo "no reply to the key with '|' and a newline"; exit 1; }
# Every record was keyed by its payload's sticky key: the worker found none misrouted.
port=$(sed -n 's|^memrun-host: metrics http://127.0.0.1:\([0-9]*\)/metrics|\1|p' "$work/host.log" | head -1)
misrouted=$(curl -sf "http://127.0.0.1:$port/metrics" | sed -n 's/^memrun_misrouted_requests_total \([0-9]*\).*/\1/p')
[ "$misrouted" = 0 ] || { echo "misrouted requests: '${misrouted}' (want 0)"; exit 1; }
echo "kcat interop: 4 requests answered (one keyed 'a|b\\nc'), partitions agree with murmur2, none misrouted"
