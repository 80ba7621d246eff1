/* Weight quantizers per type (private): lqmf_q_<type>(x, y, n, imatrix)
 * quantizes x[n] (n a multiple of the block size) into blocks at y, with
 * the search of search.h; imatrix is NULL or n importances. */
#ifndef LQMF_QUANT_QUANTIZERS_H
#define LQMF_QUANT_QUANTIZERS_H

#include <stdint.h>

#define LQMF_Q_DECLARE(t) void lqmf_q_##t(const float *x, void *y, int64_t n, const float *imatrix)
LQMF_Q_DECLARE(q4_0);
LQMF_Q_DECLARE(q4_1);
LQMF_Q_DECLARE(q5_0);
LQMF_Q_DECLARE(q5_1);
LQMF_Q_DECLARE(q8_0);
LQMF_Q_DECLARE(iq4_nl);
LQMF_Q_DECLARE(q2_K);
LQMF_Q_DECLARE(q3_K);
LQMF_Q_DECLARE(q4_K);
LQMF_Q_DECLARE(q5_K);
LQMF_Q_DECLARE(q6_K);
LQMF_Q_DECLARE(iq4_xs);
LQMF_Q_DECLARE(q8_K);

#endif
