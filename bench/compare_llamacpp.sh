#!/usr/bin/env bash
# Compatibility, quality and speed against a llama.cpp build (not part of the tree).
#
#   LLAMA_CPP_DIR=/path/to/llama.cpp/build LQMF_DATA=/path/to/data bench/compare_llamacpp.sh
#
# LLAMA_CPP_DIR holds llama-simple, llama-tokenize, llama-quantize, llama-bench
# and llama-perplexity (directly or under bin/). PARTS picks what runs:
#   gen    for each model in MODELS and type in TYPES: quantize with lqmf,
#          generate N tokens greedily from that file with lqmf run and
#          llama-simple, compare the texts and the prompts' token ids (lqmf
#          tokenize --ids, llama-tokenize --ids); then quantize the lqmf F32
#          file with llama-quantize and compare both engines on that file too.
#   kl     on KL_MODEL: llama-perplexity --kl-divergence of the lqmf and the
#          llama-quantize file of each type against the F32 logits, on the
#          model's heldout.txt (KL_CHUNKS chunks of KL_CTX tokens): both files
#          evaluated by the same engine, so the figures compare quantizers.
#   speed  on BENCH_MODEL (an HF folder or GGUF; default the first model) at
#          each type in BENCH_TYPES: prompt (PP tokens, one batch) and decode
#          (TG tokens) speed of lqmf run and llama-bench on the same file at
#          each thread count in THREADS; best of REPS, the tools alternating.
# "same" means identical generated text; "prefix K/L" that the first K of L
# characters of the continuations agree. Kernels round differently, so
# quantized types may part after a near tie; F32/F16 should agree.
# Exits 0 without comparing anything when LLAMA_CPP_DIR is unset.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -z "${LLAMA_CPP_DIR:-}" ]; then
    echo "compare_llamacpp: skipped: LLAMA_CPP_DIR is not set (a llama.cpp build directory with" \
        "llama-simple, llama-tokenize, llama-quantize, llama-bench, llama-perplexity)"
    exit 0
fi
LQMF_DATA="${LQMF_DATA:-$(cd .. && pwd)/shared/data}"
LQMF="${LQMF:-./build/release/lqmf}"
PARTS="${PARTS:-gen kl speed}"
MODELS="${MODELS:-tiny-llama tiny-gpt2}"
TYPES="${TYPES:-F32 F16 Q8_0 Q6_K Q4_K_M Q4_0 Q2_K}"
N="${N:-32}"
KL_MODEL="${KL_MODEL:-${MODELS%% *}}" KL_CTX="${KL_CTX:-512}" KL_CHUNKS="${KL_CHUNKS:-20}"
BENCH_MODEL="${BENCH_MODEL:-$LQMF_DATA/models/${MODELS%% *}}"
BENCH_TYPES="${BENCH_TYPES:-F16 Q8_0 Q4_K_M Q4_0}"
THREADS="${THREADS:-1 2}" PP="${PP:-64}" TG="${TG:-32}" REPS="${REPS:-3}"
WORK="${WORK:-$(mktemp -d /tmp/lqmf-vs-llamacpp.XXXXXX)}"
PROMPTS=("Once upon a time" "The king said unto" "In the beginning")

tool() { # path of a llama.cpp program
    local p
    for p in "$LLAMA_CPP_DIR/bin/$1" "$LLAMA_CPP_DIR/$1"; do [ -x "$p" ] && { echo "$p"; return 0; }; done
    echo "compare_llamacpp: $1 not found in $LLAMA_CPP_DIR" >&2
    return 1
}
SIMPLE=$(tool llama-simple) && TOKENIZE=$(tool llama-tokenize) && QUANTIZE=$(tool llama-quantize) &&
    PERPLEXITY=$(tool llama-perplexity) && LBENCH=$(tool llama-bench) || exit 1
