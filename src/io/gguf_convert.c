/* lqmf_model_write_gguf: any opened model to a GGUF file, tensor by tensor
 * through the streaming GGUF writer. See include/lqmf/gguf_convert.h. */
#include "lqmf/gguf_convert.h"
#include "lqmf/gguf.h"
#include "model_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        lqmf_status st_ = (expr);                                                                            \
        if (st_ != LQMF_OK) return st_;                                                                      \
    } while (0)

/* llama.cpp's llama_ftype values used by the automatic file type. */
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_F16 = 1, FTYPE_MOSTLY_BF16 = 32 };
#define QUANTIZATION_VERSION 2

lqmf_gguf_convert_opts lqmf_gguf_convert_default_opts(void) {
    lqmf_gguf_convert_opts o;
    memset(&o, 0, sizeof o);
    o.float_type = LQMF_TYPE_COUNT;
    o.file_type = LQMF_GGUF_FILE_TYPE_AUTO;
    return o;
}

static bool is_float(lqmf_type t) { return t == LQMF_TYPE_F32 || t == LQMF_TYPE_F16 || t == LQMF_TYPE_BF16; }

static void to_f32(lqmf_type t, const void *src, uint64_t n, float *dst) {
    const uint16_t *h = src;
    for (uint64_t i = 0; i < n; i++) {
        if (t == LQMF_TYPE_F32)
            memcpy(&dst[i], (const uint8_t *)src + 4 * i, 4);
        else
            dst[i] = t == LQMF_TYPE_F16 ? lqmf_fp16_to_f32(h[i]) : lqmf_bf16_to_f32(h[i]);
    }
}

static void from_f32(lqmf_type t, const float *src, uint64_t n, void *dst) {
    uint16_t *h = dst;
    for (uint64_t i = 0; i < n; i++) {
        if (t == LQMF_TYPE_F32)
            memcpy((uint8_t *)dst + 4 * i, &src[i], 4);
        else
            h[i] = t == LQMF_TYPE_F16 ? lqmf_f32_to_fp16(src[i]) : lqmf_f32_to_bf16(src[i]);
    }
}

static uint64_t n_elems(const lqmf_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

/* ---- Q/K permutation ---------------------------------------------------------
 * Rows of one head are [first half | second half] of the rotary dims in the
 * NEOX layout; GGUF llama wants them interleaved: new row h*hd + 2j + t is
 * old row h*hd + t*hd/2 + j (the reshape(n_head, 2, hd/2, cols).swapaxes(1, 2)
 * of llama.cpp's converter). */
static void permute_rows(uint8_t *dst, const uint8_t *src, uint64_t n_rows, uint64_t row_bytes,
                         uint32_t n_head) {
    const uint64_t hd = n_rows / n_head, half = hd / 2;
    for (uint64_t h = 0; h < n_head; h++)
        for (uint64_t j = 0; j < half; j++)
            for (uint64_t t = 0; t < 2; t++)
                memcpy(dst + (h * hd + 2 * j + t) * row_bytes, src + (h * hd + t * half + j) * row_bytes,
                       row_bytes);
}

/* Heads whose rows t must be permuted by (0: none). */
static uint32_t permute_heads(const lqmf_model *m, const lqmf_tensor *t) {
    if (m->hp.arch != LQMF_ARCH_LLAMA || m->hp.rope_layout != LQMF_ROPE_NEOX) return 0;
    const char *p = strncmp(t->name, "blk.", 4) == 0 ? strchr(t->name + 4, '.') : NULL;
    if (!p) return 0;
    if (strcmp(p, ".attn_q.weight") == 0 || strcmp(p, ".attn_q.bias") == 0) return m->hp.n_head;
    if (strcmp(p, ".attn_k.weight") == 0 || strcmp(p, ".attn_k.bias") == 0) return m->hp.n_head_kv;
    return 0;
}

/* ---- per-tensor plan ----------------------------------------------------------- */

/* The type tensor t is written as. */
static lqmf_status plan_type(const lqmf_model *m, const lqmf_tensor *t, const lqmf_gguf_convert_opts *o,
                             lqmf_type *out) {
    lqmf_type type = t->type;
    if (is_float(t->type)) {
        if (t->n_dims == 1)
            type = LQMF_TYPE_F32;
        else if (o->float_type != LQMF_TYPE_COUNT)
            type = o->float_type;
    }
    if (o->tensor_type) type = o->tensor_type(o->user, m, t);
    const lqmf_type_traits *tr = lqmf_type_get(type);
    uint64_t row;
    if (!tr) return lqmf_error(LQMF_E_INVALID, "tensor %s: invalid target type id %d", t->name, (int)type);
    if (type != t->type && !is_float(t->type))
        return lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: cannot convert a %s tensor to %s", t->name,
                          lqmf_type_name(t->type), lqmf_type_name(type));
    if (type != t->type && !is_float(type) && !o->quantize)
        return lqmf_error(LQMF_E_INVALID, "tensor %s: type %s needs a quantize function", t->name,
                          lqmf_type_name(type));
    if (!lqmf_type_row_bytes(type, t->ne[0], &row))
        return lqmf_error(LQMF_E_INVALID, "tensor %s: rows of %llu elements do not fit type %s (block %u)",
                          t->name, (unsigned long long)t->ne[0], lqmf_type_name(type), tr->block_size);
    *out = type;
    return LQMF_OK;
}

