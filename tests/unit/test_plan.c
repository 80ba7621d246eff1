/* Memory estimates and plan choice. References: llama.cpp's measured bits
 * per weight (tools/quantize/README.md), hand-counted tensor bytes, and the
 * quality table in docs/quality-table.md. */
#include "../test.h"
#include "lqmf/plan.h"

#include <stdlib.h>

#define GiB (1024.0 * 1024.0 * 1024.0)

static lqmf_hparams llama(uint32_t vocab, uint32_t embd, uint32_t layers, uint32_t heads, uint32_t kv,
                          uint32_t ff, uint32_t ctx) {
    lqmf_hparams hp = {0};
    hp.arch = LQMF_ARCH_LLAMA;
    hp.n_vocab = vocab;
    hp.n_embd = embd;
    hp.n_layer = layers;
    hp.n_head = heads;
    hp.n_head_kv = kv;
    hp.head_dim = embd / heads;
    hp.n_ff = ff;
    hp.n_ctx_train = ctx;
    return hp;
}

static lqmf_model_meta meta_of(lqmf_hparams hp, const char *name) {
    lqmf_model_meta m;
    lqmf_status st = lqmf_plan_meta_from_hparams(&hp, name, &m);
    if (st != LQMF_OK) lqmf_test_fail(__FILE__, __LINE__, "meta: %s", lqmf_last_error());
    return m;
}

static lqmf_model_meta llama2_7b(void) {
    return meta_of(llama(32000, 4096, 32, 32, 32, 11008, 4096), "Llama-2-7B");
}
static lqmf_model_meta mistral_7b(void) {
    return meta_of(llama(32768, 4096, 32, 32, 8, 14336, 32768), "Mistral-7B");
}

static lqmf_estimate est(const lqmf_model_meta *m, const char *scheme, uint32_t ctx, lqmf_device dev) {
    lqmf_estimate e = {0};
    const lqmf_scheme *s = lqmf_plan_scheme_find(scheme);
    if (!s)
        lqmf_test_fail(__FILE__, __LINE__, "no scheme %s", scheme);
    else if (lqmf_plan_estimate(m, s, ctx, dev, &e) != LQMF_OK)
        lqmf_test_fail(__FILE__, __LINE__, "estimate %s: %s", scheme, lqmf_last_error());
    return e;
}

/* llama.cpp measured these on Llama-3.1-8B files made by its current rules. */
TEST(plan_bpw_matches_llamacpp_llama31_8b) {
    lqmf_model_meta m = meta_of(llama(128256, 4096, 32, 32, 8, 14336, 131072), "Llama-3.1-8B");
    CHECK_EQ_INT(m.n_params, 8030261248ull);
    static const struct {
        const char *s;
        double bpw;
    } ref[] = {{"Q2_K", 3.1593},   {"Q3_K_S", 3.6429}, {"Q3_K_L", 4.2979}, {"Q4_K_S", 4.6672},
               {"Q4_K_M", 4.8944}, {"Q5_K_S", 5.5704}, {"Q5_K_M", 5.7036}, {"Q6_K", 6.5633},
               {"Q8_0", 8.5008},   {"F16", 16.0005}};
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        lqmf_estimate e = est(&m, ref[i].s, 0, LQMF_DEVICE_CPU);
        CHECKF(fabs(e.bpw - ref[i].bpw) < 0.0006, "%s: %.4f bpw, llama.cpp %.4f", ref[i].s, e.bpw,
               ref[i].bpw);
    }
}

/* The Llama-2-7B column of the older README (same rules except Q2_K). */
TEST(plan_bpw_matches_llamacpp_llama2_7b) {
    lqmf_model_meta m = llama2_7b();
    static const struct {
        const char *s;
        double bpw;
    } ref[] = {{"Q3_K_S", 3.50}, {"Q3_K_M", 3.91}, {"Q3_K_L", 4.27}, {"Q4_K_S", 4.58},
               {"Q4_K_M", 4.84}, {"Q5_K_S", 5.52}, {"Q5_K_M", 5.68}, {"Q6_K", 6.56}};
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        lqmf_estimate e = est(&m, ref[i].s, 0, LQMF_DEVICE_CPU);
        CHECKF(fabs(e.bpw - ref[i].bpw) < 0.006, "%s: %.4f bpw, llama.cpp %.2f", ref[i].s, e.bpw, ref[i].bpw);
    }
}

