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
# The installed binaries find libmemrun on their own (RPATH $ORIGIN/../lib).
env -u LD_LIBRARY_PATH "$prefix/bin/memrun-host" --help >/dev/null
env -u LD_LIBRARY_PATH "$prefix/bin/memrun" partition 21 --partitions 16 >/dev/null
# The installed C example builds as an outside C99 plugin from memrun-plugin.pc
# alone, warnings as errors, linking nothing of memrun, and loads.
docdir=$(find "$prefix" -path '*/doc/memrun/examples' -type d | head -1)
test -f "$docdir/c_echo.c" && test -f "$docdir/echo.cc" && test -f "$docdir/embedded.cc"
# shellcheck disable=SC2046
cc -std=c99 -pedantic -Wall -Wextra -Werror -fPIC -shared -o "$work/libc_echo.so" "$docdir/c_echo.c" \
  $(pkg-config --cflags --libs memrun-plugin)
if readelf -d "$work/libc_echo.so" | grep -q 'NEEDED.*libmemrun'; then echo "the C plugin links libmemrun"; exit 1; fi
LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64:${LD_LIBRARY_PATH:-}" "$work/pc_consumer" "$work/libc_echo.so" c_echo
echo "install consumer: find_package and pkg-config both work; the installed binaries run without LD_LIBRARY_PATH; the installed C example builds from memrun-plugin.pc with -Werror and loads"
