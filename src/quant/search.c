/* Weighted least-squares scale searches (see search.h for the method).
 * Inner loops work on float level values with eight partial sums, a shape
 * the compiler vectorizes; n is a multiple of 8 and at most 32. */
#include "quant/search.h"

#include "lqmf/core.h"

#include <string.h>

enum {
    GRID_STEPS = 8, /* candidate inverse scales per end of the level range */
    LLOYD_STEPS = 6,
    CD_PASSES = 4,
    NMAX = 32,
};
/* Candidates put the largest |x| at |end| + delta level spacings, delta in
 * [GRID_LO, GRID_LO + GRID_SPAN]: slightly inside the range down to clipped. */
#define GRID_LO (-0.5f)
#define GRID_SPAN 2.0f

/* A table of levels is walked as a sum of steps taken where v passes each midpoint. */
void lqmf_round_levels(int n, const float *restrict x, float off, float iscale, const lqmf_levels *lv,
                       float *restrict r) {
    if (!lv->val) {
        float lo = (float)lv->lo, hi = (float)lv->hi;
        for (int i = 0; i < n; i += 8)
            for (int l = 0; l < 8; l++) {
                float v = (x[i + l] - off) * iscale;
                v = v > lo ? v : lo;
                v = v < hi ? v : hi;
                r[i + l] = (v + 12582912.0f) - 12582912.0f; /* round half to even */
            }
        return;
    }
    const int8_t *t = lv->val;
    float v[NMAX];
    for (int i = 0; i < n; i += 8)
        for (int l = 0; l < 8; l++) {
            v[i + l] = (x[i + l] - off) * iscale;
            r[i + l] = t[0];
        }
    for (int k = 0; k < lv->hi; k++) {
        float mid = 0.5f * (float)(t[k] + t[k + 1]), step = (float)(t[k + 1] - t[k]);
        for (int i = 0; i < n; i += 8)
            for (int l = 0; l < 8; l++) r[i + l] += v[i + l] > mid ? step : 0.0f;
    }
}

int lqmf_level_index(const lqmf_levels *lv, float r) {
    return lv->val ? lqmf_level_nearest(lv, r) : (int)r;
}

static float sum8(const float a[8]) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* ---- symmetric ----------------------------------------------------------- */

typedef struct {
    float xv, vv; /* sum w*x*v, sum w*v*v */
} sym_sums;

static sym_sums sym_eval(int n, const float *wx, const float *w, const float *r) {
    float axv[8] = { 0 }, avv[8] = { 0 };
    for (int i = 0; i < n; i += 8)
        for (int l = 0; l < 8; l++) {
            axv[l] += wx[i + l] * r[i + l];
            avv[l] += w[i + l] * r[i + l] * r[i + l];
        }
    return (sym_sums) { sum8(axv), sum8(avv) };
}

/* Better means a larger xv^2/vv (the error is sum w x^2 minus this). */
static bool sym_better(sym_sums a, sym_sums b) {
    if (!(a.vv > 0)) return false;
    if (!(b.vv > 0)) return true;
    return a.xv * a.xv * b.vv > b.xv * b.xv * a.vv;
}

