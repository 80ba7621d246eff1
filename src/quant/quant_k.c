/* Quantizers of the 256-weight super-block types: Q2_K, Q3_K, Q4_K, Q5_K,
 * Q6_K, IQ4_XS. All share one two-level search:
 *   1. each sub-block (16 or 32 weights) gets its own float scale (and min)
 *      from the searches of search.h;
 *   2. those scales are themselves quantized: a weighted symmetric fit of the
 *      float scales to the integer scale range gives the fp16 super-scale d
 *      (and dmin), each scale error weighted by how much it costs the block
 *      (sum w*v^2 for scales, sum w for mins);
 *   3. every sub-block then tries its integer scale (and min) +-1 around the
 *      rounded value, re-rounding its weights for each, and keeps the pair of
 *      least weighted error;
 *   4. d (and dmin) are refitted by least squares over the whole super-block
 *      for the chosen integers, rounded to fp16, and step 3 repeats while the
 *      total error falls.
 * All of this runs on the super-block divided by its max |x|. The error
 * weights are those of lqmf_block_weights; Q3_K's eight levels also weigh
 * the largest weights up (1 + 4x^4: tiny-gpt2's Q3_K_M KL 5 % lower,
 * docs/compatibility.md). */
#include "kernels/blocks.h"
#include "quant/quantizers.h"
#include "quant/search.h"

#include "lqmf/core.h"

#include <string.h>

typedef struct {
    int sub;          /* weights per sub-block: 16 or 32 */
    lqmf_levels lv;   /* levels of one weight */
    bool affine;      /* y = (d*sc)*v - dmin*mn, else y = (d*sc)*v */
    int sc_lo, sc_hi; /* integer sub-scale range */
    int mn_hi;        /* integer mins in [0, mn_hi] (affine) */
    float peak;       /* error weights times 1 + peak*x^4 (x / max|x|) */
} kq_spec;

typedef struct {
    float d, dmin; /* stored fp16 scales */
    int sc[16], mn[16];
    int8_t q[QK_K]; /* level indices of lv */
} kq_block;

enum {
    REFITS = 3, /* rounds of step 4 at most */
    WIN = 1,    /* step 3 tries integer scales (and mins) within +-WIN */
};

static const kq_spec k_q2_K = { 16, { 0, 3, NULL }, true, 0, 15, 15, 0 };
static const kq_spec k_q3_K = { 16, { -4, 3, NULL }, false, -32, 31, 0, 4 };
static const kq_spec k_q4_K = { 32, { 0, 15, NULL }, true, 0, 63, 63, 0 };
static const kq_spec k_q5_K = { 32, { 0, 31, NULL }, true, 0, 63, 63, 0 };
static const kq_spec k_q6_K = { 16, { -32, 31, NULL }, false, -128, 127, 0, 0 };
static const kq_spec k_iq4_xs = { 32, { 0, 15, lqmf_kvalues_iq4nl }, false, -32, 31, 0, 0 };

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Levels r (values) of one sub-block for the given scale and min
 * (normalised domain); returns the weighted error. */
