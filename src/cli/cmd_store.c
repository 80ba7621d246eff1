/* lqmf stats | list | history | show | export | forget: questions about the
 * experiment store. Each takes --db PATH and --storage-backend sqlite|json
 * (default: $LQMF_HOME/experiments.db, else ./.lqmf/experiments.db) and
 * accepts the REPL's phrasings ("list successful experiments"). A store
 * that does not exist yet reads as empty; none of these creates one. */
#include "cli.h"
#include "json_out.h"
#include "lqmf/store.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- shared: options, opening, formatting ------------------------------------------ */

typedef struct {
    const char *db; /* NULL: the default path for the backend */
    lqmf_store_backend backend;
    char *owned_db;
    lqmf_store *s; /* NULL when the store does not exist */
    lqmf_store_snapshot snap;
} store_cli;

/* Take --db / --storage-backend at argv[*i]: 1 taken, 0 not ours, -1 bad. */
static int common_opt(int argc, char **argv, int *i, store_cli *c) {
    if (LQMF_IS(argv[*i], "--db") && *i + 1 < argc) {
        c->db = argv[++*i];
        return 1;
    }
    if (LQMF_IS(argv[*i], "--storage-backend") && *i + 1 < argc) {
        if (lqmf_store_backend_from_name(argv[++*i], &c->backend)) return 1;
        fprintf(stderr, "lqmf: unknown storage backend '%s' (sqlite or json)\n", argv[*i]);
        return -1;
    }
    return 0;
}

static int usage(const char *name) {
    lqmf_cli_usage(name);
    fprintf(stderr, "store options: --db PATH (default $LQMF_HOME/experiments.db, else "
                    ".lqmf/experiments.db), --storage-backend sqlite|json\n");
    return 2;
}

static void print_interrupted(const lqmf_store *s) {
    size_t n;
    const lqmf_store_experiment *x = lqmf_store_interrupted(s, &n);
    if (!n) return;
    fprintf(stderr, "lqmf: found %zu interrupted experiment%s (marked in %s):\n", n, n == 1 ? "" : "s",
            lqmf_store_path(s));
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  #%lld %s (pid %lld)\n", (long long)x[i].id, x[i].request, (long long)x[i].pid);
}

/* Open the store (reporting interrupted runs) and load it; an absent store
 * is an empty snapshot. */
static lqmf_status cli_open(store_cli *c) {
    if (!c->db) {
        c->owned_db = lqmf_store_default_path(c->backend);
        if (!c->owned_db) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        c->db = c->owned_db;
    }
    struct stat st;
    if (stat(c->db, &st) != 0) {
        fprintf(stderr, "lqmf: no experiment store at %s yet\n", c->db);
        return LQMF_OK;
    }
    lqmf_status r = lqmf_store_open(c->db, c->backend, &c->s);
    if (r != LQMF_OK) return r;
    print_interrupted(c->s);
    return lqmf_store_load(c->s, &c->snap);
}

static void cli_close(store_cli *c) {
    lqmf_store_snapshot_free(&c->snap);
    lqmf_store_close(c->s);
    free(c->owned_db);
}

static const char *fmt_time(double t, char *buf, size_t n) {
    if (t <= 0) return "-";
    time_t secs = (time_t)t;
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

static const char *fmt_secs(double s, char *buf, size_t n) {
    if (isnan(s) || s < 0)
        snprintf(buf, n, "-");
    else if (s < 60)
        snprintf(buf, n, "%.1f s", s);
    else if (s < 3600)
        snprintf(buf, n, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
    return buf;
}

static const char *fmt_size(uint64_t bytes, char *buf, size_t n) {
    return bytes ? lqmf_fmt_bytes(bytes, buf, n) : "-";
}

static const char *fmt_num(double v, const char *fmt, char *buf, size_t n) {
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
    return buf;
}

/* s cut to at most w characters (with "..." when cut) in buf. */
static const char *cut(const char *s, size_t w, char *buf, size_t n) {
    snprintf(buf, n, "%s", s);
    if (strlen(buf) > w && w >= 3 && w < n) strcpy(buf + w - 3, "...");
    return buf;
}

static double duration(const lqmf_store_experiment *e) {
    return e->finished_at > 0 ? e->finished_at - e->started_at : NAN;
}

/* "3GB", "2.5 GiB" (one argument), "500MB", "123": bytes. GB = 1e9, GiB = 2^30. */
static bool parse_size(const char *s, uint64_t *out) {
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    static const struct {
        const char *unit;
        double mul;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1e3},
        {"mb", 1e6},
        {"gb", 1e9},
        {"tb", 1e12},
        {"k", 1e3},
        {"m", 1e6},
        {"g", 1e9},
        {"t", 1e12},
        {"kib", 1024.0},
        {"mib", 1048576.0},
        {"gib", 1073741824.0},
        {"tib", 1099511627776.0},
    };
    if (end == s || !(v >= 0)) return false;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcasecmp(end, units[i].unit) == 0 && v * units[i].mul < 1.8e19) {
            *out = (uint64_t)(v * units[i].mul);
            return true;
        }
    return false;
}

