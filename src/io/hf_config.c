/* Hugging Face config.json / generation_config.json into lqmf_hparams, and
 * the HF <-> internal tensor name tables. Defaults are those of the
 * transformers config classes (LlamaConfig, MistralConfig, Qwen2Config,
 * GPT2Config). */
#include "lqmf/hf_config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- supported architectures ------------------------------------------- */

typedef enum { FAM_LLAMA, FAM_MISTRAL, FAM_QWEN2, FAM_GPT2 } family;

static const struct {
    const char *model_type, *hf_arch;
    family fam;
    lqmf_arch arch;
    uint32_t default_ctx; /* transformers' max_position_embeddings / n_positions default */
} k_families[] = {
    {"llama", "LlamaForCausalLM", FAM_LLAMA, LQMF_ARCH_LLAMA, 2048},
    {"mistral", "MistralForCausalLM", FAM_MISTRAL, LQMF_ARCH_LLAMA, 4096 * 32},
    {"qwen2", "Qwen2ForCausalLM", FAM_QWEN2, LQMF_ARCH_LLAMA, 32768},
    {"gpt2", "GPT2LMHeadModel", FAM_GPT2, LQMF_ARCH_GPT2, 1024},
};
#define N_FAMILIES (sizeof k_families / sizeof k_families[0])

#define MAX_DIM (1u << 20) /* hidden / head sizes */
#define MAX_FF (1u << 22)  /* intermediate size */
#define MAX_VOCAB (1u << 24)
#define MAX_LAYERS 1024u
#define MAX_HEADS 4096u
#define MAX_CTX (1u << 28)

