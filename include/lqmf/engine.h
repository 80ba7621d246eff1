/* CPU inference engine: forward pass with a KV cache over an lqmf_model
 * (llama family and GPT-2), logits and activation hooks for evaluation and
 * calibration, a sampler and a generation loop. Works on token ids only;
 * text in and out is the tokenizer's job.
 *
 * Weights are read where the model keeps them (file mapping or owned buffer)
 * and never copied: F32/F16/BF16 through the engine's own tile kernels,
 * quantized types through the vec_dot of lqmf/quant.h with the activations
 * converted to the type's vec_dot_type; only 1-D tensors (norms, biases) are
 * widened to f32. All buffers (run state, f32 KV cache)
 * are allocated once by lqmf_engine_new. */
#ifndef LQMF_ENGINE_H
#define LQMF_ENGINE_H

#include "lqmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lqmf_engine lqmf_engine;

typedef struct {
    uint32_t n_ctx;     /* KV cache positions; 0 = min(n_ctx_train, 4096). GPT-2: <= n_ctx_train */
    uint32_t n_threads; /* 0 = all online CPUs */
    uint32_t n_batch;   /* tokens per forward chunk (eval splits longer inputs); 0 = 32 */
} lqmf_engine_params;

/* Called on the evaluating thread with activations of the current chunk:
 * - the input of every matmul, name = the weight's tensor name
 *   ("blk.3.attn_q.weight", "output.weight"; q, k and v see the same x);
 * - the residual stream after each layer, name "blk.N.out".
 * x is (n_tokens, dim) row-major f32, valid during the call only.
 * layer is -1 for "output.weight". */
typedef void (*lqmf_engine_hook)(void *user, int32_t layer, const char *name, const float *x,
                                 uint32_t n_tokens, uint32_t dim);

typedef enum {
    LQMF_LOGITS_NONE = 0, /* only fill the KV cache */
    LQMF_LOGITS_LAST,     /* logits: n_vocab floats for the last token */
    LQMF_LOGITS_ALL       /* logits: (n, n_vocab) floats, one row per token */
} lqmf_logits_mode;

typedef struct {
    uint64_t weight_bytes;  /* tensor bytes the forward pass reads */
    uint64_t kv_bytes;      /* KV cache: 2 * n_layer * n_ctx * n_head_kv * head_dim * 4 */
    uint64_t scratch_bytes; /* run state, f32 copies of norms/biases, RoPE tables */
    uint32_t n_ctx, n_threads, n_batch;
    const char *isa; /* "avx2" or "ref": the dot-product kernels in use */
} lqmf_engine_info;

/* Build an engine over m (which must outlive it). Fails with the tensor
 * name when a weight has a type without a kernel. *out owned by the caller. */
lqmf_status lqmf_engine_new(const lqmf_model *m, const lqmf_engine_params *p, lqmf_engine **out);
void lqmf_engine_free(lqmf_engine *e); /* NULL is a no-op */

/* Run tokens[0..n-1] at positions pos..pos+n-1 (pos <= n_past, pos + n <=
 * n_ctx); afterwards n_past = pos + n, so a smaller pos rewinds the cache.
 * Logits per mode into the caller's buffer (NULL allowed with NONE). */
lqmf_status lqmf_engine_eval(lqmf_engine *e, const int32_t *tokens, uint32_t n, uint32_t pos,
                             lqmf_logits_mode mode, float *logits);
void lqmf_engine_reset(lqmf_engine *e); /* n_past = 0 */
/* Forget positions >= n (n_past = min(n, n_past)): a chat keeps the prefix
 * its next prompt shares with the cache and evaluates only the rest. */
void lqmf_engine_truncate(lqmf_engine *e, uint32_t n);
uint32_t lqmf_engine_n_past(const lqmf_engine *e);
void lqmf_engine_set_hook(lqmf_engine *e, lqmf_engine_hook fn, void *user); /* fn NULL: off */
void lqmf_engine_get_info(const lqmf_engine *e, lqmf_engine_info *info);
const lqmf_model *lqmf_engine_model(const lqmf_engine *e);

/* ---- sampling -------------------------------------------------------------
 * Order: repetition penalty -> (greedy when temperature <= 0) -> temperature
 * -> top-k -> min-p -> top-p -> draw. Ties break towards the smaller id. */
typedef struct {
    float temperature;      /* <= 0: greedy argmax */
    uint32_t top_k;         /* keep the k most likely; 0 = off */
    float top_p;            /* keep the smallest set with mass >= top_p; >= 1 = off */
    float min_p;            /* keep p >= min_p * p_max; 0 = off */
    float repeat_penalty;   /* logit > 0 ? logit / rp : logit * rp on recent tokens; 1 = off */
    uint32_t repeat_last_n; /* how many accepted tokens the penalty looks back */
    uint64_t seed;
} lqmf_sampler_params;

typedef struct lqmf_sampler lqmf_sampler;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1, last_n 64, seed 0 */
void lqmf_sampler_params_default(lqmf_sampler_params *p);
lqmf_status lqmf_sampler_new(const lqmf_sampler_params *p, uint32_t n_vocab, lqmf_sampler **out);
void lqmf_sampler_free(lqmf_sampler *s); /* NULL is a no-op */
/* Pick a token from n_vocab logits (not modified). */
int32_t lqmf_sampler_sample(lqmf_sampler *s, const float *logits);
/* Record a token in the penalty history (prompt tokens too). */
void lqmf_sampler_accept(lqmf_sampler *s, int32_t token);
void lqmf_sampler_reset(lqmf_sampler *s); /* empty history, reseed */

/* ---- generation ------------------------------------------------------------ */
typedef enum {
    LQMF_STOP_EOS = 0,  /* the model produced hp.eos_id (not passed to the callback) */
    LQMF_STOP_MAX,      /* max_new tokens generated */
    LQMF_STOP_CALLBACK, /* the callback returned false (stop string, user) */
    LQMF_STOP_CTX       /* the KV cache is full */
} lqmf_stop_reason;

typedef struct {
    uint32_t n_prompt, n_gen;
    double t_prompt, t_gen; /* seconds: prompt evaluation; sampling + decoding */
    lqmf_stop_reason reason;
} lqmf_gen_stats;

/* Called with each generated token; return false to stop. */
typedef bool (*lqmf_token_cb)(void *user, int32_t token);

/* Append prompt at position n_past, then sample up to max_new tokens. Every
 * token given to cb is in the KV cache on return (a chat can continue), and
 * the prompt and generated tokens are accepted into s. */
lqmf_status lqmf_engine_generate(lqmf_engine *e, lqmf_sampler *s, const int32_t *prompt, uint32_t n_prompt,
                                 uint32_t max_new, lqmf_token_cb cb, void *user, lqmf_gen_stats *stats);

/* A model with the tensors of hp's architecture filled with random values
 * (seeded, deterministic): 2-D weights uniform in +-1/sqrt(n_in) (embeddings
 * +-1), norm weights near 1, biases near 0, stored as `type` (any type with a
 * quantizer in lqmf/quant.h; norms and biases stay F32 when it is quantized).
 * For tests and benchmarks. */
lqmf_status lqmf_engine_random_model(const lqmf_hparams *hp, lqmf_type type, uint64_t seed, lqmf_model **out);

#ifdef __cplusplus
}
#endif
#endif
