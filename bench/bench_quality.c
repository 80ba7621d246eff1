/* Quantization quality per type, and against llama.cpp's quantizer.
 *
 * Models: each model of LQMF_DATA/models named on the command line (default
 * tiny-llama and tiny-gpt2) is converted to an F32 GGUF (the reference),
 * which is quantized to every type (lqmf_quantize_model). Per type:
 *   bytes, bpw    file size; tensor bytes * 8 / elements of all tensors
 *   rel.RMSE      over every matrix (n_dims >= 2) of the F32 file: per
 *                 matrix t, r_t = RMSE(W_t - dequant(Q_t)) / RMS(W_t); the
 *                 figure is sqrt(sum_t n_t r_t^2 / sum_t n_t), n_t its
 *                 elements (a matrix kept in F32 counts with r_t = 0);
 *                 with the worst matrix by r_t
 *   KL, top-1     mean KL(F32 || quantized) of the next-token distributions
 *                 and top-1 agreement, lqmf_eval_run on the first --tokens
 *                 tokens of the model's heldout.txt (protocol printed)
 * With LLAMA_CPP_DIR (a llama.cpp build folder holding llama-quantize, or
 * bin/llama-quantize), llama-quantize quantizes the same F32 GGUF to the same
 * type; its file is read by our GGUF reader and scored by the same code and
 * engine, and the ratio ours/theirs is printed (below 1: ours is better).
 *
 * Generated matrices: Gaussian, Laplace and outlier-heavy ROWS x COLS
 * matrices, quantized row by row to each type's base tensor type (Q4_K for
 * Q4_K_M, ...) by lqmf_quant_tensor; relative RMSE as above. With
 * LLAMA_CPP_DIR the three matrices are also written as a one-tensor-per-layer
 * fake llama GGUF and quantized by `llama-quantize --pure`.
 *
 * Usage: bench_quality [--tokens N] [--ctx N] [--rows N] [--cols N]
 *                      [--threads N] [--types T,T,..] [--no-generated]
 *                      [--no-models] [--no-estimate] [MODEL...]
 * lqmf quantizes with its importance matrix estimated from the weights (no
 * imatrix file; --no-estimate: plain weights); llama-quantize without one.
 * Temporary files go to a folder under $TMPDIR (default /tmp), removed at
 * the end. */
#include "lqmf/eval.h"
#include "lqmf/gguf.h"
#include "lqmf/model.h"
#include "lqmf/quant.h"
#include "lqmf/quantize.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    const char *name; /* lqmf quantize type and llama-quantize ftype name */
    lqmf_type base;   /* tensor type of the bulk of the weights */
} qtype;

static const qtype k_types[] = {
    {"Q8_0", LQMF_TYPE_Q8_0},     {"Q6_K", LQMF_TYPE_Q6_K},     {"Q5_K_M", LQMF_TYPE_Q5_K},
    {"Q5_0", LQMF_TYPE_Q5_0},     {"Q4_K_M", LQMF_TYPE_Q4_K},   {"Q4_0", LQMF_TYPE_Q4_0},
    {"Q4_1", LQMF_TYPE_Q4_1},     {"IQ4_NL", LQMF_TYPE_IQ4_NL}, {"IQ4_XS", LQMF_TYPE_IQ4_XS},
    {"Q3_K_M", LQMF_TYPE_Q3_K},   {"Q2_K", LQMF_TYPE_Q2_K},
};
enum { N_TYPES = sizeof k_types / sizeof k_types[0] };

typedef struct {
    uint32_t tokens, ctx, rows, cols, threads;
    const char *types; /* comma list or NULL: all */
    bool generated, models;
    bool no_estimate; /* lqmf without its estimated importance matrix */
    char *llama_quantize; /* path or NULL */
    char tmp[256];
} config;

