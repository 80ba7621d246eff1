/* The inference engine against a float64 reference forward pass written
 * here with plain loops (no cache, no SIMD, every position recomputed), on
 * random tiny models of every architecture variant; kernels against the
 * scalar reference; threads, chunking, rewinding, hooks, sampler and
 * generation; stories260K golden outputs. */
#include "../test.h"
#include "lqmf/engine.h"
#include "lqmf/quant.h"
#include "model/mm.h"

#include <stdlib.h>

/* ---- float64 reference ------------------------------------------------------ */

/* Whole tensor widened to double (malloc'd). */
static double *f64(const lqmf_model *m, const char *name) {
    const lqmf_tensor *t = lqmf_model_tensor(m, name);
    if (!t) return NULL;
    const size_t n = t->ne[0] * t->ne[1];
    double *o = malloc(n * sizeof *o);
    if (lqmf_type_get(t->type)->quantized) { /* the type's own dequantizer */
        float *f = malloc(n * sizeof *f);
        CHECK_OK(lqmf_quant_dequantize(t->type, t->data, f, (int64_t)n));
        for (size_t i = 0; i < n; i++) o[i] = f[i];
        free(f);
        return o;
    }
    for (size_t i = 0; i < n; i++) {
        const uint16_t h = ((const uint16_t *)t->data)[i];
        o[i] = t->type == LQMF_TYPE_F32   ? ((const float *)t->data)[i]
               : t->type == LQMF_TYPE_F16 ? lqmf_fp16_to_f32(h)
                                          : lqmf_bf16_to_f32(h);
    }
    return o;
}

static double *layer_f64(const lqmf_model *m, uint32_t l, const char *suffix) {
    char name[96];
    snprintf(name, sizeof name, "blk.%u.%s", l, suffix);
    return f64(m, name);
}

/* y[o] = sum_i w[o * n_in + i] x[i] (+ b[o]) */
static void matvec(double *y, const double *w, const double *b, const double *x, size_t n_in, size_t n_out) {
    for (size_t o = 0; o < n_out; o++) {
        double s = b ? b[o] : 0;
        for (size_t i = 0; i < n_in; i++) s += w[o * n_in + i] * x[i];
        y[o] = s;
    }
}

static void ref_norm(const lqmf_hparams *hp, double *o, const double *x, const double *w, const double *b) {
    const uint32_t d = hp->n_embd;
    double mean = 0, ms = 0;
    if (hp->arch == LQMF_ARCH_GPT2) {
        for (uint32_t i = 0; i < d; i++) mean += x[i] / d;
    }
    for (uint32_t i = 0; i < d; i++) ms += (x[i] - mean) * (x[i] - mean) / d;
    for (uint32_t i = 0; i < d; i++) o[i] = (x[i] - mean) / sqrt(ms + hp->norm_eps) * w[i] + (b ? b[i] : 0);
}

/* Frequency of pair i after scaling, written from HF's formulas. */
static double ref_freq(const lqmf_hparams *hp, uint32_t i) {
    double f = 1.0 / pow(hp->rope_theta, (2.0 * i) / hp->head_dim);
    if (hp->rope_scaling == LQMF_ROPE_SCALING_LINEAR) return f / hp->rope_factor;
    if (hp->rope_scaling != LQMF_ROPE_SCALING_LLAMA3) return f;
    const double ctx = hp->rope_orig_ctx;
    double wl = 2 * M_PI / f, low_wl = ctx / hp->rope_low_freq_factor;
    double high_wl = ctx / hp->rope_high_freq_factor;
    double scaled = wl > low_wl ? f / hp->rope_factor : f;
    double smooth =
        (ctx / wl - hp->rope_low_freq_factor) / (hp->rope_high_freq_factor - hp->rope_low_freq_factor);
    bool medium = !(wl < high_wl) && !(wl > low_wl);
    return medium ? (1 - smooth) * scaled / hp->rope_factor + smooth * scaled : scaled;
}

static void ref_rope(const lqmf_hparams *hp, double *v, uint32_t n_heads, uint32_t pos) {
    const uint32_t hd = hp->head_dim;
    for (uint32_t h = 0; h < n_heads; h++) {
        double *x = v + h * hd, tmp[256];
        for (uint32_t i = 0; i < hd; i++) tmp[i] = x[i];
        for (uint32_t i = 0; i < hd / 2; i++) {
            double a = pos * ref_freq(hp, i), c = cos(a), s = sin(a);
            uint32_t i0 = hp->rope_layout == LQMF_ROPE_NEOX ? i : 2 * i;
            uint32_t i1 = hp->rope_layout == LQMF_ROPE_NEOX ? i + hd / 2 : 2 * i + 1;
            x[i0] = tmp[i0] * c - tmp[i1] * s;
            x[i1] = tmp[i1] * c + tmp[i0] * s;
        }
    }
}

