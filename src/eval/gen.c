/* The generation suite: a fixed prompt set in five categories, greedy
 * continuations of the model and of its baseline side by side, ROUGE-L of
 * the model's text against the baseline's, distinct-n and repetition, and
 * the time to the first token. */
#include "eval_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Ranked within each category: per_category takes the first ones. */
static const lqmf_eval_prompt g_prompts[] = {
    {"story", "Once upon a time, there was a little"},
    {"story", "The old lighthouse keeper looked out at the sea and"},
    {"story", "In a small village at the edge of the forest,"},
    {"facts", "The capital of France is"},
    {"facts", "Water is made of hydrogen and"},
    {"facts", "The sun rises in the east and sets in the"},
    {"code", "def fibonacci(n):\n    "},
    {"code", "#include <stdio.h>\n\nint main(void) {\n    "},
    {"code", "for (int i = 0; i < n; i++) {\n"},
    {"instruction", "Write one sentence about the moon.\n"},
    {"instruction", "List three kinds of fruit:\n1."},
    {"instruction", "Explain in one sentence what a river is.\n"},
    {"chat", "Hello! How are you today?"},
    {"chat", "What is the largest animal on Earth?"},
    {"chat", "Tell me a short story about a cat."},
};

size_t lqmf_eval_prompt_set(uint32_t per_category, lqmf_eval_prompt *out) {
    size_t n = 0;
    uint32_t in_cat = 0;
    for (size_t i = 0; i < sizeof g_prompts / sizeof g_prompts[0]; i++) {
        if (i == 0 || strcmp(g_prompts[i].category, g_prompts[i - 1].category) != 0) in_cat = 0;
        if (in_cat++ < per_category && n < LQMF_EVAL_MAX_PROMPTS) out[n++] = g_prompts[i];
    }
    return n;
}

typedef struct {
    int32_t *ids;
    uint32_t n, cap;
    double t0, ttft;
} collect;

static bool on_token(void *user, int32_t token) {
    collect *c = user;
    if (c->n == 0) c->ttft = lqmf_time_now() - c->t0;
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? 2 * c->cap : 64;
        int32_t *ids = realloc(c->ids, cap * sizeof *ids);
        if (!ids) return false;
        c->ids = ids;
        c->cap = cap;
    }
    c->ids[c->n++] = token;
    return true;
}

/* Prompt ids: plain prompts with the tokenizer's BOS; chat prompts through
 * the chat template (BOS added only when the template does not write it). */
static lqmf_status encode_prompt(const lqmf_tokenizer *t, const lqmf_eval_prompt *p, lqmf_tok_ids *ids) {
    if (strcmp(p->category, "chat") != 0)
        return lqmf_tok_encode(t, p->text, strlen(p->text), LQMF_TOK_ADD_SPECIAL, ids);
    lqmf_chat_msg msg = {"user", p->text};
    char *text;
    TRY(lqmf_tok_chat_apply(t, NULL, &msg, 1, true, &text));
    size_t bos_len = 0;
    const char *bos = lqmf_tok_bos(t) >= 0 ? lqmf_tok_text(t, lqmf_tok_bos(t), &bos_len) : NULL;
    bool has_bos = bos && bos_len && strncmp(text, bos, bos_len) == 0;
    lqmf_status st = lqmf_tok_encode(
        t, text, strlen(text), LQMF_TOK_PARSE_SPECIAL | (has_bos ? 0u : (unsigned)LQMF_TOK_ADD_SPECIAL), ids);
    free(text);
    return st;
}