static float sub_round(const kq_spec *sp, const float *restrict x, const float *restrict w, float scale,
                       float min, float *restrict r) {
    if (scale != 0)
        lqmf_round_levels(sp->sub, x, -min, 1.0f / scale, &sp->lv, r);
    else
        for (int i = 0; i < sp->sub; i++) r[i] = 0; /* every level gives y = -min */
    float acc[8] = { 0 };
    for (int i = 0; i < sp->sub; i += 8)
        for (int l = 0; l < 8; l++) {
            float e = x[i + l] - (scale * r[i + l] - min);
            acc[l] += w[i + l] * e * e;
        }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Step 3: integer scales and levels for given fp16 d, dmin (dn, dminn are
 * those divided by amax); s, mf are the float sub-block scales and mins. */
static float assign(const kq_spec *sp, const float *x, const float *w, float d, float dmin, float amax,
                    const float *s, const float *mf, kq_block *b) {
    float dn = d / amax, dminn = dmin / amax, total = 0;
    int nsub = QK_K / sp->sub;
    float r[32], best_r[32];
    b->d = d;
    b->dmin = dmin;
    for (int j = 0; j < nsub; j++) {
        const float *xj = x + j * sp->sub, *wj = w + j * sp->sub;
        int sc0 = dn != 0 ? lqmf_round(lqmf_minf(lqmf_maxf(s[j] / dn, -1e6f), 1e6f)) : 0;
        int mn0 = sp->affine && dminn != 0 ? lqmf_round(lqmf_minf(mf[j] / dminn, 1e6f)) : 0;
        int sc_from = clampi(sc0 - WIN, sp->sc_lo, sp->sc_hi), sc_to = clampi(sc0 + WIN, sp->sc_lo, sp->sc_hi);
        int mn_from = clampi(mn0 - WIN, 0, sp->mn_hi), mn_to = clampi(mn0 + WIN, 0, sp->mn_hi);
        float best = INFINITY;
        for (int sc = sc_from; sc <= sc_to; sc++)
            for (int mn = mn_from; mn <= mn_to; mn++) {
                float e = sub_round(sp, xj, wj, dn * (float)sc, dminn * (float)mn, r);
                if (e < best) {
                    best = e;
                    b->sc[j] = sc;
                    b->mn[j] = mn;
                    memcpy(best_r, r, sizeof(float) * (size_t)sp->sub);
                }
            }
        int zero = lqmf_level_nearest(&sp->lv, 0);
        for (int i = 0; i < sp->sub; i++) /* a zero scale keeps the level of value 0 */
            b->q[j * sp->sub + i] =
                (int8_t)(dn * (float)b->sc[j] != 0 ? lqmf_level_index(&sp->lv, best_r[i]) : zero);
        total += best;
    }
    return total;
}

/* Step 4: least-squares d (and dmin) for the integers of b, normalised domain. */
static void refit(const kq_spec *sp, const float *x, const float *w, const kq_block *b, float amax,
                  float *d, float *dmin) {
    double A = 0, B = 0, C = 0, P = 0, R = 0; /* sums w*a*a, w*a*c, w*c*c, w*x*a, w*x*c */
    for (int i = 0; i < QK_K; i++) {
        int j = i / sp->sub;
        double a = (double)b->sc[j] * lqmf_level_value(&sp->lv, b->q[i]), c = -(double)b->mn[j];
        A += w[i] * a * a;
        B += w[i] * a * c;
        C += w[i] * c * c;
        P += w[i] * x[i] * a;
        R += w[i] * x[i] * c;
    }
    double dn = A > 0 ? P / A : 0, dmn = *dmin / amax;
    double det = A * C - B * B;
    if (sp->affine && C > 0 && det > 1e-12 * A * C) {
        dn = (C * P - B * R) / det;
        dmn = (A * R - B * P) / det;
        if (dmn < 0) dmn = 0, dn = A > 0 ? P / A : 0;
        if (dn < 0) dn = 0, dmn = C > 0 ? R / C : 0;
    } else if (sp->affine && A > 0) {
        dn = (P - dmn * B) / A;
    }
    *d = lqmf_fp16_round((float)dn * amax);
    *dmin = lqmf_fp16_round((float)dmn * amax);
}

static void kq_quantize(const kq_spec *sp, const float *x, const float *im, kq_block *b) {
    float xn[QK_K], w[QK_K], s[16], mf[16], imp_s[16], imp_m[16];
    int nsub = QK_K / sp->sub;
    float amax = lqmf_block_normalize(QK_K, x, xn);
    memset(b, 0, sizeof *b);
    if (amax == 0) {
        memset(b->q, lqmf_level_nearest(&sp->lv, 0), QK_K);
        return;
    }
    lqmf_block_weights(QK_K, xn, im, w);
    for (int i = 0; sp->peak > 0 && i < QK_K; i++) w[i] *= 1 + sp->peak * xn[i] * xn[i] * xn[i] * xn[i];
    /* 1. float scale (and min) per sub-block */
    for (int j = 0; j < nsub; j++) {
        const float *xj = xn + j * sp->sub, *wj = w + j * sp->sub;
        imp_s[j] = imp_m[j] = 0;
        if (sp->affine) {
            uint8_t u[32];
            float m;
            s[j] = lqmf_fit_affine(sp->sub, xj, wj, sp->lv.hi, true, u, &m);
            mf[j] = -m;
            for (int i = 0; i < sp->sub; i++) {
                imp_s[j] += wj[i] * (float)(u[i] * u[i]);
                imp_m[j] += wj[i];
            }
        } else {
            int8_t q[32];
            s[j] = lqmf_fit_sym(sp->sub, xj, wj, &sp->lv, q);
            mf[j] = 0;
            for (int i = 0; i < sp->sub; i++) {
                float v = (float)lqmf_level_value(&sp->lv, q[i]);
                imp_s[j] += wj[i] * v * v;
            }
        }
    }
    /* 2. the integer scales: a symmetric fit of s[] to [sc_lo, sc_hi] */
    int8_t tmp[16];
    lqmf_levels slv = { sp->sc_lo, sp->sc_hi, NULL }, mlv = { 0, sp->mn_hi, NULL };
    float d = lqmf_fp16_round(lqmf_fit_sym(nsub, s, imp_s, &slv, tmp) * amax);
    float dmin = sp->affine ? lqmf_fp16_round(lqmf_fit_sym(nsub, mf, imp_m, &mlv, tmp) * amax) : 0;
    /* 3. and 4. */
    float err = assign(sp, xn, w, d, dmin, amax, s, mf, b);
    for (int it = 0; it < REFITS; it++) {
        kq_block cand;
        float d2 = d, dmin2 = dmin;
        refit(sp, xn, w, b, amax, &d2, &dmin2);
        if (d2 == d && dmin2 == dmin) break;
        float e = assign(sp, xn, w, d2, dmin2, amax, s, mf, &cand);
        if (!(e < err)) break;
        err = e, d = d2, dmin = dmin2;
        *b = cand;
    }
}

static const float *sb_im(const float *imatrix, int64_t i) { return imatrix ? imatrix + i * QK_K : NULL; }

/* Position of weight i = 128*h + 32*g + l in the 2-bit planes (Q2_K, Q3_K, Q6_K). */
#define PLANE_H(i) ((i) / 128)
#define PLANE_G(i) (((i) / 32) % 4)
#define PLANE_L(i) ((i) % 32)

LQMF_Q_DECLARE(q2_K) {
    block_q2_K *out = y;
    kq_block b;
    for (int64_t k = 0; k < n / QK_K; k++) {
        kq_quantize(&k_q2_K, x + k * QK_K, sb_im(imatrix, k), &b);
        block_q2_K *o = &out[k];
        memset(o, 0, sizeof *o);
        o->d = lqmf_f32_to_fp16(b.d);
        o->dmin = lqmf_f32_to_fp16(b.dmin);
        for (int s = 0; s < 16; s++) o->scales[s] = (uint8_t)(b.sc[s] | b.mn[s] << 4);
        for (int i = 0; i < QK_K; i++)
            o->qs[32 * PLANE_H(i) + PLANE_L(i)] |= (uint8_t)(b.q[i] << 2 * PLANE_G(i));
    }
}

LQMF_Q_DECLARE(q3_K) {
    block_q3_K *out = y;
    kq_block b;
    for (int64_t k = 0; k < n / QK_K; k++) {
        kq_quantize(&k_q3_K, x + k * QK_K, sb_im(imatrix, k), &b);
        block_q3_K *o = &out[k];
        memset(o, 0, sizeof *o);
        o->d = lqmf_f32_to_fp16(b.d);
        for (int s = 0; s < 16;
             s++) { /* 6-bit sc + 32: nibble s/8 of byte s%8, top bits in byte 8 + s%4 */
            int l = b.sc[s] + 32;
            o->scales[s % 8] |= (uint8_t)((l & 15) << 4 * (s / 8));
            o->scales[8 + s % 4] |= (uint8_t)((l >> 4) << 2 * (s / 4));
        }
        for (int i = 0; i < QK_K; i++) {
            int u = b.q[i] + 4, h = PLANE_H(i), g = PLANE_G(i), l = PLANE_L(i);
            o->qs[32 * h + l] |= (uint8_t)((u & 3) << 2 * g);
            if (u & 4) o->hmask[l] |= (uint8_t)(1 << (4 * h + g));
        }
    }
}

/* Q4_K/Q5_K 12-byte scales: 6-bit (sc, mn) of sub-blocks 0-3 in the low bits
 * of bytes 0-3 / 4-7; those of 4-7 split into a nibble pair in bytes 8-11 and
 * their top 2 bits in the top bits of bytes 0-3 (sc) and 4-7 (mn). */
static void pack_k4_scales(const kq_block *b, uint8_t q[12]) {
    for (int s = 0; s < 4; s++) {
        q[s] = (uint8_t)(b->sc[s] | (b->sc[s + 4] >> 4) << 6);
        q[s + 4] = (uint8_t)(b->mn[s] | (b->mn[s + 4] >> 4) << 6);
        q[s + 8] = (uint8_t)((b->sc[s + 4] & 15) | (b->mn[s + 4] & 15) << 4);
    }
}

/* Q4_K/Q5_K nibbles: weight 64*c + l in qs[32*c + l%32], low nibble for l < 32. */
static void pack_k4_nibbles(const kq_block *b, uint8_t qs[128]) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)((b->q[64 * c + l] & 15) | (b->q[64 * c + l + 32] & 15) << 4);
}

