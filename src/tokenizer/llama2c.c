/* llama2.c tokenizer.bin: int32 max_token_length, then per token
 * float32 score, int32 byte length, the bytes (little-endian). Tokens 0, 1, 2
 * are <unk>, <s>, </s> (written as "\n<s>\n" and "\n</s>\n"); pieces use
 * ' ' where SentencePiece uses U+2581, which is restored here so the
 * SentencePiece algorithm and decoder apply unchanged. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

static lqmf_status load(lqmf_tokenizer *t, const uint8_t *data, size_t len, uint32_t n_vocab) {
    if (len < 4)
        return lqmf_error(LQMF_E_FORMAT, "%s: %zu bytes is too short for tokenizer.bin", t->name, len);
    int32_t max_len;
    memcpy(&max_len, data, 4);
    if (max_len <= 0 || max_len > (int32_t)TOK_MAX_TOKEN_BYTES)
        return lqmf_error(LQMF_E_FORMAT, "%s: max_token_length %d is out of range", t->name, max_len);
    /* count the tokens (and check the layout) first */
    uint32_t n = 0;
    size_t at = 4;
    while (at < len && (n_vocab == 0 || n < n_vocab)) {
        int32_t tl;
        if (len - at < 8)
            return lqmf_error(LQMF_E_FORMAT, "%s: token %u is cut short at byte %zu", t->name, n, at);
        memcpy(&tl, data + at + 4, 4);
        if (tl < 0 || tl > max_len || (size_t)tl > len - at - 8)
            return lqmf_error(LQMF_E_FORMAT,
                              "%s: token %u has length %d (max_token_length %d, %zu bytes left)", t->name, n,
                              tl, max_len, len - at - 8);
        at += 8 + (size_t)tl;
        if (++n > TOK_MAX_VOCAB) break;
    }
    if (n_vocab && n < n_vocab)
        return lqmf_error(LQMF_E_FORMAT, "%s: %u tokens, the model expects %u", t->name, n, n_vocab);
    if (n < 3)
        return lqmf_error(LQMF_E_FORMAT, "%s: %u tokens, expected at least <unk>, <s>, </s>", t->name, n);
    lqmf_status st = tok_vocab_alloc(t, n);
    if (st) return st;
    t->algo = LQMF_TOK_ALGO_SPM;
    t->byte_fallback = true;
    lqmf_buf piece;
    lqmf_buf_init(&piece);
    at = 4;
    for (uint32_t id = 0; id < n && !st; id++) {
        float score;
        int32_t tl;
        memcpy(&score, data + at, 4);
        memcpy(&tl, data + at + 4, 4);
        const char *s = (const char *)data + at + 8;
        at += 8 + (size_t)tl;
        static const char *special[3] = {"<unk>", "<s>", "</s>"};
        if (id < 3) {
            lqmf_tok_type ty = id == 0 ? LQMF_TOK_UNKNOWN : LQMF_TOK_CONTROL;
            st = tok_vocab_set(t, id, special[id], strlen(special[id]), score, ty);
            continue;
        }
        if (tok_utf8_check(s, (size_t)tl) != (size_t)tl) {
            st = lqmf_error(LQMF_E_FORMAT, "%s: token %u is not valid UTF-8", t->name, id);
            break;
        }
        piece.len = 0;
        for (int32_t k = 0; k < tl; k++) {
            if (s[k] == ' ')
                lqmf_buf_append(&piece, "\xe2\x96\x81", 3);
            else
                lqmf_buf_append(&piece, s + k, 1);
        }
        lqmf_tok_type ty = tok_parse_byte_token(s, (size_t)tl) >= 0 ? LQMF_TOK_BYTE : LQMF_TOK_NORMAL;
        st = piece.failed ? lqmf_error(LQMF_E_NOMEM, "out of memory")
                          : tok_vocab_set(t, id, (const char *)piece.data, piece.len, score, ty);
    }
    lqmf_buf_free(&piece);
    if (st || (st = tok_register_added_by_type(t)) || (st = tok_vocab_finish(t))) return st;
    t->unk = 0;
    t->bos = 1;
    t->eos = 2;
    if ((st = tok_setup_spm_pipeline(t, true, false))) return st;
    tok_set_add_special(t, true, false);
    return LQMF_OK;
}

lqmf_status lqmf_tok_load_llama2c(const uint8_t *data, size_t len, uint32_t n_vocab, const char *name,
                                  lqmf_tokenizer **out) {
    *out = NULL;
    lqmf_tokenizer *t;
    lqmf_status st = tok_new(name, &t);
    if (st) return st;
    if ((st = load(t, data, len, n_vocab))) {
        lqmf_tok_free(t);
        return st;
    }
    *out = t;
    return LQMF_OK;
}
