/* The forward pass: llama family (RMSNorm, RoPE, GQA, SwiGLU, optional q/k/v
 * biases, sliding window) and GPT-2 (LayerNorm, learned positions, fused qkv,
 * gelu_new). Tokens go through the layers in chunks of up to n_batch rows;
 * K and V of every position stay in an f32 cache (n_layer, n_ctx, kv_dim). */
#include "lqmf/engine.h"
#include "mm.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- per-layer tensors ----------------------------------------------------- */

enum { W_Q, W_K, W_V, W_QKV, W_O, W_GATE, W_UP, W_DOWN, W_N }; /* matmul weights */
enum {
    V_ATTN_NORM,
    V_ATTN_NORM_B,
    V_BQ,
    V_BK,
    V_BV,
    V_BQKV,
    V_BO,
    V_FFN_NORM,
    V_FFN_NORM_B,
    V_UP_B,
    V_DOWN_B,
    V_N
}; /* 1-D, as f32 */
enum { DIM_1 = 0, DIM_D, DIM_Q, DIM_KV, DIM_FF, DIM_3D };
enum { K_MAT, K_NORM, K_BIAS };

typedef struct {
    const char *name; /* after "blk.N." */
    uint8_t kind, ne0, ne1, slot;
    bool qkv_bias_only; /* present only when hp.qkv_bias */
} tdesc;

static const tdesc k_llama[] = {
    {"attn_norm.weight", K_NORM, DIM_D, DIM_1, V_ATTN_NORM, false},
    {"attn_q.weight", K_MAT, DIM_D, DIM_Q, W_Q, false},
    {"attn_k.weight", K_MAT, DIM_D, DIM_KV, W_K, false},
    {"attn_v.weight", K_MAT, DIM_D, DIM_KV, W_V, false},
    {"attn_q.bias", K_BIAS, DIM_Q, DIM_1, V_BQ, true},
    {"attn_k.bias", K_BIAS, DIM_KV, DIM_1, V_BK, true},
    {"attn_v.bias", K_BIAS, DIM_KV, DIM_1, V_BV, true},
    {"attn_output.weight", K_MAT, DIM_Q, DIM_D, W_O, false},
    {"ffn_norm.weight", K_NORM, DIM_D, DIM_1, V_FFN_NORM, false},
    {"ffn_gate.weight", K_MAT, DIM_D, DIM_FF, W_GATE, false},
    {"ffn_up.weight", K_MAT, DIM_D, DIM_FF, W_UP, false},
    {"ffn_down.weight", K_MAT, DIM_FF, DIM_D, W_DOWN, false},
};
static const tdesc k_gpt2[] = {
    {"attn_norm.weight", K_NORM, DIM_D, DIM_1, V_ATTN_NORM, false},
    {"attn_norm.bias", K_BIAS, DIM_D, DIM_1, V_ATTN_NORM_B, false},
    {"attn_qkv.weight", K_MAT, DIM_D, DIM_3D, W_QKV, false},
    {"attn_qkv.bias", K_BIAS, DIM_3D, DIM_1, V_BQKV, false},
    {"attn_output.weight", K_MAT, DIM_D, DIM_D, W_O, false},
    {"attn_output.bias", K_BIAS, DIM_D, DIM_1, V_BO, false},
    {"ffn_norm.weight", K_NORM, DIM_D, DIM_1, V_FFN_NORM, false},
    {"ffn_norm.bias", K_BIAS, DIM_D, DIM_1, V_FFN_NORM_B, false},
    {"ffn_up.weight", K_MAT, DIM_D, DIM_FF, W_UP, false},
    {"ffn_up.bias", K_BIAS, DIM_FF, DIM_1, V_UP_B, false},
    {"ffn_down.weight", K_MAT, DIM_FF, DIM_D, W_DOWN, false},
    {"ffn_down.bias", K_BIAS, DIM_D, DIM_1, V_DOWN_B, false},
};

static const tdesc *layer_table(const lqmf_hparams *hp, size_t *n) {
    bool gpt2 = hp->arch == LQMF_ARCH_GPT2;
    *n = gpt2 ? sizeof k_gpt2 / sizeof *k_gpt2 : sizeof k_llama / sizeof *k_llama;
    return gpt2 ? k_gpt2 : k_llama;
}

static bool tdesc_used(const lqmf_hparams *hp, const tdesc *t) { return !t->qkv_bias_only || hp->qkv_bias; }

static uint64_t dim_of(const lqmf_hparams *hp, uint8_t dim) {
    switch (dim) {
    case DIM_D: return hp->n_embd;
    case DIM_Q: return (uint64_t)hp->n_head * hp->head_dim;
    case DIM_KV: return (uint64_t)hp->n_head_kv * hp->head_dim;
    case DIM_FF: return hp->n_ff;
    case DIM_3D: return 3 * (uint64_t)hp->n_embd;
    default: return 1;
    }
}

typedef struct {
    const lqmf_tensor *w[W_N];
    const float *v[V_N];
} layer;