static int parse_id(const char *s, int64_t *id) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '#') v = strtoll(s + 1, &end, 10);
    if (*end || v <= 0) return 0;
    *id = v;
    return 1;
}

/* ---- --json rows (keys documented in STORE_JSON_KEYS) ----------------------------------- */

#define STORE_JSON_KEYS                                                                                      \
    "--json (list, history, show): one JSON document; times are unix seconds (0 = not yet).\n"               \
    "  model      {id, source, revision, architecture, n_params, size_bytes, created_at}\n"                  \
    "  artifact   {id, model_id, path, format, method, bits_per_weight, size_bytes, sha256,\n"               \
    "              created_at, kl_divergence, perplexity (latest; null when unmeasured)}\n"                  \
    "  experiment {id, state, request, model_id, artifact_id, started_at, finished_at, seconds\n"            \
    "              (null while running), error, host, pid, host_info}\n"                                     \
    "  evaluation {id, experiment_id, model_id, artifact_id, metric, value, unit, protocol}\n"               \
    "list: {experiments: [experiment]} | {models: [model]} | {artifacts: [artifact]}\n"                      \
    "history: {models: [model + {runs, succeeded, artifacts, best_artifact_id, best_kl, last_run}]};\n"      \
    "  with MODEL: {models: [model + {artifacts: [artifact], experiments: [experiment]}]}, exit 1 when\n"    \
    "  none matches\n"                                                                                       \
    "show: {experiment, model, artifact (null when none), plan (the recorded plan object; null),\n"          \
    "  evaluations: [evaluation + {other_run}]}, exit 1 when there is no such experiment"

static json_t *model_json(const lqmf_store_model *m) {
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:f}", "id", (json_int_t)m->id, "source", m->source,
                     "revision", m->revision, "architecture", m->architecture, "n_params",
                     (json_int_t)m->n_params, "size_bytes", (json_int_t)m->size_bytes, "created_at",
                     m->created_at);
}

static json_t *artifact_json(const lqmf_store_snapshot *snap, const lqmf_store_artifact *a) {
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:f, s:I, s:s, s:f, s:o, s:o}", "id", (json_int_t)a->id,
                     "model_id", (json_int_t)a->model_id, "path", a->path, "format", a->format, "method",
                     a->method, "bits_per_weight", a->bits_per_weight, "size_bytes",
                     (json_int_t)a->size_bytes, "sha256", a->sha256, "created_at", a->created_at,
                     "kl_divergence",
                     lqmf_cli_json_num(lqmf_store_artifact_metric(snap, a->id, LQMF_METRIC_KL)), "perplexity",
                     lqmf_cli_json_num(lqmf_store_artifact_metric(snap, a->id, LQMF_METRIC_PPL)));
}

static json_t *experiment_json(const lqmf_store_experiment *e) {
    return json_pack("{s:I, s:s, s:s, s:I, s:I, s:f, s:f, s:o, s:s, s:s, s:I, s:s}", "id", (json_int_t)e->id,
                     "state", lqmf_store_state_name(e->state), "request", e->request, "model_id",
                     (json_int_t)e->model_id, "artifact_id", (json_int_t)e->artifact_id, "started_at",
                     e->started_at, "finished_at", e->finished_at, "seconds", lqmf_cli_json_num(duration(e)),
                     "error", e->error, "host", e->host, "pid", (json_int_t)e->pid, "host_info",
                     e->host_info);
}

static json_t *evaluation_json(const lqmf_store_evaluation *v) {
    return json_pack("{s:I, s:I, s:I, s:I, s:s, s:f, s:s, s:s}", "id", (json_int_t)v->id, "experiment_id",
                     (json_int_t)v->experiment_id, "model_id", (json_int_t)v->model_id, "artifact_id",
                     (json_int_t)v->artifact_id, "metric", v->metric, "value", v->value, "unit", v->unit,
                     "protocol", v->protocol);
}

/* {key: array}, the array taking no new reference. */
static json_t *wrap(const char *key, json_t *array) { return json_pack("{s:o}", key, array); }

/* ---- list ------------------------------------------------------------------------------ */

static void print_experiment_header(void) {
    printf("%5s  %-11s  %-16s  %-10s  %-24s  %-28s  %s\n", "ID", "STATUS", "STARTED", "TIME", "MODEL",
           "RESULT", "REQUEST");
}

