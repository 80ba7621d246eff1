#!/usr/bin/env bash
# The main job on the bundled default model: installs what is missing,
# builds, then quantizes the tiny-llama model from the shared data to
# Q4_K_M GGUF, describes the result and generates from it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
make -s -j"$(nproc)" all
export LQMF_DATA="${LQMF_DATA:-$(cd .. && pwd)/shared/data}"
SRC="$LQMF_DATA/models/tiny-llama"
[ -f "$SRC/config.json" ] || { echo "demo: $SRC not found (set LQMF_DATA)" >&2; exit 1; }
OUT=quantized-models/tiny-llama_gguf_4bit
mkdir -p "$OUT"
LQMF=./build/release/lqmf
$LQMF quantize "$SRC" --type Q4_K_M -o "$OUT/tiny-llama-Q4_K_M.gguf"
$LQMF inspect "$OUT/tiny-llama-Q4_K_M.gguf" | sed -n '1,12p'
$LQMF run "$OUT/tiny-llama-Q4_K_M.gguf" -p "Once upon a time, there was a little" -n 32
