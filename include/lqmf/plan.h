/* Planning: how large a model becomes under each quantization scheme, what
 * it needs in memory at run time, and which scheme to choose for a device or
 * a budget.
 *
 * Estimate of one scheme (all figures in bytes):
 *   weights = sum over tensors of the bytes of its storage type. GGUF
 *             schemes apply llama.cpp's per-tensor mix rules (Q4_K_M puts
 *             half the attn_v and ffn_down tensors in Q6_K, ...) and the
 *             block sizes of types.h; GPTQ/AWQ/NF4/INT8 store the linear
 *             layers of the blocks with their group scales and keep
 *             embeddings, output and norms in fp16.
 *   kv      = 2 (K and V) * n_layer * n_ctx * n_head_kv * head_dim * 2 (f16)
 *   compute = 4 * 512 * (n_vocab + 4*n_embd + 2*n_ff + n_head*n_ctx): f32
 *             scratch of one 512-token batch (logits, activations, scores)
 *   base    = runtime base: 512 MiB on a GPU (CUDA context, workspaces),
 *             128 MiB on a CPU
 *   total   = weights + kv + compute + base
 * A device's usable memory is its size minus a margin of 10 % (at least
 * 256 MiB); an explicit budget from the user is taken as is.
 *
 * Ranking uses the expected quality of each scheme: the perplexity increase
 * over FP16 measured on LLaMA-7B, with sources, in docs/quality-table.md.
 * Sizes the user gives in GB: device memory ("8GB GPU") and run-time budgets
 * are GiB; file-size budgets ("smaller than 3 GB") are 10^9 bytes. */
#ifndef LQMF_PLAN_H
#define LQMF_PLAN_H

#include "lqmf/core.h"
#include "lqmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LQMF_METHOD_ANY = 0, /* not chosen */
    LQMF_METHOD_GGUF,    /* llama.cpp GGUF types and mixes */
    LQMF_METHOD_GPTQ,    /* GPTQ safetensors (group 128) */
    LQMF_METHOD_AWQ,     /* AWQ safetensors (group 128) */
    LQMF_METHOD_BNB      /* bitsandbytes NF4 / LLM.int8 */
} lqmf_method;

typedef enum { LQMF_DEVICE_ANY = 0, LQMF_DEVICE_CPU, LQMF_DEVICE_GPU } lqmf_device;

typedef enum {
    LQMF_PREF_BALANCED = 0, /* smallest within 1 % PPL of FP16, else the best that fits */
    LQMF_PREF_QUALITY,      /* lowest expected PPL increase */
    LQMF_PREF_FASTEST,      /* fewest weight bytes (decode is bandwidth-bound) within 5 % PPL */
    LQMF_PREF_SMALLEST      /* fewest weight bytes */
} lqmf_pref;

const char *lqmf_method_name(lqmf_method m); /* "gguf", "gptq", "awq", "bnb", "any" */
const char *lqmf_device_name(lqmf_device d); /* "cpu", "gpu", "any" */
const char *lqmf_pref_name(lqmf_pref p);     /* "balanced", "quality", "fastest", "smallest" */

/* ---- schemes ------------------------------------------------------------ */
typedef struct {
    const char *name; /* "Q4_K_M", "GPTQ-4bit", "NF4", "INT8", "F16" */
    lqmf_method method;
    unsigned bits;           /* nominal bits of the bulk of the weights (16 for F16) */
    bool gpu_only;           /* runs only with CUDA kernels (GPTQ, AWQ, bitsandbytes) */
    bool legacy;             /* considered only when named (Q4_1, Q5_0, Q5_1) */
    double ppl_delta_pct;    /* expected % perplexity increase over FP16 */
    double kld;              /* mean KL divergence vs FP16 on Llama-3-8B; < 0: not measured */
    const char *quality_src; /* where ppl_delta_pct comes from */
    const char *size_rule;   /* how the weight bytes are computed */
} lqmf_scheme;

size_t lqmf_plan_scheme_count(void);
const lqmf_scheme *lqmf_plan_scheme_at(size_t i); /* NULL past the end; static storage */
/* By name, case-insensitive; also "Q4_K" (= Q4_K_M), "Q3_K" (= Q3_K_M),
 * "Q5_K" (= Q5_K_M), "FP16"/"BF16" (= F16 size). NULL when unknown. */
