/* bitsandbytes checkpoints: written from the shared tiny models, re-read
 * with an independent safetensors parser and decoder written here from the
 * format description (formats-and-hub-api.md 4.4), loaded back through
 * lqmf_model_open and run against the source; bad inputs fail by name. */
#include "lqmf/engine.h"
#include "lqmf/hfq.h"
#include "lqmf/quantize.h"
#include "lqmf/tokenizer.h"
#include "../test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

/* ---- an independent safetensors reader ---------------------------------- */
typedef struct {
    char *bytes;
    size_t size;
    json_t *hdr;
    const unsigned char *data;
} stf;

static bool stf_open(const char *path, stf *f) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return false;
    fseek(fp, 0, SEEK_END);
    f->size = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->bytes = malloc(f->size);
    bool ok = f->bytes && fread(f->bytes, 1, f->size, fp) == f->size;
    fclose(fp);
    if (!ok) return false;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | (unsigned char)f->bytes[i];
    f->hdr = json_loadb(f->bytes + 8, n, 0, NULL);
    f->data = (const unsigned char *)f->bytes + 8 + n;
    return f->hdr != NULL;
}

static void stf_close(stf *f) {
    json_decref(f->hdr);
    free(f->bytes);
}

/* dtype, shape (up to 2 dims, n_dims set) and data of a tensor; NULL when absent. */
static const unsigned char *stf_get(const stf *f, const char *name, const char **dtype, int *n_dims, uint64_t *shape) {
    json_t *t = json_object_get(f->hdr, name);
    if (!t) return NULL;
    *dtype = json_string_value(json_object_get(t, "dtype"));
    json_t *s = json_object_get(t, "shape");
    *n_dims = (int)json_array_size(s);
    for (int i = 0; i < *n_dims && i < 2; i++) shape[i] = (uint64_t)json_integer_value(json_array_get(s, (size_t)i));
    return f->data + json_integer_value(json_array_get(json_object_get(t, "data_offsets"), 0));
}

static float f32_at(const unsigned char *p, uint64_t i) {
    float v;
    memcpy(&v, p + i * 4, 4);
    return v;
}

/* Source weight element (o, i) of a linear, as float: GPT-2 Conv1D stores
 * [in, out] in F32, llama [out, in] in BF16. */
static float src_w(const unsigned char *p, const char *dtype, bool conv1d, uint64_t n_out, uint64_t n_in, uint64_t o,
                   uint64_t i) {
    uint64_t k = conv1d ? i * n_out + o : o * n_in + i;
    if (!strcmp(dtype, "BF16")) {
        uint32_t u = (uint32_t)(p[k * 2] | p[k * 2 + 1] << 8) << 16;
        float v;
        memcpy(&v, &u, 4);
        return v;
    }
    return f32_at(p, k);
}

static bool is_linear(const char *name, bool *conv1d) {
    static const char *const gpt2[] = {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight",
                                       ".mlp.c_proj.weight"};
    size_t n = strlen(name);
    *conv1d = false;
    for (int k = 0; k < 4; k++)
        if (n > strlen(gpt2[k]) && !strcmp(name + n - strlen(gpt2[k]), gpt2[k])) return *conv1d = true;
    return strstr(name, "model.layers.") && n > 12 && !strcmp(name + n - 12, "_proj.weight");
}

/* NF4 code values as the format description lists them. */
static const double NF4[16] = {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                               -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                               0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                               0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};

typedef struct {
    int n_linear, n_copied;
    double worst_rel; /* max |w - deq| / absmax (4-bit) or / SCB (int8) */
} check_stats;

/* Every source tensor: a linear is quantized as the tables say and decodes
 * within the bound; any other is copied byte for byte. */
