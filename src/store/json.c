/* Experiment store, JSON backend, and the JSON document both backends
 * export. The whole store is one file; a write takes an exclusive flock on
 * "<path>.lock", reads and checks the file, edits it in memory and replaces
 * it by temporary + rename, so a reader (who takes no lock) always sees a
 * complete file and concurrent writers never lose each other's records.
 * Format: docs/store.md. */
#include "store/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_NAME "lqmf-experiment-store"
#define MAX_FILE_BYTES (1ull << 30) /* refuse larger store files */

static const char *const k_tables[LQMF_STORE_N_TABLES] = { "models", "artifacts", "experiments",
                                                           "evaluations" };

/* ---- parsing (outside bytes) ------------------------------------------------------ */

typedef struct {
    const char *path, *table;
    size_t index;
} jctx;

static lqmf_status jfail(const jctx *c, const char *field, const char *what) {
    return lqmf_error(LQMF_E_FORMAT, "%s: %s[%zu].%s: %s", c->path, c->table, c->index, field, what);
}

/* A string field; absent or null reads as "" unless required. */
static lqmf_status j_text(const jctx *c, json_t *o, const char *key, bool required,
                          const char **out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = "";
        return required ? jfail(c, key, "missing") : LQMF_OK;
    }
    if (!json_is_string(v)) return jfail(c, key, "not a string");
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v)) return jfail(c, key, "holds a NUL character");
    if (required && !**out) return jfail(c, key, "empty");
    return LQMF_OK;
}

/* An integer field >= min; absent or null reads as 0 unless required. */
static lqmf_status j_int(const jctx *c, json_t *o, const char *key, bool required, int64_t min,
                         int64_t *out) {
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v)) return required ? jfail(c, key, "missing") : LQMF_OK;
    if (!json_is_integer(v)) return jfail(c, key, "not an integer");
    *out = (int64_t)json_integer_value(v);
    if (*out < min) return jfail(c, key, min > 0 ? "not a positive integer" : "negative");
    return LQMF_OK;
}

static lqmf_status j_size(const jctx *c, json_t *o, const char *key, uint64_t *out) {
    int64_t v;
    lqmf_status st = j_int(c, o, key, false, 0, &v);
    *out = (uint64_t)v;
    return st;
}

/* A number field; absent or null reads as 0 unless required. */
static lqmf_status j_real(const jctx *c, json_t *o, const char *key, bool required, double *out) {
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v)) return required ? jfail(c, key, "missing") : LQMF_OK;
    if (!json_is_number(v)) return jfail(c, key, "not a number");
    *out = json_number_value(v);
    return LQMF_OK;
}

#define TRY(expr)                                                                  \
    do {                                                                           \
        lqmf_status st_ = (expr);                                                  \
        if (st_ != LQMF_OK) return st_;                                            \
    } while (0)

static lqmf_status parse_model(const jctx *c, json_t *o, lqmf_store_model *m) {
    TRY(j_text(c, o, "source", true, &m->source));
    TRY(j_text(c, o, "revision", false, &m->revision));
    TRY(j_text(c, o, "architecture", false, &m->architecture));
    TRY(j_size(c, o, "n_params", &m->n_params));
    TRY(j_size(c, o, "size_bytes", &m->size_bytes));
    return j_real(c, o, "created_at", false, &m->created_at);
}

static lqmf_status parse_artifact(const jctx *c, json_t *o, lqmf_store_artifact *a) {
    TRY(j_int(c, o, "model_id", false, 1, &a->model_id));
    TRY(j_text(c, o, "path", true, &a->path));
    TRY(j_text(c, o, "format", true, &a->format));
    TRY(j_text(c, o, "method", true, &a->method));
    TRY(j_real(c, o, "bits_per_weight", false, &a->bits_per_weight));
    TRY(j_size(c, o, "size_bytes", &a->size_bytes));
    TRY(j_text(c, o, "sha256", false, &a->sha256));
    return j_real(c, o, "created_at", false, &a->created_at);
}

