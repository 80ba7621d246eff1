/* GGUF: files written by llama.cpp's tools (stories260K, the vocab test
 * files) checked against values taken from an independent dump and against
 * the llama2.c checkpoint of the same weights; writer round trips;
 * byte-identical rewrites; a generated corpus of malformed files. */
#include "../test.h"
#include "lqmf/gguf.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

static bool str_is(lqmf_gguf_str s, const char *c) { return s.ptr && lqmf_gguf_str_eq(s, c); }

static uint32_t get_u32_or(const lqmf_gguf *g, const char *key, uint32_t dflt) {
    uint32_t v = dflt;
    return lqmf_gguf_get_u32(g, key, &v) == LQMF_OK ? v : dflt;
}

/* Element i of an integer array as int64 (INT64_MIN when not one). */
static int64_t arr_i64(const lqmf_gguf_value *a, uint64_t i) {
    lqmf_gguf_value e;
    int64_t v;
    return lqmf_gguf_arr_get(a, i, &e) && lqmf_gguf_value_i64(&e, &v) ? v : INT64_MIN;
}

static double arr_f64(const lqmf_gguf_value *a, uint64_t i) {
    lqmf_gguf_value e;
    double v;
    return lqmf_gguf_arr_get(a, i, &e) && lqmf_gguf_value_f64(&e, &v) ? v : NAN;
}

static char *tmp_path(const char *name) {
    static char buf[4][512];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 512, "%s/%s", lqmf_test_tmpdir(), name);
    return p;
}

/* Offset of the first differing byte of two files, -1 when equal. */
static long long first_diff(const char *a, const char *b) {
    lqmf_map ma, mb;
    if (lqmf_map_open(a, &ma)) return -2;
    if (lqmf_map_open(b, &mb)) {
        lqmf_map_close(&ma);
        return -2;
    }
    uint64_t n = ma.size < mb.size ? ma.size : mb.size, i = 0;
    while (i < n && ma.data[i] == mb.data[i]) i++;
    long long r = i == n && ma.size == mb.size ? -1 : (long long)i;
    lqmf_map_close(&ma);
    lqmf_map_close(&mb);
    return r;
}

/* Rewrite src to dst: copy every KV, stream every tensor. */
static lqmf_status rewrite(const char *src, const char *dst) {
    lqmf_gguf *g;
    lqmf_status st = lqmf_gguf_open(src, &g);
    if (st) return st;
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    st = w ? lqmf_gguf_writer_copy_kvs(w, g) : LQMF_E_NOMEM;
    for (uint64_t i = 0; i < lqmf_gguf_n_tensors(g) && !st; i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        st = lqmf_gguf_writer_add_tensor_info(w, t->name, t->type, t->n_dims, t->ne, NULL);
    }
    if (!st) st = lqmf_gguf_writer_begin(w, dst);
    for (uint32_t i = 0; i < lqmf_gguf_n_tensors(g) && !st; i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        st = lqmf_gguf_writer_write_tensor(w, i, t->data, t->nbytes);
    }
    if (!st) st = lqmf_gguf_writer_finish(w);
    lqmf_gguf_writer_free(w);
    lqmf_gguf_close(g);
    return st;
}

/* ---- stories260K (written by llama.cpp's llama2.c converter) -------------------- */

TEST(gguf_stories260k_metadata) {
    DATA(path, "models/stories260K/stories260K.gguf");
    lqmf_gguf *g;
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    CHECK_EQ_INT(lqmf_gguf_version(g), 3);
    CHECK_EQ_INT(lqmf_gguf_n_kv(g), 19);
    CHECK_EQ_INT(lqmf_gguf_n_tensors(g), 48);
    CHECK_EQ_INT(lqmf_gguf_alignment(g), 32);
    CHECK_EQ_INT(lqmf_gguf_data_offset(g), 14176); /* infos end at 14152 */
    CHECK_EQ_INT(lqmf_gguf_file_size(g), 1185376);
    CHECK_STR(lqmf_gguf_kv_at(g, 0)->key, "tokenizer.ggml.tokens");
    CHECK_STR(lqmf_gguf_kv_at(g, 18)->key, "llama.attention.layer_norm_rms_epsilon");
    CHECK(lqmf_gguf_kv_at(g, 19) == NULL);

    lqmf_gguf_str s = { 0 };
    CHECK_OK(lqmf_gguf_get_str(g, "general.architecture", &s));
    CHECK(str_is(s, "llama"));
    CHECK_OK(lqmf_gguf_get_str(g, "tokenizer.ggml.model", &s));
    CHECK(str_is(s, "llama"));
    static const struct { const char *key; uint32_t v; } u32s[] = {
        { "llama.embedding_length", 64 },   { "llama.block_count", 5 },
        { "llama.attention.head_count", 8 }, { "llama.attention.head_count_kv", 4 },
        { "llama.context_length", 2048 },   { "llama.feed_forward_length", 172 },
        { "llama.rope.dimension_count", 8 }, { "tokenizer.ggml.bos_token_id", 1 },
        { "tokenizer.ggml.eos_token_id", 2 }, { "tokenizer.ggml.unknown_token_id", 0 },
    };
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++)
        CHECKF(get_u32_or(g, u32s[i].key, 12345) == u32s[i].v, "%s", u32s[i].key);
    float eps = 0;
    CHECK_OK(lqmf_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps));
    CHECK(eps == 1e-5f);

    /* integer conversions: the (misspelt) separator id is u32 0xffffffff */
    const char *sep = "tokenizer.ggml.seperator_token_id";
    uint32_t u = 0;
    int64_t i64 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    CHECK_OK(lqmf_gguf_get_u32(g, sep, &u));
    CHECK(u == UINT32_MAX);
    CHECK_OK(lqmf_gguf_get_i64(g, sep, &i64));
    CHECK(i64 == 4294967295LL);
    CHECK_OK(lqmf_gguf_get_u64(g, "llama.block_count", &u64));
    CHECK(u64 == 5);
    CHECK_ERR(lqmf_gguf_get_i32(g, sep, &i32), LQMF_E_FORMAT, "value 4294967295 does not fit i32");
    CHECK_ERR(lqmf_gguf_get_str(g, "llama.block_count", &s), LQMF_E_FORMAT, "has type u32, expected str");
    CHECK_ERR(lqmf_gguf_get_u32(g, "general.name", &u), LQMF_E_FORMAT, "expected an integer");
    bool b;
    CHECK_ERR(lqmf_gguf_get_bool(g, "general.name", &b), LQMF_E_FORMAT, "expected bool");
    CHECK_ERR(lqmf_gguf_get_u32(g, "llama.nope", &u), LQMF_E_NOT_FOUND, "'llama.nope' not found");
    CHECK(lqmf_gguf_find_key(g, "llama.nope") == NULL);
    CHECK(strstr(lqmf_last_error(), "stories260K.gguf") != NULL);

    const lqmf_gguf_value *tok = NULL, *sc = NULL, *tt = NULL;
    REQUIRE_OK(lqmf_gguf_get_arr(g, "tokenizer.ggml.tokens", LQMF_GGUF_STR, &tok));
    REQUIRE_OK(lqmf_gguf_get_arr(g, "tokenizer.ggml.scores", LQMF_GGUF_F32, &sc));
    REQUIRE_OK(lqmf_gguf_get_arr(g, "tokenizer.ggml.token_type", LQMF_GGUF_I32, &tt));
    CHECK_ERR(lqmf_gguf_get_arr(g, "tokenizer.ggml.tokens", LQMF_GGUF_F32, &sc), LQMF_E_FORMAT,
              "array of str, expected f32");
    CHECK_EQ_INT(lqmf_gguf_arr_len(tok), 512);
    CHECK_EQ_INT(lqmf_gguf_arr_len(sc), 512);
    CHECK_EQ_INT(lqmf_gguf_arr_len(tt), 512);
    CHECK(str_is(lqmf_gguf_arr_str(tok, 0), "<unk>"));
    CHECK(str_is(lqmf_gguf_arr_str(tok, 2), "</s>"));
    CHECK(str_is(lqmf_gguf_arr_str(tok, 3), "<0x00>"));
    CHECK(str_is(lqmf_gguf_arr_str(tok, 259), "\xe2\x96\x81t"));
    CHECK(str_is(lqmf_gguf_arr_str(tok, 511), "\xe2\x80\x8a"));
    CHECK(lqmf_gguf_arr_str(tok, 512).ptr == NULL);
    CHECK(lqmf_gguf_arr_str(sc, 0).ptr == NULL);
    CHECK(arr_f64(sc, 260) == -1.0 && arr_f64(sc, 264) == -5.0 && arr_f64(sc, 511) == -252.0);
    CHECK(arr_i64(tt, 0) == 2 && arr_i64(tt, 1) == 3 && arr_i64(tt, 3) == 6 && arr_i64(tt, 511) == 1);
    CHECK(arr_i64(tt, 512) == INT64_MIN);
    lqmf_gguf_close(g);
}

