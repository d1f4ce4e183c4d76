#!/usr/bin/env bash
# Makes tests/data/sample-hevc-qp37.mkv, the bundled video sample: 2 s of camera motion (a slow
# pan and zoom) over the bundled photograph tests/data/sample.png, 320x240 at 24 fps, encoded
# with libx265 at constant QP 37, low-delay P (no B-frames), with a 440 Hz AAC audio track, so
# that `lucid-video restore` has picture, per-frame QPs and audio to carry through.
#   data_scripts/make_sample_clip.sh [OUT]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$root/tests/data/sample-hevc-qp37.mkv}"
ffmpeg -hide_banner -loglevel error -nostdin -y \
  -loop 1 -framerate 24 -i "$root/tests/data/sample.png" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2" \
  -filter_complex "[0:v]scale=640:640,zoompan=z='1.25+0.004*on':x='80+2*on':y='120+on':d=1:s=320x240:fps=24,format=yuv420p[v]" \
  -map "[v]" -map 1:a -frames:v 48 -c:v libx265 \
  -x265-params "qp=37:bframes=0:keyint=48:scenecut=0:log-level=error" \
  -c:a aac -b:a 32k -shortest "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)" >&2
