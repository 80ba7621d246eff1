/* Quantize a model into a GGUF file, llama-quantize style: a file-level mix
 * (Q4_K_M, Q2_K, ...) or one tensor type, per-tensor rules, overrides and an
 * optional importance matrix. Streaming: one tensor at a time through the
 * GGUF converter (memory about two copies of the largest tensor as f32; the
 * pages of a source mapped from a file leave the process after their
 * tensor, bench/bench_quant_memory.c), rows quantized on n_threads threads,
 * the output written atomically.
 *
 * Per-tensor type (first that applies):
 *   1. 1-D tensors (norms, biases): F32.
 *   2. --keep-output: output.weight keeps its source float type; learned
 *      position embeddings (GPT-2's position_embd) always do, as in llama.cpp.
 *   3. --tensor-type overrides: the first POSIX extended regex matching the
 *      GGUF tensor name ("blk.3.attn_v.weight") gives the type.
 *   4. --pure or a plain tensor type (Q4_K, IQ4_XS, Q5_0 ...): that type.
 *      Plain tensor types give output.weight (tied: token_embd) Q6_K when
 *      they have fewer bits, as llama.cpp does.
 *   5. A mix: the planner's scheme table (lqmf_plan_gguf_type): llama.cpp's
 *      llama_tensor_get_type rules (attn_v and ffn_down more bits, output
 *      Q6_K, ...), i = the layer, n = n_layer.
 *   Then rows that do not fill whole blocks take llama.cpp's fallback
 *   (lqmf_plan_fallback_type: Q2_K/Q3_K -> IQ4_NL, Q4_K -> Q5_0, Q5_K ->
 *   Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL, else F16): stories260K (dim 64,
 *   rows of 64 or 172) gets Q5_0 / IQ4_NL / Q8_0 / F16 for k-quant mixes.
 *
 * Importance: with --imatrix, its per-column importances weight every
 * quantizer's error; without one, an importance matrix estimated from the
 * model's own weights (lqmf_imatrix_estimate) does, unless no_estimate.
 *
 * Metadata: general.file_type = the mix's llama_ftype (Q4_K_M = 15, ...),
 * general.quantization_version 2, general.quantized_by "lqmf", provenance,
 * the tokenizer (vocabulary, merges, special ids, chat template) and, with
 * an importance matrix, quantize.imatrix.file / .dataset / .entries_count /
 * .chunks_count. */
#ifndef LQMF_QUANTIZE_H
#define LQMF_QUANTIZE_H

#include "lqmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *regex; /* POSIX extended regex on the GGUF tensor name */
    lqmf_type type;
} lqmf_quantize_override;

typedef struct {
    size_t done, total;           /* tensors written / in the model */
    uint64_t bytes_done, bytes_total; /* source bytes of those tensors */
    double elapsed_s;
    const char *tensor; /* name of the tensor just written */
    lqmf_type type;     /* its type in the output */
} lqmf_quantize_progress;

typedef struct {
    const char *type;       /* mix or tensor type name, case-insensitive */
    const char *imatrix;    /* importance matrix file (lqmf imatrix), NULL: none */
    uint32_t n_threads;     /* 0: all online CPUs */
    const lqmf_quantize_override *overrides;
    size_t n_overrides;
    bool pure;        /* the base type everywhere, no mix rules */
    bool keep_output; /* output.weight not quantized */
    bool no_estimate; /* without imatrix: plain error weights, no lqmf_imatrix_estimate */
    const char *name;        /* general.name, NULL: from the source */
    const char *source_url;  /* provenance, NULL when unknown */
    const char *source_repo; /* "org/name", NULL when unknown */
    /* After each tensor; return false to stop (the call then fails with
     * LQMF_E_INTERRUPTED and leaves no file). May be NULL. */
    bool (*progress)(void *user, const lqmf_quantize_progress *p);
    void *user;
} lqmf_quantize_opts;