/* Every tensor's size follows from its type and dims, lies in the file, and
 * equals the bytes of the same weights in the llama2.c checkpoint. */
TEST(gguf_stories260k_tensors) {
    DATA(path, "models/stories260K/stories260K.gguf");
    DATA(bin, "models/stories260K/stories260K.bin");
    lqmf_gguf *g;
    REQUIRE_OK(lqmf_gguf_open(path, &g));
    lqmf_map m;
    if (lqmf_map_open(bin, &m)) {
        lqmf_gguf_close(g);
        REQUIRE(false);
    }
    uint64_t data_off = lqmf_gguf_data_offset(g), end = 0;
    for (uint64_t i = 0; i < lqmf_gguf_n_tensors(g); i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        CHECK(t->type == LQMF_TYPE_F32);
        uint64_t nel = 1;
        for (uint32_t d = 0; d < 4; d++) nel *= t->ne[d];
        CHECKF(t->nbytes == 4 * nel, "%s", t->name);
        CHECK(t->offset % 32 == 0);
        CHECK(data_off + t->offset + t->nbytes <= lqmf_gguf_file_size(g));
        CHECK(lqmf_gguf_find_tensor(g, t->name) == t);
        if (t->offset + t->nbytes > end) end = t->offset + t->nbytes;
    }
    CHECK_EQ_INT(data_off + end, lqmf_gguf_file_size(g));
    CHECK(lqmf_gguf_find_tensor(g, "blk.5.attn_q.weight") == NULL);
    const lqmf_gguf_tensor *emb = lqmf_gguf_find_tensor(g, "token_embd.weight");
    REQUIRE(emb && emb->n_dims == 2 && emb->ne[0] == 64 && emb->ne[1] == 512 && emb->ne[2] == 1);

    /* llama2.c layout (floats after a 7-int header): embeddings, then per
     * kind the 5 layers back to back, then the final norm. dim 64, hidden
     * 172, 4 of 8 heads for k/v (kv dim 32). */
    static const struct { const char *kind; uint64_t per_layer; } kinds[] = {
        { "attn_norm", 64 },          { "attn_q", 64 * 64 },  { "attn_k", 64 * 32 },
        { "attn_v", 64 * 32 },        { "attn_output", 64 * 64 }, { "ffn_norm", 64 },
        { "ffn_gate", 172 * 64 },     { "ffn_down", 64 * 172 }, { "ffn_up", 172 * 64 },
    };
    uint64_t off = 28;
    CHECK(memcmp(emb->data, m.data + off, emb->nbytes) == 0);
    CHECK(memcmp(lqmf_gguf_find_tensor(g, "output.weight")->data, emb->data, emb->nbytes) == 0);
    off += emb->nbytes;
    int compared = 2;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int l = 0; l < 5; l++, off += 4 * kinds[k].per_layer) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, kinds[k].kind);
            const lqmf_gguf_tensor *t = lqmf_gguf_find_tensor(g, name);
            CHECKF(t && t->nbytes == 4 * kinds[k].per_layer, "%s", name);
            if (!t || off + t->nbytes > m.size) continue;
            CHECKF(memcmp(t->data, m.data + off, t->nbytes) == 0, "%s differs from the .bin", name);
            compared++;
        }
    }
    const lqmf_gguf_tensor *fin = lqmf_gguf_find_tensor(g, "output_norm.weight");
    CHECK(fin && off + 256 <= m.size && memcmp(fin->data, m.data + off, 256) == 0);
    CHECK_EQ_INT(compared + 1, 48);
    lqmf_map_close(&m);
    lqmf_gguf_close(g);
}

/* Copy-all-KVs + streamed tensors reproduce llama.cpp's file byte for byte. */
TEST(gguf_stories260k_rewrite_identical) {
    DATA(path, "models/stories260K/stories260K.gguf");
    const char *out = tmp_path("stories-copy.gguf");
    REQUIRE_OK(rewrite(path, out));
    CHECK_EQ_INT(first_diff(path, out), -1);
}

/* ---- llama.cpp's vocab-only test files ---------------------------------------- */

