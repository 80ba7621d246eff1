/* safetensors: real checkpoints written by the reference library, byte-exact
 * round trips, sharded checkpoints, header-only parsing and a malformed
 * corpus built here. */
#include "lqmf/safetensors.h"

#include "../test.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static char *path_in(const char *dir, const char *name) {
    static char bufs[4][1024];
    static unsigned slot;
    char *b = bufs[slot++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static bool write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* A file image: 8-byte little-endian length of hdr, hdr, then data_len bytes
 * of 0x5a. Caller frees. */
static uint8_t *image(const char *hdr, size_t data_len, size_t *size) {
    size_t n = strlen(hdr);
    *size = 8 + n + data_len;
    uint8_t *p = malloc(*size);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(p + 8, hdr, n);
    memset(p + 8 + n, 0x5a, data_len);
    return p;
}

/* Two files are byte-identical. */
static bool same_file(const char *a, const char *b) {
    lqmf_map x, y;
    if (lqmf_map_open(a, &x) != LQMF_OK) return false;
    if (lqmf_map_open(b, &y) != LQMF_OK) {
        lqmf_map_close(&x);
        return false;
    }
    bool same = x.size == y.size && (x.size == 0 || memcmp(x.data, y.data, x.size) == 0);
    lqmf_map_close(&x);
    lqmf_map_close(&y);
    return same;
}

/* Copy every tensor and metadata entry of st into a writer and write path. */
static lqmf_status rewrite(const lqmf_safetensors *st, const char *path) {
    lqmf_st_writer *w;
    lqmf_status s = lqmf_st_writer_new(&w);
    for (size_t i = 0; s == LQMF_OK && i < lqmf_st_n_tensors(st); i++) {
        const lqmf_st_tensor *t = lqmf_st_tensor_at(st, i);
        s = lqmf_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, t->data, t->nbytes);
    }
    for (size_t i = 0; s == LQMF_OK && i < lqmf_st_n_metadata(st); i++) {
        const char *k, *v;
        lqmf_st_metadata_at(st, i, &k, &v);
        s = lqmf_st_writer_set_metadata(w, k, v);
    }
    if (s == LQMF_OK) s = lqmf_st_writer_write(w, path);
    lqmf_st_writer_free(w);
    return s;
}

static void check_shape(const lqmf_safetensors *st, const char *name, lqmf_st_dtype dt, uint32_t nd,
                        uint64_t d0, uint64_t d1) {
    const lqmf_st_tensor *t = lqmf_st_find(st, name);
    CHECKF(t != NULL, "tensor %s missing", name);
    if (!t) return;
    CHECK_STR(t->name, name);
    CHECK_EQ_INT(t->dtype, dt);
    CHECK_EQ_INT(t->n_dims, nd);
    CHECK_EQ_INT(t->shape[0], d0);
    if (nd > 1) CHECK_EQ_INT(t->shape[1], d1);
}

/* Every tensor's view equals the file's bytes at its offset (read with stdio). */
static void check_views(const lqmf_safetensors *st, const char *path) {
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    for (size_t i = 0; i < lqmf_st_n_tensors(st); i++) {
        const lqmf_st_tensor *t = lqmf_st_tensor_at(st, i);
        size_t n = t->nbytes < 4096 ? (size_t)t->nbytes : 4096;
        uint8_t buf[4096];
        CHECK(fseek(f, (long)t->offset, SEEK_SET) == 0);
        CHECK(fread(buf, 1, n, f) == n);
        CHECKF(memcmp(buf, t->data, n) == 0, "tensor %s: view differs from the file", t->name);
    }
    fclose(f);
}

static uint64_t total_elems(const lqmf_safetensors *st, lqmf_st_dtype only) {
    uint64_t n = 0;
    for (size_t i = 0; i < lqmf_st_n_tensors(st); i++) {
        const lqmf_st_tensor *t = lqmf_st_tensor_at(st, i);
        CHECKF(t->dtype == only, "%s is %s", t->name, lqmf_st_dtype_name(t->dtype));
        n += t->n_elems;
    }
    return n;
}

/* ---- the shared checkpoints --------------------------------------------- */

