/* GPTQ calibration: H = sum over tokens of x x^T for the input x of every
 * linear weight of the blocks, collected through the engine's activation
 * hook (the way imatrix.c collects its sums of squares) while the model runs
 * over the calibration tokens. Weights that read the same x (q/k/v,
 * gate/up) share one "site". Sites are grouped, in layer order, into chunks
 * whose Hessians fit the memory budget; a chunk is computed on demand by
 * running the whole text again. See include/lqmf/gptq.h. */
#include "lqmf/engine.h"
#include "lqmf/gptq.h"
#include "quant/gptq_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4                      /* sites per layer: attention in, attention out, ffn in, ffn down */
#define DEFAULT_BUDGET (1ull << 30)  /* bytes of Hessians held at once */
#define DEFAULT_CTX 512u
#define PAR_MIN_WORK (1u << 20)      /* multiply-adds below which one thread accumulates */
#define ACC_TOKENS 16                /* activation rows per cache block of the accumulation */

static const struct {
    const char *kind;
    unsigned slot;
} k_kinds[] = {
    {"attn_q", 0},      {"attn_k", 0},   {"attn_v", 0}, {"attn_qkv", 0},
    {"attn_output", 1}, {"ffn_gate", 2}, {"ffn_up", 2}, {"ffn_down", 3},
};
#define N_KINDS (sizeof k_kinds / sizeof k_kinds[0])

typedef struct {
    char primary[LQMF_TENSOR_NAME_MAX]; /* the weight whose hook call is accumulated */
    uint64_t n_in;                      /* 0: the layer has no weight in this slot */
    uint32_t chunk;
    double *H; /* [n_in][n_in] while its chunk is loaded, else NULL */
} site;

struct lqmf_gptq_calib {
    const lqmf_model *m;
    lqmf_engine *e;
    int32_t *tokens; /* n_tokens, owned copy */
    size_t n_tokens;
    uint32_t n_ctx, n_threads;
    site *sites;     /* [n_layer][SLOTS] */
    uint32_t n_layer, n_chunks, loaded; /* loaded: chunk held, n_chunks when none */
    double *xd;      /* activations widened to f64, xd_cap doubles */
    size_t xd_cap;
    bool failed;     /* a hook call could not allocate or saw a bad width */
};

/* ---- accumulation ------------------------------------------------------------ */

typedef struct {
    double *H;
    const double *x; /* [n_tok][n] */
    uint64_t n;
    uint32_t n_tok;
} acc_ctx;

/* y[0..len) += ((a0 x0 + a1 x1) + a2 x2) + a3 x3 over four rows x_k = x + k*n:
 * one pass over y for four tokens. */
static void add4_f64(double *restrict y, const double *restrict x, uint64_t n, const double a[4], uint64_t len) {
    const lqmf_gptq_v2d a0 = {a[0], a[0]}, a1 = {a[1], a[1]}, a2 = {a[2], a[2]}, a3 = {a[3], a[3]};
    uint64_t k = 0;
    for (; k + 2 <= len; k += 2) {
        lqmf_gptq_v2d v, x0, x1, x2, x3;
        memcpy(&v, y + k, 16);
        memcpy(&x0, x + k, 16);
        memcpy(&x1, x + n + k, 16);
        memcpy(&x2, x + 2 * n + k, 16);
        memcpy(&x3, x + 3 * n + k, 16);
        v += ((a0 * x0 + a1 * x1) + a2 * x2) + a3 * x3;
        memcpy(y + k, &v, 16);
    }
    for (; k < len; k++) y[k] += ((a[0] * x[k] + a[1] * x[n + k]) + a[2] * x[2 * n + k]) + a[3] * x[3 * n + k];
}

/* Upper triangle: H[i][j] += sum_t x[t][i] * x[t][j], j >= i, rows
 * interleaved over threads (balancing the triangle), tokens in blocks that
 * stay in cache, four at a time. */
static void acc_rows(void *vc, uint32_t ith, uint32_t nth) {
    const acc_ctx *c = vc;
    const uint64_t n = c->n;
    for (uint32_t t0 = 0; t0 < c->n_tok; t0 += ACC_TOKENS) {
        const uint32_t t1 = t0 + ACC_TOKENS < c->n_tok ? t0 + ACC_TOKENS : c->n_tok;
        for (uint64_t i = ith; i < n; i += nth) {
            uint32_t t = t0;
            for (; t + 4 <= t1; t += 4) {
                const double *xt = c->x + (uint64_t)t * n;
                const double a[4] = {xt[i], xt[n + i], xt[2 * n + i], xt[3 * n + i]};
                add4_f64(c->H + i * n + i, xt + i, n, a, n - i);
            }
            for (; t < t1; t++) {
                const double *xt = c->x + (uint64_t)t * n;
                lqmf_gptq_axpy_f64(c->H + i * n + i, xt + i, xt[i], n - i);
            }
        }
    }
}

