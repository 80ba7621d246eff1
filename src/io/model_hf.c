/* Hugging Face folders: config.json + model.safetensors (or a sharded
 * index) into an lqmf_model. F32 / F16 / BF16 tensors are views of the
 * mapping (HF shape [rows, cols] reversed into ne = {cols, rows}); F64 is
 * converted to F32 and GPT-2 Conv1D weights ([in, out] in the file) are
 * transposed, both into owned buffers. A bitsandbytes or GPTQ checkpoint
 * (config.json with a quantization_config) has its quantized linears decoded
 * into owned F32 [out, in] buffers (lqmf_hfq_dequantize; the one use of a
 * quant-layer codec by the loader) and their companion tensors consumed. */
#include "lqmf/hf_config.h"
#include "lqmf/hfq.h"
#include "lqmf/safetensors.h"
#include "model_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void st_cleanup(void *p) { lqmf_st_close(p); }

/* Internal name -> HF name (for "missing tensor" messages). GPT-2 files
 * name tensors with or without "transformer."; follow the file's choice. */
static bool hf_source_name(const lqmf_model *m, const char *name, char *out, size_t n) {
    const char *prefix = "";
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].src_name && strncmp(m->tensors[i].src_name, "transformer.", 12) == 0)
            prefix = "transformer.";
    return lqmf_hf_tensor_src_name(&m->hp, name, prefix, out, n);
}

static lqmf_status type_of(const lqmf_st_tensor *t, lqmf_type *out) {
    switch (t->dtype) {
    case LQMF_ST_F32: *out = LQMF_TYPE_F32; return LQMF_OK;
    case LQMF_ST_F16: *out = LQMF_TYPE_F16; return LQMF_OK;
    case LQMF_ST_BF16: *out = LQMF_TYPE_BF16; return LQMF_OK;
    case LQMF_ST_F64: *out = LQMF_TYPE_F32; return LQMF_OK; /* converted */
    default:
        return lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: dtype %s is not supported (F32, F16, BF16, F64)",
                          t->name, lqmf_st_dtype_name(t->dtype));
    }
}

/* The tensor's bytes as `type` in ggml order: a view, or an owned buffer
 * (F64 -> F32; Conv1D [in, out] -> rows of `in` elements). */
static lqmf_status tensor_bytes(const lqmf_st_tensor *t, lqmf_type type, bool conv1d, const void **data,
                                bool *owned) {
    *owned = false;
    *data = t->data;
    if (t->dtype != LQMF_ST_F64 && !conv1d) return LQMF_OK;
    const size_t esize = type == LQMF_TYPE_F32 ? 4 : 2;
    uint8_t *buf = malloc(t->n_elems ? t->n_elems * esize : 1);
    if (!buf) return lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", t->name);
    const uint64_t n_in = conv1d ? t->shape[0] : 1, n_out = conv1d ? t->shape[1] : t->n_elems;
    /* element (i, o) of the [n_in, n_out] source goes to row o, column i */
    const uint8_t *src = t->data;
    for (uint64_t i = 0; i < n_in; i++)
        for (uint64_t o = 0; o < n_out; o++) {
            uint64_t s = i * n_out + o, d = conv1d ? o * n_in + i : s;
            if (t->dtype == LQMF_ST_F64) {
                double x;
                memcpy(&x, src + s * 8, 8);
                float f = (float)x;
                memcpy(buf + d * 4, &f, 4);
            } else {
                memcpy(buf + d * esize, src + s * esize, esize);
            }
        }
    *data = buf;
    *owned = true;
    return LQMF_OK;
}

static lqmf_status add_st_tensor(lqmf_model *m, const lqmf_st_tensor *t, const char *name, bool conv1d) {
    lqmf_type type = LQMF_TYPE_F32;
    lqmf_status st = type_of(t, &type);
    if (st != LQMF_OK) return st;
    if (t->n_dims > 4)
        return lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: %u dimensions (at most 4)", t->name, t->n_dims);
    if (conv1d && t->n_dims != 2)
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: a Conv1D weight needs 2 dimensions, not %u", t->name,
                          t->n_dims);
    uint64_t ne[4] = {1, 1, 1, 1};
    uint32_t n_dims = t->n_dims ? t->n_dims : 1;
    for (uint32_t i = 0; i < t->n_dims; i++) ne[i] = t->shape[t->n_dims - 1 - i];
    if (conv1d) { /* [in, out] in the file: ne = {in, out} after the transpose */
        ne[0] = t->shape[0];
        ne[1] = t->shape[1];
    }
    const void *data;
    bool owned;
    if ((st = tensor_bytes(t, type, conv1d, &data, &owned)) != LQMF_OK) return st;
    return lqmf_model_add_tensor_src(m, t->name, name, type, n_dims, ne, data, owned);
}

/* "a, b, c" of up to 8 names into b. */
static void list_name(lqmf_buf *b, size_t *n, const char *name) {
    if ((*n)++ < 8) lqmf_buf_printf(b, "%s%s", *n > 1 ? ", " : "", name);
}

/* A quantized linear (main tensor hf_name, weight "P.weight"): decoded to
 * F32 ne = {in, out}. */
