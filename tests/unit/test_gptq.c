/* GPTQ: the quantizer against a plain float64 reference written here (the
 * column-by-column loop with the explicit inverse Hessian, no Cholesky, no
 * lazy batches), its output error against round to nearest, the v1 packing
 * against words derived from the format description (formats-and-hub-api.md
 * 4.3, AutoGPTQ's pack loop), bad inputs, and calibration Hessians on the
 * tiny Llama checked against the imatrix collector. */
#include "../test.h"
#include "lqmf/engine.h"
#include "lqmf/gptq.h"
#include "lqmf/quantize.h"
#include "lqmf/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------- */

static uint64_t g_rng;
static void rng_seed(uint64_t s) { g_rng = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t rng_u64(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static double rng_unit(void) { return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0); }
static double rng_gauss(void) {
    double u = rng_unit(), v = rng_unit();
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* W [n_out][n_in] gaussian. */
static float *random_w(uint64_t n_out, uint64_t n_in) {
    float *w = malloc(n_out * n_in * sizeof *w);
    for (uint64_t k = 0; w && k < n_out * n_in; k++) w[k] = (float)(0.1 * rng_gauss());
    return w;
}

/* H = X^T X for n_tok correlated inputs: x = (latent factors * mixing +
 * noise) * per-column scale; column `dead` (if < n) is always 0. */
static double *random_h(uint64_t n, uint64_t n_tok, uint64_t dead) {
    const uint64_t nf = n / 8 + 1;
    double *mix = malloc(nf * n * sizeof *mix), *scale = malloc(n * sizeof *scale);
    double *x = malloc(n * sizeof *x), *f = malloc(nf * sizeof *f);
    double *H = calloc(n * n, sizeof *H);
    for (uint64_t k = 0; k < nf * n; k++) mix[k] = rng_gauss();
    for (uint64_t c = 0; c < n; c++) scale[c] = exp(0.7 * rng_gauss());
    for (uint64_t t = 0; t < n_tok; t++) {
        for (uint64_t k = 0; k < nf; k++) f[k] = rng_gauss();
        for (uint64_t c = 0; c < n; c++) {
            double v = rng_gauss();
            for (uint64_t k = 0; k < nf; k++) v += f[k] * mix[k * n + c];
            x[c] = c == dead ? 0 : (double)(float)(v * scale[c]);
        }
        for (uint64_t i = 0; i < n; i++)
            for (uint64_t j = 0; j < n; j++) H[i * n + j] += x[i] * x[j];
    }
    free(mix);
    free(scale);
    free(x);
    free(f);
    return H;
}

/* Layer output error trace((W - Q) H (W - Q)^T) = ||(W - Q) X^T||^2. */
static double output_error(const float *W, const float *Q, const double *H, uint64_t n_out, uint64_t n) {
    double *d = malloc(n * sizeof *d), e = 0;
    for (uint64_t o = 0; o < n_out; o++) {
        for (uint64_t c = 0; c < n; c++) d[c] = (double)W[o * n + c] - Q[o * n + c];
        for (uint64_t i = 0; i < n; i++)
            for (uint64_t j = 0; j < n; j++) e += d[i] * H[i * n + j] * d[j];
    }
    free(d);
    return e;
}

static float *dequant_matrix(const lqmf_gptq_matrix *m) {
    float *w = malloc(m->n_out * m->n_in * sizeof *w);
    for (uint64_t o = 0; o < m->n_out; o++)
        for (uint64_t c = 0; c < m->n_in; c++) {
            const uint64_t g = (uint64_t)m->g_idx[c];
            w[o * m->n_in + c] =
                m->scales[g * m->n_out + o] * ((float)m->q[o * m->n_in + c] - (float)m->zeros[g * m->n_out + o]);
        }
    return w;
}

/* ---- the float64 reference ----------------------------------------------------
 * The textbook loop: with Hinv the inverse of the damped Hessian over the
 * columns not yet quantized, quantize column k, subtract err * Hinv[k][j] /
 * Hinv[k][k] from every later column j, then drop k from Hinv
 * (Hinv -= Hinv[:,k] Hinv[k,:] / Hinv[k][k]). Same quantizer, same groups. */

typedef struct {
    uint8_t *q;      /* [n_out][n_in] */
    double *scales;  /* [n_groups][n_out] */
    uint8_t *zeros;  /* [n_groups][n_out] */
    int32_t *g_idx;  /* [n_in] */
} ref_result;

/* Gauss-Jordan inverse of the n x n matrix a (destroyed) into inv. */
static void invert(double *a, double *inv, uint64_t n) {
    for (uint64_t i = 0; i < n * n; i++) inv[i] = i % (n + 1) == 0;
    for (uint64_t c = 0; c < n; c++) {
        uint64_t p = c;
        for (uint64_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c])) p = r;
        for (uint64_t k = 0; k < n && p != c; k++) {
            double t = a[c * n + k];
            a[c * n + k] = a[p * n + k];
            a[p * n + k] = t;
            t = inv[c * n + k];
            inv[c * n + k] = inv[p * n + k];
            inv[p * n + k] = t;
        }
        const double d = a[c * n + c];
        for (uint64_t k = 0; k < n; k++) {
            a[c * n + k] /= d;
            inv[c * n + k] /= d;
        }
        for (uint64_t r = 0; r < n; r++) {
            const double f = a[r * n + c];
            if (r == c || f == 0) continue;
            for (uint64_t k = 0; k < n; k++) {
                a[r * n + k] -= f * a[c * n + k];
                inv[r * n + k] -= f * inv[c * n + k];
            }
        }
    }
}

