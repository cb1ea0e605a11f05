#!/usr/bin/env bash
# The main job on the bundled default: the full study (eval + downstream, linear probe) of the
# bundled CIFAR-10 model models/clip-vit-tiny-patch4-cifar10 on a class-balanced sample of the
# CIFAR-10 test images under the nine default ops (editing9) at 10 levels each. Writes
# out/demo/ (per_image.csv, curves.csv, summary.json, downstream.json, predictions.csv,
# embeddings/, report.html, figures/) and prints the per-op table of README.md; then the depth
# task on the bundled synthetic scenes data/depth-demo into out/demo-depth/.
#   CIFAR10=DIR   a CIFAR-10 ImageFolder root with train/ and test/ (default data/cifar10-demo,
#                 the 100 train and 100 test images per class shipped with the repository;
#                 the full set, e.g. ../shared/data/cifar10, also gives the head's accuracy on
#                 all 10,000 test images)
#   PER_CLASS=N   test (and probe-training) images per class (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
CIFAR10=${CIFAR10:-data/cifar10-demo}
PER_CLASS=${PER_CLASS:-50}
MODEL=models/clip-vit-tiny-patch4-cifar10
OUT=out/demo
for split in train test; do
  [ -d "$CIFAR10/$split" ] || { echo "demo.sh: $CIFAR10/$split: not found (CIFAR10=DIR names an ImageFolder root with train/ and test/)" >&2; exit 1; }
done
mkdir -p out
build/vfrobust model-info "$MODEL"
build/vfrobust classify --model "$MODEL" --data "$CIFAR10/test" --limit 0 --threads "$(nproc)" \
  | sed "s|^|clean test accuracy of the head on every image of $CIFAR10/test: |"
build/vfrobust downstream --model "$MODEL" --train "$CIFAR10/train" --test "$CIFAR10/test" \
  --per-class "$PER_CLASS" --protocol linear --ops editing9 --levels 10 --seed 0 --out "$OUT"
build/vfrobust report --markdown "$OUT" | tee "$OUT/table.md"
echo "wrote $OUT/report.html and $OUT/table.md"
# The depth task on the bundled synthetic RGB-D scenes (docs/depth.md).
build/vfrobust downstream --protocol depth --model "$MODEL" --train data/depth-demo/train \
  --test data/depth-demo/test --ops gaussian_blur,rescale,jpeg,brightness --levels 5 --seed 0 --out out/demo-depth
echo "wrote out/demo-depth/report.html and depth.json"
