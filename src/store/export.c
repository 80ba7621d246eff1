/* Experiment store export: CSV (one row per experiment, metrics as columns)
 * and JSON (the JSON backend's document, loadable as a JSON store). */
#include "store/store_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or LF,
 * or starts or ends with a space; quotes doubled. */
static void csv_text(lqmf_buf *b, const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    bool quote = strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        lqmf_buf_append(b, s, n);
        return;
    }
    lqmf_buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') lqmf_buf_append(b, "\"", 1);
        lqmf_buf_append(b, p, 1);
    }
    lqmf_buf_append(b, "\"", 1);
}

static void csv_real(lqmf_buf *b, double v) {
    if (!isnan(v)) lqmf_buf_printf(b, "%.10g", v);
}

/* ISO 8601 UTC, empty for 0 (unknown). */
static void csv_time(lqmf_buf *b, double t) {
    if (t == 0) return;
    char s[32];
    lqmf_store_utc_time(t, s, sizeof s);
    lqmf_buf_append(b, s, strlen(s));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted distinct names of the metrics measured by experiments (borrowed). */
static bool metric_names(const lqmf_store_snapshot *snap, const char ***names, size_t *n) {
    *names = NULL;
    *n = 0;
    for (size_t i = 0; i < snap->n_evaluations; i++) {
        const lqmf_store_evaluation *e = &snap->evaluations[i];
        if (e->experiment_id <= 0) continue;
        bool seen = false;
        for (size_t k = 0; k < *n && !seen; k++) seen = strcmp((*names)[k], e->metric) == 0;
        if (!seen && !lqmf_store_push((void **)names, n, sizeof **names, &e->metric)) return false;
    }
    if (*n) qsort(*names, *n, sizeof **names, cmp_str);
    return true;
}

/* values[x * n_names + k]: latest value of metric k for experiment index x. */
static double *metric_table(const lqmf_store_snapshot *snap, const char **names, size_t n_names) {
    size_t cells = snap->n_experiments * n_names;
    double *v = malloc((cells ? cells : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < cells; i++) v[i] = NAN;
    for (size_t i = 0; i < snap->n_evaluations; i++) {
        const lqmf_store_evaluation *e = &snap->evaluations[i];
        const lqmf_store_experiment *x = lqmf_store_find_experiment(snap, e->experiment_id);
        const char **k = x ? bsearch(&e->metric, names, n_names, sizeof *names, cmp_str) : NULL;
        if (k) v[(size_t)(x - snap->experiments) * n_names + (size_t)(k - names)] = e->value;
    }
    return v;
}

static const char *const k_columns =
    "id,status,request,model,revision,architecture,artifact_path,format,method,bits_per_weight,"
    "artifact_bytes,model_bytes,sha256,started_at,finished_at,duration_s,host,pid,error";

static void csv_row(lqmf_buf *b, const lqmf_store_snapshot *snap, const lqmf_store_experiment *e,
                    const double *values, size_t n_names) {
    const lqmf_store_model *m = lqmf_store_find_model(snap, e->model_id);
    const lqmf_store_artifact *a = lqmf_store_find_artifact(snap, e->artifact_id);
    lqmf_buf_printf(b, "%lld,%s,", (long long)e->id, lqmf_store_state_name(e->state));
    csv_text(b, e->request);
    const char *texts[] = { m ? m->source : "", m ? m->revision : "", m ? m->architecture : "",
                            a ? a->path : "", a ? a->format : "", a ? a->method : "" };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        lqmf_buf_append(b, ",", 1);
        csv_text(b, texts[i]);
    }
    lqmf_buf_append(b, ",", 1);
    if (a) lqmf_buf_printf(b, "%.10g,%llu", a->bits_per_weight, (unsigned long long)a->size_bytes);
    else lqmf_buf_append(b, ",", 1);
    lqmf_buf_append(b, ",", 1);
    if (m && m->size_bytes) lqmf_buf_printf(b, "%llu", (unsigned long long)m->size_bytes);
    lqmf_buf_append(b, ",", 1);
    csv_text(b, a ? a->sha256 : "");
    lqmf_buf_append(b, ",", 1);
    csv_time(b, e->started_at);
    lqmf_buf_append(b, ",", 1);
    csv_time(b, e->finished_at);
    lqmf_buf_append(b, ",", 1);
    if (e->finished_at > 0) lqmf_buf_printf(b, "%.3f", e->finished_at - e->started_at);
    lqmf_buf_append(b, ",", 1);
    csv_text(b, e->host);
    lqmf_buf_printf(b, ",%lld,", (long long)e->pid);
    csv_text(b, e->error);
    for (size_t k = 0; k < n_names; k++) {
        lqmf_buf_append(b, ",", 1);
        csv_real(b, values[k]);
    }
    lqmf_buf_append(b, "\n", 1);
}

static lqmf_status export_csv(const lqmf_store_snapshot *snap, lqmf_buf *b) {
    const char **names;
    size_t n_names;
    double *values = NULL;
    bool ok = metric_names(snap, &names, &n_names) &&
              (values = metric_table(snap, names, n_names)) != NULL;
    if (ok) {
        lqmf_buf_append(b, k_columns, strlen(k_columns));
        for (size_t k = 0; k < n_names; k++) {
            lqmf_buf_append(b, ",", 1);
            csv_text(b, names[k]);
        }
        lqmf_buf_append(b, "\n", 1);
        for (size_t x = 0; x < snap->n_experiments; x++)
            csv_row(b, snap, &snap->experiments[x], values + x * n_names, n_names);
    }
    free(names);
    free(values);
    if (!ok || b->failed) return lqmf_error(LQMF_E_NOMEM, "CSV export: out of memory");
    return LQMF_OK;
}

lqmf_status lqmf_store_export(const lqmf_store_snapshot *snap, lqmf_store_export_format fmt,
                              lqmf_buf *out) {
    if (fmt == LQMF_STORE_EXPORT_CSV) return export_csv(snap, out);
    if (fmt != LQMF_STORE_EXPORT_JSON)
        return lqmf_error(LQMF_E_INVALID, "export: unknown format %d", (int)fmt);
    /* next ids one past the largest: a store loaded from it continues there */
    int64_t next[LQMF_STORE_N_TABLES] = {
        snap->n_models ? snap->models[snap->n_models - 1].id + 1 : 1,
        snap->n_artifacts ? snap->artifacts[snap->n_artifacts - 1].id + 1 : 1,
        snap->n_experiments ? snap->experiments[snap->n_experiments - 1].id + 1 : 1,
        snap->n_evaluations ? snap->evaluations[snap->n_evaluations - 1].id + 1 : 1,
    };
    return lqmf_store_json_dump(snap, next, out);
}
