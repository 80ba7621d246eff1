/* Hugging Face quantized checkpoints: bitsandbytes (NF4 / FP4 4-bit, LLM.int8,
 * formats-and-hub-api.md 4.4) and GPTQ ("gptq" v1, 4.3) folders that
 * transformers loads, written from an HF model and decoded back to float
 * weights.
 *
 * Writer (lqmf_hfq_write): the 2-D linear weights of the blocks (attention
 * q/k/v/output or GPT-2's fused qkv, MLP gate/up/down) are quantized; every
 * other tensor (embeddings, lm_head, norms, biases, buffers) is copied from
 * the source file with its name and shape (a GPT-2 Conv1D weight that is not
 * quantized stays [in, out]): F16 and BF16 bytes unchanged, F32 rounded to
 * F16, as transformers saves these models (torch_dtype float16, also the
 * quant_state "dtype" and bnb_4bit_compute_dtype). Per quantized
 * linear with prefix P ("model.layers.0.self_attn.q_proj."), W [out, in]
 * (GPT-2 Conv1D transposed to it, as transformers does):
 *   4-bit: P.weight U8 [out*in/2, 1] packed codes (even index high nibble);
 *          P.weight.absmax F32 [nb = ceil(out*in/blocksize)];
 *          P.weight.quant_map F32 [16];
 *          P.weight.quant_state.bitsandbytes__nf4 (or __fp4) U8 [len], the
 *          UTF-8 JSON {"quant_type","blocksize","dtype","shape":[out,in]}.
 *          With double quantization P.weight.absmax is U8 [nb], plus
 *          P.weight.nested_absmax F32 [ceil(nb/256)] and
 *          P.weight.nested_quant_map F32 [256], and the JSON adds
 *          "nested_blocksize": 256, "nested_dtype", "nested_offset".
 *   int8:  P.weight I8 [out, in]; P.SCB F32 [out]; P.weight_format U8 [] = 0.
 *   GPTQ:  P.qweight I32 [in*bits/32, out], P.qzeros I32 [groups, out*bits/32],
 *          P.scales F16 [groups, out], P.g_idx I32 [in] (lqmf_gptq_pack; no
 *          P.weight). Hessians from the calibration text run through the
 *          unquantized model (lqmf_gptq_calib_*); without a text, round to
 *          nearest. desc_act false, sym true, damp 0.01; quantize_config.json
 *          holds the same fields as config.json's quantization_config.
 * config.json is the source's with "quantization_config" and torch_dtype; the tokenizer and
 * generation files are copied. The folder appears whole or not at all: it
 * is built as a hidden sibling ".<name>.tmp.<pid>" and renamed into place
 * (an existing folder of that name is replaced); on failure, and on
 * SIGINT/SIGTERM with lqmf_install_signal_cleanup(), the hidden folder is
 * removed. Memory: one linear at a time (its F32 copy and its quantized
 * tensors); the tensors made on the way wait in an unlinked spill file in
 * the hidden folder (disk: the output once more) and each linear's source
 * pages leave the process once read (bench/bench_quant_memory.c).
 *
 * Reader (lqmf_hfq_config_parse + lqmf_hfq_dequantize): lqmf_model_open
 * uses them for a folder whose config.json has a quantization_config, so
 * the engine runs the dequantized F32 weights. */
#ifndef LQMF_HFQ_H
#define LQMF_HFQ_H

#include "lqmf/bnb.h"
#include "lqmf/model.h"
#include "lqmf/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LQMF_HFQ_NONE = 0, /* no quantization_config */
    LQMF_HFQ_NF4,
    LQMF_HFQ_FP4,
    LQMF_HFQ_INT8,
    LQMF_HFQ_GPTQ_4BIT,
    LQMF_HFQ_GPTQ_8BIT
} lqmf_hfq_kind;

/* "NF4", "FP4", "INT8", "GPTQ-4bit", "GPTQ-8bit" (the planner's scheme
 * names); "none". */
const char *lqmf_hfq_kind_name(lqmf_hfq_kind k);
/* Scheme name, case-insensitive ("nf4", "FP4", "int8", "LLM.int8",
 * "gptq-4bit", "GPTQ-8bit"). */