TEST(st_tiny_llama) {
    DATA(path, "models/tiny-llama/model.safetensors");
    lqmf_safetensors *st;
    REQUIRE_OK(lqmf_st_open(path, &st));
    CHECK_EQ_INT(lqmf_st_n_tensors(st), 2 + 6 * 9 + 1);
    CHECK_EQ_INT(total_elems(st, LQMF_ST_BF16), 6819072);
    CHECK_STR(lqmf_st_metadata_get(st, "format"), "pt");
    CHECK_EQ_INT(lqmf_st_n_metadata(st), 1);
    CHECK(lqmf_st_metadata_get(st, "absent") == NULL);
    check_shape(st, "model.embed_tokens.weight", LQMF_ST_BF16, 2, 4096, 256);
    check_shape(st, "lm_head.weight", LQMF_ST_BF16, 2, 4096, 256);
    check_shape(st, "model.norm.weight", LQMF_ST_BF16, 1, 256, 0);
    char name[128];
    static const struct {
        const char *suffix;
        uint64_t d0, d1;
    } layer[] = {
        {"self_attn.q_proj.weight", 256, 256}, {"self_attn.k_proj.weight", 128, 256},
        {"self_attn.v_proj.weight", 128, 256}, {"self_attn.o_proj.weight", 256, 256},
        {"mlp.gate_proj.weight", 768, 256},    {"mlp.up_proj.weight", 768, 256},
        {"mlp.down_proj.weight", 256, 768},
    };
    for (int i = 0; i < 6; i++) {
        for (size_t j = 0; j < sizeof layer / sizeof *layer; j++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", i, layer[j].suffix);
            check_shape(st, name, LQMF_ST_BF16, 2, layer[j].d0, layer[j].d1);
        }
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", i);
        check_shape(st, name, LQMF_ST_BF16, 1, 256, 0);
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", i);
        check_shape(st, name, LQMF_ST_BF16, 1, 256, 0);
    }
    /* file order: by offset; the first tensor starts right after the header */
    const lqmf_st_tensor *t0 = lqmf_st_tensor_at(st, 0);
    CHECK_STR(t0->name, "lm_head.weight");
    CHECK_EQ_INT(t0->offset, 8 + 6160);
    for (size_t i = 1; i < lqmf_st_n_tensors(st); i++)
        CHECK(lqmf_st_tensor_at(st, i)->offset ==
              lqmf_st_tensor_at(st, i - 1)->offset + lqmf_st_tensor_at(st, i - 1)->nbytes);
    CHECK(lqmf_st_tensor_at(st, lqmf_st_n_tensors(st)) == NULL);
    CHECK(lqmf_st_find(st, "model.layers.6.mlp.up_proj.weight") == NULL);
    CHECK_EQ_INT(lqmf_st_n_shards(st), 1);
    CHECK_STR(lqmf_st_shard_path(st, 0), path);
    check_views(st, path);
    lqmf_st_close(st);
}

TEST(st_tiny_gpt2) {
    DATA(path, "models/tiny-gpt2/model.safetensors");
    lqmf_safetensors *st;
    REQUIRE_OK(lqmf_st_open(path, &st));
    CHECK_EQ_INT(lqmf_st_n_tensors(st), 4 + 4 * 12);
    CHECK_EQ_INT(total_elems(st, LQMF_ST_F32), 16156416);
    check_shape(st, "transformer.wte.weight", LQMF_ST_F32, 2, 50257, 256);
    check_shape(st, "transformer.wpe.weight", LQMF_ST_F32, 2, 512, 256);
    check_shape(st, "transformer.ln_f.bias", LQMF_ST_F32, 1, 256, 0);
    check_shape(st, "transformer.h.3.attn.c_attn.weight", LQMF_ST_F32, 2, 256, 768);
    check_shape(st, "transformer.h.3.attn.c_attn.bias", LQMF_ST_F32, 1, 768, 0);
    check_shape(st, "transformer.h.0.attn.c_proj.weight", LQMF_ST_F32, 2, 256, 256);
    check_shape(st, "transformer.h.2.mlp.c_fc.weight", LQMF_ST_F32, 2, 256, 1024);
    check_shape(st, "transformer.h.1.mlp.c_proj.weight", LQMF_ST_F32, 2, 1024, 256);
    CHECK(lqmf_st_find(st, "lm_head.weight") == NULL); /* tied to wte */
    CHECK_STR(lqmf_st_metadata_get(st, "format"), "pt");
    check_views(st, path);
    lqmf_st_close(st);
}

/* Both checkpoints come back byte-identical through our writer. */
TEST(st_reference_round_trip) {
    static const char *const models[] = {"models/tiny-llama/model.safetensors",
                                         "models/tiny-gpt2/model.safetensors"};
    for (int m = 0; m < 2; m++) {
        DATA(path, models[m]);
        lqmf_safetensors *st;
        REQUIRE_OK(lqmf_st_open(path, &st));
        const char *out = path_in(lqmf_test_tmpdir(), "rt.safetensors");
        CHECK_OK(rewrite(st, out));
        CHECKF(same_file(path, out), "%s: rewritten file differs", path);
        lqmf_st_close(st);
    }
}

/* ---- writer ------------------------------------------------------------- */

