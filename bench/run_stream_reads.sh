#!/usr/bin/env bash
# Runs bench/stream_reads.cc: an s3rver object of SIZE_MIB
# (bench/with_s3rver_object.sh), streamed, against curl fetching one chunk
# and against get_or_fetch of the whole object, in the same run.
#   bench/run_stream_reads.sh [size_mib=1024] [dir=/var/tmp] [read_ahead_chunks...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
size=${1:-1024}
dir=${2:-/var/tmp}
shift $(($# < 2 ? $# : 2))
exec "$root/bench/with_s3rver_object.sh" "$size" "$dir" "$build/bench/memrun_bench_stream_reads" "$((size << 20))" "$@"