typedef struct {
    bool ok;
    uint64_t bytes;
    double bpw;
    double rmse; /* element-weighted relative RMSE (fraction) */
    char worst[LQMF_TENSOR_NAME_MAX];
    double worst_rmse;
    double kl, top1; /* NAN when not measured */
} score;

/* ---- small helpers ------------------------------------------------------------ */

static bool type_selected(const config *c, const char *name) {
    if (!c->types) return true;
    size_t n = strlen(name);
    for (const char *p = c->types; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncasecmp(p, name, n) == 0) return true;
        p += len + (e ? 1 : 0);
    }
    return false;
}

static double ratio(double ours, double theirs) {
    return (theirs > 0 && isfinite(ours)) ? ours / theirs : NAN;
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Run llama-quantize [--pure] in out type threads, its output into out.log. */
static bool llama_quantize(const config *c, bool pure, const char *in, const char *out, const char *type) {
    char log[512], threads[16];
    snprintf(log, sizeof log, "%s.log", out);
    snprintf(threads, sizeof threads, "%u", c->threads);
    char *argv[8];
    int a = 0;
    argv[a++] = c->llama_quantize;
    if (pure) argv[a++] = (char *)"--pure";
    argv[a++] = (char *)in;
    argv[a++] = (char *)out;
    argv[a++] = (char *)type;
    argv[a++] = threads;
    argv[a] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, c->llama_quantize, &fa, NULL, argv, environ), status = 0;
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "bench_quality: cannot start %s: %s\n", c->llama_quantize, strerror(rc));
        return false;
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_quality: llama-quantize %s failed (see %s)\n", type, log);
        return false;
    }
    return true;
}

/* ---- tensor error --------------------------------------------------------------- */

/* Relative RMSE of q against the F32 reference x[n]; buf holds n floats. */
static bool rel_rmse(const float *x, const lqmf_gguf_tensor *q, uint64_t n, float *buf, double *out) {
    if (lqmf_quant_dequantize(q->type, q->data, buf, (int64_t)n) != LQMF_OK) return false;
    double e2 = 0, r2 = 0;
    for (uint64_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)buf[i];
        e2 += d * d, r2 += (double)x[i] * x[i];
    }
    *out = r2 > 0 ? sqrt(e2 / r2) : 0;
    return true;
}