TEST(gguf_vocab_files) {
    DATA(dir, "tokenizers/vocab-tests");
    static const struct { const char *file; uint64_t n_tokens, n_merges; } known[] = {
        { "ggml-vocab-gpt-2.gguf", 50257, 50000 },   { "ggml-vocab-deepseek-llm.gguf", 102400, 99757 },
        { "ggml-vocab-starcoder.gguf", 49152, 48872 }, { "ggml-vocab-llama-spm.gguf", 32000, 0 },
        { "ggml-vocab-phi-3.gguf", 32064, 0 },
    };
    DIR *d = opendir(dir);
    REQUIRE(d);
    int n_files = 0, n_known = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
        n_files++;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        lqmf_gguf *g;
        CHECK_OK(lqmf_gguf_open(path, &g));
        if (lqmf_test_failed()) break;
        CHECK_EQ_INT(lqmf_gguf_n_tensors(g), 0);
        lqmf_gguf_str model = { 0 };
        CHECK_OK(lqmf_gguf_get_str(g, "tokenizer.ggml.model", &model));
        const lqmf_gguf_value *tok = NULL, *a = NULL;
        CHECK_OK(lqmf_gguf_get_arr(g, "tokenizer.ggml.tokens", LQMF_GGUF_STR, &tok));
        uint64_t n_tok = tok ? lqmf_gguf_arr_len(tok) : 0;
        CHECKF(n_tok > 0, "%s", e->d_name);
        if (!lqmf_gguf_get_arr(g, "tokenizer.ggml.scores", LQMF_GGUF_F32, &a))
            CHECKF(lqmf_gguf_arr_len(a) == n_tok, "%s scores", e->d_name);
        if (!lqmf_gguf_get_arr(g, "tokenizer.ggml.token_type", LQMF_GGUF_I32, &a))
            CHECKF(lqmf_gguf_arr_len(a) == n_tok, "%s token_type", e->d_name);
        uint64_t n_merges = 0;
        if (!lqmf_gguf_get_arr(g, "tokenizer.ggml.merges", LQMF_GGUF_STR, &a)) n_merges = lqmf_gguf_arr_len(a);
        if (str_is(model, "gpt2")) CHECKF(n_merges > 0, "%s: BPE vocab without merges", e->d_name);
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
            if (strcmp(known[k].file, e->d_name) != 0) continue;
            n_known++;
            CHECKF(n_tok == known[k].n_tokens && n_merges == known[k].n_merges, "%s: %llu tokens, %llu merges",
                   e->d_name, (unsigned long long)n_tok, (unsigned long long)n_merges);
        }
        lqmf_gguf_close(g);
        /* no tensors: no data section, no padding after the KVs */
        const char *out = tmp_path("vocab-copy.gguf");
        CHECK_OK(rewrite(path, out));
        CHECKF(first_diff(path, out) == -1, "%s rewrite differs at %lld", e->d_name, first_diff(path, out));
    }
    closedir(d);
    CHECK(n_files >= 5);
    CHECK_EQ_INT(n_known, 5);
}

/* ---- writer --------------------------------------------------------------------- */

static uint32_t g_rng = 12345;
static uint8_t rnd8(void) {
    g_rng = g_rng * 1664525u + 1013904223u;
    return (uint8_t)(g_rng >> 24);
}

typedef struct {
    const char *name;
    lqmf_type type;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t nbytes; /* computed by hand from the block sizes */
} tspec;

static const tspec k_tensors[] = {
    { "f32.weight", LQMF_TYPE_F32, 2, { 16, 3 }, 16 * 3 * 4 },
    { "f16.weight", LQMF_TYPE_F16, 2, { 32, 2 }, 32 * 2 * 2 },
    { "q4_0.weight", LQMF_TYPE_Q4_0, 2, { 64, 2 }, 2 * 2 * 18 },
    { "q4_k.weight", LQMF_TYPE_Q4_K, 2, { 256, 2 }, 2 * 144 },
    { "q6_k.weight", LQMF_TYPE_Q6_K, 1, { 512 }, 2 * 210 },
    { "q8_0.3d", LQMF_TYPE_Q8_0, 3, { 32, 2, 3 }, 6 * 34 },
    { "f32.4d", LQMF_TYPE_F32, 4, { 2, 3, 4, 5 }, 120 * 4 },
};
#define N_T (sizeof k_tensors / sizeof k_tensors[0])

static const uint8_t a_u8[] = { 0, 1, 255 };
static const int8_t a_i8[] = { -128, 0, 127 };
static const uint16_t a_u16[] = { 0, 65535 };
static const int16_t a_i16[] = { -32768, 32767, -1 };
static const uint32_t a_u32[] = { 1, 2, 3, 4000000000u };
static const int32_t a_i32[] = { INT32_MIN, -1, INT32_MAX };
static const float a_f32[] = { 1.5f, -2.25f, 1e-30f };
static const uint8_t a_bool[] = { 1, 0, 1 };
static const uint64_t a_u64[] = { UINT64_MAX, 0 };
static const int64_t a_i64[] = { INT64_MIN, 7 };
static const double a_f64[] = { 3.141592653589793, -0.0 };
static const char *const a_str[] = { "a", "", "\xc3\xbcn\xc3\xaf" };

static const struct { const char *key; lqmf_gguf_vtype t; const void *data; uint64_t n; } k_arrs[] = {
    { "arr.u8", LQMF_GGUF_U8, a_u8, 3 },     { "arr.i8", LQMF_GGUF_I8, a_i8, 3 },
    { "arr.u16", LQMF_GGUF_U16, a_u16, 2 },  { "arr.i16", LQMF_GGUF_I16, a_i16, 3 },
    { "arr.u32", LQMF_GGUF_U32, a_u32, 4 },  { "arr.i32", LQMF_GGUF_I32, a_i32, 3 },
    { "arr.f32", LQMF_GGUF_F32, a_f32, 3 },  { "arr.bool", LQMF_GGUF_BOOL, a_bool, 3 },
    { "arr.u64", LQMF_GGUF_U64, a_u64, 2 },  { "arr.i64", LQMF_GGUF_I64, a_i64, 2 },
    { "arr.f64", LQMF_GGUF_F64, a_f64, 2 },  { "arr.empty", LQMF_GGUF_U32, a_u32, 0 },
};
#define N_ARRS (sizeof k_arrs / sizeof k_arrs[0])

