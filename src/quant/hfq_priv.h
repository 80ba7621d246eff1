/* Internals shared by the quantized-checkpoint writer and reader (hfq.c)
 * and their GPTQ part (hfq_gptq.c). */
#ifndef LQMF_QUANT_HFQ_PRIV_H
#define LQMF_QUANT_HFQ_PRIV_H

#include "lqmf/hfq.h"

#include <jansson.h>

/* A tensor made by the writer, waiting in the spill file. */
typedef struct {
    char *name;
    lqmf_st_dtype dt;
    uint32_t n_dims;
    uint64_t shape[4];
    uint64_t off, nbytes;
} hfq_spilled;

/* The tensors of the file being written: the source's own ones borrowed
 * from its mapping, the ones made here (quantized, converted) appended to
 * an unlinked spill file as they come, so that memory holds one tensor at
 * a time; model.safetensors is written from both at the end. */
typedef struct {
    lqmf_st_writer *w;
    int spill;         /* fd of the spill file */
    uint64_t spill_bytes;
    hfq_spilled *sp;
    size_t n_sp, cap_sp;
    uint64_t tensor_bytes;
    uint32_t n_tensors;
} hfq_out;

/* Add a tensor whose data is a malloc'd buffer: the bytes go to the spill
 * file and the buffer is freed (on failure too). */
lqmf_status hfq_add_owned(hfq_out *o, const char *name, lqmf_st_dtype dt, uint32_t n_dims, const uint64_t *shape,
                          void *data, uint64_t nbytes);
/* Tensor t (named weight_name + suffix when absent) exists with dtype dt
 * and n elements, or an error naming it. */
lqmf_status hfq_need(const lqmf_st_tensor *t, const char *weight_name, const char *suffix, lqmf_st_dtype dt,
                     uint64_t n);

/* ---- GPTQ (hfq_gptq.c) ---- */
typedef struct hfq_gptq hfq_gptq;
/* Tokenize the calibration text (*n_tokens tokens; 0 without text) and
 * collect Hessians (none without text). */
lqmf_status hfq_gptq_begin(const lqmf_model *m, const lqmf_hfq_opts *o, hfq_gptq **out, uint64_t *n_tokens);
/* Quantize W [n_out][n_in] of internal tensor t (HF name t->src_name,
 * "P.weight") into P.qweight, P.qzeros, P.scales, P.g_idx. */
lqmf_status hfq_gptq_linear(hfq_gptq *g, const lqmf_tensor *t, const float *w, hfq_out *o);
void hfq_gptq_end(hfq_gptq *g); /* NULL: no-op */
/* quantization_config (and quantize_config.json) of a GPTQ checkpoint. */
json_t *hfq_gptq_config(const lqmf_hfq_opts *o);
/* Decode "P.qweight" and its companions. */
lqmf_status hfq_gptq_dequantize(const lqmf_safetensors *st, const lqmf_st_tensor *qweight, float **w,
                                uint64_t *n_out, uint64_t *n_in);

#endif