/* Q4_K_M of Llama-2-7B counted tensor by tensor: Q4_K = 144 B / 256,
 * Q6_K = 210 B / 256; attn_v and ffn_down in Q6_K in layers 0-3, 28-31 and
 * 6, 9, ..., 27 (16 of 32). */
TEST(plan_estimate_llama2_7b_by_hand) {
    lqmf_model_meta m = llama2_7b();
    const uint64_t q4 = 144, q6 = 210, d = 4096, ff = 11008, v = 32000;
    uint64_t w = v * d / 256 * q4 + v * d / 256 * q6               /* token_embd, output */
                 + 32 * 3 * d * d / 256 * q4                       /* q, k, o */
                 + 16 * d * d / 256 * q6 + 16 * d * d / 256 * q4   /* v */
                 + 32 * 2 * d * ff / 256 * q4                      /* gate, up */
                 + 16 * ff * d / 256 * q6 + 16 * ff * d / 256 * q4 /* down */
                 + (d + 32 * 2 * d) * 4;                           /* norms, f32 */
    lqmf_estimate e = est(&m, "Q4_K_M", 4096, LQMF_DEVICE_GPU);
    CHECK_EQ_INT(e.weight_bytes, w);
    CHECK_EQ_INT(e.kv_bytes, 2ull * 32 * 4096 * 32 * 128 * 2); /* 2 GiB */
    CHECK_EQ_INT(e.kv_bytes, 2147483648ull);
    CHECK_EQ_INT(e.compute_bytes, 4ull * 512 * (32000 + 4 * 4096 + 2 * 11008 + 32 * 4096));
    CHECK_EQ_INT(e.base_bytes, 512ull << 20);
    CHECK_EQ_INT(e.total_bytes, w + e.kv_bytes + e.compute_bytes + e.base_bytes);
    CHECK_EQ_INT(e.n_fallback, 0);
    /* F16: 2 bytes per weight, f32 norms */
    lqmf_estimate f = est(&m, "F16", 4096, LQMF_DEVICE_GPU);
    CHECK_EQ_INT(f.weight_bytes, (m.n_params - (d + 64 * d)) * 2 + (d + 64 * d) * 4);
    /* the context defaults to min(n_ctx_train, 4096) */
    CHECK_EQ_INT(est(&m, "Q4_K_M", 0, LQMF_DEVICE_CPU).n_ctx, 4096);
    CHECK_EQ_INT(est(&m, "Q4_K_M", 0, LQMF_DEVICE_CPU).base_bytes, 128ull << 20);
}

TEST(plan_estimate_mistral_gqa_and_gptq) {
    lqmf_model_meta m = mistral_7b();
    CHECK_EQ_INT(m.n_params, 7248023552ull); /* Mistral-7B-v0.3 (v0.1 + 768 x 4096 x 2) */
    CHECK_EQ_INT(est(&m, "Q4_K_M", 4096, LQMF_DEVICE_GPU).kv_bytes, 2ull * 32 * 4096 * 8 * 128 * 2);
    CHECK_EQ_INT(est(&m, "Q4_K_M", 0, LQMF_DEVICE_GPU).n_ctx, 4096);
    CHECK_EQ_INT(est(&m, "Q4_K_M", 32768, LQMF_DEVICE_GPU).kv_bytes, 4ull << 30);
    /* GPTQ 4-bit g128: per linear {in, out}: in*out/2 B + in/128*out*(2 + 0.5) B + 4*in B;
     * embeddings and output fp16; norms fp16 */
    const uint64_t d = 4096, kv = 1024, ff = 14336, v = 32768;
    uint64_t lin = 0;
    const uint64_t shapes[][2] = {{d, d}, {d, kv}, {d, kv}, {d, d}, {d, ff}, {d, ff}, {ff, d}};
    for (int i = 0; i < 7; i++) {
        uint64_t in = shapes[i][0], out = shapes[i][1];
        lin += in * out / 2 + in / 128 * out * 5 / 2 + 4 * in;
    }
    uint64_t w = 32 * lin + 2 * v * d * 2 + (d + 64 * d) * 2;
    CHECK_EQ_INT(est(&m, "GPTQ-4bit", 4096, LQMF_DEVICE_GPU).weight_bytes, w);
    /* NF4 with double quant: 4.127 bpw on the linear layers (the anchor's figure) */
    lqmf_estimate nf4 = est(&m, "NF4", 4096, LQMF_DEVICE_GPU);
    double lin_params = (double)(m.n_params - 2 * v * d - (d + 64 * d));
    double lin_bpw = ((double)nf4.weight_bytes - (double)(2 * v * d + d + 64 * d) * 2) * 8 / lin_params;
    CHECK_NEAR(lin_bpw, 4.127, 0.001);
}

