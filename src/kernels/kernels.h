/* Kernel entry points per type and instruction set (private to the library).
 * Names: lqmf_k_<type>_<op>_<isa>, op one of
 *   to_float(const void *x, float *y, int64_t n)          dequantize n weights
 *   dot(int64_t n, const void *w, const void *a) -> float  w . a, a in the vec_dot type
 *   dot_tile(n, w, ws, nr, a, as, nx, out, os)             a tile of dots (lqmf_vec_dot_tile_fn)
 *   from_float(const float *x, void *y, int64_t n)         fast activation quantizer
 *   quantize(const float *x, void *y, int64_t n, const float *imatrix) (float types)
 * n is always a multiple of the block size; callers check. */
#ifndef LQMF_KERNELS_KERNELS_H
#define LQMF_KERNELS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LQMF_K_TO_FLOAT(t, isa) void lqmf_k_##t##_to_float_##isa(const void *x, float *y, int64_t n)
#define LQMF_K_DOT(t, isa) float lqmf_k_##t##_dot_##isa(int64_t n, const void *w, const void *a)
#define LQMF_K_DOT_TILE(t, isa)                                                                  \
    void lqmf_k_##t##_dot_tile_##isa(int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, \
                                     int nx, float *out, size_t os)
#define LQMF_K_FROM_FLOAT(t, isa) void lqmf_k_##t##_from_float_##isa(const float *x, void *y, int64_t n)
#define LQMF_K_QUANTIZE(t, isa)                                                              \
    void lqmf_k_##t##_quantize_##isa(const float *x, void *y, int64_t n, const float *imatrix)

/* Types with both a dequantizer and a dot product on a given ISA. */
#define LQMF_K_DECLARE(t, isa) LQMF_K_TO_FLOAT(t, isa); LQMF_K_DOT(t, isa); LQMF_K_DOT_TILE(t, isa)
#define LQMF_K_DECLARE_ALL(isa)                                                              \
    LQMF_K_DECLARE(f32, isa); LQMF_K_DECLARE(f16, isa); LQMF_K_DECLARE(bf16, isa);            \
    LQMF_K_DECLARE(q4_0, isa); LQMF_K_DECLARE(q4_1, isa); LQMF_K_DECLARE(q5_0, isa);          \
    LQMF_K_DECLARE(q5_1, isa); LQMF_K_DECLARE(q8_0, isa); LQMF_K_DECLARE(iq4_nl, isa);        \
    LQMF_K_DECLARE(q2_K, isa); LQMF_K_DECLARE(q3_K, isa); LQMF_K_DECLARE(q4_K, isa);          \
    LQMF_K_DECLARE(q5_K, isa); LQMF_K_DECLARE(q6_K, isa); LQMF_K_DECLARE(iq4_xs, isa);        \
    LQMF_K_TO_FLOAT(q8_K, isa);                                                               \
    LQMF_K_QUANTIZE(f32, isa); LQMF_K_QUANTIZE(f16, isa); LQMF_K_QUANTIZE(bf16, isa);         \
    LQMF_K_FROM_FLOAT(f32, isa); LQMF_K_FROM_FLOAT(q8_0, isa); LQMF_K_FROM_FLOAT(q8_K, isa)

LQMF_K_DECLARE_ALL(ref);
LQMF_K_DECLARE_ALL(avx2);
LQMF_K_DECLARE_ALL(neon); /* AArch64 builds only */
/* AVX-512 has only the dot products that beat AVX2; the rest is AVX2. */
LQMF_K_DOT(f32, avx512);
LQMF_K_DOT(f16, avx512);
LQMF_K_DOT(bf16, avx512);
LQMF_K_DOT(q6_K, avx512);
LQMF_K_DOT_TILE(q4_0, avx512);
LQMF_K_DOT_TILE(q5_0, avx512);
LQMF_K_DOT_TILE(q8_0, avx512);
LQMF_K_DOT_TILE(iq4_nl, avx512);

/* A tile as nr x nx calls of the type's dot on that ISA (types without a
 * tile kernel of their own, and the reference). */
#define LQMF_K_TILE_BY_DOT(t, isa)                                                                     \
    LQMF_K_DOT_TILE(t, isa) {                                                                          \
        for (int j = 0; j < nx; j++)                                                                   \
            for (int r = 0; r < nr; r++)                                                               \
                out[(size_t)j * os + (size_t)r] =                                                      \
                    lqmf_k_##t##_dot_##isa(n, (const uint8_t *)w + (size_t)r * ws, (const uint8_t *)a + (size_t)j * as); \
    }

#endif
