/* GGUF files into an lqmf_model: hyperparameters from the standard
 * `<arch>.*` keys, tensors as views of the mapping (any type), the
 * tokenizer from the file's tokenizer.ggml.* keys.
 *
 * Architectures: "llama" (Q/K rows already in the adjacent-pair rotary
 * layout: llama.cpp's converter permutes HF weights), "qwen2" (llama family
 * with q/k/v biases, rotate-half layout, as llama.cpp writes it) and "gpt2".
 * llama3 rope scaling is stored by llama.cpp as a rope_freqs.weight tensor
 * of per-frequency factors; lqmf writes the parameters next to it under
 * lqmf.rope.scaling.* and reads them back from there. A file with the tensor
 * alone (llama.cpp's) keeps it: LQMF_ROPE_SCALING_FACTORS. */
#include "lqmf/gguf.h"
#include "model_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    lqmf_arch arch;
    lqmf_rope_layout rope;
} k_archs[] = {
    {"llama", LQMF_ARCH_LLAMA, LQMF_ROPE_NORM},
    {"qwen2", LQMF_ARCH_LLAMA, LQMF_ROPE_NEOX},
    {"gpt2", LQMF_ARCH_GPT2, LQMF_ROPE_NORM},
};

#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        lqmf_status st_ = (expr);                                                                            \
        if (st_ != LQMF_OK) return st_;                                                                      \
    } while (0)

typedef struct {
    const lqmf_gguf *g;
    const char *arch; /* key prefix */
} keys;

/* "<arch>.<suffix>" as u32 in [lo, hi]; dflt when absent and not required. */
static lqmf_status key_u32(const keys *k, const char *suffix, bool required, uint32_t dflt, uint32_t lo,
                           uint32_t hi, uint32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", k->arch, suffix);
    lqmf_status st = lqmf_gguf_get_u32(k->g, key, out);
    if (st == LQMF_E_NOT_FOUND && !required) {
        *out = dflt;
        return LQMF_OK;
    }
    if (st == LQMF_E_NOT_FOUND)
        return lqmf_error(LQMF_E_FORMAT, "%s: required key %s is missing", lqmf_gguf_label(k->g), key);
    if (st != LQMF_OK) return lqmf_error_prefix(st, "%s", lqmf_gguf_label(k->g));
    if (*out < lo || *out > hi)
        return lqmf_error(LQMF_E_FORMAT, "%s: key %s = %u is out of range [%u, %u]", lqmf_gguf_label(k->g),
                          key, *out, lo, hi);
    return LQMF_OK;
}

/* Positive finite f32 key; dflt when absent and not required. */
static lqmf_status key_f32(const keys *k, const char *suffix, bool required, float dflt, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", k->arch, suffix);
    lqmf_status st = lqmf_gguf_get_f32(k->g, key, out);
    if (st == LQMF_E_NOT_FOUND && !required) {
        *out = dflt;
        return LQMF_OK;
    }
    if (st == LQMF_E_NOT_FOUND)
        return lqmf_error(LQMF_E_FORMAT, "%s: required key %s is missing", lqmf_gguf_label(k->g), key);
    if (st != LQMF_OK) return lqmf_error_prefix(st, "%s", lqmf_gguf_label(k->g));
    if (!(*out > 0) || !isfinite(*out))
        return lqmf_error(LQMF_E_FORMAT, "%s: key %s = %g must be positive", lqmf_gguf_label(k->g), key,
                          (double)*out);
    return LQMF_OK;
}

static lqmf_status token_id(const lqmf_gguf *g, const char *key, int32_t *out) {
    uint32_t v;
    lqmf_status st = lqmf_gguf_get_u32(g, key, &v);
    *out = st == LQMF_OK && v <= INT32_MAX ? (int32_t)v : -1;
    return st == LQMF_OK || st == LQMF_E_NOT_FOUND ? LQMF_OK
                                                   : lqmf_error_prefix(st, "%s", lqmf_gguf_label(g));
}

