/* Fuzz the kernels with arbitrary block bytes (as a GGUF file may hold):
 * byte 0 picks the type, the rest are blocks. Every ISA must dequantize them
 * to the same floats as the reference (NaN where the reference has NaN),
 * and its vec_dot must agree with the reference one whenever that is finite.
 * Then the bytes, read as floats, go through the quantizer. */
#include "lqmf/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const lqmf_type k_types[] = {
    LQMF_TYPE_F32,  LQMF_TYPE_F16,  LQMF_TYPE_BF16, LQMF_TYPE_Q8_0,   LQMF_TYPE_Q4_0,
    LQMF_TYPE_Q4_1, LQMF_TYPE_Q5_0, LQMF_TYPE_Q5_1, LQMF_TYPE_IQ4_NL, LQMF_TYPE_Q2_K,
    LQMF_TYPE_Q3_K, LQMF_TYPE_Q4_K, LQMF_TYPE_Q5_K, LQMF_TYPE_Q6_K,   LQMF_TYPE_IQ4_XS,
    LQMF_TYPE_Q8_K,
};
enum { MAX_BLOCKS = 16 };

static bool same(float a, float b) { return isnan(a) ? isnan(b) : memcmp(&a, &b, sizeof a) == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    lqmf_type t = k_types[data[0] % (sizeof k_types / sizeof k_types[0])];
    const lqmf_type_traits *tt = lqmf_type_get(t);
    size_t nb = (size - 1) / tt->type_size;
    if (nb > MAX_BLOCKS) nb = MAX_BLOCKS;
    if (nb == 0) return 0;
    int64_t n = (int64_t)(nb * tt->block_size);
    void *w = malloc(nb * tt->type_size); /* aligned copy, as a mapped tensor is */
    float *ref = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    float *x = malloc(sizeof(float) * (size_t)n), *act = malloc(sizeof(float) * (size_t)n * 2);
    if (!w || !ref || !y || !x || !act) abort();
    memcpy(w, data + 1, nb * tt->type_size);
    const lqmf_quant_traits *r = lqmf_quant_traits_isa(t, LQMF_ISA_REF);
    r->to_float(w, ref, n);
    /* activations: a fixed smooth vector in the vec_dot type */
    const lqmf_quant_traits *vr = r->vec_dot ? lqmf_quant_traits_isa(r->vec_dot_type, LQMF_ISA_REF) : NULL;
    for (int64_t i = 0; i < n; i++) x[i] = sinf((float)i * 0.37f);
    if (vr) vr->from_float(x, act, n);
    float dref = r->vec_dot ? r->vec_dot(n, w, act) : 0;
    for (int isa = 1; isa < LQMF_ISA_COUNT; isa++) {
        const lqmf_quant_traits *s = lqmf_quant_traits_isa(t, (lqmf_isa)isa);
        if (!s) continue;
        s->to_float(w, y, n);
        for (int64_t i = 0; i < n; i++)
            if (!same(y[i], ref[i]) && !(t == LQMF_TYPE_F16 && isnan(ref[i]))) __builtin_trap();
        if (!r->vec_dot || !isfinite(dref)) continue;
        double mag = 0;
        for (int64_t i = 0; i < n; i++) mag += fabs((double)ref[i]);
        if (!(mag < 1e30)) continue; /* float sums could overflow where the double ones do not */
        float ds = s->vec_dot(n, w, act);
        if (!(fabs((double)ds - dref) <= 1e-4 * mag * 1.01 + 1e-30)) __builtin_trap();
    }
    /* the same bytes as floats (when finite) through the quantizer and back */
    size_t nf = (size - 1) / sizeof(float);
    int64_t m = (int64_t)(nf / tt->block_size * tt->block_size);
    if (m > n) m = n;
    if (m > 0 && r->quantize) {
        memcpy(x, data + 1, (size_t)m * sizeof(float));
        void *q = malloc((size_t)m * sizeof(float) * 2);
        if (!q) abort();
        if (lqmf_quant_tensor(t, x, q, 1, m, NULL) == LQMF_OK) {
            r->to_float(q, y, m);
            for (int64_t i = 0; i < m; i++)
                if (!isfinite(y[i]) && t != LQMF_TYPE_BF16) __builtin_trap();
        }
        free(q);
    }
    free(w);
    free(ref);
    free(y);
    free(x);
    free(act);
    return 0;
}