/* logits (T, n_vocab) of tokens[0..T-1] at positions 0..T-1. */
static void ref_forward(const lqmf_model *m, const int32_t *tok, uint32_t T, double *logits) {
    const lqmf_hparams *hp = &m->hp;
    const bool gpt2 = hp->arch == LQMF_ARCH_GPT2;
    const size_t d = hp->n_embd, hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv;
    const size_t qd = nh * hd, kvd = nkv * hd, ff = hp->n_ff, V = hp->n_vocab;
    double *x = calloc(T * d, sizeof *x), *xn = calloc(d, sizeof *xn);
    double *q = calloc(T * qd, sizeof *q), *k = calloc(T * kvd, sizeof *k), *v = calloc(T * kvd, sizeof *v);
    double *att = calloc(T * qd, sizeof *att), *tmp = calloc(3 * d + qd + ff, sizeof *tmp);
    double *h1 = calloc(ff, sizeof *h1), *h2 = calloc(ff, sizeof *h2), *sc = calloc(T, sizeof *sc);
    double *emb = f64(m, "token_embd.weight"), *pe = gpt2 ? f64(m, "position_embd.weight") : NULL;
    for (uint32_t t = 0; t < T; t++)
        for (size_t i = 0; i < d; i++) x[t * d + i] = emb[tok[t] * d + i] + (pe ? pe[t * d + i] : 0);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        double *an = layer_f64(m, l, "attn_norm.weight"), *anb = layer_f64(m, l, "attn_norm.bias");
        double *fn = layer_f64(m, l, "ffn_norm.weight"), *fnb = layer_f64(m, l, "ffn_norm.bias");
        double *wo = layer_f64(m, l, "attn_output.weight"), *bo = layer_f64(m, l, "attn_output.bias");
        double *wu = layer_f64(m, l, "ffn_up.weight"), *bu = layer_f64(m, l, "ffn_up.bias");
        double *wd = layer_f64(m, l, "ffn_down.weight"), *bd = layer_f64(m, l, "ffn_down.bias");
        double *wg = layer_f64(m, l, "ffn_gate.weight");
        for (uint32_t t = 0; t < T; t++) {
            ref_norm(hp, xn, x + t * d, an, anb);
            if (gpt2) {
                double *w = layer_f64(m, l, "attn_qkv.weight"), *b = layer_f64(m, l, "attn_qkv.bias");
                matvec(tmp, w, b, xn, d, 3 * d);
                memcpy(q + t * qd, tmp, d * sizeof *tmp);
                memcpy(k + t * kvd, tmp + d, d * sizeof *tmp);
                memcpy(v + t * kvd, tmp + 2 * d, d * sizeof *tmp);
                free(w), free(b);
            } else {
                double *wq = layer_f64(m, l, "attn_q.weight"), *bq = layer_f64(m, l, "attn_q.bias");
                double *wk = layer_f64(m, l, "attn_k.weight"), *bk = layer_f64(m, l, "attn_k.bias");
                double *wv = layer_f64(m, l, "attn_v.weight"), *bv = layer_f64(m, l, "attn_v.bias");
                matvec(q + t * qd, wq, bq, xn, d, qd);
                matvec(k + t * kvd, wk, bk, xn, d, kvd);
                matvec(v + t * kvd, wv, bv, xn, d, kvd);
                ref_rope(hp, q + t * qd, (uint32_t)nh, t);
                ref_rope(hp, k + t * kvd, (uint32_t)nkv, t);
                free(wq), free(bq), free(wk), free(bk), free(wv), free(bv);
            }
        }
        for (uint32_t t = 0; t < T; t++) {
            for (size_t h = 0; h < nh; h++) {
                const size_t kh = h / (nh / nkv);
                double mx = -INFINITY, sum = 0;
                for (uint32_t j = 0; j <= t; j++) {
                    bool visible = !hp->sliding_window || t - j < hp->sliding_window;
                    double s = 0;
                    for (size_t i = 0; i < hd; i++) s += q[t * qd + h * hd + i] * k[j * kvd + kh * hd + i];
                    sc[j] = visible ? s / sqrt((double)hd) : -INFINITY;
                    if (sc[j] > mx) mx = sc[j];
                }
                for (uint32_t j = 0; j <= t; j++) sum += sc[j] = exp(sc[j] - mx);
                for (size_t i = 0; i < hd; i++) {
                    double o = 0;
                    for (uint32_t j = 0; j <= t; j++) o += sc[j] / sum * v[j * kvd + kh * hd + i];
                    att[t * qd + h * hd + i] = o;
                }
            }
        }
        for (uint32_t t = 0; t < T; t++) {
            matvec(tmp, wo, bo, att + t * qd, qd, d);
            for (size_t i = 0; i < d; i++) x[t * d + i] += tmp[i];
            ref_norm(hp, xn, x + t * d, fn, fnb);
            matvec(h1, wu, bu, xn, d, ff);
            if (gpt2) {
                for (size_t i = 0; i < ff; i++) {
                    double a = h1[i];
                    h1[i] = 0.5 * a * (1 + tanh(sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
                }
            } else {
                matvec(h2, wg, NULL, xn, d, ff);
                for (size_t i = 0; i < ff; i++) h1[i] *= h2[i] / (1 + exp(-h2[i]));
            }
            matvec(tmp, wd, bd, h1, ff, d);
            for (size_t i = 0; i < d; i++) x[t * d + i] += tmp[i];
        }
        free(an), free(anb), free(fn), free(fnb), free(wo), free(bo), free(wu), free(bu);
        free(wd), free(bd), free(wg);
    }
    double *on = f64(m, "output_norm.weight"), *onb = f64(m, "output_norm.bias");
    double *out = hp->tied_embeddings ? NULL : f64(m, "output.weight");
    for (uint32_t t = 0; t < T; t++) {
        ref_norm(hp, xn, x + t * d, on, onb);
        matvec(logits + t * V, out ? out : emb, NULL, xn, d, V);
    }
    free(on), free(onb), free(out), free(emb), free(pe);
    free(x), free(xn), free(q), free(k), free(v), free(att), free(tmp), free(h1), free(h2), free(sc);
}

/* ---- helpers ------------------------------------------------------------------ */

static lqmf_hparams base_hp(lqmf_arch arch) {
    lqmf_hparams hp = {0};
    hp.arch = arch;
    hp.n_vocab = 61;
    hp.n_ctx_train = 32;
    hp.n_embd = 32;
    hp.n_layer = 2;
    hp.n_head = 4;
    hp.n_head_kv = 4;
    hp.head_dim = 8;
    hp.n_ff = 48;
    hp.norm_eps = 1e-5f;
    hp.rope_theta = 10000;
    hp.bos_id = 1;
    hp.eos_id = -1;
    return hp;
}

/* Largest |a - b| / max(1, max |b|) over a row of n. */
static double row_err(const float *a, const double *b, size_t n) {
    double mx = 1, err = 0;
    for (size_t i = 0; i < n; i++) mx = fabs(b[i]) > mx ? fabs(b[i]) : mx;
    for (size_t i = 0; i < n; i++) err = fabs(a[i] - b[i]) > err ? fabs(a[i] - b[i]) : err;
    return err / mx;
}

#define T_SEQ 11

/* The scalar kernels, then those of each ISA (NULL where unavailable). */
enum { N_KERNELS = 4 };
static void all_kernels(const lqmf_mm_kernels *ks[N_KERNELS]) {
    ks[0] = lqmf_mm_kernels_ref();
    ks[1] = lqmf_mm_kernels_avx2();
    ks[2] = lqmf_mm_kernels_avx512();
    ks[3] = lqmf_mm_kernels_neon();
}

static void fill_tokens(int32_t *tok, uint32_t n, uint32_t n_vocab, uint32_t seed) {
    for (uint32_t i = 0; i < n; i++) tok[i] = (int32_t)((i * 7919u + seed * 104729u + 3) % n_vocab);
}

/* The engine's logits, three ways (one batch, chunks of 3, one token at a
 * time), on both kernel sets, against the float64 reference. */
static void check_variant(const char *what, const lqmf_hparams *hp, lqmf_type type) {
    lqmf_model *m;
    REQUIRE_OK(lqmf_engine_random_model(hp, type, 42, &m));
    const uint32_t V = hp->n_vocab;
    int32_t tok[T_SEQ];
    fill_tokens(tok, T_SEQ, V, 1);
    double *ref = malloc(T_SEQ * V * sizeof *ref);
    float *lg = malloc(T_SEQ * V * sizeof *lg);
    ref_forward(m, tok, T_SEQ, ref);
    const lqmf_mm_kernels *ks[N_KERNELS];
    all_kernels(ks);
    for (int ki = 0; ki < N_KERNELS; ki++) {
        if (!ks[ki]) continue;
        for (int way = 0; way < 3; way++) {
            lqmf_engine_params p = {.n_ctx = 16, .n_threads = 2, .n_batch = way == 1 ? 3 : 32};
            lqmf_engine *e;
            REQUIRE_OK(lqmf_engine_new(m, &p, &e));
            lqmf_engine_use_kernels(e, ks[ki]);
            if (way < 2) {
                CHECK_OK(lqmf_engine_eval(e, tok, T_SEQ, 0, LQMF_LOGITS_ALL, lg));
            } else {
                for (uint32_t t = 0; t < T_SEQ; t++)
                    CHECK_OK(lqmf_engine_eval(e, tok + t, 1, t, LQMF_LOGITS_LAST, lg + t * V));
            }
            double worst = 0;
            for (uint32_t t = 0; t < T_SEQ; t++) {
                double err = row_err(lg + t * V, ref + t * V, V);
                worst = err > worst ? err : worst;
            }
            if (getenv("LQMF_TEST_VERBOSE"))
                printf("    %s %s %s way %d: %.3g\n", what, lqmf_type_name(type), ks[ki]->isa, way, worst);
            CHECKF(worst < 1e-5, "%s %s (%s, way %d): logits off by %.3g relative", what,
                   lqmf_type_name(type), ks[ki]->isa, way, worst);
            CHECK_EQ_INT(lqmf_engine_n_past(e), T_SEQ);
            lqmf_engine_free(e);
        }
    }
    free(ref);
    free(lg);
    lqmf_model_close(m);
}

TEST(engine_ref_llama_plain) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    check_variant("llama", &hp, LQMF_TYPE_F32);
}

