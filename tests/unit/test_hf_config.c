/* config.json parsing and HF tensor-name mapping. */
#include "../test.h"
#include "lqmf/hf_config.h"

#include <jansson.h>
#include <stdlib.h>

#define CFG(s) (s), strlen(s), "config.json"

static const char *k_llama_base =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"vocab_size\":4096,"
    "\"hidden_size\":256,\"intermediate_size\":768,\"num_hidden_layers\":6,"
    "\"num_attention_heads\":8,\"num_key_value_heads\":4,\"max_position_embeddings\":512,"
    "\"rms_norm_eps\":1e-05,\"rope_theta\":10000.0,\"rope_scaling\":null,\"hidden_act\":\"silu\","
    "\"tie_word_embeddings\":false,\"bos_token_id\":1,\"eos_token_id\":2}";
static const char *k_gpt2_base =
    "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"vocab_size\":50257,"
    "\"n_embd\":256,\"n_layer\":4,\"n_head\":8,\"n_inner\":null,\"n_positions\":512,"
    "\"layer_norm_epsilon\":1e-05,\"activation_function\":\"gelu_new\",\"bos_token_id\":50256,"
    "\"eos_token_id\":50256}";

/* base with the JSON object `patch` merged in (a null value deletes the key). */
static char *patched(const char *base, const char *patch) {
    json_t *b = json_loads(base, 0, NULL), *p = json_loads(patch, 0, NULL);
    if (!b || !p) abort();
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v) {
        if (json_is_null(v) && strcmp(k, "rope_scaling") != 0)
            json_object_del(b, k);
        else
            json_object_set(b, k, v);
    }
    char *s = json_dumps(b, 0);
    json_decref(b);
    json_decref(p);
    return s;
}

TEST(hf_config_shared_models) {
    DATA(dir, "models/tiny-llama");
    lqmf_hparams hp;
    REQUIRE_OK(lqmf_hf_config_load(dir, &hp));
    CHECK_EQ_INT(hp.arch, LQMF_ARCH_LLAMA);
    CHECK_STR(hp.model_type, "llama");
    CHECK_STR(hp.hf_arch, "LlamaForCausalLM");
    CHECK_EQ_INT(hp.n_vocab, 4096);
    CHECK_EQ_INT(hp.n_embd, 256);
    CHECK_EQ_INT(hp.n_ff, 768);
    CHECK_EQ_INT(hp.n_layer, 6);
    CHECK_EQ_INT(hp.n_head, 8);
    CHECK_EQ_INT(hp.n_head_kv, 4);
    CHECK_EQ_INT(hp.head_dim, 32);
    CHECK_EQ_INT(hp.n_ctx_train, 512);
    CHECK_NEAR(hp.norm_eps, 1e-5, 1e-7);
    CHECK_NEAR(hp.rope_theta, 10000, 0);
    CHECK_EQ_INT(hp.rope_layout, LQMF_ROPE_NEOX);
    CHECK_EQ_INT(hp.rope_scaling, LQMF_ROPE_SCALING_NONE);
    CHECK(!hp.tied_embeddings && !hp.qkv_bias);
    CHECK_EQ_INT(hp.sliding_window, 0);
    CHECK_EQ_INT(hp.bos_id, 1);
    CHECK_EQ_INT(hp.eos_id, 2);

    DATA(gdir, "models/tiny-gpt2");
    REQUIRE_OK(lqmf_hf_config_load(gdir, &hp));
    CHECK_EQ_INT(hp.arch, LQMF_ARCH_GPT2);
    CHECK_EQ_INT(hp.n_vocab, 50257);
    CHECK_EQ_INT(hp.n_embd, 256);
    CHECK_EQ_INT(hp.n_ff, 1024); /* n_inner null -> 4 * n_embd */
    CHECK_EQ_INT(hp.n_layer, 4);
    CHECK_EQ_INT(hp.n_head, 8);
    CHECK_EQ_INT(hp.n_head_kv, 8);
    CHECK_EQ_INT(hp.head_dim, 32);
    CHECK_EQ_INT(hp.n_ctx_train, 512);
    CHECK(hp.tied_embeddings);
    CHECK_EQ_INT(hp.bos_id, 50256);
    CHECK_EQ_INT(hp.eos_id, 50256);
}

