/* lqmf_eval_run: the whole test of one model against its baseline.
 *
 * Order of the phases, chosen so the memory figures mean something:
 *   1. open the model under test; speed (ppN, tgN) with only it loaded,
 *      then read the peak resident set: the model's own footprint;
 *   2. open the baseline; quality (perplexity, KL, top-1) over the same
 *      windows, baseline logits from the cache when present;
 *   3. generation suite for both;
 *   4. verdict against the thresholds. */
#include "eval_priv.h"
#include "lqmf/sha256.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEXT_MAX (256u << 20) /* bytes of a perplexity text */

void lqmf_eval_opts_init(lqmf_eval_opts *o, lqmf_eval_mode mode) {
    memset(o, 0, sizeof *o);
    o->mode = mode;
    lqmf_eval_protocol_preset(mode == LQMF_EVAL_QUICK ? "quick" : "ref", &o->protocol);
    o->speed_pp = 512;
    o->speed_tg = 128;
    o->speed_reps = mode == LQMF_EVAL_QUICK ? 2 : 5;
    o->gen_per_category = mode == LQMF_EVAL_QUICK ? 1 : 3;
    o->gen_max_new = mode == LQMF_EVAL_QUICK ? 32 : 64;
    o->cache_max_bytes = 1ull << 30;
    o->thresholds = (lqmf_eval_thresholds){0.03, 0.90, 0.05};
}

const char *lqmf_eval_verdict_name(lqmf_eval_verdict v) {
    switch (v) {
    case LQMF_EVAL_PASS: return "pass";
    case LQMF_EVAL_FAIL: return "fail";
    case LQMF_EVAL_UNMEASURED: return "unmeasured";
    }
    return "?";
}

const char *lqmf_eval_mode_name(lqmf_eval_mode m) { return m == LQMF_EVAL_FULL ? "full" : "quick"; }

static void info_free(lqmf_eval_model_info *mi) {
    free(mi->name);
    free(mi->path);
    free(mi->format);
    free(mi->method);
    free(mi->architecture);
    free(mi->hf_arch);
    memset(mi, 0, sizeof *mi);
}

void lqmf_eval_report_free(lqmf_eval_report *r) {
    if (!r) return;
    info_free(&r->model);
    info_free(&r->baseline);
    free(r->quality.text_name);
    free(r->quality.description);
    free(r->quality.cache);
    lqmf_eval_generation_free(&r->gen);
    free(r->speed.pp.tps);
    free(r->speed.tg.tps);
    free(r->warnings);
    free(r);
}

static const char *format_name(lqmf_model_format f) {
    return f == LQMF_FORMAT_GGUF ? "gguf" : f == LQMF_FORMAT_LLAMA2C ? "llama2c" : "hf";
}

/* What the model is: from the files as discovery reads them, completed by
 * the opened model (vocabulary, context, architecture names). */
static lqmf_status model_info(const char *path, const char *name, const lqmf_eval_lm *lm,
                              lqmf_eval_model_info *mi) {
    const lqmf_model *m = lm->model;
    lqmf_eval_found f;
    bool described = lqmf_eval_describe(path, &f) == LQMF_OK;
    lqmf_clear_error();
    uint64_t params = lqmf_model_n_params(m), bytes = 0, per_type[LQMF_TYPE_COUNT] = {0};
    for (size_t i = 0; i < m->n_tensors; i++) {
        bytes += m->tensors[i].nbytes;
        if (m->tensors[i].n_dims >= 2) per_type[m->tensors[i].type] += m->tensors[i].nbytes;
    }
    unsigned best = 0;
    for (unsigned t = 1; t < LQMF_TYPE_COUNT; t++)
        if (per_type[t] > per_type[best]) best = t;
    struct stat sb;
    mi->name = name ? strdup(name) : described ? strdup(f.name) : lqmf_eval_basename(path, true);
    mi->path = strdup(path);
    mi->format = strdup(format_name(m->format));
    mi->method = strdup(described && f.method[0] != '?' ? f.method : lqmf_type_name(best));
    mi->architecture = strdup(m->hp.model_type[0] ? m->hp.model_type : lqmf_arch_name(m->hp.arch));
    mi->hf_arch = strdup(m->hp.hf_arch);
    mi->n_params = params;
    /* a quantized HF checkpoint is decoded to F32 on load: its nominal bits */
    mi->bits_per_weight = described && m->format == LQMF_FORMAT_HF && f.bits > 0 && f.bits < 16 ? f.bits
                          : params ? (double)bytes * 8.0 / (double)params
                                   : 0;
    mi->file_bytes = described ? f.size_bytes : stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    mi->n_files = described ? f.n_files : 1;
    mi->n_vocab = m->hp.n_vocab;
    mi->n_ctx_train = m->hp.n_ctx_train;
    if (described) lqmf_eval_found_free(&f);
    if (!mi->name || !mi->path || !mi->format || !mi->method || !mi->architecture || !mi->hf_arch)
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    return LQMF_OK;
}

