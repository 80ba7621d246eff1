/* Fuzz tokenizer loading and encoding. Input: one byte picking the file
 * format (tokenizer.json, SentencePiece .model, llama2.c .bin), a u16
 * little-endian length L, L bytes of tokenizer file, then the text. A file that loads must then encode
 * the text (any bytes: invalid UTF-8 is an error, not a crash), decode the
 * ids again (whole and streaming, which must agree on valid UTF-8), and
 * render the text as a chat template. */
#include "lqmf/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static lqmf_tokenizer *load(const uint8_t *file, size_t n, uint8_t kind) {
    lqmf_tokenizer *t = NULL;
    switch (kind % 4) {
    case 0:
    case 1: lqmf_tok_load_hf_json((const char *)file, n, NULL, 0, "fuzz.json", &t); break;
    case 2: lqmf_tok_load_spm(file, n, "fuzz.model", &t); break;
    default: lqmf_tok_load_llama2c(file, n, 0, "fuzz.bin", &t); break;
    }
    return t;
}

static void exercise(lqmf_tokenizer *t, const char *text, size_t len) {
    lqmf_tok_ids ids = {0};
    unsigned flags = len && (text[0] & 1) ? LQMF_TOK_ADD_SPECIAL | LQMF_TOK_PARSE_SPECIAL : 0;
    if (lqmf_tok_encode(t, text, len, flags, &ids) == LQMF_OK) {
        for (size_t i = 0; i < ids.n; i++)
            if (ids.ids[i] < 0 || (uint32_t)ids.ids[i] >= lqmf_tok_n_vocab(t)) __builtin_trap();
        lqmf_buf whole, streamed;
        lqmf_buf_init(&whole);
        lqmf_buf_init(&streamed);
        if (lqmf_tok_decode(t, ids.ids, ids.n, 0, &whole) != LQMF_OK) __builtin_trap();
        lqmf_tok_stream s;
        lqmf_tok_stream_init(&s, t, 0);
        for (size_t i = 0; i < ids.n; i++)
            if (lqmf_tok_stream_push(&s, ids.ids[i], &streamed) != LQMF_OK) __builtin_trap();
        lqmf_tok_stream_flush(&s, &streamed);
        bool valid = lqmf_utf8_valid((const char *)whole.data, whole.len);
        if (valid &&
            (whole.len != streamed.len || (whole.len && memcmp(whole.data, streamed.data, whole.len))))
            __builtin_trap();
        if (!lqmf_utf8_valid((const char *)streamed.data, streamed.len)) __builtin_trap();
        lqmf_buf_free(&whole);
        lqmf_buf_free(&streamed);
    }
    lqmf_tok_ids_free(&ids);
    char *tmpl = malloc(len + 1), *out = NULL;
    if (!tmpl) return;
    memcpy(tmpl, text, len);
    tmpl[len] = 0;
    static const lqmf_chat_msg msgs[] = {{"system", "S"}, {"user", "U"}, {"assistant", "A"}};
    lqmf_tok_chat_apply(t, tmpl, msgs, 3, true, &out);
    free(out);
    free(tmpl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    uint8_t kind = data[0];
    size_t n = (size_t)data[1] | (size_t)data[2] << 8;
    if (n > size - 3) n = size - 3;
    const uint8_t *file = data + 3;
    const char *text = (const char *)file + n;
    size_t len = size - 3 - n;
    lqmf_tokenizer *t = load(file, n, kind);
    if (!t) return 0;
    exercise(t, text, len);
    lqmf_tok_free(t);
    return 0;
}