/* ---- metadata ---------------------------------------------------------------- */

/* Automatic general.file_type from the most common 2-D tensor type; -1 when
 * that type has no single llama_ftype. */
static int32_t auto_file_type(const lqmf_model *m, const lqmf_type *types) {
    static const struct {
        lqmf_type t;
        int32_t ftype;
    } map[] = {{LQMF_TYPE_F32, FTYPE_ALL_F32},
               {LQMF_TYPE_F16, FTYPE_MOSTLY_F16},
               {LQMF_TYPE_BF16, FTYPE_MOSTLY_BF16},
               {LQMF_TYPE_Q4_0, 2},
               {LQMF_TYPE_Q4_1, 3},
               {LQMF_TYPE_Q8_0, 7},
               {LQMF_TYPE_Q5_0, 8},
               {LQMF_TYPE_Q5_1, 9}};
    uint64_t count[LQMF_TYPE_COUNT] = {0};
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].n_dims >= 2) count[types[i]] += n_elems(&m->tensors[i]);
    size_t best = 0;
    for (size_t t = 1; t < LQMF_TYPE_COUNT; t++)
        if (count[t] > count[best]) best = t;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].t == (lqmf_type)best) return map[i].ftype;
    return -1;
}

/* The model's file or folder name without extension, into buf. */
static const char *default_name(const lqmf_model *m, char *buf, size_t n) {
    const char *p = m->path ? m->path : "model";
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && p[start - 1] != '/') start--;
    size_t end = len;
    for (size_t i = start; i < len; i++)
        if (p[i] == '.') end = i;
    if (end == start) end = len;
    snprintf(buf, n, "%.*s", (int)(end - start), p + start);
    return buf;
}

static lqmf_status set_u32(lqmf_gguf_writer *w, const char *arch, const char *suffix, uint32_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return lqmf_gguf_writer_set_u32(w, key, v);
}

static lqmf_status set_f32(lqmf_gguf_writer *w, const char *arch, const char *suffix, float v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return lqmf_gguf_writer_set_f32(w, key, v);
}