static lqmf_status add_quantized(lqmf_model *m, const lqmf_safetensors *st, const char *hf_name, const char *weight,
                                 const char *name) {
    float *w;
    uint64_t ne[4] = {1, 1, 1, 1};
    lqmf_status s = lqmf_hfq_dequantize(st, hf_name, &w, &ne[1], &ne[0]);
    if (s != LQMF_OK) return lqmf_error_prefix(s, "%s", m->path);
    return lqmf_model_add_tensor_src(m, weight, name, LQMF_TYPE_F32, 2, ne, w, true);
}

static lqmf_status add_tensors(lqmf_model *m, const lqmf_safetensors *st, const char *dir, bool quantized) {
    lqmf_buf unknown;
    lqmf_buf_init(&unknown);
    size_t n_unknown = 0;
    lqmf_status s = LQMF_OK;
    char name[LQMF_TENSOR_NAME_MAX];
    for (size_t i = 0; i < lqmf_st_n_tensors(st) && s == LQMF_OK; i++) {
        const lqmf_st_tensor *t = lqmf_st_tensor_at(st, i);
        bool conv1d;
        if (quantized && lqmf_hfq_is_companion(t->name)) continue;
        char weight[600];
        bool q = quantized && lqmf_hfq_is_quantized(st, t->name, weight, sizeof weight);
        switch (lqmf_hf_tensor_name(&m->hp, q ? weight : t->name, name, &conv1d)) {
        case LQMF_HF_TENSOR_MAPPED:
            s = q ? add_quantized(m, st, t->name, weight, name) : add_st_tensor(m, t, name, conv1d);
            break;
        case LQMF_HF_TENSOR_IGNORED: break;
        case LQMF_HF_TENSOR_UNKNOWN: list_name(&unknown, &n_unknown, t->name); break;
        }
    }
    if (s == LQMF_OK) s = lqmf_model_validate(m);
    if (n_unknown) { /* one message with the validation's findings */
        char prev[1024];
        snprintf(prev, sizeof prev, "%s", s == LQMF_OK ? "" : lqmf_last_error());
        s = lqmf_error(LQMF_E_FORMAT, "%s: %zu tensor(s) that a %s model does not have: %s%s%s%s", dir,
                       n_unknown, m->hp.hf_arch[0] ? m->hp.hf_arch : m->hp.model_type,
                       unknown.data ? (char *)unknown.data : "", n_unknown > 8 ? ", ..." : "",
                       prev[0] ? "; " : "", prev);
    }
    lqmf_buf_free(&unknown);
    return s;
}

/* tokenizer.json when present, else the sentencepiece tokenizer.model. */
static lqmf_status find_tokenizer(lqmf_model *m, const char *dir) {
    static const struct {
        const char *file;
        lqmf_tok_source src;
    } cand[] = {{"tokenizer.json", LQMF_TOK_HF_JSON}, {"tokenizer.model", LQMF_TOK_SPM}};
    for (size_t i = 0; i < 2; i++) {
        char *p;
        if (asprintf(&p, "%s/%s", dir, cand[i].file) < 0)
            return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
        if (access(p, R_OK) == 0) {
            m->tok_source = cand[i].src;
            m->tok_path = p;
            return LQMF_OK;
        }
        free(p);
    }
    return LQMF_OK;
}

/* The quantization_config of dir/config.json (kind NONE when absent). */
static lqmf_status quant_config(const char *dir, lqmf_hfq_config *qc) {
    char *path, *text = NULL;
    size_t len = 0;
    if (asprintf(&path, "%s/config.json", dir) < 0) return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    lqmf_status s = lqmf_read_file(path, LQMF_HF_CONFIG_MAX_BYTES, &text, &len);
    if (s == LQMF_OK) s = lqmf_hfq_config_parse(text, len, path, qc);
    free(text);
    free(path);
    return s;
}

lqmf_status lqmf_hf_open(const char *dir, lqmf_model **out) {
    *out = NULL;
    lqmf_hparams hp;
    lqmf_hfq_config qc;
    lqmf_status s = lqmf_hf_config_load(dir, &hp);
    if (s == LQMF_OK) s = quant_config(dir, &qc);
    if (s != LQMF_OK) return s;
    lqmf_safetensors *st;
    if ((s = lqmf_st_open(dir, &st)) != LQMF_OK) return s;
    lqmf_model *m;
    if ((s = lqmf_model_new(&hp, &m)) != LQMF_OK) {
        lqmf_st_close(st);
        return s;
    }
    m->format = LQMF_FORMAT_HF;
    m->priv->cleanup = st_cleanup;
    m->priv->cleanup_arg = st;
    m->priv->source_name = hf_source_name;
    if (!(m->path = strdup(dir))) s = lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    if (s == LQMF_OK) s = add_tensors(m, st, dir, qc.kind != LQMF_HFQ_NONE);
    if (s == LQMF_OK) s = find_tokenizer(m, dir);
    if (s != LQMF_OK) {
        lqmf_model_close(m);
        return s;
    }
    *out = m;
    return LQMF_OK;
}
