/* GPT-2's original vocabulary files: vocab.json (or encoder.json), a JSON
 * object token -> id in byte-level text, and merges.txt (or vocab.bpe), one
 * "left right" merge per line after an optional "#version" line. They are
 * turned into the equivalent tokenizer.json (ByteLevel pre-tokenizer and
 * decoder, "<|endoftext|>" special) and loaded as one. */
#include "tok_internal.h"
#include "tok_json.h"

#include <stdlib.h>
#include <string.h>

static void json_string(lqmf_buf *b, const char *s, size_t n) {
    lqmf_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            lqmf_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            lqmf_buf_printf(b, "\\u%04x", c);
        else
            lqmf_buf_append(b, s + i, 1);
    }
    lqmf_buf_append(b, "\"", 1);
}

/* Id of "<|endoftext|>" in the vocabulary text, -1 when absent. */
static lqmf_status eot_id(const char *vocab, size_t n, const char *name, int64_t *id) {
    tj_doc d;
    lqmf_status st = tj_parse(vocab, n, name, &d);
    if (st) return st;
    *id = -1;
    if (!tj_int(&d, tj_get(&d, 0, "<|endoftext|>"), id)) *id = -1;
    tj_free(&d);
    return LQMF_OK;
}

lqmf_status tok_load_gpt2_files(const char *vocab_path, const char *merges_path, lqmf_tokenizer **out) {
    char *vocab = NULL, *merges = NULL;
    size_t vn, mn;
    int64_t eot = -1;
    lqmf_status st = lqmf_read_file(vocab_path, TOK_MAX_FILE_BYTES, &vocab, &vn);
    if (!st) st = lqmf_read_file(merges_path, TOK_MAX_FILE_BYTES, &merges, &mn);
    if (!st) st = eot_id(vocab, vn, vocab_path, &eot);
    lqmf_buf j;
    lqmf_buf_init(&j);
    if (!st) {
        lqmf_buf_printf(&j, "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
        lqmf_buf_append(&j, vocab, vn);
        lqmf_buf_printf(&j, ", \"merges\": [");
        bool first = true;
        for (char *line = merges, *end = merges + mn; line < end;) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
            if (len && line[len - 1] == '\r') len--;
            if (len && strncmp(line, "#version", 8) != 0) {
                if (!first) lqmf_buf_append(&j, ", ", 2);
                json_string(&j, line, len);
                first = false;
            }
            line += (nl ? (size_t)(nl - line) + 1 : len);
            if (!nl) break;
        }
        lqmf_buf_printf(&j, "]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
                            " \"decoder\": {\"type\": \"ByteLevel\"}");
        if (eot >= 0)
            lqmf_buf_printf(
                &j, ", \"added_tokens\": [{\"id\": %lld, \"content\": \"<|endoftext|>\", \"special\": true}]",
                (long long)eot);
        lqmf_buf_append(&j, "}", 1);
        if (j.failed) st = lqmf_error(LQMF_E_NOMEM, "%s: out of memory", vocab_path);
    }
    if (!st) st = lqmf_tok_load_hf_json((const char *)j.data, j.len, NULL, 0, merges_path, out);
    if (!st && eot >= 0) (*out)->bos = (*out)->eos = (int32_t)eot;
    lqmf_buf_free(&j);
    free(vocab);
    free(merges);
    return st;
}
