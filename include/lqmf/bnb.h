/* bitsandbytes weight codecs (formats-and-hub-api.md 4.4), pure functions
 * on flat arrays, no files:
 *   4-bit blockwise (NF4 / FP4): a weight tensor flattened row-major into n
 *     values, cut into blocks of `blocksize`; per block absmax (fp32) and one
 *     4-bit code per value, the index of the nearest entry of the 16-value
 *     code table after dividing by absmax. Packed two codes per byte, the
 *     even index in the high nibble: packed[k] = q[2k] << 4 | q[2k+1].
 *     w[i] = code[q[i]] * absmax[i / blocksize].
 *   LLM.int8 row-wise: per output row SCB = max |w| (fp32), q = round(w *
 *     127 / SCB) as int8; w = q * SCB / 127.
 * Double quantization (bnb_4bit_use_double_quant): the 4-bit absmax array
 * minus its mean (nested_offset) is itself quantized 8-bit blockwise (256
 * per block, fp32 nested_absmax per block) with the 256-value dynamic code:
 * absmax[b] = code8[q8[b]] * nested_absmax[b / 256] + nested_offset. */
#ifndef LQMF_BNB_H
#define LQMF_BNB_H

#include "lqmf/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LQMF_BNB_NF4 = 0, LQMF_BNB_FP4 = 1 } lqmf_bnb_4bit;

#define LQMF_BNB_BLOCKSIZE 64u      /* bitsandbytes' default */
#define LQMF_BNB_BLOCKSIZE_MIN 32u  /* valid block sizes: powers of two in [32, 4096] */
#define LQMF_BNB_BLOCKSIZE_MAX 4096u

/* The 16 code values in code order (normalized to [-1, 1]), static storage. */
const float *lqmf_bnb_code(lqmf_bnb_4bit t);
const char *lqmf_bnb_name(lqmf_bnb_4bit t); /* "nf4", "fp4" */
/* "nf4" / "fp4" (case-insensitive); false otherwise. */
bool lqmf_bnb_from_name(const char *name, lqmf_bnb_4bit *out);
bool lqmf_bnb_blocksize_valid(uint64_t blocksize);

/* Blocks of n values: ceil(n / blocksize). */
static inline uint64_t lqmf_bnb_n_blocks(uint64_t n, uint64_t blocksize) {
    return n / blocksize + (n % blocksize != 0);
}

/* Quantize x[n] into packed[(n + 1) / 2] (an odd n leaves the last low
 * nibble 0) and absmax[n_blocks]. A block of zeros gets absmax 0 and the
 * code of 0. Fails on a bad block size or a non-finite value (named by index). */
lqmf_status lqmf_bnb_quantize_4bit(lqmf_bnb_4bit t, const float *x, uint64_t n, uint64_t blocksize,
                                   uint8_t *packed, float *absmax);
/* out[n] = code[q[i]] * absmax[i / blocksize]; code is the 16-entry table
 * stored with the tensor (quant_map). */
void lqmf_bnb_dequantize_4bit(const float *code, const uint8_t *packed, const float *absmax, uint64_t n,
                              uint64_t blocksize, float *out);

#define LQMF_BNB_NESTED_BLOCKSIZE 256u

/* bitsandbytes' signed 8-bit dynamic code (create_dynamic_map with 7
 * exponent bits): 0, 1 and +-10^(i-6) times the midpoints of linspace(0.1,
 * 1, 2^i + 1) for i = 0..6, sorted ascending. Static storage. */
const float *lqmf_bnb_dynamic_code(void);

/* 8-bit blockwise quantization with a 256-entry code (ascending): per block
 * of `blocksize` scale = max |x|, q = the nearest code entry to x / scale.
 * x[n] -> q[n], scale[ceil(n / blocksize)]. Fails on a non-finite value. */
lqmf_status lqmf_bnb_quantize_8bit(const float *code, const float *x, uint64_t n, uint64_t blocksize, uint8_t *q,
                                   float *scale);
void lqmf_bnb_dequantize_8bit(const float *code, const uint8_t *q, const float *scale, uint64_t n,
                              uint64_t blocksize, float *out);

/* LLM.int8: w [n_out][n_in] row-major into q [n_out][n_in] and scb[n_out].
 * Fails on a non-finite value. */
lqmf_status lqmf_bnb_quantize_int8(const float *w, uint64_t n_out, uint64_t n_in, int8_t *q, float *scb);
void lqmf_bnb_dequantize_int8(const int8_t *q, const float *scb, uint64_t n_out, uint64_t n_in, float *w);

#ifdef __cplusplus
}
#endif
#endif
