/* AVX2 + FMA + F16C dot-product kernels for F32, F16 and BF16 weight rows
 * against f32 activations (see lqmf_dot_fn). Weights are widened to f32 in
 * registers, so results differ from the reference only by summation order. */
#include "lqmf/quant.h"
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

/* Three tile shapes:
 * - 1 x 1 (decoding): four accumulators over 32 elements keep both FMA ports busy;
 * - 1 x 4 (attention scores): each weight vector is widened once for four tokens;
 * - 3 x 4 (prompts): 12 accumulators, 7 loads per 12 FMAs, so the tokens' rows
 *   are read from cache a third as often as with one row at a time.
 * Missing rows or tokens of a partial tile repeat the first one and their sums
 * are dropped. */
#define FMA(acc, wv, xv) acc = _mm256_fmadd_ps(wv, xv, acc)
#define DEF_DOT(T)                                                                                           \
    INLINE float dot1_##T(size_t n, const void *w, const float *x) {                                         \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                          \
        size_t i = 0;                                                                                        \
        for (; i + 32 <= n; i += 32) {                                                                       \
            FMA(a0, load_##T(w, i), _mm256_loadu_ps(x + i));                                                 \
            FMA(a1, load_##T(w, i + 8), _mm256_loadu_ps(x + i + 8));                                         \
            FMA(a2, load_##T(w, i + 16), _mm256_loadu_ps(x + i + 16));                                       \
            FMA(a3, load_##T(w, i + 24), _mm256_loadu_ps(x + i + 24));                                       \
        }                                                                                                    \
        for (; i + 8 <= n; i += 8) FMA(a0, load_##T(w, i), _mm256_loadu_ps(x + i));                          \
        float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                         \
        for (; i < n; i++) s += one_##T(w, i) * x[i];                                                        \
        return s;                                                                                            \
    }                                                                                                        \
    INLINE void dot14_##T(size_t n, const void *w, const float *x, size_t xs, uint32_t nx, float *out,       \
                          size_t os) {                                                                       \
        const float *x0 = x, *x1 = nx > 1 ? x + xs : x, *x2 = nx > 2 ? x + 2 * xs : x;                       \
        const float *x3 = nx > 3 ? x + 3 * xs : x;                                                           \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                          \
        size_t i = 0;                                                                                        \
        for (; i + 8 <= n; i += 8) {                                                                         \
            const __m256 wv = load_##T(w, i);                                                                \
            FMA(a0, wv, _mm256_loadu_ps(x0 + i));                                                            \
            FMA(a1, wv, _mm256_loadu_ps(x1 + i));                                                            \
            FMA(a2, wv, _mm256_loadu_ps(x2 + i));                                                            \
            FMA(a3, wv, _mm256_loadu_ps(x3 + i));                                                            \
        }                                                                                                    \
        float s[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};                                               \
        for (uint32_t j = 0; j < nx; j++) {                                                                  \
            for (size_t k = i; k < n; k++) s[j] += one_##T(w, k) * x[j * xs + k];                            \
            out[j * os] = s[j];                                                                              \
        }                                                                                                    \
    }                                                                                                        \
    INLINE void dot34_##T(size_t n, const void *w, size_t ws, uint32_t nr, const float *x, size_t xs,        \
                          uint32_t nx, float *out, size_t os) {                                              \
        const void *w0 = w, *w1 = (const uint8_t *)w + (nr > 1 ? ws : 0);                                    \
        const void *w2 = (const uint8_t *)w + (nr > 2 ? 2 * ws : 0);                                         \
        const float *xj[4] = {x, nx > 1 ? x + xs : x, nx > 2 ? x + 2 * xs : x, nx > 3 ? x + 3 * xs : x};     \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;      \
        __m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0;                                                           \
        size_t i = 0;                                                                                        \
        for (; i + 8 <= n; i += 8) {                                                                         \
            const __m256 u = load_##T(w0, i), v = load_##T(w1, i), t = load_##T(w2, i);                      \
            __m256 xv = _mm256_loadu_ps(xj[0] + i);                                                          \
            FMA(a0, u, xv), FMA(b0, v, xv), FMA(c0, t, xv);                                                  \
            xv = _mm256_loadu_ps(xj[1] + i);                                                                 \
            FMA(a1, u, xv), FMA(b1, v, xv), FMA(c1, t, xv);                                                  \
            xv = _mm256_loadu_ps(xj[2] + i);                                                                 \
            FMA(a2, u, xv), FMA(b2, v, xv), FMA(c2, t, xv);                                                  \
            xv = _mm256_loadu_ps(xj[3] + i);                                                                 \
            FMA(a3, u, xv), FMA(b3, v, xv), FMA(c3, t, xv);                                                  \
        }                                                                                                    \
        float s[3][4] = {{hsum(a0), hsum(a1), hsum(a2), hsum(a3)},                                           \
                         {hsum(b0), hsum(b1), hsum(b2), hsum(b3)},                                           \
                         {hsum(c0), hsum(c1), hsum(c2), hsum(c3)}};                                          \
        const void *wr[3] = {w0, w1, w2};                                                                    \
        for (uint32_t r = 0; r < nr; r++)                                                                    \
            for (uint32_t j = 0; j < nx; j++) {                                                              \
                for (size_t k = i; k < n; k++) s[r][j] += one_##T(wr[r], k) * xj[j][k];                      \
                out[j * os + r] = s[r][j];                                                                   \
            }                                                                                                \
    }                                                                                                        \
    static void dot_##T(size_t n, const void *w, size_t ws, uint32_t nr, const float *x, size_t xs,          \
                        uint32_t nx, float *out, size_t os) {                                                \
        if (nx == 1)                                                                                         \
            for (uint32_t r = 0; r < nr; r++) out[r] = dot1_##T(n, (const uint8_t *)w + r * ws, x);          \
        else if (nr == 1)                                                                                    \
            dot14_##T(n, w, x, xs, nx, out, os);                                                             \
        else                                                                                                 \
            dot34_##T(n, w, ws, nr, x, xs, nx, out, os);                                                     \
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
    .id = LQMF_ISA_AVX2,
    .axpy = axpy,
    .dot = {[LQMF_TYPE_F32] = dot_f32, [LQMF_TYPE_F16] = dot_f16, [LQMF_TYPE_BF16] = dot_bf16},
};

/* The same tiles, paired with the AVX-512 quantization kernels. */
static const lqmf_mm_kernels g_avx512 = {
    .isa = "avx512",
    .id = LQMF_ISA_AVX512,
    .axpy = axpy,
    .dot = {[LQMF_TYPE_F32] = dot_f32, [LQMF_TYPE_F16] = dot_f16, [LQMF_TYPE_BF16] = dot_bf16},
};

const lqmf_mm_kernels *lqmf_mm_kernels_avx2(void) {
    return lqmf_kernel_isa_available(LQMF_ISA_AVX2) ? &g_avx2 : NULL;
}
const lqmf_mm_kernels *lqmf_mm_kernels_avx512(void) {
    return lqmf_kernel_isa_available(LQMF_ISA_AVX512) ? &g_avx512 : NULL;
}
#else
const lqmf_mm_kernels *lqmf_mm_kernels_avx2(void) { return NULL; }
const lqmf_mm_kernels *lqmf_mm_kernels_avx512(void) { return NULL; }
#endif