static lqmf_status parse_experiment(const jctx *c, json_t *o, lqmf_store_experiment *e) {
    const char *status;
    TRY(j_text(c, o, "request", true, &e->request));
    TRY(j_text(c, o, "plan", false, &e->plan));
    TRY(j_int(c, o, "model_id", false, 1, &e->model_id));
    TRY(j_int(c, o, "artifact_id", false, 1, &e->artifact_id));
    TRY(j_text(c, o, "status", true, &status));
    if (!lqmf_store_state_from_name(status, &e->state)) return jfail(c, "status", "unknown status");
    TRY(j_real(c, o, "started_at", true, &e->started_at));
    TRY(j_real(c, o, "finished_at", false, &e->finished_at));
    TRY(j_text(c, o, "error", false, &e->error));
    TRY(j_text(c, o, "host", false, &e->host));
    TRY(j_int(c, o, "pid", false, 0, &e->pid));
    TRY(j_text(c, o, "host_info", false, &e->host_info));
    return j_text(c, o, "proc_token", false, &e->proc_token);
}

static lqmf_status parse_evaluation(const jctx *c, json_t *o, lqmf_store_evaluation *e) {
    TRY(j_int(c, o, "experiment_id", false, 1, &e->experiment_id));
    TRY(j_int(c, o, "model_id", false, 1, &e->model_id));
    TRY(j_int(c, o, "artifact_id", false, 1, &e->artifact_id));
    TRY(j_text(c, o, "metric", true, &e->metric));
    TRY(j_real(c, o, "value", true, &e->value));
    TRY(j_text(c, o, "unit", false, &e->unit));
    TRY(j_text(c, o, "protocol", true, &e->protocol));
    return j_real(c, o, "created_at", false, &e->created_at);
}

/* One table: an array of objects with increasing ids below next_id. The
 * parsed record borrows jansson's strings until copied into the snapshot. */
static lqmf_status parse_table(const char *path, json_t *root, int t, int64_t next_id,
                               lqmf_store_snapshot *out) {
    json_t *arr = json_object_get(root, k_tables[t]);
    if (!json_is_array(arr))
        return lqmf_error(LQMF_E_FORMAT, "%s: \"%s\" is missing or not an array", path, k_tables[t]);
    int64_t last = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        jctx c = { path, k_tables[t], i };
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o)) return jfail(&c, "", "not an object");
        int64_t id;
        TRY(j_int(&c, o, "id", true, 1, &id));
        if (id <= last || id >= next_id) return jfail(&c, "id", "not increasing or not below next_id");
        last = id;
        lqmf_status st;
        bool ok;
        switch (t) {
        case LQMF_STORE_T_MODELS: {
            lqmf_store_model r = { .id = id }, cp;
            if ((st = parse_model(&c, o, &r)) != LQMF_OK) return st;
            ok = lqmf_store_model_copy(&cp, &r);
            if (ok && !(ok = lqmf_store_push((void **)&out->models, &out->n_models, sizeof cp, &cp)))
                lqmf_store_model_clear(&cp);
            break;
        }
        case LQMF_STORE_T_ARTIFACTS: {
            lqmf_store_artifact r = { .id = id }, cp;
            if ((st = parse_artifact(&c, o, &r)) != LQMF_OK) return st;
            ok = lqmf_store_artifact_copy(&cp, &r);
            if (ok && !(ok = lqmf_store_push((void **)&out->artifacts, &out->n_artifacts, sizeof cp, &cp)))
                lqmf_store_artifact_clear(&cp);
            break;
        }
        case LQMF_STORE_T_EXPERIMENTS: {
            lqmf_store_experiment r = { .id = id }, cp;
            if ((st = parse_experiment(&c, o, &r)) != LQMF_OK) return st;
            ok = lqmf_store_experiment_copy(&cp, &r);
            if (ok && !(ok = lqmf_store_push((void **)&out->experiments, &out->n_experiments, sizeof cp, &cp)))
                lqmf_store_experiment_clear(&cp);
            break;
        }
        default: {
            lqmf_store_evaluation r = { .id = id }, cp;
            if ((st = parse_evaluation(&c, o, &r)) != LQMF_OK) return st;
            ok = lqmf_store_evaluation_copy(&cp, &r);
            if (ok && !(ok = lqmf_store_push((void **)&out->evaluations, &out->n_evaluations, sizeof cp, &cp)))
                lqmf_store_evaluation_clear(&cp);
            break;
        }
        }
        if (!ok) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    }
    return LQMF_OK;
}

