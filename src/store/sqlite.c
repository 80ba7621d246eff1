/* Experiment store, SQLite backend. One connection per handle; WAL journal,
 * foreign keys on, synchronous=FULL, a busy timeout, and every write inside
 * BEGIN IMMEDIATE so concurrent processes queue instead of failing. The file
 * is recognised by PRAGMA application_id ("LQMF") and its schema version by
 * PRAGMA user_version; anything else is refused before a byte is written.
 * Schema: docs/store.md. */
#include "store/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define APP_ID 0x4C514D46 /* "LQMF" */
#define BUSY_MS 30000     /* how long a writer waits for another one, ms */

/* k_migrations[v] takes the schema from version v to v + 1. */
static const char *const k_migrations[LQMF_STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE models ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " source TEXT NOT NULL,"
    " revision TEXT NOT NULL DEFAULT '',"
    " architecture TEXT NOT NULL DEFAULT '',"
    " n_params INTEGER NOT NULL DEFAULT 0,"
    " size_bytes INTEGER NOT NULL DEFAULT 0,"
    " created_at REAL NOT NULL,"
    " UNIQUE (source, revision));"
    "CREATE TABLE artifacts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " model_id INTEGER REFERENCES models(id),"
    " path TEXT NOT NULL UNIQUE,"
    " format TEXT NOT NULL,"
    " method TEXT NOT NULL,"
    " bits_per_weight REAL NOT NULL DEFAULT 0,"
    " size_bytes INTEGER NOT NULL DEFAULT 0,"
    " sha256 TEXT NOT NULL DEFAULT '',"
    " created_at REAL NOT NULL);"
    "CREATE TABLE experiments ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " request TEXT NOT NULL,"
    " plan TEXT NOT NULL DEFAULT '',"
    " model_id INTEGER REFERENCES models(id),"
    " artifact_id INTEGER REFERENCES artifacts(id),"
    " status TEXT NOT NULL CHECK (status IN ('running','succeeded','failed','interrupted')),"
    " started_at REAL NOT NULL,"
    " finished_at REAL,"
    " error TEXT NOT NULL DEFAULT '',"
    " host TEXT NOT NULL DEFAULT '',"
    " pid INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE evaluations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " experiment_id INTEGER REFERENCES experiments(id),"
    " model_id INTEGER REFERENCES models(id),"
    " artifact_id INTEGER REFERENCES artifacts(id),"
    " metric TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " unit TEXT NOT NULL DEFAULT '',"
    " protocol TEXT NOT NULL,"
    " created_at REAL NOT NULL);"
    "CREATE INDEX experiments_status ON experiments(status);"
    "CREATE INDEX experiments_model ON experiments(model_id);"
    "CREATE INDEX artifacts_model ON artifacts(model_id);"
    "CREATE INDEX evaluations_experiment ON evaluations(experiment_id);"
    "CREATE INDEX evaluations_artifact ON evaluations(artifact_id);",
    /* 1 -> 2: machine description and process identity of a run */
    "ALTER TABLE experiments ADD COLUMN host_info TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE experiments ADD COLUMN proc_token TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX experiments_artifact ON experiments(artifact_id);"
    "CREATE INDEX evaluations_metric ON evaluations(metric);",
};

static sqlite3 *db_of(lqmf_store *s) { return s->impl; }

static lqmf_status status_of(int rc) {
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return LQMF_E_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT: return LQMF_E_FORMAT;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG: return LQMF_E_INVALID;
    default: return LQMF_E_IO;
    }
}

static lqmf_status sq_error(lqmf_store *s, int rc, const char *what, const char *msg) {
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return lqmf_error(LQMF_E_IO, "%s: %s: still locked by another process after %d s (%s)",
                          s->path, what, BUSY_MS / 1000, msg);
    return lqmf_error(status_of(rc), "%s: %s: %s", s->path, what, msg);
}