/* Engine hook: x (n_tokens, dim) is the input of weight `name`. */
static void on_activation(void *user, int32_t layer, const char *name, const float *x, uint32_t n_tokens,
                          uint32_t dim) {
    lqmf_gptq_calib *c = user;
    if (layer < 0 || (uint32_t)layer >= c->n_layer) return;
    site *s = NULL;
    for (unsigned k = 0; k < SLOTS && !s; k++) {
        site *t = &c->sites[(size_t)layer * SLOTS + k];
        if (t->H && strcmp(t->primary, name) == 0) s = t;
    }
    if (!s) return;
    const size_t need = (size_t)n_tokens * dim;
    if (s->n_in != dim) {
        c->failed = true;
        return;
    }
    if (need > c->xd_cap) {
        double *p = realloc(c->xd, need * sizeof *p);
        if (!p) {
            c->failed = true;
            return;
        }
        c->xd = p;
        c->xd_cap = need;
    }
    for (size_t k = 0; k < need; k++) c->xd[k] = x[k];
    acc_ctx a = {.H = s->H, .x = c->xd, .n = dim, .n_tok = n_tokens};
    const uint64_t work = (uint64_t)n_tokens * dim * dim / 2;
    lqmf_gptq_parallel(work < PAR_MIN_WORK ? 1 : c->n_threads, acc_rows, &a);
}

/* ---- chunks ------------------------------------------------------------------- */

static void unload(lqmf_gptq_calib *c) {
    for (size_t k = 0; k < (size_t)c->n_layer * SLOTS; k++) {
        free(c->sites[k].H);
        c->sites[k].H = NULL;
    }
    c->loaded = c->n_chunks;
}

/* The whole text, n_ctx tokens at a time from position 0 (the last piece
 * may be shorter), with the hook filling the Hessians of the loaded sites. */
static lqmf_status run_text(lqmf_gptq_calib *c) {
    lqmf_status st = LQMF_OK;
    c->failed = false;
    lqmf_engine_set_hook(c->e, on_activation, c);
    for (size_t off = 0; off < c->n_tokens && st == LQMF_OK; off += c->n_ctx) {
        const uint32_t n = c->n_tokens - off < c->n_ctx ? (uint32_t)(c->n_tokens - off) : c->n_ctx;
        lqmf_engine_reset(c->e);
        st = lqmf_engine_eval(c->e, c->tokens + off, n, 0, LQMF_LOGITS_NONE, NULL);
        if (st == LQMF_OK && c->failed)
            st = lqmf_error(LQMF_E_NOMEM, "gptq calibration: out of memory or an input of unexpected width");
    }
    lqmf_engine_set_hook(c->e, NULL, NULL);
    return st;
}

static lqmf_status load_chunk(lqmf_gptq_calib *c, uint32_t chunk) {
    unload(c);
    lqmf_status st = LQMF_OK;
    for (size_t k = 0; k < (size_t)c->n_layer * SLOTS && st == LQMF_OK; k++) {
        site *s = &c->sites[k];
        if (s->n_in && s->chunk == chunk && !(s->H = calloc(s->n_in * s->n_in, sizeof *s->H)))
            st = lqmf_error(LQMF_E_NOMEM, "gptq calibration: out of memory for the Hessian of %s (%llu x %llu)",
                            s->primary, (unsigned long long)s->n_in, (unsigned long long)s->n_in);
    }
    if (st == LQMF_OK) st = run_text(c);
    if (st != LQMF_OK) {
        unload(c);
        return st;
    }
    for (size_t k = 0; k < (size_t)c->n_layer * SLOTS; k++) { /* mirror the upper triangle */
        site *s = &c->sites[k];
        for (uint64_t i = 0; s->H && i < s->n_in; i++)
            for (uint64_t j = 0; j < i; j++) s->H[i * s->n_in + j] = s->H[j * s->n_in + i];
    }
    c->loaded = chunk;
    return LQMF_OK;
}

/* ---- public ----------------------------------------------------------------------- */

void lqmf_gptq_calib_free(lqmf_gptq_calib *c) {
    if (!c) return;
    if (c->sites) unload(c);
    lqmf_engine_free(c->e);
    free(c->sites);
    free(c->tokens);
    free(c->xd);
    free(c);
}

/* Sites of every layer, and their chunks under the budget (a single
 * Hessian above the budget makes a chunk of its own). */
