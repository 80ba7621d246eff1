/* Importance matrix: per-column mean squared activations of every matrix
 * input, collected through the engine's activation hook and stored in
 * llama.cpp's GGUF imatrix layout. See include/lqmf/quantize.h and
 * docs/imatrix.md. */
#include "lqmf/engine.h"
#include "lqmf/gguf.h"
#include "lqmf/quantize.h"
#include "lqmf/tokenizer.h"
#include "quant/imatrix_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        lqmf_status st_ = (expr);                                                                            \
        if (st_ != LQMF_OK) return st_;                                                                      \
    } while (0)

#define MAX_ENTRIES 65536u
#define MAX_COLS (1u << 24)
#define MAX_TEXT (1ull << 30) /* calibration text bytes */
#define SUFFIX_SUM2 ".in_sum2"
#define SUFFIX_COUNTS ".counts"

typedef struct {
    char *name;    /* weight name, "blk.0.attn_q.weight" */
    uint64_t n;    /* columns (the weight's ne0) */
    double *sum2;  /* n sums of x^2 over all rows seen */
    double count;  /* rows seen */
    float *mean;   /* n means, filled by finalize */
} entry;

struct lqmf_imatrix {
    entry *e;
    size_t n, cap;
    uint32_t n_chunks, chunk_size;
    char *dataset;
    bool failed; /* an allocation failed during collection */
};

static void entry_free(entry *e) {
    free(e->name);
    free(e->sum2);
    free(e->mean);
}

void lqmf_imatrix_free(lqmf_imatrix *im) {
    if (!im) return;
    for (size_t i = 0; i < im->n; i++) entry_free(&im->e[i]);
    free(im->e);
    free(im->dataset);
    free(im);
}

static entry *find(const lqmf_imatrix *im, const char *name) {
    for (size_t i = 0; i < im->n; i++)
        if (strcmp(im->e[i].name, name) == 0) return &im->e[i];
    return NULL;
}

