/* Tokenizer edge cases: malformed files (generated here) give clear errors,
 * invalid input text, decoding and streaming decode, added-token matching
 * rules, and the lqmf tokenize command. */
#include "../test.h"
#include "lqmf/gguf.h"
#include "lqmf/model.h"
#include "lqmf/tokenizer.h"

#include <stdlib.h>
#include <unistd.h>

static lqmf_status load_json(const char *json, lqmf_tokenizer **t) {
    return lqmf_tok_load_hf_json(json, strlen(json), NULL, 0, "test.json", t);
}

/* A small byte-level vocabulary written out in full: the 256 byte symbols
 * (GPT-2 byte map) plus a few merges, as a JSON object text. */
static char *bytelevel_json(const char *extra_merges, const char *extra) {
    lqmf_buf b;
    lqmf_buf_init(&b);
    lqmf_buf_printf(&b, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || c >= 0xae, k = 0;
        for (int x = 0; x < c; x++) k += !((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || x >= 0xae);
        unsigned cp = printable ? (unsigned)c : 256u + (unsigned)k;
        char u[8];
        if (cp == '"' || cp == '\\')
            snprintf(u, sizeof u, "\\%c", cp);
        else if (cp < 0x80)
            snprintf(u, sizeof u, "%c", cp);
        else
            snprintf(u, sizeof u, "%c%c", 0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
        lqmf_buf_printf(&b, "\"%s\": %d, ", u, c);
    }
    lqmf_buf_printf(&b,
                    "\"he\": 256, \"\xc4\xa0t\": 257, \"\xc4\xa0the\": 258},"
                    " \"merges\": [\"h e\", \"\xc4\xa0 t\", \"\xc4\xa0t he\"%s]},"
                    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}%s}",
                    extra_merges, extra);
    return (char *)b.data;
}

TEST(tok_malformed_json_is_reported) {
    static const struct {
        const char *json, *needle;
        lqmf_status st;
    } bad[] = {
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}", "invalid JSON at line 1 column",
         LQMF_E_FORMAT},
        {"{\"model\":\n {\"vocab\": {\"a\": 0,}}}", "line 2", LQMF_E_FORMAT},
        {"[1, 2]", "the top level must be an object", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model type 'Unigram' is not supported",
         LQMF_E_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": [\"a\"]}}", "model.vocab must be an object",
         LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}}}",
         "'a' has an id that is not an integer", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}}}", "not an integer in 0..", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}}}", "gives id 0 to two tokens",
         LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 99999}}}", "nearly contiguous",
         LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}",
         "model.merges[0] 'a c': token 'c' is not in the vocabulary", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
         "the merged token is not in the vocabulary", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", "is not two tokens",
         LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": {}}}",
         "model.merges must be an array", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"byte_fallback\": 1}}",
         "model.byte_fallback must be true or false", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"unk_token\": \"<unk>\"}}",
         "unk_token '<unk>' is not in the vocabulary", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": 1}]}",
         "content must be a non-empty string", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Split\", "
         "\"pattern\": {\"Regex\": \"(a\"}}}",
         "does not compile", LQMF_E_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": "
         "\"BertPreTokenizer\"}}",
         "pre-tokenizer type 'BertPreTokenizer' is not supported", LQMF_E_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"normalizer\": {\"type\": "
         "\"Precompiled\"}}",
         "normalizer type 'Precompiled' is not supported", LQMF_E_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"decoder\": {\"type\": \"WordPiece\"}}",
         "decoder type 'WordPiece' is not supported", LQMF_E_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"TemplateProcessing\", \"single\": "
         "[{\"SpecialToken\": {\"id\": \"<s>\"}}], \"special_tokens\": {\"<s>\": {\"ids\": [7]}}}}",
         "token id 7 outside the vocabulary", LQMF_E_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"continuing_subword_prefix\": \"##\"}}",
         "continuing_subword_prefix is not supported", LQMF_E_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\\ud800\": 0}}}", "surrogate", LQMF_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lqmf_tokenizer *t = (lqmf_tokenizer *)&t; /* must be reset to NULL */
        CHECK_ERR(load_json(bad[i].json, &t), bad[i].st, bad[i].needle);
        CHECK(t == NULL);
        CHECKF(strstr(lqmf_last_error(), "test.json"), "message names the file: %s", lqmf_last_error());
    }
}

