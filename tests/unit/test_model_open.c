/* Opening models of every format: llama2.c checkpoints, GGUF files and
 * Hugging Face folders, checked against the documented shapes and against
 * bytes read independently from the files. */
#include "../test.h"
#include "lqmf/gguf.h"
#include "lqmf/gguf_convert.h"
#include "lqmf/model.h"
#include "lqmf/safetensors.h"

#include <jansson.h>
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
    REQUIRE_OK(lqmf_model_open(bin, &m));
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
    CHECK_ERR(lqmf_model_open(path, &m), LQMF_E_FORMAT,
              "short.bin: file is 1056539 bytes but its llama2.c header (dim 64, hidden_dim 172, "
              "n_layers 5, n_heads 8, n_kv_heads 4, vocab_size 512, seq_len 512) needs 1056540 bytes");
    CHECK(m == NULL);
    snprintf(path, sizeof path, "%s/long.bin", dir);
    uint8_t *longer = calloc(1, size + 4);
    memcpy(longer, bytes, size);
    write_file(path, longer, size + 4);
    CHECK_ERR(lqmf_model_open(path, &m), LQMF_E_FORMAT, "file is 1056544 bytes");
    free(longer);
    int32_t *h = (int32_t *)bytes;
    h[3] = 6; /* n_heads 6 does not divide dim 64 */
    snprintf(path, sizeof path, "%s/heads.bin", dir);
    write_file(path, bytes, size);
    CHECK_ERR(lqmf_model_open(path, &m), LQMF_E_FORMAT, "dim 64 is not n_heads 6 times an even head size");
    h[3] = 8;
    h[2] = -5;
    write_file(path, bytes, size);
    CHECK_ERR(lqmf_model_open(path, &m), LQMF_E_FORMAT, "header field n_layers = -5 is out of range");
    write_file(path, bytes, 20);
    CHECK_ERR(lqmf_model_open(path, &m), LQMF_E_FORMAT,
              "20 bytes is shorter than the 28-byte llama2.c header");
    memcpy(bytes, "24ka\x01\x00\x00\x00", 8);
    write_file(path, bytes, 256);
    CHECK_ERR(lqmf_model_open(path, &m), LQMF_E_UNSUPPORTED, "llama2.c version 1 export");
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
    const int32_t h[7] = {dim, hid, L, nh, nkv, -vocab, seq};
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
    REQUIRE_OK(lqmf_model_open(path, &m));
    CHECK(!m->hp.tied_embeddings);
    CHECK_EQ_INT(m->hp.n_vocab, 16);
    CHECK_STR(m->tok_path, tok);
    const struct {
        const char *name;
        size_t first;
    } at[] = {
        {"token_embd.weight", 0},
        {"blk.1.attn_norm.weight", 128 + 8},
        {"blk.0.attn_q.weight", 128 + 16},
        {"blk.1.attn_v.weight", 128 + 16 + 128 + 64 + 32},
        {"blk.1.ffn_gate.weight", 128 + 16 + 128 + 128 + 128 + 16 + 96},
        {"blk.0.ffn_down.weight", 128 + 16 + 128 + 128 + 128 + 16 + 192},
        {"blk.1.ffn_up.weight", 128 + 16 + 128 + 128 + 128 + 16 + 384 + 96},
        {"output_norm.weight", 128 + 16 + 128 + 128 + 128 + 16 + 576},
        {"output.weight", nf - 128},
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        const lqmf_tensor *t = lqmf_model_tensor(m, at[i].name);
        CHECKF(t && ((const float *)t->data)[0] == (float)at[i].first, "%s starts at %g, want %zu",
               at[i].name, t ? ((const float *)t->data)[0] : -1.0, at[i].first);
    }
    lqmf_model_close(m);
    free(file);
}

/* ---- Hugging Face folders ------------------------------------------------------ */

/* File offset of tensor `name` in a single-file safetensors, read with
 * jansson straight from the header (independent of the library reader). */
