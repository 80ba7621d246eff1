/* Quantizer: per-tensor types follow the documented rules, every tensor
 * dequantizes within its type's error bound of an F32 conversion of the
 * same source, metadata and sizes are as computed, failures leave nothing. */
#include "lqmf/gguf.h"
#include "lqmf/gguf_convert.h"
#include "lqmf/quant.h"
#include "lqmf/quantize.h"
#include "lqmf/engine.h"
#include "../test.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Relative RMSE bound sqrt(sum (q - x)^2 / sum x^2) per output type, for
 * trained weights: about 2^-bits * 2.4 (uniform rounding over a block's
 * range, which is ~ 8x the RMS of near-Gaussian weights / sqrt(12)). */
static double rmse_bound(lqmf_type t) {
    switch (t) {
    case LQMF_TYPE_F32: return 1e-7;
    case LQMF_TYPE_F16: case LQMF_TYPE_BF16: return 4e-3;
    case LQMF_TYPE_Q8_0: return 0.01;
    case LQMF_TYPE_Q6_K: return 0.04;
    case LQMF_TYPE_Q5_0: case LQMF_TYPE_Q5_1: case LQMF_TYPE_Q5_K: return 0.08;
    case LQMF_TYPE_Q4_0: case LQMF_TYPE_Q4_K: case LQMF_TYPE_IQ4_NL: case LQMF_TYPE_IQ4_XS: return 0.15;
    case LQMF_TYPE_Q3_K: return 0.3;
    case LQMF_TYPE_Q2_K: return 0.55;
    default: return 0;
    }
}

static char *tmp_path(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", lqmf_test_tmpdir(), name);
    return p;
}

/* Source converted to F32 GGUF: the reference values (with the same Q/K row
 * permutation the quantizer output gets). */
static lqmf_model *f32_reference(const lqmf_model *src, const char *name) {
    lqmf_gguf_convert_opts o = lqmf_gguf_convert_default_opts();
    o.float_type = LQMF_TYPE_F32;
    const char *p = tmp_path(name);
    lqmf_model *ref = NULL;
    if (lqmf_model_write_gguf(src, p, &o) != LQMF_OK || lqmf_model_open(p, &ref) != LQMF_OK) return NULL;
    return ref;
}

/* Every tensor of q against ref within its type's bound. */
static void check_values(const lqmf_model *q, const lqmf_model *ref) {
    for (size_t i = 0; i < q->n_tensors; i++) {
        const lqmf_tensor *t = &q->tensors[i];
        const lqmf_tensor *r = lqmf_model_tensor(ref, t->name);
        REQUIRE(r && r->type == LQMF_TYPE_F32);
        uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        float *y = malloc(n * sizeof *y);
        REQUIRE(y);
        CHECK_OK(lqmf_quant_dequantize(t->type, t->data, y, (int64_t)n));
        const float *x = r->data;
        double se = 0, ss = 0;
        for (uint64_t j = 0; j < n; j++) {
            se += ((double)y[j] - x[j]) * ((double)y[j] - x[j]);
            ss += (double)x[j] * x[j];
        }
        free(y);
        double rel = ss > 0 ? sqrt(se / ss) : sqrt(se);
        CHECKF(rel <= rmse_bound(t->type), "%s (%s): relative RMSE %.4g over %.4g", t->name,
               lqmf_type_name(t->type), rel, rmse_bound(t->type));
    }
}

static lqmf_type type_of(const lqmf_model *m, const char *name) {
    const lqmf_tensor *t = lqmf_model_tensor(m, name);
    return t ? t->type : LQMF_TYPE_COUNT;
}

/* Quantize src into `name`, check file, metadata, sizes and values;
 * returns the opened output (caller closes). */
