#!/usr/bin/env python3
"""Builds the video restorer's training and validation pairs reproducibly.

  data_scripts/build_video_pairs.py --lucid-video build/apps/video/lucid-video
      [--shared ../shared/data] [--out data/video] [--photos 48] [--frames 60] [--quick]

Sources
  real clips   ../shared/data/video/clips, split by ../shared/data/splits/video_{train,val}.txt
  synthetic    camera motion over the training photographs (../shared/data/splits/train.txt):
               pans, zooms, small rotations, sub-pixel drift and fades made with FFmpeg's
               zoompan/rotate/fade filters, 48 clips of 32 frames at 384x256 by default
               (training only: validation stays real camera footage)
Encodings (each a deterministic function of the source name)
  train   libx265 constant QP, low-delay P (bframes=0) and random access (bframes=3), QP drawn
          from 22..51; libsvtav1 constant QP (-qp 20..63, i.e. qindex 80..255); some with a
          key frame every 16-32 frames
  val     every validation clip at HEVC QP 27, 32, 37, 42 (low-delay P) and AV1 -qp 35, 50
Per-frame QPs come from `lucid-video info --json`, exactly as `lucid-video restore` reads them.

Layout of OUT:
  clean/<source>.yuv               the clean frames, planar 8-bit 4:2:0
  seq/<source>__<variant>/seq.txt  key=value: source, width, height, frames, codec, qp_scale,
                                   encoder, setting, clean (path relative to OUT)
  seq/<source>__<variant>/decoded.yuv, qp.txt (one QP per frame)
  train.txt, val.txt               sequence folders (relative to OUT), one per line
  manifest.tsv                     split, sha256 of clean and decoded frames, sequence
Nothing is downloaded; only the shared data and Debian's FFmpeg encoders are used.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys


def fail(msg):
    print("error: build_video_pairs.py: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        fail("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr.decode(errors="replace")[-2000:]))
    return p.stdout


def ffmpeg(args):
    run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + args)


def probe_size(path):
    out = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
               "stream=width,height", "-of", "csv=p=0", path]).decode().strip().split(",")
    return int(out[0]), int(out[1])


def seeded(name):
    return random.Random(int(hashlib.sha256(name.encode()).hexdigest()[:16], 16))


def synth_motion(photo, out_path, rng, frames, w, h):
    """A clip of camera motion over one photograph (made by FFmpeg filters)."""
    kind = rng.choice(["pan", "zoom_in", "zoom_out", "rotate", "drift", "fade"])
    # Work on a 2x canvas so that pans and zooms have room and sub-pixel motion survives the
    # final downscale.
    W, H = 2 * w, 2 * h
    pre = "scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d" % (W * 3 // 2, H * 3 // 2, W * 3 // 2, H * 3 // 2)
    n = frames
    if kind in ("pan", "drift"):
        speed = rng.uniform(0.5, 3.0) if kind == "pan" else rng.uniform(0.1, 0.6)
        ang = rng.uniform(0, 6.283)
        import math
        dx, dy = speed * math.cos(ang), speed * math.sin(ang)
        x0, y0 = (W * 3 // 2 - W) / 2, (H * 3 // 2 - H) / 2
        vf = pre + (",crop=%d:%d:x='%f+%f*n':y='%f+%f*n'" % (W, H, x0, dx, y0, dy))
    elif kind in ("zoom_in", "zoom_out"):
        rate = rng.uniform(0.002, 0.008)
        z = "1+%f*on" % rate if kind == "zoom_in" else "max(1.0,1+%f*(%d-on))" % (rate, n)
        vf = pre + (",zoompan=z='%s':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=%dx%d:fps=25" % (z, W, H))
    elif kind == "rotate":
        rate = rng.uniform(0.002, 0.01) * rng.choice([-1, 1])
        vf = pre + (",rotate=a='%f*n':ow=%d:oh=%d" % (rate, W, H))
    else:  # fade in or out over a slow pan
        vf = pre + (",crop=%d:%d:x='%f+0.5*n':y='%f',fade=t=%s:st=0:d=%f" %
                    (W, H, (W * 3 // 2 - W) / 2, (H * 3 // 2 - H) / 2, rng.choice(["in", "out"]), n / 25.0))
    vf += ",scale=%d:%d:flags=area,format=yuv420p" % (w, h)
    ffmpeg(["-loop", "1", "-framerate", "25", "-i", photo] + ["-vf", vf, "-frames:v", str(n), "-f", "rawvideo", "-pix_fmt", "yuv420p", out_path])
    return kind


def encode(clean_yuv, w, h, fps, codec, setting, out_path):
    raw_in = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "%dx%d" % (w, h), "-framerate", str(fps), "-i", clean_yuv]
    if codec == "hevc":
        qp, bf, keyint = setting
        params = "qp=%d:bframes=%d:keyint=%d:min-keyint=%d:scenecut=0:log-level=error" % (qp, bf, keyint, keyint)
        ffmpeg(raw_in + ["-c:v", "libx265", "-preset", "fast", "-x265-params", params, out_path])
    else:
        qp, keyint = setting
        ffmpeg(raw_in + ["-c:v", "libsvtav1", "-qp", str(qp), "-preset", "8", "-g", str(keyint), out_path])


def decode_and_qps(lucid_video, enc_path, dec_path, frames):
    ffmpeg(["-i", enc_path, "-f", "rawvideo", "-pix_fmt", "yuv420p", dec_path])
    info = json.loads(run([lucid_video, "info", "--json", enc_path]).decode())
    fr = info["frames"] if "frames" in info else info["video"]["frames"]
    qps = [f["qp"] for f in fr]
    if len(qps) != frames or any(q is None for q in qps):
        fail("%s: expected %d frames with QPs, got %d" % (enc_path, frames, len(qps)))
    scale = info.get("video", info).get("qp_scale", "")
    return qps, scale


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(root, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(root, "data", "video"))
    ap.add_argument("--lucid-video", default=os.path.join(root, "build", "apps", "video", "lucid-video"))
    ap.add_argument("--photos", type=int, default=48, help="synthetic-motion clips from training photos")
    ap.add_argument("--frames", type=int, default=60, help="frames taken from each real clip (at most)")
    ap.add_argument("--val-frames", type=int, default=32, help="frames of each validation clip")
    ap.add_argument("--quick", action="store_true", help="2 train clips, 1 val clip, 2 photos (tests)")
    a = ap.parse_args()
    if not os.access(a.lucid_video, os.X_OK):
        fail("lucid-video not found at '%s' (build it, or pass --lucid-video)" % a.lucid_video)
    for enc in ("libx265", "libsvtav1"):
        if enc not in run(["ffmpeg", "-hide_banner", "-encoders"]).decode():
            fail("FFmpeg has no %s encoder (install_deps.sh installs it)" % enc)
    shared = os.path.abspath(a.shared)
    splits = {s: os.path.join(shared, "splits", "video_%s.txt" % s) for s in ("train", "val")}
    if not all(os.path.isfile(p) for p in splits.values()):
        fail("shared video set not found under '%s' (pass --shared DIR)" % shared)
    out = os.path.abspath(a.out)
    for d in ("clean", "seq"):
        os.makedirs(os.path.join(out, d), exist_ok=True)

    sources = []  # (split, name, clean_yuv, w, h, frames, fps)
    tmp = os.path.join(out, "tmp")
    os.makedirs(tmp, exist_ok=True)
    for split, listing in sorted(splits.items()):
        with open(listing) as f:
            clips = [l.strip() for l in f if l.strip()]
        if a.quick:
            clips = clips[:2 if split == "train" else 1]
        nmax = a.frames if split == "train" else a.val_frames
        for rel in clips:
            src = os.path.join(shared, rel)
            name = os.path.splitext(os.path.basename(rel))[0]
            w, h = probe_size(src)
            w, h = w // 2 * 2, h // 2 * 2
            clean = os.path.join(out, "clean", name + ".yuv")
            ffmpeg(["-i", src, "-vf", "crop=%d:%d:0:0,format=yuv420p" % (w, h), "-frames:v", str(nmax),
                    "-f", "rawvideo", "-pix_fmt", "yuv420p", clean])
            frames = os.path.getsize(clean) // (w * h * 3 // 2)
            sources.append((split, name, clean, w, h, frames, 25))
    photos_list = os.path.join(shared, "splits", "train.txt")
    nph = 2 if a.quick else a.photos
    if nph > 0 and os.path.isfile(photos_list):
        with open(photos_list) as f:
            photos = [l.strip() for l in f if l.strip()]
        rng = random.Random(7)
        rng.shuffle(photos)
        for i, rel in enumerate(photos[:nph]):
            name = "photo_%02d_%s" % (i, os.path.splitext(os.path.basename(rel))[0])
            clean = os.path.join(out, "clean", name + ".yuv")
            kind = synth_motion(os.path.join(shared, rel), clean, seeded(name), 32, 384, 256)
            frames = os.path.getsize(clean) // (384 * 256 * 3 // 2)
            if frames < 8:
                fail("%s: synthetic clip (%s) has only %d frames" % (rel, kind, frames))
            sources.append(("train", name, clean, 384, 256, frames, 25))

    lists = {"train": [], "val": []}
    manifest = ["split\tclean_sha256\tdecoded_sha256\tsequence"]
    for split, name, clean, w, h, frames, fps in sources:
        rng = seeded(name)
        variants = []
        if split == "val":
            variants = [("hevc", (q, 0, 1000)) for q in (27, 32, 37, 42)] + [("av1", (q, 1000)) for q in (35, 50)]
        else:
            n_real = 1 if name.startswith("photo_") else 2
            for _ in range(n_real):
                variants.append(("hevc", (rng.randint(22, 51), 0, rng.choice([1000, 1000, 16, 32]))))
            variants.append(("hevc", (rng.randint(22, 51), 3, rng.choice([1000, 32]))))
            variants.append(("av1", (rng.randint(20, 63), rng.choice([1000, 32]))))
        for codec, setting in variants:
            if codec == "hevc":
                tag = "hevc_qp%d_b%d_k%d" % setting
            else:
                tag = "av1_qp%d_k%d" % setting
            seq = os.path.join("seq", name + "__" + tag)
            sdir = os.path.join(out, seq)
            os.makedirs(sdir, exist_ok=True)
            enc = os.path.join(tmp, name + "__" + tag + (".mkv"))
            encode(clean, w, h, fps, codec, setting, enc)
            dec = os.path.join(sdir, "decoded.yuv")
            qps, scale = decode_and_qps(a.lucid_video, enc, dec, frames)
            os.remove(enc)
            with open(os.path.join(sdir, "qp.txt"), "w") as f:
                f.write("\n".join("%g" % q for q in qps) + "\n")
            with open(os.path.join(sdir, "seq.txt"), "w") as f:
                f.write("source=%s\nsplit=%s\nwidth=%d\nheight=%d\nframes=%d\ncodec=%s\nqp_scale=%s\n"
                        "setting=%s\nclean=%s\n" % (name, split, w, h, frames, codec, scale, tag,
                                                     os.path.relpath(clean, out)))
            lists[split].append(seq)
            manifest.append("%s\t%s\t%s\t%s" % (split, sha256(clean), sha256(dec), seq))
            print("%s %s: %d frames %dx%d, QP %s..%s" % (split, seq, frames, w, h, min(qps), max(qps)), file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    for split, seqs in lists.items():
        with open(os.path.join(out, split + ".txt"), "w") as f:
            f.write("\n".join(seqs) + "\n")
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    print("video pairs: %d train, %d val sequences in %s" % (len(lists["train"]), len(lists["val"]), out), file=sys.stderr)


if __name__ == "__main__":
    main()