TEST(engine_ref_llama_gqa_neox_bias_tied) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    hp.n_head_kv = 2;
    hp.rope_layout = LQMF_ROPE_NEOX;
    hp.qkv_bias = true;
    hp.tied_embeddings = true;
    check_variant("qwen2-like", &hp, LQMF_TYPE_F16);
}

TEST(engine_ref_llama3_scaling) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    hp.n_head = 2, hp.n_head_kv = 1, hp.head_dim = 32;
    hp.rope_theta = 500000;
    hp.rope_scaling = LQMF_ROPE_SCALING_LLAMA3;
    hp.rope_factor = 8, hp.rope_low_freq_factor = 1, hp.rope_high_freq_factor = 4, hp.rope_orig_ctx = 64;
    /* wavelengths 6.3, 14, 32, 74, ... positions: kept (< 16), blended (16..64), scaled (> 64) */
    check_variant("llama3", &hp, LQMF_TYPE_BF16);
}

TEST(engine_ref_mistral_window_linear_odd_dims) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    hp.n_embd = 36, hp.n_head = 6, hp.n_head_kv = 3, hp.head_dim = 6, hp.n_ff = 44;
    hp.sliding_window = 4;
    hp.rope_scaling = LQMF_ROPE_SCALING_LINEAR;
    hp.rope_factor = 2;
    check_variant("mistral", &hp, LQMF_TYPE_F32);
}

TEST(engine_ref_llama_wide_heads) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    hp.n_head = 4, hp.n_head_kv = 2, hp.head_dim = 12; /* q_dim 48 != n_embd 32 */
    hp.n_ff = 72;
    check_variant("llama head_dim 12", &hp, LQMF_TYPE_F16);
}

TEST(engine_ref_gpt2) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_GPT2);
    hp.tied_embeddings = true;
    hp.n_ff = 128;
    check_variant("gpt2 tied", &hp, LQMF_TYPE_F32);
    hp.tied_embeddings = false;
    hp.n_embd = 40, hp.n_head = hp.n_head_kv = 5, hp.head_dim = 8, hp.n_ff = 100;
    check_variant("gpt2 untied", &hp, LQMF_TYPE_BF16);
}