LQMF_Q_DECLARE(q4_K) {
    block_q4_K *out = y;
    kq_block b;
    for (int64_t k = 0; k < n / QK_K; k++) {
        kq_quantize(&k_q4_K, x + k * QK_K, sb_im(imatrix, k), &b);
        out[k].d = lqmf_f32_to_fp16(b.d);
        out[k].dmin = lqmf_f32_to_fp16(b.dmin);
        pack_k4_scales(&b, out[k].scales);
        pack_k4_nibbles(&b, out[k].qs);
    }
}

LQMF_Q_DECLARE(q5_K) {
    block_q5_K *out = y;
    kq_block b;
    for (int64_t k = 0; k < n / QK_K; k++) {
        kq_quantize(&k_q5_K, x + k * QK_K, sb_im(imatrix, k), &b);
        block_q5_K *o = &out[k];
        o->d = lqmf_f32_to_fp16(b.d);
        o->dmin = lqmf_f32_to_fp16(b.dmin);
        pack_k4_scales(&b, o->scales);
        pack_k4_nibbles(&b, o->qs);
        memset(o->qh, 0, sizeof o->qh); /* bit 4 of weight 64*c + l at bit 2*c + l/32 of qh[l%32] */
        for (int i = 0; i < QK_K; i++)
            o->qh[i % 32] |= (uint8_t)(((b.q[i] >> 4) & 1) << (2 * (i / 64) + (i % 64) / 32));
    }
}

