#!/usr/bin/env bash
# Runs bench/range_reads.cc: an s3rver object of SIZE_MIB
# (bench/with_s3rver_object.sh), get_range against the curl CLI on the same ranges.
#   bench/run_range_reads.sh [size_mib=2048] [dir=/var/tmp]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
size=${1:-2048}
dir=${2:-/var/tmp}
exec "$root/bench/with_s3rver_object.sh" "$size" "$dir" "$build/bench/memrun_bench_range_reads" "$((size << 20))"
