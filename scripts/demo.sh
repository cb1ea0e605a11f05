#!/usr/bin/env bash
# The main job on the bundled default: a contact sheet of examples/sample.png under every
# op of the default study set (editing9) at five levels, written to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p out/demo
build/vfrobust ops
build/vfrobust perturb --sheet --levels 5 examples/sample.png out/demo/contact_sheet.png
echo "wrote out/demo/contact_sheet.png"
