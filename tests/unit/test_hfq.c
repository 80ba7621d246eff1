/* bitsandbytes checkpoints: written from the shared tiny models, re-read
 * with an independent safetensors parser and decoder written here from the
 * format description (formats-and-hub-api.md 4.4), loaded back through
 * lqmf_model_open and run against the source; bad inputs fail by name. */
#include "lqmf/engine.h"
#include "lqmf/eval.h"
#include "lqmf/factory.h"
#include "lqmf/hfq.h"
#include "lqmf/quantize.h"
#include "lqmf/tokenizer.h"
#include "../test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* IEEE half h as a double, decoded from its fields. */
static double f16_value(uint16_t h) {
    int e = h >> 10 & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
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
    double worst_rel;    /* max |w - deq| / absmax (4-bit, less the absmax error) or / SCB (int8) */
    double worst_absmax; /* double quantization: max |absmax - true| / true */
} check_stats;

/* Every source tensor: a linear is quantized as the tables say and decodes
 * within the bound; any other is copied byte for byte. */
/* Block b's absmax as stored: F32, or (double quantization) an 8-bit code
 * times the nested absmax of its group of 256 blocks plus nested_offset. */
typedef struct {
    const unsigned char *am, *nested, *nmap;
    double offset;
    bool dq;
} absmax_view;

