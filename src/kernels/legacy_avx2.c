/* 32-weight block types, AVX2: each block unpacks to 32 int8 levels in one
 * register (weights 0-15 in the low lane), shared by dequantize and dot. */
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "kernels/simd_avx2.h"
#include "lqmf/core.h"

/* Signed levels of one block; affine types give unsigned levels (0..31). */
static inline __m256i levels_q4_0(const block_q4_0 *b) {
    return _mm256_sub_epi8(nibbles_x32(b->qs), _mm256_set1_epi8(8));
}
static inline __m256i levels_q4_1(const block_q4_1 *b) { return nibbles_x32(b->qs); }
static inline __m256i high_bits(const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    return _mm256_and_si256(bits_x32(h), _mm256_set1_epi8(16));
}
static inline __m256i levels_q5_0(const block_q5_0 *b) {
    return _mm256_sub_epi8(_mm256_or_si256(nibbles_x32(b->qs), high_bits(b->qh)), _mm256_set1_epi8(16));
}
static inline __m256i levels_q5_1(const block_q5_1 *b) {
    return _mm256_or_si256(nibbles_x32(b->qs), high_bits(b->qh));
}
static inline __m256i levels_q8_0(const block_q8_0 *b) {
    return _mm256_loadu_si256((const __m256i *)b->qs);
}
static inline __m256i levels_iq4_nl(const block_iq4_nl *b) {
    __m128i t = _mm_loadu_si128((const __m128i *)lqmf_kvalues_iq4nl);
    return _mm256_shuffle_epi8(_mm256_set_m128i(t, t), nibbles_x32(b->qs));
}

/* Symmetric types: y = d*q; dot: sum_blocks d*da * sum q*a. */
#define SYM(name, block)                                                                                 \
    LQMF_K_TO_FLOAT(name, avx2) {                                                                        \
        const block *b = x;                                                                              \
        for (int64_t i = 0; i < n / QK32; i++)                                                           \
            store_x32(y + i * QK32, levels_##name(&b[i]), fp16_avx2(b[i].d), 0, STORE_MUL);              \
    }                                                                                                    \
    LQMF_K_DOT(name, avx2) {                                                                             \
        const block *b = w;                                                                              \
        const block_q8_0 *q8 = a;                                                                        \
        const __m256i ones = _mm256_set1_epi16(1);                                                       \
        __m256 acc = _mm256_setzero_ps();                                                                \
        for (int64_t i = 0; i < n / QK32; i++) {                                                         \
            __m256i p =                                                                                  \
                dot_s8_s8(levels_##name(&b[i]), _mm256_loadu_si256((const __m256i *)q8[i].qs), ones);    \
            __m256 d = _mm256_set1_ps(fp16_avx2(b[i].d) * fp16_avx2(q8[i].d));                           \
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);                                        \
        }                                                                                                \
        return hsum_ps(acc);                                                                             \
    }

/* Affine types: y = d*q + m; dot: sum_blocks da*(d*sum q*a + m*sum a). */
#define AFFINE(name, block)                                                                              \
    LQMF_K_TO_FLOAT(name, avx2) {                                                                        \
        const block *b = x;                                                                              \
        for (int64_t i = 0; i < n / QK32; i++)                                                           \
            store_x32(y + i * QK32, levels_##name(&b[i]), fp16_avx2(b[i].d), fp16_avx2(b[i].m),          \
                      STORE_ADD);                                                                        \
    }                                                                                                    \
    LQMF_K_DOT(name, avx2) {                                                                             \
        const block *b = w;                                                                              \
        const block_q8_0 *q8 = a;                                                                        \
        const __m256i ones16 = _mm256_set1_epi16(1), ones8 = _mm256_set1_epi8(1);                        \
        __m256 acc = _mm256_setzero_ps();                                                                \
        for (int64_t i = 0; i < n / QK32; i++) {                                                         \
            __m256i av = _mm256_loadu_si256((const __m256i *)q8[i].qs);                                  \
            __m256 pq = _mm256_cvtepi32_ps(dot_u8_s8(levels_##name(&b[i]), av, ones16));                 \
            __m256 pa = _mm256_cvtepi32_ps(dot_u8_s8(ones8, av, ones16));                                \
            float da = fp16_avx2(q8[i].d);                                                               \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(da * fp16_avx2(b[i].d)), pq, acc);                      \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(da * fp16_avx2(b[i].m)), pa, acc);                      \
        }                                                                                                \
        return hsum_ps(acc);                                                                             \
    }

SYM(q4_0, block_q4_0)
SYM(q5_0, block_q5_0)
SYM(q8_0, block_q8_0)
SYM(iq4_nl, block_iq4_nl)
AFFINE(q4_1, block_q4_1)
AFFINE(q5_1, block_q5_1)

/* Activations, as the reference: d = max|x|/127, a = round-to-even(x*127/max|x|). */
LQMF_K_FROM_FLOAT(q8_0, avx2) {
    block_q8_0 *b = y;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK32; i++, x += QK32) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4), id = amax > 0 ? 127 / amax : 0;
        b[i].d = lqmf_f32_to_fp16(amax / 127);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], _mm256_set1_ps(id)),
                                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        /* 4 x 8 int32 -> 32 int8; the packs interleave 128-bit lanes, the permute undoes it */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)b[i].qs, p);
    }
}
