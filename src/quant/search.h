/* Weighted least-squares searches shared by the quantizers (private).
 *
 * A block of n weights x[i] with importances w[i] >= 0 is represented as
 * d*v(q[i]) (symmetric) or d*q[i] + m (affine), q[i] an integer level. The
 * searches minimise E = sum_i w[i]*(x[i] - y[i])^2 in three stages:
 *   1. a grid of candidate inverse scales (the largest |x| mapped near each
 *      end of the level range, with and without clipping), each followed by
 *      the least-squares scale (and offset) for the levels it produced;
 *   2. Lloyd steps from the best: re-round with the fitted scale, refit;
 *   3. coordinate descent: move single levels by +-1 while E decreases.
 * For fixed levels the best scale is closed-form, so the searches compare
 * E(q) = sum w x^2 - (sum w x v)^2 / (sum w v^2) (symmetric case). */
#ifndef LQMF_QUANT_SEARCH_H
#define LQMF_QUANT_SEARCH_H

#include "kernels/blocks.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* The levels one weight may take: indices lo..hi; the value of index k is k
 * (val == NULL) or val[k] (a sorted table, then lo == 0). */
typedef struct {
    int lo, hi;
    const int8_t *val;
} lqmf_levels;

static inline int lqmf_level_value(const lqmf_levels *lv, int k) { return lv->val ? lv->val[k] : k; }

/* Index of the level nearest to v (v may be any float, NaN maps to lo). */
static inline int lqmf_level_nearest(const lqmf_levels *lv, float v) {
    if (!lv->val) {
        float lo = (float)lv->lo, hi = (float)lv->hi;
        v = v > lo ? v : lo; /* written out (not fminf) so it compiles to minss/maxss */
        v = v < hi ? v : hi;
        return lqmf_round(v);
    }
    const int8_t *t = lv->val;
    if (!(v > t[0])) return 0;
    if (v >= t[lv->hi]) return lv->hi;
    int a = 0, b = lv->hi; /* t[a] < v <= t[b] */
    while (b - a > 1) {
        int mid = (a + b) / 2;
        if (v > t[mid]) a = mid;
        else b = mid;
    }
    return v - (float)t[a] < (float)t[b] - v ? a : b;
}

/* r[i] = value of the level nearest to (x[i] - off) * iscale, i < n
 * (n a multiple of 8, at most 32). */
void lqmf_round_levels(int n, const float *x, float off, float iscale, const lqmf_levels *lv, float *r);
/* Index of the level whose value is r (r from lqmf_round_levels). */
int lqmf_level_index(const lqmf_levels *lv, float r);

/* Symmetric fit x ~ d*v(q): writes level indices q[n], returns d (may be
 * negative; 0 when every x is 0). n a multiple of 8, at most 32. */
float lqmf_fit_sym(int n, const float *x, const float *w, const lqmf_levels *lv, int8_t *q);

/* Affine fit x ~ d*q + m with q in [0, qmax], d >= 0; m <= 0 when m_nonpos
 * (the k-quant mins). Writes q[n] and *m, returns d. n as above. */
float lqmf_fit_affine(int n, const float *x, const float *w, int qmax, bool m_nonpos, uint8_t *q,
                      float *m);

/* Importance weights of a block of n weights, x already divided by its
 * max |x|: w[i] = im[i] * sqrt(s2 + x[i]^2), s2 = mean x^2 of the block and
 * im = imatrix / max(imatrix) over the block (1 when imatrix is NULL or all 0).
 * Large weights count more, never to the exclusion of small ones. */
void lqmf_block_weights(int n, const float *x, const float *imatrix, float *w);

/* Divide x[n] by max|x| into xn; returns max|x| (0: xn is all zero). */
float lqmf_block_normalize(int n, const float *x, float *xn);

/* v rounded to the nearest fp16 value, saturating at +-65504. */
float lqmf_fp16_round(float v);

#endif
