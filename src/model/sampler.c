/* Token sampling: repetition penalty, greedy or temperature with top-k,
 * min-p and top-p filters, drawn with a seeded xorshift64* generator. */
#include "lqmf/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float logit;
    int32_t id;
} cand;

struct lqmf_sampler {
    lqmf_sampler_params p;
    uint32_t n_vocab;
    cand *c;       /* n_vocab candidates */
    uint8_t *seen; /* n_vocab flags: penalised already this step */
    int32_t *hist; /* ring of the last repeat_last_n accepted tokens */
    uint32_t n_hist, hist_pos;
    uint64_t rng;
};

void lqmf_sampler_params_default(lqmf_sampler_params *p) {
    *p = (lqmf_sampler_params){.temperature = 0.8f,
                               .top_k = 40,
                               .top_p = 0.95f,
                               .min_p = 0.05f,
                               .repeat_penalty = 1.0f,
                               .repeat_last_n = 64,
                               .seed = 0};
}

lqmf_status lqmf_sampler_new(const lqmf_sampler_params *p, uint32_t n_vocab, lqmf_sampler **out) {
    *out = NULL;
    if (!n_vocab) return lqmf_error(LQMF_E_INVALID, "sampler: empty vocabulary");
    if (!(p->repeat_penalty > 0))
        return lqmf_error(LQMF_E_INVALID, "sampler: repeat_penalty %g must be positive", p->repeat_penalty);
    lqmf_sampler *s = calloc(1, sizeof *s);
    if (!s) return lqmf_error(LQMF_E_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = malloc(n_vocab * sizeof *s->c);
    s->seen = calloc(n_vocab, 1);
    s->hist = malloc((p->repeat_last_n ? p->repeat_last_n : 1) * sizeof *s->hist);
    if (!s->c || !s->seen || !s->hist) {
        lqmf_sampler_free(s);
        return lqmf_error(LQMF_E_NOMEM, "sampler: out of memory for %u candidates", n_vocab);
    }
    lqmf_sampler_reset(s);
    *out = s;
    return LQMF_OK;
}

void lqmf_sampler_free(lqmf_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->seen);
    free(s->hist);
    free(s);
}

void lqmf_sampler_reset(lqmf_sampler *s) {
    s->n_hist = s->hist_pos = 0;
    s->rng = s->p.seed * 0x9E3779B97F4A7C15ULL + 0xD1B54A32D192ED03ULL;
    if (!s->rng) s->rng = 1;
}

void lqmf_sampler_accept(lqmf_sampler *s, int32_t token) {
    if (!s->p.repeat_last_n) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

static float uniform01(uint64_t *r) { /* [0, 1) */
    *r ^= *r >> 12;
    *r ^= *r << 25;
    *r ^= *r >> 27;
    return (float)((*r * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f;
}

/* Descending logit, then ascending id: a total order, so results are stable. */
static bool before(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}
static int cmp_cand(const void *a, const void *b) { return before(a, b) ? -1 : before(b, a) ? 1 : 0; }

/* Move the k first candidates (in `before` order) to c[0..k-1], unordered. */
static void select_top(cand *c, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        const cand pivot = c[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (before(&c[i], &pivot)) i++;
            while (before(&pivot, &c[j])) j--;
            if (i <= j) {
                cand t = c[i];
                c[i] = c[j];
                c[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
}

int32_t lqmf_sampler_sample(lqmf_sampler *s, const float *logits) {
    const lqmf_sampler_params *p = &s->p;
    cand *c = s->c;
    size_t n = s->n_vocab;
    for (size_t i = 0; i < n; i++) c[i] = (cand){logits[i], (int32_t)i};
    if (p->repeat_penalty != 1.0f) {
        for (uint32_t i = 0; i < s->n_hist; i++) {
            const int32_t t = s->hist[i];
            if (t < 0 || (uint32_t)t >= n || s->seen[t]) continue;
            s->seen[t] = 1;
            c[t].logit = c[t].logit > 0 ? c[t].logit / p->repeat_penalty : c[t].logit * p->repeat_penalty;
        }
        for (uint32_t i = 0; i < s->n_hist; i++)
            if (s->hist[i] >= 0 && (uint32_t)s->hist[i] < n) s->seen[s->hist[i]] = 0;
    }
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (before(&c[i], &c[best])) best = i;
    if (p->temperature <= 0) return c[best].id;

    const float mx = c[best].logit;
    for (size_t i = 0; i < n; i++) c[i].logit = (c[i].logit - mx) / p->temperature; /* max is 0 */
    if (p->top_k && p->top_k < n) {
        select_top(c, n, p->top_k);
        n = p->top_k;
    }
    if (p->min_p > 0) { /* p_i >= min_p * p_max  <=>  logit_i >= log(min_p) */
        const float cut = logf(p->min_p < 1 ? p->min_p : 1);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].logit >= cut) c[kept++] = c[i];
        n = kept; /* the best token (logit 0) always stays */
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += exp(c[i].logit);
    if (p->top_p < 1) {
        qsort(c, n, sizeof *c, cmp_cand);
        double cum = 0;
        size_t kept = 0;
        do cum += exp(c[kept++].logit); /* the best token always stays */
        while (kept < n && cum < p->top_p * sum);
        n = kept;
        sum = cum;
    }
    const double r = uniform01(&s->rng) * sum;
    double cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += exp(c[i].logit);
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}
