/* The per-type traits tables (one per instruction set) and the checked
 * tensor-level calls. */
#include "kernels/kernels.h"
#include "quant/quantizers.h"

#include "lqmf/quant.h"

#include <math.h>

LQMF_Q_DECLARE(q8_K) { /* activation type: plain rounding, no search */
    (void)imatrix;
    lqmf_k_q8_K_from_float_ref(x, y, n);
}

/* Entries: type, vec_dot type, kernel name, the ISA of its dequantizer, of
 * its dot product and of its tile, activation quantizer (or NULL). */
#define FLOAT_ENTRY(T, name, isa, dot_isa, ff)                                           \
    [LQMF_TYPE_##T] = { LQMF_TYPE_##T, LQMF_TYPE_F32, lqmf_k_##name##_to_float_##isa,        \
                        lqmf_k_##name##_quantize_##isa, ff, lqmf_k_##name##_dot_##dot_isa,    \
                        lqmf_k_##name##_dot_tile_##isa }
#define QUANT_ENTRY(T, VDT, name, isa, dot_isa, tile_isa, ff)                            \
    [LQMF_TYPE_##T] = { LQMF_TYPE_##T, LQMF_TYPE_##VDT, lqmf_k_##name##_to_float_##isa,      \
                        lqmf_q_##name, ff, lqmf_k_##name##_dot_##dot_isa,                     \
                        lqmf_k_##name##_dot_tile_##tile_isa }
/* One ISA's table: kernels from `isa`, except the dot products of F32, F16,
 * BF16 and Q6_K, from `hot`, and the tiles of Q4_0, Q5_0, Q8_0 and IQ4_NL,
 * from `tiles` (the AVX-512 table: AVX2 plus those). */
#define TABLE(isa, hot, tiles)                                                           \
    {                                                                                        \
        FLOAT_ENTRY(F32, f32, isa, hot, lqmf_k_f32_from_float_##isa),                    \
        FLOAT_ENTRY(F16, f16, isa, hot, NULL),                                           \
        FLOAT_ENTRY(BF16, bf16, isa, hot, NULL),                                         \
        QUANT_ENTRY(Q4_0, Q8_0, q4_0, isa, isa, tiles, NULL),                            \
        QUANT_ENTRY(Q4_1, Q8_0, q4_1, isa, isa, isa, NULL),                              \
        QUANT_ENTRY(Q5_0, Q8_0, q5_0, isa, isa, tiles, NULL),                            \
        QUANT_ENTRY(Q5_1, Q8_0, q5_1, isa, isa, isa, NULL),                              \
        QUANT_ENTRY(Q8_0, Q8_0, q8_0, isa, isa, tiles, lqmf_k_q8_0_from_float_##isa),    \
        QUANT_ENTRY(IQ4_NL, Q8_0, iq4_nl, isa, isa, tiles, NULL),                        \
        QUANT_ENTRY(Q2_K, Q8_K, q2_K, isa, isa, isa, NULL),                              \
        QUANT_ENTRY(Q3_K, Q8_K, q3_K, isa, isa, isa, NULL),                              \
        QUANT_ENTRY(Q4_K, Q8_K, q4_K, isa, isa, isa, NULL),                              \
        QUANT_ENTRY(Q5_K, Q8_K, q5_K, isa, isa, isa, NULL),                              \
        QUANT_ENTRY(Q6_K, Q8_K, q6_K, isa, hot, isa, NULL),                              \
        QUANT_ENTRY(IQ4_XS, Q8_K, iq4_xs, isa, isa, isa, NULL),                          \
        [LQMF_TYPE_Q8_K] = { LQMF_TYPE_Q8_K, LQMF_TYPE_Q8_K, lqmf_k_q8_K_to_float_##isa,      \
                             lqmf_q_q8_K, lqmf_k_q8_K_from_float_##isa, NULL, NULL },         \
    }

/* Each ISA's kernels exist only in builds for its architecture (the NEON
 * files are empty elsewhere); isa.c reports the others as not available. */
static const lqmf_quant_traits k_tables[LQMF_ISA_COUNT][LQMF_TYPE_COUNT] = {
    [LQMF_ISA_REF] = TABLE(ref, ref, ref),
#if defined(__x86_64__) || defined(__i386__)
    [LQMF_ISA_AVX2] = TABLE(avx2, avx2, avx2),
    [LQMF_ISA_AVX512] = TABLE(avx2, avx512, avx512),
#elif defined(__aarch64__)
    [LQMF_ISA_NEON] = TABLE(neon, neon, neon),
#endif
};

const lqmf_quant_traits *lqmf_quant_traits_isa(lqmf_type t, lqmf_isa isa) {
    if ((unsigned)t >= LQMF_TYPE_COUNT || !lqmf_kernel_isa_available(isa)) return NULL;
    const lqmf_quant_traits *tr = &k_tables[isa][t];
    return tr->to_float ? tr : NULL;
}

const lqmf_quant_traits *lqmf_quant_traits_get(lqmf_type t) {
    return lqmf_quant_traits_isa(t, lqmf_kernel_isa());
}

/* Common checks: supported type, row length a positive multiple of the block size. */
static lqmf_status check_type(const char *what, lqmf_type t, int64_t n, const lqmf_quant_traits **tr) {
    *tr = lqmf_quant_traits_get(t);
    if (!*tr) return lqmf_error(LQMF_E_UNSUPPORTED, "%s: type %s (id %u) is not supported", what,
                                lqmf_type_name(t), (unsigned)t);
    uint32_t bs = lqmf_type_get(t)->block_size;
    if (n <= 0 || n % bs)
        return lqmf_error(LQMF_E_INVALID,
                          "%s %s: %lld weights is not a positive multiple of the block size %u", what,
                          lqmf_type_name(t), (long long)n, bs);
    return LQMF_OK;
}

lqmf_status lqmf_quant_tensor(lqmf_type t, const float *src, void *dst, int64_t nrows,
                              int64_t n_per_row, const float *imatrix) {
    const lqmf_quant_traits *tr;
    lqmf_status st = check_type("quantize", t, n_per_row, &tr);
    if (st) return st;
    if (nrows < 0)
        return lqmf_error(LQMF_E_INVALID, "quantize %s: %lld rows", lqmf_type_name(t), (long long)nrows);
    for (int64_t j = 0; imatrix && j < n_per_row; j++)
        if (!isfinite(imatrix[j]) || imatrix[j] < 0)
            return lqmf_error(LQMF_E_INVALID, "quantize %s: imatrix[%lld] = %g (must be finite and >= 0)",
                              lqmf_type_name(t), (long long)j, (double)imatrix[j]);
    /* F16: values from 65520 on would round to infinity */
    float limit = t == LQMF_TYPE_F16 ? 65520.0f : INFINITY;
    uint64_t rb;
    lqmf_type_row_bytes(t, (uint64_t)n_per_row, &rb);
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * n_per_row;
        for (int64_t j = 0; j < n_per_row; j++)
            if (!(fabsf(x[j]) < limit))
                return lqmf_error(LQMF_E_INVALID, "quantize %s: row %lld, column %lld: value %g %s",
                                  lqmf_type_name(t), (long long)r, (long long)j, (double)x[j],
                                  isfinite(x[j]) ? "is outside the F16 range" : "is not finite");
        tr->quantize(x, (uint8_t *)dst + r * rb, n_per_row, imatrix);
    }
    return LQMF_OK;
}

lqmf_status lqmf_quant_dequantize(lqmf_type t, const void *src, float *dst, int64_t n) {
    const lqmf_quant_traits *tr;
    lqmf_status st = check_type("dequantize", t, n, &tr);
    if (st) return st;
    tr->to_float(src, dst, n);
    return LQMF_OK;
}
