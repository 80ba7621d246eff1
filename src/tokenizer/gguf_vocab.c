/* GGUF vocabularies (llama.cpp's tokenizer.ggml.* keys): reading them into
 * a tokenizer and writing a tokenizer out for HF -> GGUF conversion.
 *
 * Keys: tokenizer.ggml.model ("gpt2" = byte-level BPE, "llama" =
 * SentencePiece), .tokens (str[]), .scores (f32[]), .token_type (i32[]:
 * lqmf_tok_type), .merges (str[] "left right", BPE), .pre (pre-tokenizer
 * name), .bos/eos/unknown/padding_token_id (u32), .add_bos_token,
 * .add_eos_token, .add_space_prefix (bool), tokenizer.chat_template. */
#include "lqmf/gguf.h"
#include "tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K "tokenizer.ggml."

/* ---- reading --------------------------------------------------------------- */

/* An optional id key: -1 when absent, UINT32_MAX or outside the vocabulary. */
static lqmf_status opt_id(const lqmf_tokenizer *t, const lqmf_gguf *g, const char *key, int32_t *id) {
    int64_t v;
    lqmf_status st = lqmf_gguf_get_i64(g, key, &v);
    *id = -1;
    if (st == LQMF_E_NOT_FOUND) {
        lqmf_clear_error();
        return LQMF_OK;
    }
    if (st) return st;
    if (v >= 0 && v < (int64_t)t->n) *id = (int32_t)v;
    return LQMF_OK;
}

static lqmf_status opt_bool(const lqmf_gguf *g, const char *key, bool def, bool *out) {
    lqmf_status st = lqmf_gguf_get_bool(g, key, out);
    if (st == LQMF_E_NOT_FOUND) {
        lqmf_clear_error();
        *out = def;
        return LQMF_OK;
    }
    return st;
}

/* An optional per-token array of n scalars of type ty; NULL when absent. */
static lqmf_status opt_arr(const lqmf_tokenizer *t, const lqmf_gguf *g, const char *key, lqmf_gguf_vtype ty,
                           const lqmf_gguf_value **out) {
    *out = NULL;
    if (!lqmf_gguf_find_key(g, key)) return LQMF_OK;
    lqmf_status st = lqmf_gguf_get_arr(g, key, ty, out);
    if (st) return st;
    if ((*out)->v.arr.count != t->n)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s has %llu entries for %u tokens", t->name, key,
                          (unsigned long long)(*out)->v.arr.count, t->n);
    return LQMF_OK;
}

static lqmf_status read_tokens(lqmf_tokenizer *t, const lqmf_gguf *g) {
    const lqmf_gguf_value *tokens, *scores, *types;
    lqmf_status st = lqmf_gguf_get_arr(g, K "tokens", LQMF_GGUF_STR, &tokens);
    if (st) return st;
    if (tokens->v.arr.count > TOK_MAX_VOCAB || tokens->v.arr.count == 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: " K "tokens has %llu entries (expected 1..%u)", t->name,
                          (unsigned long long)tokens->v.arr.count, TOK_MAX_VOCAB);
    if ((st = tok_vocab_alloc(t, (uint32_t)tokens->v.arr.count))) return st;
    if ((st = opt_arr(t, g, K "scores", LQMF_GGUF_F32, &scores)) ||
        (st = opt_arr(t, g, K "token_type", LQMF_GGUF_I32, &types)))
        return st;
    for (uint32_t id = 0; id < t->n; id++) {
        lqmf_gguf_str s = tokens->v.arr.strs[id];
        float score = 0.0f;
        int32_t type = LQMF_TOK_NORMAL;
        if (scores) memcpy(&score, (const char *)scores->v.arr.data + 4 * (size_t)id, 4);
        if (types) memcpy(&type, (const char *)types->v.arr.data + 4 * (size_t)id, 4);
        if (type == 0) type = LQMF_TOK_NORMAL; /* "undefined" in older files */
        if (type < LQMF_TOK_NORMAL || type > LQMF_TOK_BYTE)
            return lqmf_error(LQMF_E_FORMAT, "%s: " K "token_type[%u] is %d (expected 1..6)", t->name, id,
                              type);
        if ((st = tok_vocab_set(t, id, s.ptr, (size_t)s.len, score, (lqmf_tok_type)type))) return st;
    }
    return LQMF_OK;
}