/* Nested: [[1,2,3,4e9], ["x","yz"], [[1,2,3,4e9]]] */
static lqmf_gguf_value nested_value(lqmf_gguf_value inner[3], lqmf_gguf_value *deep, lqmf_gguf_str strs[2]) {
    strs[0] = (lqmf_gguf_str){ "x", 1 };
    strs[1] = (lqmf_gguf_str){ "yz", 2 };
    memset(inner, 0, 3 * sizeof *inner);
    lqmf_gguf_value v = { .type = LQMF_GGUF_ARR };
    v.v.arr.elem_type = LQMF_GGUF_U32;
    v.v.arr.count = 4;
    v.v.arr.data = a_u32;
    inner[0] = v;
    *deep = v;
    inner[1].type = LQMF_GGUF_ARR;
    inner[1].v.arr.elem_type = LQMF_GGUF_STR;
    inner[1].v.arr.count = 2;
    inner[1].v.arr.strs = strs;
    inner[2].type = LQMF_GGUF_ARR;
    inner[2].v.arr.elem_type = LQMF_GGUF_ARR;
    inner[2].v.arr.count = 1;
    inner[2].v.arr.items = deep;
    lqmf_gguf_value outer = { .type = LQMF_GGUF_ARR };
    outer.v.arr.elem_type = LQMF_GGUF_ARR;
    outer.v.arr.count = 3;
    outer.v.arr.items = inner;
    return outer;
}

