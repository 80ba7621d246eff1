/* 32-weight block types, AVX2: each block unpacks to 32 int8 levels in one
 * register (weights 0-15 in the low lane), shared by dequantize and dot. */
#if defined(__x86_64__) || defined(__i386__) /* x86 builds only: empty elsewhere */
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "kernels/legacy_simd.h"
#include "lqmf/core.h"

/* Decoding streams each weight row once from memory: the dot products ask
 * for the bytes this far ahead (past the row end: the next row) so that more
 * cache lines are in flight than the out-of-order window alone requests. */
#define PREFETCH_BYTES 2048

/* d_w * d_a of a weight block and its Q8_0 activation block. */
static inline __m256 block_scale(uint16_t dw, uint16_t da) {
    __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)dw | (uint32_t)da << 16)));
    return _mm256_broadcastss_ps(_mm_mul_ss(d, _mm_movehdup_ps(d)));
}

/* d_w * d_a of eight consecutive blocks: weight scales dw[k * stride]
 * (stride in uint16), activation scales of eight block_q8_0. */
static inline __m256 scales8(const uint16_t *dw, size_t stride, const block_q8_0 *a) {
    __m256 w8 = _mm256_cvtph_ps(_mm_setr_epi16((short)dw[0], (short)dw[stride], (short)dw[2 * stride],
                                               (short)dw[3 * stride], (short)dw[4 * stride], (short)dw[5 * stride],
                                               (short)dw[6 * stride], (short)dw[7 * stride]));
    __m256 a8 = _mm256_cvtph_ps(_mm_setr_epi16((short)a[0].d, (short)a[1].d, (short)a[2].d, (short)a[3].d,
                                               (short)a[4].d, (short)a[5].d, (short)a[6].d, (short)a[7].d));
    return _mm256_mul_ps(w8, a8);
}

/* Per 128-bit lane, the lane sums of p0..p3 in lanes 0..3 (int32). */
static inline __m256i hadd4(const __m256i p[4]) {
    return _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
}

/* The four fp16 activation scales of one block index as [d0 d1 d2 d3] in both lanes. */
static inline __m256 tok_scales(const block_q8_0 *const a[4], int64_t i) {
    __m128 d = _mm_cvtph_ps(_mm_setr_epi16((short)a[0][i].d, (short)a[1][i].d, (short)a[2][i].d,
                                           (short)a[3][i].d, 0, 0, 0, 0));
    return _mm256_set_m128(d, d);
}

/* Tile rows and tokens (one token: the rows' dots): missing ones of a
 * partial tile repeat the first and their sums are dropped. acc[r] holds, per
 * lane half, the sums of tokens 0-3 of row r; out[j * os + r] = both halves
 * added. */
#define TILE_SETUP(name, block)                                                                          \
    LQMF_K_TILE_ONE_TOKEN(name, avx2)                                                                    \
    const block *wr[4];                                                                                  \
    const block_q8_0 *ar[4];                                                                             \
    for (int k = 0; k < 4; k++) {                                                                        \
        wr[k] = (const block *)((const uint8_t *)w + (size_t)(k < nr ? k : 0) * ws);                     \
        ar[k] = (const block_q8_0 *)((const uint8_t *)a + (size_t)(k < nx ? k : 0) * as);                \
    }                                                                                                    \
    const __m256i ones = _mm256_set1_epi16(1);                                                           \
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() }
static inline void tile_store(const __m256 acc[4], int nr, int nx, float *out, size_t os) {
    for (int r = 0; r < nr; r++) {
        float s[4];
        _mm_storeu_ps(s, _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1)));
        for (int j = 0; j < nx; j++) out[(size_t)j * os + (size_t)r] = s[j];
    }
}

/* Symmetric types: y = d*q; dot: sum_blocks d*da * sum q*a. Eight blocks per
 * step: their scale products in one vector (then broadcast from memory, a
 * load rather than a shuffle), two accumulators (the fma latency is not on
 * the critical path), one prefetch per two blocks. */