static double absmax_at(const absmax_view *v, uint64_t b) {
    return v->dq ? (double)(f32_at(v->nmap, v->am[b]) * f32_at(v->nested, b / 256) + (float)v->offset)
                 : f32_at(v->am, b);
}

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
            CHECKF(snd == qnd && ss[0] == qs[0] && ss[1] == qs[1], "%s: shape changed", key);
            if (strcmp(sdt, "F32")) {
                CHECKF(!strcmp(sdt, qdt) && !memcmp(sp, qp, nb), "%s not copied unchanged", key);
                continue;
            }
            /* F32 is stored as F16 (transformers' torch_dtype float16): each
             * value within half an F16 step (2^-11 relative, 2^-25 absolute
             * near zero) of the source */
            CHECKF(!strcmp(qdt, "F16"), "%s: %s, expected F16", key, qdt);
            if (strcmp(qdt, "F16")) continue;
            double worst = 0;
            for (uint64_t k = 0; k < nb / 4; k++) {
                float f;
                uint16_t h;
                memcpy(&f, sp + k * 4, 4);
                memcpy(&h, qp + k * 2, 2);
                double err = fabs(f16_value(h) - f) / fmax(fabs(f) * 0x1p-11, 0x1p-25);
                if (err > worst) worst = err;
            }
            CHECKF(worst <= 1.0, "%s: F16 value off by %g half-steps", key, worst);
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
            absmax_view av = {.am = stf_get(&q, name, &dt, &nd, sh)};
            REQUIRE(av.am && nd == 1 && sh[0] == n / 64);
            av.dq = !strcmp(dt, "U8");
            CHECK(av.dq || !strcmp(dt, "F32"));
            if (av.dq) { /* nested_absmax F32 [ceil(nb / 256)], nested_quant_map F32 [256] */
                expected += 2;
                snprintf(name, sizeof name, "%s.nested_absmax", key);
                av.nested = stf_get(&q, name, &dt, &nd, sh);
                REQUIRE(av.nested && !strcmp(dt, "F32") && nd == 1 && sh[0] == (n / 64 + 255) / 256);
                snprintf(name, sizeof name, "%s.nested_quant_map", key);
                av.nmap = stf_get(&q, name, &dt, &nd, sh);
                REQUIRE(av.nmap && !strcmp(dt, "F32") && nd == 1 && sh[0] == 256);
            }
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
            CHECK_STR(json_string_value(json_object_get(st, "dtype")), !strcmp(sdt, "BF16") ? "bfloat16" : "float16");
            CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(st, "shape"), 0)), (long long)n_out);
            CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(st, "shape"), 1)), (long long)n_in);
            if (av.dq) {
                CHECK_EQ_INT(json_integer_value(json_object_get(st, "nested_blocksize")), 256);
                CHECK_STR(json_string_value(json_object_get(st, "nested_dtype")), "float32");
                CHECK(json_is_number(json_object_get(st, "nested_offset")));
                av.offset = json_number_value(json_object_get(st, "nested_offset"));
            }
            json_decref(st);
            for (uint64_t b = 0; b < n / 64; b++) {
                double bam = 0, am = absmax_at(&av, b);
                for (uint64_t k = b * 64; k < b * 64 + 64; k++)
                    bam = fmax(bam, fabs(src_w(sp, sdt, conv1d, n_out, n_in, k / n_in, k % n_in)));
                /* exact, or within half the 8-bit code's widest step (0.9 / 64 / 2) of the nested absmax */
                double am_err = fabs(am - bam), am_tol = av.dq ? 0.0071 * f32_at(av.nested, b / 256) + 1e-7 : 0;
                CHECKF(am_err <= am_tol, "%s block %llu: absmax %g, true %g", key, (unsigned long long)b, am, bam);
                if (am_err > cs->worst_absmax) cs->worst_absmax = am_err / bam;
                for (uint64_t k = b * 64; k < b * 64 + 64; k++) {
                    int code = k % 2 ? qp[k / 2] & 15 : qp[k / 2] >> 4; /* even index high nibble */
                    double w = src_w(sp, sdt, conv1d, n_out, n_in, k / n_in, k % n_in), d = NF4[code] * am;
                    /* codes are in [-1, 1]: an absmax off by e moves a value by at most e */
                    double rel = bam > 0 ? (fabs(w - d) - am_err) / bam : fabs(w - d);
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
static void check_config(const char *out_dir, bool int8, bool dq) {
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", out_dir);
    json_t *c = json_load_file(p, JSON_REJECT_DUPLICATES, NULL), *q = json_object_get(c, "quantization_config");
    REQUIRE(q);
    CHECK_STR(json_string_value(json_object_get(q, "quant_method")), "bitsandbytes");
    CHECK(json_is_true(json_object_get(q, "load_in_4bit")) == !int8);
    CHECK(json_is_true(json_object_get(q, "load_in_8bit")) == int8);
    CHECK_STR(json_string_value(json_object_get(q, "bnb_4bit_quant_type")), "nf4");
    CHECK(json_is_true(json_object_get(q, "bnb_4bit_use_double_quant")) == dq);
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

static void write_ckpt(const char *src, const char *out, lqmf_hfq_kind k, bool dq, lqmf_hfq_result *r) {
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(src, &m));
    CHECK_OK(lqmf_hfq_write(m, out, &(lqmf_hfq_opts){.kind = k, .double_quant = dq}, r));
    lqmf_model_close(m);
}

static void round_trip(const char *src, lqmf_hfq_kind k, bool dq, double max_kl) {
    char out[1024];
    snprintf(out, sizeof out, "%s/q", lqmf_test_tmpdir());
    lqmf_hfq_result r;
    write_ckpt(src, out, k, dq, &r);
    if (lqmf_test_failed()) return;
    check_stats cs;
    check_checkpoint(src, out, k == LQMF_HFQ_INT8, &cs);
    check_config(out, k == LQMF_HFQ_INT8, dq);
    double kl, top1;
    engine_kl(src, out, &kl, &top1);
    printf("  %s %s%s: %d linears, %d copied, worst err %.4f of absmax (absmax err %.4f), %.2f MB -> %.2f MB, "
           "KL %.5f, top-1 %.1f%%\n",
           strrchr(src, '/') + 1, lqmf_hfq_kind_name(k), dq ? "+dq" : "", cs.n_linear, cs.n_copied, cs.worst_rel,
           cs.worst_absmax,
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
    round_trip(dir, LQMF_HFQ_NF4, false, 0.02);
}

TEST(hfq_nf4_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    round_trip(dir, LQMF_HFQ_NF4, false, 0.02);
}

TEST(hfq_nf4_double_quant_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    round_trip(dir, LQMF_HFQ_NF4, true, 0.02);
}

TEST(hfq_int8_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    round_trip(dir, LQMF_HFQ_INT8, false, 0.001);
}

TEST(hfq_int8_tiny_gpt2) {
    DATA(dir, "models/tiny-gpt2");
    round_trip(dir, LQMF_HFQ_INT8, false, 0.001);
}

/* ---- the factory ------------------------------------------------------------ */

static lqmf_factory_request cpu_request(const char *request, const char *out, const char *db, lqmf_hw *hw) {
    memset(hw, 0, sizeof *hw);
    hw->ram_total = hw->ram_available = 8ull << 30; /* a fixed 8 GiB CPU machine */
    hw->n_cpus = 2;
    return (lqmf_factory_request){
        .request = request, .out_dir = out, .store_path = db, .hw = hw, .n_threads = 2, .assume_yes = true};
}

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

TEST(hfq_factory_tiny_gpt2_bnb_4bit) {
    DATA(src, "models/tiny-gpt2");
    char request[1024], out[512], db[512], want[1024];
    snprintf(request, sizeof request, "quantize %s to bnb 4-bit", src);
    snprintf(out, sizeof out, "%s/quantized-models", lqmf_test_tmpdir());
    snprintf(db, sizeof db, "%s/home/experiments.db", lqmf_test_tmpdir());
    lqmf_hw hw;
    lqmf_factory_request rq = cpu_request(request, out, db, &hw);
    lqmf_factory_result r;
    lqmf_status st = lqmf_factory_run(&rq, &r);
    CHECKF(st == LQMF_OK, "%s: %s", lqmf_status_name(st), r.message);
    REQUIRE(r.outcome == LQMF_FACTORY_SUCCEEDED);
    CHECK_STR(r.scheme->name, "NF4");
    snprintf(want, sizeof want, "%s/tiny-gpt2_bnb_4bit", out);
    CHECK_STR(r.out_folder, want);
    CHECK_STR(r.artifact, want); /* the folder is the artifact */
    CHECK(r.plan_text && strstr(r.plan_text, "NF4 is meant for a CUDA GPU"));
    check_stats cs;
    check_checkpoint(src, r.artifact, false, &cs);
    CHECK_EQ_INT(cs.n_linear, 16);
    char *card = NULL;
    size_t len;
    REQUIRE_OK(lqmf_read_file(r.card, 1 << 20, &card, &len));
    CHECK(strstr(card, "Quantization: 4-bit BitsAndBytes (NF4") && strstr(card, "## Test results") &&
          strstr(card, r.sha256) && strstr(card, "tiny-gpt2_bnb_4bit"));
    free(card);
    lqmf_buf b;
    lqmf_buf_init(&b);
    CHECK_OK(lqmf_factory_render_summary(&r, &b));
    lqmf_buf_append(&b, "", 1);
    CHECK(strstr((char *)b.data, "Quantization: 4-bit BitsAndBytes (NF4"));
    lqmf_buf_free(&b);
    /* the store: the folder as the artifact, with the KL of the auto-test */
    lqmf_store *s;
    lqmf_store_snapshot snap;
    REQUIRE_OK(lqmf_store_open(db, LQMF_STORE_SQLITE, &s));
    CHECK_OK(lqmf_store_load(s, &snap));
    lqmf_store_close(s);
    REQUIRE(snap.n_artifacts == 1 && snap.n_experiments == 1);
    char *abs = realpath(r.artifact, NULL);
    CHECK_STR(snap.artifacts[0].path, abs);
    free(abs);
    CHECK_STR(snap.artifacts[0].method, "NF4");
    CHECK_STR(snap.artifacts[0].format, "safetensors");
    CHECK_STR(snap.artifacts[0].sha256, r.sha256);
    CHECK(snap.experiments[0].state == LQMF_STORE_SUCCEEDED);
    double kl = lqmf_store_artifact_metric(&snap, snap.artifacts[0].id, LQMF_METRIC_KL);
    printf("  factory NF4 of tiny-gpt2: verdict %s, KL %.5f, %.2f MB\n", r.test_verdict, kl,
           (double)r.quant.out_bytes / 1e6);
    CHECKF(kl >= 0 && kl < 0.02, "KL %g", kl);
    lqmf_store_snapshot_free(&snap);
    /* lqmf test finds it by name */
    lqmf_eval_found_list l = {0};
    char *path = NULL;
    CHECK_OK(lqmf_eval_discover(out, &l));
    CHECK_OK(lqmf_eval_resolve(&l, "tiny-gpt2_bnb_4bit", &path, NULL));
    CHECK_STR(path, want);
    CHECK(l.n == 1 && !strcmp(l.items[0].method, "nf4") && l.items[0].bits == 4);
    free(path);
    lqmf_eval_found_list_free(&l);
    lqmf_factory_result_free(&r);
}

TEST(hfq_factory_names_and_refusals) {
    char out[256];
    lqmf_factory_folder_name("microsoft/DialoGPT-small", false, lqmf_plan_scheme_find("NF4"), out, sizeof out);
    CHECK_STR(out, "microsoft_DialoGPT-small_bnb_4bit");
    lqmf_factory_folder_name("microsoft/DialoGPT-small", false, lqmf_plan_scheme_find("INT8"), out, sizeof out);
    CHECK_STR(out, "microsoft_DialoGPT-small_bnb_8bit");
    DATA(src, "models/tiny-gpt2");
    char request[1024], dir[512], db[512];
    snprintf(request, sizeof request, "quantize %s to bitsandbytes 3-bit", src);
    snprintf(dir, sizeof dir, "%s/qm", lqmf_test_tmpdir());
    snprintf(db, sizeof db, "%s/e.db", lqmf_test_tmpdir());
    lqmf_hw hw;
    lqmf_factory_request rq = cpu_request(request, dir, db, &hw);
    lqmf_factory_result r;
    CHECK_ERR(lqmf_factory_run(&rq, &r), LQMF_E_UNSUPPORTED, "not 3-bit");
    CHECK_EQ_INT(r.outcome, LQMF_FACTORY_REFUSED);
    lqmf_factory_result_free(&r);
}

static bool stop_after_3(void *user, const lqmf_factory_progress *p) {
    int *n = user;
    return p->stage != LQMF_FACTORY_QUANTIZE || ++*n < 3;
}

TEST(hfq_factory_interrupted_leaves_nothing) {
    DATA(src, "models/tiny-llama");
    char request[1024], out[512], db[512], folder[1024];
    snprintf(request, sizeof request, "quantize %s with llm.int8", src);
    snprintf(out, sizeof out, "%s/quantized-models", lqmf_test_tmpdir());
    snprintf(db, sizeof db, "%s/e.db", lqmf_test_tmpdir());
    lqmf_hw hw;
    lqmf_factory_request rq = cpu_request(request, out, db, &hw);
    int calls = 0;
    rq.progress = stop_after_3;
    rq.user = &calls;
    lqmf_factory_result r;
    CHECK_EQ_INT(lqmf_factory_run(&rq, &r), LQMF_E_INTERRUPTED);
    CHECK_EQ_INT(r.outcome, LQMF_FACTORY_INTERRUPTED);
    CHECK_STR(r.scheme ? r.scheme->name : "", "INT8");
    snprintf(folder, sizeof folder, "%s/tiny-llama_bnb_8bit", out);
    CHECK(!exists(folder));
    DIR *d = opendir(out); /* no hidden temporary either */
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.' || strlen(e->d_name) > 2;
    if (d) closedir(d);
    CHECK_EQ_INT(n, 0);
    lqmf_factory_result_free(&r);
}

/* Entries of folder dir other than "." and "..". */
static int n_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

/* Progress of a writer into "<dir>/q": after the second weight, leave a
 * file in the hidden ".q.tmp.<pid>" (as a half-written checkpoint would)
 * and get Ctrl-C. */
static bool sigint_after_2(void *user, const lqmf_hfq_progress *p) {
    if (p->done < 2) return true;
    char part[700];
    snprintf(part, sizeof part, "%s/.q.tmp.%ld/model.safetensors.tmp.%ld.0", (const char *)user, (long)getpid(),
             (long)getpid());
    FILE *f = fopen(part, "w");
    if (!f) _exit(3); /* the hidden folder is not where it should be */
    fputs("partial", f);
    fclose(f);
    raise(SIGINT);
    return true;
}

static bool stop_at_2(void *user, const lqmf_hfq_progress *p) {
    (void)user;
    return p->done < 2;
}

/* A checkpoint write killed by SIGINT (the signal cleanup installed, as
 * `lqmf quantize --type NF4` has it) or stopped by its progress callback
 * leaves no hidden temporary folder and no output. */
TEST(hfq_interrupted_write_leaves_no_temporary) {
    DATA(src, "models/tiny-llama");
    char dir[400], out[500];
    snprintf(dir, sizeof dir, "%s", lqmf_test_tmpdir());
    snprintf(out, sizeof out, "%s/q", dir);
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(src, &m));
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        lqmf_install_signal_cleanup();
        lqmf_hfq_opts o = {.kind = LQMF_HFQ_NF4, .progress = sigint_after_2, .user = dir};
        lqmf_hfq_write(m, out, &o, NULL);
        _exit(2); /* not reached: the signal ends the process */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT, "child status %d", status);
    CHECK_EQ_INT(n_entries(dir), 0);
    lqmf_hfq_opts o = {.kind = LQMF_HFQ_NF4, .progress = stop_at_2};
    CHECK_ERR(lqmf_hfq_write(m, out, &o, NULL), LQMF_E_INTERRUPTED, "interrupted");
    CHECK_EQ_INT(n_entries(dir), 0);
    lqmf_model_close(m);
}

/* ---- bad inputs ---------------------------------------------------------------- */

/* Copy the checkpoint at q into dir with tensor `name` dropped (repl NULL)
 * or its bytes replaced by repl (as U8 [len] or F32 with the same shape). */
static void tamper(const char *q, const char *dir, const char *name, const void *repl, uint64_t repl_len) {
    lqmf_safetensors *st;
    lqmf_st_writer *w;
    REQUIRE_OK(lqmf_st_open(q, &st));
    REQUIRE_OK(lqmf_st_writer_new(&w));
    mkdir(dir, 0777);
    for (size_t i = 0; i < lqmf_st_n_tensors(st); i++) {
        const lqmf_st_tensor *t = lqmf_st_tensor_at(st, i);
        if (strcmp(t->name, name) != 0) {
            CHECK_OK(lqmf_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, t->data, t->nbytes));
        } else if (repl && t->dtype == LQMF_ST_U8) {
            CHECK_OK(lqmf_st_writer_add(w, t->name, LQMF_ST_U8, 1, &repl_len, repl, repl_len));
        } else if (repl) {
            CHECK_OK(lqmf_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, repl, t->nbytes));
        }
    }
    char p[1024], c[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK_OK(lqmf_st_writer_write(w, p));
    lqmf_st_writer_free(w);
    lqmf_st_close(st);
    char *text = NULL;
    size_t len = 0;
    snprintf(c, sizeof c, "%s/config.json", q);
    REQUIRE_OK(lqmf_read_file(c, 1 << 20, &text, &len));
    snprintf(c, sizeof c, "%s/config.json", dir);
    FILE *f = fopen(c, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    free(text);
}

TEST(hfq_bad_checkpoints_named) {
    DATA(src, "models/tiny-llama");
    char q[1024], bad[1024];
    snprintf(q, sizeof q, "%s/q", lqmf_test_tmpdir());
    lqmf_hfq_result r;
    write_ckpt(src, q, LQMF_HFQ_NF4, false, &r);
    lqmf_model *m = NULL;
    const char *P = "model.layers.1.self_attn.k_proj.weight";
    char name[256];
    /* a missing absmax */
    snprintf(bad, sizeof bad, "%s/b1", lqmf_test_tmpdir());
    snprintf(name, sizeof name, "%s.absmax", P);
    tamper(q, bad, name, NULL, 0);
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_NOT_FOUND, "model.layers.1.self_attn.k_proj.weight.absmax: missing");
    /* a quant_state with a bad blocksize, then with double quantization */
    snprintf(bad, sizeof bad, "%s/b2", lqmf_test_tmpdir());
    snprintf(name, sizeof name, "%s.quant_state.bitsandbytes__nf4", P);
    const char *js = "{\"quant_type\": \"nf4\", \"blocksize\": 48, \"dtype\": \"bfloat16\", \"shape\": [128, 256]}";
    tamper(q, bad, name, js, strlen(js));
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_FORMAT, "bitsandbytes__nf4: blocksize");
    snprintf(bad, sizeof bad, "%s/b3", lqmf_test_tmpdir());
    js = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [128, 256], "
         "\"nested_blocksize\": 128, \"nested_offset\": 0.01}";
    tamper(q, bad, name, js, strlen(js));
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_UNSUPPORTED, "nested_blocksize is not 256");
    snprintf(bad, sizeof bad, "%s/b3b", lqmf_test_tmpdir()); /* nested, but absmax is F32 */
    js = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [128, 256], "
         "\"nested_blocksize\": 256, \"nested_offset\": 0.01}";
    tamper(q, bad, name, js, strlen(js));
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_FORMAT, "k_proj.weight.absmax: dtype F32, expected U8");
    /* a shape that does not match the packed codes */
    snprintf(bad, sizeof bad, "%s/b4", lqmf_test_tmpdir());
    js = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [256, 256]}";
    tamper(q, bad, name, js, strlen(js));
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_FORMAT, "k_proj.weight: 16384 elements, expected 32768");
    /* an fp4 state on nf4 data: JSON that says another type */
    snprintf(bad, sizeof bad, "%s/b5", lqmf_test_tmpdir());
    js = "{\"quant_type\": \"fp4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [128, 256]}";
    tamper(q, bad, name, js, strlen(js));
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_FORMAT, "quant_type \"fp4\", expected \"nf4\"");
    /* a NaN absmax */
    snprintf(bad, sizeof bad, "%s/b6", lqmf_test_tmpdir());
    snprintf(name, sizeof name, "%s.absmax", P);
    float nan_am[512];
    for (int i = 0; i < 512; i++) nan_am[i] = i == 3 ? NAN : 1.0f;
    tamper(q, bad, name, nan_am, sizeof nan_am);
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_FORMAT, "absmax[3] is nan");
    CHECK(m == NULL);
    /* an unsupported method in config.json */
    lqmf_hfq_config qc;
    const char *awq = "{\"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4}}";
    CHECK_ERR(lqmf_hfq_config_parse(awq, strlen(awq), "c.json", &qc), LQMF_E_UNSUPPORTED,
              "quant_method \"awq\" is not supported");
    const char *both = "{\"quantization_config\": {\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, "
                       "\"load_in_8bit\": true}}";
    CHECK_ERR(lqmf_hfq_config_parse(both, strlen(both), "c.json", &qc), LQMF_E_UNSUPPORTED, "both true");
    /* the writer: a GGUF source, a bad block size; the output is replaced whole */
    lqmf_model *src_m = NULL;
    REQUIRE_OK(lqmf_model_open(src, &src_m));
    CHECK_ERR(lqmf_hfq_write(src_m, q, &(lqmf_hfq_opts){.kind = LQMF_HFQ_NF4, .blocksize = 100}, NULL),
              LQMF_E_INVALID, "blocksize 100");
    CHECK_OK(lqmf_hfq_write(src_m, q, &(lqmf_hfq_opts){.kind = LQMF_HFQ_INT8}, NULL));
    lqmf_model_close(src_m);
    CHECK_OK(lqmf_model_open(q, &m));
    lqmf_model_close(m);
    snprintf(name, sizeof name, "%s/model.safetensors", q);
    lqmf_safetensors *st = NULL;
    CHECK_OK(lqmf_st_open(name, &st));
    CHECK(st && lqmf_st_find(st, "model.layers.0.self_attn.q_proj.SCB") &&
          !lqmf_st_find(st, "model.layers.0.self_attn.q_proj.weight.absmax"));
    lqmf_st_close(st);
}

