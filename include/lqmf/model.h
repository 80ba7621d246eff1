/* One description of a language model, whatever file it came from: a
 * Hugging Face folder (config.json + safetensors), a GGUF file or a llama2.c
 * checkpoint. Hyperparameters plus a table of tensors under internal names
 * (the GGUF names: "blk.3.attn_q.weight") with ggml-order dimensions.
 *
 * Conventions every loader guarantees (so the engine needs no per-format code):
 * - ne[0] is the contiguous row length. A linear layer y = W x with x of
 *   length n_in and y of length n_out has ne = {n_in, n_out} (HF [out, in]).
 *   GPT-2 Conv1D weights (stored [in, out] in HF files) are transposed into an
 *   owned buffer at load time.
 * - rope_layout says how Q/K pairs rotate: NORM rotates adjacent pairs
 *   (x[2i], x[2i+1]) as GGUF llama files and llama2.c do; NEOX rotates
 *   (x[i], x[i + d/2]) as HF's rotate_half does. HF llama weights are not
 *   permuted on load (zero copy); the GGUF writer permutes them.
 * - Tensor data is a view into a file mapping or an owned buffer; either way
 *   it lives until lqmf_model_close.
 *
 * Tensor names and shapes per architecture (d = n_embd, hd = head_dim):
 *   llama: token_embd.weight {d, n_vocab}; output_norm.weight {d};
 *          output.weight {d, n_vocab} (absent when tied_embeddings);
 *          blk.N.attn_norm.weight {d}; blk.N.attn_q.weight {d, n_head*hd};
 *          blk.N.attn_k.weight / attn_v.weight {d, n_head_kv*hd};
 *          blk.N.attn_{q,k,v}.bias when qkv_bias; blk.N.attn_output.weight
 *          {n_head*hd, d}; blk.N.ffn_norm.weight {d}; blk.N.ffn_gate.weight /
 *          ffn_up.weight {d, n_ff}; blk.N.ffn_down.weight {n_ff, d};
 *          rope_freqs.weight {hd/2} F32 only with LQMF_ROPE_SCALING_FACTORS.
 *   gpt2:  token_embd.weight {d, n_vocab}; position_embd.weight {d, n_ctx_train};
 *          output_norm.{weight,bias} {d}; output.weight only when untied;
 *          blk.N.attn_norm.{weight,bias} {d}; blk.N.attn_qkv.weight {d, 3d},
 *          .bias {3d}; blk.N.attn_output.weight {d, d}, .bias {d};
 *          blk.N.ffn_norm.{weight,bias} {d}; blk.N.ffn_up.weight {d, n_ff},
 *          .bias {n_ff}; blk.N.ffn_down.weight {n_ff, d}, .bias {d}. */
#ifndef LQMF_MODEL_H
#define LQMF_MODEL_H

#include "lqmf/core.h"
#include "lqmf/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LQMF_ARCH_LLAMA = 0, LQMF_ARCH_GPT2 = 1 } lqmf_arch;
typedef enum { LQMF_ROPE_NORM = 0, LQMF_ROPE_NEOX = 1 } lqmf_rope_layout;
typedef enum {
    LQMF_ROPE_SCALING_NONE = 0,
    LQMF_ROPE_SCALING_LINEAR,
    LQMF_ROPE_SCALING_LLAMA3,
    LQMF_ROPE_SCALING_FACTORS /* per-frequency divisors in the tensor rope_freqs.weight
                                 {head_dim/2}, F32 (llama.cpp's form of llama3 scaling) */
} lqmf_rope_scaling;
typedef enum { LQMF_FORMAT_HF = 0, LQMF_FORMAT_GGUF, LQMF_FORMAT_LLAMA2C } lqmf_model_format;
typedef enum {
    LQMF_TOK_NONE = 0,
    LQMF_TOK_HF_JSON,  /* tokenizer.json (+ tokenizer_config.json) */
    LQMF_TOK_SPM,      /* sentencepiece tokenizer.model */
    LQMF_TOK_GGUF,     /* tokenizer.ggml.* keys of the GGUF file itself */
    LQMF_TOK_LLAMA2C   /* llama2.c tokenizer.bin */
} lqmf_tok_source;

