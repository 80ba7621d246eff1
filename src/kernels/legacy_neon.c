/* 32-weight block types, Arm NEON (AArch64): each block unpacks to its 32
 * int8 levels in two registers (weights 0-15, 16-31), shared by dequantize
 * and dot. Dequantization gives the reference's bits; the dot products sum
 * the integer block products exactly and the block scales in float lanes. */
#if defined(__aarch64__)
#include "kernels/simd_neon.h"

#include "lqmf/core.h"

/* Levels of a block as two int8x16: weights 0-15 in v[0], 16-31 in v[1]. */
typedef struct { int8x16_t v[2]; } lv32;

static inline lv32 nibbles(const uint8_t qs[16]) {
    const uint8x16_t b = vld1q_u8(qs);
    return (lv32){ { vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15))),
                     vreinterpretq_s8_u8(vshrq_n_u8(b, 4)) } };
}
/* Bit j of the little-endian 32-bit qh as 16 in byte j, 0 otherwise. */
static inline lv32 high_bits(const uint8_t qh[4]) {
    const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull)), s16 = vdupq_n_u8(16);
    const uint8x16_t h0 = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
    const uint8x16_t h1 = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
    return (lv32){ { vreinterpretq_s8_u8(vandq_u8(vtstq_u8(h0, bit), s16)),
                     vreinterpretq_s8_u8(vandq_u8(vtstq_u8(h1, bit), s16)) } };
}
static inline lv32 add_bias(lv32 q, int8_t add) {
    return (lv32){ { vaddq_s8(q.v[0], vdupq_n_s8(add)), vaddq_s8(q.v[1], vdupq_n_s8(add)) } };
}
static inline lv32 or_levels(lv32 a, lv32 b) {
    return (lv32){ { vorrq_s8(a.v[0], b.v[0]), vorrq_s8(a.v[1], b.v[1]) } };
}

static inline lv32 levels_q4_0(const block_q4_0 *b) { return add_bias(nibbles(b->qs), -8); }
static inline lv32 levels_q4_1(const block_q4_1 *b) { return nibbles(b->qs); }
static inline lv32 levels_q5_0(const block_q5_0 *b) {
    return add_bias(or_levels(nibbles(b->qs), high_bits(b->qh)), -16);
}
static inline lv32 levels_q5_1(const block_q5_1 *b) { return or_levels(nibbles(b->qs), high_bits(b->qh)); }
static inline lv32 levels_q8_0(const block_q8_0 *b) {
    return (lv32){ { vld1q_s8(b->qs), vld1q_s8(b->qs + 16) } };
}
static inline lv32 levels_iq4_nl(const block_iq4_nl *b) {
    const int8x16_t kv = vld1q_s8(lqmf_kvalues_iq4nl);
    const uint8x16_t x = vld1q_u8(b->qs);
    return (lv32){ { vqtbl1q_s8(kv, vandq_u8(x, vdupq_n_u8(15))), vqtbl1q_s8(kv, vshrq_n_u8(x, 4)) } };
}

/* sum q*a of one block with its Q8_0 activations, spread over 4 lanes. */
static inline int32x4_t block_dot(lv32 q, const block_q8_0 *a) {
    return dot16(dot16(vdupq_n_s32(0), q.v[0], vld1q_s8(a->qs)), q.v[1], vld1q_s8(a->qs + 16));
}
/* sum a of one Q8_0 block, spread over 4 lanes. */
static inline int32x4_t act_sum(const block_q8_0 *a) {
    return vpadalq_s16(vpaddlq_s16(vpaddlq_s8(vld1q_s8(a->qs))), vpaddlq_s8(vld1q_s8(a->qs + 16)));
}
/* Lane k = the lane sum of p[k]. */
static inline int32x4_t hadd4(const int32x4_t p[4]) {
    return vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
}

/* A tile of nr <= 4 weight rows x nx <= 4 tokens: each weight block is
 * unpacked once for all tokens; acc[r] holds the sums of tokens 0-3 of row r.
 * Missing rows and tokens of a partial tile repeat the first and are
 * dropped. AFF: also m * da * sum a (one activation sum per token), m the
 * block's field MF. */