static lqmf_status parse_root(const char *path, json_t *root, lqmf_store_snapshot *out,
                              int64_t next_id[LQMF_STORE_N_TABLES], int *version) {
    json_t *fmt = json_is_object(root) ? json_object_get(root, "format") : NULL;
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), FORMAT_NAME) != 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: JSON without \"format\": \"" FORMAT_NAME "\", so not "
                          "an lqmf experiment store; left untouched", path);
    json_t *ver = json_object_get(root, "schema_version");
    if (!json_is_integer(ver) || json_integer_value(ver) < 1)
        return lqmf_error(LQMF_E_FORMAT, "%s: schema_version missing or not a positive integer", path);
    if (json_integer_value(ver) > LQMF_STORE_SCHEMA_VERSION)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: experiment store schema version %lld is newer "
                          "than this lqmf (it reads up to %d); left untouched", path,
                          (long long)json_integer_value(ver), LQMF_STORE_SCHEMA_VERSION);
    *version = (int)json_integer_value(ver);
    json_t *next = json_object_get(root, "next_id");
    for (int t = 0; t < LQMF_STORE_N_TABLES; t++) {
        jctx c = { path, "next_id", 0 };
        if (!json_is_object(next)) return lqmf_error(LQMF_E_FORMAT, "%s: next_id missing", path);
        TRY(j_int(&c, next, k_tables[t], true, 1, &next_id[t]));
        TRY(parse_table(path, root, t, next_id[t], out));
    }
    return LQMF_OK;
}

lqmf_status lqmf_store_json_parse(const char *text, size_t len, const char *path,
                                  lqmf_store_snapshot *out, int64_t next_id[LQMF_STORE_N_TABLES],
                                  int *version) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return lqmf_error(LQMF_E_FORMAT, "%s: not valid JSON (line %d, column %d: %s), so not an "
                          "lqmf experiment store; left untouched", path, jerr.line, jerr.column,
                          jerr.text);
    lqmf_status st = parse_root(path, root, out, next_id, version);
    json_decref(root);
    if (st != LQMF_OK) lqmf_store_snapshot_free(out);
    return st;
}

/* ---- writing the document ----------------------------------------------------------- */

static json_t *j_ref(int64_t id) { return id > 0 ? json_integer(id) : json_null(); }
static json_t *j_time(double t) { return t != 0 ? json_real(t) : json_null(); }
static const char *txt(const char *s) { return s ? s : ""; }

/* Append o to arr; false (o released) when o is NULL: a pack failed. */
static bool j_append(json_t *arr, json_t *o) { return o && json_array_append_new(arr, o) == 0; }