/* A short description of a JSON value for messages: "\"abc\"", "-3", "an object". */
static const char *describe(const json_t *v, char *buf, size_t n) {
    switch (json_typeof(v)) {
    case JSON_STRING: snprintf(buf, n, "the string \"%.40s\"", json_string_value(v)); break;
    case JSON_INTEGER: snprintf(buf, n, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: snprintf(buf, n, "%g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(buf, n, "true"); break;
    case JSON_FALSE: snprintf(buf, n, "false"); break;
    case JSON_NULL: snprintf(buf, n, "null"); break;
    case JSON_OBJECT: snprintf(buf, n, "an object"); break;
    case JSON_ARRAY: snprintf(buf, n, "an array"); break;
    }
    return buf;
}

/* A field of obj, NULL when absent or null. */
static const json_t *field(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* Unsigned integer field in [lo, hi]; dflt when absent (required: an error).
 * Integral reals (4096.0) are accepted as integers. */
static lqmf_status get_u32(const char *label, const json_t *obj, const char *key, bool required,
                           uint32_t dflt, uint32_t lo, uint32_t hi, uint32_t *out) {
    const json_t *v = field(obj, key);
    char d[64];
    if (!v) {
        if (required) return lqmf_error(LQMF_E_FORMAT, "%s: required field \"%s\" is missing", label, key);
        *out = dflt;
        return LQMF_OK;
    }
    double x;
    if (json_is_integer(v))
        x = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))
        x = json_real_value(v);
    else
        return lqmf_error(LQMF_E_FORMAT, "%s: field \"%s\" must be an integer, not %s", label, key,
                          describe(v, d, sizeof d));
    if (!(x >= lo && x <= hi))
        return lqmf_error(LQMF_E_FORMAT, "%s: field \"%s\" = %s is out of range [%u, %u]", label, key,
                          describe(v, d, sizeof d), lo, hi);
    *out = (uint32_t)x;
    return LQMF_OK;
}

/* Finite number field with lo < x <= hi (lo exclusive), dflt when absent. */
static lqmf_status get_f32(const char *label, const json_t *obj, const char *key, bool required, double dflt,
                           double lo, double hi, float *out) {
    const json_t *v = field(obj, key);
    char d[64];
    if (!v) {
        if (required) return lqmf_error(LQMF_E_FORMAT, "%s: required field \"%s\" is missing", label, key);
        *out = (float)dflt;
        return LQMF_OK;
    }
    if (!json_is_number(v))
        return lqmf_error(LQMF_E_FORMAT, "%s: field \"%s\" must be a number, not %s", label, key,
                          describe(v, d, sizeof d));
    double x = json_number_value(v);
    if (!(x > lo && x <= hi))
        return lqmf_error(LQMF_E_FORMAT, "%s: field \"%s\" = %s is out of range (%g, %g]", label, key,
                          describe(v, d, sizeof d), lo, hi);
    *out = (float)x;
    return LQMF_OK;
}

static lqmf_status get_bool(const char *label, const json_t *obj, const char *key, bool dflt, bool *out) {
    const json_t *v = field(obj, key);
    char d[64];
    if (!v) {
        *out = dflt;
        return LQMF_OK;
    }
    if (!json_is_boolean(v))
        return lqmf_error(LQMF_E_FORMAT, "%s: field \"%s\" must be true or false, not %s", label, key,
                          describe(v, d, sizeof d));
    *out = json_is_true(v);
    return LQMF_OK;
}

/* String field (NULL when absent); an error when present but not a string. */
static lqmf_status get_str(const char *label, const json_t *obj, const char *key, const char **out) {
    const json_t *v = field(obj, key);
    char d[64];
    *out = NULL;
    if (!v) return LQMF_OK;
    if (!json_is_string(v))
        return lqmf_error(LQMF_E_FORMAT, "%s: field \"%s\" must be a string, not %s", label, key,
                          describe(v, d, sizeof d));
    *out = json_string_value(v);
    return LQMF_OK;
}

/* Token id field: an integer, or a non-empty list whose first entry is one.
 * Leaves *out unchanged when absent. */
static lqmf_status get_token_id(const char *label, const json_t *obj, const char *key, int32_t *out) {
    const json_t *v = field(obj, key);
    char d[64];
    if (!v) return LQMF_OK;
    const json_t *x = json_is_array(v) ? json_array_get(v, 0) : v;
    if (!x || !json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX)
        return lqmf_error(LQMF_E_FORMAT,
                          "%s: field \"%s\" must be a token id (integer >= 0 or a "
                          "list of them), not %s",
                          label, key, describe(v, d, sizeof d));
    *out = (int32_t)json_integer_value(x);
    return LQMF_OK;
}

#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        lqmf_status st_ = (expr);                                                                            \
        if (st_ != LQMF_OK) return st_;                                                                      \
    } while (0)

static lqmf_status unsupported_family(const char *label, const char *what, const char *value) {
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < N_FAMILIES; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s (%s)", i ? ", " : "", k_families[i].hf_arch,
                         k_families[i].model_type);
        if (n > 0) used += (size_t)n;
    }
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: unsupported %s \"%.64s\"; supported: %s", label, what, value,
                      list);
}

/* Find the family from "model_type" and "architectures" (either may be
 * absent; both, when present, must be supported and of one architecture). */
static lqmf_status find_family(const char *label, const json_t *root, size_t *out, const char **hf_arch) {
    const char *mt;
    TRY(get_str(label, root, "model_type", &mt));
    const json_t *archs = field(root, "architectures");
    char d[64];
    *hf_arch = NULL;
    if (archs) {
        const json_t *a0 = json_is_array(archs) ? json_array_get(archs, 0) : NULL;
        if (!a0 || !json_is_string(a0))
            return lqmf_error(LQMF_E_FORMAT, "%s: field \"architectures\" must be a list of names, not %s",
                              label, describe(archs, d, sizeof d));
        *hf_arch = json_string_value(a0);
    }
    if (!mt && !*hf_arch)
        return lqmf_error(LQMF_E_FORMAT, "%s: neither \"model_type\" nor \"architectures\" is set", label);
    size_t by_type = N_FAMILIES, by_arch = N_FAMILIES;
    for (size_t i = 0; i < N_FAMILIES; i++) {
        if (mt && strcmp(mt, k_families[i].model_type) == 0) by_type = i;
        if (*hf_arch && strcmp(*hf_arch, k_families[i].hf_arch) == 0) by_arch = i;
    }
    if (mt && by_type == N_FAMILIES) return unsupported_family(label, "model_type", mt);
    if (*hf_arch && by_arch == N_FAMILIES) return unsupported_family(label, "architecture", *hf_arch);
    if (mt && *hf_arch && k_families[by_type].arch != k_families[by_arch].arch)
        return lqmf_error(LQMF_E_FORMAT, "%s: architecture \"%s\" does not fit model_type \"%s\"", label,
                          *hf_arch, mt);
    *out = mt ? by_type : by_arch;
    return LQMF_OK;
}