static void print_experiment_row(const lqmf_store_snapshot *snap, const lqmf_store_experiment *e) {
    char t[32], d[32], m[64], r[64], q[64], sz[32], res[128];
    const lqmf_store_model *mo = lqmf_store_find_model(snap, e->model_id);
    const lqmf_store_artifact *a = lqmf_store_find_artifact(snap, e->artifact_id);
    if (e->state == LQMF_STORE_FAILED || e->state == LQMF_STORE_INTERRUPTED)
        snprintf(res, sizeof res, "%s", e->error);
    else if (a)
        snprintf(res, sizeof res, "%s %s %s", a->format, a->method, fmt_size(a->size_bytes, sz, sizeof sz));
    else
        snprintf(res, sizeof res, "-");
    printf("%5lld  %-11s  %-16s  %-10s  %-24s  %-28s  %s\n", (long long)e->id,
           lqmf_store_state_name(e->state), fmt_time(e->started_at, t, sizeof t),
           fmt_secs(duration(e), d, sizeof d), cut(mo ? mo->source : "-", 24, m, sizeof m),
           cut(res, 28, r, sizeof r), cut(e->request, 60, q, sizeof q));
}

static void list_models(const lqmf_store_snapshot *snap) {
    printf("%5s  %-40s  %-12s  %-12s  %10s  %s\n", "ID", "SOURCE", "REVISION", "ARCH", "SIZE", "PARAMS");
    for (size_t i = 0; i < snap->n_models; i++) {
        const lqmf_store_model *m = &snap->models[i];
        char s[64], sz[32], rv[16];
        printf("%5lld  %-40s  %-12s  %-12s  %10s  ", (long long)m->id, cut(m->source, 40, s, sizeof s),
               cut(*m->revision ? m->revision : "-", 12, rv, sizeof rv),
               *m->architecture ? m->architecture : "-", fmt_size(m->size_bytes, sz, sizeof sz));
        if (m->n_params)
            printf("%.2fM\n", (double)m->n_params / 1e6);
        else
            printf("-\n");
    }
}

static void print_artifact_header(void) {
    printf("%5s  %-6s  %-8s  %6s  %10s  %7s  %9s  %9s  %s\n", "ID", "FORMAT", "METHOD", "BPW", "SIZE",
           "RATIO", "KL", "PPL", "PATH");
}

static void print_artifact_row(const lqmf_store_snapshot *snap, const lqmf_store_artifact *a) {
    const lqmf_store_model *m = lqmf_store_find_model(snap, a->model_id);
    char sz[32], ratio[32], kl[32], ppl[32];
    double r = m && m->size_bytes ? 100.0 * (double)a->size_bytes / (double)m->size_bytes : NAN;
    printf(
        "%5lld  %-6s  %-8s  %6.2f  %10s  %7s  %9s  %9s  %s\n", (long long)a->id, a->format, a->method,
        a->bits_per_weight, fmt_size(a->size_bytes, sz, sizeof sz), fmt_num(r, "%.1f%%", ratio, sizeof ratio),
        fmt_num(lqmf_store_artifact_metric(snap, a->id, LQMF_METRIC_KL), "%.5f", kl, sizeof kl),
        fmt_num(lqmf_store_artifact_metric(snap, a->id, LQMF_METRIC_PPL), "%.3f", ppl, sizeof ppl), a->path);
}

static int run_list(int argc, char **argv) {
    store_cli c = {0};
    int state = -1, what = 0; /* 0 experiments, 1 models, 2 artifacts */
    const char *model = NULL;
    size_t limit = 0;
    bool as_json = lqmf_cli_take_json(&argc, argv);
    for (int i = 1; i < argc; i++) {
        int r = common_opt(argc, argv, &i, &c);
        const char *w = argv[i];
        if (r < 0) return 2;
        if (r) continue;
        if (LQMF_IS(w, "--model") && i + 1 < argc)
            model = argv[++i];
        else if (LQMF_IS(w, "--limit") && i + 1 < argc)
            limit = strtoul(argv[++i], NULL, 10);
        else if (!strcasecmp(w, "successful") || !strcasecmp(w, "succeeded") || !strcasecmp(w, "success"))
            state = LQMF_STORE_SUCCEEDED;
        else if (!strcasecmp(w, "failed") || !strcasecmp(w, "failures") || !strcasecmp(w, "unsuccessful"))
            state = LQMF_STORE_FAILED;
        else if (!strcasecmp(w, "interrupted"))
            state = LQMF_STORE_INTERRUPTED;
        else if (!strcasecmp(w, "running"))
            state = LQMF_STORE_RUNNING;
        else if (!strcasecmp(w, "all") || !strcasecmp(w, "experiments") || !strcasecmp(w, "experiment"))
            continue;
        else if (!strcasecmp(w, "models"))
            what = 1;
        else if (!strcasecmp(w, "artifacts"))
            what = 2;
        else
            return usage(argv[0]);
    }
    lqmf_status st = cli_open(&c);
    if (st != LQMF_OK) {
        cli_close(&c);
        return lqmf_cli_fail(st);
    }
    const lqmf_store_snapshot *snap = &c.snap;
    json_t *rows = as_json ? json_array() : NULL;
    if (what == 1) {
        if (!rows) list_models(snap);
        for (size_t i = 0; rows && i < snap->n_models; i++)
            json_array_append_new(rows, model_json(&snap->models[i]));
    } else if (what == 2) {
        if (!rows) print_artifact_header();
        for (size_t i = 0; i < snap->n_artifacts; i++)
            if (rows)
                json_array_append_new(rows, artifact_json(snap, &snap->artifacts[i]));
            else
                print_artifact_row(snap, &snap->artifacts[i]);
    } else {
        /* the last `limit` matches, oldest first */
        size_t n = 0, skip = 0;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) skip = limit && n > limit ? n - limit : 0;
            if (pass == 1 && !rows) {
                if (n)
                    print_experiment_header();
                else
                    printf("no %s%sexperiments\n",
                           state >= 0 ? lqmf_store_state_name((lqmf_store_state)state) : "",
                           state >= 0 ? " " : "");
            }
            size_t k = 0;
            for (size_t i = 0; i < snap->n_experiments; i++) {
                const lqmf_store_experiment *e = &snap->experiments[i];
                const lqmf_store_model *m = lqmf_store_find_model(snap, e->model_id);
                if ((state >= 0 && (int)e->state != state) ||
                    (model && !(m && lqmf_store_model_matches(m, model))))
                    continue;
                if (pass == 0)
                    n++;
                else if (k++ < skip)
                    continue;
                else if (rows)
                    json_array_append_new(rows, experiment_json(e));
                else
                    print_experiment_row(snap, e);
            }
        }
    }
    cli_close(&c);
    const char *key = what == 1 ? "models" : what == 2 ? "artifacts" : "experiments";
    return rows ? lqmf_cli_print_json(wrap(key, rows), 0) : 0;
}

