/* Fuzz the safetensors parser: whole-file and header-only parsing of
 * arbitrary bytes must never crash, and what parses must be consistent. */
#include "lqmf/safetensors.h"

#include <stdlib.h>
#include <string.h>

static void check_model(const lqmf_safetensors *st, const uint8_t *data, size_t size) {
    uint64_t prev_end = 0;
    for (size_t i = 0; i < lqmf_st_n_tensors(st); i++) {
        const lqmf_st_tensor *t = lqmf_st_tensor_at(st, i);
        if (lqmf_st_find(st, t->name) != t) abort();
        if (t->offset < prev_end || t->offset + t->nbytes > size) abort();
        prev_end = t->offset + t->nbytes;
        if (t->data && t->nbytes) { /* touch both ends of the view */
            const uint8_t *p = t->data;
            if (p < data || p + t->nbytes > data + size) abort();
            volatile uint8_t x = p[0] ^ p[t->nbytes - 1];
            (void)x;
        }
    }
    for (size_t i = 0; i < lqmf_st_n_metadata(st); i++) {
        const char *k, *v;
        lqmf_st_metadata_at(st, i, &k, &v);
        if (lqmf_st_metadata_get(st, k) == NULL || strlen(v) > size) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lqmf_safetensors *st = NULL;
    if (lqmf_st_parse(data, size, "fuzz", &st) == LQMF_OK) {
        check_model(st, data, size);
        lqmf_st_close(st);
    }
    uint64_t need = 0;
    if (lqmf_st_parse_header(data, size, 0, "fuzz", &st, &need) == LQMF_OK) {
        check_model(st, data, UINT64_MAX);
        lqmf_st_close(st);
    }
    return 0;
}
