/* Writing models as GGUF: round trips of the shared models (HF -> GGUF ->
 * reopened), the Q/K permutation checked against an independent
 * reshape/swapaxes, metadata keys read back with the GGUF reader, float
 * conversion, the quantizer hook and rope scaling. */
#include "../test.h"
#include "lqmf/gguf.h"
#include "lqmf/gguf_convert.h"
#include "lqmf/model.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

/* numpy's w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(rows, cols)
 * on a row-major [rows, cols] array of esize-byte elements, element by element. */
static void *ref_permute(const void *w, uint64_t rows, uint64_t cols, size_t esize, uint64_t n_head) {
    const uint64_t half = rows / n_head / 2;
    uint8_t *out = malloc(rows * cols * esize);
    for (uint64_t h = 0; h < n_head; h++)    /* output index (h, a, b, c) of shape */
        for (uint64_t a = 0; a < half; a++)  /* (n_head, half, 2, cols) reads input */
            for (uint64_t b = 0; b < 2; b++) /* (h, b, a, c) of (n_head, 2, half, cols) */
                for (uint64_t c = 0; c < cols; c++)
                    memcpy(out + (((h * half + a) * 2 + b) * cols + c) * esize,
                           (const uint8_t *)w + (((h * 2 + b) * half + a) * cols + c) * esize, esize);
    return out;
}

static void check_hparams_equal(const lqmf_hparams *a, const lqmf_hparams *b) {
    CHECK_EQ_INT(a->arch, b->arch);
    CHECK_EQ_INT(a->n_vocab, b->n_vocab);
    CHECK_EQ_INT(a->n_ctx_train, b->n_ctx_train);
    CHECK_EQ_INT(a->n_embd, b->n_embd);
    CHECK_EQ_INT(a->n_layer, b->n_layer);
    CHECK_EQ_INT(a->n_head, b->n_head);
    CHECK_EQ_INT(a->n_head_kv, b->n_head_kv);
    CHECK_EQ_INT(a->head_dim, b->head_dim);
    CHECK_EQ_INT(a->n_ff, b->n_ff);
    CHECK(a->norm_eps == b->norm_eps);
    CHECK(a->rope_theta == b->rope_theta);
    CHECK_EQ_INT(a->rope_scaling, b->rope_scaling);
    CHECK(a->rope_factor == b->rope_factor && a->rope_low_freq_factor == b->rope_low_freq_factor &&
          a->rope_high_freq_factor == b->rope_high_freq_factor && a->rope_orig_ctx == b->rope_orig_ctx);
    CHECK_EQ_INT(a->sliding_window, b->sliding_window);
    CHECK_EQ_INT(a->qkv_bias, b->qkv_bias);
    CHECK_EQ_INT(a->tied_embeddings, b->tied_embeddings);
    CHECK_EQ_INT(a->bos_id, b->bos_id);
    CHECK_EQ_INT(a->eos_id, b->eos_id);
}

static uint32_t key_u32(const lqmf_gguf *g, const char *key) {
    uint32_t v = 0xFFFFFFFFu;
    CHECKF(lqmf_gguf_get_u32(g, key, &v) == LQMF_OK, "key %s: %s", key, lqmf_last_error());
    return v;
}

static float key_f32(const lqmf_gguf *g, const char *key) {
    float v = NAN;
    CHECKF(lqmf_gguf_get_f32(g, key, &v) == LQMF_OK, "key %s: %s", key, lqmf_last_error());
    return v;
}

static bool key_str_is(const lqmf_gguf *g, const char *key, const char *want) {
    lqmf_gguf_str s;
    return lqmf_gguf_get_str(g, key, &s) == LQMF_OK && lqmf_gguf_str_eq(s, want);
}

static bool is_qk(const char *name, uint64_t *heads, const lqmf_hparams *hp) {
    const char *p = strchr(name + 4, '.');
    if (strncmp(name, "blk.", 4) != 0 || !p) return false;
    if (strncmp(p, ".attn_q.", 8) == 0)
        *heads = hp->n_head;
    else if (strncmp(p, ".attn_k.", 8) == 0)
        *heads = hp->n_head_kv;
    else
        return false;
    return true;
}