static lqmf_status arch_keys(lqmf_gguf_writer *w, const lqmf_hparams *hp) {
    const char *a = lqmf_arch_name(hp->arch);
    TRY(lqmf_gguf_writer_set_str(w, "general.architecture", a));
    TRY(set_u32(w, a, "vocab_size", hp->n_vocab));
    TRY(set_u32(w, a, "context_length", hp->n_ctx_train));
    TRY(set_u32(w, a, "embedding_length", hp->n_embd));
    TRY(set_u32(w, a, "block_count", hp->n_layer));
    TRY(set_u32(w, a, "feed_forward_length", hp->n_ff));
    TRY(set_u32(w, a, "attention.head_count", hp->n_head));
    if (hp->arch == LQMF_ARCH_GPT2) return set_f32(w, a, "attention.layer_norm_epsilon", hp->norm_eps);
    TRY(set_u32(w, a, "attention.head_count_kv", hp->n_head_kv));
    TRY(set_f32(w, a, "attention.layer_norm_rms_epsilon", hp->norm_eps));
    if ((uint64_t)hp->head_dim * hp->n_head != hp->n_embd) {
        TRY(set_u32(w, a, "attention.key_length", hp->head_dim));
        TRY(set_u32(w, a, "attention.value_length", hp->head_dim));
    }
    TRY(set_u32(w, a, "rope.dimension_count", hp->head_dim));
    TRY(set_f32(w, a, "rope.freq_base", hp->rope_theta));
    if (hp->sliding_window) TRY(set_u32(w, a, "attention.sliding_window", hp->sliding_window));
    if (hp->rope_scaling == LQMF_ROPE_SCALING_LINEAR) {
        TRY(lqmf_gguf_writer_set_str(w, "llama.rope.scaling.type", "linear"));
        TRY(set_f32(w, a, "rope.scaling.factor", hp->rope_factor));
    } else if (hp->rope_scaling == LQMF_ROPE_SCALING_LLAMA3) {
        /* llama.cpp reads the rope_freqs.weight tensor; these keep the parameters */
        TRY(lqmf_gguf_writer_set_str(w, "lqmf.rope.scaling.type", "llama3"));
        TRY(set_f32(w, "lqmf", "rope.scaling.factor", hp->rope_factor));
        TRY(set_f32(w, "lqmf", "rope.scaling.low_freq_factor", hp->rope_low_freq_factor));
        TRY(set_f32(w, "lqmf", "rope.scaling.high_freq_factor", hp->rope_high_freq_factor));
        TRY(set_u32(w, "lqmf", "rope.scaling.original_context_length", hp->rope_orig_ctx));
    }
    return LQMF_OK;
}

/* Tokenizer keys: copied from a GGUF source; other sources get them from
 * the tokenizer module. */
static lqmf_status tokenizer_keys(lqmf_gguf_writer *w, const lqmf_model *m) {
    const lqmf_gguf *src = lqmf_model_gguf_source(m);
    if (src) {
        for (uint64_t i = 0; i < lqmf_gguf_n_kv(src); i++) {
            const lqmf_gguf_kv *kv = lqmf_gguf_kv_at(src, i);
            if (strncmp(kv->key, "tokenizer.", 10) == 0)
                TRY(lqmf_gguf_writer_set_value(w, kv->key, &kv->value));
        }
        return LQMF_OK;
    }
    /* The vocabulary of HF and llama2.c sources comes from the tokenizer
     * module (a layer beside this one): callers add it through the metadata
     * hook (the quantizer does). Here only the special token ids. */
    if (m->hp.bos_id >= 0)
        TRY(lqmf_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)m->hp.bos_id));
    if (m->hp.eos_id >= 0)
        TRY(lqmf_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)m->hp.eos_id));
    return LQMF_OK;
}

static lqmf_status metadata(lqmf_gguf_writer *w, const lqmf_model *m, const lqmf_gguf_convert_opts *o,
                            const lqmf_type *types, bool quantized) {
    char name[256];
    TRY(arch_keys(w, &m->hp));
    TRY(lqmf_gguf_writer_set_str(w, "general.name", o->name ? o->name : default_name(m, name, sizeof name)));
    int32_t ftype = o->file_type >= 0 ? o->file_type : auto_file_type(m, types);
    if (ftype >= 0) TRY(lqmf_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype));
    if (quantized) TRY(lqmf_gguf_writer_set_u32(w, "general.quantization_version", QUANTIZATION_VERSION));
    TRY(lqmf_gguf_writer_set_str(w, "general.quantized_by", "lqmf"));
    if (o->source_url) TRY(lqmf_gguf_writer_set_str(w, "general.source.url", o->source_url));
    if (o->source_repo)
        TRY(lqmf_gguf_writer_set_str(w, "general.source.huggingface.repository", o->source_repo));
    TRY(tokenizer_keys(w, m));
    return o->metadata ? o->metadata(o->user, m, w) : LQMF_OK;
}