static lqmf_status parse_rope_scaling(const char *label, const json_t *root, lqmf_hparams *hp) {
    const json_t *rs = field(root, "rope_scaling");
    char d[64];
    hp->rope_scaling = LQMF_ROPE_SCALING_NONE;
    if (!rs) return LQMF_OK;
    if (!json_is_object(rs))
        return lqmf_error(LQMF_E_FORMAT, "%s: field \"rope_scaling\" must be an object or null, not %s",
                          label, describe(rs, d, sizeof d));
    const char *type, *old_type;
    TRY(get_str(label, rs, "rope_type", &type));
    TRY(get_str(label, rs, "type", &old_type));
    if (!type) type = old_type;
    if (!type)
        return lqmf_error(LQMF_E_FORMAT, "%s: rope_scaling has neither \"rope_type\" nor \"type\"", label);
    if (strcmp(type, "default") == 0) return LQMF_OK;
    if (strcmp(type, "linear") == 0) {
        hp->rope_scaling = LQMF_ROPE_SCALING_LINEAR;
        return get_f32(label, rs, "factor", true, 1, 0, 1e6, &hp->rope_factor);
    }
    if (strcmp(type, "llama3") == 0) {
        hp->rope_scaling = LQMF_ROPE_SCALING_LLAMA3;
        TRY(get_f32(label, rs, "factor", true, 1, 0, 1e6, &hp->rope_factor));
        TRY(get_f32(label, rs, "low_freq_factor", true, 1, 0, 1e6, &hp->rope_low_freq_factor));
        TRY(get_f32(label, rs, "high_freq_factor", true, 1, 0, 1e6, &hp->rope_high_freq_factor));
        TRY(get_u32(label, rs, "original_max_position_embeddings", true, 0, 1, MAX_CTX, &hp->rope_orig_ctx));
        if (!(hp->rope_high_freq_factor > hp->rope_low_freq_factor))
            return lqmf_error(LQMF_E_FORMAT,
                              "%s: rope_scaling high_freq_factor %g must exceed "
                              "low_freq_factor %g",
                              label, (double)hp->rope_high_freq_factor, (double)hp->rope_low_freq_factor);
        return LQMF_OK;
    }
    return lqmf_error(LQMF_E_UNSUPPORTED,
                      "%s: rope_scaling type \"%.40s\" is not supported "
                      "(supported: default, linear, llama3)",
                      label, type);
}

/* Heads and head_dim: n_head_kv divides n_head; head_dim explicit or n_embd / n_head. */
static lqmf_status parse_heads(const char *label, const json_t *root, const char *k_heads, const char *k_kv,
                               const char *k_hidden, lqmf_hparams *hp) {
    TRY(get_u32(label, root, k_heads, true, 0, 1, MAX_HEADS, &hp->n_head));
    hp->n_head_kv = hp->n_head;
    if (k_kv) TRY(get_u32(label, root, k_kv, false, hp->n_head, 1, MAX_HEADS, &hp->n_head_kv));
    if (hp->n_head % hp->n_head_kv)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s %u is not a multiple of %s %u", label, k_heads, hp->n_head,
                          k_kv, hp->n_head_kv);
    if (k_kv && field(root, "head_dim"))
        return get_u32(label, root, "head_dim", true, 0, 1, MAX_DIM, &hp->head_dim);
    if (hp->n_embd % hp->n_head)
        return lqmf_error(LQMF_E_FORMAT,
                          "%s: %s %u is not divisible by %s %u (and no head_dim is "
                          "given)",
                          label, k_hidden, hp->n_embd, k_heads, hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    return LQMF_OK;
}

