/* A test report's figures as evaluation records of the experiment store. */
#include "lqmf/eval.h"

#include <math.h>
#include <stdio.h>

/* One metric; values that were not measured (NaN) are not recorded. */
static lqmf_status add(lqmf_store *s, const lqmf_store_evaluation *proto, const char *metric, double v,
                       const char *unit, const char *protocol, int64_t art) {
    if (!isfinite(v)) return LQMF_OK;
    lqmf_store_evaluation e = *proto;
    e.metric = metric;
    e.value = v;
    e.unit = unit;
    e.protocol = protocol;
    e.artifact_id = art;
    return lqmf_store_add_evaluation(s, &e, NULL);
}

lqmf_status lqmf_eval_record(lqmf_store *s, int64_t exp_id, int64_t model_id, int64_t art_id,
                             const lqmf_eval_report *r) {
    const lqmf_store_evaluation proto = { .experiment_id = exp_id, .model_id = model_id };
    lqmf_status st = LQMF_OK;
#define ADD(metric, v, unit, protocol, art)                                                                  \
    if (st == LQMF_OK) st = add(s, &proto, metric, v, unit, protocol, art)
    const lqmf_eval_quality *q = &r->quality;
    if (r->has_quality) {
        ADD(LQMF_METRIC_PPL, q->model.ppl, "", q->description, art_id);
        if (q->has_baseline) {
            ADD(LQMF_METRIC_PPL, q->baseline.ppl, "", q->description, 0);
            ADD(LQMF_METRIC_KL, q->kl_mean, "nats", q->description, art_id);
            ADD("kl_divergence_p99", q->kl_p99, "nats", q->description, art_id);
            ADD("top1_agreement", q->top1, "fraction", q->description, art_id);
            ADD("delta_ppl", q->dppl_frac, "fraction", q->description, art_id);
        }
    }
    if (r->has_generation) {
        char gen[160];
        snprintf(gen, sizeof gen, "greedy, %zu prompts, up to %u new tokens", r->gen.n_samples, r->gen.max_new);
        ADD("rouge_l", r->gen.rouge_l_mean, "", gen, art_id);
        ADD("ttft_s", r->gen.ttft_mean_s, "s", gen, art_id);
    }
    if (r->has_speed) {
        char speed[160];
        snprintf(speed, sizeof speed, "%s and %s, %u reps, %u threads, %s", r->speed.pp.name, r->speed.tg.name,
                 r->speed.pp.reps, r->speed.n_threads, r->speed.isa);
        ADD("prompt_tokens_per_s", r->speed.pp.tps_mean, "tokens/s", speed, art_id);
        ADD("decode_tokens_per_s", r->speed.tg.tps_mean, "tokens/s", speed, art_id);
        if (r->speed.peak_rss_bytes)
            ADD("peak_rss_bytes", (double)r->speed.peak_rss_bytes, "bytes", speed, art_id);
    }
#undef ADD
    return st;
}