/* Quantized weights (embedding and matmuls; norms stay F32): the activations
 * are quantized too (Q8_0 / Q8_K), so the logits match the reference over
 * the dequantized weights to about 1%; the ref path and those of every ISA
 * the CPU has (quantized tiles for the batches of 4 and 2 tokens) agree closely. */
TEST(engine_ref_quantized) {
    const lqmf_type types[] = {LQMF_TYPE_Q8_0, LQMF_TYPE_Q4_0, LQMF_TYPE_Q4_K, LQMF_TYPE_Q6_K,
                               LQMF_TYPE_Q2_K};
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    hp.n_embd = 256, hp.n_head = 4, hp.n_head_kv = 2, hp.head_dim = 64, hp.n_ff = 512, hp.n_vocab = 300;
    enum { T = 6 };
    int32_t tok[T];
    fill_tokens(tok, T, hp.n_vocab, 5);
    const size_t V = hp.n_vocab;
    double *ref = malloc(T * V * sizeof *ref);
    float *lg[N_KERNELS];
    for (int ki = 0; ki < N_KERNELS; ki++) lg[ki] = malloc(T * V * sizeof(float));
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        if (!lqmf_quant_traits_get(types[ti])) continue;
        lqmf_model *m;
        REQUIRE_OK(lqmf_engine_random_model(&hp, types[ti], 8, &m));
        ref_forward(m, tok, T, ref);
        const lqmf_mm_kernels *ks[N_KERNELS];
        all_kernels(ks);
        for (int ki = 0; ki < N_KERNELS; ki++) {
            if (!ks[ki]) continue;
            lqmf_engine *e;
            REQUIRE_OK(
                lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 8, .n_threads = 2, .n_batch = 4}, &e));
            lqmf_engine_use_kernels(e, ks[ki]);
            CHECK_OK(lqmf_engine_eval(e, tok, T, 0, LQMF_LOGITS_ALL, lg[ki]));
            double worst = 0;
            for (size_t t = 0; t < T; t++) worst = fmax(worst, row_err(lg[ki] + t * V, ref + t * V, V));
            if (getenv("LQMF_TEST_VERBOSE"))
                printf("    %s %s %.3g\n", lqmf_type_name(types[ti]), ks[ki]->isa, worst);
            CHECKF(worst < 2e-2, "%s (%s): logits off by %.3g relative", lqmf_type_name(types[ti]),
                   ks[ki]->isa, worst);
            lqmf_engine_free(e);
        }
        for (int ki = 1; ki < N_KERNELS; ki++) {
            if (!ks[ki]) continue;
            double diff = 0;
            for (size_t i = 0; i < T * V; i++) { /* not fmax: GCC 12 for AArch64 fails on that reduction */
                const double d = fabs(lg[0][i] - lg[ki][i]);
                diff = d > diff ? d : diff;
            }
            CHECKF(diff < 1e-3, "%s: ref and %s paths differ by %.3g", lqmf_type_name(types[ti]), ks[ki]->isa,
                   diff);
        }
        lqmf_model_close(m);
    }
    free(ref);
    for (int ki = 0; ki < N_KERNELS; ki++) free(lg[ki]);
}

/* ---- kernels --------------------------------------------------------------------- */

/* Every tile shape and length (SIMD body and scalar tail) of one ISA's
 * kernels against the scalar reference; entries outside the tile stay
 * untouched. */
static void check_kernels(const lqmf_mm_kernels *simd) {
    const lqmf_mm_kernels *ref = lqmf_mm_kernels_ref();
    enum { N = 133, OS = 5 };
    float w32[3 * N], x[4 * N];
    uint16_t w16[3 * N], wb16[3 * N];
    uint64_t r = 7;
    for (int i = 0; i < 4 * N; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((int)(r >> 40) % 2001 - 1000) / 1000.0f;
        if (i < 3 * N) {
            w32[i] = x[i] * 0.7f + 0.1f;
            w16[i] = lqmf_f32_to_fp16(w32[i]);
            wb16[i] = lqmf_f32_to_bf16(w32[i]);
        }
    }
    const void *ws[3] = {w32, w16, wb16};
    const lqmf_type ts[3] = {LQMF_TYPE_F32, LQMF_TYPE_F16, LQMF_TYPE_BF16};
    for (int ti = 0; ti < 3; ti++)
        for (size_t n = 0; n <= N; n += n < 40 ? 1 : 31)
            for (uint32_t nr = 1; nr <= LQMF_DOT_NR; nr++)
                for (uint32_t nx = 1; nx <= LQMF_DOT_NX; nx++) {
                    float a[4 * OS], b[4 * OS];
                    for (int i = 0; i < 4 * OS; i++) a[i] = b[i] = NAN;
                    const size_t rb = N * (ti ? 2 : 4);
                    ref->dot[ts[ti]](n, ws[ti], rb, nr, x, N, nx, a, OS);
                    simd->dot[ts[ti]](n, ws[ti], rb, nr, x, N, nx, b, OS);
                    for (uint32_t j = 0; j < 4; j++)
                        for (uint32_t k = 0; k < OS; k++) {
                            float u = a[j * OS + k], v = b[j * OS + k];
                            if (j >= nx || k >= nr)
                                CHECK(isnan(u) && isnan(v));
                            else
                                CHECKF(fabsf(u - v) <= 1e-5f * (1 + (float)n),
                                       "%s n %zu tile %ux%u (%u, %u): ref %.9g %s %.9g",
                                       lqmf_type_name(ts[ti]), n, nr, nx, k, j, u, simd->isa, v);
                        }
                }
    for (size_t n = 0; n < 40; n++) {
        float y1[40], y2[40];
        for (size_t i = 0; i < 40; i++) y1[i] = y2[i] = x[i + 40];
        ref->axpy(n, 0.37f, x, y1);
        simd->axpy(n, 0.37f, x, y2);
        for (size_t i = 0; i < 40; i++) CHECK(fabsf(y1[i] - y2[i]) <= 1e-6f);
    }
}