static lqmf_status parse_llama(const char *label, const json_t *root, family fam, uint32_t dflt_ctx,
                               lqmf_hparams *hp) {
    TRY(get_u32(label, root, "vocab_size", true, 0, 1, MAX_VOCAB, &hp->n_vocab));
    TRY(get_u32(label, root, "hidden_size", true, 0, 1, MAX_DIM, &hp->n_embd));
    TRY(get_u32(label, root, "intermediate_size", true, 0, 1, MAX_FF, &hp->n_ff));
    TRY(get_u32(label, root, "num_hidden_layers", true, 0, 1, MAX_LAYERS, &hp->n_layer));
    TRY(parse_heads(label, root, "num_attention_heads", "num_key_value_heads", "hidden_size", hp));
    if (hp->head_dim % 2)
        return lqmf_error(LQMF_E_FORMAT, "%s: head_dim %u must be even for rotary embeddings", label,
                          hp->head_dim);
    TRY(get_u32(label, root, "max_position_embeddings", false, dflt_ctx, 1, MAX_CTX, &hp->n_ctx_train));
    TRY(get_f32(label, root, "rms_norm_eps", false, 1e-6, 0, 1, &hp->norm_eps));
    TRY(get_f32(label, root, "rope_theta", false, 10000, 0, 1e12, &hp->rope_theta));
    TRY(parse_rope_scaling(label, root, hp));
    const char *act;
    TRY(get_str(label, root, "hidden_act", &act));
    if (act && strcmp(act, "silu") != 0)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: hidden_act \"%.40s\" is not supported (silu only)", label,
                          act);
    bool mlp_bias;
    TRY(get_bool(label, root, "mlp_bias", false, &mlp_bias));
    if (mlp_bias) return lqmf_error(LQMF_E_UNSUPPORTED, "%s: mlp_bias true is not supported", label);
    TRY(get_bool(label, root, "attention_bias", false, &hp->qkv_bias));
    if (fam == FAM_QWEN2) hp->qkv_bias = true; /* Qwen2Attention always has q/k/v biases */
    TRY(get_bool(label, root, "tie_word_embeddings", false, &hp->tied_embeddings));
    bool use_window = fam == FAM_MISTRAL;
    if (fam == FAM_QWEN2) TRY(get_bool(label, root, "use_sliding_window", false, &use_window));
    hp->sliding_window = 0;
    if (use_window)
        TRY(get_u32(label, root, "sliding_window", fam == FAM_QWEN2, 0, 0, MAX_CTX, &hp->sliding_window));
    hp->rope_layout = LQMF_ROPE_NEOX;
    return LQMF_OK;
}