static uint64_t n_elements(const lqmf_gguf_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* Size, bpw and the tensor error of the GGUF at path against ref. */
static bool score_tensors(const lqmf_gguf *ref, const char *path, score *s) {
    lqmf_gguf *g = NULL;
    if (lqmf_gguf_open(path, &g) != LQMF_OK) {
        fprintf(stderr, "bench_quality: %s\n", lqmf_last_error());
        return false;
    }
    s->bytes = file_size(path);
    uint64_t bytes = 0, elems = 0;
    for (uint64_t i = 0; i < lqmf_gguf_n_tensors(g); i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        bytes += t->nbytes, elems += n_elements(t);
    }
    s->bpw = elems ? 8.0 * (double)bytes / (double)elems : 0;
    double sum_r2 = 0, sum_n = 0;
    bool ok = true;
    s->worst_rmse = -1;
    for (uint64_t i = 0; ok && i < lqmf_gguf_n_tensors(ref); i++) {
        const lqmf_gguf_tensor *rt = lqmf_gguf_tensor_at(ref, i);
        if (rt->n_dims < 2 || rt->type != LQMF_TYPE_F32) continue;
        const lqmf_gguf_tensor *qt = lqmf_gguf_find_tensor(g, rt->name);
        uint64_t n = n_elements(rt);
        if (!qt || n_elements(qt) != n) {
            fprintf(stderr, "bench_quality: %s: tensor %s missing or reshaped\n", path, rt->name);
            ok = false;
            break;
        }
        float *buf = malloc(sizeof(float) * n);
        double r = 0;
        ok = buf && rel_rmse(rt->data, qt, n, buf, &r);
        free(buf);
        if (!ok) fprintf(stderr, "bench_quality: %s: %s: %s\n", path, rt->name, lqmf_last_error());
        sum_r2 += (double)n * r * r, sum_n += (double)n;
        if (r > s->worst_rmse) {
            s->worst_rmse = r;
            snprintf(s->worst, sizeof s->worst, "%s", rt->name);
        }
    }
    lqmf_gguf_close(g);
    s->rmse = sum_n > 0 ? sqrt(sum_r2 / sum_n) : 0;
    return ok;
}

/* ---- KL divergence through the eval module ------------------------------------- */

static lqmf_eval_opts kl_opts(const config *c, const char *model, const char *base, const char *text) {
    static char cache[300];
    snprintf(cache, sizeof cache, "%s/logits", c->tmp);
    lqmf_eval_opts o;
    lqmf_eval_opts_init(&o, LQMF_EVAL_QUICK);
    o.model_path = model;
    o.baseline_path = base;
    o.text_path = text;
    o.protocol = (lqmf_eval_protocol){c->ctx, c->tokens, LQMF_EVAL_BOS_AUTO, -1};
    o.n_threads = c->threads;
    o.skip_speed = o.skip_generation = true;
    o.cache_dir = cache; /* the F32 logits are computed once per model */
    o.thresholds = (lqmf_eval_thresholds){NAN, NAN, NAN};
    return o;
}

/* KL and top-1 of model against base; *desc (may be NULL) gets the protocol
 * in words, owned by the caller. */
static bool score_kl(const config *c, const char *model, const char *base, const char *text, score *s,
                     char **desc) {
    lqmf_eval_opts o = kl_opts(c, model, base, text);
    lqmf_eval_report *r = NULL;
    if (lqmf_eval_run(&o, &r) != LQMF_OK) {
        fprintf(stderr, "bench_quality: KL of %s: %s\n", model, lqmf_last_error());
        return false;
    }
    s->kl = r->quality.kl_mean;
    s->top1 = r->quality.top1;
    if (desc) {
        size_t n = strlen(r->quality.description) + 200;
        *desc = malloc(n);
        if (*desc)
            snprintf(*desc, n, "%s; F32 perplexity %.4f over %llu scored tokens.", r->quality.description,
                     r->quality.baseline.ppl, (unsigned long long)r->quality.n_scored);
    }
    lqmf_eval_report_free(r);
    return true;
}

/* ---- model section ----------------------------------------------------------------- */

static void print_row(const char *type, const char *by, const score *s) {
    if (!s->ok) {
        printf("%-7s %-6s failed\n", type, by);
        return;
    }
    char worst[160];
    snprintf(worst, sizeof worst, "%s (%.3f)", s->worst, 100 * s->worst_rmse);
    printf("%-7s %-6s %10llu %6.3f %9.3f  %-34s %10.6f %7.2f%%\n", type, by, (unsigned long long)s->bytes,
           s->bpw, 100 * s->rmse, worst, s->kl, 100 * s->top1);
}

/* Count of tensors whose type differs between the two files; the first one
 * described in first[]. */
static uint32_t type_differences(const char *a, const char *b, char *first, size_t first_len) {
    lqmf_gguf *ga = NULL, *gb = NULL;
    uint32_t n = 0;
    first[0] = 0;
    if (lqmf_gguf_open(a, &ga) == LQMF_OK && lqmf_gguf_open(b, &gb) == LQMF_OK) {
        for (uint64_t i = 0; i < lqmf_gguf_n_tensors(ga); i++) {
            const lqmf_gguf_tensor *ta = lqmf_gguf_tensor_at(ga, i), *tb = lqmf_gguf_find_tensor(gb, ta->name);
            if (tb && tb->type == ta->type) continue;
            if (n++ == 0)
                snprintf(first, first_len, "%s %s/%s", ta->name, lqmf_type_name(ta->type),
                         tb ? lqmf_type_name(tb->type) : "absent");
        }
    }
    lqmf_gguf_close(ga);
    lqmf_gguf_close(gb);
    return n;
}

static bool quantize_file(lqmf_model *m, const char *type, const config *c, const char *out) {
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = type;
    o.n_threads = c->threads;
    o.no_estimate = c->no_estimate;
    if (lqmf_quantize_model(m, out, &o, NULL) != LQMF_OK) {
        fprintf(stderr, "bench_quality: quantize %s: %s\n", type, lqmf_last_error());
        return false;
    }
    return true;
}

static void bench_model(const config *c, const char *data, const char *name) {
    char src[512], text[512], f32[512], ours[512], theirs[512];
    snprintf(src, sizeof src, "%s/models/%s", data, name);
    snprintf(text, sizeof text, "%s/heldout.txt", src);
    snprintf(f32, sizeof f32, "%s/%s-F32.gguf", c->tmp, name);
    lqmf_model *m = NULL, *mf = NULL;
    lqmf_gguf *ref = NULL;
    printf("\n== %s\n", name);
    if (lqmf_model_open(src, &m) != LQMF_OK || !quantize_file(m, "F32", c, f32) ||
        lqmf_model_open(f32, &mf) != LQMF_OK || lqmf_gguf_open(f32, &ref) != LQMF_OK) {
        printf("%s: skipped: %s\n", name, lqmf_last_error());
        goto done;
    }
    printf("%s, %.2f M parameters; reference: lqmf's F32 GGUF of %s (%llu bytes)\n", lqmf_arch_name(mf->hp.arch),
           (double)lqmf_model_n_params(mf) / 1e6, src, (unsigned long long)file_size(f32));
    char *desc = NULL;
    score base = {0};
    if (!score_kl(c, f32, f32, text, &base, &desc)) goto done;
    printf("KL protocol: %s\n", desc ? desc : "?");
    free(desc);
    printf("%-7s %-6s %10s %6s %9s  %-34s %10s %8s\n", "type", "by", "bytes", "bpw", "rRMSE %",
           "worst matrix (rRMSE %)", "KL mean", "top-1");
    for (size_t i = 0; i < N_TYPES; i++) {
        const char *t = k_types[i].name;
        if (!type_selected(c, t)) continue;
        snprintf(ours, sizeof ours, "%s/%s-%s.gguf", c->tmp, name, t);
        snprintf(theirs, sizeof theirs, "%s/%s-%s-llamacpp.gguf", c->tmp, name, t);
        score so = {.kl = NAN, .top1 = NAN}, st = so;
        so.ok = quantize_file(mf, t, c, ours) && score_tensors(ref, ours, &so) &&
                score_kl(c, ours, f32, text, &so, NULL);
        print_row(t, "lqmf", &so);
        if (!c->llama_quantize) {
            remove(ours);
            continue;
        }
        st.ok = llama_quantize(c, false, f32, theirs, t) && score_tensors(ref, theirs, &st) &&
                score_kl(c, theirs, f32, text, &st, NULL);
        print_row("", "llama", &st);
        if (so.ok && st.ok) {
            char first[256];
            uint32_t nd = type_differences(ours, theirs, first, sizeof first);
            printf("%-7s %-6s %10.3f %6s %9.3f  %-34s %10.3f %8s", "", "ratio", (double)so.bytes / (double)st.bytes,
                   "", ratio(so.rmse, st.rmse), "", ratio(so.kl, st.kl), "");
            if (nd) printf("  tensor types differ: %u (%s, lqmf/llama)", nd, first);
            printf("\n");
        }
        remove(ours);
        remove(theirs);
    }
done:
    lqmf_gguf_close(ref);
    lqmf_model_close(mf);
    lqmf_model_close(m);
    remove(f32);
}

/* ---- generated matrices ----------------------------------------------------------- */

typedef enum { GEN_GAUSS, GEN_LAPLACE, GEN_OUTLIER, GEN_COUNT } gen_kind;
static const char *const k_gen_names[GEN_COUNT] = {"gaussian", "laplace", "outliers"};

static uint64_t rng_next(uint64_t *s) { /* xorshift64 */
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}
static double rng_unit(uint64_t *s) { /* uniform in (0, 1) */
    return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}
static double rng_gauss(uint64_t *s) { /* Box-Muller */
    return sqrt(-2 * log(rng_unit(s))) * cos(6.283185307179586 * rng_unit(s));
}

/* n weights of kind k, scale 0.02: N(0, 0.02^2); Laplace with the same
 * variance; outliers: N(0, 0.02^2) where one weight in 500 is multiplied by
 * 10..40 and every 64th column by 4 (outlier channels). Row length cols. */
static void generate(gen_kind k, float *x, uint64_t n, uint64_t cols) {
    uint64_t s = 0x9e3779b97f4a7c15ull + (uint64_t)k;
    for (uint64_t i = 0; i < n; i++) {
        double v;
        if (k == GEN_LAPLACE) {
            double u = rng_unit(&s) - 0.5;
            v = -(0.02 / sqrt(2.0)) * (u < 0 ? -1 : 1) * log(1 - 2 * fabs(u));
        } else {
            v = 0.02 * rng_gauss(&s);
            if (k == GEN_OUTLIER) {
                if (i % cols % 64 == 7) v *= 4;
                if (rng_next(&s) % 500 == 0) v *= 10 + 30 * rng_unit(&s);
            }
        }
        x[i] = (float)v;
    }
}

/* Relative RMSE of lqmf_quant_tensor(t) on x[rows*cols]. */
static double ours_gen_rmse(lqmf_type t, const float *x, uint64_t rows, uint64_t cols, float *buf) {
    uint64_t rb = 0;
    if (!lqmf_type_row_bytes(t, cols, &rb)) return NAN;
    void *q = malloc(rb * rows);
    double r = NAN;
    if (q && lqmf_quant_tensor(t, x, q, (int64_t)rows, (int64_t)cols, NULL) == LQMF_OK) {
        lqmf_gguf_tensor qt = {.type = t, .data = q};
        if (!rel_rmse(x, &qt, rows * cols, buf, &r)) r = NAN;
    }
    free(q);
    return r;
}

/* The matrices as blk.K.ffn_up.weight of a minimal llama GGUF (enough
 * metadata for llama-quantize to load it). */
static bool write_fake_model(const config *c, float *const *x, const char *path) {
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    uint64_t ne[2] = {c->cols, c->rows};
    bool ok = w && lqmf_gguf_writer_set_str(w, "general.architecture", "llama") == LQMF_OK &&
              lqmf_gguf_writer_set_str(w, "general.name", "generated matrices") == LQMF_OK &&
              lqmf_gguf_writer_set_u32(w, "llama.block_count", GEN_COUNT) == LQMF_OK &&
              lqmf_gguf_writer_set_u32(w, "llama.context_length", 64) == LQMF_OK &&
              lqmf_gguf_writer_set_u32(w, "llama.embedding_length", c->cols) == LQMF_OK &&
              lqmf_gguf_writer_set_u32(w, "llama.feed_forward_length", c->rows) == LQMF_OK &&
              lqmf_gguf_writer_set_u32(w, "llama.attention.head_count", 1) == LQMF_OK &&
              lqmf_gguf_writer_set_u32(w, "llama.attention.head_count_kv", 1) == LQMF_OK &&
              lqmf_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f) == LQMF_OK &&
              lqmf_gguf_writer_set_u32(w, "general.file_type", 0) == LQMF_OK;
    for (int k = 0; ok && k < GEN_COUNT; k++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", k);
        ok = lqmf_gguf_writer_add_tensor(w, name, LQMF_TYPE_F32, 2, ne, x[k], sizeof(float) * c->rows * c->cols) ==
             LQMF_OK;
    }
    ok = ok && lqmf_gguf_writer_write(w, path) == LQMF_OK;
    if (!ok) fprintf(stderr, "bench_quality: %s: %s\n", path, lqmf_last_error());
    lqmf_gguf_writer_free(w);
    return ok;
}

