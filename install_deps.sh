#!/usr/bin/env bash
# Installs Lucid's build and run dependencies. Idempotent: what is already present is left alone.
#  - Debian 12 packages (compiler, CMake, libjpeg-turbo, libpng, FFmpeg, OpenCV, GoogleTest), and
#    the WebP, AVIF and JPEG XL command-line tools that `lucid bench` compares against.
#  - LibTorch 2.11 (CUDA 13 build) from PyPI's torch wheel, installed once into a venv outside
#    the source tree (LUCID_TORCH_VENV, default /opt/lucid/torch-2.11), so that every clone and
#    every CI run on this machine reuses it. CMake finds it there by itself.
# Needs root (or sudo) for the Debian packages and to write under /opt.
set -euo pipefail
torch_version="2.11.0"   # pinned to the GPU machine's PyTorch release
venv="${LUCID_TORCH_VENV:-/opt/lucid/torch-2.11}"
packages=(
  build-essential cmake ninja-build pkg-config ccache python3-venv
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libopencv-dev libgtest-dev
  ffmpeg nlohmann-json3-dev libcli11-dev
  slurm-wlm munge  # only for the slow Slurm array test (tests/video/slurm_array_test.sh)
  webp libavif-bin libjxl-tools
)
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "error: install_deps: need root (or sudo)" >&2; exit 1; }
  sudo=sudo
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} Debian packages present" >&2
else
  echo "install_deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

have_torch() {
  [ -x "$venv/bin/python" ] &&
    [ "$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)" \
      = "$torch_version" ]
}
if have_torch; then
  echo "install_deps: LibTorch $torch_version present in $venv" >&2
else
  echo "install_deps: installing torch==$torch_version from PyPI into $venv (once; ~4 GB)" >&2
  py=python3
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null && py=/usr/bin/python3
  $sudo mkdir -p "$(dirname "$venv")"
  $sudo "$py" -m venv "$venv"
  $sudo "$venv/bin/pip" install -q --disable-pip-version-check "torch==$torch_version" numpy pillow
  have_torch || { echo "error: install_deps: torch $torch_version did not install in $venv" >&2; exit 1; }
fi