float lqmf_fit_sym(int n, const float *x, const float *w, const lqmf_levels *lv, int8_t *q) {
    float amax = 0, vmax = 0, wx[NMAX], r[NMAX], best_r[NMAX];
    for (int i = 0; i < n; i++) {
        wx[i] = w[i] * x[i];
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), vmax = x[i];
    }
    if (!(amax > 0)) {
        int zero = lqmf_level_nearest(lv, 0);
        for (int i = 0; i < n; i++) q[i] = (int8_t)zero;
        return 0;
    }
    sym_sums best = { 0, 0 };
    bool have = false;
    /* 1. grid: vmax maps near each non-zero end of the range (one end when
     *    the range is symmetric: the other gives the same candidates) */
    float vlo = (float)lqmf_level_value(lv, lv->lo), vhi = (float)lqmf_level_value(lv, lv->hi);
    for (int e = 0; e < 2; e++) {
        float end = e ? vhi : vlo;
        if (end == 0 || (e == 1 && vlo == -vhi)) continue;
        float next = (float)lqmf_level_value(lv, e ? lv->hi - 1 : lv->lo + 1);
        float spacing = fabsf(end - next), sign = (end > 0) == (vmax > 0) ? 1.0f : -1.0f;
        for (int k = 0; k < GRID_STEPS; k++) {
            float target =
                fabsf(end) + spacing * (GRID_LO + GRID_SPAN * (float)k / (float)(GRID_STEPS - 1));
            lqmf_round_levels(n, x, 0, sign * target / amax, lv, r);
            sym_sums s = sym_eval(n, wx, w, r);
            if (!have || sym_better(s, best)) {
                best = s, have = true;
                memcpy(best_r, r, sizeof(float) * (size_t)n);
            }
        }
    }
    /* 2. Lloyd: re-round with the least-squares scale xv/vv */
    for (int it = 0; it < LLOYD_STEPS && best.vv > 0 && best.xv != 0; it++) {
        lqmf_round_levels(n, x, 0, best.vv / best.xv, lv, r);
        sym_sums s = sym_eval(n, wx, w, r);
        if (!sym_better(s, best)) break;
        best = s;
        memcpy(best_r, r, sizeof(float) * (size_t)n);
    }
    for (int i = 0; i < n; i++) q[i] = (int8_t)lqmf_level_index(lv, best_r[i]);
    /* 3. coordinate descent on single levels, each moved one step towards
     *    its value (the other way cannot pay off through the refit) */
    for (int pass = 0; pass < CD_PASSES && best.vv > 0; pass++) {
        bool moved = false;
        float d = best.xv / best.vv;
        for (int i = 0; i < n; i++) {
            float v = (float)lqmf_level_value(lv, q[i]);
            int k = q[i] + ((x[i] - d * v > 0) == (d > 0) ? 1 : -1);
            if (w[i] <= 0 || k < lv->lo || k > lv->hi) continue;
            float v2 = (float)lqmf_level_value(lv, k);
            sym_sums s = { best.xv + wx[i] * (v2 - v), best.vv + w[i] * (v2 * v2 - v * v) };
            if (sym_better(s, best)) {
                best = s, moved = true;
                q[i] = (int8_t)k;
                d = best.xv / best.vv;
            }
        }
        if (!moved) break;
    }
    return best.vv > 0 ? best.xv / best.vv : 0;
}

/* ---- affine -------------------------------------------------------------- */

typedef struct {
    double w, x, q, qq, xq; /* sums of w, w*x, w*q, w*q^2, w*x*q */
} aff_sums;

/* Least-squares (d, m) for fixed levels under d >= 0 (and m <= 0 when
 * m_nonpos). Returns the error reduction sum w x^2 - E, which at the
 * constrained optimum equals d*xq + m*x. */
static double aff_solve(const aff_sums *s, bool m_nonpos, double *d, double *m) {
    double det = s->w * s->qq - s->q * s->q;
    *d = 0;
    *m = s->w > 0 ? s->x / s->w : 0;
    if (det > 1e-12 * s->w * s->qq) {
        *d = (s->w * s->xq - s->x * s->q) / det;
        *m = (s->qq * s->x - s->q * s->xq) / det;
    }
    if (m_nonpos && *m > 0) {
        *m = 0;
        *d = s->qq > 0 ? s->xq / s->qq : 0;
    }
    if (*d < 0) {
        *d = 0;
        *m = s->w > 0 ? s->x / s->w : 0;
        if (m_nonpos && *m > 0) *m = 0;
    }
    return *d * s->xq + *m * s->x;
}

/* Level-dependent sums for levels r; w and x sums (constant) come from base. */
static aff_sums aff_eval(int n, const float *wx, const float *w, const float *r, aff_sums base) {
    float aq[8] = { 0 }, aqq[8] = { 0 }, axq[8] = { 0 };
    for (int i = 0; i < n; i += 8)
        for (int l = 0; l < 8; l++) {
            float wr = w[i + l] * r[i + l];
            aq[l] += wr;
            aqq[l] += wr * r[i + l];
            axq[l] += wx[i + l] * r[i + l];
        }
    base.q = sum8(aq), base.qq = sum8(aqq), base.xq = sum8(axq);
    return base;
}

