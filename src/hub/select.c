/* Which files of a repository a model needs: config and tokenizer files and
 * the weights in one format, or exactly what the user's globs match. */
#include "hub_priv.h"

#include <fnmatch.h>
#include <string.h>

static const char *const k_support[] = {
    "config.json",         "generation_config.json",
    "tokenizer.json",      "tokenizer_config.json",
    "tokenizer.model",     "special_tokens_map.json",
    "added_tokens.json",   "vocab.json",
    "merges.txt",          "vocab.txt",
    "chat_template.json",  "chat_template.jinja",
    "adapter_config.json", "preprocessor_config.json",
};

/* Weight formats by preference: the first group with a matching file wins. */
static const char *const k_weights[][3] = {
    {"model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json"},
    {"*.safetensors", "*.safetensors.index.json", NULL},
    {"pytorch_model.bin", "pytorch_model-*-of-*.bin", "pytorch_model.bin.index.json"},
};
#define N_FORMATS (sizeof k_weights / sizeof k_weights[0])

static bool is_support(const char *path) {
    for (size_t i = 0; i < sizeof k_support / sizeof k_support[0]; i++)
        if (strcmp(path, k_support[i]) == 0) return true;
    return false;
}

static bool in_format(const char *path, size_t fmt) {
    if (strchr(path, '/')) return false; /* top level only */
    for (size_t k = 0; k < 3 && k_weights[fmt][k]; k++)
        if (fnmatch(k_weights[fmt][k], path, 0) == 0) return true;
    return false;
}

static lqmf_status no_weights(const lqmf_hub_repo *r) {
    lqmf_buf b;
    lqmf_buf_init(&b);
    size_t shown = 0;
    for (size_t i = 0; i < r->n_files && shown < 8; i++) {
        if (is_support(r->files[i].path)) continue;
        lqmf_buf_printf(&b, "%s%s", shown++ ? ", " : "", r->files[i].path);
    }
    if (shown == 8) lqmf_buf_printf(&b, ", ...");
    lqmf_buf_append(&b, "", 1);
    lqmf_status st = lqmf_error(LQMF_E_NOT_FOUND,
                                "%s@%s: no safetensors or pytorch_model*.bin weights at the top "
                                "level; name the files with --include (it has: %s)",
                                r->repo_id, r->revision,
                                b.failed ? "?"
                                : shown  ? (const char *)b.data
                                         : "nothing else");
    lqmf_buf_free(&b);
    return st;
}

lqmf_status lqmf_hub_select(const lqmf_hub_repo *r, const char *const *globs, size_t n_globs, bool *selected,
                            size_t *n_selected) {
    *n_selected = 0;
    if (n_globs) {
        for (size_t i = 0; i < r->n_files; i++) {
            selected[i] = false;
            for (size_t g = 0; g < n_globs && !selected[i]; g++)
                selected[i] = fnmatch(globs[g], r->files[i].path, 0) == 0;
            *n_selected += selected[i];
        }
        if (*n_selected) return LQMF_OK;
        return lqmf_error(LQMF_E_NOT_FOUND, "%s@%s: no file matches %s%s", r->repo_id, r->revision, globs[0],
                          n_globs > 1 ? " or the other patterns" : "");
    }
    size_t fmt = 0;
    for (; fmt < N_FORMATS; fmt++) {
        size_t i = 0;
        while (i < r->n_files && !in_format(r->files[i].path, fmt)) i++;
        if (i < r->n_files) break;
    }
    if (fmt == N_FORMATS) return no_weights(r);
    for (size_t i = 0; i < r->n_files; i++) {
        selected[i] = is_support(r->files[i].path) || in_format(r->files[i].path, fmt);
        *n_selected += selected[i];
    }
    return LQMF_OK;
}
