#!/usr/bin/python3
"""Turns one source photograph into a training PNG, deterministically.

    downscale.py downscale SRC.jpg DST.png   JPEG original -> short side 512
    downscale.py copy SRC.png DST.png        lossless 8-bit RGB PNG kept byte for byte
    downscale.py --recipe                    prints what the output bytes depend on

downscale (the recipe of ../shared/data/SOURCES.md): apply the EXIF orientation, box-reduce by the
integer k = floor(f / 2) where f = short side / 512 (f >= 2 required), then Lanczos to short side
512 (long side rounded half up from the oriented original). An RGB ICC profile is kept as iCCP,
as in the shared set; nothing else (no EXIF, dpi or time chunk) is written, so equal inputs give
equal bytes under the same Pillow and zlib (see --recipe).

DST is written only when its bytes would change (through a temporary file and a rename).
Prints one tab-separated line: status (written|unchanged), source WxH, output WxH,
source sha256, output sha256. Errors: "error: downscale.py: what: why" on stderr, exit 1.
Run it with Debian's /usr/bin/python3 and python3-pil.
"""
import hashlib
import io
import os
import sys
import tempfile

from PIL import Image, ImageOps, features

SHORT_SIDE = 512
PNG_COMPRESS_LEVEL = 9


class Failure(Exception):
    pass


def recipe():
    with open(os.path.abspath(__file__), "rb") as f:
        own = hashlib.sha256(f.read()).hexdigest()[:16]
    return "downscale.py:%s Pillow:%s zlib:%s" % (
        own, Image.__version__, features.version("zlib"))


def png_ihdr(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise Failure("not a PNG file")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    return width, height, data[24], data[25]  # bit depth, colour type


def encode_png(im, icc):
    if icc is not None and icc[16:20] != b"RGB ":
        icc = None  # e.g. a grey profile of a greyscale JPEG does not describe RGB output
    clean = Image.new("RGB", im.size)
    clean.paste(im)  # a fresh image: no info (EXIF, dpi, ...) carried over from the source
    out = io.BytesIO()
    options = {"compress_level": PNG_COMPRESS_LEVEL}
    if icc:
        options["icc_profile"] = icc
    clean.save(out, "PNG", **options)
    return out.getvalue()


def downscale(data, src):
    im = Image.open(src)
    if im.format != "JPEG":
        raise Failure("downscale expects a JPEG original, found %s" % im.format)
    icc = im.info.get("icc_profile")
    im = ImageOps.exif_transpose(im)
    if im.mode not in ("RGB", "L"):
        raise Failure("unsupported JPEG mode %s" % im.mode)
    im = im.convert("RGB")
    w, h = im.size
    short, long_ = min(w, h), max(w, h)
    k = short // (2 * SHORT_SIDE)  # floor(f / 2), f = short / 512
    if k < 1:
        raise Failure("short side %d < %d: factor f < 2" % (short, 2 * SHORT_SIDE))
    new_long = (2 * long_ * SHORT_SIDE + short) // (2 * short)  # round half up
    size = (new_long, SHORT_SIDE) if w >= h else (SHORT_SIDE, new_long)
    reduced = im.reduce(k)  # box average over k x k blocks (partial blocks at the edges)
    # The box maps the original extent exactly, also where w or h is not a multiple of k.
    out = reduced.resize(size, Image.Resampling.LANCZOS, box=(0, 0, w / k, h / k))
    return (w, h), size, encode_png(out, icc)


def copy(data, src):
    width, height, depth, colour = png_ihdr(data)
    with Image.open(src) as im:
        im.load()  # decodes fully: a truncated or corrupt file fails here
        if depth == 8 and colour == 2:
            return (width, height), (width, height), data
        if depth == 8 and colour in (0, 3) and "transparency" not in im.info:
            # grey or palette: expanding to RGB keeps every pixel value
            return (width, height), (width, height), encode_png(
                im.convert("RGB"), im.info.get("icc_profile"))
    raise Failure("copy expects an 8-bit RGB, grey or palette PNG without alpha "
                  "(bit depth %d, colour type %d)" % (depth, colour))


def write_if_changed(dst, data):
    try:
        with open(dst, "rb") as f:
            if f.read() == data:
                return "unchanged"
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=os.path.dirname(dst) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        os.unlink(tmp)
        raise
    return "written"


def main(argv):
    if argv[1:] == ["--recipe"]:
        print(recipe())
        return 0
    if len(argv) != 4 or argv[1] not in ("downscale", "copy"):
        sys.stderr.write("usage: downscale.py downscale|copy SRC DST | --recipe\n")
        return 2
    mode, src, dst = argv[1:]
    try:
        with open(src, "rb") as f:
            data = f.read()
        src_size, size, png = (downscale if mode == "downscale" else copy)(data, src)
        status = write_if_changed(dst, png)
    except (Failure, OSError, ValueError, Image.DecompressionBombError) as e:
        sys.stderr.write("error: downscale.py: %s: %s\n" % (src, e))
        return 1
    print("\t".join([status, "%dx%d" % src_size, "%dx%d" % size,
                     hashlib.sha256(data).hexdigest(), hashlib.sha256(png).hexdigest()]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