static lqmf_model *quantize_checked(const lqmf_model *src, const lqmf_model *ref, const lqmf_quantize_opts *o,
                                    const char *name, int32_t ftype) {
    const char *p = tmp_path(name);
    lqmf_quantize_result r;
    if (lqmf_quantize_model(src, p, o, &r) != LQMF_OK) {
        CHECKF(false, "%s: %s", name, lqmf_last_error());
        return NULL;
    }
    lqmf_gguf *g = NULL;
    CHECK_OK(lqmf_gguf_open(p, &g));
    if (!g) return NULL;
    uint32_t v = 0;
    CHECK_OK(lqmf_gguf_get_u32(g, "general.file_type", &v));
    CHECK_EQ_INT(v, ftype);
    CHECK_OK(lqmf_gguf_get_u32(g, "general.quantization_version", &v));
    CHECK_EQ_INT(v, 2);
    lqmf_gguf_str s;
    CHECK_OK(lqmf_gguf_get_str(g, "general.quantized_by", &s));
    CHECK(lqmf_gguf_str_eq(s, "lqmf"));
    CHECK(lqmf_gguf_find_key(g, "tokenizer.ggml.tokens") != NULL);
    /* sizes: file and tensor bytes as the reader sees them */
    uint64_t tb = 0, np = 0;
    for (uint64_t i = 0; i < lqmf_gguf_n_tensors(g); i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        tb += t->nbytes;
        np += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    }
    CHECK_EQ_INT(r.out_bytes, lqmf_gguf_file_size(g));
    CHECK_EQ_INT(r.tensor_bytes, tb);
    CHECK_EQ_INT(r.n_params, np);
    CHECK_NEAR(r.bpw, (double)tb * 8 / (double)np, 1e-9);
    lqmf_gguf_close(g);
    lqmf_model *q = NULL;
    CHECK_OK(lqmf_model_open(p, &q));
    if (q) check_values(q, ref);
    return q;
}

typedef struct {
    lqmf_model *src, *ref;
} fixture;

static bool open_fixture(const char *dir, const char *refname, fixture *f) {
    f->src = f->ref = NULL;
    if (lqmf_model_open(dir, &f->src) != LQMF_OK) return false;
    f->ref = f32_reference(f->src, refname);
    return f->ref != NULL;
}

static void close_fixture(fixture *f) {
    lqmf_model_close(f->src);
    lqmf_model_close(f->ref);
}

TEST(quantize_tiny_llama_mixes) {
    DATA(dir, "models/tiny-llama");
    fixture f;
    REQUIRE(open_fixture(dir, "tl-ref.gguf", &f));
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.n_threads = 2;

    o.type = "Q4_K_M"; /* n_layer 6: use_more_bits layers are 2 and 5 */
    lqmf_model *q = quantize_checked(f.src, f.ref, &o, "tl-q4km.gguf", 15);
    REQUIRE(q);
    CHECK_EQ_INT(type_of(q, "blk.0.attn_q.weight"), LQMF_TYPE_Q4_K);
    CHECK_EQ_INT(type_of(q, "blk.0.attn_v.weight"), LQMF_TYPE_Q4_K);
    CHECK_EQ_INT(type_of(q, "blk.2.attn_v.weight"), LQMF_TYPE_Q6_K);
    CHECK_EQ_INT(type_of(q, "blk.5.ffn_down.weight"), LQMF_TYPE_Q6_K);
    CHECK_EQ_INT(type_of(q, "blk.4.ffn_down.weight"), LQMF_TYPE_Q4_K);
    CHECK_EQ_INT(type_of(q, "output.weight"), LQMF_TYPE_Q6_K);
    CHECK_EQ_INT(type_of(q, "token_embd.weight"), LQMF_TYPE_Q4_K);
    CHECK_EQ_INT(type_of(q, "blk.3.ffn_norm.weight"), LQMF_TYPE_F32);
    lqmf_model_close(q);

    o.type = "Q8_0";
    q = quantize_checked(f.src, f.ref, &o, "tl-q80.gguf", 7);
    REQUIRE(q);
    CHECK_EQ_INT(type_of(q, "output.weight"), LQMF_TYPE_Q8_0);
    CHECK_EQ_INT(type_of(q, "blk.1.ffn_up.weight"), LQMF_TYPE_Q8_0);
    lqmf_model_close(q);

    o.type = "Q2_K"; /* n_head / n_head_kv = 2: attn_v Q3_K */
    q = quantize_checked(f.src, f.ref, &o, "tl-q2k.gguf", 10);
    REQUIRE(q);
    CHECK_EQ_INT(type_of(q, "blk.0.attn_v.weight"), LQMF_TYPE_Q3_K);
    CHECK_EQ_INT(type_of(q, "blk.0.attn_output.weight"), LQMF_TYPE_Q3_K);
    CHECK_EQ_INT(type_of(q, "blk.0.ffn_down.weight"), LQMF_TYPE_Q3_K);
    CHECK_EQ_INT(type_of(q, "blk.0.ffn_gate.weight"), LQMF_TYPE_Q2_K);
    CHECK_EQ_INT(type_of(q, "output.weight"), LQMF_TYPE_Q6_K);
    lqmf_model_close(q);

    o.type = "Q4_0";
    o.pure = true;
    q = quantize_checked(f.src, f.ref, &o, "tl-q40p.gguf", 2);
    REQUIRE(q);
    for (size_t i = 0; i < q->n_tensors; i++)
        CHECK_EQ_INT(q->tensors[i].type, q->tensors[i].n_dims == 1 ? LQMF_TYPE_F32 : LQMF_TYPE_Q4_0);
    lqmf_model_close(q);
    close_fixture(&f);
}