/* rope.scaling.* of llama.cpp (none / linear), or lqmf's llama3 keys. */
static lqmf_status rope_scaling(const keys *k, lqmf_hparams *hp) {
    keys lq = {k->g, "lqmf"};
    lqmf_gguf_str type;
    if (lqmf_gguf_get_str(k->g, "lqmf.rope.scaling.type", &type) == LQMF_OK &&
        lqmf_gguf_str_eq(type, "llama3")) {
        hp->rope_scaling = LQMF_ROPE_SCALING_LLAMA3;
        TRY(key_f32(&lq, "rope.scaling.factor", true, 1, &hp->rope_factor));
        TRY(key_f32(&lq, "rope.scaling.low_freq_factor", true, 1, &hp->rope_low_freq_factor));
        TRY(key_f32(&lq, "rope.scaling.high_freq_factor", true, 1, &hp->rope_high_freq_factor));
        return key_u32(&lq, "rope.scaling.original_context_length", true, 0, 1, 1u << 28, &hp->rope_orig_ctx);
    }
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", k->arch);
    lqmf_status st = lqmf_gguf_get_str(k->g, key, &type);
    if (st == LQMF_E_NOT_FOUND || (st == LQMF_OK && lqmf_gguf_str_eq(type, "none"))) {
        float scale; /* the older single key */
        TRY(key_f32(k, "rope.scale_linear", false, 1, &scale));
        if (scale != 1) {
            hp->rope_scaling = LQMF_ROPE_SCALING_LINEAR;
            hp->rope_factor = scale;
        }
        return LQMF_OK;
    }
    if (st != LQMF_OK) return lqmf_error_prefix(st, "%s", lqmf_gguf_label(k->g));
    if (!lqmf_gguf_str_eq(type, "linear"))
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: %s \"%.*s\" is not supported (none, linear)",
                          lqmf_gguf_label(k->g), key, (int)(type.len > 40 ? 40 : type.len), type.ptr);
    hp->rope_scaling = LQMF_ROPE_SCALING_LINEAR;
    return key_f32(k, "rope.scaling.factor", true, 1, &hp->rope_factor);
}

static lqmf_status heads(const keys *k, lqmf_hparams *hp) {
    TRY(key_u32(k, "attention.head_count", true, 0, 1, 4096, &hp->n_head));
    TRY(key_u32(k, "attention.head_count_kv", false, hp->n_head, 1, hp->n_head, &hp->n_head_kv));
    if (hp->n_head % hp->n_head_kv)
        return lqmf_error(LQMF_E_FORMAT, "%s: head_count %u is not a multiple of head_count_kv %u",
                          lqmf_gguf_label(k->g), hp->n_head, hp->n_head_kv);
    uint32_t dflt = hp->n_embd % hp->n_head ? 0 : hp->n_embd / hp->n_head, value_len;
    TRY(key_u32(k, "attention.key_length", !dflt, dflt, 1, 1u << 20, &hp->head_dim));
    TRY(key_u32(k, "attention.value_length", false, hp->head_dim, 1, 1u << 20, &value_len));
    if (value_len != hp->head_dim)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: value_length %u differs from key_length %u",
                          lqmf_gguf_label(k->g), value_len, hp->head_dim);
    return LQMF_OK;
}

static lqmf_status hparams(const lqmf_gguf *g, size_t a, lqmf_hparams *hp) {
    const keys k = {g, k_archs[a].name};
    memset(hp, 0, sizeof *hp);
    hp->arch = k_archs[a].arch;
    hp->rope_layout = k_archs[a].rope;
    snprintf(hp->model_type, sizeof hp->model_type, "%s", k_archs[a].name);
    TRY(key_u32(&k, "context_length", true, 0, 1, 1u << 28, &hp->n_ctx_train));
    TRY(key_u32(&k, "embedding_length", true, 0, 1, 1u << 20, &hp->n_embd));
    TRY(key_u32(&k, "block_count", true, 0, 1, 1024, &hp->n_layer));
    TRY(heads(&k, hp));
    const lqmf_gguf_tensor *emb = lqmf_gguf_find_tensor(g, "token_embd.weight");
    uint32_t vocab_dflt = emb && emb->ne[1] <= (1u << 24) ? (uint32_t)emb->ne[1] : 0;
    TRY(key_u32(&k, "vocab_size", !vocab_dflt, vocab_dflt, 1, 1u << 24, &hp->n_vocab));
    hp->tied_embeddings = !lqmf_gguf_find_tensor(g, "output.weight");
    if (hp->arch == LQMF_ARCH_GPT2) {
        TRY(key_u32(&k, "feed_forward_length", false, 4 * hp->n_embd, 1, 1u << 22, &hp->n_ff));
        TRY(key_f32(&k, "attention.layer_norm_epsilon", true, 0, &hp->norm_eps));
    } else {
        TRY(key_u32(&k, "feed_forward_length", true, 0, 1, 1u << 22, &hp->n_ff));
        TRY(key_f32(&k, "attention.layer_norm_rms_epsilon", true, 0, &hp->norm_eps));
        TRY(key_f32(&k, "rope.freq_base", false, 10000, &hp->rope_theta));
        uint32_t rot;
        TRY(key_u32(&k, "rope.dimension_count", false, hp->head_dim, 1, 1u << 20, &rot));
        if (rot != hp->head_dim)
            return lqmf_error(LQMF_E_UNSUPPORTED,
                              "%s: rope.dimension_count %u differs from the head size %u "
                              "(partial rotary embeddings)",
                              lqmf_gguf_label(g), rot, hp->head_dim);
        TRY(rope_scaling(&k, hp));
        TRY(key_u32(&k, "attention.sliding_window", false, 0, 0, 1u << 28, &hp->sliding_window));
        hp->qkv_bias = lqmf_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    }
    TRY(token_id(g, "tokenizer.ggml.bos_token_id", &hp->bos_id));
    return token_id(g, "tokenizer.ggml.eos_token_id", &hp->eos_id);
}

