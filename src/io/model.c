/* lqmf_model: the format-independent model description, its tensor table
 * and the per-architecture list of expected tensors. Format loaders live in
 * their own files and fill a model through lqmf_model_add_tensor. */
#include "lqmf/model.h"
#include "model_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lqmf_arch_name(lqmf_arch a) {
    switch (a) {
    case LQMF_ARCH_LLAMA: return "llama";
    case LQMF_ARCH_GPT2: return "gpt2";
    }
    return "?";
}

lqmf_status lqmf_model_new(const lqmf_hparams *hp, lqmf_model **out) {
    *out = NULL;
    lqmf_model *m = calloc(1, sizeof *m);
    if (!m || !(m->priv = calloc(1, sizeof *m->priv))) {
        free(m);
        return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    }
    if (hp) m->hp = *hp;
    *out = m;
    return LQMF_OK;
}

void lqmf_model_close(lqmf_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_tensors; i++) free(m->tensors[i].src_name);
    free(m->tensors);
    if (m->priv) {
        for (size_t i = 0; i < m->priv->n_owned; i++) free(m->priv->owned[i]);
        free(m->priv->owned);
        for (size_t i = 0; i < m->priv->n_maps; i++) lqmf_map_close(&m->priv->maps[i]);
        free(m->priv->maps);
        if (m->priv->cleanup) m->priv->cleanup(m->priv->cleanup_arg);
        free(m->priv);
    }
    free(m->path);
    free(m->tok_path);
    free(m);
}

lqmf_status lqmf_model_own(lqmf_model *m, void *p) {
    struct lqmf_model_priv *pv = m->priv;
    void **grown = realloc(pv->owned, (pv->n_owned + 1) * sizeof *grown);
    if (!grown) {
        free(p);
        return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    }
    pv->owned = grown;
    pv->owned[pv->n_owned++] = p;
    return LQMF_OK;
}

lqmf_status lqmf_model_own_map(lqmf_model *m, lqmf_map *map) {
    struct lqmf_model_priv *pv = m->priv;
    lqmf_map *grown = realloc(pv->maps, (pv->n_maps + 1) * sizeof *grown);
    if (!grown) {
        lqmf_map_close(map);
        return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    }
    pv->maps = grown;
    pv->maps[pv->n_maps++] = *map;
    memset(map, 0, sizeof *map);
    return LQMF_OK;
}

lqmf_status lqmf_model_add_tensor_src(lqmf_model *m, const char *src_name, const char *name, lqmf_type type,
                                      uint32_t n_dims, const uint64_t *ne, const void *data, bool own_data) {
    lqmf_status st = lqmf_model_add_tensor(m, name, type, n_dims, ne, data, own_data);
    if (st != LQMF_OK) return lqmf_error_prefix(st, "%s", src_name);
    if (!(m->tensors[m->n_tensors - 1].src_name = strdup(src_name)))
        return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    return LQMF_OK;
}

lqmf_status lqmf_model_add_tensor(lqmf_model *m, const char *name, lqmf_type type, uint32_t n_dims,
                                  const uint64_t *ne, const void *data, bool own_data) {
    if (own_data) {
        lqmf_status st = lqmf_model_own(m, (void *)data);
        if (st != LQMF_OK) return st;
    }
    if (strlen(name) >= LQMF_TENSOR_NAME_MAX)
        return lqmf_error(LQMF_E_INVALID, "tensor name too long: %s", name);
    if (n_dims < 1 || n_dims > 4)
        return lqmf_error(LQMF_E_INVALID, "tensor %s: %u dimensions (1..4 supported)", name, n_dims);
    if (lqmf_model_tensor(m, name)) return lqmf_error(LQMF_E_FORMAT, "tensor %s appears twice", name);
    lqmf_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.type = type;
    t.n_dims = n_dims;
    uint64_t nelem = 1;
    for (uint32_t i = 0; i < 4; i++) {
        t.ne[i] = i < n_dims ? ne[i] : 1;
        if (!lqmf_mul_u64(nelem, t.ne[i], &nelem))
            return lqmf_error(LQMF_E_FORMAT, "tensor %s: element count overflows", name);
    }
    if (!lqmf_type_tensor_bytes(type, t.ne[0], nelem, &t.nbytes))
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: type %s cannot hold rows of %llu elements", name,
                          lqmf_type_name(type), (unsigned long long)t.ne[0]);
    t.data = data;
    lqmf_tensor *grown = realloc(m->tensors, (m->n_tensors + 1) * sizeof *grown);
    if (!grown) return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    m->tensors = grown;
    m->tensors[m->n_tensors++] = t;
    return LQMF_OK;
}