static bool dump_records(json_t *root, const lqmf_store_snapshot *snap) {
    json_t *a[LQMF_STORE_N_TABLES];
    for (int t = 0; t < LQMF_STORE_N_TABLES; t++)
        if (!(a[t] = json_array()) || json_object_set_new(root, k_tables[t], a[t]) != 0) return false;
    for (size_t i = 0; i < snap->n_models; i++) {
        const lqmf_store_model *m = &snap->models[i];
        if (!j_append(a[0], json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:f}", "id", (json_int_t)m->id,
                                      "source", txt(m->source), "revision", txt(m->revision),
                                      "architecture", txt(m->architecture), "n_params",
                                      (json_int_t)m->n_params, "size_bytes",
                                      (json_int_t)m->size_bytes, "created_at", m->created_at)))
            return false;
    }
    for (size_t i = 0; i < snap->n_artifacts; i++) {
        const lqmf_store_artifact *r = &snap->artifacts[i];
        if (!j_append(a[1], json_pack("{s:I, s:o, s:s, s:s, s:s, s:f, s:I, s:s, s:f}", "id",
                                      (json_int_t)r->id, "model_id", j_ref(r->model_id), "path",
                                      txt(r->path), "format", txt(r->format), "method",
                                      txt(r->method), "bits_per_weight", r->bits_per_weight,
                                      "size_bytes", (json_int_t)r->size_bytes, "sha256",
                                      txt(r->sha256), "created_at", r->created_at)))
            return false;
    }
    for (size_t i = 0; i < snap->n_experiments; i++) {
        const lqmf_store_experiment *e = &snap->experiments[i];
        if (!j_append(a[2], json_pack("{s:I, s:s, s:s, s:o, s:o, s:s, s:f, s:o, s:s, s:s, s:I, "
                                      "s:s, s:s}", "id", (json_int_t)e->id, "request",
                                      txt(e->request), "plan", txt(e->plan), "model_id",
                                      j_ref(e->model_id), "artifact_id", j_ref(e->artifact_id),
                                      "status", lqmf_store_state_name(e->state), "started_at",
                                      e->started_at, "finished_at", j_time(e->finished_at), "error",
                                      txt(e->error), "host", txt(e->host), "pid",
                                      (json_int_t)e->pid, "host_info", txt(e->host_info),
                                      "proc_token", txt(e->proc_token))))
            return false;
    }
    for (size_t i = 0; i < snap->n_evaluations; i++) {
        const lqmf_store_evaluation *e = &snap->evaluations[i];
        if (!j_append(a[3], json_pack("{s:I, s:o, s:o, s:o, s:s, s:f, s:s, s:s, s:f}", "id",
                                      (json_int_t)e->id, "experiment_id", j_ref(e->experiment_id),
                                      "model_id", j_ref(e->model_id), "artifact_id",
                                      j_ref(e->artifact_id), "metric", txt(e->metric), "value",
                                      e->value, "unit", txt(e->unit), "protocol", txt(e->protocol),
                                      "created_at", e->created_at)))
            return false;
    }
    return true;
}

lqmf_status lqmf_store_json_dump(const lqmf_store_snapshot *snap,
                                 const int64_t next_id[LQMF_STORE_N_TABLES], lqmf_buf *out) {
    json_t *root = json_pack("{s:s, s:i}", "format", FORMAT_NAME, "schema_version",
                             LQMF_STORE_SCHEMA_VERSION);
    json_t *next = json_object();
    bool ok = root && next && json_object_set_new(root, "next_id", next) == 0;
    for (int t = 0; ok && t < LQMF_STORE_N_TABLES; t++)
        ok = json_object_set_new(next, k_tables[t], json_integer(next_id[t])) == 0;
    ok = ok && dump_records(root, snap);
    char *text = ok ? json_dumps(root, JSON_INDENT(1)) : NULL;
    json_decref(root);
    if (!text)
        return lqmf_error(LQMF_E_INVALID, "JSON store: cannot write the document (out of memory, "
                          "or a text field that is not UTF-8)");
    ok = lqmf_buf_append(out, text, strlen(text)) && lqmf_buf_append(out, "\n", 1);
    free(text);
    return ok ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "JSON store: out of memory");
}

/* ---- the backend --------------------------------------------------------------------- */

typedef struct {
    lqmf_store_snapshot snap;
    int64_t next[LQMF_STORE_N_TABLES];
    int version;
} js_doc;

typedef struct {
    int lock_fd; /* "<path>.lock", open while the store is */
} js_impl;