const lqmf_scheme *lqmf_plan_scheme_find(const char *name);

/* ---- model metadata ------------------------------------------------------ */
typedef enum {
    LQMF_TC_EMBD = 0, /* token embeddings {n_embd, n_vocab} */
    LQMF_TC_POS_EMBD, /* learned position embeddings (gpt2) */
    LQMF_TC_OUTPUT,   /* output projection (absent when tied) */
    LQMF_TC_ATTN_Q,
    LQMF_TC_ATTN_K,
    LQMF_TC_ATTN_V,
    LQMF_TC_ATTN_QKV, /* fused q/k/v (gpt2) */
    LQMF_TC_ATTN_OUT,
    LQMF_TC_FFN_GATE,
    LQMF_TC_FFN_UP,
    LQMF_TC_FFN_DOWN,
    LQMF_TC_VECTOR, /* 1-D: norms and biases */
    LQMF_TC_OTHER,  /* any other 2-D weight */
    LQMF_TC_COUNT
} lqmf_tensor_class;

const char *lqmf_tensor_class_name(lqmf_tensor_class c); /* "attn_v", ... */

typedef struct {
    lqmf_tensor_class cls;
    uint64_t ne0, ne1; /* row length (input features), rows; ne1 = 1 for vectors */
    uint32_t count;    /* tensors of this class and shape (one per layer for block tensors) */
} lqmf_tensor_group;

#define LQMF_META_MAX_GROUPS 64
typedef struct {
    char name[128];    /* label for messages */
    bool shapes_known; /* false: only the counts below; weights use the scheme's
                          bits per weight on a Llama-2-7B shape */
    lqmf_tensor_group groups[LQMF_META_MAX_GROUPS];
    size_t n_groups;
    uint64_t n_params;
    uint32_t n_layer, n_head, n_head_kv, head_dim;
    uint32_t n_embd, n_ff, n_vocab, n_ctx_train; /* 0 when unknown */
} lqmf_model_meta;

/* The tensors hp's architecture has (the shapes model.h lists). */
lqmf_status lqmf_plan_meta_from_hparams(const lqmf_hparams *hp, const char *name, lqmf_model_meta *out);
/* The tensors of an opened model, classified by internal name. */
lqmf_status lqmf_plan_meta_from_model(const lqmf_model *m, lqmf_model_meta *out);
/* Only counts known (shapes_known = false). */
lqmf_status lqmf_plan_meta_from_counts(uint64_t n_params, uint32_t n_layer, uint32_t n_head_kv,
                                       uint32_t head_dim, uint32_t n_ctx_train, const char *name,
                                       lqmf_model_meta *out);
/* Class of a 2-D tensor from its internal name ("blk.3.attn_v.weight" ->
 * LQMF_TC_ATTN_V); LQMF_TC_OTHER when unknown. 1-D tensors are the caller's
 * LQMF_TC_VECTOR. */
lqmf_tensor_class lqmf_plan_classify(const char *name);

/* ---- GGUF mix rules (llama.cpp's llama_tensor_get_type for dense models) --
 * The type GGUF scheme s gives tensor i of the n tensors of class cls (i is
 * the layer for block tensors): F32 for vectors, the scheme's output type for
 * the output projection (and for tied embeddings, has_output false), the
 * first matching mix rule, else the scheme's base type. The row length is
 * not considered: pass the result through lqmf_plan_fallback_type. */
lqmf_type lqmf_plan_gguf_type(const lqmf_scheme *s, const lqmf_model_meta *m, lqmf_tensor_class cls,
                             uint32_t i, uint32_t n, bool has_output);
/* llama.cpp's replacement when rows of ne0 elements do not fill whole blocks
 * of t: Q2_K, Q3_K -> IQ4_NL; Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0; IQ4_XS -> IQ4_NL; and
 * F16 when even the replacement (or t itself, other types) does not fit.
 * Sets *fell_back when t was replaced; t itself when it fits. */
lqmf_type lqmf_plan_fallback_type(lqmf_type t, uint64_t ne0, bool *fell_back);

/* Elements of all tensors of class c. */
uint64_t lqmf_plan_meta_class_params(const lqmf_model_meta *m, lqmf_tensor_class c);

