/* Tokenizer against independent references: llama.cpp's tokenizer test
 * vectors (ids produced by Hugging Face tokenizers), the reference.json of
 * the two trained models (sentencepiece / own BPE), and stories260K's
 * reference outputs (sentencepiece). Plus round trips and decoding. */
#include "../test.h"
#include "lqmf/gguf.h"
#include "lqmf/model.h"
#include "lqmf/tokenizer.h"

#include <jansson.h>
#include <stdlib.h>

/* ---- llama.cpp vocab test files -------------------------------------------- */

typedef struct {
    char *inp;   /* whole .inp file, cut into NUL-terminated cases */
    char **text; /* n cases */
    size_t *len;
    char **expect; /* lines of the .out file (space-separated ids) */
    char *out;
    size_t n;
} vocab_cases;

static void cases_free(vocab_cases *c) {
    free(c->inp);
    free(c->out);
    free(c->text);
    free(c->len);
    free(c->expect);
}

static bool cases_load(const char *inp_path, const char *out_path, vocab_cases *c) {
    memset(c, 0, sizeof *c);
    size_t ni, no;
    if (lqmf_read_file(inp_path, 1 << 20, &c->inp, &ni) || lqmf_read_file(out_path, 1 << 20, &c->out, &no))
        return false;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t cap = 256;
    c->text = calloc(cap, sizeof *c->text);
    c->len = calloc(cap, sizeof *c->len);
    c->expect = calloc(cap, sizeof *c->expect);
    char *p = c->inp, *end = c->inp + ni;
    while (p < end && c->n < cap) {
        char *q = strstr(p, sep);
        if (!q) q = end;
        *q = 0;
        c->text[c->n] = p;
        c->len[c->n++] = (size_t)(q - p);
        p = q == end ? end : q + sizeof sep - 1;
    }
    char *line = c->out;
    for (size_t i = 0; i < c->n; i++) {
        char *nl = strchr(line, '\n');
        if (!nl) return false;
        *nl = 0;
        c->expect[i] = line;
        line = nl + 1;
    }
    return true;
}

static void ids_str(const lqmf_tok_ids *ids, char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < ids->n && at + 16 < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, " %d", ids->ids[i]);
}

/* Encode every case (no BOS, special tokens parsed as llama.cpp's test does)
 * and compare with the .out line; check decode(encode(x)) == x when lossless. */
static void check_vocab_file(lqmf_tokenizer *t, const char *inp, const char *out, bool lossless) {
    vocab_cases c;
    REQUIRE(cases_load(inp, out, &c));
    CHECK_EQ_INT(c.n, 46);
    size_t agree = 0;
    for (size_t i = 0; i < c.n; i++) {
        lqmf_tok_ids ids = {0};
        CHECK_OK(lqmf_tok_encode(t, c.text[i], c.len[i], LQMF_TOK_PARSE_SPECIAL, &ids));
        char got[8192];
        ids_str(&ids, got, sizeof got);
        if (strcmp(got, c.expect[i]) == 0)
            agree++;
        else
            CHECKF(0, "case %zu \"%s\":\n      got %s\n     want %s", i, c.text[i], got, c.expect[i]);
        if (lossless) {
            lqmf_buf b;
            lqmf_buf_init(&b);
            CHECK_OK(lqmf_tok_decode(t, ids.ids, ids.n, 0, &b));
            CHECKF(b.len == c.len[i] && memcmp(b.data, c.text[i], b.len) == 0,
                   "round trip of case %zu: \"%s\" -> \"%s\"", i, c.text[i], b.data ? (char *)b.data : "");
            lqmf_buf_free(&b);
        }
        lqmf_tok_ids_free(&ids);
    }
    CHECK_EQ_INT(agree, c.n);
    cases_free(&c);
}

#define VT(name) "tokenizers/vocab-tests/ggml-vocab-" name ".gguf"

TEST(tok_vocab_llama_bpe_from_llama3_json) {
    DATA(json, "tokenizers/llama3/tokenizer.json");
    DATA(inp, VT("llama-bpe") ".inp");
    DATA(out, VT("llama-bpe") ".out");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(json, &t));
    CHECK_STR(lqmf_tok_pre_name(t), "llama-bpe");
    check_vocab_file(t, inp, out, true);
    lqmf_tok_free(t);
}

TEST(tok_vocab_gpt2_from_tiny_gpt2_json) {
    DATA(dir, "models/tiny-gpt2");
    DATA(inp, VT("gpt-2") ".inp");
    DATA(out, VT("gpt-2") ".out");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    CHECK_STR(lqmf_tok_pre_name(t), "gpt-2");
    check_vocab_file(t, inp, out, true);
    lqmf_tok_free(t);
}

