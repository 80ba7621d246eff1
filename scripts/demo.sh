#!/usr/bin/env bash
# The main job on the bundled default model: installs what is missing,
# builds, then runs the factory (plan, quantize, test, record, model card)
# on the tiny-llama model from the shared data, printing the summary and the
# test report. Without the data folder it fetches karpathy/tinyllamas
# stories260K from the Hugging Face Hub instead.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
make -s -j"$(nproc)" all
export LQMF_DATA="${LQMF_DATA:-$(cd .. && pwd)/shared/data}"
export LQMF_HOME="${LQMF_HOME:-$PWD/.lqmf}"
LQMF=./build/release/lqmf
SRC="$LQMF_DATA/models/tiny-llama"
if [ -f "$SRC/config.json" ]; then
    REQUEST="quantize $SRC to 4-bit GGUF for CPU"
else
    echo "demo: $SRC not found; using karpathy/tinyllamas stories260K from the Hub" >&2
    REQUEST="quantize stories260K to 4-bit GGUF for CPU"
fi
$LQMF do "$REQUEST --yes"
$LQMF list successful experiments
