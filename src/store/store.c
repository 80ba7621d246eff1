/* Experiment store: the interface, validation of records, the experiment
 * lifecycle (begin -> update -> finish, interrupted detection on open) and
 * dispatch to the SQLite or JSON backend. */
#include "store/store_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- names ------------------------------------------------------------------ */

static const char *const k_state_names[] = { "running", "succeeded", "failed", "interrupted" };

const char *lqmf_store_state_name(lqmf_store_state st) {
    return (unsigned)st < 4 ? k_state_names[st] : "?";
}

bool lqmf_store_state_from_name(const char *name, lqmf_store_state *out) {
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, k_state_names[i]) == 0) {
            *out = (lqmf_store_state)i;
            return true;
        }
    return false;
}

const char *lqmf_store_backend_name(lqmf_store_backend b) {
    return b == LQMF_STORE_JSON ? "json" : "sqlite";
}

bool lqmf_store_backend_from_name(const char *name, lqmf_store_backend *out) {
    if (name && strcmp(name, "sqlite") == 0) *out = LQMF_STORE_SQLITE;
    else if (name && strcmp(name, "json") == 0) *out = LQMF_STORE_JSON;
    else return false;
    return true;
}

char *lqmf_store_default_path(lqmf_store_backend b) {
    const char *home = getenv("LQMF_HOME");
    const char *dir = home && *home ? home : ".lqmf";
    const char *file = b == LQMF_STORE_JSON ? "experiments.json" : "experiments.db";
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

/* ---- messages ----------------------------------------------------------------- */

lqmf_status lqmf_store_missing_ref(const lqmf_store *s, const char *table, const char *field,
                                   int64_t id) {
    return lqmf_error(LQMF_E_INVALID, "%s: %s.%s = %lld names no record of the store", s->path,
                      table, field, (long long)id);
}

lqmf_status lqmf_store_no_experiment(const lqmf_store *s, int64_t id) {
    return lqmf_error(LQMF_E_NOT_FOUND, "%s: no experiment %lld", s->path, (long long)id);
}

lqmf_status lqmf_store_not_running(const lqmf_store *s, int64_t id, lqmf_store_state state) {
    return lqmf_error(LQMF_E_STATE, "%s: experiment %lld is %s, not running", s->path,
                      (long long)id, lqmf_store_state_name(state));
}

lqmf_status lqmf_store_still_running(const lqmf_store *s, int64_t id) {
    return lqmf_error(LQMF_E_STATE, "%s: experiment %lld is running; it can be forgotten once it "
                      "ends", s->path, (long long)id);
}

lqmf_status lqmf_store_nomem(const lqmf_store *s) {
    return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", s->path);
}

double lqmf_store_unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- records ------------------------------------------------------------------ */

/* Owned copy of s (NULL reads as ""); *ok cleared when out of memory. */
static char *dup_text(const char *s, bool *ok) {
    char *d = strdup(s ? s : "");
    if (!d) *ok = false;
    return d;
}

bool lqmf_store_model_copy(lqmf_store_model *dst, const lqmf_store_model *src) {
    bool ok = true;
    *dst = *src;
    dst->source = dup_text(src->source, &ok);
    dst->revision = dup_text(src->revision, &ok);
    dst->architecture = dup_text(src->architecture, &ok);
    if (!ok) lqmf_store_model_clear(dst);
    return ok;
}

bool lqmf_store_artifact_copy(lqmf_store_artifact *dst, const lqmf_store_artifact *src) {
    bool ok = true;
    *dst = *src;
    dst->path = dup_text(src->path, &ok);
    dst->format = dup_text(src->format, &ok);
    dst->method = dup_text(src->method, &ok);
    dst->sha256 = dup_text(src->sha256, &ok);
    if (!ok) lqmf_store_artifact_clear(dst);
    return ok;
}

bool lqmf_store_experiment_copy(lqmf_store_experiment *dst, const lqmf_store_experiment *src) {
    bool ok = true;
    *dst = *src;
    dst->request = dup_text(src->request, &ok);
    dst->plan = dup_text(src->plan, &ok);
    dst->error = dup_text(src->error, &ok);
    dst->host = dup_text(src->host, &ok);
    dst->host_info = dup_text(src->host_info, &ok);
    dst->proc_token = dup_text(src->proc_token, &ok);
    if (!ok) lqmf_store_experiment_clear(dst);
    return ok;
}

bool lqmf_store_evaluation_copy(lqmf_store_evaluation *dst, const lqmf_store_evaluation *src) {
    bool ok = true;
    *dst = *src;
    dst->metric = dup_text(src->metric, &ok);
    dst->unit = dup_text(src->unit, &ok);
    dst->protocol = dup_text(src->protocol, &ok);
    if (!ok) lqmf_store_evaluation_clear(dst);
    return ok;
}

void lqmf_store_model_clear(lqmf_store_model *m) {
    free((void *)m->source);
    free((void *)m->revision);
    free((void *)m->architecture);
    memset(m, 0, sizeof *m);
}

void lqmf_store_artifact_clear(lqmf_store_artifact *a) {
    free((void *)a->path);
    free((void *)a->format);
    free((void *)a->method);
    free((void *)a->sha256);
    memset(a, 0, sizeof *a);
}

void lqmf_store_experiment_clear(lqmf_store_experiment *e) {
    free((void *)e->request);
    free((void *)e->plan);
    free((void *)e->error);
    free((void *)e->host);
    free((void *)e->host_info);
    free((void *)e->proc_token);
    memset(e, 0, sizeof *e);
}

void lqmf_store_evaluation_clear(lqmf_store_evaluation *e) {
    free((void *)e->metric);
    free((void *)e->unit);
    free((void *)e->protocol);
    memset(e, 0, sizeof *e);
}

bool lqmf_store_push(void **items, size_t *n, size_t elem_size, const void *rec) {
    size_t cur = *n;
    bool grow = cur == 0 ? *items == NULL : cur >= 8 && (cur & (cur - 1)) == 0;
    if (grow) {
        size_t cap = cur == 0 ? 8 : cur * 2;
        uint64_t bytes;
        if (!lqmf_mul_u64(cap, elem_size, &bytes) || bytes > SIZE_MAX) return false;
        void *p = realloc(*items, (size_t)bytes);
        if (!p) return false;
        *items = p;
    }
    memcpy((char *)*items + cur * elem_size, rec, elem_size);
    *n = cur + 1;
    return true;
}

void lqmf_store_snapshot_free(lqmf_store_snapshot *snap) {
    if (!snap) return;
    for (size_t i = 0; i < snap->n_models; i++) lqmf_store_model_clear(&snap->models[i]);
    for (size_t i = 0; i < snap->n_artifacts; i++) lqmf_store_artifact_clear(&snap->artifacts[i]);
    for (size_t i = 0; i < snap->n_experiments; i++)
        lqmf_store_experiment_clear(&snap->experiments[i]);
    for (size_t i = 0; i < snap->n_evaluations; i++)
        lqmf_store_evaluation_clear(&snap->evaluations[i]);
    free(snap->models);
    free(snap->artifacts);
    free(snap->experiments);
    free(snap->evaluations);
    memset(snap, 0, sizeof *snap);
}

/* ---- validation of what callers pass in ------------------------------------------ */

static lqmf_status check_text(const lqmf_store *s, const char *what, const char *field,
                              const char *v, bool required) {
    if (!v) v = "";
    if (required && !*v)
        return lqmf_error(LQMF_E_INVALID, "%s: %s: %s is required", s->path, what, field);
    if (!lqmf_utf8_valid(v, strlen(v)))
        return lqmf_error(LQMF_E_INVALID, "%s: %s: %s is not valid UTF-8", s->path, what, field);
    return LQMF_OK;
}

/* Sizes are stored as signed 64-bit integers. */
static lqmf_status check_size(const lqmf_store *s, const char *what, const char *field,
                              uint64_t v) {
    if (v > (uint64_t)INT64_MAX)
        return lqmf_error(LQMF_E_INVALID, "%s: %s: %s = %llu is too large", s->path, what, field,
                          (unsigned long long)v);
    return LQMF_OK;
}

static lqmf_status check_ref(const lqmf_store *s, const char *what, const char *field, int64_t v) {
    if (v < 0)
        return lqmf_error(LQMF_E_INVALID, "%s: %s: %s = %lld is negative", s->path, what, field,
                          (long long)v);
    return LQMF_OK;
}

static bool is_sha256_hex(const char *v) {
    if (!v || !*v) return true;
    if (strlen(v) != 64) return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

#define TRY(expr)                                                                  \
    do {                                                                           \
        lqmf_status st_ = (expr);                                                  \
        if (st_ != LQMF_OK) return st_;                                            \
    } while (0)

static lqmf_status check_model(const lqmf_store *s, const lqmf_store_model *m) {
    TRY(check_text(s, "model", "source", m->source, true));
    TRY(check_text(s, "model", "revision", m->revision, false));
    TRY(check_text(s, "model", "architecture", m->architecture, false));
    TRY(check_size(s, "model", "n_params", m->n_params));
    return check_size(s, "model", "size_bytes", m->size_bytes);
}

static lqmf_status check_artifact(const lqmf_store *s, const lqmf_store_artifact *a) {
    TRY(check_ref(s, "artifact", "model_id", a->model_id));
    TRY(check_text(s, "artifact", "path", a->path, true));
    TRY(check_text(s, "artifact", "format", a->format, true));
    TRY(check_text(s, "artifact", "method", a->method, true));
    if (!isfinite(a->bits_per_weight) || a->bits_per_weight < 0)
        return lqmf_error(LQMF_E_INVALID, "%s: artifact %s: bits_per_weight = %g is not a size",
                          s->path, a->path, a->bits_per_weight);
    if (!is_sha256_hex(a->sha256))
        return lqmf_error(LQMF_E_INVALID,
                          "%s: artifact %s: sha256 \"%.80s\" is not 64 lower-case hex digits",
                          s->path, a->path, a->sha256);
    return check_size(s, "artifact", "size_bytes", a->size_bytes);
}

static lqmf_status check_evaluation(const lqmf_store *s, const lqmf_store_evaluation *e) {
    TRY(check_ref(s, "evaluation", "experiment_id", e->experiment_id));
    TRY(check_ref(s, "evaluation", "model_id", e->model_id));
    TRY(check_ref(s, "evaluation", "artifact_id", e->artifact_id));
    TRY(check_text(s, "evaluation", "metric", e->metric, true));
    TRY(check_text(s, "evaluation", "unit", e->unit, false));
    TRY(check_text(s, "evaluation", "protocol", e->protocol, true));
    if (!isfinite(e->value))
        return lqmf_error(LQMF_E_INVALID, "%s: evaluation %s: value %g is not finite", s->path,
                          e->metric, e->value);
    return LQMF_OK;
}

/* The fields lqmf_store_update may change. */
static lqmf_status check_progress(const lqmf_store *s, const lqmf_store_experiment *e) {
    TRY(check_text(s, "experiment", "plan", e->plan, false));
    TRY(check_ref(s, "experiment", "model_id", e->model_id));
    return check_ref(s, "experiment", "artifact_id", e->artifact_id);
}

static lqmf_status check_experiment(const lqmf_store *s, const lqmf_store_experiment *e) {
    TRY(check_text(s, "experiment", "request", e->request, true));
    TRY(check_text(s, "experiment", "host_info", e->host_info, false));
    return check_progress(s, e);
}

/* ---- processes ------------------------------------------------------------------- */

/* State letter and start time (clock ticks after boot) of pid from
 * /proc/<pid>/stat; false when unreadable. */
static bool proc_stat(int64_t pid, char *state, unsigned long long *start_ticks) {
    char path[64], *text = NULL;
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    if (lqmf_read_file(path, 4096, &text, NULL) != LQMF_OK) {
        lqmf_clear_error();
        return false;
    }
    /* "pid (comm) S f4 ... f22=starttime": comm may hold spaces and ')' */
    bool ok = false;
    char *p = strrchr(text, ')');
    if (p && p[1] == ' ' && p[2]) {
        *state = p[2];
        p += 3;
        int field = 3;
        while (*p && field < 22) {
            if (*p++ == ' ') field++;
        }
        ok = field == 22 && sscanf(p, "%llu", start_ticks) == 1;
    }
    free(text);
    return ok;
}

/* "<boot id>:<start ticks>" of pid, or "" when /proc does not tell. */
static void proc_token(int64_t pid, char *out, size_t n) {
    out[0] = '\0';
    char *boot = NULL, st;
    unsigned long long start;
    if (!proc_stat(pid, &st, &start)) return;
    if (lqmf_read_file("/proc/sys/kernel/random/boot_id", 256, &boot, NULL) != LQMF_OK) {
        lqmf_clear_error();
        return;
    }
    boot[strcspn(boot, "\n")] = '\0';
    snprintf(out, n, "%s:%llu", boot, start);
    free(boot);
}

/* Is the process that began e (on this host) still running it? A pid that
 * exists but started at another time (or boot) is another process. */
static bool proc_alive(const lqmf_store_experiment *e) {
    if (e->pid <= 0 || e->pid > INT32_MAX) return false;
    if (kill((pid_t)e->pid, 0) != 0 && errno == ESRCH) return false;
    char st;
    unsigned long long start;
    if (!proc_stat(e->pid, &st, &start)) return true; /* exists, /proc silent: assume alive */
    if (st == 'Z' || st == 'X') return false;         /* ended, not yet reaped */
    if (!*e->proc_token) return true;
    char now[128];
    proc_token(e->pid, now, sizeof now);
    return !*now || strcmp(now, e->proc_token) == 0;
}

static void host_name(char *out, size_t n) {
    if (gethostname(out, n) != 0) out[0] = '\0';
    out[n - 1] = '\0';
}

void lqmf_store_utc_time(double t, char *buf, size_t n) {
    time_t secs = (time_t)floor(t);
    struct tm tm;
    buf[0] = '\0';
    if (gmtime_r(&secs, &tm) && !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm)) buf[0] = '\0';
}

/* Mark running experiments of this host whose process is gone as
 * interrupted; keep copies of those for lqmf_store_interrupted. */
static lqmf_status recover_interrupted(lqmf_store *s) {
    char host[256], when[32], msg[512];
    host_name(host, sizeof host);
    lqmf_store_utc_time(lqmf_store_unix_now(), when, sizeof when);
    lqmf_store_snapshot snap;
    TRY(s->ops->load(s, true, &snap));
    lqmf_status st = LQMF_OK;
    for (size_t i = 0; i < snap.n_experiments && st == LQMF_OK; i++) {
        lqmf_store_experiment *e = &snap.experiments[i];
        if (e->state != LQMF_STORE_RUNNING || strcmp(e->host, host) != 0 || proc_alive(e)) continue;
        snprintf(msg, sizeof msg, "interrupted: process %lld on %s ended before finishing (found %s)",
                 (long long)e->pid, host, when);
        st = s->ops->end_running(s, e->id, LQMF_STORE_INTERRUPTED, 0, msg);
        if (st == LQMF_E_STATE || st == LQMF_E_NOT_FOUND) { /* another process got there first */
            lqmf_clear_error();
            st = LQMF_OK;
            continue;
        }
        if (st != LQMF_OK) break;
        char *m = strdup(msg);
        if (!m) {
            st = lqmf_store_nomem(s);
            break;
        }
        free((void *)e->error);
        e->error = m;
        e->state = LQMF_STORE_INTERRUPTED;
        e->finished_at = 0;
        if (!lqmf_store_push((void **)&s->interrupted, &s->n_interrupted, sizeof *e, e)) {
            st = lqmf_store_nomem(s);
            break;
        }
        memset(e, 0, sizeof *e); /* moved */
    }
    lqmf_store_snapshot_free(&snap);
    return st;
}

/* ---- open / close ------------------------------------------------------------------ */

lqmf_status lqmf_store_open(const char *path, lqmf_store_backend b, lqmf_store **out) {
    *out = NULL;
    if (!path || !*path) return lqmf_error(LQMF_E_INVALID, "experiment store: empty path");
    if (b != LQMF_STORE_SQLITE && b != LQMF_STORE_JSON)
        return lqmf_error(LQMF_E_INVALID, "%s: unknown storage backend %d", path, (int)b);
    lqmf_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    }
    s->backend = b;
    s->ops = b == LQMF_STORE_JSON ? &lqmf_store_json_ops : &lqmf_store_sqlite_ops;
    lqmf_status st = s->ops->open(s);
    if (st != LQMF_OK) {
        free(s->path);
        free(s);
        return st;
    }
    st = recover_interrupted(s);
    if (st != LQMF_OK) {
        lqmf_store_close(s);
        return st;
    }
    *out = s;
    return LQMF_OK;
}

