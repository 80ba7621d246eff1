/* The importance matrix estimated from the weights (lqmf_imatrix_estimate):
 * every entry against a Monte Carlo run of the same activation model
 * through the real tiny-gpt2 and tiny-llama weights (inputs a ~ N(b, g^2)
 * per channel after each norm, then V, GELU / SwiGLU computed sample by
 * sample), its use by the quantizer (entries, metadata, a lower output
 * error on such inputs than plain weights) and the CLI. */
#include "lqmf/gguf.h"
#include "lqmf/quant.h"
#include "lqmf/quantize.h"
#include "../test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_rng;
static double gauss(void) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        g_rng ^= g_rng << 13;
        g_rng ^= g_rng >> 7;
        g_rng ^= g_rng << 17;
        u[i] = ((double)(g_rng >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(2 * M_PI * u[1]);
}

/* Tensor `blk.L.what` of m as a float matrix (rows x cols), NULL when absent. */
static float *matrix(const lqmf_model *m, uint32_t layer, const char *what, uint64_t *rows, uint64_t *cols) {
    char name[96];
    snprintf(name, sizeof name, "blk.%u.%s", layer, what);
    const lqmf_tensor *t = lqmf_model_tensor(m, name);
    if (!t) return NULL;
    *cols = t->ne[0];
    *rows = t->ne[1] * t->ne[2] * t->ne[3];
    float *x = malloc(*rows * *cols * sizeof *x);
    if (x && lqmf_quant_dequantize(t->type, t->data, x, (int64_t)(*rows * *cols)) != LQMF_OK) {
        free(x);
        return NULL;
    }
    return x;
}

static double gelu(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }
static double silu(double x) { return x / (1 + exp(-x)); }

/* One layer's mean squares by sampling: in_attn/in_ffn[n_embd] (norm outputs),
 * out_attn[n_head*head_dim] (attention output = V of the head's KV head),
 * ffn_act[n_ff] (GELU(up) or silu(gate)*up). */
typedef struct {
    double *in_attn, *in_ffn, *out_attn, *ffn_act;
} sampled;

static void matvec(const float *W, const float *b, uint64_t r0, uint64_t rows, uint64_t cols, const double *a,
                   double *y) {
    for (uint64_t j = 0; j < rows; j++) {
        double s = b ? b[r0 + j] : 0;
        for (uint64_t k = 0; k < cols; k++) s += (double)W[(r0 + j) * cols + k] * a[k];
        y[j] = s;
    }
}

static bool sample_layer(const lqmf_model *m, uint32_t l, int n_samples, sampled *s) {
    const lqmf_hparams *hp = &m->hp;
    const bool gpt2 = hp->arch == LQMF_ARCH_GPT2;
    const uint64_t n = hp->n_embd, nf = hp->n_ff, hd = hp->head_dim, nkv = hp->n_head_kv;
    uint64_t r, c, r2, c2;
    float *ga = matrix(m, l, "attn_norm.weight", &r, &c), *ba = gpt2 ? matrix(m, l, "attn_norm.bias", &r, &c) : NULL;
    float *gf = matrix(m, l, "ffn_norm.weight", &r, &c), *bf = gpt2 ? matrix(m, l, "ffn_norm.bias", &r, &c) : NULL;
    float *Wv = matrix(m, l, gpt2 ? "attn_qkv.weight" : "attn_v.weight", &r, &c);
    float *bv = gpt2 ? matrix(m, l, "attn_qkv.bias", &r2, &c2) : NULL;
    float *Wu = matrix(m, l, "ffn_up.weight", &r, &c), *bu = gpt2 ? matrix(m, l, "ffn_up.bias", &r2, &c2) : NULL;
    float *Wg = gpt2 ? NULL : matrix(m, l, "ffn_gate.weight", &r, &c);
    s->in_attn = calloc(n, sizeof(double));
    s->in_ffn = calloc(n, sizeof(double));
    s->out_attn = calloc(hd * hp->n_head, sizeof(double));
    s->ffn_act = calloc(nf, sizeof(double));
    double *a = malloc(n * sizeof *a), *v = malloc(hd * nkv * sizeof *v), *u = malloc(nf * sizeof *u),
           *g = malloc(nf * sizeof *g);
    bool ok = ga && gf && Wv && Wu && (gpt2 ? ba && bf && bv && bu : Wg != NULL) && s->in_attn && s->in_ffn &&
              s->out_attn && s->ffn_act && a && v && u && g;
    for (int it = 0; ok && it < n_samples; it++) {
        for (uint64_t k = 0; k < n; k++) a[k] = (ba ? ba[k] : 0) + ga[k] * gauss();
        for (uint64_t k = 0; k < n; k++) s->in_attn[k] += a[k] * a[k] / n_samples;
        matvec(Wv, bv, gpt2 ? 2 * n : 0, hd * nkv, n, a, v);
        for (uint64_t h = 0; h < hp->n_head; h++) {
            uint64_t kvh = h * nkv / hp->n_head;
            for (uint64_t d = 0; d < hd; d++) s->out_attn[h * hd + d] += v[kvh * hd + d] * v[kvh * hd + d] / n_samples;
        }
        for (uint64_t k = 0; k < n; k++) a[k] = (bf ? bf[k] : 0) + gf[k] * gauss();
        for (uint64_t k = 0; k < n; k++) s->in_ffn[k] += a[k] * a[k] / n_samples;
        matvec(Wu, bu, 0, nf, n, a, u);
        if (!gpt2) matvec(Wg, NULL, 0, nf, n, a, g);
        for (uint64_t j = 0; j < nf; j++) {
            double y = gpt2 ? gelu(u[j]) : silu(g[j]) * u[j];
            s->ffn_act[j] += y * y / n_samples;
        }
    }
    free(ga), free(ba), free(gf), free(bf), free(Wv), free(bv), free(Wu), free(bu), free(Wg);
    free(a), free(v), free(u), free(g);
    return ok;
}

static void sampled_free(sampled *s) {
    free(s->in_attn), free(s->in_ffn), free(s->out_attn), free(s->ffn_act);
}

/* Entry `blk.L.what` against the sampled mean squares: mean and worst
 * relative deviation within the given bounds. */
static void check_entry(const lqmf_imatrix *im, uint32_t l, const char *what, const double *ref, uint64_t n,
                        double mean_tol, double max_tol) {
    char name[96];
    snprintf(name, sizeof name, "blk.%u.%s", l, what);
    uint64_t ne = 0;
    const float *v = lqmf_imatrix_get(im, name, &ne);
    CHECKF(v && ne == n, "%s: no entry of %llu values", name, (unsigned long long)n);
    if (!v || ne != n) return;
    double sum = 0, worst = 0;
    for (uint64_t k = 0; k < n; k++) {
        double d = fabs(v[k] / ref[k] - 1);
        sum += d;
        if (d > worst) worst = d;
    }
    CHECKF(sum / (double)n <= mean_tol && worst <= max_tol, "%s: deviation from sampling mean %.4f (max %.4f)",
           name, sum / (double)n, worst);
}

static void check_model(const char *dir, bool gpt2) {
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    lqmf_imatrix *im = NULL;
    REQUIRE_OK(lqmf_imatrix_estimate(m, NULL, NULL, &im));
    /* every matrix of every block, nothing else */
    CHECK_EQ_INT(lqmf_imatrix_n_entries(im), m->hp.n_layer * (gpt2 ? 4 : 7));
    uint64_t n = 0;
    CHECK(lqmf_imatrix_get(im, "output.weight", &n) == NULL && lqmf_imatrix_get(im, "token_embd.weight", &n) == NULL);
    const uint32_t l = 1;
    sampled s;
    g_rng = 0x9E3779B97F4A7C15ull;
    REQUIRE(sample_layer(m, l, 16000, &s));
    const uint64_t e = m->hp.n_embd, nf = m->hp.n_ff, no = (uint64_t)m->hp.n_head * m->hp.head_dim;
    check_entry(im, l, gpt2 ? "attn_qkv.weight" : "attn_q.weight", s.in_attn, e, 0.015, 0.06);
    check_entry(im, l, "ffn_up.weight", s.in_ffn, e, 0.015, 0.06);
    if (!gpt2) {
        check_entry(im, l, "attn_k.weight", s.in_attn, e, 0.015, 0.06);
        check_entry(im, l, "attn_v.weight", s.in_attn, e, 0.015, 0.06);
        check_entry(im, l, "ffn_gate.weight", s.in_ffn, e, 0.015, 0.06);
    }
    /* V through the head mapping; the activation by quadrature (sampled:
     * ~1 % noise per channel for the norms, ~3 % for the activations) */
    check_entry(im, l, "attn_output.weight", s.out_attn, no, 0.015, 0.06);
    check_entry(im, l, "ffn_down.weight", s.ffn_act, nf, 0.045, 0.2);
    sampled_free(&s);
    lqmf_imatrix_free(im);
    lqmf_model_close(m);
}

TEST(imatrix_estimate_gpt2_matches_sampling) {
    DATA(dir, "models/tiny-gpt2");
    check_model(dir, true);
}

TEST(imatrix_estimate_llama_matches_sampling) {
    DATA(dir, "models/tiny-llama"); /* GQA: 8 query heads on 4 KV heads */
    check_model(dir, false);
}

/* sum over the matrices `blk.*.what` of sum_jk (W - Wq)_jk^2 * act_k: the
 * output error real activations (act: their mean squares) see. */
static double act_error(const lqmf_model *src, const lqmf_model *q, const lqmf_imatrix *act, const char *what) {
    double err = 0;
    for (uint32_t l = 0; l < src->hp.n_layer; l++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%u.%s", l, what);
        uint64_t r, c, rq, cq, n = 0;
        const float *w = lqmf_imatrix_get(act, name, &n);
        float *W = matrix(src, l, what, &r, &c), *Q = matrix(q, l, what, &rq, &cq);
        if (!w || !W || !Q || n != c || r != rq || c != cq) err = NAN;
        for (uint64_t j = 0; !isnan(err) && j < r * c; j++) {
            double e = (double)W[j] - Q[j];
            err += e * e * w[j % c];
        }
        free(W), free(Q);
    }
    return err;
}

TEST(quantize_uses_estimated_imatrix) {
    DATA(dir, "models/tiny-gpt2");
    DATA(text, "models/tiny-gpt2/heldout.txt");
    lqmf_model *src = NULL, *q[2] = {NULL, NULL};
    REQUIRE_OK(lqmf_model_open(dir, &src));
    for (int k = 0; k < 2; k++) { /* 0: estimated importances, 1: --no-estimate */
        char path[512];
        snprintf(path, sizeof path, "%s/q%d.gguf", lqmf_test_tmpdir(), k);
        lqmf_quantize_opts o = lqmf_quantize_default_opts();
        o.no_estimate = k == 1;
        lqmf_quantize_result res;
        REQUIRE_OK(lqmf_quantize_model(src, path, &o, &res));
        CHECK(res.imatrix_estimated == (k == 0));
        CHECK_EQ_INT(res.n_imatrix, k == 0 ? 16 : 0); /* 4 blocks x qkv, output, up, down */
        lqmf_gguf *g = NULL;
        REQUIRE_OK(lqmf_gguf_open(path, &g));
        lqmf_gguf_str s;
        int32_t n = 0;
        if (k == 0) {
            CHECK_OK(lqmf_gguf_get_str(g, "quantize.imatrix.dataset", &s));
            CHECK(lqmf_gguf_str_eq(s, "estimated from the model's weights"));
            CHECK_OK(lqmf_gguf_get_i32(g, "quantize.imatrix.entries_count", &n));
            CHECK_EQ_INT(n, 16);
        } else {
            CHECK(lqmf_gguf_find_key(g, "quantize.imatrix.dataset") == NULL);
        }
        CHECK(lqmf_gguf_find_key(g, "quantize.imatrix.file") == NULL);
        lqmf_gguf_close(g);
        REQUIRE_OK(lqmf_model_open(path, &q[k]));
    }
    /* the error real activations see (collected on 8 x 128 tokens of the
     * held-out text): lower with the estimate, most for ffn_down (GELU) */
    lqmf_imatrix_opts io = {text, 8, 128, 0, NULL, NULL};
    lqmf_imatrix *act = NULL;
    REQUIRE_OK(lqmf_imatrix_collect(src, &io, &act));
    static const char *const k_mats[] = {"attn_qkv.weight", "attn_output.weight", "ffn_up.weight",
                                         "ffn_down.weight"};
    double tot[2] = {0, 0}, down[2] = {0, 0};
    for (size_t i = 0; i < 4; i++)
        for (int k = 0; k < 2; k++) {
            double e = act_error(src, q[k], act, k_mats[i]);
            tot[k] += e;
            if (i == 3) down[k] = e;
        }
    CHECKF(tot[0] < 0.99 * tot[1] && down[0] < 0.97 * down[1], "error estimated / plain: all %.4f, ffn_down %.4f",
           tot[0] / tot[1], down[0] / down[1]);
    printf("error estimated / plain: all %.4f, ffn_down %.4f ... ", tot[0] / tot[1], down[0] / down[1]);
    lqmf_imatrix_free(act);
    for (int k = 0; k < 2; k++) lqmf_model_close(q[k]);
    lqmf_model_close(src);
}

TEST(imatrix_estimate_cli) {
    DATA(dir, "models/tiny-gpt2");
    char args[1024], *out = NULL;
    const char *f = "estimated.gguf";
    char path[512];
    snprintf(path, sizeof path, "%s/%s", lqmf_test_tmpdir(), f);
    snprintf(args, sizeof args, "imatrix %s --estimate -o %s", dir, path);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    CHECKF(out && strstr(out, "16 weights, estimated from the model's weights"), "%s", out ? out : "");
    free(out);
    lqmf_imatrix *im = NULL;
    REQUIRE_OK(lqmf_imatrix_load(path, &im));
    CHECK_EQ_INT(lqmf_imatrix_n_entries(im), 16);
    CHECK(!strcmp(lqmf_imatrix_dataset(im), "estimated from the model's weights"));
    lqmf_imatrix_free(im);
    /* a text and --estimate together, or neither: usage */
    snprintf(args, sizeof args, "imatrix %s --estimate --text %s/heldout.txt", dir, dir);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 2);
    free(out);
    /* quantize says which importances it used */
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "quantize %s --type Q4_0 -o %s/q%d.gguf --no-test%s", dir, lqmf_test_tmpdir(), k,
                 k ? " --no-estimate" : "");
        CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
        const char *line = "Importance: 16 tensors weighted by an importance matrix estimated from the weights";
        CHECKF(out && !strstr(out, line) == (k == 1), "%s", out ? out : "");
        free(out);
    }
}
