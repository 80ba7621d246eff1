/* The terminal report: box-drawn tables (ASCII on request), ANSI colours on
 * request, and a verdict line against the thresholds. Widths count display
 * columns (utf8proc), so accented and wide characters line up. */
#include "eval_priv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#define CELL_WIDE 72   /* display columns of a cell before it is cut: two-column tables */
#define CELL_NARROW 40 /* tables with model outputs side by side */

/* ---- tables -------------------------------------------------------------------------- */
typedef struct {
    size_t ncols, nrows, cap, max_width;
    char **cells; /* row-major, owned */
    bool failed;
} table;

typedef struct {
    unsigned flags;
    lqmf_buf *out;
} pen;

static bool color(const pen *p) { return p->flags & LQMF_EVAL_RENDER_COLOR; }
static bool ascii(const pen *p) { return p->flags & LQMF_EVAL_RENDER_ASCII; }
static const char *pm(const pen *p) { return ascii(p) ? "+-" : "\u00b1"; }

/* A cell's text on one line: newlines shown as a return arrow (or "\n"),
 * tabs as a space, other control bytes dropped, cut to max_width columns. */
static char *cell_text(const char *s, bool ascii_only, size_t max_width) {
    lqmf_buf b;
    lqmf_buf_init(&b);
    size_t cols = 0, n = strlen(s);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) { /* invalid byte: skip it */
            i++;
            continue;
        }
        const char *piece = s + i;
        size_t plen = (size_t)k, w;
        if (cp == '\n') {
            piece = ascii_only ? "\\n" : "\u21b5";
            plen = strlen(piece);
            w = ascii_only ? 2 : 1;
        } else if (cp == '\t') {
            piece = " ";
            plen = w = 1;
        } else if (cp < 0x20 || cp == 0x7f) {
            i += (size_t)k;
            continue;
        } else if (ascii_only && cp > 0x7e) {
            piece = "?";
            plen = w = 1;
        } else {
            int cw = utf8proc_charwidth(cp);
            w = cw > 0 ? (size_t)cw : 0;
        }
        if (cols + w > max_width - 1 && i + (size_t)k < n) {
            lqmf_buf_printf(&b, "%s", ascii_only ? "~" : "\u2026");
            break;
        }
        lqmf_buf_append(&b, piece, plen);
        cols += w;
        i += (size_t)k;
    }
    lqmf_buf_append(&b, "", 1);
    if (b.failed) {
        lqmf_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static size_t display_width(const char *s) {
    size_t w = 0, n = strlen(s);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            i++;
            continue;
        }
        int cw = utf8proc_charwidth(cp);
        w += cw > 0 ? (size_t)cw : 0;
        i += (size_t)k;
    }
    return w;
}

static void t_init(table *t, size_t ncols, size_t max_width) {
    *t = (table){.ncols = ncols, .max_width = max_width};
}

static void t_row(table *t, const pen *p, ...) {
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c) {
            t->failed = true;
            return;
        }
        t->cells = c;
        t->cap = cap;
    }
    va_list ap;
    va_start(ap, p);
    for (size_t j = 0; j < t->ncols; j++) {
        const char *s = va_arg(ap, const char *);
        char *c = cell_text(s ? s : "", ascii(p), t->max_width);
        if (!c) t->failed = true;
        t->cells[t->nrows * t->ncols + j] = c;
    }
    va_end(ap);
    t->nrows++;
}

static void t_free(table *t) {
    for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
}

/* Box characters: 0 horizontal, 1 vertical, then corners and joints
 * top (left, mid, right), middle, bottom. */
static const char *const g_box[] = {"\u2500", "\u2502", "\u250c", "\u252c", "\u2510", "\u251c",
                                    "\u253c", "\u2524", "\u2514", "\u2534", "\u2518"};
static const char *const g_ascii[] = {"-", "|", "+", "+", "+", "+", "+", "+", "+", "+", "+"};

