/* lqmf_quantize_model: per-tensor type choice (the planner's mix rules,
 * overrides, fallbacks) and the quantizer hooks of the GGUF converter. See
 * include/lqmf/quantize.h. */
#include "lqmf/quantize.h"
#include "lqmf/gguf.h"
#include "lqmf/gguf_convert.h"
#include "lqmf/plan.h"
#include "lqmf/quant.h"
#include "lqmf/tokenizer.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        lqmf_status st_ = (expr);                                                                            \
        if (st_ != LQMF_OK) return st_;                                                                      \
    } while (0)

#define MAX_THREADS 256u

/* llama.cpp's llama_ftype ids by name. */
static const struct {
    const char *name;
    int32_t ftype;
} k_ftypes[] = {
    {"F32", 0},     {"F16", 1},     {"Q4_0", 2},    {"Q4_1", 3},     {"Q8_0", 7},     {"Q5_0", 8},
    {"Q5_1", 9},    {"Q2_K", 10},   {"Q3_K_S", 11}, {"Q3_K_M", 12},  {"Q3_K", 12},    {"Q3_K_L", 13},
    {"Q4_K_S", 14}, {"Q4_K_M", 15}, {"Q4_K", 15},   {"Q5_K_S", 16},  {"Q5_K_M", 17},  {"Q5_K", 17},
    {"Q6_K", 18},   {"IQ4_NL", 25}, {"IQ4_XS", 30}, {"BF16", 32},
};

bool lqmf_quantize_ftype(const char *name, int32_t *ftype) {
    for (size_t i = 0; i < sizeof k_ftypes / sizeof k_ftypes[0]; i++)
        if (strcasecmp(name, k_ftypes[i].name) == 0) {
            *ftype = k_ftypes[i].ftype;
            return true;
        }
    return false;
}

lqmf_quantize_opts lqmf_quantize_default_opts(void) {
    lqmf_quantize_opts o;
    memset(&o, 0, sizeof o);
    o.type = "Q4_K_M";
    return o;
}

static bool is_float(lqmf_type t) { return t == LQMF_TYPE_F32 || t == LQMF_TYPE_F16 || t == LQMF_TYPE_BF16; }

/* ---- type choice ---------------------------------------------------------- */

typedef struct {
    const lqmf_model *m;
    const lqmf_quantize_opts *o;
    lqmf_model_meta meta;
    const lqmf_scheme *scheme; /* a mix; NULL: one tensor type */
    lqmf_type base;            /* the mix's base type, or the tensor type */
    int32_t ftype;
    bool has_output;
    regex_t *re; /* o->n_overrides compiled regexes */
    size_t n_re;
    lqmf_imatrix *im;
    uint32_t n_threads;
    lqmf_mapped *mapped; /* when writing: the process's file mappings (release_source) */
    /* statistics, filled while writing */
    lqmf_quantize_result *res;
    uint64_t bytes_done, bytes_total;
    double t0;
} qctx;

/* Resolve o->type into a mix or a tensor type. */
static lqmf_status resolve_type(qctx *c) {
    const char *name = c->o->type ? c->o->type : "";
    if (!lqmf_quantize_ftype(name, &c->ftype))
        return lqmf_error(LQMF_E_INVALID,
                          "unknown quantization type '%s' (try Q4_K_M, Q5_K_M, Q8_0, Q4_0, Q2_K, Q3_K_M, "
                          "Q6_K, IQ4_XS, F16, BF16, F32)",
                          name);
    lqmf_type t;
    if (lqmf_type_from_name(name, &t) && is_float(t)) {
        c->base = t;
        return LQMF_OK;
    }
    const lqmf_scheme *s = lqmf_plan_scheme_find(name);
    if (s && s->method == LQMF_METHOD_GGUF) {
        c->scheme = s;
        c->base = lqmf_plan_gguf_type(s, &c->meta, LQMF_TC_OTHER, 0, 1, true);
        return LQMF_OK;
    }
    if (!lqmf_type_from_name(name, &c->base) || !lqmf_quant_traits_get(c->base))
        return lqmf_error(LQMF_E_UNSUPPORTED, "quantization type '%s' has no quantizer", name);
    return LQMF_OK;
}

