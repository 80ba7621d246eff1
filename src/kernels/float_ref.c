/* Float types, scalar reference: F32, F16 (IEEE binary16), BF16 (bfloat16).
 * Their vec_dot type is F32: w . a = sum_i float(w[i]) * a[i], accumulated
 * in double so the reference is as exact as the inputs allow. */
#include "kernels/kernels.h"
#include "lqmf/core.h"

#include <string.h>

LQMF_K_TO_FLOAT(f32, ref) { memcpy(y, x, (size_t)n * sizeof(float)); }

LQMF_K_TO_FLOAT(f16, ref) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = lqmf_fp16_to_f32(h[i]);
}

LQMF_K_TO_FLOAT(bf16, ref) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = lqmf_bf16_to_f32(h[i]);
}

LQMF_K_FROM_FLOAT(f32, ref) { memcpy(y, x, (size_t)n * sizeof(float)); }

LQMF_K_QUANTIZE(f32, ref) {
    (void)imatrix;
    memcpy(y, x, (size_t)n * sizeof(float));
}

LQMF_K_QUANTIZE(f16, ref) { /* round to nearest even; beyond +-65504 -> inf */
    (void)imatrix;
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = lqmf_f32_to_fp16(x[i]);
}

LQMF_K_QUANTIZE(bf16, ref) {
    (void)imatrix;
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = lqmf_f32_to_bf16(x[i]);
}

LQMF_K_DOT(f32, ref) {
    const float *x = w, *b = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * b[i];
    return (float)s;
}

LQMF_K_DOT(f16, ref) {
    const uint16_t *x = w;
    const float *b = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)lqmf_fp16_to_f32(x[i]) * b[i];
    return (float)s;
}

LQMF_K_DOT(bf16, ref) {
    const uint16_t *x = w;
    const float *b = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)lqmf_bf16_to_f32(x[i]) * b[i];
    return (float)s;
}
