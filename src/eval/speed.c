/* Speed the way llama-bench measures it: ppN evaluates N prompt tokens in
 * one call from an empty cache (logits of the last token only), tgN decodes
 * N tokens one at a time from an empty cache; each is repeated after a
 * short warm-up and reported as mean +- sample standard deviation of the
 * per-repetition tokens/s. Token ids are a fixed pseudo-random sequence. */
#include "eval_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill_ids(int32_t *ids, uint32_t n, uint32_t n_vocab) {
    uint64_t x = 0x9E3779B97F4A7C15ull; /* xorshift64, fixed seed */
    for (uint32_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (int32_t)(x % n_vocab);
    }
}

static lqmf_status run_pp(lqmf_engine *e, const int32_t *ids, uint32_t n, float *logits, double *secs) {
    lqmf_engine_reset(e);
    double t0 = lqmf_time_now();
    TRY(lqmf_engine_eval(e, ids, n, 0, LQMF_LOGITS_LAST, logits));
    *secs = lqmf_time_now() - t0;
    return LQMF_OK;
}

static lqmf_status run_tg(lqmf_engine *e, const int32_t *ids, uint32_t n, float *logits, double *secs) {
    lqmf_engine_reset(e);
    double t0 = lqmf_time_now();
    for (uint32_t i = 0; i < n; i++) TRY(lqmf_engine_eval(e, &ids[i], 1, i, LQMF_LOGITS_LAST, logits));
    *secs = lqmf_time_now() - t0;
    return LQMF_OK;
}

typedef lqmf_status (*bench_fn)(lqmf_engine *, const int32_t *, uint32_t, float *, double *);

static lqmf_status bench(lqmf_eval_lm *lm, bench_fn fn, const char *prefix, uint32_t n, uint32_t reps,
                         const int32_t *ids, float *logits, lqmf_eval_speed_test *t,
                         lqmf_eval_progress_fn progress, void *user, uint32_t *step, uint32_t steps) {
    snprintf(t->name, sizeof t->name, "%s%u", prefix, n);
    t->n_tokens = n;
    t->reps = reps;
    t->tps = calloc(reps, sizeof *t->tps);
    if (!t->tps) return lqmf_error(LQMF_E_NOMEM, "speed: out of memory");
    for (uint32_t r = 0; r < reps; r++) {
        double secs;
        TRY(fn(lm->engine, ids, n, logits, &secs));
        t->tps[r] = secs > 0 ? (double)n / secs : 0;
        if (progress) progress(user, "speed", ++*step, steps);
    }
    t->tps_mean = lqmf_eval_mean(t->tps, reps);
    t->tps_stddev = lqmf_eval_stddev(t->tps, reps);
    return LQMF_OK;
}

lqmf_status lqmf_eval_speed_run(lqmf_eval_lm *lm, uint32_t pp, uint32_t tg, uint32_t reps,
                                lqmf_eval_progress_fn progress, void *progress_user, lqmf_eval_speed *s) {
    if (pp == 0 || tg == 0 || reps == 0)
        return lqmf_error(LQMF_E_INVALID, "speed: pp %u, tg %u, reps %u (all must be > 0)", pp, tg, reps);
    if (pp > lm->n_ctx) pp = lm->n_ctx;
    if (tg > lm->n_ctx) tg = lm->n_ctx;
    const uint32_t V = lm->model->hp.n_vocab, n = pp > tg ? pp : tg;
    int32_t *ids = malloc(n * sizeof *ids);
    float *logits = malloc(V * sizeof *logits);
    lqmf_status st = LQMF_OK;
    if (!ids || !logits) st = lqmf_error(LQMF_E_NOMEM, "speed: out of memory");
    lqmf_engine_info info;
    lqmf_engine_get_info(lm->engine, &info);
    s->n_threads = info.n_threads;
    snprintf(s->isa, sizeof s->isa, "%s", info.isa);
    s->weight_bytes = info.weight_bytes;
    uint32_t step = 0, steps = 2 * reps;
    if (st == LQMF_OK) {
        fill_ids(ids, n, V);
        double unused;
        /* warm-up: fault the weights in, start the threads */
        st = run_pp(lm->engine, ids, pp < 16 ? pp : 16, logits, &unused);
        if (st == LQMF_OK) st = run_tg(lm->engine, ids, n < 2 ? n : 2, logits, &unused);
    }
    double cpu0 = lqmf_eval_cpu_seconds(), t0 = lqmf_time_now();
    if (st == LQMF_OK)
        st = bench(lm, run_pp, "pp", pp, reps, ids, logits, &s->pp, progress, progress_user, &step, steps);
    if (st == LQMF_OK)
        st = bench(lm, run_tg, "tg", tg, reps, ids, logits, &s->tg, progress, progress_user, &step, steps);
    double wall = lqmf_time_now() - t0;
    s->cpu_util = wall > 0 ? (lqmf_eval_cpu_seconds() - cpu0) / wall : 0;
    s->tg_bytes_per_s = (double)s->weight_bytes * s->tg.tps_mean;
    free(ids);
    free(logits);
    return st;
}