/* Layer of a block tensor ("blk.N.") or 0. */
static uint32_t layer_of(const char *name) {
    return strncmp(name, "blk.", 4) == 0 ? (uint32_t)strtoul(name + 4, NULL, 10) : 0;
}

/* The type before the row-length fallback. */
static lqmf_type wanted_type(const qctx *c, const lqmf_tensor *t) {
    if (t->n_dims < 2 || t->ne[1] * t->ne[2] * t->ne[3] == 1) return LQMF_TYPE_F32;
    if (!is_float(t->type)) return t->type; /* quantized GGUF source: copied */
    const bool is_output = strcmp(t->name, "output.weight") == 0;
    if (c->o->keep_output && is_output) return t->type;
    const lqmf_tensor_class cls = lqmf_plan_classify(t->name);
    if (cls == LQMF_TC_POS_EMBD) return t->type; /* never quantized (as llama.cpp): costly, tiny */
    for (size_t i = 0; i < c->n_re; i++)
        if (regexec(&c->re[i], t->name, 0, NULL, 0) == 0) return c->o->overrides[i].type;
    if (c->o->pure || is_float(c->base)) return c->base;
    if (!c->scheme) { /* one tensor type: output in Q6_K when that has more bits */
        bool out_like = is_output || (cls == LQMF_TC_EMBD && !c->has_output);
        if (out_like && lqmf_type_bpw(c->base) < lqmf_type_bpw(LQMF_TYPE_Q6_K)) return LQMF_TYPE_Q6_K;
        return c->base;
    }
    const bool in_block = strncmp(t->name, "blk.", 4) == 0;
    return lqmf_plan_gguf_type(c->scheme, &c->meta, cls, in_block ? layer_of(t->name) : 0,
                               in_block ? c->m->hp.n_layer : 1, c->has_output);
}

static lqmf_type choose_type(const qctx *c, const lqmf_tensor *t, bool *fell_back) {
    lqmf_type w = wanted_type(c, t);
    if (!is_float(t->type) || is_float(w)) return w;
    return lqmf_plan_fallback_type(w, t->ne[0], fell_back);
}

static lqmf_status ctx_init(qctx *c, const lqmf_model *m, const lqmf_quantize_opts *o) {
    memset(c, 0, sizeof *c);
    c->m = m;
    c->o = o;
    TRY(lqmf_plan_meta_from_model(m, &c->meta));
    c->has_output = lqmf_model_tensor(m, "output.weight") != NULL;
    TRY(resolve_type(c));
    if (o->n_overrides && !(c->re = calloc(o->n_overrides, sizeof *c->re)))
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    for (; c->n_re < o->n_overrides; c->n_re++) {
        const lqmf_quantize_override *ov = &o->overrides[c->n_re];
        if (!lqmf_type_get(ov->type) || (!is_float(ov->type) && !lqmf_quant_traits_get(ov->type)))
            return lqmf_error(LQMF_E_INVALID, "--tensor-type %s: type id %d cannot be written", ov->regex,
                              (int)ov->type);
        int rc = regcomp(&c->re[c->n_re], ov->regex, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[128];
            regerror(rc, &c->re[c->n_re], msg, sizeof msg);
            return lqmf_error(LQMF_E_INVALID, "--tensor-type: bad regex '%s': %s", ov->regex, msg);
        }
    }
    if (o->imatrix) TRY(lqmf_imatrix_load(o->imatrix, &c->im));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->n_threads = o->n_threads ? o->n_threads : (cpus > 0 ? (uint32_t)cpus : 1);
    if (c->n_threads > MAX_THREADS) c->n_threads = MAX_THREADS;
    return LQMF_OK;
}

static void ctx_free(qctx *c) {
    lqmf_mapped_free(c->mapped);
    for (size_t i = 0; i < c->n_re; i++) regfree(&c->re[i]);
    free(c->re);
    lqmf_imatrix_free(c->im);
}