static void set_all_values(lqmf_gguf_writer *w) {
    CHECK_OK(lqmf_gguf_writer_set_u32(w, "t.replace", 1));
    CHECK_OK(lqmf_gguf_writer_set_u8(w, "t.u8", 200));
    CHECK_OK(lqmf_gguf_writer_set_i8(w, "t.i8", -100));
    CHECK_OK(lqmf_gguf_writer_set_u16(w, "t.u16", 60000));
    CHECK_OK(lqmf_gguf_writer_set_i16(w, "t.i16", -30000));
    CHECK_OK(lqmf_gguf_writer_set_u32(w, "t.u32", 4000000000u));
    CHECK_OK(lqmf_gguf_writer_set_i32(w, "t.i32", -2000000000));
    CHECK_OK(lqmf_gguf_writer_set_f32(w, "t.f32", -0.15625f));
    CHECK_OK(lqmf_gguf_writer_set_bool(w, "t.bool", true));
    CHECK_OK(lqmf_gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo"));
    CHECK_OK(lqmf_gguf_writer_set_u64(w, "t.u64", UINT64_MAX));
    CHECK_OK(lqmf_gguf_writer_set_i64(w, "t.i64", INT64_MIN));
    CHECK_OK(lqmf_gguf_writer_set_f64(w, "t.f64", 2.718281828459045));
    CHECK_OK(lqmf_gguf_writer_set_str(w, "t.gone", "removed below"));
    for (size_t i = 0; i < N_ARRS; i++)
        CHECK_OK(lqmf_gguf_writer_set_arr(w, k_arrs[i].key, k_arrs[i].t, k_arrs[i].data, k_arrs[i].n));
    CHECK_OK(lqmf_gguf_writer_set_arr_str(w, "arr.str", a_str, 3));
    lqmf_gguf_value inner[3], deep;
    lqmf_gguf_str strs[2];
    lqmf_gguf_value nested = nested_value(inner, &deep, strs);
    CHECK_OK(lqmf_gguf_writer_set_value(w, "arr.nested", &nested));
    CHECK_OK(lqmf_gguf_writer_set_u32(w, "t.replace", 2)); /* replaced in place */
    CHECK_OK(lqmf_gguf_writer_remove(w, "t.gone"));
    CHECK_OK(lqmf_gguf_writer_remove(w, "t.never-set"));
    /* keys after the removed one moved down: replacing one must hit it */
    CHECK_OK(lqmf_gguf_writer_set_arr(w, k_arrs[0].key, k_arrs[0].t, k_arrs[0].data, k_arrs[0].n));
}

static void check_all_values(const lqmf_gguf *g) {
    CHECK_STR(lqmf_gguf_kv_at(g, 0)->key, "t.replace");
    CHECK_STR(lqmf_gguf_kv_at(g, 1)->key, "t.u8");
    CHECK(lqmf_gguf_find_key(g, "t.gone") == NULL);
    static const struct { const char *key; lqmf_gguf_vtype t; int64_t i; } ints[] = {
        { "t.replace", LQMF_GGUF_U32, 2 },    { "t.u8", LQMF_GGUF_U8, 200 },
        { "t.i8", LQMF_GGUF_I8, -100 },       { "t.u16", LQMF_GGUF_U16, 60000 },
        { "t.i16", LQMF_GGUF_I16, -30000 },   { "t.u32", LQMF_GGUF_U32, 4000000000LL },
        { "t.i32", LQMF_GGUF_I32, -2000000000 }, { "t.i64", LQMF_GGUF_I64, INT64_MIN },
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const lqmf_gguf_kv *kv = lqmf_gguf_find_key(g, ints[i].key);
        int64_t v = 0;
        CHECKF(kv && kv->value.type == ints[i].t && lqmf_gguf_get_i64(g, ints[i].key, &v) == LQMF_OK &&
                   v == ints[i].i, "%s", ints[i].key);
    }
    uint64_t u64 = 0;
    CHECK_OK(lqmf_gguf_get_u64(g, "t.u64", &u64));
    CHECK(u64 == UINT64_MAX);
    float f = 0;
    double d = 0;
    bool b = false;
    lqmf_gguf_str s = { 0 };
    CHECK_OK(lqmf_gguf_get_f32(g, "t.f32", &f));
    CHECK(f == -0.15625f && lqmf_gguf_find_key(g, "t.f32")->value.type == LQMF_GGUF_F32);
    CHECK_OK(lqmf_gguf_get_f64(g, "t.f64", &d));
    CHECK(d == 2.718281828459045 && lqmf_gguf_find_key(g, "t.f64")->value.type == LQMF_GGUF_F64);
    CHECK_OK(lqmf_gguf_get_bool(g, "t.bool", &b));
    CHECK(b);
    CHECK_OK(lqmf_gguf_get_str(g, "t.str", &s));
    CHECK(str_is(s, "h\xc3\xa9llo"));
    for (size_t i = 0; i < N_ARRS; i++) {
        const lqmf_gguf_value *a = NULL;
        CHECK_OK(lqmf_gguf_get_arr(g, k_arrs[i].key, k_arrs[i].t, &a));
        if (!a) continue;
        size_t n = (size_t)k_arrs[i].n * lqmf_gguf_vtype_size(k_arrs[i].t);
        CHECKF(a->v.arr.count == k_arrs[i].n && memcmp(a->v.arr.data, k_arrs[i].data, n) == 0, "%s",
               k_arrs[i].key);
    }
    const lqmf_gguf_value *a = NULL;
    REQUIRE_OK(lqmf_gguf_get_arr(g, "arr.i16", LQMF_GGUF_I16, &a));
    CHECK(arr_i64(a, 0) == -32768 && arr_i64(a, 2) == -1);
    REQUIRE_OK(lqmf_gguf_get_arr(g, "arr.f32", LQMF_GGUF_F32, &a));
    CHECK(arr_f64(a, 1) == -2.25 && arr_f64(a, 2) == (double)1e-30f);
    REQUIRE_OK(lqmf_gguf_get_arr(g, "arr.str", LQMF_GGUF_STR, &a));
    CHECK(lqmf_gguf_arr_len(a) == 3 && str_is(lqmf_gguf_arr_str(a, 1), "") &&
          str_is(lqmf_gguf_arr_str(a, 2), a_str[2]));
    REQUIRE_OK(lqmf_gguf_get_arr(g, "arr.nested", LQMF_GGUF_ARR, &a));
    REQUIRE(lqmf_gguf_arr_len(a) == 3);
    lqmf_gguf_value e0, e1, e2, e20;
    REQUIRE(lqmf_gguf_arr_get(a, 0, &e0) && lqmf_gguf_arr_get(a, 1, &e1) && lqmf_gguf_arr_get(a, 2, &e2));
    CHECK(!lqmf_gguf_arr_get(a, 3, &e20));
    CHECK(e0.type == LQMF_GGUF_ARR && e0.v.arr.elem_type == LQMF_GGUF_U32 && arr_i64(&e0, 3) == 4000000000LL);
    CHECK(e1.v.arr.elem_type == LQMF_GGUF_STR && str_is(lqmf_gguf_arr_str(&e1, 1), "yz"));
    REQUIRE(e2.v.arr.elem_type == LQMF_GGUF_ARR && lqmf_gguf_arr_get(&e2, 0, &e20));
    CHECK(lqmf_gguf_arr_len(&e20) == 4 && memcmp(e20.v.arr.data, a_u32, sizeof a_u32) == 0);
}

static void fill_random(uint8_t *buf, size_t n) {
    for (size_t i = 0; i < n; i++) buf[i] = rnd8();
}

/* Compare g's tensors with k_tensors and data[]; offsets follow `align`. */
static void check_tensors(const lqmf_gguf *g, uint8_t *const data[N_T], uint32_t align) {
    REQUIRE(lqmf_gguf_n_tensors(g) == N_T);
    CHECK_EQ_INT(lqmf_gguf_alignment(g), align);
    CHECK(lqmf_gguf_data_offset(g) % align == 0);
    uint64_t off = 0;
    for (size_t i = 0; i < N_T; i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        const tspec *sp = &k_tensors[i];
        CHECK_STR(t->name, sp->name);
        CHECK(t->type == sp->type && t->n_dims == sp->n_dims && t->nbytes == sp->nbytes);
        for (uint32_t d = 0; d < 4; d++) CHECK(t->ne[d] == (d < sp->n_dims ? sp->ne[d] : 1));
        CHECKF(t->offset == off, "%s offset %llu, want %llu", sp->name, (unsigned long long)t->offset,
               (unsigned long long)off);
        CHECKF(memcmp(t->data, data[i], sp->nbytes) == 0, "%s data", sp->name);
        off += (sp->nbytes + align - 1) / align * align;
    }
    CHECK_EQ_INT(lqmf_gguf_file_size(g), lqmf_gguf_data_offset(g) + off); /* last tensor padded too */
}

TEST(gguf_writer_round_trip_streaming) {
    uint8_t *data[N_T];
    for (size_t i = 0; i < N_T; i++) fill_random(data[i] = malloc(k_tensors[i].nbytes), k_tensors[i].nbytes);
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    REQUIRE(w);
    set_all_values(w);
    CHECK_OK(lqmf_gguf_writer_set_alignment(w, 64));
    for (size_t i = 0; i < N_T; i++) {
        uint32_t idx = 99;
        CHECK_OK(lqmf_gguf_writer_add_tensor_info(w, k_tensors[i].name, k_tensors[i].type,
                                                  k_tensors[i].n_dims, k_tensors[i].ne, &idx));
        CHECK(idx == i && lqmf_gguf_writer_tensor_nbytes(w, idx) == k_tensors[i].nbytes);
    }
    CHECK_EQ_INT(lqmf_gguf_writer_n_tensors(w), N_T);
    const char *path = tmp_path("round.gguf");
    CHECK_OK(lqmf_gguf_writer_begin(w, path));
    CHECK(access(path, F_OK) != 0); /* nothing under the final name until finish */
    for (uint32_t i = 0; i < N_T; i++) CHECK_OK(lqmf_gguf_writer_write_tensor(w, i, data[i], k_tensors[i].nbytes));
    CHECK_OK(lqmf_gguf_writer_finish(w));
    lqmf_gguf_writer_free(w);

    lqmf_gguf *g = NULL;
    CHECK_OK(lqmf_gguf_open(path, &g));
    if (g) {
        CHECK_EQ_INT(lqmf_gguf_version(g), 3);
        CHECK_EQ_INT(lqmf_gguf_n_kv(g), 13 + N_ARRS + 3);
        CHECK_EQ_INT(get_u32_or(g, "general.alignment", 0), 64);
        check_all_values(g);
        check_tensors(g, data, 64);
        lqmf_gguf_close(g);
    }
    /* header bytes by hand: magic, version 3, u64 tensor count, u64 kv count */
    lqmf_map m;
    if (!lqmf_map_open(path, &m)) {
        static const uint8_t head[] = { 'G', 'G', 'U', 'F', 3, 0, 0, 0, N_T, 0, 0, 0, 0, 0, 0, 0,
                                        13 + N_ARRS + 3, 0, 0, 0, 0, 0, 0, 0 };
        CHECK(m.size > sizeof head && memcmp(m.data, head, sizeof head) == 0);
        lqmf_map_close(&m);
    }
    for (size_t i = 0; i < N_T; i++) free(data[i]);
}

TEST(gguf_writer_write_all_default_alignment) {
    uint8_t *data[N_T];
    for (size_t i = 0; i < N_T; i++) fill_random(data[i] = malloc(k_tensors[i].nbytes), k_tensors[i].nbytes);
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    REQUIRE(w);
    set_all_values(w);
    CHECK_OK(lqmf_gguf_writer_set_alignment(w, 64));
    CHECK_OK(lqmf_gguf_writer_set_alignment(w, 32)); /* back to the default: key removed */
    for (size_t i = 0; i < N_T; i++)
        CHECK_OK(lqmf_gguf_writer_add_tensor(w, k_tensors[i].name, k_tensors[i].type, k_tensors[i].n_dims,
                                             k_tensors[i].ne, data[i], k_tensors[i].nbytes));
    const char *path = tmp_path("all.gguf");
    CHECK_OK(lqmf_gguf_writer_write(w, path));
    lqmf_gguf_writer_free(w);
    lqmf_gguf *g = NULL;
    CHECK_OK(lqmf_gguf_open(path, &g));
    if (g) {
        CHECK(lqmf_gguf_find_key(g, "general.alignment") == NULL);
        check_all_values(g);
        check_tensors(g, data, 32);
        lqmf_gguf_close(g);
    }
    for (size_t i = 0; i < N_T; i++) free(data[i]);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

TEST(gguf_writer_errors) {
    char dir[400], path[420];
    snprintf(dir, sizeof dir, "%s", lqmf_test_tmpdir());
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    REQUIRE(w);
    uint64_t ne[2] = { 64, 2 }, bad_ne[2] = { 48, 2 };
    uint8_t buf[256] = { 0 };
    CHECK_ERR(lqmf_gguf_writer_set_u32(w, "", 1), LQMF_E_INVALID, "is empty");
    CHECK_ERR(lqmf_gguf_writer_set_u32(w, "bad\xff", 1), LQMF_E_INVALID, "UTF-8");
    CHECK_ERR(lqmf_gguf_writer_set_u32(w, "general.alignment", 12), LQMF_E_INVALID, "multiple of 8");
    CHECK_ERR(lqmf_gguf_writer_set_u64(w, "general.alignment", 64), LQMF_E_INVALID, "u32");
    CHECK_ERR(lqmf_gguf_writer_set_alignment(w, 0), LQMF_E_INVALID, "multiple of 8");
    CHECK_ERR(lqmf_gguf_writer_set_arr(w, "k", LQMF_GGUF_STR, buf, 1), LQMF_E_INVALID, "scalar element");
    CHECK_ERR(lqmf_gguf_writer_set_arr(w, "k", LQMF_GGUF_BOOL, (const uint8_t[]){ 0, 2 }, 2),
              LQMF_E_INVALID, "bool element 1 is 2");
    lqmf_gguf_value big = { .type = LQMF_GGUF_U8, .v.u = 300 };
    CHECK_ERR(lqmf_gguf_writer_set_value(w, "k", &big), LQMF_E_INVALID, "does not fit u8");
    CHECK_ERR(lqmf_gguf_writer_add_tensor_info(w, "q", LQMF_TYPE_Q4_0, 2, bad_ne, NULL), LQMF_E_INVALID,
              "not a multiple of the Q4_0 block size 32");
    CHECK_ERR(lqmf_gguf_writer_add_tensor_info(w, "q", (lqmf_type)5, 2, ne, NULL), LQMF_E_INVALID,
              "type id 5");
    CHECK_ERR(lqmf_gguf_writer_add_tensor_info(w, "q", LQMF_TYPE_F32, 5, ne, NULL), LQMF_E_INVALID, "n_dims 5");
    CHECK_ERR(lqmf_gguf_writer_add_tensor_info(w, "", LQMF_TYPE_F32, 2, ne, NULL), LQMF_E_INVALID, "is empty");
    CHECK_ERR(lqmf_gguf_writer_add_tensor(w, "q", LQMF_TYPE_Q4_0, 2, ne, buf, 10), LQMF_E_INVALID,
              "10 data bytes given");
    CHECK_OK(lqmf_gguf_writer_add_tensor_info(w, "q", LQMF_TYPE_Q4_0, 2, ne, NULL));
    CHECK_OK(lqmf_gguf_writer_add_tensor_info(w, "r", LQMF_TYPE_Q4_0, 2, ne, NULL));
    CHECK_ERR(lqmf_gguf_writer_add_tensor_info(w, "q", LQMF_TYPE_F32, 2, ne, NULL), LQMF_E_INVALID,
              "duplicate tensor name 'q'");
    CHECK_ERR(lqmf_gguf_writer_write(w, path), LQMF_E_STATE, "has no data");
    CHECK_ERR(lqmf_gguf_writer_write_tensor(w, 0, buf, 72), LQMF_E_STATE, "before begin");
    CHECK_ERR(lqmf_gguf_writer_finish(w), LQMF_E_STATE, "before begin");
    CHECK_OK(lqmf_gguf_writer_begin(w, path));
    CHECK_ERR(lqmf_gguf_writer_begin(w, path), LQMF_E_STATE, "twice");
    CHECK_ERR(lqmf_gguf_writer_set_u32(w, "late", 1), LQMF_E_STATE, "after begin");
    CHECK_ERR(lqmf_gguf_writer_add_tensor_info(w, "late", LQMF_TYPE_F32, 2, ne, NULL), LQMF_E_STATE,
              "after begin");
    CHECK_ERR(lqmf_gguf_writer_write_tensor(w, 1, buf, 72), LQMF_E_INVALID, "out of order");
    CHECK_ERR(lqmf_gguf_writer_write_tensor(w, 0, buf, 71), LQMF_E_INVALID, "71 bytes given, expected 72");
    CHECK_OK(lqmf_gguf_writer_write_tensor(w, 0, buf, 72));
    CHECK_ERR(lqmf_gguf_writer_finish(w), LQMF_E_STATE, "1 of 2 tensors written");
    CHECK_EQ_INT(count_entries(dir), 1); /* the temporary */
    lqmf_gguf_writer_abort(w);
    CHECK_EQ_INT(count_entries(dir), 0);
    /* a writer freed mid-file leaves nothing behind either */
    CHECK_OK(lqmf_gguf_writer_begin(w, path));
    lqmf_gguf_writer_free(w);
    CHECK_EQ_INT(count_entries(dir), 0);
    lqmf_gguf_writer_free(NULL);
    lqmf_gguf_close(NULL);
}

/* ---- malformed files --------------------------------------------------------------- */

static void put(lqmf_buf *b, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        lqmf_buf_append(b, &c, 1);
    }
}
static void put_s(lqmf_buf *b, const char *s) {
    put(b, strlen(s), 8);
    lqmf_buf_append(b, s, strlen(s));
}
static void header(lqmf_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    lqmf_buf_init(b);
    lqmf_buf_append(b, "GGUF", 4);
    put(b, version, 4);
    put(b, n_tensors, 8);
    put(b, n_kv, 8);
}
static void kv_u32(lqmf_buf *b, const char *key, uint32_t v) {
    put_s(b, key);
    put(b, LQMF_GGUF_U32, 4);
    put(b, v, 4);
}
static void tinfo(lqmf_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t offset) {
    put_s(b, name);
    put(b, n_dims, 4);
    for (uint32_t d = 0; d < n_dims; d++) put(b, ne[d], 8);
    put(b, type, 4);
    put(b, offset, 8);
}
/* Zero padding to 32, then n data bytes. */
static void data(lqmf_buf *b, size_t n) {
    lqmf_buf_zeros(b, (32 - b->len % 32) % 32);
    for (size_t i = 0; i < n; i++) lqmf_buf_append(b, &(uint8_t){ (uint8_t)i }, 1);
}

static lqmf_status parse_n(const lqmf_buf *b, size_t n) {
    lqmf_gguf *g = NULL;
    lqmf_status st = lqmf_gguf_parse(b->data, n, "mem.gguf", &g);
    CHECK((st == LQMF_OK) == (g != NULL));
    if (st) CHECKF(strncmp(lqmf_last_error(), "mem.gguf: ", 10) == 0, "no label: %s", lqmf_last_error());
    lqmf_gguf_close(g);
    return st;
}
static lqmf_status parse_free(lqmf_buf *b) {
    lqmf_status st = parse_n(b, b->len);
    lqmf_buf_free(b);
    return st;
}

/* A valid file: 2 KVs, tensors a (F32 {8}) at 0 and b (Q8_0 {32, 2}) at 32. */
static void valid_file(lqmf_buf *b) {
    header(b, 3, 2, 2);
    kv_u32(b, "general.alignment", 32);
    put_s(b, "general.architecture");
    put(b, LQMF_GGUF_STR, 4);
    put_s(b, "llama");
    tinfo(b, "a", 1, (uint64_t[]){ 8 }, LQMF_TYPE_F32, 0);
    tinfo(b, "b", 2, (uint64_t[]){ 32, 2 }, LQMF_TYPE_Q8_0, 32);
    data(b, 32 + 68);
}

/* One F32-or-other tensor "t" after one KV. */
static lqmf_status one_tensor(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t n_data) {
    lqmf_buf b;
    header(&b, 3, 1, 1);
    kv_u32(&b, "k", 1);
    tinfo(&b, "t", n_dims, ne, type, offset);
    data(&b, n_data);
    return parse_free(&b);
}

static lqmf_status two_tensors(const char *name2, uint64_t off2) {
    lqmf_buf b;
    header(&b, 3, 2, 0);
    tinfo(&b, "t", 1, (uint64_t[]){ 16 }, LQMF_TYPE_F32, 0);
    tinfo(&b, name2, 1, (uint64_t[]){ 16 }, LQMF_TYPE_F32, off2);
    data(&b, 128);
    return parse_free(&b);
}

/* One KV: key, then the raw value bytes (type included) of v. */
static lqmf_status one_kv(const char *key, const lqmf_buf *v) {
    lqmf_buf b;
    header(&b, 3, 0, 1);
    put_s(&b, key);
    lqmf_buf_append(&b, v->data, v->len);
    return parse_free(&b);
}

TEST(gguf_malformed_header_and_truncation) {
    lqmf_buf b;
    valid_file(&b);
    CHECK_OK(parse_n(&b, b.len));
    for (size_t n = 0; n < b.len; n += 7) {
        lqmf_status st = parse_n(&b, n);
        CHECKF(st == LQMF_E_FORMAT, "truncated at %zu: %s", n, lqmf_last_error());
        const char *m = lqmf_last_error();
        CHECKF(strstr(m, "truncated") || strstr(m, "exceeds the") || strstr(m, "need at least") || strstr(m, "bad magic") ||
                   strstr(m, "past the end"), "at %zu: %s", n, m);
    }
    b.data[3] = 'X';
    CHECK_ERR(parse_n(&b, b.len), LQMF_E_FORMAT, "bad magic 47 47 55 58");
    lqmf_buf_free(&b);

    header(&b, 1, 0, 0);
    CHECK_ERR(parse_free(&b), LQMF_E_UNSUPPORTED, "version 1");
    header(&b, 0x03000000, 0, 0);
    CHECK_ERR(parse_free(&b), LQMF_E_UNSUPPORTED, "big-endian");
    header(&b, 4, 0, 0);
    CHECK_ERR(parse_free(&b), LQMF_E_UNSUPPORTED, "version 4");
    header(&b, 2, 0, 0); /* version 2 has the same layout */
    CHECK_OK(parse_free(&b));
    header(&b, 3, 1ull << 40, 0);
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "tensor count 1099511627776 exceeds the limit");
    header(&b, 3, 0, UINT64_MAX);
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "key count");
    header(&b, 3, 1000, 0);
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "need at least 33000 bytes");
    CHECK_ERR(lqmf_gguf_parse(NULL, 0, "empty", &(lqmf_gguf *){ NULL }), LQMF_E_FORMAT, "bad magic");

    /* through a file: the message names the path */
    const char *path = tmp_path("v1.gguf");
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    header(&b, 1, 0, 0);
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    lqmf_buf_free(&b);
    lqmf_gguf *g = NULL;
    CHECK_ERR(lqmf_gguf_open(path, &g), LQMF_E_UNSUPPORTED, path);
    CHECK(g == NULL);
    CHECK_ERR(lqmf_gguf_open(tmp_path("missing.gguf"), &g), LQMF_E_NOT_FOUND, "missing.gguf");
}