TEST(tok_vocab_llama_spm_from_llama2_model) {
    DATA(model, "tokenizers/llama2/tokenizer.model");
    DATA(inp, VT("llama-spm") ".inp");
    DATA(out, VT("llama-spm") ".out");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(model, &t));
    check_vocab_file(t, inp, out, true);
    lqmf_tok_free(t);
}

TEST(tok_vocab_llama_spm_from_llama2c_bin) {
    DATA(bin, "tokenizers/llama2/tokenizer.bin");
    DATA(inp, VT("llama-spm") ".inp");
    DATA(out, VT("llama-spm") ".out");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(bin, &t));
    CHECK_EQ_INT(lqmf_tok_n_vocab(t), 32000);
    check_vocab_file(t, inp, out, true);
    lqmf_tok_free(t);
}

/* ---- reference.json of the trained models ------------------------------------ */

static void check_ids_json(lqmf_tokenizer *t, const char *text, const json_t *want, unsigned flags,
                           const char *label) {
    lqmf_tok_ids ids = {0};
    CHECK_OK(lqmf_tok_encode(t, text, strlen(text), flags, &ids));
    bool same = ids.n == json_array_size(want);
    for (size_t i = 0; same && i < ids.n; i++)
        same = ids.ids[i] == json_integer_value(json_array_get(want, i));
    char got[4096];
    ids_str(&ids, got, sizeof got);
    CHECKF(same, "%s \"%s\": got%s", label, text, got);
    lqmf_tok_ids_free(&ids);
}

/* tokenizer_vectors (no BOS) and prompts (BOS as configured, with pieces). */
static void check_reference(lqmf_tokenizer *t, const char *ref_path, bool check_pieces) {
    json_error_t e;
    json_t *ref = json_load_file(ref_path, 0, &e);
    REQUIRE(ref);
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(json_object_get(ref, "tokenizer_vectors"), i, v) {
        check_ids_json(t, json_string_value(json_object_get(v, "text")), json_object_get(v, "ids"), 0,
                       "vector");
        n++;
    }
    CHECK(n >= 8);
    /* the whole held-out text: token count and the first 16 ids */
    const json_t *ppl = json_object_get(json_object_get(ref, "perplexity"), "heldout.txt");
    char held[1024];
    snprintf(held, sizeof held, "%.*s/heldout.txt", (int)(strrchr(ref_path, '/') - ref_path), ref_path);
    char *text;
    size_t len;
    if (ppl && lqmf_read_file(held, 1 << 20, &text, &len) == LQMF_OK) {
        lqmf_tok_ids ids = {0};
        CHECK_OK(lqmf_tok_encode(t, text, len, 0, &ids));
        CHECK_EQ_INT(ids.n, json_integer_value(json_object_get(ppl, "file_total_tokens")));
        const json_t *first = json_object_get(ppl, "first_16_token_ids");
        for (size_t k = 0; k < 16 && k < ids.n; k++)
            CHECK_EQ_INT(ids.ids[k], json_integer_value(json_array_get(first, k)));
        lqmf_tok_ids_free(&ids);
        free(text);
    } else {
        CHECKF(0, "no heldout.txt beside %s", ref_path);
    }
    json_array_foreach(json_object_get(ref, "prompts"), i, v) {
        const char *prompt = json_string_value(json_object_get(v, "prompt"));
        const json_t *want = json_object_get(v, "ids");
        check_ids_json(t, prompt, want, LQMF_TOK_ADD_SPECIAL, "prompt");
        const json_t *pieces = json_object_get(v, "pieces");
        for (size_t k = 0; check_pieces && k < json_array_size(pieces); k++)
            CHECK_STR(lqmf_tok_text(t, (int32_t)json_integer_value(json_array_get(want, k)), NULL),
                      json_string_value(json_array_get(pieces, k)));
    }
    json_decref(ref);
}

TEST(tok_tiny_llama_json_matches_reference) {
    DATA(dir, "models/tiny-llama");
    DATA(ref, "models/tiny-llama/reference.json");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(dir, &t)); /* tokenizer.json preferred */
    CHECK_EQ_INT(lqmf_tok_algorithm(t), LQMF_TOK_ALGO_BPE);
    CHECK(lqmf_tok_adds_bos(t));
    CHECK(!lqmf_tok_adds_eos(t));
    check_reference(t, ref, true);
    lqmf_tok_free(t);
}

TEST(tok_tiny_llama_model_matches_reference) {
    DATA(model, "models/tiny-llama/tokenizer.model");
    DATA(ref, "models/tiny-llama/reference.json");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(model, &t));
    CHECK_EQ_INT(lqmf_tok_algorithm(t), LQMF_TOK_ALGO_SPM);
    check_reference(t, ref, true);
    lqmf_tok_free(t);
}

