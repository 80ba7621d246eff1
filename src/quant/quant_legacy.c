/* Quantizers of the 32-weight block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * IQ4_NL. Each block gets the weighted least-squares search of search.h on
 * its values divided by max|x| (so any magnitude is safe), then the scale is
 * rounded to fp16 and every weight re-rounded to the level nearest x/d,
 * which is optimal for that stored scale. */
#include "kernels/blocks.h"
#include "quant/quantizers.h"
#include "quant/search.h"

#include "lqmf/core.h"

/* Symmetric block: levels q (indices of lv) and the returned fp16 scale d. */
static float block_sym(const float *x, const float *im, const lqmf_levels *lv, int8_t q[QK32]) {
    float xn[QK32], w[QK32];
    float amax = lqmf_block_normalize(QK32, x, xn);
    float d = 0;
    if (amax > 0) {
        lqmf_block_weights(QK32, xn, im, w);
        d = lqmf_fp16_round(lqmf_fit_sym(QK32, xn, w, lv, q) * amax);
    }
    float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK32; j++) q[j] = (int8_t)lqmf_level_nearest(lv, x[j] * id);
    return d;
}

/* Affine block y = d*q + m, q in [0, qmax]: returns fp16 d, sets fp16 *m. */
static float block_affine(const float *x, const float *im, int qmax, uint8_t q[QK32], float *m) {
    float xn[QK32], w[QK32];
    float amax = lqmf_block_normalize(QK32, x, xn), d = 0;
    *m = 0;
    if (amax > 0) {
        lqmf_block_weights(QK32, xn, im, w);
        d = lqmf_fit_affine(QK32, xn, w, qmax, false, q, m);
        d = lqmf_fp16_round(d * amax);
        *m = lqmf_fp16_round(*m * amax);
    }
    float id = d != 0 ? 1.0f / d : 0.0f;
    lqmf_levels lv = { 0, qmax, NULL };
    for (int j = 0; j < QK32; j++) q[j] = (uint8_t)lqmf_level_nearest(&lv, (x[j] - *m) * id);
    return d;
}

/* Low 4 bits of weight j < 16 in the low nibble of qs[j], of j + 16 in the high one. */
static void pack_nibbles(const uint8_t u[QK32], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((u[j] & 15) | (u[j + 16] & 15) << 4);
}

/* Bit 4 of weight j as bit j of the little-endian 32-bit qh. */
static void pack_high(const uint8_t u[QK32], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < QK32; j++) h |= (uint32_t)((u[j] >> 4) & 1) << j;
    memcpy(qh, &h, 4);
}

/* Levels biased to unsigned: u = q + bias. */
static void bias_levels(const int8_t q[QK32], int bias, uint8_t u[QK32]) {
    for (int j = 0; j < QK32; j++) u[j] = (uint8_t)(q[j] + bias);
}

static const float *block_im(const float *imatrix, int64_t i) {
    return imatrix ? imatrix + i * QK32 : NULL;
}

LQMF_Q_DECLARE(q4_0) {
    static const lqmf_levels lv = { -8, 7, NULL };
    block_q4_0 *b = y;
    int8_t q[QK32];
    uint8_t u[QK32];
    for (int64_t i = 0; i < n / QK32; i++) {
        b[i].d = lqmf_f32_to_fp16(block_sym(x + i * QK32, block_im(imatrix, i), &lv, q));
        bias_levels(q, 8, u);
        pack_nibbles(u, b[i].qs);
    }
}

LQMF_Q_DECLARE(q5_0) {
    static const lqmf_levels lv = { -16, 15, NULL };
    block_q5_0 *b = y;
    int8_t q[QK32];
    uint8_t u[QK32];
    for (int64_t i = 0; i < n / QK32; i++) {
        b[i].d = lqmf_f32_to_fp16(block_sym(x + i * QK32, block_im(imatrix, i), &lv, q));
        bias_levels(q, 16, u);
        pack_nibbles(u, b[i].qs);
        pack_high(u, b[i].qh);
    }
}

LQMF_Q_DECLARE(q8_0) { /* levels +-127: -128 is never produced */
    static const lqmf_levels lv = { -127, 127, NULL };
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK32; i++)
        b[i].d = lqmf_f32_to_fp16(block_sym(x + i * QK32, block_im(imatrix, i), &lv, b[i].qs));
}

LQMF_Q_DECLARE(iq4_nl) {
    static const lqmf_levels lv = { 0, 15, lqmf_kvalues_iq4nl };
    block_iq4_nl *b = y;
    int8_t q[QK32];
    uint8_t u[QK32];
    for (int64_t i = 0; i < n / QK32; i++) {
        b[i].d = lqmf_f32_to_fp16(block_sym(x + i * QK32, block_im(imatrix, i), &lv, q));
        bias_levels(q, 0, u);
        pack_nibbles(u, b[i].qs);
    }
}

LQMF_Q_DECLARE(q4_1) {
    block_q4_1 *b = y;
    uint8_t u[QK32];
    float m;
    for (int64_t i = 0; i < n / QK32; i++) {
        b[i].d = lqmf_f32_to_fp16(block_affine(x + i * QK32, block_im(imatrix, i), 15, u, &m));
        b[i].m = lqmf_f32_to_fp16(m);
        pack_nibbles(u, b[i].qs);
    }
}

LQMF_Q_DECLARE(q5_1) {
    block_q5_1 *b = y;
    uint8_t u[QK32];
    float m;
    for (int64_t i = 0; i < n / QK32; i++) {
        b[i].d = lqmf_f32_to_fp16(block_affine(x + i * QK32, block_im(imatrix, i), 31, u, &m));
        b[i].m = lqmf_f32_to_fp16(m);
        pack_nibbles(u, b[i].qs);
        pack_high(u, b[i].qh);
    }
}