const lqmf_tensor *lqmf_model_tensor(const lqmf_model *m, const char *name) {
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

uint64_t lqmf_model_n_params(const lqmf_model *m) {
    uint64_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        n += m->tensors[i].ne[0] * m->tensors[i].ne[1] * m->tensors[i].ne[2] * m->tensors[i].ne[3];
    return n;
}

/* ---- expected tensors ---------------------------------------------------- */

typedef struct {
    char name[LQMF_TENSOR_NAME_MAX];
    uint32_t n_dims;
    uint64_t ne[2];
} expect;

static void add_expect(expect *e, size_t *n, const char *name, uint64_t ne0, uint64_t ne1) {
    snprintf(e[*n].name, sizeof e[*n].name, "%s", name);
    e[*n].n_dims = ne1 ? 2 : 1;
    e[*n].ne[0] = ne0;
    e[*n].ne[1] = ne1 ? ne1 : 1;
    (*n)++;
}

/* Fill e (capacity: 4 + 16 per layer) with the tensors hp's architecture needs. */
static size_t expected_tensors(const lqmf_hparams *hp, expect *e) {
    size_t n = 0;
    const uint64_t d = hp->n_embd, v = hp->n_vocab, ff = hp->n_ff;
    char nm[LQMF_TENSOR_NAME_MAX];
    add_expect(e, &n, "token_embd.weight", d, v);
    if (!hp->tied_embeddings) add_expect(e, &n, "output.weight", d, v);
    add_expect(e, &n, "output_norm.weight", d, 0);
    if (hp->arch == LQMF_ARCH_LLAMA && hp->rope_scaling == LQMF_ROPE_SCALING_FACTORS)
        add_expect(e, &n, "rope_freqs.weight", hp->head_dim / 2, 0);
    if (hp->arch == LQMF_ARCH_GPT2) {
        add_expect(e, &n, "position_embd.weight", d, hp->n_ctx_train);
        add_expect(e, &n, "output_norm.bias", d, 0);
    }
    const uint64_t q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
#define T(suffix, a, b)                                                                                      \
    do {                                                                                                     \
        snprintf(nm, sizeof nm, "blk.%u." suffix, l);                                                        \
        add_expect(e, &n, nm, a, b);                                                                         \
    } while (0)
        if (hp->arch == LQMF_ARCH_LLAMA) {
            T("attn_norm.weight", d, 0);
            T("attn_q.weight", d, q);
            T("attn_k.weight", d, kv);
            T("attn_v.weight", d, kv);
            if (hp->qkv_bias) {
                T("attn_q.bias", q, 0);
                T("attn_k.bias", kv, 0);
                T("attn_v.bias", kv, 0);
            }
            T("attn_output.weight", q, d);
            T("ffn_norm.weight", d, 0);
            T("ffn_gate.weight", d, ff);
            T("ffn_up.weight", d, ff);
            T("ffn_down.weight", ff, d);
        } else {
            T("attn_norm.weight", d, 0);
            T("attn_norm.bias", d, 0);
            T("attn_qkv.weight", d, 3 * d);
            T("attn_qkv.bias", 3 * d, 0);
            T("attn_output.weight", d, d);
            T("attn_output.bias", d, 0);
            T("ffn_norm.weight", d, 0);
            T("ffn_norm.bias", d, 0);
            T("ffn_up.weight", d, ff);
            T("ffn_up.bias", ff, 0);
            T("ffn_down.weight", ff, d);
            T("ffn_down.bias", d, 0);
        }
#undef T
    }
    return n;
}

/* "src (internal)" when the tensor has (or the loader can name) a source
 * name different from its internal one, else the internal name. */