/* ---- GPTQ ------------------------------------------------------------------------ */

static int32_t i32_at(const unsigned char *p, uint64_t i) {
    int32_t v;
    memcpy(&v, p + i * 4, 4);
    return v;
}

static float f16_at(const unsigned char *p, uint64_t i) {
    uint16_t h = (uint16_t)(p[i * 2] | p[i * 2 + 1] << 8);
    return lqmf_fp16_to_f32(h);
}

/* Every linear as the GPTQ v1 table says (no P.weight; qweight, qzeros,
 * scales, g_idx), decoded here: q from 32/bits codes per int32 along the
 * input, zero = stored + 1 (8 for symmetric 4-bit), w = scale * (q - zero).
 * Returns the worst relative Frobenius error of a tensor against its source
 * and checks the decoded weights equal what lqmf_model_open gives. */
static double check_gptq(const char *src_dir, const char *out_dir, unsigned bits) {
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "%s/model.safetensors", src_dir);
    snprintf(p2, sizeof p2, "%s/model.safetensors", out_dir);
    stf s, q;
    double worst = 0;
    if (!stf_open(p1, &s) || !stf_open(p2, &q)) {
        CHECKF(0, "cannot read %s or %s", p1, p2);
        return 1;
    }
    lqmf_model *m = NULL;
    CHECK_OK(lqmf_model_open(out_dir, &m));
    const uint32_t per = 32 / bits, mask = (1u << bits) - 1;
    const char *key;
    json_t *v;
    json_object_foreach(s.hdr, key, v) {
        bool conv1d;
        if (!strcmp(key, "__metadata__") || !is_linear(key, &conv1d)) continue;
        const char *sdt, *dt;
        int snd, nd;
        uint64_t ss[2] = {0}, sh[2] = {0};
        const unsigned char *sp = stf_get(&s, key, &sdt, &snd, ss);
        CHECKF(stf_get(&q, key, &dt, &nd, sh) == NULL, "%s still present", key);
        uint64_t n_out = conv1d ? ss[1] : ss[0], n_in = conv1d ? ss[0] : ss[1], ng = n_in / 128;
        char pre[512], name[600];
        snprintf(pre, sizeof pre, "%.*s", (int)(strlen(key) - 6), key);
        snprintf(name, sizeof name, "%sqweight", pre);
        const unsigned char *qw = stf_get(&q, name, &dt, &nd, sh);
        CHECK(qw && !strcmp(dt, "I32") && nd == 2 && sh[0] == n_in / per && sh[1] == n_out);
        snprintf(name, sizeof name, "%sqzeros", pre);
        const unsigned char *qz = stf_get(&q, name, &dt, &nd, sh);
        CHECK(qz && !strcmp(dt, "I32") && nd == 2 && sh[0] == ng && sh[1] == n_out / per);
        snprintf(name, sizeof name, "%sscales", pre);
        const unsigned char *sc = stf_get(&q, name, &dt, &nd, sh);
        CHECK(sc && !strcmp(dt, "F16") && nd == 2 && sh[0] == ng && sh[1] == n_out);
        snprintf(name, sizeof name, "%sg_idx", pre);
        const unsigned char *gi = stf_get(&q, name, &dt, &nd, sh);
        CHECK(gi && !strcmp(dt, "I32") && nd == 1 && sh[0] == n_in);
        const lqmf_tensor *t = NULL;
        for (size_t k = 0; m && k < m->n_tensors; k++)
            if (m->tensors[k].src_name && !strcmp(m->tensors[k].src_name, key)) t = &m->tensors[k];
        CHECK(t && t->type == LQMF_TYPE_F32 && t->ne[0] == n_in && t->ne[1] == n_out);
        if (!qw || !qz || !sc || !gi || !t || lqmf_test_failed()) break;
        double err2 = 0, ref2 = 0;
        int mismatch = 0;
        for (uint64_t i = 0; i < n_in; i++) {
            int32_t g = i32_at(gi, i);
            CHECK(g == (int32_t)(i / 128));
            for (uint64_t o = 0; o < n_out; o++) {
                uint32_t code = ((uint32_t)i32_at(qw, (i / per) * n_out + o) >> (bits * (i % per))) & mask;
                uint32_t zero = (((uint32_t)i32_at(qz, (uint64_t)g * (n_out / per) + o / per) >> (bits * (o % per))) & mask) + 1;
                if (i == 0) CHECK(zero == 1u << (bits - 1)); /* symmetric */
                double d = f16_at(sc, (uint64_t)g * n_out + o) * ((double)code - zero);
                double w = src_w(sp, sdt, conv1d, n_out, n_in, o, i);
                err2 += (w - d) * (w - d);
                ref2 += w * w;
                mismatch += ((const float *)t->data)[o * n_in + i] != (float)d;
            }
        }
        CHECK_EQ_INT(mismatch, 0);
        double rel = sqrt(err2 / ref2);
        if (rel > worst) worst = rel;
    }
    lqmf_model_close(m);
    stf_close(&s);
    stf_close(&q);
    return worst;
}

