/* Arm NEON (AArch64) dot-product kernels for F32, F16 and BF16 weight rows
 * against f32 activations (see lqmf_dot_fn), paired with the NEON
 * quantization kernels. Weights are widened to f32 in registers (F16 by
 * FCVTL, part of every AArch64 CPU), so results differ from the reference
 * only by summation order. Empty stubs elsewhere. */
#include "lqmf/quant.h"
#include "mm.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define INLINE static inline __attribute__((always_inline))

/* Four weights from element i on, as f32. */
INLINE float32x4_t load_f32(const void *w, size_t i) { return vld1q_f32((const float *)w + i); }
INLINE float32x4_t load_f16(const void *w, size_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
}
INLINE float32x4_t load_bf16(const void *w, size_t i) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16));
}
INLINE float one_f32(const void *w, size_t i) { return ((const float *)w)[i]; }
INLINE float one_f16(const void *w, size_t i) { return lqmf_fp16_to_f32(((const uint16_t *)w)[i]); }
INLINE float one_bf16(const void *w, size_t i) { return lqmf_bf16_to_f32(((const uint16_t *)w)[i]); }

/* The tile shapes of the AVX2 kernels on 4-lane registers (32 of them):
 * - 1 x 1 (decoding): four accumulators over 16 elements;
 * - 1 x 4 (attention scores): each weight vector is widened once for four tokens;
 * - 3 x 4 (prompts): 12 accumulators, 7 loads per 12 FMAs.
 * Missing rows or tokens of a partial tile repeat the first one and their sums
 * are dropped. */
#define FMA(acc, wv, xv) acc = vfmaq_f32(acc, wv, xv)
#define DEF_DOT(T)                                                                                           \
    INLINE float dot1_##T(size_t n, const void *w, const float *x) {                                         \
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;                                          \
        size_t i = 0;                                                                                        \
        for (; i + 16 <= n; i += 16) {                                                                       \
            FMA(a0, load_##T(w, i), vld1q_f32(x + i));                                                       \
            FMA(a1, load_##T(w, i + 4), vld1q_f32(x + i + 4));                                               \
            FMA(a2, load_##T(w, i + 8), vld1q_f32(x + i + 8));                                               \
            FMA(a3, load_##T(w, i + 12), vld1q_f32(x + i + 12));                                             \
        }                                                                                                    \
        for (; i + 4 <= n; i += 4) FMA(a0, load_##T(w, i), vld1q_f32(x + i));                                \
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));                               \
        for (; i < n; i++) s += one_##T(w, i) * x[i];                                                        \
        return s;                                                                                            \
    }                                                                                                        \
    INLINE void dot14_##T(size_t n, const void *w, const float *x, size_t xs, uint32_t nx, float *out,       \
                          size_t os) {                                                                       \
        const float *x0 = x, *x1 = nx > 1 ? x + xs : x, *x2 = nx > 2 ? x + 2 * xs : x;                       \
        const float *x3 = nx > 3 ? x + 3 * xs : x;                                                           \
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;                                          \
        size_t i = 0;                                                                                        \
        for (; i + 4 <= n; i += 4) {                                                                         \
            const float32x4_t wv = load_##T(w, i);                                                           \
            FMA(a0, wv, vld1q_f32(x0 + i));                                                                  \
            FMA(a1, wv, vld1q_f32(x1 + i));                                                                  \
            FMA(a2, wv, vld1q_f32(x2 + i));                                                                  \
            FMA(a3, wv, vld1q_f32(x3 + i));                                                                  \
        }                                                                                                    \
        float s[4] = {vaddvq_f32(a0), vaddvq_f32(a1), vaddvq_f32(a2), vaddvq_f32(a3)};                       \
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
        float32x4_t a[3][4];                                                                                 \
        for (int r = 0; r < 3; r++)                                                                          \
            for (int j = 0; j < 4; j++) a[r][j] = vdupq_n_f32(0);                                            \
        size_t i = 0;                                                                                        \
        for (; i + 4 <= n; i += 4) {                                                                         \
            const float32x4_t u = load_##T(w0, i), v = load_##T(w1, i), t = load_##T(w2, i);                \
            for (int j = 0; j < 4; j++) {                                                                    \
                const float32x4_t xv = vld1q_f32(xj[j] + i);                                                 \
                FMA(a[0][j], u, xv), FMA(a[1][j], v, xv), FMA(a[2][j], t, xv);                               \
            }                                                                                                \
        }                                                                                                    \
        const void *wr[3] = {w0, w1, w2};                                                                    \
        for (uint32_t r = 0; r < nr; r++)                                                                    \
            for (uint32_t j = 0; j < nx; j++) {                                                              \
                float s = vaddvq_f32(a[r][j]);                                                               \
                for (size_t k = i; k < n; k++) s += one_##T(wr[r], k) * xj[j][k];                            \
                out[j * os + r] = s;                                                                         \
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
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

static const lqmf_mm_kernels g_neon = {
    .isa = "neon",
    .id = LQMF_ISA_NEON,
    .axpy = axpy,
    .dot = {[LQMF_TYPE_F32] = dot_f32, [LQMF_TYPE_F16] = dot_f16, [LQMF_TYPE_BF16] = dot_bf16},
};

const lqmf_mm_kernels *lqmf_mm_kernels_neon(void) {
    return lqmf_kernel_isa_available(LQMF_ISA_NEON) ? &g_neon : NULL;
}
#else
const lqmf_mm_kernels *lqmf_mm_kernels_neon(void) { return NULL; }
#endif