LQMF_COMMAND_DOC(list, "list", "[STATE] [experiments|models|artifacts] [--model M] [--limit N] [--json]",
                 "list experiments (STATE: successful, failed, interrupted, running), models, artifacts",
                 STORE_JSON_KEYS, run_list)

/* ---- stats ------------------------------------------------------------------------------- */

static json_t *stats_json(const lqmf_store_stats *st) {
    json_t *methods = json_array(), *best = json_array();
    for (size_t i = 0; i < st->n_methods; i++) {
        const lqmf_store_method_stats *g = &st->methods[i];
        json_array_append_new(
            methods, json_pack("{s:s, s:s, s:I, s:f, s:f, s:o, s:o, s:I}", "format", g->format, "method",
                               g->method, "artifacts", (json_int_t)g->n_artifacts, "mean_bits_per_weight",
                               g->mean_bits_per_weight, "mean_size_bytes", g->mean_size_bytes,
                               "mean_size_ratio", lqmf_cli_json_num(g->mean_size_ratio), "mean_kl_divergence",
                               lqmf_cli_json_num(g->mean_kl), "kl_measured", (json_int_t)g->n_kl));
    }
    for (size_t i = 0; i < st->n_best; i++) {
        const lqmf_store_best *b = &st->best[i];
        json_array_append_new(
            best, json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:o}", "model", b->model->source, "artifact_id",
                            (json_int_t)b->artifact->id, "path", b->artifact->path, "format",
                            b->artifact->format, "method", b->artifact->method, "size_bytes",
                            (json_int_t)b->artifact->size_bytes, "kl_divergence", lqmf_cli_json_num(b->kl)));
    }
    return json_pack(
        "{s:{s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I}, "
        "s:o, s:I, s:o}",
        "experiments", "total", (json_int_t)st->n_experiments, "running", (json_int_t)st->n_running,
        "succeeded", (json_int_t)st->n_succeeded, "failed", (json_int_t)st->n_failed, "interrupted",
        (json_int_t)st->n_interrupted, "success_rate", lqmf_cli_json_num(st->success_rate), "failure_rate",
        lqmf_cli_json_num(st->failure_rate), "interrupted_rate", lqmf_cli_json_num(st->interrupted_rate),
        "mean_seconds_succeeded", lqmf_cli_json_num(st->mean_seconds_succeeded), "mean_seconds_failed",
        lqmf_cli_json_num(st->mean_seconds_failed), "storage", "artifacts", (json_int_t)st->n_sized_artifacts,
        "original_bytes", (json_int_t)st->original_bytes, "artifact_bytes", (json_int_t)st->artifact_bytes,
        "saved_bytes", (json_int_t)st->saved_bytes, "by_method", methods, "budget_bytes",
        (json_int_t)st->budget_bytes, "best_per_model", best);
}

