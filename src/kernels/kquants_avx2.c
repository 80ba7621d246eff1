/* 256-weight super-block types, AVX2. Each 32-weight group of a super-block
 * unpacks to 32 unsigned levels u in one register; the dot product with
 * Q8_K multiplies u by the activations (maddubs), applies the per-sub-block
 * integer scales (madd), and moves any constant level offset c (q = u - c)
 * or min to a correction from the activation sums bsums:
 *   sum_s sc[s] * sum (u - c)*a = sum_s sc[s] * sum u*a - c * sum_s sc[s]*bsums[s]. */
#if defined(__x86_64__) || defined(__i386__) /* x86 builds only: empty elsewhere */
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "kernels/simd_avx2.h"

/* Scale vectors by byte shuffles of a register holding eight int16 scales
 * in both 128-bit lanes (S):
 *   pair_scales(S, g): int16 #2g in the low lane (weights 0-15 of a 32-weight
 *                      group, madd lanes 0-3), #2g+1 in the high lane;
 *   one_scale(S, k):   int16 #k in every lane. */
static inline __m256i pair_scales(__m256i S, int g) {
    return _mm256_shuffle_epi8(S,
                               _mm256_set_m128i(_mm_set1_epi16((short)((4 * g + 3) << 8 | (4 * g + 2))),
                                                _mm_set1_epi16((short)((4 * g + 1) << 8 | (4 * g)))));
}
static inline __m256i one_scale(__m256i S, int k) {
    return _mm256_shuffle_epi8(S, _mm256_set1_epi16((short)((2 * k + 1) << 8 | (2 * k))));
}
/* S for half h of sixteen int16 scales: lane h copied to both lanes. */
static inline __m256i half_scales(__m256i sc16, int h) {
    return h ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00);
}

/* ---- tiles: one weight row at a time against four tokens, each unpacked
 *      group of levels serving all four; missing tokens of a partial tile
 *      repeat the first and their sums are dropped ---- */

/* Per 128-bit lane, the lane sums of p0..p3 in lanes 0..3; both lanes added. */
static inline __m128i hadd4_128(const __m256i p[4]) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

static inline void tile_tokens(const void *a, size_t as, int nx, const block_q8_K *t[4]) {
    for (int j = 0; j < 4; j++) t[j] = (const block_q8_K *)((const uint8_t *)a + (size_t)(j < nx ? j : 0) * as);
}
static inline __m128 tile_token_scales(const block_q8_K *const t[4], int64_t i) {
    return _mm_setr_ps(t[0][i].d, t[1][i].d, t[2][i].d, t[3][i].d);
}
static inline void tile_store_row(__m128 acc, int nx, float *out, size_t os) {
    float s[4];
    _mm_storeu_ps(s, acc);
    for (int j = 0; j < nx; j++) out[(size_t)j * os] = s[j];
}

/* ---- Q2_K: u = (qs[32h + l] >> 2g) & 3, y = d*sc*u - dmin*mn ------------- */

LQMF_K_TO_FLOAT(q2_K, avx2) {
    const block_q2_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        float d = fp16_avx2(b[i].d), dmin = fp16_avx2(b[i].dmin);
        for (int h = 0; h < 2; h++) {
            __m256i qs = load32(b[i].qs + 32 * h);
            for (int g = 0; g < 4; g++) {
                __m256i u = and3(_mm256_srli_epi16(qs, 2 * g));
                int s = 8 * h + 2 * g;
                uint8_t sc0 = b[i].scales[s], sc1 = b[i].scales[s + 1];
                float *o = y + 32 * (4 * h + g);
                store_x16(o, _mm256_castsi256_si128(u), d * (float)(sc0 & 15), dmin * (float)(sc0 >> 4),
                          STORE_SUB);
                store_x16(o + 16, _mm256_extracti128_si256(u, 1), d * (float)(sc1 & 15),
                          dmin * (float)(sc1 >> 4), STORE_SUB);
            }
        }
    }
}

