/* Matmul of f32 activations by weight tensors on the thread pool. Work is
 * handed out in units of MM_ROWS output rows of one job through an atomic
 * counter (threads on a busy machine finish at different speeds). Within a
 * unit, each group of up to four tokens meets every row of the unit in tiles
 * of 3 rows x 4 tokens: the group's activations stay in L1 and the unit's
 * rows in L2. */
#include "mm.h"

#include <stdatomic.h>

#define MM_ROWS 24 /* a multiple of LQMF_DOT_NR */

typedef struct {
    const lqmf_mm_kernels *k;
    const lqmf_mm_job *jobs;
    uint32_t n_jobs, n_tok;
    uint64_t row_bytes[LQMF_MM_MAX_JOBS];
    uint64_t first_unit[LQMF_MM_MAX_JOBS + 1]; /* prefix sums of units per job */
    atomic_uint_fast64_t next;
} mm_ctx;

static void mm_unit(const mm_ctx *c, uint32_t jb, uint64_t r0, uint64_t r1) {
    const lqmf_mm_job *j = &c->jobs[jb];
    const size_t n_in = j->w->ne[0], n_out = j->w->ne[1], rb = c->row_bytes[jb];
    const lqmf_dot_fn dot = c->k->dot[j->w->type];
    const uint8_t *w = (const uint8_t *)j->w->data;
    for (uint32_t t = 0; t < c->n_tok; t += LQMF_DOT_NX) {
        const uint32_t nx = c->n_tok - t < LQMF_DOT_NX ? c->n_tok - t : LQMF_DOT_NX;
        for (uint64_t r = r0; r < r1; r += LQMF_DOT_NR) {
            const uint32_t nr = r1 - r < LQMF_DOT_NR ? (uint32_t)(r1 - r) : LQMF_DOT_NR;
            dot(n_in, w + r * rb, rb, nr, j->x + (size_t)t * n_in, n_in, nx, j->y + (size_t)t * n_out + r,
                n_out);
        }
    }
}

static void mm_worker(void *arg, uint32_t ith, uint32_t nth) {
    (void)ith, (void)nth;
    mm_ctx *c = arg;
    const uint64_t total = c->first_unit[c->n_jobs];
    for (uint64_t u; (u = atomic_fetch_add(&c->next, 1)) < total;) {
        uint32_t jb = 0;
        while (u >= c->first_unit[jb + 1]) jb++;
        const uint64_t r0 = (u - c->first_unit[jb]) * MM_ROWS, n_out = c->jobs[jb].w->ne[1];
        mm_unit(c, jb, r0, r0 + MM_ROWS < n_out ? r0 + MM_ROWS : n_out);
    }
}

void lqmf_mm(lqmf_pool *p, const lqmf_mm_kernels *k, const lqmf_mm_job *jobs, uint32_t n_jobs,
             uint32_t n_tok) {
    mm_ctx c = {.k = k, .jobs = jobs, .n_jobs = n_jobs, .n_tok = n_tok};
    for (uint32_t i = 0; i < n_jobs; i++) {
        const lqmf_tensor *w = jobs[i].w;
        lqmf_type_row_bytes(w->type, w->ne[0], &c.row_bytes[i]); /* checked at model load */
        c.first_unit[i + 1] = c.first_unit[i] + (w->ne[1] + MM_ROWS - 1) / MM_ROWS;
    }
    atomic_init(&c.next, 0);
    uint64_t work = 0;
    for (uint32_t i = 0; i < n_jobs; i++) work += jobs[i].w->ne[0] * jobs[i].w->ne[1] * n_tok;
    lqmf_pool_run(p, mm_worker, &c, work);
}