bool lqmf_hfq_kind_from_name(const char *name, lqmf_hfq_kind *out);

typedef struct {
    size_t done, total;               /* linear weights written / to quantize */
    uint64_t bytes_done, bytes_total; /* source bytes of those weights */
    double elapsed_s;
    const char *tensor; /* HF name of the weight just quantized */
} lqmf_hfq_progress;

typedef struct {
    lqmf_hfq_kind kind;
    uint32_t blocksize; /* 4-bit: 0 means 64 */
    bool double_quant;  /* 4-bit: absmax 8-bit blockwise (bnb_4bit_use_double_quant) */
    int32_t group_size; /* GPTQ: 0 means 128; -1: one group per row */
    const char *calib_text; /* GPTQ: calibration text (calib_len bytes, UTF-8);
                               NULL: round to nearest, no Hessian */
    size_t calib_len;
    uint32_t calib_ctx; /* GPTQ: tokens per calibration piece; 0: 512 */
    uint32_t n_threads; /* GPTQ: 0 means all CPUs */
    /* After each quantized weight; false stops the call with
     * LQMF_E_INTERRUPTED and nothing written. May be NULL. */
    bool (*progress)(void *user, const lqmf_hfq_progress *p);
    void *user;
} lqmf_hfq_opts;

typedef struct {
    uint64_t src_bytes;    /* tensor bytes of the source file(s) */
    uint64_t out_bytes;    /* size of model.safetensors */
    uint64_t tensor_bytes; /* tensor bytes written */
    uint64_t n_params;     /* elements of the model's tensors */
    double bpw;            /* tensor_bytes * 8 / n_params */
    double seconds;
    uint32_t n_tensors;    /* tensors written */
    uint32_t n_quantized;  /* linear weights quantized */
    uint64_t calib_tokens; /* GPTQ: tokens of the calibration text; 0 without one */
} lqmf_hfq_result;

/* Write m (opened from an HF folder) as a quantized checkpoint folder
 * out_dir. res may be NULL. */
lqmf_status lqmf_hfq_write(const lqmf_model *m, const char *out_dir, const lqmf_hfq_opts *o,
                           lqmf_hfq_result *res);

/* ---- reading ------------------------------------------------------------ */
typedef struct {
    lqmf_hfq_kind kind;   /* NONE when config.json has no quantization_config */
    char compute_dtype[16]; /* bnb_4bit_compute_dtype, "" when absent */
    unsigned bits;        /* GPTQ: 2, 3, 4 or 8 */
} lqmf_hfq_config;

/* The quantization_config of config.json text. A method other than
 * bitsandbytes or gptq, a bitsandbytes config that is neither 4-bit nor
 * 8-bit, or a GPTQ checkpoint_format other than "gptq" (gptq_v2, marlin)
 * is LQMF_E_UNSUPPORTED naming the field. */
lqmf_status lqmf_hfq_config_parse(const char *json, size_t len, const char *label, lqmf_hfq_config *out);

/* Which tensors of a quantized checkpoint belong to a quantized linear:
 * the companions (absmax, quant_map, quant_state, SCB, weight_format,
 * nested_*, qzeros, scales, g_idx) and the main tensor, "P.weight" when a
 * bitsandbytes companion exists for P or "P.qweight". lqmf_hfq_is_quantized
 * tells whether name is such a main tensor and then writes the weight's
 * name, "P.weight", to weight (n bytes; may be NULL). */
bool lqmf_hfq_is_companion(const char *name);
bool lqmf_hfq_is_quantized(const lqmf_safetensors *st, const char *name, char *weight, size_t n);

/* Decode the quantized linear whose main tensor is `name` ("P.weight" or
 * "P.qweight") into a malloc'd F32 [*n_out][*n_in] (*w, owned by the
 * caller). Every companion is checked (dtype, shape, the quant_state JSON
 * fields, code table, finite scales, GPTQ bits and g_idx); an error names
 * the tensor and the field. */
lqmf_status lqmf_hfq_dequantize(const lqmf_safetensors *st, const char *name, float **w, uint64_t *n_out,
                                uint64_t *n_in);

#ifdef __cplusplus
}
#endif
#endif
