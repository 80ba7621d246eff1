/* llama3 rope scaling in llama.cpp's form: a GGUF holding only the
 * rope_freqs.weight tensor (no lqmf.rope.scaling.* keys) opens with
 * per-frequency factors and gives the same logits as the model with the
 * llama3 parameters. */
#include "../test.h"
#include "lqmf/engine.h"
#include "lqmf/gguf.h"
#include "lqmf/gguf_convert.h"
#include "lqmf/model.h"

#include <stdlib.h>

/* Copy src to dst without the lqmf.* keys. */
static lqmf_status strip_lqmf_keys(const char *src, const char *dst) {
    lqmf_gguf *g;
    lqmf_status st = lqmf_gguf_open(src, &g);
    if (st != LQMF_OK) return st;
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    if (!w) {
        lqmf_gguf_close(g);
        return LQMF_E_NOMEM;
    }
    st = lqmf_gguf_writer_copy_kvs(w, g);
    for (uint64_t i = 0; st == LQMF_OK && i < lqmf_gguf_n_kv(g); i++) {
        const char *key = lqmf_gguf_kv_at(g, i)->key;
        if (strncmp(key, "lqmf.", 5) == 0) st = lqmf_gguf_writer_remove(w, key);
    }
    for (uint64_t i = 0; st == LQMF_OK && i < lqmf_gguf_n_tensors(g); i++) {
        const lqmf_gguf_tensor *t = lqmf_gguf_tensor_at(g, i);
        st = lqmf_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    if (st == LQMF_OK) st = lqmf_gguf_writer_write(w, dst);
    lqmf_gguf_writer_free(w);
    lqmf_gguf_close(g);
    return st;
}

static lqmf_status logits(const lqmf_model *m, const int32_t *tok, uint32_t n, float *out) {
    lqmf_engine_params p = { .n_ctx = 64, .n_threads = 1 };
    lqmf_engine *e;
    lqmf_status st = lqmf_engine_new(m, &p, &e);
    if (st != LQMF_OK) return st;
    st = lqmf_engine_eval(e, tok, n, 0, LQMF_LOGITS_ALL, out);
    lqmf_engine_free(e);
    return st;
}

TEST(rope_factors_from_llama_cpp_style_gguf) {
    lqmf_hparams hp = { 0 };
    hp.arch = LQMF_ARCH_LLAMA;
    hp.n_vocab = 64;
    hp.n_ctx_train = 64;
    hp.n_embd = 64;
    hp.n_layer = 2;
    hp.n_head = 4;
    hp.n_head_kv = 2;
    hp.head_dim = 16;
    hp.n_ff = 96;
    hp.norm_eps = 1e-5f;
    hp.rope_theta = 500000.0f;
    hp.rope_layout = LQMF_ROPE_NEOX;
    hp.rope_scaling = LQMF_ROPE_SCALING_LLAMA3;
    hp.rope_factor = 8;
    hp.rope_low_freq_factor = 1;
    hp.rope_high_freq_factor = 4;
    hp.rope_orig_ctx = 32;
    hp.bos_id = hp.eos_id = -1;
    lqmf_model *src, *ours, *theirs;
    REQUIRE_OK(lqmf_engine_random_model(&hp, LQMF_TYPE_F32, 7, &src));
    char a[512], b[512];
    const char *dir = lqmf_test_tmpdir();
    snprintf(a, sizeof a, "%s/ours.gguf", dir);
    snprintf(b, sizeof b, "%s/llamacpp.gguf", dir);
    lqmf_status st = lqmf_model_write_gguf(src, a, NULL);
    if (st == LQMF_OK) st = strip_lqmf_keys(a, b);
    lqmf_model_close(src);
    REQUIRE_OK(st);
    REQUIRE_OK(lqmf_model_open(a, &ours));
    st = lqmf_model_open(b, &theirs);
    if (st != LQMF_OK) lqmf_model_close(ours);
    REQUIRE_OK(st);
    CHECK_EQ_INT(ours->hp.rope_scaling, LQMF_ROPE_SCALING_LLAMA3);
    CHECK_EQ_INT(theirs->hp.rope_scaling, LQMF_ROPE_SCALING_FACTORS);
    const lqmf_tensor *rf = lqmf_model_tensor(theirs, "rope_freqs.weight");
    CHECK(rf && rf->ne[0] == 8 && rf->type == LQMF_TYPE_F32);
    /* positions beyond the original context are where the scaling matters */
    enum { N = 48 };
    int32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (i * 7 + 3) % 64;
    float *la = malloc(sizeof(float) * N * 64), *lb = malloc(sizeof(float) * N * 64);
    REQUIRE(la && lb);
    CHECK_OK(logits(ours, tok, N, la));
    CHECK_OK(logits(theirs, tok, N, lb));
    double worst = 0, scale = 0;
    for (int i = 0; i < N * 64; i++) {
        worst = fmax(worst, fabs((double)la[i] - lb[i]));
        scale = fmax(scale, fabs((double)la[i]));
    }
    CHECKF(worst <= 1e-5 * fmax(scale, 1), "max |diff| %g (max |logit| %g)", worst, scale);
    /* and the factors differ from no scaling at all: the test can fail */
    ours->hp.rope_scaling = LQMF_ROPE_SCALING_NONE;
    CHECK_OK(logits(ours, tok, N, lb));
    double diff = 0;
    for (int i = 0; i < N * 64; i++) diff = fmax(diff, fabs((double)la[i] - lb[i]));
    CHECKF(diff > 1e-3, "scaling had no effect (max |diff| %g)", diff);
    free(la);
    free(lb);
    lqmf_model_close(ours);
    lqmf_model_close(theirs);
}
