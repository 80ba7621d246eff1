/* Building an importance matrix entry by entry (private to src/quant). */
#ifndef LQMF_QUANT_IMATRIX_PRIV_H
#define LQMF_QUANT_IMATRIX_PRIV_H

#include "lqmf/quantize.h"

/* An empty matrix whose dataset is the given text; NULL when out of memory. */
lqmf_imatrix *lqmf_imatrix_new(const char *dataset);
/* The entry of weight `name`: n mean squares (stored as sums over one row). */
lqmf_status lqmf_imatrix_put(lqmf_imatrix *im, const char *name, const float *v, uint64_t n);

#endif