/* Calibration for the tiny models (trained on the KJV): 10 kB from the
 * middle of the KJV text, away from heldout.txt's opening chapters. */
/* want bytes of the KJV text from its middle (NULL when absent). */
static char *kjv_calibration(size_t want, size_t *len) {
    const char *path = lqmf_test_data("text/kjv/kjv_verses.txt");
    char *all = NULL, *out = NULL;
    size_t n = 0;
    if (!path || lqmf_read_file(path, 1 << 23, &all, &n) != LQMF_OK || n < 100000) {
        free(all);
        return NULL;
    }
    const char *start = strchr(all + n / 2, '\n') + 1;
    *len = want;
    out = strndup(start, *len);
    free(all);
    return out;
}

static void gptq_round_trip(const char *src, lqmf_hfq_kind k, unsigned bits, double max_rel) {
    char out[1024], rtn[1024];
    snprintf(out, sizeof out, "%s/gptq", lqmf_test_tmpdir());
    snprintf(rtn, sizeof rtn, "%s/rtn", lqmf_test_tmpdir());
    size_t clen = 0;
    char *calib = kjv_calibration(10000, &clen);
    if (!calib) return;
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(src, &m));
    lqmf_hfq_result r;
    CHECK_OK(lqmf_hfq_write(m, out, &(lqmf_hfq_opts){.kind = k, .calib_text = calib, .calib_len = clen, .n_threads = 2},
                            &r));
    if (bits == 4) /* no text: round to nearest, the baseline GPTQ must beat */
        CHECK_OK(lqmf_hfq_write(m, rtn, &(lqmf_hfq_opts){.kind = k, .n_threads = 2}, NULL));
    lqmf_model_close(m);
    free(calib);
    if (lqmf_test_failed()) return;
    double rel = check_gptq(src, out, bits);
    char p[1024];
    snprintf(p, sizeof p, "%s/quantize_config.json", out);
    json_t *qc = json_load_file(p, 0, NULL);
    snprintf(p, sizeof p, "%s/config.json", out);
    json_t *c = json_load_file(p, 0, NULL), *q = json_object_get(c, "quantization_config");
    REQUIRE(qc && q);
    CHECK(json_equal(qc, q));
    CHECK_STR(json_string_value(json_object_get(q, "quant_method")), "gptq");
    CHECK_STR(json_string_value(json_object_get(q, "checkpoint_format")), "gptq");
    CHECK_EQ_INT(json_integer_value(json_object_get(q, "bits")), bits);
    CHECK_EQ_INT(json_integer_value(json_object_get(q, "group_size")), 128);
    CHECK(json_is_false(json_object_get(q, "desc_act")) && json_is_true(json_object_get(q, "sym")));
    CHECK(fabs(json_real_value(json_object_get(q, "damp_percent")) - 0.01) < 1e-12);
    json_decref(qc);
    json_decref(c);
    double kl, top1, kl_rtn = -1, top1_rtn = -1;
    engine_kl(src, out, &kl, &top1);
    if (bits == 4) engine_kl(src, rtn, &kl_rtn, &top1_rtn);
    printf("  %s %s: %u linears, worst relative error %.4f, %.2f MB -> %.2f MB, KL %.5f, top-1 %.1f%%", strrchr(src, '/') + 1,
           lqmf_hfq_kind_name(k), r.n_quantized, rel, (double)r.src_bytes / 1e6, (double)r.out_bytes / 1e6, kl,
           top1 * 100);
    if (bits == 4) printf("; round to nearest: KL %.5f, top-1 %.1f%%", kl_rtn, top1_rtn * 100);
    printf("\n");
    CHECKF(rel < max_rel, "relative error %g >= %g", rel, max_rel);
    CHECKF(kl >= 0 && kl < (bits == 8 ? 0.001 : 0.02), "KL %g", kl);
    CHECKF(bits == 8 || kl < kl_rtn, "GPTQ KL %g not below round-to-nearest %g", kl, kl_rtn);
}

