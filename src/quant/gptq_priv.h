/* Internals shared by gptq.c and gptq_calib.c: a fork-join run over
 * threads (the quantizer's rows, the Hessian's rows). */
#ifndef LQMF_QUANT_GPTQ_PRIV_H
#define LQMF_QUANT_GPTQ_PRIV_H

#include <stdint.h>
#include <string.h>

/* fn(ctx, ith, nth) for ith in 0..nth-1, each on its own thread (the caller
 * runs ith 0; a thread that cannot start runs on the caller). Returns when
 * all are done. */
typedef void (*lqmf_gptq_task)(void *ctx, uint32_t ith, uint32_t nth);
void lqmf_gptq_parallel(uint32_t nth, lqmf_gptq_task fn, void *ctx);
/* n, or the online CPUs when n is 0, capped at 64. */
uint32_t lqmf_gptq_threads(uint32_t n);

/* y[k] += a * x[k], in 16-byte vectors (the compiler's default -O2 cost
 * model leaves these loops scalar). Element-wise, so the rounding is that
 * of the plain loop. */
typedef float lqmf_gptq_v4f __attribute__((vector_size(16)));
typedef double lqmf_gptq_v2d __attribute__((vector_size(16)));

static inline void lqmf_gptq_axpy_f32(float *restrict y, const float *restrict x, float a, uint64_t n) {
    const lqmf_gptq_v4f va = {a, a, a, a};
    uint64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        lqmf_gptq_v4f x0, x1, y0, y1;
        memcpy(&x0, x + k, 16);
        memcpy(&x1, x + k + 4, 16);
        memcpy(&y0, y + k, 16);
        memcpy(&y1, y + k + 4, 16);
        y0 += va * x0;
        y1 += va * x1;
        memcpy(y + k, &y0, 16);
        memcpy(y + k + 4, &y1, 16);
    }
    for (; k < n; k++) y[k] += a * x[k];
}

static inline void lqmf_gptq_axpy_f64(double *restrict y, const double *restrict x, double a, uint64_t n) {
    const lqmf_gptq_v2d va = {a, a};
    uint64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        lqmf_gptq_v2d x0, x1, y0, y1;
        memcpy(&x0, x + k, 16);
        memcpy(&x1, x + k + 2, 16);
        memcpy(&y0, y + k, 16);
        memcpy(&y1, y + k + 2, 16);
        y0 += va * x0;
        y1 += va * x1;
        memcpy(y + k, &y0, 16);
        memcpy(y + k + 2, &y1, 16);
    }
    for (; k < n; k++) y[k] += a * x[k];
}

#endif
