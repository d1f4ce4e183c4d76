#!/usr/bin/env bash
# Continues Lucid codec training on a CUDA machine for a given number of minutes.
#   bash apps/train/gpu_train.sh MINUTES [extra lucid-train flags]
# Needs: a CUDA build of PyTorch for python3 (its wheel ships LibTorch and its CMake files),
# cmake, ninja or make, a C++17 compiler, OpenCV and libjpeg-turbo development files.
# It builds lucid-train against that LibTorch in build-gpu/, copies the committed checkpoint
# (models/checkpoints/codec-small) to runs/codec-small-gpu, trains with --device cuda, and
# copies the result back to models/checkpoints/codec-small and exports the fp16 weights.
set -euo pipefail
minutes="${1:?usage: gpu_train.sh MINUTES [lucid-train flags]}"
shift || true
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
prefix="$(python3 -c 'import torch, sys; assert torch.cuda.is_available(), "no CUDA"; print(torch.utils.cmake_prefix_path)')"
echo "gpu_train: LibTorch from $prefix" >&2
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B build-gpu "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DLUCID_BUILD_TESTS=OFF -DLUCID_PCH=ON >/dev/null
cmake --build build-gpu --target lucid-train -j "$(nproc)"
[ -s data/photos/val_shared.txt ] || bash data_scripts/build_dataset.sh
run=runs/codec-small-gpu
mkdir -p "$run"
cp -f models/checkpoints/codec-small/* "$run"/ 2>/dev/null || true
./build-gpu/apps/lucid-train codec --device cuda --train data/photos/train.txt \
  --val data/photos/val_shared.txt --run "$run" --batch 16 --crop 256 --minutes "$minutes" \
  --checkpoint-minutes 3 --eval-minutes 5 "$@"
mkdir -p models/checkpoints/codec-small
cp -f "$run"/last.* "$run"/best.* "$run"/train.csv models/checkpoints/codec-small/
./build-gpu/apps/lucid-train export-codec --run "$run" --which best \
  --out models/weights/fat-small.lucidw
echo "gpu_train: done; commit models/checkpoints/codec-small and models/weights" >&2