TEST(hfq_gptq4_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    gptq_round_trip(dir, LQMF_HFQ_GPTQ_4BIT, 4, 0.3);
}

TEST(hfq_gptq4_tiny_gpt2) {
    DATA(dir, "models/tiny-gpt2");
    gptq_round_trip(dir, LQMF_HFQ_GPTQ_4BIT, 4, 0.3);
}

TEST(hfq_gptq8_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    gptq_round_trip(dir, LQMF_HFQ_GPTQ_8BIT, 8, 0.02);
}

/* Tokens of text with the tokenizer of the model folder dir. */
static uint64_t n_tokens(const char *dir, const char *text, size_t len) {
    lqmf_model *m = NULL;
    lqmf_tokenizer *tok = NULL;
    lqmf_tok_ids ids = {0};
    uint64_t n = 0;
    if (lqmf_model_open(dir, &m) == LQMF_OK && lqmf_tok_open_model(m, &tok) == LQMF_OK &&
        lqmf_tok_encode(tok, text, len, 0, &ids) == LQMF_OK)
        n = ids.n;
    lqmf_tok_ids_free(&ids);
    lqmf_tok_free(tok);
    lqmf_model_close(m);
    return n;
}

TEST(hfq_factory_gptq_tiny_llama) {
    DATA(src, "models/tiny-llama");
    char request[1024], out[512], db[512], want[1024];
    snprintf(request, sizeof request, "quantize %s with gptq", src);
    snprintf(out, sizeof out, "%s/quantized-models", lqmf_test_tmpdir());
    snprintf(db, sizeof db, "%s/home/experiments.db", lqmf_test_tmpdir());
    lqmf_hw hw;
    lqmf_factory_request rq = cpu_request(request, out, db, &hw);
    lqmf_factory_result r;
    lqmf_status st = lqmf_factory_run(&rq, &r);
    CHECKF(st == LQMF_OK, "%s: %s", lqmf_status_name(st), r.message);
    REQUIRE(r.outcome == LQMF_FACTORY_SUCCEEDED);
    CHECK_STR(r.scheme->name, "GPTQ-4bit");
    snprintf(want, sizeof want, "%s/tiny-llama_gptq_4bit", out);
    CHECK_STR(r.artifact, want);
    CHECK(r.plan_text && strstr(r.plan_text, "GPTQ-4bit is meant for a CUDA GPU"));
    CHECK(check_gptq(src, r.artifact, 4) < 0.3);
    char *card = NULL;
    size_t len;
    REQUIRE_OK(lqmf_read_file(r.card, 1 << 20, &card, &len));
    CHECK(strstr(card, "Quantization: 4-bit GPTQ (group size 128") != NULL);
    /* the built-in text: named in plan, card and summary, with a warning */
    size_t blen;
    const char *builtin = lqmf_eval_calibration_text(&blen);
    CHECK_EQ_INT(r.calib_tokens, n_tokens(src, builtin, blen));
    CHECK(r.calib_tokens > 0 && r.calib_tokens < LQMF_FACTORY_CALIB_MIN_TOKENS);
    CHECK(strstr(r.calib, "built-in text") != NULL);
    CHECK(r.plan_text && strstr(r.plan_text, "GPTQ calibration text: built-in text"));
    CHECK(strstr(card, "| calibration text | built-in text") && strstr(card, "**Warning:** GPTQ was calibrated on only"));
    free(card);
    lqmf_buf b;
    lqmf_buf_init(&b);
    CHECK_OK(lqmf_factory_render_summary(&r, &b));
    lqmf_buf_append(&b, "", 1);
    CHECK(strstr((char *)b.data, "Calibration: built-in text") && strstr((char *)b.data, "Warning: GPTQ was calibrated"));
    lqmf_buf_free(&b);
    CHECKF(!strcmp(r.test_verdict, "pass"), "verdict %s", r.test_verdict);
    lqmf_factory_result_free(&r);
}