/* llama3 rope scaling as llama.cpp's rope_freqs.weight: one factor per
 * rotary frequency i (head_dim / 2 of them), as its converter computes them. */
static float *llama3_rope_factors(const lqmf_hparams *hp) {
    const uint32_t n = hp->head_dim / 2;
    float *f = malloc(n * sizeof *f);
    if (!f) return NULL;
    const double lo_wl = hp->rope_orig_ctx / (double)hp->rope_low_freq_factor;
    const double hi_wl = hp->rope_orig_ctx / (double)hp->rope_high_freq_factor;
    for (uint32_t i = 0; i < n; i++) {
        double freq = 1.0 / pow(hp->rope_theta, (double)(2 * i) / hp->head_dim);
        double wavelen = 2 * M_PI / freq;
        if (wavelen < hi_wl)
            f[i] = 1;
        else if (wavelen > lo_wl)
            f[i] = hp->rope_factor;
        else {
            double smooth = (hp->rope_orig_ctx / wavelen - hp->rope_low_freq_factor) /
                            (hp->rope_high_freq_factor - hp->rope_low_freq_factor);
            f[i] = (float)(1 / ((1 - smooth) / hp->rope_factor + smooth));
        }
    }
    return f;
}

/* ---- tensor data ------------------------------------------------------------- */

typedef struct {
    uint8_t *perm; /* permuted source bytes */
    float *f32;    /* values as f32 */
    uint8_t *out;  /* converted output */
} scratch;

/* Bytes of tensor t as `type` (after the permutation): t->data itself or a
 * scratch buffer. */
static lqmf_status tensor_out(const lqmf_model *m, const lqmf_tensor *t, lqmf_type type,
                              const lqmf_gguf_convert_opts *o, scratch *s, const void **data,
                              uint64_t *nbytes) {
    const void *src = t->data;
    uint32_t heads = permute_heads(m, t);
    if (heads) {
        uint64_t n_rows = t->n_dims == 1 ? t->ne[0] : t->ne[1];
        if (n_rows % (2 * (uint64_t)heads) || t->ne[2] * t->ne[3] != 1)
            return lqmf_error(LQMF_E_FORMAT, "tensor %s: %llu rows cannot be permuted for %u rotary heads",
                              t->name, (unsigned long long)n_rows, heads);
        if (!(s->perm = malloc(t->nbytes)))
            return lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", t->name);
        permute_rows(s->perm, t->data, n_rows, t->nbytes / n_rows, heads);
        src = s->perm;
    }
    const uint64_t n = n_elems(t);
    if (!lqmf_type_tensor_bytes(type, t->ne[0], n, nbytes))
        return lqmf_error(LQMF_E_INVALID, "tensor %s: size overflows", t->name);
    if (type == t->type) {
        *data = src;
        return LQMF_OK;
    }
    s->f32 = malloc(n * sizeof *s->f32);
    s->out = malloc(*nbytes ? *nbytes : 1);
    if (!s->f32 || !s->out) return lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", t->name);
    to_f32(t->type, src, n, s->f32);
    if (is_float(type))
        from_f32(type, s->f32, n, s->out);
    else
        TRY(o->quantize(o->user, t, type, s->f32, s->out, *nbytes));
    *data = s->out;
    return LQMF_OK;
}

static void scratch_free(scratch *s) {
    free(s->perm);
    free(s->f32);
    free(s->out);
    memset(s, 0, sizeof *s);
}

