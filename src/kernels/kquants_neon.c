/* 256-weight super-block types, Arm NEON (AArch64): Q2_K, Q3_K, Q4_K, Q5_K,
 * Q6_K, IQ4_XS, and the activation type Q8_K.
 *
 * Every super-block unpacks to 16 registers of 16 int8 levels (register v
 * holds weights 16v .. 16v+15) with one integer scale and min per register
 * (a sub-block of 32 weights gives its scale to two registers). Dequantizing
 * rounds as the reference does, and the dot product sums the same integers
 * exactly and combines them with the reference's float formula per
 * super-block, so both give the reference's bits. A tile unpacks each
 * weight super-block once for all its tokens and gives vec_dot's bits. */
#if defined(__aarch64__)
#include "kernels/simd_neon.h"


typedef struct {
    int8x16_t q[16];        /* levels */
    int16_t sc[16], mn[16]; /* integer scale and min of each register (mins 0 when symmetric) */
    float d, dmin;          /* super-block scales (dmin 0 when symmetric) */
    store_op op;            /* STORE_SUB for Q2_K, Q4_K, Q5_K (y = dl*q - ml), else STORE_MUL */
} kb;

static inline uint8x16_t bits2(uint8x16_t v, int shift) {
    return vandq_u8(vshlq_u8(v, vdupq_n_s8((int8_t)-shift)), vdupq_n_u8(3));
}
static inline int8x16_t s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

/* Q2_K: register 8h + 2g + half holds (qs[32h + 16 half + j] >> 2g) & 3. */
static inline void unpack_q2_K(const block_q2_K *x, kb *b) {
    b->op = STORE_SUB;
    b->d = fp16_neon(x->d);
    b->dmin = fp16_neon(x->dmin);
    for (int s = 0; s < 16; s++) {
        b->sc[s] = x->scales[s] & 15;
        b->mn[s] = x->scales[s] >> 4;
    }
    for (int h = 0; h < 2; h++)
        for (int half = 0; half < 2; half++) {
            const uint8x16_t qs = vld1q_u8(x->qs + 32 * h + 16 * half);
            for (int g = 0; g < 4; g++) b->q[8 * h + 2 * g + half] = s8(bits2(qs, 2 * g));
        }
}

/* Q3_K: q = low2 + 4*high - 4, high = (hmask[16 half + j] >> (4h + g)) & 1. */
static inline void unpack_q3_K(const block_q3_K *x, kb *b) {
    b->op = STORE_MUL;
    b->d = fp16_neon(x->d);
    b->dmin = 0;
    for (int s = 0; s < 16; s++) {
        b->sc[s] = (int16_t)(q3k_scale(x->scales, s) - 32);
        b->mn[s] = 0;
    }
    for (int half = 0; half < 2; half++) {
        const uint8x16_t hm = vld1q_u8(x->hmask + 16 * half);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t qs = vld1q_u8(x->qs + 32 * h + 16 * half);
            for (int g = 0; g < 4; g++) {
                const uint8x16_t high =
                    vandq_u8(vtstq_u8(hm, vdupq_n_u8((uint8_t)(1u << (4 * h + g)))), vdupq_n_u8(4));
                b->q[8 * h + 2 * g + half] = vsubq_s8(s8(vorrq_u8(bits2(qs, 2 * g), high)), vdupq_n_s8(4));
            }
        }
    }
}

/* Q4_K / Q5_K: registers 4c, 4c+1 hold the low nibbles of qs[32c ..], 4c+2,
 * 4c+3 the high ones; Q5_K adds bit 2c (low) or 2c+1 (high) of qh[16 half + j]
 * as 16. qh is NULL for Q4_K. */
