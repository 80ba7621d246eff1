#!/usr/bin/env bash
# The whole test suite: release build, ASan+UBSan build, brief fuzzing.
# Ends with one line "tests: N passed, N failed, N skipped" over all runs.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh || exit 1
JOBS=$(nproc)
export LQMF_DATA="${LQMF_DATA:-$(cd .. && pwd)/shared/data}"
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT

make -s -j"$JOBS" all || { echo "tests: 0 passed, 1 failed"; exit 1; }
make -s -j"$JOBS" asan || { echo "tests: 0 passed, 1 failed"; exit 1; }

total_p=0 total_f=0 total_s=0
run_suite() { # label command...
    local label=$1; shift
    echo "== $label"
    LQMF_TEST_LABEL="$label" "$@" | tee "$LOG/$label.out"
    local rc=${PIPESTATUS[0]}
    local line p f s
    line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$LOG/$label.out" | tail -1)
    if [ -z "$line" ]; then
        echo "$label: no summary (exit $rc)"; total_f=$((total_f + 1)); return
    fi
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    s=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line"); s=${s:-0}
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
}

run_suite release ./build/release/lqmf-tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite asan ./build/asan/lqmf-tests

# NEON: the kernel, quantizer and engine tests cross-built for AArch64
# (with and without the dotprod extension) and run under qemu-user;
# skipped without the tools.
if [ "$(uname -m)" = aarch64 ] || { command -v aarch64-linux-gnu-gcc && command -v qemu-aarch64; } >/dev/null; then
    if make -s -j"$JOBS" build/neon/lqmf-tests-armv8.2-a+dotprod build/neon/lqmf-tests-armv8-a; then
        run_suite neon-dotprod make -s neon-test NEON_MARCHES=armv8.2-a+dotprod
        run_suite neon-plain make -s neon-test NEON_MARCHES=armv8-a
    else
        echo "neon: build failed"; total_f=$((total_f + 1))
    fi
else
    echo "neon: SKIPPED (no aarch64-linux-gnu-gcc or qemu-aarch64: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
    total_s=$((total_s + 1))
fi

# Fuzz targets: each runs briefly over its seed corpus plus random inputs.
if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    if make -s -j"$JOBS" fuzz; then
        for bin in build/fuzz/bin/fuzz_*; do
            name=$(basename "$bin")
            corpus="tests/fuzz/corpus/${name#fuzz_}"
            work="$LOG/corpus-$name"; mkdir -p "$work"
            [ -d "$corpus" ] && cp -r "$corpus/." "$work/"
            if "$bin" -max_total_time="${LQMF_FUZZ_SECONDS:-10}" -max_len=65536 \
                   -rss_limit_mb=2048 "$work" >"$LOG/$name.log" 2>&1; then
                echo "fuzz $name: ok ($(grep -Eo 'Done [0-9]+ runs' "$LOG/$name.log" | grep -Eo '[0-9]+') runs)"
                total_p=$((total_p + 1))
            else
                echo "fuzz $name: FAILED"; tail -40 "$LOG/$name.log"
                total_f=$((total_f + 1))
            fi
        done
    else
        echo "fuzz: build failed"; total_f=$((total_f + 1))
    fi
fi

echo "tests: $total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