TEST(hf_config_variants) {
    lqmf_hparams hp;
    char *s = patched(k_llama_base, "{\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
                                    "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                                    "\"original_max_position_embeddings\":8192},"
                                    "\"rope_theta\":500000.0,\"eos_token_id\":[128001,128008]}");
    CHECK_OK(lqmf_hf_config_parse(CFG(s), &hp));
    CHECK_EQ_INT(hp.rope_scaling, LQMF_ROPE_SCALING_LLAMA3);
    CHECK_NEAR(hp.rope_factor, 8, 0);
    CHECK_NEAR(hp.rope_low_freq_factor, 1, 0);
    CHECK_NEAR(hp.rope_high_freq_factor, 4, 0);
    CHECK_EQ_INT(hp.rope_orig_ctx, 8192);
    CHECK_NEAR(hp.rope_theta, 500000, 0);
    CHECK_EQ_INT(hp.eos_id, 128001);
    free(s);

    s = patched(k_llama_base, "{\"rope_scaling\":{\"type\":\"linear\",\"factor\":4},\"head_dim\":64,"
                              "\"num_key_value_heads\":null,\"tie_word_embeddings\":true}");
    CHECK_OK(lqmf_hf_config_parse(CFG(s), &hp));
    CHECK_EQ_INT(hp.rope_scaling, LQMF_ROPE_SCALING_LINEAR);
    CHECK_NEAR(hp.rope_factor, 4, 0);
    CHECK_EQ_INT(hp.head_dim, 64); /* explicit, not hidden / heads */
    CHECK_EQ_INT(hp.n_head_kv, 8); /* null -> n_head */
    CHECK(hp.tied_embeddings);
    free(s);

    s = patched(k_llama_base, "{\"architectures\":[\"MistralForCausalLM\"],\"model_type\":\"mistral\","
                              "\"sliding_window\":4096,\"rms_norm_eps\":null}");
    CHECK_OK(lqmf_hf_config_parse(CFG(s), &hp));
    CHECK_STR(hp.model_type, "mistral");
    CHECK_EQ_INT(hp.sliding_window, 4096);
    CHECK_NEAR(hp.norm_eps, 1e-6, 1e-9); /* MistralConfig default */
    free(s);

    s = patched(k_llama_base, "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\","
                              "\"sliding_window\":4096,\"use_sliding_window\":false}");
    CHECK_OK(lqmf_hf_config_parse(CFG(s), &hp));
    CHECK(hp.qkv_bias);
    CHECK_EQ_INT(hp.sliding_window, 0);
    free(s);
    s = patched(k_llama_base, "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\","
                              "\"sliding_window\":2048,\"use_sliding_window\":true}");
    CHECK_OK(lqmf_hf_config_parse(CFG(s), &hp));
    CHECK_EQ_INT(hp.sliding_window, 2048);
    free(s);

    s = patched(k_llama_base, "{\"attention_bias\":true,\"architectures\":null}");
    CHECK_OK(lqmf_hf_config_parse(CFG(s), &hp));
    CHECK(hp.qkv_bias);
    CHECK_STR(hp.hf_arch, "");
    free(s);

    s = patched(k_gpt2_base, "{\"n_inner\":3072,\"n_positions\":null,\"n_ctx\":1024,"
                             "\"tie_word_embeddings\":false,\"model_type\":null}");
    CHECK_OK(lqmf_hf_config_parse(CFG(s), &hp));
    CHECK_EQ_INT(hp.n_ff, 3072);
    CHECK_EQ_INT(hp.n_ctx_train, 1024);
    CHECK(!hp.tied_embeddings);
    CHECK_STR(hp.model_type, "gpt2");
    free(s);

    /* generation_config overrides bos/eos; a list gives its first id */
    CHECK_OK(lqmf_hf_config_parse(CFG(k_llama_base), &hp));
    const char *gen = "{\"bos_token_id\":128000,\"eos_token_id\":[128001,128009]}";
    CHECK_OK(lqmf_hf_generation_config_parse(gen, strlen(gen), "generation_config.json", &hp));
    CHECK_EQ_INT(hp.bos_id, 128000);
    CHECK_EQ_INT(hp.eos_id, 128001);
    gen = "{\"eos_token_id\":\"x\"}";
    CHECK_ERR(lqmf_hf_generation_config_parse(gen, strlen(gen), "generation_config.json", &hp), LQMF_E_FORMAT,
              "generation_config.json: field \"eos_token_id\" must be a token id");
    CHECK_EQ_INT(hp.bos_id, 128000); /* unchanged on failure */
}

