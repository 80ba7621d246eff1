/* The quantization schemes the planner knows: storage rules and expected
 * quality. docs/quality-table.md documents every number here (a test checks
 * that the two agree).
 *
 * GGUF mixes follow llama.cpp's llama_tensor_get_type (src/llama-quant.cpp,
 * 2024-25) for dense llama/gpt2 models: the base type everywhere, the output
 * projection (or tied embeddings) in Q6_K, and the listed tensors in higher
 * types. Quality: % perplexity increase over FP16 on LLaMA-v1-7B. */
#include "plan_priv.h"

#define Q_LLAMA1 "llama.cpp quantize --help (2023-24), dPPL at LLaMA-v1-7B, wikitext-2 ctx 512, FP16 5.9066"
#define Q_ASSUMED "no measurement in our sources; assumed close to Q8_0"

/* One scheme per entry, as written. */
/* clang-format off */
#define R(c, w, t) { LQMF_TC_##c, LQMF_MIX_##w, LQMF_TYPE_##t }
#define GGUF(nm, bits_, legacy_, dppl, kld_, base_, out_, rule, ...)                            \
    { { nm, LQMF_METHOD_GGUF, bits_, false, legacy_, dppl, kld_, Q_LLAMA1, rule },             \
      LQMF_TYPE_##base_, LQMF_TYPE_##out_, { __VA_ARGS__ }, { 0, 0, 0, 0, 0 } }
#define LIN(nm, method_, bits_, dppl, src, rule, group_, gbits, rowb, colb)                     \
    { { nm, LQMF_METHOD_##method_, bits_, true, false, dppl, -1, src, rule },                  \
      LQMF_TYPE_F16, LQMF_TYPE_F16, { { 0 } }, { bits_, group_, gbits, rowb, colb } }

const lqmf_scheme_def lqmf_scheme_defs[] = {
    GGUF("Q2_K", 2, false, 11.372, 0.44513, Q2_K, Q6_K,
         "Q2_K; attn_v Q3_K (Q4_K when n_head/n_head_kv >= 4), attn_output and ffn_down Q3_K",
         R(ATTN_V, GQA4, Q4_K), R(ATTN_V, ALL, Q3_K), R(ATTN_OUT, ALL, Q3_K), R(FFN_DOWN, ALL, Q3_K)),
    GGUF("Q3_K_S", 3, false, 9.398, -1, Q3_K, Q6_K, "Q3_K everywhere", { 0 }),
    GGUF("Q3_K_M", 3, false, 4.226, 0.10191, Q3_K, Q6_K,
         "Q3_K; attn_v Q5_K in layers 0-1 else Q4_K; attn_output, attn_qkv Q4_K; ffn_down Q5_K "
         "in the first 1/16 of layers else Q4_K",
         R(ATTN_V, FIRST_2, Q5_K), R(ATTN_V, ALL, Q4_K), R(ATTN_OUT, ALL, Q4_K),
         R(ATTN_QKV, ALL, Q4_K), R(FFN_DOWN, FIRST_16TH, Q5_K), R(FFN_DOWN, ALL, Q4_K)),
    GGUF("Q3_K_L", 3, false, 2.986, -1, Q3_K, Q6_K,
         "Q3_K; attn_v, attn_output, ffn_down Q5_K; attn_qkv Q4_K",
         R(ATTN_V, ALL, Q5_K), R(ATTN_OUT, ALL, Q5_K), R(FFN_DOWN, ALL, Q5_K), R(ATTN_QKV, ALL, Q4_K)),
    GGUF("Q4_0", 4, false, 3.667, 0.07194, Q4_0, Q6_K, "Q4_0 everywhere", { 0 }),
    GGUF("Q4_1", 4, true, 2.683, -1, Q4_1, Q6_K, "Q4_1 everywhere", { 0 }),
    GGUF("Q4_K_S", 4, false, 1.679, 0.04314, Q4_K, Q6_K,
         "Q4_K; attn_v Q5_K in layers 0-3; ffn_down Q5_K in the first 1/8 of layers",
         R(ATTN_V, FIRST_4, Q5_K), R(FFN_DOWN, FIRST_8TH, Q5_K)),
    GGUF("Q4_K_M", 4, false, 0.901, 0.03127, Q4_K, Q6_K,
         "Q4_K; attn_v and ffn_down Q6_K in half the layers (use_more_bits); attn_qkv Q5_K",
         R(ATTN_V, MORE_BITS, Q6_K), R(FFN_DOWN, MORE_BITS, Q6_K), R(ATTN_QKV, ALL, Q5_K)),
    GGUF("Q5_0", 5, true, 1.156, 0.02224, Q5_0, Q6_K, "Q5_0 everywhere", { 0 }),
    GGUF("Q5_1", 5, true, 0.591, -1, Q5_1, Q6_K, "Q5_1 everywhere", { 0 }),
    GGUF("Q5_K_S", 5, false, 0.677, 0.01660, Q5_K, Q6_K, "Q5_K everywhere", { 0 }),
    GGUF("Q5_K_M", 5, false, 0.207, 0.01076, Q5_K, Q6_K,
         "Q5_K; attn_v and ffn_down Q6_K in half the layers (use_more_bits); attn_qkv Q6_K",
         R(ATTN_V, MORE_BITS, Q6_K), R(FFN_DOWN, MORE_BITS, Q6_K), R(ATTN_QKV, ALL, Q6_K)),
    GGUF("Q6_K", 6, false, -0.014, 0.00545, Q6_K, Q6_K, "Q6_K everywhere", { 0 }),
    GGUF("Q8_0", 8, false, 0.007, 0.00136, Q8_0, Q8_0, "Q8_0 everywhere", { 0 }),
    { { "F16", LQMF_METHOD_GGUF, 16, false, false, 0.0, 0.0, "the reference (FP16 itself)",
        "F16 everywhere (no quantization)" },
      LQMF_TYPE_F16, LQMF_TYPE_F16, { { 0 } }, { 0, 0, 0, 0, 0 } },
    LIN("GPTQ-4bit", GPTQ, 4, 2.641,
        "AWQ paper Table 4: LLaMA-7B wikitext-2 ctx 2048, GPTQ act-order INT4 g128 5.83 vs FP16 5.68",
        "4-bit weights + fp16 scale and 4-bit zero per 128 inputs + int32 g_idx per input", 128, 20,
        0, 32),
    LIN("GPTQ-8bit", GPTQ, 8, 0.1, Q_ASSUMED,
        "8-bit weights + fp16 scale and 8-bit zero per 128 inputs + int32 g_idx per input", 128, 24, 0,
        32),
    LIN("AWQ-4bit", AWQ, 4, 1.761,
        "AWQ paper Table 4: LLaMA-7B wikitext-2 ctx 2048, AWQ INT4 g128 5.78 vs FP16 5.68",
        "4-bit weights + fp16 scale and 4-bit zero per 128 inputs", 128, 20, 0, 0),
    LIN("NF4", BNB, 4, 1.533,
        "GPTQ-for-LLaMa README: LLaMA-7B c4 seqlen 2048, nf4 + double quant 5.30 vs FP16 5.22",
        "4-bit NF4 + 8-bit absmax per 64 weights + fp32 per 256 absmax (double quant)", 64, 8.125, 0,
        0),
    LIN("INT8", BNB, 8, 0.1, Q_ASSUMED, "int8 weights + fp32 scale per output row (LLM.int8)", 0, 0,
        32, 0),
};
/* clang-format on */
const size_t lqmf_scheme_defs_count = sizeof lqmf_scheme_defs / sizeof lqmf_scheme_defs[0];