/* A calibration text file for the factory: the request's calib_path
 * (library) and CALIBRATION_TEXT / --calibration-text (lqmf quantize ...
 * with gptq): named with its token count, no warning above 4096 tokens. */
TEST(hfq_factory_gptq_calibration_file) {
#if defined(__SANITIZE_ADDRESS__)
    SKIP("release build only: two GPTQ runs over 6000 tokens; hfq_factory_gptq_tiny_llama runs the same code");
#endif
    DATA(src, "models/tiny-llama");
    size_t len = 0;
    char *text = kjv_calibration(24000, &len);
    if (!text) SKIP("text/kjv/kjv_verses.txt missing");
    char dir[400], calib[500], request[1024], out[512], db[512];
    snprintf(dir, sizeof dir, "%s", lqmf_test_tmpdir());
    snprintf(calib, sizeof calib, "%s/calib.txt", dir);
    FILE *f = fopen(calib, "wb");
    REQUIRE(f);
    fwrite(text, 1, len, f);
    fclose(f);
    uint64_t want = n_tokens(src, text, len);
    free(text);
    CHECKF(want >= LQMF_FACTORY_CALIB_MIN_TOKENS, "%llu tokens", (unsigned long long)want);
    snprintf(request, sizeof request, "quantize %s with gptq", src);
    snprintf(out, sizeof out, "%s/quantized-models", dir);
    snprintf(db, sizeof db, "%s/e.db", dir);
    lqmf_hw hw;
    lqmf_factory_request rq = cpu_request(request, out, db, &hw);
    rq.calib_path = calib;
    rq.skip_test = true;
    lqmf_factory_result r;
    lqmf_status st = lqmf_factory_run(&rq, &r);
    CHECKF(st == LQMF_OK, "%s: %s", lqmf_status_name(st), r.message);
    REQUIRE(r.outcome == LQMF_FACTORY_SUCCEEDED);
    CHECK_STR(r.calib, calib);
    CHECK_EQ_INT(r.calib_tokens, want);
    char line[700];
    snprintf(line, sizeof line, "GPTQ calibration text: %s\n", calib);
    CHECK(r.plan_text && strstr(r.plan_text, line));
    char *card = NULL;
    size_t clen;
    REQUIRE_OK(lqmf_read_file(r.card, 1 << 20, &card, &clen));
    snprintf(line, sizeof line, "| calibration text | %s, %llu tokens |", calib, (unsigned long long)want);
    CHECK(card && strstr(card, line) && !strstr(card, "Warning"));
    free(card);
    lqmf_factory_result_free(&r);
    /* the command line: the setting from the environment */
    char args[1600], *cout = NULL;
    snprintf(args, sizeof args, "quantize '%s' with gptq --yes --no-test --quantized-models-dir '%s/cli' --db '%s/cli.db'",
             src, dir, dir);
    setenv("CALIBRATION_TEXT", calib, 1);
    int rc = lqmf_test_cli(args, NULL, &cout);
    unsetenv("CALIBRATION_TEXT");
    snprintf(line, sizeof line, "Calibration: %s, %llu tokens", calib, (unsigned long long)want);
    CHECKF(rc == 0 && cout && strstr(cout, line) && !strstr(cout, "Warning"), "rc %d: %s", rc, cout ? cout : "");
    free(cout);
}

