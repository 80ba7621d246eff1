/* The in-memory model description: building, lookup and shape validation. */
#include "../test.h"
#include "lqmf/model.h"

#include <stdlib.h>

static lqmf_hparams tiny_llama_hp(void) {
    lqmf_hparams hp = { 0 };
    hp.arch = LQMF_ARCH_LLAMA;
    hp.n_vocab = 32;
    hp.n_ctx_train = 16;
    hp.n_embd = 8;
    hp.n_layer = 1;
    hp.n_head = 2;
    hp.n_head_kv = 1;
    hp.head_dim = 4;
    hp.n_ff = 12;
    return hp;
}

static void add_f32(lqmf_model *m, const char *name, uint64_t a, uint64_t b) {
    uint64_t ne[2] = { a, b };
    float *d = calloc(a * b, sizeof *d);
    CHECK_OK(lqmf_model_add_tensor(m, name, LQMF_TYPE_F32, b > 1 ? 2 : 1, ne, d, true));
}

TEST(model_desc_validate) {
    lqmf_hparams hp = tiny_llama_hp();
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_new(&hp, &m));
    add_f32(m, "token_embd.weight", 8, 32);
    add_f32(m, "output.weight", 8, 32);
    add_f32(m, "output_norm.weight", 8, 1);
    add_f32(m, "blk.0.attn_norm.weight", 8, 1);
    add_f32(m, "blk.0.attn_q.weight", 8, 8);
    add_f32(m, "blk.0.attn_k.weight", 8, 4);
    add_f32(m, "blk.0.attn_v.weight", 8, 4);
    add_f32(m, "blk.0.attn_output.weight", 8, 8);
    add_f32(m, "blk.0.ffn_norm.weight", 8, 1);
    add_f32(m, "blk.0.ffn_gate.weight", 8, 12);
    add_f32(m, "blk.0.ffn_up.weight", 8, 12);
    CHECK_ERR(lqmf_model_validate(m), LQMF_E_FORMAT, "missing tensor(s): blk.0.ffn_down.weight");
    add_f32(m, "blk.0.ffn_down.weight", 8, 12); /* transposed: wrong shape */
    CHECK_ERR(lqmf_model_validate(m), LQMF_E_FORMAT,
              "blk.0.ffn_down.weight is {8, 12}, expected {12, 8}");
    CHECK_EQ_INT(lqmf_model_n_params(m), 8 * 32 * 2 + 8 * 3 + 64 * 2 + 32 * 2 + 96 * 3);
    CHECK(lqmf_model_tensor(m, "blk.0.attn_k.weight")->nbytes == 8 * 4 * 4);
    CHECK(lqmf_model_tensor(m, "nope") == NULL);
    CHECK_ERR(lqmf_model_add_tensor(m, "output.weight", LQMF_TYPE_F32, 1, (uint64_t[]){ 8 }, NULL, false),
              LQMF_E_FORMAT, "appears twice");
    uint64_t ne[2] = { 100, 2 };
    CHECK_ERR(lqmf_model_add_tensor(m, "x", LQMF_TYPE_Q4_K, 2, ne, NULL, false), LQMF_E_FORMAT,
              "Q4_K cannot hold rows of 100");
    lqmf_model_close(m);
    lqmf_model_close(NULL);
}

TEST(model_desc_unexpected_tensor) {
    lqmf_hparams hp = tiny_llama_hp();
    hp.n_layer = 0;
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_new(&hp, &m));
    CHECK_ERR(lqmf_model_validate(m), LQMF_E_FORMAT, "incomplete hyperparameters");
    lqmf_model_close(m);
    hp = tiny_llama_hp();
    hp.n_layer = 0 + 1;
    hp.tied_embeddings = true;
    REQUIRE_OK(lqmf_model_new(&hp, &m));
    add_f32(m, "blk.7.attn_q.weight", 8, 8);
    CHECK_ERR(lqmf_model_validate(m), LQMF_E_FORMAT, "1 unexpected: blk.7.attn_q.weight");
    lqmf_model_close(m);
}