TEST(quantize_tiny_gpt2) {
    DATA(dir, "models/tiny-gpt2");
    fixture f;
    REQUIRE(open_fixture(dir, "g-ref.gguf", &f));
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = "Q8_0";
    lqmf_model *q = quantize_checked(f.src, f.ref, &o, "g-q80.gguf", 7);
    REQUIRE(q);
    CHECK_EQ_INT(type_of(q, "token_embd.weight"), LQMF_TYPE_Q8_0); /* tied: the output's type */
    CHECK_EQ_INT(type_of(q, "position_embd.weight"), LQMF_TYPE_F32); /* source type kept */
    lqmf_model_close(q);
    o.type = "Q4_K_M";
    q = quantize_checked(f.src, f.ref, &o, "g-q4km.gguf", 15);
    REQUIRE(q);
    CHECK_EQ_INT(type_of(q, "token_embd.weight"), LQMF_TYPE_Q6_K);
    CHECK_EQ_INT(type_of(q, "blk.0.attn_qkv.weight"), LQMF_TYPE_Q5_K);
    lqmf_model_close(q);
    close_fixture(&f);
}

TEST(quantize_stories260k_fallbacks) {
    DATA(bin, "models/stories260K/stories260K.bin");
    fixture f;
    REQUIRE(open_fixture(bin, "s-ref.gguf", &f));
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = "Q4_K_M"; /* dim 64, n_ff 172: no 256-blocks anywhere */
    lqmf_model *q = quantize_checked(f.src, f.ref, &o, "s-q4km.gguf", 15);
    REQUIRE(q);
    CHECK_EQ_INT(type_of(q, "blk.0.attn_q.weight"), LQMF_TYPE_Q5_0);   /* Q4_K -> Q5_0 */
    CHECK_EQ_INT(type_of(q, "token_embd.weight"), LQMF_TYPE_Q8_0);     /* tied output Q6_K -> Q8_0 */
    CHECK_EQ_INT(type_of(q, "blk.0.ffn_down.weight"), LQMF_TYPE_F16);  /* rows of 172 */
    lqmf_model_close(q);
    o.type = "Q2_K";
    q = quantize_checked(f.src, f.ref, &o, "s-q2k.gguf", 10);
    REQUIRE(q);
    CHECK_EQ_INT(type_of(q, "blk.1.ffn_gate.weight"), LQMF_TYPE_IQ4_NL); /* Q2_K -> IQ4_NL */
    lqmf_model_close(q);
    close_fixture(&f);
}

