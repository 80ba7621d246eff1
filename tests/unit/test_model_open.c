/* Opening models of every format: llama2.c checkpoints, GGUF files and
 * Hugging Face folders, checked against the documented shapes and against
 * bytes read independently from the files. */
#include "../test.h"
#include "io/model_priv.h"
#include "lqmf/model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Read n bytes at offset of path (independent of the mapping code). */
static void *read_at(const char *path, long offset, size_t n) {
    FILE *f = fopen(path, "rb");
    void *p = malloc(n);
    if (!f || !p || fseek(f, offset, SEEK_SET) != 0 || fread(p, 1, n, f) != n) abort();
    fclose(f);
    return p;
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) abort();
}

/* ---- llama2.c --------------------------------------------------------------- */

TEST(llama2c_stories260k) {
    DATA(bin, "models/stories260K/stories260K.bin");
    lqmf_model *m;
    REQUIRE_OK(lqmf_llama2c_open(bin, &m));
    const lqmf_hparams *hp = &m->hp;
    CHECK_EQ_INT(m->format, LQMF_FORMAT_LLAMA2C);
    CHECK_EQ_INT(hp->arch, LQMF_ARCH_LLAMA);
    CHECK_EQ_INT(hp->n_embd, 64);
    CHECK_EQ_INT(hp->n_ff, 172);
    CHECK_EQ_INT(hp->n_layer, 5);
    CHECK_EQ_INT(hp->n_head, 8);
    CHECK_EQ_INT(hp->n_head_kv, 4);
    CHECK_EQ_INT(hp->head_dim, 8);
    CHECK_EQ_INT(hp->n_vocab, 512);
    CHECK_EQ_INT(hp->n_ctx_train, 512);
    CHECK_EQ_INT(hp->rope_layout, LQMF_ROPE_NORM);
    CHECK_NEAR(hp->norm_eps, 1e-5, 1e-9);
    CHECK_NEAR(hp->rope_theta, 10000, 0);
    CHECK(hp->tied_embeddings); /* vocab_size > 0 in the header: shared classifier */
    CHECK_EQ_INT(hp->bos_id, 1);
    CHECK_EQ_INT(hp->eos_id, 2);
    CHECK_EQ_INT(m->n_tensors, 2 + 9 * 5);
    /* 512*64 + 5 * (2*64 + 64*64*2 + 2*64*32 + 3*64*172) + 64 */
    CHECK_EQ_INT(lqmf_model_n_params(m), 260032);
    CHECK_EQ_INT(m->tok_source, LQMF_TOK_LLAMA2C);
    CHECK(m->tok_path && strstr(m->tok_path, "/tok512.bin"));
    /* blk.3.attn_k: after header, embedding (512*64), rms_att (5*64), wq (5*64*64),
     * wk layers 0..2 (3*32*64), in floats */
    const lqmf_tensor *k3 = lqmf_model_tensor(m, "blk.3.attn_k.weight");
    REQUIRE(k3);
    CHECK(k3->ne[0] == 64 && k3->ne[1] == 32 && k3->type == LQMF_TYPE_F32 && k3->nbytes == 64 * 32 * 4);
    CHECK_STR(k3->src_name, "wk[3]");
    long off = 28 + 4L * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 3 * 32 * 64);
    void *ref = read_at(bin, off, k3->nbytes);
    CHECK(memcmp(ref, k3->data, k3->nbytes) == 0);
    free(ref);
    /* output_norm: the last 64 floats before freq_cis (2 * 512 * 4 floats) */
    const lqmf_tensor *on = lqmf_model_tensor(m, "output_norm.weight");
    REQUIRE(on);
    ref = read_at(bin, 1056540 - 4L * (2 * 512 * 4 + 64), 256);
    CHECK(memcmp(ref, on->data, 256) == 0);
    free(ref);
    lqmf_model_close(m);
}