/* budget: the --budget argument as given, or NULL. */
static void stats_text(const lqmf_store_stats *st, const char *budget) {
    char a[32], b[32], c[32], d[32];
    printf("experiments: %zu (%zu succeeded, %zu failed, %zu interrupted, %zu running)\n", st->n_experiments,
           st->n_succeeded, st->n_failed, st->n_interrupted, st->n_running);
    if (!isnan(st->success_rate))
        printf("success rate: %.1f%%  (failed %.1f%%, interrupted %.1f%%)\n", 100 * st->success_rate,
               100 * st->failure_rate, 100 * st->interrupted_rate);
    printf("average time: %s per success, %s per failure\n",
           fmt_secs(st->mean_seconds_succeeded, a, sizeof a), fmt_secs(st->mean_seconds_failed, b, sizeof b));
    if (st->n_sized_artifacts)
        printf("storage: %zu artifacts take %s of %s originals: %s saved (%.1f%%)\n", st->n_sized_artifacts,
               lqmf_fmt_bytes(st->artifact_bytes, a, sizeof a),
               lqmf_fmt_bytes(st->original_bytes, b, sizeof b),
               st->saved_bytes >= 0 ? lqmf_fmt_bytes((uint64_t)st->saved_bytes, c, sizeof c) : "none",
               100.0 * (double)st->saved_bytes / (double)st->original_bytes);
    if (st->n_methods) {
        printf("\nby method (size vs KL divergence):\n  %-6s  %-8s  %4s  %6s  %10s  %9s  %12s\n", "FORMAT",
               "METHOD", "N", "BPW", "SIZE", "OF ORIG", "KL (n)");
        for (size_t i = 0; i < st->n_methods; i++) {
            const lqmf_store_method_stats *g = &st->methods[i];
            char kl[48];
            if (g->n_kl)
                snprintf(kl, sizeof kl, "%.5f (%zu)", g->mean_kl, g->n_kl);
            else
                snprintf(kl, sizeof kl, "-");
            printf("  %-6s  %-8s  %4zu  %6.2f  %10s  %9s  %12s\n", g->format, g->method, g->n_artifacts,
                   g->mean_bits_per_weight, lqmf_fmt_bytes((uint64_t)g->mean_size_bytes, a, sizeof a),
                   fmt_num(100 * g->mean_size_ratio, "%.1f%%", b, sizeof b), kl);
        }
    }
    if (st->n_best) {
        if (budget)
            printf("\nbest artifact per model within %s:\n", budget);
        else
            printf("\nbest artifact per model (lowest KL; --budget SIZE to limit):\n");
        for (size_t i = 0; i < st->n_best; i++) {
            const lqmf_store_best *x = &st->best[i];
            printf("  %-32s  #%-4lld %-6s %-8s %10s  KL %s  %s\n", cut(x->model->source, 32, c, sizeof c),
                   (long long)x->artifact->id, x->artifact->format, x->artifact->method,
                   lqmf_fmt_bytes(x->artifact->size_bytes, a, sizeof a), fmt_num(x->kl, "%.5f", d, sizeof d),
                   x->artifact->path);
        }
    }
}

static int run_stats(int argc, char **argv) {
    store_cli c = {0};
    uint64_t budget = 0;
    const char *budget_text = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        int r = common_opt(argc, argv, &i, &c);
        if (r < 0) return 2;
        if (r) continue;
        if (LQMF_IS(argv[i], "--json"))
            as_json = true;
        else if (LQMF_IS(argv[i], "--budget") && i + 1 < argc) {
            budget_text = argv[++i];
            if (!parse_size(budget_text, &budget)) {
                fprintf(stderr, "lqmf: --budget '%s' is not a size (examples: 3GB, 500MB, 2.5GiB)\n",
                        budget_text);
                return 2;
            }
        } else
            return usage(argv[0]);
    }
    lqmf_status st = cli_open(&c);
    lqmf_store_stats stats;
    if (st == LQMF_OK) st = lqmf_store_stats_compute(&c.snap, budget, &stats);
    if (st != LQMF_OK) {
        cli_close(&c);
        return lqmf_cli_fail(st);
    }
    int rc = 0;
    if (as_json)
        rc = lqmf_cli_print_json(stats_json(&stats), 0);
    else
        stats_text(&stats, budget ? budget_text : NULL);
    lqmf_store_stats_free(&stats);
    cli_close(&c);
    return rc;
}

LQMF_COMMAND(stats, "stats", "[--budget SIZE] [--json]",
             "success rates, times, storage saved, methods compared, best per model", run_stats)

/* ---- history ------------------------------------------------------------------------------ */

/* What was tried on one model. */
typedef struct {
    size_t runs, ok, artifacts;
    double last, best_kl; /* best_kl NAN when none measured */
    const lqmf_store_artifact *best;
} model_summary;

