/* Fuzz the GPTQ v1 reader: bytes -> (bits, shape, group count) header and
 * packed arrays, dequantized; bad bits, shapes and g_idx are refused, and
 * an accepted layer never reads out of bounds (the sanitizers watch).
 * A quantize -> pack -> dequantize pass over a small matrix made from the
 * same bytes checks the round trip. */
#include "lqmf/gptq.h"

#include <stdlib.h>
#include <string.h>

static void take(const uint8_t **d, size_t *n, void *out, size_t len) {
    memset(out, 0, len);
    size_t k = len < *n ? len : *n;
    memcpy(out, *d, k);
    *d += k;
    *n -= k;
}

static void fuzz_dequantize(const uint8_t *data, size_t size) {
    uint8_t hdr[4];
    take(&data, &size, hdr, sizeof hdr);
    lqmf_gptq_packed p = {.bits = hdr[0] % 10, .n_out = 32u * (1 + hdr[1] % 3), .n_in = 32u * (1 + hdr[2] % 3)};
    p.n_groups = hdr[3] % 5; /* 0 is refused */
    const uint64_t ng = p.n_groups ? p.n_groups : 1, bits = p.bits ? p.bits : 1;
    p.qweight = malloc(p.n_in * bits / 32 * p.n_out * 4 + 4);
    p.qzeros = malloc(ng * p.n_out * bits / 32 * 4 + 4);
    p.scales = malloc(ng * p.n_out * 2);
    p.g_idx = malloc(p.n_in * 4);
    float *w = malloc(p.n_out * p.n_in * sizeof *w);
    if (p.qweight && p.qzeros && p.scales && p.g_idx && w) {
        take(&data, &size, p.qweight, p.n_in * bits / 32 * p.n_out * 4);
        take(&data, &size, p.qzeros, ng * p.n_out * bits / 32 * 4);
        take(&data, &size, p.scales, ng * p.n_out * 2);
        take(&data, &size, p.g_idx, p.n_in * 4);
        if (lqmf_gptq_dequantize(&p, w) == LQMF_OK) {
            for (uint64_t c = 0; c < p.n_in; c++)
                if (p.g_idx[c] < 0 || (uint32_t)p.g_idx[c] >= p.n_groups) abort();
        }
    }
    free(w);
    lqmf_gptq_packed_free(&p);
}

static void fuzz_roundtrip(const uint8_t *data, size_t size) {
    enum { OUT = 32, IN = 64 };
    float W[OUT * IN];
    for (size_t k = 0; k < OUT * IN; k++) W[k] = size ? (float)((int)data[k % size] - 128) / 64.0f : 0.0f;
    const unsigned bitss[] = {2, 3, 4, 8};
    lqmf_gptq_params prm = lqmf_gptq_default_params();
    prm.bits = bitss[size % 4];
    prm.group_size = size % 3 == 0 ? -1 : 32;
    prm.sym = size % 2 == 0;
    lqmf_gptq_matrix m;
    if (lqmf_gptq_quantize(W, OUT, IN, NULL, &prm, 1, &m) != LQMF_OK) abort();
    lqmf_gptq_packed p;
    float back[OUT * IN];
    if (lqmf_gptq_pack(&m, prm.bits, &p) != LQMF_OK || lqmf_gptq_dequantize(&p, back) != LQMF_OK) abort();
    if (p.n_zero_clamped == 0)
        for (size_t k = 0; k < OUT * IN; k++) {
            const uint64_t o = k / IN, g = (uint64_t)m.g_idx[k % IN];
            const float s = lqmf_fp16_to_f32(lqmf_f32_to_fp16(m.scales[g * OUT + o]));
            if (back[k] != s * ((float)m.q[k] - (float)m.zeros[g * OUT + o])) abort();
        }
    lqmf_gptq_packed_free(&p);
    lqmf_gptq_matrix_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dequantize(data, size);
    fuzz_roundtrip(data, size);
    return 0;
}
