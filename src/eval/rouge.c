/* Text metrics over words: ROUGE-L (longest common subsequence F1) and
 * distinct-n. Words as the common ROUGE scorer makes them: ASCII lower-case,
 * every byte outside [a-z0-9] separates. */
#include "eval_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    size_t len;
} word;

typedef struct {
    char *low; /* lower-cased copy the words point into */
    word *w;
    size_t n;
} words;

static bool word_byte(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

static bool split(const char *text, words *out) {
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    out->low = malloc(len + 1);
    out->w = malloc((len / 2 + 1) * sizeof *out->w); /* at most one word per two bytes, plus one */
    if (!out->low || !out->w) return false;
    for (size_t i = 0; i <= len; i++) {
        char c = text[i];
        out->low[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    for (size_t i = 0; i < len;) {
        while (i < len && !word_byte(out->low[i])) i++;
        size_t s = i;
        while (i < len && word_byte(out->low[i])) i++;
        if (i > s) out->w[out->n++] = (word){out->low + s, i - s};
    }
    return true;
}

static void words_free(words *w) {
    free(w->low);
    free(w->w);
}

static bool word_eq(word a, word b) { return a.len == b.len && memcmp(a.p, b.p, a.len) == 0; }

double lqmf_eval_rouge_l(const char *cand, const char *ref) {
    words c, r;
    bool ok = split(cand ? cand : "", &c) & split(ref ? ref : "", &r);
    double f = NAN;
    size_t *prev = ok ? calloc(r.n + 1, sizeof *prev) : NULL, *cur = ok ? calloc(r.n + 1, sizeof *cur) : NULL;
    if (ok && prev && cur) {
        if (c.n == 0 || r.n == 0) {
            f = c.n == r.n ? 1.0 : 0.0;
        } else {
            for (size_t i = 1; i <= c.n; i++) {
                for (size_t j = 1; j <= r.n; j++)
                    cur[j] = word_eq(c.w[i - 1], r.w[j - 1]) ? prev[j - 1] + 1
                             : prev[j] > cur[j - 1]          ? prev[j]
                                                             : cur[j - 1];
                size_t *t = prev;
                prev = cur;
                cur = t;
            }
            double lcs = (double)prev[r.n];
            double p = lcs / (double)c.n, rc = lcs / (double)r.n;
            f = lcs > 0 ? 2 * p * rc / (p + rc) : 0.0;
        }
    }
    free(prev);
    free(cur);
    words_free(&c);
    words_free(&r);
    return f;
}

typedef struct {
    const word *w; /* first word of the n-gram */
} gram;

static int cmp_gram(const void *a, const void *b, void *np) {
    size_t n = *(const size_t *)np;
    const word *x = ((const gram *)a)->w, *y = ((const gram *)b)->w;
    for (size_t i = 0; i < n; i++) {
        size_t m = x[i].len < y[i].len ? x[i].len : y[i].len;
        int c = memcmp(x[i].p, y[i].p, m);
        if (c) return c;
        if (x[i].len != y[i].len) return x[i].len < y[i].len ? -1 : 1;
    }
    return 0;
}

double lqmf_eval_distinct_n(const char *const *texts, size_t n_texts, uint32_t n) {
    if (n == 0) return NAN;
    words *ws = calloc(n_texts ? n_texts : 1, sizeof *ws);
    if (!ws) return NAN;
    size_t total = 0;
    bool ok = true;
    for (size_t t = 0; t < n_texts; t++) {
        ok &= split(texts[t] ? texts[t] : "", &ws[t]);
        if (ws[t].n >= n) total += ws[t].n - n + 1;
    }
    double r = NAN;
    gram *g = ok && total ? malloc(total * sizeof *g) : NULL;
    if (g) {
        size_t k = 0;
        for (size_t t = 0; t < n_texts; t++)
            for (size_t i = 0; i + n <= ws[t].n; i++) g[k++].w = &ws[t].w[i];
        size_t nn = n;
        qsort_r(g, total, sizeof *g, cmp_gram, &nn);
        size_t distinct = 1;
        for (size_t i = 1; i < total; i++) distinct += cmp_gram(&g[i - 1], &g[i], &nn) != 0;
        r = (double)distinct / (double)total;
    }
    free(g);
    for (size_t t = 0; t < n_texts; t++) words_free(&ws[t]);
    free(ws);
    return r;
}
