/* 32-weight block types on CPUs with AVX-512 VNNI (checked at run time; the
 * AVX-512 table falls back to the AVX2 tiles without it): dot-product tiles
 * of 4 rows x 4 tokens in 256-bit registers. With 32 vector registers each of
 * the 16 (row, token) sums keeps its own accumulator, and vpdpbusd (unsigned
 * x signed bytes, four products summed into int32 without saturation) makes
 * a pair's block one instruction, then one convert and one fma, where the
 * AVX2 tile needs two multiply-adds and folds the pairs with horizontal
 * adds. Every type is written as unsigned levels u = q + OFF; OFF * sum a,
 * once per token, starts the integer sums negated. */
#if defined(__x86_64__) || defined(__i386__) /* x86 builds only: empty elsewhere */
#include "kernels/kernels.h"
#include "kernels/legacy_simd.h"

#include <stdatomic.h>

static bool has_vnni(void) { /* cached: 0 unknown, 1 no, 2 yes */
    static _Atomic int v;
    int got = atomic_load_explicit(&v, memory_order_relaxed);
    if (!got) {
        __builtin_cpu_init();
        got = __builtin_cpu_supports("avx512vnni") ? 2 : 1;
        atomic_store_explicit(&v, got, memory_order_relaxed);
    }
    return got == 2;
}

/* Rows and tokens as in the AVX2 tile: missing ones of a partial tile repeat
 * the first and their sums are dropped. d[r][j]: the scale of pair (r, j) for
 * block i; a0..a3 the tokens' levels. */
#define TILE512_BEGIN(block)                                                                             \
    const block *wr[4];                                                                                  \
    const block_q8_0 *ar[4];                                                                             \
    for (int k = 0; k < 4; k++) {                                                                        \
        wr[k] = (const block *)((const uint8_t *)w + (size_t)(k < nr ? k : 0) * ws);                     \
        ar[k] = (const block_q8_0 *)((const uint8_t *)a + (size_t)(k < nx ? k : 0) * as);                \
    }                                                                                                    \
    __m256 acc[4][4];                                                                                    \
    for (int r = 0; r < 4; r++)                                                                          \
        for (int j = 0; j < 4; j++) acc[r][j] = _mm256_setzero_ps();                                     \
    for (int64_t i = 0; i < n / QK32; i++) {                                                             \
        float d[4][4], dw[4];                                                                            \
        const __m128 dt = _mm_cvtph_ps(_mm_setr_epi16((short)ar[0][i].d, (short)ar[1][i].d,              \
                                                      (short)ar[2][i].d, (short)ar[3][i].d, 0, 0, 0, 0));  \
        _mm_storeu_ps(dw, _mm_cvtph_ps(_mm_setr_epi16((short)wr[0][i].d, (short)wr[1][i].d,              \
                                                      (short)wr[2][i].d, (short)wr[3][i].d, 0, 0, 0, 0))); \
        for (int r = 0; r < 4; r++) _mm_storeu_ps(d[r], _mm_mul_ps(_mm_set1_ps(dw[r]), dt));             \
        const __m256i a0 = load32(ar[0][i].qs), a1 = load32(ar[1][i].qs), a2 = load32(ar[2][i].qs),      \
                      a3 = load32(ar[3][i].qs);
#define TILE512_PAIR(r, j, p)                                                                            \
    acc[r][j] = _mm256_fmadd_ps(_mm256_set1_ps(d[r][j]), _mm256_cvtepi32_ps(p), acc[r][j])
#define TILE512_END                                                                                      \
    }                                                                                                    \
    for (int r = 0; r < nr; r++)                                                                         \
        for (int j = 0; j < nx; j++) out[(size_t)j * os + (size_t)r] = hsum_ps(acc[r][j]);

/* VNNI: u = ulevels (q + OFF, 0..255), sum q*a = sum u*a - OFF * sum a. */
static inline __m256i ulevels_q8_0(const block_q8_0 *b) {
    return _mm256_xor_si256(levels_q8_0(b), _mm256_set1_epi8(-128));
}
static inline __m256i ulevels_iq4_nl(const block_iq4_nl *b) {
    return _mm256_xor_si256(levels_iq4_nl(b), _mm256_set1_epi8(-128));
}
#define TILE512_VNNI(name, block, OFF)                                                                   \
    __attribute__((target("avx512vnni"))) static void tile_vnni_##name(                                  \
        int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nx, float *out, size_t os) { \
        TILE512_BEGIN(block)                                                                             \
        const __m256i off = _mm256_set1_epi8((char)(OFF)), z = _mm256_setzero_si256();                   \
        const __m256i c0 = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, off, a0)),                         \
                      c1 = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, off, a1)),                         \
                      c2 = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, off, a2)),                         \
                      c3 = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, off, a3));                         \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                                            \
            const __m256i u = ulevels_##name(&wr[r][i]);                                                 \
            TILE512_PAIR(r, 0, _mm256_dpbusd_epi32(c0, u, a0));                                          \
            TILE512_PAIR(r, 1, _mm256_dpbusd_epi32(c1, u, a1));                                          \
            TILE512_PAIR(r, 2, _mm256_dpbusd_epi32(c2, u, a2));                                          \
            TILE512_PAIR(r, 3, _mm256_dpbusd_epi32(c3, u, a3));                                          \
        }                                                                                                \
        TILE512_END                                                                                      \
    }                                                                                                    \
    LQMF_K_DOT_TILE(name, avx512) {                                                                      \
        (has_vnni() ? tile_vnni_##name : lqmf_k_##name##_dot_tile_avx2)(n, w, ws, nr, a, as, nx, out, os); \
    }

TILE512_VNNI(q4_0, block_q4_0, 8)
TILE512_VNNI(q5_0, block_q5_0, 16)
TILE512_VNNI(q8_0, block_q8_0, 128)
TILE512_VNNI(iq4_nl, block_iq4_nl, 128)
#endif
