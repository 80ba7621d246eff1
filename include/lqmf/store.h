/* The experiment store: every model, artifact, experiment and evaluation
 * lqmf has seen, in an SQLite database (default) or a JSON file, behind one
 * interface. Schema and file formats: docs/store.md.
 *
 * Guarantees (both backends):
 * - Several processes may write at once; every write is one transaction
 *   (SQLite: WAL + BEGIN IMMEDIATE + busy timeout; JSON: flock on
 *   "<path>.lock" + write to a temporary + rename), so none is lost.
 * - An experiment is begun 'running' with this process's pid and host. When
 *   a store is opened, running experiments of this host whose process is
 *   gone are marked 'interrupted' and listed by lqmf_store_interrupted().
 * - A file that is not ours (corrupt bytes, another program's SQLite or JSON,
 *   a newer schema) is refused with an error naming it and is never written.
 *
 * Ownership: records passed in are only read (the store copies what it
 * keeps; NULL strings read as ""). Records the store returns (snapshots,
 * interrupted list) own their strings (heap copies, never NULL, released by
 * the matching _free; the const is for callers filling records in). A store handle
 * is for one thread at a time and one process (open another after fork()). */
#ifndef LQMF_STORE_H
#define LQMF_STORE_H

#include "lqmf/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LQMF_STORE_SCHEMA_VERSION 2
/* Metric names the store's statistics read (other metrics are kept as is). */
#define LQMF_METRIC_KL "kl_divergence" /* mean KL(original || artifact), nats/token */
#define LQMF_METRIC_PPL "perplexity"

typedef enum { LQMF_STORE_SQLITE = 0, LQMF_STORE_JSON = 1 } lqmf_store_backend;

typedef enum {
    LQMF_STORE_RUNNING = 0,
    LQMF_STORE_SUCCEEDED,
    LQMF_STORE_FAILED,
    LQMF_STORE_INTERRUPTED /* its process ended without finishing it */
} lqmf_store_state;

typedef struct {
    int64_t id;          /* > 0, assigned by the store */
    const char *source;  /* Hugging Face id ("org/name") or local path; required */
    const char *revision; /* commit or branch; "" when unknown */
    const char *architecture; /* "llama", "gpt2", ...; "" when unknown */
    uint64_t n_params;   /* parameters; 0 when unknown */
    uint64_t size_bytes; /* bytes of the original weights; 0 when unknown */
    double created_at;   /* unix seconds, set by the store */
} lqmf_store_model;

typedef struct {
    int64_t id;
    int64_t model_id;      /* parent model; 0 when none */
    const char *path;      /* file or folder; unique: a new artifact at a path replaces the old */
    const char *format;    /* "gguf", "gptq", "bnb", ...; required */
    const char *method;    /* quant type or method: "Q4_K_M", "nf4", ...; required */
    double bits_per_weight;
    uint64_t size_bytes;
    const char *sha256;    /* 64 lower-case hex digits, or "" */
    double created_at;     /* unix seconds, set by the store */
} lqmf_store_artifact;

typedef struct {
    int64_t id;
    const char *request;   /* what the user asked, verbatim; required */
    const char *plan;      /* the chosen plan (JSON text); "" before planning */
    int64_t model_id;      /* 0 until known */
    int64_t artifact_id;   /* the artifact it produced; 0 until known */
    lqmf_store_state state;
    double started_at;     /* unix seconds */
    double finished_at;    /* unix seconds; 0 while running and when interrupted */
    const char *error;     /* why it failed or was interrupted; "" otherwise */
    const char *host;      /* hostname of the process that ran it */
    int64_t pid;           /* that process */
    const char *host_info; /* caller's description of the machine (CPU, GPU, memory) */
    const char *proc_token; /* "<boot id>:<start time in ticks>" of pid, tells a reused pid */
} lqmf_store_experiment;

typedef struct {
    int64_t id;
    int64_t experiment_id; /* the run that measured it; 0 when none */
    int64_t model_id;      /* the model measured (or the artifact's parent); 0 when none */
    int64_t artifact_id;   /* the artifact measured; 0 = the original model (baseline) */
    const char *metric;    /* LQMF_METRIC_KL, "perplexity", "decode_tokens_per_s", ...; required */
    double value;          /* finite */
    const char *unit;      /* "nats", "tokens/s", "bytes", ... or "" */
    const char *protocol;  /* how it was measured (text, context, chunks, baseline); required */
    double created_at;     /* unix seconds, set by the store */
} lqmf_store_evaluation;