static void ref_params(const double *x, uint64_t n, unsigned maxq, bool sym, double *scale, uint8_t *zero) {
    double xmin = 0, xmax = 0;
    for (uint64_t k = 0; k < n; k++) {
        if (x[k] < xmin) xmin = x[k];
        if (x[k] > xmax) xmax = x[k];
    }
    if (sym) {
        if (-xmin > xmax) xmax = -xmin;
        if (xmin < 0) xmin = -xmax;
    }
    if (xmin == 0 && xmax == 0) xmin = -1, xmax = 1;
    *scale = (xmax - xmin) / maxq;
    *zero = (uint8_t)(sym ? (maxq + 1) / 2 : nearbyint(-xmin / *scale));
}

static void ref_gptq(const float *W, uint64_t n_out, uint64_t n, const double *H, const lqmf_gptq_params *p,
                     ref_result *r) {
    const unsigned maxq = (1u << p->bits) - 1;
    const uint64_t gs = p->group_size < 0 || (uint64_t)p->group_size > n ? n : (uint64_t)p->group_size;
    const uint64_t ng = (n + gs - 1) / gs;
    uint64_t *perm = malloc(n * sizeof *perm);
    double *d = malloc(n * sizeof *d), mean = 0;
    for (uint64_t c = 0; c < n; c++) {
        d[c] = H[c * n + c] == 0 ? 1 : H[c * n + c];
        mean += d[c] / (double)n;
        perm[c] = c;
    }
    for (uint64_t i = 1; p->desc_act && i < n; i++) /* stable insertion sort, decreasing diag */
        for (uint64_t k = i; k > 0 && d[perm[k]] > d[perm[k - 1]]; k--) {
            uint64_t t = perm[k];
            perm[k] = perm[k - 1];
            perm[k - 1] = t;
        }
    double *A = malloc(n * n * sizeof *A), *Hinv = malloc(n * n * sizeof *Hinv);
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < n; j++)
            A[i * n + j] = i == j ? d[perm[i]] + p->damp_percent * mean : H[perm[i] * n + perm[j]];
    invert(A, Hinv, n);
    double *rows = malloc(n * n * sizeof *rows); /* rows[k][j] = Hinv_k[k][j] / Hinv_k[k][k], j > k */
    for (uint64_t k = 0; k < n; k++) {
        const double hkk = Hinv[k * n + k];
        for (uint64_t j = 0; j < n; j++) rows[k * n + j] = Hinv[k * n + j] / hkk;
        for (uint64_t i = k + 1; i < n; i++)
            for (uint64_t j = k + 1; j < n; j++) Hinv[i * n + j] -= Hinv[i * n + k] * Hinv[k * n + j] / hkk;
    }
    r->q = malloc(n_out * n);
    r->scales = malloc(ng * n_out * sizeof *r->scales);
    r->zeros = malloc(ng * n_out);
    r->g_idx = malloc(n * sizeof *r->g_idx);
    double *w = malloc(n * sizeof *w);
    for (uint64_t o = 0; o < n_out; o++) {
        for (uint64_t k = 0; k < n; k++) w[k] = H[perm[k] * n + perm[k]] == 0 ? 0 : W[o * n + perm[k]];
        double scale = 1;
        uint8_t zero = 0;
        for (uint64_t k = 0; k < n; k++) {
            const uint64_t g = k / gs;
            if (k % gs == 0) {
                ref_params(w + k, (k + gs < n ? k + gs : n) - k, maxq, p->sym, &scale, &zero);
                r->scales[g * n_out + o] = scale;
                r->zeros[g * n_out + o] = zero;
            }
            double q = nearbyint(w[k] / scale) + zero;
            q = q < 0 ? 0 : q > maxq ? maxq : q;
            r->q[o * n + perm[k]] = (uint8_t)q;
            const double err = w[k] - scale * (q - zero);
            for (uint64_t j = k + 1; j < n; j++) w[j] -= err * rows[k * n + j];
        }
    }
    for (uint64_t k = 0; k < n; k++) r->g_idx[perm[k]] = (int32_t)(k / gs);
    free(w);
    free(rows);
    free(A);
    free(Hinv);
    free(d);
    free(perm);
}

