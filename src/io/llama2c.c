/* llama2.c checkpoints (karpathy/llama2.c run.c, legacy version 0 export).
 *
 * Layout, little-endian: a header of 7 int32
 *   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 * (vocab_size < 0: the classifier wcls is stored separately), then f32 arrays
 * in this order, each row-major [out][in] like run.c's matmul:
 *   token_embedding [vocab][dim]       rms_att   [L][dim]
 *   wq  [L][n_heads*hs][dim]           wk, wv    [L][n_kv_heads*hs][dim]
 *   wo  [L][dim][n_heads*hs]           rms_ffn   [L][dim]
 *   w1  [L][hidden][dim] (gate)        w2        [L][dim][hidden] (down)
 *   w3  [L][hidden][dim] (up)          rms_final [dim]
 *   freq_cis_real, freq_cis_imag [seq_len * hs / 2] each (unused)
 *   wcls [vocab][dim] only when vocab_size < 0
 * with hs = dim / n_heads. Rotary pairs are adjacent (NORM layout). Stacked
 * per-layer arrays become per-layer views of the mapping. */
#include "model_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER_BYTES 28u

typedef struct {
    const char *src;      /* llama2.c name, for messages */
    const char *internal; /* "blk.%u.attn_q.weight" or a global name; NULL: skipped */
    uint64_t ne0, ne1;    /* per layer (or whole, when !per_layer); ne1 = 0: 1-D */
    bool per_layer;
} section;

/* Read the header and check each field's range. */
static lqmf_status read_header(const lqmf_map *map, int32_t h[7]) {
    static const char *const names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    static const int32_t max[7] = {1 << 16, 1 << 20, 1024, 4096, 4096, 1 << 24, 1 << 24};
    if (map->size < HEADER_BYTES)
        return lqmf_error(LQMF_E_FORMAT, "%s: %llu bytes is shorter than the 28-byte llama2.c header",
                          map->path, (unsigned long long)map->size);
    memcpy(h, map->data, HEADER_BYTES);
    if (memcmp(map->data, "24ka", 4) == 0) /* uint32 0x616b3432 "ak42" of the version 1+ exports */
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: a llama2.c version %d export; only the legacy "
                          "(version 0) layout is supported",
                          map->path, h[1]);
    for (int i = 0; i < 7; i++) {
        int32_t v = i == 5 && h[i] < 0 && h[i] != INT32_MIN ? -h[i] : h[i];
        if (v <= 0 || v > max[i])
            return lqmf_error(LQMF_E_FORMAT, "%s: llama2.c header field %s = %d is out of range [1, %d]",
                              map->path, names[i], h[i], max[i]);
    }
    if (h[0] % h[3] || (h[0] / h[3]) % 2)
        return lqmf_error(LQMF_E_FORMAT, "%s: llama2.c dim %d is not n_heads %d times an even head size",
                          map->path, h[0], h[3]);
    if (h[3] % h[4])
        return lqmf_error(LQMF_E_FORMAT, "%s: llama2.c n_heads %d is not a multiple of n_kv_heads %d",
                          map->path, h[3], h[4]);
    return LQMF_OK;
}

static lqmf_hparams header_hparams(const int32_t h[7]) {
    lqmf_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.arch = LQMF_ARCH_LLAMA;
    snprintf(hp.model_type, sizeof hp.model_type, "llama");
    hp.n_embd = (uint32_t)h[0];
    hp.n_ff = (uint32_t)h[1];
    hp.n_layer = (uint32_t)h[2];
    hp.n_head = (uint32_t)h[3];
    hp.n_head_kv = (uint32_t)h[4];
    hp.n_vocab = (uint32_t)(h[5] < 0 ? -h[5] : h[5]);
    hp.n_ctx_train = (uint32_t)h[6];
    hp.head_dim = hp.n_embd / hp.n_head;
    hp.norm_eps = 1e-5f;
    hp.rope_theta = 10000.0f;
    hp.rope_layout = LQMF_ROPE_NORM;
    hp.tied_embeddings = h[5] > 0;
    hp.bos_id = 1;
    hp.eos_id = 2;
    return hp;
}

/* Fill s (capacity 14) with the file's sections in order; returns the count. */
static size_t sections(const lqmf_hparams *hp, section *s) {
    const uint64_t d = hp->n_embd, ff = hp->n_ff, v = hp->n_vocab;
    const uint64_t q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    const uint64_t half_freqs = (uint64_t)hp->n_ctx_train * hp->head_dim / 2;
    size_t n = 0;
    s[n++] = (section){"token_embedding_table", "token_embd.weight", d, v, false};
    s[n++] = (section){"rms_att_weight", "blk.%u.attn_norm.weight", d, 0, true};
    s[n++] = (section){"wq", "blk.%u.attn_q.weight", d, q, true};
    s[n++] = (section){"wk", "blk.%u.attn_k.weight", d, kv, true};
    s[n++] = (section){"wv", "blk.%u.attn_v.weight", d, kv, true};
    s[n++] = (section){"wo", "blk.%u.attn_output.weight", q, d, true};
    s[n++] = (section){"rms_ffn_weight", "blk.%u.ffn_norm.weight", d, 0, true};
    s[n++] = (section){"w1", "blk.%u.ffn_gate.weight", d, ff, true};
    s[n++] = (section){"w2", "blk.%u.ffn_down.weight", ff, d, true};
    s[n++] = (section){"w3", "blk.%u.ffn_up.weight", d, ff, true};
    s[n++] = (section){"rms_final_weight", "output_norm.weight", d, 0, false};
    s[n++] = (section){"freq_cis_real", NULL, half_freqs, 0, false};
    s[n++] = (section){"freq_cis_imag", NULL, half_freqs, 0, false};
    if (!hp->tied_embeddings) s[n++] = (section){"wcls", "output.weight", d, v, false};
    return n;
}

