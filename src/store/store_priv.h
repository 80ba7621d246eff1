/* Experiment store internals: the backend table and helpers shared by
 * store.c, sqlite.c and json.c. */
#ifndef LQMF_STORE_PRIV_H
#define LQMF_STORE_PRIV_H

#include "lqmf/store.h"

/* Each write op is one transaction. Records handed to ops are validated by
 * store.c; ops check references (model_id, ...) themselves, inside their
 * transaction, and report a missing one with lqmf_store_missing_ref. */
typedef struct {
    lqmf_status (*open)(lqmf_store *s); /* create, or validate and upgrade */
    void (*close)(lqmf_store *s);
    /* running_only is a hint: the op may then return only the running
     * experiments and no other records. */
    lqmf_status (*load)(lqmf_store *s, bool running_only, lqmf_store_snapshot *out);
    lqmf_status (*put_model)(lqmf_store *s, const lqmf_store_model *m, int64_t *id);
    lqmf_status (*put_artifact)(lqmf_store *s, const lqmf_store_artifact *a, int64_t *id);
    lqmf_status (*add_evaluation)(lqmf_store *s, const lqmf_store_evaluation *e, int64_t *id);
    lqmf_status (*insert_experiment)(lqmf_store *s, const lqmf_store_experiment *e, int64_t *id);
    /* Set plan, model_id, artifact_id of e->id if it is running. */
    lqmf_status (*update_running)(lqmf_store *s, const lqmf_store_experiment *e);
    /* Set state, finished_at, error of id if it is running. */
    lqmf_status (*end_running)(lqmf_store *s, int64_t id, lqmf_store_state state,
                               double finished_at, const char *error);
    /* Remove records as lqmf_store_forget says (files untouched); fills
     * out->n_evaluations and out->artifact_paths. */
    lqmf_status (*forget)(lqmf_store *s, int64_t id, lqmf_store_forgotten *out);
} lqmf_store_ops;

struct lqmf_store {
    const lqmf_store_ops *ops;
    lqmf_store_backend backend;
    char *path;
    void *impl; /* backend state */
    lqmf_store_experiment *interrupted;
    size_t n_interrupted;
};

extern const lqmf_store_ops lqmf_store_sqlite_ops;
extern const lqmf_store_ops lqmf_store_json_ops;

/* Common messages (each returns its status). */
lqmf_status lqmf_store_missing_ref(const lqmf_store *s, const char *table, const char *field,
                                   int64_t id);                 /* LQMF_E_INVALID */
lqmf_status lqmf_store_no_experiment(const lqmf_store *s, int64_t id); /* LQMF_E_NOT_FOUND */
lqmf_status lqmf_store_not_running(const lqmf_store *s, int64_t id,
                                   lqmf_store_state state);     /* LQMF_E_STATE */
lqmf_status lqmf_store_still_running(const lqmf_store *s, int64_t id); /* LQMF_E_STATE */
lqmf_status lqmf_store_nomem(const lqmf_store *s);              /* LQMF_E_NOMEM */

/* Deep copies (dst gets owned strings; false when out of memory, dst then
 * holds nothing) and releases of a record's strings. */
bool lqmf_store_model_copy(lqmf_store_model *dst, const lqmf_store_model *src);
bool lqmf_store_artifact_copy(lqmf_store_artifact *dst, const lqmf_store_artifact *src);
bool lqmf_store_experiment_copy(lqmf_store_experiment *dst, const lqmf_store_experiment *src);
bool lqmf_store_evaluation_copy(lqmf_store_evaluation *dst, const lqmf_store_evaluation *src);
void lqmf_store_model_clear(lqmf_store_model *m);
void lqmf_store_artifact_clear(lqmf_store_artifact *a);
void lqmf_store_experiment_clear(lqmf_store_experiment *e);
void lqmf_store_evaluation_clear(lqmf_store_evaluation *e);
/* Append a copy of the bytes of *rec to a growable array (*items holds *n
 * elements of elem_size); the array takes rec's strings. False when out of
 * memory: nothing changes and rec still owns its strings. Snapshot arrays
 * are grown only by this (capacity: 8, then the next power of two >= n), so
 * removing elements keeps enough room. */
bool lqmf_store_push(void **items, size_t *n, size_t elem_size, const void *rec);

/* Unix time now, seconds. */
double lqmf_store_unix_now(void);
/* "2024-05-01T12:00:00Z" (UTC, seconds truncated) into buf (>= 21 bytes). */
void lqmf_store_utc_time(double t, char *buf, size_t n);

/* The JSON document (docs/store.md): parse outside bytes into a snapshot and
 * the next ids per table {models, artifacts, experiments, evaluations}, and
 * write one. path names the file in messages. */
enum { LQMF_STORE_T_MODELS, LQMF_STORE_T_ARTIFACTS, LQMF_STORE_T_EXPERIMENTS,
       LQMF_STORE_T_EVALUATIONS, LQMF_STORE_N_TABLES };
lqmf_status lqmf_store_json_parse(const char *text, size_t len, const char *path,
                                  lqmf_store_snapshot *out, int64_t next_id[LQMF_STORE_N_TABLES],
                                  int *version);
lqmf_status lqmf_store_json_dump(const lqmf_store_snapshot *snap,
                                 const int64_t next_id[LQMF_STORE_N_TABLES], lqmf_buf *out);

#endif
