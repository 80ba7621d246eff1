/* Internals shared by the planning files: how each scheme stores a tensor. */
#ifndef LQMF_PLAN_PRIV_H
#define LQMF_PLAN_PRIV_H

#include "lqmf/plan.h"
#include "lqmf/types.h"

/* Which tensors of a class a mix rule applies to; i is the tensor's index
 * among the n tensors of its class (the layer, for block tensors). */
typedef enum {
    LQMF_MIX_ALL = 0,
    LQMF_MIX_MORE_BITS,  /* i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2: half the layers,
                            all of the first and last eighth (llama.cpp use_more_bits) */
    LQMF_MIX_FIRST_8TH,  /* i < n/8 */
    LQMF_MIX_FIRST_16TH, /* i < n/16 */
    LQMF_MIX_FIRST_4,    /* i < 4 */
    LQMF_MIX_FIRST_2,    /* i < 2 */
    LQMF_MIX_GQA4        /* every tensor when n_head / n_head_kv >= 4 */
} lqmf_mix_when;

/* A GGUF mix rule: tensors of class cls selected by `when` get `type`. The
 * first matching rule of a scheme wins; a zeroed rule ends the list. */
typedef struct {
    lqmf_tensor_class cls;
    lqmf_mix_when when;
    lqmf_type type;
} lqmf_mix_rule;

/* Storage of a linear layer in the GPTQ/AWQ/bitsandbytes formats, for a
 * weight of ne1 rows of ne0 inputs (N = ne0*ne1 weights):
 *   bits = N*bits + ceil(ne0/group)*ne1*group_bits + ne1*row_bits + ne0*col_bits
 * group 0: no groups. */
typedef struct {
    unsigned bits, group;
    double group_bits; /* scale (+ zero point) per group */
    unsigned row_bits; /* per output row (LLM.int8 row scale) */
    unsigned col_bits; /* per input column (GPTQ g_idx) */
} lqmf_lin_format;

#define LQMF_MIX_MAX_RULES 6
typedef struct {
    lqmf_scheme pub;  /* first member: a public pointer converts back */
    lqmf_type base;   /* GGUF: type of every tensor no rule names */
    lqmf_type output; /* GGUF: type of the output projection (or tied embeddings) */
    lqmf_mix_rule rules[LQMF_MIX_MAX_RULES + 1];
    lqmf_lin_format lin; /* other methods: the linear layers of the blocks */
} lqmf_scheme_def;

static inline const lqmf_scheme_def *lqmf_scheme_def_of(const lqmf_scheme *s) {
    return (const lqmf_scheme_def *)s;
}

/* The scheme table (schemes.c). */
extern const lqmf_scheme_def lqmf_scheme_defs[];
extern const size_t lqmf_scheme_defs_count;

#endif