struct lqmf_engine {
    const lqmf_model *m;
    lqmf_hparams hp;
    const lqmf_mm_kernels *k;
    lqmf_pool *pool;
    uint32_t n_ctx, n_batch, n_past;
    uint32_t d, q_dim, kv_dim, hd;
    layer *layers; /* n_layer */
    const lqmf_tensor *tok_embd, *pos_embd, *output;
    const float *out_norm, *out_norm_b;
    float *key_cache, *value_cache; /* (n_layer, n_ctx, kv_dim) */
    float *vec;                     /* f32 copies of all 1-D tensors */
    float *mem;                     /* the run state below, one block */
    float *x, *xb;                  /* (n_batch, d): residual stream, normed / projected */
    float *xb2;                     /* (n_batch, q_dim): attention output */
    float *q;                       /* (n_batch, q_dim), GPT-2: (n_batch, 3d) fused qkv */
    float *hb, *hb2;                /* (n_batch, n_ff) */
    float *att;                     /* (n_threads, n_ctx) attention weights */
    float *rope;                    /* (n_batch, hd/2, 2): cos, sin of the chunk's positions */
    float *logits;                  /* n_vocab: generate's last logits */
    void *mmq;                      /* quantized activations of one lqmf_mm call */
    uint64_t mmq_bytes;             /* ... per job: the largest need of any weight */
    double *inv_freq;               /* (hd/2) RoPE frequencies after scaling, rad/position */
    lqmf_engine_hook hook;
    void *hook_user;
    uint64_t weight_bytes, scratch_bytes;
};

/* ---- setup --------------------------------------------------------------------- */

static void rope_freqs(const lqmf_model *m, double *f) {
    const lqmf_hparams *hp = &m->hp;
    const uint32_t half = hp->head_dim / 2;
    const lqmf_tensor *factors = hp->rope_scaling == LQMF_ROPE_SCALING_FACTORS
                                     ? lqmf_model_tensor(m, "rope_freqs.weight") : NULL;
    for (uint32_t i = 0; i < half; i++) {
        double fi = pow(hp->rope_theta, -2.0 * i / hp->head_dim);
        if (factors) {
            fi /= ((const float *)factors->data)[i]; /* checked F32 {half} at engine creation */
        } else if (hp->rope_scaling == LQMF_ROPE_SCALING_LINEAR) {
            fi /= hp->rope_factor;
        } else if (hp->rope_scaling == LQMF_ROPE_SCALING_LLAMA3) {
            /* HF _compute_llama3_parameters: long wavelengths scaled by 1/factor,
             * short ones kept, a linear blend between the two bounds. */
            const double lo = hp->rope_low_freq_factor, hi = hp->rope_high_freq_factor;
            const double wavelen = 2 * M_PI / fi;
            const double lo_wavelen = hp->rope_orig_ctx / lo, hi_wavelen = hp->rope_orig_ctx / hi;
            if (wavelen > lo_wavelen) {
                fi /= hp->rope_factor;
            } else if (wavelen >= hi_wavelen) {
                const double smooth = (hp->rope_orig_ctx / wavelen - lo) / (hi - lo);
                fi = (1 - smooth) * fi / hp->rope_factor + smooth * fi;
            }
        }
        f[i] = fi;
    }
}

static lqmf_status check_hparams(const lqmf_hparams *hp) {
    const uint64_t big = 1u << 24; /* keeps every buffer size product far from overflow */
    if (hp->n_embd > big || hp->n_ff > big || (uint64_t)hp->n_head * hp->head_dim > big ||
        hp->n_vocab > INT32_MAX)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "engine: dimensions beyond 2^24 (n_embd %u, n_ff %u, n_head %u x "
                          "head_dim %u) or n_vocab %u beyond 2^31",
                          hp->n_embd, hp->n_ff, hp->n_head, hp->head_dim, hp->n_vocab);
    if (hp->arch == LQMF_ARCH_GPT2) {
        if ((uint64_t)hp->n_head * hp->head_dim != hp->n_embd)
            return lqmf_error(LQMF_E_UNSUPPORTED, "gpt2: n_head %u * head_dim %u != n_embd %u", hp->n_head,
                              hp->head_dim, hp->n_embd);
        return LQMF_OK;
    }
    if (hp->head_dim % 2)
        return lqmf_error(LQMF_E_UNSUPPORTED, "llama: odd head_dim %u cannot take RoPE", hp->head_dim);
    if (!(hp->rope_theta > 0))
        return lqmf_error(LQMF_E_INVALID, "llama: rope_theta %g must be positive", hp->rope_theta);
    if ((hp->rope_scaling == LQMF_ROPE_SCALING_LINEAR || hp->rope_scaling == LQMF_ROPE_SCALING_LLAMA3) &&
        !(hp->rope_factor > 0))
        return lqmf_error(LQMF_E_INVALID, "llama: rope scaling factor %g must be positive", hp->rope_factor);
    if (hp->rope_scaling == LQMF_ROPE_SCALING_LLAMA3 &&
        (!(hp->rope_high_freq_factor > hp->rope_low_freq_factor) || !(hp->rope_low_freq_factor > 0) ||
         !hp->rope_orig_ctx))
        return lqmf_error(LQMF_E_INVALID,
                          "llama3 rope scaling: low_freq_factor %g, high_freq_factor "
                          "%g, original context %u",
                          hp->rope_low_freq_factor, hp->rope_high_freq_factor, hp->rope_orig_ctx);
    return LQMF_OK;
}