static lqmf_status write_tensors(lqmf_gguf_writer *w, const lqmf_model *m, const lqmf_gguf_convert_opts *o,
                                 const lqmf_type *types, const float *rope_factors, uint32_t first) {
    if (rope_factors)
        TRY(lqmf_gguf_writer_write_tensor(w, 0, rope_factors, (uint64_t)m->hp.head_dim / 2 * 4));
    for (size_t i = 0; i < m->n_tensors; i++) {
        scratch s = {0};
        const void *data = NULL;
        uint64_t nbytes = 0;
        lqmf_status st = tensor_out(m, &m->tensors[i], types[i], o, &s, &data, &nbytes);
        if (st == LQMF_OK) st = lqmf_gguf_writer_write_tensor(w, first + (uint32_t)i, data, nbytes);
        scratch_free(&s);
        if (st != LQMF_OK) return lqmf_error_prefix(st, "%s", m->tensors[i].name);
        if (o->progress && !o->progress(o->user, i, m->n_tensors, &m->tensors[i]))
            return lqmf_error(LQMF_E_INTERRUPTED, "stopped after tensor %s", m->tensors[i].name);
    }
    return LQMF_OK;
}

static lqmf_status write_all(lqmf_gguf_writer *w, const lqmf_model *m, const char *path,
                             const lqmf_gguf_convert_opts *o, lqmf_type *types) {
    bool quantized = false;
    for (size_t i = 0; i < m->n_tensors; i++) {
        TRY(plan_type(m, &m->tensors[i], o, &types[i]));
        quantized |= lqmf_type_get(types[i])->quantized;
    }
    TRY(metadata(w, m, o, types, quantized));
    float *rope_factors = NULL;
    uint32_t first = 0;
    if (m->hp.arch == LQMF_ARCH_LLAMA && m->hp.rope_scaling == LQMF_ROPE_SCALING_LLAMA3) {
        if (!(rope_factors = llama3_rope_factors(&m->hp))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        const uint64_t ne = m->hp.head_dim / 2;
        lqmf_status st =
            lqmf_gguf_writer_add_tensor_info(w, "rope_freqs.weight", LQMF_TYPE_F32, 1, &ne, NULL);
        if (st != LQMF_OK) {
            free(rope_factors);
            return st;
        }
        first = 1;
    }
    lqmf_status st = LQMF_OK;
    for (size_t i = 0; i < m->n_tensors && st == LQMF_OK; i++) {
        const lqmf_tensor *t = &m->tensors[i];
        st = lqmf_gguf_writer_add_tensor_info(w, t->name, types[i], t->n_dims, t->ne, NULL);
    }
    if (st == LQMF_OK) st = lqmf_gguf_writer_begin(w, path);
    if (st == LQMF_OK) st = write_tensors(w, m, o, types, rope_factors, first);
    free(rope_factors);
    return st == LQMF_OK ? lqmf_gguf_writer_finish(w) : st;
}

lqmf_status lqmf_model_write_gguf(const lqmf_model *m, const char *path, const lqmf_gguf_convert_opts *opts) {
    const lqmf_gguf_convert_opts dflt = lqmf_gguf_convert_default_opts();
    const lqmf_gguf_convert_opts *o = opts ? opts : &dflt;
    if (o->float_type != LQMF_TYPE_COUNT && !is_float(o->float_type))
        return lqmf_error(LQMF_E_INVALID, "float_type %s is not F32, F16 or BF16",
                          lqmf_type_name(o->float_type));
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    lqmf_type *types = malloc((m->n_tensors ? m->n_tensors : 1) * sizeof *types);
    lqmf_status st = w && types ? write_all(w, m, path, o, types) : lqmf_error(LQMF_E_NOMEM, "out of memory");
    lqmf_gguf_writer_free(w);
    free(types);
    if (st != LQMF_OK) return lqmf_error_prefix(st, "%s", path);
    return LQMF_OK;
}
