/* The tensor type traits table (block sizes from the GGUF/ggml block structs). */
#include "lqmf/types.h"

#include <strings.h>

/* name, elements per block, bytes per block, quantized */
static const lqmf_type_traits k_traits[LQMF_TYPE_COUNT] = {
    [LQMF_TYPE_F32] = { "F32", 1, 4, false },
    [LQMF_TYPE_F16] = { "F16", 1, 2, false },
    [LQMF_TYPE_Q4_0] = { "Q4_0", 32, 18, true },     /* fp16 d + 16 B nibbles: 4.5 bpw */
    [LQMF_TYPE_Q4_1] = { "Q4_1", 32, 20, true },     /* fp16 d, m + 16 B: 5.0 bpw */
    [LQMF_TYPE_Q5_0] = { "Q5_0", 32, 22, true },     /* fp16 d + 4 B high bits + 16 B: 5.5 */
    [LQMF_TYPE_Q5_1] = { "Q5_1", 32, 24, true },     /* 6.0 */
    [LQMF_TYPE_Q8_0] = { "Q8_0", 32, 34, true },     /* fp16 d + 32 int8: 8.5 */
    [LQMF_TYPE_Q8_1] = { "Q8_1", 32, 36, true },     /* fp16 d, s + 32 int8: 9.0 */
    [LQMF_TYPE_Q2_K] = { "Q2_K", 256, 84, true },    /* 2.625 */
    [LQMF_TYPE_Q3_K] = { "Q3_K", 256, 110, true },   /* 3.4375 */
    [LQMF_TYPE_Q4_K] = { "Q4_K", 256, 144, true },   /* 4.5 */
    [LQMF_TYPE_Q5_K] = { "Q5_K", 256, 176, true },   /* 5.5 */
    [LQMF_TYPE_Q6_K] = { "Q6_K", 256, 210, true },   /* 6.5625 */
    [LQMF_TYPE_Q8_K] = { "Q8_K", 256, 292, true },   /* f32 d + 256 int8 + 16 int16 sums */
    [LQMF_TYPE_IQ2_XXS] = { "IQ2_XXS", 256, 66, true },
    [LQMF_TYPE_IQ2_XS] = { "IQ2_XS", 256, 74, true },
    [LQMF_TYPE_IQ3_XXS] = { "IQ3_XXS", 256, 98, true },
    [LQMF_TYPE_IQ1_S] = { "IQ1_S", 256, 50, true },
    [LQMF_TYPE_IQ4_NL] = { "IQ4_NL", 32, 18, true }, /* 4.5 */
    [LQMF_TYPE_IQ3_S] = { "IQ3_S", 256, 110, true },
    [LQMF_TYPE_IQ2_S] = { "IQ2_S", 256, 82, true },
    [LQMF_TYPE_IQ4_XS] = { "IQ4_XS", 256, 136, true }, /* 4.25 */
    [LQMF_TYPE_I8] = { "I8", 1, 1, false },
    [LQMF_TYPE_I16] = { "I16", 1, 2, false },
    [LQMF_TYPE_I32] = { "I32", 1, 4, false },
    [LQMF_TYPE_I64] = { "I64", 1, 8, false },
    [LQMF_TYPE_F64] = { "F64", 1, 8, false },
    [LQMF_TYPE_IQ1_M] = { "IQ1_M", 256, 56, true },
    [LQMF_TYPE_BF16] = { "BF16", 1, 2, false },
    [LQMF_TYPE_TQ1_0] = { "TQ1_0", 256, 54, true },
    [LQMF_TYPE_TQ2_0] = { "TQ2_0", 256, 66, true },
    [LQMF_TYPE_MXFP4] = { "MXFP4", 32, 17, true },
};

const lqmf_type_traits *lqmf_type_get(uint32_t t) {
    if (t >= LQMF_TYPE_COUNT || !k_traits[t].name) return NULL;
    return &k_traits[t];
}

const char *lqmf_type_name(uint32_t t) {
    const lqmf_type_traits *tr = lqmf_type_get(t);
    return tr ? tr->name : "?";
}

bool lqmf_type_from_name(const char *name, lqmf_type *out) {
    for (uint32_t t = 0; t < LQMF_TYPE_COUNT; t++)
        if (k_traits[t].name && strcasecmp(k_traits[t].name, name) == 0) {
            *out = (lqmf_type)t;
            return true;
        }
    return false;
}

bool lqmf_type_row_bytes(lqmf_type t, uint64_t n, uint64_t *out) {
    const lqmf_type_traits *tr = lqmf_type_get(t);
    if (!tr || n % tr->block_size) return false;
    return lqmf_mul_u64(n / tr->block_size, tr->type_size, out);
}

bool lqmf_type_tensor_bytes(lqmf_type t, uint64_t ne0, uint64_t nelem, uint64_t *out) {
    const lqmf_type_traits *tr = lqmf_type_get(t);
    if (!tr || ne0 == 0 || ne0 % tr->block_size || nelem % ne0) return false;
    uint64_t row;
    if (!lqmf_type_row_bytes(t, ne0, &row)) return false;
    return lqmf_mul_u64(row, nelem / ne0, out);
}

double lqmf_type_bpw(lqmf_type t) {
    const lqmf_type_traits *tr = lqmf_type_get(t);
    return tr ? (double)tr->type_size * 8.0 / (double)tr->block_size : 0.0;
}
