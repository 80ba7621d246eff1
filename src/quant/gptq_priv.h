/* Internals shared by gptq.c and gptq_calib.c: a fork-join run over
 * threads (the quantizer's rows, the Hessian's rows). */
#ifndef LQMF_QUANT_GPTQ_PRIV_H
#define LQMF_QUANT_GPTQ_PRIV_H

#include <stdint.h>

/* fn(ctx, ith, nth) for ith in 0..nth-1, each on its own thread (the caller
 * runs ith 0; a thread that cannot start runs on the caller). Returns when
 * all are done. */
typedef void (*lqmf_gptq_task)(void *ctx, uint32_t ith, uint32_t nth);
void lqmf_gptq_parallel(uint32_t nth, lqmf_gptq_task fn, void *ctx);
/* n, or the online CPUs when n is 0, capped at 64. */
uint32_t lqmf_gptq_threads(uint32_t n);

#endif
