#!/usr/bin/env python3
"""Builds the travelling training pack: what a GPU machine without the photos needs to train.

    make_pack.py [--shared DIR | --train-list FILE --val-list FILE] [--out FILE] [options]

Inputs (the first that exists): --train-list/--val-list (one image path per line, relative to
the list's folder, as lucid-train reads them); data/photos/train.txt + data/photos/val_shared.txt
(data_scripts/build_dataset.sh: the shared set plus the Debian photos); the shared set's own
split, ../shared/data/splits/{train,val}.txt (paths relative to ../shared/data, or --shared DIR).

Output: one uncompressed tar (default data/packs/lucid-pack.tar, at most --max-mib MiB; the
default, auto, is what the GPU machine's 64 MiB leave beside the working tree, less 2 MiB):
  manifest.json   what is inside, where each crop comes from (source path and SHA-256, crop box),
                  the recipe, and "val_fingerprint": the FNV-1a fingerprint lucid-train computes
                  for the validation image list (so a run on the pack keeps its best score)
  train/NNNN.jpg  one square region (--region, default 384, clipped to the photo) per training
                  photo at a seeded random position, JPEG 4:4:4 with a flat quantisation table
                  (every coefficient step --qstep, default 3, luma and chroma; optimized Huffman)
  val/NNNN.png    the centre --val-crop (256) crop of each validation photo, lossless: the
                  validation of both trainers (codec: centre 256 crops; restorer: centre 192
                  crops, the centre of these) sees exactly the pixels an image list gives
The region shrinks by 32 until the pack fits.

Trade-off (measured on the 184 shared training photos, 89 Mpx): near-lossless JPEG 4:4:4 costs
bits per pixel / aggregate PSNR: flat step 2: 6.0 / 49.4 dB; flat 3: 4.9 / 46.9 dB (>= 44 dB on
every photo); flat 4: 4.3 / 45.4 dB; IJG quality 97: 5.3 / 45.7 dB; lossless WebP 9.5, PNG 12.3.
Flat 3 leaves the codec's targets at ~47 dB, far above what it reaches (~30 dB at its top rate)
and the restorer's (JPEG QF 95 4:2:0 is ~40 dB), and holds 2.5x the pixels lossless WebP would.
A 384 region per photo gives ~15 MiB of training crops for the 184 photos.

data_scripts/expand_pack.py turns the pack into the raw files lucid-train reads.
Needs numpy and Pillow (e.g. /opt/lucid/torch-2.11/bin/python).
"""
import argparse
import hashlib
import io
import json
import os
import random
import sys
import tarfile
import time

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    sys.exit("error: make_pack.py: needs numpy and Pillow (%s); try /opt/lucid/torch-2.11/bin/python" % e)

PROG = "make_pack.py"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail(msg):
    sys.exit("error: %s: %s" % (PROG, msg))


def read_list(path, base=None):
    base = base or os.path.dirname(os.path.abspath(path))
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line if os.path.isabs(line) else os.path.join(base, line))
    return out


def load_rgb(path):
    """The photo as lucid-train's reader sees it: 8-bit RGB, alpha dropped."""
    with Image.open(path) as im:
        im.load()
        if im.mode not in ("RGB", "L", "P", "RGBA", "LA"):
            fail("%s: image mode %s (8-bit RGB, grey or palette expected)" % (path, im.mode))
        return np.asarray(im.convert("RGB"))


def fnv1a_chw(arrays):
    """lucid::train::dataset_fingerprint: FNV-1a 64 over the [3, H, W] bytes, in list order."""
    h = 0xCBF29CE484222325
    mask = (1 << 64) - 1
    for a in arrays:
        for b in np.ascontiguousarray(a.transpose(2, 0, 1)).tobytes():
            h = ((h ^ b) * 0x100000001B3) & mask
    return "%016x" % h


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def encode_jpeg(a, qstep):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", qtables=[[qstep] * 64, [qstep] * 64], subsampling=0,
                            optimize=True)
    return buf.getvalue()