/* Each tensor of `out` equals the source: bytes for kept types, values for
 * 1-D tensors (F32 now), Q/K rows permuted when the source is NEOX. */
static void check_tensors_match(const lqmf_model *src, const lqmf_model *out) {
    CHECK_EQ_INT(out->n_tensors, src->n_tensors);
    for (size_t i = 0; i < src->n_tensors; i++) {
        const lqmf_tensor *a = &src->tensors[i], *b = lqmf_model_tensor(out, a->name);
        CHECKF(b && b->n_dims == a->n_dims && b->ne[0] == a->ne[0] && b->ne[1] == a->ne[1], "%s shape",
               a->name);
        if (!b) continue;
        uint64_t n = a->ne[0] * a->ne[1], heads = 0;
        const size_t esize = a->type == LQMF_TYPE_F32 ? 4 : 2;
        void *want = NULL;
        if (src->hp.rope_layout == LQMF_ROPE_NEOX && is_qk(a->name, &heads, &src->hp))
            want = a->n_dims == 1 ? ref_permute(a->data, a->ne[0], 1, esize, heads)
                                  : ref_permute(a->data, a->ne[1], a->ne[0], esize, heads);
        const void *w = want ? want : a->data;
        if (a->n_dims == 1 && a->type != LQMF_TYPE_F32) {
            CHECKF(b->type == LQMF_TYPE_F32, "%s: 1-D written as %s", a->name, lqmf_type_name(b->type));
            size_t bad = 0;
            for (uint64_t k = 0; k < n; k++) {
                uint16_t h = ((const uint16_t *)w)[k];
                float x = a->type == LQMF_TYPE_BF16 ? lqmf_bf16_to_f32(h) : lqmf_fp16_to_f32(h);
                bad += ((const float *)b->data)[k] != x;
            }
            CHECKF(bad == 0, "%s: %zu values differ", a->name, bad);
        } else {
            CHECKF(b->type == a->type && memcmp(b->data, w, a->nbytes) == 0, "%s: bytes differ%s", a->name,
                   want ? " after the Q/K permutation" : "");
        }
        free(want);
    }
}