static int lock_fd(const lqmf_store *s) { return ((const js_impl *)s->impl)->lock_fd; }

static lqmf_status js_lock(lqmf_store *s, int op) {
    while (flock(lock_fd(s), op) != 0)
        if (errno != EINTR)
            return lqmf_error(LQMF_E_IO, "%s.lock: cannot lock: %s", s->path, strerror(errno));
    return LQMF_OK;
}

static lqmf_status js_read(const char *path, js_doc *d) {
    memset(d, 0, sizeof *d);
    char *text;
    size_t len;
    lqmf_status st = lqmf_read_file(path, MAX_FILE_BYTES, &text, &len);
    if (st != LQMF_OK) return st;
    st = lqmf_store_json_parse(text, len, path, &d->snap, d->next, &d->version);
    free(text);
    return st;
}

static lqmf_status js_write(lqmf_store *s, const js_doc *d) {
    lqmf_buf b;
    lqmf_buf_init(&b);
    lqmf_status st = lqmf_store_json_dump(&d->snap, d->next, &b);
    lqmf_afile f;
    if (st == LQMF_OK) st = lqmf_afile_open(&f, s->path);
    if (st == LQMF_OK) {
        st = lqmf_afile_write(&f, b.data, b.len);
        if (st == LQMF_OK) st = lqmf_afile_commit(&f);
        else lqmf_afile_abort(&f);
    }
    lqmf_buf_free(&b);
    return st;
}

/* Under the lock: create the file when absent, upgrade an older version. */
static lqmf_status js_init(lqmf_store *s) {
    js_doc d = { .next = { 1, 1, 1, 1 }, .version = LQMF_STORE_SCHEMA_VERSION };
    struct stat stt;
    lqmf_status st = LQMF_OK;
    bool write = stat(s->path, &stt) != 0 && errno == ENOENT;
    if (!write) {
        st = js_read(s->path, &d);
        write = st == LQMF_OK && d.version < LQMF_STORE_SCHEMA_VERSION;
    }
    if (write) st = js_write(s, &d);
    lqmf_store_snapshot_free(&d.snap);
    return st;
}

static void js_close(lqmf_store *s) {
    if (s->impl) close(lock_fd(s));
    free(s->impl);
    s->impl = NULL;
}

static lqmf_status js_open(lqmf_store *s) {
    /* A file that is not ours is refused before the lock file appears. */
    struct stat stt;
    if (stat(s->path, &stt) == 0) {
        js_doc d;
        lqmf_status st = js_read(s->path, &d);
        lqmf_store_snapshot_free(&d.snap);
        if (st != LQMF_OK) return st;
    }
    size_t n = strlen(s->path) + 6;
    char *lock = malloc(n);
    if (!lock) return lqmf_store_nomem(s);
    snprintf(lock, n, "%s.lock", s->path);
    js_impl *impl = malloc(sizeof *impl);
    int fd = impl ? open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
    lqmf_status st = !impl ? lqmf_store_nomem(s)
                     : fd < 0 ? lqmf_error(LQMF_E_IO, "%s: cannot create: %s", lock, strerror(errno))
                              : LQMF_OK;
    free(lock);
    if (st != LQMF_OK) {
        free(impl);
        return st;
    }
    impl->lock_fd = fd;
    s->impl = impl;
    st = js_lock(s, LOCK_EX);
    if (st == LQMF_OK) {
        st = js_init(s);
        flock(fd, LOCK_UN);
    }
    if (st != LQMF_OK) js_close(s);
    return st;
}

/* Readers take no lock: the file is only ever replaced whole. */
static lqmf_status js_load(lqmf_store *s, bool running_only, lqmf_store_snapshot *out) {
    (void)running_only;
    js_doc d;
    lqmf_status st = js_read(s->path, &d);
    *out = d.snap;
    return st;
}