#define SYM_DOT(name, block)                                                                             \
    LQMF_K_TO_FLOAT(name, avx2) {                                                                        \
        const block *b = x;                                                                              \
        for (int64_t i = 0; i < n / QK32; i++)                                                           \
            store_x32(y + i * QK32, levels_##name(&b[i]), fp16_avx2(b[i].d), 0, STORE_MUL);              \
    }                                                                                                    \
    LQMF_K_DOT(name, avx2) {                                                                             \
        const block *b = w;                                                                              \
        const block_q8_0 *q8 = a;                                                                        \
        const __m256i ones = _mm256_set1_epi16(1);                                                       \
        const int64_t nb = n / QK32;                                                                     \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                   \
        int64_t i = 0;                                                                                   \
        for (; i + 8 <= nb; i += 8) {                                                                    \
            float d[8];                                                                                  \
            _mm256_storeu_ps(d, scales8(&b[i].d, sizeof(block) / 2, &q8[i]));                             \
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k += 2) {                                     \
                _mm_prefetch((const char *)&b[i + k] + PREFETCH_BYTES, _MM_HINT_T0);                     \
                __m256i p0 = products_##name(&b[i + k], load32(q8[i + k].qs), ones);                     \
                __m256i p1 = products_##name(&b[i + k + 1], load32(q8[i + k + 1].qs), ones);             \
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d[k]), _mm256_cvtepi32_ps(p0), acc0);              \
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d[k + 1]), _mm256_cvtepi32_ps(p1), acc1);          \
            }                                                                                            \
        }                                                                                                \
        for (; i < nb; i++)                                                                              \
            acc0 = _mm256_fmadd_ps(block_scale(b[i].d, q8[i].d),                                         \
                                   _mm256_cvtepi32_ps(products_##name(&b[i], load32(q8[i].qs), ones)),   \
                                   acc0);                                                                \
        return hsum_ps(_mm256_add_ps(acc0, acc1));                                                       \
    }

/* Tile of 4 rows x 4 tokens, signed levels: |q| times a with q's sign. */
#define SYM_TILE_SIGNED(name, block)                                                                     \
    LQMF_K_DOT_TILE(name, avx2) {                                                                        \
        TILE_SETUP(name, block);                                                                         \
        for (int64_t i = 0; i < n / QK32; i++) {                                                         \
            const __m256i a0 = load32(ar[0][i].qs), a1 = load32(ar[1][i].qs), a2 = load32(ar[2][i].qs),  \
                          a3 = load32(ar[3][i].qs);                                                      \
            const __m256 dt = tok_scales(ar, i);                                                         \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                                        \
                const __m256i q = levels_##name(&wr[r][i]), u = _mm256_sign_epi8(q, q);                  \
                const __m256i p[4] = { dot_u8_s8(u, _mm256_sign_epi8(a0, q), ones),                      \
                                       dot_u8_s8(u, _mm256_sign_epi8(a1, q), ones),                      \
                                       dot_u8_s8(u, _mm256_sign_epi8(a2, q), ones),                      \
                                       dot_u8_s8(u, _mm256_sign_epi8(a3, q), ones) };                    \
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(fp16_avx2(wr[r][i].d)), dt),       \
                                         _mm256_cvtepi32_ps(hadd4(p)), acc[r]);                          \
            }                                                                                            \
        }                                                                                                \
        tile_store(acc, nr, nx, out, os);                                                                \
    }

/* Tile of 4 rows x 4 tokens, levels q = u - OFF with unsigned u: sum u*a
 * from maddubs directly, minus OFF * sum a (once per token, shared by the rows). */
#define SYM_TILE_OFFSET(name, block, OFF)                                                                \
    LQMF_K_DOT_TILE(name, avx2) {                                                                        \
        TILE_SETUP(name, block);                                                                         \
        const __m256i off = _mm256_set1_epi8(OFF);                                                       \
        for (int64_t i = 0; i < n / QK32; i++) {                                                         \
            const __m256i a0 = load32(ar[0][i].qs), a1 = load32(ar[1][i].qs), a2 = load32(ar[2][i].qs),  \
                          a3 = load32(ar[3][i].qs);                                                      \
            const __m256i c[4] = { dot_u8_s8(off, a0, ones), dot_u8_s8(off, a1, ones),                   \
                                   dot_u8_s8(off, a2, ones), dot_u8_s8(off, a3, ones) };                 \
            const __m256i corr = hadd4(c);                                                               \
            const __m256 dt = tok_scales(ar, i);                                                         \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                                        \
                const __m256i u = ulevels_##name(&wr[r][i]);                                             \
                const __m256i p[4] = { dot_u8_s8(u, a0, ones), dot_u8_s8(u, a1, ones),                   \
                                       dot_u8_s8(u, a2, ones), dot_u8_s8(u, a3, ones) };                 \
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(fp16_avx2(wr[r][i].d)), dt),       \
                                         _mm256_cvtepi32_ps(_mm256_sub_epi32(hadd4(p), corr)), acc[r]);  \
            }                                                                                            \
        }                                                                                                \
        tile_store(acc, nr, nx, out, os);                                                                \
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

SYM_DOT(q4_0, block_q4_0)
SYM_DOT(q5_0, block_q5_0)
SYM_DOT(q8_0, block_q8_0)
SYM_DOT(iq4_nl, block_iq4_nl)
SYM_TILE_OFFSET(q4_0, block_q4_0, 8)
SYM_TILE_OFFSET(q5_0, block_q5_0, 16)
SYM_TILE_SIGNED(q8_0, block_q8_0)
SYM_TILE_SIGNED(iq4_nl, block_iq4_nl)
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
#endif