/* Rows of 320 are no multiple of 256: k-quants fall back to 32-blocks
 * (Q4_K -> Q5_0, Q6_K -> Q8_0) as llama.cpp does; rows of 512 keep theirs. */
TEST(plan_estimate_fallback_types) {
    lqmf_hparams hp = llama(1000, 320, 4, 5, 5, 512, 2048);
    lqmf_model_meta m = meta_of(hp, "odd");
    lqmf_estimate e = est(&m, "Q4_K_M", 0, LQMF_DEVICE_CPU);
    const uint64_t q50 = 22, q80 = 34, q4k = 144, q6k = 210, d = 320, ff = 512;
    /* use_more_bits(i, 4): i < 0 || i >= 3 || (i - 0) % 3 == 2 -> layers 2, 3 */
    uint64_t w = 1000 * d / 32 * q50 + 1000 * d / 32 * q80         /* token_embd Q5_0, output Q8_0 */
                 + 4 * 3 * d * d / 32 * q50                        /* q, k, o */
                 + 2 * d * d / 32 * q80 + 2 * d * d / 32 * q50     /* v */
                 + 4 * 2 * d * ff / 32 * q50                       /* gate, up (rows of 320) */
                 + 2 * ff * d / 256 * q6k + 2 * ff * d / 256 * q4k /* down: rows of 512 */
                 + (d + 4 * 2 * d) * 4;
    CHECK_EQ_INT(e.weight_bytes, w);
    CHECK_EQ_INT(e.n_fallback, 2 + 4 * 3 + 4 + 4 * 2);
}

