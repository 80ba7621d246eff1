/* GPTQ against round to nearest (the baseline) on a generated layer:
 * W [1024][1024] gaussian, H = X^T X over 2048 correlated inputs (latent
 * factors plus noise, per-column scales spread like real activations).
 *
 *   time s       wall seconds of lqmf_gptq_quantize (1 thread, all threads)
 *   out err      ||(W - Q) X^T||^2 / ||W X^T||^2, and GPTQ / RTN
 *
 * Usage: bench_gptq [N] (N: layer size, default 1024) */
#include "lqmf/gptq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double rng_unit(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * (1.0 / 9007199254740992.0);
}
static double rng_gauss(void) { return sqrt(-2 * log(rng_unit() + 1e-300)) * cos(2 * M_PI * rng_unit()); }

/* H [n][n] = sum over n_tok rows x of x x^T. */
static double *make_h(uint64_t n, uint64_t n_tok) {
    const uint64_t nf = n / 8;
    double *mix = malloc(nf * n * sizeof *mix), *scale = malloc(n * sizeof *scale);
    double *x = malloc(n * sizeof *x), *f = malloc(nf * sizeof *f), *H = calloc(n * n, sizeof *H);
    if (!mix || !scale || !x || !f || !H) return NULL;
    for (uint64_t k = 0; k < nf * n; k++) mix[k] = rng_gauss() / sqrt((double)nf);
    for (uint64_t c = 0; c < n; c++) scale[c] = exp(0.7 * rng_gauss());
    for (uint64_t t = 0; t < n_tok; t++) {
        for (uint64_t k = 0; k < nf; k++) f[k] = rng_gauss();
        for (uint64_t c = 0; c < n; c++) {
            double v = rng_gauss();
            for (uint64_t k = 0; k < nf; k++) v += f[k] * mix[k * n + c];
            x[c] = v * scale[c];
        }
        for (uint64_t i = 0; i < n; i++)
            for (uint64_t j = i; j < n; j++) H[i * n + j] += x[i] * x[j];
    }
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < i; j++) H[i * n + j] = H[j * n + i];
    free(mix);
    free(scale);
    free(x);
    free(f);
    return H;
}

/* trace(D H D^T) with D = W - Q (Q NULL: D = W). */
static double out_err(const float *W, const lqmf_gptq_matrix *m, const double *H, uint64_t n_out, uint64_t n) {
    double *d = malloc(n * sizeof *d), *hd = malloc(n * sizeof *hd), e = 0;
    for (uint64_t o = 0; o < n_out; o++) {
        for (uint64_t c = 0; c < n; c++) {
            double q = 0;
            if (m) {
                const uint64_t g = (uint64_t)m->g_idx[c];
                q = m->scales[g * n_out + o] * ((double)m->q[o * n + c] - m->zeros[g * n_out + o]);
            }
            d[c] = W[o * n + c] - q;
        }
        for (uint64_t i = 0; i < n; i++) {
            double s = 0;
            for (uint64_t j = 0; j < n; j++) s += H[i * n + j] * d[j];
            hd[i] = s;
        }
        for (uint64_t i = 0; i < n; i++) e += d[i] * hd[i];
    }
    free(d);
    free(hd);
    return e;
}

static int run(const float *W, const double *H, uint64_t n, const lqmf_gptq_params *p, const char *label) {
    const double base = out_err(W, NULL, H, n, n);
    double err[2] = {0}, t[3] = {0};
    for (int k = 0; k < 3; k++) { /* RTN; GPTQ 1 thread; GPTQ all threads */
        lqmf_gptq_matrix m;
        const double t0 = lqmf_time_now();
        lqmf_status st = lqmf_gptq_quantize(W, n, n, k ? H : NULL, p, k == 1 ? 1 : 0, &m);
        t[k] = lqmf_time_now() - t0;
        if (st != LQMF_OK) {
            fprintf(stderr, "bench_gptq: %s\n", lqmf_last_error());
            return 1;
        }
        if (k < 2) err[k] = out_err(W, &m, H, n, n) / base;
        lqmf_gptq_matrix_free(&m);
    }
    printf("%-22s %8.3f %8.3f %8.3f   %.3e %.3e %8.3f\n", label, t[0], t[1], t[2], err[0], err[1], err[1] / err[0]);
    return 0;
}

int main(int argc, char **argv) {
    const uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
    if (n < 32 || n > 8192) {
        fprintf(stderr, "usage: bench_gptq [N in 32..8192]\n");
        return 2;
    }
    float *W = malloc(n * n * sizeof *W);
    for (uint64_t k = 0; W && k < n * n; k++) W[k] = (float)(0.02 * rng_gauss());
    const double t0 = lqmf_time_now();
    double *H = W ? make_h(n, 2 * n) : NULL;
    if (!H) {
        fprintf(stderr, "bench_gptq: out of memory\n");
        return 1;
    }
    printf("layer %llu x %llu, H from %llu inputs (%.1f s to build)\n", (unsigned long long)n,
           (unsigned long long)n, (unsigned long long)(2 * n), lqmf_time_now() - t0);
    printf("%-22s %8s %8s %8s   %9s %9s %8s\n", "params", "RTN s", "GPTQ 1t", "GPTQ all", "RTN err", "GPTQ err",
           "ratio");
    int rc = 0;
    lqmf_gptq_params p = lqmf_gptq_default_params();
    rc |= run(W, H, n, &p, "4-bit g128 sym");
    p.desc_act = true;
    rc |= run(W, H, n, &p, "4-bit g128 act-order");
    p = lqmf_gptq_default_params();
    p.bits = 3;
    p.sym = false;
    rc |= run(W, H, n, &p, "3-bit g128 asym");
    p.bits = 8;
    p.group_size = -1;
    rc |= run(W, H, n, &p, "8-bit per-row asym");
    free(W);
    free(H);
    return rc;
}
