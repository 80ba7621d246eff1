/* Fuzz the quantized checkpoint reader: the input is parsed as config.json
 * text (quantization_config) and as a safetensors file whose quantized
 * linears (bitsandbytes quant_state JSON, absmax, quant_map, SCB, ...; GPTQ
 * qweight, qzeros, scales, g_idx) are validated and decoded. Nothing may crash; a decoded weight has the element count its
 * quant state names. */
#include "lqmf/hfq.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lqmf_hfq_config qc;
    (void)lqmf_hfq_config_parse((const char *)data, size, "fuzz", &qc);
    lqmf_safetensors *st = NULL;
    if (lqmf_st_parse(data, size, "fuzz", &st) != LQMF_OK) return 0;
    for (size_t i = 0; i < lqmf_st_n_tensors(st); i++) {
        const lqmf_st_tensor *t = lqmf_st_tensor_at(st, i);
        if (lqmf_hfq_is_companion(t->name) || !lqmf_hfq_is_quantized(st, t->name, NULL, 0)) continue;
        float *w = NULL;
        uint64_t n_out = 0, n_in = 0;
        if (lqmf_hfq_dequantize(st, t->name, &w, &n_out, &n_in) == LQMF_OK) {
            if (!w || !n_out || !n_in) abort();
            volatile float x = w[0] + w[n_out * n_in - 1]; /* touch both ends */
            (void)x;
        }
        free(w);
    }
    lqmf_st_close(st);
    return 0;
}