static void t_rule(const pen *p, const size_t *w, size_t ncols, int kind) {
    const char *const *bx = ascii(p) ? g_ascii : g_box;
    lqmf_buf_printf(p->out, "%s", bx[2 + 3 * kind]);
    for (size_t j = 0; j < ncols; j++) {
        for (size_t k = 0; k < w[j] + 2; k++) lqmf_buf_printf(p->out, "%s", bx[0]);
        lqmf_buf_printf(p->out, "%s", bx[j + 1 < ncols ? 3 + 3 * kind : 4 + 3 * kind]);
    }
    lqmf_buf_printf(p->out, "\n");
}

/* Row 0 is the header (bold with colours). */
static void t_render(const table *t, const pen *p) {
    if (t->failed) p->out->failed = true;
    if (t->failed || t->nrows == 0) return;
    size_t w[8] = {0};
    for (size_t i = 0; i < t->nrows; i++)
        for (size_t j = 0; j < t->ncols && j < 8; j++) {
            size_t dw = display_width(t->cells[i * t->ncols + j]);
            if (dw > w[j]) w[j] = dw;
        }
    const char *bar = ascii(p) ? g_ascii[1] : g_box[1];
    t_rule(p, w, t->ncols, 0);
    for (size_t i = 0; i < t->nrows; i++) {
        lqmf_buf_printf(p->out, "%s", bar);
        for (size_t j = 0; j < t->ncols; j++) {
            const char *c = t->cells[i * t->ncols + j];
            bool bold = i == 0 && color(p);
            lqmf_buf_printf(p->out, " %s%s%s%*s %s", bold ? "\033[1m" : "", c, bold ? "\033[0m" : "",
                            (int)(w[j] - display_width(c)), "", bar);
        }
        lqmf_buf_printf(p->out, "\n");
        if (i == 0) t_rule(p, w, t->ncols, 1);
    }
    t_rule(p, w, t->ncols, 2);
}

/* ---- formatting ----------------------------------------------------------------------- */
static void title(const pen *p, const char *s) {
    lqmf_buf_printf(p->out, "\n%s%s%s\n", color(p) ? "\033[1;36m" : "", s, color(p) ? "\033[0m" : "");
}

static const char *fmt(char *buf, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static const char *fmt(char *buf, size_t cap, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, cap, f, ap);
    va_end(ap);
    return buf;
}
#define F(buf, ...) fmt(buf, sizeof buf, __VA_ARGS__)

static const char *bytes_str(uint64_t n, char *buf, size_t cap) { return lqmf_fmt_bytes(n, buf, cap); }

static const char *params_str(uint64_t n, char *buf, size_t cap) {
    if (n >= 1000000000ull)
        snprintf(buf, cap, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, cap, "%.2f M", (double)n / 1e6);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)n);
    return buf;
}

/* The Quantization row: a Hugging Face checkpoint by its library
 * ("4-bit BitsAndBytes (NF4)", "4-bit GPTQ"), anything else by its method. */
static const char *quant_row(const lqmf_eval_model_info *m, char *buf, size_t cap) {
    bool hf = !strcmp(m->format, "hf");
    if (hf && (!strcasecmp(m->method, "nf4") || !strcasecmp(m->method, "fp4")))
        snprintf(buf, cap, "4-bit BitsAndBytes (%s), %.2f bits/weight", !strcasecmp(m->method, "nf4") ? "NF4" : "FP4",
                 m->bits_per_weight);
    else if (hf && !strcasecmp(m->method, "int8"))
        snprintf(buf, cap, "8-bit BitsAndBytes (LLM.int8), %.2f bits/weight", m->bits_per_weight);
    else if (hf && !strcasecmp(m->method, "gptq"))
        snprintf(buf, cap, "%.0f-bit GPTQ, %.2f bits/weight", m->bits_per_weight, m->bits_per_weight);
    else snprintf(buf, cap, "%s, %.2f bits/weight", m->method, m->bits_per_weight);
    return buf;
}

