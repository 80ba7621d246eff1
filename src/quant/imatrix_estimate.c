/* lqmf_imatrix_estimate: an importance matrix from the weights alone. The
 * importance of a matrix's input channel k is E[a_k^2], the mean square of
 * that input; without a text it is estimated by carrying per-channel means
 * and variances forward from the normalisation in front of the matrix,
 * with independent channels and Gaussian pre-activations:
 *   norm output    a_k = n_k*g_k + b_k with n_k of mean 0, variance 1:
 *                  mean b_k, variance g_k^2 (RMSNorm: b = 0);
 *   y = W a + c    mean_j = sum_k W_jk mean_k + c_j,
 *                  variance_j = sum_k W_jk^2 variance_k;
 *   attention      a convex mix of V rows: V's moments (mean^2 + variance);
 *   GELU           E[gelu(u)^2] for u ~ N(mean, variance), by quadrature;
 *   SwiGLU         E[(silu(g) u)^2], gate and up jointly Gaussian.
 * Entries: attn_q/k/v, attn_qkv, ffn_up, ffn_gate (the norm's moments),
 * attn_output (V's) and ffn_down (the activation's). See
 * include/lqmf/quantize.h and docs/imatrix.md. */
#include "lqmf/quant.h"
#include "lqmf/quantize.h"
#include "quant/imatrix_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *mean, *var;
    uint64_t n;
} moments;

typedef struct {
    const lqmf_model *m;
    char blk[24]; /* "blk.N." */
    void (*read_done)(void *user, const lqmf_tensor *t);
    void *user;
    float *row, *row2, *vec; /* scratch: rows of matrices, a vector */
    lqmf_imatrix *im;
} est;

static void moments_free(moments *a) {
    free(a->mean);
    free(a->var);
    memset(a, 0, sizeof *a);
}

static lqmf_status moments_alloc(moments *a, uint64_t n) {
    a->n = n;
    a->mean = calloc(n, sizeof *a->mean);
    a->var = calloc(n, sizeof *a->var);
    if (a->mean && a->var) return LQMF_OK;
    moments_free(a);
    return lqmf_error(LQMF_E_NOMEM, "imatrix estimate: out of memory");
}

/* Tensor "<blk><what>" of exactly ne0 x rows elements in a readable type. */
static const lqmf_tensor *block_tensor(const est *e, const char *what, uint64_t ne0, uint64_t rows) {
    char name[LQMF_TENSOR_NAME_MAX];
    snprintf(name, sizeof name, "%s%s", e->blk, what);
    const lqmf_tensor *t = lqmf_model_tensor(e->m, name);
    uint64_t rb;
    if (!t || t->ne[0] != ne0 || t->ne[1] * t->ne[2] * t->ne[3] != rows || !lqmf_type_row_bytes(t->type, ne0, &rb))
        return NULL;
    return t;
}

/* Row r of t as floats into out. */
static bool read_row(const lqmf_tensor *t, uint64_t r, float *out) {
    uint64_t rb = 0;
    lqmf_type_row_bytes(t->type, t->ne[0], &rb);
    return lqmf_quant_dequantize(t->type, (const uint8_t *)t->data + r * rb, out, (int64_t)t->ne[0]) == LQMF_OK;
}

static void done(const est *e, const lqmf_tensor *t) {
    if (e->read_done && t) e->read_done(e->user, t);
}

/* Output moments of the normalisation "<blk><norm>.weight" (+ ".bias"); false without it. */
static bool norm_moments(est *e, const char *norm, uint64_t n, moments *a, lqmf_status *st) {
    char w[48], b[48];
    snprintf(w, sizeof w, "%s.weight", norm);
    snprintf(b, sizeof b, "%s.bias", norm);
    const lqmf_tensor *tg = block_tensor(e, w, n, 1), *tb = block_tensor(e, b, n, 1);
    if (!tg || !read_row(tg, 0, e->vec)) return false;
    if ((*st = moments_alloc(a, n)) != LQMF_OK) return false;
    for (uint64_t k = 0; k < n; k++) a->var[k] = (double)e->vec[k] * e->vec[k];
    if (tb && read_row(tb, 0, e->vec))
        for (uint64_t k = 0; k < n; k++) a->mean[k] = e->vec[k];
    return true;
}

/* Moments of rows [r0, r0 + n) of y = W a + c, W = "<blk><w>.weight" with
 * rows_total rows, c its ".bias" when present; false without W. */
