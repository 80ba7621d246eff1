/* Perplexity, KL divergence and top-1 agreement over the windows of a
 * perplexity protocol (see include/lqmf/eval.h). Both models evaluate the
 * same windows in chunks of CHUNK positions, so memory stays at two chunks
 * of logits whatever the window length; the baseline's rows may come from
 * (or go to) the logits cache. */
#include "eval_priv.h"
#include "lqmf/sha256.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 64 /* positions per engine call */

lqmf_status lqmf_eval_protocol_preset(const char *name, lqmf_eval_protocol *out) {
    if (!name || !out) return lqmf_error(LQMF_E_INVALID, "protocol preset: NULL argument");
    if (!strcmp(name, "ref"))
        *out = (lqmf_eval_protocol){256, 16384, LQMF_EVAL_BOS_AUTO, -1};
    else if (!strcmp(name, "quick"))
        *out = (lqmf_eval_protocol){256, 512, LQMF_EVAL_BOS_AUTO, -1};
    else if (!strcmp(name, "llamacpp"))
        *out = (lqmf_eval_protocol){512, 0, LQMF_EVAL_BOS_REPLACE, 256};
    else
        return lqmf_error(LQMF_E_INVALID, "protocol '%s': unknown (presets: ref, quick, llamacpp)", name);
    return LQMF_OK;
}

static const char *const g_bos_names[] = {"auto", "none", "prepend", "replace"};

const char *lqmf_eval_bos_name(lqmf_eval_bos b) {
    return (unsigned)b < sizeof g_bos_names / sizeof g_bos_names[0] ? g_bos_names[b] : "?";
}

bool lqmf_eval_bos_from_name(const char *name, lqmf_eval_bos *out) {
    for (unsigned i = 0; i < sizeof g_bos_names / sizeof g_bos_names[0]; i++)
        if (name && !strcmp(name, g_bos_names[i])) {
            *out = (lqmf_eval_bos)i;
            return true;
        }
    return false;
}

lqmf_status lqmf_eval_windows_plan(const lqmf_eval_protocol *p, size_t n_tokens, bool adds_bos,
                                   int32_t bos_id, lqmf_eval_windows *w) {
    memset(w, 0, sizeof *w);
    if (p->n_ctx < 2)
        return lqmf_error(LQMF_E_INVALID, "protocol: window of %u tokens (need >= 2)", p->n_ctx);
    lqmf_eval_bos bos = p->bos;
    if (bos == LQMF_EVAL_BOS_AUTO) bos = adds_bos && bos_id >= 0 ? LQMF_EVAL_BOS_PREPEND : LQMF_EVAL_BOS_NONE;
    if (bos == LQMF_EVAL_BOS_REPLACE && !(adds_bos && bos_id >= 0)) bos = LQMF_EVAL_BOS_NONE;
    if (bos == LQMF_EVAL_BOS_PREPEND && bos_id < 0)
        return lqmf_error(LQMF_E_INVALID, "protocol: bos prepend, but the tokenizer has no BOS token");
    uint32_t min_first = bos == LQMF_EVAL_BOS_PREPEND ? 0 : 1;
    int64_t first = p->score_first < 0 ? (int64_t)min_first : p->score_first;
    if (first < (int64_t)min_first || first >= (int64_t)p->n_ctx)
        return lqmf_error(LQMF_E_INVALID, "protocol: score_first %lld outside %u..%u for bos %s",
                          (long long)first, min_first, p->n_ctx - 1, lqmf_eval_bos_name(bos));
    size_t use = p->max_tokens && p->max_tokens < n_tokens ? p->max_tokens : n_tokens;
    size_t n_windows = use / p->n_ctx;
    if (n_windows == 0)
        return lqmf_error(LQMF_E_INVALID, "protocol: the text has %zu tokens, less than one window of %u",
                          use, p->n_ctx);
    if (n_windows > UINT32_MAX) return lqmf_error(LQMF_E_INVALID, "protocol: %zu windows", n_windows);
    w->n_tokens = n_tokens;
    w->n_ctx = p->n_ctx;
    w->n_windows = (uint32_t)n_windows;
    w->score_first = (uint32_t)first;
    w->bos = bos;
    w->bos_id = bos_id;
    return LQMF_OK;
}