static void model_table(const lqmf_eval_report *r, const pen *p) {
    const lqmf_eval_model_info *m = &r->model;
    char arch[160], q[96], size[96], b[32], pr[32], base[512], b2[32];
    table t;
    t_init(&t, 2, CELL_WIDE);
    t_row(&t, p, "Property", "Value");
    t_row(&t, p, "Path", m->path);
    t_row(&t, p, "Architecture",
          m->hf_arch[0] ? F(arch, "%s (%s)", m->architecture, m->hf_arch) : m->architecture);
    t_row(&t, p, "Format", m->format);
    t_row(&t, p, "Quantization", quant_row(m, q, sizeof q));
    t_row(&t, p, "Model size",
          F(size, "%s in %u file%s", bytes_str(m->file_bytes, b, sizeof b), m->n_files,
            m->n_files == 1 ? "" : "s"));
    t_row(&t, p, "Parameters", params_str(m->n_params, pr, sizeof pr));
    if (r->has_baseline)
        t_row(&t, p, "Baseline",
              F(base, "%s (%s, %.2f bits/weight, %s)", r->baseline.path, r->baseline.method,
                r->baseline.bits_per_weight, bytes_str(r->baseline.file_bytes, b2, sizeof b2)));
    else
        t_row(&t, p, "Baseline", "none");
    t_render(&t, p);
    t_free(&t);
}

static void quality_table(const lqmf_eval_report *r, const pen *p) {
    const lqmf_eval_quality *q = &r->quality;
    char pbase[64], pmod[64], ch[32], kl[64], tail[64], top[32], nll_b[64], nll_m[64];
    title(p, q->has_baseline ? "Quality against the baseline" : "Quality");
    table t;
    t_init(&t, 4, CELL_WIDE);
    t_row(&t, p, "Metric", "Baseline", "Model", "Change");
    F(pmod, "%.4f %s %.4f", q->model.ppl, pm(p), q->model.ppl_stderr);
    F(nll_m, "%.5f", q->model.mean_nll);
    if (q->has_baseline) {
        F(pbase, "%.4f %s %.4f", q->baseline.ppl, pm(p), q->baseline.ppl_stderr);
        F(nll_b, "%.5f", q->baseline.mean_nll);
        F(ch, "%+.3f%%", 100.0 * q->dppl_frac);
        t_row(&t, p, "Perplexity", pbase, pmod, ch);
        t_row(&t, p, "Mean NLL (nats/token)", nll_b, nll_m,
              F(tail, "%+.5f", q->model.mean_nll - q->baseline.mean_nll));
        t_row(&t, p, "Mean KL divergence (nats)", "", F(kl, "%.6f %s %.6f", q->kl_mean, pm(p), q->kl_stderr),
              "");
        t_row(&t, p, "KL 99th percentile / max", "", F(tail, "%.5f / %.5f", q->kl_p99, q->kl_max), "");
        t_row(&t, p, "Top-1 agreement", "", F(top, "%.2f%%", 100.0 * q->top1), "");
    } else {
        t_row(&t, p, "Perplexity", "-", pmod, "");
        t_row(&t, p, "Mean NLL (nats/token)", "-", nll_m, "");
    }
    t_render(&t, p);
    t_free(&t);
    lqmf_buf_printf(p->out, "Protocol: %s.\nText sha256 %s. Baseline logits cache: %s.\n", q->description,
                    q->text_sha256, q->cache);
}