/* Every record of a store, each array in increasing id order. */
typedef struct {
    lqmf_store_model *models;
    size_t n_models;
    lqmf_store_artifact *artifacts;
    size_t n_artifacts;
    lqmf_store_experiment *experiments;
    size_t n_experiments;
    lqmf_store_evaluation *evaluations;
    size_t n_evaluations;
} lqmf_store_snapshot;

typedef struct lqmf_store lqmf_store;

/* ---- names ---------------------------------------------------------------- */
const char *lqmf_store_backend_name(lqmf_store_backend b); /* "sqlite" | "json" */
bool lqmf_store_backend_from_name(const char *name, lqmf_store_backend *out);
const char *lqmf_store_state_name(lqmf_store_state st); /* "running", ... ; "?" if invalid */
bool lqmf_store_state_from_name(const char *name, lqmf_store_state *out);
/* $LQMF_HOME/experiments.{db,json}, else ./.lqmf/experiments.{db,json}.
 * Heap string owned by the caller (free()); NULL when out of memory. */
char *lqmf_store_default_path(lqmf_store_backend b);

/* ---- open / close ----------------------------------------------------------- */
/* Open the store at path, creating it when absent, upgrading an older schema
 * in one transaction, and marking dead 'running' experiments interrupted. */
lqmf_status lqmf_store_open(const char *path, lqmf_store_backend b, lqmf_store **out);
void lqmf_store_close(lqmf_store *s); /* NULL is a no-op */
const char *lqmf_store_path(const lqmf_store *s);
lqmf_store_backend lqmf_store_backend_of(const lqmf_store *s);
/* Experiments this open marked interrupted (as they are now). Owned by s. */
const lqmf_store_experiment *lqmf_store_interrupted(const lqmf_store *s, size_t *n);

/* ---- writes (each is one transaction; an id out-pointer may be NULL) ------------- */
/* Insert a model, or update the one with the same (source, revision): fields
 * given non-empty / non-zero replace the stored ones. *id gets its id. */
lqmf_status lqmf_store_put_model(lqmf_store *s, const lqmf_store_model *m, int64_t *id);
/* Insert an artifact, or replace the one at the same path (keeping its id). */
lqmf_status lqmf_store_put_artifact(lqmf_store *s, const lqmf_store_artifact *a, int64_t *id);
lqmf_status lqmf_store_add_evaluation(lqmf_store *s, const lqmf_store_evaluation *e, int64_t *id);

/* Begin an experiment: request, plan, model_id, artifact_id and host_info
 * come from e; the state (running), start time, host, pid and process token
 * are set here. */
lqmf_status lqmf_store_begin(lqmf_store *s, const lqmf_store_experiment *e, int64_t *id);
/* Record what became known while running: plan, model_id, artifact_id of
 * experiment e->id. LQMF_E_STATE when it is no longer running. */
lqmf_status lqmf_store_update(lqmf_store *s, const lqmf_store_experiment *e);
/* End a running experiment as SUCCEEDED, FAILED (error required) now, or
 * INTERRUPTED (error required; finished_at stays 0), e.g. on Ctrl-C. */
lqmf_status lqmf_store_finish(lqmf_store *s, int64_t id, lqmf_store_state state, const char *error);

typedef struct {
    size_t n_evaluations;  /* evaluation records removed */
    char **artifact_paths; /* paths of the artifact records removed (owned) */
    size_t n_artifacts;
    size_t n_files_deleted; /* with delete_files: paths actually removed from disk */
} lqmf_store_forgotten;

/* Remove experiment id, its evaluations, and the artifact it produced when no
 * other experiment refers to it (with that artifact's evaluations). Models
 * stay. Files are untouched unless delete_files: then each removed artifact's
 * file (or flat folder of files) is deleted too. Refuses a running
 * experiment (LQMF_E_STATE). *out (may be NULL) is freed with
 * lqmf_store_forgotten_free. */