static lqmf_status sq_exec(lqmf_store *s, const char *sql, const char *what) {
    char *msg = NULL;
    int rc = sqlite3_exec(db_of(s), sql, NULL, NULL, &msg);
    lqmf_status st = LQMF_OK;
    if (rc != SQLITE_OK) st = sq_error(s, rc, what, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return st;
}

/* A write transaction: taken at once (IMMEDIATE) so that it never has to be
 * upgraded from a stale read snapshot. */
static lqmf_status sq_begin(lqmf_store *s) {
    return sq_exec(s, "BEGIN IMMEDIATE", "start a write transaction");
}

/* Commit when st is OK, else roll back keeping st's message. */
static lqmf_status sq_end(lqmf_store *s, lqmf_status st) {
    if (st == LQMF_OK && (st = sq_exec(s, "COMMIT", "commit")) == LQMF_OK) return LQMF_OK;
    sqlite3_exec(db_of(s), "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* Prepare sql and bind one argument per letter of types: t text (const
 * char *, NULL as ""), r reference (int64_t, 0 as NULL), i int64_t,
 * u uint64_t, d double, w time (double, 0 as NULL). */
static lqmf_status sq_prep(lqmf_store *s, sqlite3_stmt **q, const char *sql, const char *types, ...) {
    int rc = sqlite3_prepare_v2(db_of(s), sql, -1, q, NULL);
    if (rc != SQLITE_OK) return sq_error(s, rc, "prepare a statement", sqlite3_errmsg(db_of(s)));
    va_list ap;
    va_start(ap, types);
    for (int i = 1; rc == SQLITE_OK && types[i - 1]; i++) {
        switch (types[i - 1]) {
        case 't': {
            const char *v = va_arg(ap, const char *);
            rc = sqlite3_bind_text(*q, i, v ? v : "", -1, SQLITE_TRANSIENT);
            break;
        }
        case 'r': {
            int64_t v = va_arg(ap, int64_t);
            rc = v > 0 ? sqlite3_bind_int64(*q, i, v) : sqlite3_bind_null(*q, i);
            break;
        }
        case 'i': rc = sqlite3_bind_int64(*q, i, va_arg(ap, int64_t)); break;
        case 'u': rc = sqlite3_bind_int64(*q, i, (sqlite3_int64)va_arg(ap, uint64_t)); break;
        case 'd': rc = sqlite3_bind_double(*q, i, va_arg(ap, double)); break;
        case 'w': {
            double v = va_arg(ap, double);
            rc = v != 0 ? sqlite3_bind_double(*q, i, v) : sqlite3_bind_null(*q, i);
            break;
        }
        default: rc = SQLITE_MISUSE;
        }
    }
    va_end(ap);
    if (rc != SQLITE_OK) {
        lqmf_status st = sq_error(s, rc, "bind a value", sqlite3_errmsg(db_of(s)));
        sqlite3_finalize(*q);
        *q = NULL;
        return st;
    }
    return LQMF_OK;
}

/* Step q once: *row tells whether a row came (false at the end). */
static lqmf_status sq_step(lqmf_store *s, sqlite3_stmt *q, bool *row, const char *what) {
    int rc = sqlite3_step(q);
    *row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return LQMF_OK;
    return sq_error(s, rc, what, sqlite3_errmsg(db_of(s)));
}

/* Run q to its end and finalize it; *first (may be NULL) gets column 0 of
 * the first row (0 when none). */
static lqmf_status sq_finish(lqmf_store *s, sqlite3_stmt *q, const char *what, int64_t *first) {
    bool row, any = false;
    lqmf_status st;
    if (first) *first = 0;
    while ((st = sq_step(s, q, &row, what)) == LQMF_OK && row) {
        if (first && !any) *first = sqlite3_column_int64(q, 0);
        any = true;
    }
    sqlite3_finalize(q);
    return st;
}

/* Integer result of a one-value query (a PRAGMA, a count). */
static lqmf_status sq_int(lqmf_store *s, const char *sql, const char *what, int64_t *out) {
    sqlite3_stmt *q;
    lqmf_status st = sq_prep(s, &q, sql, "");
    return st == LQMF_OK ? sq_finish(s, q, what, out) : st;
}

/* field (of a record of `table`) names the record `id` of `target`, or is 0. */
static lqmf_status sq_check_ref(lqmf_store *s, const char *table, const char *field,
                                const char *target, int64_t id) {
    if (id <= 0) return LQMF_OK;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE id = ?", target);
    sqlite3_stmt *q;
    int64_t n;
    lqmf_status st = sq_prep(s, &q, sql, "i", id);
    if (st == LQMF_OK) st = sq_finish(s, q, "check a reference", &n);
    if (st == LQMF_OK && n == 0) st = lqmf_store_missing_ref(s, table, field, id);
    return st;
}

/* ---- opening ------------------------------------------------------------------ */

/* A non-empty file must start with the SQLite magic before SQLite sees it. */
static lqmf_status check_header(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? LQMF_OK
                               : lqmf_error(LQMF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat stt;
    unsigned char head[16] = { 0 };
    lqmf_status st = LQMF_OK;
    if (fstat(fd, &stt) != 0) {
        st = lqmf_error(LQMF_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (!S_ISREG(stt.st_mode)) {
        st = lqmf_error(LQMF_E_INVALID, "%s: not a regular file", path);
    } else if (stt.st_size > 0 && (read(fd, head, sizeof head) != (ssize_t)sizeof head ||
                                   memcmp(head, "SQLite format 3", 16) != 0)) {
        st = lqmf_error(LQMF_E_FORMAT,
                        "%s: not an SQLite database (starts with %02x %02x %02x %02x), so not an "
                        "lqmf experiment store; left untouched",
                        path, head[0], head[1], head[2], head[3]);
    }
    close(fd);
    return st;
}

typedef struct {
    int64_t app_id, version, n_objects;
} sq_meta;

static lqmf_status read_meta(lqmf_store *s, sq_meta *m) {
    lqmf_status st = sq_int(s, "PRAGMA application_id", "read the header", &m->app_id);
    if (st == LQMF_OK) st = sq_int(s, "PRAGMA user_version", "read the header", &m->version);
    if (st == LQMF_OK)
        st = sq_int(s, "SELECT count(*) FROM sqlite_master", "read the schema", &m->n_objects);
    if (st == LQMF_E_FORMAT)
        lqmf_error(st, "%s: not a readable SQLite database (%s), so not an lqmf experiment store; "
                   "left untouched", s->path, sqlite3_errmsg(db_of(s)));
    return st;
}

/* Ours (any known version), empty (*fresh), or refused. */
static lqmf_status classify(lqmf_store *s, const sq_meta *m, bool *fresh) {
    *fresh = false;
    if (m->app_id == APP_ID) {
        if (m->version > LQMF_STORE_SCHEMA_VERSION)
            return lqmf_error(LQMF_E_UNSUPPORTED,
                              "%s: experiment store schema version %lld is newer than this lqmf "
                              "(it reads up to %d); left untouched",
                              s->path, (long long)m->version, LQMF_STORE_SCHEMA_VERSION);
        if (m->version < 1)
            return lqmf_error(LQMF_E_FORMAT, "%s: lqmf experiment store with schema version %lld; "
                              "left untouched", s->path, (long long)m->version);
        return LQMF_OK;
    }
    if (m->app_id == 0 && m->version == 0 && m->n_objects == 0) {
        *fresh = true;
        return LQMF_OK;
    }
    return lqmf_error(LQMF_E_FORMAT,
                      "%s: an SQLite database of another program (application_id 0x%08llx, "
                      "user_version %lld, %lld schema objects), not an lqmf experiment store; "
                      "left untouched",
                      s->path, (unsigned long long)(uint32_t)m->app_id, (long long)m->version,
                      (long long)m->n_objects);
}

/* Create the schema or bring it to the current version, in one transaction
 * (re-checked inside it: another process may have done it meanwhile). */
static lqmf_status upgrade(lqmf_store *s) {
    lqmf_status st = sq_begin(s);
    if (st != LQMF_OK) return st;
    sq_meta m = { 0 };
    bool fresh = false;
    st = read_meta(s, &m);
    if (st == LQMF_OK) st = classify(s, &m, &fresh);
    int64_t from = fresh ? 0 : m.version;
    for (int64_t v = from; st == LQMF_OK && v < LQMF_STORE_SCHEMA_VERSION; v++) {
        st = sq_exec(s, k_migrations[v], "upgrade the schema");
        if (st != LQMF_OK)
            lqmf_error_prefix(st, "from version %lld to %lld", (long long)v, (long long)v + 1);
    }
    char sql[96];
    if (st == LQMF_OK && fresh) {
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d", APP_ID);
        st = sq_exec(s, sql, "set the application id");
    }
    if (st == LQMF_OK && from < LQMF_STORE_SCHEMA_VERSION) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", LQMF_STORE_SCHEMA_VERSION);
        st = sq_exec(s, sql, "set the schema version");
    }
    return sq_end(s, st);
}

/* WAL lets readers go on while one process writes; it persists in the file. */
static lqmf_status try_wal(lqmf_store *s) {
    sqlite3_stmt *q;
    lqmf_status st = sq_prep(s, &q, "PRAGMA journal_mode", "");
    bool row;
    if (st == LQMF_OK) st = sq_step(s, q, &row, "read the journal mode");
    bool wal = st == LQMF_OK && row && strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0;
    sqlite3_finalize(q);
    if (st != LQMF_OK || wal) return st;
    st = sq_prep(s, &q, "PRAGMA journal_mode = WAL", "");
    if (st == LQMF_OK) st = sq_step(s, q, &row, "switch to WAL");
    wal = st == LQMF_OK && row && strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0;
    sqlite3_finalize(q);
    if (st == LQMF_OK && !wal)
        st = lqmf_error(LQMF_E_IO, "%s: cannot switch to WAL journal mode", s->path);
    return st;
}

/* SQLite answers a journal-mode change that meets another connection with
 * SQLITE_BUSY at once, without its busy handler: wait here instead. */
static lqmf_status use_wal(lqmf_store *s) {
    lqmf_status st;
    for (int waited_ms = 0;; waited_ms += 10) {
        st = try_wal(s);
        int rc = sqlite3_errcode(db_of(s)) & 0xff;
        if (st == LQMF_OK || (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited_ms >= BUSY_MS) return st;
        sqlite3_sleep(10);
    }
}

static lqmf_status sq_open(lqmf_store *s) {
    lqmf_status st = check_header(s->path);
    if (st != LQMF_OK) return st;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        st = lqmf_error(status_of(rc), "%s: cannot open: %s", s->path,
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return st;
    }
    s->impl = db;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_MS);
    sq_meta m;
    bool fresh = false;
    /* one read transaction: the three header figures from one snapshot, never
     * half of another process's schema creation */
    st = sq_exec(s, "BEGIN", "start a read transaction");
    if (st == LQMF_OK) st = sq_end(s, read_meta(s, &m));
    if (st == LQMF_OK) st = classify(s, &m, &fresh);
    if (st == LQMF_OK) st = use_wal(s);
    if (st == LQMF_OK) st = sq_exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL",
                                    "set up the connection");
    if (st == LQMF_OK && (fresh || m.version < LQMF_STORE_SCHEMA_VERSION)) st = upgrade(s);
    if (st != LQMF_OK) {
        sqlite3_close(db);
        s->impl = NULL;
    }
    return st;
}

static void sq_close(lqmf_store *s) {
    sqlite3_close(db_of(s));
    s->impl = NULL;
}

/* ---- reading ------------------------------------------------------------------- */

static const char *col_text(sqlite3_stmt *q, int i) {
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? (const char *)t : "";
}

/* A size column, which must not be negative. */
static lqmf_status col_size(lqmf_store *s, sqlite3_stmt *q, int i, const char *table, uint64_t *out) {
    int64_t v = sqlite3_column_int64(q, i);
    if (v < 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s id %lld: %s = %lld is negative", s->path, table,
                          (long long)sqlite3_column_int64(q, 0), sqlite3_column_name(q, i),
                          (long long)v);
    *out = (uint64_t)v;
    return LQMF_OK;
}

static lqmf_status push_or_nomem(lqmf_store *s, void **items, size_t *n, size_t size, void *rec,
                                 bool copied) {
    if (copied && lqmf_store_push(items, n, size, rec)) return LQMF_OK;
    return lqmf_store_nomem(s);
}

static lqmf_status load_models(lqmf_store *s, lqmf_store_snapshot *out) {
    sqlite3_stmt *q;
    lqmf_status st = sq_prep(s, &q, "SELECT id, source, revision, architecture, n_params, "
                                    "size_bytes, created_at FROM models ORDER BY id", "");
    bool row;
    while (st == LQMF_OK && (st = sq_step(s, q, &row, "read models")) == LQMF_OK && row) {
        lqmf_store_model m = { .id = sqlite3_column_int64(q, 0), .source = col_text(q, 1),
                               .revision = col_text(q, 2), .architecture = col_text(q, 3),
                               .created_at = sqlite3_column_double(q, 6) };
        lqmf_store_model c;
        st = col_size(s, q, 4, "models", &m.n_params);
        if (st == LQMF_OK) st = col_size(s, q, 5, "models", &m.size_bytes);
        if (st != LQMF_OK) break;
        bool ok = lqmf_store_model_copy(&c, &m);
        if ((st = push_or_nomem(s, (void **)&out->models, &out->n_models, sizeof c, &c, ok)) != LQMF_OK && ok)
            lqmf_store_model_clear(&c);
    }
    sqlite3_finalize(q);
    return st;
}

static lqmf_status load_artifacts(lqmf_store *s, lqmf_store_snapshot *out) {
    sqlite3_stmt *q;
    lqmf_status st = sq_prep(s, &q, "SELECT id, model_id, path, format, method, bits_per_weight, "
                                    "size_bytes, sha256, created_at FROM artifacts ORDER BY id", "");
    bool row;
    while (st == LQMF_OK && (st = sq_step(s, q, &row, "read artifacts")) == LQMF_OK && row) {
        lqmf_store_artifact a = { .id = sqlite3_column_int64(q, 0),
                                  .model_id = sqlite3_column_int64(q, 1), .path = col_text(q, 2),
                                  .format = col_text(q, 3), .method = col_text(q, 4),
                                  .bits_per_weight = sqlite3_column_double(q, 5),
                                  .sha256 = col_text(q, 7),
                                  .created_at = sqlite3_column_double(q, 8) };
        lqmf_store_artifact c;
        if ((st = col_size(s, q, 6, "artifacts", &a.size_bytes)) != LQMF_OK) break;
        bool ok = lqmf_store_artifact_copy(&c, &a);
        if ((st = push_or_nomem(s, (void **)&out->artifacts, &out->n_artifacts, sizeof c, &c, ok)) != LQMF_OK && ok)
            lqmf_store_artifact_clear(&c);
    }
    sqlite3_finalize(q);
    return st;
}

static lqmf_status load_experiments(lqmf_store *s, bool running_only, lqmf_store_snapshot *out) {
    sqlite3_stmt *q;
    lqmf_status st = sq_prep(s, &q, running_only
        ? "SELECT id, request, plan, model_id, artifact_id, status, started_at, finished_at, error,"
          " host, pid, host_info, proc_token FROM experiments WHERE status = 'running' ORDER BY id"
        : "SELECT id, request, plan, model_id, artifact_id, status, started_at, finished_at, error,"
          " host, pid, host_info, proc_token FROM experiments ORDER BY id", "");
    bool row;
    while (st == LQMF_OK && (st = sq_step(s, q, &row, "read experiments")) == LQMF_OK && row) {
        lqmf_store_experiment e = { .id = sqlite3_column_int64(q, 0), .request = col_text(q, 1),
                                    .plan = col_text(q, 2), .model_id = sqlite3_column_int64(q, 3),
                                    .artifact_id = sqlite3_column_int64(q, 4),
                                    .started_at = sqlite3_column_double(q, 6),
                                    .finished_at = sqlite3_column_double(q, 7),
                                    .error = col_text(q, 8), .host = col_text(q, 9),
                                    .pid = sqlite3_column_int64(q, 10), .host_info = col_text(q, 11),
                                    .proc_token = col_text(q, 12) };
        if (!lqmf_store_state_from_name(col_text(q, 5), &e.state)) {
            st = lqmf_error(LQMF_E_FORMAT, "%s: experiments id %lld: unknown status '%.40s'",
                            s->path, (long long)e.id, col_text(q, 5));
            break;
        }
        lqmf_store_experiment c;
        bool ok = lqmf_store_experiment_copy(&c, &e);
        if ((st = push_or_nomem(s, (void **)&out->experiments, &out->n_experiments, sizeof c, &c, ok)) != LQMF_OK && ok)
            lqmf_store_experiment_clear(&c);
    }
    sqlite3_finalize(q);
    return st;
}

static lqmf_status load_evaluations(lqmf_store *s, lqmf_store_snapshot *out) {
    sqlite3_stmt *q;
    lqmf_status st = sq_prep(s, &q, "SELECT id, experiment_id, model_id, artifact_id, metric, "
                                    "value, unit, protocol, created_at FROM evaluations ORDER BY id", "");
    bool row;
    while (st == LQMF_OK && (st = sq_step(s, q, &row, "read evaluations")) == LQMF_OK && row) {
        lqmf_store_evaluation e = { .id = sqlite3_column_int64(q, 0),
                                    .experiment_id = sqlite3_column_int64(q, 1),
                                    .model_id = sqlite3_column_int64(q, 2),
                                    .artifact_id = sqlite3_column_int64(q, 3),
                                    .metric = col_text(q, 4), .value = sqlite3_column_double(q, 5),
                                    .unit = col_text(q, 6), .protocol = col_text(q, 7),
                                    .created_at = sqlite3_column_double(q, 8) };
        lqmf_store_evaluation c;
        bool ok = lqmf_store_evaluation_copy(&c, &e);
        if ((st = push_or_nomem(s, (void **)&out->evaluations, &out->n_evaluations, sizeof c, &c, ok)) != LQMF_OK && ok)
            lqmf_store_evaluation_clear(&c);
    }
    sqlite3_finalize(q);
    return st;
}

/* All tables in one read transaction (one consistent WAL snapshot). */
static lqmf_status sq_load(lqmf_store *s, bool running_only, lqmf_store_snapshot *out) {
    memset(out, 0, sizeof *out);
    lqmf_status st = sq_exec(s, "BEGIN", "start a read transaction");
    if (st != LQMF_OK) return st;
    if (!running_only) st = load_models(s, out);
    if (st == LQMF_OK && !running_only) st = load_artifacts(s, out);
    if (st == LQMF_OK) st = load_experiments(s, running_only, out);
    if (st == LQMF_OK && !running_only) st = load_evaluations(s, out);
    st = sq_end(s, st);
    if (st != LQMF_OK) lqmf_store_snapshot_free(out);
    return st;
}

/* ---- writing ------------------------------------------------------------------- */

static lqmf_status sq_put_model(lqmf_store *s, const lqmf_store_model *m, int64_t *id) {
    lqmf_status st = sq_begin(s);
    if (st != LQMF_OK) return st;
    sqlite3_stmt *q;
    /* An existing (source, revision) keeps what the new record leaves unknown. */
    st = sq_prep(s, &q,
                 "INSERT INTO models (source, revision, architecture, n_params, size_bytes, created_at)"
                 " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, revision) DO UPDATE SET"
                 " architecture = CASE WHEN excluded.architecture <> '' THEN excluded.architecture"
                 "  ELSE architecture END,"
                 " n_params = CASE WHEN excluded.n_params <> 0 THEN excluded.n_params ELSE n_params END,"
                 " size_bytes = CASE WHEN excluded.size_bytes <> 0 THEN excluded.size_bytes"
                 "  ELSE size_bytes END"
                 " RETURNING id",
                 "tttuud", m->source, m->revision, m->architecture, m->n_params, m->size_bytes,
                 lqmf_store_unix_now());
    if (st == LQMF_OK) st = sq_finish(s, q, "record a model", id);
    return sq_end(s, st);
}

static lqmf_status sq_put_artifact(lqmf_store *s, const lqmf_store_artifact *a, int64_t *id) {
    lqmf_status st = sq_begin(s);
    if (st != LQMF_OK) return st;
    st = sq_check_ref(s, "artifact", "model_id", "models", a->model_id);
    sqlite3_stmt *q;
    if (st == LQMF_OK)
        st = sq_prep(s, &q,
                     "INSERT INTO artifacts (model_id, path, format, method, bits_per_weight,"
                     " size_bytes, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                     " ON CONFLICT (path) DO UPDATE SET model_id = excluded.model_id,"
                     " format = excluded.format, method = excluded.method,"
                     " bits_per_weight = excluded.bits_per_weight, size_bytes = excluded.size_bytes,"
                     " sha256 = excluded.sha256, created_at = excluded.created_at RETURNING id",
                     "rtttdutd", a->model_id, a->path, a->format, a->method, a->bits_per_weight,
                     a->size_bytes, a->sha256, lqmf_store_unix_now());
    if (st == LQMF_OK) st = sq_finish(s, q, "record an artifact", id);
    return sq_end(s, st);
}

static lqmf_status sq_add_evaluation(lqmf_store *s, const lqmf_store_evaluation *e, int64_t *id) {
    lqmf_status st = sq_begin(s);
    if (st != LQMF_OK) return st;
    st = sq_check_ref(s, "evaluation", "experiment_id", "experiments", e->experiment_id);
    if (st == LQMF_OK) st = sq_check_ref(s, "evaluation", "model_id", "models", e->model_id);
    if (st == LQMF_OK) st = sq_check_ref(s, "evaluation", "artifact_id", "artifacts", e->artifact_id);
    sqlite3_stmt *q;
    if (st == LQMF_OK)
        st = sq_prep(s, &q,
                     "INSERT INTO evaluations (experiment_id, model_id, artifact_id, metric, value,"
                     " unit, protocol, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                     "rrrtdttd", e->experiment_id, e->model_id, e->artifact_id, e->metric, e->value,
                     e->unit, e->protocol, lqmf_store_unix_now());
    if (st == LQMF_OK) st = sq_finish(s, q, "record an evaluation", id);
    return sq_end(s, st);
}

static lqmf_status check_experiment_refs(lqmf_store *s, const lqmf_store_experiment *e) {
    lqmf_status st = sq_check_ref(s, "experiment", "model_id", "models", e->model_id);
    if (st == LQMF_OK) st = sq_check_ref(s, "experiment", "artifact_id", "artifacts", e->artifact_id);
    return st;
}

static lqmf_status sq_insert_experiment(lqmf_store *s, const lqmf_store_experiment *e, int64_t *id) {
    lqmf_status st = sq_begin(s);
    if (st != LQMF_OK) return st;
    st = check_experiment_refs(s, e);
    sqlite3_stmt *q;
    if (st == LQMF_OK)
        st = sq_prep(s, &q,
                     "INSERT INTO experiments (request, plan, model_id, artifact_id, status,"
                     " started_at, finished_at, error, host, pid, host_info, proc_token)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                     "ttrrtdwttitt", e->request, e->plan, e->model_id, e->artifact_id,
                     lqmf_store_state_name(e->state), e->started_at, e->finished_at, e->error,
                     e->host, e->pid, e->host_info, e->proc_token);
    if (st == LQMF_OK) st = sq_finish(s, q, "record an experiment", id);
    return sq_end(s, st);
}

/* Inside a transaction: experiment id exists and is running. */
static lqmf_status require_running(lqmf_store *s, int64_t id) {
    sqlite3_stmt *q;
    bool row;
    lqmf_status st = sq_prep(s, &q, "SELECT status FROM experiments WHERE id = ?", "i", id);
    if (st != LQMF_OK) return st;
    st = sq_step(s, q, &row, "read an experiment");
    lqmf_store_state state = LQMF_STORE_RUNNING;
    if (st == LQMF_OK && !row) st = lqmf_store_no_experiment(s, id);
    else if (st == LQMF_OK && (!lqmf_store_state_from_name(col_text(q, 0), &state) ||
                               state != LQMF_STORE_RUNNING))
        st = lqmf_store_not_running(s, id, state);
    sqlite3_finalize(q);
    return st;
}

static lqmf_status sq_update_running(lqmf_store *s, const lqmf_store_experiment *e) {
    lqmf_status st = sq_begin(s);
    if (st != LQMF_OK) return st;
    st = require_running(s, e->id);
    if (st == LQMF_OK) st = check_experiment_refs(s, e);
    sqlite3_stmt *q;
    if (st == LQMF_OK)
        st = sq_prep(s, &q, "UPDATE experiments SET plan = ?, model_id = ?, artifact_id = ?"
                            " WHERE id = ?", "trri", e->plan, e->model_id, e->artifact_id, e->id);
    if (st == LQMF_OK) st = sq_finish(s, q, "update an experiment", NULL);
    return sq_end(s, st);
}

static lqmf_status sq_end_running(lqmf_store *s, int64_t id, lqmf_store_state state,
                                  double finished_at, const char *error) {
    lqmf_status st = sq_begin(s);
    if (st != LQMF_OK) return st;
    st = require_running(s, id);
    sqlite3_stmt *q;
    if (st == LQMF_OK)
        st = sq_prep(s, &q, "UPDATE experiments SET status = ?, finished_at = ?, error = ?"
                            " WHERE id = ?", "twti", lqmf_store_state_name(state), finished_at,
                     error, id);
    if (st == LQMF_OK) st = sq_finish(s, q, "finish an experiment", NULL);
    return sq_end(s, st);
}

/* Run a one-id statement; *changes gets the rows it touched. */
static lqmf_status sq_run_id(lqmf_store *s, const char *sql, int64_t id, size_t *changes) {
    sqlite3_stmt *q;
    lqmf_status st = sq_prep(s, &q, sql, "i", id);
    if (st == LQMF_OK) st = sq_finish(s, q, "forget an experiment", NULL);
    if (st == LQMF_OK && changes) *changes += (size_t)sqlite3_changes(db_of(s));
    return st;
}

/* Text column 0 of the row a one-id query returns; *out NULL when none. */
static lqmf_status sq_text_by_id(lqmf_store *s, const char *sql, int64_t id, char **out) {
    *out = NULL;
    sqlite3_stmt *q;
    bool row;
    lqmf_status st = sq_prep(s, &q, sql, "i", id);
    if (st != LQMF_OK) return st;
    st = sq_step(s, q, &row, "read a record");
    if (st == LQMF_OK && row && !(*out = strdup(col_text(q, 0)))) st = lqmf_store_nomem(s);
    sqlite3_finalize(q);
    return st;
}

/* Remove artifact (with its evaluations) unless an experiment still names
 * it; its path goes to out. */
static lqmf_status forget_artifact(lqmf_store *s, int64_t artifact, lqmf_store_forgotten *out) {
    sqlite3_stmt *q;
    int64_t users = 0;
    char *path = NULL;
    lqmf_status st = sq_prep(s, &q, "SELECT count(*) FROM experiments WHERE artifact_id = ?", "i",
                             artifact);
    if (st == LQMF_OK) st = sq_finish(s, q, "count the artifact's experiments", &users);
    if (st != LQMF_OK || users > 0) return st;
    st = sq_text_by_id(s, "SELECT path FROM artifacts WHERE id = ?", artifact, &path);
    if (st == LQMF_OK) st = sq_run_id(s, "DELETE FROM evaluations WHERE artifact_id = ?", artifact,
                                      &out->n_evaluations);
    if (st == LQMF_OK) st = sq_run_id(s, "DELETE FROM artifacts WHERE id = ?", artifact, NULL);
    if (st == LQMF_OK && path) {
        if (lqmf_store_push((void **)&out->artifact_paths, &out->n_artifacts, sizeof path, &path))
            path = NULL; /* moved */
        else st = lqmf_store_nomem(s);
    }
    free(path);
    return st;
}

static lqmf_status sq_forget(lqmf_store *s, int64_t id, lqmf_store_forgotten *out) {
    lqmf_status st = sq_begin(s);
    if (st != LQMF_OK) return st;
    sqlite3_stmt *q;
    bool row;
    int64_t artifact = 0;
    st = sq_prep(s, &q, "SELECT status, artifact_id FROM experiments WHERE id = ?", "i", id);
    if (st == LQMF_OK) {
        st = sq_step(s, q, &row, "read an experiment");
        if (st == LQMF_OK && !row) st = lqmf_store_no_experiment(s, id);
        else if (st == LQMF_OK && strcmp(col_text(q, 0), "running") == 0)
            st = lqmf_store_still_running(s, id);
        else if (st == LQMF_OK) artifact = sqlite3_column_int64(q, 1);
        sqlite3_finalize(q);
    }
    if (st == LQMF_OK) st = sq_run_id(s, "DELETE FROM evaluations WHERE experiment_id = ?", id,
                                      &out->n_evaluations);
    if (st == LQMF_OK) st = sq_run_id(s, "DELETE FROM experiments WHERE id = ?", id, NULL);
    if (st == LQMF_OK && artifact > 0) st = forget_artifact(s, artifact, out);
    st = sq_end(s, st);
    if (st != LQMF_OK) lqmf_store_forgotten_free(out);
    return st;
}

const lqmf_store_ops lqmf_store_sqlite_ops = {
    .open = sq_open,
    .close = sq_close,
    .load = sq_load,
    .put_model = sq_put_model,
    .put_artifact = sq_put_artifact,
    .add_evaluation = sq_add_evaluation,
    .insert_experiment = sq_insert_experiment,
    .update_running = sq_update_running,
    .end_running = sq_end_running,
    .forget = sq_forget,
};