/* Exact bytes of the reference library's own serialization tests. */
TEST(st_writer_reference_bytes) {
    const char *dir = lqmf_test_tmpdir();
    const float v[6] = {0, 1, 2, 3, 4, 5};
    static const struct {
        const char *name;
        uint32_t nd;
        uint64_t shape[4];
        const char *meta_key;
        const char *header;
    } cases[] = {
        {"attn.0",
         3,
         {1, 2, 3},
         NULL,
         "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}"},
        {"attn0",
         4,
         {1, 1, 2, 3},
         NULL,
         "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       "},
        {NULL, 0, {0}, NULL, "{}      "},
        {NULL, 0, {0}, "framework", "{\"__metadata__\":{\"framework\":\"pt\"}}     "},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        lqmf_st_writer *w;
        REQUIRE_OK(lqmf_st_writer_new(&w));
        if (cases[c].name)
            CHECK_OK(
                lqmf_st_writer_add(w, cases[c].name, LQMF_ST_F32, cases[c].nd, cases[c].shape, v, sizeof v));
        if (cases[c].meta_key) CHECK_OK(lqmf_st_writer_set_metadata(w, cases[c].meta_key, "pt"));
        const char *out = path_in(dir, "ref.safetensors");
        CHECK_OK(lqmf_st_writer_write(w, out));
        lqmf_st_writer_free(w);
        size_t n;
        uint8_t *want = image(cases[c].header, 0, &n);
        lqmf_map m;
        REQUIRE_OK(lqmf_map_open(out, &m));
        size_t data = cases[c].name ? sizeof v : 0;
        CHECKF(m.size == n + data && memcmp(m.data, want, n) == 0 &&
                   (!data || memcmp(m.data + n, v, data) == 0),
               "case %zu: bytes differ from the reference serialization", c);
        lqmf_map_close(&m);
        free(want);
    }
}

/* Tensors whose bytes come from a file: the same file as from memory,
 * larger than the copy buffer; a file too short is an error naming the
 * tensor, and leaves no output. */
TEST(st_writer_from_file) {
    const char *dir = lqmf_test_tmpdir();
    const uint64_t n = (3u << 20) / 4 + 5; /* over three 1 MiB buffers */
    float *v = malloc(n * sizeof *v);
    REQUIRE(v);
    for (uint64_t i = 0; i < n; i++) v[i] = (float)i * 0.5f;
    const char *spill = path_in(dir, "spill.bin");
    FILE *f = fopen(spill, "wb");
    REQUIRE(f);
    const char pad[7] = "padding";
    CHECK(fwrite(pad, 1, 7, f) == 7 && fwrite(v, sizeof *v, n, f) == n);
    fclose(f);
    int fd = open(spill, O_RDONLY);
    REQUIRE(fd >= 0);
    const uint64_t shape[2] = {1, n}, small[1] = {2};
    const float two[2] = {7, 8};
    uint8_t *img[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        lqmf_st_writer *w;
        REQUIRE_OK(lqmf_st_writer_new(&w));
        CHECK_OK(lqmf_st_writer_add(w, "b.small", LQMF_ST_F32, 1, small, two, sizeof two));
        if (k == 0) CHECK_OK(lqmf_st_writer_add(w, "a.big", LQMF_ST_F32, 2, shape, v, n * 4));
        else CHECK_OK(lqmf_st_writer_add_file(w, "a.big", LQMF_ST_F32, 2, shape, fd, 7, n * 4));
        const char *out = path_in(dir, k ? "file.safetensors" : "mem.safetensors");
        CHECK_OK(lqmf_st_writer_write(w, out));
        lqmf_st_writer_free(w);
        char *data = NULL;
        CHECK_OK(lqmf_read_file(out, 1u << 26, &data, &len[k]));
        img[k] = (uint8_t *)data;
    }
    CHECK(img[0] && img[1] && len[0] == len[1] && len[0] > n * 4 && memcmp(img[0], img[1], len[0]) == 0);
    free(img[0]);
    free(img[1]);
    /* the file ends 4 bytes early */
    lqmf_st_writer *w;
    REQUIRE_OK(lqmf_st_writer_new(&w));
    CHECK_OK(lqmf_st_writer_add_file(w, "a.big", LQMF_ST_F32, 2, shape, fd, 11, n * 4));
    const char *out = path_in(dir, "short.safetensors");
    lqmf_status st = lqmf_st_writer_write(w, out);
    CHECK(st == LQMF_E_IO && strstr(lqmf_last_error(), "a.big") && strstr(lqmf_last_error(), "shorter"));
    CHECK(access(out, F_OK) != 0);
    CHECK(lqmf_st_writer_add_file(w, "c", LQMF_ST_F32, 1, small, -1, 0, 8) == LQMF_E_INVALID);
    lqmf_st_writer_free(w);
    close(fd);
    free(v);
}