TEST(quantize_overrides_and_keep_output) {
    DATA(dir, "models/tiny-llama");
    fixture f;
    REQUIRE(open_fixture(dir, "tl-ref2.gguf", &f));
    lqmf_quantize_override ov[] = {{"attn_(q|k)\\.weight$", LQMF_TYPE_Q8_0}, {"^blk\\.1\\.", LQMF_TYPE_Q5_0}};
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = "Q4_K_M";
    o.overrides = ov;
    o.n_overrides = 2;
    o.keep_output = true;
    lqmf_model *q = quantize_checked(f.src, f.ref, &o, "tl-ov.gguf", 15);
    REQUIRE(q);
    CHECK_EQ_INT(type_of(q, "blk.3.attn_k.weight"), LQMF_TYPE_Q8_0);
    CHECK_EQ_INT(type_of(q, "blk.1.attn_q.weight"), LQMF_TYPE_Q8_0); /* first match wins */
    CHECK_EQ_INT(type_of(q, "blk.1.ffn_up.weight"), LQMF_TYPE_Q5_0);
    CHECK_EQ_INT(type_of(q, "blk.1.attn_norm.weight"), LQMF_TYPE_F32); /* vectors stay F32 */
    CHECK_EQ_INT(type_of(q, "output.weight"), lqmf_model_tensor(f.src, "output.weight")->type);
    CHECK_EQ_INT(type_of(q, "blk.3.ffn_up.weight"), LQMF_TYPE_Q4_K);
    lqmf_model_close(q);
    close_fixture(&f);
}

TEST(quantize_errors) {
    DATA(dir, "models/tiny-llama");
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = "Q4_K_X";
    CHECK_ERR(lqmf_quantize_model(m, tmp_path("bad.gguf"), &o, NULL), LQMF_E_INVALID, "Q4_K_X");
    o.type = "Q4_K_M";
    lqmf_quantize_override ov = {"(", LQMF_TYPE_Q8_0};
    o.overrides = &ov;
    o.n_overrides = 1;
    CHECK_ERR(lqmf_quantize_model(m, tmp_path("bad.gguf"), &o, NULL), LQMF_E_INVALID, "regex");
    struct stat sb;
    CHECK(stat(tmp_path("bad.gguf"), &sb) != 0);
    lqmf_model_close(m);
    lqmf_model *none = NULL;
    CHECK(lqmf_model_open(tmp_path("no-such-model"), &none) != LQMF_OK);
}

static bool stop_after_5(void *user, const lqmf_quantize_progress *p) {
    (void)user;
    return p->done < 5;
}

