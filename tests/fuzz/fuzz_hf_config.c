/* Fuzz config.json / generation_config.json parsing and the tensor-name
 * tables: any bytes must give LQMF_OK with sane hyperparameters or an error
 * with a message, never a crash or a leak. */
#include "lqmf/hf_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lqmf_hparams hp;
    lqmf_status st = lqmf_hf_config_parse((const char *)data, size, "fuzz", &hp);
    if (st != LQMF_OK) {
        if (!lqmf_last_error()[0]) abort();
        return 0;
    }
    if (!hp.n_embd || !hp.n_head || !hp.head_dim || !hp.n_head_kv || hp.n_head % hp.n_head_kv) abort();
    (void)lqmf_hf_generation_config_parse((const char *)data, size, "fuzz", &hp);
    /* the data as a tensor name, both ways */
    char name[LQMF_TENSOR_NAME_MAX + 1], out[LQMF_TENSOR_NAME_MAX], back[256];
    size_t n = size < LQMF_TENSOR_NAME_MAX ? size : LQMF_TENSOR_NAME_MAX;
    memcpy(name, data, n);
    name[n] = '\0';
    bool conv;
    if (lqmf_hf_tensor_name(&hp, name, out, &conv) == LQMF_HF_TENSOR_MAPPED)
        (void)lqmf_hf_tensor_src_name(&hp, out, "", back, sizeof back);
    (void)lqmf_hf_tensor_src_name(&hp, name, "transformer.", back, sizeof back);
    return 0;
}