lqmf_status lqmf_store_forget(lqmf_store *s, int64_t id, bool delete_files, lqmf_store_forgotten *out);
void lqmf_store_forgotten_free(lqmf_store_forgotten *f);

/* ---- reads ---------------------------------------------------------------------- */
/* All records, read in one transaction. Free with lqmf_store_snapshot_free. */
lqmf_status lqmf_store_load(lqmf_store *s, lqmf_store_snapshot *out);
void lqmf_store_snapshot_free(lqmf_store_snapshot *snap); /* NULL is a no-op */
/* Lookups by id (binary search); NULL when absent or id <= 0. */
const lqmf_store_model *lqmf_store_find_model(const lqmf_store_snapshot *snap, int64_t id);
const lqmf_store_artifact *lqmf_store_find_artifact(const lqmf_store_snapshot *snap, int64_t id);
const lqmf_store_experiment *lqmf_store_find_experiment(const lqmf_store_snapshot *snap, int64_t id);
/* Does the model match a user's query: same source, or the query is a
 * case-insensitive substring of the source ("tiny-llama"). */
bool lqmf_store_model_matches(const lqmf_store_model *m, const char *query);
/* Latest value (highest id) of metric for an artifact; NAN when none. */
double lqmf_store_artifact_metric(const lqmf_store_snapshot *snap, int64_t artifact_id,
                                  const char *metric);

/* ---- statistics ------------------------------------------------------------------- */
typedef struct {
    const char *format, *method; /* borrowed from the snapshot */
    size_t n_artifacts;
    double mean_bits_per_weight;
    double mean_size_bytes;
    double mean_size_ratio; /* artifact / parent model bytes, over n_ratio artifacts; NAN if 0 */
    size_t n_ratio;
    double mean_kl;         /* over the n_kl artifacts with a KL evaluation; NAN if 0 */
    size_t n_kl;
} lqmf_store_method_stats;

typedef struct {
    const lqmf_store_model *model;       /* borrowed from the snapshot */
    const lqmf_store_artifact *artifact; /* the best one that fits the budget */
    double kl;                           /* its KL divergence; NAN when unmeasured */
} lqmf_store_best;

/* Figures over a snapshot. Rates are over finished experiments (succeeded +
 * failed + interrupted); NAN when there are none. Durations are
 * finished_at - started_at, seconds. Storage counts artifacts whose parent
 * model has a size. Best per model: among its artifacts of at most
 * budget_bytes (0 = no limit), the lowest KL divergence; when none is
 * measured, the most bits per weight (ties: smaller, then older). */
typedef struct {
    size_t n_experiments, n_running, n_succeeded, n_failed, n_interrupted;
    double success_rate, failure_rate, interrupted_rate; /* fractions */
    double mean_seconds_succeeded, mean_seconds_failed;  /* NAN when none */
    size_t n_sized_artifacts;
    uint64_t original_bytes; /* sum of parent model sizes, one per sized artifact */
    uint64_t artifact_bytes; /* sum of those artifacts' sizes */
    int64_t saved_bytes;     /* original - artifact */
    lqmf_store_method_stats *methods; /* sorted by format, then method */
    size_t n_methods;
    lqmf_store_best *best; /* one per model with an artifact that fits, in model id order */
    size_t n_best;
    uint64_t budget_bytes;
} lqmf_store_stats;

/* *out borrows from snap: free it (lqmf_store_stats_free) before the snapshot. */
lqmf_status lqmf_store_stats_compute(const lqmf_store_snapshot *snap, uint64_t budget_bytes,
                                     lqmf_store_stats *out);
void lqmf_store_stats_free(lqmf_store_stats *st);

/* ---- export ---------------------------------------------------------------------- */
typedef enum { LQMF_STORE_EXPORT_CSV = 0, LQMF_STORE_EXPORT_JSON = 1 } lqmf_store_export_format;

/* CSV: one row per experiment, with its model and artifact, then one column
 * per metric name measured by any experiment (sorted; its latest value).
 * JSON: the whole store in the JSON backend's format (a JSON store file). */
lqmf_status lqmf_store_export(const lqmf_store_snapshot *snap, lqmf_store_export_format fmt,
                              lqmf_buf *out);

#ifdef __cplusplus
}
#endif
#endif