static lqmf_status read_merges(lqmf_tokenizer *t, const lqmf_gguf *g) {
    const lqmf_gguf_value *merges;
    lqmf_status st = lqmf_gguf_get_arr(g, K "merges", LQMF_GGUF_STR, &merges);
    if (st) return st;
    if (merges->v.arr.count > TOK_MAX_MERGES)
        return lqmf_error(LQMF_E_FORMAT, "%s: %llu merges (limit %u)", t->name,
                          (unsigned long long)merges->v.arr.count, TOK_MAX_MERGES);
    uint32_t n = (uint32_t)merges->v.arr.count;
    if ((st = tok_merges_alloc(t, n))) return st;
    lqmf_buf scratch;
    lqmf_buf_init(&scratch);
    for (uint32_t i = 0; i < n && !st; i++) {
        lqmf_gguf_str m = merges->v.arr.strs[i];
        const char *sp = memchr(m.ptr, ' ', (size_t)m.len);
        if (!sp) {
            st = lqmf_error(LQMF_E_FORMAT, "%s: " K "merges[%u] '%.*s' has no space between its tokens",
                            t->name, i, (int)(m.len > 64 ? 64 : m.len), m.ptr);
            break;
        }
        size_t an = (size_t)(sp - m.ptr);
        st = tok_merges_add_text(t, m.ptr, an, sp + 1, (size_t)m.len - an - 1, K "merges", i, &scratch);
    }
    lqmf_buf_free(&scratch);
    return st;
}

static lqmf_status read_specials(lqmf_tokenizer *t, const lqmf_gguf *g, bool def_bos) {
    lqmf_status st;
    bool add_bos, add_eos;
    if ((st = opt_id(t, g, K "bos_token_id", &t->bos)) || (st = opt_id(t, g, K "eos_token_id", &t->eos)) ||
        (st = opt_id(t, g, K "unknown_token_id", &t->unk)) ||
        (st = opt_id(t, g, K "padding_token_id", &t->pad)) ||
        (st = opt_bool(g, K "add_bos_token", def_bos, &add_bos)) ||
        (st = opt_bool(g, K "add_eos_token", false, &add_eos)))
        return st;
    tok_set_add_special(t, add_bos, add_eos);
    t->add_stated = lqmf_gguf_find_key(g, K "add_bos_token") || lqmf_gguf_find_key(g, K "add_eos_token");
    lqmf_gguf_str tmpl;
    st = lqmf_gguf_get_str(g, "tokenizer.chat_template", &tmpl);
    if (st == LQMF_E_NOT_FOUND) {
        lqmf_clear_error();
        return LQMF_OK;
    }
    if (st) return st;
    if (!(t->chat_template = strndup(tmpl.ptr, (size_t)tmpl.len)))
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    return LQMF_OK;
}

static lqmf_status load(lqmf_tokenizer *t, const lqmf_gguf *g) {
    lqmf_gguf_str model, pre = {"default", 7};
    lqmf_status st = lqmf_gguf_get_str(g, K "model", &model);
    if (st == LQMF_E_NOT_FOUND)
        return lqmf_error(LQMF_E_NOT_FOUND, "%s: no vocabulary (" K "model is absent)", t->name);
    if (st) return st;
    bool spm = lqmf_gguf_str_eq(model, "llama"), bpe = lqmf_gguf_str_eq(model, "gpt2");
    if (!spm && !bpe)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: " K "model '%.*s' is not supported (gpt2 or llama)",
                          t->name, (int)(model.len > 32 ? 32 : model.len), model.ptr);
    if (lqmf_gguf_find_key(g, K "pre") && (st = lqmf_gguf_get_str(g, K "pre", &pre))) return st;
    char pre_name[64];
    snprintf(pre_name, sizeof pre_name, "%.*s", (int)(pre.len < 63 ? pre.len : 63), pre.ptr);
    t->algo = spm ? LQMF_TOK_ALGO_SPM : LQMF_TOK_ALGO_BPE;
    t->byte_level = bpe;
    t->byte_fallback = spm;
    if ((st = read_tokens(t, g)) || (st = tok_register_added_by_type(t)) || (st = tok_vocab_finish(t)))
        return st;
    if (spm) {
        bool prefix;
        if ((st = opt_bool(g, K "add_space_prefix", true, &prefix)) ||
            (st = tok_setup_spm_pipeline(t, prefix, false)))
            return st;
        return read_specials(t, g, true);
    }
    bool llama3 = false;
    if ((st = read_merges(t, g)) || (st = tok_setup_pre_by_name(t, pre_name, &llama3))) return st;
    t->ignore_merges = llama3;
    return read_specials(t, g, llama3);
}

lqmf_status lqmf_tok_load_gguf(const lqmf_gguf *g, lqmf_tokenizer **out) {
    *out = NULL;
    lqmf_tokenizer *t;
    lqmf_status st = tok_new(lqmf_gguf_label(g), &t);
    if (st) return st;
    if ((st = load(t, g))) {
        lqmf_tok_free(t);
        return st;
    }
    *out = t;
    return LQMF_OK;
}

lqmf_status tok_open_gguf_path(const char *path, lqmf_tokenizer **out) {
    lqmf_gguf *g;
    lqmf_status st = lqmf_gguf_open(path, &g);
    if (st) return st;
    st = lqmf_tok_load_gguf(g, out);
    lqmf_gguf_close(g);
    return st;
}