/* ---- estimate ------------------------------------------------------------ */
typedef struct {
    const lqmf_scheme *scheme;
    lqmf_device device;
    uint32_t n_ctx;
    uint64_t weight_bytes;  /* converted weights, ~ the output file */
    double bpw;             /* weight bits per parameter */
    uint64_t kv_bytes;      /* f16 K and V cache for n_ctx tokens */
    uint64_t compute_bytes; /* f32 scratch of one 512-token batch */
    uint64_t base_bytes;    /* runtime base on the device */
    uint64_t total_bytes;
    uint32_t n_fallback; /* tensors stored in a fallback type (row length not a
                            multiple of the block size) */
    bool from_reference; /* shapes unknown: bpw of the scheme on Llama-2-7B */
} lqmf_estimate;

#define LQMF_PLAN_DEFAULT_CTX 4096u

/* Estimate scheme s for m at n_ctx tokens (0: min(n_ctx_train, 4096)). */
lqmf_status lqmf_plan_estimate(const lqmf_model_meta *m, const lqmf_scheme *s, uint32_t n_ctx,
                               lqmf_device dev, lqmf_estimate *out);
/* The arithmetic of e as text lines appended to out. */
lqmf_status lqmf_plan_render_estimate(const lqmf_model_meta *m, const lqmf_estimate *e, lqmf_buf *out);

/* ---- plans --------------------------------------------------------------- */
typedef struct {
    lqmf_device device;   /* CPU or GPU (ANY is planned as CPU) */
    uint64_t device_mem;  /* bytes of device memory; 0: unknown, not checked */
    uint64_t mem_budget;  /* run-time bytes allowed ("fits 6 GB"); 0: none */
    uint64_t size_budget; /* weight (file) bytes allowed ("smaller than 3 GB"); 0: none */
    bool check_disk;
    uint64_t disk_free;        /* bytes free where the output is written */
    uint64_t disk_extra;       /* bytes also to be written there (the download) */
    uint32_t n_ctx;            /* 0: min(n_ctx_train, 4096) */
    lqmf_method method;        /* ANY: every method the device runs */
    unsigned bits;             /* 0: any */
    const lqmf_scheme *scheme; /* non-NULL: this scheme only */
    lqmf_pref pref;
} lqmf_plan_request;

typedef enum {
    LQMF_FIT_OK = 0,
    LQMF_FIT_MEMORY, /* total over the device's usable memory */
    LQMF_FIT_BUDGET, /* total over the run-time budget */
    LQMF_FIT_SIZE,   /* weights over the file-size budget */
    LQMF_FIT_DISK    /* weights + download over the free disk space */
} lqmf_fit;

typedef struct {
    lqmf_estimate est;
    lqmf_fit fit;
} lqmf_plan_option;

typedef struct {
    lqmf_plan_request rq;
    lqmf_plan_option *opts; /* owned: the schemes the request allows; those that fit
                               first, best expected quality first, then the rest by
                               total size */
    size_t n_opts;
    int chosen; /* index into opts; -1 when the plan is a refusal */
    uint32_t n_ctx;
    uint64_t usable_mem; /* device_mem minus margin; 0 when unknown */
    uint64_t margin;
    char why[384];         /* the choice in one or two sentences, or why nothing fits */
    char alternative[384]; /* on refusal: the nearest alternative ("" when none) */
} lqmf_plan;

/* Estimate every scheme rq allows and choose one. A plan where nothing fits
 * is not an error: chosen is -1 and why/alternative say what would work.
 * Fails only on bad metadata. *out is owned by the caller (lqmf_plan_free). */
lqmf_status lqmf_plan_make(const lqmf_model_meta *m, const lqmf_plan_request *rq, lqmf_plan *out);
void lqmf_plan_free(lqmf_plan *p);     /* NULL or zeroed: no-op */
const char *lqmf_fit_name(lqmf_fit f); /* "fits", "memory", "budget", "size", "disk" */
/* The plan as text: the limits, one line per option, the arithmetic of the
 * chosen option and the explanation. */
lqmf_status lqmf_plan_render(const lqmf_model_meta *m, const lqmf_plan *p, lqmf_buf *out);

#ifdef __cplusplus
}
#endif
#endif