/* Every dtype, a scalar, an empty tensor and escaped metadata survive. */
TEST(st_writer_every_dtype) {
    const char *dir = lqmf_test_tmpdir();
    uint8_t bytes[LQMF_ST_DTYPE_COUNT][64];
    lqmf_st_writer *w;
    REQUIRE_OK(lqmf_st_writer_new(&w));
    const uint64_t shape[2] = {4, 2}; /* 8 elements fill whole bytes for F4 and F6 too */
    char name[32];
    for (int d = 0; d < LQMF_ST_DTYPE_COUNT; d++) {
        uint64_t nb;
        REQUIRE(lqmf_st_dtype_nbytes((lqmf_st_dtype)d, 8, &nb));
        CHECK_EQ_INT(nb, lqmf_st_dtype_bits((lqmf_st_dtype)d));
        for (uint64_t i = 0; i < nb; i++) bytes[d][i] = (uint8_t)(d * 31 + (int)i);
        snprintf(name, sizeof name, "t.%s", lqmf_st_dtype_name((lqmf_st_dtype)d));
        CHECK_OK(lqmf_st_writer_add(w, name, (lqmf_st_dtype)d, 2, shape, bytes[d], nb));
    }
    const double pi = 3.14159;
    CHECK_OK(lqmf_st_writer_add(w, "scalar", LQMF_ST_F64, 0, NULL, &pi, 8));
    const uint64_t zero[3] = {3, 0, 5};
    CHECK_OK(lqmf_st_writer_add(w, "empty", LQMF_ST_I32, 3, zero, NULL, 0));
    const char *key = "q\"b\\s", *val = "tab\tnl\n\x1f caf\xc3\xa9 /";
    CHECK_OK(lqmf_st_writer_set_metadata(w, "format", "np"));
    CHECK_OK(lqmf_st_writer_set_metadata(w, key, "old"));
    CHECK_OK(lqmf_st_writer_set_metadata(w, key, val)); /* replaces */
    const char *out = path_in(dir, "all.safetensors");
    CHECK_OK(lqmf_st_writer_write(w, out));

    /* writer misuse */
    CHECK_ERR(lqmf_st_writer_add(w, "scalar", LQMF_ST_F64, 0, NULL, &pi, 8), LQMF_E_INVALID, "added twice");
    CHECK_ERR(lqmf_st_writer_add(w, "x", LQMF_ST_F32, 2, shape, bytes[0], 31), LQMF_E_INVALID,
              "31 bytes given");
    CHECK_ERR(lqmf_st_writer_add(w, "__metadata__", LQMF_ST_U8, 0, NULL, bytes[0], 1), LQMF_E_INVALID,
              "bad tensor name");
    CHECK_ERR(lqmf_st_writer_add(w, "", LQMF_ST_U8, 0, NULL, bytes[0], 1), LQMF_E_INVALID, "bad tensor name");
    const uint64_t odd[1] = {3};
    CHECK_ERR(lqmf_st_writer_add(w, "f4", LQMF_ST_F4, 1, odd, bytes[0], 1), LQMF_E_INVALID, "elements of F4");
    lqmf_st_writer_free(w);
    lqmf_st_writer_free(NULL);

    lqmf_safetensors *st;
    REQUIRE_OK(lqmf_st_open(out, &st));
    CHECK_EQ_INT(lqmf_st_n_tensors(st), LQMF_ST_DTYPE_COUNT + 2);
    for (int d = 0; d < LQMF_ST_DTYPE_COUNT; d++) {
        snprintf(name, sizeof name, "t.%s", lqmf_st_dtype_name((lqmf_st_dtype)d));
        const lqmf_st_tensor *t = lqmf_st_find(st, name);
        CHECKF(t && t->dtype == (lqmf_st_dtype)d && t->n_dims == 2 && t->shape[0] == 4 && t->shape[1] == 2 &&
                   t->nbytes == lqmf_st_dtype_bits((lqmf_st_dtype)d) &&
                   memcmp(t->data, bytes[d], t->nbytes) == 0,
               "%s did not survive", name);
    }
    const lqmf_st_tensor *s = lqmf_st_find(st, "scalar");
    REQUIRE(s);
    double back;
    memcpy(&back, s->data, 8);
    CHECK(s->n_dims == 0 && s->n_elems == 1 && back == pi);
    const lqmf_st_tensor *e = lqmf_st_find(st, "empty");
    CHECK(e && e->n_dims == 3 && e->shape[2] == 5 && e->n_elems == 0 && e->nbytes == 0);
    /* layout: larger dtype rank first, then name: U64 leads, BOOL closes */
    CHECK_STR(lqmf_st_tensor_at(st, 0)->name, "t.U64");
    CHECK_STR(lqmf_st_tensor_at(st, lqmf_st_n_tensors(st) - 1)->name, "t.BOOL");
    CHECK_EQ_INT(lqmf_st_n_metadata(st), 2);
    const char *k0, *v0;
    lqmf_st_metadata_at(st, 0, &k0, &v0);
    CHECK_STR(k0, "format");
    CHECK_STR(lqmf_st_metadata_get(st, key), val);
    /* header text: the escapes of the reference (serde_json) writer */
    lqmf_map m;
    REQUIRE_OK(lqmf_map_open(out, &m));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | m.data[i];
    CHECK_EQ_INT(n % 8, 0);
    const char *want = "{\"__metadata__\":{\"format\":\"np\",\"q\\\"b\\\\s\":"
                       "\"tab\\tnl\\n\\u001f caf\xc3\xa9 /\"},\"t.U64\":";
    CHECK(memcmp(m.data + 8, want, strlen(want)) == 0);
    lqmf_map_close(&m);
    /* rewriting what we read is the identity */
    const char *again = path_in(dir, "again.safetensors");
    CHECK_OK(rewrite(st, again));
    CHECK(same_file(out, again));
    lqmf_st_close(st);
}