TEST(plan_meta_from_model_matches_hparams) {
    const lqmf_hparams hps[2] = {llama(64, 32, 2, 4, 2, 96, 128),
                                 {.arch = LQMF_ARCH_GPT2,
                                  .n_vocab = 50,
                                  .n_embd = 32,
                                  .n_layer = 2,
                                  .n_head = 4,
                                  .n_head_kv = 4,
                                  .head_dim = 8,
                                  .n_ff = 128,
                                  .n_ctx_train = 64,
                                  .tied_embeddings = true}};
    for (int k = 0; k < 2; k++) {
        const lqmf_hparams *hp = &hps[k];
        lqmf_model *mdl;
        REQUIRE_OK(lqmf_model_new(hp, &mdl));
        const uint64_t d = hp->n_embd, ff = hp->n_ff, q = hp->n_head * hp->head_dim,
                       kv = hp->n_head_kv * hp->head_dim;
        const struct {
            const char *n;
            uint64_t a, b;
        } llama_t[] = {{"attn_norm.weight", d, 1}, {"attn_q.weight", d, q},      {"attn_k.weight", d, kv},
                       {"attn_v.weight", d, kv},   {"attn_output.weight", q, d}, {"ffn_norm.weight", d, 1},
                       {"ffn_gate.weight", d, ff}, {"ffn_up.weight", d, ff},     {"ffn_down.weight", ff, d}},
          gpt2_t[] = {
              {"attn_norm.weight", d, 1},  {"attn_norm.bias", d, 1},     {"attn_qkv.weight", d, 3 * d},
              {"attn_qkv.bias", 3 * d, 1}, {"attn_output.weight", d, d}, {"attn_output.bias", d, 1},
              {"ffn_norm.weight", d, 1},   {"ffn_norm.bias", d, 1},      {"ffn_up.weight", d, ff},
              {"ffn_up.bias", ff, 1},      {"ffn_down.weight", ff, d},   {"ffn_down.bias", d, 1}};
        uint64_t ne[2] = {d, hp->n_vocab};
        CHECK_OK(lqmf_model_add_tensor(mdl, "token_embd.weight", LQMF_TYPE_F32, 2, ne, NULL, false));
        if (!hp->tied_embeddings)
            CHECK_OK(lqmf_model_add_tensor(mdl, "output.weight", LQMF_TYPE_F32, 2, ne, NULL, false));
        ne[1] = 1;
        CHECK_OK(lqmf_model_add_tensor(mdl, "output_norm.weight", LQMF_TYPE_F32, 1, ne, NULL, false));
        if (k == 1) {
            CHECK_OK(lqmf_model_add_tensor(mdl, "output_norm.bias", LQMF_TYPE_F32, 1, ne, NULL, false));
            ne[1] = hp->n_ctx_train;
            CHECK_OK(lqmf_model_add_tensor(mdl, "position_embd.weight", LQMF_TYPE_F32, 2, ne, NULL, false));
        }
        for (uint32_t l = 0; l < hp->n_layer; l++) {
            size_t n = k == 0 ? 9 : 12;
            for (size_t i = 0; i < n; i++) {
                char name[96];
                uint64_t a = k == 0 ? llama_t[i].a : gpt2_t[i].a, b = k == 0 ? llama_t[i].b : gpt2_t[i].b;
                snprintf(name, sizeof name, "blk.%u.%s", l, k == 0 ? llama_t[i].n : gpt2_t[i].n);
                uint64_t shape[2] = {a, b};
                CHECK_OK(lqmf_model_add_tensor(mdl, name, LQMF_TYPE_F32, b > 1 ? 2 : 1, shape, NULL, false));
            }
        }
        CHECK_OK(lqmf_model_validate(mdl));
        lqmf_model_meta a, b;
        REQUIRE_OK(lqmf_plan_meta_from_model(mdl, &a));
        REQUIRE_OK(lqmf_plan_meta_from_hparams(hp, "x", &b));
        CHECK_EQ_INT(a.n_params, lqmf_model_n_params(mdl));
        CHECK_EQ_INT(b.n_params, lqmf_model_n_params(mdl));
        for (int c = 0; c < LQMF_TC_COUNT; c++)
            CHECK_EQ_INT(lqmf_plan_meta_class_params(&a, (lqmf_tensor_class)c),
                         lqmf_plan_meta_class_params(&b, (lqmf_tensor_class)c));
        for (size_t i = 0; i < lqmf_plan_scheme_count(); i++) {
            lqmf_estimate ea, eb;
            CHECK_OK(lqmf_plan_estimate(&a, lqmf_plan_scheme_at(i), 0, LQMF_DEVICE_GPU, &ea));
            CHECK_OK(lqmf_plan_estimate(&b, lqmf_plan_scheme_at(i), 0, LQMF_DEVICE_GPU, &eb));
            CHECK_EQ_INT(ea.total_bytes, eb.total_bytes);
        }
        lqmf_model_close(mdl);
    }
}

TEST(plan_meta_from_counts_uses_reference_bpw) {
    lqmf_model_meta m;
    REQUIRE_OK(lqmf_plan_meta_from_counts(7000000000ull, 32, 8, 128, 8192, "7B", &m));
    lqmf_estimate e = est(&m, "Q4_K_M", 0, LQMF_DEVICE_CPU);
    CHECK(e.from_reference);
    CHECK_NEAR(e.bpw, 4.84, 0.005);
    CHECK_NEAR((double)e.weight_bytes, 7e9 * e.bpw / 8, 1e-6);
    CHECK_EQ_INT(e.kv_bytes, 2ull * 32 * 4096 * 8 * 128 * 2);
    CHECK_ERR(lqmf_plan_meta_from_counts(7000000000ull, 0, 8, 128, 8192, "bad", &m), LQMF_E_INVALID,
              "n_layer 0");
    CHECK_ERR(lqmf_plan_meta_from_counts(7000000000ull, 32, 0, 128, 8192, "bad", &m), LQMF_E_INVALID,
              "n_head_kv 0");
    lqmf_hparams hp = llama(32000, 4096, 32, 32, 6, 11008, 4096);
    CHECK_ERR(lqmf_plan_meta_from_hparams(&hp, "gqa", &m), LQMF_E_INVALID, "not a multiple of n_head_kv 6");
}