static lqmf_status need_type(const lqmf_tensor *t, bool ok, const char *what) {
    if (ok) return LQMF_OK;
    return lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: type %s has no %s kernel", t->name,
                      lqmf_type_name(t->type), what);
}

static bool row_readable(lqmf_type t) {
    return t == LQMF_TYPE_F32 || t == LQMF_TYPE_F16 || t == LQMF_TYPE_BF16 || lqmf_quant_traits_get(t);
}

/* A matmul weight: supported, and its activation scratch counted. */
static lqmf_status take_mat(lqmf_engine *e, const lqmf_tensor *t) {
    lqmf_status st = need_type(t, lqmf_mm_supported(e->k, t->type), "matmul");
    if (st != LQMF_OK) return st;
    const uint64_t need = lqmf_mm_scratch(e->k, t->type, t->ne[0], e->n_batch);
    e->mmq_bytes = need > e->mmq_bytes ? need : e->mmq_bytes;
    return LQMF_OK;
}

/* Widen a 1-D tensor into *cursor, advance it; the result stays in e->vec. */
static lqmf_status take_vec(lqmf_engine *e, const lqmf_tensor *t, float **cursor, const float **out) {
    lqmf_status st = need_type(t, row_readable(t->type), "f32 conversion");
    if (st == LQMF_OK) st = lqmf_row_to_f32(t, 0, *cursor);
    if (st != LQMF_OK) return st;
    *out = *cursor;
    *cursor += t->ne[0];
    e->weight_bytes += t->nbytes;
    return LQMF_OK;
}

static lqmf_status bind_tensors(lqmf_engine *e) {
    const lqmf_model *m = e->m;
    const lqmf_hparams *hp = &e->hp;
    size_t n_vec = 0, nt;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].n_dims == 1) n_vec += m->tensors[i].ne[0];
    if (!(e->vec = malloc((n_vec ? n_vec : 1) * sizeof *e->vec)))
        return lqmf_error(LQMF_E_NOMEM, "engine: out of memory for %zu norm/bias values", n_vec);
    e->scratch_bytes += n_vec * sizeof *e->vec;
    float *cur = e->vec;
    lqmf_status st;
    e->tok_embd = lqmf_model_tensor(m, "token_embd.weight");
    e->output = hp->tied_embeddings ? e->tok_embd : lqmf_model_tensor(m, "output.weight");
    if ((st = need_type(e->tok_embd, row_readable(e->tok_embd->type), "row lookup")) ||
        (st = take_mat(e, e->output)) ||
        (st = take_vec(e, lqmf_model_tensor(m, "output_norm.weight"), &cur, &e->out_norm)))
        return st;
    e->weight_bytes += e->tok_embd->nbytes + (hp->tied_embeddings ? 0 : e->output->nbytes);
    if (hp->arch == LQMF_ARCH_GPT2) {
        e->pos_embd = lqmf_model_tensor(m, "position_embd.weight");
        if ((st = need_type(e->pos_embd, row_readable(e->pos_embd->type), "row lookup")) ||
            (st = take_vec(e, lqmf_model_tensor(m, "output_norm.bias"), &cur, &e->out_norm_b)))
            return st;
        e->weight_bytes += e->pos_embd->nbytes;
    }
    const tdesc *tab = layer_table(hp, &nt);
    char name[LQMF_TENSOR_NAME_MAX];
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        for (size_t i = 0; i < nt; i++) {
            if (!tdesc_used(hp, &tab[i])) continue;
            snprintf(name, sizeof name, "blk.%u.%s", l, tab[i].name);
            const lqmf_tensor *t = lqmf_model_tensor(m, name); /* present: validated */
            if (tab[i].kind != K_MAT) {
                if ((st = take_vec(e, t, &cur, &e->layers[l].v[tab[i].slot]))) return st;
                continue;
            }
            if ((st = take_mat(e, t))) return st;
            e->layers[l].w[tab[i].slot] = t;
            e->weight_bytes += t->nbytes;
        }
    }
    return LQMF_OK;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static lqmf_status alloc_state(lqmf_engine *e, uint32_t n_threads) {
    const lqmf_hparams *hp = &e->hp;
    const size_t B = e->n_batch, qbuf = hp->arch == LQMF_ARCH_GPT2 ? 3 * (size_t)e->d : e->q_dim;
    struct {
        float **p;
        size_t n;
    } parts[] = {
        {&e->x, B * e->d},
        {&e->xb, B * e->d},
        {&e->xb2, B * e->q_dim},
        {&e->q, B * qbuf},
        {&e->hb, B * hp->n_ff},
        {&e->hb2, B * hp->n_ff},
        {&e->att, (size_t)n_threads * e->n_ctx},
        {&e->rope, B * e->hd},
        {&e->logits, hp->n_vocab},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) total += round16(parts[i].n);
    const size_t kv = (size_t)hp->n_layer * e->n_ctx * e->kv_dim;
    e->mem = aligned_alloc(64, total * sizeof(float));
    e->key_cache = calloc(kv, sizeof(float));
    e->value_cache = calloc(kv, sizeof(float));
    e->inv_freq = calloc(e->hd / 2 + 1, sizeof(double));
    e->mmq = malloc(LQMF_MM_MAX_JOBS * e->mmq_bytes + 1);
    if (!e->mem || !e->key_cache || !e->value_cache || !e->inv_freq || !e->mmq)
        return lqmf_error(LQMF_E_NOMEM,
                          "engine: out of memory (run state %zu floats, KV cache "
                          "2 x %zu floats)",
                          total, kv);
    float *p = e->mem;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        *parts[i].p = p;
        p += round16(parts[i].n);
    }
    e->scratch_bytes +=
        total * sizeof(float) + (e->hd / 2 + 1) * sizeof(double) + (size_t)hp->n_layer * sizeof(layer);
    if (hp->arch == LQMF_ARCH_LLAMA) rope_freqs(e->m, e->inv_freq);
    return LQMF_OK;
}

