/* Dot-product tiles that are nr x nx calls of the type's dot: every type
 * on the reference ISA (the specification of a tile), and on AVX2 the types
 * without a tile kernel of their own (float types, Q4_1, Q5_1, Q2_K, Q3_K,
 * IQ4_XS; the others are in legacy_avx2.c and kquants_avx2.c). The NEON
 * tiles are in the *_neon.c files. */
#include "kernels/kernels.h"

LQMF_K_TILE_BY_DOT(f32, ref)
LQMF_K_TILE_BY_DOT(f16, ref)
LQMF_K_TILE_BY_DOT(bf16, ref)
LQMF_K_TILE_BY_DOT(q4_0, ref)
LQMF_K_TILE_BY_DOT(q4_1, ref)
LQMF_K_TILE_BY_DOT(q5_0, ref)
LQMF_K_TILE_BY_DOT(q5_1, ref)
LQMF_K_TILE_BY_DOT(q8_0, ref)
LQMF_K_TILE_BY_DOT(iq4_nl, ref)
LQMF_K_TILE_BY_DOT(q2_K, ref)
LQMF_K_TILE_BY_DOT(q3_K, ref)
LQMF_K_TILE_BY_DOT(q4_K, ref)
LQMF_K_TILE_BY_DOT(q5_K, ref)
LQMF_K_TILE_BY_DOT(q6_K, ref)
LQMF_K_TILE_BY_DOT(iq4_xs, ref)

#if defined(__x86_64__) || defined(__i386__)
LQMF_K_TILE_BY_DOT(f32, avx2)
LQMF_K_TILE_BY_DOT(f16, avx2)
LQMF_K_TILE_BY_DOT(bf16, avx2)
LQMF_K_TILE_BY_DOT(q4_1, avx2)
LQMF_K_TILE_BY_DOT(q5_1, avx2)
LQMF_K_TILE_BY_DOT(q2_K, avx2)
LQMF_K_TILE_BY_DOT(q3_K, avx2)
LQMF_K_TILE_BY_DOT(iq4_xs, avx2)
#endif
