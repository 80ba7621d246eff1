/* The report as JSON: docs/benchmark-report.schema.json describes every
 * field. Unmeasured figures are null, never invented. */
#include "eval_priv.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }
static json_t *u64(uint64_t x) { return json_integer((json_int_t)x); }
static json_t *str(const char *s) { return json_string(s ? s : ""); }

static json_t *model_json(const lqmf_eval_model_info *m) {
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", str(m->name),
                     "path", str(m->path), "format", str(m->format), "method", str(m->method), "architecture",
                     str(m->architecture), "hf_architecture", str(m->hf_arch), "bits_per_weight",
                     num(m->bits_per_weight), "n_params", u64(m->n_params), "file_bytes", u64(m->file_bytes),
                     "n_files", u64(m->n_files), "n_vocab", u64(m->n_vocab), "n_ctx_train",
                     u64(m->n_ctx_train));
}

static json_t *ppl_json(const lqmf_eval_ppl *p) {
    return json_pack("{s:o, s:o, s:o, s:o}", "mean_nll", num(p->mean_nll), "nll_stderr", num(p->nll_stderr),
                     "ppl", num(p->ppl), "ppl_stderr", num(p->ppl_stderr));
}

static json_t *quality_json(const lqmf_eval_quality *q) {
    const lqmf_eval_protocol *p = &q->protocol;
    json_t *proto =
        json_pack("{s:o, s:o, s:s, s:s, s:o, s:o, s:{s:o, s:s, s:o, s:o}, s:o, s:o, s:o}", "n_ctx",
                  u64(p->n_ctx), "max_tokens", u64(p->max_tokens), "bos_asked", lqmf_eval_bos_name(p->bos),
                  "bos", lqmf_eval_bos_name(q->bos), "score_first", u64(q->score_first), "scored_per_window",
                  u64(p->n_ctx - q->score_first), "text", "name", str(q->text_name), "sha256", q->text_sha256,
                  "bytes", u64(q->text_bytes), "tokens", u64(q->text_tokens), "windows", u64(q->n_windows),
                  "scored_tokens", u64(q->n_scored), "description", str(q->description));
    json_t *kl = q->has_baseline ? json_pack("{s:o, s:o, s:o, s:o}", "mean", num(q->kl_mean), "stderr",
                                             num(q->kl_stderr), "p99", num(q->kl_p99), "max", num(q->kl_max))
                                 : json_null();
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "protocol", proto, "model",
                     ppl_json(&q->model), "baseline", q->has_baseline ? ppl_json(&q->baseline) : json_null(),
                     "kl_divergence", kl, "top1_agreement", q->has_baseline ? num(q->top1) : json_null(),
                     "delta_ppl", q->has_baseline ? num(q->dppl_frac) : json_null(), "baseline_logits_cache",
                     str(q->cache), "tokenizers_match",
                     q->has_baseline ? json_boolean(q->tokens_match) : json_null());
}

static json_t *diversity_json(const lqmf_eval_diversity *d) {
    return json_pack("{s:o, s:o, s:o}", "distinct_1", num(d->distinct1), "distinct_2", num(d->distinct2),
                     "rep_4", num(d->rep4));
}

static json_t *generation_json(const lqmf_eval_generation *g, bool base) {
    json_t *samples = json_array();
    for (size_t i = 0; i < g->n_samples; i++) {
        const lqmf_eval_sample *s = &g->samples[i];
        json_array_append_new(samples, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "category",
                                                 str(s->category), "prompt", str(s->prompt), "model_output",
                                                 str(s->model_out), "baseline_output",
                                                 s->base_out ? str(s->base_out) : json_null(), "model_tokens",
                                                 u64(s->model_tokens), "baseline_tokens",
                                                 s->base_out ? u64(s->base_tokens) : json_null(), "rouge_l",
                                                 num(s->rouge_l), "ttft_s", num(s->ttft_s)));
    }
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "decoding", "greedy", "max_new_tokens",
                     u64(g->max_new), "skipped", str(g->skipped), "samples", samples, "rouge_l_mean",
                     num(g->rouge_l_mean), "model", diversity_json(&g->model), "baseline",
                     base ? diversity_json(&g->baseline) : json_null(), "ttft_mean_s", num(g->ttft_mean_s));
}

static json_t *speed_test_json(const lqmf_eval_speed_test *t) {
    json_t *v = json_array();
    for (uint32_t i = 0; i < t->reps; i++) json_array_append_new(v, num(t->tps[i]));
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "name", t->name, "n_tokens", u64(t->n_tokens), "reps",
                     u64(t->reps), "tokens_per_s_mean", num(t->tps_mean), "tokens_per_s_stddev",
                     num(t->tps_stddev), "tokens_per_s", v);
}

