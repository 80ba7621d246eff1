#!/usr/bin/env bash
# The main job on the bundled default model: installs what is missing,
# builds, then runs lqmf on the stories260K model from the shared data.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
make -s -j"$(nproc)" all
export LQMF_DATA="${LQMF_DATA:-$(cd .. && pwd)/shared/data}"
MODEL="$LQMF_DATA/models/stories260K/stories260K.bin"
[ -f "$MODEL" ] || { echo "demo: $MODEL not found (set LQMF_DATA)" >&2; exit 1; }
exec ./build/release/lqmf inspect "$MODEL"