static lqmf_plan plan_for(const lqmf_model_meta *m, lqmf_plan_request rq) {
    lqmf_plan p;
    if (lqmf_plan_make(m, &rq, &p) != LQMF_OK) {
        lqmf_test_fail(__FILE__, __LINE__, "plan: %s", lqmf_last_error());
        memset(&p, 0, sizeof p);
        p.chosen = -1;
    }
    return p;
}

static const char *chosen(const lqmf_plan *p) {
    return p->chosen >= 0 ? p->opts[p->chosen].est.scheme->name : "(refused)";
}

static const lqmf_plan_option *option(const lqmf_plan *p, const char *name) {
    for (size_t i = 0; i < p->n_opts; i++)
        if (strcmp(p->opts[i].est.scheme->name, name) == 0) return &p->opts[i];
    return NULL;
}

TEST(plan_7b_on_8gb_gpu) {
    lqmf_model_meta m = llama2_7b();
    lqmf_plan p = plan_for(&m, (lqmf_plan_request){.device = LQMF_DEVICE_GPU, .device_mem = 8ull << 30});
    CHECK_STR(chosen(&p), "Q4_K_M");
    CHECK_EQ_INT(p.margin, (uint64_t)(0.1 * (8ull << 30)));
    CHECK(option(&p, "Q4_K_M")->fit == LQMF_FIT_OK);
    CHECK(option(&p, "F16")->fit == LQMF_FIT_MEMORY);
    CHECK(option(&p, "Q8_0")->fit == LQMF_FIT_MEMORY);
    CHECK(strstr(p.why, "within 1% of FP16") != NULL);
    /* order: fitting first by dPPL, then misfits by total */
    size_t i = 0;
    for (; i + 1 < p.n_opts && p.opts[i + 1].fit == LQMF_FIT_OK; i++)
        CHECK(p.opts[i].est.scheme->ppl_delta_pct <= p.opts[i + 1].est.scheme->ppl_delta_pct);
    for (i++; i + 1 < p.n_opts; i++) {
        CHECK(p.opts[i].fit != LQMF_FIT_OK);
        CHECK(p.opts[i].est.total_bytes <= p.opts[i + 1].est.total_bytes);
    }
    CHECK_EQ_INT(p.n_opts, 17); /* 20 schemes less the three legacy ones */
    lqmf_buf b;
    lqmf_buf_init(&b);
    CHECK_OK(lqmf_plan_render(&m, &p, &b));
    lqmf_buf_append(&b, "", 1);
    CHECK(strstr((char *)b.data, "kv cache 2 x 32 layers x 4096 ctx x 32 kv heads x 128 head_dim x 2 B") !=
          NULL);
    CHECK(strstr((char *)b.data, "=> Q4_K_M") != NULL);
    CHECK(strstr((char *)b.data, "Choice: Q4_K_M") != NULL);
    lqmf_buf_free(&b);
    lqmf_plan_free(&p);
    /* GPTQ only: the 8-bit variant does not fit, the 4-bit one does */
    m = mistral_7b();
    p = plan_for(&m, (lqmf_plan_request){
                         .device = LQMF_DEVICE_GPU, .device_mem = 8ull << 30, .method = LQMF_METHOD_GPTQ});
    CHECK_STR(chosen(&p), "GPTQ-4bit");
    CHECK_EQ_INT(p.n_opts, 2);
    CHECK(strstr(p.why, "No scheme within 1%") != NULL);
    lqmf_plan_free(&p);
}

