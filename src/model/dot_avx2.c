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
INLINE float one_bf16(const void *w, size_t i) { return lqmf_bf16_to_f32(((const uint16_t *)w)[i]); }

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One token: four accumulators over 32 elements keep both FMA ports busy.
 * Up to four tokens: each weight vector is loaded (and widened) once for all
 * of them, two accumulators per token; missing tokens repeat row 0 and their
 * sums are dropped. */
#define FMA4(acc, wv, off)                                                                                   \
    acc##0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x0 + (off)), acc##0);                                       \
    acc##1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x1 + (off)), acc##1);                                       \
    acc##2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x2 + (off)), acc##2);                                       \
    acc##3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x3 + (off)), acc##3)
#define DEF_DOT(T)                                                                                           \
    INLINE void dot1_##T(size_t n, const void *w, const float *x, float *out) {                              \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                          \
        size_t i = 0;                                                                                        \
        for (; i + 32 <= n; i += 32) {                                                                       \
            a0 = _mm256_fmadd_ps(load_##T(w, i), _mm256_loadu_ps(x + i), a0);                                \
            a1 = _mm256_fmadd_ps(load_##T(w, i + 8), _mm256_loadu_ps(x + i + 8), a1);                        \
            a2 = _mm256_fmadd_ps(load_##T(w, i + 16), _mm256_loadu_ps(x + i + 16), a2);                      \
            a3 = _mm256_fmadd_ps(load_##T(w, i + 24), _mm256_loadu_ps(x + i + 24), a3);                      \
        }                                                                                                    \
        for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_##T(w, i), _mm256_loadu_ps(x + i), a0);         \
        float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                         \
        for (; i < n; i++) s += one_##T(w, i) * x[i];                                                        \
        *out = s;                                                                                            \
    }                                                                                                        \
    static void dot4_##T(size_t n, const void *w, const float *x, size_t xs, uint32_t nx, float *out) {      \
        const float *x0 = x, *x1 = nx > 1 ? x + xs : x, *x2 = nx > 2 ? x + 2 * xs : x;                       \
        const float *x3 = nx > 3 ? x + 3 * xs : x;                                                           \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                          \
        __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;                                                           \
        size_t i = 0;                                                                                        \
        for (; i + 16 <= n; i += 16) {                                                                       \
            const __m256 w0 = load_##T(w, i), w1 = load_##T(w, i + 8);                                       \
            FMA4(a, w0, i);                                                                                  \
            FMA4(b, w1, i + 8);                                                                              \
        }                                                                                                    \
        for (; i + 8 <= n; i += 8) {                                                                         \
            const __m256 w0 = load_##T(w, i);                                                                \
            FMA4(a, w0, i);                                                                                  \
        }                                                                                                    \
        float s[4] = {hsum(_mm256_add_ps(a0, b0)), hsum(_mm256_add_ps(a1, b1)), hsum(_mm256_add_ps(a2, b2)), \
                      hsum(_mm256_add_ps(a3, b3))};                                                          \
        for (uint32_t j = 0; j < nx; j++) {                                                                  \
            for (size_t k = i; k < n; k++) s[j] += one_##T(w, k) * x[j * xs + k];                            \
            out[j] = s[j];                                                                                   \
        }                                                                                                    \
    }                                                                                                        \
    static void dot_##T(size_t n, const void *w, const float *x, size_t xs, uint32_t nx, float *out) {       \
        if (nx == 1)                                                                                         \
            dot1_##T(n, w, x, out);                                                                          \
        else                                                                                                 \
            dot4_##T(n, w, x, xs, nx, out);                                                                  \
    }

DEF_DOT(f32)
DEF_DOT(f16)
DEF_DOT(bf16)

static void axpy(size_t n, float a, const float *x, float *y) {
    const __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static const lqmf_mm_kernels g_avx2 = {
    .isa = "avx2",
    .axpy = axpy,
    .dot = {[LQMF_TYPE_F32] = dot_f32, [LQMF_TYPE_F16] = dot_f16, [LQMF_TYPE_BF16] = dot_bf16},
};

const lqmf_mm_kernels *lqmf_mm_kernels_avx2(void) {
    __builtin_cpu_init();
    bool ok =
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return ok ? &g_avx2 : NULL;
}
#else
const lqmf_mm_kernels *lqmf_mm_kernels_avx2(void) { return NULL; }
#endif