TEST(tok_malformed_config_is_reported) {
    static const char json[] = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}";
    lqmf_tokenizer *t;
    CHECK_ERR(lqmf_tok_load_hf_json(json, strlen(json), "{\"bos_token\": 5}", 16, "x", &t), LQMF_E_FORMAT,
              "tokenizer_config.json: bos_token must be a string");
    /* a special token the vocabulary lacks is ignored (transformers would add it) */
    REQUIRE_OK(lqmf_tok_load_hf_json(json, strlen(json), "{\"bos_token\": \"<s>\"}", 20, "x", &t));
    CHECK_EQ_INT(lqmf_tok_bos(t), -1);
    lqmf_tok_free(t);
    CHECK_ERR(lqmf_tok_load_hf_json(json, strlen(json), "{\"add_bos_token\": \"yes\"}", 24, "x", &t),
              LQMF_E_FORMAT, "add_bos_token must be true or false");
    CHECK_ERR(lqmf_tok_load_hf_json(json, strlen(json), "{\"chat_template\": 3}", 20, "x", &t), LQMF_E_FORMAT,
              "chat_template must be a string");
    CHECK_ERR(lqmf_tok_load_hf_json(json, strlen(json), "{", 1, "x", &t), LQMF_E_FORMAT, "invalid JSON");
}

TEST(tok_malformed_binary_files_are_reported) {
    lqmf_tokenizer *t;
    static const uint8_t spm_trunc[] = {0x0a, 0x20, 0x0a,
                                        0x05, '<',  'u'}; /* LEN field longer than the data */
    CHECK_ERR(lqmf_tok_load_spm(spm_trunc, sizeof spm_trunc, "x.model", &t), LQMF_E_FORMAT,
              "x.model: not a SentencePiece model");
    static const uint8_t spm_unigram[] = {0x0a, 0x03, 0x0a, 0x01, 'a',
                                          0x12, 0x02, 0x18, 0x01}; /* model_type 1 */
    CHECK_ERR(lqmf_tok_load_spm(spm_unigram, sizeof spm_unigram, "x.model", &t), LQMF_E_UNSUPPORTED,
              "model type 1");
    static const uint8_t spm_type[] = {0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x09, 0x12, 0x02, 0x18, 0x02};
    CHECK_ERR(lqmf_tok_load_spm(spm_type, sizeof spm_type, "x.model", &t), LQMF_E_FORMAT,
              "piece 0 has type 9");
    static const uint8_t bin_short[] = {16, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 'a'};
    CHECK_ERR(lqmf_tok_load_llama2c(bin_short, sizeof bin_short, 0, "x.bin", &t), LQMF_E_FORMAT,
              "token 0 has length 99");
    static const uint8_t bin_max[] = {0, 0, 0, 0};
    CHECK_ERR(lqmf_tok_load_llama2c(bin_max, sizeof bin_max, 0, "x.bin", &t), LQMF_E_FORMAT,
              "max_token_length 0");
}

static lqmf_status gguf_vocab(const char *model, const char *const *tokens, uint64_t n, const int32_t *types,
                              const char *const *merges, uint64_t n_merges, lqmf_tokenizer **t) {
    char path[512];
    snprintf(path, sizeof path, "%s/v.gguf", lqmf_test_tmpdir());
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    if (model) lqmf_gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    if (tokens) lqmf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, n);
    if (types) lqmf_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LQMF_GGUF_I32, types, n);
    if (merges) lqmf_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, n_merges);
    lqmf_status st = lqmf_gguf_writer_write(w, path);
    lqmf_gguf_writer_free(w);
    return st ? st : lqmf_tok_open(path, t);
}

TEST(tok_malformed_gguf_vocab_is_reported) {
    lqmf_tokenizer *t;
    static const char *const toks[] = {"a", "b", "ab"};
    static const char *const bad_merge[] = {"a c"}, *const no_space[] = {"ab"}, *const ok_merge[] = {"a b"};
    static const int32_t bad_types[] = {1, 1, 9};
    CHECK_ERR(gguf_vocab(NULL, toks, 3, NULL, NULL, 0, &t), LQMF_E_NOT_FOUND,
              "tokenizer.ggml.model is absent");
    CHECK_ERR(gguf_vocab("bert", toks, 3, NULL, NULL, 0, &t), LQMF_E_UNSUPPORTED, "'bert' is not supported");
    CHECK_ERR(gguf_vocab("llama", NULL, 0, NULL, NULL, 0, &t), LQMF_E_NOT_FOUND, "tokenizer.ggml.tokens");
    CHECK_ERR(gguf_vocab("llama", toks, 3, bad_types, NULL, 0, &t), LQMF_E_FORMAT, "token_type[2] is 9");
    CHECK_ERR(gguf_vocab("gpt2", toks, 3, NULL, bad_merge, 1, &t), LQMF_E_FORMAT,
              "merges[0] 'a c': token 'c'");
    CHECK_ERR(gguf_vocab("gpt2", toks, 3, NULL, no_space, 1, &t), LQMF_E_FORMAT, "has no space");
    CHECK_OK(gguf_vocab("gpt2", toks, 3, NULL, ok_merge, 1, &t));
    lqmf_tok_ids ids = {0};
    CHECK_OK(lqmf_tok_encode(t, "abba", 4, 0, &ids));
    CHECK(ids.n == 3 && ids.ids[0] == 2 && ids.ids[1] == 1 && ids.ids[2] == 0);
    lqmf_tok_ids_free(&ids);
    lqmf_tok_free(t);
}

