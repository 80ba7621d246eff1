/* lqmf inspect PATH [--json]: what a model is, from its own files. The
 * report is built once as a JSON object; --json prints it, otherwise it is
 * laid out as text. */
#include "cli.h"
#include "json_out.h"
#include "lqmf/gguf.h"
#include "lqmf/model.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *format_name(lqmf_model_format f) {
    switch (f) {
    case LQMF_FORMAT_HF: return "hf";
    case LQMF_FORMAT_GGUF: return "gguf";
    case LQMF_FORMAT_LLAMA2C: return "llama2c";
    }
    return "?";
}

static const char *tok_source_name(lqmf_tok_source s) {
    switch (s) {
    case LQMF_TOK_NONE: return "none";
    case LQMF_TOK_HF_JSON: return "tokenizer.json";
    case LQMF_TOK_SPM: return "sentencepiece";
    case LQMF_TOK_GGUF: return "gguf";
    case LQMF_TOK_LLAMA2C: return "llama2c";
    }
    return "?";
}

static const char *scaling_name(lqmf_rope_scaling s) {
    switch (s) {
    case LQMF_ROPE_SCALING_NONE: return "none";
    case LQMF_ROPE_SCALING_LINEAR: return "linear";
    case LQMF_ROPE_SCALING_LLAMA3: return "llama3";
    case LQMF_ROPE_SCALING_FACTORS: return "per-frequency factors (rope_freqs.weight)";
    }
    return "?";
}

/* Bytes on disk: the file, or for a folder its *.safetensors files. */
static uint64_t model_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (uint64_t)st.st_size;
    uint64_t total = 0;
    DIR *d = opendir(path);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        char *p;
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors") != 0) continue;
        if (asprintf(&p, "%s/%s", path, e->d_name) < 0) continue;
        if (stat(p, &st) == 0) total += (uint64_t)st.st_size;
        free(p);
    }
    closedir(d);
    return total;
}

/* Tokenizer kind and vocabulary size when the file tells them cheaply;
 * otherwise the kind is the source and the size hp.n_vocab. */
static json_t *tokenizer_info(const lqmf_model *m) {
    json_t *t = json_object();
    json_object_set_new(t, "source", json_string(tok_source_name(m->tok_source)));
    json_object_set_new(t, "path", m->tok_path ? json_string(m->tok_path) : json_null());
    const char *kind = NULL;
    json_int_t vocab = -1;
    json_t *root = NULL;
    lqmf_gguf *g = NULL;
    if (m->tok_source == LQMF_TOK_HF_JSON && (root = json_load_file(m->tok_path, 0, NULL))) {
        json_t *model = json_object_get(root, "model");
        kind = json_string_value(json_object_get(model, "type"));
        json_t *v = json_object_get(model, "vocab");
        if (json_is_object(v))
            vocab = (json_int_t)json_object_size(v);
        else if (json_is_array(v))
            vocab = (json_int_t)json_array_size(v);
    } else if (m->tok_source == LQMF_TOK_GGUF && lqmf_gguf_open(m->tok_path, &g) == LQMF_OK) {
        static char model_name[64];
        lqmf_gguf_str s;
        const lqmf_gguf_value *tokens;
        if (lqmf_gguf_get_str(g, "tokenizer.ggml.model", &s) == LQMF_OK) {
            snprintf(model_name, sizeof model_name, "%.*s", (int)(s.len < 63 ? s.len : 63), s.ptr);
            kind = model_name;
        }
        if (lqmf_gguf_get_arr(g, "tokenizer.ggml.tokens", LQMF_GGUF_STR, &tokens) == LQMF_OK)
            vocab = (json_int_t)lqmf_gguf_arr_len(tokens);
    } else if (m->tok_source == LQMF_TOK_SPM) {
        kind = "sentencepiece";
    } else if (m->tok_source == LQMF_TOK_LLAMA2C) {
        kind = "llama2c";
    }
    json_object_set_new(t, "kind", kind ? json_string(kind) : json_null());
    json_object_set_new(t, "vocab_size", json_integer(vocab >= 0 ? vocab : (json_int_t)m->hp.n_vocab));
    json_object_set_new(t, "vocab_size_from", json_string(vocab >= 0 ? "tokenizer" : "model"));
    json_decref(root);
    lqmf_gguf_close(g);
    return t;
}

/* A float as the shortest decimal that reads back as it (1e-05, not 9.99999975e-06). */
static json_t *json_float(float f) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) { /* 9 digits always read back */
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return json_real(strtod(buf, NULL));
}

