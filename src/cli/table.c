/* Box-drawn tables (see table.h). */
#include "table.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void lqmf_table_init(lqmf_table *t, size_t ncols) { *t = (lqmf_table){.ncols = ncols}; }

void lqmf_table_add(lqmf_table *t, const char *const *cols) {
    if (t->failed) return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        char **g = realloc(t->cells, cap * t->ncols * sizeof *g);
        if (!g) {
            t->failed = true;
            return;
        }
        t->cells = g;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        char *s = strdup(cols[c] ? cols[c] : "");
        if (!s) t->failed = true;
        t->cells[t->nrows * t->ncols + c] = s;
    }
    t->nrows++;
}

/* Display columns of UTF-8 text (invalid bytes count 1). */
static size_t width(const char *s) {
    size_t w = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        if (n <= 0) {
            w++, p++;
            continue;
        }
        int cw = utf8proc_charwidth(cp);
        w += cw > 0 ? (size_t)cw : 0;
        p += n;
    }
    return w;
}

static void rule(FILE *out, const size_t *w, size_t ncols, const char *l, const char *m, const char *r) {
    fputs(l, out);
    for (size_t c = 0; c < ncols; c++) {
        for (size_t i = 0; i < w[c] + 2; i++) fputs("─", out);
        fputs(c + 1 < ncols ? m : r, out);
    }
    fputc('\n', out);
}

void lqmf_table_print(const lqmf_table *t, FILE *out) {
    if (t->failed || !t->nrows) return;
    size_t *w = calloc(t->ncols, sizeof *w);
    if (!w) return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t cw = width(t->cells[r * t->ncols + c]);
            if (cw > w[c]) w[c] = cw;
        }
    rule(out, w, t->ncols, "┌", "┬", "┐");
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            fprintf(out, "│ %s%*s ", s, (int)(w[c] - width(s)), "");
        }
        fputs("│\n", out);
        if (r == 0) rule(out, w, t->ncols, "├", "┼", "┤");
    }
    rule(out, w, t->ncols, "└", "┴", "┘");
    free(w);
}

void lqmf_table_free(lqmf_table *t) {
    if (!t || !t->cells) return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}
