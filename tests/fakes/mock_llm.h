/* A mock LLM provider for tests: an HTTP server (libmicrohttpd, in process,
 * on 127.0.0.1 with an ephemeral port) that records every request (method,
 * path, the auth and version headers, the body) and answers each with the
 * canned status and body last set. It accepts any path, so one server
 * stands in for Gemini, Claude, OpenAI or a local OpenAI-compatible server. */
#ifndef LQMF_MOCK_LLM_H
#define LQMF_MOCK_LLM_H

#include <stdbool.h>

typedef struct mock_llm mock_llm;

typedef struct {
    unsigned count;         /* requests served since start or reset */
    char method[8];
    char path[256];
    char authorization[256]; /* headers of the last request, "" when absent */
    char x_api_key[256];
    char anthropic_version[32];
    char x_goog_api_key[256];
    char content_type[64];
    char *body; /* of the last request, NUL-terminated (owned by the mock) */
} mock_llm_log;

mock_llm *mock_llm_start(void);               /* NULL on failure */
void mock_llm_stop(mock_llm *m);              /* NULL: no-op */
const char *mock_llm_url(const mock_llm *m);  /* "http://127.0.0.1:PORT" */
/* Answer every following request with HTTP status and body (copied). */
void mock_llm_reply(mock_llm *m, unsigned status, const char *body);
/* The log; valid until the next request, reset or stop. */
const mock_llm_log *mock_llm_log_get(mock_llm *m);
void mock_llm_reset(mock_llm *m);

#endif
