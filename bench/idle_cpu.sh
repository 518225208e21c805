#!/usr/bin/env bash
# Idle CPU of a worker: a second memrun-host (w2, echo plugin) joins the
# embedded cluster of a first one, so the figure is the worker alone; its CPU
# time (utime + stime from /proc/PID/stat) over 10 s after the group settled,
# no traffic.
#   bench/idle_cpu.sh [fetch.wait.max.ms=500]
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
B=$build/src; P=$build/plugins/libmemrun_echo.so
K="-X session.timeout.ms=6000 -X max.poll.interval.ms=8000 -X heartbeat.interval.ms=500"
fw=${1:-500}
work=$(mktemp -d /tmp/memrun-idle-XXXXXX)
trap 'rm -rf "$work"' EXIT
$B/memrun-host --plugin $P --embedded-kafka --worker-id w1 --cache-root $work/1 --metrics-address off $K > $work/w1.log 2>&1 &
W1=$!
for i in $(seq 100); do grep -q "bootstrap=" $work/w1.log && break; sleep 0.1; done
BS=$(grep -o "bootstrap=[0-9.:]*" $work/w1.log | head -1 | cut -d= -f2)
$B/memrun-host --plugin $P -b $BS --worker-id w2 --cache-root $work/2 --metrics-address 127.0.0.1:0 $K -X fetch.wait.max.ms=$fw > $work/w2.log 2>&1 &
W2=$!
for i in $(seq 300); do grep -q "assigned partitions" $work/w2.log && break; sleep 0.1; done
sleep 8   # let the group settle (w1 revokes, rebalance completes)
t0=$(awk '{print $14+$15}' /proc/$W2/stat); sleep 10; t1=$(awk '{print $14+$15}' /proc/$W2/stat)
echo "fetch.wait.max.ms=$fw: w2 used $((t1-t0)) ticks of $(getconf CLK_TCK)/s over 10 s"
kill -TERM $W2; wait $W2; kill -TERM $W1; wait $W1
