/* Fuzz the logits cache header check: any bytes give LQMF_OK with a header
 * whose data size is exactly the rest of the file, or an error with a
 * message; never a crash. */
#include "eval/eval_priv.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lqmf_eval_cache_hdr h;
    if (lqmf_eval_cache_hdr_parse(data, size, "fuzz", &h) != LQMF_OK) {
        if (!lqmf_last_error()[0]) abort();
        return 0;
    }
    uint64_t rows = (uint64_t)h.n_windows * (h.n_ctx - h.score_first);
    if (h.score_first >= h.n_ctx || rows * h.n_vocab * 4 + LQMF_EVAL_CACHE_HDR != size) abort();
    uint8_t again[LQMF_EVAL_CACHE_HDR];
    lqmf_eval_cache_hdr_encode(&h, again);
    if (memcmp(again, data, sizeof again) != 0) abort();
    return 0;
}
