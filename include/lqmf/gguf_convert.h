/* Write any opened model as a GGUF file that llama.cpp loads.
 *
 * Metadata: general.architecture ("llama" for the whole llama family,
 * "gpt2"), general.name, general.file_type, general.quantization_version
 * (when a tensor is quantized), provenance (general.source.url,
 * general.source.huggingface.repository when known, general.quantized_by
 * "lqmf"), the `<arch>.*` hyperparameter keys and the tokenizer.
 *
 * Tensors are written one at a time (memory: about two copies of the
 * largest tensor). Llama-family models with the NEOX rotary layout (HF
 * weights) get the row permutation of Q and K (weights and biases) that
 * turns them into the adjacent-pair layout GGUF llama files use:
 *   W.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2)
 * (n_head = n_head_kv for K); the written file is NORM layout.
 *
 * Types: float tensors keep their type unless float_type asks for another
 * (2-D tensors only; 1-D tensors such as norms and biases are always
 * written as F32, as llama.cpp's converter does). A quantizer decides each
 * tensor's type with tensor_type and produces its bytes with quantize,
 * which receives the tensor's values as f32 after the permutation.
 * Quantized source tensors (from a GGUF) are copied as they are. */
#ifndef LQMF_GGUF_CONVERT_H
#define LQMF_GGUF_CONVERT_H

#include "lqmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LQMF_GGUF_FILE_TYPE_AUTO (-1)

struct lqmf_gguf_writer;

typedef struct {
    const char *name;        /* general.name; NULL: the model's file or folder name */
    const char *source_url;  /* general.source.url, NULL when unknown */
    const char *source_repo; /* general.source.huggingface.repository ("org/name"), NULL when unknown */
    /* LQMF_TYPE_F32 / F16 / BF16 for 2-D float tensors, or LQMF_TYPE_COUNT to keep their type. */
    lqmf_type float_type;
    /* general.file_type (llama.cpp's llama_ftype, e.g. 15 = Q4_K_M), or
     * LQMF_GGUF_FILE_TYPE_AUTO: ALL_F32 / MOSTLY_F16 / MOSTLY_BF16 from the
     * most common 2-D tensor type. Quantizers pass their own. */
    int32_t file_type;

    /* Quantizer hooks (both NULL for a plain conversion). tensor_type gives
     * the type to write tensor t as (t->name is the internal name; shape
     * as written); returning t's own type keeps it. quantize fills out
     * (nbytes, the size of t in `type`) from n = prod(t->ne) values x.
     * Called in tensor order, one tensor at a time. */
    lqmf_type (*tensor_type)(void *user, const lqmf_model *m, const lqmf_tensor *t);
    lqmf_status (*quantize)(void *user, const lqmf_tensor *t, lqmf_type type, const float *x, void *out,
                            uint64_t nbytes);
    /* Extra metadata written after the standard keys (setting an existing
     * key replaces it), e.g. the tokenizer of a non-GGUF source or
     * quantization provenance; may be NULL. */
    lqmf_status (*metadata)(void *user, const lqmf_model *m, struct lqmf_gguf_writer *w);
    /* Called after each tensor is written (i of n), may be NULL; returning
     * false stops the write (LQMF_E_INTERRUPTED, no file left). */
    bool (*progress)(void *user, size_t i, size_t n, const lqmf_tensor *t);
    void *user;
} lqmf_gguf_convert_opts;

/* Defaults: keep float types, automatic file type, no hooks. */
lqmf_gguf_convert_opts lqmf_gguf_convert_default_opts(void);

/* Write m to path atomically (nothing at path on failure). opts may be NULL
 * for the defaults. */
lqmf_status lqmf_model_write_gguf(const lqmf_model *m, const char *path, const lqmf_gguf_convert_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