static long st_offset(const char *file, const char *name, json_t **shape) {
    uint64_t n;
    void *p = read_at(file, 0, 8);
    memcpy(&n, p, 8);
    free(p);
    char *hdr = read_at(file, 8, (size_t)n);
    json_t *root = json_loadb(hdr, (size_t)n, 0, NULL);
    free(hdr);
    json_t *t = json_object_get(root, name);
    if (!t) abort();
    long off = 8 + (long)n + (long)json_integer_value(json_array_get(json_object_get(t, "data_offsets"), 0));
    if (shape) *shape = json_incref(json_object_get(t, "shape"));
    json_decref(root);
    return off;
}

TEST(open_tiny_llama) {
    DATA(dir, "models/tiny-llama");
    DATA(file, "models/tiny-llama/model.safetensors");
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    const lqmf_hparams *hp = &m->hp;
    CHECK_EQ_INT(m->format, LQMF_FORMAT_HF);
    CHECK_EQ_INT(lqmf_model_n_params(m), 6819072);
    CHECK_EQ_INT(m->n_tensors, 3 + 9 * 6);
    CHECK_EQ_INT(hp->n_head, 8);
    CHECK_EQ_INT(hp->n_head_kv, 4);
    CHECK_EQ_INT(hp->head_dim, 32);
    CHECK_EQ_INT(hp->rope_layout, LQMF_ROPE_NEOX);
    CHECK(!hp->tied_embeddings);
    CHECK_EQ_INT(m->tok_source, LQMF_TOK_HF_JSON);
    CHECK(m->tok_path && strstr(m->tok_path, "tiny-llama/tokenizer.json"));
    static const struct {
        const char *name, *hf;
        uint64_t ne0, ne1;
    } shapes[] = {
        {"token_embd.weight", "model.embed_tokens.weight", 256, 4096},
        {"output.weight", "lm_head.weight", 256, 4096},
        {"output_norm.weight", "model.norm.weight", 256, 1},
        {"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 256, 256},
        {"blk.5.attn_k.weight", "model.layers.5.self_attn.k_proj.weight", 256, 128},
        {"blk.2.attn_v.weight", "model.layers.2.self_attn.v_proj.weight", 256, 128},
        {"blk.2.attn_output.weight", "model.layers.2.self_attn.o_proj.weight", 256, 256},
        {"blk.3.ffn_gate.weight", "model.layers.3.mlp.gate_proj.weight", 256, 768},
        {"blk.3.ffn_up.weight", "model.layers.3.mlp.up_proj.weight", 256, 768},
        {"blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight", 768, 256},
        {"blk.4.attn_norm.weight", "model.layers.4.input_layernorm.weight", 256, 1},
        {"blk.4.ffn_norm.weight", "model.layers.4.post_attention_layernorm.weight", 256, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const lqmf_tensor *t = lqmf_model_tensor(m, shapes[i].name);
        CHECKF(t && t->type == LQMF_TYPE_BF16 && t->ne[0] == shapes[i].ne0 && t->ne[1] == shapes[i].ne1 &&
                   t->nbytes == shapes[i].ne0 * shapes[i].ne1 * 2 && strcmp(t->src_name, shapes[i].hf) == 0,
               "%s", shapes[i].name);
        if (!t) continue;
        void *ref = read_at(file, st_offset(file, shapes[i].hf, NULL), t->nbytes);
        CHECKF(memcmp(ref, t->data, t->nbytes) == 0, "%s: bytes differ from the file", shapes[i].name);
        free(ref);
    }
    lqmf_model_close(m);
}

TEST(open_tiny_gpt2) {
    DATA(dir, "models/tiny-gpt2");
    DATA(file, "models/tiny-gpt2/model.safetensors");
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    CHECK_EQ_INT(m->hp.arch, LQMF_ARCH_GPT2);
    CHECK_EQ_INT(lqmf_model_n_params(m), 16156416);
    CHECK_EQ_INT(lqmf_model_tensor(m, "token_embd.weight")->ne[1], 50257);
    CHECK(lqmf_model_tensor(m, "output.weight") == NULL); /* tied to wte */
    const lqmf_tensor *pe = lqmf_model_tensor(m, "position_embd.weight");
    CHECK(pe && pe->ne[0] == 256 && pe->ne[1] == 512);
    /* Conv1D weights: file [in, out], model ne = {in, out}: element (o, i) of
     * the model is element (i, o) of the file. */
    static const struct {
        const char *name, *hf;
        uint64_t in, out;
    } conv[] = {
        {"blk.0.attn_qkv.weight", "transformer.h.0.attn.c_attn.weight", 256, 768},
        {"blk.1.attn_output.weight", "transformer.h.1.attn.c_proj.weight", 256, 256},
        {"blk.2.ffn_up.weight", "transformer.h.2.mlp.c_fc.weight", 256, 1024},
        {"blk.3.ffn_down.weight", "transformer.h.3.mlp.c_proj.weight", 1024, 256},
    };
    for (size_t c = 0; c < 4; c++) {
        const lqmf_tensor *t = lqmf_model_tensor(m, conv[c].name);
        REQUIRE(t && t->type == LQMF_TYPE_F32 && t->ne[0] == conv[c].in && t->ne[1] == conv[c].out);
        json_t *shape;
        float *ref = read_at(file, st_offset(file, conv[c].hf, &shape), t->nbytes);
        CHECK_EQ_INT(json_integer_value(json_array_get(shape, 0)), conv[c].in);
        json_decref(shape);
        const float *x = t->data;
        size_t bad = 0;
        for (uint64_t i = 0; i < conv[c].in; i++)
            for (uint64_t o = 0; o < conv[c].out; o++)
                bad += x[o * conv[c].in + i] != ref[i * conv[c].out + o];
        CHECKF(bad == 0, "%s: %zu elements not transposed", conv[c].name, bad);
        free(ref);
    }
    lqmf_model_close(m);
}

/* stories260K as llama.cpp's converter wrote it: the same f32 weights as the
 * .bin, byte for byte, Q/K rows included (llama2.c trains with adjacent-pair
 * rotary, so no permutation happened), the shared classifier stored as an
 * explicit output.weight, and context_length 2048 instead of seq_len 512. */
TEST(open_stories260k_gguf_matches_bin) {
    DATA(bin, "models/stories260K/stories260K.bin");
    DATA(gg, "models/stories260K/stories260K.gguf");
    lqmf_model *a, *b;
    REQUIRE_OK(lqmf_model_open(bin, &a));
    lqmf_status st = lqmf_model_open(gg, &b);
    if (st != LQMF_OK) lqmf_model_close(a);
    REQUIRE_OK(st);
    CHECK_EQ_INT(b->format, LQMF_FORMAT_GGUF);
    CHECK_EQ_INT(b->tok_source, LQMF_TOK_GGUF);
    CHECK_STR(b->tok_path, gg);
    const lqmf_hparams *x = &a->hp, *y = &b->hp;
    CHECK(x->n_embd == y->n_embd && x->n_layer == y->n_layer && x->n_head == y->n_head &&
          x->n_head_kv == y->n_head_kv && x->head_dim == y->head_dim && x->n_ff == y->n_ff &&
          x->n_vocab == y->n_vocab && x->norm_eps == y->norm_eps && x->rope_theta == y->rope_theta &&
          x->rope_layout == y->rope_layout && x->bos_id == y->bos_id && x->eos_id == y->eos_id);
    CHECK_EQ_INT(y->n_ctx_train, 2048);
    CHECK(x->tied_embeddings && !y->tied_embeddings);
    CHECK_EQ_INT(b->n_tensors, a->n_tensors + 1);
    for (size_t i = 0; i < a->n_tensors; i++) {
        const lqmf_tensor *p = &a->tensors[i], *q = lqmf_model_tensor(b, p->name);
        CHECKF(q && q->type == LQMF_TYPE_F32 && q->ne[0] == p->ne[0] && q->ne[1] == p->ne[1] &&
                   q->nbytes == p->nbytes && memcmp(p->data, q->data, p->nbytes) == 0,
               "%s differs between .bin and .gguf", p->name);
    }
    const lqmf_tensor *emb = lqmf_model_tensor(a, "token_embd.weight"),
                      *out = lqmf_model_tensor(b, "output.weight");
    CHECK(out && memcmp(emb->data, out->data, emb->nbytes) == 0);
    lqmf_model_close(a);
    lqmf_model_close(b);
}

/* ---- generated HF folders with defects ---------------------------------------- */

/* A 1-layer llama (hidden 8, 2 heads, 1 kv head, head_dim 4, ff 12, vocab 16)
 * in dir; `drop` names a tensor to leave out, `extra` one to add ([8] F32),
 * `k_rows` the rows of k_proj (4 is right), `dtype` the weights' dtype. */
static void write_llama_dir(const char *dir, const char *drop, const char *extra, uint64_t k_rows,
                            lqmf_st_dtype dtype) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *cfg = "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"vocab_size\":16,"
                      "\"hidden_size\":8,\"intermediate_size\":12,\"num_hidden_layers\":1,"
                      "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"rms_norm_eps\":1e-6}";
    write_file(path, cfg, strlen(cfg));
    static double data[16 * 12];
    for (int i = 0; i < 16 * 12; i++) data[i] = i * 0.25 - 3;
    const size_t esize = dtype == LQMF_ST_F64 ? 8 : 4;
    static float f32[16 * 12];
    for (int i = 0; i < 16 * 12; i++) f32[i] = (float)data[i];
    const void *src = dtype == LQMF_ST_F64 ? (const void *)data : (const void *)f32;
    const struct {
        const char *name;
        uint64_t rows, cols;
    } ts[] = {
        {"model.embed_tokens.weight", 16, 8},
        {"lm_head.weight", 16, 8},
        {"model.norm.weight", 8, 0},
        {"model.layers.0.input_layernorm.weight", 8, 0},
        {"model.layers.0.post_attention_layernorm.weight", 8, 0},
        {"model.layers.0.self_attn.q_proj.weight", 8, 8},
        {"model.layers.0.self_attn.k_proj.weight", k_rows, 8},
        {"model.layers.0.self_attn.v_proj.weight", 4, 8},
        {"model.layers.0.self_attn.o_proj.weight", 8, 8},
        {"model.layers.0.self_attn.rotary_emb.inv_freq", 2, 0},
        {"model.layers.0.mlp.gate_proj.weight", 12, 8},
        {"model.layers.0.mlp.up_proj.weight", 12, 8},
        {"model.layers.0.mlp.down_proj.weight", 8, 12},
    };
    lqmf_st_writer *w;
    if (lqmf_st_writer_new(&w) != LQMF_OK) abort();
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        if (drop && strcmp(drop, ts[i].name) == 0) continue;
        uint64_t shape[2] = {ts[i].rows, ts[i].cols}, n = ts[i].rows * (ts[i].cols ? ts[i].cols : 1);
        if (lqmf_st_writer_add(w, ts[i].name, dtype, ts[i].cols ? 2 : 1, shape, src, n * esize) != LQMF_OK)
            abort();
    }
    if (extra) {
        uint64_t shape[1] = {8};
        if (lqmf_st_writer_add(w, extra, LQMF_ST_F32, 1, shape, f32, 32) != LQMF_OK) abort();
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (lqmf_st_writer_write(w, path) != LQMF_OK) abort();
    lqmf_st_writer_free(w);
}

TEST(open_hf_defects_name_the_tensor) {
    lqmf_model *m;
    const char *dir = lqmf_test_tmpdir();
    write_llama_dir(dir, NULL, NULL, 4, LQMF_ST_F32);
    REQUIRE_OK(lqmf_model_open(dir, &m));
    CHECK_EQ_INT(m->n_tensors, 12); /* inv_freq ignored */
    CHECK_EQ_INT(m->tok_source, LQMF_TOK_NONE);
    lqmf_model_close(m);

    dir = lqmf_test_tmpdir();
    write_llama_dir(dir, "model.layers.0.mlp.down_proj.weight", NULL, 4, LQMF_ST_F32);
    CHECK_ERR(lqmf_model_open(dir, &m), LQMF_E_FORMAT,
              "1 missing tensor(s): model.layers.0.mlp.down_proj.weight (blk.0.ffn_down.weight)");
    CHECK(m == NULL);

    dir = lqmf_test_tmpdir();
    write_llama_dir(dir, NULL, NULL, 8, LQMF_ST_F32);
    CHECK_ERR(lqmf_model_open(dir, &m), LQMF_E_FORMAT,
              "1 with wrong shape: model.layers.0.self_attn.k_proj.weight (blk.0.attn_k.weight) is {8, 8}, "
              "expected {8, 4}");

    dir = lqmf_test_tmpdir();
    write_llama_dir(dir, NULL, "model.layers.1.input_layernorm.weight", 4, LQMF_ST_F32);
    CHECK_ERR(lqmf_model_open(dir, &m), LQMF_E_FORMAT, "1 unexpected: model.layers.1.input_layernorm.weight");

    dir = lqmf_test_tmpdir();
    write_llama_dir(dir, "lm_head.weight", "model.layers.0.self_attn.q_norm.weight", 4, LQMF_ST_F32);
    CHECK_ERR(
        lqmf_model_open(dir, &m), LQMF_E_FORMAT,
        "1 tensor(s) that a LlamaForCausalLM model does not have: model.layers.0.self_attn.q_norm.weight; ");
    CHECK(strstr(lqmf_last_error(), "missing tensor(s): lm_head.weight (output.weight)"));

    dir = lqmf_test_tmpdir();
    write_llama_dir(dir, NULL, NULL, 4, LQMF_ST_I32);
    CHECK_ERR(lqmf_model_open(dir, &m), LQMF_E_UNSUPPORTED,
              "tensor lm_head.weight: dtype I32 is not supported (F32, F16, BF16, F64)");

    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    CHECK_ERR(lqmf_model_open(dir, &m), LQMF_E_NOT_FOUND, dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    CHECK_ERR(lqmf_model_open(dir, &m), LQMF_E_NOT_FOUND, "a folder without config.json");
    CHECK_ERR(lqmf_model_open("/nonexistent/model.gguf", &m), LQMF_E_NOT_FOUND, "/nonexistent/model.gguf");
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_file(path, "hello", 5);
    CHECK_ERR(lqmf_model_open(path, &m), LQMF_E_UNSUPPORTED, "not a model");
}

TEST(open_hf_f64_converted) {
    const char *dir = lqmf_test_tmpdir();
    write_llama_dir(dir, NULL, NULL, 4, LQMF_ST_F64);
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    const lqmf_tensor *t = lqmf_model_tensor(m, "blk.0.ffn_down.weight");
    REQUIRE(t && t->type == LQMF_TYPE_F32 && t->ne[0] == 12 && t->ne[1] == 8 && t->nbytes == 12 * 8 * 4);
    const float *x = t->data;
    for (int i = 0; i < 96; i++) CHECK(x[i] == (float)(i * 0.25 - 3));
    lqmf_model_close(m);
}

/* GPT-2 without the "transformer." prefix, with the attention-mask buffers
 * and an lm_head that the tied model ignores; F16 Conv1D transposed. */
TEST(open_hf_gpt2_variants) {
    const char *dir = lqmf_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *cfg = "{\"model_type\":\"gpt2\",\"vocab_size\":10,\"n_embd\":4,\"n_layer\":1,"
                      "\"n_head\":2,\"n_positions\":6,\"n_inner\":8}";
    write_file(path, cfg, strlen(cfg));
    static uint16_t h[10 * 12];
    for (int i = 0; i < 10 * 12; i++) h[i] = lqmf_f32_to_fp16((float)i);
    const struct {
        const char *name;
        uint64_t rows, cols;
    } ts[] = {
        {"wte.weight", 10, 4},           {"wpe.weight", 6, 4},
        {"ln_f.weight", 4, 0},           {"ln_f.bias", 4, 0},
        {"lm_head.weight", 10, 4},       {"h.0.ln_1.weight", 4, 0},
        {"h.0.ln_1.bias", 4, 0},         {"h.0.attn.c_attn.weight", 4, 12},
        {"h.0.attn.c_attn.bias", 12, 0}, {"h.0.attn.c_proj.weight", 4, 4},
        {"h.0.attn.c_proj.bias", 4, 0},  {"h.0.ln_2.weight", 4, 0},
        {"h.0.ln_2.bias", 4, 0},         {"h.0.mlp.c_fc.weight", 4, 8},
        {"h.0.mlp.c_fc.bias", 8, 0},     {"h.0.mlp.c_proj.weight", 8, 4},
        {"h.0.mlp.c_proj.bias", 4, 0},   {"h.0.attn.bias", 6, 6},
        {"h.0.attn.masked_bias", 1, 0},
    };
    lqmf_st_writer *w;
    REQUIRE_OK(lqmf_st_writer_new(&w));
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        uint64_t shape[2] = {ts[i].rows, ts[i].cols}, n = ts[i].rows * (ts[i].cols ? ts[i].cols : 1);
        CHECK_OK(lqmf_st_writer_add(w, ts[i].name, LQMF_ST_F16, ts[i].cols ? 2 : 1, shape, h, n * 2));
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_OK(lqmf_st_writer_write(w, path));
    lqmf_st_writer_free(w);
    lqmf_model *m;
    REQUIRE_OK(lqmf_model_open(dir, &m));
    CHECK_EQ_INT(m->n_tensors, 16);
    const lqmf_tensor *t = lqmf_model_tensor(m, "blk.0.ffn_down.weight");
    REQUIRE(t && t->type == LQMF_TYPE_F16 && t->ne[0] == 8 && t->ne[1] == 4);
    const uint16_t *x = t->data;
    for (int o = 0; o < 4; o++)
        for (int i = 0; i < 8; i++) CHECK(lqmf_fp16_to_f32(x[o * 8 + i]) == (float)(i * 4 + o));
    lqmf_model_close(m);
}

/* ---- GGUF files written by hand -------------------------------------------------- */

typedef enum { G_OK, G_ARCH_FALCON, G_NO_EMBD, G_EPS_STRING, G_ROPE_FREQS, G_PARTIAL_ROPE } gguf_defect;

/* A 1-layer "qwen2" GGUF as llama.cpp writes that architecture (qwen2.*
 * keys, q/k/v biases, rotate-half layout): hidden 8, 2 heads, 1 kv head. */
static void write_qwen2_gguf(const char *path, gguf_defect defect) {
    lqmf_gguf_writer *w = lqmf_gguf_writer_new();
    if (!w) abort();
    const char *arch = defect == G_ARCH_FALCON ? "falcon" : "qwen2";
    lqmf_gguf_writer_set_str(w, "general.architecture", arch);
    lqmf_gguf_writer_set_u32(w, "qwen2.context_length", 32);
    if (defect != G_NO_EMBD) lqmf_gguf_writer_set_u32(w, "qwen2.embedding_length", 8);
    lqmf_gguf_writer_set_u32(w, "qwen2.block_count", 1);
    lqmf_gguf_writer_set_u32(w, "qwen2.feed_forward_length", 12);
    lqmf_gguf_writer_set_u32(w, "qwen2.attention.head_count", 2);
    lqmf_gguf_writer_set_u32(w, "qwen2.attention.head_count_kv", 1);
    lqmf_gguf_writer_set_u32(w, "qwen2.rope.dimension_count", defect == G_PARTIAL_ROPE ? 2 : 4);
    lqmf_gguf_writer_set_f32(w, "qwen2.rope.freq_base", 1000000.0f);
    if (defect == G_EPS_STRING)
        lqmf_gguf_writer_set_str(w, "qwen2.attention.layer_norm_rms_epsilon", "1e-6");
    else
        lqmf_gguf_writer_set_f32(w, "qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
    lqmf_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 7);
    static float data[16 * 12];
    for (int i = 0; i < 16 * 12; i++) data[i] = (float)i;
    const struct {
        const char *name;
        uint64_t ne0, ne1;
    } ts[] = {
        {"token_embd.weight", 8, 16},     {"output_norm.weight", 8, 1},
        {"blk.0.attn_norm.weight", 8, 1}, {"blk.0.attn_q.weight", 8, 8},
        {"blk.0.attn_q.bias", 8, 1},      {"blk.0.attn_k.weight", 8, 4},
        {"blk.0.attn_k.bias", 4, 1},      {"blk.0.attn_v.weight", 8, 4},
        {"blk.0.attn_v.bias", 4, 1},      {"blk.0.attn_output.weight", 8, 8},
        {"blk.0.ffn_norm.weight", 8, 1},  {"blk.0.ffn_gate.weight", 8, 12},
        {"blk.0.ffn_up.weight", 8, 12},   {"blk.0.ffn_down.weight", 12, 8},
        {"rope_freqs.weight", 3, 1}, /* head_dim 4 needs 2 factors */
    };
    size_t n = sizeof ts / sizeof ts[0] - (defect == G_ROPE_FREQS ? 0 : 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        if (lqmf_gguf_writer_add_tensor(w, ts[i].name, LQMF_TYPE_F32, ts[i].ne1 > 1 ? 2 : 1, ne, data,
                                        ts[i].ne0 * ts[i].ne1 * 4) != LQMF_OK)
            abort();
    }
    if (lqmf_gguf_writer_write(w, path) != LQMF_OK) abort();
    lqmf_gguf_writer_free(w);
}

TEST(open_gguf_qwen2_and_defects) {
    const char *dir = lqmf_test_tmpdir();
    char path[512], out[512];
    snprintf(path, sizeof path, "%s/qwen2.gguf", dir);
    write_qwen2_gguf(path, G_OK);
    lqmf_model *m, *r;
    REQUIRE_OK(lqmf_model_open(path, &m));
    CHECK_STR(m->hp.model_type, "qwen2");
    CHECK_EQ_INT(m->hp.rope_layout, LQMF_ROPE_NEOX);
    CHECK(m->hp.qkv_bias && m->hp.tied_embeddings);
    CHECK_EQ_INT(m->hp.head_dim, 4);
    CHECK_EQ_INT(m->hp.n_vocab, 16); /* from token_embd: no vocab_size key */
    CHECK_NEAR(m->hp.rope_theta, 1e6, 0);
    CHECK_EQ_INT(m->hp.bos_id, -1);
    CHECK_EQ_INT(m->hp.eos_id, 7);
    CHECK_EQ_INT(m->tok_source, LQMF_TOK_NONE);
    /* written back as a llama GGUF: q rows interleaved per head (hd 4: rows 0 2 1 3) */
    snprintf(out, sizeof out, "%s/as-llama.gguf", dir);
    lqmf_status st = lqmf_model_write_gguf(m, out, NULL);
    if (st == LQMF_OK) st = lqmf_model_open(out, &r);
    if (st != LQMF_OK) lqmf_model_close(m);
    REQUIRE_OK(st);
    CHECK_STR(r->hp.model_type, "llama");
    CHECK_EQ_INT(r->hp.rope_layout, LQMF_ROPE_NORM);
    const float *q = lqmf_model_tensor(r, "blk.0.attn_q.weight")->data;
    const float *kb = lqmf_model_tensor(r, "blk.0.attn_k.bias")->data;
    static const int order[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int row = 0; row < 8; row++) CHECK(q[row * 8] == (float)(order[row] * 8));
    for (int i = 0; i < 4; i++) CHECK(kb[i] == (float)order[i]);
    lqmf_model_close(r);
    lqmf_model_close(m);

    static const struct {
        gguf_defect d;
        lqmf_status st;
        const char *needle;
    } bad[] = {
        {G_ARCH_FALCON, LQMF_E_UNSUPPORTED,
         "general.architecture \"falcon\" is not supported (llama, qwen2, gpt2)"},
        {G_NO_EMBD, LQMF_E_FORMAT, "required key qwen2.embedding_length is missing"},
        {G_EPS_STRING, LQMF_E_FORMAT, "qwen2.attention.layer_norm_rms_epsilon"},
        {G_ROPE_FREQS, LQMF_E_FORMAT, "rope_freqs.weight is {3, 1}, expected {2, 1}"},
        {G_PARTIAL_ROPE, LQMF_E_UNSUPPORTED, "rope.dimension_count 2 differs from the head size 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_qwen2_gguf(path, bad[i].d);
        st = lqmf_model_open(path, &m);
        CHECKF(st == bad[i].st && strstr(lqmf_last_error(), bad[i].needle) && strstr(lqmf_last_error(), path),
               "defect %d: %s \"%s\"", (int)bad[i].d, lqmf_status_name(st), lqmf_last_error());
        if (st == LQMF_OK) lqmf_model_close(m);
    }
}