TEST(st_dtype_table) {
    lqmf_st_dtype t;
    CHECK(lqmf_st_dtype_from_name("F8_E4M3", &t) && t == LQMF_ST_F8_E4M3);
    CHECK(!lqmf_st_dtype_from_name("bf16", &t)); /* names are case-sensitive */
    CHECK_STR(lqmf_st_dtype_name(LQMF_ST_DTYPE_COUNT), "?");
    CHECK_EQ_INT(lqmf_st_dtype_bits(LQMF_ST_C64), 64);
    uint64_t nb;
    CHECK(lqmf_st_dtype_nbytes(LQMF_ST_F6_E3M2, 4, &nb) && nb == 3);
    CHECK(!lqmf_st_dtype_nbytes(LQMF_ST_F6_E3M2, 5, &nb));
    CHECK(!lqmf_st_dtype_nbytes(LQMF_ST_U64, UINT64_MAX / 8, &nb));
}

/* ---- sharded checkpoints ------------------------------------------------ */

static const char *const SHARD[3] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                     "model-00003-of-00003.safetensors"};

/* Shard k holds tensors named "s<k>.<j>" (j < k + 1), F32 [2] = {k, j}. */
static void make_shards(const char *dir) {
    for (int k = 0; k < 3; k++) {
        lqmf_st_writer *w;
        REQUIRE_OK(lqmf_st_writer_new(&w));
        float v[3][2];
        char name[16];
        const uint64_t shape[1] = {2};
        for (int j = 0; j <= k; j++) {
            v[j][0] = (float)k;
            v[j][1] = (float)j;
            snprintf(name, sizeof name, "s%d.%d", k, j);
            CHECK_OK(lqmf_st_writer_add(w, name, LQMF_ST_F32, 1, shape, v[j], sizeof v[j]));
        }
        CHECK_OK(lqmf_st_writer_set_metadata(w, "format", "pt"));
        CHECK_OK(lqmf_st_writer_write(w, path_in(dir, SHARD[k])));
        lqmf_st_writer_free(w);
    }
}

/* An index whose weight_map is the right one plus `extra` entries (JSON
 * members, may be ""), with "s1.0" moved to shard `s10` (1 = correct). */
static void write_index(const char *path, int s10, const char *extra) {
    char json[2048];
    snprintf(json, sizeof json,
             "{\"metadata\": {\"total_size\": 48}, \"weight_map\": {"
             "\"s0.0\": \"%s\", \"s1.0\": \"%s\", \"s1.1\": \"%s\", \"s2.0\": \"%s\", "
             "\"s2.1\": \"%s\", \"s2.2\": \"%s\"%s}}\n",
             SHARD[0], SHARD[s10], SHARD[1], SHARD[2], SHARD[2], SHARD[2], extra);
    CHECK(write_bytes(path, json, strlen(json)));
}