TEST(convert_tiny_llama_round_trip) {
    DATA(dir, "models/tiny-llama");
    lqmf_model *m, *r;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    char path[512];
    snprintf(path, sizeof path, "%s/tiny-llama-bf16.gguf", lqmf_test_tmpdir());
    lqmf_gguf_convert_opts o = lqmf_gguf_convert_default_opts();
    o.source_repo = "example/tiny-llama";
    lqmf_status st = lqmf_model_write_gguf(m, path, &o);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    st = lqmf_model_open(path, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    CHECK_EQ_INT(r->format, LQMF_FORMAT_GGUF);
    CHECK_EQ_INT(r->hp.rope_layout, LQMF_ROPE_NORM);
    check_hparams_equal(&m->hp, &r->hp);
    check_tensors_match(m, r);
    CHECK_EQ_INT(lqmf_model_n_params(r), 6819072);

    lqmf_gguf *g;
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    CHECK(key_str_is(g, "general.architecture", "llama"));
    CHECK(key_str_is(g, "general.name", "tiny-llama"));
    CHECK(key_str_is(g, "general.quantized_by", "lqmf"));
    CHECK(key_str_is(g, "general.source.huggingface.repository", "example/tiny-llama"));
    CHECK(lqmf_gguf_find_key(g, "general.source.url") == NULL);
    CHECK_EQ_INT(key_u32(g, "general.file_type"), 32); /* MOSTLY_BF16 */
    CHECK(lqmf_gguf_find_key(g, "general.quantization_version") == NULL);
    CHECK_EQ_INT(key_u32(g, "llama.context_length"), 512);
    CHECK_EQ_INT(key_u32(g, "llama.embedding_length"), 256);
    CHECK_EQ_INT(key_u32(g, "llama.block_count"), 6);
    CHECK_EQ_INT(key_u32(g, "llama.feed_forward_length"), 768);
    CHECK_EQ_INT(key_u32(g, "llama.rope.dimension_count"), 32);
    CHECK_EQ_INT(key_u32(g, "llama.attention.head_count"), 8);
    CHECK_EQ_INT(key_u32(g, "llama.attention.head_count_kv"), 4);
    CHECK(key_f32(g, "llama.attention.layer_norm_rms_epsilon") == 1e-5f);
    CHECK(key_f32(g, "llama.rope.freq_base") == 10000.0f);
    CHECK(lqmf_gguf_find_key(g, "llama.attention.key_length") == NULL); /* 8 * 32 == 256 */
    CHECK(lqmf_gguf_find_key(g, "llama.rope.scaling.type") == NULL);
    CHECK_EQ_INT(key_u32(g, "tokenizer.ggml.bos_token_id"), 1);
    CHECK_EQ_INT(key_u32(g, "tokenizer.ggml.eos_token_id"), 2);
    lqmf_gguf_close(g);
    lqmf_model_close(r);
    lqmf_model_close(m);
}

TEST(convert_tiny_llama_to_f16) {
    DATA(dir, "models/tiny-llama");
    lqmf_model *m, *r;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    char path[512];
    snprintf(path, sizeof path, "%s/f16.gguf", lqmf_test_tmpdir());
    lqmf_gguf_convert_opts o = lqmf_gguf_convert_default_opts();
    o.float_type = LQMF_TYPE_F16;
    o.name = "Tiny Llama F16";
    lqmf_status st = lqmf_model_write_gguf(m, path, &o);
    if (st == LQMF_OK) st = lqmf_model_open(path, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    const lqmf_tensor *a = lqmf_model_tensor(m, "blk.1.attn_k.weight"),
                      *b = lqmf_model_tensor(r, "blk.1.attn_k.weight");
    REQUIRE(b && b->type == LQMF_TYPE_F16);
    uint16_t *perm = ref_permute(a->data, 128, 256, 2, 4);
    size_t bad = 0;
    for (size_t k = 0; k < 128 * 256; k++)
        bad += ((const uint16_t *)b->data)[k] != lqmf_f32_to_fp16(lqmf_bf16_to_f32(perm[k]));
    CHECK_EQ_INT(bad, 0);
    free(perm);
    CHECK_EQ_INT(lqmf_model_tensor(r, "output_norm.weight")->type, LQMF_TYPE_F32);
    lqmf_gguf *g;
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    CHECK_EQ_INT(key_u32(g, "general.file_type"), 1);
    CHECK(key_str_is(g, "general.name", "Tiny Llama F16"));
    lqmf_gguf_close(g);
    lqmf_model_close(r);
    lqmf_model_close(m);
}

TEST(convert_tiny_gpt2_round_trip) {
    DATA(dir, "models/tiny-gpt2");
    lqmf_model *m, *r;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    char path[512];
    snprintf(path, sizeof path, "%s/gpt2.gguf", lqmf_test_tmpdir());
    lqmf_status st = lqmf_model_write_gguf(m, path, NULL);
    if (st == LQMF_OK) st = lqmf_model_open(path, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    check_hparams_equal(&m->hp, &r->hp);
    check_tensors_match(m, r);
    CHECK(lqmf_model_tensor(r, "output.weight") == NULL);
    lqmf_gguf *g;
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    CHECK(key_str_is(g, "general.architecture", "gpt2"));
    CHECK_EQ_INT(key_u32(g, "general.file_type"), 0);
    CHECK_EQ_INT(key_u32(g, "gpt2.context_length"), 512);
    CHECK_EQ_INT(key_u32(g, "gpt2.embedding_length"), 256);
    CHECK_EQ_INT(key_u32(g, "gpt2.block_count"), 4);
    CHECK_EQ_INT(key_u32(g, "gpt2.feed_forward_length"), 1024);
    CHECK_EQ_INT(key_u32(g, "gpt2.attention.head_count"), 8);
    CHECK(key_f32(g, "gpt2.attention.layer_norm_epsilon") == 1e-5f);
    lqmf_gguf_close(g);
    lqmf_model_close(r);
    lqmf_model_close(m);
}

/* llama2.c is already adjacent-pair layout: nothing is permuted. A GGUF
 * source keeps its tokenizer keys. */
TEST(convert_stories260k) {
    DATA(bin, "models/stories260K/stories260K.bin");
    DATA(gg, "models/stories260K/stories260K.gguf");
    lqmf_model *m, *r;
    const char *dir = lqmf_test_tmpdir();
    char path[512];
    REQUIRE_OK(lqmf_model_open(bin, &m));
    snprintf(path, sizeof path, "%s/from-bin.gguf", dir);
    lqmf_status st = lqmf_model_write_gguf(m, path, NULL);
    if (st == LQMF_OK) st = lqmf_model_open(path, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    check_hparams_equal(&m->hp, &r->hp);
    check_tensors_match(m, r);
    lqmf_model_close(r);
    lqmf_model_close(m);

    REQUIRE_OK(lqmf_model_open(gg, &m));
    snprintf(path, sizeof path, "%s/from-gguf.gguf", dir);
    st = lqmf_model_write_gguf(m, path, NULL);
    if (st == LQMF_OK) st = lqmf_model_open(path, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    check_hparams_equal(&m->hp, &r->hp);
    check_tensors_match(m, r);
    CHECK_EQ_INT(r->tok_source, LQMF_TOK_GGUF);
    lqmf_gguf *g;
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    const lqmf_gguf_value *tokens;
    CHECK_OK(lqmf_gguf_get_arr(g, "tokenizer.ggml.tokens", LQMF_GGUF_STR, &tokens));
    CHECK_EQ_INT(lqmf_gguf_arr_len(tokens), 512);
    CHECK(key_str_is(g, "tokenizer.ggml.model", "llama"));
    CHECK(key_str_is(g, "general.name", "stories260K"));
    lqmf_gguf_close(g);
    lqmf_model_close(r);
    lqmf_model_close(m);
}

/* ---- quantizer hook ---------------------------------------------------------- */

typedef struct {
    size_t calls;
    bool saw_wrong_order;
    size_t last;
} hook_state;

static lqmf_type q8_for_matrices(void *user, const lqmf_model *m, const lqmf_tensor *t) {
    (void)user;
    (void)m;
    return t->n_dims == 2 ? LQMF_TYPE_Q8_0 : LQMF_TYPE_F32;
}

/* Q8_0 blocks: fp16 d = max|x| / 127, 32 int8 q = round(x / d). */
static lqmf_status test_q8(void *user, const lqmf_tensor *t, lqmf_type type, const float *x, void *out,
                           uint64_t nbytes) {
    hook_state *s = user;
    s->calls++;
    uint64_t n = t->ne[0] * t->ne[1];
    if (type != LQMF_TYPE_Q8_0 || nbytes != n / 32 * 34) return lqmf_error(LQMF_E_INVALID, "bad call");
    uint8_t *o = out;
    for (uint64_t b = 0; b < n / 32; b++, o += 34) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[b * 32 + i]));
        float d = amax / 127;
        uint16_t h = lqmf_f32_to_fp16(d);
        memcpy(o, &h, 2);
        for (int i = 0; i < 32; i++) o[2 + i] = (uint8_t)(int8_t)(d ? lroundf(x[b * 32 + i] / d) : 0);
    }
    return LQMF_OK;
}

static bool count_progress(void *user, size_t i, size_t n, const lqmf_tensor *t) {
    hook_state *s = user;
    (void)t;
    if (i != s->last || i >= n) s->saw_wrong_order = true;
    s->last = i + 1;
    return true;
}

TEST(convert_quantizer_hook) {
    DATA(dir, "models/tiny-llama");
    lqmf_model *m, *r;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    char path[512];
    snprintf(path, sizeof path, "%s/q8.gguf", lqmf_test_tmpdir());
    hook_state s = {0};
    lqmf_gguf_convert_opts o = lqmf_gguf_convert_default_opts();
    o.tensor_type = q8_for_matrices;
    o.quantize = test_q8;
    o.progress = count_progress;
    o.user = &s;
    lqmf_status st = lqmf_model_write_gguf(m, path, &o);
    if (st == LQMF_OK) st = lqmf_model_open(path, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    CHECK_EQ_INT(s.calls, 2 + 7 * 6);
    CHECK(!s.saw_wrong_order && s.last == m->n_tensors);
    /* the quantizer saw the permuted values: dequantize blk.0.attn_q and compare */
    const lqmf_tensor *a = lqmf_model_tensor(m, "blk.0.attn_q.weight"),
                      *b = lqmf_model_tensor(r, "blk.0.attn_q.weight");
    REQUIRE(b && b->type == LQMF_TYPE_Q8_0 && b->nbytes == 256 * 256 / 32 * 34);
    uint16_t *perm = ref_permute(a->data, 256, 256, 2, 8);
    double worst = 0;
    const uint8_t *q = b->data;
    for (size_t k = 0; k < 256 * 256; k++) {
        uint16_t h;
        memcpy(&h, q + k / 32 * 34, 2);
        double v = lqmf_fp16_to_f32(h) * (int8_t)q[k / 32 * 34 + 2 + k % 32];
        worst = fmax(worst, fabs(v - lqmf_bf16_to_f32(perm[k])));
    }
    CHECKF(worst < 0.01, "worst |dequant - source| = %g", worst);
    free(perm);
    lqmf_gguf *g;
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    CHECK_EQ_INT(key_u32(g, "general.quantization_version"), 2);
    CHECK_EQ_INT(key_u32(g, "general.file_type"), 7); /* MOSTLY_Q8_0 */
    lqmf_gguf_close(g);
    lqmf_model_close(r);

    /* a quantized type without a quantize function, rows that do not fit the block */
    o.quantize = NULL;
    CHECK_ERR(lqmf_model_write_gguf(m, path, &o), LQMF_E_INVALID, "type Q8_0 needs a quantize function");
    o = lqmf_gguf_convert_default_opts();
    o.float_type = LQMF_TYPE_Q4_0;
    CHECK_ERR(lqmf_model_write_gguf(m, path, &o), LQMF_E_INVALID, "float_type Q4_0 is not F32, F16 or BF16");
    lqmf_model_close(m);
}

TEST(convert_rows_must_fit_and_failures_leave_nothing) {
    DATA(bin, "models/stories260K/stories260K.bin");
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_open(bin, &m));
    char path[512];
    snprintf(path, sizeof path, "%s/bad.gguf", lqmf_test_tmpdir());
    hook_state s = {0};
    lqmf_gguf_convert_opts o = lqmf_gguf_convert_default_opts();
    o.tensor_type = q8_for_matrices;
    o.quantize = test_q8;
    o.user = &s;
    /* ffn_down rows are 172 long: not a multiple of Q8_0's 32 */
    CHECK_ERR(lqmf_model_write_gguf(m, path, &o), LQMF_E_INVALID,
              "blk.0.ffn_down.weight: rows of 172 elements do not fit type Q8_0 (block 32)");
    CHECK(access(path, F_OK) != 0);
    lqmf_model_close(m);
}

/* ---- rope scaling and head_dim keys, on generated models ---------------------- */

static lqmf_model *small_llama(lqmf_rope_scaling scaling, uint32_t head_dim) {
    lqmf_hparams hp = {0};
    hp.arch = LQMF_ARCH_LLAMA;
    hp.n_vocab = 16;
    hp.n_ctx_train = 64;
    hp.n_embd = 32;
    hp.n_layer = 1;
    hp.n_head = 4;
    hp.n_head_kv = 2;
    hp.head_dim = head_dim;
    hp.n_ff = 64;
    hp.norm_eps = 1e-6f;
    hp.rope_theta = 500000;
    hp.rope_layout = LQMF_ROPE_NEOX;
    hp.rope_scaling = scaling;
    hp.rope_factor = 8;
    hp.rope_low_freq_factor = scaling == LQMF_ROPE_SCALING_LLAMA3 ? 1 : 0;
    hp.rope_high_freq_factor = scaling == LQMF_ROPE_SCALING_LLAMA3 ? 4 : 0;
    hp.rope_orig_ctx = scaling == LQMF_ROPE_SCALING_LLAMA3 ? 32 : 0;
    hp.qkv_bias = true;
    hp.tied_embeddings = true;
    hp.bos_id = hp.eos_id = -1;
    lqmf_model *m;
    if (lqmf_model_new(&hp, &m) != LQMF_OK) abort();
    const uint64_t q = 4 * head_dim, kv = 2 * head_dim;
    const struct {
        const char *name;
        uint64_t ne0, ne1;
    } ts[] = {
        {"token_embd.weight", 32, 16},     {"output_norm.weight", 32, 1},
        {"blk.0.attn_norm.weight", 32, 1}, {"blk.0.attn_q.weight", 32, q},
        {"blk.0.attn_k.weight", 32, kv},   {"blk.0.attn_v.weight", 32, kv},
        {"blk.0.attn_q.bias", q, 1},       {"blk.0.attn_k.bias", kv, 1},
        {"blk.0.attn_v.bias", kv, 1},      {"blk.0.attn_output.weight", q, 32},
        {"blk.0.ffn_norm.weight", 32, 1},  {"blk.0.ffn_gate.weight", 32, 64},
        {"blk.0.ffn_up.weight", 32, 64},   {"blk.0.ffn_down.weight", 64, 32},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        uint64_t n = ts[i].ne0 * ts[i].ne1, ne[2] = {ts[i].ne0, ts[i].ne1};
        float *d = malloc(n * sizeof *d);
        for (uint64_t k = 0; k < n; k++) d[k] = (float)(k % 97) - 48.0f + (float)i / 16;
        if (lqmf_model_add_tensor(m, ts[i].name, LQMF_TYPE_F32, ts[i].ne1 > 1 ? 2 : 1, ne, d, true) !=
            LQMF_OK)
            abort();
    }
    if (lqmf_model_validate(m) != LQMF_OK) abort();
    return m;
}

TEST(convert_rope_scaling_and_head_dim) {
    const char *dir = lqmf_test_tmpdir();
    char path[512];
    lqmf_model *m = small_llama(LQMF_ROPE_SCALING_LLAMA3, 16), *r;
    snprintf(path, sizeof path, "%s/llama3.gguf", dir);
    lqmf_status st = lqmf_model_write_gguf(m, path, NULL);
    if (st == LQMF_OK) st = lqmf_model_open(path, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    check_hparams_equal(&m->hp, &r->hp);
    check_tensors_match(m, r); /* biases of q/k permuted too */
    lqmf_gguf *g;
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    CHECK_EQ_INT(key_u32(g, "llama.attention.key_length"), 16); /* 4 heads * 16 != 32 */
    CHECK_EQ_INT(key_u32(g, "llama.attention.value_length"), 16);
    CHECK_EQ_INT(key_u32(g, "llama.rope.dimension_count"), 16);
    /* llama.cpp's factors: wavelen = 2 pi theta^(2i/d); 1 below orig/high, factor above orig/low, smooth
     * between */
    const lqmf_gguf_tensor *rf = lqmf_gguf_find_tensor(g, "rope_freqs.weight");
    REQUIRE(rf && rf->type == LQMF_TYPE_F32 && rf->ne[0] == 8);
    for (int i = 0; i < 8; i++) {
        double wl = 2 * M_PI * pow(500000.0, 2.0 * i / 16), want;
        if (wl < 32.0 / 4)
            want = 1;
        else if (wl > 32.0 / 1)
            want = 8;
        else {
            double sm = (32.0 / wl - 1) / (4 - 1);
            want = 1 / ((1 - sm) / 8 + sm);
        }
        float got;
        memcpy(&got, (const uint8_t *)rf->data + 4 * i, 4);
        CHECK_NEAR(got, want, 1e-6);
    }
    lqmf_gguf_close(g);
    lqmf_model_close(r);
    lqmf_model_close(m);

    m = small_llama(LQMF_ROPE_SCALING_LINEAR, 8);
    snprintf(path, sizeof path, "%s/linear.gguf", dir);
    st = lqmf_model_write_gguf(m, path, NULL);
    if (st == LQMF_OK) st = lqmf_model_open(path, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    check_hparams_equal(&m->hp, &r->hp);
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    CHECK(key_str_is(g, "llama.rope.scaling.type", "linear"));
    CHECK(key_f32(g, "llama.rope.scaling.factor") == 8);
    CHECK(lqmf_gguf_find_key(g, "llama.attention.key_length") == NULL);
    lqmf_gguf_close(g);
    lqmf_model_close(r);
    lqmf_model_close(m);
}
