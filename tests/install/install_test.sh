#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds + runs a C program against it,
# once with pkg-config and once with find_package(Lucid); checks that liblucid.so exports only
# lucid_* symbols. Usage: install_test.sh BUILD_DIR
set -euo pipefail
build="$1"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
lib="$(find "$prefix" -name 'liblucid.so' | head -n 1)"
[ -n "$lib" ] || { echo "FAIL: no liblucid.so under $prefix"; exit 1; }
for f in include/lucid/lucid.h share/lucid/models/fat-small.lucidw share/lucid/models/codiff-small.lucidw share/lucid/models/diqp-small.lucidw; do
  [ -f "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done

# No path of the source or build tree is compiled in (the build tree's binaries find the source
# weights through build/LucidBuildTree.txt instead).
src_dir="$(cd "$here/../.." && pwd)"
build_abs="$(cd "$build" && pwd)"
# (the library's data, not its debug sections, which a -g build fills with source paths)
data="$(readelf -p .rodata -p .data "$lib" 2>/dev/null)"
for p in "$src_dir" "$build_abs"; do
  if echo "$data" | grep -qF "$p"; then
    echo "FAIL: liblucid.so holds the path $p:"; echo "$data" | grep -F "$p" | head -n 5; exit 1
  fi
done

# Only the C API is exported.
others="$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v '^lucid_' || true)"
if [ -n "$others" ]; then
  echo "FAIL: liblucid.so exports more than lucid_*:"; echo "$others" | head -n 20; exit 1
fi
# ... and exactly the functions lucid.h declares with LUCID_API (36 in 0.1.0: 28 for images,
# 8 for the video stream), none missing and none extra.
declared="$(grep -oE '^LUCID_API [^(]*\(' "$prefix/include/lucid/lucid.h" | grep -oE 'lucid_[a-z0-9_]+ *\($' | tr -d ' (' | sort)"
exported="$(nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort)"
if [ "$declared" != "$exported" ]; then
  echo "FAIL: liblucid.so's exports differ from lucid.h's LUCID_API functions:"
  diff <(echo "$declared") <(echo "$exported") | head -n 20; exit 1
fi
n_declared="$(echo "$declared" | wc -l)"
[ "$n_declared" -eq 36 ] || { echo "FAIL: lucid.h declares $n_declared LUCID_API functions, expected 36 (update this test with the header)"; exit 1; }
echo "exports: $(echo "$exported" | wc -l) symbols, all lucid_*, exactly lucid.h's LUCID_API functions"

# Neither pkg-config nor the CMake package hands LibTorch to the consumer.
export PKG_CONFIG_PATH="$(dirname "$lib")/pkgconfig"
flags="$(pkg-config --cflags --libs lucid)"
case "$flags" in *torch*|*opencv*) echo "FAIL: pkg-config leaks: $flags"; exit 1;; esac
# The models are found in the installed data folder: no LUCID_MODEL_DIR, and not from a source
# tree (the program runs from outside the build tree).
unset LUCID_MODEL_DIR

cc -std=c99 -Wall -Wextra -o "$tmp/consumer_pc" "$here/consumer.c" $flags \
   -Wl,-rpath,"$(pkg-config --variable=libdir lucid)"
"$tmp/consumer_pc"
echo "pkg-config consumer: ok"

# The static archive: everything of Lucid in one liblucid.a, the rest from Libs.private.
static="$(dirname "$lib")/liblucid.a"
[ -f "$static" ] || { echo "FAIL: no static liblucid.a installed"; exit 1; }
cc -std=c99 -Wall -Wextra -o "$tmp/consumer_static" "$here/consumer.c" \
   $(pkg-config --cflags lucid) "$static" $(pkg-config --static --libs lucid | sed 's/\(^\| \)-llucid\( \|$\)/ /')
if ldd "$tmp/consumer_static" | grep -q 'liblucid\.so'; then
  echo "FAIL: the static consumer loads liblucid.so"; exit 1
fi
# Linked into the program, the code cannot find a prefix from its own location: a static
# consumer finds the weights under the configured install prefix, or where LUCID_MODEL_DIR says.
LUCID_MODEL_DIR="$prefix/share/lucid/models" "$tmp/consumer_static"
echo "static consumer: ok"

cmake -S "$here/find_package" -B "$tmp/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/cmake-consumer" >/dev/null
"$tmp/cmake-consumer/consumer"
echo "find_package consumer: ok"
