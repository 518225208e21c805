#!/usr/bin/env bash
# Runs bench/cache_tiers.cc with its remote part: an s3rver object of SIZE_MIB
# (bench/with_s3rver_object.sh), get_or_fetch against the curl CLI on it.
#   bench/run_cache_tiers.sh [size_mib=1024] [dir=/var/tmp]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMRUN_BUILD_DIR:-$root/build}
size=${1:-1024}
dir=${2:-/var/tmp}
exec "$root/bench/with_s3rver_object.sh" "$size" "$dir" "$build/bench/memrun_bench_cache_tiers" "$dir" "$size"
