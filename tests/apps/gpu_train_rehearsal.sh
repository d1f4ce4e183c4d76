#!/usr/bin/env bash
# Rehearsals of apps/train/gpu_train.sh on the CPU (exit 77 = skipped: no Python with numpy and
# Pillow, or no photos for the full one).
#   gpu_train_rehearsal.sh --fast TRAINER   the normal build's lucid-train, a tiny synthetic pack,
#                                           one step per model from the committed checkpoints;
#                                           check-pack compares expand_pack.py's JPEG pairs with
#                                           libjpeg-turbo; results applied to a scratch tree
#   gpu_train_rehearsal.sh --full           the whole script as on the GPU machine: a fresh
#                                           LUCID_TRAIN_ONLY build in a temporary folder (ccache
#                                           when installed), the real pack (data/packs/, else
#                                           made from ../shared/data), a 1-minute budget
set -euo pipefail
mode="${1:?usage: gpu_train_rehearsal.sh --fast TRAINER | --full}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
py=""
for c in "${LUCID_TEST_PYTHON:-}" "${LUCID_TORCH_VENV:-/opt/lucid/torch-2.11}/bin/python" python3; do
  if [ -n "$c" ] && "$c" -c 'import numpy, PIL' 2>/dev/null; then py="$c"; break; fi
done
[ -n "$py" ] || { echo "skipped: no Python with numpy and Pillow"; exit 77; }
tmp="$(mktemp -d /tmp/lucid-gpu-rehearsal.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s)
tree_sum() { find "$src/models/checkpoints" "$src/models/weights" -type f -exec sha256sum {} + | sort; }
sum0="$(tree_sum)"

if [ "$mode" = --fast ]; then
  trainer="${2:?--fast needs the lucid-train binary}"
  mkdir -p "$tmp/img"
  "$py" - "$tmp/img" <<'PY'
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(5)
def photo(h, w):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 0.7 + y * 0.2) % 256, (y * 0.9) % 256, (x + y) * 0.4 % 256], -1)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
with open(d + "/train.txt", "w") as t:
    for i in range(4):
        Image.fromarray(photo(300, 330)).save("%s/t%d.png" % (d, i)); t.write("t%d.png\n" % i)
with open(d + "/val.txt", "w") as v:
    for i in range(2):
        Image.fromarray(photo(280, 300)).save("%s/v%d.png" % (d, i)); v.write("v%d.png\n" % i)
PY
  "$py" "$src/data_scripts/make_pack.py" --train-list "$tmp/img/train.txt" \
    --val-list "$tmp/img/val.txt" --out "$tmp/pack.tar" --max-mib 2 --region 288
  bash "$src/apps/train/gpu_train.sh" --cpu --trainer "$trainer" --python "$py" \
    --pack "$tmp/pack.tar" --steps 1 --pairs 300 --work "$tmp/work" --out "$tmp/out" --jobs 2
  "$trainer" check-pack --pack "$tmp/work/raw/restore_train.raw"
  "$trainer" check-pack --pack "$tmp/work/raw/restore_val.raw"
else
  pack="$src/data/packs/lucid-pack.tar"
  if [ ! -f "$pack" ]; then
    [ -f "$src/../shared/data/splits/train.txt" ] || { echo "skipped: no pack and no ../shared/data"; exit 77; }
    pack="$tmp/pack.tar"
    "$py" "$src/data_scripts/make_pack.py" --shared "$src/../shared/data" --out "$pack"
  fi
  bash "$src/apps/train/gpu_train.sh" --cpu --python "$py" --pack "$pack" --minutes 1 \
    --deadline 40 --pairs 5000 --build-dir "$tmp/build" --work "$tmp/work" --out "$tmp/out" \
    --jobs "$(nproc)"
fi

# What comes back: <= 8 plain files of <= 16 MiB, and it applies to a tree.
ls -la "$tmp/out"
[ "$(find "$tmp/out" -type f | wc -l)" -le 8 ]
[ -z "$(find "$tmp/out" -type f -size +16M)" ]
[ -f "$tmp/out/results.tar.part00" ] && [ -f "$tmp/out/results.sha256" ] && [ -f "$tmp/out/gpu_train.log" ]
bash "$src/apps/train/gpu_apply.sh" "$tmp/out" --root "$tmp/tree"
for m in codec-small restore-small; do
  for f in last.model.ckpt last.opt0.ckpt last.opt1.ckpt last.state train.csv; do
    [ -s "$tmp/tree/models/checkpoints/$m/$f" ] || { echo "missing $m/$f"; exit 1; }
  done
  before="$(awk -F'\t' '$1=="step"{print $2}' "$src/models/checkpoints/$m/last.state")"
  after="$(awk -F'\t' '$1=="step"{print $2}' "$tmp/tree/models/checkpoints/$m/last.state")"
  [ "$after" -gt "$before" ] || { echo "$m: step $before -> $after"; exit 1; }
  echo "$m: step $before -> $after"
done
[ "$(tree_sum)" = "$sum0" ] || { echo "the rehearsal changed the tree's models/"; exit 1; }
echo "rehearsal $mode passed in $(( $(date +%s) - t0 )) s"
