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
# ccache (installed by install_deps.sh) makes a fresh clone's build on this machine mostly cache
# hits: paths are taken relative to the clone, and the LibTorch precompiled header is allowed.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$here"
  export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null

case "$mode" in
  sample)
    ninja -C build -j"$jobs" lucid lucid-video
    out="build/sample"
    mkdir -p "$out"
    ./build/apps/lucid encode tests/data/sample.png -o "$out/sample.lucid" -q 75 -y
    ./build/apps/lucid decode "$out/sample.lucid" -o "$out/sample.png" -y \
      --compare tests/data/sample.png
    echo "decoded image: $out/sample.png" >&2
    # The bundled HEVC clip (QP 37, with audio) through the shipped video restorer.
    ./build/apps/video/lucid-video restore tests/data/sample-hevc-qp37.mkv -o "$out/sample-restored.mkv" -y \
      --model default --json | grep -E '"(frames_restored|seconds|restorer)"' >&2
    echo "restored video: $out/sample-restored.mkv" >&2
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
