#!/usr/bin/env python3
"""Expands a travelling pack (make_pack.py) into the raw files lucid-train reads.

    expand_pack.py PACK.tar --out DIR [--pairs N] [--jobs N] [options]

Writes (format: apps/train/pack.h; uint8 planar RGB records after a small header):
  DIR/codec_train.raw    images: the decoded training regions      (codec --train-pack)
  DIR/codec_val.raw      images: the validation centre crops       (codec --val-pack)
  DIR/restore_train.raw  N JPEG pairs drawn as lucid-train restore's make_pair draws them
                         (restore --train-pack)
  DIR/restore_val.raw    the centre --restore-val-crop crops at QF 10, 20, 30, 40
                         (restore --val-pack)

The pairs: a random --crop+8 region of a random training region, mirrored with probability 1/2;
then with probability --double-prob a double compression (first QF, crop shifted by 0..7 on
both axes, second QF), else with --shift-prob a single compression cropped off the 8x8 grid
(1..7 rows, 0..7 columns), else a single compression of the crop itself. QFs: with probability
--low-qf-prob uniform in 5..50, with --high-qf-prob in 75..95, else 5..95. JPEG: Pillow (which
is libjpeg-turbo, as lucid::jpeg): IJG tables at the QF (baseline), 4:2:0, optimized Huffman,
decoded with the default (accurate) IDCT and fancy upsampling. `lucid-train check-pack` re-makes
the single-compression pairs with the trainer's own libjpeg-turbo and compares.

Pairs are drawn in chunks of 1000, chunk k from the seed (seed, k): the output does not depend
on --jobs. Needs numpy and Pillow.
"""
import argparse
import io
import json
import hashlib
import multiprocessing
import os
import struct
import sys
import tarfile
import time

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    sys.exit("error: expand_pack.py: needs numpy and Pillow (%s)" % e)

PROG = "expand_pack.py"
VAL_QFS = (10, 20, 30, 40)
CHUNK = 1000
_PHOTOS = []  # training regions (HWC uint8), shared with the workers by fork
_OPT = None


def fail(msg):
    sys.exit("error: %s: %s" % (PROG, msg))


def chw(a):
    return np.ascontiguousarray(a.transpose(2, 0, 1)).tobytes()


def header(kind, count, info):
    text = "".join("%s=%s\n" % kv for kv in info.items()).encode()
    return b"LUCIDRAW" + struct.pack("<IIII", 1, kind, count, len(text)) + text


def record(clean, jpeg=None, qf=0, mode=0):
    h, w = clean.shape[:2]
    out = struct.pack("<IIII", h, w, qf, mode) + chw(clean)
    if jpeg is not None:
        out += chw(jpeg)
    return out


def round_trip(a, qf, gray=False):
    buf = io.BytesIO()
    if gray:  # one luma component, as cjpeg -grayscale (the region is already R = G = B)
        Image.fromarray(np.ascontiguousarray(a[..., 0])).save(buf, "JPEG", quality=int(qf),
                                                              optimize=True)
    else:
        Image.fromarray(np.ascontiguousarray(a)).save(buf, "JPEG", quality=int(qf),
                                                       subsampling=2, optimize=True)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return np.asarray(im.convert("RGB"))


def draw_qf(rng, o):
    r = rng.random()
    hi = 50 if r < o.low_qf_prob else 95
    lo = 75 if o.low_qf_prob <= r < o.low_qf_prob + o.high_qf_prob else 5
    return lo + int(rng.integers(hi - lo + 1))


def make_pair(rng, o):
    S, R = o.crop, o.crop + 8
    p = _PHOTOS[int(rng.integers(len(_PHOTOS)))]
    H, W = p.shape[:2]
    y, x = int(rng.integers(H - R + 1)), int(rng.integers(W - R + 1))
    region = p[y:y + R, x:x + R]
    if rng.integers(2):
        region = region[:, ::-1]
    region = np.ascontiguousarray(region)
    if rng.random() < o.grain_prob:  # as add_grain in apps/train/train_restore.cpp
        us, uc, corr = rng.random(), rng.random(), rng.random() < 0.5
        n = rng.standard_normal(region.shape[:2]) * (0.5 + 4.5 * us)
        if corr:
            n = (n + np.roll(n, 1, 0) + np.roll(n, 1, 1) + np.roll(n, (1, 1), (0, 1))) / 2
        g = region.astype(np.float64) + n[..., None] + rng.standard_normal(region.shape) * (1.5 * uc)
        region = np.clip(np.round(g), 0, 255).astype(np.uint8)
    gray = o.gray_prob > 0 and rng.random() < o.gray_prob  # as make_pair: no draw when off
    if gray:
        lum = region.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        region = np.repeat(np.clip(np.round(lum), 0, 255).astype(np.uint8)[..., None], 3, axis=2)

    def rt(a, q):
        return round_trip(a, q, gray)
    mode = rng.random()
    qf = draw_qf(rng, o)
    if mode < o.double_prob:
        q1 = draw_qf(rng, o)
        dy, dx = int(rng.integers(8)), int(rng.integers(8))
        first = rt(region, q1)[dy:dy + S, dx:dx + S]
        return region[dy:dy + S, dx:dx + S], rt(first, qf), qf, 2
    if mode < o.double_prob + o.shift_prob:
        dy, dx = 1 + int(rng.integers(7)), int(rng.integers(8))
        return region[dy:dy + S, dx:dx + S], rt(region, qf)[dy:dy + S, dx:dx + S], qf, 1
    c = region[:S, :S]
    return c, rt(c, qf), qf, 0