float lqmf_fit_affine(int n, const float *x, const float *w, int qmax, bool m_nonpos, uint8_t *q,
                      float *m) {
    float lo = x[0], hi = x[0], wx[NMAX], r[NMAX], best_r[NMAX];
    aff_sums base = { 0, 0, 0, 0, 0 };
    for (int i = 0; i < n; i++) {
        lo = lqmf_minf(lo, x[i]);
        hi = lqmf_maxf(hi, x[i]);
        wx[i] = w[i] * x[i];
        base.w += w[i];
        base.x += wx[i];
    }
    if (m_nonpos) lo = lqmf_minf(lo, 0);
    if (!(hi > lo)) { /* constant block (<= 0 when m_nonpos) */
        memset(q, 0, (size_t)n);
        *m = lo;
        return 0;
    }
    const lqmf_levels lv = { 0, qmax, NULL };
    aff_sums best = base;
    double gbest = -1, d = 0, mm = 0, bd = 0, bm = 0;
    /* 1. grid: [lo, hi] spans qmax - 1 .. qmax + 1 levels */
    for (int k = 0; k < GRID_STEPS; k++) {
        float span = (float)qmax - 1.0f + 2.0f * (float)k / (float)(GRID_STEPS - 1);
        lqmf_round_levels(n, x, lo, span / (hi - lo), &lv, r);
        aff_sums s = aff_eval(n, wx, w, r, base);
        double g = aff_solve(&s, m_nonpos, &d, &mm);
        if (g > gbest) {
            gbest = g, best = s, bd = d, bm = mm;
            memcpy(best_r, r, sizeof(float) * (size_t)n);
        }
    }
    /* 2. Lloyd */
    for (int it = 0; it < LLOYD_STEPS && bd > 0; it++) {
        lqmf_round_levels(n, x, (float)bm, (float)(1 / bd), &lv, r);
        aff_sums s = aff_eval(n, wx, w, r, base);
        double g = aff_solve(&s, m_nonpos, &d, &mm);
        if (!(g > gbest)) break;
        gbest = g, best = s, bd = d, bm = mm;
        memcpy(best_r, r, sizeof(float) * (size_t)n);
    }
    for (int i = 0; i < n; i++) q[i] = (uint8_t)best_r[i];
    /* 3. coordinate descent, one step towards the value as above */
    for (int pass = 0; pass < CD_PASSES; pass++) {
        bool moved = false;
        for (int i = 0; i < n; i++) {
            int dir = x[i] - (float)(bd * q[i] + bm) > 0 ? 1 : -1, k = q[i] + dir;
            if (w[i] <= 0 || k < 0 || k > qmax) continue;
            aff_sums s = best;
            s.q += (double)w[i] * dir;
            s.qq += (double)w[i] * (k * k - q[i] * q[i]);
            s.xq += (double)wx[i] * dir;
            double g = aff_solve(&s, m_nonpos, &d, &mm);
            if (g > gbest * (1 + 1e-12)) {
                gbest = g, best = s, bd = d, bm = mm, moved = true;
                q[i] = (uint8_t)k;
            }
        }
        if (!moved) break;
    }
    *m = (float)bm;
    return (float)bd;
}

/* ---- helpers ------------------------------------------------------------- */

void lqmf_block_weights(int n, const float *x, const float *imatrix, float *w) {
    float s2 = 0, imax = 0;
    for (int i = 0; i < n; i++) s2 += x[i] * x[i];
    s2 /= (float)n;
    if (imatrix)
        for (int i = 0; i < n; i++) imax = lqmf_maxf(imax, imatrix[i]);
    for (int i = 0; i < n; i++) {
        float im = imax > 0 ? imatrix[i] / imax : 1.0f;
        w[i] = im * sqrtf(s2 + x[i] * x[i]);
    }
}

float lqmf_block_normalize(int n, const float *x, float *xn) {
    float amax = 0;
    for (int i = 0; i < n; i++) amax = lqmf_maxf(amax, fabsf(x[i]));
    if (!(amax >= 1e-30f)) amax = 0; /* below any fp16 scale: treat as zero */
    float inv = amax > 0 ? 1.0f / amax : 0.0f;
    for (int i = 0; i < n; i++) xn[i] = x[i] * inv;
    return amax;
}

float lqmf_fp16_round(float v) {
    v = lqmf_minf(lqmf_maxf(v, -65504.0f), 65504.0f);
    return lqmf_fp16_to_f32(lqmf_f32_to_fp16(v));
}