static lqmf_status find_sites(lqmf_gptq_calib *c, uint64_t budget) {
    uint64_t held = 0;
    uint32_t chunk = 0;
    bool any = false;
    for (uint32_t l = 0; l < c->n_layer; l++)
        for (size_t k = 0; k < N_KINDS; k++) {
            char name[LQMF_TENSOR_NAME_MAX];
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, k_kinds[k].kind);
            const lqmf_tensor *t = lqmf_model_tensor(c->m, name);
            site *s = &c->sites[(size_t)l * SLOTS + k_kinds[k].slot];
            if (!t || t->n_dims != 2 || s->n_in) continue;
            uint64_t bytes;
            if (!lqmf_mul_u64(t->ne[0], t->ne[0], &bytes) || !lqmf_mul_u64(bytes, sizeof(double), &bytes))
                return lqmf_error(LQMF_E_NOMEM, "gptq calibration: %s: %llu inputs overflow", name,
                                  (unsigned long long)t->ne[0]);
            snprintf(s->primary, sizeof s->primary, "%s", name);
            s->n_in = t->ne[0];
            if (any && held + bytes > budget) {
                chunk++;
                held = 0;
            }
            held += bytes;
            s->chunk = chunk;
            any = true;
        }
    if (!any) return lqmf_error(LQMF_E_INVALID, "gptq calibration: the model has no block linear weights");
    c->n_chunks = chunk + 1;
    c->loaded = c->n_chunks;
    return LQMF_OK;
}

lqmf_status lqmf_gptq_calib_new(const lqmf_model *m, const int32_t *tokens, size_t n_tokens, uint32_t n_ctx,
                                uint64_t mem_budget, uint32_t n_threads, lqmf_gptq_calib **out) {
    *out = NULL;
    if (!tokens || n_tokens == 0) return lqmf_error(LQMF_E_INVALID, "gptq calibration: no tokens");
    for (size_t k = 0; k < n_tokens; k++)
        if (tokens[k] < 0 || (uint32_t)tokens[k] >= m->hp.n_vocab)
            return lqmf_error(LQMF_E_INVALID, "gptq calibration: token %zu is %d, outside the vocabulary of %u", k,
                              (int)tokens[k], m->hp.n_vocab);
    lqmf_gptq_calib *c = calloc(1, sizeof *c);
    if (!c) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    c->m = m;
    c->n_layer = m->hp.n_layer;
    c->n_threads = lqmf_gptq_threads(n_threads);
    c->n_ctx = n_ctx ? n_ctx : DEFAULT_CTX;
    if (m->hp.n_ctx_train && c->n_ctx > m->hp.n_ctx_train) c->n_ctx = m->hp.n_ctx_train;
    c->n_tokens = n_tokens;
    c->tokens = malloc(n_tokens * sizeof *c->tokens);
    c->sites = calloc((size_t)c->n_layer * SLOTS + 1, sizeof *c->sites);
    lqmf_status st = c->tokens && c->sites ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) {
        memcpy(c->tokens, tokens, n_tokens * sizeof *c->tokens);
        st = find_sites(c, mem_budget ? mem_budget : DEFAULT_BUDGET);
    }
    if (st == LQMF_OK) {
        lqmf_engine_params p = {c->n_ctx, n_threads, 0};
        st = lqmf_engine_new(m, &p, &c->e);
    }
    if (st != LQMF_OK) {
        lqmf_gptq_calib_free(c);
        return st;
    }
    *out = c;
    return LQMF_OK;
}

/* The site of "blk.N.<kind>.weight", NULL when the name is not one. */
static site *site_of(lqmf_gptq_calib *c, const char *tensor) {
    unsigned l;
    int n = 0;
    char kind[32];
    if (sscanf(tensor, "blk.%u.%31[a-z_].weight%n", &l, kind, &n) != 2 || n == 0 || tensor[n] != '\0' ||
        l >= c->n_layer || !lqmf_model_tensor(c->m, tensor))
        return NULL;
    for (size_t k = 0; k < N_KINDS; k++)
        if (strcmp(kind, k_kinds[k].kind) == 0) {
            site *s = &c->sites[(size_t)l * SLOTS + k_kinds[k].slot];
            return s->n_in ? s : NULL;
        }
    return NULL;
}

const double *lqmf_gptq_calib_hessian(lqmf_gptq_calib *c, const char *tensor, uint64_t *n_in) {
    site *s = site_of(c, tensor);
    if (!s) {
        lqmf_error(LQMF_E_NOT_FOUND, "gptq calibration: %s is not a calibrated linear weight", tensor);
        return NULL;
    }
    if (c->loaded != s->chunk && load_chunk(c, s->chunk) != LQMF_OK) return NULL;
    *n_in = s->n_in;
    return s->H;
}