lqmf_status lqmf_engine_new(const lqmf_model *m, const lqmf_engine_params *p, lqmf_engine **out) {
    *out = NULL;
    lqmf_status st = lqmf_model_validate(m);
    if (st != LQMF_OK || (st = check_hparams(&m->hp)) != LQMF_OK) return st;
    const lqmf_hparams *hp = &m->hp;
    const lqmf_tensor *factors = lqmf_model_tensor(m, "rope_freqs.weight");
    if (factors && factors->type != LQMF_TYPE_F32)
        return lqmf_error(LQMF_E_UNSUPPORTED, "tensor rope_freqs.weight: type %s, F32 expected",
                          lqmf_type_name(factors->type));
    lqmf_engine_params prm = p ? *p : (lqmf_engine_params){0};
    if (!prm.n_ctx) prm.n_ctx = hp->n_ctx_train && hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (hp->arch == LQMF_ARCH_GPT2 && prm.n_ctx > hp->n_ctx_train)
        return lqmf_error(LQMF_E_INVALID, "gpt2: context %u exceeds the %u learned positions", prm.n_ctx,
                          hp->n_ctx_train);
    if (prm.n_ctx > (1u << 24))
        return lqmf_error(LQMF_E_INVALID, "engine: context %u is beyond 2^24", prm.n_ctx);
    if (!prm.n_threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        prm.n_threads = n > 0 ? (uint32_t)n : 1;
    }
    if (prm.n_threads > 256) prm.n_threads = 256;
    if (!prm.n_batch) prm.n_batch = 32;
    if (prm.n_batch > 4096) prm.n_batch = 4096;

    lqmf_engine *e = calloc(1, sizeof *e);
    if (!e) return lqmf_error(LQMF_E_NOMEM, "engine: out of memory");
    e->m = m;
    e->hp = *hp;
    e->k = lqmf_mm_kernels_get();
    e->n_ctx = prm.n_ctx;
    e->n_batch = prm.n_batch;
    e->d = hp->n_embd;
    e->hd = hp->head_dim;
    e->q_dim = hp->n_head * hp->head_dim;
    e->kv_dim = hp->n_head_kv * hp->head_dim;
    if (!(e->layers = calloc(hp->n_layer, sizeof *e->layers)))
        st = lqmf_error(LQMF_E_NOMEM, "engine: out of memory");
    if (st == LQMF_OK) st = bind_tensors(e);
    if (st == LQMF_OK) st = lqmf_pool_new(prm.n_threads, &e->pool);
    if (st == LQMF_OK) st = alloc_state(e, prm.n_threads);
    if (st != LQMF_OK) {
        lqmf_engine_free(e);
        return st;
    }
    *out = e;
    return LQMF_OK;
}

void lqmf_engine_free(lqmf_engine *e) {
    if (!e) return;
    lqmf_pool_free(e->pool);
    free(e->layers);
    free(e->vec);
    free(e->mem);
    free(e->key_cache);
    free(e->value_cache);
    free(e->inv_freq);
    free(e->mmq);
    free(e);
}

void lqmf_engine_use_kernels(lqmf_engine *e, const lqmf_mm_kernels *k) { e->k = k; }

void lqmf_engine_reset(lqmf_engine *e) { e->n_past = 0; }
void lqmf_engine_truncate(lqmf_engine *e, uint32_t n) { e->n_past = n < e->n_past ? n : e->n_past; }
uint32_t lqmf_engine_n_past(const lqmf_engine *e) { return e->n_past; }
const lqmf_model *lqmf_engine_model(const lqmf_engine *e) { return e->m; }

void lqmf_engine_set_hook(lqmf_engine *e, lqmf_engine_hook fn, void *user) {
    e->hook = fn;
    e->hook_user = user;
}

void lqmf_engine_get_info(const lqmf_engine *e, lqmf_engine_info *info) {
    *info = (lqmf_engine_info){
        .weight_bytes = e->weight_bytes,
        .kv_bytes = 2 * (uint64_t)e->hp.n_layer * e->n_ctx * e->kv_dim * sizeof(float),
        .scratch_bytes = e->scratch_bytes,
        .n_ctx = e->n_ctx,
        .n_threads = lqmf_pool_size(e->pool),
        .n_batch = e->n_batch,
        .isa = e->k->isa,
    };
}

