/* AVX2 helpers shared by the *_avx2.c and *_avx512.c kernels (include only
 * from files built with -mavx2 -mfma -mf16c). */
#ifndef LQMF_KERNELS_SIMD_AVX2_H
#define LQMF_KERNELS_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline float fp16_avx2(uint16_t h) { return _cvtsh_ss(h); }

static inline __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i load16(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

static inline __m256i and15(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(15)); }
static inline __m256i and3(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(3)); }

/* Sum of the 8 lanes. */
static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* Products of unsigned bytes u (<= 255) with signed bytes s, pairs summed to
 * int16 and each pair multiplied by the int16 in `scale` (pairs of pairs
 * summed): 8 int32 lanes. The int16 pair sums must not saturate:
 * 2 * max(u) * max|s| <= 32767. */
static inline __m256i dot_u8_s8(__m256i u, __m256i s, __m256i scale) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale);
}

/* Signed x signed bytes: |x| times y with x's sign (x may be -128: |x| reads
 * as unsigned 128; y must not be -128). */
static inline __m256i dot_s8_s8(__m256i x, __m256i y, __m256i scale) {
    return dot_u8_s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x), scale);
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles (weights 0-15) in the low
 * 128-bit lane, high nibbles (weights 16-31) in the high lane. */
static inline __m256i nibbles_x32(const uint8_t *qs) { /* both lanes loaded, the high one shifted */
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return and15(_mm256_srlv_epi64(b, _mm256_set_epi64x(4, 4, 0, 0)));
}

/* Byte i = 0xFF where bit i of the 32-bit value is set, else 0. */
static inline __m256i bits_x32(uint32_t bits) {
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                    _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
                                                       0x0303030303030303LL));
    /* byte i keeps every bit except bit i%8 set; all ones iff that bit was set */
    v = _mm256_or_si256(v, _mm256_set1_epi64x((long long)0x7fbfdfeff7fbfdfeULL));
    return _mm256_cmpeq_epi8(v, _mm256_set1_epi8(-1));
}

/* Byte-wise: `value` where (v & bit) != 0, else 0. */
static inline __m256i bit_select(__m256i v, int bit, int value) {
    __m256i m = _mm256_set1_epi8((char)bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, m), m), _mm256_set1_epi8((char)value));
}

/* ---- dequantize stores: y = d*q, d*q + m or d*q - m, exactly as the
 *      scalar reference rounds them (multiply, then add or subtract) ---- */
enum { STORE_MUL, STORE_ADD, STORE_SUB };

static inline __m256 scale_ps(__m128i q8, __m256 d, __m256 m, int mode) {
    __m256 y = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)));
    return mode == STORE_ADD ? _mm256_add_ps(y, m) : mode == STORE_SUB ? _mm256_sub_ps(y, m) : y;
}

/* 16 signed bytes -> y[16]. */
static inline void store_x16(float *y, __m128i q, float d, float m, int mode) {
    __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    _mm256_storeu_ps(y, scale_ps(q, vd, vm, mode));
    _mm256_storeu_ps(y + 8, scale_ps(_mm_srli_si128(q, 8), vd, vm, mode));
}

/* 32 signed bytes -> y[32], one scale. */
static inline void store_x32(float *y, __m256i q, float d, float m, int mode) {
    store_x16(y, _mm256_castsi256_si128(q), d, m, mode);
    store_x16(y + 16, _mm256_extracti128_si256(q, 1), d, m, mode);
}

/* ---- k-quant scales ------------------------------------------------------ */

/* sum_s c[s] * (bsums[2s] + bsums[2s+1]) over 8 sub-blocks of 32 (c: 8 int16). */
static inline int dot_bsums32(__m128i c, const int16_t bsums[16]) {
    __m128i pairs = _mm_hadd_epi16(load16(bsums), load16(bsums + 8)); /* |sum| <= 32*127 */
    __m128i p = _mm_madd_epi16(pairs, c);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(1, 0, 3, 2)));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(p);
}
/* The eight 6-bit scales (bytes 0-7) and mins (bytes 8-15), see
 * k4_scale_min, four at a time. */
static inline __m128i k4_scales(const uint8_t *q) {
    uint32_t u[3];
    memcpy(u, q, 12);
    return _mm_set_epi32((int)(((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 2) & 0x30303030)), /* mn 4-7 */
                         (int)(u[1] & 0x3f3f3f3f),                                       /* mn 0-3 */
                         (int)((u[2] & 0x0f0f0f0f) | ((u[0] >> 2) & 0x30303030)),        /* sc 4-7 */
                         (int)(u[0] & 0x3f3f3f3f));                                      /* sc 0-3 */
}

#endif
