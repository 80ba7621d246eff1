/* A model ready to evaluate: the model, its tokenizer and an engine. When
 * the engine has no kernel for a quantized tensor type, the quantized
 * tensors are widened to F32 so the model still runs; the report says so,
 * because speed and memory are then those of the F32 copy. */
#include "eval_priv.h"
#include "lqmf/quant.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool is_quantized(lqmf_type t) {
    const lqmf_type_traits *tr = lqmf_type_get(t);
    return tr && tr->quantized;
}

/* A copy of m whose quantized tensors are dequantized into owned F32
 * buffers; the other tensors are views of m, which must outlive the copy. */
static lqmf_status widen(const lqmf_model *m, lqmf_model **out) {
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lqmf_tensor *t = &m->tensors[i];
        uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (is_quantized(t->type) && !lqmf_add_u64(bytes, n * 4, &bytes)) bytes = UINT64_MAX;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t phys = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    if (phys && bytes > phys / 2)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: the engine has no kernel for its quantized types and an F32 copy would need "
                          "%llu bytes (more than half of the %llu bytes of memory)",
                          m->path, (unsigned long long)bytes, (unsigned long long)phys);
    lqmf_model *c;
    TRY(lqmf_model_new(&m->hp, &c));
    for (size_t i = 0; i < m->n_tensors; i++) {
        const lqmf_tensor *t = &m->tensors[i];
        lqmf_status st;
        if (!is_quantized(t->type)) {
            st = lqmf_model_add_tensor(c, t->name, t->type, t->n_dims, t->ne, t->data, false);
        } else {
            uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
            float *buf = malloc(n * sizeof *buf);
            if (!buf)
                st = lqmf_error(LQMF_E_NOMEM, "%s: out of memory widening %s to F32", m->path, t->name);
            else if ((st = lqmf_quant_dequantize(t->type, t->data, buf, (int64_t)n)) != LQMF_OK)
                free(buf);
            else if ((st = lqmf_model_add_tensor(c, t->name, LQMF_TYPE_F32, t->n_dims, t->ne, buf, true)) !=
                     LQMF_OK)
                free(buf);
        }
        if (st != LQMF_OK) {
            lqmf_model_close(c);
            return lqmf_error_prefix(st, "%s: widening to F32", m->path);
        }
    }
    *out = c;
    return LQMF_OK;
}

lqmf_status lqmf_eval_lm_open(const char *path, uint32_t n_ctx, uint32_t n_threads, lqmf_eval_lm *out) {
    memset(out, 0, sizeof *out);
    lqmf_status st = lqmf_model_open(path, &out->model);
    if (st != LQMF_OK) return st;
    if ((st = lqmf_tok_open_model(out->model, &out->tok)) != LQMF_OK) {
        lqmf_eval_lm_close(out);
        return lqmf_error_prefix(st, "%s: tokenizer", path);
    }
    const lqmf_hparams *hp = &out->model->hp;
    out->n_ctx = hp->n_ctx_train && n_ctx > hp->n_ctx_train ? hp->n_ctx_train : n_ctx;
    lqmf_engine_params p = {out->n_ctx, n_threads, 0};
    st = lqmf_engine_new(out->model, &p, &out->engine);
    if (st == LQMF_E_UNSUPPORTED) {
        bool any = false;
        for (size_t i = 0; i < out->model->n_tensors; i++) any |= is_quantized(out->model->tensors[i].type);
        if (any) {
            lqmf_clear_error();
            st = widen(out->model, &out->f32);
            if (st == LQMF_OK) st = lqmf_engine_new(out->f32, &p, &out->engine);
        }
    }
    if (st != LQMF_OK) {
        lqmf_eval_lm_close(out);
        return st;
    }
    return LQMF_OK;
}

void lqmf_eval_lm_close(lqmf_eval_lm *lm) {
    if (!lm) return;
    lqmf_engine_free(lm->engine);
    lqmf_tok_free(lm->tok);
    lqmf_model_close(lm->f32);
    lqmf_model_close(lm->model);
    memset(lm, 0, sizeof *lm);
}