TEST(quantize_interrupted_leaves_nothing) {
    DATA(dir, "models/tiny-llama");
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    char sub[512];
    snprintf(sub, sizeof sub, "%s/interrupt", lqmf_test_tmpdir());
    mkdir(sub, 0755);
    char out[600];
    snprintf(out, sizeof out, "%s/out.gguf", sub);
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.progress = stop_after_5;
    CHECK_ERR(lqmf_quantize_model(m, out, &o, NULL), LQMF_E_INTERRUPTED, "stopped");
    DIR *d = opendir(sub);
    REQUIRE(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    CHECK_EQ_INT(n, 0);
    lqmf_model_close(m);
}

TEST(quantize_imatrix_roundtrip) {
    DATA(bin, "models/stories260K/stories260K.bin");
    DATA(text, "text/tinystories/tinystories_train_head.txt");
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(bin, &m));
    lqmf_imatrix_opts io = {text, 2, 64, 1, NULL, NULL};
    lqmf_imatrix *im = NULL;
    REQUIRE_OK(lqmf_imatrix_collect(m, &io, &im));
    CHECK_EQ_INT(lqmf_imatrix_n_chunks(im), 2);
    uint64_t n = 0;
    const float *v = lqmf_imatrix_get(im, "blk.0.ffn_down.weight", &n);
    REQUIRE(v);
    CHECK_EQ_INT(n, m->hp.n_ff);
    const char *ip = tmp_path("im.gguf");
    REQUIRE_OK(lqmf_imatrix_save(im, ip));
    lqmf_imatrix *back = NULL;
    REQUIRE_OK(lqmf_imatrix_load(ip, &back));
    CHECK_EQ_INT(lqmf_imatrix_n_entries(back), lqmf_imatrix_n_entries(im));
    uint64_t n2 = 0;
    const float *v2 = lqmf_imatrix_get(back, "blk.0.ffn_down.weight", &n2);
    REQUIRE(v2 && n2 == n);
    for (uint64_t j = 0; j < n; j++) CHECK_NEAR(v2[j], v[j], 1e-6 * (1 + v[j]));
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = "Q4_0";
    o.imatrix = ip;
    const char *qp = tmp_path("s-im.gguf");
    REQUIRE_OK(lqmf_quantize_model(m, qp, &o, NULL));
    lqmf_gguf *g = NULL;
    REQUIRE_OK(lqmf_gguf_open(qp, &g));
    int32_t c = 0;
    CHECK_OK(lqmf_gguf_get_i32(g, "quantize.imatrix.chunks_count", &c));
    CHECK_EQ_INT(c, 2);
    CHECK_OK(lqmf_gguf_get_i32(g, "quantize.imatrix.entries_count", &c));
    CHECK_EQ_INT(c, (int32_t)lqmf_imatrix_n_entries(im));
    lqmf_gguf_close(g);
    lqmf_imatrix_free(im);
    lqmf_imatrix_free(back);
    lqmf_model_close(m);
}

/* ---- memory ---------------------------------------------------------------------- */

static uint64_t tensors_hash(const lqmf_model *m) { /* FNV-1a over every tensor's bytes */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < m->n_tensors; i++)
        for (uint64_t k = 0; k < m->tensors[i].nbytes; k++)
            h = (h ^ ((const uint8_t *)m->tensors[i].data)[k]) * 1099511628211ull;
    return h;
}

/* Streaming: the pages of a mapped source leave the process after their
 * tensor (RssFile grows by far less than the source), the source still reads
 * the same afterwards, and a model in owned buffers is left as it was. */
TEST(quantize_releases_source_pages) {
    lqmf_hparams hp = {.arch = LQMF_ARCH_LLAMA, .n_vocab = 2000, .n_ctx_train = 256, .n_embd = 256,
                       .n_layer = 4, .n_head = 4, .n_head_kv = 2, .head_dim = 64, .n_ff = 512,
                       .norm_eps = 1e-5f, .rope_theta = 10000, .bos_id = 1, .eos_id = -1};
    lqmf_model *mem = NULL, *src = NULL;
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 4, &mem));
    const uint64_t h = tensors_hash(mem);
    const char *path = tmp_path("release-src.gguf"), *out = tmp_path("release-q8.gguf");
    REQUIRE_OK(lqmf_model_write_gguf(mem, path, NULL));
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = "Q8_0";
    o.n_threads = 1;
    CHECK_OK(lqmf_quantize_model(mem, out, &o, NULL));
    CHECK(tensors_hash(mem) == h);

    struct stat sb;
    REQUIRE(stat(path, &sb) == 0);
    REQUIRE_OK(lqmf_model_open(path, &src));
    const uint64_t before = lqmf_test_rss_file();
    CHECK_OK(lqmf_quantize_model(src, out, &o, NULL));
    const uint64_t after = lqmf_test_rss_file(), grown = after > before ? after - before : 0;
    CHECKF(grown < (uint64_t)sb.st_size / 4, "RssFile grew by %llu bytes for a %lld-byte source",
           (unsigned long long)grown, (long long)sb.st_size);
    CHECK(tensors_hash(src) == h);
    lqmf_model_close(src);
    lqmf_model_close(mem);
}