/* A generated corpus of bad configs: each must fail with a message naming
 * the file, the field and the bad value. */
TEST(hf_config_bad_corpus) {
    static const struct {
        bool gpt2;
        const char *patch;
        lqmf_status st;
        const char *needle;
    } cases[] = {
        {0, "{\"vocab_size\":\"4096\"}", LQMF_E_FORMAT,
         "config.json: field \"vocab_size\" must be an integer, not the string \"4096\""},
        {0, "{\"hidden_size\":-256}", LQMF_E_FORMAT, "field \"hidden_size\" = -256 is out of range"},
        {0, "{\"num_attention_heads\":0}", LQMF_E_FORMAT,
         "field \"num_attention_heads\" = 0 is out of range"},
        {0, "{\"hidden_size\":250}", LQMF_E_FORMAT,
         "hidden_size 250 is not divisible by num_attention_heads 8 (and no head_dim is given)"},
        {0, "{\"num_key_value_heads\":3}", LQMF_E_FORMAT,
         "num_attention_heads 8 is not a multiple of num_key_value_heads 3"},
        {0, "{\"num_hidden_layers\":1.5}", LQMF_E_FORMAT,
         "field \"num_hidden_layers\" must be an integer, not 1.5"},
        {0, "{\"num_hidden_layers\":100000}", LQMF_E_FORMAT,
         "\"num_hidden_layers\" = 100000 is out of range"},
        {0, "{\"vocab_size\":null}", LQMF_E_FORMAT, "required field \"vocab_size\" is missing"},
        {0, "{\"intermediate_size\":[768]}", LQMF_E_FORMAT,
         "\"intermediate_size\" must be an integer, not an array"},
        {0, "{\"max_position_embeddings\":0}", LQMF_E_FORMAT,
         "\"max_position_embeddings\" = 0 is out of range"},
        {0, "{\"head_dim\":33}", LQMF_E_FORMAT, "head_dim 33 must be even"},
        {0, "{\"head_dim\":\"32\"}", LQMF_E_FORMAT, "\"head_dim\" must be an integer, not the string \"32\""},
        {0, "{\"rms_norm_eps\":\"small\"}", LQMF_E_FORMAT,
         "\"rms_norm_eps\" must be a number, not the string \"small\""},
        {0, "{\"rms_norm_eps\":0}", LQMF_E_FORMAT, "\"rms_norm_eps\" = 0 is out of range"},
        {0, "{\"rope_theta\":-1}", LQMF_E_FORMAT, "\"rope_theta\" = -1 is out of range"},
        {0, "{\"tie_word_embeddings\":\"yes\"}", LQMF_E_FORMAT,
         "\"tie_word_embeddings\" must be true or false, not the string \"yes\""},
        {0, "{\"model_type\":\"bert\",\"architectures\":null}", LQMF_E_UNSUPPORTED,
         "unsupported model_type \"bert\"; supported: LlamaForCausalLM (llama), MistralForCausalLM "
         "(mistral), Qwen2ForCausalLM (qwen2), GPT2LMHeadModel (gpt2)"},
        {0, "{\"architectures\":[\"BertModel\"]}", LQMF_E_UNSUPPORTED,
         "unsupported architecture \"BertModel\"; supported: LlamaForCausalLM"},
        {0, "{\"architectures\":\"LlamaForCausalLM\"}", LQMF_E_FORMAT,
         "\"architectures\" must be a list of names, not the string \"LlamaForCausalLM\""},
        {0, "{\"architectures\":null,\"model_type\":null}", LQMF_E_FORMAT,
         "neither \"model_type\" nor \"architectures\""},
        {0, "{\"model_type\":\"gpt2\"}", LQMF_E_FORMAT,
         "architecture \"LlamaForCausalLM\" does not fit model_type \"gpt2\""},
        {0, "{\"model_type\":7}", LQMF_E_FORMAT, "\"model_type\" must be a string, not 7"},
        {0, "{\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}", LQMF_E_UNSUPPORTED,
         "rope_scaling type \"yarn\" is not supported"},
        {0,
         "{\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,\"high_freq_factor\":4,"
         "\"original_max_position_embeddings\":8192}}",
         LQMF_E_FORMAT, "required field \"low_freq_factor\" is missing"},
        {0, "{\"rope_scaling\":{\"type\":\"linear\",\"factor\":-2}}", LQMF_E_FORMAT,
         "\"factor\" = -2 is out of range"},
        {0, "{\"rope_scaling\":{\"factor\":2}}", LQMF_E_FORMAT,
         "rope_scaling has neither \"rope_type\" nor \"type\""},
        {0, "{\"rope_scaling\":\"linear\"}", LQMF_E_FORMAT, "\"rope_scaling\" must be an object or null"},
        {0, "{\"hidden_act\":\"gelu\"}", LQMF_E_UNSUPPORTED, "hidden_act \"gelu\" is not supported"},
        {0, "{\"mlp_bias\":true}", LQMF_E_UNSUPPORTED, "mlp_bias true is not supported"},
        {0, "{\"eos_token_id\":-5}", LQMF_E_FORMAT,
         "\"eos_token_id\" must be a token id (integer >= 0 or a list of them), not -5"},
        {0, "{\"model_type\":\"qwen2\",\"architectures\":null,\"use_sliding_window\":true}", LQMF_E_FORMAT,
         "required field \"sliding_window\" is missing"},
        {0, "{\"model_type\":\"mistral\",\"architectures\":null,\"sliding_window\":\"4k\"}", LQMF_E_FORMAT,
         "\"sliding_window\" must be an integer, not the string \"4k\""},
        {1, "{\"n_embd\":250}", LQMF_E_FORMAT, "n_embd 250 is not divisible by n_head 8"},
        {1, "{\"n_head\":-8}", LQMF_E_FORMAT, "\"n_head\" = -8 is out of range"},
        {1, "{\"n_inner\":-1}", LQMF_E_FORMAT, "\"n_inner\" = -1 is out of range"},
        {1, "{\"n_layer\":\"4\"}", LQMF_E_FORMAT, "\"n_layer\" must be an integer, not the string \"4\""},
        {1, "{\"activation_function\":\"relu\"}", LQMF_E_UNSUPPORTED,
         "activation_function \"relu\" is not supported"},
        {1, "{\"layer_norm_epsilon\":true}", LQMF_E_FORMAT,
         "\"layer_norm_epsilon\" must be a number, not true"},
        {1, "{\"scale_attn_by_inverse_layer_idx\":true}", LQMF_E_UNSUPPORTED, "attention scaling"},
        {1, "{\"architectures\":[\"GPT2Model\"]}", LQMF_E_UNSUPPORTED,
         "unsupported architecture \"GPT2Model\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = patched(cases[i].gpt2 ? k_gpt2_base : k_llama_base, cases[i].patch);
        lqmf_hparams hp;
        lqmf_status st = lqmf_hf_config_parse(CFG(s), &hp);
        CHECKF(st == cases[i].st && strstr(lqmf_last_error(), cases[i].needle),
               "case %zu %s: got %s \"%s\", want %s \"%s\"", i, cases[i].patch, lqmf_status_name(st),
               lqmf_last_error(), lqmf_status_name(cases[i].st), cases[i].needle);
        free(s);
    }
    /* not JSON objects at all */
    lqmf_hparams hp;
    CHECK_ERR(lqmf_hf_config_parse(CFG("{\"vocab_size\": 4"), &hp), LQMF_E_FORMAT,
              "config.json: invalid JSON at line 1");
    CHECK_ERR(lqmf_hf_config_parse(CFG("[1, 2]"), &hp), LQMF_E_FORMAT, "top level is not a JSON object");
    CHECK_ERR(lqmf_hf_config_parse(CFG("{\"a\":1,\"a\":2}"), &hp), LQMF_E_FORMAT, "duplicate");
    CHECK_ERR(lqmf_hf_config_load("/nonexistent-lqmf", &hp), LQMF_E_NOT_FOUND,
              "/nonexistent-lqmf/config.json");
}

TEST(hf_tensor_names) {
    lqmf_hparams llama = {0}, gpt2 = {0};
    llama.arch = LQMF_ARCH_LLAMA;
    gpt2.arch = LQMF_ARCH_GPT2;
    gpt2.tied_embeddings = true;
    static const struct {
        bool gpt2;
        const char *hf, *internal;
        bool conv1d;
    } map[] = {
        {0, "model.embed_tokens.weight", "token_embd.weight", 0},
        {0, "model.norm.weight", "output_norm.weight", 0},
        {0, "lm_head.weight", "output.weight", 0},
        {0, "model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", 0},
        {0, "model.layers.11.self_attn.k_proj.bias", "blk.11.attn_k.bias", 0},
        {0, "model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight", 0},
        {0, "model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight", 0},
        {0, "model.layers.3.mlp.gate_proj.weight", "blk.3.ffn_gate.weight", 0},
        {0, "model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight", 0},
        {0, "model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight", 0},
        {0, "model.layers.3.input_layernorm.weight", "blk.3.attn_norm.weight", 0},
        {0, "model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight", 0},
        {1, "transformer.wte.weight", "token_embd.weight", 0},
        {1, "transformer.wpe.weight", "position_embd.weight", 0},
        {1, "transformer.ln_f.bias", "output_norm.bias", 0},
        {1, "transformer.h.2.ln_1.weight", "blk.2.attn_norm.weight", 0},
        {1, "transformer.h.2.attn.c_attn.weight", "blk.2.attn_qkv.weight", 1},
        {1, "transformer.h.2.attn.c_attn.bias", "blk.2.attn_qkv.bias", 0},
        {1, "transformer.h.2.attn.c_proj.weight", "blk.2.attn_output.weight", 1},
        {1, "transformer.h.2.ln_2.bias", "blk.2.ffn_norm.bias", 0},
        {1, "transformer.h.2.mlp.c_fc.weight", "blk.2.ffn_up.weight", 1},
        {1, "transformer.h.2.mlp.c_proj.bias", "blk.2.ffn_down.bias", 0},
        {1, "h.0.mlp.c_proj.weight", "blk.0.ffn_down.weight", 1},
        {1, "wte.weight", "token_embd.weight", 0},
    };
    char out[LQMF_TENSOR_NAME_MAX], back[128];
    bool conv;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const lqmf_hparams *hp = map[i].gpt2 ? &gpt2 : &llama;
        CHECKF(lqmf_hf_tensor_name(hp, map[i].hf, out, &conv) == LQMF_HF_TENSOR_MAPPED &&
                   strcmp(out, map[i].internal) == 0 && conv == map[i].conv1d,
               "%s -> %s (conv1d %d)", map[i].hf, out, conv);
        const char *prefix = strncmp(map[i].hf, "transformer.", 12) == 0 ? "transformer." : "";
        CHECKF(lqmf_hf_tensor_src_name(hp, map[i].internal, prefix, back, sizeof back) &&
                   strcmp(back, map[i].hf) == 0,
               "%s <- %s", back, map[i].internal);
    }
    static const char *ignored_llama[] = {"model.layers.0.self_attn.rotary_emb.inv_freq"};
    static const char *ignored_gpt2[] = {"transformer.h.0.attn.bias", "h.1.attn.masked_bias",
                                         "lm_head.weight" /* tied */};
    CHECK(lqmf_hf_tensor_name(&llama, ignored_llama[0], out, &conv) == LQMF_HF_TENSOR_IGNORED);
    for (int i = 0; i < 3; i++)
        CHECK(lqmf_hf_tensor_name(&gpt2, ignored_gpt2[i], out, &conv) == LQMF_HF_TENSOR_IGNORED);
    static const char *unknown[] = {
        "model.layers.01.mlp.up_proj.weight",      "model.layers.x.mlp.up_proj.weight",
        "model.layers.1234567.mlp.up_proj.weight", "model.layers.1.mlp.up_proj",
        "model.layers.1.mlp.up_proj.weight.x",     "model.embed_tokens",
        "transformer.h.0.attn.c_attn.scales",      "model.layers.1.mlp.c_fc.weight"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECKF(lqmf_hf_tensor_name(&llama, unknown[i], out, &conv) == LQMF_HF_TENSOR_UNKNOWN, "%s",
               unknown[i]);
    CHECK(lqmf_hf_tensor_name(&gpt2, "model.layers.0.mlp.up_proj.weight", out, &conv) ==
          LQMF_HF_TENSOR_UNKNOWN);
    CHECK(!lqmf_hf_tensor_src_name(&llama, "blk.0.attn_qkv.weight", "", back, sizeof back));
    CHECK(!lqmf_hf_tensor_src_name(&gpt2, "blk.0.ffn_gate.weight", "", back, sizeof back));
}
