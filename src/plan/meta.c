/* Model metadata for planning: the model's tensors as groups of
 * (class, shape, count), from hyperparameters, an opened model or bare
 * counts. */
#include "plan_priv.h"

#include <stdio.h>
#include <string.h>

static const char *const k_class_names[LQMF_TC_COUNT] = {
    [LQMF_TC_EMBD] = "token_embd",   [LQMF_TC_POS_EMBD] = "pos_embd",    [LQMF_TC_OUTPUT] = "output",
    [LQMF_TC_ATTN_Q] = "attn_q",     [LQMF_TC_ATTN_K] = "attn_k",        [LQMF_TC_ATTN_V] = "attn_v",
    [LQMF_TC_ATTN_QKV] = "attn_qkv", [LQMF_TC_ATTN_OUT] = "attn_output", [LQMF_TC_FFN_GATE] = "ffn_gate",
    [LQMF_TC_FFN_UP] = "ffn_up",     [LQMF_TC_FFN_DOWN] = "ffn_down",    [LQMF_TC_VECTOR] = "norms/biases",
    [LQMF_TC_OTHER] = "other",
};

const char *lqmf_tensor_class_name(lqmf_tensor_class c) {
    return (unsigned)c < LQMF_TC_COUNT ? k_class_names[c] : "?";
}

/* Internal tensor name (after "blk.N." for block tensors) -> class. */
static const struct {
    const char *name;
    lqmf_tensor_class cls;
} k_names[] = {
    {"token_embd.weight", LQMF_TC_EMBD},      {"position_embd.weight", LQMF_TC_POS_EMBD},
    {"pos_embd.weight", LQMF_TC_POS_EMBD},    {"output.weight", LQMF_TC_OUTPUT},
    {"attn_q.weight", LQMF_TC_ATTN_Q},        {"attn_k.weight", LQMF_TC_ATTN_K},
    {"attn_v.weight", LQMF_TC_ATTN_V},        {"attn_qkv.weight", LQMF_TC_ATTN_QKV},
    {"attn_output.weight", LQMF_TC_ATTN_OUT}, {"ffn_gate.weight", LQMF_TC_FFN_GATE},
    {"ffn_up.weight", LQMF_TC_FFN_UP},        {"ffn_down.weight", LQMF_TC_FFN_DOWN},
};

lqmf_tensor_class lqmf_plan_classify(const char *name) {
    if (strncmp(name, "blk.", 4) == 0) {
        const char *dot = strchr(name + 4, '.');
        if (dot) name = dot + 1;
    }
    for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (strcmp(name, k_names[i].name) == 0) return k_names[i].cls;
    return LQMF_TC_OTHER;
}

/* Add count tensors {ne0, ne1} of class cls; merges equal shapes, and all
 * vectors into one group of their total length. */
static lqmf_status add_group(lqmf_model_meta *m, lqmf_tensor_class cls, uint64_t ne0, uint64_t ne1,
                             uint32_t count) {
    uint64_t n;
    if (!lqmf_mul_u64(ne0, ne1, &n) || !lqmf_mul_u64(n, count, &n) ||
        !lqmf_add_u64(m->n_params, n, &m->n_params))
        return lqmf_error(LQMF_E_INVALID, "%s: parameter count overflows", m->name);
    if (cls == LQMF_TC_VECTOR) {
        ne0 = n;
        ne1 = 1;
        count = 1;
    }
    for (size_t i = 0; i < m->n_groups; i++) {
        lqmf_tensor_group *g = &m->groups[i];
        if (g->cls != cls) continue;
        if (cls == LQMF_TC_VECTOR) {
            g->ne0 += ne0;
            return LQMF_OK;
        }
        if (g->ne0 == ne0 && g->ne1 == ne1) {
            g->count += count;
            return LQMF_OK;
        }
    }
    if (m->n_groups == LQMF_META_MAX_GROUPS)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: more than %d distinct tensor shapes", m->name,
                          LQMF_META_MAX_GROUPS);
    m->groups[m->n_groups++] = (lqmf_tensor_group){cls, ne0, ne1, count};
    return LQMF_OK;
}

static lqmf_status check_dims(const lqmf_model_meta *m) {
    if (!m->n_layer || m->n_layer > 1024)
        return lqmf_error(LQMF_E_INVALID, "%s: n_layer %u (1..1024 supported)", m->name, m->n_layer);
    if (!m->n_head_kv || !m->head_dim || m->head_dim > 4096)
        return lqmf_error(LQMF_E_INVALID, "%s: n_head_kv %u, head_dim %u (both needed, head_dim <= 4096)",
                          m->name, m->n_head_kv, m->head_dim);
    if (m->n_head && m->n_head % m->n_head_kv)
        return lqmf_error(LQMF_E_INVALID, "%s: n_head %u is not a multiple of n_head_kv %u", m->name,
                          m->n_head, m->n_head_kv);
    return LQMF_OK;
}

static void init_meta(lqmf_model_meta *out, const char *name) {
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name && *name ? name : "model");
}

#define TRY(x)                                                                                               \
    do {                                                                                                     \
        lqmf_status st_ = (x);                                                                               \
        if (st_ != LQMF_OK) return st_;                                                                      \
    } while (0)

