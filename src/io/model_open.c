/* lqmf_model_open: pick the loader from what the path is. */
#include "model_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static bool has_suffix(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* First 4 bytes of path are "GGUF". */
static bool gguf_magic(const char *path) {
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

lqmf_status lqmf_model_open(const char *path, lqmf_model **out) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return lqmf_error(errno == ENOENT ? LQMF_E_NOT_FOUND : LQMF_E_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        if (access(cfg, F_OK) != 0)
            return lqmf_error(LQMF_E_NOT_FOUND,
                              "%s: a folder without config.json is not a Hugging Face "
                              "model",
                              path);
        return lqmf_hf_open(path, out);
    }
    if (gguf_magic(path) || has_suffix(path, ".gguf")) return lqmf_gguf_model_open(path, out);
    if (has_suffix(path, ".bin")) return lqmf_llama2c_open(path, out);
    return lqmf_error(LQMF_E_UNSUPPORTED,
                      "%s: not a model (expected a folder with config.json, a .gguf "
                      "file or a llama2.c .bin checkpoint)",
                      path);
}