TEST(hfq_gptq_bad_checkpoints_named) {
    DATA(src, "models/tiny-llama");
    char q[1024], bad[1024], name[256];
    snprintf(q, sizeof q, "%s/q", lqmf_test_tmpdir());
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(src, &m));
    CHECK_OK(lqmf_hfq_write(m, q, &(lqmf_hfq_opts){.kind = LQMF_HFQ_GPTQ_4BIT, .n_threads = 2}, NULL));
    lqmf_model_close(m);
    m = NULL;
    const char *P = "model.layers.2.mlp.up_proj.";
    /* a g_idx pointing past the groups */
    snprintf(bad, sizeof bad, "%s/g1", lqmf_test_tmpdir());
    snprintf(name, sizeof name, "%sg_idx", P);
    int32_t gidx[256];
    for (int i = 0; i < 256; i++) gidx[i] = i == 7 ? 5 : i / 128;
    tamper(q, bad, name, gidx, sizeof gidx);
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_FORMAT, "model.layers.2.mlp.up_proj.qweight");
    CHECK(strstr(lqmf_last_error(), "g_idx") != NULL);
    /* missing scales */
    snprintf(bad, sizeof bad, "%s/g2", lqmf_test_tmpdir());
    snprintf(name, sizeof name, "%sscales", P);
    tamper(q, bad, name, NULL, 0);
    CHECK_ERR(lqmf_model_open(bad, &m), LQMF_E_NOT_FOUND, "model.layers.2.mlp.up_proj.scales: missing");
    CHECK(m == NULL);
    /* configs this reader does not decode */
    lqmf_hfq_config qc;
    const char *v2 = "{\"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4, \"checkpoint_format\": "
                     "\"gptq_v2\"}}";
    CHECK_ERR(lqmf_hfq_config_parse(v2, strlen(v2), "c.json", &qc), LQMF_E_UNSUPPORTED,
              "checkpoint_format \"gptq_v2\" is not supported");
    const char *b5 = "{\"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 5}}";
    CHECK_ERR(lqmf_hfq_config_parse(b5, strlen(b5), "c.json", &qc), LQMF_E_UNSUPPORTED, "bits is not 2, 3, 4 or 8");
}