/* A new zeroed entry, NULL when out of memory or over the caps. */
static entry *add(lqmf_imatrix *im, const char *name, uint64_t n) {
    if (im->n >= MAX_ENTRIES || n == 0 || n > MAX_COLS) return NULL;
    if (im->n == im->cap) {
        size_t cap = im->cap ? 2 * im->cap : 64;
        entry *e = realloc(im->e, cap * sizeof *e);
        if (!e) return NULL;
        im->e = e;
        im->cap = cap;
    }
    entry *e = &im->e[im->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->sum2 = calloc(n, sizeof *e->sum2);
    e->n = n;
    if (!e->name || !e->sum2) {
        entry_free(e);
        return NULL;
    }
    im->n++;
    return e;
}

static lqmf_status finalize(lqmf_imatrix *im) {
    for (size_t i = 0; i < im->n; i++) {
        entry *e = &im->e[i];
        free(e->mean);
        if (!(e->mean = malloc(e->n * sizeof *e->mean))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        for (uint64_t j = 0; j < e->n; j++) e->mean[j] = e->count > 0 ? (float)(e->sum2[j] / e->count) : 0.0f;
    }
    return LQMF_OK;
}

lqmf_imatrix *lqmf_imatrix_new(const char *dataset) {
    lqmf_imatrix *im = calloc(1, sizeof *im);
    if (im && !(im->dataset = strdup(dataset))) {
        free(im);
        im = NULL;
    }
    return im;
}

lqmf_status lqmf_imatrix_put(lqmf_imatrix *im, const char *name, const float *v, uint64_t n) {
    if (find(im, name)) return lqmf_error(LQMF_E_INVALID, "imatrix: %s twice", name);
    entry *e = add(im, name, n);
    if (!e || !(e->mean = malloc(n * sizeof *e->mean))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    e->count = 1;
    for (uint64_t j = 0; j < n; j++) e->sum2[j] = e->mean[j] = v[j];
    return LQMF_OK;
}

const float *lqmf_imatrix_get(const lqmf_imatrix *im, const char *name, uint64_t *n) {
    const entry *e = find(im, name);
    if (!e || !e->mean) return NULL;
    *n = e->n;
    return e->mean;
}
size_t lqmf_imatrix_n_entries(const lqmf_imatrix *im) { return im->n; }
uint32_t lqmf_imatrix_n_chunks(const lqmf_imatrix *im) { return im->n_chunks; }
const char *lqmf_imatrix_dataset(const lqmf_imatrix *im) { return im->dataset ? im->dataset : ""; }

/* ---- collection ---------------------------------------------------------------- */

/* Engine hook: x is (n_tokens, dim) row-major, the input of weight `name`. */
static void on_activation(void *user, int32_t layer, const char *name, const float *x, uint32_t n_tokens,
                          uint32_t dim) {
    (void)layer;
    lqmf_imatrix *im = user;
    const size_t len = strlen(name);
    if (len < 7 || strcmp(name + len - 7, ".weight") != 0) return; /* residual taps ("blk.N.out") */
    entry *e = find(im, name);
    if (!e && !(e = add(im, name, dim))) {
        im->failed = true;
        return;
    }
    if (e->n != dim) {
        im->failed = true;
        return;
    }
    for (uint32_t r = 0; r < n_tokens; r++)
        for (uint32_t j = 0; j < dim; j++) {
            double v = x[(uint64_t)r * dim + j];
            e->sum2[j] += v * v;
        }
    e->count += n_tokens;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static lqmf_status run_chunks(lqmf_imatrix *im, const lqmf_model *m, const lqmf_imatrix_opts *o,
                              const lqmf_tok_ids *ids) {
    uint32_t ctx = o->n_ctx ? o->n_ctx : 512;
    if (m->hp.n_ctx_train && ctx > m->hp.n_ctx_train) ctx = m->hp.n_ctx_train;
    uint32_t avail = (uint32_t)(ids->n / ctx);
    if (avail == 0)
        return lqmf_error(LQMF_E_INVALID, "%s: %zu tokens, fewer than one chunk of %u", o->text_path,
                          (size_t)ids->n, ctx);
    uint32_t n_chunks = o->n_chunks && o->n_chunks < avail ? o->n_chunks : avail;
    lqmf_engine_params p = {ctx, o->n_threads, 0};
    lqmf_engine *e = NULL;
    TRY(lqmf_engine_new(m, &p, &e));
    lqmf_engine_set_hook(e, on_activation, im);
    lqmf_status st = LQMF_OK;
    im->chunk_size = ctx;
    for (uint32_t c = 0; c < n_chunks && st == LQMF_OK; c++) {
        lqmf_engine_reset(e);
        st = lqmf_engine_eval(e, ids->ids + (size_t)c * ctx, ctx, 0, LQMF_LOGITS_NONE, NULL);
        if (st == LQMF_OK && im->failed) st = lqmf_error(LQMF_E_NOMEM, "imatrix: out of memory or bad shape");
        if (st == LQMF_OK) im->n_chunks++;
        if (st == LQMF_OK && o->progress && !o->progress(o->user, c + 1, n_chunks)) break;
    }
    lqmf_engine_free(e);
    return st;
}

lqmf_status lqmf_imatrix_collect(const lqmf_model *m, const lqmf_imatrix_opts *o, lqmf_imatrix **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    TRY(lqmf_read_file(o->text_path, MAX_TEXT, &text, &len));
    lqmf_tokenizer *tok = NULL;
    lqmf_tok_ids ids = {0};
    lqmf_imatrix *im = calloc(1, sizeof *im);
    lqmf_status st = im ? lqmf_tok_open_model(m, &tok) : lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = lqmf_tok_encode(tok, text, len, 0, &ids);
    if (st == LQMF_OK && !(im->dataset = strdup(base_name(o->text_path))))
        st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = run_chunks(im, m, o, &ids);
    if (st == LQMF_OK) st = finalize(im);
    lqmf_tok_ids_free(&ids);
    lqmf_tok_free(tok);
    free(text);
    if (st != LQMF_OK) {
        lqmf_imatrix_free(im);
        return st;
    }
    *out = im;
    return LQMF_OK;
}

/* ---- file ------------------------------------------------------------------------ */

static lqmf_status save_entries(const lqmf_imatrix *im, lqmf_gguf_writer *w, float **bufs) {
    const char *datasets[1] = {lqmf_imatrix_dataset(im)};
    TRY(lqmf_gguf_writer_set_str(w, "general.type", "imatrix"));
    TRY(lqmf_gguf_writer_set_arr_str(w, "imatrix.datasets", datasets, 1));
    TRY(lqmf_gguf_writer_set_u32(w, "imatrix.chunk_count", im->n_chunks));
    TRY(lqmf_gguf_writer_set_u32(w, "imatrix.chunk_size", im->chunk_size));
    for (size_t i = 0; i < im->n; i++) {
        const entry *e = &im->e[i];
        char name[256];
        float *b = bufs[i] = malloc((e->n + 1) * sizeof *b);
        if (!b) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        for (uint64_t j = 0; j < e->n; j++) b[j] = (float)e->sum2[j];
        b[e->n] = (float)e->count;
        const uint64_t ne_sum[2] = {e->n, 1}, ne_cnt[2] = {1, 1};
        snprintf(name, sizeof name, "%s%s", e->name, SUFFIX_SUM2);
        TRY(lqmf_gguf_writer_add_tensor(w, name, LQMF_TYPE_F32, 2, ne_sum, b, e->n * 4));
        snprintf(name, sizeof name, "%s%s", e->name, SUFFIX_COUNTS);
        TRY(lqmf_gguf_writer_add_tensor(w, name, LQMF_TYPE_F32, 2, ne_cnt, b + e->n, 4));
    }
    return LQMF_OK;
}

lqmf_status lqmf_imatrix_save(const lqmf_imatrix *im, const char *path) {
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    float **bufs = calloc(im->n + 1, sizeof *bufs);
    lqmf_status st = w && bufs ? save_entries(im, w, bufs) : lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = lqmf_gguf_writer_write(w, path);
    lqmf_gguf_writer_free(w);
    for (size_t i = 0; bufs && i < im->n; i++) free(bufs[i]);
    free(bufs);
    return st;
}

/* Entry from the tensor pair "<W>.in_sum2" {n, 1} + "<W>.counts" {1, 1}. */
static lqmf_status load_pair(lqmf_imatrix *im, const lqmf_gguf *g, const lqmf_gguf_tensor *ts) {
    const size_t len = strlen(ts->name), sl = strlen(SUFFIX_SUM2);
    char wname[256], cname[300];
    if (len <= sl || len - sl >= sizeof wname) return lqmf_error(LQMF_E_FORMAT, "tensor %s: bad name", ts->name);
    memcpy(wname, ts->name, len - sl);
    wname[len - sl] = '\0';
    snprintf(cname, sizeof cname, "%s%s", wname, SUFFIX_COUNTS);
    const lqmf_gguf_tensor *tc = lqmf_gguf_find_tensor(g, cname);
    if (!tc) return lqmf_error(LQMF_E_FORMAT, "tensor %s: no %s", ts->name, cname);
    if (ts->type != LQMF_TYPE_F32 || tc->type != LQMF_TYPE_F32 || ts->ne[1] * ts->ne[2] * ts->ne[3] != 1 ||
        tc->ne[0] * tc->ne[1] * tc->ne[2] * tc->ne[3] != 1)
        return lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: expected F32 {n, 1} with counts {1, 1} (one expert)",
                          ts->name);
    if (find(im, wname)) return lqmf_error(LQMF_E_FORMAT, "tensor %s: duplicate", ts->name);
    entry *e = add(im, wname, ts->ne[0]);
    if (!e) return lqmf_error(LQMF_E_NOMEM, "tensor %s: too large or out of memory", ts->name);
    float c;
    memcpy(&c, tc->data, 4);
    if (!(c >= 0) || c > 1e18f) return lqmf_error(LQMF_E_FORMAT, "tensor %s: bad count %g", cname, (double)c);
    e->count = c;
    for (uint64_t j = 0; j < e->n; j++) {
        float v;
        memcpy(&v, (const uint8_t *)ts->data + 4 * j, 4);
        if (!(v >= 0) || v > 3e38f) return lqmf_error(LQMF_E_FORMAT, "tensor %s: bad value at %llu", ts->name,
                                                      (unsigned long long)j);
        e->sum2[j] = v;
    }
    return LQMF_OK;
}

static lqmf_status load_all(lqmf_imatrix *im, const lqmf_gguf *g) {
    lqmf_gguf_str s;
    if (lqmf_gguf_get_str(g, "general.type", &s) != LQMF_OK || !lqmf_gguf_str_eq(s, "imatrix"))
        return lqmf_error(LQMF_E_FORMAT, "general.type is not \"imatrix\"");
    uint32_t v = 0;
    if (lqmf_gguf_get_u32(g, "imatrix.chunk_count", &v) == LQMF_OK) im->n_chunks = v;
    if (lqmf_gguf_get_u32(g, "imatrix.chunk_size", &v) == LQMF_OK) im->chunk_size = v;
    const lqmf_gguf_kv *kv = lqmf_gguf_find_key(g, "imatrix.datasets");
    lqmf_gguf_str ds = {"", 0};
    if (kv && kv->value.type == LQMF_GGUF_ARR && kv->value.v.arr.elem_type == LQMF_GGUF_STR &&
        kv->value.v.arr.count > 0)
        ds = kv->value.v.arr.strs[0];
    if (!(im->dataset = strndup(ds.ptr, ds.len))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    for (uint64_t i = 0; i < lqmf_gguf_n_tensors(g); i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        const size_t len = strlen(t->name), sl = strlen(SUFFIX_SUM2);
        if (len > sl && strcmp(t->name + len - sl, SUFFIX_SUM2) == 0) TRY(load_pair(im, g, t));
    }
    if (im->n == 0) return lqmf_error(LQMF_E_FORMAT, "no *%s tensors", SUFFIX_SUM2);
    return finalize(im);
}

lqmf_status lqmf_imatrix_load(const char *path, lqmf_imatrix **out) {
    *out = NULL;
    lqmf_gguf *g = NULL;
    TRY(lqmf_gguf_open(path, &g));
    lqmf_imatrix *im = calloc(1, sizeof *im);
    lqmf_status st = im ? load_all(im, g) : lqmf_error(LQMF_E_NOMEM, "out of memory");
    lqmf_gguf_close(g);
    if (st != LQMF_OK) {
        lqmf_imatrix_free(im);
        return lqmf_error_prefix(st, "%s", path);
    }
    *out = im;
    return LQMF_OK;
}