TEST(engine_kernels_avx2_vs_ref) {
    const lqmf_mm_kernels *k = lqmf_mm_kernels_avx2();
    if (!k) SKIP("CPU without AVX2/FMA/F16C");
    check_kernels(k);
}

TEST(engine_kernels_neon_vs_ref) {
    const lqmf_mm_kernels *k = lqmf_mm_kernels_neon();
    if (!k) SKIP("not an AArch64 build");
    check_kernels(k);
    const char *env = getenv("LQMF_ISA"); /* the default there, as for the quantization kernels */
    if (!env || strcmp(env, "neon") == 0) CHECK(lqmf_mm_kernels_get() == k && lqmf_kernel_isa() == LQMF_ISA_NEON);
}

/* ---- engine behaviour ------------------------------------------------------------ */

/* A model big enough for the pool to split matmuls and attention (small
 * products run on the caller): 4 threads give the bits of 1 thread, and
 * both match the reference. */
TEST(engine_threads_bitwise_equal) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    hp.n_embd = 128, hp.n_head = 8, hp.n_head_kv = 4, hp.head_dim = 16, hp.n_ff = 320, hp.n_vocab = 300;
    lqmf_model *m;
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F16, 3, &m));
    enum { T = 24 };
    int32_t tok[T];
    fill_tokens(tok, T, hp.n_vocab, 2);
    const size_t V = hp.n_vocab;
    float *a = malloc(T * V * sizeof *a), *b = malloc(T * V * sizeof *b);
    double *ref = malloc(T * V * sizeof *ref);
    lqmf_engine *e1, *e4;
    REQUIRE_OK(lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 32, .n_threads = 1}, &e1));
    REQUIRE_OK(lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 32, .n_threads = 4}, &e4));
    CHECK_OK(lqmf_engine_eval(e1, tok, T, 0, LQMF_LOGITS_ALL, a));
    CHECK_OK(lqmf_engine_eval(e4, tok, T, 0, LQMF_LOGITS_ALL, b));
    CHECK(memcmp(a, b, T * V * sizeof *a) == 0);
    ref_forward(m, tok, T, ref);
    for (size_t t = 0; t < T; t++) CHECK(row_err(b + t * V, ref + t * V, V) < 1e-5);
    lqmf_engine_info info;
    lqmf_engine_get_info(e4, &info);
    CHECK_EQ_INT(info.n_threads, 4);
    CHECK_EQ_INT(info.kv_bytes, 2 * 2 * 32 * 64 * 4);
    lqmf_engine_free(e1);
    lqmf_engine_free(e4);
    free(a);
    free(b);
    free(ref);
    lqmf_model_close(m);
}

/* Rewinding to an earlier position and continuing with other tokens gives
 * the logits of the edited sequence. */
TEST(engine_rewind) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_GPT2);
    hp.n_ff = 64;
    lqmf_model *m;
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 5, &m));
    const uint32_t V = hp.n_vocab;
    int32_t tok[T_SEQ], edited[T_SEQ];
    fill_tokens(tok, T_SEQ, V, 3);
    fill_tokens(edited, T_SEQ, V, 4);
    memcpy(edited, tok, 6 * sizeof *tok);
    lqmf_engine *e;
    REQUIRE_OK(lqmf_engine_new(m, NULL, &e));
    float *lg = malloc(V * sizeof *lg);
    double *ref = malloc(T_SEQ * V * sizeof *ref);
    CHECK_OK(lqmf_engine_eval(e, tok, T_SEQ, 0, LQMF_LOGITS_NONE, NULL));
    CHECK_OK(lqmf_engine_eval(e, edited + 6, T_SEQ - 6, 6, LQMF_LOGITS_LAST, lg));
    ref_forward(m, edited, T_SEQ, ref);
    CHECK(row_err(lg, ref + (T_SEQ - 1) * V, V) < 1e-4);
    lqmf_engine_truncate(e, 20);
    CHECK_EQ_INT(lqmf_engine_n_past(e), T_SEQ);
    lqmf_engine_truncate(e, 3);
    CHECK_EQ_INT(lqmf_engine_n_past(e), 3);
    lqmf_engine_reset(e);
    CHECK_EQ_INT(lqmf_engine_n_past(e), 0);
    free(lg);
    free(ref);
    lqmf_engine_free(e);
    lqmf_model_close(m);
}

TEST(engine_errors) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    lqmf_model *m;
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 1, &m));
    lqmf_engine *e;
    REQUIRE_OK(lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 8, .n_threads = 1}, &e));
    float lg[61];
    int32_t tok[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_ERR(lqmf_engine_eval(e, (int32_t[]){61}, 1, 0, LQMF_LOGITS_LAST, lg), LQMF_E_INVALID,
              "token 61 at index 0 is outside the vocabulary of 61");
    CHECK_ERR(lqmf_engine_eval(e, tok, 1, 1, LQMF_LOGITS_LAST, lg), LQMF_E_INVALID,
              "position 1 is past the 0 cached tokens");
    CHECK_ERR(lqmf_engine_eval(e, tok, 9, 0, LQMF_LOGITS_NONE, NULL), LQMF_E_INVALID,
              "9 tokens at position 0 overflow the context of 8");
    CHECK_ERR(lqmf_engine_eval(e, tok, 2, 0, LQMF_LOGITS_LAST, NULL), LQMF_E_INVALID, "without a buffer");
    lqmf_engine_free(e);
    lqmf_engine_free(NULL);
    lqmf_model_close(m);

    /* an I16 weight has no kernel; a missing tensor fails validation */
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 1, &m));
    lqmf_tensor *t = (lqmf_tensor *)lqmf_model_tensor(m, "blk.1.ffn_up.weight");
    t->type = LQMF_TYPE_I16; /* data is big enough: f32 */
    CHECK_ERR(lqmf_engine_new(m, NULL, &e), LQMF_E_UNSUPPORTED,
              "tensor blk.1.ffn_up.weight: type I16 has no matmul kernel");
    strcpy(t->name, "blk.1.ffn_upx.weight");
    CHECK_ERR(lqmf_engine_new(m, NULL, &e), LQMF_E_FORMAT, "missing tensor(s): blk.1.ffn_up.weight");
    lqmf_model_close(m);

    hp.arch = LQMF_ARCH_GPT2;
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 1, &m));
    CHECK_ERR(lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 33}, &e), LQMF_E_INVALID,
              "context 33 exceeds the 32 learned positions");
    lqmf_model_close(m);
    CHECK_ERR(lqmf_engine_random_model(&hp, LQMF_TYPE_I16, 1, &m), LQMF_E_UNSUPPORTED,
              "I16 has no quantizer");
}