static lqmf_status parse_gpt2(const char *label, const json_t *root, uint32_t dflt_ctx, lqmf_hparams *hp) {
    TRY(get_u32(label, root, "vocab_size", true, 0, 1, MAX_VOCAB, &hp->n_vocab));
    TRY(get_u32(label, root, "n_embd", true, 0, 1, MAX_DIM, &hp->n_embd));
    TRY(get_u32(label, root, "n_layer", true, 0, 1, MAX_LAYERS, &hp->n_layer));
    TRY(parse_heads(label, root, "n_head", NULL, "n_embd", hp));
    if (field(root, "n_positions"))
        TRY(get_u32(label, root, "n_positions", true, 0, 1, MAX_CTX, &hp->n_ctx_train));
    else
        TRY(get_u32(label, root, "n_ctx", false, dflt_ctx, 1, MAX_CTX, &hp->n_ctx_train));
    if (hp->n_embd > MAX_FF / 4)
        return lqmf_error(LQMF_E_FORMAT, "%s: n_embd %u is too large", label, hp->n_embd);
    TRY(get_u32(label, root, "n_inner", false, 4 * hp->n_embd, 1, MAX_FF, &hp->n_ff));
    TRY(get_f32(label, root, "layer_norm_epsilon", false, 1e-5, 0, 1, &hp->norm_eps));
    const char *act;
    TRY(get_str(label, root, "activation_function", &act));
    if (act && strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: activation_function \"%.40s\" is not supported "
                          "(gelu_new only)",
                          label, act);
    bool by_layer, scaled;
    TRY(get_bool(label, root, "scale_attn_by_inverse_layer_idx", false, &by_layer));
    TRY(get_bool(label, root, "scale_attn_weights", true, &scaled));
    if (by_layer || !scaled)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: attention scaling other than 1/sqrt(head_dim) "
                          "(scale_attn_weights %s, scale_attn_by_inverse_layer_idx %s) is not supported",
                          label, scaled ? "true" : "false", by_layer ? "true" : "false");
    TRY(get_bool(label, root, "tie_word_embeddings", true, &hp->tied_embeddings));
    hp->rope_layout = LQMF_ROPE_NORM;
    return LQMF_OK;
}

static json_t *load_json(const char *json, size_t len, const char *label, lqmf_status *st) {
    if (len > LQMF_HF_CONFIG_MAX_BYTES) {
        *st = lqmf_error(LQMF_E_FORMAT, "%s: %zu bytes is over the %u-byte limit", label, len,
                         LQMF_HF_CONFIG_MAX_BYTES);
        return NULL;
    }
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        *st = lqmf_error(LQMF_E_FORMAT, "%s: invalid JSON at line %d column %d: %s", label, err.line,
                         err.column, err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *st = lqmf_error(LQMF_E_FORMAT, "%s: top level is not a JSON object", label);
        return NULL;
    }
    *st = LQMF_OK;
    return root;
}

static lqmf_status parse_config(const char *label, const json_t *root, lqmf_hparams *hp) {
    size_t f = 0;
    const char *hf_arch;
    TRY(find_family(label, root, &f, &hf_arch));
    hp->arch = k_families[f].arch;
    snprintf(hp->model_type, sizeof hp->model_type, "%s", k_families[f].model_type);
    snprintf(hp->hf_arch, sizeof hp->hf_arch, "%s", hf_arch ? hf_arch : "");
    if (hp->arch == LQMF_ARCH_GPT2)
        TRY(parse_gpt2(label, root, k_families[f].default_ctx, hp));
    else
        TRY(parse_llama(label, root, k_families[f].fam, k_families[f].default_ctx, hp));
    TRY(get_token_id(label, root, "bos_token_id", &hp->bos_id));
    TRY(get_token_id(label, root, "eos_token_id", &hp->eos_id));
    return LQMF_OK;
}

lqmf_status lqmf_hf_config_parse(const char *json, size_t len, const char *label, lqmf_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    hp->bos_id = hp->eos_id = -1;
    lqmf_status st;
    json_t *root = load_json(json, len, label, &st);
    if (!root) return st;
    st = parse_config(label, root, hp);
    json_decref(root);
    return st;
}

lqmf_status lqmf_hf_generation_config_parse(const char *json, size_t len, const char *label,
                                            lqmf_hparams *hp) {
    lqmf_status st;
    json_t *root = load_json(json, len, label, &st);
    if (!root) return st;
    int32_t bos = hp->bos_id, eos = hp->eos_id;
    st = get_token_id(label, root, "bos_token_id", &bos);
    if (st == LQMF_OK) st = get_token_id(label, root, "eos_token_id", &eos);
    if (st == LQMF_OK) {
        hp->bos_id = bos;
        hp->eos_id = eos;
    }
    json_decref(root);
    return st;
}

