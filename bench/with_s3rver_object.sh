#!/usr/bin/env bash
# Starts s3rver on 127.0.0.1, puts a SIZE_MIB object of random bytes there with
# awscli, and runs COMMAND with MEMRUN_BENCH_S3_URL (s3://bench/object.bin),
# MEMRUN_BENCH_HTTP_URL (the same object over plain HTTP) and the AWS_*
# variables set; stops s3rver and removes its data afterwards. Needs
# ./scripts/test to have run once (it installs s3rver into build/node).
#   bench/with_s3rver_object.sh SIZE_MIB DIR COMMAND [ARGS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
size=$1
dir=$2
shift 2
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
# --silent hides the banner on some versions: fall back to the listening socket.
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$work/s3rver.log" | head -1)
[ -z "$port" ] && port=$(ss -ltnp | sed -n "s/.*127.0.0.1:\([0-9]*\).*pid=$s3rver_pid,.*/\1/p" | head -1)
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
head -c "$((size << 20))" /dev/urandom >"$work/object.bin"
/usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" s3 cp "$work/object.bin" s3://bench/object.bin >/dev/null
rm "$work/object.bin"
export MEMRUN_BENCH_S3_URL=s3://bench/object.bin
export MEMRUN_BENCH_HTTP_URL="$AWS_ENDPOINT_URL/bench/object.bin"  # s3rver serves unsigned GETs
"$@"