void lqmf_store_close(lqmf_store *s) {
    if (!s) return;
    s->ops->close(s);
    for (size_t i = 0; i < s->n_interrupted; i++) lqmf_store_experiment_clear(&s->interrupted[i]);
    free(s->interrupted);
    free(s->path);
    free(s);
}

const char *lqmf_store_path(const lqmf_store *s) { return s->path; }

lqmf_store_backend lqmf_store_backend_of(const lqmf_store *s) { return s->backend; }

const lqmf_store_experiment *lqmf_store_interrupted(const lqmf_store *s, size_t *n) {
    *n = s->n_interrupted;
    return s->interrupted;
}

/* ---- writes -------------------------------------------------------------------------- */

lqmf_status lqmf_store_put_model(lqmf_store *s, const lqmf_store_model *m, int64_t *id) {
    int64_t unused;
    TRY(check_model(s, m));
    return s->ops->put_model(s, m, id ? id : &unused);
}

lqmf_status lqmf_store_put_artifact(lqmf_store *s, const lqmf_store_artifact *a, int64_t *id) {
    int64_t unused;
    TRY(check_artifact(s, a));
    return s->ops->put_artifact(s, a, id ? id : &unused);
}

lqmf_status lqmf_store_add_evaluation(lqmf_store *s, const lqmf_store_evaluation *e, int64_t *id) {
    int64_t unused;
    TRY(check_evaluation(s, e));
    return s->ops->add_evaluation(s, e, id ? id : &unused);
}

