/* A model ready to evaluate: the model, its tokenizer and an engine. */
#include "eval_priv.h"

#include <string.h>

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
    lqmf_model_close(lm->model);
    memset(lm, 0, sizeof *lm);
}