lqmf_status lqmf_hf_config_load(const char *dir, lqmf_hparams *hp) {
    char path[4096];
    char *text;
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    TRY(lqmf_read_file(path, LQMF_HF_CONFIG_MAX_BYTES, &text, &len));
    lqmf_status st = lqmf_hf_config_parse(text, len, path, hp);
    free(text);
    if (st != LQMF_OK) return st;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    st = lqmf_read_file(path, LQMF_HF_CONFIG_MAX_BYTES, &text, &len);
    if (st == LQMF_E_NOT_FOUND) return LQMF_OK;
    if (st != LQMF_OK) return st;
    st = lqmf_hf_generation_config_parse(text, len, path, hp);
    free(text);
    return st;
}

/* ---- tensor names ---------------------------------------------------------
 * Global tensors map by full name; per-layer tensors as
 * "<layer prefix>N.<part>.{weight,bias}" -> "blk.N.<internal part>.{weight,bias}". */

typedef struct {
    const char *hf, *internal;
    bool conv1d; /* weight stored [in, out] (GPT-2 Conv1D) */
} name_pair;

static const name_pair k_llama_global[] = {
    {"model.embed_tokens.weight", "token_embd.weight", false},
    {"model.norm.weight", "output_norm.weight", false},
};
static const name_pair k_llama_layer[] = {
    {"self_attn.q_proj", "attn_q", false},
    {"self_attn.k_proj", "attn_k", false},
    {"self_attn.v_proj", "attn_v", false},
    {"self_attn.o_proj", "attn_output", false},
    {"mlp.gate_proj", "ffn_gate", false},
    {"mlp.up_proj", "ffn_up", false},
    {"mlp.down_proj", "ffn_down", false},
    {"input_layernorm", "attn_norm", false},
    {"post_attention_layernorm", "ffn_norm", false},
};
/* GPT-2 names after the optional "transformer." prefix (lm_head has none). */
static const name_pair k_gpt2_global[] = {
    {"wte.weight", "token_embd.weight", false},
    {"wpe.weight", "position_embd.weight", false},
    {"ln_f.weight", "output_norm.weight", false},
    {"ln_f.bias", "output_norm.bias", false},
};
static const name_pair k_gpt2_layer[] = {
    {"ln_1", "attn_norm", false}, {"attn.c_attn", "attn_qkv", true}, {"attn.c_proj", "attn_output", true},
    {"ln_2", "ffn_norm", false},  {"mlp.c_fc", "ffn_up", true},      {"mlp.c_proj", "ffn_down", true},
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Parse "N." at s (decimal, no leading zero, at most 6 digits); returns the rest or NULL. */
static const char *parse_layer(const char *s, uint32_t *layer) {
    const char *p = s;
    uint32_t n = 0;
    while (*p >= '0' && *p <= '9' && p - s < 6) n = n * 10 + (uint32_t)(*p++ - '0');
    if (p == s || *p != '.' || (p - s > 1 && *s == '0')) return NULL;
    *layer = n;
    return p + 1;
}

static bool split_suffix(const char *rest, const char *part, const char **suffix) {
    size_t n = strlen(part);
    if (strncmp(rest, part, n) != 0) return false;
    if (strcmp(rest + n, ".weight") == 0 || strcmp(rest + n, ".bias") == 0) {
        *suffix = rest + n + 1;
        return true;
    }
    return false;
}

static lqmf_hf_tensor_kind map_layer(const name_pair *tab, size_t n, const char *rest, uint32_t layer,
                                     char *out, bool *conv1d) {
    const char *suffix;
    for (size_t i = 0; i < n; i++)
        if (split_suffix(rest, tab[i].hf, &suffix)) {
            snprintf(out, LQMF_TENSOR_NAME_MAX, "blk.%u.%s.%s", layer, tab[i].internal, suffix);
            *conv1d = tab[i].conv1d && strcmp(suffix, "weight") == 0;
            return LQMF_HF_TENSOR_MAPPED;
        }
    return LQMF_HF_TENSOR_UNKNOWN;
}

static lqmf_hf_tensor_kind map_global(const name_pair *tab, size_t n, const char *name, char *out) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, tab[i].hf) == 0) {
            snprintf(out, LQMF_TENSOR_NAME_MAX, "%s", tab[i].internal);
            return LQMF_HF_TENSOR_MAPPED;
        }
    return LQMF_HF_TENSOR_UNKNOWN;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