TEST(tok_tiny_gpt2_matches_reference) {
    DATA(dir, "models/tiny-gpt2");
    DATA(ref, "models/tiny-gpt2/reference.json");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    CHECK(!lqmf_tok_adds_bos(t));
    CHECK_EQ_INT(lqmf_tok_bos(t), 50256);
    check_reference(t, ref, true);
    lqmf_tok_free(t);
}

/* stories260K: tok512.model (sentencepiece, remove_extra_whitespaces on) gives
 * every reference vector; llama2.c's tok512.bin has no normalizer settings,
 * so it matches where the text has no extra spaces. */
static void check_tok512(const char *path, bool has_normalizer) {
    DATA(ref_path, "models/stories260K/reference_outputs.json");
    json_error_t e;
    json_t *ref = json_load_file(ref_path, 0, &e);
    REQUIRE(ref);
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(path, &t));
    CHECK_EQ_INT(lqmf_tok_n_vocab(t), 512);
    const char *text;
    json_t *ids;
    size_t n = 0;
    json_object_foreach(json_object_get(ref, "tok512_encode_vectors"), text, ids) {
        if (!has_normalizer && strstr(text, "  ")) continue;
        check_ids_json(t, text, ids, 0, "tok512");
        n++;
    }
    CHECK(n >= 2);
    lqmf_tok_free(t);
    json_decref(ref);
}

TEST(tok_tok512_model_matches_reference) {
    DATA(p, "models/stories260K/tok512.model");
    check_tok512(p, true);
}

TEST(tok_tok512_bin_matches_reference) {
    DATA(p, "models/stories260K/tok512.bin");
    check_tok512(p, false);
}

/* ---- GGUF vocabularies ---------------------------------------------------------- */

static void check_gguf_vocab(const char *name) {
    char gguf[128], inp[160], out[160];
    snprintf(gguf, sizeof gguf, "tokenizers/vocab-tests/ggml-vocab-%s.gguf", name);
    snprintf(inp, sizeof inp, "%s.inp", gguf);
    snprintf(out, sizeof out, "%s.out", gguf);
    DATA(g, gguf);
    DATA(i, inp);
    DATA(o, out);
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(g, &t));
    check_vocab_file(t, i, o, true);
    lqmf_tok_free(t);
}

TEST(tok_vocab_gguf_gpt2) { check_gguf_vocab("gpt-2"); }
TEST(tok_vocab_gguf_llama_spm) { check_gguf_vocab("llama-spm"); }
TEST(tok_vocab_gguf_phi3) { check_gguf_vocab("phi-3"); }
TEST(tok_vocab_gguf_deepseek_llm) { check_gguf_vocab("deepseek-llm"); }
TEST(tok_vocab_gguf_starcoder) { check_gguf_vocab("starcoder"); }

TEST(tok_gguf_stories260k_matches_tok512) {
    DATA(g, "models/stories260K/stories260K.gguf");
    check_tok512(g, false);
}

/* Write t's vocabulary to a vocabulary-only GGUF and open it again. */
static lqmf_tokenizer *gguf_round_trip(const lqmf_tokenizer *t) {
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.gguf", lqmf_test_tmpdir());
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    lqmf_tokenizer *back = NULL;
    CHECK_OK(lqmf_gguf_writer_set_str(w, "general.architecture", "llama"));
    CHECK_OK(lqmf_tok_write_gguf(t, w));
    CHECK_OK(lqmf_gguf_writer_write(w, path));
    lqmf_gguf_writer_free(w);
    CHECK_OK(lqmf_tok_open(path, &back));
    return back;
}

