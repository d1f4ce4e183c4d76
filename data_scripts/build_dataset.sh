#!/usr/bin/env bash
# Builds Lucid's photo dataset lists reproducibly.
#   data_scripts/build_dataset.sh [--shared DIR] [--out DIR] [--no-debian]
# --shared DIR  the shared photo set (default ../shared/data relative to the repo root);
#               its splits/train.txt and splits/val.txt give the split by source image.
# --out DIR     where lists, manifest and extracted photos go (default data/photos).
# Debian wallpaper photos (see data_scripts/debian_photos.txt) are extracted from their
# packages with apt-get download + dpkg -x and downscaled like the shared set, unless
# --no-debian. Writes OUT/train.txt, OUT/val.txt, OUT/val_shared.txt, OUT/val_native.txt (the
# validation photos at their native resolution, see below), OUT/train_native2x.txt (train.txt
# with its native-resolution photos twice) and OUT/test.txt (the
# held-out test photographs: Debian photos of split test, from packages that give no train or
# val photo; empty with --no-debian). Every image is listed with its split and SHA-256 in
# OUT/manifest.tsv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="$root/../shared/data"
out="$root/data/photos"
debian=1
while [ $# -gt 0 ]; do
  case "$1" in
    --shared) shared="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-debian) debian=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "error: build_dataset.sh: unknown option $1" >&2; exit 1 ;;
  esac
done
mkdir -p "$out"
: > "$out/train.txt"
: > "$out/val.txt"
: > "$out/test.txt"
if [ -f "$shared/splits/train.txt" ] && [ -f "$shared/splits/val.txt" ]; then
  shared="$(cd "$shared" && pwd)"
  for s in train val; do
    while IFS= read -r rel; do
      [ -n "$rel" ] && echo "$shared/$rel" >> "$out/$s.txt"
    done < "$shared/splits/$s.txt"
  done
else
  echo "note: shared photo set not found at '$shared' (pass --shared DIR); using only Debian photos" >&2
fi
if [ "$debian" = 1 ] && [ -x "$here/debian_photos.sh" ]; then
  "$here/debian_photos.sh" "$out/debian" "$out"
fi
if [ ! -s "$out/train.txt" ]; then
  echo "error: build_dataset.sh: no training photos (no shared set and no Debian photos)" >&2
  exit 1
fi
# The validation photos of the shared set alone: the set behind the trainers' validation curves
# since before the Debian photos joined (the curves in the weight ledgers use it).
if [ -d "$out/debian" ]; then
  grep -v -F "$(cd "$out/debian" && pwd)/" "$out/val.txt" > "$out/val_shared.txt" || true
else
  cp "$out/val.txt" "$out/val_shared.txt"
fi
# The validation photos that were never downscaled (shared-set mode copy or lossless: camera or
# scanner pixels as taken, e.g. McMaster, Val20, wesaturate; Urban100's are as published): the
# photos downscaled 2-8x from large JPEGs are cleaner and sharper than photographs at their
# native resolution, and restore easier, so gains are also reported on this subset.
# train_native2x.txt: train.txt with the training photos of that kind listed twice, so that
# they are drawn twice as often (the JPEG restorer's fine-tuning from step 87 970 on).
: > "$out/val_native.txt"
cp "$out/train.txt" "$out/train_native2x.txt"
if [ -f "$shared/manifest.csv" ]; then
  awk -F, 'NR > 1 && ($10 == "copy" || $10 == "lossless") { print "/images/" $1 "/" $2 }' \
    "$shared/manifest.csv" > "$out/.native_suffixes"
  grep -F -f "$out/.native_suffixes" "$out/val_shared.txt" > "$out/val_native.txt" || true
  grep -F -f "$out/.native_suffixes" "$out/train.txt" >> "$out/train_native2x.txt" || true
  rm -f "$out/.native_suffixes"
fi
{
  printf 'split\tsha256\tpath\n'
  for s in train val test; do
    while IFS= read -r f; do
      printf '%s\t%s\t%s\n' "$s" "$(sha256sum "$f" | cut -d' ' -f1)" "$f"
    done < "$out/$s.txt"
  done
} > "$out/manifest.tsv"
echo "dataset: $(wc -l < "$out/train.txt") train, $(wc -l < "$out/val.txt") val photos ($(wc -l < "$out/val_shared.txt") in val_shared.txt, $(wc -l < "$out/val_native.txt") in val_native.txt), $(wc -l < "$out/test.txt") test, $(wc -l < "$out/train_native2x.txt") lines in train_native2x.txt; manifest $out/manifest.tsv" >&2
