#!/usr/bin/env bash
# Lucid's two entry points on a fresh Debian 12 machine:
#   bash run.sh sample   install dependencies, build, encode + decode the bundled photograph
#   bash run.sh test     install dependencies, build, run the test suite (no slow/GPU tests)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
mode="${1:-sample}"
jobs="$(nproc 2>/dev/null || echo 2)"

bash ./install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

case "$mode" in
  sample)
    ninja -C build -j"$jobs" lucid
    out="build/sample"
    mkdir -p "$out"
    ./build/apps/lucid encode tests/data/sample.png -o "$out/sample.lucid" -q 75 -y
    ./build/apps/lucid decode "$out/sample.lucid" -o "$out/sample.png" -y \
      --compare tests/data/sample.png
    echo "decoded image: $out/sample.png" >&2
    ;;
  test)
    ninja -C build -j"$jobs"
    ctest --test-dir build -LE "slow|gpu" --output-on-failure -j"$jobs"
    ;;
  *)
    echo "usage: bash run.sh [sample|test]" >&2
    exit 1
    ;;
esac
