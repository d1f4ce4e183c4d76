#!/usr/bin/env bash
# Installs Lucid's build and run dependencies from Debian 12 packages. Idempotent: packages
# already present are left alone and nothing is downloaded from anywhere but Debian's apt
# sources. Needs root (or sudo).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-openmp   # without OpenBLAS LibTorch uses the reference BLAS (~10x slower)
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libopencv-dev libgtest-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "error: install_deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install_deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
