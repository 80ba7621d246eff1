/* Quantization and kernel throughput per type, single thread.
 *
 *   quant MB/s   F32 input quantized per second (the weight quantizer, with
 *                its search; no imatrix)
 *   dot GB/s     weight bytes consumed per second by vec_dot over the rows
 *                of a 128 x 4096 matrix (activations already quantized):
 *                scalar reference, AVX2 and AVX-512, and the AVX2/ref ratio
 *                (rows in cache: this measures the kernels, not memory)
 *   tile1 GB/s   the same through the AVX-512 table's vec_dot_tile with one
 *                token, LQMF_QUANT_TILE rows per call (the decoding path)
 *   deq GB/s     weight bytes dequantized per second by the AVX2 to_float
 *
 * Each figure is the best of a few timed runs, timed in CPU time of this
 * thread so that other load on a shared machine counts less.
 * Usage: bench_quant [TYPE...] */
#include "lqmf/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { ROWS = 128, N = 4096 };

static const lqmf_type k_types[] = {
    LQMF_TYPE_F32,  LQMF_TYPE_F16,  LQMF_TYPE_BF16, LQMF_TYPE_Q8_0,   LQMF_TYPE_Q4_0,
    LQMF_TYPE_Q4_1, LQMF_TYPE_Q5_0, LQMF_TYPE_Q5_1, LQMF_TYPE_Q6_K,   LQMF_TYPE_Q4_K,
    LQMF_TYPE_Q5_K, LQMF_TYPE_Q3_K, LQMF_TYPE_Q2_K, LQMF_TYPE_IQ4_NL, LQMF_TYPE_IQ4_XS,
};

static volatile float g_sink; /* keeps results alive */

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds per call of the timed body, best of `reps` runs of >= min_s each. */
#define BEST_TIME(out, reps, min_s, body)                                                                \
    do {                                                                                                 \
        double best_ = INFINITY;                                                                         \
        for (int r_ = 0; r_ < (reps); r_++) {                                                            \
            int calls_ = 0;                                                                              \
            double t0_ = cpu_now(), el_;                                                                 \
            do {                                                                                         \
                body;                                                                                    \
                calls_++;                                                                                \
                el_ = cpu_now() - t0_;                                                                   \
            } while (el_ < (min_s));                                                                     \
            if (el_ / calls_ < best_) best_ = el_ / calls_;                                              \
        }                                                                                                \
        (out) = best_;                                                                                   \
    } while (0)

static double dot_time(const lqmf_quant_traits *tr, const uint8_t *w, size_t rb, const void *act) {
    double t;
    BEST_TIME(t, 3, 0.03, {
        float s = 0;
        for (int r = 0; r < ROWS; r++) s += tr->vec_dot(N, w + r * rb, act);
        g_sink = s;
    });
    return t;
}

static double tile1_time(const lqmf_quant_traits *tr, const uint8_t *w, size_t rb, const void *act) {
    double t;
    float out[LQMF_QUANT_TILE];
    BEST_TIME(t, 3, 0.03, {
        float s = 0;
        for (int r = 0; r < ROWS; r += LQMF_QUANT_TILE) {
            tr->vec_dot_tile(N, w + r * rb, rb, LQMF_QUANT_TILE, act, 0, 1, out, 1);
            for (int k = 0; k < LQMF_QUANT_TILE; k++) s += out[k];
        }
        g_sink = s;
    });
    return t;
}

static bool selected(lqmf_type t, int argc, char **argv) {
    if (argc < 2) return true;
    for (int i = 1; i < argc; i++)
        if (strcasecmp(argv[i], lqmf_type_name(t)) == 0) return true;
    return false;
}

int main(int argc, char **argv) {
    float *x = malloc(sizeof(float) * ROWS * N), *y = malloc(sizeof(float) * N);
    uint8_t *w = malloc(sizeof(float) * ROWS * N), *act = malloc(sizeof(float) * N);
    if (!x || !y || !w || !act) return 1;
    uint64_t s = 12345;
    for (int i = 0; i < ROWS * N; i++) { /* N(0, 0.02^2) by Box-Muller on a xorshift */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double u = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double v = (double)(s >> 11) / 9007199254740992.0;
        x[i] = (float)(0.02 * sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
    }
    bool avx2 = lqmf_kernel_isa_available(LQMF_ISA_AVX2),
         avx512 = lqmf_kernel_isa_available(LQMF_ISA_AVX512);
    printf("quantize: %d x %d F32, single thread; vec_dot over %d rows of %d\n", ROWS, N, ROWS, N);
    printf("%-7s %6s %10s %8s %8s %8s %9s %9s %9s\n", "type", "bpw", "quant", "dot ref", "dot avx2",
           "dot 512", "tile1 512", "avx2/ref", "deq avx2");
    printf("%-7s %6s %10s %8s %8s %8s %9s %9s %9s\n", "", "", "MB/s", "GB/s", "GB/s", "GB/s", "GB/s", "",
           "GB/s");
    for (size_t k = 0; k < sizeof k_types / sizeof k_types[0]; k++) {
        lqmf_type t = k_types[k];
        if (!selected(t, argc, argv)) continue;
        const lqmf_quant_traits *ref = lqmf_quant_traits_isa(t, LQMF_ISA_REF);
        const lqmf_quant_traits *fast = avx2 ? lqmf_quant_traits_isa(t, LQMF_ISA_AVX2) : NULL;
        uint64_t rb;
        lqmf_type_row_bytes(t, N, &rb);
        /* quantize enough rows for ~0.05 s of the slower quantizers */
        int qrows = t == LQMF_TYPE_F32 || t == LQMF_TYPE_F16 || t == LQMF_TYPE_BF16 ? ROWS : 16;
        double tq;
        BEST_TIME(tq, 2, 0.05, lqmf_quant_tensor(t, x, w, qrows, N, NULL));
        if (lqmf_quant_tensor(t, x, w, ROWS, N, NULL) != LQMF_OK) {
            fprintf(stderr, "%s: %s\n", lqmf_type_name(t), lqmf_last_error());
            return 1;
        }
        const lqmf_quant_traits *vt = lqmf_quant_traits_isa(ref->vec_dot_type, LQMF_ISA_REF);
        vt->from_float(x, act, N); /* any row serves as the activation vector */
        double bytes = (double)rb * ROWS, tr = dot_time(ref, w, rb, act);
        printf("%-7s %6.3f %10.1f %8.2f", lqmf_type_name(t), lqmf_type_bpw(t), 4.0 * qrows * N / tq / 1e6,
               bytes / tr / 1e9);
        double ta = fast ? dot_time(fast, w, rb, act) : 0;
        if (fast)
            printf(" %8.2f", bytes / ta / 1e9);
        else
            printf(" %8s", "-");
        if (avx512) {
            const lqmf_quant_traits *t512 = lqmf_quant_traits_isa(t, LQMF_ISA_AVX512);
            printf(" %8.2f %9.2f", bytes / dot_time(t512, w, rb, act) / 1e9,
                   bytes / tile1_time(t512, w, rb, act) / 1e9);
        } else
            printf(" %8s %9s", "-", "-");
        if (fast) {
            double td;
            BEST_TIME(td, 3, 0.03, fast->to_float(w, y, N); g_sink = y[0]);
            printf(" %9.1f %9.2f\n", tr / ta, (double)rb / td / 1e9);
        } else {
            printf(" %9s %9s\n", "-", "-");
        }
        fflush(stdout);
    }
    free(x);
    free(y);
    free(w);
    free(act);
    return 0;
}