LQMF_K_DOT(q2_K, avx2) {
    const block_q2_K *b = w;
    const block_q8_K *q8 = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m128i raw = load16(b[i].scales), m15 = _mm_set1_epi8(15);
        __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, m15));
        __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m15));
        int summ = hsum_epi32(_mm256_madd_epi16(mn16, load32(q8[i].bsums)));
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i qs = load32(b[i].qs + 32 * h), S = half_scales(sc16, h);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                __m256i u = and3(_mm256_srli_epi16(qs, 2 * g));
                sumi = _mm256_add_epi32(
                    sumi, dot_u8_s8(u, load32(q8[i].qs + 32 * (4 * h + g)), pair_scales(S, g)));
            }
        }
        float d = fp16_avx2(b[i].d), dmin = fp16_avx2(b[i].dmin);
        s += q8[i].d * (d * (float)hsum_epi32(sumi) - dmin * (float)summ);
    }
    return s;
}

/* ---- Q3_K: u = low2 | high << 2, q = u - 4, y = d*(sc - 32)*q ------------ */

/* The sixteen 6-bit scales minus 32 as int16: low nibbles in bytes 0-7,
 * top 2 bits in bytes 8-11 (kept in registers: no store/reload). */
static inline __m256i q3k_scales(const block_q3_K *b) {
    uint32_t u[3];
    memcpy(u, b->scales, 12);
    __m128i v =
        _mm_set_epi32((int)(((u[1] >> 4) & 0x0f0f0f0f) | ((u[2] >> 2) & 0x30303030)), /* s 12-15 */
                      (int)(((u[0] >> 4) & 0x0f0f0f0f) | (u[2] & 0x30303030)),        /* s 8-11 */
                      (int)((u[1] & 0x0f0f0f0f) | ((u[2] << 2) & 0x30303030)),        /* s 4-7 */
                      (int)((u[0] & 0x0f0f0f0f) | ((u[2] << 4) & 0x30303030)));       /* s 0-3 */
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(v), _mm256_set1_epi16(32));
}

static inline __m256i q3k_u(__m256i qs, __m256i hm, int h, int g) {
    int bit = 4 * h + g;
    __m256i hb = bit >= 2 ? _mm256_srli_epi16(hm, bit - 2) : _mm256_slli_epi16(hm, 2 - bit);
    return _mm256_or_si256(and3(_mm256_srli_epi16(qs, 2 * g)), _mm256_and_si256(hb, _mm256_set1_epi8(4)));
}

LQMF_K_TO_FLOAT(q3_K, avx2) {
    const block_q3_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        int16_t sc[16];
        _mm256_storeu_si256((__m256i *)sc, q3k_scales(&b[i]));
        float d = fp16_avx2(b[i].d);
        __m256i hm = load32(b[i].hmask);
        for (int h = 0; h < 2; h++) {
            __m256i qs = load32(b[i].qs + 32 * h);
            for (int g = 0; g < 4; g++) {
                __m256i q = _mm256_sub_epi8(q3k_u(qs, hm, h, g), _mm256_set1_epi8(4));
                int k = 8 * h + 2 * g;
                float *o = y + 32 * (4 * h + g);
                store_x16(o, _mm256_castsi256_si128(q), d * (float)sc[k], 0, STORE_MUL);
                store_x16(o + 16, _mm256_extracti128_si256(q, 1), d * (float)sc[k + 1], 0, STORE_MUL);
            }
        }
    }
}

LQMF_K_DOT(q3_K, avx2) {
    const block_q3_K *b = w;
    const block_q8_K *q8 = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i sc16 = q3k_scales(&b[i]), hm = load32(b[i].hmask), sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i qs = load32(b[i].qs + 32 * h), S = half_scales(sc16, h);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++)
                sumi = _mm256_add_epi32(sumi, dot_u8_s8(q3k_u(qs, hm, h, g),
                                                        load32(q8[i].qs + 32 * (4 * h + g)),
                                                        pair_scales(S, g)));
        }
        int total = hsum_epi32(sumi) - 4 * hsum_epi32(_mm256_madd_epi16(sc16, load32(q8[i].bsums)));
        s += q8[i].d * (fp16_avx2(b[i].d) * (float)total);
    }
    return s;
}

/* ---- Q4_K / Q5_K: group c of 64 weights = low nibbles (32) then high
 *      nibbles (32) of qs[32c ..], plus bit 2c / 2c+1 of qh for Q5_K ---- */