static void ref_free(ref_result *r) {
    free(r->q);
    free(r->scales);
    free(r->zeros);
    free(r->g_idx);
}

/* ---- quantizer against the reference ---------------------------------------- */

TEST(gptq_matches_reference) {
    const uint64_t n_out = 40, n = 288; /* 2 full blocks of 128 and a partial one */
    const struct {
        unsigned bits;
        int32_t gs;
        bool desc, sym;
    } cases[] = {
        {4, 128, false, true}, {4, 32, true, false}, {3, -1, false, false}, {2, 64, true, true},
        {8, 128, true, false}, {4, -1, true, true},  {3, 48, false, true},  {4, 200, true, false},
    };
    rng_seed(11);
    double *H = random_h(n, 600, 5); /* input column 5 is dead */
    float *W = random_w(n_out, n);
    double worst_frac = 1, worst_diff = 0, worst_dev = 0;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        lqmf_gptq_params p = lqmf_gptq_default_params();
        p.bits = cases[t].bits;
        p.group_size = cases[t].gs;
        p.desc_act = cases[t].desc;
        p.sym = cases[t].sym;
        lqmf_gptq_matrix m;
        REQUIRE_OK(lqmf_gptq_quantize(W, n_out, n, H, &p, 2, &m));
        ref_result r;
        ref_gptq(W, n_out, n, H, &p, &r);
        uint64_t same = 0;
        for (uint64_t k = 0; k < n_out * n; k++) same += m.q[k] == r.q[k];
        const double frac = (double)same / (double)(n_out * n);
        /* f32 working weights against f64: a code that flips near a rounding
         * boundary changes the error fed to the rest of its row, and other
         * codes of that row follow (seen: up to 91 of a 288-column row) */
        CHECKF(frac > 0.99, "case %zu (bits %u gs %d desc %d sym %d): %.4f of codes identical", t, p.bits,
               (int)p.group_size, p.desc_act, p.sym, frac);
        for (uint64_t c = 0; c < n; c++) CHECK_EQ_INT(m.g_idx[c], r.g_idx[c]);
        /* dequantized weights: mean |diff| well below a quantization step */
        float *dq = dequant_matrix(&m), *dr = malloc(n_out * n * sizeof *dr);
        for (uint64_t o = 0; o < n_out; o++)
            for (uint64_t c = 0; c < n; c++) {
                const uint64_t g = (uint64_t)r.g_idx[c];
                dr[o * n + c] = (float)(r.scales[g * n_out + o] * ((double)r.q[o * n + c] - r.zeros[g * n_out + o]));
            }
        const double e_ours = output_error(W, dq, H, n_out, n), e_ref = output_error(W, dr, H, n_out, n);
        const double dev = fabs(e_ours / e_ref - 1);
        CHECKF(dev < 0.02, "case %zu: output error %g vs reference %g", t, e_ours, e_ref);
        worst_dev = dev > worst_dev ? dev : worst_dev;
        free(dr);
        double diff = 0, step = 0;
        for (uint64_t o = 0; o < n_out; o++)
            for (uint64_t c = 0; c < n; c++) {
                const uint64_t g = (uint64_t)r.g_idx[c];
                const double rs = r.scales[g * n_out + o];
                diff += fabs(dq[o * n + c] - rs * ((double)r.q[o * n + c] - r.zeros[g * n_out + o]));
                step += rs;
            }
        CHECKF(diff / step < 0.05, "case %zu: mean |dequant diff| / step = %.4f", t, diff / step);
        worst_frac = frac < worst_frac ? frac : worst_frac;
        worst_diff = diff / step > worst_diff ? diff / step : worst_diff;
        free(dq);
        ref_free(&r);
        lqmf_gptq_matrix_free(&m);
    }
    printf("    [vs f64 reference, worst of 8 cases: %.4f codes identical, mean deq diff %.2e steps, "
           "output error within %.2e]\n",
           worst_frac, worst_diff, worst_dev);
    free(H);
    free(W);
}

TEST(gptq_threads_agree) {
    const uint64_t n_out = 64, n = 256;
    rng_seed(5);
    double *H = random_h(n, 400, n);
    float *W = random_w(n_out, n);
    lqmf_gptq_params p = lqmf_gptq_default_params();
    p.desc_act = true;
    lqmf_gptq_matrix a, b;
    REQUIRE_OK(lqmf_gptq_quantize(W, n_out, n, H, &p, 1, &a));
    REQUIRE_OK(lqmf_gptq_quantize(W, n_out, n, H, &p, 3, &b));
    CHECK(memcmp(a.q, b.q, n_out * n) == 0);
    CHECK(memcmp(a.scales, b.scales, a.n_groups * n_out * sizeof(float)) == 0);
    lqmf_gptq_matrix_free(&a);
    lqmf_gptq_matrix_free(&b);
    free(H);
    free(W);
}