/* Relative RMSE of each generated matrix in llama-quantize's file. */
static bool theirs_gen_rmse(const char *path, float *const *x, uint64_t n, float *buf, double *r,
                            lqmf_type *type) {
    lqmf_gguf *g = NULL;
    if (lqmf_gguf_open(path, &g) != LQMF_OK) return false;
    bool ok = true;
    for (int k = 0; ok && k < GEN_COUNT; k++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", k);
        const lqmf_gguf_tensor *t = lqmf_gguf_find_tensor(g, name);
        ok = t && n_elements(t) == n && rel_rmse(x[k], t, n, buf, &r[k]);
        if (ok) *type = t->type;
    }
    lqmf_gguf_close(g);
    return ok;
}

static void bench_generated(const config *c) {
    uint64_t n = (uint64_t)c->rows * c->cols;
    float *x[GEN_COUNT], *buf = malloc(sizeof(float) * n);
    bool ok = buf != NULL;
    for (int k = 0; k < GEN_COUNT; k++) {
        x[k] = malloc(sizeof(float) * n);
        ok = ok && x[k];
        if (x[k]) generate((gen_kind)k, x[k], n, c->cols);
    }
    char f32[512], theirs[512];
    snprintf(f32, sizeof f32, "%s/generated-F32.gguf", c->tmp);
    printf("\n== generated matrices, %u rows of %u: relative RMSE %% of the mix's base tensor type\n", c->rows,
           c->cols);
    printf("gaussian N(0, 0.02^2); laplace of the same variance; outliers: gaussian, every 64th column x4 and "
           "one weight in 500 x10..40\n");
    bool theirs_on = ok && c->llama_quantize && write_fake_model(c, x, f32);
    if (c->llama_quantize && !theirs_on) printf("llama.cpp part skipped: the fake model could not be written\n");
    printf("%-7s %-7s", "type", "tensor");
    for (int k = 0; k < GEN_COUNT; k++)
        printf(theirs_on ? " | %-8s %7s %7s %6s" : " | %-8s %7s", k_gen_names[k], "lqmf", "llama", "ratio");
    printf("\n");
    for (size_t i = 0; ok && i < N_TYPES; i++) {
        if (!type_selected(c, k_types[i].name)) continue;
        double r_ours[GEN_COUNT], r_theirs[GEN_COUNT];
        lqmf_type tt = k_types[i].base;
        for (int k = 0; k < GEN_COUNT; k++) r_ours[k] = ours_gen_rmse(k_types[i].base, x[k], c->rows, c->cols, buf);
        snprintf(theirs, sizeof theirs, "%s/generated-%s-llamacpp.gguf", c->tmp, k_types[i].name);
        bool th = theirs_on && llama_quantize(c, true, f32, theirs, k_types[i].name) &&
                  theirs_gen_rmse(theirs, x, n, buf, r_theirs, &tt);
        remove(theirs);
        printf("%-7s %-7s", k_types[i].name, lqmf_type_name(k_types[i].base));
        for (int k = 0; k < GEN_COUNT; k++) {
            if (theirs_on && th)
                printf(" | %-8s %7.3f %7.3f %6.3f", "", 100 * r_ours[k], 100 * r_theirs[k],
                       ratio(r_ours[k], r_theirs[k]));
            else if (theirs_on)
                printf(" | %-8s %7.3f %7s %6s", "", 100 * r_ours[k], "failed", "");
            else
                printf(" | %-8s %7.3f", "", 100 * r_ours[k]);
        }
        if (th && tt != k_types[i].base) printf("  (llama.cpp wrote %s)", lqmf_type_name(tt));
        printf("\n");
    }
    remove(f32);
    for (int k = 0; k < GEN_COUNT; k++) free(x[k]);
    free(buf);
}

