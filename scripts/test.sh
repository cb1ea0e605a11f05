#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs packages, builds, runs ctest.
# Usage: scripts/test.sh            (Release build in build/)
#        VFR_SANITIZE=1 scripts/test.sh   (ASan+UBSan build in build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ "${VFR_SANITIZE:-0}" = 1 ]; then
  dir=build-asan; flags=(-DVFR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
else
  dir=build; flags=(-DCMAKE_BUILD_TYPE=Release)
fi
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure -j"$(nproc)" "$@"