char *lqmf_eval_windows_describe(const lqmf_eval_windows *w, const char *text_name, uint64_t text_bytes,
                                 bool with_kl) {
    lqmf_buf b;
    lqmf_buf_init(&b);
    uint32_t n = w->n_ctx, f = w->score_first;
    lqmf_buf_printf(&b,
                    "%s (%llu bytes) encoded whole as one string without special tokens: %zu tokens; "
                    "the first %llu cut into %u non-overlapping windows of %u tokens, each evaluated from a "
                    "fresh context at positions 0..%u; ",
                    text_name, (unsigned long long)text_bytes, w->n_tokens,
                    (unsigned long long)w->n_windows * n, w->n_windows, n, n - 1);
    if (w->bos == LQMF_EVAL_BOS_PREPEND)
        lqmf_buf_printf(&b, "input BOS + w[0..%u], logits at position j predict w[j]; ", n - 2);
    else if (w->bos == LQMF_EVAL_BOS_REPLACE)
        lqmf_buf_printf(
            &b, "input BOS + w[1..%u] (first token replaced by BOS), logits at j-1 predict w[j]; ", n - 1);
    else
        lqmf_buf_printf(&b, "input w[0..%u] without BOS, logits at j-1 predict w[j]; ", n - 1);
    lqmf_buf_printf(&b,
                    "scored: w[%u..%u] of every window (%llu tokens); loss -log softmax in nats, "
                    "PPL = exp(mean loss)%s",
                    f, n - 1, (unsigned long long)w->n_windows * (n - f),
                    with_kl
                        ? "; KL(baseline || model) of the next-token distributions and top-1 agreement at "
                          "the same scored positions, baseline and model given the same input"
                        : "");
    lqmf_buf_append(&b, "", 1);
    if (b.failed) {
        lqmf_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* ---- per-token figures ----------------------------------------------------------------- */

/* log(sum exp x[v]) over n logits, in double; e[v] receives exp(x[v] - max)
 * as float when e is given. *amax: the first index of the maximum. */
static double log_sum_exp(const float *x, uint32_t n, float *e, uint32_t *amax) {
    uint32_t am = 0;
    for (uint32_t v = 1; v < n; v++)
        if (x[v] > x[am]) am = v;
    const float mx = x[am];
    double s = 0;
    for (uint32_t v = 0; v < n; v++) {
        float ev = expf(x[v] - mx);
        if (e) e[v] = ev;
        s += ev;
    }
    *amax = am;
    return (double)mx + log(s);
}

typedef struct {
    double sum, sumsq;
    uint64_t n;
} moments;

static void moments_add(moments *m, double x) {
    m->sum += x;
    m->sumsq += x * x;
    m->n++;
}

static lqmf_eval_ppl moments_ppl(const moments *m) {
    lqmf_eval_ppl p;
    p.mean_nll = m->sum / (double)m->n;
    double var = m->n > 1 ? (m->sumsq - m->sum * p.mean_nll) / (double)(m->n - 1) : 0;
    p.nll_stderr = var > 0 ? sqrt(var / (double)m->n) : 0;
    p.ppl = exp(p.mean_nll);
    p.ppl_stderr = p.ppl * p.nll_stderr;
    return p;
}

typedef struct {
    uint32_t n_vocab;
    float *e; /* n_vocab scratch: exp of the baseline row */
    moments nll_m, nll_b, kl;
    double *kl_all; /* one per scored token */
    uint64_t n_agree;
} accum;

/* One scored token: model row lq, baseline row lb (NULL without a baseline). */
static void accum_token(accum *a, const float *lq, const float *lb, int32_t target) {
    uint32_t am_q, am_b;
    const uint32_t V = a->n_vocab;
    double lse_q = log_sum_exp(lq, V, NULL, &am_q);
    moments_add(&a->nll_m, lse_q - lq[target]);
    if (!lb) return;
    double lse_b = log_sum_exp(lb, V, a->e, &am_b);
    moments_add(&a->nll_b, lse_b - lb[target]);
    /* KL = sum_v p_v (log p_v - log q_v) = sum_v p_v (b_v - q_v) - (lse_b - lse_q),
     * with p_v = e_v / sum e: zero exactly when the rows are equal. */
    double se = 0, dot = 0;
    for (uint32_t v = 0; v < V; v++) {
        se += a->e[v];
        dot += (double)a->e[v] * ((double)lb[v] - (double)lq[v]);
    }
    double kl = dot / se - (lse_b - lse_q);
    if (kl < 0) kl = 0; /* rounding: KL is never negative */
    a->kl_all[a->kl.n] = kl;
    moments_add(&a->kl, kl);
    a->n_agree += am_q == am_b;
}

/* ---- the cache ------------------------------------------------------------------------ */
typedef enum { CACHE_OFF, CACHE_HIT, CACHE_WRITE, CACHE_SKIP } cache_mode;

typedef struct {
    cache_mode mode;
    lqmf_map map;      /* HIT: the file */
    const float *rows; /* HIT: first row */
    lqmf_afile out;    /* WRITE */
    char *status;      /* the report's words */
} cache_state;

static lqmf_status cache_say(cache_state *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lqmf_status cache_say(cache_state *c, const char *fmt, ...) {
    char tmp[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    free(c->status);
    c->status = lqmf_eval_strdup(tmp);
    return c->status ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "cache: out of memory");
}

/* Map the cache file of (baseline, tokens, protocol) when it is there and
 * whole; else open it for writing when it fits under the limit. A cache that
 * cannot be written is reported, never fatal. */
static lqmf_status cache_begin(cache_state *c, const lqmf_eval_cache_opts *o, const lqmf_eval_windows *w,
                               uint32_t V) {
    memset(c, 0, sizeof *c);
    if (!o || !o->dir) return cache_say(c, "off");
    lqmf_eval_cache_hdr h = {V, w->n_ctx, w->n_windows, w->score_first, (uint32_t)w->bos, {0}};
    TRY(lqmf_eval_cache_key(o->baseline_path, w, V, h.key));
    uint64_t rows = (uint64_t)w->n_windows * (w->n_ctx - w->score_first), bytes;
    if (!lqmf_mul_u64(rows, (uint64_t)V * 4, &bytes) || !lqmf_add_u64(bytes, LQMF_EVAL_CACHE_HDR, &bytes))
        bytes = UINT64_MAX;
    char hex[65], path[4096];
    lqmf_hex(h.key, 16, hex);
    snprintf(path, sizeof path, "%s/%s.logits", o->dir, hex);

    lqmf_eval_cache_hdr got;
    if (lqmf_map_open(path, &c->map) == LQMF_OK) {
        if (lqmf_eval_cache_hdr_parse(c->map.data, c->map.size, path, &got) == LQMF_OK &&
            !memcmp(&got, &h, sizeof h)) {
            c->mode = CACHE_HIT;
            c->rows = (const float *)(const void *)(c->map.data + LQMF_EVAL_CACHE_HDR);
            return cache_say(c, "hit (%s)", path);
        }
        lqmf_map_close(&c->map); /* stale or damaged: rewrite it */
    }
    lqmf_clear_error();
    c->mode = CACHE_SKIP;
    if (bytes > o->max_bytes)
        return cache_say(c, "not written: %llu bytes, above the limit of %llu", (unsigned long long)bytes,
                         (unsigned long long)o->max_bytes);
    uint8_t raw[LQMF_EVAL_CACHE_HDR];
    lqmf_eval_cache_hdr_encode(&h, raw);
    if (lqmf_eval_mkdirs(o->dir) != LQMF_OK || lqmf_afile_open(&c->out, path) != LQMF_OK ||
        lqmf_afile_write(&c->out, raw, sizeof raw) != LQMF_OK) {
        lqmf_afile_abort(&c->out);
        lqmf_status st = cache_say(c, "not written: %s", lqmf_last_error());
        lqmf_clear_error();
        return st;
    }
    c->mode = CACHE_WRITE;
    return cache_say(c, "written (%s)", path);
}

static void cache_put(cache_state *c, const float *row, uint32_t V) {
    if (c->mode != CACHE_WRITE) return;
    if (lqmf_afile_write(&c->out, row, (size_t)V * sizeof *row) != LQMF_OK) {
        lqmf_afile_abort(&c->out);
        c->mode = CACHE_SKIP;
        cache_say(c, "not written: %s", lqmf_last_error());
        lqmf_clear_error();
    }
}

static void cache_end(cache_state *c, bool ok) {
    if (c->mode == CACHE_WRITE) {
        if (!ok)
            lqmf_afile_abort(&c->out);
        else if (lqmf_afile_commit(&c->out) != LQMF_OK) {
            cache_say(c, "not written: %s", lqmf_last_error());
            lqmf_clear_error();
        }
    }
    lqmf_map_close(&c->map);
}

/* ---- the run ---------------------------------------------------------------------------- */

/* The input of window k: n_ctx ids at positions 0..n_ctx-1. */
static void window_input(const lqmf_eval_windows *w, uint32_t k, int32_t *in) {
    const int32_t *t = w->tokens + (size_t)k * w->n_ctx;
    if (w->bos == LQMF_EVAL_BOS_PREPEND) {
        in[0] = w->bos_id;
        memcpy(in + 1, t, (w->n_ctx - 1) * sizeof *in);
    } else {
        memcpy(in, t, w->n_ctx * sizeof *in);
        if (w->bos == LQMF_EVAL_BOS_REPLACE) in[0] = w->bos_id;
    }
}

typedef struct {
    lqmf_eval_lm *model, *base;
    const lqmf_eval_windows *w;
    cache_state *cache;
    accum *acc;
    float *lq, *lb; /* CHUNK rows of logits each */
    int32_t *in;
} run_ctx;

static lqmf_status run_window(run_ctx *r, uint32_t k) {
    const lqmf_eval_windows *w = r->w;
    const uint32_t V = r->acc->n_vocab, per_win = w->n_ctx - w->score_first;
    const int32_t *win = w->tokens + (size_t)k * w->n_ctx;
    const uint32_t shift = w->bos == LQMF_EVAL_BOS_PREPEND ? 0 : 1; /* target j = position + shift */
    window_input(w, k, r->in);
    for (uint32_t c = 0; c < w->n_ctx; c += CHUNK) {
        uint32_t n = w->n_ctx - c < CHUNK ? w->n_ctx - c : CHUNK;
        /* chunk positions whose targets are scored: j = c + i + shift in [score_first, n_ctx) */
        bool any = c + n - 1 + shift >= w->score_first && c + shift < w->n_ctx;
        lqmf_logits_mode mode = any ? LQMF_LOGITS_ALL : LQMF_LOGITS_NONE;
        TRY(lqmf_engine_eval(r->model->engine, r->in + c, n, c, mode, any ? r->lq : NULL));
        bool base_eval = r->base && r->cache->mode != CACHE_HIT;
        if (base_eval) TRY(lqmf_engine_eval(r->base->engine, r->in + c, n, c, mode, any ? r->lb : NULL));
        if (!any) continue;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t j = c + i + shift;
            if (j < w->score_first || j >= w->n_ctx) continue;
            const float *lb = NULL;
            if (r->base) {
                if (r->cache->mode == CACHE_HIT)
                    lb = r->cache->rows + ((uint64_t)k * per_win + (j - w->score_first)) * V;
                else {
                    lb = r->lb + (size_t)i * V;
                    cache_put(r->cache, lb, V);
                }
            }
            accum_token(r->acc, r->lq + (size_t)i * V, lb, win[j]);
        }
    }
    return LQMF_OK;
}

static lqmf_status quality_loop(run_ctx *r, lqmf_eval_progress_fn progress, void *user) {
    for (uint32_t k = 0; k < r->w->n_windows; k++) {
        TRY(run_window(r, k));
        if (progress) progress(user, "quality", k + 1, r->w->n_windows);
    }
    return LQMF_OK;
}

static void quality_finish(const accum *a, bool with_base, lqmf_eval_quality *q) {
    q->model = moments_ppl(&a->nll_m);
    q->has_baseline = with_base;
    if (!with_base) {
        q->kl_mean = q->kl_stderr = q->kl_p99 = q->kl_max = q->top1 = q->dppl_frac = NAN;
        return;
    }
    q->baseline = moments_ppl(&a->nll_b);
    lqmf_eval_ppl k = moments_ppl(&a->kl); /* mean and stderr of the KL values */
    q->kl_mean = k.mean_nll;
    q->kl_stderr = k.nll_stderr;
    q->kl_p99 = lqmf_eval_quantile(a->kl_all, a->kl.n, 0.99);
    q->kl_max = lqmf_eval_quantile(a->kl_all, a->kl.n, 1.0);
    q->top1 = (double)a->n_agree / (double)a->kl.n;
    q->dppl_frac = q->model.ppl / q->baseline.ppl - 1.0;
}

lqmf_status lqmf_eval_quality_run(lqmf_eval_lm *model, lqmf_eval_lm *base, const lqmf_eval_windows *w,
                                  const lqmf_eval_cache_opts *cache, lqmf_eval_progress_fn progress,
                                  void *progress_user, lqmf_eval_quality *q) {
    const uint32_t V = model->model->hp.n_vocab;
    if (base && base->model->hp.n_vocab != V)
        return lqmf_error(LQMF_E_INVALID, "baseline %s has %u tokens in its vocabulary, the model %s has %u",
                          base->model->path, base->model->hp.n_vocab, model->model->path, V);
    if (w->n_ctx > model->n_ctx || (base && w->n_ctx > base->n_ctx))
        return lqmf_error(LQMF_E_INVALID, "protocol window of %u tokens exceeds the model's context of %u",
                          w->n_ctx, base && base->n_ctx < model->n_ctx ? base->n_ctx : model->n_ctx);
    for (size_t i = 0; i < (size_t)w->n_windows * w->n_ctx; i++)
        if (w->tokens[i] < 0 || (uint32_t)w->tokens[i] >= V)
            return lqmf_error(LQMF_E_INVALID, "text token %zu: id %d outside the vocabulary of %u", i,
                              w->tokens[i], V);
    uint64_t n_scored = (uint64_t)w->n_windows * (w->n_ctx - w->score_first);
    accum acc = {.n_vocab = V};
    run_ctx r = {.model = model, .base = base, .w = w, .acc = &acc};
    cache_state cs = {0};
    lqmf_status st = LQMF_E_NOMEM;
    r.lq = malloc((size_t)CHUNK * V * sizeof(float));
    r.in = malloc(w->n_ctx * sizeof(int32_t));
    if (base) {
        r.lb = malloc((size_t)CHUNK * V * sizeof(float));
        acc.e = malloc(V * sizeof(float));
        acc.kl_all = malloc(n_scored * sizeof(double));
    }
    if (!r.lq || !r.in || (base && (!r.lb || !acc.e || !acc.kl_all))) {
        lqmf_error(LQMF_E_NOMEM, "quality: out of memory for %u-token logits", V);
        goto done;
    }
    if (base) {
        st = cache_begin(&cs, cache, w, V);
        if (st != LQMF_OK) goto done;
    } else if ((st = cache_say(&cs, "off")) != LQMF_OK)
        goto done;
    r.cache = &cs;
    st = quality_loop(&r, progress, progress_user);
    cache_end(&cs, st == LQMF_OK);
    if (st == LQMF_OK) {
        quality_finish(&acc, base != NULL, q);
        q->n_windows = w->n_windows;
        q->n_scored = n_scored;
        q->bos = w->bos;
        q->score_first = w->score_first;
        free(q->cache);
        q->cache = cs.status;
        cs.status = NULL;
    }
done:
    free(cs.status);
    free(r.lq);
    free(r.lb);
    free(r.in);
    free(acc.e);
    free(acc.kl_all);
    return st;
}
