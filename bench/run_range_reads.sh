#!/usr/bin/env bash
# Runs bench/range_reads.cc: starts s3rver on 127.0.0.1, puts a SIZE_MIB object
# there with awscli, and compares get_range against the curl CLI on the same
# ranges. Needs ./scripts/test to have run once (it installs s3rver into
# build/node).
#   bench/run_range_reads.sh [size_mib=2048] [dir=/var/tmp]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
size=${1:-2048}
dir=${2:-/var/tmp}
work=$(mktemp -d "$dir/memrun-bench-XXXXXX")
s3rver_pid=""
cleanup() {
  if [ -n "$s3rver_pid" ]; then kill "$s3rver_pid" 2>/dev/null; wait "$s3rver_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
"$build/node/node_modules/.bin/s3rver" -d "$work/s3" -a 127.0.0.1 -p 0 --configure-bucket bench \
  >"$work/s3rver.log" 2>&1 &
s3rver_pid=$!
for _ in $(seq 100); do grep -q "listening" "$work/s3rver.log" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$work/s3rver.log" | head -1)
[ -z "$port" ] && port=$(ss -ltnp | sed -n "s/.*127.0.0.1:\([0-9]*\).*pid=$s3rver_pid,.*/\1/p" | head -1)
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
head -c "$((size << 20))" /dev/urandom >"$work/object.bin"
/usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" s3 cp "$work/object.bin" s3://bench/object.bin >/dev/null
rm "$work/object.bin"
export MEMRUN_BENCH_S3_URL=s3://bench/object.bin
export MEMRUN_BENCH_HTTP_URL="$AWS_ENDPOINT_URL/bench/object.bin"  # s3rver serves unsigned GETs
"$build/bench/memrun_bench_range_reads" "$((size << 20))"