lqmf_status lqmf_plan_meta_from_hparams(const lqmf_hparams *hp, const char *name, lqmf_model_meta *out) {
    init_meta(out, name);
    out->shapes_known = true;
    out->n_layer = hp->n_layer;
    out->n_head = hp->n_head;
    out->n_head_kv = hp->n_head_kv;
    out->head_dim = hp->head_dim;
    out->n_embd = hp->n_embd;
    out->n_ff = hp->n_ff;
    out->n_vocab = hp->n_vocab;
    out->n_ctx_train = hp->n_ctx_train;
    TRY(check_dims(out));
    if (!hp->n_embd || !hp->n_head || !hp->n_ff || !hp->n_vocab)
        return lqmf_error(LQMF_E_INVALID, "%s: n_embd %u, n_head %u, n_ff %u, n_vocab %u (all needed)",
                          out->name, hp->n_embd, hp->n_head, hp->n_ff, hp->n_vocab);
    const uint64_t d = hp->n_embd, ff = hp->n_ff, L = hp->n_layer;
    const uint64_t q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    const uint32_t nl = hp->n_layer;
    TRY(add_group(out, LQMF_TC_EMBD, d, hp->n_vocab, 1));
    if (!hp->tied_embeddings) TRY(add_group(out, LQMF_TC_OUTPUT, d, hp->n_vocab, 1));
    if (hp->arch == LQMF_ARCH_GPT2) {
        TRY(add_group(out, LQMF_TC_POS_EMBD, d, hp->n_ctx_train, 1));
        /* output norm w+b; per layer: 2 norms w+b, qkv/out/up/down biases */
        TRY(add_group(out, LQMF_TC_VECTOR, 2 * d + L * (4 * d + 3 * d + d + ff + d), 1, 1));
        TRY(add_group(out, LQMF_TC_ATTN_QKV, d, 3 * d, nl));
        TRY(add_group(out, LQMF_TC_ATTN_OUT, d, d, nl));
    } else {
        TRY(add_group(out, LQMF_TC_VECTOR, d + L * (2 * d + (hp->qkv_bias ? q + 2 * kv : 0)), 1, 1));
        TRY(add_group(out, LQMF_TC_ATTN_Q, d, q, nl));
        TRY(add_group(out, LQMF_TC_ATTN_K, d, kv, nl));
        TRY(add_group(out, LQMF_TC_ATTN_V, d, kv, nl));
        TRY(add_group(out, LQMF_TC_ATTN_OUT, q, d, nl));
        TRY(add_group(out, LQMF_TC_FFN_GATE, d, ff, nl));
    }
    TRY(add_group(out, LQMF_TC_FFN_UP, d, ff, nl));
    TRY(add_group(out, LQMF_TC_FFN_DOWN, ff, d, nl));
    return LQMF_OK;
}

lqmf_status lqmf_plan_meta_from_model(const lqmf_model *mdl, lqmf_model_meta *out) {
    const char *path = mdl->path ? mdl->path : "model";
    const char *base = strrchr(path, '/');
    init_meta(out, base && base[1] ? base + 1 : path);
    const lqmf_hparams *hp = &mdl->hp;
    out->shapes_known = true;
    out->n_layer = hp->n_layer;
    out->n_head = hp->n_head;
    out->n_head_kv = hp->n_head_kv;
    out->head_dim = hp->head_dim;
    out->n_embd = hp->n_embd;
    out->n_ff = hp->n_ff;
    out->n_vocab = hp->n_vocab;
    out->n_ctx_train = hp->n_ctx_train;
    TRY(check_dims(out));
    for (size_t i = 0; i < mdl->n_tensors; i++) {
        const lqmf_tensor *t = &mdl->tensors[i];
        uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3]; /* no overflow: checked on load */
        lqmf_tensor_class c = rows == 1 ? LQMF_TC_VECTOR : lqmf_plan_classify(t->name);
        TRY(add_group(out, c, t->ne[0], rows, 1));
    }
    if (!out->n_params) return lqmf_error(LQMF_E_INVALID, "%s: no tensors", out->name);
    return LQMF_OK;
}

lqmf_status lqmf_plan_meta_from_counts(uint64_t n_params, uint32_t n_layer, uint32_t n_head_kv,
                                       uint32_t head_dim, uint32_t n_ctx_train, const char *name,
                                       lqmf_model_meta *out) {
    init_meta(out, name);
    out->n_params = n_params;
    out->n_layer = n_layer;
    out->n_head_kv = n_head_kv;
    out->head_dim = head_dim;
    out->n_ctx_train = n_ctx_train;
    TRY(check_dims(out));
    if (n_params < 1000 || n_params > (uint64_t)1e13)
        return lqmf_error(LQMF_E_INVALID, "%s: %llu parameters (1e3..1e13 supported)", out->name,
                          (unsigned long long)n_params);
    return LQMF_OK;
}

uint64_t lqmf_plan_meta_class_params(const lqmf_model_meta *m, lqmf_tensor_class c) {
    uint64_t n = 0;
    for (size_t i = 0; i < m->n_groups; i++)
        if (m->groups[i].cls == c) n += m->groups[i].ne0 * m->groups[i].ne1 * m->groups[i].count;
    return n;
}
