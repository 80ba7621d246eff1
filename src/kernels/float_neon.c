/* Float types, Arm NEON (AArch64). Conversions give the same bits as the
 * reference for finite values; dot products accumulate in float lanes. */
#if defined(__aarch64__)
#include "kernels/simd_neon.h"

#include "lqmf/core.h"

#include <string.h>

LQMF_K_TO_FLOAT(f32, neon) { memcpy(y, x, (size_t)n * sizeof(float)); }
LQMF_K_FROM_FLOAT(f32, neon) { memcpy(y, x, (size_t)n * sizeof(float)); }

LQMF_K_QUANTIZE(f32, neon) {
    (void)imatrix;
    memcpy(y, x, (size_t)n * sizeof(float));
}

/* FCVT rounds to nearest even and overflows to infinity, as the reference
 * (the default FPCR: no flush to zero, so subnormal halves are kept). */
LQMF_K_TO_FLOAT(f16, neon) {
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h + i));
        vst1q_f32(y + i, vcvt_f32_f16(vget_low_f16(v)));
        vst1q_f32(y + i + 4, vcvt_high_f32_f16(v));
    }
    for (; i < n; i++) y[i] = lqmf_fp16_to_f32(h[i]);
}

LQMF_K_QUANTIZE(f16, neon) {
    (void)imatrix;
    uint16_t *h = y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t v = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
        vst1q_u16(h + i, vreinterpretq_u16_f16(v));
    }
    for (; i < n; i++) h[i] = lqmf_f32_to_fp16(x[i]);
}

LQMF_K_TO_FLOAT(bf16, neon) {
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t v = vld1q_u16(h + i);
        vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16)));
        vst1q_f32(y + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(v, 16)));
    }
    for (; i < n; i++) y[i] = lqmf_bf16_to_f32(h[i]);
}

/* f32 -> bf16, round to nearest even: (u + 0x7fff + ((u >> 16) & 1)) >> 16;
 * NaN keeps its top bits with the quiet bit set, as the reference does. */
static inline uint16x4_t bf16_x4(float32x4_t f) {
    const uint32x4_t u = vreinterpretq_u32_f32(f);
    const uint32x4_t r =
        vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7fff), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1))));
    const uint32x4_t nan = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40));
    const uint32x4_t is_nan = vmvnq_u32(vceqq_f32(f, f));
    return vmovn_u32(vbslq_u32(is_nan, nan, vshrq_n_u32(r, 16)));
}

LQMF_K_QUANTIZE(bf16, neon) {
    (void)imatrix;
    uint16_t *h = y;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(h + i, bf16_x4(vld1q_f32(x + i)));
    for (; i < n; i++) h[i] = lqmf_f32_to_bf16(x[i]);
}

/* sum_i w[i]*a[i], 16 floats per step in four accumulators; LOAD4(p, k)
 * gives weights k .. k+3 as float32x4. */
#define FLOAT_DOT(name, WT, LOAD4, TO_F32)                                                                   \
    LQMF_K_DOT(name, neon) {                                                                                 \
        const WT *x = w;                                                                                     \
        const float *b = a;                                                                                  \
        float32x4_t acc[4] = { vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0) };             \
        int64_t i = 0;                                                                                       \
        for (; i + 16 <= n; i += 16)                                                                         \
            for (int k = 0; k < 4; k++)                                                                      \
                acc[k] = vfmaq_f32(acc[k], LOAD4(x, i + 4 * k), vld1q_f32(b + i + 4 * k));                   \
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));               \
        for (; i < n; i++) s += TO_F32(x[i]) * b[i];                                                         \
        return s;                                                                                            \
    }                                                                                                        \
    LQMF_K_TILE_BY_DOT(name, neon)

#define LOAD_F32(p, k) vld1q_f32((p) + (k))
#define LOAD_F16(p, k) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((p) + (k))))
#define LOAD_BF16(p, k) vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((p) + (k)), 16))
#define F32_ID(v) (v)
FLOAT_DOT(f32, float, LOAD_F32, F32_ID)
FLOAT_DOT(f16, uint16_t, LOAD_F16, lqmf_fp16_to_f32)
FLOAT_DOT(bf16, uint16_t, LOAD_BF16, lqmf_bf16_to_f32)
#endif