static json_t *hparams_info(const lqmf_hparams *hp) {
    json_t *h = json_object();
    json_object_set_new(h, "n_vocab", json_integer(hp->n_vocab));
    json_object_set_new(h, "n_ctx_train", json_integer(hp->n_ctx_train));
    json_object_set_new(h, "n_embd", json_integer(hp->n_embd));
    json_object_set_new(h, "n_layer", json_integer(hp->n_layer));
    json_object_set_new(h, "n_head", json_integer(hp->n_head));
    json_object_set_new(h, "n_head_kv", json_integer(hp->n_head_kv));
    json_object_set_new(h, "head_dim", json_integer(hp->head_dim));
    json_object_set_new(h, "n_ff", json_integer(hp->n_ff));
    json_object_set_new(h, "norm_eps", json_float(hp->norm_eps));
    if (hp->arch == LQMF_ARCH_LLAMA) {
        json_object_set_new(h, "rope_theta", json_float(hp->rope_theta));
        json_object_set_new(h, "rope_layout",
                            json_string(hp->rope_layout == LQMF_ROPE_NEOX ? "neox" : "norm"));
        json_object_set_new(h, "rope_scaling", json_string(scaling_name(hp->rope_scaling)));
        if (hp->rope_scaling != LQMF_ROPE_SCALING_NONE)
            json_object_set_new(h, "rope_factor", json_float(hp->rope_factor));
        if (hp->rope_scaling == LQMF_ROPE_SCALING_LLAMA3) {
            json_object_set_new(h, "rope_low_freq_factor", json_float(hp->rope_low_freq_factor));
            json_object_set_new(h, "rope_high_freq_factor", json_float(hp->rope_high_freq_factor));
            json_object_set_new(h, "rope_original_context", json_integer(hp->rope_orig_ctx));
        }
        json_object_set_new(h, "sliding_window", json_integer(hp->sliding_window));
        json_object_set_new(h, "qkv_bias", json_boolean(hp->qkv_bias));
    }
    json_object_set_new(h, "tied_embeddings", json_boolean(hp->tied_embeddings));
    json_object_set_new(h, "bos_id", json_integer(hp->bos_id));
    json_object_set_new(h, "eos_id", json_integer(hp->eos_id));
    return h;
}

static json_t *tensor_info(const lqmf_tensor *t) {
    json_t *o = json_object(), *shape = json_array();
    for (uint32_t d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer((json_int_t)t->ne[d]));
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "source_name", t->src_name ? json_string(t->src_name) : json_null());
    json_object_set_new(o, "type", json_string(lqmf_type_name(t->type)));
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "bytes", json_integer((json_int_t)t->nbytes));
    return o;
}

