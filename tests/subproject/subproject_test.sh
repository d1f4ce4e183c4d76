#!/usr/bin/env bash
# Configures tests/subproject (a parent project embedding Lucid with add_subdirectory) with the
# parent's own build type; with --build also builds the parent's C program against Lucid::lucid
# and runs it (slow: the whole library again). Usage: subproject_test.sh LUCID_SOURCE [--build]
set -euo pipefail
src="$(cd "$1" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake -S "$src/tests/subproject" -B "$tmp/parent" -G Ninja -DLUCID_SOURCE="$src" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; exit 1; }
grep -q "lucid_parent: build type 'RelWithDebInfo' kept" "$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cache_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$tmp/parent/CMakeCache.txt")"
[ "$cache_type" = RelWithDebInfo ] || { echo "FAIL: cached build type is '$cache_type'"; exit 1; }
echo "configure: ok (build type RelWithDebInfo kept, no Lucid tests or apps, Lucid::lucid)"
if [ "${2:-}" = --build ]; then
  cmake --build "$tmp/parent" --target parent_consumer > "$tmp/build.log" 2>&1 || { tail -n 40 "$tmp/build.log"; exit 1; }
  # No LUCID_MODEL_DIR: the embedded library finds the weights from its build tree's marker.
  (unset LUCID_MODEL_DIR; "$tmp/parent/parent_consumer")
  echo "build and run: ok (weights found through the build tree's LucidBuildTree.txt)"
fi