lqmf_status lqmf_eval_generate(lqmf_eval_lm *lm, const lqmf_eval_prompt *p, uint32_t max_new, char **out,
                               uint32_t *n_new, double *ttft_s) {
    lqmf_tok_ids ids = {0};
    collect c = {0};
    lqmf_sampler *s = NULL;
    lqmf_buf text;
    lqmf_buf_init(&text);
    lqmf_status st = encode_prompt(lm->tok, p, &ids);
    if (st == LQMF_OK && (ids.n == 0 || ids.n >= lm->n_ctx))
        st = lqmf_error(LQMF_E_INVALID, "prompt \"%s\": %zu tokens for a context of %u", p->text, ids.n,
                        lm->n_ctx);
    lqmf_sampler_params sp;
    lqmf_sampler_params_default(&sp);
    sp.temperature = 0;
    sp.repeat_penalty = 1;
    if (st == LQMF_OK) st = lqmf_sampler_new(&sp, lm->model->hp.n_vocab, &s);
    if (st == LQMF_OK) {
        lqmf_engine_reset(lm->engine);
        lqmf_gen_stats gs;
        c.t0 = lqmf_time_now();
        c.ttft = NAN;
        st = lqmf_engine_generate(lm->engine, s, ids.ids, (uint32_t)ids.n, max_new, on_token, &c, &gs);
        if (isnan(c.ttft)) c.ttft = lqmf_time_now() - c.t0; /* EOS came first */
    }
    if (st == LQMF_OK) st = lqmf_tok_decode(lm->tok, c.ids, c.n, LQMF_TOK_SKIP_SPECIAL, &text);
    if (st == LQMF_OK && !(*out = lqmf_eval_strdup(text.data ? (const char *)text.data : "")))
        st = lqmf_error(LQMF_E_NOMEM, "generation: out of memory");
    if (st == LQMF_OK) {
        *n_new = c.n;
        *ttft_s = c.ttft;
    }
    lqmf_buf_free(&text);
    lqmf_sampler_free(s);
    lqmf_tok_ids_free(&ids);
    free(c.ids);
    return st;
}

static void diversity(const lqmf_eval_generation *g, bool base, lqmf_eval_diversity *d) {
    const char **texts = malloc((g->n_samples ? g->n_samples : 1) * sizeof *texts);
    d->distinct1 = d->distinct2 = d->rep4 = NAN;
    if (!texts) return;
    size_t n = 0;
    for (size_t i = 0; i < g->n_samples; i++) {
        const char *t = base ? g->samples[i].base_out : g->samples[i].model_out;
        if (t) texts[n++] = t;
    }
    if (n) {
        d->distinct1 = lqmf_eval_distinct_n(texts, n, 1);
        d->distinct2 = lqmf_eval_distinct_n(texts, n, 2);
        d->rep4 = 1.0 - lqmf_eval_distinct_n(texts, n, 4);
    }
    free(texts);
}

lqmf_status lqmf_eval_generation_run(lqmf_eval_lm *model, lqmf_eval_lm *base, uint32_t per_category,
                                     uint32_t max_new, lqmf_eval_progress_fn progress, void *progress_user,
                                     lqmf_eval_generation *g) {
    lqmf_eval_prompt set[LQMF_EVAL_MAX_PROMPTS];
    size_t n = lqmf_eval_prompt_set(per_category, set);
    bool chat = lqmf_tok_chat_template(model->tok) && (!base || lqmf_tok_chat_template(base->tok));
    memset(g, 0, sizeof *g);
    g->max_new = max_new;
    g->skipped = lqmf_eval_strdup(chat ? "" : "chat: the tokenizer has no chat template");
    g->samples = calloc(n, sizeof *g->samples);
    if (!g->skipped || !g->samples) return lqmf_error(LQMF_E_NOMEM, "generation: out of memory");
    double rouge = 0, ttft = 0;
    for (size_t i = 0; i < n; i++) {
        if (!chat && !strcmp(set[i].category, "chat")) continue;
        lqmf_eval_sample *s = &g->samples[g->n_samples++];
        s->rouge_l = NAN;
        if (!(s->category = lqmf_eval_strdup(set[i].category)) ||
            !(s->prompt = lqmf_eval_strdup(set[i].text)))
            return lqmf_error(LQMF_E_NOMEM, "generation: out of memory");
        TRY(lqmf_eval_generate(model, &set[i], max_new, &s->model_out, &s->model_tokens, &s->ttft_s));
        if (base) {
            double unused;
            TRY(lqmf_eval_generate(base, &set[i], max_new, &s->base_out, &s->base_tokens, &unused));
            s->rouge_l = lqmf_eval_rouge_l(s->model_out, s->base_out);
            rouge += s->rouge_l;
        }
        ttft += s->ttft_s;
        if (progress) progress(progress_user, "generation", (uint32_t)(i + 1), (uint32_t)n);
    }
    g->rouge_l_mean = base && g->n_samples ? rouge / (double)g->n_samples : NAN;
    g->ttft_mean_s = g->n_samples ? ttft / (double)g->n_samples : NAN;
    diversity(g, false, &g->model);
    diversity(g, true, &g->baseline);
    return LQMF_OK;
}

void lqmf_eval_generation_free(lqmf_eval_generation *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_samples; i++) {
        lqmf_eval_sample *s = &g->samples[i];
        free(s->category);
        free(s->prompt);
        free(s->model_out);
        free(s->base_out);
    }
    free(g->samples);
    free(g->skipped);
    memset(g, 0, sizeof *g);
}