TEST(tok_gguf_written_from_tiny_llama_json) {
    DATA(dir, "models/tiny-llama");
    DATA(ref, "models/tiny-llama/reference.json");
    lqmf_tokenizer *t, *back;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    back = gguf_round_trip(t);
    REQUIRE(back);
    CHECK_EQ_INT(lqmf_tok_algorithm(back), LQMF_TOK_ALGO_SPM); /* byte-fallback BPE -> "llama" */
    CHECK_EQ_INT(lqmf_tok_n_vocab(back), lqmf_tok_n_vocab(t));
    CHECK_EQ_INT(lqmf_tok_bos(back), 1);
    CHECK_EQ_INT(lqmf_tok_eos(back), 2);
    CHECK(lqmf_tok_adds_bos(back));
    CHECK_STR(lqmf_tok_chat_template(back), lqmf_tok_chat_template(t));
    check_reference(back, ref, true);
    /* and the heldout text encodes the same both ways */
    DATA(held, "models/tiny-llama/heldout.txt");
    char *text;
    size_t len;
    REQUIRE_OK(lqmf_read_file(held, 1 << 20, &text, &len));
    lqmf_tok_ids a = {0}, b = {0};
    CHECK_OK(lqmf_tok_encode(t, text, len, 0, &a));
    CHECK_OK(lqmf_tok_encode(back, text, len, 0, &b));
    CHECK_EQ_INT(a.n, b.n);
    CHECK(a.n == b.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
    CHECK_EQ_INT(a.n, 50351); /* reference.json: perplexity.heldout.txt.file_total_tokens */
    free(text);
    lqmf_tok_ids_free(&a);
    lqmf_tok_ids_free(&b);
    lqmf_tok_free(t);
    lqmf_tok_free(back);
}

TEST(tok_gguf_written_from_llama3_json) {
    DATA(json, "tokenizers/llama3/tokenizer.json");
    DATA(inp, VT("llama-bpe") ".inp");
    DATA(out, VT("llama-bpe") ".out");
    lqmf_tokenizer *t, *back;
    REQUIRE_OK(lqmf_tok_open(json, &t));
    back = gguf_round_trip(t);
    REQUIRE(back);
    CHECK_STR(lqmf_tok_pre_name(back), "llama-bpe");
    /* this tokenizer.json states no BOS rule, so none is written and llama.cpp's
     * default for llama-bpe (BOS added) applies to the GGUF */
    CHECK(!lqmf_tok_adds_bos(t));
    CHECK(lqmf_tok_adds_bos(back));
    check_vocab_file(back, inp, out, true);
    lqmf_tok_free(t);
    lqmf_tok_free(back);
}

TEST(tok_gguf_written_from_gpt2_json) {
    DATA(dir, "models/tiny-gpt2");
    DATA(inp, VT("gpt-2") ".inp");
    DATA(out, VT("gpt-2") ".out");
    lqmf_tokenizer *t, *back;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    back = gguf_round_trip(t);
    REQUIRE(back);
    CHECK_STR(lqmf_tok_pre_name(back), "gpt-2");
    CHECK_EQ_INT(lqmf_tok_bos(back), 50256);
    check_vocab_file(back, inp, out, true);
    lqmf_tok_free(t);
    lqmf_tok_free(back);
}

/* GPT-2's original files (OpenAI's encoder.json + vocab.bpe) */
TEST(tok_vocab_gpt2_from_encoder_json) {
    DATA(dir, "tokenizers/gpt2");
    DATA(inp, VT("gpt-2") ".inp");
    DATA(out, VT("gpt-2") ".out");
    lqmf_tokenizer *t;
    REQUIRE_OK(lqmf_tok_open(dir, &t));
    CHECK_EQ_INT(lqmf_tok_n_vocab(t), 50257);
    CHECK_EQ_INT(lqmf_tok_eos(t), 50256);
    CHECK_EQ_INT(lqmf_tok_type_of(t, 50256), LQMF_TOK_CONTROL);
    CHECK_STR(lqmf_tok_pre_name(t), "gpt-2");
    check_vocab_file(t, inp, out, true);
    lqmf_tok_free(t);
}

/* Models opened by lqmf_model_open name their tokenizer; it encodes the
 * reference prompts (BOS as each model's configuration says). */
TEST(tok_open_model_end_to_end) {
    static const struct {
        const char *model;
        int32_t want[8];
        size_t n;
    } cases[] = {
        {"models/tiny-llama", {1, 729, 262, 2629, 455, 1869, 288}, 7},
        {"models/tiny-gpt2", {818, 262, 3726, 1793, 2727}, 5},
        {"models/stories260K/stories260K.bin", {1, 403, 407, 261, 378}, 5},
        {"models/stories260K/stories260K.gguf", {1, 403, 407, 261, 378}, 5},
    };
    static const char *texts[] = {"In the beginning God created", "In the beginning God created",
                                  "Once upon a time", "Once upon a time"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        DATA(path, cases[i].model);
        lqmf_model *m;
        REQUIRE_OK(lqmf_model_open(path, &m));
        lqmf_tokenizer *t;
        CHECK_OK(lqmf_tok_open_model(m, &t));
        if (!t) {
            lqmf_model_close(m);
            continue;
        }
        CHECK_EQ_INT(lqmf_tok_n_vocab(t), m->hp.n_vocab);
        lqmf_tok_ids ids = {0};
        CHECK_OK(lqmf_tok_encode(t, texts[i], strlen(texts[i]), LQMF_TOK_ADD_SPECIAL, &ids));
        bool same = ids.n == cases[i].n;
        for (size_t k = 0; same && k < ids.n; k++) same = ids.ids[k] == cases[i].want[k];
        CHECKF(same, "%s: %zu ids, first %d", cases[i].model, ids.n, ids.n ? ids.ids[0] : -1);
        lqmf_tok_ids_free(&ids);
        lqmf_tok_free(t);
        lqmf_model_close(m);
    }
}