/* Levels of group c: lo (weights 64c..64c+31) and hi (64c+32..64c+63). */
static inline void k45_u(const uint8_t *qs, const uint8_t *qh, int c, __m256i *lo, __m256i *hi) {
    __m256i v = load32(qs + 32 * c);
    *lo = and15(v);
    *hi = and15(_mm256_srli_epi16(v, 4));
    if (qh) {
        __m256i h = load32(qh);
        *lo = _mm256_or_si256(*lo, bit_select(h, 1 << (2 * c), 16));
        *hi = _mm256_or_si256(*hi, bit_select(h, 1 << (2 * c + 1), 16));
    }
}

static void k45_to_float(uint16_t dh, uint16_t dminh, const uint8_t *scales, const uint8_t *qh,
                         const uint8_t *qs, float *y) {
    uint8_t v[16], *sc = v, *mn = v + 8;
    _mm_storeu_si128((__m128i *)v, k4_scales(scales));
    float d = fp16_avx2(dh), dmin = fp16_avx2(dminh);
    for (int c = 0; c < 4; c++) {
        __m256i lo, hi;
        k45_u(qs, qh, c, &lo, &hi);
        store_x32(y + 64 * c, lo, d * (float)sc[2 * c], dmin * (float)mn[2 * c], STORE_SUB);
        store_x32(y + 64 * c + 32, hi, d * (float)sc[2 * c + 1], dmin * (float)mn[2 * c + 1], STORE_SUB);
    }
}

static float k45_dot(uint16_t dh, uint16_t dminh, const uint8_t *scales, const uint8_t *qh,
                     const uint8_t *qs, const block_q8_K *q8) {
    __m128i v = k4_scales(scales);
    __m256i S = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(v));
    __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m256i lo, hi;
        k45_u(qs, qh, c, &lo, &hi);
        sumi = _mm256_add_epi32(sumi, dot_u8_s8(lo, load32(q8->qs + 64 * c), one_scale(S, 2 * c)));
        sumi =
            _mm256_add_epi32(sumi, dot_u8_s8(hi, load32(q8->qs + 64 * c + 32), one_scale(S, 2 * c + 1)));
    }
    int summ = dot_bsums32(_mm_cvtepu8_epi16(_mm_unpackhi_epi64(v, v)), q8->bsums);
    return q8->d * (fp16_avx2(dh) * (float)hsum_epi32(sumi) - fp16_avx2(dminh) * (float)summ);
}

/* One super-block of a Q4_K/Q5_K row against four tokens: acc += the four dots. */
static inline __m128 k45_tile(uint16_t dh, uint16_t dminh, const uint8_t *scales, const uint8_t *qh,
                              const uint8_t *qs, const block_q8_K *const t[4], int64_t i, __m128 acc) {
    __m128i v = k4_scales(scales);
    __m256i S = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(v));
    __m256i sum[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                       _mm256_setzero_si256() };
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m256i lo, hi, slo = one_scale(S, 2 * c), shi = one_scale(S, 2 * c + 1);
        k45_u(qs, qh, c, &lo, &hi);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            sum[j] = _mm256_add_epi32(sum[j], _mm256_add_epi32(dot_u8_s8(lo, load32(t[j][i].qs + 64 * c), slo),
                                                               dot_u8_s8(hi, load32(t[j][i].qs + 64 * c + 32), shi)));
    }
    __m128i mn = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(v, v));
    __m128 summ = _mm_cvtepi32_ps(_mm_setr_epi32(dot_bsums32(mn, t[0][i].bsums), dot_bsums32(mn, t[1][i].bsums),
                                                 dot_bsums32(mn, t[2][i].bsums), dot_bsums32(mn, t[3][i].bsums)));
    __m128 r = _mm_sub_ps(_mm_mul_ps(_mm_set1_ps(fp16_avx2(dh)), _mm_cvtepi32_ps(hadd4_128(sum))),
                          _mm_mul_ps(_mm_set1_ps(fp16_avx2(dminh)), summ));
    return _mm_fmadd_ps(tile_token_scales(t, i), r, acc);
}

LQMF_K_TO_FLOAT(q4_K, avx2) {
    const block_q4_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++)
        k45_to_float(b[i].d, b[i].dmin, b[i].scales, NULL, b[i].qs, y + i * QK_K);
}

LQMF_K_DOT(q4_K, avx2) {
    const block_q4_K *b = w;
    const block_q8_K *q8 = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++)
        s += k45_dot(b[i].d, b[i].dmin, b[i].scales, NULL, b[i].qs, &q8[i]);
    return s;
}