TEST(llama2c_truncated_and_padded) {
    DATA(bin, "models/stories260K/stories260K.bin");
    const size_t size = 1056540;
    uint8_t *bytes = read_at(bin, 0, size);
    const char *dir = lqmf_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/short.bin", dir);
    write_file(path, bytes, size - 1);
    lqmf_model *m;
    CHECK_ERR(lqmf_llama2c_open(path, &m), LQMF_E_FORMAT,
              "short.bin: file is 1056539 bytes but its llama2.c header (dim 64, hidden_dim 172, "
              "n_layers 5, n_heads 8, n_kv_heads 4, vocab_size 512, seq_len 512) needs 1056540 bytes");
    CHECK(m == NULL);
    snprintf(path, sizeof path, "%s/long.bin", dir);
    uint8_t *longer = calloc(1, size + 4);
    memcpy(longer, bytes, size);
    write_file(path, longer, size + 4);
    CHECK_ERR(lqmf_llama2c_open(path, &m), LQMF_E_FORMAT, "file is 1056544 bytes");
    free(longer);
    int32_t *h = (int32_t *)bytes;
    h[3] = 6; /* n_heads 6 does not divide dim 64 */
    snprintf(path, sizeof path, "%s/heads.bin", dir);
    write_file(path, bytes, size);
    CHECK_ERR(lqmf_llama2c_open(path, &m), LQMF_E_FORMAT, "dim 64 is not n_heads 6 times an even head size");
    h[3] = 8;
    h[2] = -5;
    write_file(path, bytes, size);
    CHECK_ERR(lqmf_llama2c_open(path, &m), LQMF_E_FORMAT, "header field n_layers = -5 is out of range");
    write_file(path, bytes, 20);
    CHECK_ERR(lqmf_llama2c_open(path, &m), LQMF_E_FORMAT, "20 bytes is shorter than the 28-byte llama2.c header");
    memcpy(bytes, "24ka\x01\x00\x00\x00", 8);
    write_file(path, bytes, 256);
    CHECK_ERR(lqmf_llama2c_open(path, &m), LQMF_E_UNSUPPORTED, "llama2.c version 1 export");
    free(bytes);
}

/* A generated checkpoint with a separate classifier (vocab_size < 0) and a
 * tokenizer.bin beside it; every float is its own index, so each tensor's
 * first element tells where its view starts. */
TEST(llama2c_separate_classifier) {
    const int32_t dim = 8, hid = 12, L = 2, nh = 2, nkv = 1, vocab = 16, seq = 4;
    const int32_t hs = dim / nh, kvd = nkv * hs;
    const size_t nf = (size_t)(vocab * dim + L * dim + L * dim * dim + 2 * L * dim * kvd + L * dim * dim +
                               L * dim + 3 * L * dim * hid + dim + seq * hs + vocab * dim);
    uint8_t *file = malloc(28 + nf * 4);
    const int32_t h[7] = { dim, hid, L, nh, nkv, -vocab, seq };
    memcpy(file, h, 28);
    for (size_t i = 0; i < nf; i++) {
        float v = (float)i;
        memcpy(file + 28 + 4 * i, &v, 4);
    }
    const char *dir = lqmf_test_tmpdir();
    char path[512], tok[512];
    snprintf(path, sizeof path, "%s/m.bin", dir);
    write_file(path, file, 28 + nf * 4);
    snprintf(tok, sizeof tok, "%s/tokenizer.bin", dir);
    write_file(tok, "x", 1);
    lqmf_model *m;
    REQUIRE_OK(lqmf_llama2c_open(path, &m));
    CHECK(!m->hp.tied_embeddings);
    CHECK_EQ_INT(m->hp.n_vocab, 16);
    CHECK_STR(m->tok_path, tok);
    const struct {
        const char *name;
        size_t first;
    } at[] = {
        { "token_embd.weight", 0 },
        { "blk.1.attn_norm.weight", 128 + 8 },
        { "blk.0.attn_q.weight", 128 + 16 },
        { "blk.1.attn_v.weight", 128 + 16 + 128 + 64 + 32 },
        { "blk.1.ffn_gate.weight", 128 + 16 + 128 + 128 + 128 + 16 + 96 },
        { "blk.0.ffn_down.weight", 128 + 16 + 128 + 128 + 128 + 16 + 192 },
        { "blk.1.ffn_up.weight", 128 + 16 + 128 + 128 + 128 + 16 + 384 + 96 },
        { "output_norm.weight", 128 + 16 + 128 + 128 + 128 + 16 + 576 },
        { "output.weight", nf - 128 },
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        const lqmf_tensor *t = lqmf_model_tensor(m, at[i].name);
        CHECKF(t && ((const float *)t->data)[0] == (float)at[i].first, "%s starts at %g, want %zu",
               at[i].name, t ? ((const float *)t->data)[0] : -1.0, at[i].first);
    }
    lqmf_model_close(m);
    free(file);
}