TEST(st_sharded) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", lqmf_test_tmpdir());
    make_shards(dir);
    write_index(path_in(dir, "model.safetensors.index.json"), 1, "");
    const char *paths[2] = {dir, path_in(dir, "model.safetensors.index.json")};
    for (int p = 0; p < 2; p++) {
        lqmf_safetensors *st;
        REQUIRE_OK(lqmf_st_open(paths[p], &st));
        CHECK_EQ_INT(lqmf_st_n_shards(st), 3);
        CHECK_EQ_INT(lqmf_st_n_tensors(st), 6);
        CHECK_STR(lqmf_st_metadata_get(st, "format"), "pt");
        for (int k = 0; k < 3; k++) {
            CHECK(strstr(lqmf_st_shard_path(st, (size_t)k), SHARD[k]) != NULL);
            for (int j = 0; j <= k; j++) {
                char name[16];
                snprintf(name, sizeof name, "s%d.%d", k, j);
                const lqmf_st_tensor *t = lqmf_st_find(st, name);
                CHECKF(t != NULL, "%s missing", name);
                if (!t) continue;
                const float *f = t->data;
                CHECK(t->shard == (uint32_t)k && f[0] == (float)k && f[1] == (float)j);
            }
        }
        for (size_t i = 1; i < lqmf_st_n_tensors(st); i++) { /* file order */
            const lqmf_st_tensor *a = lqmf_st_tensor_at(st, i - 1), *b = lqmf_st_tensor_at(st, i);
            CHECK(a->shard < b->shard || (a->shard == b->shard && a->offset < b->offset));
        }
        lqmf_st_close(st);
    }
}

TEST(st_folder) {
    const char *dir = lqmf_test_tmpdir();
    lqmf_safetensors *st = NULL;
    CHECK_ERR(lqmf_st_open(dir, &st), LQMF_E_NOT_FOUND, "neither model.safetensors");
    CHECK_ERR(lqmf_st_open(path_in(dir, "absent.safetensors"), &st), LQMF_E_NOT_FOUND, "absent.safetensors");
    lqmf_st_writer *w;
    REQUIRE_OK(lqmf_st_writer_new(&w));
    const uint8_t b[3] = {1, 2, 3};
    const uint64_t shape[1] = {3};
    CHECK_OK(lqmf_st_writer_add(w, "bytes", LQMF_ST_U8, 1, shape, b, 3));
    CHECK_OK(lqmf_st_writer_write(w, path_in(dir, "model.safetensors")));
    lqmf_st_writer_free(w);
    REQUIRE_OK(lqmf_st_open(dir, &st));
    CHECK_EQ_INT(lqmf_st_n_tensors(st), 1);
    CHECK_EQ_INT(lqmf_st_n_metadata(st), 0);
    CHECK(memcmp(lqmf_st_find(st, "bytes")->data, b, 3) == 0);
    lqmf_st_close(st);
    lqmf_st_close(NULL);
}

TEST(st_sharded_broken) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", lqmf_test_tmpdir());
    make_shards(dir);
    static const struct {
        int s10;
        const char *extra, *needle;
        lqmf_status st;
    } cases[] = {
        {0, "",
         "weight_map puts tensor \"s1.0\" in model-00001-of-00003.safetensors, but it is "
         "in model-00002-of-00003.safetensors",
         LQMF_E_FORMAT},
        {1, ", \"ghost\": \"model-00004-of-00003.safetensors\"", "shard model-00004-of-00003.safetensors",
         LQMF_E_NOT_FOUND},
        {1, ", \"ghost\": \"model-00001-of-00003.safetensors\"",
         "lists tensor \"ghost\" in model-00001-of-00003.safetensors, but that shard lacks it",
         LQMF_E_FORMAT},
        {1, ", \"evil\": \"../model-00001-of-00003.safetensors\"", "outside the folder", LQMF_E_FORMAT},
        {1, ", \"s2.2\": \"model-00003-of-00003.safetensors\"", "duplicate", LQMF_E_FORMAT},
        {1, ", \"n\": 3", "weight_map entry \"n\" is not a string", LQMF_E_FORMAT},
    };
    const char *index = path_in(dir, "broken.index.json");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        write_index(index, cases[c].s10, cases[c].extra);
        lqmf_safetensors *st = NULL;
        CHECK_ERR(lqmf_st_open(index, &st), cases[c].st, cases[c].needle);
        CHECKF(strstr(lqmf_last_error(), "broken.index.json") != NULL, "case %zu: %s", c, lqmf_last_error());
        CHECK(st == NULL);
    }
    /* a tensor missing from weight_map: drop s2.2 by listing only five */
    const char *five = "{\"weight_map\": {\"s0.0\": \"model-00001-of-00003.safetensors\", "
                       "\"s1.0\": \"model-00002-of-00003.safetensors\", "
                       "\"s1.1\": \"model-00002-of-00003.safetensors\", "
                       "\"s2.0\": \"model-00003-of-00003.safetensors\", "
                       "\"s2.1\": \"model-00003-of-00003.safetensors\"}}";
    CHECK(write_bytes(index, five, strlen(five)));
    lqmf_safetensors *st = NULL;
    CHECK_ERR(lqmf_st_open(index, &st), LQMF_E_FORMAT,
              "tensor \"s2.2\" of shard model-00003-of-00003.safetensors is not listed");
    CHECK(write_bytes(index, "{\"weight_map\": [1]}", 19));
    CHECK_ERR(lqmf_st_open(index, &st), LQMF_E_FORMAT, "weight_map missing or not an object");
    CHECK(write_bytes(index, "{\"weight_map\": {}}", 18));
    CHECK_ERR(lqmf_st_open(index, &st), LQMF_E_FORMAT, "weight_map lists no tensors");
    CHECK(write_bytes(index, "{\"weight_map\": ", 15));
    CHECK_ERR(lqmf_st_open(index, &st), LQMF_E_FORMAT, "not valid JSON");
}

