/* GPTQ checkpoints ("gptq" v1): calibration, per-linear quantization and
 * packing through lqmf_gptq_*, the config, and the decoder. */
#include "hfq_priv.h"
#include "lqmf/gptq.h"
#include "lqmf/tokenizer.h"

#include <stdlib.h>
#include <string.h>

struct hfq_gptq {
    lqmf_gptq_params p;
    uint32_t n_threads;
    lqmf_gptq_calib *calib; /* NULL: round to nearest */
};

static lqmf_gptq_params params_of(const lqmf_hfq_opts *o) {
    lqmf_gptq_params p = lqmf_gptq_default_params();
    p.bits = o->kind == LQMF_HFQ_GPTQ_8BIT ? 8 : 4;
    if (o->group_size) p.group_size = o->group_size;
    return p;
}

lqmf_status hfq_gptq_begin(const lqmf_model *m, const lqmf_hfq_opts *o, hfq_gptq **out, uint64_t *n_tokens) {
    *out = NULL;
    *n_tokens = 0;
    hfq_gptq *g = calloc(1, sizeof *g);
    if (!g) return lqmf_error(LQMF_E_NOMEM, "gptq: out of memory");
    g->p = params_of(o);
    g->n_threads = o->n_threads;
    lqmf_status st = LQMF_OK;
    if (o->calib_text) {
        lqmf_tokenizer *tok = NULL;
        lqmf_tok_ids ids = {0};
        st = lqmf_tok_open_model(m, &tok);
        if (st == LQMF_OK) st = lqmf_tok_encode(tok, o->calib_text, o->calib_len, 0, &ids);
        if (st == LQMF_OK && !ids.n) st = lqmf_error(LQMF_E_INVALID, "gptq: the calibration text has no tokens");
        *n_tokens = ids.n;
        if (st == LQMF_OK)
            st = lqmf_gptq_calib_new(m, ids.ids, ids.n, o->calib_ctx, 0, o->n_threads, &g->calib);
        lqmf_tok_ids_free(&ids);
        lqmf_tok_free(tok);
    }
    if (st != LQMF_OK) {
        hfq_gptq_end(g);
        return st;
    }
    *out = g;
    return LQMF_OK;
}

void hfq_gptq_end(hfq_gptq *g) {
    if (!g) return;
    lqmf_gptq_calib_free(g->calib);
    free(g);
}

lqmf_status hfq_gptq_linear(hfq_gptq *g, const lqmf_tensor *t, const float *w, hfq_out *o) {
    uint64_t n_in = t->ne[0], n_out = t->ne[1], h_in = n_in;
    const double *H = NULL;
    if (g->calib && !(H = lqmf_gptq_calib_hessian(g->calib, t->name, &h_in)))
        return lqmf_error_prefix(LQMF_E_NOT_FOUND, "tensor %s", t->src_name);
    if (h_in != n_in)
        return lqmf_error(LQMF_E_STATE, "tensor %s: Hessian of %llu inputs for %llu", t->src_name,
                          (unsigned long long)h_in, (unsigned long long)n_in);
    lqmf_gptq_matrix mat = {0};
    lqmf_gptq_packed pk = {0};
    lqmf_status st = lqmf_gptq_quantize(w, n_out, n_in, H, &g->p, g->n_threads, &mat);
    if (st == LQMF_OK) st = lqmf_gptq_pack(&mat, g->p.bits, &pk);
    if (st != LQMF_OK) lqmf_error_prefix(st, "tensor %s", t->src_name);
    char prefix[512], name[600];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(t->src_name) - strlen("weight")), t->src_name);
    const uint64_t ng = pk.n_groups, bits = g->p.bits;
    const uint64_t s_qw[2] = {n_in * bits / 32, n_out}, s_qz[2] = {ng, n_out * bits / 32}, s_sc[2] = {ng, n_out},
                   s_gi[1] = {n_in};
    /* each buffer changes hands to o (which frees it) as it is added */
    snprintf(name, sizeof name, "%sqweight", prefix);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_I32, 2, s_qw, pk.qweight, s_qw[0] * n_out * 4), pk.qweight = NULL;
    snprintf(name, sizeof name, "%sqzeros", prefix);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_I32, 2, s_qz, pk.qzeros, ng * s_qz[1] * 4), pk.qzeros = NULL;
    snprintf(name, sizeof name, "%sscales", prefix);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_F16, 2, s_sc, pk.scales, ng * n_out * 2), pk.scales = NULL;
    snprintf(name, sizeof name, "%sg_idx", prefix);
    if (st == LQMF_OK) st = hfq_add_owned(o, name, LQMF_ST_I32, 1, s_gi, pk.g_idx, n_in * 4), pk.g_idx = NULL;
    lqmf_gptq_packed_free(&pk);
    lqmf_gptq_matrix_free(&mat);
    return st;
}

