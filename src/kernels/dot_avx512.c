/* AVX-512 (F/BW/DQ/VL) dot products where they beat the AVX2 kernels: the
 * float types and Q6_K (measured on a Xeon with AVX-512; bench_quant prints
 * both). For the other int8 kernels the extra lane shuffles cost more than
 * the wider multiply-adds gain (512-bit integer multiply-add runs at the
 * rate of two 256-bit ones there), so the AVX-512 table uses their AVX2
 * kernels, as it does for every dequantizer. */
#if defined(__x86_64__) || defined(__i386__) /* x86 builds only: empty elsewhere */
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "kernels/simd_avx2.h"
#include "lqmf/core.h"

static inline __m512i load64(const void *p) { return _mm512_loadu_si512(p); }
static inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
static inline __m512i and15_512(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(15)); }

/* u (unsigned bytes) times s (signed bytes), pairs summed to int16, times
 * the int16 in scale, pairs summed: 16 int32 (see dot_u8_s8). */
static inline __m512i dot512_u8_s8(__m512i u, __m512i s, __m512i scale) {
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), scale);
}

/* ---- float types ---------------------------------------------------------- */

#define FLOAT_DOT512(wide, scalar)                                                                       \
    const float *b = a;                                                                                  \
    __m512 acc[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),                     \
                      _mm512_setzero_ps() };                                                             \
    int64_t i = 0;                                                                                       \
    for (; i + 64 <= n; i += 64)                                                                         \
        for (int k = 0; k < 4; k++)                                                                      \
            acc[k] = _mm512_fmadd_ps(wide(i + 16 * k), _mm512_loadu_ps(b + i + 16 * k), acc[k]);         \
    for (; i + 16 <= n; i += 16) acc[0] = _mm512_fmadd_ps(wide(i), _mm512_loadu_ps(b + i), acc[0]);      \
    float s = _mm512_reduce_add_ps(                                                                      \
        _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));                    \
    for (; i < n; i++) s += scalar(i) * b[i];                                                            \
    return s

LQMF_K_DOT(f32, avx512) {
    const float *x = w;
#define W_F32(i) _mm512_loadu_ps(x + (i))
#define S_F32(i) x[i]
    FLOAT_DOT512(W_F32, S_F32);
}

LQMF_K_DOT(f16, avx512) {
    const uint16_t *x = w;
#define W_F16(i) _mm512_cvtph_ps(load32(x + (i)))
#define S_F16(i) fp16_avx2(x[i])
    FLOAT_DOT512(W_F16, S_F16);
}

LQMF_K_DOT(bf16, avx512) {
    const uint16_t *x = w;
#define W_BF16(i) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load32(x + (i))), 16))
#define S_BF16(i) lqmf_bf16_to_f32(x[i])
    FLOAT_DOT512(W_BF16, S_BF16);
}

/* int16 element e (of 32) = base + e/8: the same index across each 128-bit lane. */
static inline __m512i lane_index(int base) {
    const __m512i lanes =
        _mm512_set_epi64(0x0003000300030003LL, 0x0003000300030003LL, 0x0002000200020002LL,
                         0x0002000200020002LL, 0x0001000100010001LL, 0x0001000100010001LL, 0, 0);
    return _mm512_add_epi16(lanes, _mm512_set1_epi16((short)base));
}

/* ---- Q6_K: per half h, groups 0-1 and 2-3 in one register each; every
 *      128-bit lane is one sub-block of 16 ------------------------------------ */

LQMF_K_DOT(q6_K, avx512) {
    const block_q6_K *b = w;
    const block_q8_K *q8 = a;
    const __m512i m30 = _mm512_set1_epi8(0x30);
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i sc16 = _mm256_cvtepi8_epi16(load16(b[i].scales));
        __m512i S = _mm512_castsi256_si512(sc16), sumi = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i qh = load32(b[i].qh + 32 * h);
            __m512i QL = join(load32(b[i].ql + 64 * h), load32(b[i].ql + 64 * h + 32));
            __m512i QH =
                join(qh, _mm256_srli_epi16(qh, 2)); /* bits of groups 0|1, then 2|3 at bits 4-5 */
            __m512i u01 = _mm512_or_si512(and15_512(QL), _mm512_and_si512(_mm512_slli_epi16(QH, 4), m30));
            __m512i u23 = _mm512_or_si512(and15_512(_mm512_srli_epi16(QL, 4)), _mm512_and_si512(QH, m30));
            /* lane l of the register holding groups 2k, 2k+1 is sub-block 8h + 4k + l */
            __m512i i01 = lane_index(8 * h), i23 = lane_index(8 * h + 4);
            sumi = _mm512_add_epi32(
                sumi, dot512_u8_s8(u01, load64(q8[i].qs + 128 * h), _mm512_permutexvar_epi16(i01, S)));
            sumi = _mm512_add_epi32(sumi, dot512_u8_s8(u23, load64(q8[i].qs + 128 * h + 64),
                                                       _mm512_permutexvar_epi16(i23, S)));
        }
        int total =
            _mm512_reduce_add_epi32(sumi) - 32 * hsum_epi32(_mm256_madd_epi16(sc16, load32(q8[i].bsums)));
        s += q8[i].d * (fp16_avx2(b[i].d) * (float)total);
    }
    return s;
}

/* Decoding takes the dot above row by row; prompts the AVX2 4-token tile. */
LQMF_K_DOT_TILE(q6_K, avx512) {
    LQMF_K_TILE_ONE_TOKEN(q6_K, avx512)
    lqmf_k_q6_K_dot_tile_avx2(n, w, ws, nr, a, as, nx, out, os);
}
#endif