static inline void unpack_q45_K(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qh,
                                const uint8_t *qs, kb *b) {
    b->op = STORE_SUB;
    b->d = fp16_neon(d);
    b->dmin = fp16_neon(dmin);
    for (int s = 0; s < 8; s++) {
        int sc, m;
        k4_scale_min(scales, s, &sc, &m);
        b->sc[2 * s] = b->sc[2 * s + 1] = (int16_t)sc;
        b->mn[2 * s] = b->mn[2 * s + 1] = (int16_t)m;
    }
    const uint8x16_t m15 = vdupq_n_u8(15), s16 = vdupq_n_u8(16);
    for (int c = 0; c < 4; c++)
        for (int half = 0; half < 2; half++) {
            const uint8x16_t v = vld1q_u8(qs + 32 * c + 16 * half);
            uint8x16_t lo = vandq_u8(v, m15), hi = vshrq_n_u8(v, 4);
            if (qh) {
                const uint8x16_t h = vld1q_u8(qh + 16 * half);
                lo = vorrq_u8(lo, vandq_u8(vtstq_u8(h, vdupq_n_u8((uint8_t)(1u << 2 * c))), s16));
                hi = vorrq_u8(hi, vandq_u8(vtstq_u8(h, vdupq_n_u8((uint8_t)(2u << 2 * c))), s16));
            }
            b->q[4 * c + half] = s8(lo);
            b->q[4 * c + 2 + half] = s8(hi);
        }
}

/* Q6_K: register 8h + 2g + half: low 4 bits from ql[64h + 32(g&1) + 16 half + j]
 * (low nibble for g < 2), high 2 bits (qh[32h + 16 half + j] >> 2g) & 3; q - 32. */
static inline void unpack_q6_K(const block_q6_K *x, kb *b) {
    b->op = STORE_MUL;
    b->d = fp16_neon(x->d);
    b->dmin = 0;
    for (int s = 0; s < 16; s++) {
        b->sc[s] = x->scales[s];
        b->mn[s] = 0;
    }
    for (int h = 0; h < 2; h++)
        for (int half = 0; half < 2; half++) {
            const uint8x16_t qh = vld1q_u8(x->qh + 32 * h + 16 * half);
            const uint8x16_t l0 = vld1q_u8(x->ql + 64 * h + 16 * half);
            const uint8x16_t l1 = vld1q_u8(x->ql + 64 * h + 32 + 16 * half);
            const uint8x16_t low[4] = { vandq_u8(l0, vdupq_n_u8(15)), vandq_u8(l1, vdupq_n_u8(15)),
                                        vshrq_n_u8(l0, 4), vshrq_n_u8(l1, 4) };
            for (int g = 0; g < 4; g++) {
                const uint8x16_t q = vorrq_u8(low[g], vshlq_n_u8(bits2(qh, 2 * g), 4));
                b->q[8 * h + 2 * g + half] = vsubq_s8(s8(q), vdupq_n_s8(32));
            }
        }
}

/* IQ4_XS: registers 2s, 2s+1 hold kvalues of the low, high nibbles of qs[16s ..]. */
static inline void unpack_iq4_xs(const block_iq4_xs *x, kb *b) {
    b->op = STORE_MUL;
    b->d = fp16_neon(x->d);
    b->dmin = 0;
    const int8x16_t kv = vld1q_s8(lqmf_kvalues_iq4nl);
    for (int s = 0; s < 8; s++) {
        b->sc[2 * s] = b->sc[2 * s + 1] = (int16_t)(iq4xs_scale(x, s) - 32);
        b->mn[2 * s] = b->mn[2 * s + 1] = 0;
        const uint8x16_t v = vld1q_u8(x->qs + 16 * s);
        b->q[2 * s] = vqtbl1q_s8(kv, vandq_u8(v, vdupq_n_u8(15)));
        b->q[2 * s + 1] = vqtbl1q_s8(kv, vshrq_n_u8(v, 4));
    }
}

/* y = (d*sc)*q - dmin*mn per register. */
static inline void kb_store(const kb *b, float *y) {
#pragma GCC unroll 16
    for (int v = 0; v < 16; v++)
        store16_neon(y + 16 * v, b->q[v], b->d * (float)b->sc[v], b->dmin * (float)b->mn[v], b->op);
}