/* Per-type tensor count and bytes, in type-id order. */
static json_t *dtype_info(const lqmf_model *m) {
    uint64_t count[LQMF_TYPE_COUNT] = {0}, bytes[LQMF_TYPE_COUNT] = {0};
    for (size_t i = 0; i < m->n_tensors; i++) {
        count[m->tensors[i].type]++;
        bytes[m->tensors[i].type] += m->tensors[i].nbytes;
    }
    json_t *a = json_array();
    for (uint32_t t = 0; t < LQMF_TYPE_COUNT; t++) {
        if (!count[t]) continue;
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(lqmf_type_name(t)));
        json_object_set_new(o, "tensors", json_integer((json_int_t)count[t]));
        json_object_set_new(o, "bytes", json_integer((json_int_t)bytes[t]));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *model_info(const lqmf_model *m) {
    json_t *o = json_object(), *tensors = json_array();
    json_object_set_new(o, "path", json_string(m->path));
    json_object_set_new(o, "format", json_string(format_name(m->format)));
    json_object_set_new(o, "architecture", json_string(lqmf_arch_name(m->hp.arch)));
    json_object_set_new(o, "model_type", json_string(m->hp.model_type));
    json_object_set_new(o, "hf_architecture", m->hp.hf_arch[0] ? json_string(m->hp.hf_arch) : json_null());
    json_object_set_new(o, "parameters", json_integer((json_int_t)lqmf_model_n_params(m)));
    json_object_set_new(o, "file_size", json_integer((json_int_t)model_file_size(m->path)));
    json_object_set_new(o, "context_length", json_integer(m->hp.n_ctx_train));
    json_object_set_new(o, "hparams", hparams_info(&m->hp));
    json_object_set_new(o, "tokenizer", tokenizer_info(m));
    json_object_set_new(o, "dtypes", dtype_info(m));
    for (size_t i = 0; i < m->n_tensors; i++) json_array_append_new(tensors, tensor_info(&m->tensors[i]));
    json_object_set_new(o, "tensors", tensors);
    return o;
}

/* ---- text layout ----------------------------------------------------------------- */

static json_int_t geti(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
static const char *gets(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

/* 6819072 -> "6,819,072" */
static const char *grouped(json_int_t v, char *buf, size_t n) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)v), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0 && digits[i - 1] != '-') buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static void print_text(const json_t *info) {
    const json_t *hp = json_object_get(info, "hparams"), *tok = json_object_get(info, "tokenizer");
    char a[64], b[64];
    printf("path          %s\n", gets(info, "path"));
    printf("format        %s\n", gets(info, "format"));
    printf("architecture  %s (model_type %s%s%s)\n", gets(info, "architecture"), gets(info, "model_type"),
           json_is_string(json_object_get(info, "hf_architecture")) ? ", " : "",
           json_is_string(json_object_get(info, "hf_architecture")) ? gets(info, "hf_architecture") : "");
    printf("parameters    %s\n", grouped(geti(info, "parameters"), a, sizeof a));
    printf("file size     %s (%s bytes)\n", lqmf_fmt_bytes((uint64_t)geti(info, "file_size"), b, sizeof b),
           grouped(geti(info, "file_size"), a, sizeof a));
    printf("context       %lld\n", (long long)geti(info, "context_length"));
    printf("hparams       n_embd %lld, n_layer %lld, n_head %lld (kv %lld), head_dim %lld, n_ff %lld, "
           "n_vocab %lld\n",
           (long long)geti(hp, "n_embd"), (long long)geti(hp, "n_layer"), (long long)geti(hp, "n_head"),
           (long long)geti(hp, "n_head_kv"), (long long)geti(hp, "head_dim"), (long long)geti(hp, "n_ff"),
           (long long)geti(hp, "n_vocab"));
    printf("              norm_eps %g, tied embeddings %s", json_real_value(json_object_get(hp, "norm_eps")),
           json_is_true(json_object_get(hp, "tied_embeddings")) ? "yes" : "no");
    if (json_object_get(hp, "rope_theta"))
        printf(", rope theta %g (%s layout, scaling %s), qkv bias %s, sliding window %lld",
               json_real_value(json_object_get(hp, "rope_theta")), gets(hp, "rope_layout"),
               gets(hp, "rope_scaling"), json_is_true(json_object_get(hp, "qkv_bias")) ? "yes" : "no",
               (long long)geti(hp, "sliding_window"));
    printf(", bos %lld, eos %lld\n", (long long)geti(hp, "bos_id"), (long long)geti(hp, "eos_id"));
    printf("tokenizer     %s (%s), %lld tokens (%s)%s%s\n", gets(tok, "source"), gets(tok, "kind"),
           (long long)geti(tok, "vocab_size"),
           strcmp(gets(tok, "vocab_size_from"), "tokenizer") == 0 ? "from the tokenizer" : "model vocab",
           json_is_string(json_object_get(tok, "path")) ? ": " : "",
           json_is_string(json_object_get(tok, "path")) ? gets(tok, "path") : "");
    printf("dtypes\n");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(info, "dtypes"), i, v) printf(
        "  %-8s %5lld tensors  %12s bytes  %s\n", gets(v, "type"), (long long)geti(v, "tensors"),
        grouped(geti(v, "bytes"), a, sizeof a), lqmf_fmt_bytes((uint64_t)geti(v, "bytes"), b, sizeof b));
    printf("tensors\n  %-32s %-6s %-20s %12s\n", "name", "type", "shape", "bytes");
    json_array_foreach(json_object_get(info, "tensors"), i, v) {
        char shape[64] = "";
        size_t used = 0, d;
        json_t *x;
        json_array_foreach(json_object_get(v, "shape"), d, x) used += (size_t)snprintf(
            shape + used, sizeof shape - used, "%s%lld", d ? " x " : "", (long long)json_integer_value(x));
        printf("  %-32s %-6s %-20s %12s\n", gets(v, "name"), gets(v, "type"), shape,
               grouped(geti(v, "bytes"), a, sizeof a));
    }
}

static int run_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (LQMF_IS(argv[i], "--json"))
            as_json = true;
        else if (argv[i][0] == '-' || path)
            return lqmf_cli_usage("inspect");
        else
            path = argv[i];
    }
    if (!path) return lqmf_cli_usage("inspect");
    lqmf_model *m;
    lqmf_status st = lqmf_model_open(path, &m);
    if (st != LQMF_OK) {
        lqmf_cli_fail(st);
        return 1;
    }
    json_t *info = model_info(m);
    lqmf_model_close(m);
    if (as_json) return lqmf_cli_print_json(info, 0);
    print_text(info);
    json_decref(info);
    return 0;
}

LQMF_COMMAND(inspect, "inspect", "PATH [--json]", "describe a model (HF folder, .gguf, llama2.c .bin)",
             run_inspect)