LQMF_K_DOT_TILE(q4_K, avx2) {
    LQMF_K_TILE_ONE_TOKEN(q4_K, avx2)
    const block_q8_K *t[4];
    tile_tokens(a, as, nx, t);
    for (int r = 0; r < nr; r++) {
        const block_q4_K *b = (const block_q4_K *)((const uint8_t *)w + (size_t)r * ws);
        __m128 acc = _mm_setzero_ps();
        for (int64_t i = 0; i < n / QK_K; i++) acc = k45_tile(b[i].d, b[i].dmin, b[i].scales, NULL, b[i].qs, t, i, acc);
        tile_store_row(acc, nx, out + r, os);
    }
}

LQMF_K_TO_FLOAT(q5_K, avx2) {
    const block_q5_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++)
        k45_to_float(b[i].d, b[i].dmin, b[i].scales, b[i].qh, b[i].qs, y + i * QK_K);
}

LQMF_K_DOT(q5_K, avx2) {
    const block_q5_K *b = w;
    const block_q8_K *q8 = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++)
        s += k45_dot(b[i].d, b[i].dmin, b[i].scales, b[i].qh, b[i].qs, &q8[i]);
    return s;
}

LQMF_K_DOT_TILE(q5_K, avx2) {
    LQMF_K_TILE_ONE_TOKEN(q5_K, avx2)
    const block_q8_K *t[4];
    tile_tokens(a, as, nx, t);
    for (int r = 0; r < nr; r++) {
        const block_q5_K *b = (const block_q5_K *)((const uint8_t *)w + (size_t)r * ws);
        __m128 acc = _mm_setzero_ps();
        for (int64_t i = 0; i < n / QK_K; i++)
            acc = k45_tile(b[i].d, b[i].dmin, b[i].scales, b[i].qh, b[i].qs, t, i, acc);
        tile_store_row(acc, nx, out + r, os);
    }
}

/* ---- Q6_K: u = nibble | 2 bits << 4, q = u - 32, y = d*sc*q ------------- */

/* Levels of the four 32-weight groups of half h: low nibbles of ql (two
 * rows of 32 bytes, low then high nibbles) and 2 bits of qh moved to bits 4-5. */
static inline void q6k_u(const block_q6_K *b, int h, __m256i u[4]) {
    __m256i ql0 = load32(b->ql + 64 * h), ql1 = load32(b->ql + 64 * h + 32), qh = load32(b->qh + 32 * h);
    __m256i m30 = _mm256_set1_epi8(0x30);
    u[0] = _mm256_or_si256(and15(ql0), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    u[1] = _mm256_or_si256(and15(ql1), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    u[2] = _mm256_or_si256(and15(_mm256_srli_epi16(ql0, 4)), _mm256_and_si256(qh, m30));
    u[3] = _mm256_or_si256(and15(_mm256_srli_epi16(ql1, 4)),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
}

LQMF_K_TO_FLOAT(q6_K, avx2) {
    const block_q6_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        float d = fp16_avx2(b[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i u[4];
            q6k_u(&b[i], h, u);
            for (int g = 0; g < 4; g++) {
                __m256i q = _mm256_sub_epi8(u[g], _mm256_set1_epi8(32));
                int k = 8 * h + 2 * g;
                float *o = y + 32 * (4 * h + g);
                store_x16(o, _mm256_castsi256_si128(q), d * (float)b[i].scales[k], 0, STORE_MUL);
                store_x16(o + 16, _mm256_extracti128_si256(q, 1), d * (float)b[i].scales[k + 1], 0,
                          STORE_MUL);
            }
        }
    }
}

LQMF_K_DOT(q6_K, avx2) {
    const block_q6_K *b = w;
    const block_q8_K *q8 = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i sc16 = _mm256_cvtepi8_epi16(load16(b[i].scales)), sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i u[4], S = half_scales(sc16, h);
            q6k_u(&b[i], h, u);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++)
                sumi = _mm256_add_epi32(
                    sumi, dot_u8_s8(u[g], load32(q8[i].qs + 32 * (4 * h + g)), pair_scales(S, g)));
        }
        int total = hsum_epi32(sumi) - 32 * hsum_epi32(_mm256_madd_epi16(sc16, load32(q8[i].bsums)));
        s += q8[i].d * (fp16_avx2(b[i].d) * (float)total);
    }
    return s;
}

