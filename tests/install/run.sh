#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds an outside project
# against it twice: with find_package(memrun) (library + memrun_add_plugin) and
# with pkg-config. Proves the installed package is complete on its own.
set -euo pipefail
build=$1
here=$2
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S "$here/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" -j2 >/dev/null
LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64:${LD_LIBRARY_PATH:-}" "$work/cmake/consumer" "$work/cmake/libconsumer_plugin.so"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib64/pkgconfig:$prefix/share/pkgconfig:${PKG_CONFIG_PATH:-}"
# shellcheck disable=SC2046
c++ -o "$work/pc_consumer" "$here/consumer/main.cc" $(pkg-config --cflags --libs memrun)
LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64:${LD_LIBRARY_PATH:-}" "$work/pc_consumer" "$work/cmake/libconsumer_plugin.so"
test -x "$prefix/bin/memrun-host" && test -x "$prefix/bin/memrun"
echo "install consumer: find_package and pkg-config both work"