/* ---- hooks --------------------------------------------------------------------- */

typedef struct {
    int calls, q_calls;
    bool q_ok, chain_ok;
    const lqmf_model *m;
    float last_out[32 * 4];
    uint32_t last_n;
} hook_rec;

static void on_act(void *user, int32_t layer, const char *name, const float *x, uint32_t n, uint32_t dim) {
    hook_rec *r = user;
    r->calls++;
    if (layer == 0 && strcmp(name, "blk.0.attn_q.weight") == 0) {
        /* the input of q in layer 0 is the RMS-normed embedding */
        r->q_calls++;
        double *emb = f64(r->m, "token_embd.weight"), *w = f64(r->m, "blk.0.attn_norm.weight");
        double xn[32];
        ref_norm(&r->m->hp, xn, emb + 5 * dim, w, NULL);
        r->q_ok = dim == 32 && n == 4;
        for (uint32_t i = 0; i < dim && r->q_ok; i++) r->q_ok = fabs(x[i] - xn[i]) < 1e-5;
        free(emb);
        free(w);
    }
    if (strcmp(name, "blk.1.out") == 0) {
        memcpy(r->last_out, x, n * dim * sizeof *x);
        r->last_n = n;
    }
    if (layer == -1) r->chain_ok = strcmp(name, "output.weight") == 0 && n == 1 && dim == 32;
}

TEST(engine_hooks) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    lqmf_model *m;
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 9, &m));
    lqmf_engine *e;
    REQUIRE_OK(lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 8, .n_threads = 2}, &e));
    hook_rec r = {.m = m};
    lqmf_engine_set_hook(e, on_act, &r);
    float lg[61];
    CHECK_OK(lqmf_engine_eval(e, (int32_t[]){5, 6, 7, 8}, 4, 0, LQMF_LOGITS_LAST, lg));
    /* per layer: q k v o gate up down + out; then output */
    CHECK_EQ_INT(r.calls, 2 * 8 + 1);
    CHECK_EQ_INT(r.q_calls, 1);
    CHECK(r.q_ok);
    CHECK(r.chain_ok);
    /* the last layer's output, normed and projected, gives the logits */
    double *on = f64(m, "output_norm.weight"), *out = f64(m, "output.weight"), xn[32], xd[32], ref[61];
    for (int i = 0; i < 32; i++) xd[i] = r.last_out[3 * 32 + i];
    ref_norm(&hp, xn, xd, on, NULL);
    matvec(ref, out, NULL, xn, 32, 61);
    CHECK(r.last_n == 4 && row_err(lg, ref, 61) < 1e-5);
    lqmf_engine_set_hook(e, NULL, NULL);
    r.calls = 0;
    CHECK_OK(lqmf_engine_eval(e, (int32_t[]){5}, 1, 0, LQMF_LOGITS_LAST, lg));
    CHECK_EQ_INT(r.calls, 0);
    free(on);
    free(out);
    lqmf_engine_free(e);
    lqmf_model_close(m);
}

/* ---- sampler --------------------------------------------------------------------- */

static void freqs(lqmf_sampler_params p, const float *logits, uint32_t n, int draws, double *f) {
    lqmf_sampler *s;
    if (lqmf_sampler_new(&p, n, &s) != LQMF_OK) return;
    for (uint32_t i = 0; i < n; i++) f[i] = 0;
    for (int i = 0; i < draws; i++) f[lqmf_sampler_sample(s, logits)] += 1.0 / draws;
    lqmf_sampler_free(s);
}

TEST(engine_sampler_filters) {
    const float lg[4] = {logf(0.1f), logf(0.2f), logf(0.3f), logf(0.4f)};
    lqmf_sampler_params p = {.temperature = 1, .top_p = 1, .repeat_penalty = 1, .seed = 11};
    double f[4];
    freqs(p, lg, 4, 40000, f);
    for (int i = 0; i < 4; i++) CHECK_NEAR(f[i], 0.1 * (i + 1), 0.01);
    lqmf_sampler_params q = p;
    q.top_k = 2;
    freqs(q, lg, 4, 20000, f);
    CHECK(f[0] == 0 && f[1] == 0);
    CHECK_NEAR(f[3], 4.0 / 7, 0.015);
    q = p;
    q.top_p = 0.5f; /* 0.4 alone is not enough, 0.4 + 0.3 is */
    freqs(q, lg, 4, 20000, f);
    CHECK(f[0] == 0 && f[1] == 0);
    CHECK_NEAR(f[2], 3.0 / 7, 0.015);
    q = p;
    q.min_p = 0.6f; /* keeps p >= 0.24 */
    freqs(q, lg, 4, 20000, f);
    CHECK(f[0] == 0 && f[1] == 0 && f[2] > 0.35);
    q = p;
    q.top_p = 0, q.min_p = 2; /* degenerate filters keep the best token */
    freqs(q, lg, 4, 100, f);
    CHECK_NEAR(f[3], 1, 1e-9);
    q = p;
    q.temperature = 0.25f; /* p ~ p^4: 0.4^4 / (0.4^4 + 0.3^4 + ...) */
    freqs(q, lg, 4, 20000, f);
    CHECK_NEAR(f[3], 256.0 / (256 + 81 + 16 + 1), 0.015);
}