LQMF_K_DOT_TILE(q6_K, avx2) {
    LQMF_K_TILE_ONE_TOKEN(q6_K, avx2)
    const block_q8_K *t[4];
    tile_tokens(a, as, nx, t);
    for (int r = 0; r < nr; r++) {
        const block_q6_K *b = (const block_q6_K *)((const uint8_t *)w + (size_t)r * ws);
        __m128 acc = _mm_setzero_ps();
        for (int64_t i = 0; i < n / QK_K; i++) {
            __m256i sc16 = _mm256_cvtepi8_epi16(load16(b[i].scales));
            __m256i sum[4]; /* start from the offset term: -32 * sum_s sc[s] * bsums[s] */
            for (int j = 0; j < 4; j++)
                sum[j] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                          _mm256_slli_epi32(_mm256_madd_epi16(sc16, load32(t[j][i].bsums)), 5));
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m256i u[4], S = half_scales(sc16, h);
                q6k_u(&b[i], h, u);
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++) {
                    __m256i sc = pair_scales(S, g);
#pragma GCC unroll 4
                    for (int j = 0; j < 4; j++)
                        sum[j] = _mm256_add_epi32(sum[j], dot_u8_s8(u[g], load32(t[j][i].qs + 32 * (4 * h + g)), sc));
                }
            }
            __m128 tot = _mm_mul_ps(_mm_set1_ps(fp16_avx2(b[i].d)), _mm_cvtepi32_ps(hadd4_128(sum)));
            acc = _mm_fmadd_ps(tile_token_scales(t, i), tot, acc);
        }
        tile_store_row(acc, nx, out + r, os);
    }
}

/* ---- IQ4_XS: sub-block s of 32 = nibbles of qs[16s ..] mapped through
 *      kvalues_iq4nl; y = d*(ls - 32)*kvalue --------------------------------- */

static inline __m256i iq4_values(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)lqmf_kvalues_iq4nl);
    return _mm256_shuffle_epi8(_mm256_set_m128i(t, t), nibbles_x32(qs));
}

LQMF_K_TO_FLOAT(iq4_xs, avx2) {
    const block_iq4_xs *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        float d = fp16_avx2(b[i].d);
        for (int s = 0; s < 8; s++)
            store_x32(y + 32 * s, iq4_values(b[i].qs + 16 * s), d * (float)(iq4xs_scale(&b[i], s) - 32),
                      0, STORE_MUL);
    }
}

LQMF_K_DOT(iq4_xs, avx2) {
    const block_iq4_xs *b = w;
    const block_q8_K *q8 = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++)
            sumi =
                _mm256_add_epi32(sumi, dot_s8_s8(iq4_values(b[i].qs + 16 * k), load32(q8[i].qs + 32 * k),
                                                 _mm256_set1_epi16((short)(iq4xs_scale(&b[i], k) - 32))));
        s += q8[i].d * (fp16_avx2(b[i].d) * (float)hsum_epi32(sumi));
    }
    return s;
}

/* ---- Q8_K ----------------------------------------------------------------- */

LQMF_K_TO_FLOAT(q8_K, avx2) {
    const block_q8_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int k = 0; k < 8; k++)
            store_x32(y + i * QK_K + 32 * k, load32(b[i].qs + 32 * k), b[i].d, 0, STORE_MUL);
}

/* As the reference: d = max|x|/127 (f32), a = round-to-even(x*127/max|x|). */
LQMF_K_FROM_FLOAT(q8_K, avx2) {
    block_q8_K *b = y;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 32; k++)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        __m256 id = _mm256_set1_ps(amax > 0 ? 127 / amax : 0);
        b[i].d = amax / 127;
        for (int c = 0; c < 8; c++) { /* 32 weights: two bsums */
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = _mm256_cvtps_epi32(
                    _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * c + 8 * k), id),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            b[i].bsums[2 * c] = (int16_t)hsum_epi32(_mm256_add_epi32(q[0], q[1]));
            b[i].bsums[2 * c + 1] = (int16_t)hsum_epi32(_mm256_add_epi32(q[2], q[3]));
            __m256i p =
                _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256(
                (__m256i *)(b[i].qs + 32 * c),
                _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
        }
    }
}
#endif
