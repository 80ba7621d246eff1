/* Block layouts of the quantized types, byte-compatible with GGUF/ggml.
 * Private to src/kernels and src/quant. Little-endian host assumed (x86-64, AArch64).
 *
 * Notation used in the formulas: d, dmin are the fp16 block scales; a
 * "sub-block" is a run of 16 or 32 consecutive weights sharing one integer
 * scale (and min) inside a 256-weight super-block; y is the float value. */
#ifndef LQMF_KERNELS_BLOCKS_H
#define LQMF_KERNELS_BLOCKS_H

#include <stdint.h>
#include <string.h>

#define QK32 32 /* weights per block of the 32-block types */
#define QK_K 256 /* weights per super-block of the k-quants */

/* ---- 32-weight blocks -------------------------------------------------- */

/* Q4_0, 4.5 bpw: y[j] = d*((qs[j] & 15) - 8), y[j+16] = d*((qs[j] >> 4) - 8), j < 16 */
typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;
/* Q4_1, 5.0 bpw: q as Q4_0 without the -8; y = d*q + m */
typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;
/* Q5_0, 5.5 bpw: q = nibble | (bit j of the 32-bit little-endian qh) << 4 for
 * weight j (nibbles as Q4_0); y = d*(q - 16) */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;
/* Q5_1, 6.0 bpw: q as Q5_0; y = d*q + m */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1;
/* Q8_0, 8.5 bpw: y = d*qs[j] */
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;
/* IQ4_NL, 4.5 bpw: nibbles as Q4_0; y = d*kvalues_iq4nl[nibble] */
typedef struct { uint16_t d; uint8_t qs[16]; } block_iq4_nl;

/* ---- 256-weight super-blocks ------------------------------------------- */

/* Q2_K, 2.625 bpw. 16 sub-blocks of 16; scales[s] = scale (low 4 bits) | min << 4.
 * Weight i = 128*h + 32*g + l (h < 2, g < 4, l < 32) has its 2 bits at
 * (qs[32*h + l] >> 2*g) & 3 and sub-block s = 8*h + 2*g + l/16.
 * y = d*(scales[s] & 15)*q - dmin*(scales[s] >> 4) */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } block_q2_K;
/* Q3_K, 3.4375 bpw. 16 sub-blocks of 16, 6-bit scales sc (see q3k_scale).
 * Weight i = 128*h + 32*g + l: low bits (qs[32*h + l] >> 2*g) & 3, high bit
 * (hmask[l] >> (4*h + g)) & 1; q = low + 4*high - 4 in [-4, 3];
 * y = d*(sc[s] - 32)*q with s = i / 16 */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } block_q3_K;
/* Q4_K, 4.5 bpw. 8 sub-blocks of 32, 6-bit (scale, min) pairs (see k4_scale_min).
 * Weight i = 64*c + l (c < 4, l < 64): q = qs[32*c + l%32] low nibble for
 * l < 32, high nibble otherwise; s = i / 32; y = d*sc[s]*q - dmin*m[s] */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;
/* Q5_K, 5.5 bpw. Q4_K plus a fifth bit: weight 64*c + l takes
 * (qh[l%32] >> (2*c + l/32)) & 1 as bit 4 of q */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } block_q5_K;
/* Q6_K, 6.5625 bpw. 16 sub-blocks of 16 with int8 scales.
 * Weight i = 128*h + 32*g + l: low 4 bits from ql[64*h + l + 32*(g&1)]
 * (low nibble for g < 2, high nibble otherwise), high 2 bits
 * (qh[32*h + l] >> 2*g) & 3; y = d*scales[i/16]*(q - 32) */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K;
/* IQ4_XS, 4.25 bpw. 8 sub-blocks of 32, 6-bit scales
 * ls = ((scales_l[b/2] >> 4*(b%2)) & 15) | ((scales_h >> 2*b) & 3) << 4;
 * nibbles of sub-block b in qs[16*b ..] as Q4_0; y = d*(ls - 32)*kvalues_iq4nl[nibble] */
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } block_iq4_xs;
/* Q8_K, activations only: f32 scale, y = d*qs[i]; bsums[k] = sum of qs[16k .. 16k+15] */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K");
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K");

/* Round to the nearest integer, ties to even; valid for |v| < 2^22. */
static inline int lqmf_round(float v) {
    float f = v + 12582912.0f; /* 1.5 * 2^23: the integer lands in the low mantissa bits */
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* min/max without the NaN rules of fminf/fmaxf, so they compile to one instruction. */
static inline float lqmf_minf(float a, float b) { return a < b ? a : b; }
static inline float lqmf_maxf(float a, float b) { return a > b ? a : b; }

/* The 16 non-linear levels of IQ4_NL / IQ4_XS, ascending. */
extern const int8_t lqmf_kvalues_iq4nl[16];

/* Q4_K/Q5_K: 6-bit scale and min of sub-block s < 8 from the 12 packed bytes:
 * s < 4: sc = q[s] & 63, m = q[s+4] & 63;
 * s >= 4: low 4 bits in q[s+4] (sc low nibble, m high nibble), top 2 bits in
 *         the top bits of q[s-4] (sc) and q[s] (m). */
static inline void k4_scale_min(const uint8_t *q, int s, int *sc, int *m) {
    if (s < 4) {
        *sc = q[s] & 63;
        *m = q[s + 4] & 63;
    } else {
        *sc = (q[s + 4] & 15) | ((q[s - 4] >> 6) << 4);
        *m = (q[s + 4] >> 4) | ((q[s] >> 6) << 4);
    }
}

/* Q3_K: 6-bit scale of sub-block s < 16 (stored biased by 32): low 4 bits are
 * nibble s/8 of byte s%8, top 2 bits are bits 2*(s/4) of byte 8 + s%4. */
static inline int q3k_scale(const uint8_t *q, int s) {
    int lo = (q[s % 8] >> (4 * (s / 8))) & 15;
    int hi = (q[8 + s % 4] >> (2 * (s / 4))) & 3;
    return lo | hi << 4;
}

/* IQ4_XS: 6-bit scale of sub-block b < 8, biased by 32. */
static inline int iq4xs_scale(const block_iq4_xs *x, int b) {
    return ((x->scales_l[b / 2] >> 4 * (b % 2)) & 15) | ((x->scales_h >> 2 * b) & 3) << 4;
}

#endif