/* What an edit works on and returns. */
typedef struct {
    const void *rec;
    int64_t id;
    int64_t *out_id;
    lqmf_store_state state;
    double when;
    const char *text;
    lqmf_store_forgotten *forgotten;
} js_args;

typedef lqmf_status (*js_edit_fn)(lqmf_store *s, js_doc *d, js_args *a);

/* Lock, read, edit, write back, unlock: one transaction. */
static lqmf_status js_edit(lqmf_store *s, js_edit_fn fn, js_args *a) {
    js_doc d;
    lqmf_status st = js_lock(s, LOCK_EX);
    if (st != LQMF_OK) return st;
    st = js_read(s->path, &d);
    if (st == LQMF_OK) st = fn(s, &d, a);
    if (st == LQMF_OK) st = js_write(s, &d);
    flock(lock_fd(s), LOCK_UN);
    lqmf_store_snapshot_free(&d.snap);
    return st;
}

static lqmf_status js_ref(lqmf_store *s, const void *found, const char *table, const char *field,
                          int64_t id) {
    return id > 0 && !found ? lqmf_store_missing_ref(s, table, field, id) : LQMF_OK;
}

/* Replace *old's strings with a copy of text. */
static lqmf_status js_set(lqmf_store *s, const char **old, const char *text) {
    char *c = strdup(text ? text : "");
    if (!c) return lqmf_store_nomem(s);
    free((void *)*old);
    *old = c;
    return LQMF_OK;
}

static lqmf_status edit_put_model(lqmf_store *s, js_doc *d, js_args *a) {
    const lqmf_store_model *m = a->rec;
    for (size_t i = 0; i < d->snap.n_models; i++) {
        lqmf_store_model *o = &d->snap.models[i];
        if (strcmp(o->source, m->source) != 0 || strcmp(o->revision, txt(m->revision)) != 0) continue;
        if (m->architecture && *m->architecture) TRY(js_set(s, &o->architecture, m->architecture));
        if (m->n_params) o->n_params = m->n_params;
        if (m->size_bytes) o->size_bytes = m->size_bytes;
        *a->out_id = o->id;
        return LQMF_OK;
    }
    lqmf_store_model c;
    if (!lqmf_store_model_copy(&c, m)) return lqmf_store_nomem(s);
    c.id = d->next[LQMF_STORE_T_MODELS]++;
    c.created_at = lqmf_store_unix_now();
    if (!lqmf_store_push((void **)&d->snap.models, &d->snap.n_models, sizeof c, &c)) {
        lqmf_store_model_clear(&c);
        return lqmf_store_nomem(s);
    }
    *a->out_id = c.id;
    return LQMF_OK;
}

static lqmf_status edit_put_artifact(lqmf_store *s, js_doc *d, js_args *a) {
    const lqmf_store_artifact *r = a->rec;
    TRY(js_ref(s, lqmf_store_find_model(&d->snap, r->model_id), "artifact", "model_id", r->model_id));
    lqmf_store_artifact c;
    if (!lqmf_store_artifact_copy(&c, r)) return lqmf_store_nomem(s);
    c.created_at = lqmf_store_unix_now();
    for (size_t i = 0; i < d->snap.n_artifacts; i++) {
        lqmf_store_artifact *o = &d->snap.artifacts[i];
        if (strcmp(o->path, c.path) != 0) continue;
        c.id = o->id;
        lqmf_store_artifact_clear(o);
        *o = c;
        *a->out_id = c.id;
        return LQMF_OK;
    }
    c.id = d->next[LQMF_STORE_T_ARTIFACTS]++;
    if (!lqmf_store_push((void **)&d->snap.artifacts, &d->snap.n_artifacts, sizeof c, &c)) {
        lqmf_store_artifact_clear(&c);
        return lqmf_store_nomem(s);
    }
    *a->out_id = c.id;
    return LQMF_OK;
}