TEST(tok_invalid_utf8_and_ids) {
    char *json = bytelevel_json("", "");
    lqmf_tokenizer *t;
    REQUIRE_OK(load_json(json, &t));
    free(json);
    lqmf_tok_ids ids = {0};
    CHECK_ERR(lqmf_tok_encode(t, "ok \xff", 4, 0, &ids), LQMF_E_INVALID, "not valid UTF-8 at byte 3");
    CHECK_ERR(lqmf_tok_encode(t, "\xed\xa0\x80", 3, 0, &ids), LQMF_E_INVALID, "at byte 0"); /* a surrogate */
    CHECK_ERR(lqmf_tok_encode(t, "\xc0\xaf", 2, 0, &ids), LQMF_E_INVALID, "at byte 0");     /* overlong */
    CHECK_EQ_INT(ids.n, 0);
    int32_t bad[] = {5, 259};
    lqmf_buf b;
    lqmf_buf_init(&b);
    CHECK_ERR(lqmf_tok_decode(t, bad, 2, 0, &b), LQMF_E_INVALID,
              "token id 259 outside the vocabulary of 259");
    lqmf_buf_free(&b);
    lqmf_tok_free(t);
}

TEST(tok_bpe_merges_and_ranks) {
    char *json = bytelevel_json("", "");
    lqmf_tokenizer *t;
    REQUIRE_OK(load_json(json, &t));
    free(json);
    CHECK_EQ_INT(lqmf_tok_find(t, "\xc4\xa0the"), 258);
    CHECK_EQ_INT(lqmf_tok_find(t, "\xc4\x80"), 0); /* byte 0x00 */
    CHECK_EQ_INT(lqmf_tok_find(t, "nothere"), -1);
    /* " the the" -> "Ġthe" "Ġthe"; "the" -> "t" "he" (no merge makes "the") */
    lqmf_tok_ids ids = {0};
    CHECK_OK(lqmf_tok_encode(t, " the the", 8, 0, &ids));
    CHECK(ids.n == 2 && ids.ids[0] == 258 && ids.ids[1] == 258);
    ids.n = 0;
    CHECK_OK(lqmf_tok_encode(t, "the", 3, 0, &ids));
    CHECK(ids.n == 2 && ids.ids[0] == 't' && ids.ids[1] == 256);
    /* a long word of one repeated letter stays fast and exact (no merge applies) */
    size_t n = 200000;
    char *word = malloc(n);
    memset(word, 'x', n);
    ids.n = 0;
    double t0 = lqmf_time_now();
    CHECK_OK(lqmf_tok_encode(t, word, n, 0, &ids));
    CHECK_EQ_INT(ids.n, n);
    CHECK(lqmf_time_now() - t0 < 2.0);
    free(word);
    lqmf_tok_ids_free(&ids);
    lqmf_tok_free(t);
}

