/* Dot-product kernels of the matmul: the scalar reference (the spec every
 * SIMD version is tested against) and the run-time choice of ISA. */
#include "mm.h"

#include <stdlib.h>
#include <string.h>

static inline float f16(uint16_t h) { return lqmf_fp16_to_f32(h); }

#define DEF_REF_DOT(name, WT, TO_F32)                                                                        \
    static void name(size_t n, const void *w, size_t ws, uint32_t nr, const float *x, size_t xs,             \
                     uint32_t nx, float *out, size_t os) {                                                   \
        for (uint32_t r = 0; r < nr; r++) {                                                                  \
            const WT *wr = (const WT *)((const uint8_t *)w + r * ws);                                        \
            for (uint32_t j = 0; j < nx; j++) {                                                              \
                float s = 0;                                                                                 \
                for (size_t i = 0; i < n; i++) s += TO_F32(wr[i]) * x[j * xs + i];                           \
                out[j * os + r] = s;                                                                         \
            }                                                                                                \
        }                                                                                                    \
    }
#define F32_ID(v) (v)
DEF_REF_DOT(dot_f32_ref, float, F32_ID)
DEF_REF_DOT(dot_f16_ref, uint16_t, f16)
DEF_REF_DOT(dot_bf16_ref, uint16_t, lqmf_bf16_to_f32)

static void axpy_ref(size_t n, float a, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

static const lqmf_mm_kernels g_ref = {
    .isa = "ref",
    .id = LQMF_ISA_REF,
    .axpy = axpy_ref,
    .dot = {[LQMF_TYPE_F32] = dot_f32_ref, [LQMF_TYPE_F16] = dot_f16_ref, [LQMF_TYPE_BF16] = dot_bf16_ref},
};

const lqmf_mm_kernels *lqmf_mm_kernels_ref(void) { return &g_ref; }

const lqmf_mm_kernels *lqmf_mm_kernels_get(void) {
    const lqmf_mm_kernels *k = NULL;
    switch (lqmf_kernel_isa()) {
    case LQMF_ISA_AVX2: k = lqmf_mm_kernels_avx2(); break;
    case LQMF_ISA_AVX512: k = lqmf_mm_kernels_avx512(); break;
    case LQMF_ISA_NEON: k = lqmf_mm_kernels_neon(); break;
    default: break;
    }
    return k ? k : &g_ref;
}

lqmf_status lqmf_row_to_f32(const lqmf_tensor *t, uint64_t r, float *out) {
    const uint64_t n = t->ne[0];
    switch (t->type) {
    case LQMF_TYPE_F32: memcpy(out, (const float *)t->data + r * n, n * sizeof *out); return LQMF_OK;
    case LQMF_TYPE_F16:
        for (uint64_t i = 0; i < n; i++) out[i] = f16(((const uint16_t *)t->data)[r * n + i]);
        return LQMF_OK;
    case LQMF_TYPE_BF16:
        for (uint64_t i = 0; i < n; i++) out[i] = lqmf_bf16_to_f32(((const uint16_t *)t->data)[r * n + i]);
        return LQMF_OK;
    default: {
        const lqmf_quant_traits *tr = lqmf_quant_traits_get(t->type);
        uint64_t rb;
        if (!tr || !lqmf_type_row_bytes(t->type, n, &rb))
            return lqmf_error(LQMF_E_UNSUPPORTED, "tensor %s: type %s cannot be read as f32", t->name,
                              lqmf_type_name(t->type));
        tr->to_float((const uint8_t *)t->data + r * rb, out, (int64_t)n);
        return LQMF_OK;
    }
    }
}