TEST(engine_sampler_top_k_large_vocab) {
    enum { V = 5000 };
    float *lg = malloc(V * sizeof *lg);
    for (int i = 0; i < V; i++) lg[i] = (float)((i * 2654435761u) % 100003) / 1000.0f;
    /* the 7 largest logits, found by a plain scan */
    int top[7];
    for (int k = 0; k < 7; k++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            bool used = false;
            for (int j = 0; j < k; j++) used |= top[j] == i;
            if (!used && (best < 0 || lg[i] > lg[best])) best = i;
        }
        top[k] = best;
    }
    lqmf_sampler_params p = {.temperature = 1000, .top_k = 7, .top_p = 1, .repeat_penalty = 1, .seed = 3};
    lqmf_sampler *s;
    REQUIRE_OK(lqmf_sampler_new(&p, V, &s));
    int hits[7] = {0};
    for (int i = 0; i < 3000; i++) {
        int32_t t = lqmf_sampler_sample(s, lg);
        int k = 0;
        while (k < 7 && top[k] != t) k++;
        REQUIRE(k < 7);
        hits[k]++;
    }
    for (int k = 0; k < 7; k++) CHECK(hits[k] > 300); /* near uniform at this temperature */
    lqmf_sampler_free(s);
    free(lg);
}

TEST(engine_sampler_greedy_penalty_seed) {
    lqmf_sampler_params p = {.temperature = 0, .top_p = 1, .repeat_penalty = 2, .repeat_last_n = 2};
    lqmf_sampler *s;
    REQUIRE_OK(lqmf_sampler_new(&p, 4, &s));
    const float lg[4] = {2.0f, 1.9f, -1.0f, 1.9f};
    CHECK_EQ_INT(lqmf_sampler_sample(s, lg), 0);
    lqmf_sampler_accept(s, 0); /* 2.0 -> 1.0: the tie 1.9/1.9 goes to the smaller id */
    CHECK_EQ_INT(lqmf_sampler_sample(s, lg), 1);
    lqmf_sampler_accept(s, 1);
    lqmf_sampler_accept(s, 1); /* history of 2: token 0 drops out */
    CHECK_EQ_INT(lqmf_sampler_sample(s, lg), 0);
    lqmf_sampler_free(s);
    const float neg[2] = {-1.0f, -1.5f};
    REQUIRE_OK(lqmf_sampler_new(&p, 2, &s));
    lqmf_sampler_accept(s, 0); /* -1 -> -2 */
    CHECK_EQ_INT(lqmf_sampler_sample(s, neg), 1);
    lqmf_sampler_free(s);

    lqmf_sampler_params_default(&p);
    p.seed = 99;
    REQUIRE_OK(lqmf_sampler_new(&p, 4, &s));
    const float flat[4] = {0, 0, 0, 0};
    int32_t a[16];
    for (int i = 0; i < 16; i++) a[i] = lqmf_sampler_sample(s, flat);
    lqmf_sampler_reset(s);
    bool same = true, varied = false;
    for (int i = 0; i < 16; i++) {
        int32_t b = lqmf_sampler_sample(s, flat);
        same &= a[i] == b;
        varied |= a[i] != a[0];
    }
    CHECK(same && varied);
    lqmf_sampler_free(s);
    CHECK_ERR(lqmf_sampler_new(&(lqmf_sampler_params){.repeat_penalty = 0}, 4, &s), LQMF_E_INVALID,
              "repeat_penalty");
    lqmf_sampler_free(NULL);
}

/* ---- generation ------------------------------------------------------------------ */

typedef struct {
    int32_t got[64];
    uint32_t n, stop_after;
} gen_rec;

static bool on_token(void *user, int32_t t) {
    gen_rec *g = user;
    g->got[g->n++] = t;
    return g->n != g->stop_after;
}

