#!/usr/bin/env bash
# Reproduces the bundled model models/clip-vit-tiny-patch4-cifar10 from its recipe
# (models/recipes/clip-vit-tiny-patch4): 14 epochs of supervised training from a seeded random
# initialisation on the 50,000 CIFAR-10 training images, scored on the 10,000 test images.
# About 1.5 to 2 hours on 2 cores. Interrupted, it resumes where its last checkpoint left off
# (every 100 steps) when run again with the same WORK folder.
#   CIFAR10=DIR  CIFAR-10 ImageFolder root (default ../shared/data/cifar10)
#   WORK=DIR     training folder with checkpoints (default out/train-default-model)
set -euo pipefail
cd "$(dirname "$0")/.."
CIFAR10=${CIFAR10:-../shared/data/cifar10}
WORK=${WORK:-out/train-default-model}
DEST=models/clip-vit-tiny-patch4-cifar10
mkdir -p "$(dirname "$WORK")"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
resume=()
[ -f "$WORK/checkpoint.bin" ] && resume=(--resume)
build/vfrobust train --model models/recipes/clip-vit-tiny-patch4 \
  --data "$CIFAR10/train" --test "$CIFAR10/test" \
  --epochs 14 --batch 128 --lr 1e-3 --lr-min 1e-5 --wd 0.05 --warmup 200 \
  --label-smoothing 0.1 --pad 4 --seed 0 --threads 2 --checkpoint-every 100 \
  --progress-every 20 --out "$WORK" "${resume[@]}"
mkdir -p "$DEST"
cp "$WORK"/{model.safetensors,config.json,preprocessor_config.json,train.json} "$DEST"/
build/vfrobust classify --model "$DEST" --data "$CIFAR10/test"
