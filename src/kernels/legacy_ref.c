/* 32-weight block types, scalar reference (the specification):
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL. Their vec_dot type is Q8_0.
 *
 * Each block decodes to 32 integer levels q[j] and a scale d (plus an offset
 * m for Q4_1/Q5_1): y[j] = d*q[j] (+ m). The dot product with a Q8_0 block
 * (scale da, levels a[j]) is da*(d*sum q*a (+ m*sum a)), summed in float. */
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "lqmf/types.h"

#include <math.h>

const int8_t lqmf_kvalues_iq4nl[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
                                        1,    13,   25,  38,  53,  69,  89,  113 };

typedef struct {
    float d, m;    /* scale and offset (m = 0 for the symmetric types) */
    bool affine;   /* y = d*q + m instead of y = d*q */
    int8_t q[QK32];
} lblock;

/* Nibbles: weight j < 16 is the low nibble of qs[j], weight j + 16 the high one. */
static void nibbles(const uint8_t qs[16], int8_t q[QK32], int bias) {
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((qs[j] & 15) - bias);
        q[j + 16] = (int8_t)((qs[j] >> 4) - bias);
    }
}

/* Q5: bit j of the little-endian 32-bit qh is bit 4 of weight j. */
static void add_high_bits(const uint8_t qh[4], int8_t q[QK32], int bias) {
    uint32_t h;
    memcpy(&h, qh, 4);
    for (int j = 0; j < QK32; j++) q[j] = (int8_t)(q[j] + (int)((h >> j) & 1) * 16 - bias);
}

static void unpack(lqmf_type t, const void *blocks, int64_t i, lblock *b) {
    b->affine = false;
    b->m = 0;
    switch (t) {
    case LQMF_TYPE_Q4_0: { /* q = nibble - 8 */
        const block_q4_0 *x = (const block_q4_0 *)blocks + i;
        b->d = lqmf_fp16_to_f32(x->d);
        nibbles(x->qs, b->q, 8);
        break;
    }
    case LQMF_TYPE_Q4_1: { /* q = nibble, y = d*q + m */
        const block_q4_1 *x = (const block_q4_1 *)blocks + i;
        b->d = lqmf_fp16_to_f32(x->d);
        b->m = lqmf_fp16_to_f32(x->m);
        b->affine = true;
        nibbles(x->qs, b->q, 0);
        break;
    }
    case LQMF_TYPE_Q5_0: { /* q = (nibble | high << 4) - 16 */
        const block_q5_0 *x = (const block_q5_0 *)blocks + i;
        b->d = lqmf_fp16_to_f32(x->d);
        nibbles(x->qs, b->q, 0);
        add_high_bits(x->qh, b->q, 16);
        break;
    }
    case LQMF_TYPE_Q5_1: { /* q = nibble | high << 4, y = d*q + m */
        const block_q5_1 *x = (const block_q5_1 *)blocks + i;
        b->d = lqmf_fp16_to_f32(x->d);
        b->m = lqmf_fp16_to_f32(x->m);
        b->affine = true;
        nibbles(x->qs, b->q, 0);
        add_high_bits(x->qh, b->q, 0);
        break;
    }
    case LQMF_TYPE_Q8_0: {
        const block_q8_0 *x = (const block_q8_0 *)blocks + i;
        b->d = lqmf_fp16_to_f32(x->d);
        memcpy(b->q, x->qs, QK32);
        break;
    }
    default: { /* IQ4_NL: q = kvalues_iq4nl[nibble] */
        const block_iq4_nl *x = (const block_iq4_nl *)blocks + i;
        b->d = lqmf_fp16_to_f32(x->d);
        for (int j = 0; j < 16; j++) {
            b->q[j] = lqmf_kvalues_iq4nl[x->qs[j] & 15];
            b->q[j + 16] = lqmf_kvalues_iq4nl[x->qs[j] >> 4];
        }
        break;
    }
    }
}

static void to_float(lqmf_type t, const void *x, float *y, int64_t n) {
    lblock b;
    for (int64_t i = 0; i < n / QK32; i++, y += QK32) {
        unpack(t, x, i, &b);
        for (int j = 0; j < QK32; j++) y[j] = b.affine ? b.d * b.q[j] + b.m : b.d * b.q[j];
    }
}

static float dot(lqmf_type t, int64_t n, const void *w, const void *a) {
    const block_q8_0 *act = a;
    lblock b;
    float s = 0;
    for (int64_t i = 0; i < n / QK32; i++) {
        unpack(t, w, i, &b);
        int sqa = 0, sa = 0; /* sum q*a, sum a */
        for (int j = 0; j < QK32; j++) {
            sqa += b.q[j] * act[i].qs[j];
            sa += act[i].qs[j];
        }
        float da = lqmf_fp16_to_f32(act[i].d);
        s += da * (b.d * (float)sqa + (b.affine ? b.m * (float)sa : 0.0f));
    }
    return s;
}

#define LEGACY(name, T)                                                                      \
    LQMF_K_TO_FLOAT(name, ref) { to_float(T, x, y, n); }                                     \
    LQMF_K_DOT(name, ref) { return dot(T, n, w, a); }
LEGACY(q4_0, LQMF_TYPE_Q4_0)
LEGACY(q4_1, LQMF_TYPE_Q4_1)
LEGACY(q5_0, LQMF_TYPE_Q5_0)
LEGACY(q5_1, LQMF_TYPE_Q5_1)
LEGACY(q8_0, LQMF_TYPE_Q8_0)
LEGACY(iq4_nl, LQMF_TYPE_IQ4_NL)

/* Activations: d = max|x| / 127, a = round(x / d) in [-127, 127] (never
 * -128, so SIMD kernels may negate a freely). */
LQMF_K_FROM_FLOAT(q8_0, ref) {
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK32; i++, x += QK32) {
        float amax = 0;
        for (int j = 0; j < QK32; j++) amax = lqmf_maxf(amax, fabsf(x[j]));
        float d = amax / 127, id = amax > 0 ? 127 / amax : 0;
        b[i].d = lqmf_f32_to_fp16(d);
        for (int j = 0; j < QK32; j++) b[i].qs[j] = (int8_t)lqmf_round(x[j] * id);
    }
}