TEST(engine_generate) {
    lqmf_hparams hp = base_hp(LQMF_ARCH_LLAMA);
    lqmf_model *m;
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 21, &m));
    lqmf_sampler_params sp = {.temperature = 0, .top_p = 1, .repeat_penalty = 1};
    lqmf_sampler *s;
    REQUIRE_OK(lqmf_sampler_new(&sp, hp.n_vocab, &s));
    lqmf_engine *e;
    REQUIRE_OK(lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 16, .n_threads = 2}, &e));
    const int32_t prompt[3] = {1, 17, 33};
    gen_rec g = {0};
    lqmf_gen_stats st;
    CHECK_OK(lqmf_engine_generate(e, s, prompt, 3, 6, on_token, &g, &st));
    CHECK_EQ_INT(st.reason, LQMF_STOP_MAX);
    CHECK_EQ_INT(st.n_gen, 6);
    CHECK_EQ_INT(lqmf_engine_n_past(e), 9);
    /* greedy from the float64 reference, one full pass per step */
    int32_t seq[16];
    memcpy(seq, prompt, sizeof prompt);
    double *ref = malloc(16 * hp.n_vocab * sizeof *ref);
    for (uint32_t i = 0; i < 6; i++) {
        ref_forward(m, seq, 3 + i, ref);
        const double *row = ref + (2 + i) * hp.n_vocab;
        int32_t best = 0;
        for (uint32_t v = 1; v < hp.n_vocab; v++)
            if (row[v] > row[best]) best = (int32_t)v;
        seq[3 + i] = best;
        CHECK_EQ_INT(g.got[i], best);
    }
    free(ref);

    /* stop by callback, then by EOS, then by a full context */
    lqmf_engine_reset(e);
    g = (gen_rec){.stop_after = 2};
    CHECK_OK(lqmf_engine_generate(e, s, prompt, 3, 6, on_token, &g, &st));
    CHECK(st.reason == LQMF_STOP_CALLBACK && st.n_gen == 2 && lqmf_engine_n_past(e) == 5);
    lqmf_engine_free(e);
    lqmf_model_close(m);
    hp.eos_id = seq[5];
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 21, &m));
    REQUIRE_OK(lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 7}, &e));
    g = (gen_rec){0};
    CHECK_OK(lqmf_engine_generate(e, s, prompt, 3, 6, on_token, &g, &st));
    uint32_t first = 0; /* greedy output may repeat a token: EOS stops at its first use */
    while (seq[3 + first] != hp.eos_id) first++;
    CHECK(st.reason == LQMF_STOP_EOS && st.n_gen == first && g.n == first);
    lqmf_engine_reset(e);
    hp.eos_id = -1;
    lqmf_model_close(m);
    lqmf_engine_free(e);
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 21, &m));
    REQUIRE_OK(lqmf_engine_new(m, &(lqmf_engine_params){.n_ctx = 7}, &e));
    CHECK_OK(lqmf_engine_generate(e, s, prompt, 3, 10, NULL, NULL, &st));
    CHECK(st.reason == LQMF_STOP_CTX && st.n_gen == 4 && lqmf_engine_n_past(e) == 7);
    CHECK_ERR(lqmf_engine_generate(e, s, prompt, 0, 1, NULL, NULL, &st), LQMF_E_INVALID, "empty prompt");
    lqmf_engine_free(e);
    lqmf_sampler_free(s);
    lqmf_model_close(m);
}


/* ---- golden outputs of a real model (shared test data) ------------------------ */

/* The numbers of the JSON array under "key", nested arrays flattened in
 * order, into out[0..cap-1]; returns how many there are (0 when the key or
 * its array is missing). Enough for the fixed layout of
 * reference_outputs.json, and free of any JSON library so that this file
 * also builds for targets without one. */
static size_t json_numbers(const char *text, const char *key, double *out, size_t cap) {
    char quoted[96];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr(text, quoted);
    if (!p || !(p = strchr(p + strlen(quoted), '['))) return 0;
    size_t n = 0;
    for (int depth = 0; *p;) {
        if (*p == '[') {
            depth++, p++;
        } else if (*p == ']') {
            if (--depth == 0) return n;
            p++;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            char *end;
            const double v = strtod(p, &end);
            if (n < cap) out[n] = v;
            n++, p = end;
        } else {
            p++;
        }
    }
    return 0;
}

static bool on_collect(void *user, int32_t t) {
    gen_rec *g = user;
    if (g->n < 64) g->got[g->n++] = t;
    return true;
}

/* stories260K from BOS: greedy ids and the first logits of the float64 reference. */
static void check_stories(const char *model_path, const char *ref_path) {
    char *text;
    size_t len;
    REQUIRE_OK(lqmf_read_file(ref_path, 1u << 20, &text, &len));
    double first8[8], top5[10], ids[64];
    const size_t n_first = json_numbers(text, "logits_pos0_first8", first8, 8);
    const size_t n_top = json_numbers(text, "logits_pos0_after_BOS_top5", top5, 10);
    const size_t n_ids = json_numbers(text, "greedy_ids_from_BOS_64", ids, 64);
    free(text);
    REQUIRE(n_first == 8 && n_top == 10 && n_ids >= 2 && n_ids <= 64);
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_open(model_path, &m));
    lqmf_engine *e;
    REQUIRE_OK(lqmf_engine_new(m, &(lqmf_engine_params){.n_threads = 2}, &e));
    const uint32_t V = m->hp.n_vocab;
    float *lg = malloc(V * sizeof *lg);
    CHECK_OK(lqmf_engine_eval(e, (int32_t[]){1}, 1, 0, LQMF_LOGITS_LAST, lg));
    for (size_t i = 0; i < n_first; i++) CHECK_NEAR(lg[i], first8[i], 1e-4);
    for (size_t i = 0; i < n_top; i += 2) {
        REQUIRE(top5[i] >= 0 && top5[i] < V);
        CHECK_NEAR(lg[(size_t)top5[i]], top5[i + 1], 1e-4);
    }
    lqmf_engine_reset(e);
    lqmf_sampler_params sp = {.temperature = 0, .top_p = 1, .repeat_penalty = 1};
    lqmf_sampler *s;
    REQUIRE_OK(lqmf_sampler_new(&sp, V, &s));
    gen_rec g = {0};
    lqmf_gen_stats st;
    CHECK_OK(lqmf_engine_generate(e, s, (int32_t[]){1}, 1, (uint32_t)n_ids - 1, on_collect, &g, &st));
    CHECK_EQ_INT(g.n + 1, n_ids);
    for (uint32_t i = 0; i < g.n; i++) CHECK_EQ_INT(g.got[i], (long long)ids[i + 1]);
    lqmf_sampler_free(s);
    free(lg);
    lqmf_engine_free(e);
    lqmf_model_close(m);
}

TEST(engine_golden_stories260k_bin) {
    DATA(model, "models/stories260K/stories260K.bin");
    DATA(ref, "models/stories260K/reference_outputs.json");
    check_stories(model, ref);
}

TEST(engine_golden_stories260k_gguf) {
    DATA(model, "models/stories260K/stories260K.gguf");
    DATA(ref, "models/stories260K/reference_outputs.json");
    check_stories(model, ref);
}