#define TILE_BODY(name, block, AFF, MF)                                                                      \
    const block *wr[4];                                                                                      \
    const block_q8_0 *ar[4];                                                                                 \
    for (int k = 0; k < 4; k++) {                                                                            \
        wr[k] = (const block *)((const uint8_t *)w + (size_t)(k < nr ? k : 0) * ws);                         \
        ar[k] = (const block_q8_0 *)((const uint8_t *)a + (size_t)(k < nx ? k : 0) * as);                    \
    }                                                                                                        \
    float32x4_t acc[4] = { vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0) };                 \
    for (int64_t i = 0; i < n / QK32; i++) {                                                                 \
        const int8x16_t a0[4] = { vld1q_s8(ar[0][i].qs), vld1q_s8(ar[1][i].qs), vld1q_s8(ar[2][i].qs),       \
                                  vld1q_s8(ar[3][i].qs) };                                                   \
        const int8x16_t a1[4] = { vld1q_s8(ar[0][i].qs + 16), vld1q_s8(ar[1][i].qs + 16),                    \
                                  vld1q_s8(ar[2][i].qs + 16), vld1q_s8(ar[3][i].qs + 16) };                  \
        const float32x4_t da = fp16x4_neon(ar[0][i].d, ar[1][i].d, ar[2][i].d, ar[3][i].d);                  \
        float32x4_t sa = vdupq_n_f32(0);                                                                     \
        if (AFF) {                                                                                           \
            int32x4_t ps[4];                                                                                 \
            for (int j = 0; j < 4; j++) ps[j] = act_sum(&ar[j][i]);                                          \
            sa = vmulq_f32(da, vcvtq_f32_s32(hadd4(ps)));                                                    \
        }                                                                                                    \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                                                \
            const lv32 q = levels_##name(&wr[r][i]);                                                         \
            int32x4_t p[4];                                                                                  \
            for (int j = 0; j < 4; j++) p[j] = dot16(dot16(vdupq_n_s32(0), q.v[0], a0[j]), q.v[1], a1[j]);   \
            acc[r] = vfmaq_f32(acc[r], vmulq_n_f32(da, fp16_neon(wr[r][i].d)), vcvtq_f32_s32(hadd4(p)));     \
            if (AFF) acc[r] = vfmaq_n_f32(acc[r], sa, fp16_neon(wr[r][i].MF));                               \
        }                                                                                                    \
    }                                                                                                        \
    for (int r = 0; r < nr; r++) {                                                                           \
        float s[4];                                                                                          \
        vst1q_f32(s, acc[r]);                                                                                \
        for (int j = 0; j < nx; j++) out[(size_t)j * os + (size_t)r] = s[j];                                 \
    }

/* Symmetric types: y = d*q; dot = sum_blocks d*da * sum q*a, four blocks
 * per step (their integer sums in one vector, their scales in another). */
