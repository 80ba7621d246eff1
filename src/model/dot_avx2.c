/* AVX2 + FMA + F16C dot-product kernels for F32, F16 and BF16 weight rows
 * against f32 activations (see lqmf_dot_fn). Weights are widened to f32 in
 * registers, so results differ from the reference only by summation order. */
#include "mm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

INLINE __m256 load_f32(const void *w, size_t i) { return _mm256_loadu_ps((const float *)w + i); }
INLINE __m256 load_f16(const void *w, size_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
}
INLINE __m256 load_bf16(const void *w, size_t i) {
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
INLINE float one_f32(const void *w, size_t i) { return ((const float *)w)[i]; }
INLINE float one_f16(const void *w, size_t i) { return _cvtsh_ss(((const uint16_t *)w)[i]); }
INLINE float one_bf16(const void *w, size_t i) {
    return lqmf_bf16_to_f32(((const uint16_t *)w)[i]);
}

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One token: four accumulators over 32 elements keep both FMA ports busy.
 * nx tokens (constant after inlining): two accumulators per token. */
#define DEF_DOT(T)                                                                          \
    INLINE void dot1_##T(size_t n, const void *w, const float *x, float *out) {             \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                         \
        size_t i = 0;                                                                       \
        for (; i + 32 <= n; i += 32) {                                                      \
            a0 = _mm256_fmadd_ps(load_##T(w, i), _mm256_loadu_ps(x + i), a0);                \
            a1 = _mm256_fmadd_ps(load_##T(w, i + 8), _mm256_loadu_ps(x + i + 8), a1);        \
            a2 = _mm256_fmadd_ps(load_##T(w, i + 16), _mm256_loadu_ps(x + i + 16), a2);      \
            a3 = _mm256_fmadd_ps(load_##T(w, i + 24), _mm256_loadu_ps(x + i + 24), a3);      \
        }                                                                                   \
        for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_##T(w, i), _mm256_loadu_ps(x + i), a0); \
        float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));        \
        for (; i < n; i++) s += one_##T(w, i) * x[i];                                       \
        *out = s;                                                                           \
    }                                                                                       \
    INLINE void dotn_##T(size_t n, const void *w, const float *x, size_t xs, uint32_t nx,   \
                         float *out) {                                                      \
        __m256 a[LQMF_DOT_NX], b[LQMF_DOT_NX];                                              \
        for (uint32_t j = 0; j < nx; j++) a[j] = b[j] = _mm256_setzero_ps();                \
        size_t i = 0;                                                                       \
        for (; i + 16 <= n; i += 16) {                                                      \
            __m256 w0 = load_##T(w, i), w1 = load_##T(w, i + 8);                            \
            for (uint32_t j = 0; j < nx; j++) {                                             \
                a[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + j * xs + i), a[j]);          \
                b[j] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + j * xs + i + 8), b[j]);      \
            }                                                                               \
        }                                                                                   \
        for (; i + 8 <= n; i += 8) {                                                        \
            __m256 w0 = load_##T(w, i);                                                     \
            for (uint32_t j = 0; j < nx; j++)                                               \
                a[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + j * xs + i), a[j]);          \
        }                                                                                   \
        for (uint32_t j = 0; j < nx; j++) {                                                 \
            float s = hsum(_mm256_add_ps(a[j], b[j]));                                      \
            for (size_t k = i; k < n; k++) s += one_##T(w, k) * x[j * xs + k];              \
            out[j] = s;                                                                     \
        }                                                                                   \
    }                                                                                       \
    static void dot_##T(size_t n, const void *w, const float *x, size_t xs, uint32_t nx,    \
                        float *out) {                                                       \
        switch (nx) {                                                                       \
        case 1: dot1_##T(n, w, x, out); break;                                              \
        case 2: dotn_##T(n, w, x, xs, 2, out); break;                                       \
        case 3: dotn_##T(n, w, x, xs, 3, out); break;                                       \
        default: dotn_##T(n, w, x, xs, 4, out); break;                                      \
        }                                                                                   \
    }

DEF_DOT(f32)
DEF_DOT(f16)
DEF_DOT(bf16)

static const lqmf_mm_kernels g_avx2 = {
    .isa = "avx2",
    .dot = { [LQMF_TYPE_F32] = dot_f32, [LQMF_TYPE_F16] = dot_f16, [LQMF_TYPE_BF16] = dot_bf16 },
};

const lqmf_mm_kernels *lqmf_mm_kernels_avx2(void) {
    __builtin_cpu_init();
    bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
              __builtin_cpu_supports("f16c");
    return ok ? &g_avx2 : NULL;
}
#else
const lqmf_mm_kernels *lqmf_mm_kernels_avx2(void) { return NULL; }
#endif