def encode_png(a):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def tar_size(sizes):
    """Bytes of an uncompressed tar (GNU format) holding members of these sizes."""
    total = sum(512 + (s + 511) // 512 * 512 for s in sizes) + 1024
    return (total + 10239) // 10240 * 10240


TRAVEL_LIMIT_MIB = 64  # what the GPU machine receives: working tree and carried paths


def travelling_tree_mib():
    """MiB of the files a GPU run sends: tracked and untracked-not-ignored files (git)."""
    import subprocess
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        fail("--max-mib auto needs git and a checkout (%s); pass --max-mib" % e)
    total = 0
    for name in out.split(b"\0"):
        path = os.path.join(ROOT, name.decode())
        if name and os.path.isfile(path) and not os.path.islink(path):
            total += os.path.getsize(path)
    return total / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--train-list")
    ap.add_argument("--val-list")
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "packs", "lucid-pack.tar"))
    ap.add_argument("--max-mib", default="auto",
                    help="size limit in MiB, or 'auto': what the GPU machine's 64 MiB leave "
                         "beside the working tree that travels (git's tracked and untracked, "
                         "not ignored files), less 2 MiB, at most 40")
    ap.add_argument("--region", type=int, default=384, help="training region side (multiple of 32)")
    ap.add_argument("--min-region", type=int, default=256)
    ap.add_argument("--qstep", type=int, default=3, help="flat JPEG quantisation step (1..255)")
    ap.add_argument("--val-crop", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--restore-weights",
                    help="a list of the training photos in which a photo listed k times is drawn "
                         "k times as often for the restorer's pairs (default, with the default "
                         "lists: data/photos/train_native2x.txt when it exists; 'none': all 1)")
    args = ap.parse_args()
    if args.max_mib == "auto":
        tree = travelling_tree_mib()
        args.max_mib = min(40.0, TRAVEL_LIMIT_MIB - 2.0 - tree)
        print("%s: the working tree that travels is %.1f MiB: the pack gets at most %.1f MiB"
              % (PROG, tree, args.max_mib), file=sys.stderr)
        if args.max_mib < 4:
            fail("the working tree (%.1f MiB) leaves no room for a pack within the GPU "
                 "machine's %d MiB; slim it (lucid-train shelve) or pass --max-mib"
                 % (tree, TRAVEL_LIMIT_MIB))
    else:
        try:
            args.max_mib = float(args.max_mib)
        except ValueError:
            fail("--max-mib: expected a number or auto, not '%s'" % args.max_mib)

    if bool(args.train_list) != bool(args.val_list):
        fail("--train-list and --val-list go together")
    if args.train_list:
        train, val = read_list(args.train_list), read_list(args.val_list)
        origin = "lists %s, %s" % (args.train_list, args.val_list)
    elif os.path.isfile(os.path.join(ROOT, "data/photos/train.txt")) and os.path.isfile(
            os.path.join(ROOT, "data/photos/val_shared.txt")):
        train = read_list(os.path.join(ROOT, "data/photos/train.txt"))
        val = read_list(os.path.join(ROOT, "data/photos/val_shared.txt"))
        origin = "data/photos (build_dataset.sh)"
    elif os.path.isfile(os.path.join(args.shared, "splits", "train.txt")):
        train = read_list(os.path.join(args.shared, "splits", "train.txt"), args.shared)
        val = read_list(os.path.join(args.shared, "splits", "val.txt"), args.shared)
        origin = "shared set %s" % os.path.abspath(args.shared)
    else:
        fail("no photos: neither --train-list/--val-list, data/photos/train.txt "
             "(data_scripts/build_dataset.sh) nor the shared set at '%s' (pass --shared DIR)"
             % args.shared)
    if not train or not val:
        fail("empty training or validation list (%s)" % origin)
    weights_list = args.restore_weights
    if weights_list is None and origin == "data/photos (build_dataset.sh)":
        w = os.path.join(ROOT, "data/photos/train_native2x.txt")
        weights_list = w if os.path.isfile(w) else None
    weight = {}
    if weights_list and weights_list != "none":
        for p in read_list(weights_list):
            weight[os.path.realpath(p)] = weight.get(os.path.realpath(p), 0) + 1
        unknown = set(weight) - {os.path.realpath(p) for p in train}
        if unknown:
            fail("%s names %d photo(s) not in the training list, e.g. %s"
                 % (weights_list, len(unknown), sorted(unknown)[0]))
    for p in train + val:
        if not os.path.isfile(p):
            fail("missing photo %s (%s)" % (p, origin))
    t0 = time.time()
    print("%s: %d training, %d validation photos from %s" % (PROG, len(train), len(val), origin),
          file=sys.stderr)

    # Validation: exact centre crops, and the fingerprint of the photos lucid-train would use.
    val_entries, val_blobs, val_full = [], [], []
    for i, p in enumerate(val):
        a = load_rgb(p)
        H, W = a.shape[:2]
        if min(H, W) < args.val_crop:
            print("note: %s: %dx%d, smaller than the validation crop; left out (as lucid-train "
                  "does)" % (p, W, H), file=sys.stderr)
            continue
        val_full.append(a)
        y, x = (H - args.val_crop) // 2, (W - args.val_crop) // 2
        blob = encode_png(np.ascontiguousarray(a[y:y + args.val_crop, x:x + args.val_crop]))
        name = "val/%04d.png" % i
        val_blobs.append((name, blob))
        val_entries.append({"file": name, "source": os.path.relpath(p, ROOT), "sha256": sha256_file(p),
                            "size": [W, H], "crop": [x, y, args.val_crop, args.val_crop]})
    val_fp = fnv1a_chw(val_full)

    photos = [load_rgb(p) for p in train]
    region = args.region
    while True:
        entries, blobs = [], []
        for i, (p, a) in enumerate(zip(train, photos)):
            H, W = a.shape[:2]
            h, w = min(region, H), min(region, W)
            rng = random.Random(args.seed * 1000003 + i)
            y, x = rng.randrange(H - h + 1), rng.randrange(W - w + 1)
            blob = encode_jpeg(np.ascontiguousarray(a[y:y + h, x:x + w]), args.qstep)
            name = "train/%04d.jpg" % i
            blobs.append((name, blob))
            entries.append({"file": name, "source": os.path.relpath(p, ROOT), "size": [W, H],
                            "crop": [x, y, w, h],
                            "restore_weight": weight.get(os.path.realpath(p), 0 if weight else 1)})
        manifest_guess = 400 * (len(entries) + len(val_entries)) + 4096
        total = tar_size([len(b) for _, b in blobs + val_blobs] + [manifest_guess])
        print("%s: region %d: %.2f MiB (train %.2f, val %.2f)" % (
            PROG, region, total / 2**20, sum(len(b) for _, b in blobs) / 2**20,
            sum(len(b) for _, b in val_blobs) / 2**20), file=sys.stderr)
        if total <= args.max_mib * 2**20:
            break
        region -= 32
        if region < args.min_region:
            fail("the pack does not fit in %.1f MiB even with %d regions; raise --max-mib or "
                 "--qstep" % (args.max_mib, args.min_region))
    for e, p in zip(entries, train):
        e["sha256"] = sha256_file(p)

    members = blobs + val_blobs
    ident = hashlib.sha256()
    for name, b in members:
        ident.update(name.encode() + b"\0" + hashlib.sha256(b).digest())
    manifest = {
        "format": "lucid-pack 1",
        "id": ident.hexdigest()[:16],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "origin": origin,
        "recipe": {"region": region, "qstep": args.qstep, "jpeg": "Pillow, 4:4:4, flat "
                   "quantisation table, optimized Huffman", "seed": args.seed,
                   "restore_weights": os.path.relpath(weights_list, ROOT)
                   if weights_list and weights_list != "none" else "none",
                   "val_crop": args.val_crop, "val": "PNG (lossless) centre crops"},
        "val_fingerprint": val_fp,
        "train": entries,
        "val": val_entries,
        "sha256": {name: hashlib.sha256(b).hexdigest() for name, b in members},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        add("manifest.json", json.dumps(manifest, indent=1).encode())
        for name, b in members:
            add(name, b)
    size = os.path.getsize(tmp)
    if size > args.max_mib * 2**20:
        os.remove(tmp)
        fail("the pack came out at %.2f MiB, over --max-mib %.1f" % (size / 2**20, args.max_mib))
    os.replace(tmp, args.out)
    print("%s: wrote %s (%.2f MiB, id %s): %d training regions of up to %d px, %d validation "
          "crops (fingerprint %s), %.0f s" % (PROG, args.out, size / 2**20, manifest["id"],
                                               len(entries), region, len(val_entries), val_fp,
                                               time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
