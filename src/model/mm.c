/* Matmul of f32 activations by weight tensors on the thread pool. Work is
 * handed out in units of MM_ROWS output rows of one job through an atomic
 * counter (threads on a busy machine finish at different speeds). Within a
 * unit, each group of up to four tokens meets every row of the unit in tiles
 * of 3 rows x 4 tokens: the group's activations stay in L1 and the unit's
 * rows in L2. Quantized weights: the activations are converted once, before
 * the dispatch, then go through the type's tiles of LQMF_QUANT_TILE rows x
 * up to LQMF_QUANT_TILE tokens (one token too: the tiles decode several
 * rows at once or fall back to one vec_dot per row). */
#include "mm.h"

#include <stdatomic.h>

#define MM_ROWS 24 /* a multiple of LQMF_DOT_NR and of LQMF_QUANT_TILE */

typedef struct {
    const lqmf_mm_kernels *k;
    const lqmf_mm_job *jobs;
    uint32_t n_jobs, n_tok;
    uint64_t row_bytes[LQMF_MM_MAX_JOBS];
    const lqmf_quant_traits *qt[LQMF_MM_MAX_JOBS]; /* quantized jobs, else NULL */
    const uint8_t *xq[LQMF_MM_MAX_JOBS];       /* their activations, xq_bytes per token */
    uint64_t xq_bytes[LQMF_MM_MAX_JOBS];
    uint64_t first_unit[LQMF_MM_MAX_JOBS + 1]; /* prefix sums of units per job */
    atomic_uint_fast64_t next;
} mm_ctx;

static void mm_unit(const mm_ctx *c, uint32_t jb, uint64_t r0, uint64_t r1) {
    const lqmf_mm_job *j = &c->jobs[jb];
    const size_t n_in = j->w->ne[0], n_out = j->w->ne[1], rb = c->row_bytes[jb];
    const lqmf_dot_fn dot = c->k->dot[j->w->type];
    const uint8_t *w = (const uint8_t *)j->w->data;
    const lqmf_quant_traits *qt = c->qt[jb];
    if (qt) {
        const size_t xb = c->xq_bytes[jb];
        for (uint32_t t = 0; t < c->n_tok; t += LQMF_QUANT_TILE) {
            const uint32_t nx = c->n_tok - t < LQMF_QUANT_TILE ? c->n_tok - t : LQMF_QUANT_TILE;
            for (uint64_t r = r0; r < r1; r += LQMF_QUANT_TILE) {
                const uint32_t nr = r1 - r < LQMF_QUANT_TILE ? (uint32_t)(r1 - r) : LQMF_QUANT_TILE;
                qt->vec_dot_tile((int64_t)n_in, w + r * rb, rb, (int)nr, c->xq[jb] + t * xb, xb, (int)nx,
                                 j->y + (size_t)t * n_out + r, n_out);
            }
        }
        return;
    }
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

bool lqmf_mm_supported(const lqmf_mm_kernels *k, lqmf_type t) {
    if ((unsigned)t < LQMF_TYPE_COUNT && k->dot[t]) return true;
    const lqmf_quant_traits *tr = lqmf_quant_traits_isa(t, k->id);
    return tr && tr->vec_dot && lqmf_quant_traits_isa(tr->vec_dot_type, k->id) &&
           lqmf_quant_traits_isa(tr->vec_dot_type, k->id)->from_float;
}

uint64_t lqmf_mm_scratch(const lqmf_mm_kernels *k, lqmf_type t, uint64_t n_in, uint32_t n_tok) {
    uint64_t rb = 0;
    if (k->dot[t] || !lqmf_type_row_bytes(lqmf_quant_traits_isa(t, k->id)->vec_dot_type, n_in, &rb)) return 0;
    return rb * n_tok;
}

void lqmf_mm(lqmf_pool *p, const lqmf_mm_kernels *k, const lqmf_mm_job *jobs, uint32_t n_jobs, uint32_t n_tok,
             void *scratch) {
    mm_ctx c = {.k = k, .jobs = jobs, .n_jobs = n_jobs, .n_tok = n_tok};
    uint8_t *sp = scratch;
    uint64_t work = 0;
    for (uint32_t i = 0; i < n_jobs; i++) {
        const lqmf_tensor *w = jobs[i].w;
        lqmf_type_row_bytes(w->type, w->ne[0], &c.row_bytes[i]); /* checked at model load */
        c.first_unit[i + 1] = c.first_unit[i] + (w->ne[1] + MM_ROWS - 1) / MM_ROWS;
        work += w->ne[0] * w->ne[1] * n_tok;
        if (k->dot[w->type]) continue;
        const lqmf_quant_traits *tr = lqmf_quant_traits_isa(w->type, k->id);
        c.qt[i] = tr;
        lqmf_type_row_bytes(tr->vec_dot_type, w->ne[0], &c.xq_bytes[i]);
        for (uint32_t e = 0; e < i && !c.xq[i]; e++) /* same input, same conversion: share */
            if (c.qt[e] && jobs[e].x == jobs[i].x &&
                lqmf_quant_traits_isa(jobs[e].w->type, k->id)->vec_dot_type == tr->vec_dot_type)
                c.xq[i] = c.xq[e];
        if (c.xq[i]) continue;
        const lqmf_from_float_fn from_float = lqmf_quant_traits_isa(tr->vec_dot_type, k->id)->from_float;
        for (uint32_t t = 0; t < n_tok; t++)
            from_float(jobs[i].x + (size_t)t * w->ne[0], sp + t * c.xq_bytes[i], (int64_t)w->ne[0]);
        c.xq[i] = sp;
        sp += n_tok * c.xq_bytes[i];
    }
    atomic_init(&c.next, 0);
    lqmf_pool_run(p, mm_worker, &c, work);
}
