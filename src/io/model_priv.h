/* Internals shared by the model loaders (src/io). */
#ifndef LQMF_IO_MODEL_PRIV_H
#define LQMF_IO_MODEL_PRIV_H

#include "lqmf/model.h"

struct lqmf_model_priv {
    void **owned; /* malloc'd buffers freed on close */
    size_t n_owned;
    lqmf_map *maps; /* file mappings unmapped on close */
    size_t n_maps;
    void (*cleanup)(void *); /* loader-specific release (e.g. a parsed file), may be NULL */
    void *cleanup_arg;
    /* Source-format name of an internal tensor name, for messages about
     * tensors that are missing; NULL: messages use internal names. */
    bool (*source_name)(const lqmf_model *m, const char *name, char *out, size_t n);
};

/* Hand a malloc'd buffer to the model (freed on close; freed now on failure). */
lqmf_status lqmf_model_own(lqmf_model *m, void *p);
/* Move an open mapping into the model (unmapped on close; closed now on failure). */
lqmf_status lqmf_model_own_map(lqmf_model *m, lqmf_map *map);
/* lqmf_model_add_tensor, recording src_name (copied) as the source-file name. */
lqmf_status lqmf_model_add_tensor_src(lqmf_model *m, const char *src_name, const char *name, lqmf_type type,
                                      uint32_t n_dims, const uint64_t *ne, const void *data, bool own_data);

/* Format loaders (lqmf_model_open dispatches on the path). Each returns a
 * model that passed lqmf_model_validate. */
lqmf_status lqmf_hf_open(const char *dir, lqmf_model **out);
lqmf_status lqmf_gguf_model_open(const char *path, lqmf_model **out);
lqmf_status lqmf_llama2c_open(const char *path, lqmf_model **out);
/* The parsed GGUF file a model was opened from, NULL for other formats. */
const struct lqmf_gguf *lqmf_model_gguf_source(const lqmf_model *m);

#endif