static void check_checkpoint(const char *src_dir, const char *out_dir, bool int8, check_stats *cs) {
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "%s/model.safetensors", src_dir);
    snprintf(p2, sizeof p2, "%s/model.safetensors", out_dir);
    stf s, q;
    memset(cs, 0, sizeof *cs);
    if (!stf_open(p1, &s) || !stf_open(p2, &q)) {
        CHECKF(0, "cannot read %s or %s", p1, p2);
        return;
    }
    size_t expected = 1; /* __metadata__ */
    const char *key;
    json_t *v;
    json_object_foreach(s.hdr, key, v) {
        if (!strcmp(key, "__metadata__")) continue;
        const char *sdt, *qdt;
        int snd, qnd;
        uint64_t ss[2] = {0}, qs[2] = {0};
        const unsigned char *sp = stf_get(&s, key, &sdt, &snd, ss), *qp = stf_get(&q, key, &qdt, &qnd, qs);
        bool conv1d;
        CHECKF(qp != NULL, "%s missing from the output", key);
        if (!qp) continue;
        if (!is_linear(key, &conv1d)) {
            expected++;
            cs->n_copied++;
            uint64_t nb = json_integer_value(json_array_get(json_object_get(json_object_get(s.hdr, key), "data_offsets"), 1)) -
                          json_integer_value(json_array_get(json_object_get(json_object_get(s.hdr, key), "data_offsets"), 0));
            CHECKF(!strcmp(sdt, qdt) && snd == qnd && ss[0] == qs[0] && ss[1] == qs[1] && !memcmp(sp, qp, nb),
                   "%s not copied unchanged", key);
            continue;
        }
        cs->n_linear++;
        uint64_t n_out = conv1d ? ss[1] : ss[0], n_in = conv1d ? ss[0] : ss[1], n = n_out * n_in;
        char name[600];
        const char *dt;
        int nd;
        uint64_t sh[2] = {0};
        if (int8) {
            expected += 3;
            CHECKF(!strcmp(qdt, "I8") && qnd == 2 && qs[0] == n_out && qs[1] == n_in, "%s: %s [%llu,%llu]", key, qdt,
                   (unsigned long long)qs[0], (unsigned long long)qs[1]);
            snprintf(name, sizeof name, "%.*sSCB", (int)(strlen(key) - 6), key);
            const unsigned char *scb = stf_get(&q, name, &dt, &nd, sh);
            REQUIRE(scb && !strcmp(dt, "F32") && nd == 1 && sh[0] == n_out);
            snprintf(name, sizeof name, "%.*sweight_format", (int)(strlen(key) - 6), key);
            const unsigned char *wf = stf_get(&q, name, &dt, &nd, sh);
            REQUIRE(wf && !strcmp(dt, "U8") && nd == 0 && wf[0] == 0);
            for (uint64_t o = 0; o < n_out; o++) {
                double am = 0, sc = f32_at(scb, o);
                for (uint64_t i = 0; i < n_in; i++) am = fmax(am, fabs(src_w(sp, sdt, conv1d, n_out, n_in, o, i)));
                CHECKF(sc == (float)am, "%s row %llu: SCB %g != absmax %g", key, (unsigned long long)o, sc, am);
                for (uint64_t i = 0; i < n_in; i++) {
                    double w = src_w(sp, sdt, conv1d, n_out, n_in, o, i), d = (signed char)qp[o * n_in + i] * sc / 127;
                    double rel = fabs(w - d) / sc;
                    if (rel > cs->worst_rel) cs->worst_rel = rel;
                }
            }
        } else {
            expected += 4;
            CHECKF(!strcmp(qdt, "U8") && qnd == 2 && qs[0] == n / 2 && qs[1] == 1, "%s: %s [%llu,%llu]", key, qdt,
                   (unsigned long long)qs[0], (unsigned long long)qs[1]);
            snprintf(name, sizeof name, "%s.absmax", key);
            const unsigned char *am = stf_get(&q, name, &dt, &nd, sh);
            REQUIRE(am && !strcmp(dt, "F32") && nd == 1 && sh[0] == n / 64);
            snprintf(name, sizeof name, "%s.quant_map", key);
            const unsigned char *map = stf_get(&q, name, &dt, &nd, sh);
            REQUIRE(map && !strcmp(dt, "F32") && nd == 1 && sh[0] == 16);
            for (int k = 0; k < 16; k++) CHECK(f32_at(map, (uint64_t)k) == (float)NF4[k]);
            snprintf(name, sizeof name, "%s.quant_state.bitsandbytes__nf4", key);
            const unsigned char *js = stf_get(&q, name, &dt, &nd, sh);
            REQUIRE(js && !strcmp(dt, "U8") && nd == 1);
            json_t *st = json_loadb((const char *)js, sh[0], 0, NULL);
            REQUIRE(st);
            CHECK_STR(json_string_value(json_object_get(st, "quant_type")), "nf4");
            CHECK_EQ_INT(json_integer_value(json_object_get(st, "blocksize")), 64);
            CHECK_STR(json_string_value(json_object_get(st, "dtype")), !strcmp(sdt, "BF16") ? "bfloat16" : "float32");
            CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(st, "shape"), 0)), (long long)n_out);
            CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(st, "shape"), 1)), (long long)n_in);
            json_decref(st);
            for (uint64_t b = 0; b < n / 64; b++) {
                double bam = 0;
                for (uint64_t k = b * 64; k < b * 64 + 64; k++)
                    bam = fmax(bam, fabs(src_w(sp, sdt, conv1d, n_out, n_in, k / n_in, k % n_in)));
                CHECKF(f32_at(am, b) == (float)bam, "%s block %llu: absmax", key, (unsigned long long)b);
                for (uint64_t k = b * 64; k < b * 64 + 64; k++) {
                    int code = k % 2 ? qp[k / 2] & 15 : qp[k / 2] >> 4; /* even index high nibble */
                    double w = src_w(sp, sdt, conv1d, n_out, n_in, k / n_in, k % n_in), d = NF4[code] * f32_at(am, b);
                    double rel = bam > 0 ? fabs(w - d) / bam : fabs(w - d);
                    if (rel > cs->worst_rel) cs->worst_rel = rel;
                }
            }
        }
    }
    CHECK_EQ_INT(json_object_size(q.hdr), expected);
    /* NF4: half the widest gap between code values (-1 .. -0.696); int8: half a step */
    double bound = int8 ? 0.5 / 127 + 1e-6 : (1.0 - 0.6961928009986877) / 2 + 1e-6;
    CHECKF(cs->worst_rel <= bound, "worst error %g > bound %g", cs->worst_rel, bound);
    stf_close(&s);
    stf_close(&q);
}

