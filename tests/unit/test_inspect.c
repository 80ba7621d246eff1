/* `lqmf inspect` on the shared models, run as the built command next to
 * this test binary, its --json output checked against the documented
 * figures; usage and open errors give exit codes 2 and 1. */
#include "../test.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_lqmf(const char *args, char **out) { return lqmf_test_cli(args, NULL, out); }

static json_t *inspect_json(const char *path) {
    char args[1024], *out;
    snprintf(args, sizeof args, "inspect '%s' --json", path);
    int rc = run_lqmf(args, &out);
    json_t *j = rc == 0 ? json_loads(out, 0, NULL) : NULL;
    CHECKF(j, "lqmf %s: exit %d", args, rc);
    free(out);
    return j;
}

#define I(obj, key) json_integer_value(json_object_get((obj), (key)))
#define S(obj, key) json_string_value(json_object_get((obj), (key)))

TEST(inspect_shared_models) {
    DATA(llama, "models/tiny-llama");
    DATA(gpt2, "models/tiny-gpt2");
    DATA(bin, "models/stories260K/stories260K.bin");
    DATA(gg, "models/stories260K/stories260K.gguf");
    json_t *j = inspect_json(llama);
    REQUIRE(j);
    CHECK_STR(S(j, "format"), "hf");
    CHECK_STR(S(j, "architecture"), "llama");
    CHECK_EQ_INT(I(j, "parameters"), 6819072);
    CHECK_EQ_INT(I(j, "file_size"), 13644312);
    CHECK_EQ_INT(I(j, "context_length"), 512);
    json_t *hp = json_object_get(j, "hparams"), *tok = json_object_get(j, "tokenizer");
    CHECK_EQ_INT(I(hp, "n_head_kv"), 4);
    CHECK_EQ_INT(I(hp, "head_dim"), 32);
    CHECK(json_real_value(json_object_get(hp, "norm_eps")) == 1e-5);
    CHECK_STR(S(tok, "kind"), "BPE");
    CHECK_EQ_INT(I(tok, "vocab_size"), 4096);
    json_t *dt = json_array_get(json_object_get(j, "dtypes"), 0);
    CHECK_STR(S(dt, "type"), "BF16");
    CHECK_EQ_INT(I(dt, "tensors"), 57);
    CHECK_EQ_INT(I(dt, "bytes"), 6819072 * 2);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "tensors")), 57);
    json_decref(j);

    j = inspect_json(gpt2);
    REQUIRE(j);
    CHECK_STR(S(j, "architecture"), "gpt2");
    CHECK_EQ_INT(I(j, "parameters"), 16156416);
    CHECK_EQ_INT(I(json_object_get(j, "tokenizer"), "vocab_size"), 50257);
    json_t *t0 = json_array_get(json_object_get(j, "tensors"), 1);
    CHECK_STR(S(t0, "source_name"), "transformer.h.0.attn.c_attn.weight");
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(t0, "shape"), 0)), 256);
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(t0, "shape"), 1)), 768);
    json_decref(j);

    j = inspect_json(bin);
    REQUIRE(j);
    CHECK_STR(S(j, "format"), "llama2c");
    CHECK_EQ_INT(I(j, "parameters"), 260032);
    CHECK_EQ_INT(I(json_object_get(j, "hparams"), "n_embd"), 64);
    json_decref(j);

    j = inspect_json(gg);
    REQUIRE(j);
    CHECK_STR(S(j, "format"), "gguf");
    CHECK_EQ_INT(I(json_object_get(j, "tokenizer"), "vocab_size"), 512);
    CHECK_STR(S(json_object_get(j, "tokenizer"), "kind"), "llama");
    json_decref(j);

    char *out;
    char args[1024];
    snprintf(args, sizeof args, "inspect '%s'", llama);
    CHECK_EQ_INT(run_lqmf(args, &out), 0);
    CHECK(strstr(out, "parameters    6,819,072") && strstr(out, "blk.5.ffn_down.weight"));
    free(out);
}

TEST(inspect_errors) {
    char *out;
    CHECK_EQ_INT(run_lqmf("inspect", &out), 2);
    free(out);
    CHECK_EQ_INT(run_lqmf("inspect a b", &out), 2);
    free(out);
    CHECK_EQ_INT(run_lqmf("inspect --bogus x", &out), 2);
    free(out);
    CHECK_EQ_INT(run_lqmf("inspect /nonexistent-lqmf-model.gguf", &out), 1);
    free(out);
}