/* ---- building blocks (rows of one chunk) ------------------------------------------ */

static void rmsnorm(float *o, const float *x, const float *w, uint32_t d, float eps) {
    double ss = 0;
    for (uint32_t i = 0; i < d; i++) ss += (double)x[i] * x[i];
    const float s = (float)(1.0 / sqrt(ss / d + eps));
    for (uint32_t i = 0; i < d; i++) o[i] = x[i] * s * w[i];
}

static void layernorm(float *o, const float *x, const float *w, const float *b, uint32_t d, float eps) {
    double mean = 0, var = 0;
    for (uint32_t i = 0; i < d; i++) mean += x[i];
    mean /= d;
    for (uint32_t i = 0; i < d; i++) var += (x[i] - mean) * (x[i] - mean);
    const double s = 1.0 / sqrt(var / d + eps);
    for (uint32_t i = 0; i < d; i++) o[i] = (float)((x[i] - mean) * s) * w[i] + b[i];
}

static void norm_rows(const lqmf_engine *e, float *o, const float *x, uint32_t n, const float *w,
                      const float *b) {
    for (uint32_t t = 0; t < n; t++) {
        if (e->hp.arch == LQMF_ARCH_GPT2)
            layernorm(o + t * e->d, x + t * e->d, w, b, e->d, e->hp.norm_eps);
        else
            rmsnorm(o + t * e->d, x + t * e->d, w, e->d, e->hp.norm_eps);
    }
}

/* y (n, dim) += bias (dim) on every row; y rows `stride` floats apart. */
static void add_bias(float *y, const float *bias, uint32_t n, uint32_t dim, size_t stride) {
    for (uint32_t t = 0; t < n; t++)
        for (uint32_t i = 0; i < dim; i++) y[t * stride + i] += bias[i];
}