static lqmf_status edit_add_evaluation(lqmf_store *s, js_doc *d, js_args *a) {
    const lqmf_store_evaluation *e = a->rec;
    TRY(js_ref(s, lqmf_store_find_experiment(&d->snap, e->experiment_id), "evaluation",
               "experiment_id", e->experiment_id));
    TRY(js_ref(s, lqmf_store_find_model(&d->snap, e->model_id), "evaluation", "model_id", e->model_id));
    TRY(js_ref(s, lqmf_store_find_artifact(&d->snap, e->artifact_id), "evaluation", "artifact_id",
               e->artifact_id));
    lqmf_store_evaluation c;
    if (!lqmf_store_evaluation_copy(&c, e)) return lqmf_store_nomem(s);
    c.id = d->next[LQMF_STORE_T_EVALUATIONS]++;
    c.created_at = lqmf_store_unix_now();
    if (!lqmf_store_push((void **)&d->snap.evaluations, &d->snap.n_evaluations, sizeof c, &c)) {
        lqmf_store_evaluation_clear(&c);
        return lqmf_store_nomem(s);
    }
    *a->out_id = c.id;
    return LQMF_OK;
}

static lqmf_status check_experiment_refs(lqmf_store *s, js_doc *d, const lqmf_store_experiment *e) {
    TRY(js_ref(s, lqmf_store_find_model(&d->snap, e->model_id), "experiment", "model_id", e->model_id));
    return js_ref(s, lqmf_store_find_artifact(&d->snap, e->artifact_id), "experiment", "artifact_id",
                  e->artifact_id);
}

static lqmf_status edit_insert_experiment(lqmf_store *s, js_doc *d, js_args *a) {
    const lqmf_store_experiment *e = a->rec;
    TRY(check_experiment_refs(s, d, e));
    lqmf_store_experiment c;
    if (!lqmf_store_experiment_copy(&c, e)) return lqmf_store_nomem(s);
    c.id = d->next[LQMF_STORE_T_EXPERIMENTS]++;
    if (!lqmf_store_push((void **)&d->snap.experiments, &d->snap.n_experiments, sizeof c, &c)) {
        lqmf_store_experiment_clear(&c);
        return lqmf_store_nomem(s);
    }
    *a->out_id = c.id;
    return LQMF_OK;
}

/* The running experiment id, or an error. */
static lqmf_status find_running(lqmf_store *s, js_doc *d, int64_t id, lqmf_store_experiment **out) {
    *out = (lqmf_store_experiment *)lqmf_store_find_experiment(&d->snap, id);
    if (!*out) return lqmf_store_no_experiment(s, id);
    if ((*out)->state != LQMF_STORE_RUNNING) return lqmf_store_not_running(s, id, (*out)->state);
    return LQMF_OK;
}

static lqmf_status edit_update_running(lqmf_store *s, js_doc *d, js_args *a) {
    const lqmf_store_experiment *e = a->rec;
    lqmf_store_experiment *o;
    TRY(find_running(s, d, e->id, &o));
    TRY(check_experiment_refs(s, d, e));
    TRY(js_set(s, &o->plan, e->plan));
    o->model_id = e->model_id;
    o->artifact_id = e->artifact_id;
    return LQMF_OK;
}

static lqmf_status edit_end_running(lqmf_store *s, js_doc *d, js_args *a) {
    lqmf_store_experiment *o;
    TRY(find_running(s, d, a->id, &o));
    TRY(js_set(s, &o->error, a->text));
    o->state = a->state;
    o->finished_at = a->when;
    return LQMF_OK;
}

/* Drop the evaluations whose experiment_id (by_artifact: artifact_id) is id. */
static size_t drop_evaluations(lqmf_store_snapshot *snap, int64_t id, bool by_artifact) {
    size_t w = 0, dropped = 0;
    for (size_t r = 0; r < snap->n_evaluations; r++) {
        lqmf_store_evaluation *e = &snap->evaluations[r];
        if ((by_artifact ? e->artifact_id : e->experiment_id) == id) {
            lqmf_store_evaluation_clear(e);
            dropped++;
        } else {
            snap->evaluations[w++] = *e;
        }
    }
    snap->n_evaluations = w;
    return dropped;
}