static void generation_table(const lqmf_eval_report *r, const pen *p) {
    const lqmf_eval_generation *g = &r->gen;
    char h[96], rl[32];
    title(p, F(h, "Generation (greedy, up to %u new tokens)", g->max_new));
    table t;
    bool base = r->has_baseline;
    t_init(&t, base ? 4 : 2, CELL_NARROW);
    if (base)
        t_row(&t, p, "Category", "Baseline", "Model", "ROUGE-L");
    else
        t_row(&t, p, "Category", "Model", NULL, NULL);
    for (size_t i = 0; i < g->n_samples; i++) {
        const lqmf_eval_sample *s = &g->samples[i];
        if (base)
            t_row(&t, p, s->category, s->base_out, s->model_out, F(rl, "%.3f", s->rouge_l));
        else
            t_row(&t, p, s->category, s->model_out, NULL, NULL);
    }
    t_render(&t, p);
    t_free(&t);
    table d;
    char m1[32], m2[32], m4[32], b1[32], b2[32], b4[32], rm[32];
    const lqmf_eval_diversity *dm = &g->model, *db = &g->baseline;
    t_init(&d, base ? 3 : 2, CELL_WIDE);
    if (base) {
        t_row(&d, p, "Over all outputs (words)", "Baseline", "Model");
        t_row(&d, p, "Mean ROUGE-L vs baseline", "", F(rm, "%.3f", g->rouge_l_mean));
        t_row(&d, p, "distinct-1", F(b1, "%.3f", db->distinct1), F(m1, "%.3f", dm->distinct1));
        t_row(&d, p, "distinct-2", F(b2, "%.3f", db->distinct2), F(m2, "%.3f", dm->distinct2));
        t_row(&d, p, "rep-4 (repeated 4-grams)", F(b4, "%.3f", db->rep4), F(m4, "%.3f", dm->rep4));
    } else {
        t_row(&d, p, "Over all outputs (words)", "Model", NULL);
        t_row(&d, p, "distinct-1", F(m1, "%.3f", dm->distinct1), NULL);
        t_row(&d, p, "distinct-2", F(m2, "%.3f", dm->distinct2), NULL);
        t_row(&d, p, "rep-4 (repeated 4-grams)", F(m4, "%.3f", dm->rep4), NULL);
    }
    t_render(&d, p);
    t_free(&d);
    if (g->skipped[0]) lqmf_buf_printf(p->out, "Skipped: %s.\n", g->skipped);
}

static void speed_table(const lqmf_eval_report *r, const pen *p) {
    const lqmf_eval_speed *s = &r->speed;
    char h[96], pp[96], tg[96], tt[64], wb[64], b[32], rss[32], cpu[64];
    title(p, F(h, "Performance Metrics (%u thread%s, %s kernels)", s->n_threads, s->n_threads == 1 ? "" : "s",
               s->isa));
    table t;
    t_init(&t, 2, CELL_WIDE);
    t_row(&t, p, "Test", "Value");
    t_row(&t, p, s->pp.name,
          F(pp, "%.1f %s %.1f tokens/s (%u reps)", s->pp.tps_mean, pm(p), s->pp.tps_stddev, s->pp.reps));
    t_row(&t, p, s->tg.name,
          F(tg, "%.1f %s %.1f tokens/s (%u reps)", s->tg.tps_mean, pm(p), s->tg.tps_stddev, s->tg.reps));
    if (r->has_generation && isfinite(r->gen.ttft_mean_s))
        t_row(&t, p, "Time to first token",
              F(tt, "%.2f ms (mean over %zu prompts)", 1e3 * r->gen.ttft_mean_s, r->gen.n_samples));
    t_row(&t, p, "Weights read per token",
          F(wb, "%s (%.2f GB/s at tg)", bytes_str(s->weight_bytes, b, sizeof b), s->tg_bytes_per_s / 1e9));
    t_row(&t, p, "Peak memory (model alone)",
          s->peak_rss_bytes ? bytes_str(s->peak_rss_bytes, rss, sizeof rss) : "unknown");
    t_row(&t, p, "CPU usage", F(cpu, "%.0f%% of one core (%u online)", 100.0 * s->cpu_util, r->n_cpus));
    t_render(&t, p);
    t_free(&t);
}

static void results_table(const lqmf_eval_report *r, const pen *p) {
    char d[32], rss[32];
    title(p, "Test Results");
    table t;
    t_init(&t, 2, CELL_WIDE);
    t_row(&t, p, "Property", "Value");
    t_row(&t, p, "Mode", lqmf_eval_mode_name(r->mode));
    t_row(&t, p, "Test duration", F(d, "%.2f s", r->wall_s));
    t_row(&t, p, "Peak memory (whole run)",
          r->peak_rss_bytes ? bytes_str(r->peak_rss_bytes, rss, sizeof rss) : "unknown");
    t_render(&t, p);
    t_free(&t);
}