lqmf_status lqmf_store_begin(lqmf_store *s, const lqmf_store_experiment *e, int64_t *id) {
    int64_t unused;
    TRY(check_experiment(s, e));
    char host[256], token[128];
    host_name(host, sizeof host);
    lqmf_store_experiment r = *e;
    r.id = 0;
    r.state = LQMF_STORE_RUNNING;
    r.started_at = lqmf_store_unix_now();
    r.finished_at = 0;
    r.error = "";
    r.host = host;
    r.pid = getpid();
    proc_token(r.pid, token, sizeof token);
    r.proc_token = token;
    return s->ops->insert_experiment(s, &r, id ? id : &unused);
}

lqmf_status lqmf_store_update(lqmf_store *s, const lqmf_store_experiment *e) {
    TRY(check_progress(s, e));
    return s->ops->update_running(s, e);
}

lqmf_status lqmf_store_finish(lqmf_store *s, int64_t id, lqmf_store_state state, const char *error) {
    if (!error) error = "";
    if (state != LQMF_STORE_SUCCEEDED && state != LQMF_STORE_FAILED && state != LQMF_STORE_INTERRUPTED)
        return lqmf_error(LQMF_E_INVALID,
                          "%s: experiment %lld: finish as %s (only succeeded, failed or interrupted)", s->path,
                          (long long)id, lqmf_store_state_name(state));
    if (state != LQMF_STORE_SUCCEEDED) TRY(check_text(s, "experiment", "error", error, true));
    else if (*error)
        return lqmf_error(LQMF_E_INVALID, "%s: experiment %lld succeeded but has an error message",
                          s->path, (long long)id);
    /* interrupted runs keep finished_at 0, as those recovered at open do */
    return s->ops->end_running(s, id, state, state == LQMF_STORE_INTERRUPTED ? 0 : lqmf_store_unix_now(),
                               error);
}