TEST(gptq_beats_rtn) {
    const uint64_t n_out = 64, n = 256;
    rng_seed(7);
    double *H = random_h(n, 800, n);
    float *W = random_w(n_out, n);
    const unsigned bits[] = {4, 3};
    for (size_t t = 0; t < 2; t++) {
        lqmf_gptq_params p = lqmf_gptq_default_params();
        p.bits = bits[t];
        lqmf_gptq_matrix g, r;
        REQUIRE_OK(lqmf_gptq_quantize(W, n_out, n, H, &p, 0, &g));
        REQUIRE_OK(lqmf_gptq_quantize(W, n_out, n, NULL, &p, 0, &r));
        float *qg = dequant_matrix(&g), *qr = dequant_matrix(&r);
        const double eg = output_error(W, qg, H, n_out, n), er = output_error(W, qr, H, n_out, n);
        printf("    [%u-bit g128: GPTQ / RTN output error %.3f]\n", p.bits, eg / er);
        CHECKF(eg < 0.6 * er, "%u bits: GPTQ error %g vs RTN %g", p.bits, eg, er);
        free(qg);
        free(qr);
        lqmf_gptq_matrix_free(&g);
        lqmf_gptq_matrix_free(&r);
    }
    free(H);
    free(W);
}

TEST(gptq_rtn_is_plain_rounding) {
    /* H NULL: each code is round(w / scale) + zero of its group's min/max */
    const uint64_t n_out = 8, n = 64;
    rng_seed(3);
    float *W = random_w(n_out, n);
    lqmf_gptq_params p = lqmf_gptq_default_params();
    p.group_size = 32;
    p.sym = false;
    lqmf_gptq_matrix m;
    REQUIRE_OK(lqmf_gptq_quantize(W, n_out, n, NULL, &p, 1, &m));
    CHECK_EQ_INT(m.n_groups, 2);
    for (uint64_t o = 0; o < n_out; o++)
        for (uint64_t g = 0; g < 2; g++) {
            double x[32], scale;
            uint8_t zero;
            for (int k = 0; k < 32; k++) x[k] = W[o * n + g * 32 + k];
            ref_params(x, 32, 15, false, &scale, &zero);
            CHECK_NEAR(m.scales[g * n_out + o], scale, 1e-6);
            CHECK_EQ_INT(m.zeros[g * n_out + o], zero);
            for (int k = 0; k < 32; k++) {
                double q = nearbyint(x[k] / scale) + zero;
                CHECK_EQ_INT(m.q[o * n + g * 32 + k], q < 0 ? 0 : q > 15 ? 15 : q);
            }
        }
    lqmf_gptq_matrix_free(&m);
    free(W);
}

/* ---- packing ---------------------------------------------------------------------- */

/* AutoGPTQ's pack loop for one 32-code run, written out per the format
 * text: 2/4/8 bits put 32/bits codes per word at bits*j; 3 bits put codes
 * 0..9 at 3j of word 0, code 10's low 2 bits at bit 30 and its high bit at
 * bit 0 of word 1, codes 11..20 at 3j+1, code 21's low bit at bit 31 and
 * its 2 high bits at bit 0 of word 2, codes 22..31 at 3j+2. */
static void autogptq_words(const uint32_t *code, unsigned bits, uint32_t *word) {
    memset(word, 0, bits * sizeof *word);
    if (bits != 3) {
        for (unsigned k = 0; k < 32; k++) word[k / (32 / bits)] |= code[k] << (bits * (k % (32 / bits)));
        return;
    }
    for (unsigned j = 0; j < 10; j++) word[0] |= code[j] << (3 * j);
    word[0] |= code[10] << 30;
    word[1] |= (code[10] >> 2) & 1;
    for (unsigned j = 0; j < 10; j++) word[1] |= code[11 + j] << (3 * j + 1);
    word[1] |= code[21] << 31;
    word[2] |= (code[21] >> 1) & 3;
    for (unsigned j = 0; j < 10; j++) word[2] |= code[22 + j] << (3 * j + 2);
}

/* A 32 x 64 matrix of known codes and zeros, group 32. */
static void known_matrix(lqmf_gptq_matrix *m, unsigned bits) {
    const unsigned maxq = (1u << bits) - 1;
    m->n_out = 32;
    m->n_in = 64;
    m->n_groups = 2;
    m->q = malloc(32 * 64);
    m->scales = malloc(2 * 32 * sizeof *m->scales);
    m->zeros = malloc(2 * 32);
    m->g_idx = malloc(64 * sizeof *m->g_idx);
    for (unsigned o = 0; o < 32; o++)
        for (unsigned c = 0; c < 64; c++) m->q[o * 64 + c] = (uint8_t)((c * 7 + o * 3 + c / 5) % (maxq + 1));
    for (unsigned k = 0; k < 64; k++) {
        m->zeros[k] = (uint8_t)(1 + (k * 5) % maxq); /* 1 .. maxq */
        m->scales[k] = 0.01f * (float)(k + 1);
        m->g_idx[k] = (int32_t)(k / 32);
    }
}