/* Streaming: each linear's source pages leave the process once read (the
 * mapped BF16 source of tiny-llama: RssFile grows by the embeddings and
 * norms it copies, not by the 42 linears), the quantized tensors wait in
 * the spill file, and the output decodes as before. */
TEST(hfq_write_releases_source_pages) {
    DATA(src, "models/tiny-llama");
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(src, &m));
    uint64_t linear_bytes = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].n_dims == 2 && strncmp(m->tensors[i].name, "blk.", 4) == 0)
            linear_bytes += m->tensors[i].nbytes;
    char out[512];
    snprintf(out, sizeof out, "%s/nf4", lqmf_test_tmpdir());
    lqmf_hfq_opts o = {.kind = LQMF_HFQ_NF4, .n_threads = 1};
    const uint64_t before = lqmf_test_rss_file();
    CHECK_OK(lqmf_hfq_write(m, out, &o, NULL));
    const uint64_t after = lqmf_test_rss_file(), grown = after > before ? after - before : 0;
    CHECKF(grown < linear_bytes / 2, "RssFile grew by %llu bytes; the linears hold %llu",
           (unsigned long long)grown, (unsigned long long)linear_bytes);
    lqmf_model_close(m);
    lqmf_model *q = NULL;
    CHECK_OK(lqmf_model_open(out, &q)); /* decodes: the layout is checked field by field above */
    lqmf_model_close(q);
}
