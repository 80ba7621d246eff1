/* Advice from an LLM provider: optional, never required.
 *
 * A provider is one of the table below, reached through its real HTTP API:
 *   gemini  Google generateContent  POST {base}/v1beta/models/{model}:generateContent
 *           header x-goog-api-key; body {"contents":[{"parts":[{"text":P}]}]};
 *           answer candidates[0].content.parts[0].text
 *   claude  Anthropic messages      POST {base}/v1/messages
 *           headers x-api-key, anthropic-version: 2023-06-01;
 *           body {"model","max_tokens","messages":[{"role":"user","content":P}]};
 *           answer content[0].text
 *   openai  OpenAI chat completions POST {base}/v1/chat/completions
 *           header Authorization: Bearer KEY;
 *           body {"model","messages":[{"role":"user","content":P}],"temperature":0};
 *           answer choices[0].message.content
 *   local   the same chat completions on any OpenAI-compatible server (lqmf's
 *           own `serve` by default, http://{api_host}:{api_port}); no key needed
 *
 * Keys come from the configuration (GEMINI_API_KEY, ANTHROPIC_API_KEY,
 * OPENAI_API_KEY in the environment or .env). Overrides from the
 * environment, the first set wins:
 *   base URL  LQMF_<NAME>_BASE_URL, then LQMF_LLM_BASE_URL, then the default
 *   model     LQMF_<NAME>_MODEL, then LQMF_LLM_MODEL, then the default
 *   timeout   LQMF_LLM_TIMEOUT (seconds, 1..600; default 30, connect 5)
 *
 * When advice is asked for: the configuration's llm_provider is not "none"
 * AND (the command has --advice OR llm_advice is true). Both are off by
 * default, so no request leaves the machine unless the user asks.
 *
 * The provider's suggestion is checked against the planner before it is
 * shown: the scheme must be known, allowed by the request and fit the
 * limits per the memory estimate; otherwise the advice is rejected with the
 * estimate's reason. Failures (no key, 401, 429, 5xx, bad JSON, network
 * down) mean no advice, never a failed plan. */
#ifndef LQMF_ADVISOR_H
#define LQMF_ADVISOR_H

#include "lqmf/config.h"
#include "lqmf/core.h"
#include "lqmf/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LQMF_LLM_API_OPENAI = 0, /* chat completions */
    LQMF_LLM_API_ANTHROPIC,  /* messages */
    LQMF_LLM_API_GEMINI      /* generateContent */
} lqmf_llm_api;

typedef struct {
    const char *name;     /* "gemini", "claude", "openai", "local" (llm_provider values) */
    lqmf_llm_api api;
    const char *base_url; /* default, no trailing '/'; NULL for local (from api_host/api_port) */
    const char *model;    /* default model */
    lqmf_config_key key;  /* where its API key is; LQMF_CFG_COUNT: none needed */
    const char *env_name; /* the <NAME> of LQMF_<NAME>_BASE_URL / _MODEL */
} lqmf_llm_provider;

size_t lqmf_llm_provider_count(void);
const lqmf_llm_provider *lqmf_llm_provider_at(size_t i); /* NULL past the end; static */
/* By name, case-insensitive; "anthropic" = claude, "google" = gemini. NULL when unknown. */
const lqmf_llm_provider *lqmf_llm_provider_find(const char *name);
const char *lqmf_llm_api_name(lqmf_llm_api api); /* "chat completions", "messages", "generateContent" */

/* A provider ready to call. key is a secret: never print it (lqmf_config_mask). */
typedef struct {
    const lqmf_llm_provider *provider;
    char base_url[512];
    char model[128];
    char key[512];         /* "" when none */
    char base_from[64];    /* "default", "LQMF_LLM_BASE_URL", "api_host/api_port", ... */
    char model_from[64];
    char key_from[256];    /* the config origin of the key ("OPENAI_API_KEY", ".env:3"); "" when none */
    unsigned timeout_s;    /* whole request */
} lqmf_llm_client;

/* The client for provider name (NULL: the configuration's llm_provider).
 * Fails with LQMF_E_INVALID for an unknown name or "none", LQMF_E_AUTH when
 * the provider needs a key and none is set (naming the variable). */
