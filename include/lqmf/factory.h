/* The factory: one typed request ("quantize gpt2 to 4-bit GGUF for CPU")
 * run end to end:
 *   resolve   the intent's model: a local folder/file (lqmf_model_open) or a
 *             Hub repository (metadata, config.json and safetensors headers
 *             only, no weights yet)
 *   plan      hardware probe + estimates (lqmf_plan_make); a refusal when
 *             nothing fits; the configured LLM provider's advice when asked
 *             for (taken only when it fits per the estimate, as `lqmf plan`
 *             judges it; any failure leaves the planner's choice); the
 *             confirm callback unless assume_yes
 *   download  the repository's selected files into the Hub cache
 *   quantize  to GGUF (lqmf_quantize_model) into
 *             <out_dir>/<org>_<name>_<method>_<bits>bit/<name>-<SCHEME>.gguf,
 *             or, when the request names bitsandbytes ("bnb", "nf4",
 *             "int8") or GPTQ, to a checkpoint folder (lqmf_hfq_write) that
 *             is the artifact itself: <out_dir>/<org>_<name>_bnb_4bit (or
 *             _bnb_8bit, _gptq_4bit, _gptq_8bit); GPTQ calibrates on
 *             calib_path or else lqmf_eval_calibration_text
 *   test      the quick evaluation against the source (when built in)
 *   record    model, artifact (with its sha256), experiment, evaluations in
 *             the experiment store
 * and a model card (README.md) next to the artifact: provenance, the plan,
 * the test results.
 *
 * GGUF, bitsandbytes (NF4, INT8) and GPTQ (4-, 8-bit) are produced; the
 * last two only when named (their runtime is a CUDA GPU; the plan says so
 * on a CPU); a request for AWQ is refused with a message naming what exists. Every run that reaches the
 * store is recorded: succeeded, failed (refusals and declines included, with
 * the reason) or interrupted (the progress callback returned false, e.g. on
 * Ctrl-C; during the download that cuts the transfers short, as does the
 * cancel callback of the hub options, and the partial files stay in the Hub
 * cache for the next run to resume). A failed or interrupted run leaves no
 * artifact folder behind (one that existed before is left as it was).
 * Nothing here prints. */
#ifndef LQMF_FACTORY_H
#define LQMF_FACTORY_H

#include "lqmf/advisor.h"
#include "lqmf/hub.h"
#include "lqmf/hw.h"
#include "lqmf/intent.h"
#include "lqmf/plan.h"
#include "lqmf/quantize.h"
#include "lqmf/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LQMF_FACTORY_RESOLVE = 0,
    LQMF_FACTORY_PLAN,
    LQMF_FACTORY_DOWNLOAD,
    LQMF_FACTORY_QUANTIZE,
    LQMF_FACTORY_TEST,
    LQMF_FACTORY_RECORD,
    LQMF_FACTORY_STAGE_COUNT
} lqmf_factory_stage;

const char *lqmf_factory_stage_name(lqmf_factory_stage s); /* "resolve", "plan", ... */

typedef enum {
    LQMF_FACTORY_SUCCEEDED = 0,
    LQMF_FACTORY_REFUSED,     /* nothing fits, or a method that is not built */
    LQMF_FACTORY_DECLINED,    /* the confirm callback said no */
    LQMF_FACTORY_FAILED,      /* an error (see the returned status and message) */
    LQMF_FACTORY_INTERRUPTED  /* the progress callback asked to stop */
} lqmf_factory_outcome;

const char *lqmf_factory_outcome_name(lqmf_factory_outcome o); /* "succeeded", ... */

typedef struct {
    lqmf_factory_stage stage;
    double frac;        /* 0..1 within the stage; < 0 when unknown */
    const char *detail; /* "tensor 12/57 blk.3.attn_v.weight -> Q6_K", a file name, ... */
} lqmf_factory_progress;

typedef struct lqmf_factory_result lqmf_factory_result;

/* Below this many calibration tokens GPTQ may do worse than round to
 * nearest: the summary and card warn. */
#define LQMF_FACTORY_CALIB_MIN_TOKENS 4096