/* quantization_config of out_dir/config.json, checked field by field. */
static void check_config(const char *out_dir, bool int8) {
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", out_dir);
    json_t *c = json_load_file(p, JSON_REJECT_DUPLICATES, NULL), *q = json_object_get(c, "quantization_config");
    REQUIRE(q);
    CHECK_STR(json_string_value(json_object_get(q, "quant_method")), "bitsandbytes");
    CHECK(json_is_true(json_object_get(q, "load_in_4bit")) == !int8);
    CHECK(json_is_true(json_object_get(q, "load_in_8bit")) == int8);
    CHECK_STR(json_string_value(json_object_get(q, "bnb_4bit_quant_type")), "nf4");
    CHECK(json_is_false(json_object_get(q, "bnb_4bit_use_double_quant")));
    CHECK_STR(json_string_value(json_object_get(q, "bnb_4bit_quant_storage")), "uint8");
    CHECK(json_real_value(json_object_get(q, "llm_int8_threshold")) == 6.0);
    CHECK(json_object_get(c, "architectures") != NULL); /* the source config is kept */
    json_decref(c);
}

/* Mean KL(source || quantized) over next-token distributions of 64 tokens of
 * heldout.txt, and top-1 agreement. */
static void engine_kl(const char *src_dir, const char *q_dir, double *kl, double *top1) {
    lqmf_model *a = NULL, *b = NULL;
    lqmf_tokenizer *tok = NULL;
    lqmf_engine *ea = NULL, *eb = NULL;
    lqmf_tok_ids ids = {0};
    char hp[1024];
    snprintf(hp, sizeof hp, "%s/heldout.txt", src_dir);
    char *text = NULL;
    size_t len = 0;
    *kl = *top1 = -1;
    REQUIRE_OK(lqmf_model_open(src_dir, &a));
    REQUIRE_OK(lqmf_model_open(q_dir, &b));
    REQUIRE_OK(lqmf_read_file(hp, 1 << 20, &text, &len));
    REQUIRE_OK(lqmf_tok_open_model(a, &tok));
    REQUIRE_OK(lqmf_tok_encode(tok, text, len < 4000 ? len : 4000, 0, &ids));
    enum { T = 64 };
    REQUIRE(ids.n >= T);
    lqmf_engine_params p = {.n_ctx = T, .n_threads = 2};
    REQUIRE_OK(lqmf_engine_new(a, &p, &ea));
    REQUIRE_OK(lqmf_engine_new(b, &p, &eb));
    uint32_t V = a->hp.n_vocab;
    float *la = malloc((size_t)T * V * 4), *lb = malloc((size_t)T * V * 4);
    REQUIRE(la && lb);
    CHECK_OK(lqmf_engine_eval(ea, ids.ids, T, 0, LQMF_LOGITS_ALL, la));
    CHECK_OK(lqmf_engine_eval(eb, ids.ids, T, 0, LQMF_LOGITS_ALL, lb));
    double sum = 0;
    int agree = 0;
    for (int t = 0; t < T; t++) {
        const float *x = la + (size_t)t * V, *y = lb + (size_t)t * V;
        double mx = -INFINITY, my = -INFINITY, zx = 0, zy = 0, k = 0;
        uint32_t ax = 0, ay = 0;
        for (uint32_t i = 0; i < V; i++) {
            if (x[i] > mx) mx = x[i], ax = i;
            if (y[i] > my) my = y[i], ay = i;
        }
        for (uint32_t i = 0; i < V; i++) zx += exp(x[i] - mx), zy += exp(y[i] - my);
        for (uint32_t i = 0; i < V; i++) {
            double px = exp(x[i] - mx) / zx;
            k += px * ((x[i] - mx - log(zx)) - (y[i] - my - log(zy)));
        }
        sum += k;
        agree += ax == ay;
    }
    *kl = sum / T;
    *top1 = (double)agree / T;
    free(la);
    free(lb);
    free(text);
    lqmf_tok_ids_free(&ids);
    lqmf_engine_free(ea);
    lqmf_engine_free(eb);
    lqmf_tok_free(tok);
    lqmf_model_close(a);
    lqmf_model_close(b);
}

