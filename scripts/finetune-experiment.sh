#!/usr/bin/env bash
# The paper's fine-tuning experiment on the bundled default: tune the bundled CIFAR-10 model
# (models/clip-vit-tiny-patch4-cifar10) for robustness to jpeg on the shipped fine-tuning images
# (data/cifar10-tune/train: 500 per class), then study the original and the tuned model alike
# (eval + linear-probe downstream under the nine default ops, 10 levels, on the shipped 1,000
# test images; the probe learns from the demo's 100 training images per class) and compare
# them: mean DR per op (does robustness to jpeg transfer to the other ops?), the probe's clean
# accuracy and its accuracy under jpeg. Writes out/finetune-jpeg/:
#   tuned/          the tuned Hugging Face folder, finetune.json (loss per step, DR before/after)
#   original/, tuned-study/   the two studies (report.html each; tuned-study's has the
#                   fine-tuning section)
#   compare/        vfrobust compare of the two (report.html, table.md, compare.json)
#   table.md        the table README.md shows (printed too)
# and exits 1 when a target is missed (jpeg DR down >= 30%, probe accuracy under jpeg up, clean
# accuracy within 1 point).
#   CIFAR10=DIR   ImageFolder root with train/ and test/ for the studies (default
#                 data/cifar10-demo); also the tuning images unless TUNE is set
#   TUNE=DIR      the tuning images (default data/cifar10-tune/train, or $CIFAR10/train)
#   TUNE_PER_CLASS=N   at most N tuning images per class (default 500)
#   PER_CLASS=N   test (and probe-training) images per class of the studies (default 100)
#   EPOCHS, LAMBDA, LR, TRAIN_BLOCKS   fine-tuning settings (default 4, 1, finetune's
#                 default lr, everything)
#   BOTH_VIEWS=0|1  the stay-close term on both views, --l2-both-views (default 1)
#   OUT=DIR       output folder (default out/finetune-jpeg)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${NO_BUILD:-}" ]; then
  bash scripts/install-deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)"
fi
if [ -n "${CIFAR10:-}" ]; then TUNE=${TUNE:-$CIFAR10/train}; fi
CIFAR10=${CIFAR10:-data/cifar10-demo}
TUNE=${TUNE:-data/cifar10-tune/train}
TUNE_PER_CLASS=${TUNE_PER_CLASS:-500}
PER_CLASS=${PER_CLASS:-100}
EPOCHS=${EPOCHS:-4}
LAMBDA=${LAMBDA:-1}
BOTH_VIEWS=${BOTH_VIEWS:-1}
MODEL=models/clip-vit-tiny-patch4-cifar10
OUT=${OUT:-out/finetune-jpeg}
THREADS=${THREADS:-$(nproc)}
for split in train test; do
  [ -d "$CIFAR10/$split" ] || { echo "finetune-experiment.sh: $CIFAR10/$split: not found" >&2; exit 1; }
done
[ -d "$TUNE" ] || { echo "finetune-experiment.sh: $TUNE: not found" >&2; exit 1; }
mkdir -p "$OUT"
extra=() # finetune options set by the variables above
[ -n "${LR:-}" ] && extra=(--lr "$LR")
[ -n "${TRAIN_BLOCKS:-}" ] && extra+=(--train-blocks "$TRAIN_BLOCKS")
[ "$BOTH_VIEWS" = 1 ] && extra+=(--l2-both-views)
build/vfrobust finetune --model "$MODEL" --data "$TUNE" --per-class "$TUNE_PER_CLASS" --ops jpeg --epochs "$EPOCHS" \
  --lambda "$LAMBDA" "${extra[@]}" --eval-data "$CIFAR10/test" --eval-ops editing9 --eval-limit 100 \
  --threads "$THREADS" --quiet --out "$OUT/tuned"
study() { # MODEL OUT
  build/vfrobust downstream --model "$1" --train "$CIFAR10/train" --test "$CIFAR10/test" \
    --per-class "$PER_CLASS" --protocol linear --ops editing9 --levels 10 --seed 0 \
    --threads "$THREADS" --out "$2"
}
study "$MODEL" "$OUT/original"
study "$OUT/tuned" "$OUT/tuned-study"
build/vfrobust compare "$OUT/original" "$OUT/tuned-study" --out "$OUT/compare" >/dev/null
/usr/bin/python3 scripts/finetune_table.py "$OUT" | tee "$OUT/table.md"
