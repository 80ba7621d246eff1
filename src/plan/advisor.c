/* Advice: the prompt built from the plan, the answer found in the provider's
 * text and judged against the planner's memory estimate (rules in
 * include/lqmf/advisor.h). */
#include "lqmf/advisor.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ANSWER_MAX_BYTES (64u << 10)
#define ADVICE_MAX_TOKENS 256u
#define GIB (1024.0 * 1024.0 * 1024.0)

const char *lqmf_advice_verdict_name(lqmf_advice_verdict v) {
    switch (v) {
    case LQMF_ADVICE_NONE: return "none";
    case LQMF_ADVICE_ACCEPTED: return "accepted";
    case LQMF_ADVICE_REJECTED: return "rejected";
    }
    return "?";
}

bool lqmf_advice_wanted(const lqmf_config *cfg, bool flag) {
    const char *p = lqmf_config_get(cfg, LQMF_CFG_LLM_PROVIDER);
    if (!p || !*p || strcasecmp(p, "none") == 0) return false;
    return flag || lqmf_config_get_bool(cfg, LQMF_CFG_LLM_ADVICE);
}

lqmf_status lqmf_advice_prompt(const lqmf_model_meta *m, const lqmf_plan *p, lqmf_buf *out) {
    lqmf_buf_printf(out,
                    "You advise on quantizing a language model to run locally. Choose one quantization "
                    "scheme from the planner's options below.\n\n"
                    "Model: %s, %.3g billion parameters, %u layers, embedding %u, %u heads (%u KV heads, "
                    "head dim %u), feed-forward %u, vocabulary %u, trained context %u.\n",
                    m->name, (double)m->n_params / 1e9, m->n_layer, m->n_embd, m->n_head, m->n_head_kv,
                    m->head_dim, m->n_ff, m->n_vocab, m->n_ctx_train);
    lqmf_buf_printf(out, "Target: %s with %.2f GiB of memory (%.2f GiB usable), context %u tokens",
                    lqmf_device_name(p->rq.device), (double)p->rq.device_mem / GIB, (double)p->usable_mem / GIB,
                    p->n_ctx);
    if (p->rq.mem_budget) lqmf_buf_printf(out, ", run-time budget %.2f GiB", (double)p->rq.mem_budget / GIB);
    if (p->rq.size_budget) lqmf_buf_printf(out, ", file-size budget %.2f GB", (double)p->rq.size_budget / 1e9);
    lqmf_buf_printf(out, "; preference %s.\n\nThe planner's ranked options with memory estimates:\n\n",
                    lqmf_pref_name(p->rq.pref));
    lqmf_status st = lqmf_plan_render(m, p, out);
    if (st != LQMF_OK) return st;
    lqmf_buf_printf(out, "\nScheme names you may answer with:");
    for (size_t i = 0; i < p->n_opts; i++)
        lqmf_buf_printf(out, "%s %s", i ? "," : "", p->opts[i].est.scheme->name);
    lqmf_buf_printf(out, ".\nAnswer with exactly one line of JSON and nothing else, for example:\n"
                         "{\"scheme\": \"Q4_K_M\", \"reason\": \"one short sentence\"}\n");
    lqmf_buf_append(out, "", 1);
    out->len--; /* NUL-terminated, not counted */
    return out->failed ? lqmf_error(LQMF_E_NOMEM, "advice prompt: out of memory") : LQMF_OK;
}

lqmf_status lqmf_advice_parse(const char *text, size_t len, lqmf_advice *a) {
    a->scheme[0] = a->reason[0] = 0;
    if (len > ANSWER_MAX_BYTES)
        return lqmf_error(LQMF_E_FORMAT, "advice answer: %zu bytes, over the %u limit", len, ANSWER_MAX_BYTES);
    for (const char *p = text, *end = text + len; p < end; p++) {
        p = memchr(p, '{', (size_t)(end - p));
        if (!p) break;
        json_t *o = json_loadb(p, (size_t)(end - p), JSON_DISABLE_EOF_CHECK, NULL);
        json_t *s = json_object_get(o, "scheme"), *r = json_object_get(o, "reason");
        bool ok = json_is_string(s) && json_string_length(s) > 0 && json_string_length(s) < sizeof a->scheme;
        if (ok) {
            snprintf(a->scheme, sizeof a->scheme, "%s", json_string_value(s));
            snprintf(a->reason, sizeof a->reason, "%s", json_is_string(r) ? json_string_value(r) : "");
        }
        json_decref(o);
        if (ok) return LQMF_OK;
    }
    return lqmf_error(LQMF_E_FORMAT, "the answer has no JSON object with a \"scheme\": \"%.80s%s\"", text,
                      len > 80 ? "..." : "");
}

