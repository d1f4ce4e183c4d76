#!/usr/bin/env bash
# Continues training every shipped model on a bare GPU machine, in one command:
#   bash apps/train/gpu_train.sh [options]            (from the repository root or anywhere)
# The machine needs: an NVIDIA GPU, python3 with a CUDA build of PyTorch (its wheel ships
# LibTorch's headers, libraries and CMake files), numpy and Pillow, cmake, a C++17 compiler
# (ninja optional). No OpenCV, libpng, libjpeg or FFmpeg: lucid-train is built with
# LUCID_TRAIN_ONLY and trains from the travelling pack (data_scripts/make_pack.py, default
# data/packs/lucid-pack.tar; it is git-ignored, so carry it with the working tree).
#
# Steps: check the GPU (fail unless --cpu) -> expand the pack (data_scripts/expand_pack.py, in
# the background) while building lucid-train -> copy the committed checkpoints
# (models/checkpoints/codec-small -> fat-small codec, restore-small -> codiff-small restorer) to a
# work folder -> train both for the time left before --deadline (in parallel on the one GPU by
# default), validating on the pack's validation crops before the first step, every
# --eval-minutes and at the end -> export the best weights when they beat the starting ones on
# that validation (earlier best scores come from other validation sets) -> put the new compact
# checkpoints (in their committed form: `lucid-train shelve`), the exported weights and ledgers
# and this log in OUT: results.tar split into
# <= 15 MiB parts (results.tar.part*), results.sha256 and gpu_train.log (at most 8 files of
# <= 16 MiB; checked).
# Apply them here with: bash apps/train/gpu_apply.sh DIR_WITH_THOSE_FILES
#
# Options:
#   --deadline M      whole run, build included, in minutes [8.5]; training gets what is left
#                     after --reserve seconds for start-up, final validation, export, packing
#   --reserve S       [100]
#   --minutes M       at most M minutes of training [no limit but the deadline]
#   --steps N         instead: N steps per model (rehearsals)
#   --sequential      train one model after the other, the codec getting --codec-share of the
#                     time [0.6]; default: both at once for the whole time (they share the GPU)
#   --cpu             rehearsal on the CPU (no GPU check, --device cpu, small batches)
#   --pack FILE       [data/packs/lucid-pack.tar]
#   --out DIR         [$OUT, else runs/gpu-out]
#   --work DIR        scratch folder [runs/gpu-work]
#   --build-dir DIR   [build-gpu]          --jobs N  build and expansion jobs [nproc]
#   --trainer FILE    use this lucid-train instead of building one (any build)
#   --python PY       [python3]            --pairs N restorer training pairs [100000]
#   --codec-batch N [32 GPU, 2 CPU]   --restore-batch N [64 GPU, 4 CPU]   --eval-minutes M [2]
set -euo pipefail
# Everything is in main, parsed before it runs: editing this file during a run cannot change it.
main() {
t0=$(date +%s)
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

deadline=8.5 reserve=100 minutes="" steps="" sequential=0 share=0.6 cpu=0
pack=data/packs/lucid-pack.tar out="${OUT:-runs/gpu-out}" work=runs/gpu-work build=build-gpu
jobs="$(nproc)" trainer="" python=python3 pairs=100000 cbatch="" rbatch="" eval_minutes=2
while [ $# -gt 0 ]; do
  case "$1" in
    --deadline) deadline="$2"; shift 2 ;;
    --reserve) reserve="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --sequential) sequential=1; shift ;;
    --codec-share) share="$2"; shift 2 ;;
    --cpu) cpu=1; shift ;;
    --pack) pack="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --trainer) trainer="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --pairs) pairs="$2"; shift 2 ;;
    --codec-batch) cbatch="$2"; shift 2 ;;
    --restore-batch) rbatch="$2"; shift 2 ;;
    --eval-minutes) eval_minutes="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "error: gpu_train.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
  esac
done

mkdir -p "$out" "$work"
out="$(cd "$out" && pwd)"
work="$(cd "$work" && pwd)"
logf="$out/gpu_train.log"
: > "$logf"
exec > >(tee -a "$logf") 2>&1
el() { echo $(( $(date +%s) - t0 )); }
say() { echo "gpu_train [$(el) s]: $*"; }
die() { echo "gpu_train [$(el) s]: error: $*"; exit 1; }
say "start $(date -u +%FT%TZ) on $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"

# 1. The device.
if [ "$cpu" = 1 ]; then
  device=cpu threads=1 cbatch="${cbatch:-2}" rbatch="${rbatch:-4}"
  say "--cpu: rehearsal on the CPU"
else
  device=cuda threads=4 cbatch="${cbatch:-32}" rbatch="${rbatch:-64}"
  command -v nvidia-smi >/dev/null && nvidia-smi -L || true
  "$python" -c 'import torch, sys