static void add_rows(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* Rotate n_heads heads of hd values by the angles of one position:
 * cs = (hd/2) pairs (cos, sin). NORM pairs (2i, 2i+1), NEOX (i, i + hd/2). */
static void rope(float *v, uint32_t n_heads, uint32_t hd, const float *cs, lqmf_rope_layout layout) {
    const uint32_t half = hd / 2;
    for (uint32_t h = 0; h < n_heads; h++, v += hd) {
        for (uint32_t i = 0; i < half; i++) {
            const uint32_t a = layout == LQMF_ROPE_NEOX ? i : 2 * i;
            const uint32_t b = layout == LQMF_ROPE_NEOX ? i + half : 2 * i + 1;
            const float c = cs[2 * i], s = cs[2 * i + 1], x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

static void hook_in(const lqmf_engine *e, int32_t l, const lqmf_tensor *w, const float *x, uint32_t n) {
    if (e->hook) e->hook(e->hook_user, l, w->name, x, n, (uint32_t)w->ne[0]);
}

/* Matmuls sharing one input x (n rows): hook once per weight, one dispatch. */
static void matmul(lqmf_engine *e, int32_t l, const float *x, uint32_t n, uint32_t n_jobs,
                   const lqmf_tensor *const *w, float *const *y) {
    lqmf_mm_job jobs[LQMF_MM_MAX_JOBS];
    for (uint32_t i = 0; i < n_jobs; i++) {
        hook_in(e, l, w[i], x, n);
        jobs[i] = (lqmf_mm_job){w[i], x, y[i]};
    }
    lqmf_mm(e->pool, e->k, jobs, n_jobs, n, e->mmq);
}

/* ---- attention -------------------------------------------------------------------- */

typedef struct {
    lqmf_engine *e;
    uint32_t l, n, pos;
    const float *q; /* row t of head h at q + t * q_stride + h * hd */
    size_t q_stride;
    atomic_uint next;
} att_ctx;

/* One (token, head) at a time: softmax(q k^T / sqrt(hd)) v over the cached
 * positions the token may see, into xb2. */
static void att_worker(void *arg, uint32_t ith, uint32_t nth) {
    (void)nth;
    att_ctx *c = arg;
    const lqmf_engine *e = c->e;
    const lqmf_hparams *hp = &e->hp;
    const uint32_t hd = e->hd, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    const lqmf_dot_fn dot = e->k->dot[LQMF_TYPE_F32];
    const size_t layer_off = (size_t)c->l * e->n_ctx * e->kv_dim;
    float *s = e->att + (size_t)ith * e->n_ctx;
    for (uint32_t u; (u = atomic_fetch_add(&c->next, 1)) < c->n * hp->n_head;) {
        const uint32_t t = u / hp->n_head, h = u % hp->n_head, p = c->pos + t;
        const uint32_t lo = hp->sliding_window && p >= hp->sliding_window ? p + 1 - hp->sliding_window : 0;
        const float *qv = c->q + t * c->q_stride + h * hd;
        const float *kc = e->key_cache + layer_off + (h / group) * hd;
        const float *vc = e->value_cache + layer_off + (h / group) * hd;
        for (uint32_t j = lo; j <= p; j += LQMF_DOT_NX) { /* q against up to 4 cached keys */
            const uint32_t nx = p + 1 - j < LQMF_DOT_NX ? p + 1 - j : LQMF_DOT_NX;
            dot(hd, qv, 0, 1, kc + (size_t)j * e->kv_dim, e->kv_dim, nx, &s[j], 1);
        }
        float mx = -INFINITY, sum = 0;
        for (uint32_t j = lo; j <= p; j++) mx = s[j] > mx ? s[j] : mx;
        for (uint32_t j = lo; j <= p; j++) sum += s[j] = expf((s[j] - mx) * scale);
        float *o = e->xb2 + (size_t)t * e->q_dim + h * hd;
        memset(o, 0, hd * sizeof *o);
        for (uint32_t j = lo; j <= p; j++) e->k->axpy(hd, s[j] / sum, vc + (size_t)j * e->kv_dim, o);
    }
}

static void attention(lqmf_engine *e, uint32_t l, uint32_t n, uint32_t pos, const float *q, size_t q_stride) {
    att_ctx c = {.e = e, .l = l, .n = n, .pos = pos, .q = q, .q_stride = q_stride};
    atomic_init(&c.next, 0);
    const uint64_t work = (uint64_t)n * e->hp.n_head * (pos + n) * e->hd; /* an upper bound */
    lqmf_pool_run(e->pool, att_worker, &c, work);
}

/* ---- layers --------------------------------------------------------------------- */

static inline float silu(float x) { return x / (1.0f + expf(-x)); }
static inline float gelu_new(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

static void llama_layer(lqmf_engine *e, uint32_t l, uint32_t n, uint32_t pos) {
    const layer *L = &e->layers[l];
    const lqmf_hparams *hp = &e->hp;
    float *kc = e->key_cache + ((size_t)l * e->n_ctx + pos) * e->kv_dim;
    float *vc = e->value_cache + ((size_t)l * e->n_ctx + pos) * e->kv_dim;
    norm_rows(e, e->xb, e->x, n, L->v[V_ATTN_NORM], NULL);
    matmul(e, (int32_t)l, e->xb, n, 3, (const lqmf_tensor *[]){L->w[W_Q], L->w[W_K], L->w[W_V]},
           (float *[]){e->q, kc, vc});
    if (hp->qkv_bias) {
        add_bias(e->q, L->v[V_BQ], n, e->q_dim, e->q_dim);
        add_bias(kc, L->v[V_BK], n, e->kv_dim, e->kv_dim);
        add_bias(vc, L->v[V_BV], n, e->kv_dim, e->kv_dim);
    }
    for (uint32_t t = 0; t < n; t++) {
        rope(e->q + (size_t)t * e->q_dim, hp->n_head, e->hd, e->rope + (size_t)t * e->hd, hp->rope_layout);
        rope(kc + (size_t)t * e->kv_dim, hp->n_head_kv, e->hd, e->rope + (size_t)t * e->hd, hp->rope_layout);
    }
    attention(e, l, n, pos, e->q, e->q_dim);
    matmul(e, (int32_t)l, e->xb2, n, 1, &L->w[W_O], &e->xb);
    add_rows(e->x, e->xb, (size_t)n * e->d);

    norm_rows(e, e->xb, e->x, n, L->v[V_FFN_NORM], NULL);
    matmul(e, (int32_t)l, e->xb, n, 2, (const lqmf_tensor *[]){L->w[W_GATE], L->w[W_UP]},
           (float *[]){e->hb, e->hb2});
    for (size_t i = 0; i < (size_t)n * hp->n_ff; i++) e->hb[i] = silu(e->hb[i]) * e->hb2[i];
    matmul(e, (int32_t)l, e->hb, n, 1, &L->w[W_DOWN], &e->xb);
    add_rows(e->x, e->xb, (size_t)n * e->d);
}

static void gpt2_layer(lqmf_engine *e, uint32_t l, uint32_t n, uint32_t pos) {
    const layer *L = &e->layers[l];
    const uint32_t d = e->d;
    norm_rows(e, e->xb, e->x, n, L->v[V_ATTN_NORM], L->v[V_ATTN_NORM_B]);
    matmul(e, (int32_t)l, e->xb, n, 1, &L->w[W_QKV], &e->q);
    add_bias(e->q, L->v[V_BQKV], n, 3 * d, 3 * (size_t)d);
    for (uint32_t t = 0; t < n; t++) { /* rows d..2d-1 of qkv are k, 2d..3d-1 are v */
        const size_t c = ((size_t)l * e->n_ctx + pos + t) * d;
        memcpy(e->key_cache + c, e->q + (size_t)t * 3 * d + d, d * sizeof(float));
        memcpy(e->value_cache + c, e->q + (size_t)t * 3 * d + 2 * d, d * sizeof(float));
    }
    attention(e, l, n, pos, e->q, 3 * (size_t)d);
    matmul(e, (int32_t)l, e->xb2, n, 1, &L->w[W_O], &e->xb);
    add_bias(e->xb, L->v[V_BO], n, d, d);
    add_rows(e->x, e->xb, (size_t)n * d);

    norm_rows(e, e->xb, e->x, n, L->v[V_FFN_NORM], L->v[V_FFN_NORM_B]);
    matmul(e, (int32_t)l, e->xb, n, 1, &L->w[W_UP], &e->hb);
    add_bias(e->hb, L->v[V_UP_B], n, e->hp.n_ff, e->hp.n_ff);
    for (size_t i = 0; i < (size_t)n * e->hp.n_ff; i++) e->hb[i] = gelu_new(e->hb[i]);
    matmul(e, (int32_t)l, e->hb, n, 1, &L->w[W_DOWN], &e->xb);
    add_bias(e->xb, L->v[V_DOWN_B], n, d, d);
    add_rows(e->x, e->xb, (size_t)n * d);
}

/* Tokens of one chunk (n <= n_batch) through the embedding and all layers
 * into e->x; their K and V land in the cache at pos..pos+n-1. */
static void forward_chunk(lqmf_engine *e, const int32_t *tokens, uint32_t n, uint32_t pos) {
    const uint32_t d = e->d;
    for (uint32_t t = 0; t < n; t++) {
        lqmf_row_to_f32(e->tok_embd, (uint64_t)tokens[t], e->x + (size_t)t * d);
        if (e->pos_embd) {
            lqmf_row_to_f32(e->pos_embd, pos + t, e->xb);
            add_rows(e->x + (size_t)t * d, e->xb, d);
        }
        for (uint32_t i = 0; e->hp.arch == LQMF_ARCH_LLAMA && i < e->hd / 2; i++) {
            const double a = (double)(pos + t) * e->inv_freq[i];
            e->rope[(size_t)t * e->hd + 2 * i] = (float)cos(a);
            e->rope[(size_t)t * e->hd + 2 * i + 1] = (float)sin(a);
        }
    }
    char name[32];
    for (uint32_t l = 0; l < e->hp.n_layer; l++) {
        if (e->hp.arch == LQMF_ARCH_GPT2)
            gpt2_layer(e, l, n, pos);
        else
            llama_layer(e, l, n, pos);
        if (e->hook) {
            snprintf(name, sizeof name, "blk.%u.out", l);
            e->hook(e->hook_user, (int32_t)l, name, e->x, n, d);
        }
    }
}

/* Final norm and output projection of n rows of x into logits (n, n_vocab). */
static void output_rows(lqmf_engine *e, const float *x, uint32_t n, float *logits) {
    norm_rows(e, e->xb, x, n, e->out_norm, e->out_norm_b);
    matmul(e, -1, e->xb, n, 1, &e->output, &logits);
}

lqmf_status lqmf_engine_eval(lqmf_engine *e, const int32_t *tokens, uint32_t n, uint32_t pos,
                             lqmf_logits_mode mode, float *logits) {
    if (pos > e->n_past)
        return lqmf_error(LQMF_E_INVALID, "engine: position %u is past the %u cached tokens", pos, e->n_past);
    if (n > e->n_ctx - pos)
        return lqmf_error(LQMF_E_INVALID, "engine: %u tokens at position %u overflow the context of %u", n,
                          pos, e->n_ctx);
    if (mode != LQMF_LOGITS_NONE && (!logits || !n))
        return lqmf_error(LQMF_E_INVALID, "engine: logits asked for %u tokens without a buffer", n);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= e->hp.n_vocab)
            return lqmf_error(LQMF_E_INVALID,
                              "engine: token %d at index %u is outside the vocabulary "
                              "of %u",
                              tokens[i], i, e->hp.n_vocab);
    e->n_past = pos;
    for (uint32_t c0 = 0; c0 < n; c0 += e->n_batch) {
        const uint32_t nc = n - c0 < e->n_batch ? n - c0 : e->n_batch;
        forward_chunk(e, tokens + c0, nc, pos + c0);
        e->n_past = pos + c0 + nc;
        if (mode == LQMF_LOGITS_ALL)
            output_rows(e, e->x, nc, logits + (size_t)c0 * e->hp.n_vocab);
        else if (mode == LQMF_LOGITS_LAST && c0 + nc == n)
            output_rows(e, e->x + (size_t)(nc - 1) * e->d, 1, logits);
    }
    return LQMF_OK;
}

/* ---- generation ------------------------------------------------------------------ */

lqmf_status lqmf_engine_generate(lqmf_engine *e, lqmf_sampler *s, const int32_t *prompt, uint32_t n_prompt,
                                 uint32_t max_new, lqmf_token_cb cb, void *user, lqmf_gen_stats *stats) {
    lqmf_gen_stats st0 = {.n_prompt = n_prompt, .reason = LQMF_STOP_MAX};
    lqmf_gen_stats *gs = stats ? stats : &st0;
    *gs = st0;
    if (!n_prompt) return lqmf_error(LQMF_E_INVALID, "generate: empty prompt");
    double t0 = lqmf_time_now();
    lqmf_status st = lqmf_engine_eval(e, prompt, n_prompt, e->n_past, LQMF_LOGITS_LAST, e->logits);
    if (st != LQMF_OK) return st;
    for (uint32_t i = 0; i < n_prompt; i++) lqmf_sampler_accept(s, prompt[i]);
    double t1 = lqmf_time_now();
    gs->t_prompt = t1 - t0;
    for (;;) {
        if (gs->n_gen == max_new) break;
        if (e->n_past == e->n_ctx) {
            gs->reason = LQMF_STOP_CTX;
            break;
        }
        int32_t tok = lqmf_sampler_sample(s, e->logits);
        if (tok == e->hp.eos_id) {
            gs->reason = LQMF_STOP_EOS;
            break;
        }
        lqmf_sampler_accept(s, tok);
        gs->n_gen++;
        bool more = !cb || cb(user, tok);
        if ((st = lqmf_engine_eval(e, &tok, 1, e->n_past, LQMF_LOGITS_LAST, e->logits))) break;
        if (!more) {
            gs->reason = LQMF_STOP_CALLBACK;
            break;
        }
    }
    gs->t_gen = lqmf_time_now() - t1;
    return st;
}

/* ---- random models --------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}
static float rng_sym(uint64_t *s) { /* uniform in [-1, 1) */
    return (float)(rng_next(s) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

/* Add a tensor {ne0, ne1} (ne1 = 1: 1-D) filled with base + scale * U(-1, 1),
 * stored as type (quantized row by row with lqmf_quant_tensor unless F32). */
static lqmf_status add_random(lqmf_model *m, const char *name, lqmf_type type, uint64_t ne0, uint64_t ne1,
                              float base, float scale, uint64_t *rng) {
    uint64_t ne[2] = {ne0, ne1}, rb = 0;
    float *f = malloc(ne0 * (type == LQMF_TYPE_F32 ? ne1 : 1) * sizeof *f);
    uint8_t *data = type == LQMF_TYPE_F32 ? (uint8_t *)f : NULL;
    if (f && !data && lqmf_type_row_bytes(type, ne0, &rb)) data = malloc(rb * ne1);
    if (!data) {
        free(f);
        return lqmf_error(LQMF_E_NOMEM, "random model: out of memory for %s", name);
    }
    lqmf_status st = LQMF_OK;
    for (uint64_t r = 0; r < ne1 && st == LQMF_OK; r++) {
        float *row = type == LQMF_TYPE_F32 ? f + r * ne0 : f;
        for (uint64_t i = 0; i < ne0; i++) row[i] = base + scale * rng_sym(rng);
        if (type != LQMF_TYPE_F32) st = lqmf_quant_tensor(type, row, data + r * rb, 1, (int64_t)ne0, NULL);
    }
    if (data != (uint8_t *)f) free(f);
    if (st != LQMF_OK) {
        free(data);
        return lqmf_error_prefix(st, "random model: %s", name);
    }
    return lqmf_model_add_tensor(m, name, type, ne1 > 1 ? 2 : 1, ne, data, true);
}

lqmf_status lqmf_engine_random_model(const lqmf_hparams *hp, lqmf_type type, uint64_t seed,
                                     lqmf_model **out) {
    *out = NULL;
    const lqmf_type_traits *tt = lqmf_type_get(type);
    if (!tt || !lqmf_quant_traits_get(type))
        return lqmf_error(LQMF_E_UNSUPPORTED, "random model: type %s has no quantizer", lqmf_type_name(type));
    const lqmf_type vec = tt->quantized ? LQMF_TYPE_F32 : type; /* norms and biases */
    lqmf_model *m;
    lqmf_status st = lqmf_model_new(hp, &m);
    if (st != LQMF_OK) return st;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    const uint64_t d = hp->n_embd;
    const float emb = 1.0f, mat_d = 1.0f / sqrtf((float)d);
    bool gpt2 = hp->arch == LQMF_ARCH_GPT2;
    if (!st) st = add_random(m, "token_embd.weight", type, d, hp->n_vocab, 0, emb, &rng);
    if (!st && gpt2) st = add_random(m, "position_embd.weight", type, d, hp->n_ctx_train, 0, 0.5f, &rng);
    if (!st && !hp->tied_embeddings)
        st = add_random(m, "output.weight", type, d, hp->n_vocab, 0, mat_d, &rng);
    if (!st) st = add_random(m, "output_norm.weight", vec, d, 1, 1, 0.1f, &rng);
    if (!st && gpt2) st = add_random(m, "output_norm.bias", vec, d, 1, 0, 0.1f, &rng);
    size_t nt;
    const tdesc *tab = layer_table(hp, &nt);
    char name[LQMF_TENSOR_NAME_MAX];
    for (uint32_t l = 0; !st && l < hp->n_layer; l++) {
        for (size_t i = 0; !st && i < nt; i++) {
            if (!tdesc_used(hp, &tab[i])) continue;
            snprintf(name, sizeof name, "blk.%u.%s", l, tab[i].name);
            const uint64_t ne0 = dim_of(hp, tab[i].ne0), ne1 = dim_of(hp, tab[i].ne1);
            const float base = tab[i].kind == K_NORM ? 1 : 0;
            const float scale = tab[i].kind == K_MAT ? 1.0f / sqrtf((float)ne0) : 0.1f;
            st = add_random(m, name, tab[i].kind == K_MAT ? type : vec, ne0, ne1, base, scale, &rng);
        }
    }
    if (!st) st = lqmf_model_validate(m);
    if (st) {
        lqmf_model_close(m);
        return st;
    }
    *out = m;
    return LQMF_OK;
}
