/* 32-weight block types on CPUs with AVX-512 VNNI (checked at run time; the
 * AVX-512 table falls back to the AVX2 tiles without it): dot-product tiles
 * of 4 rows x 4 tokens in 256-bit registers. With 32 vector registers each of
 * the 16 (row, token) sums keeps its own accumulator, and vpdpbusd (unsigned
 * x signed bytes, four products summed into int32 without saturation) makes
 * a pair's block one instruction, then one convert and one fma, where the
 * AVX2 tile needs two multiply-adds and folds the pairs with horizontal
 * adds. Every type is written as unsigned levels u = q + OFF; OFF * sum a,
 * once per token, starts the integer sums negated.
 *
 * One token (decoding) of Q4_0 and Q8_0: four rows at a time in the same
 * way (see ROWS4), the token's levels, offset sums and scales shared by the
 * rows. Other types decode through their AVX2 dot products. */
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
#define TILE512_VNNI(name, block, OFF, ONE_TOKEN)                                                        \
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
        (!has_vnni() ? lqmf_k_##name##_dot_tile_avx2 : nx == 1 ? ONE_TOKEN : tile_vnni_##name)(          \
            n, w, ws, nr, a, as, nx, out, os);                                                           \
    }

/* ---- one token: 4 rows x 1 token ------------------------------------------
 * Unsigned levels in a layout that needs at most one operation per block:
 * Q8_0 as in the tile (q + 128); Q4_0 the 16 bytes in both lanes masked with
 * 0x0F (low lane: weights 0-15) and 0xF0 (high lane: 16 x weights 16-31).
 * The high lane's sums of Q4_0 are then 16 times too large, also in the
 * float accumulators; their final scale 1/16 is exact. Offsets: OFF_LO and
 * OFF_HI times the activations per lane (Q4_0: 8 and 16 * 8). */
static inline __m256i urows_q4_0(const block_q4_0 *b) {
    return _mm256_and_si256(_mm256_broadcastsi128_si256(load16(b->qs)),
                            _mm256_set_m128i(_mm_set1_epi8((char)0xF0), _mm_set1_epi8(0x0F)));
}

/* ---- scales of 2 blocks x 4 rows ---- */

/* Blocks of bs bytes that start with their fp16 d: dword 0 = [d of block 0,
 * d of block 1] (word 0 of a load at the first block, word 1 of one at
 * bs - 2 bytes: both loads stay inside the two blocks). */
static inline __m128i d_pair(const void *b, size_t bs) {
    return _mm_blend_epi16(load16(b), load16((const uint8_t *)b + bs - 2), 0x02);
}
/* d_w * d_a of blocks i, i + 1 of four rows as element 2r + k (row r, block i + k). */
static inline __m256 rows4_scales(const void *w0, const void *w1, const void *w2, const void *w3, size_t bs,
                                  const block_q8_0 *q) {
    const __m128i dw = _mm_unpacklo_epi64(_mm_unpacklo_epi32(d_pair(w0, bs), d_pair(w1, bs)),
                                          _mm_unpacklo_epi32(d_pair(w2, bs), d_pair(w3, bs)));
    const __m128i da = _mm_shuffle_epi32(d_pair(q, sizeof *q), 0);
    return _mm256_mul_ps(_mm256_cvtph_ps(dw), _mm256_cvtph_ps(da));
}

/* One block i of the token against rows w0..w3 (accumulators acc0..acc3),
 * row r's scale d[2r]; c: the offset sums that start each row's integer sum. */
#define ROWS4_ROW(r, ulev, i, d)                                                                         \
    acc##r = _mm256_fmadd_ps(_mm256_set1_ps((d)[2 * (r)]),                                               \
                             _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(c, ulev(&w##r[i]), av)), acc##r)
#define ROWS4_BLOCK(ulev, off, i, d)                                                                    \
    do {                                                                                                 \
        const __m256i av = load32(q[i].qs), z = _mm256_setzero_si256();                                  \
        const __m256i c = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, off, av));                          \
        ROWS4_ROW(0, ulev, i, d);                                                                        \
        ROWS4_ROW(1, ulev, i, d);                                                                        \
        ROWS4_ROW(2, ulev, i, d);                                                                        \
        ROWS4_ROW(3, ulev, i, d);                                                                        \
    } while (0)