static const char *display_name(const lqmf_model *m, const char *name, const char *src_name, char *buf,
                                size_t n) {
    char mapped[LQMF_TENSOR_NAME_MAX];
    if (!src_name && m->priv->source_name && m->priv->source_name(m, name, mapped, sizeof mapped))
        src_name = mapped;
    if (src_name && strcmp(src_name, name) != 0)
        snprintf(buf, n, "%s (%s)", src_name, name);
    else
        snprintf(buf, n, "%s", name);
    return buf;
}

lqmf_status lqmf_model_validate(const lqmf_model *m) {
    const lqmf_hparams *hp = &m->hp;
    const char *what = m->path ? m->path : "model";
    if (!hp->n_embd || !hp->n_layer || !hp->n_head || !hp->n_vocab || !hp->n_ff || !hp->head_dim)
        return lqmf_error(LQMF_E_FORMAT,
                          "%s: incomplete hyperparameters (n_embd %u, n_layer %u, "
                          "n_head %u, n_vocab %u, n_ff %u, head_dim %u)",
                          what, hp->n_embd, hp->n_layer, hp->n_head, hp->n_vocab, hp->n_ff, hp->head_dim);
    if (!hp->n_head_kv || hp->n_head % hp->n_head_kv)
        return lqmf_error(LQMF_E_FORMAT, "%s: n_head %u is not a multiple of n_head_kv %u", what, hp->n_head,
                          hp->n_head_kv);
    if (hp->n_layer > 1024)
        return lqmf_error(LQMF_E_FORMAT, "%s: %u layers is beyond the supported 1024", what, hp->n_layer);
    size_t cap = 4 + 16 * (size_t)hp->n_layer;
    expect *e = calloc(cap, sizeof *e);
    bool *seen = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *seen);
    if (!e || !seen) {
        free(e);
        free(seen);
        return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    }
    size_t ne = expected_tensors(hp, e);
    lqmf_buf missing, bad;
    lqmf_buf_init(&missing);
    lqmf_buf_init(&bad);
    size_t n_missing = 0, n_bad = 0, n_extra = 0;
    char src[2 * LQMF_TENSOR_NAME_MAX + 8];
    for (size_t i = 0; i < ne; i++) {
        const lqmf_tensor *t = lqmf_model_tensor(m, e[i].name);
        if (!t) {
            if (n_missing++ < 8)
                lqmf_buf_printf(&missing, "%s%s", n_missing > 1 ? ", " : "",
                                display_name(m, e[i].name, NULL, src, sizeof src));
            continue;
        }
        seen[t - m->tensors] = true;
        bool dims_ok = t->ne[0] == e[i].ne[0] && t->ne[1] == e[i].ne[1] && t->ne[2] == 1 && t->ne[3] == 1;
        if (!dims_ok && n_bad++ < 4)
            lqmf_buf_printf(&bad, "%s%s is {%llu, %llu}, expected {%llu, %llu}", n_bad > 1 ? "; " : "",
                            display_name(m, t->name, t->src_name, src, sizeof src),
                            (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                            (unsigned long long)e[i].ne[0], (unsigned long long)e[i].ne[1]);
    }
    lqmf_buf extra;
    lqmf_buf_init(&extra);
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!seen[i] && n_extra++ < 8)
            lqmf_buf_printf(&extra, "%s%s", n_extra > 1 ? ", " : "",
                            m->tensors[i].src_name ? m->tensors[i].src_name : m->tensors[i].name);
    lqmf_status st = LQMF_OK;
    if (n_missing || n_bad || n_extra) {
        st = lqmf_error(LQMF_E_FORMAT,
                        "%s (%s): %zu missing tensor(s)%s%s%s; %zu with wrong shape%s%s; "
                        "%zu unexpected%s%s",
                        what, lqmf_arch_name(hp->arch), n_missing, n_missing ? ": " : "",
                        n_missing ? (char *)missing.data : "", n_missing > 8 ? ", ..." : "", n_bad,
                        n_bad ? ": " : "", n_bad ? (char *)bad.data : "", n_extra, n_extra ? ": " : "",
                        n_extra ? (char *)extra.data : "");
    }
    lqmf_buf_free(&missing);
    lqmf_buf_free(&bad);
    lqmf_buf_free(&extra);
    free(e);
    free(seen);
    return st;
}
