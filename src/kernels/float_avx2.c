/* Float types, AVX2/FMA/F16C. Conversions give the same bits as the
 * reference for finite values; dot products accumulate in float lanes. */
#if defined(__x86_64__) || defined(__i386__) /* x86 builds only: empty elsewhere */
#include "kernels/kernels.h"
#include "kernels/simd_avx2.h"
#include "lqmf/core.h"

#include <string.h>

LQMF_K_TO_FLOAT(f32, avx2) { memcpy(y, x, (size_t)n * sizeof(float)); }
LQMF_K_FROM_FLOAT(f32, avx2) { memcpy(y, x, (size_t)n * sizeof(float)); }

LQMF_K_QUANTIZE(f32, avx2) {
    (void)imatrix;
    memcpy(y, x, (size_t)n * sizeof(float));
}

LQMF_K_TO_FLOAT(f16, avx2) {
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) y[i] = fp16_avx2(h[i]);
}

LQMF_K_QUANTIZE(f16, avx2) {
    (void)imatrix;
    uint16_t *h = y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = lqmf_f32_to_fp16(x[i]);
}

static inline __m256 bf16_x8(const uint16_t *h) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)h));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

LQMF_K_TO_FLOAT(bf16, avx2) {
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, bf16_x8(h + i));
    for (; i < n; i++) y[i] = lqmf_bf16_to_f32(h[i]);
}

/* f32 -> bf16, round to nearest even: (u + 0x7fff + ((u >> 16) & 1)) >> 16;
 * NaN keeps its top bits with the quiet bit set, as the reference does. */
LQMF_K_QUANTIZE(bf16, avx2) {
    (void)imatrix;
    uint16_t *h = y;
    int64_t i = 0;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    for (; i + 8 <= n; i += 8) {
        __m256 f = _mm256_loadu_ps(x + i);
        __m256i u = _mm256_castps_si256(f);
        __m256i r =
            _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        r = _mm256_srli_epi32(r, 16);
        __m256i nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
        r = _mm256_blendv_epi8(r, nan, _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q)));
        /* 8 x u32 (< 65536) -> 8 x u16 */
        __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(h + i), packed);
    }
    for (; i < n; i++) h[i] = lqmf_f32_to_bf16(x[i]);
}

/* w . a over n floats with 4 accumulators; wide(w, i) loads 8 weights as floats. */
#define FLOAT_DOT(wide, scalar)                                                                          \
    const float *b = a;                                                                                  \
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),                     \
                      _mm256_setzero_ps() };                                                             \
    int64_t i = 0;                                                                                       \
    for (; i + 32 <= n; i += 32)                                                                         \
        for (int k = 0; k < 4; k++)                                                                      \
            acc[k] = _mm256_fmadd_ps(wide(i + 8 * k), _mm256_loadu_ps(b + i + 8 * k), acc[k]);           \
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(wide(i), _mm256_loadu_ps(b + i), acc[0]);        \
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));      \
    for (; i < n; i++) s += scalar(i) * b[i];                                                            \
    return s

LQMF_K_DOT(f32, avx2) {
    const float *x = w;
#define W_F32(i) _mm256_loadu_ps(x + (i))
#define S_F32(i) x[i]
    FLOAT_DOT(W_F32, S_F32);
}

LQMF_K_DOT(f16, avx2) {
    const uint16_t *x = w;
#define W_F16(i) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + (i))))
#define S_F16(i) fp16_avx2(x[i])
    FLOAT_DOT(W_F16, S_F16);
}

LQMF_K_DOT(bf16, avx2) {
    const uint16_t *x = w;
#define W_BF16(i) bf16_x8(x + (i))
#define S_BF16(i) lqmf_bf16_to_f32(x[i])
    FLOAT_DOT(W_BF16, S_BF16);
}
#endif