def make_chunk(k):
    n = min(CHUNK, _OPT.pairs - k * CHUNK)
    rng = np.random.default_rng([_OPT.seed, k])
    return b"".join(record(*make_pair(rng, _OPT)) for _ in range(n))


def main():
    global _PHOTOS, _OPT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pack")
    ap.add_argument("--out", required=True)
    ap.add_argument("--pairs", type=int, default=100000, help="restorer training pairs")
    ap.add_argument("--crop", type=int, default=96, help="restorer training crop (lucid-train --crop)")
    ap.add_argument("--restore-val-crop", type=int, default=192)
    ap.add_argument("--low-qf-prob", type=float, default=0.3)
    ap.add_argument("--high-qf-prob", type=float, default=0.0)
    ap.add_argument("--double-prob", type=float, default=0.2)
    ap.add_argument("--shift-prob", type=float, default=0.15)
    ap.add_argument("--grain-prob", type=float, default=0.3)
    ap.add_argument("--gray-prob", type=float, default=0.0,
                    help="share of grayscale JPEG pairs (lucid-train restore --gray-prob)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", choices=["all", "codec", "restore"], default="all")
    o = ap.parse_args()
    _OPT = o
    t0 = time.time()
    if not os.path.isfile(o.pack):
        fail("no pack at %s (build it with data_scripts/make_pack.py)" % o.pack)
    try:
        tar = tarfile.open(o.pack)
        manifest = json.load(tar.extractfile("manifest.json"))
    except (tarfile.TarError, KeyError, ValueError) as e:
        fail("%s: not a pack (%s)" % (o.pack, e))
    if manifest.get("format") != "lucid-pack 1":
        fail("%s: format %r, this script reads 'lucid-pack 1'" % (o.pack, manifest.get("format")))

    def image(name):
        data = tar.extractfile(name).read()
        if hashlib.sha256(data).hexdigest() != manifest["sha256"][name]:
            fail("%s: %s is damaged (checksum)" % (o.pack, name))
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))

    train = [image(e["file"]) for e in manifest["train"]]
    val = [image(e["file"]) for e in manifest["val"]]
    for e, a in zip(manifest["val"], val):
        if list(a.shape[1::-1]) != e["crop"][2:]:
            fail("%s: %s is not the crop the manifest names" % (o.pack, e["file"]))
    os.makedirs(o.out, exist_ok=True)
    pid = "pack-" + manifest["id"]
    val_fp = manifest["val_fingerprint"]

    def write(name, kind, info, records):
        path = os.path.join(o.out, name)
        with open(path + ".tmp", "wb") as f:
            f.write(header(kind, len(records), info))
            for r in records:
                f.write(r)
        os.replace(path + ".tmp", path)
        print("%s: %s: %d records, %.1f MB" % (PROG, path, len(records),
                                              os.path.getsize(path) / 1e6), file=sys.stderr)

    if o.only in ("all", "codec"):
        write("codec_train.raw", 1, {"id": pid}, [record(a) for a in train])
        write("codec_val.raw", 1, {"id": pid + "-val", "source": val_fp}, [record(a) for a in val])
    if o.only in ("all", "restore"):
        S = o.restore_val_crop
        recs = []
        for a in val:
            H, W = a.shape[:2]
            if min(H, W) < S:
                fail("validation crop %dx%d is smaller than --restore-val-crop %d" % (W, H, S))
            y, x = (H - S) // 2, (W - S) // 2
            c = np.ascontiguousarray(a[y:y + S, x:x + S])
            recs += [record(c, round_trip(c, q), q, 0) for q in VAL_QFS]
        write("restore_val.raw", 2, {"id": pid + "-val", "source": val_fp}, recs)

        # Each region as often as the pack's restore_weight says (make_pack.py: the
        # native-resolution photos twice, as train_native2x.txt has them; 1 in older packs).
        _PHOTOS = [a for e, a in zip(manifest["train"], train) if min(a.shape[:2]) >= o.crop + 8
                   for _ in range(int(e.get("restore_weight", 1)))]
        if not _PHOTOS:
            fail("no training region is %d px on both sides" % (o.crop + 8))
        info = {"id": "%s-pairs-s%d-n%d-c%d" % (pid, o.seed, o.pairs, o.crop), "crop": o.crop,
                "seed": o.seed, "low_qf_prob": o.low_qf_prob, "high_qf_prob": o.high_qf_prob,
                "double_prob": o.double_prob, "shift_prob": o.shift_prob,
                "grain_prob": o.grain_prob, "gray_prob": o.gray_prob}
        path = os.path.join(o.out, "restore_train.raw")
        chunks = range((o.pairs + CHUNK - 1) // CHUNK)
        with open(path + ".tmp", "wb") as f:
            f.write(header(2, o.pairs, info))
            if o.jobs > 1:
                with multiprocessing.get_context("fork").Pool(o.jobs) as pool:
                    for b in pool.imap(make_chunk, chunks):
                        f.write(b)
            else:
                for k in chunks:
                    f.write(make_chunk(k))
        os.replace(path + ".tmp", path)
        print("%s: %s: %d pairs of %d px, %.1f MB" % (PROG, path, o.pairs, o.crop,
                                                      os.path.getsize(path) / 1e6), file=sys.stderr)
    print("%s: done in %.0f s" % (PROG, time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