TEST(gguf_malformed_values) {
    lqmf_buf v;
    lqmf_buf_init(&v);
    put(&v, LQMF_GGUF_STR, 4);
    put(&v, 1ull << 40, 8);
    CHECK_ERR(one_kv("k", &v), LQMF_E_FORMAT, "key 'k': string length 1099511627776 exceeds the 0 bytes left");
    v.len = 0;
    put(&v, LQMF_GGUF_ARR, 4);
    put(&v, LQMF_GGUF_U32, 4);
    put(&v, 1ull << 62, 8); /* count * 4 overflows */
    CHECK_ERR(one_kv("k", &v), LQMF_E_FORMAT, "array of 4611686018427387904 u32 elements does not fit");
    v.len = 0;
    put(&v, LQMF_GGUF_ARR, 4);
    put(&v, LQMF_GGUF_STR, 4);
    put(&v, 1000000, 8);
    CHECK_ERR(one_kv("k", &v), LQMF_E_FORMAT, "array of 1000000 str elements does not fit");
    v.len = 0;
    put(&v, LQMF_GGUF_ARR, 4);
    for (int i = 0; i < 100; i++) { /* 100 arrays of one array each */
        put(&v, LQMF_GGUF_ARR, 4);
        put(&v, 1, 8);
    }
    put(&v, LQMF_GGUF_U8, 4);
    put(&v, 0, 8);
    CHECK_ERR(one_kv("k", &v), LQMF_E_FORMAT, "nested deeper than 8");
    v.len = 0;
    put(&v, LQMF_GGUF_BOOL, 4);
    put(&v, 2, 1);
    CHECK_ERR(one_kv("flag", &v), LQMF_E_FORMAT, "key 'flag': bool value 2 is not 0 or 1");
    v.len = 0;
    put(&v, LQMF_GGUF_ARR, 4);
    put(&v, LQMF_GGUF_BOOL, 4);
    put(&v, 3, 8);
    put(&v, 0x010301, 3);
    CHECK_ERR(one_kv("flags", &v), LQMF_E_FORMAT, "bool array element 1 is 3");
    v.len = 0;
    put(&v, 13, 4);
    put(&v, 0, 1);
    CHECK_ERR(one_kv("k", &v), LQMF_E_FORMAT, "unknown value type 13");
    v.len = 0;
    put(&v, LQMF_GGUF_U8, 4);
    put(&v, 1, 1);
    CHECK_ERR(one_kv("bad\xc3\x28key", &v), LQMF_E_FORMAT, "key is not valid UTF-8");
    lqmf_buf_free(&v);

    lqmf_buf b;
    header(&b, 3, 0, 1);
    kv_u32(&b, "", 1);
    put(&b, 0, 1); /* a 1-byte key is the smallest the header check allows for */
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "key is empty");
    header(&b, 3, 0, 2);
    kv_u32(&b, "dup", 1);
    kv_u32(&b, "dup", 2);
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "key 'dup': duplicate key");
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 12);
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "alignment 12 is not a non-zero multiple of 8");
    header(&b, 3, 0, 1);
    put_s(&b, "general.alignment");
    put(&b, LQMF_GGUF_U64, 4);
    put(&b, 64, 8);
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "type u64, expected u32");
}