TEST(plan_preferences) {
    lqmf_model_meta m = mistral_7b();
    lqmf_plan_request rq = {.device = LQMF_DEVICE_GPU, .device_mem = 8ull << 30};
    static const struct {
        lqmf_pref pref;
        const char *want;
    } cases[] = {{LQMF_PREF_BALANCED, "Q4_K_M"},
                 {LQMF_PREF_QUALITY, "Q6_K"},   /* Q8_0 and the 8-bit formats do not fit */
                 {LQMF_PREF_FASTEST, "Q3_K_M"}, /* fewest bytes within 5 % */
                 {LQMF_PREF_SMALLEST, "Q2_K"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rq.pref = cases[i].pref;
        lqmf_plan p = plan_for(&m, rq);
        CHECKF(strcmp(chosen(&p), cases[i].want) == 0, "%s: chose %s, want %s", lqmf_pref_name(cases[i].pref),
               chosen(&p), cases[i].want);
        lqmf_plan_free(&p);
    }
    /* a small model on a big GPU: best quality is F16; balanced still quantizes */
    lqmf_model_meta tiny = meta_of(llama(32000, 768, 12, 12, 12, 3072, 1024), "tiny");
    rq.pref = LQMF_PREF_QUALITY;
    lqmf_plan p = plan_for(&tiny, rq);
    CHECK_STR(chosen(&p), "F16");
    lqmf_plan_free(&p);
    rq.pref = LQMF_PREF_BALANCED;
    p = plan_for(&tiny, rq);
    CHECK_STR(chosen(&p), "Q4_K_M");
    lqmf_plan_free(&p);
    rq.bits = 8;
    p = plan_for(&tiny, rq);
    CHECK_STR(chosen(&p), "Q8_0");
    CHECK_EQ_INT(p.n_opts, 3); /* Q8_0, GPTQ-8bit, INT8 */
    lqmf_plan_free(&p);
}

TEST(plan_size_budget_picks_or_refuses) {
    lqmf_model_meta m = llama2_7b();
    lqmf_plan p = plan_for(&m, (lqmf_plan_request){.device = LQMF_DEVICE_CPU, .size_budget = 3000000000ull});
    CHECK_STR(chosen(&p), "Q3_K_S"); /* 2.95 GB; Q3_K_M is 3.30 GB */
    CHECK(option(&p, "Q3_K_M")->fit == LQMF_FIT_SIZE);
    CHECK(option(&p, "Q2_K")->fit == LQMF_FIT_OK);
    CHECK(option(&p, "NF4") == NULL); /* GPU-only formats are not offered for a CPU */
    lqmf_plan_free(&p);

    p = plan_for(&m, (lqmf_plan_request){.device = LQMF_DEVICE_CPU, .size_budget = 2000000000ull});
    CHECK_EQ_INT(p.chosen, -1);
    CHECK(strstr(p.why, "smallest candidate, Q2_K, has 2.53 GB of weights, over the 2.00 GB size budget") !=
          NULL);
    CHECK(strstr(p.alternative, "Q2_K, 0.53 GB over the limit") != NULL);
    lqmf_plan_free(&p);
}

TEST(plan_refusal_alternatives) {
    lqmf_model_meta m = llama2_7b();
    /* 4 GiB GPU: even Q2_K needs 5.2 GiB at 4096 tokens, but fits at 1024 */
    lqmf_plan p = plan_for(&m, (lqmf_plan_request){.device = LQMF_DEVICE_GPU, .device_mem = 4ull << 30});
    CHECK_EQ_INT(p.chosen, -1);
    CHECK(strstr(p.why, "Q2_K, needs") != NULL);
    CHECK(strstr(p.alternative, "Q2_K fits with a context of 1024 tokens") != NULL);
    lqmf_plan_free(&p);
    /* bitsandbytes named on a CPU: its schemes are planned, the CUDA runtime said */
    p = plan_for(&m, (lqmf_plan_request){
                         .device = LQMF_DEVICE_CPU, .device_mem = 16ull << 30, .method = LQMF_METHOD_BNB});
    CHECK_EQ_INT(p.n_opts, 2); /* NF4, INT8 */
    CHECK_STR(chosen(&p), "INT8");
    lqmf_buf b;
    lqmf_buf_init(&b);
    CHECK_OK(lqmf_plan_render(&m, &p, &b));
    lqmf_buf_append(&b, "", 1);
    CHECK(b.data && strstr((char *)b.data, "INT8 is meant for a CUDA GPU") != NULL);
    lqmf_buf_free(&b);
    lqmf_plan_free(&p);
    /* ... but never chosen by themselves there */
    p = plan_for(&m, (lqmf_plan_request){.device = LQMF_DEVICE_CPU, .device_mem = 16ull << 30, .bits = 4});
    CHECK(option(&p, "NF4") == NULL && option(&p, "GPTQ-4bit") == NULL);
    lqmf_plan_free(&p);
    /* 7 bits exists in no scheme */
    p = plan_for(&m, (lqmf_plan_request){.device = LQMF_DEVICE_CPU, .bits = 7});
    CHECK(strstr(p.why, "any method at 7 bits") != NULL);
    lqmf_plan_free(&p);
    /* disk: 3 GB free, 13.5 GB to download */
    p = plan_for(&m, (lqmf_plan_request){.device = LQMF_DEVICE_CPU,
                                         .check_disk = true,
                                         .disk_free = 3000000000ull,
                                         .disk_extra = 13500000000ull});
    CHECK_EQ_INT(p.chosen, -1);
    CHECK(p.n_opts && p.opts[0].fit == LQMF_FIT_DISK);
    CHECK(strstr(p.why, "on disk") != NULL);
    lqmf_plan_free(&p);
    /* an explicit run-time budget has no margin */
    p = plan_for(&m, (lqmf_plan_request){.device = LQMF_DEVICE_GPU, .mem_budget = 6ull << 30});
    CHECK_STR(chosen(&p), "Q3_K_M");                     /* 5.96 GiB */
    CHECK(option(&p, "Q3_K_L")->fit == LQMF_FIT_BUDGET); /* 6.23 GiB */
    lqmf_plan_free(&p);
    lqmf_plan_free(NULL);
}

/* docs/quality-table.md and the code table agree row by row. */
TEST(plan_quality_table_matches_docs) {
    char *text = NULL;
    size_t len;
    if (lqmf_read_file("docs/quality-table.md", 1 << 20, &text, &len) != LQMF_OK)
        SKIP("docs/quality-table.md not found (run from the repository root)");
    size_t rows = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[32], method[16];
        unsigned bits;
        double dppl;
        if (sscanf(line, "| %31[^ |] | %15[^ |] | %u | %lf |", name, method, &bits, &dppl) != 4) continue;
        const lqmf_scheme *s = lqmf_plan_scheme_find(name);
        CHECKF(s && strcmp(s->name, name) == 0, "docs row %s has no scheme", name);
        if (!s) continue;
        CHECK_STR(lqmf_method_name(s->method), method);
        CHECK_EQ_INT(s->bits, bits);
        CHECKF(fabs(s->ppl_delta_pct - dppl) < 1e-9, "%s: code %.3f, docs %.3f", name, s->ppl_delta_pct,
               dppl);
        rows++;
    }
    CHECK_EQ_INT(rows, lqmf_plan_scheme_count());
    free(text);
    CHECK(lqmf_plan_scheme_find("q4_k") == lqmf_plan_scheme_find("Q4_K_M"));
    CHECK(lqmf_plan_scheme_find("bf16") == lqmf_plan_scheme_find("F16"));
    CHECK(lqmf_plan_scheme_find("Q7_K") == NULL);
    CHECK(lqmf_plan_scheme_at(lqmf_plan_scheme_count()) == NULL);
}