static bool linear_moments(est *e, const char *w, uint64_t rows_total, const moments *in, uint64_t r0, uint64_t n,
                           moments *out, lqmf_status *st) {
    char name[48];
    snprintf(name, sizeof name, "%s.weight", w);
    const lqmf_tensor *tw = block_tensor(e, name, in->n, rows_total);
    snprintf(name, sizeof name, "%s.bias", w);
    const lqmf_tensor *tb = block_tensor(e, name, rows_total, 1);
    if (!tw || r0 + n > rows_total) return false;
    if ((*st = moments_alloc(out, n)) != LQMF_OK) return false;
    float *bias = tb ? malloc(rows_total * sizeof *bias) : NULL;
    if (tb && !(bias && read_row(tb, 0, bias))) {
        free(bias);
        bias = NULL;
    }
    bool ok = true;
    for (uint64_t j = 0; ok && j < n; j++) {
        if (!(ok = read_row(tw, r0 + j, e->row))) break;
        double mu = bias ? bias[r0 + j] : 0, v = 0;
        for (uint64_t k = 0; k < in->n; k++) {
            mu += e->row[k] * in->mean[k];
            v += (double)e->row[k] * e->row[k] * in->var[k];
        }
        out->mean[j] = mu;
        out->var[j] = v;
    }
    free(bias);
    done(e, tw);
    if (!ok) moments_free(out);
    return ok;
}