TEST(gguf_malformed_tensors) {
    CHECK_OK(one_tensor(2, (uint64_t[]){ 32, 2 }, LQMF_TYPE_Q4_0, 0, 36));
    CHECK_ERR(two_tensors("t", 64), LQMF_E_FORMAT, "tensor 't': duplicate tensor name");
    CHECK_ERR(two_tensors("u", 32), LQMF_E_FORMAT, "tensor 'u': data at offset 32 overlaps tensor 't' at [0, 64)");
    CHECK_OK(two_tensors("u", 64));
    CHECK_ERR(one_tensor(0, NULL, LQMF_TYPE_F32, 0, 32), LQMF_E_FORMAT, "tensor 't': n_dims 0 is not in 1..4");
    CHECK_ERR(one_tensor(5, (uint64_t[]){ 1, 1, 1, 1, 1 }, LQMF_TYPE_F32, 0, 32), LQMF_E_FORMAT, "n_dims 5");
    CHECK_ERR(one_tensor(2, (uint64_t[]){ 8, 0 }, LQMF_TYPE_F32, 0, 32), LQMF_E_FORMAT, "dimension 1 is 0");
    CHECK_ERR(one_tensor(3, (uint64_t[]){ 1ull << 32, 1ull << 16, 1ull << 16 }, LQMF_TYPE_F32, 0, 32),
              LQMF_E_FORMAT, "element count overflows at dimension 2");
    CHECK_ERR(one_tensor(2, (uint64_t[]){ 1ull << 31, 1ull << 32 }, LQMF_TYPE_F32, 0, 32), LQMF_E_FORMAT,
              "element count overflows at dimension 1");
    CHECK_ERR(one_tensor(1, (uint64_t[]){ 1ull << 62 }, LQMF_TYPE_F32, 0, 32), LQMF_E_FORMAT,
              "byte size of 4611686018427387904 F32 elements overflows");
    CHECK_ERR(one_tensor(1, (uint64_t[]){ 32 }, 4, 0, 32), LQMF_E_FORMAT, "unknown or removed type id 4");
    CHECK_ERR(one_tensor(1, (uint64_t[]){ 32 }, 40, 0, 32), LQMF_E_FORMAT, "type id 40");
    CHECK_ERR(one_tensor(1, (uint64_t[]){ 16 }, LQMF_TYPE_Q4_0, 0, 32), LQMF_E_FORMAT,
              "row length 16 is not a multiple of the Q4_0 block size 32");
    CHECK_ERR(one_tensor(1, (uint64_t[]){ 8 }, LQMF_TYPE_F32, 4, 64), LQMF_E_FORMAT,
              "offset 4 is not a multiple of the alignment 32");
    CHECK_ERR(one_tensor(1, (uint64_t[]){ 8 }, LQMF_TYPE_F32, 1ull << 20, 32), LQMF_E_FORMAT,
              "tensor 't': data at offset 1048576 + 32 bytes lies past the end");
    CHECK_ERR(one_tensor(1, (uint64_t[]){ 8 }, LQMF_TYPE_F32, UINT64_MAX - 31, 32), LQMF_E_FORMAT,
              "past the end");
    CHECK_ERR(one_tensor(1, (uint64_t[]){ 8 }, LQMF_TYPE_F32, 0, 31), LQMF_E_FORMAT, "past the end");

    lqmf_buf b;
    header(&b, 3, 1, 0);
    tinfo(&b, "", 1, (uint64_t[]){ 8 }, LQMF_TYPE_F32, 0);
    data(&b, 32);
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "tensor name is empty");
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    header(&b, 3, 1, 0);
    tinfo(&b, name, 1, (uint64_t[]){ 8 }, LQMF_TYPE_F32, 0);
    data(&b, 32);
    CHECK_ERR(parse_free(&b), LQMF_E_FORMAT, "tensor name length 299 exceeds the limit 255");
    name[255] = 0;
    header(&b, 3, 1, 0);
    tinfo(&b, name, 1, (uint64_t[]){ 8 }, LQMF_TYPE_F32, 0);
    data(&b, 32);
    CHECK_OK(parse_free(&b));
}
