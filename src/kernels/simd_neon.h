/* Arm NEON helpers shared by the *_neon.c kernels (AArch64 only; include
 * inside their `#ifdef __aarch64__`). Integer dot products use the dotprod
 * extension (SDOT) when the compiler targets it (__ARM_FEATURE_DOTPROD) and
 * widening multiplies otherwise; either way only the sum of the four int32
 * lanes is meaningful, never a single lane. */
#ifndef LQMF_KERNELS_SIMD_NEON_H
#define LQMF_KERNELS_SIMD_NEON_H

#include "kernels/blocks.h"
#include "kernels/kernels.h"

#include <arm_neon.h>

/* acc + the 16 products x[k]*y[k] (int8 x int8; each |product| <= 2^14, so
 * the int16 pair sums of the plain path cannot overflow), spread over 4 lanes. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t x, int8x16_t y) {
#ifdef __ARM_FEATURE_DOTPROD
    return vdotq_s32(acc, x, y);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    return vpadalq_s16(acc, vmull_high_s8(x, y));
#endif
}

/* fp16 bits -> float (exact, as lqmf_fp16_to_f32). */
static inline float fp16_neon(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* Four fp16 scales -> four floats. */
static inline float32x4_t fp16x4_neon(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3) {
    const uint16_t h[4] = { h0, h1, h2, h3 };
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

/* y[0..15] = d*q, then minus or plus m for the affine types: float products
 * and sums rounded as the reference rounds them (no fused multiply-add; an
 * affine type always applies m, even 0, for the sign of zero results). */
typedef enum { STORE_MUL, STORE_SUB, STORE_ADD } store_op;
static inline void store16_neon(float *y, int8x16_t q, float d, float m, store_op op) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    const int32x4_t v[4] = { vmovl_s16(vget_low_s16(lo)), vmovl_high_s16(lo), vmovl_s16(vget_low_s16(hi)),
                             vmovl_high_s16(hi) };
    for (int k = 0; k < 4; k++) {
        float32x4_t f = vmulq_n_f32(vcvtq_f32_s32(v[k]), d);
        if (op == STORE_SUB) f = vsubq_f32(f, vdupq_n_f32(m));
        if (op == STORE_ADD) f = vaddq_f32(f, vdupq_n_f32(m));
        vst1q_f32(y + 4 * k, f);
    }
}

/* max|x[0..n-1]| (n a multiple of 4). */
static inline float amax_neon(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0);
    for (int j = 0; j < n; j += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxvq_f32(m);
}

/* round-to-nearest-even(x[j] * id) for j < 16, as int8 (|x * id| <= 127). */
static inline int8x16_t round16_neon(const float *x, float id) {
    int32x4_t r[4];
    for (int k = 0; k < 4; k++) r[k] = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), id));
    const int16x8_t lo = vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1]));
    const int16x8_t hi = vcombine_s16(vqmovn_s32(r[2]), vqmovn_s32(r[3]));
    return vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
}

#endif
