/* Fuzz the provider reply parsers and the advice finder: arbitrary bytes
 * give text or an error, and a found scheme is non-empty and NUL-terminated. */
#include "lqmf/advisor.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    for (int api = LQMF_LLM_API_OPENAI; api <= LQMF_LLM_API_GEMINI; api++) {
        char *text = NULL;
        if (lqmf_llm_parse_reply((lqmf_llm_api)api, s, size, &text) == LQMF_OK && !text) abort();
        free(text);
    }
    lqmf_advice a;
    if (lqmf_advice_parse(s, strlen(s), &a) == LQMF_OK &&
        (!a.scheme[0] || strlen(a.scheme) >= sizeof a.scheme || strlen(a.reason) >= sizeof a.reason))
        abort();
    free(s);
    return 0;
}
