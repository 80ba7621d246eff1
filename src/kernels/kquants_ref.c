/* 256-weight super-block types, scalar reference (the specification):
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS, and the activation type Q8_K.
 *
 * A super-block decodes to 256 integer levels q[i], one integer scale sc[s]
 * (and min mn[s]) per sub-block s of 16 or 32 weights, and fp16 scales
 * d, dmin:  y[i] = (d*sc[s])*q[i] - (dmin*mn[s])   (floats, in that order).
 * The dot product with a Q8_K block (scale da, levels a[i], sub-block sums
 * bsums[k] of 16 levels) is
 *   da * (d * sum_s sc[s]*sum_{i in s} q[i]*a[i] - dmin * sum_s mn[s]*sum_{i in s} a[i]). */
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "lqmf/types.h"

#include <math.h>

typedef struct {
    float d, dmin;
    int nsub;              /* sub-blocks: 16 (of 16 weights) or 8 (of 32) */
    bool affine;           /* Q2_K, Q4_K, Q5_K: y = dl*q - ml; else y = dl*q */
    int sc[16], mn[16];    /* integer scales and mins (mins 0 for symmetric types) */
    int8_t q[QK_K];
} kblock;

static void unpack_q2_K(const block_q2_K *x, kblock *b) {
    b->d = lqmf_fp16_to_f32(x->d);
    b->dmin = lqmf_fp16_to_f32(x->dmin);
    b->nsub = 16;
    for (int s = 0; s < 16; s++) {
        b->sc[s] = x->scales[s] & 15;
        b->mn[s] = x->scales[s] >> 4;
    }
    for (int i = 0; i < QK_K; i++) { /* i = 128*h + 32*g + l */
        int h = i / 128, g = (i / 32) % 4, l = i % 32;
        b->q[i] = (int8_t)((x->qs[32 * h + l] >> 2 * g) & 3);
    }
}

static void unpack_q3_K(const block_q3_K *x, kblock *b) {
    b->d = lqmf_fp16_to_f32(x->d);
    b->dmin = 0;
    b->nsub = 16;
    for (int s = 0; s < 16; s++) {
        b->sc[s] = q3k_scale(x->scales, s) - 32;
        b->mn[s] = 0;
    }
    for (int i = 0; i < QK_K; i++) {
        int h = i / 128, g = (i / 32) % 4, l = i % 32;
        int low = (x->qs[32 * h + l] >> 2 * g) & 3, high = (x->hmask[l] >> (4 * h + g)) & 1;
        b->q[i] = (int8_t)(low + 4 * high - 4);
    }
}

/* Q4_K and Q5_K share scales and nibble order; qh is NULL for Q4_K. */
static void unpack_q45_K(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qh,
                         const uint8_t *qs, kblock *b) {
    b->d = lqmf_fp16_to_f32(d);
    b->dmin = lqmf_fp16_to_f32(dmin);
    b->nsub = 8;
    for (int s = 0; s < 8; s++) k4_scale_min(scales, s, &b->sc[s], &b->mn[s]);
    for (int i = 0; i < QK_K; i++) { /* i = 64*c + l */
        int c = i / 64, l = i % 64;
        int nib = l < 32 ? qs[32 * c + l] & 15 : qs[32 * c + l - 32] >> 4;
        int high = qh ? (qh[l % 32] >> (2 * c + l / 32)) & 1 : 0;
        b->q[i] = (int8_t)(nib | high << 4);
    }
}

static void unpack_q6_K(const block_q6_K *x, kblock *b) {
    b->d = lqmf_fp16_to_f32(x->d);
    b->dmin = 0;
    b->nsub = 16;
    for (int s = 0; s < 16; s++) {
        b->sc[s] = x->scales[s];
        b->mn[s] = 0;
    }
    for (int i = 0; i < QK_K; i++) { /* i = 128*h + 32*g + l */
        int h = i / 128, g = (i / 32) % 4, l = i % 32;
        int byte = x->ql[64 * h + l + 32 * (g & 1)];
        int low = g < 2 ? byte & 15 : byte >> 4;
        int high = (x->qh[32 * h + l] >> 2 * g) & 3;
        b->q[i] = (int8_t)((low | high << 4) - 32);
    }
}

