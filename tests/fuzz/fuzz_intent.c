/* Fuzz the intent parser: any text must parse or fail cleanly, and what
 * parses must be self-consistent (a named type agrees with method and bits). */
#include "lqmf/intent.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > LQMF_INTENT_MAX_BYTES + 16) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    static const char *const hist[] = {"org/Name-1B", "other/x"};
    lqmf_intent_opts opts = {hist, 2, false};
    lqmf_intent in;
    if (lqmf_intent_parse(text, &opts, &in) == LQMF_OK) {
        if (in.scheme && (in.scheme->method != in.method || in.scheme->bits != in.bits)) abort();
        if (in.bits && (in.bits < 2 || (in.bits > 8 && in.bits != 16))) abort();
        if (in.model.n_candidates > LQMF_INTENT_MAX_CANDIDATES) abort();
        lqmf_buf b;
        lqmf_buf_init(&b);
        if (lqmf_intent_describe(&in, &b) != LQMF_OK) abort();
        lqmf_buf_free(&b);
    }
    lqmf_model_ref r;
    (void)lqmf_intent_resolve(text, &opts, &r);
    free(text);
    return 0;
}