static lqmf_status find_arch(const lqmf_gguf *g, size_t *out) {
    lqmf_gguf_str a;
    lqmf_status st = lqmf_gguf_get_str(g, "general.architecture", &a);
    if (st == LQMF_E_NOT_FOUND)
        return lqmf_error(LQMF_E_FORMAT, "%s: general.architecture is missing", lqmf_gguf_label(g));
    if (st != LQMF_OK) return lqmf_error_prefix(st, "%s", lqmf_gguf_label(g));
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (lqmf_gguf_str_eq(a, k_archs[i].name)) {
            *out = i;
            return LQMF_OK;
        }
    return lqmf_error(LQMF_E_UNSUPPORTED,
                      "%s: general.architecture \"%.*s\" is not supported (llama, qwen2, "
                      "gpt2)",
                      lqmf_gguf_label(g), (int)(a.len > 40 ? 40 : a.len), a.ptr);
}

static lqmf_status add_tensors(lqmf_model *m, const lqmf_gguf *g) {
    for (uint64_t i = 0; i < lqmf_gguf_n_tensors(g); i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        if (strcmp(t->name, "rope_freqs.weight") == 0) {
            if (m->hp.rope_scaling == LQMF_ROPE_SCALING_LLAMA3) continue; /* derived from the keys */
            if (m->hp.arch != LQMF_ARCH_LLAMA || t->type != LQMF_TYPE_F32)
                return lqmf_error(LQMF_E_FORMAT, "%s: rope_freqs.weight must be F32 in a llama-family model",
                                  lqmf_gguf_label(g));
            m->hp.rope_scaling = LQMF_ROPE_SCALING_FACTORS;
        }
        TRY(lqmf_model_add_tensor_src(m, t->name, t->name, t->type, t->n_dims, t->ne, t->data, false));
    }
    return LQMF_OK;
}

static void gguf_cleanup(void *p) { lqmf_gguf_close(p); }

lqmf_status lqmf_gguf_model_open(const char *path, lqmf_model **out) {
    *out = NULL;
    lqmf_gguf *g;
    TRY(lqmf_gguf_open(path, &g));
    size_t a = 0;
    lqmf_hparams hp;
    lqmf_status st = find_arch(g, &a);
    if (st == LQMF_OK) st = hparams(g, a, &hp);
    lqmf_model *m = NULL;
    if (st == LQMF_OK) st = lqmf_model_new(&hp, &m);
    if (st != LQMF_OK) {
        lqmf_gguf_close(g);
        return st;
    }
    m->format = LQMF_FORMAT_GGUF;
    m->priv->cleanup = gguf_cleanup;
    m->priv->cleanup_arg = g;
    if (!(m->path = strdup(path))) st = lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    if (st == LQMF_OK && lqmf_gguf_find_key(g, "tokenizer.ggml.model")) {
        m->tok_source = LQMF_TOK_GGUF;
        if (!(m->tok_path = strdup(path))) st = lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    }
    if (st == LQMF_OK) st = add_tensors(m, g);
    if (st == LQMF_OK) st = lqmf_model_validate(m);
    if (st != LQMF_OK) {
        lqmf_model_close(m);
        return st;
    }
    *out = m;
    return LQMF_OK;
}

const lqmf_gguf *lqmf_model_gguf_source(const lqmf_model *m) {
    return m->format == LQMF_FORMAT_GGUF && m->priv->cleanup == gguf_cleanup ? m->priv->cleanup_arg : NULL;
}