/* Bytes the sections take (f32), with overflow checks; false on overflow. */
static bool total_bytes(const section *s, size_t n, uint32_t n_layer, uint64_t *out) {
    uint64_t total = HEADER_BYTES;
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        if (!lqmf_mul_u64(s[i].ne0, s[i].ne1 ? s[i].ne1 : 1, &b) || !lqmf_mul_u64(b, 4, &b) ||
            (s[i].per_layer && !lqmf_mul_u64(b, n_layer, &b)) || !lqmf_add_u64(total, b, &total))
            return false;
    }
    *out = total;
    return true;
}

/* tokenizer.bin, else tok<vocab>.bin, in the checkpoint's folder. */
static lqmf_status find_tokenizer(lqmf_model *m, const char *path) {
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    char cand[2][64];
    snprintf(cand[0], sizeof cand[0], "tokenizer.bin");
    snprintf(cand[1], sizeof cand[1], "tok%u.bin", m->hp.n_vocab);
    for (int i = 0; i < 2; i++) {
        char *p = NULL;
        if (asprintf(&p, "%.*s/%s", dir_len, dir, cand[i]) < 0)
            return lqmf_error(LQMF_E_NOMEM, "model: out of memory");
        if (access(p, R_OK) == 0) {
            m->tok_source = LQMF_TOK_LLAMA2C;
            m->tok_path = p;
            return LQMF_OK;
        }
        free(p);
    }
    return LQMF_OK;
}

static lqmf_status add_sections(lqmf_model *m, const uint8_t *base, const section *s, size_t n) {
    uint64_t off = HEADER_BYTES;
    char name[LQMF_TENSOR_NAME_MAX], src[64];
    for (size_t i = 0; i < n; i++) {
        const uint64_t ne[2] = {s[i].ne0, s[i].ne1 ? s[i].ne1 : 1};
        const uint64_t bytes = ne[0] * ne[1] * 4; /* bounded by total_bytes */
        const uint32_t reps = s[i].per_layer ? m->hp.n_layer : 1;
        for (uint32_t l = 0; l < reps; l++, off += bytes) {
            if (!s[i].internal) continue;
            if (s[i].per_layer) {
                snprintf(name, sizeof name, s[i].internal, l);
                snprintf(src, sizeof src, "%s[%u]", s[i].src, l);
            } else {
                snprintf(name, sizeof name, "%s", s[i].internal);
                snprintf(src, sizeof src, "%s", s[i].src);
            }
            lqmf_status st = lqmf_model_add_tensor_src(m, src, name, LQMF_TYPE_F32, s[i].ne1 ? 2 : 1, ne,
                                                       base + off, false);
            if (st != LQMF_OK) return st;
        }
    }
    return LQMF_OK;
}

static lqmf_status fill(lqmf_model *m, const char *path, lqmf_map *map, const section *s, size_t n) {
    const uint8_t *base = map->data;
    lqmf_status st = lqmf_model_own_map(m, map);
    if (st == LQMF_OK) st = add_sections(m, base, s, n);
    if (st == LQMF_OK && !(m->path = strdup(path))) st = lqmf_error(LQMF_E_NOMEM, "model: out of memory");
    if (st == LQMF_OK) st = find_tokenizer(m, path);
    return st == LQMF_OK ? lqmf_model_validate(m) : st;
}

lqmf_status lqmf_llama2c_open(const char *path, lqmf_model **out) {
    *out = NULL;
    lqmf_map map;
    lqmf_status st = lqmf_map_open(path, &map);
    if (st != LQMF_OK) return st;
    int32_t h[7];
    if ((st = read_header(&map, h)) != LQMF_OK) {
        lqmf_map_close(&map);
        return st;
    }
    lqmf_hparams hp = header_hparams(h);
    section s[14];
    size_t ns = sections(&hp, s);
    uint64_t need = 0;
    if (!total_bytes(s, ns, hp.n_layer, &need) || need != map.size) {
        st = lqmf_error(LQMF_E_FORMAT,
                        "%s: file is %llu bytes but its llama2.c header (dim %d, "
                        "hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, vocab_size %d, "
                        "seq_len %d) needs %llu bytes",
                        path, (unsigned long long)map.size, h[0], h[1], h[2], h[3], h[4], h[5], h[6],
                        (unsigned long long)need);
        lqmf_map_close(&map);
        return st;
    }
    lqmf_model *m;
    if ((st = lqmf_model_new(&hp, &m)) != LQMF_OK) {
        lqmf_map_close(&map);
        return st;
    }
    m->format = LQMF_FORMAT_LLAMA2C;
    if ((st = fill(m, path, &map, s, ns)) != LQMF_OK) {
        lqmf_model_close(m);
        return st;
    }
    *out = m;
    return LQMF_OK;
}
