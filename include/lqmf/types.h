/* Tensor element types: the ggml/GGUF type ids, with one traits table.
 * A type stores blocks of `block_size` elements in `type_size` bytes;
 * a row of n elements (n a multiple of block_size) takes
 * n / block_size * type_size bytes. */
#ifndef LQMF_TYPES_H
#define LQMF_TYPES_H

#include "lqmf/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values are the GGUF `ggml_type` ids; gaps are ids removed from the format. */
typedef enum {
    LQMF_TYPE_F32 = 0,
    LQMF_TYPE_F16 = 1,
    LQMF_TYPE_Q4_0 = 2,
    LQMF_TYPE_Q4_1 = 3,
    LQMF_TYPE_Q5_0 = 6,
    LQMF_TYPE_Q5_1 = 7,
    LQMF_TYPE_Q8_0 = 8,
    LQMF_TYPE_Q8_1 = 9,
    LQMF_TYPE_Q2_K = 10,
    LQMF_TYPE_Q3_K = 11,
    LQMF_TYPE_Q4_K = 12,
    LQMF_TYPE_Q5_K = 13,
    LQMF_TYPE_Q6_K = 14,
    LQMF_TYPE_Q8_K = 15,
    LQMF_TYPE_IQ2_XXS = 16,
    LQMF_TYPE_IQ2_XS = 17,
    LQMF_TYPE_IQ3_XXS = 18,
    LQMF_TYPE_IQ1_S = 19,
    LQMF_TYPE_IQ4_NL = 20,
    LQMF_TYPE_IQ3_S = 21,
    LQMF_TYPE_IQ2_S = 22,
    LQMF_TYPE_IQ4_XS = 23,
    LQMF_TYPE_I8 = 24,
    LQMF_TYPE_I16 = 25,
    LQMF_TYPE_I32 = 26,
    LQMF_TYPE_I64 = 27,
    LQMF_TYPE_F64 = 28,
    LQMF_TYPE_IQ1_M = 29,
    LQMF_TYPE_BF16 = 30,
    LQMF_TYPE_TQ1_0 = 34,
    LQMF_TYPE_TQ2_0 = 35,
    LQMF_TYPE_MXFP4 = 39,
    LQMF_TYPE_COUNT = 40 /* one past the largest id */
} lqmf_type;

typedef struct {
    const char *name;    /* "Q4_K", as llama.cpp prints it; NULL for a removed id */
    uint32_t block_size; /* elements per block */
    uint32_t type_size;  /* bytes per block */
    bool quantized;      /* block-quantized (not a plain scalar type) */
} lqmf_type_traits;

/* Traits of t, or NULL when t is not a valid id (removed or out of range). */
const lqmf_type_traits *lqmf_type_get(uint32_t t);
const char *lqmf_type_name(uint32_t t); /* "?" for an invalid id */
/* Id from a name (case-insensitive); false when unknown. */
bool lqmf_type_from_name(const char *name, lqmf_type *out);
/* Bytes of a row of n elements. Fails (false) when n is not a multiple of
 * the block size or the size overflows. */
bool lqmf_type_row_bytes(lqmf_type t, uint64_t n, uint64_t *out);
/* Bytes of a tensor of `nelem` elements whose rows have ne0 elements. */
bool lqmf_type_tensor_bytes(lqmf_type t, uint64_t ne0, uint64_t nelem, uint64_t *out);
/* Bits per weight: type_size * 8 / block_size. */
double lqmf_type_bpw(lqmf_type t);

#ifdef __cplusplus
}
#endif
#endif