/* Real files (HF folders, a GGUF written by llama.cpp's converter): the
 * tensors found by name give the same groups as the hyperparameters do. */
TEST(plan_meta_from_opened_models) {
    static const char *const rel[] = { "models/tiny-llama", "models/tiny-gpt2", "models/stories260K/stories260K.gguf" };
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        DATA(path, rel[i]);
        lqmf_model *mdl;
        REQUIRE_OK(lqmf_model_open(path, &mdl));
        lqmf_model_meta a, b;
        CHECK_OK(lqmf_plan_meta_from_model(mdl, &a));
        CHECK_OK(lqmf_plan_meta_from_hparams(&mdl->hp, "hp", &b));
        CHECK_EQ_INT(a.n_params, lqmf_model_n_params(mdl));
        CHECK_EQ_INT(b.n_params, a.n_params);
        CHECK_EQ_INT(lqmf_plan_meta_class_params(&a, LQMF_TC_OTHER), 0); /* every weight classified */
        for (int c = 0; c < LQMF_TC_COUNT; c++)
            CHECKF(lqmf_plan_meta_class_params(&a, (lqmf_tensor_class)c) ==
                       lqmf_plan_meta_class_params(&b, (lqmf_tensor_class)c),
                   "%s: class %s differs", rel[i], lqmf_tensor_class_name((lqmf_tensor_class)c));
        lqmf_model_close(mdl);
    }
}
