/* Hugging Face model folders: config.json (+ generation_config.json) into
 * lqmf_hparams, and HF tensor names to the internal (GGUF) names.
 *
 * Supported: the llama family (model_type llama / mistral / qwen2,
 * LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM) and GPT-2
 * (model_type gpt2, GPT2LMHeadModel). HF llama weights use the NEOX rotary
 * layout (rotate_half), so hp->rope_layout is LQMF_ROPE_NEOX for them.
 * Fields absent or null take the transformers defaults of their config
 * class; a field of the wrong type or out of range is an error naming the
 * file, the field and the value. */
#ifndef LQMF_HF_CONFIG_H
#define LQMF_HF_CONFIG_H

#include "lqmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LQMF_HF_CONFIG_MAX_BYTES (4u << 20) /* config.json larger than this is refused */

/* Parse config.json text (len bytes, need not be NUL-terminated) into *hp,
 * which is fully overwritten. label names the text in error messages. */
lqmf_status lqmf_hf_config_parse(const char *json, size_t len, const char *label, lqmf_hparams *hp);
/* Apply generation_config.json text: its bos_token_id / eos_token_id (an
 * integer, or a list whose first entry is taken) override hp's. */
lqmf_status lqmf_hf_generation_config_parse(const char *json, size_t len, const char *label,
                                            lqmf_hparams *hp);
/* Read dir/config.json and, when present, dir/generation_config.json. */
lqmf_status lqmf_hf_config_load(const char *dir, lqmf_hparams *hp);

/* What an HF checkpoint tensor is to the model. */
typedef enum {
    LQMF_HF_TENSOR_MAPPED = 0, /* a weight: internal name written to out */
    LQMF_HF_TENSOR_IGNORED,    /* a buffer the model recomputes (rotary inv_freq, GPT-2
                                * attn.bias / masked_bias) or lm_head of a tied model */
    LQMF_HF_TENSOR_UNKNOWN     /* not a tensor of this architecture */
} lqmf_hf_tensor_kind;

/* Map an HF tensor name for hp's architecture. On MAPPED, out (capacity
 * LQMF_TENSOR_NAME_MAX) holds the internal name and *conv1d tells whether
 * the tensor is a GPT-2 Conv1D weight stored [in, out], which the loader
 * transposes so that ne = {in, out}. */
lqmf_hf_tensor_kind lqmf_hf_tensor_name(const lqmf_hparams *hp, const char *hf_name, char *out, bool *conv1d);
/* The reverse: the HF name of an internal tensor (for messages), written
 * to out (n bytes). GPT-2 names get `gpt2_prefix` ("transformer." or "").
 * Returns false when the name is not one of hp's architecture. */
bool lqmf_hf_tensor_src_name(const lqmf_hparams *hp, const char *name, const char *gpt2_prefix, char *out,
                             size_t n);

#ifdef __cplusplus
}
#endif
#endif
