/* Quantized tensor types: quantizers, dequantizers and dot products.
 *
 * Every supported type has a traits entry with four row functions. A "row"
 * is n consecutive weights, n a multiple of the type's block size (32 or 256,
 * see types.h); the raw row functions do not check this (hot path), the
 * lqmf_quant_* wrappers below do. Block byte layouts follow GGUF/ggml exactly
 * (src/kernels/blocks.h), so dequantizing our bytes or llama.cpp's gives the
 * same floats. The quantization search is our own: it minimises a weighted
 * squared error, with weights from an importance matrix when one is given.
 *
 * Kernels exist per instruction set; the scalar "ref" path is the
 * specification and every SIMD path is tested against it. */
#ifndef LQMF_QUANT_H
#define LQMF_QUANT_H

#include "lqmf/core.h"
#include "lqmf/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- instruction sets ---------------------------------------------------- */
typedef enum {
    LQMF_ISA_REF = 0, /* portable scalar C: the reference */
    LQMF_ISA_AVX2,    /* AVX2 + FMA + F16C */
    LQMF_ISA_AVX512,  /* AVX-512 F/BW/DQ/VL: AVX2 kernels plus 512-bit dot products
                         for F32, F16, BF16 and Q6_K, and, where the CPU has
                         AVX-512 VNNI, tiles for Q4_0, Q5_0, Q8_0 and IQ4_NL */
    LQMF_ISA_NEON,    /* Arm AArch64 Advanced SIMD, with SDOT where the library is
                         built for the dotprod extension (then the CPU must have it) */
    LQMF_ISA_COUNT
} lqmf_isa;

/* Choose the active ISA: the best one the CPU supports, or the one named by
 * the environment variable LQMF_ISA=ref|avx2|avx512|neon ("scalar" is a
 * synonym of "ref"). A forced ISA that is
 * unknown, not built in or not supported by this CPU is an error (and the
 * active ISA is left unchanged). Call once at startup to report that error;
 * lookups made before any call initialise lazily and fall back to the best
 * supported ISA if the variable is bad. Thread-safe. */
lqmf_status lqmf_kernel_init(void);
/* Select an ISA explicitly (tests, benchmarks, --isa flags). */
lqmf_status lqmf_kernel_select(lqmf_isa isa);
lqmf_isa lqmf_kernel_isa(void);                 /* the active ISA */
const char *lqmf_kernel_isa_name(lqmf_isa isa); /* "ref", "avx2", "avx512", "neon" */
/* Built into this library and supported by this CPU (ref: always). */
bool lqmf_kernel_isa_available(lqmf_isa isa);

/* ---- row functions ------------------------------------------------------- */
/* Dequantize n weights (n/block_size blocks at x) into y[n]. */
typedef void (*lqmf_to_float_fn)(const void *x, float *y, int64_t n);
/* Quantize x[n] into n/block_size blocks at y. imatrix: NULL, or n
 * non-negative importances (mean squared activation of each column); the
 * search minimises sum_i imatrix[i] * f(x_i) * (x_i - y_i)^2. */
typedef void (*lqmf_quantize_fn)(const float *x, void *y, int64_t n, const float *imatrix);
/* Fast quantizer for activations (no search); only set on activation types. */
typedef void (*lqmf_from_float_fn)(const float *x, void *y, int64_t n);
/* sum_i w[i]*a[i] over n weights; w in the weight type, a in its vec_dot_type
 * as from_float makes it (Q8_0/Q8_K levels within +-127: the SIMD kernels
 * negate activation bytes, so -128 is not allowed there). */
typedef float (*lqmf_vec_dot_fn)(int64_t n, const void *w, const void *a);
/* A tile of vec_dots: nr weight rows (ws bytes apart) against nx activation
 * rows in the vec_dot_type (as bytes apart), 1 <= nr, nx <= LQMF_QUANT_TILE:
 *   out[j * os + r] = vec_dot(n, w + r * ws, a + j * as)
 * (equal up to float summation order), so out can point into y (n_tok,
 * n_out) with os = n_out. Each weight block is read once for all nx rows. */
#define LQMF_QUANT_TILE 4
typedef void (*lqmf_vec_dot_tile_fn)(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                                     int nx, float *out, size_t os);

typedef struct {
    lqmf_type type;
    lqmf_type vec_dot_type;     /* the type activations are quantized to for vec_dot:
                                   F32 for F32/F16/BF16, Q8_0 for the 32-blocks,
                                   Q8_K for the k-quants and IQ4_XS */
    lqmf_to_float_fn to_float;  /* always set */
    lqmf_quantize_fn quantize;  /* always set */
    lqmf_from_float_fn from_float; /* set for F32, Q8_0, Q8_K (the vec_dot_types) */
    lqmf_vec_dot_fn vec_dot;    /* NULL for Q8_K (activation-only type) */
    lqmf_vec_dot_tile_fn vec_dot_tile; /* set where vec_dot is */
} lqmf_quant_traits;

/* Traits of t for the active ISA, or NULL when t has no kernels here.
 * Points to static storage; valid for the life of the process. */
const lqmf_quant_traits *lqmf_quant_traits_get(lqmf_type t);
/* Traits of t for a given ISA (functions missing on that ISA fall back to
 * the reference ones). NULL when t is unsupported or isa is not available. */
const lqmf_quant_traits *lqmf_quant_traits_isa(lqmf_type t, lqmf_isa isa);

/* ---- checked tensor calls ------------------------------------------------ */
/* Quantize nrows rows of n_per_row floats (row-major src) into dst, which
 * must hold nrows * row_bytes(t, n_per_row) bytes. Rows are independent and
 * the call keeps no state, so threads may quantize disjoint row ranges
 * concurrently (offset src and dst by whole rows). imatrix: NULL or
 * n_per_row importances shared by all rows. Fails with LQMF_E_INVALID when
 * n_per_row is not a multiple of the block size, a value of src is not finite
 * or an importance is negative or not finite; LQMF_E_UNSUPPORTED for a type
 * without a quantizer. */
lqmf_status lqmf_quant_tensor(lqmf_type t, const float *src, void *dst, int64_t nrows,
                              int64_t n_per_row, const float *imatrix);
/* Dequantize n weights of type t from src into dst[n]. */
lqmf_status lqmf_quant_dequantize(lqmf_type t, const void *src, float *dst, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