static double silu(double x) { return x / (1 + exp(-x)); }
static double gelu(double x) { /* the tanh form of GPT-2 */
    return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

/* E[f(u)^2] for u ~ N(mu, var): midpoint rule over z in [-8, 8]. */
static double expect_sq(double (*f)(double), double mu, double var) {
    enum { N = 320 };
    const double h = 16.0 / N, s = sqrt(var);
    double acc = 0;
    for (int i = 0; i < N; i++) {
        double z = -8 + (i + 0.5) * h, y = f(mu + s * z);
        acc += y * y * exp(-0.5 * z * z);
    }
    return acc * h / sqrt(2 * M_PI);
}

static lqmf_status put(est *e, const char *what, const float *v, uint64_t n) {
    char name[LQMF_TENSOR_NAME_MAX];
    snprintf(name, sizeof name, "%s%s", e->blk, what);
    if (!lqmf_model_tensor(e->m, name)) return LQMF_OK;
    for (uint64_t k = 0; k < n; k++)
        if (!isfinite(v[k])) return LQMF_OK; /* no estimate rather than a wrong one */
    return lqmf_imatrix_put(e->im, name, v, n);
}

/* The matrices fed by a normalisation: importance mean^2 + variance. */
static lqmf_status put_normed(est *e, const moments *a, const char *const *what, size_t n_what, float *imp) {
    for (uint64_t k = 0; k < a->n; k++) imp[k] = (float)(a->mean[k] * a->mean[k] + a->var[k]);
    for (size_t i = 0; i < n_what; i++) {
        lqmf_status st = put(e, what[i], imp, a->n);
        if (st != LQMF_OK) return st;
    }
    return LQMF_OK;
}

static lqmf_status attention(est *e, float *imp) {
    const lqmf_hparams *hp = &e->m->hp;
    static const char *const k_in[] = {"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_qkv.weight"};
    const uint64_t n = hp->n_embd, hd = hp->head_dim, nkv = hp->n_head_kv ? hp->n_head_kv : hp->n_head;
    lqmf_status st = LQMF_OK;
    moments a = {0}, v = {0};
    if (!norm_moments(e, "attn_norm", n, &a, &st)) return st;
    st = put_normed(e, &a, k_in, 4, imp);
    /* V: attn_v, or the last third of GPT-2's fused attn_qkv */
    const uint64_t n_out = hd * hp->n_head, n_v = hd * nkv;
    bool have_v = st == LQMF_OK && hd && nkv && hp->n_head % nkv == 0 &&
                  (hp->arch == LQMF_ARCH_GPT2 ? linear_moments(e, "attn_qkv", 3 * n, &a, 2 * n, n_v, &v, &st)
                                              : linear_moments(e, "attn_v", n_v, &a, 0, n_v, &v, &st));
    if (have_v) {
        const uint64_t group = hp->n_head / nkv; /* query heads per KV head, consecutive */
        for (uint64_t j = 0; j < n_out; j++) {
            uint64_t c = (j / hd / group) * hd + j % hd;
            imp[j] = (float)(v.mean[c] * v.mean[c] + v.var[c]);
        }
        st = put(e, "attn_output.weight", imp, n_out);
    }
    moments_free(&a);
    moments_free(&v);
    return st;
}

/* SwiGLU: E[(silu(g) u)^2] with (g, u) jointly Gaussian, c their covariance:
 * given g, u has mean mu_u + c/var_g (g - mu_g) and variance var_u - c^2/var_g. */
static double expect_gated(double mg, double vg, double mu, double vu, double c) {
    if (!(vg > 0)) return silu(mg) * silu(mg) * (mu * mu + vu);
    enum { N = 320 };
    const double h = 16.0 / N, sg = sqrt(vg), vc = vu - c * c / vg > 0 ? vu - c * c / vg : 0;
    double acc = 0;
    for (int i = 0; i < N; i++) {
        double z = -8 + (i + 0.5) * h, y = silu(mg + sg * z), m = mu + c / sg * z;
        acc += y * y * (m * m + vc) * exp(-0.5 * z * z);
    }
    return acc * h / sqrt(2 * M_PI);
}

/* ffn_down's inputs of a llama block: gate and up rows read side by side. */
static bool gated_importance(est *e, const moments *in, uint64_t nf, float *imp) {
    const lqmf_tensor *tg = block_tensor(e, "ffn_gate.weight", in->n, nf), *tu = block_tensor(e, "ffn_up.weight", in->n, nf);
    bool ok = tg && tu;
    for (uint64_t j = 0; ok && j < nf; j++) {
        if (!(ok = read_row(tg, j, e->row) && read_row(tu, j, e->row2))) break;
        double mg = 0, mu = 0, vg = 0, vu = 0, c = 0;
        for (uint64_t k = 0; k < in->n; k++) {
            double g = e->row[k], u = e->row2[k];
            mg += g * in->mean[k];
            mu += u * in->mean[k];
            vg += g * g * in->var[k];
            vu += u * u * in->var[k];
            c += g * u * in->var[k];
        }
        imp[j] = (float)expect_gated(mg, vg, mu, vu, c);
    }
    done(e, tg);
    done(e, tu);
    return ok;
}

static lqmf_status feed_forward(est *e, float *imp) {
    const lqmf_hparams *hp = &e->m->hp;
    static const char *const k_in[] = {"ffn_up.weight", "ffn_gate.weight"};
    const uint64_t n = hp->n_embd, nf = hp->n_ff;
    lqmf_status st = LQMF_OK;
    moments a = {0}, up = {0};
    if (!norm_moments(e, "ffn_norm", n, &a, &st)) return st;
    st = put_normed(e, &a, k_in, 2, imp);
    bool have = false;
    if (st == LQMF_OK && hp->arch == LQMF_ARCH_GPT2 && linear_moments(e, "ffn_up", nf, &a, 0, nf, &up, &st)) {
        for (uint64_t j = 0; j < nf; j++) imp[j] = (float)expect_sq(gelu, up.mean[j], up.var[j]);
        have = true;
    } else if (st == LQMF_OK && hp->arch == LQMF_ARCH_LLAMA) {
        have = gated_importance(e, &a, nf, imp);
    }
    if (have) st = put(e, "ffn_down.weight", imp, nf);
    moments_free(&a);
    moments_free(&up);
    return st;
}

lqmf_status lqmf_imatrix_estimate(const lqmf_model *m, void (*read_done)(void *user, const lqmf_tensor *t),
                                  void *user, lqmf_imatrix **out) {
    *out = NULL;
    const lqmf_hparams *hp = &m->hp;
    uint64_t widest = hp->n_embd;
    if (hp->n_ff > widest) widest = hp->n_ff;
    if ((uint64_t)hp->n_head * hp->head_dim > widest) widest = (uint64_t)hp->n_head * hp->head_dim;
    est e = {.m = m, .read_done = read_done, .user = user};
    e.row = malloc(widest * sizeof *e.row);
    e.row2 = malloc(widest * sizeof *e.row2);
    e.vec = malloc(widest * sizeof *e.vec);
    float *imp = malloc(widest * sizeof *imp);
    e.im = lqmf_imatrix_new("estimated from the model's weights");
    lqmf_status st = e.row && e.row2 && e.vec && imp && e.im ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
    for (uint32_t l = 0; st == LQMF_OK && l < hp->n_layer; l++) {
        snprintf(e.blk, sizeof e.blk, "blk.%u.", l);
        st = attention(&e, imp);
        if (st == LQMF_OK) st = feed_forward(&e, imp);
    }
    free(e.row);
    free(e.row2);
    free(e.vec);
    free(imp);
    if (st != LQMF_OK) {
        lqmf_imatrix_free(e.im);
        return st;
    }
    *out = e.im;
    return LQMF_OK;
}