static void check_text(const lqmf_eval_check *c, char *buf, size_t cap) {
    if (!strcmp(c->name, "kl"))
        snprintf(buf, cap, "KL %.5f %s %.5f", c->value, c->pass ? "<=" : ">", c->limit);
    else if (!strcmp(c->name, "top1"))
        snprintf(buf, cap, "top-1 %.2f%% %s %.2f%%", 100 * c->value, c->pass ? ">=" : "<", 100 * c->limit);
    else
        snprintf(buf, cap, "delta-PPL %+.2f%% %s %+.2f%%", 100 * c->value, c->pass ? "<=" : ">",
                 100 * c->limit);
}

static void verdict_line(const lqmf_eval_report *r, const pen *p) {
    const char *col = r->verdict == LQMF_EVAL_PASS   ? "\033[1;32m"
                      : r->verdict == LQMF_EVAL_FAIL ? "\033[1;31m"
                                                     : "\033[1;33m";
    const char *word = r->verdict == LQMF_EVAL_PASS   ? "PASS"
                       : r->verdict == LQMF_EVAL_FAIL ? "FAIL"
                                                      : "NOT MEASURED";
    lqmf_buf_printf(p->out, "\nVerdict: %s%s%s", color(p) ? col : "", word, color(p) ? "\033[0m" : "");
    if (r->verdict == LQMF_EVAL_UNMEASURED) {
        lqmf_buf_printf(p->out, " (no baseline to compare against)\n");
        return;
    }
    for (size_t i = 0; i < r->n_checks; i++) {
        char c[128];
        check_text(&r->checks[i], c, sizeof c);
        lqmf_buf_printf(p->out, "%s%s", i ? ", " : " - ", c);
    }
    lqmf_buf_printf(p->out, "\n");
}

lqmf_status lqmf_eval_report_render(const lqmf_eval_report *r, unsigned flags, lqmf_buf *out) {
    pen p = {flags, out};
    lqmf_buf_printf(out, "%sTesting model: %s%s (%s test)\n", color(&p) ? "\033[1m" : "", r->model.name,
                    color(&p) ? "\033[0m" : "", lqmf_eval_mode_name(r->mode));
    title(&p, "Model Information");
    model_table(r, &p);
    if (r->has_quality) quality_table(r, &p);
    if (r->has_generation) generation_table(r, &p);
    if (r->has_speed) speed_table(r, &p);
    results_table(r, &p);
    verdict_line(r, &p);
    if (r->warnings && r->warnings[0]) {
        lqmf_buf_printf(out, "\nNotes:\n");
        for (const char *s = r->warnings; *s;) {
            const char *e = strchr(s, '\n');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            lqmf_buf_printf(out, "  - %.*s\n", (int)n, s);
            s += n + (e ? 1 : 0);
        }
    }
    return out->failed ? lqmf_error(LQMF_E_NOMEM, "report: out of memory") : LQMF_OK;
}

lqmf_status lqmf_eval_found_list_render(const lqmf_eval_found_list *l, unsigned flags, lqmf_buf *out) {
    pen p = {flags, out};
    table t;
    t_init(&t, 6, CELL_WIDE);
    t_row(&t, &p, "Name", "Method", "Bits", "Size", "Architecture", "Files");
    for (size_t i = 0; i < l->n; i++) {
        const lqmf_eval_found *f = &l->items[i];
        char bits[32], size[32], files[16];
        if (f->error) {
            t_row(&t, &p, f->name, "unreadable", "", "", f->error, "");
            continue;
        }
        t_row(&t, &p, f->name, f->method, f->bits > 0 ? F(bits, "%.2f", f->bits) : "?",
              bytes_str(f->size_bytes, size, sizeof size), f->architecture, F(files, "%u", f->n_files));
    }
    t_render(&t, &p);
    bool failed = t.failed;
    t_free(&t);
    return failed || out->failed ? lqmf_error(LQMF_E_NOMEM, "list: out of memory") : LQMF_OK;
}