TEST(gptq_pack_known_words) {
    const unsigned bitss[] = {4, 3, 2, 8};
    for (size_t t = 0; t < 4; t++) {
        const unsigned bits = bitss[t];
        lqmf_gptq_matrix m;
        known_matrix(&m, bits);
        lqmf_gptq_packed p;
        REQUIRE_OK(lqmf_gptq_pack(&m, bits, &p));
        CHECK_EQ_INT(p.n_zero_clamped, 0);
        uint32_t code[32], word[8];
        for (unsigned o = 0; o < 32; o++) /* qweight [64*bits/32][32]: each run of 32 inputs -> bits words */
            for (unsigned run = 0; run < 2; run++) {
                for (unsigned k = 0; k < 32; k++) code[k] = m.q[o * 64 + run * 32 + k];
                autogptq_words(code, bits, word);
                for (unsigned w = 0; w < bits; w++)
                    CHECKF((uint32_t)p.qweight[(run * bits + w) * 32 + o] == word[w],
                           "%u bits: qweight[%u][%u] = %08x, expected %08x", bits, run * bits + w, o,
                           (uint32_t)p.qweight[(run * bits + w) * 32 + o], word[w]);
            }
        for (unsigned g = 0; g < 2; g++) { /* qzeros [2][32*bits/32]: zero - 1 along the outputs */
            for (unsigned o = 0; o < 32; o++) code[o] = m.zeros[g * 32 + o] - 1u;
            autogptq_words(code, bits, word);
            for (unsigned w = 0; w < bits; w++) CHECK_EQ_INT((uint32_t)p.qzeros[g * bits + w], word[w]);
        }
        for (unsigned k = 0; k < 64; k++) CHECK_EQ_INT(p.scales[k], lqmf_f32_to_fp16(m.scales[k]));
        /* and back: readers add 1 to the stored zero */
        float *w = malloc(32 * 64 * sizeof *w);
        REQUIRE_OK(lqmf_gptq_dequantize(&p, w));
        for (unsigned o = 0; o < 32; o++)
            for (unsigned c = 0; c < 64; c++) {
                const unsigned g = c / 32;
                const float want = lqmf_fp16_to_f32(lqmf_f32_to_fp16(m.scales[g * 32 + o])) *
                                   ((float)m.q[o * 64 + c] - (float)m.zeros[g * 32 + o]);
                CHECK_NEAR(w[o * 64 + c], want, 1e-6);
            }
        free(w);
        lqmf_gptq_packed_free(&p);
        lqmf_gptq_matrix_free(&m);
    }
    /* the example the format text gives: symmetric 4-bit stores zero 8 - 1 = 7 */
    lqmf_gptq_matrix m;
    known_matrix(&m, 4);
    memset(m.zeros, 8, 64);
    lqmf_gptq_packed p;
    REQUIRE_OK(lqmf_gptq_pack(&m, 4, &p));
    for (unsigned k = 0; k < 8; k++) CHECK_EQ_INT((uint32_t)p.qzeros[k], 0x77777777u);
    lqmf_gptq_packed_free(&p);
    /* a zero point of 0 cannot be written in v1: stored 0, counted */
    m.zeros[3] = 0;
    REQUIRE_OK(lqmf_gptq_pack(&m, 4, &p));
    CHECK_EQ_INT(p.n_zero_clamped, 1);
    CHECK_EQ_INT((uint32_t)p.qzeros[0], 0x77770777u);
    lqmf_gptq_packed_free(&p);
    lqmf_gptq_matrix_free(&m);
}

TEST(gptq_pack_literal_words) {
    /* worked by hand: 4 bits, output 0 inputs 0..7 = 0..7 -> qweight[0][0] = 0x76543210;
     * 3 bits, input 10 of output 1 = 5 (0b101): its low bits 01 at bits 30-31 of
     * qweight[0][1] (0x40000000), its high bit at bit 0 of qweight[1][1] (0x00000001) */
    lqmf_gptq_matrix m;
    known_matrix(&m, 4);
    memset(m.q, 0, 32 * 64);
    memset(m.zeros, 1, 64);
    for (uint8_t c = 0; c < 8; c++) m.q[c] = c;
    m.q[64 + 10] = 5;
    lqmf_gptq_packed p;
    REQUIRE_OK(lqmf_gptq_pack(&m, 4, &p));
    CHECK_EQ_INT((uint32_t)p.qweight[0], 0x76543210u);
    CHECK_EQ_INT((uint32_t)p.qweight[32 + 1], 0x00000500u); /* row 1 holds inputs 8..15 */
    CHECK_EQ_INT((uint32_t)p.qzeros[0], 0u);                /* zero 1 is stored as 0 */
    lqmf_gptq_packed_free(&p);
    REQUIRE_OK(lqmf_gptq_pack(&m, 3, &p));
    CHECK_EQ_INT((uint32_t)p.qweight[1], 0x40000000u);
    CHECK_EQ_INT((uint32_t)p.qweight[32 + 1], 0x00000001u);
    CHECK_EQ_INT((uint32_t)p.qweight[2 * 32 + 1], 0u);
    CHECK_EQ_INT((uint32_t)p.qweight[0], 0x00fac688u); /* inputs 0..7 = 0..7 at 3c: 0b111110101100011010001000 */
    lqmf_gptq_packed_free(&p);
    lqmf_gptq_matrix_free(&m);
}