static model_summary summarize(const lqmf_store_snapshot *snap, const lqmf_store_model *m) {
    model_summary r = {.best_kl = NAN};
    for (size_t k = 0; k < snap->n_experiments; k++) {
        const lqmf_store_experiment *e = &snap->experiments[k];
        if (e->model_id != m->id) continue;
        r.runs++;
        r.ok += e->state == LQMF_STORE_SUCCEEDED;
        if (e->started_at > r.last) r.last = e->started_at;
    }
    for (size_t k = 0; k < snap->n_artifacts; k++) {
        const lqmf_store_artifact *a = &snap->artifacts[k];
        if (a->model_id != m->id) continue;
        r.artifacts++;
        double kl = lqmf_store_artifact_metric(snap, a->id, LQMF_METRIC_KL);
        if (!isnan(kl) && (isnan(r.best_kl) || kl < r.best_kl)) {
            r.best_kl = kl;
            r.best = a;
        }
    }
    return r;
}

static void history_overview(const lqmf_store_snapshot *snap) {
    printf("%-36s  %5s  %5s  %9s  %-24s  %s\n", "MODEL", "RUNS", "OK", "ARTIFACTS", "BEST (KL)", "LAST RUN");
    for (size_t i = 0; i < snap->n_models; i++) {
        const lqmf_store_model *m = &snap->models[i];
        model_summary x = summarize(snap, m);
        char s[64], b[64], t[32];
        if (x.best)
            snprintf(b, sizeof b, "%s %s (%.5f)", x.best->format, x.best->method, x.best_kl);
        else
            snprintf(b, sizeof b, "-");
        printf("%-36s  %5zu  %5zu  %9zu  %-24s  %s\n", cut(m->source, 36, s, sizeof s), x.runs, x.ok,
               x.artifacts, b, fmt_time(x.last, t, sizeof t));
    }
}

static json_t *overview_json(const lqmf_store_snapshot *snap) {
    json_t *models = json_array();
    for (size_t i = 0; i < snap->n_models; i++) {
        model_summary x = summarize(snap, &snap->models[i]);
        json_t *o = model_json(&snap->models[i]);
        json_object_update_new(o,
                               json_pack("{s:I, s:I, s:I, s:o, s:o, s:f}", "runs", (json_int_t)x.runs,
                                         "succeeded", (json_int_t)x.ok, "artifacts", (json_int_t)x.artifacts,
                                         "best_artifact_id", x.best ? json_integer(x.best->id) : json_null(),
                                         "best_kl", lqmf_cli_json_num(x.best_kl), "last_run", x.last));
        json_array_append_new(models, o);
    }
    return wrap("models", models);
}

/* One model with its artifacts and experiments. */
static json_t *model_history_json(const lqmf_store_snapshot *snap, const lqmf_store_model *m) {
    json_t *o = model_json(m), *arts = json_array(), *exps = json_array();
    for (size_t i = 0; i < snap->n_artifacts; i++)
        if (snap->artifacts[i].model_id == m->id)
            json_array_append_new(arts, artifact_json(snap, &snap->artifacts[i]));
    for (size_t i = 0; i < snap->n_experiments; i++)
        if (snap->experiments[i].model_id == m->id)
            json_array_append_new(exps, experiment_json(&snap->experiments[i]));
    json_object_set_new(o, "artifacts", arts);
    json_object_set_new(o, "experiments", exps);
    return o;
}

static void history_model(const lqmf_store_snapshot *snap, const lqmf_store_model *m) {
    char sz[32];
    printf("%s%s%s  (%s, %s", m->source, *m->revision ? " @" : "", m->revision,
           *m->architecture ? m->architecture : "architecture unknown",
           fmt_size(m->size_bytes, sz, sizeof sz));
    if (m->n_params) printf(", %.2fM parameters", (double)m->n_params / 1e6);
    printf(")\n\nartifacts:\n");
    print_artifact_header();
    for (size_t i = 0; i < snap->n_artifacts; i++)
        if (snap->artifacts[i].model_id == m->id) print_artifact_row(snap, &snap->artifacts[i]);
    printf("\nexperiments:\n");
    print_experiment_header();
    for (size_t i = 0; i < snap->n_experiments; i++)
        if (snap->experiments[i].model_id == m->id) print_experiment_row(snap, &snap->experiments[i]);
}

static int run_history(int argc, char **argv) {
    store_cli c = {0};
    const char *query = NULL;
    bool as_json = lqmf_cli_take_json(&argc, argv);
    for (int i = 1; i < argc; i++) {
        int r = common_opt(argc, argv, &i, &c);
        if (r < 0) return 2;
        if (r || !strcasecmp(argv[i], "of") || !strcasecmp(argv[i], "for")) continue;
        if (argv[i][0] == '-' || query) return usage(argv[0]);
        query = argv[i];
    }
    lqmf_status st = cli_open(&c);
    if (st != LQMF_OK) {
        cli_close(&c);
        return lqmf_cli_fail(st);
    }
    size_t shown = 0;
    json_t *doc = NULL, *models = as_json && query ? json_array() : NULL;
    if (!query) {
        if (as_json)
            doc = overview_json(&c.snap);
        else
            history_overview(&c.snap);
    } else {
        for (size_t i = 0; i < c.snap.n_models; i++) {
            if (!lqmf_store_model_matches(&c.snap.models[i], query)) continue;
            if (models)
                json_array_append_new(models, model_history_json(&c.snap, &c.snap.models[i]));
            else if (shown)
                printf("\n");
            if (!models) history_model(&c.snap, &c.snap.models[i]);
            shown++;
        }
        if (models) doc = wrap("models", models);
    }
    cli_close(&c);
    int rc = query && !shown ? 1 : 0;
    if (rc) fprintf(stderr, "lqmf: no recorded model matches '%s' (see 'lqmf history')\n", query);
    return as_json ? lqmf_cli_print_json(doc, rc) : rc;
}