[ -x "$LQMF" ] || { echo "compare_llamacpp: $LQMF not built (make)" >&2; exit 1; }
mkdir -p "$WORK"
echo "work dir $WORK; llama.cpp $("$(dirname "$SIMPLE")/llama-cli" --version 2>&1 | grep -m1 '^version' ||
    echo "version unknown")"
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- files --------------------------------------------------------------------
# $WORK/MODEL-TYPE.gguf from lqmf, $WORK/MODEL-TYPE-llamacpp.gguf from
# llama-quantize run on the lqmf F32 file; made once, reused by every part.
ours_file() { # MODEL TYPE -> path, or nothing when lqmf failed
    local f="$WORK/$1-$2.gguf"
    [ -s "$f" ] || "$LQMF" quantize "$3" --type "$2" -o "$f" --no-test > "$f.log" 2>&1 || return 1
    echo "$f"
}
their_file() { # MODEL TYPE SOURCE -> path, or nothing when llama-quantize failed
    local f="$WORK/$1-$2-llamacpp.gguf" f32
    f32=$(ours_file "$1" F32 "$3") || return 1
    [ -s "$f" ] || "$QUANTIZE" "$f32" "$f" "$2" > "$f.log" 2>&1 || return 1
    echo "$f"
}
src_of() { # MODEL name or path -> source path
    case "$1" in */*) echo "$1" ;; *) echo "$LQMF_DATA/models/$1" ;; esac
}

# ---- gen: greedy text and token ids ------------------------------------------
ours_gen() { "$LQMF" run "$1" -p "$2" -n "$N" --temp 0 -t 1 2>/dev/null; }
their_gen() { "$SIMPLE" -m "$1" -n "$N" "$2" 2>/dev/null; }
continuation() { # TEXT PROMPT: drop a leading <s>, blanks and the echoed prompt
    local t="${1#<s>}"
    t="${t#"${t%%[![:space:]]*}"}"
    t="${t#"$2"}"
    printf '%s' "$t" | tr -s '[:space:]' ' ' | sed 's/^ //; s/ $//'
}
agreement() { # A B -> "same" or "prefix K/len(A)"
    if [ "$1" == "$2" ]; then echo same; return; fi
    local i=0
    while [ "$i" -lt "${#1}" ] && [ "${1:i:1}" == "${2:i:1}" ]; do i=$((i + 1)); done
    echo "prefix $i/${#1}"
}
ids_ours() { "$LQMF" tokenize "$1" "$2" --ids 2>/dev/null | tr -s ' ,[]\n' ' ' | sed 's/^ //; s/ $//'; }
ids_theirs() { "$TOKENIZE" -m "$1" -p "$2" --ids --log-disable 2>/dev/null | tail -n 1 | tr -s ' ,[]\n' ' ' |
    sed 's/^ //; s/ $//'; }
compare_file() { # LABEL FILE: one row, agreement per prompt, then the totals
    local row="$1" p a b r same=0 tok=0
    for p in "${PROMPTS[@]}"; do
        a=$(continuation "$(ours_gen "$2" "$p")" "$p")
        b=$(continuation "$(their_gen "$2" "$p")" "$p")
        if [ -z "$b" ]; then r="llama.cpp failed"; else r=$(agreement "$a" "$b"); fi
        [ "$r" == same ] && same=$((same + 1))
        row+=" | $r"
        [ "$(ids_ours "$2" "$p")" == "$(ids_theirs "$2" "$p")" ] && tok=$((tok + 1))
    done
    echo "$row | texts $same/${#PROMPTS[@]} | ids $tok/${#PROMPTS[@]}"
}
if part gen; then
    echo
    echo "== greedy generation ($N tokens) and tokenizer, lqmf run vs llama-simple on the same file"
    echo "model type file-by | $(printf '%s | ' "${PROMPTS[@]}")texts same | token ids same"
    for m in $MODELS; do
        src=$(src_of "$m")
        [ -e "$src" ] || { echo "$m: $src missing, skipped"; continue; }
        for t in $TYPES; do
            if f=$(ours_file "$m" "$t" "$src"); then compare_file "$m $t lqmf" "$f"
            else echo "$m $t lqmf | lqmf quantize failed"; fi
            [ "$t" == F32 ] && continue
            if f=$(their_file "$m" "$t" "$src"); then compare_file "$m $t llama.cpp" "$f"
            else echo "$m $t llama.cpp | llama-quantize failed"; fi
        done
    done
fi

# ---- kl: quantizer quality, both files through llama-perplexity ----------------
kl_stats() { # FILE BASE -> "KLD same-top-%" of llama-perplexity --kl-divergence
    "$PERPLEXITY" -m "$1" -f "$text" -c "$KL_CTX" --chunks "$KL_CHUNKS" --kl-divergence-base "$2" \
        --kl-divergence > "$1.kl.log" 2>&1 || { echo "- -"; return; }
    awk '/^Mean +KLD:/{k=$3} /^Same top p:/{s=$4} END{print (k == "" ? "-" : k), (s == "" ? "-" : s)}' "$1.kl.log"
}
if part kl; then
    src=$(src_of "$KL_MODEL") text="$(src_of "$KL_MODEL")/heldout.txt"
    base="$WORK/$(basename "$KL_MODEL")-F32.kld"
    echo
    echo "== KL divergence from F32 on $text ($KL_CHUNKS x $KL_CTX tokens), llama-perplexity on both files"
    if [ ! -f "$text" ]; then echo "kl: $text missing, skipped"
    elif ! f32=$(ours_file "$(basename "$KL_MODEL")" F32 "$src") ||
        ! "$PERPLEXITY" -m "$f32" -f "$text" -c "$KL_CTX" --chunks "$KL_CHUNKS" \
            --kl-divergence-base "$base" > "$base.log" 2>&1; then
        echo "kl: base logits failed (see $base.log)"
    else
        printf '%-7s %11s %11s %10s %10s %9s %9s\n' type "bytes lqmf" "bytes llama" "KLD lqmf" "KLD llama" \
            "top lqmf" "top llama"
        for t in $TYPES; do
            case "$t" in F32 | F16 | BF16) continue ;; esac
            a=$(ours_file "$(basename "$KL_MODEL")" "$t" "$src") && b=$(their_file "$(basename "$KL_MODEL")" "$t" "$src") ||
                { echo "$t: quantize failed"; continue; }
            read -r ka sa < <(kl_stats "$a" "$base")
            read -r kb sb < <(kl_stats "$b" "$base")
            printf '%-7s %11s %11s %10s %10s %8s%% %8s%%\n' "$t" "$(stat -c %s "$a")" "$(stat -c %s "$b")" \
                "$ka" "$kb" "$sa" "$sb"
        done
    fi
fi

# ---- speed ---------------------------------------------------------------------
best() { awk -v a="$1" -v b="$2" 'BEGIN{print (b + 0 > a + 0) ? b : a}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a > 0 && b > 0) printf "%.2f", a / b; else printf "-"}'; }
bench_ts() { # CSV N_PROMPT N_GEN -> avg_ts of that llama-bench row
    awk -F, -v p="$2" -v g="$3" 'NR==1{for(i=1;i<=NF;i++){gsub(/"/,"",$i);c[$i]=i};next}
        {gsub(/"/,"")} $c["n_prompt"]==p && $c["n_gen"]==g {print $c["avg_ts"]}' <<< "$1"
}
if part speed; then
    echo
    echo "== speed on $BENCH_MODEL: tokens/s, best of $REPS, lqmf run vs llama-bench (ratio = lqmf / llama.cpp)"
    prompt_ids=$(seq -s, 100 $((99 + PP)))
    printf '%-8s %3s %10s %10s %6s %10s %10s %6s\n' type threads "pp lqmf" "pp llama" ratio "tg lqmf" \
        "tg llama" ratio
    for t in $BENCH_TYPES; do
        f=$(ours_file bench "$t" "$BENCH_MODEL") || { echo "$t: lqmf quantize failed"; continue; }
        for th in $THREADS; do
            opp=0 otg=0 lpp=0 ltg=0
            for _ in $(seq "$REPS"); do
                read -r a b < <("$LQMF" run "$f" --ids -p "$prompt_ids" -n "$TG" --temp 0 -t "$th" -b "$PP" 2>&1 \
                    >/dev/null | sed -n 's/.*prompt: [0-9]* tokens, \([0-9.]*\) tok\/s.*generation: [0-9]* tokens, \([0-9.]*\) tok\/s.*/\1 \2/p')
                opp=$(best "$opp" "${a:-0}") otg=$(best "$otg" "${b:-0}")
                csv=$("$LBENCH" -m "$f" -p "$PP" -n "$TG" -t "$th" -r 1 -o csv 2>/dev/null)
                lpp=$(best "$lpp" "$(bench_ts "$csv" "$PP" 0)") ltg=$(best "$ltg" "$(bench_ts "$csv" 0 "$TG")")
            done
            printf '%-8s %3s %10.1f %10.1f %6s %10.1f %10.1f %6s\n' "$t" "$th" "$opp" "$lpp" \
                "$(ratio "$opp" "$lpp")" "$otg" "$ltg" "$(ratio "$otg" "$ltg")"
        done
    done
fi