TEST(gptq_pack_roundtrip) {
    const uint64_t n_out = 64, n = 256;
    rng_seed(9);
    double *H = random_h(n, 300, n);
    float *W = random_w(n_out, n);
    const unsigned bitss[] = {2, 3, 4, 8};
    for (size_t t = 0; t < 4; t++) {
        lqmf_gptq_params p = lqmf_gptq_default_params();
        p.bits = bitss[t];
        p.desc_act = t % 2 == 1;
        p.group_size = 64;
        lqmf_gptq_matrix m;
        REQUIRE_OK(lqmf_gptq_quantize(W, n_out, n, H, &p, 2, &m));
        lqmf_gptq_packed pk;
        REQUIRE_OK(lqmf_gptq_pack(&m, p.bits, &pk));
        CHECK_EQ_INT(pk.n_zero_clamped, 0);
        for (uint64_t c = 0; c < n; c++) CHECK_EQ_INT(pk.g_idx[c], m.g_idx[c]);
        float *w = malloc(n_out * n * sizeof *w);
        REQUIRE_OK(lqmf_gptq_dequantize(&pk, w));
        uint64_t bad = 0;
        for (uint64_t o = 0; o < n_out; o++)
            for (uint64_t c = 0; c < n; c++) {
                const uint64_t g = (uint64_t)m.g_idx[c];
                const float s = lqmf_fp16_to_f32(lqmf_f32_to_fp16(m.scales[g * n_out + o]));
                bad += w[o * n + c] != s * ((float)m.q[o * n + c] - (float)m.zeros[g * n_out + o]);
            }
        CHECKF(bad == 0, "%u bits: %llu weights differ after pack + dequantize", p.bits, (unsigned long long)bad);
        free(w);
        lqmf_gptq_packed_free(&pk);
        lqmf_gptq_matrix_free(&m);
    }
    free(H);
    free(W);
}

/* ---- bad inputs ------------------------------------------------------------------- */

TEST(gptq_bad_inputs) {
    float W[64 * 48];
    for (int k = 0; k < 64 * 48; k++) W[k] = (float)(k % 7) - 3;
    lqmf_gptq_params p = lqmf_gptq_default_params();
    lqmf_gptq_matrix m;
    p.bits = 5;
    CHECK_ERR(lqmf_gptq_quantize(W, 64, 48, NULL, &p, 1, &m), LQMF_E_INVALID, "bits 5");
    p = lqmf_gptq_default_params();
    p.group_size = 0;
    CHECK_ERR(lqmf_gptq_quantize(W, 64, 48, NULL, &p, 1, &m), LQMF_E_INVALID, "group_size 0");
    p.group_size = -2;
    CHECK_ERR(lqmf_gptq_quantize(W, 64, 48, NULL, &p, 1, &m), LQMF_E_INVALID, "group_size -2");
    p = lqmf_gptq_default_params();
    p.damp_percent = -0.5;
    CHECK_ERR(lqmf_gptq_quantize(W, 64, 48, NULL, &p, 1, &m), LQMF_E_INVALID, "damp_percent -0.5");
    p = lqmf_gptq_default_params();
    W[100] = NAN;
    CHECK_ERR(lqmf_gptq_quantize(W, 64, 48, NULL, &p, 1, &m), LQMF_E_INVALID, "W[2][4]");
    W[100] = 1;
    double *H = calloc(48 * 48, sizeof *H); /* indefinite: damping cannot save it */
    for (int c = 0; c < 48; c++) H[c * 48 + c] = 1;
    H[10 * 48 + 10] = -5;
    p.damp_percent = 0.01;
    CHECK_ERR(lqmf_gptq_quantize(W, 64, 48, H, &p, 1, &m), LQMF_E_INVALID, "input column 10");
    free(H);
    /* pack: n_in 48 is not a multiple of 32 */
    REQUIRE_OK(lqmf_gptq_quantize(W, 64, 48, NULL, &p, 1, &m));
    lqmf_gptq_packed pk;
    CHECK_ERR(lqmf_gptq_pack(&m, 4, &pk), LQMF_E_INVALID, "n_in 48");
    CHECK_ERR(lqmf_gptq_pack(&m, 5, &pk), LQMF_E_INVALID, "bits 5");
    lqmf_gptq_matrix_free(&m);
    REQUIRE_OK(lqmf_gptq_quantize(W, 48, 64, NULL, &p, 1, &m));
    CHECK_ERR(lqmf_gptq_pack(&m, 4, &pk), LQMF_E_INVALID, "n_out 48");
    lqmf_gptq_matrix_free(&m);
    /* codes wider than the packing's bits */
    REQUIRE_OK(lqmf_gptq_quantize(W, 32, 64, NULL, &p, 1, &m));
    CHECK_ERR(lqmf_gptq_pack(&m, 2, &pk), LQMF_E_INVALID, "exceeds 2 bits");
    /* dequantize: g_idx out of range */
    REQUIRE_OK(lqmf_gptq_pack(&m, 4, &pk));
    float out[32 * 64];
    pk.g_idx[3] = 9;
    CHECK_ERR(lqmf_gptq_dequantize(&pk, out), LQMF_E_INVALID, "g_idx[3] = 9");
    pk.g_idx[3] = -1;
    CHECK_ERR(lqmf_gptq_dequantize(&pk, out), LQMF_E_INVALID, "g_idx[3] = -1");
    pk.g_idx[3] = 0;
    pk.bits = 5;
    CHECK_ERR(lqmf_gptq_dequantize(&pk, out), LQMF_E_INVALID, "bits 5");
    lqmf_gptq_packed_free(&pk);
    lqmf_gptq_packed_free(&pk); /* freed twice: zeroed, a no-op */
    lqmf_gptq_matrix_free(&m);
    lqmf_gptq_matrix_free(NULL);
    lqmf_gptq_packed_free(NULL);
    lqmf_gptq_calib_free(NULL);
}