lqmf_status lqmf_quantize_plan(const lqmf_model *m, const lqmf_quantize_opts *o, lqmf_type *types) {
    qctx c;
    lqmf_status st = ctx_init(&c, m, o);
    for (size_t i = 0; st == LQMF_OK && i < m->n_tensors; i++) {
        bool fb = false;
        types[i] = choose_type(&c, &m->tensors[i], &fb);
    }
    ctx_free(&c);
    return st;
}

/* ---- source pages ---------------------------------------------------------------
 * A source opened from a file is a read-only mapping, and every page of it
 * read stays in the process's resident set: quantizing would count the whole
 * model in its peak memory although it streams one tensor at a time. After
 * each tensor is written its pages leave the process (lqmf_mapped_release). */
static void release_source(void *user, const lqmf_tensor *t) {
    lqmf_mapped_release(((const qctx *)user)->mapped, t->data, t->nbytes);
}

/* ---- converter hooks --------------------------------------------------------- */

static lqmf_type hook_type(void *user, const lqmf_model *m, const lqmf_tensor *t) {
    (void)m;
    qctx *c = user;
    bool fb = false;
    lqmf_type type = choose_type(c, t, &fb);
    c->res->n_fallback += fb;
    c->res->type_count[type]++;
    c->res->n_tensors++;
    uint64_t b = 0, n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (lqmf_type_tensor_bytes(type, t->ne[0], n, &b)) c->res->tensor_bytes += b;
    c->res->n_params += n;
    return type;
}

typedef struct {
    lqmf_type type;
    const float *x;
    uint8_t *out;
    int64_t row0, nrows, n_per_row;
    uint64_t row_bytes;
    const float *imatrix;
    lqmf_status st;
    char err[256];
} qjob;

static void *run_job(void *arg) {
    qjob *j = arg;
    j->st = lqmf_quant_tensor(j->type, j->x + j->row0 * j->n_per_row, j->out + (uint64_t)j->row0 * j->row_bytes,
                              j->nrows, j->n_per_row, j->imatrix);
    if (j->st != LQMF_OK) snprintf(j->err, sizeof j->err, "%s", lqmf_last_error());
    return NULL;
}

/* Rows of x split into contiguous ranges, one per thread. */
static lqmf_status hook_quantize(void *user, const lqmf_tensor *t, lqmf_type type, const float *x, void *out,
                                 uint64_t nbytes) {
    qctx *c = user;
    const int64_t n_per_row = (int64_t)t->ne[0];
    const int64_t nrows = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    uint64_t row_bytes;
    if (!lqmf_type_row_bytes(type, t->ne[0], &row_bytes) || row_bytes * (uint64_t)nrows != nbytes)
        return lqmf_error(LQMF_E_INVALID, "tensor %s: %llu bytes do not fit %s", t->name,
                          (unsigned long long)nbytes, lqmf_type_name(type));
    const float *imx = NULL;
    uint64_t n_im = 0;
    if (c->im && (imx = lqmf_imatrix_get(c->im, t->name, &n_im)) && n_im != t->ne[0]) imx = NULL;
    c->res->n_imatrix += imx != NULL;
    uint32_t nt = c->n_threads;
    if ((int64_t)nt > nrows) nt = (uint32_t)nrows;
    if (nt == 0) nt = 1;
    qjob jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (uint32_t k = 0; k < nt; k++) {
        int64_t r0 = nrows * k / nt, r1 = nrows * (k + 1) / nt;
        jobs[k] = (qjob){type, x, out, r0, r1 - r0, n_per_row, row_bytes, imx, LQMF_OK, ""};
        if (k > 0) started[k] = pthread_create(&th[k], NULL, run_job, &jobs[k]) == 0;
        if (k > 0 && !started[k]) run_job(&jobs[k]);
    }
    run_job(&jobs[0]);
    for (uint32_t k = 1; k < nt; k++)
        if (started[k]) pthread_join(th[k], NULL);
    for (uint32_t k = 0; k < nt; k++)
        if (jobs[k].st != LQMF_OK) return lqmf_error(jobs[k].st, "%s", jobs[k].err);
    return LQMF_OK;
}