void lqmf_advice_check(const lqmf_plan *p, lqmf_advice *a) {
    a->known = lqmf_plan_scheme_find(a->scheme);
    a->option = -1;
    a->agrees = false;
    a->total_bytes = 0;
    a->why[0] = 0;
    a->verdict = LQMF_ADVICE_REJECTED;
    if (!a->known) {
        snprintf(a->why, sizeof a->why, "\"%s\" is not a quantization scheme lqmf knows", a->scheme);
        return;
    }
    for (size_t i = 0; i < p->n_opts && a->option < 0; i++)
        if (p->opts[i].est.scheme == a->known) a->option = (int)i;
    if (a->option < 0) {
        snprintf(a->why, sizeof a->why, "%s is not among the plans this request allows (%s on the %s)",
                 a->known->name, lqmf_method_name(a->known->method), lqmf_device_name(p->rq.device));
        return;
    }
    const lqmf_plan_option *o = &p->opts[a->option];
    a->total_bytes = o->est.total_bytes;
    if (o->fit != LQMF_FIT_OK) {
        char clause[384];
        lqmf_plan_misfit_text(p, o, clause, sizeof clause);
        snprintf(a->why, sizeof a->why, "%s %s", a->known->name, clause);
        return;
    }
    a->verdict = LQMF_ADVICE_ACCEPTED;
    a->agrees = a->option == p->chosen;
}

void lqmf_advice_get(const lqmf_llm_client *c, const lqmf_model_meta *m, const lqmf_plan *p, lqmf_advice *out) {
    memset(out, 0, sizeof *out);
    out->option = -1;
    snprintf(out->provider, sizeof out->provider, "%s", c->provider->name);
    snprintf(out->model, sizeof out->model, "%s", c->model);
    lqmf_buf prompt;
    lqmf_buf_init(&prompt);
    char *text = NULL;
    long http;
    lqmf_status st = lqmf_advice_prompt(m, p, &prompt);
    if (st == LQMF_OK) st = lqmf_llm_complete(c, (const char *)prompt.data, ADVICE_MAX_TOKENS, &text, &http);
    if (st == LQMF_OK) st = lqmf_advice_parse(text, strlen(text), out);
    if (st == LQMF_OK)
        lqmf_advice_check(p, out);
    else
        snprintf(out->why, sizeof out->why, "%s: %s", lqmf_status_name(st), lqmf_last_error());
    free(text);
    lqmf_buf_free(&prompt);
}

void lqmf_advice_ask(const lqmf_config *cfg, const lqmf_model_meta *m, const lqmf_plan *p, lqmf_advice *out) {
    lqmf_llm_client c;
    if (lqmf_llm_client_init(cfg, NULL, &c) == LQMF_OK) {
        lqmf_advice_get(&c, m, p, out);
        explicit_bzero(c.key, sizeof c.key);
        return;
    }
    memset(out, 0, sizeof *out);
    out->option = -1;
    snprintf(out->provider, sizeof out->provider, "%s", lqmf_config_get(cfg, LQMF_CFG_LLM_PROVIDER));
    snprintf(out->model, sizeof out->model, "%s", c.provider ? c.model : "-");
    snprintf(out->why, sizeof out->why, "%s", lqmf_last_error());
    explicit_bzero(c.key, sizeof c.key);
    lqmf_clear_error();
}

void lqmf_advice_render(const lqmf_advice *a, lqmf_buf *out) {
    lqmf_buf_printf(out, "Advice from %s (%s): ", a->provider, a->model);
    switch (a->verdict) {
    case LQMF_ADVICE_NONE: lqmf_buf_printf(out, "none (%s); the plan above stands.\n", a->why); return;
    case LQMF_ADVICE_ACCEPTED:
        lqmf_buf_printf(out, "%s, accepted: fits per the estimate (%.2f GiB in total)%s.\n", a->known->name,
                        (double)a->total_bytes / GIB, a->agrees ? "; the planner chose it too" : "");
        break;
    case LQMF_ADVICE_REJECTED: lqmf_buf_printf(out, "%s, rejected: %s.\n", a->scheme, a->why); break;
    }
    if (a->reason[0]) lqmf_buf_printf(out, "  Its reason: %s\n", a->reason);
}
