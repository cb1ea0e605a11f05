#!/usr/bin/env bash
# Installs every Debian package that building vfrobust and running its tests need.
# Idempotent: safe to run again. Needs root (CI runs as root).
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # image codecs
  libjpeg62-turbo-dev libpng-dev libwebp-dev zlib1g-dev
  # maths and config
  libopenblas-dev libopenblas0-pthread libjansson-dev
  # the matrix-product engine (oneDNN)
  libdnnl-dev
  # distributed runs (optional at build time)
  libopenmpi-dev openmpi-bin
  # independent references for the tests
  python3 python3-pil python3-numpy python3-scipy python3-sklearn python3-torch python3-regex
  # the ImageNet-C references: scikit-image (noise, HSV), OpenCV (blur and weather filters)
  python3-skimage python3-opencv
  # the report test renders report.html headless
  chromium
  # the Python package: an offline `pip install ./python` into a virtual environment
  python3-pip python3-venv python3-setuptools python3-wheel
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