json_t *hfq_gptq_config(const lqmf_hfq_opts *o) {
    lqmf_gptq_params p = params_of(o);
    /* true_sequential false: every Hessian comes from the unquantized model */
    return json_pack("{s:i, s:i, s:f, s:b, s:b, s:b, s:b, s:n, s:s, s:s, s:s}", "bits", (int)p.bits, "group_size",
                     (int)p.group_size, "damp_percent", p.damp_percent, "desc_act", p.desc_act, "static_groups", false,
                     "sym", p.sym, "true_sequential", false, "model_name_or_path", "model_file_base_name", "model",
                     "quant_method", "gptq", "checkpoint_format", "gptq");
}

/* int32 tensor t copied out (the mapping need not be 4-byte aligned). */
static int32_t *copy_i32(const lqmf_st_tensor *t) {
    int32_t *p = malloc(t->nbytes + 4);
    if (p) memcpy(p, t->data, t->nbytes);
    return p;
}

lqmf_status hfq_gptq_dequantize(const lqmf_safetensors *st, const lqmf_st_tensor *qw, float **w, uint64_t *n_out,
                                uint64_t *n_in) {
    char prefix[512], name[600];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(qw->name) - strlen("qweight")), qw->name);
    snprintf(name, sizeof name, "%sg_idx", prefix);
    const lqmf_st_tensor *gi = lqmf_st_find(st, name);
    if (!gi || gi->dtype != LQMF_ST_I32 || gi->n_dims != 1 || !gi->n_elems || gi->n_elems % 32)
        return lqmf_error(gi ? LQMF_E_FORMAT : LQMF_E_NOT_FOUND, "tensor %s: %s", name,
                          gi ? "want I32 [in_features], a multiple of 32" : "missing");
    const uint64_t in = gi->n_elems;
    if (qw->dtype != LQMF_ST_I32 || qw->n_dims != 2 || !qw->shape[1] || qw->shape[1] % 32 ||
        (qw->shape[0] * 32) % in)
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: want I32 [in*bits/32, out] with out a multiple of 32", qw->name);
    const uint64_t out = qw->shape[1], bits = qw->shape[0] * 32 / in;
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
        return lqmf_error(LQMF_E_FORMAT, "tensor %s: %llu rows for %llu inputs make %llu bits (2, 3, 4, 8)", qw->name,
                          (unsigned long long)qw->shape[0], (unsigned long long)in, (unsigned long long)bits);
    snprintf(name, sizeof name, "%sscales", prefix);
    const lqmf_st_tensor *sc = lqmf_st_find(st, name);
    if (!sc || sc->dtype != LQMF_ST_F16 || sc->n_dims != 2 || sc->shape[1] != out || !sc->shape[0] ||
        sc->shape[0] > in)
        return lqmf_error(sc ? LQMF_E_FORMAT : LQMF_E_NOT_FOUND, "tensor %s: %s", name,
                          sc ? "want F16 [groups, out] with 1 <= groups <= in" : "missing");
    const uint64_t ng = sc->shape[0];
    snprintf(name, sizeof name, "%sqzeros", prefix);
    lqmf_status s = hfq_need(lqmf_st_find(st, name), prefix, "qzeros", LQMF_ST_I32, ng * out * bits / 32);
    if (s != LQMF_OK) return s;
    const lqmf_st_tensor *qz = lqmf_st_find(st, name);
    lqmf_gptq_packed p = {.n_out = out, .n_in = in, .bits = (unsigned)bits, .n_groups = (uint32_t)ng};
    p.qweight = copy_i32(qw);
    p.qzeros = copy_i32(qz);
    p.g_idx = copy_i32(gi);
    p.scales = malloc(sc->nbytes + 2);
    float *res = malloc(out * in * sizeof *res);
    if (!p.qweight || !p.qzeros || !p.g_idx || !p.scales || !res)
        s = lqmf_error(LQMF_E_NOMEM, "tensor %s: out of memory", qw->name);
    if (s == LQMF_OK) {
        memcpy(p.scales, sc->data, sc->nbytes);
        s = lqmf_gptq_dequantize(&p, res);
        if (s != LQMF_OK) /* bad bytes in the file, not a bad argument */
            s = lqmf_error_prefix(s == LQMF_E_NOMEM ? s : LQMF_E_FORMAT, "tensor %s", qw->name);
    }
    lqmf_gptq_packed_free(&p);
    if (s != LQMF_OK) {
        free(res);
        return s;
    }
    *w = res;
    *n_out = out;
    *n_in = in;
    return LQMF_OK;
}