static json_t *speed_json(const lqmf_eval_speed *s) {
    return json_pack("{s:o, s:s, s:[o, o], s:o, s:o, s:o, s:o}", "threads", u64(s->n_threads), "isa", s->isa,
                     "tests", speed_test_json(&s->pp), speed_test_json(&s->tg), "weight_bytes",
                     u64(s->weight_bytes), "tg_bytes_per_s", num(s->tg_bytes_per_s), "peak_rss_bytes",
                     s->peak_rss_bytes ? u64(s->peak_rss_bytes) : json_null(), "cpu_util", num(s->cpu_util));
}

static json_t *lines_json(const char *text) {
    json_t *a = json_array();
    for (const char *p = text ? text : ""; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        p += n + (e ? 1 : 0);
    }
    return a;
}

static json_t *report_json(const lqmf_eval_report *r) {
    char when[32];
    time_t t = (time_t)r->started_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *checks = json_array();
    for (size_t i = 0; i < r->n_checks; i++)
        json_array_append_new(checks, json_pack("{s:s, s:o, s:o, s:b}", "name", r->checks[i].name, "value",
                                                num(r->checks[i].value), "limit", num(r->checks[i].limit),
                                                "pass", r->checks[i].pass));
    const lqmf_eval_thresholds *th = &r->thresholds;
    return json_pack("{s:s, s:i, s:s, s:o, s:s, s:{s:s, s:o}, s:o, s:o, s:o, s:o, s:o, "
                     "s:{s:o, s:o, s:o}, s:{s:o, s:o, s:o}, s:o, s:s, s:o}",
                     "schema", "lqmf-benchmark-report", "schema_version", r->schema_version, "created_at",
                     when, "created_unix", num(r->started_at), "mode", lqmf_eval_mode_name(r->mode), "host",
                     "name", r->host, "n_cpus", u64(r->n_cpus), "model", model_json(&r->model), "baseline",
                     r->has_baseline ? model_json(&r->baseline) : json_null(), "quality",
                     r->has_quality ? quality_json(&r->quality) : json_null(), "generation",
                     r->has_generation ? generation_json(&r->gen, r->has_baseline) : json_null(), "speed",
                     r->has_speed ? speed_json(&r->speed) : json_null(), "system", "file_bytes",
                     u64(r->model.file_bytes), "peak_rss_bytes",
                     r->peak_rss_bytes ? u64(r->peak_rss_bytes) : json_null(), "wall_s", num(r->wall_s),
                     "thresholds", "max_kl", num(th->max_kl), "min_top1", num(th->min_top1), "max_delta_ppl",
                     num(th->max_dppl_frac), "checks", checks, "verdict", lqmf_eval_verdict_name(r->verdict),
                     "warnings", lines_json(r->warnings));
}

lqmf_status lqmf_eval_report_json(const lqmf_eval_report *r, lqmf_buf *out) {
    json_t *j = report_json(r);
    if (!j) return lqmf_error(LQMF_E_NOMEM, "report: cannot build the JSON document");
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(j);
    bool ok = s && lqmf_buf_append(out, s, strlen(s)) && lqmf_buf_append(out, "\n", 1);
    free(s);
    return ok ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "report: out of memory");
}

/* A file-name-safe copy of name: [A-Za-z0-9._-] kept, the rest '_'. */
static void safe_name(const char *name, char *out, size_t cap) {
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < cap; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '-' || c == '_';
        out[k++] = ok ? c : '_';
    }
    out[k] = '\0';
}

lqmf_status lqmf_eval_report_save(const lqmf_eval_report *r, const char *dir, char **path_out) {
    if (path_out) *path_out = NULL;
    TRY(lqmf_eval_mkdirs(dir));
    char name[128], when[32], path[4096];
    safe_name(r->model.name ? r->model.name : "model", name, sizeof name);
    time_t t = (time_t)r->started_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
    snprintf(path, sizeof path, "%s/benchmark_%s_%s.json", dir, name, when);
    lqmf_buf b;
    lqmf_buf_init(&b);
    lqmf_status st = lqmf_eval_report_json(r, &b);
    lqmf_afile f;
    if (st == LQMF_OK) st = lqmf_afile_open(&f, path);
    if (st == LQMF_OK) {
        st = lqmf_afile_write(&f, b.data, b.len);
        if (st == LQMF_OK)
            st = lqmf_afile_commit(&f);
        else
            lqmf_afile_abort(&f);
    }
    lqmf_buf_free(&b);
    if (st == LQMF_OK && path_out && !(*path_out = strdup(path)))
        st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    return st;
}
