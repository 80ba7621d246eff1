/* Experiment store statistics: rates, durations, storage saved, comparison by
 * method, best artifact per model under a size budget. Computed from a
 * snapshot, so both backends give the same figures. */
#include "store/store_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double mean_or_nan(double sum, size_t n) { return n ? sum / (double)n : NAN; }

static void count_experiments(const lqmf_store_snapshot *snap, lqmf_store_stats *out) {
    double secs_ok = 0, secs_failed = 0;
    out->n_experiments = snap->n_experiments;
    for (size_t i = 0; i < snap->n_experiments; i++) {
        const lqmf_store_experiment *e = &snap->experiments[i];
        double secs = e->finished_at > 0 ? e->finished_at - e->started_at : 0;
        switch (e->state) {
        case LQMF_STORE_RUNNING: out->n_running++; break;
        case LQMF_STORE_SUCCEEDED: out->n_succeeded++; secs_ok += secs; break;
        case LQMF_STORE_FAILED: out->n_failed++; secs_failed += secs; break;
        case LQMF_STORE_INTERRUPTED: out->n_interrupted++; break;
        }
    }
    size_t finished = out->n_succeeded + out->n_failed + out->n_interrupted;
    out->success_rate = mean_or_nan((double)out->n_succeeded, finished);
    out->failure_rate = mean_or_nan((double)out->n_failed, finished);
    out->interrupted_rate = mean_or_nan((double)out->n_interrupted, finished);
    out->mean_seconds_succeeded = mean_or_nan(secs_ok, out->n_succeeded);
    out->mean_seconds_failed = mean_or_nan(secs_failed, out->n_failed);
}

/* Latest KL divergence of each artifact (index as in snap->artifacts), NAN
 * when unmeasured. NULL when out of memory. */
static double *artifact_kl(const lqmf_store_snapshot *snap) {
    double *kl = malloc((snap->n_artifacts ? snap->n_artifacts : 1) * sizeof *kl);
    if (!kl) return NULL;
    for (size_t i = 0; i < snap->n_artifacts; i++) kl[i] = NAN;
    for (size_t i = 0; i < snap->n_evaluations; i++) { /* id order: later ones win */
        const lqmf_store_evaluation *e = &snap->evaluations[i];
        const lqmf_store_artifact *a = lqmf_store_find_artifact(snap, e->artifact_id);
        if (a && strcmp(e->metric, LQMF_METRIC_KL) == 0) kl[a - snap->artifacts] = e->value;
    }
    return kl;
}

static int cmp_method(const void *pa, const void *pb) {
    const lqmf_store_method_stats *a = pa, *b = pb;
    int c = strcmp(a->format, b->format);
    return c ? c : strcmp(a->method, b->method);
}

/* Sums per (format, method) first, turned into means at the end. */
static bool group_methods(const lqmf_store_snapshot *snap, const double *kl, lqmf_store_stats *out) {
    for (size_t i = 0; i < snap->n_artifacts; i++) {
        const lqmf_store_artifact *a = &snap->artifacts[i];
        lqmf_store_method_stats *g = NULL;
        for (size_t k = 0; k < out->n_methods && !g; k++)
            if (strcmp(out->methods[k].format, a->format) == 0 &&
                strcmp(out->methods[k].method, a->method) == 0)
                g = &out->methods[k];
        if (!g) {
            lqmf_store_method_stats z = { .format = a->format, .method = a->method };
            if (!lqmf_store_push((void **)&out->methods, &out->n_methods, sizeof z, &z)) return false;
            g = &out->methods[out->n_methods - 1];
        }
        const lqmf_store_model *m = lqmf_store_find_model(snap, a->model_id);
        g->n_artifacts++;
        g->mean_bits_per_weight += a->bits_per_weight;
        g->mean_size_bytes += (double)a->size_bytes;
        if (m && m->size_bytes > 0) {
            g->mean_size_ratio += (double)a->size_bytes / (double)m->size_bytes;
            g->n_ratio++;
            out->n_sized_artifacts++;
            out->original_bytes += m->size_bytes;
            out->artifact_bytes += a->size_bytes;
        }
        if (!isnan(kl[i])) {
            g->mean_kl += kl[i];
            g->n_kl++;
        }
    }
    for (size_t k = 0; k < out->n_methods; k++) {
        lqmf_store_method_stats *g = &out->methods[k];
        g->mean_bits_per_weight /= (double)g->n_artifacts;
        g->mean_size_bytes /= (double)g->n_artifacts;
        g->mean_size_ratio = mean_or_nan(g->mean_size_ratio, g->n_ratio);
        g->mean_kl = mean_or_nan(g->mean_kl, g->n_kl);
    }
    if (out->n_methods) qsort(out->methods, out->n_methods, sizeof *out->methods, cmp_method);
    out->saved_bytes = (int64_t)out->original_bytes - (int64_t)out->artifact_bytes;
    return true;
}

/* Is artifact a (KL ka) a better pick than b (KL kb)? Measured beats
 * unmeasured; then lower KL, or (both unmeasured) more bits per weight;
 * then smaller. Equal ones keep the older (the caller goes in id order). */
static bool better(const lqmf_store_artifact *a, double ka, const lqmf_store_artifact *b, double kb) {
    if (isnan(ka) != isnan(kb)) return !isnan(ka);
    if (!isnan(ka) && ka != kb) return ka < kb;
    if (isnan(ka) && a->bits_per_weight != b->bits_per_weight)
        return a->bits_per_weight > b->bits_per_weight;
    return a->size_bytes < b->size_bytes;
}

static bool pick_best(const lqmf_store_snapshot *snap, const double *kl, lqmf_store_stats *out) {
    /* best[k]: index + 1 of the best artifact of snap->models[k] so far */
    size_t *best = calloc(snap->n_models ? snap->n_models : 1, sizeof *best);
    if (!best) return false;
    for (size_t i = 0; i < snap->n_artifacts; i++) {
        const lqmf_store_artifact *a = &snap->artifacts[i];
        const lqmf_store_model *m = lqmf_store_find_model(snap, a->model_id);
        if (!m || (out->budget_bytes && a->size_bytes > out->budget_bytes)) continue;
        size_t k = (size_t)(m - snap->models);
        if (!best[k] || better(a, kl[i], &snap->artifacts[best[k] - 1], kl[best[k] - 1]))
            best[k] = i + 1;
    }
    bool ok = true;
    for (size_t k = 0; k < snap->n_models && ok; k++) {
        if (!best[k]) continue;
        lqmf_store_best b = { &snap->models[k], &snap->artifacts[best[k] - 1], kl[best[k] - 1] };
        ok = lqmf_store_push((void **)&out->best, &out->n_best, sizeof b, &b);
    }
    free(best);
    return ok;
}

lqmf_status lqmf_store_stats_compute(const lqmf_store_snapshot *snap, uint64_t budget_bytes,
                                     lqmf_store_stats *out) {
    memset(out, 0, sizeof *out);
    out->budget_bytes = budget_bytes;
    count_experiments(snap, out);
    double *kl = artifact_kl(snap);
    bool ok = kl && group_methods(snap, kl, out) && pick_best(snap, kl, out);
    free(kl);
    if (!ok) {
        lqmf_store_stats_free(out);
        return lqmf_error(LQMF_E_NOMEM, "experiment statistics: out of memory");
    }
    return LQMF_OK;
}

void lqmf_store_stats_free(lqmf_store_stats *st) {
    if (!st) return;
    free(st->methods);
    free(st->best);
    memset(st, 0, sizeof *st);
}