#define SYM(name, block)                                                                                     \
    LQMF_K_TO_FLOAT(name, neon) {                                                                            \
        const block *b = x;                                                                                  \
        for (int64_t i = 0; i < n / QK32; i++, y += QK32) {                                                  \
            const lv32 q = levels_##name(&b[i]);                                                             \
            const float d = fp16_neon(b[i].d);                                                               \
            store16_neon(y, q.v[0], d, 0, STORE_MUL);                                                        \
            store16_neon(y + 16, q.v[1], d, 0, STORE_MUL);                                                   \
        }                                                                                                    \
    }                                                                                                        \
    LQMF_K_DOT(name, neon) {                                                                                 \
        const block *b = w;                                                                                  \
        const block_q8_0 *q8 = a;                                                                            \
        const int64_t nb = n / QK32;                                                                         \
        float32x4_t acc = vdupq_n_f32(0);                                                                    \
        int64_t i = 0;                                                                                       \
        for (; i + 4 <= nb; i += 4) {                                                                        \
            const int32x4_t p[4] = { block_dot(levels_##name(&b[i]), &q8[i]),                                \
                                     block_dot(levels_##name(&b[i + 1]), &q8[i + 1]),                        \
                                     block_dot(levels_##name(&b[i + 2]), &q8[i + 2]),                        \
                                     block_dot(levels_##name(&b[i + 3]), &q8[i + 3]) };                      \
            const float32x4_t dw = fp16x4_neon(b[i].d, b[i + 1].d, b[i + 2].d, b[i + 3].d);                  \
            const float32x4_t da = fp16x4_neon(q8[i].d, q8[i + 1].d, q8[i + 2].d, q8[i + 3].d);              \
            acc = vfmaq_f32(acc, vmulq_f32(dw, da), vcvtq_f32_s32(hadd4(p)));                                \
        }                                                                                                    \
        float s = vaddvq_f32(acc);                                                                           \
        for (; i < nb; i++)                                                                                  \
            s += fp16_neon(b[i].d) * fp16_neon(q8[i].d) *                                                    \
                 (float)vaddvq_s32(block_dot(levels_##name(&b[i]), &q8[i]));                                 \
        return s;                                                                                            \
    }                                                                                                        \
    LQMF_K_DOT_TILE(name, neon) { TILE_BODY(name, block, 0, d); }

/* Affine types: y = d*q + m; dot = sum_blocks da*(d*sum q*a + m*sum a). */
#define AFFINE(name, block)                                                                                  \
    LQMF_K_TO_FLOAT(name, neon) {                                                                            \
        const block *b = x;                                                                                  \
        for (int64_t i = 0; i < n / QK32; i++, y += QK32) {                                                  \
            const lv32 q = levels_##name(&b[i]);                                                             \
            const float d = fp16_neon(b[i].d), m = fp16_neon(b[i].m);                                        \
            store16_neon(y, q.v[0], d, m, STORE_ADD);                                                        \
            store16_neon(y + 16, q.v[1], d, m, STORE_ADD);                                                   \
        }                                                                                                    \
    }                                                                                                        \
    LQMF_K_DOT(name, neon) {                                                                                 \
        const block *b = w;                                                                                  \
        const block_q8_0 *q8 = a;                                                                            \
        const int64_t nb = n / QK32;                                                                         \
        float32x4_t acc = vdupq_n_f32(0);                                                                    \
        int64_t i = 0;                                                                                       \
        for (; i + 4 <= nb; i += 4) {                                                                        \
            int32x4_t p[4], pa[4];                                                                           \
            for (int k = 0; k < 4; k++) {                                                                    \
                p[k] = block_dot(levels_##name(&b[i + k]), &q8[i + k]);                                      \
                pa[k] = act_sum(&q8[i + k]);                                                                 \
            }                                                                                                \
            const float32x4_t da = fp16x4_neon(q8[i].d, q8[i + 1].d, q8[i + 2].d, q8[i + 3].d);              \
            const float32x4_t dw = fp16x4_neon(b[i].d, b[i + 1].d, b[i + 2].d, b[i + 3].d);                  \
            const float32x4_t mw = fp16x4_neon(b[i].m, b[i + 1].m, b[i + 2].m, b[i + 3].m);                  \
            acc = vfmaq_f32(acc, vmulq_f32(dw, da), vcvtq_f32_s32(hadd4(p)));                                \
            acc = vfmaq_f32(acc, vmulq_f32(mw, da), vcvtq_f32_s32(hadd4(pa)));                               \
        }                                                                                                    \
        float s = vaddvq_f32(acc);                                                                           \
        for (; i < nb; i++)                                                                                  \
            s += fp16_neon(q8[i].d) *                                                                        \
                 (fp16_neon(b[i].d) * (float)vaddvq_s32(block_dot(levels_##name(&b[i]), &q8[i])) +           \
                  fp16_neon(b[i].m) * (float)vaddvq_s32(act_sum(&q8[i])));                                   \
        return s;                                                                                            \
    }                                                                                                        \
    LQMF_K_DOT_TILE(name, neon) { TILE_BODY(name, block, 1, m); }

SYM(q4_0, block_q4_0)
SYM(q5_0, block_q5_0)
SYM(q8_0, block_q8_0)
SYM(iq4_nl, block_iq4_nl)
AFFINE(q4_1, block_q4_1)
AFFINE(q5_1, block_q5_1)

/* Activations, as the reference: d = max|x|/127, a = round-to-even(x*127/max|x|). */
LQMF_K_FROM_FLOAT(q8_0, neon) {
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK32; i++, x += QK32) {
        const float amax = amax_neon(x, QK32), id = amax > 0 ? 127 / amax : 0;
        b[i].d = lqmf_f32_to_fp16(amax / 127);
        vst1q_s8(b[i].qs, round16_neon(x, id));
        vst1q_s8(b[i].qs + 16, round16_neon(x + 16, id));
    }
}
#endif