/* ---- writing ----------------------------------------------------------------- */

/* Scores for a byte-fallback BPE written as a SentencePiece vocabulary: the
 * token made by merge rank r scores -r, so merging by score replays the
 * merge order; tokens no merge makes score below every merge. */
static float *merge_scores(const lqmf_tokenizer *t) {
    float *s = malloc((size_t)t->n * sizeof *s);
    if (!s) return NULL;
    for (uint32_t i = 0; i < t->n; i++) s[i] = -1e9f;
    for (uint32_t r = t->n_merges; r-- > 0;) s[t->merge_list[3 * r + 2]] = -(float)r;
    return s;
}

static lqmf_status put_ids(const lqmf_tokenizer *t, struct lqmf_gguf_writer *w) {
    static const char *keys[4] = {K "bos_token_id", K "eos_token_id", K "unknown_token_id",
                                  K "padding_token_id"};
    const int32_t ids[4] = {t->bos, t->eos, t->unk, t->pad};
    for (int k = 0; k < 4; k++) {
        lqmf_status st = ids[k] >= 0 ? lqmf_gguf_writer_set_u32(w, keys[k], (uint32_t)ids[k]) : LQMF_OK;
        if (st) return st;
    }
    return LQMF_OK;
}

lqmf_status lqmf_tok_write_gguf(const lqmf_tokenizer *t, struct lqmf_gguf_writer *w) {
    bool gpt2 = t->algo == LQMF_TOK_ALGO_BPE && t->byte_level;
    if (t->algo == LQMF_TOK_ALGO_BPE && !t->byte_level && !t->byte_fallback)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: a BPE vocabulary that is neither byte-level nor byte "
                          "fallback has no GGUF form",
                          t->name);
    const char **texts = malloc((size_t)t->n * sizeof *texts);
    int32_t *types = malloc((size_t)t->n * sizeof *types);
    float *scores = gpt2 ? NULL : t->algo == LQMF_TOK_ALGO_SPM ? t->score : merge_scores(t);
    lqmf_status st = LQMF_OK;
    if (!texts || !types || (!gpt2 && !scores)) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    for (uint32_t i = 0; !st && i < t->n; i++) {
        size_t len;
        texts[i] = lqmf_tok_text(t, (int32_t)i, &len);
        types[i] = t->type[i];
        if (strlen(texts[i]) != len)
            st = lqmf_error(LQMF_E_UNSUPPORTED,
                            "%s: token %u holds a NUL byte, which GGUF strings here cannot", t->name, i);
    }
    if (!st) st = lqmf_gguf_writer_set_str(w, K "model", gpt2 ? "gpt2" : "llama");
    if (!st) st = lqmf_gguf_writer_set_str(w, K "pre", lqmf_tok_pre_name(t));
    if (!st) st = lqmf_gguf_writer_set_arr_str(w, K "tokens", texts, t->n);
    if (!st && scores) st = lqmf_gguf_writer_set_arr(w, K "scores", LQMF_GGUF_F32, scores, t->n);
    if (!st) st = lqmf_gguf_writer_set_arr(w, K "token_type", LQMF_GGUF_I32, types, t->n);
    if (!st && gpt2) {
        lqmf_buf pool;
        lqmf_buf_init(&pool);
        const char **m = malloc(((size_t)t->n_merges + 1) * sizeof *m);
        size_t *off = malloc(((size_t)t->n_merges + 1) * sizeof *off);
        for (uint32_t r = 0; m && off && r < t->n_merges; r++) {
            off[r] = pool.len;
            lqmf_buf_printf(&pool, "%s %s", texts[t->merge_list[3 * r]], texts[t->merge_list[3 * r + 1]]);
            lqmf_buf_append(&pool, "", 1);
        }
        if (!m || !off || pool.failed) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
        for (uint32_t r = 0; !st && r < t->n_merges; r++) m[r] = (const char *)pool.data + off[r];
        if (!st) st = lqmf_gguf_writer_set_arr_str(w, K "merges", m, t->n_merges);
        free(m);
        free(off);
        lqmf_buf_free(&pool);
    }
    if (!st) st = put_ids(t, w);
    if (!st && t->add_stated) st = lqmf_gguf_writer_set_bool(w, K "add_bos_token", lqmf_tok_adds_bos(t));
    if (!st && t->add_stated) st = lqmf_gguf_writer_set_bool(w, K "add_eos_token", lqmf_tok_adds_eos(t));
    if (!st && !gpt2) st = lqmf_gguf_writer_set_bool(w, K "add_space_prefix", tok_adds_prefix(t));
    if (!st && t->chat_template)
        st = lqmf_gguf_writer_set_str(w, "tokenizer.chat_template", t->chat_template);
    if (scores != t->score) free(scores);
    free(texts);
    free(types);
    return st;
}
