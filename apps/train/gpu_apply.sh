#!/usr/bin/env bash
# Applies what apps/train/gpu_train.sh returned: checks results.sha256, joins and unpacks
# results.tar.part* into the tree (models/checkpoints/*, models/weights/* only) and removes the
# legacy fp32 files (last.{model,ema,opt*}.pt) of each checkpoint it replaces.
#   bash apps/train/gpu_apply.sh DIR [--root TREE]   (DIR holds results.tar.part*,
#                                                    results.sha256; TREE: this repository)
# Then review (git status, the ledgers, DIR/gpu_train.log) and commit.
set -euo pipefail
dir="${1:?usage: gpu_apply.sh DIR [--root TREE]}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ "${2:-}" = --root ]; then root="${3:?--root needs a folder}"; fi
[ -f "$dir/results.sha256" ] || { echo "error: gpu_apply.sh: no $dir/results.sha256" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$dir" && grep ' results.tar.part' results.sha256 | sha256sum -c --quiet -) ||
  { echo "error: gpu_apply.sh: a results part is damaged or missing" >&2; exit 1; }
cat "$dir"/results.tar.part* > "$tmp/results.tar"
bad="$(tar -tf "$tmp/results.tar" | grep -v -E '^models/(checkpoints/[a-z0-9-]+|weights)/[A-Za-z0-9._-]+$' || true)"
[ -z "$bad" ] || { echo "error: gpu_apply.sh: unexpected paths in the results: $bad" >&2; exit 1; }
mkdir -p "$tmp/x"
tar -C "$tmp/x" -xf "$tmp/results.tar"
(cd "$tmp/x" && grep -v ' results.tar.part' "$dir/results.sha256" | sha256sum -c --quiet -) ||
  { echo "error: gpu_apply.sh: unpacked files do not match results.sha256" >&2; exit 1; }
for d in "$tmp"/x/models/checkpoints/*/; do
  name="$(basename "$d")"
  rm -f "$root/models/checkpoints/$name"/last.model.pt "$root/models/checkpoints/$name"/last.ema.pt \
    "$root/models/checkpoints/$name"/last.opt*.pt
done
mkdir -p "$root/models"
cp -r "$tmp/x/models/." "$root/models/"
tar -tf "$tmp/results.tar" | sed 's/^/applied: /'
