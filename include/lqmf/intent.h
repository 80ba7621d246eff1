/* Intent: what a user's typed request asks for. "quantize
 * mistralai/Mistral-7B-Instruct-v0.3 for 8GB GPU" becomes {action quantize,
 * model mistralai/Mistral-7B-Instruct-v0.3, device gpu with 8 GiB, method
 * gptq (the default for a GPU)}.
 *
 * Words are matched against tables (actions, methods, devices, budgets,
 * preferences, short model names); nothing is guessed: a short name that
 * fits several models is returned as ambiguous with its candidates, and an
 * unknown one as unknown. Sizes: device memory ("8GB GPU") and run-time
 * budgets ("fits 6 GB") count GB as GiB, as memory is sold; file-size
 * budgets ("smaller than 3 GB") count GB as 10^9 bytes, as files are
 * listed; "GiB" is always 2^30. */
#ifndef LQMF_INTENT_H
#define LQMF_INTENT_H

#include "lqmf/core.h"
#include "lqmf/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LQMF_ACTION_UNKNOWN = 0,
    LQMF_ACTION_QUANTIZE,      /* quantize a model (the factory pipeline) */
    LQMF_ACTION_PLAN,          /* the same request, planned only */
    LQMF_ACTION_REFINE,        /* a follow-up changing the last request: "make it smaller than 3 GB" */
    LQMF_ACTION_TEST,          /* test one quantized model: target */
    LQMF_ACTION_TEST_LIST,     /* list quantized models */
    LQMF_ACTION_TEST_DISCOVER, /* scan quantized-models/ and catalog what is there */
    LQMF_ACTION_LIST,          /* list experiments (filter) */
    LQMF_ACTION_STATS,
    LQMF_ACTION_DOWNLOAD,
    LQMF_ACTION_SERVE,
    LQMF_ACTION_FINETUNE,
    LQMF_ACTION_HF_LOGIN,
    LQMF_ACTION_HF_STATUS,
    LQMF_ACTION_HF_LOGOUT,
    LQMF_ACTION_SYSTEM,
    LQMF_ACTION_CONFIG,
    LQMF_ACTION_HELP,
    LQMF_ACTION_EXIT,
    LQMF_ACTION_COUNT
} lqmf_action;

const char *lqmf_action_name(lqmf_action a); /* "quantize", "test-list", "hf-login", ... */

typedef enum {
    LQMF_REF_NONE = 0,  /* no model named */
    LQMF_REF_REPO,      /* id is "org/name" on the Hub */
    LQMF_REF_LOCAL,     /* id is a local path */
    LQMF_REF_AMBIGUOUS, /* candidates lists the models the words could mean */
    LQMF_REF_UNKNOWN    /* text names no model we know */
} lqmf_ref_kind;

#define LQMF_INTENT_MAX_CANDIDATES 8
typedef struct {
    lqmf_ref_kind kind;
    char text[128];  /* the words the reference was read from */
    char id[256];    /* REPO: "org/name"; LOCAL: the path */
    char file[96];   /* REPO: a file the short name picks in the repo ("" for the whole repo) */
    bool from_alias; /* REPO found through the short-name table or the history */
    size_t n_candidates;
    char candidates[LQMF_INTENT_MAX_CANDIDATES][128]; /* AMBIGUOUS: repo ids */
} lqmf_model_ref;

typedef enum { LQMF_LIST_ALL = 0, LQMF_LIST_SUCCESS, LQMF_LIST_FAILED } lqmf_list_filter;

typedef struct {
    lqmf_action action;
    lqmf_model_ref model;
    char target[128];          /* TEST: the quantized model's name as typed */
    lqmf_list_filter filter;   /* LIST */
    lqmf_method method;        /* ANY only when the action needs none */
    bool method_defaulted;     /* chosen from the device (cpu: gguf, gpu: gptq), not said */
    unsigned bits;             /* 2..8, or 16; 0: not said */
    const lqmf_scheme *scheme; /* a named type ("Q4_K_M", "nf4"); NULL: not said */
    lqmf_device device;        /* ANY: not said */
    uint64_t device_mem;       /* bytes; 0: not said */
    uint64_t size_budget;      /* weight/file bytes; 0: none */
    uint64_t mem_budget;       /* run-time bytes; 0: none */
    uint32_t n_ctx;            /* tokens; 0: not said */
    lqmf_pref pref;
    bool pref_said;
    uint16_t port; /* SERVE; 0: not said */
} lqmf_intent;

typedef struct {
    const char *const *history; /* repo ids used before: "MyModel-1B" then finds "org/MyModel-1B" */
    size_t n_history;
    bool probe_fs; /* a word naming an existing file or folder is a local path */
} lqmf_intent_opts;

#define LQMF_INTENT_MAX_BYTES 4096

/* Parse one request (UTF-8, at most LQMF_INTENT_MAX_BYTES). opts may be
 * NULL. Fails with LQMF_E_INVALID when the words contradict each other
 * ("4-bit Q8_0", "gguf gptq") or a value is out of range ("12-bit"); the
 * message quotes the words. An ambiguous or unknown model is not an error. */
lqmf_status lqmf_intent_parse(const char *text, const lqmf_intent_opts *opts, lqmf_intent *out);

/* Resolve a model name alone ("mistral 7b", "org/name", "./dir"). */
lqmf_status lqmf_intent_resolve(const char *name, const lqmf_intent_opts *opts, lqmf_model_ref *out);

/* Set the device once known (e.g. probed); a defaulted method follows it. */
void lqmf_intent_set_device(lqmf_intent *in, lqmf_device dev);

/* Apply a REFINE intent to the request it follows: every field the
 * follow-up says replaces the earlier one; the action stays. */
void lqmf_intent_merge(lqmf_intent *base, const lqmf_intent *refine);

/* One line, fields in a fixed order, only those said or defaulted:
 * "quantize model=openai-community/gpt2 method=gguf* bits=4 device=cpu"
 * (* marks a default; model?=a,b ambiguous; model!=text unknown;
 * path=P local; mem=8GiB; size<3GB; fit<6GiB). */
lqmf_status lqmf_intent_describe(const lqmf_intent *in, lqmf_buf *out);

#ifdef __cplusplus
}
#endif
#endif