/* ---- header-only parsing ------------------------------------------------ */

TEST(st_parse_header) {
    DATA(path, "models/tiny-llama/model.safetensors");
    lqmf_map m;
    REQUIRE_OK(lqmf_map_open(path, &m));
    lqmf_safetensors *full, *h = NULL;
    REQUIRE_OK(lqmf_st_parse(m.data, m.size, path, &full));
    uint64_t need = 0;
    CHECK_ERR(lqmf_st_parse_header(m.data, 4, m.size, "hub", &h, &need), LQMF_E_STATE, "need");
    CHECK_EQ_INT(need, 8);
    CHECK_ERR(lqmf_st_parse_header(m.data, 100, m.size, "hub", &h, &need), LQMF_E_STATE, "need");
    CHECK_EQ_INT(need, 8 + 6160);
    for (int known = 0; known < 2; known++) {
        REQUIRE_OK(lqmf_st_parse_header(m.data, (size_t)need, known ? m.size : 0, "hub", &h, NULL));
        CHECK_EQ_INT(lqmf_st_n_tensors(h), lqmf_st_n_tensors(full));
        for (size_t i = 0; i < lqmf_st_n_tensors(h); i++) {
            const lqmf_st_tensor *a = lqmf_st_tensor_at(h, i), *b = lqmf_st_tensor_at(full, i);
            CHECK(a->data == NULL && b->data == m.data + b->offset);
            CHECK(strcmp(a->name, b->name) == 0 && a->offset == b->offset && a->nbytes == b->nbytes &&
                  a->dtype == b->dtype);
        }
        CHECK_STR(lqmf_st_metadata_get(h, "format"), "pt");
        lqmf_st_close(h);
    }
    /* a wrong file size is caught from the header alone */
    CHECK_ERR(lqmf_st_parse_header(m.data, (size_t)need, m.size + 2, "hub", &h, NULL), LQMF_E_FORMAT,
              "at the end belong to no tensor");
    CHECK_ERR(lqmf_st_parse_header(m.data, (size_t)need, 6000, "hub", &h, NULL), LQMF_E_INVALID,
              "longer than the file");
    CHECK_ERR(lqmf_st_parse_header(m.data, 8, 6000, "hub", &h, NULL), LQMF_E_FORMAT,
              "runs past the end of the file");
    lqmf_st_close(full);
    lqmf_map_close(&m);
}

/* ---- malformed files ---------------------------------------------------- */

#define F32_2 "\"dtype\":\"F32\",\"shape\":[2]"

