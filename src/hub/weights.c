/* Parameter counts and dtypes of a repository's safetensors weights, from
 * their headers alone (two Range requests per file). */
#include "hub_priv.h"

#include <stdlib.h>
#include <string.h>

lqmf_status lqmf_hub_safetensors_open(lqmf_hub *h, const lqmf_hub_repo *r, const char *path,
                                      lqmf_safetensors **out) {
    *out = NULL;
    uint8_t *hdr;
    size_t len;
    lqmf_status st = lqmf_hub_safetensors_header(h, r, path, &hdr, &len);
    if (st != LQMF_OK) return st;
    char *label = hub_fmt("%s of %s@%s", path, r->repo_id, r->revision);
    const lqmf_hub_file *f = lqmf_hub_repo_find(r, path);
    st = label ? lqmf_st_parse_header(hdr, len, f->size, label, out, NULL)
               : lqmf_error(LQMF_E_NOMEM, "out of memory");
    free(label);
    free(hdr);
    return st;
}

static bool is_safetensors(const char *path) {
    size_t n = strlen(path);
    return n > 12 && strcmp(path + n - 12, ".safetensors") == 0;
}

lqmf_status lqmf_hub_weights_info(lqmf_hub *h, const lqmf_hub_repo *r, const bool *selected,
                                  lqmf_hub_weights *out) {
    memset(out, 0, sizeof *out);
    bool *def = NULL;
    lqmf_status st = LQMF_OK;
    if (!selected) {
        size_t n;
        def = calloc(r->n_files + 1, sizeof *def);
        st = def ? lqmf_hub_select(r, NULL, 0, def, &n) : lqmf_error(LQMF_E_NOMEM, "out of memory");
        selected = def;
    }
    for (size_t i = 0; st == LQMF_OK && i < r->n_files; i++) {
        if (!selected[i] || !is_safetensors(r->files[i].path)) continue;
        lqmf_safetensors *sf;
        st = lqmf_hub_safetensors_open(h, r, r->files[i].path, &sf);
        if (st != LQMF_OK) break;
        out->n_files++;
        for (size_t k = 0; k < lqmf_st_n_tensors(sf); k++) {
            const lqmf_st_tensor *t = lqmf_st_tensor_at(sf, k);
            out->n_tensors++;
            out->n_params += t->n_elems;
            out->n_bytes += t->nbytes;
            out->params_by_dtype[t->dtype] += t->n_elems;
        }
        lqmf_st_close(sf);
    }
    free(def);
    if (st == LQMF_OK && out->n_files == 0)
        st = lqmf_error(LQMF_E_NOT_FOUND, "%s@%s: no safetensors weights among the chosen files", r->repo_id,
                        r->revision);
    return st;
}