lqmf_hf_tensor_kind lqmf_hf_tensor_name(const lqmf_hparams *hp, const char *hf_name, char *out,
                                        bool *conv1d) {
    *conv1d = false;
    out[0] = '\0';
    if (strcmp(hf_name, "lm_head.weight") == 0) { /* both architectures; unused when tied */
        if (hp->tied_embeddings) return LQMF_HF_TENSOR_IGNORED;
        snprintf(out, LQMF_TENSOR_NAME_MAX, "output.weight");
        return LQMF_HF_TENSOR_MAPPED;
    }
    uint32_t layer;
    const char *rest;
    if (hp->arch == LQMF_ARCH_LLAMA) {
        if (ends_with(hf_name, ".rotary_emb.inv_freq")) return LQMF_HF_TENSOR_IGNORED;
        if (strncmp(hf_name, "model.layers.", 13) == 0 && (rest = parse_layer(hf_name + 13, &layer)))
            return map_layer(k_llama_layer, COUNT(k_llama_layer), rest, layer, out, conv1d);
        return map_global(k_llama_global, COUNT(k_llama_global), hf_name, out);
    }
    const char *s = strncmp(hf_name, "transformer.", 12) == 0 ? hf_name + 12 : hf_name;
    if (strncmp(s, "h.", 2) == 0 && (rest = parse_layer(s + 2, &layer))) {
        if (strcmp(rest, "attn.bias") == 0 || strcmp(rest, "attn.masked_bias") == 0)
            return LQMF_HF_TENSOR_IGNORED;
        return map_layer(k_gpt2_layer, COUNT(k_gpt2_layer), rest, layer, out, conv1d);
    }
    return map_global(k_gpt2_global, COUNT(k_gpt2_global), s, out);
}

bool lqmf_hf_tensor_src_name(const lqmf_hparams *hp, const char *name, const char *gpt2_prefix, char *out,
                             size_t n) {
    bool llama = hp->arch == LQMF_ARCH_LLAMA;
    const name_pair *glob = llama ? k_llama_global : k_gpt2_global;
    const name_pair *lay = llama ? k_llama_layer : k_gpt2_layer;
    size_t ng = llama ? COUNT(k_llama_global) : COUNT(k_gpt2_global);
    size_t nl = llama ? COUNT(k_llama_layer) : COUNT(k_gpt2_layer);
    const char *pre = llama ? "" : gpt2_prefix;
    if (strcmp(name, "output.weight") == 0) {
        snprintf(out, n, "lm_head.weight");
        return true;
    }
    for (size_t i = 0; i < ng; i++)
        if (strcmp(name, glob[i].internal) == 0) {
            snprintf(out, n, "%s%s", pre, glob[i].hf);
            return true;
        }
    uint32_t layer;
    const char *rest, *suffix;
    if (strncmp(name, "blk.", 4) != 0 || !(rest = parse_layer(name + 4, &layer))) return false;
    for (size_t i = 0; i < nl; i++)
        if (split_suffix(rest, lay[i].internal, &suffix)) {
            snprintf(out, n, "%s%s%u.%s.%s", pre, llama ? "model.layers." : "h.", layer, lay[i].hf, suffix);
            return true;
        }
    return false;
}