TEST(tok_added_tokens_rules) {
    char *json =
        bytelevel_json("", ", \"added_tokens\": ["
                           "{\"id\": 259, \"content\": \"<|ctl|>\", \"special\": true},"
                           "{\"id\": 260, \"content\": \"<|ctl|>x\", \"special\": true},"
                           "{\"id\": 261, \"content\": \"[L]\", \"special\": false, \"lstrip\": true},"
                           "{\"id\": 262, \"content\": \"[R]\", \"special\": false, \"rstrip\": true},"
                           "{\"id\": 263, \"content\": \"[W]\", \"special\": false, \"single_word\": true}]");
    lqmf_tokenizer *t;
    REQUIRE_OK(load_json(json, &t));
    free(json);
    static const struct {
        const char *text;
        unsigned flags;
        int32_t want[8];
        size_t n;
    } cases[] = {
        {"<|ctl|>", LQMF_TOK_PARSE_SPECIAL, {259}, 1},
        {"<|ctl|>x", LQMF_TOK_PARSE_SPECIAL, {260}, 1},         /* longest match */
        {"<|ctl|>", 0, {'<', '|', 'c', 't', 'l', '|', '>'}, 7}, /* control tokens need PARSE_SPECIAL */
        {"a  [L]", 0, {'a', 261}, 2},                           /* lstrip eats the spaces before */
        {"[R]  a", 0, {262, 'a'}, 2},                           /* rstrip eats the spaces after */
        {"a[W]", 0, {'a', '[', 'W', ']'}, 4},                   /* single_word: not inside a word */
        {"a [W] b", 0, {'a', ' ', 263, ' ', 'b'}, 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lqmf_tok_ids ids = {0};
        CHECK_OK(lqmf_tok_encode(t, cases[i].text, strlen(cases[i].text), cases[i].flags, &ids));
        bool same = ids.n == cases[i].n;
        for (size_t k = 0; same && k < ids.n; k++) same = ids.ids[k] == cases[i].want[k];
        CHECKF(same, "case %zu \"%s\": %zu ids, first %d", i, cases[i].text, ids.n, ids.n ? ids.ids[0] : -1);
        lqmf_tok_ids_free(&ids);
    }
    lqmf_tok_free(t);
}

/* Streaming decode: pieces arrive one token at a time; the output only ever
 * holds whole characters and, flushed, equals the one-shot decode. */
TEST(tok_stream_decode_whole_characters) {
    DATA(dir, "models/tiny-llama");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    static const char text[] = "caf\xc3\xa9 \xf0\x9f\x99\x82 \xe6\x97\xa5\xe6\x9c\xac ok";
    lqmf_tok_ids ids = {0};
    REQUIRE_OK(lqmf_tok_encode(t, text, strlen(text), LQMF_TOK_ADD_SPECIAL, &ids));
    CHECK_EQ_INT(ids.ids[0], 1);
    lqmf_buf whole, streamed;
    lqmf_buf_init(&whole);
    lqmf_buf_init(&streamed);
    CHECK_OK(lqmf_tok_decode(t, ids.ids, ids.n, LQMF_TOK_SKIP_SPECIAL, &whole));
    CHECK_STR((char *)whole.data, text);
    lqmf_tok_stream s;
    lqmf_tok_stream_init(&s, t, LQMF_TOK_SKIP_SPECIAL);
    size_t held_back = 0;
    for (size_t i = 0; i < ids.n; i++) {
        size_t before = streamed.len;
        CHECK_OK(lqmf_tok_stream_push(&s, ids.ids[i], &streamed));
        CHECK(lqmf_utf8_valid((const char *)streamed.data, streamed.len));
        held_back += s.npend > 0 && streamed.len == before;
    }
    lqmf_tok_stream_flush(&s, &streamed);
    CHECK_STR((char *)streamed.data, text);
    CHECK(held_back >= 3); /* the emoji and the CJK characters come as byte tokens */
    /* without SKIP_SPECIAL the BOS text shows */
    whole.len = 0;
    CHECK_OK(lqmf_tok_decode(t, ids.ids, ids.n, 0, &whole));
    CHECK(!strncmp((char *)whole.data, "<s> caf", 7));
    lqmf_buf_free(&whole);
    lqmf_buf_free(&streamed);
    lqmf_tok_ids_free(&ids);
    lqmf_tok_free(t);
}

TEST(tok_stream_replaces_broken_bytes) {
    DATA(dir, "models/tiny-llama");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    int32_t e6 = lqmf_tok_find(t, "<0xE6>"),
            a = lqmf_tok_find(t, "\xe2\x96\x81"
                                 "a"),
            x80 = lqmf_tok_find(t, "<0x80>");
    REQUIRE(e6 >= 0 && a >= 0 && x80 >= 0);
    lqmf_tok_stream s;
    lqmf_buf out;
    lqmf_buf_init(&out);
    lqmf_tok_stream_init(&s, t, 0);
    CHECK_OK(lqmf_tok_stream_push(&s, e6, &out)); /* a 3-byte lead, then a word: cut short */
    CHECK_EQ_INT(out.len, 0);
    CHECK_OK(lqmf_tok_stream_push(&s, a, &out));
    CHECK_STR((char *)out.data, "\xef\xbf\xbd a");
    CHECK_OK(lqmf_tok_stream_push(&s, x80, &out)); /* a lone continuation byte */
    CHECK_OK(lqmf_tok_stream_push(&s, e6, &out));
    lqmf_tok_stream_flush(&s, &out); /* an unfinished character at the end */
    CHECK_STR((char *)out.data, "\xef\xbf\xbd a\xef\xbf\xbd\xef\xbf\xbd");
    lqmf_buf_free(&out);
    lqmf_tok_free(t);
}

TEST(tok_pieces_and_types) {
    DATA(dir, "models/tiny-llama");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    lqmf_buf b;
    lqmf_buf_init(&b);
    CHECK_OK(lqmf_tok_piece(t, lqmf_tok_find(t, "\xe2\x96\x81the"), &b));
    CHECK_STR((char *)b.data, " the");
    b.len = 0;
    CHECK_OK(lqmf_tok_piece(t, lqmf_tok_find(t, "<0x0A>"), &b));
    CHECK_STR((char *)b.data, "\n");
    CHECK_EQ_INT(lqmf_tok_type_of(t, 1), LQMF_TOK_CONTROL);
    CHECK_EQ_INT(lqmf_tok_type_of(t, 0), LQMF_TOK_UNKNOWN);
    CHECK_EQ_INT(lqmf_tok_type_of(t, lqmf_tok_find(t, "<0x0A>")), LQMF_TOK_BYTE);
    CHECK_EQ_INT(lqmf_tok_unk(t), 0);
    lqmf_buf_free(&b);
    lqmf_tok_free(t);
}

/* The lqmf tokenize command prints ids (and pieces) as llama-tokenize does. */
TEST(tok_cli_tokenize) {
    DATA(dir, "models/tiny-llama");
    const char *bin = "./build/release/lqmf";
    if (access(bin, X_OK) != 0) SKIP("%s not built", bin);
    char cmd[2048], path[600];
    snprintf(path, sizeof path, "%s/out.txt", lqmf_test_tmpdir());
    snprintf(cmd, sizeof cmd,
             "%s tokenize %s 'In the beginning God created' --ids > %s && "
             "%s tokenize %s 'In the beginning' --ids --no-bos >> %s && %s tokenize %s 'God' >> %s",
             bin, dir, path, bin, dir, path, bin, dir, path);
    REQUIRE(system(cmd) == 0);
    char *out;
    size_t n;
    REQUIRE_OK(lqmf_read_file(path, 1 << 16, &out, &n));
    CHECK_STR(out, "1 729 262 2629 455 1869 288\n729 262 2629\n     1 -> '<s>'\n   455 -> ' God'\n");
    free(out);
    snprintf(cmd, sizeof cmd, "%s tokenize /nonexistent x 2>/dev/null", bin);
    CHECK(system(cmd) != 0);
}

/* ---- SentencePiece-style pipelines in tokenizer.json --------------------------- */

/* Vocabulary: <unk> <s> </s> ▁ a b ▁a ▁b ▁▁ with merges "▁ a", "▁ b", "▁ ▁". */
static lqmf_tokenizer *meta_tokenizer(const char *pipeline) {
    char json[2048];
    snprintf(json, sizeof json,
             "{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0, \"<s>\": "
             "1, \"</s>\": 2,"
             " \"\xe2\x96\x81\": 3, \"a\": 4, \"b\": 5, \"\xe2\x96\x81"
             "a\": 6, \"\xe2\x96\x81"
             "b\": 7,"
             " \"\xe2\x96\x81\xe2\x96\x81\": 8}, \"merges\": [\"\xe2\x96\x81 a\", \"\xe2\x96\x81 b\","
             " \"\xe2\x96\x81 \xe2\x96\x81\"]},"
             " \"added_tokens\": [{\"id\": 1, \"content\": \"<s>\", \"special\": true}], %s}",
             pipeline);
    lqmf_tokenizer *t = NULL;
    if (load_json(json, &t)) lqmf_test_fail(__FILE__, __LINE__, "%s", lqmf_last_error());
    return t;
}

static void check_meta(lqmf_tokenizer *t, const char *text, const int32_t *want, size_t n,
                       const char *decoded) {
    lqmf_tok_ids ids = {0};
    CHECK_OK(lqmf_tok_encode(t, text, strlen(text), LQMF_TOK_PARSE_SPECIAL, &ids));
    bool same = ids.n == n;
    for (size_t k = 0; same && k < n; k++) same = ids.ids[k] == want[k];
    CHECKF(same, "\"%s\": %zu ids (%d %d %d ...)", text, ids.n, ids.n > 0 ? ids.ids[0] : -1,
           ids.n > 1 ? ids.ids[1] : -1, ids.n > 2 ? ids.ids[2] : -1);
    if (decoded) {
        lqmf_buf b;
        lqmf_buf_init(&b);
        CHECK_OK(lqmf_tok_decode(t, ids.ids, ids.n, LQMF_TOK_SKIP_SPECIAL, &b));
        CHECK_STR(b.data ? (char *)b.data : "", decoded);
        lqmf_buf_free(&b);
    }
    lqmf_tok_ids_free(&ids);
}

#define IDS(...) (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)

TEST(tok_legacy_prepend_normalizer) {
    lqmf_tokenizer *t = meta_tokenizer(
        "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": "
        "\"\xe2\x96\x81\"},"
        " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]},"
        " \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": "
        "{\"String\": \"\xe2\x96\x81\"},"
        " \"content\": \" \"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, "
        "\"stop\": 0}]}");
    REQUIRE(t);
    check_meta(t, "a b", IDS(6, 7), "a b");
    check_meta(t, " a", IDS(3, 6), " a");  /* prefix added even before a space */
    check_meta(t, "<s>a", IDS(1, 6), "a"); /* every segment gets the prefix */
    check_meta(t, "c", IDS(3, 0), NULL);   /* unknown character -> <unk> */
    lqmf_tok_free(t);
}

TEST(tok_metaspace_schemes) {
    static const char always[] =
        "\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\","
        " \"prepend_scheme\": \"always\", \"split\": true},"
        " \"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\", \"prepend_scheme\": "
        "\"always\"}";
    lqmf_tokenizer *t = meta_tokenizer(always);
    REQUIRE(t);
    check_meta(t, " a", IDS(6), "a"); /* already starts with the replacement: no second one */
    check_meta(t, "a  b", IDS(6, 3, 7), "a  b");
    check_meta(t, "a  ", IDS(6, 3, 3), "a  "); /* split before each ▁: "▁▁" cannot form */
    check_meta(t, "<s>a", IDS(1, 6), "a");
    lqmf_tok_free(t);
    t = meta_tokenizer(
        "\"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"first\", \"split\": false}");
    REQUIRE(t);
    check_meta(t, "a", IDS(6), NULL);
    check_meta(t, "<s>a", IDS(1, 4), NULL);    /* only the start of the input gets the prefix */
    check_meta(t, "a  ", IDS(6, 8), NULL);     /* unsplit: "▁▁" forms */
    check_meta(t, "a  b", IDS(6, 3, 7), NULL); /* "▁b" (rank 1) goes before "▁▁" (rank 2) */
    lqmf_tok_free(t);
    /* the legacy form (add_prefix_space) means "always" */
    t = meta_tokenizer("\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\", "
                       "\"add_prefix_space\": true}");
    REQUIRE(t);
    check_meta(t, "<s>a", IDS(1, 6), NULL);
    lqmf_tok_free(t);
}

/* lqmf_tok_open_model follows the model's tok_source / tok_path. */
TEST(tok_open_model_sources) {
    DATA(bin, "models/stories260K/tok512.bin");
    DATA(json, "models/tiny-llama/tokenizer.json");
    lqmf_hparams hp = {.n_vocab = 512, .bos_id = -1, .eos_id = -1};
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_new(&hp, &m));
    lqmf_tokenizer *t;
    CHECK_ERR(lqmf_tok_open_model(m, &t), LQMF_E_NOT_FOUND, "no tokenizer");
    m->tok_source = LQMF_TOK_LLAMA2C;
    m->tok_path = strdup(bin);
    REQUIRE_OK(lqmf_tok_open_model(m, &t));
    CHECK_EQ_INT(lqmf_tok_n_vocab(t), 512);
    lqmf_tok_free(t);
    m->hp.n_vocab = 600; /* more than the file holds */
    CHECK_ERR(lqmf_tok_open_model(m, &t), LQMF_E_FORMAT, "512 tokens, the model expects 600");
    free(m->tok_path);
    m->tok_source = LQMF_TOK_HF_JSON;
    m->tok_path = strdup(json);
    REQUIRE_OK(lqmf_tok_open_model(m, &t));
    CHECK(lqmf_tok_adds_bos(t)); /* tokenizer_config.json beside it was read */
    CHECK(lqmf_tok_chat_template(t) != NULL);
    lqmf_tok_free(t);
    lqmf_model_close(m);
}
