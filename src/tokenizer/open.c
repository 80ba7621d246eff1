/* Opening a tokenizer from a path or a model: folder layout, format
 * sniffing and tokenizer_config.json. */
#include "tok_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAX_BYTES (64u << 20)

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "<dir of path>/<name>" into buf. */
static void sibling(const char *path, const char *name, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, cap, "%s", name);
    else
        snprintf(buf, cap, "%.*s/%s", (int)(slash - path), path, name);
}

/* Apply the tokenizer_config.json beside path to *out, if there is one;
 * frees *out on failure. */
static lqmf_status with_config(const char *path, lqmf_status st, lqmf_tokenizer **out) {
    char *cfg = NULL, cfg_path[4096];
    size_t cn;
    sibling(path, "tokenizer_config.json", cfg_path, sizeof cfg_path);
    if (!st && is_file(cfg_path) && !(st = lqmf_read_file(cfg_path, CONFIG_MAX_BYTES, &cfg, &cn)))
        st = tok_apply_config(*out, cfg, cn, cfg_path);
    free(cfg);
    if (st) {
        lqmf_tok_free(*out);
        *out = NULL;
    }
    return st;
}

static lqmf_status open_json(const char *path, lqmf_tokenizer **out) {
    char *json = NULL;
    size_t n;
    lqmf_status st = lqmf_read_file(path, TOK_MAX_FILE_BYTES, &json, &n);
    if (!st) st = lqmf_tok_load_hf_json(json, n, NULL, 0, path, out);
    free(json);
    return ends_with(path, "tokenizer.json") ? with_config(path, st, out) : st;
}

static lqmf_status open_spm(const char *path, lqmf_tokenizer **out) {
    char *data = NULL;
    size_t n;
    lqmf_status st = lqmf_read_file(path, TOK_MAX_FILE_BYTES, &data, &n);
    if (!st) st = lqmf_tok_load_spm((const uint8_t *)data, n, path, out);
    free(data);
    return with_config(path, st, out);
}

static lqmf_status open_llama2c(const char *path, uint32_t n_vocab, lqmf_tokenizer **out) {
    char *data = NULL;
    size_t n;
    lqmf_status st = lqmf_read_file(path, TOK_MAX_FILE_BYTES, &data, &n);
    if (!st) st = lqmf_tok_load_llama2c((const uint8_t *)data, n, n_vocab, path, out);
    free(data);
    return st;
}

static lqmf_status open_folder(const char *dir, lqmf_tokenizer **out) {
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if (is_file(p)) return open_json(p, out);
    snprintf(p, sizeof p, "%s/tokenizer.model", dir);
    if (is_file(p)) return open_spm(p, out);
    static const char *const gpt2[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int k = 0; k < 2; k++) {
        char m[4096];
        snprintf(p, sizeof p, "%s/%s", dir, gpt2[k][0]);
        snprintf(m, sizeof m, "%s/%s", dir, gpt2[k][1]);
        if (is_file(p) && is_file(m)) return with_config(p, tok_load_gpt2_files(p, m, out), out);
    }
    return lqmf_error(LQMF_E_NOT_FOUND,
                      "%s: no tokenizer.json, tokenizer.model, vocab.json + merges.txt or "
                      "encoder.json + vocab.bpe in this folder",
                      dir);
}

lqmf_status lqmf_tok_open(const char *path, lqmf_tokenizer **out) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lqmf_error(errno == ENOENT ? LQMF_E_NOT_FOUND : LQMF_E_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return open_folder(path, out);
    uint8_t head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return lqmf_error(LQMF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got >= 4 && memcmp(head, "GGUF", 4) == 0) return tok_open_gguf_path(path, out);
    size_t k = 0;
    while (k < got && (head[k] == ' ' || head[k] == '\n' || head[k] == '\r' || head[k] == '\t')) k++;
    if (ends_with(path, ".json") || (k < got && head[k] == '{')) return open_json(path, out);
    if (ends_with(path, ".model")) return open_spm(path, out);
    if (ends_with(path, ".bin")) return open_llama2c(path, 0, out);
    /* no telling name: a protobuf ModelProto starts with field 1, type LEN */
    if (got && head[0] == 0x0a && open_spm(path, out) == LQMF_OK) return LQMF_OK;
    return open_llama2c(path, 0, out);
}

lqmf_status lqmf_tok_open_model(const lqmf_model *m, lqmf_tokenizer **out) {
    *out = NULL;
    if (m->tok_source == LQMF_TOK_NONE || !m->tok_path)
        return lqmf_error(LQMF_E_NOT_FOUND, "%s: the model has no tokenizer file",
                          m->path ? m->path : "model");
    lqmf_status st;
    switch (m->tok_source) {
    case LQMF_TOK_HF_JSON: st = open_json(m->tok_path, out); break;
    case LQMF_TOK_SPM: st = open_spm(m->tok_path, out); break;
    case LQMF_TOK_GGUF: st = tok_open_gguf_path(m->tok_path, out); break;
    case LQMF_TOK_LLAMA2C: st = open_llama2c(m->tok_path, m->hp.n_vocab, out); break;
    default: st = lqmf_error(LQMF_E_INVALID, "model tokenizer source %d is unknown", (int)m->tok_source);
    }
    if (st) return st;
    lqmf_tokenizer *t = *out;
    if (t->bos < 0 && m->hp.bos_id >= 0 && (uint32_t)m->hp.bos_id < t->n) t->bos = m->hp.bos_id;
    if (t->eos < 0 && m->hp.eos_id >= 0 && (uint32_t)m->hp.eos_id < t->n) t->eos = m->hp.eos_id;
    return LQMF_OK;
}