static void unpack_iq4_xs(const block_iq4_xs *x, kblock *b) {
    b->d = lqmf_fp16_to_f32(x->d);
    b->dmin = 0;
    b->nsub = 8;
    for (int s = 0; s < 8; s++) {
        b->sc[s] = iq4xs_scale(x, s) - 32;
        b->mn[s] = 0;
        for (int j = 0; j < 16; j++) {
            b->q[32 * s + j] = lqmf_kvalues_iq4nl[x->qs[16 * s + j] & 15];
            b->q[32 * s + j + 16] = lqmf_kvalues_iq4nl[x->qs[16 * s + j] >> 4];
        }
    }
}

static void unpack(lqmf_type t, const void *blocks, int64_t i, kblock *b) {
    b->affine = t == LQMF_TYPE_Q2_K || t == LQMF_TYPE_Q4_K || t == LQMF_TYPE_Q5_K;
    switch (t) {
    case LQMF_TYPE_Q2_K: unpack_q2_K((const block_q2_K *)blocks + i, b); break;
    case LQMF_TYPE_Q3_K: unpack_q3_K((const block_q3_K *)blocks + i, b); break;
    case LQMF_TYPE_Q4_K: {
        const block_q4_K *x = (const block_q4_K *)blocks + i;
        unpack_q45_K(x->d, x->dmin, x->scales, NULL, x->qs, b);
        break;
    }
    case LQMF_TYPE_Q5_K: {
        const block_q5_K *x = (const block_q5_K *)blocks + i;
        unpack_q45_K(x->d, x->dmin, x->scales, x->qh, x->qs, b);
        break;
    }
    case LQMF_TYPE_Q6_K: unpack_q6_K((const block_q6_K *)blocks + i, b); break;
    default: unpack_iq4_xs((const block_iq4_xs *)blocks + i, b); break;
    }
}

static void to_float(lqmf_type t, const void *x, float *y, int64_t n) {
    kblock b;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        unpack(t, x, i, &b);
        int sub = QK_K / b.nsub;
        for (int s = 0; s < b.nsub; s++) {
            float dl = b.d * (float)b.sc[s], ml = b.dmin * (float)b.mn[s];
            for (int j = s * sub; j < (s + 1) * sub; j++)
                y[j] = b.affine ? dl * b.q[j] - ml : dl * b.q[j];
        }
    }
}

static float dot(lqmf_type t, int64_t n, const void *w, const void *a) {
    const block_q8_K *act = a;
    kblock b;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        unpack(t, w, i, &b);
        int sub = QK_K / b.nsub, sumi = 0, summ = 0;
        for (int k = 0; k < b.nsub; k++) {
            int sqa = 0;
            for (int j = k * sub; j < (k + 1) * sub; j++) sqa += b.q[j] * act[i].qs[j];
            sumi += b.sc[k] * sqa;
            for (int j = k * sub / 16; j < (k + 1) * sub / 16; j++) summ += b.mn[k] * act[i].bsums[j];
        }
        s += act[i].d * (b.d * (float)sumi - b.dmin * (float)summ);
    }
    return s;
}

#define KQUANT(name, T)                                                                      \
    LQMF_K_TO_FLOAT(name, ref) { to_float(T, x, y, n); }                                     \
    LQMF_K_DOT(name, ref) { return dot(T, n, w, a); }
KQUANT(q2_K, LQMF_TYPE_Q2_K)
KQUANT(q3_K, LQMF_TYPE_Q3_K)
KQUANT(q4_K, LQMF_TYPE_Q4_K)
KQUANT(q5_K, LQMF_TYPE_Q5_K)
KQUANT(q6_K, LQMF_TYPE_Q6_K)
KQUANT(iq4_xs, LQMF_TYPE_IQ4_XS)

LQMF_K_TO_FLOAT(q8_K, ref) {
    const block_q8_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++) y[j] = b[i].d * b[i].qs[j];
}

/* Activations: d = max|x| / 127 (f32), a = round(x / d) in [-127, 127]. */
LQMF_K_FROM_FLOAT(q8_K, ref) {
    block_q8_K *b = y;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0;
        for (int j = 0; j < QK_K; j++) amax = lqmf_maxf(amax, fabsf(x[j]));
        float id = amax > 0 ? 127 / amax : 0;
        b[i].d = amax / 127;
        for (int k = 0; k < 16; k++) {
            int sum = 0;
            for (int j = 16 * k; j < 16 * k + 16; j++) {
                b[i].qs[j] = (int8_t)lqmf_round(x[j] * id);
                sum += b[i].qs[j];
            }
            b[i].bsums[k] = (int16_t)sum;
        }
    }
}
