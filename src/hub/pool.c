/* Downloading a selection of files: a free-space check, worker threads
 * (n_parallel, each with its own curl handle) taking files from a shared
 * queue, progress reports from the calling thread, and the optional copy
 * into a plain folder. */
#include "hub_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#define RATE_WINDOW 16 /* progress samples kept for the speed (last few seconds) */

typedef struct {
    const lqmf_hub *h;
    const lqmf_hub_repo *r;
    const lqmf_hub_file **files; /* selected, in repo order */
    lqmf_hub_file_progress *prog;
    size_t n;
    uint64_t net_bytes; /* received over the network (atomic) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next;      /* next file to start (mu) */
    unsigned running; /* workers not yet finished (mu) */
    bool stop;        /* a file failed: start no more (mu) */
    lqmf_status st;   /* first failure (mu) */
    char *err;
} pool;

static void *worker(void *arg) {
    pool *pl = arg;
    CURL *c = hub_curl_new();
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        size_t i = pl->next;
        bool go = !pl->stop && i < pl->n;
        if (go) pl->next++;
        pthread_mutex_unlock(&pl->mu);
        if (!go) break;
        lqmf_status st = c ? hub_fetch(pl->h, c, pl->r, pl->files[i], &pl->prog[i], &pl->net_bytes)
                           : lqmf_error(LQMF_E_NETWORK, "cannot start libcurl");
        if (st != LQMF_OK) {
            __atomic_store_n(&pl->prog[i].state, LQMF_HUB_FAILED, __ATOMIC_RELAXED);
            pthread_mutex_lock(&pl->mu);
            if (!pl->err) {
                pl->st = st;
                pl->err = strdup(lqmf_last_error());
            }
            pl->stop = true;
            pthread_mutex_unlock(&pl->mu);
        }
    }
    if (c) curl_easy_cleanup(c);
    pthread_mutex_lock(&pl->mu);
    pl->running--;
    pthread_cond_signal(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

typedef struct {
    double t[RATE_WINDOW];
    uint64_t bytes[RATE_WINDOW];
    unsigned n, head;
} rate_meter;

/* Bytes/s between the oldest kept sample and now. */
static double rate_add(rate_meter *m, double t, uint64_t bytes) {
    unsigned oldest = m->n < RATE_WINDOW ? 0 : m->head;
    double rate = 0;
    if (m->n && t > m->t[oldest]) rate = (double)(bytes - m->bytes[oldest]) / (t - m->t[oldest]);
    m->t[m->head] = t;
    m->bytes[m->head] = bytes;
    m->head = (m->head + 1) % RATE_WINDOW;
    if (m->n < RATE_WINDOW) m->n++;
    return rate;
}

static void report(pool *pl, const lqmf_hub_download_options *o, lqmf_hub_file_progress *view, rate_meter *m,
                   double t0, bool final) {
    if (!o->progress) return;
    lqmf_hub_progress p = {.files = view, .n_files = pl->n, .final = final};
    for (size_t i = 0; i < pl->n; i++) {
        view[i].path = pl->prog[i].path;
        view[i].total = pl->prog[i].total;
        view[i].done = __atomic_load_n(&pl->prog[i].done, __ATOMIC_RELAXED);
        view[i].state = __atomic_load_n(&pl->prog[i].state, __ATOMIC_RELAXED);
        view[i].retries = __atomic_load_n(&pl->prog[i].retries, __ATOMIC_RELAXED);
        p.done += view[i].done;
        p.total += view[i].total;
    }
    double now = lqmf_time_now();
    p.elapsed_s = now - t0;
    p.rate = rate_add(m, now, __atomic_load_n(&pl->net_bytes, __ATOMIC_RELAXED));
    p.eta_s = p.rate > 0 ? (double)(p.total - p.done) / p.rate : -1;
    o->progress(o->progress_user, &p);
}

/* Bytes still to fetch for f: 0 when cached, less what an .incomplete holds. */
static uint64_t bytes_needed(const lqmf_hub_repo *r, const lqmf_hub_file *f) {
    if (hub_cache_has(r, f)) return 0;
    char *blob = hub_fmt("%s/blobs/%s", r->repo_dir, hub_file_etag(f));
    char *part = blob ? hub_fmt("%s.incomplete", blob) : NULL;
    struct stat st;
    uint64_t need = f->size;
    if (blob && stat(blob, &st) == 0 && (uint64_t)st.st_size == f->size)
        need = 0;
    else if (part && stat(part, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= f->size)
        need = f->size - (uint64_t)st.st_size;
    free(part);
    free(blob);
    return need;
}

static lqmf_status check_space(const lqmf_hub *h, const pool *pl) {
    uint64_t need = 0;
    for (size_t i = 0; i < pl->n; i++) need += bytes_needed(pl->r, pl->files[i]);
    if (need == 0) return LQMF_OK;
    lqmf_status st = hub_mkdirs(h->cache_dir);
    struct statvfs vfs;
    if (st != LQMF_OK) return st;
    if (statvfs(h->cache_dir, &vfs) != 0)
        return lqmf_error(LQMF_E_IO, "%s: cannot query free space: %s", h->cache_dir, strerror(errno));
    uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (avail < need) {
        char a[32], b[32];
        return lqmf_error(LQMF_E_IO, "not enough disk space in %s: %s/%s needs %s more, %s free",
                          h->cache_dir, pl->r->repo_id, pl->r->revision, lqmf_fmt_bytes(need, a, sizeof a),
                          lqmf_fmt_bytes(avail, b, sizeof b));
    }
    return LQMF_OK;
}

static lqmf_status run_pool(const lqmf_hub *h, pool *pl, const lqmf_hub_download_options *o) {
    size_t nw = h->opt.n_parallel < pl->n ? h->opt.n_parallel : pl->n;
    pthread_t *tids = calloc(nw ? nw : 1, sizeof *tids);
    lqmf_hub_file_progress *view = calloc(pl->n ? pl->n : 1, sizeof *view);
    if (!tids || !view) {
        free(tids);
        free(view);
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    double t0 = lqmf_time_now();
    double interval = o->progress_interval_s > 0 ? o->progress_interval_s : 0.2;
    rate_meter meter = {0};
    size_t started = 0;
    pthread_mutex_lock(&pl->mu);
    for (; started < nw; started++) {
        pl->running++;
        if (pthread_create(&tids[started], NULL, worker, pl) != 0) {
            pl->running--;
            break;
        }
    }
    pthread_mutex_unlock(&pl->mu);
    if (started == 0) { /* no thread could start: do the work here */
        pl->running = 1;
        worker(pl);
    }
    report(pl, o, view, &meter, t0, false);
    pthread_mutex_lock(&pl->mu);
    while (pl->running) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double when = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + interval;
        ts.tv_sec = (time_t)when;
        ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&pl->cv, &pl->mu, &ts);
        pthread_mutex_unlock(&pl->mu);
        report(pl, o, view, &meter, t0, false);
        pthread_mutex_lock(&pl->mu);
    }
    pthread_mutex_unlock(&pl->mu);
    for (size_t i = 0; i < started; i++) pthread_join(tids[i], NULL);
    report(pl, o, view, &meter, t0, true);
    free(view);
    free(tids);
    if (pl->st != LQMF_OK) return lqmf_error(pl->st, "%s", pl->err ? pl->err : "download failed");
    return LQMF_OK;
}

/* Copy the snapshot file of f into dir/{path} (a plain file, atomically). */
static lqmf_status copy_out(const lqmf_hub_repo *r, const lqmf_hub_file *f, const char *dir) {
    char *src = hub_snapshot_path(r, f->path);
    char *dst = hub_fmt("%s/%s", dir, f->path);
    FILE *in = src ? fopen(src, "rb") : NULL;
    lqmf_status st = LQMF_OK;
    if (!src || !dst)
        st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    else if (!in)
        st = lqmf_error(LQMF_E_IO, "%s: cannot open: %s", src, strerror(errno));
    if (st == LQMF_OK) st = hub_mkdirs_parent(dst);
    lqmf_afile out;
    if (st == LQMF_OK) st = lqmf_afile_open(&out, dst);
    if (st == LQMF_OK) {
        char buf[1 << 16];
        size_t n;
        while (st == LQMF_OK && (n = fread(buf, 1, sizeof buf, in)) > 0) st = lqmf_afile_write(&out, buf, n);
        if (st == LQMF_OK && ferror(in)) st = lqmf_error(LQMF_E_IO, "%s: read error", src);
        if (st == LQMF_OK)
            st = lqmf_afile_commit(&out);
        else
            lqmf_afile_abort(&out);
    }
    if (in) fclose(in);
    free(src);
    free(dst);
    return st;
}

lqmf_status lqmf_hub_download(lqmf_hub *h, const lqmf_hub_repo *r, const bool *selected,
                              const lqmf_hub_download_options *o) {
    lqmf_hub_download_options none = {0};
    if (!o) o = &none;
    pool pl = {.h = h, .r = r, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pl.files = calloc(r->n_files ? r->n_files : 1, sizeof *pl.files);
    pl.prog = calloc(r->n_files ? r->n_files : 1, sizeof *pl.prog);
    if (!pl.files || !pl.prog) {
        free(pl.files);
        free(pl.prog);
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_files; i++) {
        if (selected && !selected[i]) continue;
        pl.files[pl.n] = &r->files[i];
        pl.prog[pl.n] = (lqmf_hub_file_progress){.path = r->files[i].path, .total = r->files[i].size};
        pl.n++;
    }
    lqmf_status st = h->offline ? LQMF_OK : check_space(h, &pl);
    if (st == LQMF_OK) st = run_pool(h, &pl, o);
    for (size_t i = 0; st == LQMF_OK && o->local_dir && i < pl.n; i++)
        st = copy_out(r, pl.files[i], o->local_dir);
    free(pl.err);
    free(pl.files);
    free(pl.prog);
    pthread_mutex_destroy(&pl.mu);
    pthread_cond_destroy(&pl.cv);
    return st;
}