static lqmf_status edit_forget(lqmf_store *s, js_doc *d, js_args *a) {
    lqmf_store_snapshot *snap = &d->snap;
    lqmf_store_experiment *e = (lqmf_store_experiment *)lqmf_store_find_experiment(snap, a->id);
    if (!e) return lqmf_store_no_experiment(s, a->id);
    if (e->state == LQMF_STORE_RUNNING) return lqmf_store_still_running(s, a->id);
    int64_t artifact = e->artifact_id;
    lqmf_store_forgotten *f = a->forgotten;
    f->n_evaluations += drop_evaluations(snap, a->id, false);
    size_t at = (size_t)(e - snap->experiments);
    lqmf_store_experiment_clear(e);
    memmove(e, e + 1, (snap->n_experiments - at - 1) * sizeof *e);
    snap->n_experiments--;
    for (size_t i = 0; i < snap->n_experiments; i++)
        if (artifact > 0 && snap->experiments[i].artifact_id == artifact) return LQMF_OK;
    lqmf_store_artifact *r = (lqmf_store_artifact *)lqmf_store_find_artifact(snap, artifact);
    if (!r) return LQMF_OK;
    if (!lqmf_store_push((void **)&f->artifact_paths, &f->n_artifacts, sizeof r->path, &r->path))
        return lqmf_store_nomem(s);
    r->path = NULL; /* moved */
    f->n_evaluations += drop_evaluations(snap, artifact, true);
    at = (size_t)(r - snap->artifacts);
    lqmf_store_artifact_clear(r);
    memmove(r, r + 1, (snap->n_artifacts - at - 1) * sizeof *r);
    snap->n_artifacts--;
    return LQMF_OK;
}

static lqmf_status js_put_model(lqmf_store *s, const lqmf_store_model *m, int64_t *id) {
    return js_edit(s, edit_put_model, &(js_args){ .rec = m, .out_id = id });
}

static lqmf_status js_put_artifact(lqmf_store *s, const lqmf_store_artifact *r, int64_t *id) {
    return js_edit(s, edit_put_artifact, &(js_args){ .rec = r, .out_id = id });
}

static lqmf_status js_add_evaluation(lqmf_store *s, const lqmf_store_evaluation *e, int64_t *id) {
    return js_edit(s, edit_add_evaluation, &(js_args){ .rec = e, .out_id = id });
}

static lqmf_status js_insert_experiment(lqmf_store *s, const lqmf_store_experiment *e, int64_t *id) {
    return js_edit(s, edit_insert_experiment, &(js_args){ .rec = e, .out_id = id });
}

static lqmf_status js_update_running(lqmf_store *s, const lqmf_store_experiment *e) {
    return js_edit(s, edit_update_running, &(js_args){ .rec = e });
}

static lqmf_status js_end_running(lqmf_store *s, int64_t id, lqmf_store_state state,
                                  double finished_at, const char *error) {
    return js_edit(s, edit_end_running,
                   &(js_args){ .id = id, .state = state, .when = finished_at, .text = error });
}

static lqmf_status js_forget(lqmf_store *s, int64_t id, lqmf_store_forgotten *out) {
    lqmf_status st = js_edit(s, edit_forget, &(js_args){ .id = id, .forgotten = out });
    if (st != LQMF_OK) lqmf_store_forgotten_free(out);
    return st;
}

const lqmf_store_ops lqmf_store_json_ops = {
    .open = js_open,
    .close = js_close,
    .load = js_load,
    .put_model = js_put_model,
    .put_artifact = js_put_artifact,
    .add_evaluation = js_add_evaluation,
    .insert_experiment = js_insert_experiment,
    .update_running = js_update_running,
    .end_running = js_end_running,
    .forget = js_forget,
};