/* ---- the text ------------------------------------------------------------------------- */
typedef struct {
    char *bytes;
    size_t len;
    lqmf_tok_ids ids;
} text_t;

static lqmf_status load_text(const char *path, const lqmf_tokenizer *tok, text_t *t, lqmf_eval_quality *q) {
    memset(t, 0, sizeof *t);
    if (path) {
        TRY(lqmf_read_file(path, TEXT_MAX, &t->bytes, &t->len));
    } else {
        t->bytes = strdup(lqmf_eval_builtin_text);
        if (!t->bytes) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        t->len = strlen(t->bytes);
    }
    uint8_t d[32];
    lqmf_sha256(t->bytes, t->len, d);
    lqmf_hex(d, 32, q->text_sha256);
    q->text_bytes = t->len;
    if (!(q->text_name = strdup(path ? path : "built-in"))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    lqmf_status st = lqmf_tok_encode(tok, t->bytes, t->len, 0, &t->ids);
    if (st != LQMF_OK) return lqmf_error_prefix(st, "%s", q->text_name);
    q->text_tokens = t->ids.n;
    return LQMF_OK;
}

static void text_free(text_t *t) {
    free(t->bytes);
    lqmf_tok_ids_free(&t->ids);
}

/* ---- verdict and caveats ---------------------------------------------------------------- */
static void add_check(lqmf_eval_report *r, const char *name, double value, double limit, bool upper) {
    if (isnan(limit)) return;
    lqmf_eval_check *c = &r->checks[r->n_checks++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->value = value;
    c->limit = limit;
    c->pass = upper ? value <= limit : value >= limit;
}

static void decide(lqmf_eval_report *r) {
    r->n_checks = 0;
    if (!r->has_quality || !r->quality.has_baseline) {
        r->verdict = LQMF_EVAL_UNMEASURED;
        return;
    }
    const lqmf_eval_thresholds *t = &r->thresholds;
    add_check(r, "kl", r->quality.kl_mean, t->max_kl, true);
    add_check(r, "top1", r->quality.top1, t->min_top1, false);
    add_check(r, "dppl", r->quality.dppl_frac, t->max_dppl_frac, true);
    r->verdict = LQMF_EVAL_PASS;
    for (size_t i = 0; i < r->n_checks; i++)
        if (!r->checks[i].pass) r->verdict = LQMF_EVAL_FAIL;
}

static void caveats(lqmf_eval_report *r, const lqmf_eval_opts *o, bool rss_reset, lqmf_buf *w) {
    if (!r->has_baseline)
        lqmf_buf_printf(
            w, "no baseline: quality against the unquantized model was not measured (give --baseline)\n");
    if (r->has_quality) {
        const lqmf_eval_quality *q = &r->quality;
        if (r->has_baseline && !q->tokens_match)
            lqmf_buf_printf(w,
                            "the baseline's tokenizer encodes the text differently; both models were scored "
                            "on the model's tokens\n");
        if (o->protocol.max_tokens && q->text_tokens < o->protocol.max_tokens)
            lqmf_buf_printf(
                w, "the text has %llu tokens, fewer than the protocol's %u: %u windows were scored\n",
                (unsigned long long)q->text_tokens, o->protocol.max_tokens, q->n_windows);
    }
    if (r->has_speed && r->speed.pp.n_tokens < o->speed_pp)
        lqmf_buf_printf(w, "prompt processing measured over %u tokens, the model's context (asked: %u)\n",
                        r->speed.pp.n_tokens, o->speed_pp);
    if (!rss_reset) lqmf_buf_printf(w, "peak memory is the peak of the whole process (could not reset it)\n");
}

/* ---- the run ------------------------------------------------------------------------------- */
typedef struct {
    const lqmf_eval_opts *o;
    lqmf_eval_report *r;
    lqmf_eval_lm model, base;
    text_t text;
} run_state;

static lqmf_status phase_quality(run_state *s) {
    const lqmf_eval_opts *o = s->o;
    lqmf_eval_quality *q = &s->r->quality;
    q->protocol = o->protocol;
    TRY(load_text(o->text_path, s->model.tok, &s->text, q));
    lqmf_eval_windows w;
    TRY(lqmf_eval_windows_plan(&o->protocol, s->text.ids.n, lqmf_tok_adds_bos(s->model.tok),
                               lqmf_tok_bos(s->model.tok), &w));
    w.tokens = s->text.ids.ids;
    q->tokens_match = true;
    if (s->base.engine) {
        lqmf_tok_ids b = {0};
        lqmf_status st = lqmf_tok_encode(s->base.tok, s->text.bytes, s->text.len, 0, &b);
        q->tokens_match =
            st == LQMF_OK && b.n == s->text.ids.n && !memcmp(b.ids, s->text.ids.ids, b.n * sizeof *b.ids);
        lqmf_tok_ids_free(&b);
        lqmf_clear_error();
    }
    if (!(q->description =
              lqmf_eval_windows_describe(&w, q->text_name, q->text_bytes, s->base.engine != NULL)))
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    lqmf_eval_cache_opts cache = {o->cache_dir, o->cache_max_bytes, o->baseline_path};
    TRY(lqmf_eval_quality_run(&s->model, s->base.engine ? &s->base : NULL, &w, &cache, o->progress,
                              o->progress_user, q));
    s->r->has_quality = true;
    return LQMF_OK;
}

static lqmf_status run_phases(run_state *s) {
    const lqmf_eval_opts *o = s->o;
    lqmf_eval_report *r = s->r;
    uint32_t n_ctx = 256;
    if (!o->skip_quality && o->protocol.n_ctx > n_ctx) n_ctx = o->protocol.n_ctx;
    if (!o->skip_speed && o->speed_pp > n_ctx) n_ctx = o->speed_pp;
    if (!o->skip_speed && o->speed_tg > n_ctx) n_ctx = o->speed_tg;

    TRY(lqmf_eval_lm_open(o->model_path, n_ctx, o->n_threads, &s->model));
    TRY(model_info(o->model_path, o->name, &s->model, &r->model));
    if (!o->skip_speed) {
        TRY(lqmf_eval_speed_run(&s->model, o->speed_pp, o->speed_tg, o->speed_reps, o->progress,
                                o->progress_user, &r->speed));
        r->speed.peak_rss_bytes = lqmf_eval_peak_rss();
        r->has_speed = true;
    }
    if (o->baseline_path) {
        lqmf_status st = lqmf_eval_lm_open(o->baseline_path, n_ctx, o->n_threads, &s->base);
        if (st != LQMF_OK) return lqmf_error_prefix(st, "baseline");
        TRY(model_info(o->baseline_path, NULL, &s->base, &r->baseline));
        r->has_baseline = true;
    }
    if (!o->skip_quality) TRY(phase_quality(s));
    if (!o->skip_generation) {
        TRY(lqmf_eval_generation_run(&s->model, s->base.engine ? &s->base : NULL, o->gen_per_category,
                                     o->gen_max_new, o->progress, o->progress_user, &r->gen));
        r->has_generation = true;
    }
    return LQMF_OK;
}

lqmf_status lqmf_eval_run(const lqmf_eval_opts *o, lqmf_eval_report **out) {
    *out = NULL;
    if (!o || !o->model_path) return lqmf_error(LQMF_E_INVALID, "eval: no model path");
    lqmf_eval_report *r = calloc(1, sizeof *r);
    if (!r) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r->schema_version = LQMF_EVAL_SCHEMA_VERSION;
    r->started_at = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
    if (gethostname(r->host, sizeof r->host) != 0) snprintf(r->host, sizeof r->host, "?");
    r->host[sizeof r->host - 1] = '\0';
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    r->n_cpus = cpus > 0 ? (uint32_t)cpus : 1;
    r->mode = o->mode;
    r->thresholds = o->thresholds;
    bool rss_reset = lqmf_eval_reset_peak_rss();
    double t0 = lqmf_time_now();

    run_state s = {.o = o, .r = r};
    lqmf_status st = run_phases(&s);
    text_free(&s.text);
    lqmf_eval_lm_close(&s.base);
    lqmf_eval_lm_close(&s.model);
    if (st != LQMF_OK) {
        lqmf_eval_report_free(r);
        return st;
    }
    r->peak_rss_bytes = lqmf_eval_peak_rss();
    r->wall_s = lqmf_time_now() - t0;
    decide(r);
    lqmf_buf w;
    lqmf_buf_init(&w);
    caveats(r, o, rss_reset, &w);
    lqmf_buf_append(&w, "", 1);
    r->warnings = w.failed ? NULL : (char *)w.data;
    if (!r->warnings) {
        lqmf_buf_free(&w);
        lqmf_eval_report_free(r);
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    *out = r;
    return LQMF_OK;
}