/* ---- calibration ------------------------------------------------------------------- */

static const char *const k_calib_tensors[] = {
    "blk.0.attn_q.weight", "blk.0.attn_output.weight", "blk.2.ffn_gate.weight", "blk.3.ffn_down.weight",
    "blk.5.attn_v.weight", "blk.5.ffn_up.weight",
};
#define N_CALIB (sizeof k_calib_tensors / sizeof k_calib_tensors[0])

/* A copy of each listed Hessian (n_in in *n). */
static lqmf_status calib_copy(lqmf_gptq_calib *c, double **H, uint64_t *n) {
    for (size_t t = 0; t < N_CALIB; t++) {
        const double *h = lqmf_gptq_calib_hessian(c, k_calib_tensors[t], &n[t]);
        if (!h) return LQMF_E_NOT_FOUND;
        H[t] = malloc(n[t] * n[t] * sizeof *H[t]);
        memcpy(H[t], h, n[t] * n[t] * sizeof *H[t]);
    }
    return LQMF_OK;
}

/* Cholesky of H + eps * mean(diag) * I succeeds (H positive semi-definite). */
static bool psd(const double *H, uint64_t n) {
    double *L = calloc(n * n, sizeof *L), mean = 0;
    for (uint64_t i = 0; i < n; i++) mean += H[i * n + i] / (double)n;
    bool ok = true;
    for (uint64_t i = 0; i < n && ok; i++)
        for (uint64_t j = 0; j <= i && ok; j++) {
            double s = H[i * n + j] + (i == j ? 1e-9 * mean : 0);
            for (uint64_t k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
            if (i == j)
                ok = s > 0, L[i * n + i] = sqrt(s);
            else
                L[i * n + j] = s / L[j * n + j];
        }
    free(L);
    return ok;
}

TEST(gptq_calib_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    DATA(text, "models/tiny-llama/heldout.txt");
    const uint32_t ctx = 64, chunks = 2;
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    /* the same tokens the imatrix collector reads: the text, encoded without specials */
    char *buf = NULL;
    size_t len = 0;
    lqmf_tokenizer *tok = NULL;
    lqmf_tok_ids ids = {0};
    REQUIRE_OK(lqmf_read_file(text, 1u << 24, &buf, &len));
    REQUIRE_OK(lqmf_tok_open_model(m, &tok));
    REQUIRE_OK(lqmf_tok_encode(tok, buf, len, 0, &ids));
    REQUIRE(ids.n >= ctx * chunks);
    lqmf_imatrix_opts io = {text, chunks, ctx, 1, NULL, NULL};
    lqmf_imatrix *im = NULL;
    REQUIRE_OK(lqmf_imatrix_collect(m, &io, &im));

    lqmf_gptq_calib *c = NULL, *c1 = NULL;
    REQUIRE_OK(lqmf_gptq_calib_new(m, ids.ids, ctx * chunks, ctx, 0, 2, &c));
    double *H[N_CALIB] = {0}, *H1[N_CALIB] = {0};
    uint64_t n[N_CALIB], n1[N_CALIB];
    CHECK_OK(calib_copy(c, H, n));
    double worst_all = 0;
    for (size_t t = 0; t < N_CALIB && H[t]; t++) {
        const lqmf_tensor *w = lqmf_model_tensor(m, k_calib_tensors[t]);
        CHECK_EQ_INT(n[t], w->ne[0]);
        uint64_t ni = 0, asym = 0;
        const float *mean = lqmf_imatrix_get(im, k_calib_tensors[t], &ni);
        REQUIRE(mean && ni == n[t]);
        double worst = 0;
        for (uint64_t i = 0; i < n[t]; i++) {
            const double want = (double)mean[i] * ctx * chunks; /* imatrix: sum of squares / rows */
            const double rel = fabs(H[t][i * n[t] + i] - want) / (want > 1e-30 ? want : 1e-30);
            worst = rel > worst ? rel : worst;
            for (uint64_t j = 0; j < i; j++) asym += H[t][i * n[t] + j] != H[t][j * n[t] + i];
        }
        CHECKF(worst < 1e-6, "%s: diag(H) vs imatrix sum of squares: rel diff %.3g", k_calib_tensors[t], worst);
        worst_all = worst > worst_all ? worst : worst_all;
        CHECK_EQ_INT(asym, 0);
        CHECKF(psd(H[t], n[t]), "%s: H is not positive semi-definite", k_calib_tensors[t]);
    }
    printf("    [diag(H) vs imatrix sums of squares: worst rel diff %.2e]\n", worst_all);
    /* q, k and v read the same input: one H */
    uint64_t nk = 0;
    const double *hk = lqmf_gptq_calib_hessian(c, "blk.0.attn_k.weight", &nk);
    CHECK(hk && nk == n[0] && memcmp(hk, H[0], nk * nk * sizeof *hk) == 0);
    CHECK(lqmf_gptq_calib_hessian(c, "output.weight", &nk) == NULL);
    CHECK(strstr(lqmf_last_error(), "output.weight") != NULL);
    CHECK(lqmf_gptq_calib_hessian(c, "blk.0.attn_qkv.weight", &nk) == NULL); /* not in a llama */
    CHECK(lqmf_gptq_calib_hessian(c, "blk.9.attn_q.weight", &nk) == NULL);

    /* a 1-byte budget: every site its own chunk, the text run again each time; same sums */
    REQUIRE_OK(lqmf_gptq_calib_new(m, ids.ids, ctx * chunks, ctx, 1, 1, &c1));
    CHECK_OK(calib_copy(c1, H1, n1));
    for (size_t t = 0; t < N_CALIB && H[t] && H1[t]; t++)
        CHECKF(n1[t] == n[t] && memcmp(H1[t], H[t], n[t] * n[t] * sizeof *H[t]) == 0,
               "%s: chunked Hessian differs", k_calib_tensors[t]);
    /* bad tokens */
    lqmf_gptq_calib *bad = NULL;
    int32_t toks[3] = {1, 99999, 2};
    CHECK_ERR(lqmf_gptq_calib_new(m, toks, 3, ctx, 0, 1, &bad), LQMF_E_INVALID, "token 1 is 99999");
    for (size_t t = 0; t < N_CALIB; t++) {
        free(H[t]);
        free(H1[t]);
    }
    lqmf_gptq_calib_free(c);
    lqmf_gptq_calib_free(c1);
    lqmf_imatrix_free(im);
    lqmf_tok_ids_free(&ids);
    lqmf_tok_free(tok);
    free(buf);
    lqmf_model_close(m);
}

TEST(gptq_calib_tiny_gpt2) {
    DATA(dir, "models/tiny-gpt2");
    lqmf_model *m = NULL;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    int32_t toks[40];
    for (int k = 0; k < 40; k++) toks[k] = (int32_t)((k * 37 + 11) % (int)m->hp.n_vocab);
    lqmf_gptq_calib *c = NULL;
    REQUIRE_OK(lqmf_gptq_calib_new(m, toks, 40, 16, 0, 1, &c)); /* pieces of 16, 16 and 8 tokens */
    const char *names[] = {"blk.0.attn_qkv.weight", "blk.0.attn_output.weight", "blk.1.ffn_up.weight",
                           "blk.1.ffn_down.weight"};
    const uint64_t want[] = {m->hp.n_embd, m->hp.n_embd, m->hp.n_embd, m->hp.n_ff};
    for (int t = 0; t < 4; t++) {
        uint64_t n = 0;
        const double *H = lqmf_gptq_calib_hessian(c, names[t], &n);
        CHECKF(H && n == want[t], "%s: %s", names[t], lqmf_last_error());
        if (!H) continue;
        uint64_t pos = 0;
        for (uint64_t i = 0; i < n; i++) pos += H[i * n + i] > 0;
        CHECKF(pos == n, "%s: %llu of %llu diagonal entries positive", names[t], (unsigned long long)pos,
               (unsigned long long)n);
        CHECK(psd(H, n));
    }
    CHECK(lqmf_gptq_calib_hessian(c, "blk.0.attn_q.weight", &(uint64_t){0}) == NULL); /* not in GPT-2 */
    lqmf_gptq_calib_free(c);
    lqmf_model_close(m);
}
