/* Levels and block products of the 32-weight block types, shared by the
 * AVX2 and AVX-512 kernels (include only from files built with at least
 * -mavx2 -mfma -mf16c). */
#ifndef LQMF_KERNELS_LEGACY_SIMD_H
#define LQMF_KERNELS_LEGACY_SIMD_H

#include "kernels/blocks.h"
#include "kernels/simd_avx2.h"

/* Signed levels of one block; affine types give unsigned levels (0..31).
 * Symmetric types with q = u - offset also give their unsigned levels u. */
static inline __m256i ulevels_q4_0(const block_q4_0 *b) { return nibbles_x32(b->qs); }
static inline __m256i levels_q4_0(const block_q4_0 *b) {
    return _mm256_sub_epi8(ulevels_q4_0(b), _mm256_set1_epi8(8));
}
static inline __m256i levels_q4_1(const block_q4_1 *b) { return nibbles_x32(b->qs); }
static inline __m256i high_bits(const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    return _mm256_and_si256(bits_x32(h), _mm256_set1_epi8(16));
}
static inline __m256i ulevels_q5_0(const block_q5_0 *b) {
    return _mm256_or_si256(nibbles_x32(b->qs), high_bits(b->qh));
}
static inline __m256i levels_q5_0(const block_q5_0 *b) {
    return _mm256_sub_epi8(ulevels_q5_0(b), _mm256_set1_epi8(16));
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

/* Products of one block with its Q8_0 activations a, pairs summed: 8 int32.
 * Levels q = u - off with unsigned u: u*a - off*a per pair of bytes (int16,
 * |u*a pair| + |off*a pair| < 2^15); signed levels: |q| times a with q's sign. */
#define OFFSET_PRODUCTS(name, block, OFF)                                                                \
    static inline __m256i products_##name(const block *b, __m256i a, __m256i ones) {                     \
        return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(ulevels_##name(b), a),            \
                                                  _mm256_maddubs_epi16(_mm256_set1_epi8(OFF), a)),       \
                                 ones);                                                                  \
    }
#define SIGNED_PRODUCTS(name, block)                                                                     \
    static inline __m256i products_##name(const block *b, __m256i a, __m256i ones) {                     \
        return dot_s8_s8(levels_##name(b), a, ones);                                                     \
    }
OFFSET_PRODUCTS(q4_0, block_q4_0, 8)
OFFSET_PRODUCTS(q5_0, block_q5_0, 16)
SIGNED_PRODUCTS(q8_0, block_q8_0)
SIGNED_PRODUCTS(iq4_nl, block_iq4_nl)

#endif
