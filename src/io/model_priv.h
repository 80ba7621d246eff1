/* Internals shared by the model loaders (src/io). */
#ifndef LQMF_IO_MODEL_PRIV_H
#define LQMF_IO_MODEL_PRIV_H

#include "lqmf/model.h"

struct lqmf_model_priv {
    void **owned;     /* malloc'd buffers freed on close */
    size_t n_owned;
    lqmf_map *maps;   /* file mappings unmapped on close */
    size_t n_maps;
    void (*cleanup)(void *); /* loader-specific release (e.g. a parsed file), may be NULL */
    void *cleanup_arg;
};

/* Hand a malloc'd buffer to the model (freed on close; freed now on failure). */
lqmf_status lqmf_model_own(lqmf_model *m, void *p);

#endif