LQMF_COMMAND_DOC(history, "history", "[MODEL] [--json]",
                 "what was tried on each model (or on MODEL), with results", STORE_JSON_KEYS, run_history)

/* ---- show ---------------------------------------------------------------------------------- */

static void show_experiment(const lqmf_store_snapshot *snap, const lqmf_store_experiment *e) {
    char t1[32], t2[32], d[32], sz[32], osz[32];
    printf("experiment %lld: %s\n", (long long)e->id, lqmf_store_state_name(e->state));
    printf("  request:   %s\n", e->request);
    printf("  started:   %s\n  finished:  %s (%s)\n", fmt_time(e->started_at, t1, sizeof t1),
           fmt_time(e->finished_at, t2, sizeof t2), fmt_secs(duration(e), d, sizeof d));
    printf("  host:      %s, pid %lld%s%s\n", *e->host ? e->host : "-", (long long)e->pid,
           *e->host_info ? "; " : "", e->host_info);
    if (*e->error) printf("  error:     %s\n", e->error);
    const lqmf_store_model *m = lqmf_store_find_model(snap, e->model_id);
    if (m)
        printf("  model:     #%lld %s%s%s (%s, %s)\n", (long long)m->id, m->source, *m->revision ? " @" : "",
               m->revision, *m->architecture ? m->architecture : "?",
               fmt_size(m->size_bytes, osz, sizeof osz));
    const lqmf_store_artifact *a = lqmf_store_find_artifact(snap, e->artifact_id);
    if (a) {
        printf("  artifact:  #%lld %s\n             %s %s, %.2f bits/weight, %s", (long long)a->id, a->path,
               a->format, a->method, a->bits_per_weight, fmt_size(a->size_bytes, sz, sizeof sz));
        if (m && m->size_bytes)
            printf(" (%.1f%% of the original)", 100.0 * (double)a->size_bytes / (double)m->size_bytes);
        printf("\n");
        if (*a->sha256) printf("             sha256 %s\n", a->sha256);
    }
    if (*e->plan) printf("  plan:      %s\n", e->plan);
    bool header = false;
    for (size_t i = 0; i < snap->n_evaluations; i++) {
        const lqmf_store_evaluation *v = &snap->evaluations[i];
        if (v->experiment_id != e->id && !(a && v->artifact_id == a->id)) continue;
        if (!header) printf("  evaluations:\n");
        header = true;
        printf("    %-22s %12.6g %-10s %s%s\n", v->metric, v->value, v->unit, v->protocol,
               v->experiment_id == e->id ? "" : " [other run]");
    }
}

static json_t *show_json(const lqmf_store_snapshot *snap, const lqmf_store_experiment *e) {
    const lqmf_store_model *m = lqmf_store_find_model(snap, e->model_id);
    const lqmf_store_artifact *a = lqmf_store_find_artifact(snap, e->artifact_id);
    json_t *evals = json_array();
    for (size_t i = 0; i < snap->n_evaluations; i++) {
        const lqmf_store_evaluation *v = &snap->evaluations[i];
        if (v->experiment_id != e->id && !(a && v->artifact_id == a->id)) continue;
        json_t *o = evaluation_json(v);
        json_object_set_new(o, "other_run", json_boolean(v->experiment_id != e->id));
        json_array_append_new(evals, o);
    }
    json_t *plan = *e->plan ? json_loads(e->plan, JSON_REJECT_DUPLICATES, NULL) : NULL;
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "experiment", experiment_json(e), "model",
                     m ? model_json(m) : json_null(), "artifact", a ? artifact_json(snap, a) : json_null(),
                     "plan",
                     plan       ? plan
                     : *e->plan ? json_string(e->plan)
                                : json_null(),
                     "evaluations", evals);
}