typedef struct {
    int32_t ftype;         /* general.file_type written */
    uint64_t src_bytes;    /* tensor bytes of the source */
    uint64_t out_bytes;    /* size of the written file */
    uint64_t tensor_bytes; /* tensor bytes of the output */
    uint64_t n_params;     /* elements of all tensors */
    double bpw;            /* tensor_bytes * 8 / n_params */
    double seconds;
    uint32_t n_tensors;
    uint32_t type_count[LQMF_TYPE_COUNT]; /* tensors per output type */
    uint32_t n_fallback;                  /* tensors in a fallback type */
    uint32_t n_imatrix;                   /* tensors quantized with importances */
    bool imatrix_estimated;               /* ... estimated from the model (no imatrix file) */
} lqmf_quantize_result;

lqmf_quantize_opts lqmf_quantize_default_opts(void);

/* The llama_ftype of a type or mix name; false when unknown. Names: F32,
 * F16, BF16, every GGUF scheme of the planner (Q2_K ... Q8_0) and the
 * quantizable tensor types (Q4_K means Q4_K_M, as in llama.cpp). */
bool lqmf_quantize_ftype(const char *name, int32_t *ftype);

/* The output type of every tensor of m under o (types[m->n_tensors]),
 * without writing anything. */
lqmf_status lqmf_quantize_plan(const lqmf_model *m, const lqmf_quantize_opts *o, lqmf_type *types);

/* Quantize m into out_path. res may be NULL. */
lqmf_status lqmf_quantize_model(const lqmf_model *m, const char *out_path, const lqmf_quantize_opts *o,
                                lqmf_quantize_result *res);

/* ---- importance matrix (src/quant/imatrix.c) -----------------------------
 * Per-channel sums of squared activations of every matrix input, in
 * llama.cpp's GGUF imatrix layout (docs/imatrix.md): per weight W one F32
 * tensor "W.in_sum2" {ne0} and one F32 tensor "W.counts" {1} (rows
 * accumulated); keys general.type "imatrix", imatrix.datasets (string
 * array), imatrix.chunk_count, imatrix.chunk_size. The importance of
 * column j is in_sum2[j] / counts. */
typedef struct lqmf_imatrix lqmf_imatrix;

typedef struct {
    const char *text_path; /* calibration text */
    uint32_t n_chunks;     /* 0: all the text */
    uint32_t n_ctx;        /* tokens per chunk; 0: 512 (capped at n_ctx_train) */
    uint32_t n_threads;
    /* After each chunk; return false to stop early. May be NULL. */
    bool (*progress)(void *user, uint32_t chunk, uint32_t n_chunks);
    void *user;
} lqmf_imatrix_opts;

/* Run m over the text and collect the matrix; *out owned by the caller. */
lqmf_status lqmf_imatrix_collect(const lqmf_model *m, const lqmf_imatrix_opts *o, lqmf_imatrix **out);
/* Estimate the matrix from m's weights alone, no text (src/quant/imatrix_estimate.c):
 * each input channel's mean square carried forward from the normalisation
 * in front of the matrix (norm gain and bias, then V, the FFN activation)
 * with independent Gaussian channels. Entries for attn_q/k/v/qkv, attn_output,
 * ffn_up/gate and ffn_down of llama and GPT-2 blocks; none for tensors whose
 * inputs it cannot follow. read_done (may be NULL) is called after each
 * matrix has been read, so the caller can release its pages. */
lqmf_status lqmf_imatrix_estimate(const lqmf_model *m, void (*read_done)(void *user, const lqmf_tensor *t),
                                  void *user, lqmf_imatrix **out);
lqmf_status lqmf_imatrix_save(const lqmf_imatrix *im, const char *path); /* atomic */
lqmf_status lqmf_imatrix_load(const char *path, lqmf_imatrix **out);
void lqmf_imatrix_free(lqmf_imatrix *im); /* NULL is a no-op */
/* Mean squared activation per input column of weight `name` (n values), or
 * NULL when absent. Owned by im. */
const float *lqmf_imatrix_get(const lqmf_imatrix *im, const char *name, uint64_t *n);
size_t lqmf_imatrix_n_entries(const lqmf_imatrix *im);
uint32_t lqmf_imatrix_n_chunks(const lqmf_imatrix *im);
const char *lqmf_imatrix_dataset(const lqmf_imatrix *im); /* "" when unknown */

#ifdef __cplusplus
}
#endif
#endif