typedef struct {
    const char *request;     /* what the user typed; required */
    const char *out_dir;     /* the quantized-models folder; required (created when absent) */
    const char *store_path;  /* experiment store; NULL: nothing recorded */
    lqmf_store_backend store_backend;
    const lqmf_hub_options *hub; /* NULL: defaults */
    const lqmf_hw *hw;           /* NULL: probed */
    uint64_t gpu_mem_default;    /* bytes planned for a GPU when none is found (gpu_memory_limit) */
    uint32_t n_threads;          /* quantize threads; 0: all CPUs */
    /* GPTQ calibration text file (the calibration_text setting); NULL or
     * "": lqmf_eval_calibration_text. Fewer than
     * LQMF_FACTORY_CALIB_MIN_TOKENS tokens: a warning in summary and card. */
    const char *calib_path;
    bool assume_yes;             /* do not ask confirm */
    bool skip_test;
    /* LLM advice on the plan: asked when llm_config is given and
     * lqmf_advice_wanted(llm_config, advice) (a provider is set, and advice
     * or its llm_advice is true). Never required: an error or timeout of the
     * provider leaves the planner's choice, with a note in the plan text. */
    const lqmf_config *llm_config; /* NULL: no advice */
    bool advice;
    /* After planning, with the plan in r; false declines. NULL: proceed. */
    bool (*confirm)(void *user, const lqmf_factory_result *r);
    /* At each step; false stops the run as interrupted. May be NULL. */
    bool (*progress)(void *user, const lqmf_factory_progress *p);
    void *user;
} lqmf_factory_request;

struct lqmf_factory_result {
    lqmf_factory_outcome outcome;
    lqmf_factory_stage stage; /* where it ended */
    lqmf_intent intent;
    char source[1024];      /* the model as resolved: "org/name" or a local path */
    char source_path[1024]; /* the file or folder the weights were read from */
    char commit[41];        /* Hub commit; "" for local models */
    char meta_from[64];     /* "the model's tensors", "config.json on the Hub", ... */
    lqmf_model_meta meta;
    lqmf_plan plan;               /* owned; chosen < 0 when refused */
    const lqmf_scheme *scheme;    /* chosen scheme; NULL when refused */
    char *plan_text;              /* the plan rendered (owned), with the advice; NULL before planning */
    bool advice_asked;            /* the provider was asked: advice holds its answer */
    lqmf_advice advice;           /* verdict NONE when it failed (why says how) */
    bool advice_taken; /* the advised scheme is the one quantized (it fits; it may agree with the planner) */
    const lqmf_scheme *planner_scheme; /* the planner's own choice; NULL when refused */
    char out_folder[1024];        /* <out_dir>/<org>_<name>_<method>_<bits>bit */
    char artifact[1200];          /* the GGUF file in it, or the checkpoint folder itself */
    char card[1200];              /* its README.md */
    lqmf_quantize_result quant;   /* valid once quantized */
    uint64_t src_bytes;           /* source tensor bytes */
    double seconds;               /* whole run */
    char sha256[65];
    char calib[1100];             /* GPTQ: the calibration text, a path or "built-in text, ..."; "" otherwise */
    uint64_t calib_tokens;        /* GPTQ: its tokens (valid once quantized) */
    char test_verdict[16];        /* "pass", "fail", "unmeasured", "skipped", "" (not reached) */
    char *test_text;              /* the test report or why there is none (owned) */
    int64_t experiment_id, model_id, artifact_id; /* 0 when not recorded */
    char message[768];            /* refusal, decline, failure or interruption reason; "" on success */
};

/* Run the request. Returns LQMF_OK when an artifact was written (outcome
 * SUCCEEDED) or the user declined (DECLINED); otherwise the error status
 * (LQMF_E_UNSUPPORTED for REFUSED, LQMF_E_INTERRUPTED, ...) with the message
 * also in r->message. *r is filled as far as the run got, in every case, and
 * released with lqmf_factory_result_free. */
lqmf_status lqmf_factory_run(const lqmf_factory_request *rq, lqmf_factory_result *r);
void lqmf_factory_result_free(lqmf_factory_result *r); /* NULL or zeroed: no-op */

/* The output folder name for a source and scheme:
 * "microsoft/DialoGPT-small", Q4_K_M -> "microsoft_DialoGPT-small_gguf_4bit";
 * a local path (local true) names it by its last component without
 * extension ("/data/tiny-llama" -> "tiny-llama_gguf_4bit"). */
void lqmf_factory_folder_name(const char *source, bool local, const lqmf_scheme *s, char *out, size_t n);

/* The "Quantization Successful!" summary of a succeeded run (path, size
 * before/after, time, compression ratio), appended to out. */
lqmf_status lqmf_factory_render_summary(const lqmf_factory_result *r, lqmf_buf *out);

#ifdef __cplusplus
}
#endif
#endif