typedef struct {
    lqmf_arch arch;
    char model_type[32];    /* "llama", "mistral", "qwen2", "gpt2" */
    char hf_arch[64];       /* "LlamaForCausalLM", ... ("" when unknown) */
    uint32_t n_vocab;
    uint32_t n_ctx_train;   /* max_position_embeddings / n_positions */
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;     /* == n_head without GQA */
    uint32_t head_dim;      /* usually n_embd / n_head */
    uint32_t n_ff;          /* intermediate size */
    float norm_eps;         /* rms_norm_eps (llama) or layer_norm_epsilon (gpt2) */
    float rope_theta;       /* llama only */
    lqmf_rope_layout rope_layout;
    lqmf_rope_scaling rope_scaling;
    float rope_factor;      /* linear / llama3 */
    float rope_low_freq_factor, rope_high_freq_factor; /* llama3 */
    uint32_t rope_orig_ctx; /* llama3: original_max_position_embeddings */
    uint32_t sliding_window; /* 0 = full attention */
    bool qkv_bias;          /* llama family: biases on q, k, v (qwen2, attention_bias) */
    bool tied_embeddings;   /* output projection is token_embd */
    int32_t bos_id, eos_id; /* -1 when unknown */
} lqmf_hparams;

#define LQMF_TENSOR_NAME_MAX 96
typedef struct {
    char name[LQMF_TENSOR_NAME_MAX]; /* internal name */
    char *src_name;                  /* name in the source file (owned) */
    lqmf_type type;
    uint32_t n_dims;
    uint64_t ne[4];                  /* ggml order, unused dims = 1 */
    const void *data;                /* view or owned; lives until model close */
    uint64_t nbytes;
} lqmf_tensor;

typedef struct lqmf_model {
    lqmf_hparams hp;
    lqmf_model_format format;
    char *path;               /* what was opened (owned) */
    lqmf_tensor *tensors;     /* n_tensors entries, in source order (owned) */
    size_t n_tensors;
    lqmf_tok_source tok_source;
    char *tok_path;           /* file the tokenizer is read from (owned), NULL if none */
    struct lqmf_model_priv *priv; /* mappings and owned buffers */
} lqmf_model;

/* Open a model: a folder with config.json (HF), a .gguf file, or a llama2.c
 * .bin checkpoint (tokenizer.bin / tok*.bin found beside it). Every expected
 * tensor is checked for presence and shape; missing and unexpected tensors
 * are reported by name. *out is owned by the caller (lqmf_model_close). */
lqmf_status lqmf_model_open(const char *path, lqmf_model **out);
void lqmf_model_close(lqmf_model *m); /* NULL is a no-op */

/* Tensor by internal name, NULL when absent. */
const lqmf_tensor *lqmf_model_tensor(const lqmf_model *m, const char *name);

/* Build a model in memory (tests, converters): an empty model with hp, then
 * tensors added one by one. With own_data the model frees data (malloc'd)
 * on close; otherwise data must outlive the model. */
lqmf_status lqmf_model_new(const lqmf_hparams *hp, lqmf_model **out);
lqmf_status lqmf_model_add_tensor(lqmf_model *m, const char *name, lqmf_type type,
                                  uint32_t n_dims, const uint64_t *ne, const void *data,
                                  bool own_data);
/* Check that every tensor the architecture needs is present with the right
 * shape and no unexpected tensor is there. */
lqmf_status lqmf_model_validate(const lqmf_model *m);

/* Parameter count (elements of all tensors). */
uint64_t lqmf_model_n_params(const lqmf_model *m);
const char *lqmf_arch_name(lqmf_arch a); /* "llama", "gpt2" */

#ifdef __cplusplus
}
#endif
#endif