static int run_show(int argc, char **argv) {
    store_cli c = {0};
    int64_t id = 0;
    bool as_json = lqmf_cli_take_json(&argc, argv);
    for (int i = 1; i < argc; i++) {
        int r = common_opt(argc, argv, &i, &c);
        if (r < 0) return 2;
        if (r || !strcasecmp(argv[i], "experiment")) continue;
        if (id || !parse_id(argv[i], &id)) return usage(argv[0]);
    }
    if (!id) return usage(argv[0]);
    lqmf_status st = cli_open(&c);
    const lqmf_store_experiment *e = st == LQMF_OK ? lqmf_store_find_experiment(&c.snap, id) : NULL;
    if (st == LQMF_OK && !e) st = lqmf_error(LQMF_E_NOT_FOUND, "%s: no experiment %lld", c.db, (long long)id);
    json_t *doc = NULL;
    if (st == LQMF_OK && as_json)
        doc = show_json(&c.snap, e);
    else if (st == LQMF_OK)
        show_experiment(&c.snap, e);
    cli_close(&c);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    return as_json ? lqmf_cli_print_json(doc, 0) : 0;
}

LQMF_COMMAND_DOC(show, "show", "ID [--json]", "everything recorded about one experiment", STORE_JSON_KEYS,
                 run_show)

/* ---- export ---------------------------------------------------------------------------------- */

static lqmf_status write_out(const char *path, const lqmf_buf *b) {
    if (!path) {
        return fwrite(b->data, 1, b->len, stdout) == b->len && fflush(stdout) == 0
                   ? LQMF_OK
                   : lqmf_error(LQMF_E_IO, "export: cannot write to standard output");
    }
    lqmf_afile f;
    lqmf_status st = lqmf_afile_open(&f, path);
    if (st != LQMF_OK) return st;
    st = lqmf_afile_write(&f, b->data, b->len);
    if (st != LQMF_OK) {
        lqmf_afile_abort(&f);
        return st;
    }
    return lqmf_afile_commit(&f);
}

static int run_export(int argc, char **argv) {
    store_cli c = {0};
    const char *out = NULL;
    int fmt = -1;
    for (int i = 1; i < argc; i++) {
        int r = common_opt(argc, argv, &i, &c);
        if (r < 0) return 2;
        if (r) continue;
        if (LQMF_IS(argv[i], "--format") && i + 1 < argc) {
            i++;
            if (!strcasecmp(argv[i], "csv"))
                fmt = LQMF_STORE_EXPORT_CSV;
            else if (!strcasecmp(argv[i], "json"))
                fmt = LQMF_STORE_EXPORT_JSON;
            else
                return usage(argv[0]);
        } else if ((LQMF_IS(argv[i], "-o") || LQMF_IS(argv[i], "--output")) && i + 1 < argc) {
            out = argv[++i];
        } else {
            return usage(argv[0]);
        }
    }
    if (fmt < 0) return usage(argv[0]);
    lqmf_buf b;
    lqmf_buf_init(&b);
    lqmf_status st = cli_open(&c);
    if (st == LQMF_OK) st = lqmf_store_export(&c.snap, (lqmf_store_export_format)fmt, &b);
    if (st == LQMF_OK) st = write_out(out, &b);
    lqmf_buf_free(&b);
    cli_close(&c);
    return st == LQMF_OK ? 0 : lqmf_cli_fail(st);
}

LQMF_COMMAND(export, "export", "--format csv|json [-o FILE]",
             "write every experiment as CSV (one row each) or JSON (the whole store)", run_export)

/* ---- forget ----------------------------------------------------------------------------------- */

static int run_forget(int argc, char **argv) {
    store_cli c = {0};
    int64_t id = 0;
    bool delete_files = false;
    for (int i = 1; i < argc; i++) {
        int r = common_opt(argc, argv, &i, &c);
        if (r < 0) return 2;
        if (r || !strcasecmp(argv[i], "experiment")) continue;
        if (LQMF_IS(argv[i], "--delete-files"))
            delete_files = true;
        else if (id || !parse_id(argv[i], &id))
            return usage(argv[0]);
    }
    if (!id) return usage(argv[0]);
    lqmf_status st = cli_open(&c);
    if (st == LQMF_OK && !c.s)
        st = lqmf_error(LQMF_E_NOT_FOUND, "%s: no experiment %lld", c.db, (long long)id);
    lqmf_store_forgotten f = {0};
    if (st == LQMF_OK) st = lqmf_store_forget(c.s, id, delete_files, &f);
    if (st == LQMF_OK) {
        printf("forgot experiment %lld and %zu evaluation%s\n", (long long)id, f.n_evaluations,
               f.n_evaluations == 1 ? "" : "s");
        for (size_t i = 0; i < f.n_artifacts; i++)
            printf("forgot artifact %s (%s)\n", f.artifact_paths[i],
                   delete_files ? "file deleted" : "file kept; --delete-files removes it");
    }
    lqmf_store_forgotten_free(&f);
    cli_close(&c);
    return st == LQMF_OK ? 0 : lqmf_cli_fail(st);
}

LQMF_COMMAND(forget, "forget", "ID [--delete-files]",
             "remove an experiment's records (files only with --delete-files)", run_forget)