lqmf_status lqmf_llm_client_init(const lqmf_config *cfg, const char *name, lqmf_llm_client *out);

/* The request for prompt: *url and *body are heap strings (caller frees).
 * max_tokens bounds the answer (claude requires it; others ignore 0). */
lqmf_status lqmf_llm_build_request(const lqmf_llm_client *c, const char *prompt, unsigned max_tokens,
                                   char **url, char **body);
/* The answer text of a provider's JSON reply (at most 1 MiB); *text is a
 * heap string. LQMF_E_FORMAT names the missing field. */
lqmf_status lqmf_llm_parse_reply(lqmf_llm_api api, const char *body, size_t len, char **text);

/* Send prompt and return the answer text (*text: heap, caller frees).
 * *http gets the HTTP status (0 when no response). Errors: LQMF_E_AUTH (no
 * key, 401, 403), LQMF_E_NETWORK (connection, timeout, 429, 5xx),
 * LQMF_E_FORMAT (reply not as the API documents), LQMF_E_INVALID (other 4xx,
 * with the provider's message). */
lqmf_status lqmf_llm_complete(const lqmf_llm_client *c, const char *prompt, unsigned max_tokens, char **text,
                              long *http);

/* ---- advice ---------------------------------------------------------------- */
typedef enum {
    LQMF_ADVICE_NONE = 0, /* no advice: the call failed or the reply had none (why) */
    LQMF_ADVICE_ACCEPTED, /* known, allowed and fits */
    LQMF_ADVICE_REJECTED  /* unknown, not allowed or does not fit (why) */
} lqmf_advice_verdict;

typedef struct {
    lqmf_advice_verdict verdict;
    char provider[16], model[128];
    char scheme[32];            /* as suggested ("" when none) */
    char reason[512];           /* the provider's reason */
    char why[512];              /* rejection or failure, in words; "" when accepted */
    const lqmf_scheme *known;   /* the scheme, NULL when unknown */
    int option;                 /* index into the plan's options; -1 when not among them */
    bool agrees;                /* the suggestion is the planner's own choice */
    uint64_t total_bytes;       /* the option's estimated run-time total, bytes (0: not an option) */
} lqmf_advice;

const char *lqmf_advice_verdict_name(lqmf_advice_verdict v); /* "none", "accepted", "rejected" */

/* Is advice asked for? llm_provider not "none" and (flag or llm_advice). */
bool lqmf_advice_wanted(const lqmf_config *cfg, bool flag);

/* The prompt: model metadata, target and limits, the rendered plan (the
 * ranked options with their estimates) and the one-line JSON answer form. */
lqmf_status lqmf_advice_prompt(const lqmf_model_meta *m, const lqmf_plan *p, lqmf_buf *out);
/* Find {"scheme": S, "reason": R} in an answer: bare, in a code fence or in
 * text (the first JSON object with a string "scheme"). Fills scheme/reason
 * of *a; LQMF_E_FORMAT when there is none. */
lqmf_status lqmf_advice_parse(const char *text, size_t len, lqmf_advice *a);
/* Judge a->scheme against plan p: sets verdict, known, option, agrees, why. */
void lqmf_advice_check(const lqmf_plan *p, lqmf_advice *a);

/* Prompt, call, parse, check. Never fails: on any error the verdict is
 * LQMF_ADVICE_NONE and why holds the message. */
void lqmf_advice_get(const lqmf_llm_client *c, const lqmf_model_meta *m, const lqmf_plan *p, lqmf_advice *out);
/* lqmf_advice_get with the client of the configuration's llm_provider; a
 * provider that cannot be set up (no key, unknown name) is advice NONE with
 * the reason in why. Never fails. */
void lqmf_advice_ask(const lqmf_config *cfg, const lqmf_model_meta *m, const lqmf_plan *p, lqmf_advice *out);
/* The advice as text lines appended to out ("Advice from openai (gpt-4o-mini): ..."). */
void lqmf_advice_render(const lqmf_advice *a, lqmf_buf *out);

#ifdef __cplusplus
}
#endif
#endif