/* The reference's per-super-block term: a.d * (d * sum sc*(q.a) - dmin * sum mn*bsums). */
static inline float kb_dot(const kb *b, const block_q8_K *a) {
    int32x4_t acc = vdupq_n_s32(0);
#pragma GCC unroll 16
    for (int v = 0; v < 16; v++)
        acc = vmlaq_n_s32(acc, dot16(vdupq_n_s32(0), b->q[v], vld1q_s8(a->qs + 16 * v)), b->sc[v]);
    const int16x8_t m0 = vld1q_s16(b->mn), m1 = vld1q_s16(b->mn + 8);
    const int16x8_t s0 = vld1q_s16(a->bsums), s1 = vld1q_s16(a->bsums + 8);
    int32x4_t mm = vmull_s16(vget_low_s16(m0), vget_low_s16(s0));
    mm = vmlal_high_s16(mm, m0, s0);
    mm = vmlal_s16(mm, vget_low_s16(m1), vget_low_s16(s1));
    mm = vmlal_high_s16(mm, m1, s1);
    return a->d * (b->d * (float)vaddvq_s32(acc) - b->dmin * (float)vaddvq_s32(mm));
}

#define KQUANT(name, block, UNPACK)                                                                          \
    LQMF_K_TO_FLOAT(name, neon) {                                                                            \
        const block *x8 = x;                                                                                 \
        kb b;                                                                                                \
        for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {                                                  \
            UNPACK;                                                                                          \
            kb_store(&b, y);                                                                                 \
        }                                                                                                    \
    }                                                                                                        \
    LQMF_K_DOT(name, neon) {                                                                                 \
        const block *x8 = w;                                                                                 \
        const block_q8_K *q8 = a;                                                                            \
        kb b;                                                                                                \
        float s = 0;                                                                                         \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                             \
            UNPACK;                                                                                          \
            s += kb_dot(&b, &q8[i]);                                                                         \
        }                                                                                                    \
        return s;                                                                                            \
    }                                                                                                        \
    LQMF_K_DOT_TILE(name, neon) {                                                                            \
        float acc[4][4] = { { 0 } }; /* [row][token] */                                                      \
        kb b;                                                                                                \
        for (int64_t i = 0; i < n / QK_K; i++)                                                               \
            for (int r = 0; r < nr; r++) {                                                                   \
                const block *x8 = (const block *)((const uint8_t *)w + (size_t)r * ws);                      \
                UNPACK;                                                                                      \
                for (int j = 0; j < nx; j++)                                                                 \
                    acc[r][j] += kb_dot(&b, (const block_q8_K *)((const uint8_t *)a + (size_t)j * as) + i);  \
            }                                                                                                \
        for (int j = 0; j < nx; j++)                                                                         \
            for (int r = 0; r < nr; r++) out[(size_t)j * os + (size_t)r] = acc[r][j];                        \
    }

KQUANT(q2_K, block_q2_K, unpack_q2_K(&x8[i], &b))
KQUANT(q3_K, block_q3_K, unpack_q3_K(&x8[i], &b))
KQUANT(q4_K, block_q4_K, unpack_q45_K(x8[i].d, x8[i].dmin, x8[i].scales, NULL, x8[i].qs, &b))
KQUANT(q5_K, block_q5_K, unpack_q45_K(x8[i].d, x8[i].dmin, x8[i].scales, x8[i].qh, x8[i].qs, &b))
KQUANT(q6_K, block_q6_K, unpack_q6_K(&x8[i], &b))
KQUANT(iq4_xs, block_iq4_xs, unpack_iq4_xs(&x8[i], &b))

LQMF_K_TO_FLOAT(q8_K, neon) {
    const block_q8_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
        for (int v = 0; v < 16; v++)
            store16_neon(y + 16 * v, vld1q_s8(b[i].qs + 16 * v), b[i].d, 0, STORE_MUL);
}

/* Activations, as the reference: d = max|x| / 127 (f32), a = round-to-even(x*127/max|x|). */
LQMF_K_FROM_FLOAT(q8_K, neon) {
    block_q8_K *b = y;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        const float amax = amax_neon(x, QK_K), id = amax > 0 ? 127 / amax : 0;
        b[i].d = amax / 127;
        for (int k = 0; k < 16; k++) {
            const int8x16_t q = round16_neon(x + 16 * k, id);
            vst1q_s8(b[i].qs + 16 * k, q);
            b[i].bsums[k] = vaddlvq_s8(q);
        }
    }
}
#endif
