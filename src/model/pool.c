/* A fixed thread pool for the forward pass. Workers wait for a new
 * generation number, spinning briefly first (dispatches come every few
 * microseconds during decoding), then sleeping on a condition variable. */
#include "mm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ROUNDS 2000

struct lqmf_pool {
    uint32_t n;         /* threads including the caller */
    pthread_t *threads; /* n - 1 workers */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint_fast64_t gen; /* bumped (under mu) for each dispatch */
    atomic_uint pending;      /* workers still running the current dispatch */
    lqmf_pool_fn fn;
    void *ctx;
    bool quit;
};

typedef struct {
    lqmf_pool *p;
    uint32_t ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    lqmf_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->gen) == seen; i++) cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->gen) == seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
        bool quit = p->quit;
        seen = atomic_load(&p->gen);
        lqmf_pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        if (quit) return NULL;
        fn(ctx, wa.ith, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

lqmf_status lqmf_pool_new(uint32_t n_threads, lqmf_pool **out) {
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    lqmf_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->threads = calloc(n_threads, sizeof *p->threads))) {
        free(p);
        return lqmf_error(LQMF_E_NOMEM, "thread pool: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n = 1;
    for (uint32_t i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){p, i};
        if (!wa || pthread_create(&p->threads[i - 1], NULL, worker, wa) != 0) {
            free(wa);
            lqmf_pool_free(p);
            return lqmf_error(LQMF_E_NOMEM, "thread pool: cannot start thread %u of %u", i, n_threads);
        }
        p->n++;
    }
    *out = p;
    return LQMF_OK;
}

void lqmf_pool_free(lqmf_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (uint32_t i = 1; i < p->n; i++) pthread_join(p->threads[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

uint32_t lqmf_pool_size(const lqmf_pool *p) { return p->n; }

void lqmf_pool_run(lqmf_pool *p, lqmf_pool_fn fn, void *ctx, uint64_t work) {
    if (p->n == 1 || work < LQMF_POOL_MIN_WORK) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->pending) != 0; i++) cpu_relax();
    if (atomic_load(&p->pending) == 0) return;
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