LQMF_Q_DECLARE(q6_K) {
    block_q6_K *out = y;
    kq_block b;
    for (int64_t k = 0; k < n / QK_K; k++) {
        kq_quantize(&k_q6_K, x + k * QK_K, sb_im(imatrix, k), &b);
        block_q6_K *o = &out[k];
        memset(o, 0, sizeof *o);
        o->d = lqmf_f32_to_fp16(b.d);
        for (int s = 0; s < 16; s++) o->scales[s] = (int8_t)b.sc[s];
        for (int i = 0; i < QK_K; i++) { /* u = q + 32: low nibble in ql, top 2 bits in qh */
            int u = b.q[i] + 32, h = PLANE_H(i), g = PLANE_G(i), l = PLANE_L(i);
            o->ql[64 * h + l + 32 * (g & 1)] |= (uint8_t)((u & 15) << 4 * (g >> 1));
            o->qh[32 * h + l] |= (uint8_t)((u >> 4) << 2 * g);
        }
    }
}

LQMF_Q_DECLARE(iq4_xs) {
    block_iq4_xs *out = y;
    kq_block b;
    for (int64_t k = 0; k < n / QK_K; k++) {
        kq_quantize(&k_iq4_xs, x + k * QK_K, sb_im(imatrix, k), &b);
        block_iq4_xs *o = &out[k];
        memset(o, 0, sizeof *o);
        o->d = lqmf_f32_to_fp16(b.d);
        for (int s = 0; s < 8; s++) { /* ls = sc + 32: low nibble in scales_l, top 2 bits in scales_h */
            int ls = b.sc[s] + 32;
            o->scales_l[s / 2] |= (uint8_t)((ls & 15) << 4 * (s % 2));
            o->scales_h |= (uint16_t)((ls >> 4) << 2 * s);
            for (int j = 0; j < 16; j++)
                o->qs[16 * s + j] = (uint8_t)(b.q[32 * s + j] | b.q[32 * s + j + 16] << 4);
        }
    }
}