static bool hook_progress(void *user, size_t i, size_t n, const lqmf_tensor *t) {
    qctx *c = user;
    release_source(c, t);
    c->bytes_done += t->nbytes;
    if (!c->o->progress) return true;
    lqmf_quantize_progress p = {i + 1, n, c->bytes_done, c->bytes_total, lqmf_time_now() - c->t0, t->name,
                                LQMF_TYPE_COUNT};
    bool fb = false;
    p.type = choose_type(c, t, &fb);
    return c->o->progress(c->o->user, &p);
}

/* The vocabulary of non-GGUF sources and the imatrix provenance. */
static lqmf_status hook_metadata(void *user, const lqmf_model *m, lqmf_gguf_writer *w) {
    qctx *c = user;
    if (m->format != LQMF_FORMAT_GGUF && m->tok_source != LQMF_TOK_NONE) {
        lqmf_tokenizer *tok = NULL;
        TRY(lqmf_tok_open_model(m, &tok));
        lqmf_status st = lqmf_tok_write_gguf(tok, w);
        lqmf_tok_free(tok);
        TRY(st);
    }
    if (!c->im || !lqmf_imatrix_n_entries(c->im)) return LQMF_OK;
    TRY(lqmf_gguf_writer_set_str(w, "quantize.imatrix.dataset", lqmf_imatrix_dataset(c->im)));
    TRY(lqmf_gguf_writer_set_i32(w, "quantize.imatrix.entries_count", (int32_t)lqmf_imatrix_n_entries(c->im)));
    if (!c->o->imatrix) return LQMF_OK; /* estimated: no file, no chunks */
    TRY(lqmf_gguf_writer_set_str(w, "quantize.imatrix.file", c->o->imatrix));
    return lqmf_gguf_writer_set_i32(w, "quantize.imatrix.chunks_count", (int32_t)lqmf_imatrix_n_chunks(c->im));
}

lqmf_status lqmf_quantize_model(const lqmf_model *m, const char *out_path, const lqmf_quantize_opts *o,
                                lqmf_quantize_result *res) {
    lqmf_quantize_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    qctx c;
    lqmf_status st = ctx_init(&c, m, o);
    if (st != LQMF_OK) {
        ctx_free(&c);
        return st;
    }
    c.res = res;
    c.t0 = lqmf_time_now();
    c.mapped = lqmf_mapped_scan();
    for (size_t i = 0; i < m->n_tensors; i++) c.bytes_total += m->tensors[i].nbytes;
    if (!c.im && !o->no_estimate && (!is_float(c.base) || o->n_overrides)) {
        if ((st = lqmf_imatrix_estimate(m, release_source, &c, &c.im)) != LQMF_OK) {
            ctx_free(&c);
            return st;
        }
        res->imatrix_estimated = lqmf_imatrix_n_entries(c.im) > 0;
    }
    lqmf_gguf_convert_opts co = lqmf_gguf_convert_default_opts();
    co.name = o->name;
    co.source_url = o->source_url;
    co.source_repo = o->source_repo;
    co.file_type = c.ftype;
    co.tensor_type = hook_type;
    co.quantize = hook_quantize;
    co.metadata = hook_metadata;
    co.progress = hook_progress;
    co.user = &c;
    st = lqmf_model_write_gguf(m, out_path, &co);
    ctx_free(&c);
    if (st != LQMF_OK) return st;
    struct stat sb;
    res->out_bytes = stat(out_path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    res->src_bytes = c.bytes_total;
    res->ftype = c.ftype;
    res->seconds = lqmf_time_now() - c.t0;
    res->bpw = res->n_params ? (double)res->tensor_bytes * 8.0 / (double)res->n_params : 0.0;
    return LQMF_OK;
}