ok = torch.cuda.is_available()
print("torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count(), torch.cuda.get_device_name(0) if ok else "")
sys.exit(0 if ok else 1)' || die "no usable CUDA GPU for $python's torch (run with --cpu for a rehearsal)"
fi
[ -f "$pack" ] || die "no pack at $pack (build it with data_scripts/make_pack.py and carry it along)"
"$python" -c 'import numpy, PIL' || die "$python lacks numpy or Pillow (needed to expand the pack)"

# 2. Expand the pack in the background while lucid-train builds.
raw="$work/raw"
say "expanding $pack ($pairs restorer pairs) into $raw"
# A tenth of the restorer's pairs are grayscale JPEGs, as in the CPU training since step 89 777
# (lucid-train restore --gray-prob 0.1; the restorer checks the pack was drawn so).
gray_prob=0.1
"$python" data_scripts/expand_pack.py "$pack" --out "$raw" --pairs "$pairs" --jobs "$jobs" \
  --gray-prob "$gray_prob" > "$work/expand.log" 2>&1 &
expand_pid=$!

built=0
if [ -z "$trainer" ]; then
  built=1
  prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')" ||
    die "$python cannot import torch (LibTorch comes from the PyTorch wheel)"
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  extra=(-DLUCID_PCH=ON)
  if command -v ccache >/dev/null; then  # ccache cannot cache PCH users; without PCH it can
    extra=(-DLUCID_PCH=OFF -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  say "building lucid-train (LUCID_TRAIN_ONLY) in $build against $prefix"
  # The trainer must not need any image library, even where one is installed.
  cmake -S . -B "$build" ${gen[@]+"${gen[@]}"} -DCMAKE_BUILD_TYPE=Release -DLUCID_TRAIN_ONLY=ON \
    -DTorch_DIR="$prefix/Torch" -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}" \
    -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON -DCMAKE_DISABLE_FIND_PACKAGE_PNG=ON \
    -DCMAKE_DISABLE_FIND_PACKAGE_JPEG=ON -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON \
    -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON > "$work/cmake.log" 2>&1 ||
    { tail -30 "$work/cmake.log"; die "cmake failed (log above)"; }
  cmake --build "$build" --target lucid-train -j "$jobs" > "$work/build.log" 2>&1 ||
    { grep -B2 -A12 -m3 'error' "$work/build.log" || tail -40 "$work/build.log"; die "build failed"; }
  trainer="$build/apps/lucid-train"
  say "built $trainer"
fi
[ -x "$trainer" ] || die "no trainer at $trainer"
if [ "$built" = 1 ] && command -v ldd >/dev/null &&
   ldd "$trainer" | grep -E 'opencv|libpng|libjpeg|turbojpeg|avcodec|avformat'; then
  die "$trainer links an image library (above): not a LUCID_TRAIN_ONLY build"
fi
wait "$expand_pid" || { cat "$work/expand.log"; die "expanding the pack failed"; }
cat "$work/expand.log"

# 3. The committed checkpoints, copied: the tree's own files stay untouched.
declare -A ckpt=([codec]=codec-small [restore]=restore-small)
declare -A start_step
for m in codec restore; do
  src="models/checkpoints/${ckpt[$m]}" dst="$work/${ckpt[$m]}"
  rm -rf "$dst"; mkdir -p "$dst"
  if [ -f "$src/last.state" ]; then
    cp -p "$src"/* "$dst"/
    start_step[$m]="$(awk -F'\t' '$1=="step"{print $2}' "$dst/last.state")"
  else
    start_step[$m]=0
    say "note: no $src/last.state: $m starts from scratch"
  fi
done
say "starting from codec step ${start_step[codec]}, restorer step ${start_step[restore]}"

# 4. Train.
left=$(awk -v d="$deadline" -v e="$(el)" -v r="$reserve" 'BEGIN{printf "%d", d * 60 - e - r}')
budget_flags() {  # $1 = model, $2 = share of the time
  if [ -n "$steps" ]; then
    echo "--steps $(( ${start_step[$1]} + steps ))"
  else
    local m
    m="$(awk -v s="$left" -v f="$2" -v cap="${minutes:-0}" 'BEGIN{m = s * f / 60; if (cap > 0 && m > cap) m = cap; printf "%.2f", m}')"
    echo "--minutes $m"
  fi
}
if [ -z "$steps" ] && [ "$left" -lt 30 ]; then
  die "only $left s left for training before the --deadline of $deadline min"
fi
cshare=1 rshare=1
[ "$sequential" = 1 ] && cshare="$share" rshare="$(awk -v s="$share" 'BEGIN{print 1 - s}')"
fast=(); [ "$device" = cuda ] && fast=(--cuda-fast 1)
codec_cmd=("$trainer" codec --device "$device" -j "$threads" --train-pack "$raw/codec_train.raw"
  --val-pack "$raw/codec_val.raw" --run "$work/codec-small" --batch "$cbatch" --crop 256
  --val-crop 256 --checkpoint-minutes 3 --eval-minutes "$eval_minutes" --eval-at-start 1
  --eval-at-end 1 --reset-best 1 --log-every 25 ${fast[@]+"${fast[@]}"} $(budget_flags codec "$cshare"))
restore_cmd=("$trainer" restore --device "$device" -j "$threads"
  --train-pack "$raw/restore_train.raw" --val-pack "$raw/restore_val.raw"
  --run "$work/restore-small" --batch "$rbatch" --crop 96 --val-crop 192 --checkpoint-minutes 3
  --gray-prob "$gray_prob"
  --eval-minutes "$eval_minutes" --eval-at-start 1 --eval-at-end 1 --reset-best 1
  --log-every 25 ${fast[@]+"${fast[@]}"}
  $(budget_flags restore "$rshare"))
say "training ($([ "$sequential" = 1 ] && echo sequential || echo parallel); $left s left after the reserve)"
say "codec:   ${codec_cmd[*]}"
say "restore: ${restore_cmd[*]}"
rc_codec=0 rc_restore=0
if [ "$sequential" = 1 ]; then
  "${codec_cmd[@]}" > "$work/codec.log" 2>&1 || rc_codec=$?
  "${restore_cmd[@]}" > "$work/restore.log" 2>&1 || rc_restore=$?
else
  "${codec_cmd[@]}" > "$work/codec.log" 2>&1 & pc=$!
  "${restore_cmd[@]}" > "$work/restore.log" 2>&1 & pr=$!
  wait "$pc" || rc_codec=$?
  wait "$pr" || rc_restore=$?
fi
for m in codec restore; do
  echo "----- $m trainer log (last 40 lines) -----"; tail -40 "$work/$m.log"
done
[ "$rc_codec" = 0 ] || say "error: the codec trainer failed (exit $rc_codec)"
[ "$rc_restore" = 0 ] || say "error: the restorer trainer failed (exit $rc_restore)"

# 5. Export the weights whose validation improved in this run.
stage="$work/stage"
rm -rf "$stage"; mkdir -p "$stage/models/weights"
step_of() { awk -F'\t' '$1=="step"{print $2}' "$1" 2>/dev/null || echo 0; }
if [ "$rc_codec" = 0 ]; then
  d="$work/codec-small"
  if [ -f "$d/best.state" ] && [ "$(step_of "$d/best.state")" -gt "${start_step[codec]}" ]; then
    "$trainer" export-codec --run "$d" --which best --out "$stage/models/weights/fat-small.lucidw"
  else
    say "codec: validation did not improve on the starting weights: fat-small.lucidw not exported"
  fi
  "$trainer" shelve --run "$d" --out "$stage/models/checkpoints/codec-small" > /dev/null
fi
if [ "$rc_restore" = 0 ]; then
  d="$work/restore-small"
  if [ -f "$d/best.state" ] && [ "$(step_of "$d/best.state")" -gt "${start_step[restore]}" ]; then
    "$trainer" export-restore --run "$d" --which best --out "$stage/models/weights/codiff-small.lucidw" \
      --ledger "$stage/models/weights/codiff-small.ledger.json"
  else
    say "restorer: validation did not improve on the starting weights: codiff-small.lucidw not exported"
  fi
  "$trainer" shelve --run "$d" --out "$stage/models/checkpoints/restore-small" > /dev/null
fi
for m in codec restore; do
  f="$stage/models/checkpoints/${ckpt[$m]}/last.state"
  [ -f "$f" ] && say "$m: step ${start_step[$m]} -> $(step_of "$f"); last validation: $(grep '^val,' "$work/${ckpt[$m]}/train.csv" | tail -1)"
done

# 6. Pack the results into OUT: at most 8 files of at most 16 MiB.
rm -f "$out"/results.tar.part* "$out"/results.sha256
(cd "$stage" && find models -type f | sort > "$work/files.txt")
[ -s "$work/files.txt" ] || die "nothing to return"
tar -C "$stage" -cf "$work/results.tar" -T "$work/files.txt"
split -b 15M -d -a 2 "$work/results.tar" "$out/results.tar.part"
(cd "$stage" && sha256sum $(cat "$work/files.txt")) > "$out/results.sha256"
(cd "$out" && sha256sum results.tar.part* >> results.sha256)
say "results ($(wc -l < "$work/files.txt") files, $(du -h "$work/results.tar" | cut -f1)):"
sed 's/^/  /' "$work/files.txt"
n=$(find "$out" -maxdepth 1 -type f | wc -l)
big=$(find "$out" -maxdepth 1 -type f -size +16M)
[ "$n" -le 8 ] || die "$n files in $out (at most 8 come back)"
[ -z "$big" ] || die "files over 16 MiB in $out: $big"
find "$out" -mindepth 1 -not -type f | grep -q . && die "$out holds something that is not a plain file"
say "done in $(el) s: $n files in $out; apply with: bash apps/train/gpu_apply.sh DIR"
[ "$rc_codec" = 0 ] && [ "$rc_restore" = 0 ]
}
main "$@"
