/* GPTQ (Frantar et al., 2022): quantize a linear layer's weight matrix
 * column by column, spreading each column's rounding error over the columns
 * not yet quantized through the inverse Hessian of the layer's inputs, and
 * the checkpoint layout AutoGPTQ / GPTQModel / transformers read
 * (formats-and-hub-api.md 4.3).
 *
 * Shapes: W is [n_out][n_in] f32, row-major, one row per output feature
 * (PyTorch nn.Linear layout; GPT-2 Conv1D weights transposed to it).
 * H is [n_in][n_in] f64, the sum over calibration rows x of x x^T (x the
 * layer input); the 2/N factor of the paper does not change the result.
 * Groups run along the input dimension: group g holds the input columns
 * with g_idx[c] == g; without act-order g_idx[c] = c / group_size. */
#ifndef LQMF_GPTQ_H
#define LQMF_GPTQ_H

#include "lqmf/core.h"
#include "lqmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    unsigned bits;       /* 2, 3, 4 or 8 */
    int32_t group_size;  /* input columns per group (128); -1: one group per row */
    bool desc_act;       /* act-order: quantize columns by decreasing H diagonal */
    bool sym;            /* symmetric: zero point 2^(bits-1) */
    double damp_percent; /* added to H's diagonal, times its mean (0.01) */
} lqmf_gptq_params;

/* The defaults transformers/AutoGPTQ write most: 4 bits, group 128,
 * desc_act false, sym true, damp 0.01. */
lqmf_gptq_params lqmf_gptq_default_params(void);

typedef struct {
    uint64_t n_out, n_in;
    uint32_t n_groups; /* ceil(n_in / group_size), 1 when group_size is -1 */
    uint8_t *q;        /* [n_out][n_in] codes 0 .. 2^bits-1 (owned) */
    float *scales;     /* [n_groups][n_out] (owned) */
    uint8_t *zeros;    /* [n_groups][n_out] true zero points (owned) */
    int32_t *g_idx;    /* [n_in] group of each input column (owned) */
} lqmf_gptq_matrix;
/* w[o][c] = scales[g][o] * (q[o][c] - zeros[g][o]) with g = g_idx[c] */

/* Quantize W. H NULL: round to nearest with the same groups (no error
 * feedback, no act-order), the baseline GPTQ is measured against.
 * n_threads 0: all CPUs; the result does not depend on it.
 * Fails on bad parameters, a size overflow, a non-finite weight, or H not
 * positive definite even after damping (the message names which). *out is
 * released with lqmf_gptq_matrix_free.
 *
 * The algorithm of the reference implementation: dead inputs (H[c][c] == 0)
 * get H[c][c] = 1 and a zero weight column; act-order permutes columns by
 * decreasing diag(H) (ties: lower column first); damp_percent * mean(diag H)
 * is added to the diagonal; the upper Cholesky factor U of H^-1 (computed
 * in f64) drives the column loop, which works in f32 like the reference,
 * with error updates batched over blocks of 128 columns.
 * A group's scale and zero come from its weights as updated by the errors of
 * all earlier columns (blocks are cut at group starts so this is exact; the
 * reference, for group sizes below 128, reads groups that start inside a
 * block before that block's updates). Per-group min/max quantizer: range
 * [min(w, 0), max(w, 0)] (sym: +-max|w| when min < 0), scale = range / maxq,
 * zero = round(-min / scale) (sym: 2^(bits-1)), q = clamp(round(w / scale)
 * + zero, 0, maxq) in f32, ties to even. Memory: n_in^2 f64 + n_in^2 f32 +
 * n_out * n_in f32 beside W and H. */
lqmf_status lqmf_gptq_quantize(const float *W, uint64_t n_out, uint64_t n_in, const double *H,
                               const lqmf_gptq_params *p, uint32_t n_threads,
                               lqmf_gptq_matrix *out);
void lqmf_gptq_matrix_free(lqmf_gptq_matrix *m); /* NULL or zeroed: no-op */

/* ---- checkpoint layout ("gptq" v1, checkpoint_format "gptq") -------------
 * qweight int32 [n_in * bits / 32][n_out]: codes packed along the input
 *         dimension, low bits first (3-bit codes straddle words)
 * qzeros  int32 [n_groups][n_out * bits / 32]: zero points minus 1 (v1)
 * scales  fp16  [n_groups][n_out]
 * g_idx   int32 [n_in]
 * Every packed array is one little-endian bit stream per column (qweight)
 * or per row (qzeros): code k at bits k*bits .. k*bits+bits-1 of the words
 * in order, which is AutoGPTQ's layout for 2, 4, 8 bits and its 32-code /
 * 3-word interleave for 3 bits.
 * n_in and n_out must be multiples of 32 (the packer names the one that is
 * not). bits must equal the matrix's (codes above 2^bits-1 are refused). */
typedef struct {
    uint64_t n_out, n_in;
    unsigned bits;
    uint32_t n_groups;
    int32_t *qweight;  /* owned */
    int32_t *qzeros;   /* owned */
    uint16_t *scales;  /* fp16 bits, owned */
    int32_t *g_idx;    /* owned */
    uint64_t n_zero_clamped; /* zero points 0 stored as 0 (read back as 1):
                                v1 cannot hold them; never with sym */
} lqmf_gptq_packed;

lqmf_status lqmf_gptq_pack(const lqmf_gptq_matrix *m, unsigned bits, lqmf_gptq_packed *out);
void lqmf_gptq_packed_free(lqmf_gptq_packed *p); /* NULL or zeroed: no-op */
/* Dequantize a packed (v1) layer into w [n_out][n_in] f32, the way the
 * checkpoint's readers do (zero = stored + 1). Validates g_idx. */
lqmf_status lqmf_gptq_dequantize(const lqmf_gptq_packed *p, float *w);

/* ---- calibration ---------------------------------------------------------
 * Run the model over calibration text (already tokenized) through the engine
 * and accumulate H for every 2-D weight of the blocks (attn q/k/v/out, ffn
 * gate/up/down; GPT-2 attn_qkv, attn_output, ffn_up, ffn_down). Tensors
 * that read the same input share one H. Layers are processed in chunks so
 * the Hessians held at once stay under mem_budget bytes (0: 1 GiB; a single
 * H above the budget is a chunk of its own); each chunk runs the whole text
 * again. The text runs in pieces of n_ctx tokens (0: 512; capped at the
 * model's n_ctx_train), each from position 0 with an empty cache, the last
 * piece possibly shorter. Fails on token ids outside the vocabulary or a
 * model without block linear weights. *out is released with
 * lqmf_gptq_calib_free; m must outlive it. */
typedef struct lqmf_gptq_calib lqmf_gptq_calib;
lqmf_status lqmf_gptq_calib_new(const lqmf_model *m, const int32_t *tokens, size_t n_tokens,
                                uint32_t n_ctx, uint64_t mem_budget, uint32_t n_threads,
                                lqmf_gptq_calib **out);
/* H [n_in][n_in] (symmetric, both triangles filled) for internal tensor
 * name ("blk.3.attn_q.weight"), computing its chunk when needed (ask in
 * layer order: returning to an earlier chunk runs the text again); *n_in
 * set. NULL (with the error set) when the tensor is not a calibrated linear
 * weight (LQMF_E_NOT_FOUND) or the run fails. Owned by c; the pointer lives
 * until the next call. */
const double *lqmf_gptq_calib_hessian(lqmf_gptq_calib *c, const char *tensor, uint64_t *n_in);
void lqmf_gptq_calib_free(lqmf_gptq_calib *c); /* NULL: no-op */

#ifdef __cplusplus
}
#endif
#endif