static void write_ckpt(const char *src, const char *out, lqmf_hfq_kind k, lqmf_hfq_result *r) {
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(src, &m));
    CHECK_OK(lqmf_hfq_write(m, out, &(lqmf_hfq_opts){.kind = k}, r));
    lqmf_model_close(m);
}

static void round_trip(const char *src, lqmf_hfq_kind k, double max_kl) {
    char out[1024];
    snprintf(out, sizeof out, "%s/q", lqmf_test_tmpdir());
    lqmf_hfq_result r;
    write_ckpt(src, out, k, &r);
    if (lqmf_test_failed()) return;
    check_stats cs;
    check_checkpoint(src, out, k == LQMF_HFQ_INT8, &cs);
    check_config(out, k == LQMF_HFQ_INT8);
    double kl, top1;
    engine_kl(src, out, &kl, &top1);
    printf("  %s %s: %d linears, %d copied, worst err %.4f of absmax, %.2f MB -> %.2f MB, KL %.5f, top-1 %.1f%%\n",
           strrchr(src, '/') + 1, lqmf_hfq_kind_name(k), cs.n_linear, cs.n_copied, cs.worst_rel,
           (double)r.src_bytes / 1e6, (double)r.out_bytes / 1e6, kl, top1 * 100);
    CHECK_EQ_INT(r.n_quantized, cs.n_linear);
    CHECKF(kl >= 0 && kl < max_kl, "KL %g >= %g", kl, max_kl);
    CHECK(top1 >= 0.85);
    char tj1[1024], tj2[1024]; /* the tokenizer travels unchanged */
    snprintf(tj1, sizeof tj1, "%s/tokenizer.json", src);
    snprintf(tj2, sizeof tj2, "%s/tokenizer.json", out);
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    CHECK_OK(lqmf_read_file(tj1, 1 << 26, &a, &la));
    CHECK_OK(lqmf_read_file(tj2, 1 << 26, &b, &lb));
    CHECK(a && b && la == lb && !memcmp(a, b, la));
    free(a);
    free(b);
}

TEST(hfq_nf4_tiny_gpt2) {
    DATA(dir, "models/tiny-gpt2");
    round_trip(dir, LQMF_HFQ_NF4, 0.02);
}

TEST(hfq_nf4_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    round_trip(dir, LQMF_HFQ_NF4, 0.02);
}

TEST(hfq_int8_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    round_trip(dir, LQMF_HFQ_INT8, 0.001);
}

TEST(hfq_int8_tiny_gpt2) {
    DATA(dir, "models/tiny-gpt2");
    round_trip(dir, LQMF_HFQ_INT8, 0.001);
}
