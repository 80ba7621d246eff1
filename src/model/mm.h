/* Internals of the engine: a thread pool and the matmul over weight tensors
 * with per-type dot-product kernels. */
#ifndef LQMF_MODEL_MM_H
#define LQMF_MODEL_MM_H

#include "lqmf/model.h"
#include "lqmf/quant.h"

/* ---- thread pool ------------------------------------------------------------
 * lqmf_pool_run calls fn(ctx, ith, nth) on nth threads (the caller is ith 0)
 * and returns when all are done. `work` (multiply-adds, roughly) below
 * LQMF_POOL_MIN_WORK runs on the caller alone: waking threads would cost more. */
#define LQMF_POOL_MIN_WORK (1u << 15)
typedef struct lqmf_pool lqmf_pool;
typedef void (*lqmf_pool_fn)(void *ctx, uint32_t ith, uint32_t nth);
lqmf_status lqmf_pool_new(uint32_t n_threads, lqmf_pool **out);
void lqmf_pool_free(lqmf_pool *p);
uint32_t lqmf_pool_size(const lqmf_pool *p);
void lqmf_pool_run(lqmf_pool *p, lqmf_pool_fn fn, void *ctx, uint64_t work);

/* ---- dot-product kernels ----------------------------------------------------
 * A tile of dot products over n elements: nr weight rows (type-specific
 * encoding, ws bytes apart) against nx f32 rows (xs floats apart):
 *   out[j * os + r] = sum_i w_r[i] * x_j[i]   r < nr <= LQMF_DOT_NR, j < nx <= LQMF_DOT_NX
 * so out can point straight into y (n_tok, n_out) with os = n_out. */
#define LQMF_DOT_NR 3
#define LQMF_DOT_NX 4
typedef void (*lqmf_dot_fn)(size_t n, const void *w, size_t ws, uint32_t nr, const float *x, size_t xs,
                            uint32_t nx, float *out, size_t os);

/* y[i] += a * x[i] for i < n (attention's weighted sum of values). */
typedef void (*lqmf_axpy_fn)(size_t n, float a, const float *x, float *y);

/* Weight types without a tile kernel go through the quantization kernels of
 * the same ISA (lqmf/quant.h): activations are converted to the type's
 * vec_dot_type once per product, then one vec_dot per output. */
typedef struct {
    const char *isa;                  /* "ref", "avx2", "avx512", "neon" */
    lqmf_isa id;                      /* the ISA of the quantization kernels to pair with */
    lqmf_dot_fn dot[LQMF_TYPE_COUNT]; /* NULL: no tile kernel for that weight type */
    lqmf_axpy_fn axpy;
} lqmf_mm_kernels;

/* The kernels of the active ISA (lqmf_kernel_isa: LQMF_ISA=ref|avx2|avx512|neon
 * or the best the CPU supports). The per-ISA getters exist in every build and
 * return NULL where the CPU (or the build's target) lacks the ISA. */
const lqmf_mm_kernels *lqmf_mm_kernels_get(void);
const lqmf_mm_kernels *lqmf_mm_kernels_ref(void);
const lqmf_mm_kernels *lqmf_mm_kernels_avx2(void); /* NULL when the CPU lacks AVX2/FMA/F16C */
/* The AVX2 tiles with the AVX-512 quantization kernels; NULL without AVX-512. */
const lqmf_mm_kernels *lqmf_mm_kernels_avx512(void);
/* Arm NEON tiles with the NEON quantization kernels; NULL off AArch64. */
const lqmf_mm_kernels *lqmf_mm_kernels_neon(void);
/* Row r of an embedding-like tensor widened to f32 (ne[0] floats); any type
 * with a to_float kernel. */
lqmf_status lqmf_row_to_f32(const lqmf_tensor *t, uint64_t r, float *out);
/* Can k multiply by a weight of type t? */
bool lqmf_mm_supported(const lqmf_mm_kernels *k, lqmf_type t);
/* Scratch bytes lqmf_mm needs for a weight of type t with rows of n_in and
 * n_tok tokens: the activations in the vec_dot_type (0 with a tile kernel). */
uint64_t lqmf_mm_scratch(const lqmf_mm_kernels *k, lqmf_type t, uint64_t n_in, uint32_t n_tok);

/* ---- matmul -------------------------------------------------------------------
 * y (n_tok, n_out) = x (n_tok, n_in) * W^T for W with ne = {n_in, n_out}, rows
 * contiguous. Up to LQMF_MM_MAX_JOBS products share one pool dispatch. */
#define LQMF_MM_MAX_JOBS 4
typedef struct {
    const lqmf_tensor *w;
    const float *x; /* (n_tok, n_in) */
    float *y;       /* (n_tok, n_out) */
} lqmf_mm_job;
/* scratch: the sum of lqmf_mm_scratch over the jobs (jobs with the same x
 * and vec_dot_type share their converted activations). */
void lqmf_mm(lqmf_pool *p, const lqmf_mm_kernels *k, const lqmf_mm_job *jobs, uint32_t n_jobs, uint32_t n_tok,
             void *scratch);

/* Tests: run an engine on the given kernels (same types supported). */
struct lqmf_engine;
void lqmf_engine_use_kernels(struct lqmf_engine *e, const lqmf_mm_kernels *k);

#endif