/* Decoding prefetches the same blocks of a later call's rows, at least this
 * many bytes ahead (one call covers 2.3 KiB of 1024-wide Q4_0 rows: too
 * little time to hide a memory access; 8 KiB measured faster there). */
#define PREFETCH_MIN 8192

/* Rows as in the tiles (missing ones repeat the first, their sums dropped).
 * Two blocks per step: their 8 scales in one vector, stored, then each fma
 * broadcasts its scale from memory, a load (the empty asm keeps the compiler
 * from broadcasting out of the register instead, a shuffle each). Decoding
 * streams the rows once from memory: each step asks for the same blocks of
 * the rows a later call reads (a fixed distance ahead of each row would
 * mostly land in this call's own rows). */
#define ROWS4(name, block, ulev, OFF_LO, OFF_HI, HI_SCALE)                                               \
    __attribute__((target("avx512vnni"))) static void rows4_##name(int64_t n, const void *w, size_t ws,   \
                                                                    int nr, const void *a, size_t as,     \
                                                                    int nx, float *out, size_t os) {      \
        (void)as, (void)nx, (void)os; /* one token: out[r] */                                           \
        const block *w0 = w, *w1 = (const block *)((const uint8_t *)w + (nr > 1 ? ws : 0)),             \
                    *w2 = (const block *)((const uint8_t *)w + (nr > 2 ? 2 * ws : 0)),                   \
                    *w3 = (const block *)((const uint8_t *)w + (nr > 3 ? 3 * ws : 0));                   \
        const block_q8_0 *q = a;                                                                         \
        const int64_t nb = n / QK32;                                                                     \
        const __m256i off = _mm256_set_m128i(_mm_set1_epi8((char)(OFF_HI)), _mm_set1_epi8((char)(OFF_LO))); \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;                        \
        const size_t ahead = 4 * ws * ((PREFETCH_MIN + 4 * ws - 1) / (4 * ws));                          \
        int64_t i = 0;                                                                                   \
        for (; i + 2 <= nb; i += 2) {                                                                    \
            float d[8];                                                                                  \
            _mm256_storeu_ps(d, rows4_scales(w0 + i, w1 + i, w2 + i, w3 + i, sizeof(block), q + i));      \
            __asm__("" : "+m"(d));                                                                       \
            _Pragma("GCC unroll 2") for (size_t o = 0; o < 2 * sizeof(block); o += 64) {                 \
                _mm_prefetch((const char *)(w0 + i) + ahead + o, _MM_HINT_T0);                           \
                _mm_prefetch((const char *)(w1 + i) + ahead + o, _MM_HINT_T0);                           \
                _mm_prefetch((const char *)(w2 + i) + ahead + o, _MM_HINT_T0);                           \
                _mm_prefetch((const char *)(w3 + i) + ahead + o, _MM_HINT_T0);                           \
            }                                                                                            \
            ROWS4_BLOCK(ulev, off, i, d);                                                                \
            ROWS4_BLOCK(ulev, off, i + 1, d + 1);                                                        \
        }                                                                                                \
        if (i < nb) {                                                                                    \
            const float da = fp16_avx2(q[i].d);                                                          \
            const float d[8] = { fp16_avx2(w0[i].d) * da, 0, fp16_avx2(w1[i].d) * da, 0,                 \
                                 fp16_avx2(w2[i].d) * da, 0, fp16_avx2(w3[i].d) * da, 0 };               \
            ROWS4_BLOCK(ulev, off, i, d);                                                                \
        }                                                                                                \
        const __m256 hs = _mm256_set_m128(_mm_set1_ps(HI_SCALE), _mm_set1_ps(1.0f));                    \
        const __m256 acc[4] = { acc0, acc1, acc2, acc3 };                                                \
        for (int r = 0; r < nr; r++) out[r] = hsum_ps(_mm256_mul_ps(acc[r], hs));                        \
    }
ROWS4(q8_0, block_q8_0, ulevels_q8_0, 128, 128, 1.0f)
ROWS4(q4_0, block_q4_0, urows_q4_0, 8, 128, 0.0625f)

TILE512_VNNI(q4_0, block_q4_0, 8, rows4_q4_0)
TILE512_VNNI(q5_0, block_q5_0, 16, lqmf_k_q5_0_dot_tile_avx2)
TILE512_VNNI(q8_0, block_q8_0, 128, rows4_q8_0)
TILE512_VNNI(iq4_nl, block_iq4_nl, 128, lqmf_k_iq4_nl_dot_tile_avx2)
#endif