/* ---- main ---------------------------------------------------------------------------- */

static char *find_llama_quantize(void) {
    const char *dir = getenv("LLAMA_CPP_DIR");
    if (!dir || !*dir) return NULL;
    static const char *const sub[] = {"bin/llama-quantize", "llama-quantize"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(dir) + strlen(sub[i]) + 2;
        char *p = malloc(n);
        if (!p) return NULL;
        snprintf(p, n, "%s/%s", dir, sub[i]);
        if (access(p, X_OK) == 0) return p;
        free(p);
    }
    fprintf(stderr, "bench_quality: no llama-quantize in %s or %s/bin\n", dir, dir);
    return NULL;
}

static bool parse_u32(const char *s, uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v == 0 || v > 1u << 20) return false;
    *out = (uint32_t)v;
    return true;
}

int main(int argc, char **argv) {
    config c = {.tokens = 512, .ctx = 128, .rows = 1024, .cols = 4096, .threads = 1, .generated = true,
                .models = true};
    const char *models[16];
    size_t n_models = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        uint32_t *num = !strcmp(a, "--tokens")    ? &c.tokens
                        : !strcmp(a, "--ctx")     ? &c.ctx
                        : !strcmp(a, "--rows")    ? &c.rows
                        : !strcmp(a, "--cols")    ? &c.cols
                        : !strcmp(a, "--threads") ? &c.threads
                                                  : NULL;
        if (num) {
            if (!parse_u32(v, num)) {
                fprintf(stderr, "bench_quality: %s needs a positive number, not '%s'\n", a, v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--types") && i + 1 < argc) {
            c.types = argv[++i];
        } else if (!strcmp(a, "--no-generated")) {
            c.generated = false;
        } else if (!strcmp(a, "--no-models")) {
            c.models = false;
        } else if (!strcmp(a, "--no-estimate")) {
            c.no_estimate = true;
        } else if (a[0] != '-' && n_models < 16) {
            models[n_models++] = a;
        } else {
            fprintf(stderr, "usage: bench_quality [--tokens N] [--ctx N] [--rows N] [--cols N] [--threads N] "
                            "[--types T,T,..] [--no-generated] [--no-models] [--no-estimate] [MODEL...]\n");
            return 2;
        }
    }
    if (c.cols % 256 != 0) {
        fprintf(stderr, "bench_quality: --cols must be a multiple of 256\n");
        return 2;
    }
    if (n_models == 0) models[n_models++] = "tiny-llama", models[n_models++] = "tiny-gpt2";
    const char *tmpdir = getenv("TMPDIR");
    snprintf(c.tmp, sizeof c.tmp, "%s/lqmf-qbench-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(c.tmp)) {
        fprintf(stderr, "bench_quality: cannot create %s: %s\n", c.tmp, strerror(errno));
        return 1;
    }
    c.llama_quantize = find_llama_quantize();
    time_t now = time(NULL);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%d", gmtime(&now));
    double t0 = lqmf_time_now();
    printf("lqmf quantization quality, %s, kernels %s, %u thread(s); llama.cpp: %s\n", day,
           lqmf_kernel_isa_name(lqmf_kernel_isa()), c.threads,
           c.llama_quantize ? c.llama_quantize : "not compared (set LLAMA_CPP_DIR)");
    printf("rRMSE: per matrix RMSE(W - dequant) / RMS(W), element-weighted RMS over every matrix of the F32 "
           "file; ratio = lqmf / llama.cpp (below 1: lqmf better)\n");
    const char *data = getenv("LQMF_DATA");
    if (c.models && (!data || !*data))
        printf("\nmodels skipped: LQMF_DATA is not set\n");
    else if (c.models)
        for (size_t i = 0; i < n_models; i++) bench_model(&c, data, models[i]);
    if (c.generated) bench_generated(&c);
    printf("\ntotal %.1f s\n", lqmf_time_now() - t0);
    nftw(c.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(c.llama_quantize);
    return 0;
}