TEST(st_malformed) {
    static const struct {
        const char *hdr;
        size_t data;
        const char *needle;
    } cases[] = {
        {"{\"a\":", 0, "header is not valid JSON"},
        {"", 0, "header is not valid JSON"},
        {"[1,2]", 0, "header is not a JSON object"},
        {"\"str\"", 0, "header is not a JSON object"},
        {"{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "tensor \"a\": unknown dtype \"F17\""},
        {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype missing or not a string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8,
         "tensor \"a\": shape missing or not an array"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
         "shape[0] is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8,
         "shape[1] is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
         "shape has 9 dims, more than 8"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[0,8]}}", 4,
         "tensor \"a\": data_offsets end 8 is past the end of the data (4 bytes)"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[8,0]}}", 8, "data_offsets begin 8 > end 0"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[0]}}", 8, "data_offsets is not [begin, end]"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[0,-8]}}", 8, "data_offsets is not [begin, end]"},
        {"{\"a\":{" F32_2 "}}", 8, "data_offsets is not [begin, end]"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[0,8]},\"b\":{" F32_2 ",\"data_offsets\":[4,12]}}", 12,
         "tensors \"a\" and \"b\" overlap"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[0,8]},\"b\":{" F32_2 ",\"data_offsets\":[0,8]}}", 8, "overlap"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[0,8]}}", 12,
         "gap: data bytes 8..12 at the end belong to no tensor"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[4,12]}}", 12, "gap: data bytes 0..4 before tensor \"a\""},
        {"{}", 1, "gap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
         "size mismatch: 3 elements of F32 take 12 bytes, data_offsets span 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
         "\"data_offsets\":[0,0]}}",
         0, "element count overflows at shape[1]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
         "\"data_offsets\":[0,0]}}",
         0, "overflow or do not fill whole bytes"},
        {"{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
         "3 elements of F4 overflow or do not fill whole bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
         "\"data_offsets\":[0,0]}}",
         0, "header is not valid JSON"},
        {"{\"a\xff\":{" F32_2 ",\"data_offsets\":[0,8]}}", 8, "header is not valid UTF-8"},
        {"{\"\\ud800\":{" F32_2 ",\"data_offsets\":[0,8]}}", 8, "header is not valid JSON"},
        {"{\"\":{" F32_2 ",\"data_offsets\":[0,8]}}", 8, "a tensor has an empty name"},
        {"{\"a\":5}", 0, "tensor \"a\": entry is not an object"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value of \"k\" is not a string"},
        {"{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is not an object"},
        {"{\"a\":{" F32_2 ",\"data_offsets\":[0,8]},\"a\":{" F32_2 ",\"data_offsets\":[0,8]}}", 8,
         "duplicate object key"},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate object key"},
    };
    const char *dir = lqmf_test_tmpdir();
    const char *file = path_in(dir, "bad.safetensors");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n;
        uint8_t *img = image(cases[c].hdr, cases[c].data, &n);
        lqmf_safetensors *st = NULL;
        CHECK_ERR(lqmf_st_parse(img, n, "mem.safetensors", &st), LQMF_E_FORMAT, cases[c].needle);
        CHECKF(strstr(lqmf_last_error(), "mem.safetensors") != NULL, "case %zu: %s", c, lqmf_last_error());
        CHECK(st == NULL);
        REQUIRE(write_bytes(file, img, n));
        CHECK_ERR(lqmf_st_open(file, &st), LQMF_E_FORMAT, cases[c].needle);
        CHECKF(strstr(lqmf_last_error(), file) != NULL, "case %zu: %s", c, lqmf_last_error());
        free(img);
    }
    /* the length prefix itself */
    const uint8_t tiny[5] = {1, 0, 0, 0, 0};
    lqmf_safetensors *st = NULL;
    CHECK_ERR(lqmf_st_parse(tiny, sizeof tiny, "t", &st), LQMF_E_FORMAT,
              "t: file is 5 bytes, shorter than the 8-byte header length");
    CHECK_ERR(lqmf_st_parse(NULL, 0, "t", &st), LQMF_E_FORMAT, "file is 0 bytes");
    uint8_t big[16] = {0, 0, 0, 0, 0, 1, 0, 0}; /* 2^40 */
    CHECK_ERR(lqmf_st_parse(big, sizeof big, "t", &st), LQMF_E_FORMAT,
              "header length 1099511627776 is over the limit of 100000000 bytes");
    uint8_t past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK_ERR(lqmf_st_parse(past, sizeof past, "t", &st), LQMF_E_FORMAT,
              "header length 100 runs past the end of the file (16 bytes)");
    uint8_t ones[8] = {255, 255, 255, 255, 255, 255, 255, 255};
    CHECK_ERR(lqmf_st_parse(ones, sizeof ones, "t", &st), LQMF_E_FORMAT, "over the limit");
}

/* Valid corner cases: empty header, zero-size tensors, scalars, offsets
 * listed out of order, padding. */
TEST(st_valid_corners) {
    static const struct {
        const char *hdr;
        size_t data, n_tensors;
    } cases[] = {
        {"{}", 0, 0},
        {"{}      ", 0, 0},
        {"{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}", 0, 1},
        {"{\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
         "\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[8,8]}}",
         8, 2},
        {"{\"b\":{" F32_2 ",\"data_offsets\":[8,16]},\"a\":{" F32_2
         ",\"data_offsets\":[0,8]},\"x\":{\"dtype\":\"U8\",\"shape\":[1],"
         "\"data_offsets\":[16,17],\"extra\":true}}",
         17, 3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n;
        uint8_t *img = image(cases[c].hdr, cases[c].data, &n);
        lqmf_safetensors *st = NULL;
        CHECK_OK(lqmf_st_parse(img, n, "ok", &st));
        if (st) {
            CHECK_EQ_INT(lqmf_st_n_tensors(st), cases[c].n_tensors);
            for (size_t i = 1; i < lqmf_st_n_tensors(st); i++)
                CHECK(lqmf_st_tensor_at(st, i - 1)->offset <= lqmf_st_tensor_at(st, i)->offset);
        }
        if (c == 4) {
            CHECK_STR(lqmf_st_tensor_at(st, 0)->name, "a");
            CHECK(lqmf_st_find(st, "b")->data == img + 8 + strlen(cases[c].hdr) + 8);
        }
        lqmf_st_close(st);
        free(img);
    }
}