/* Remove an artifact from disk: a file, or a folder holding only files (its
 * subfolders, if any, make it refuse). *deleted false when already absent. */
static lqmf_status delete_artifact_path(const char *path, bool *deleted) {
    *deleted = false;
    struct stat stt;
    if (lstat(path, &stt) != 0) {
        if (errno == ENOENT) return LQMF_OK;
        return lqmf_error(LQMF_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (S_ISDIR(stt.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return lqmf_error(LQMF_E_IO, "%s: cannot open folder: %s", path, strerror(errno));
        lqmf_status st = LQMF_OK;
        for (int pass = 0; pass < 2 && st == LQMF_OK; pass++) { /* 0: check, 1: unlink */
            rewinddir(d);
            struct dirent *de;
            while (st == LQMF_OK && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
                struct stat cs;
                if (fstatat(dirfd(d), de->d_name, &cs, AT_SYMLINK_NOFOLLOW) != 0 ||
                    S_ISDIR(cs.st_mode))
                    st = lqmf_error(LQMF_E_STATE, "%s: holds folder or unreadable entry '%s'; "
                                    "not deleting it", path, de->d_name);
                else if (pass == 1 && unlinkat(dirfd(d), de->d_name, 0) != 0)
                    st = lqmf_error(LQMF_E_IO, "%s/%s: cannot delete: %s", path, de->d_name,
                                    strerror(errno));
            }
        }
        closedir(d);
        if (st != LQMF_OK) return st;
        if (rmdir(path) != 0)
            return lqmf_error(LQMF_E_IO, "%s: cannot remove folder: %s", path, strerror(errno));
    } else if (unlink(path) != 0) {
        return lqmf_error(LQMF_E_IO, "%s: cannot delete: %s", path, strerror(errno));
    }
    *deleted = true;
    return LQMF_OK;
}

lqmf_status lqmf_store_forget(lqmf_store *s, int64_t id, bool delete_files, lqmf_store_forgotten *out) {
    lqmf_store_forgotten f = { 0 };
    lqmf_status st = s->ops->forget(s, id, &f);
    for (size_t i = 0; st == LQMF_OK && delete_files && i < f.n_artifacts; i++) {
        bool deleted;
        st = delete_artifact_path(f.artifact_paths[i], &deleted);
        if (st != LQMF_OK)
            lqmf_error_prefix(st, "%s: experiment %lld forgotten, but its file was kept", s->path,
                              (long long)id);
        f.n_files_deleted += deleted;
    }
    if (out) *out = f;
    else lqmf_store_forgotten_free(&f);
    return st;
}

void lqmf_store_forgotten_free(lqmf_store_forgotten *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_artifacts; i++) free(f->artifact_paths[i]);
    free(f->artifact_paths);
    memset(f, 0, sizeof *f);
}

/* ---- reads ----------------------------------------------------------------------------- */

lqmf_status lqmf_store_load(lqmf_store *s, lqmf_store_snapshot *out) {
    return s->ops->load(s, false, out);
}

#define FIND_BY_ID(fn, type, arr, count)                                              \
    const type *fn(const lqmf_store_snapshot *snap, int64_t id) {                     \
        if (!snap || id <= 0) return NULL;                                            \
        size_t lo = 0, hi = snap->count;                                              \
        while (lo < hi) {                                                             \
            size_t mid = lo + (hi - lo) / 2;                                          \
            if (snap->arr[mid].id < id) lo = mid + 1;                                 \
            else hi = mid;                                                            \
        }                                                                             \
        return lo < snap->count && snap->arr[lo].id == id ? &snap->arr[lo] : NULL;    \
    }

FIND_BY_ID(lqmf_store_find_model, lqmf_store_model, models, n_models)
FIND_BY_ID(lqmf_store_find_artifact, lqmf_store_artifact, artifacts, n_artifacts)
FIND_BY_ID(lqmf_store_find_experiment, lqmf_store_experiment, experiments, n_experiments)

bool lqmf_store_model_matches(const lqmf_store_model *m, const char *query) {
    return query && *query && (strcmp(m->source, query) == 0 || strcasestr(m->source, query));
}

double lqmf_store_artifact_metric(const lqmf_store_snapshot *snap, int64_t artifact_id,
                                  const char *metric) {
    for (size_t i = snap->n_evaluations; i-- > 0;) {
        const lqmf_store_evaluation *e = &snap->evaluations[i];
        if (artifact_id > 0 && e->artifact_id == artifact_id && strcmp(e->metric, metric) == 0)
            return e->value;
    }
    return NAN;
}
