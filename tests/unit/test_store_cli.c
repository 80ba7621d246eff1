/* The store commands run as the built `lqmf` against a store filled through
 * the library, in both backends: stats --json, list, history, show, export,
 * forget (records only, files kept). */
#include "../test.h"
#include "lqmf/store.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

/* Two models, one artifact each; three experiments: two succeeded, one failed. */
static void fill(const char *db, lqmf_store_backend b, const char *artifact_path) {
    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(db, b, &s));
    int64_t m1, m2, a1, e;
    lqmf_store_model m = { .source = "org/alpha", .architecture = "llama", .n_params = 1000, .size_bytes = 4000 };
    CHECK_OK(lqmf_store_put_model(s, &m, &m1));
    m.source = "org/beta";
    CHECK_OK(lqmf_store_put_model(s, &m, &m2));
    lqmf_store_artifact a = { .model_id = m1, .path = artifact_path, .format = "gguf", .method = "Q4_K_M",
                              .bits_per_weight = 4.9, .size_bytes = 1000, .sha256 = "" };
    CHECK_OK(lqmf_store_put_artifact(s, &a, &a1));
    lqmf_store_experiment x = { .request = "quantize org/alpha to 4-bit", .plan = "", .model_id = m1,
                                .artifact_id = a1, .host_info = "" };
    CHECK_OK(lqmf_store_begin(s, &x, &e));
    CHECK_OK(lqmf_store_finish(s, e, LQMF_STORE_SUCCEEDED, ""));
    lqmf_store_evaluation ev = { .experiment_id = e, .model_id = m1, .artifact_id = a1,
                                 .metric = LQMF_METRIC_KL, .value = 0.02, .unit = "nats", .protocol = "test" };
    CHECK_OK(lqmf_store_add_evaluation(s, &ev, NULL));
    x.request = "quantize org/alpha to 8-bit";
    CHECK_OK(lqmf_store_begin(s, &x, &e));
    CHECK_OK(lqmf_store_finish(s, e, LQMF_STORE_SUCCEEDED, ""));
    x.request = "quantize org/beta to 2-bit";
    x.model_id = m2;
    x.artifact_id = 0;
    CHECK_OK(lqmf_store_begin(s, &x, &e));
    CHECK_OK(lqmf_store_finish(s, e, LQMF_STORE_FAILED, "nothing fits a 1 MB budget"));
    lqmf_store_close(s);
}

/* Run `lqmf ARGS`, expect exit code rc and a JSON document on stdout. */
static json_t *cli_json(const char *args, int rc) {
    char *out = NULL;
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), rc);
    json_error_t err;
    json_t *j = out ? json_loads(out, JSON_REJECT_DUPLICATES, &err) : NULL;
    CHECKF(j != NULL, "%s: not JSON (%s): %s", args, out ? err.text : "no output", out ? out : "");
    free(out);
    return j;
}

static json_int_t jint(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
static const char *jstr(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* An experiment row of --json against the store's own record. */
static void check_experiment(const json_t *j, const lqmf_store_experiment *e) {
    CHECK_EQ_INT(jint(j, "id"), e->id);
    CHECK_STR(jstr(j, "state"), lqmf_store_state_name(e->state));
    CHECK_STR(jstr(j, "request"), e->request);
    CHECK_EQ_INT(jint(j, "model_id"), e->model_id);
    CHECK_EQ_INT(jint(j, "artifact_id"), e->artifact_id);
    CHECK_STR(jstr(j, "error"), e->error);
    CHECK_EQ_INT(jint(j, "pid"), e->pid);
    CHECK_NEAR(json_real_value(json_object_get(j, "started_at")), e->started_at, 1e-9);
    CHECK_NEAR(json_real_value(json_object_get(j, "seconds")), e->finished_at - e->started_at, 1e-6);
}

/* list / history / show --json against a snapshot read through the store API. */
static void check_json_commands(const char *db, lqmf_store_backend b) {
    lqmf_store *s;
    lqmf_store_snapshot snap;
    REQUIRE_OK(lqmf_store_open(db, b, &s));
    REQUIRE_OK(lqmf_store_load(s, &snap));
    lqmf_store_close(s);
    REQUIRE(snap.n_experiments == 3 && snap.n_models == 2 && snap.n_artifacts == 1);
    const char *be = lqmf_store_backend_name(b);
    char args[2048];

    snprintf(args, sizeof args, "list --json --db '%s' --storage-backend %s", db, be);
    json_t *j = cli_json(args, 0);
    json_t *rows = json_object_get(j, "experiments");
    CHECK_EQ_INT(json_array_size(rows), snap.n_experiments);
    for (size_t i = 0; i < json_array_size(rows) && i < snap.n_experiments; i++)
        check_experiment(json_array_get(rows, i), &snap.experiments[i]);
    json_decref(j);

    snprintf(args, sizeof args, "list failed --json --db '%s' --storage-backend %s", db, be);
    j = cli_json(args, 0);
    rows = json_object_get(j, "experiments");
    CHECK_EQ_INT(json_array_size(rows), 1);
    if (json_array_size(rows) == 1) check_experiment(json_array_get(rows, 0), &snap.experiments[2]);
    json_decref(j);

    snprintf(args, sizeof args, "list models --json --db '%s' --storage-backend %s", db, be);
    j = cli_json(args, 0);
    rows = json_object_get(j, "models");
    CHECK_EQ_INT(json_array_size(rows), snap.n_models);
    for (size_t i = 0; i < json_array_size(rows) && i < snap.n_models; i++) {
        const json_t *m = json_array_get(rows, i);
        CHECK_EQ_INT(jint(m, "id"), snap.models[i].id);
        CHECK_STR(jstr(m, "source"), snap.models[i].source);
        CHECK_EQ_INT(jint(m, "n_params"), snap.models[i].n_params);
        CHECK_EQ_INT(jint(m, "size_bytes"), snap.models[i].size_bytes);
    }
    json_decref(j);

    snprintf(args, sizeof args, "list artifacts --json --db '%s' --storage-backend %s", db, be);
    j = cli_json(args, 0);
    const json_t *a = json_array_get(json_object_get(j, "artifacts"), 0);
    const lqmf_store_artifact *sa = &snap.artifacts[0];
    CHECK_EQ_INT(jint(a, "id"), sa->id);
    CHECK_STR(jstr(a, "path"), sa->path);
    CHECK_STR(jstr(a, "method"), sa->method);
    CHECK_NEAR(json_real_value(json_object_get(a, "bits_per_weight")), sa->bits_per_weight, 1e-9);
    CHECK_NEAR(json_real_value(json_object_get(a, "kl_divergence")),
               lqmf_store_artifact_metric(&snap, sa->id, LQMF_METRIC_KL), 1e-9);
    CHECK(json_is_null(json_object_get(a, "perplexity"))); /* not measured */
    json_decref(j);

    snprintf(args, sizeof args, "history --json --db '%s' --storage-backend %s", db, be);
    j = cli_json(args, 0);
    const json_t *alpha = json_array_get(json_object_get(j, "models"), 0);
    CHECK_STR(jstr(alpha, "source"), "org/alpha");
    CHECK_EQ_INT(jint(alpha, "runs"), 2);
    CHECK_EQ_INT(jint(alpha, "succeeded"), 2);
    CHECK_EQ_INT(jint(alpha, "best_artifact_id"), sa->id);
    json_decref(j);

    snprintf(args, sizeof args, "history org/beta --json --db '%s' --storage-backend %s", db, be);
    j = cli_json(args, 0);
    rows = json_object_get(j, "models");
    CHECK_EQ_INT(json_array_size(rows), 1);
    const json_t *beta = json_array_get(rows, 0);
    CHECK_EQ_INT(jint(beta, "id"), snap.models[1].id);
    CHECK_EQ_INT(json_array_size(json_object_get(beta, "artifacts")), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(beta, "experiments")), 1);
    check_experiment(json_array_get(json_object_get(beta, "experiments"), 0), &snap.experiments[2]);
    json_decref(j);
    snprintf(args, sizeof args, "history org/nothing --json --db '%s' --storage-backend %s", db, be);
    j = cli_json(args, 1);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "models")), 0);
    json_decref(j);

    snprintf(args, sizeof args, "show 1 --json --db '%s' --storage-backend %s", db, be);
    j = cli_json(args, 0);
    check_experiment(json_object_get(j, "experiment"), &snap.experiments[0]);
    CHECK_EQ_INT(jint(json_object_get(j, "model"), "id"), snap.experiments[0].model_id);
    CHECK_EQ_INT(jint(json_object_get(j, "artifact"), "id"), snap.experiments[0].artifact_id);
    const json_t *ev = json_array_get(json_object_get(j, "evaluations"), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "evaluations")), snap.n_evaluations);
    CHECK_STR(jstr(ev, "metric"), snap.evaluations[0].metric);
    CHECK_NEAR(json_real_value(json_object_get(ev, "value")), snap.evaluations[0].value, 1e-12);
    CHECK(json_is_false(json_object_get(ev, "other_run")));
    json_decref(j);
    snprintf(args, sizeof args, "show 3 --json --db '%s' --storage-backend %s", db, be);
    j = cli_json(args, 0);
    CHECK(json_is_null(json_object_get(j, "artifact")));
    CHECK_STR(jstr(json_object_get(j, "experiment"), "error"), "nothing fits a 1 MB budget");
    json_decref(j);
    char *out = NULL;
    snprintf(args, sizeof args, "show 99 --json --db '%s' --storage-backend %s", db, be);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 1);
    CHECK(out && !*out); /* nothing on stdout */
    free(out);
    lqmf_store_snapshot_free(&snap);
}

static void run_commands(lqmf_store_backend b) {
    const char *dir = lqmf_test_tmpdir();
    char db[512], art[512], args[2048], *out;
    snprintf(db, sizeof db, "%s/store.%s", dir, b == LQMF_STORE_JSON ? "json" : "db");
    snprintf(art, sizeof art, "%s/model.gguf", dir);
    FILE *f = fopen(art, "w");
    REQUIRE(f);
    fputs("x", f);
    fclose(f);
    fill(db, b, art);
    check_json_commands(db, b);
    const char *be = lqmf_store_backend_name(b);

    snprintf(args, sizeof args, "stats --json --db '%s' --storage-backend %s", db, be);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    CHECKF(j != NULL, "stats --json is not JSON: %s", out ? out : "(none)");
    free(out);
    if (j) {
        char *dump = json_dumps(j, JSON_COMPACT);
        CHECKF(dump && strstr(dump, "\"succeeded\":2") && strstr(dump, "\"failed\":1"), "stats: %s", dump);
        free(dump);
        json_decref(j);
    }

    snprintf(args, sizeof args, "list successful experiments --db '%s' --storage-backend %s", db, be);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    CHECKF(out && strstr(out, "8-bit") && !strstr(out, "2-bit"), "list successful: %s", out);
    free(out);
    snprintf(args, sizeof args, "list failed experiments --db '%s' --storage-backend %s", db, be);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    CHECKF(out && strstr(out, "2-bit") && !strstr(out, "8-bit"), "list failed: %s", out);
    free(out);

    snprintf(args, sizeof args, "history org/beta --db '%s' --storage-backend %s", db, be);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    CHECKF(out && strstr(out, "nothing fits") && !strstr(out, "org/alpha"), "history: %s", out);
    free(out);

    snprintf(args, sizeof args, "show 1 --db '%s' --storage-backend %s", db, be);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    CHECKF(out && strstr(out, "quantize org/alpha to 4-bit") && strstr(out, "Q4_K_M"), "show: %s", out);
    free(out);

    snprintf(args, sizeof args, "export --format csv --db '%s' --storage-backend %s", db, be);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    size_t lines = 0;
    for (const char *p = out; p && *p; p++) lines += *p == '\n';
    CHECKF(lines == 4, "export csv: %zu lines (header + 3 expected):\n%s", lines, out);
    free(out);

    snprintf(args, sizeof args, "forget 1 --db '%s' --storage-backend %s", db, be);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    free(out);
    CHECK(access(art, F_OK) == 0); /* records only */
    snprintf(args, sizeof args, "show 1 --db '%s' --storage-backend %s", db, be);
    CHECK(lqmf_test_cli(args, NULL, &out) != 0);
    free(out);
    snprintf(args, sizeof args, "show 99 --db '%s' --storage-backend %s", db, be);
    CHECK(lqmf_test_cli(args, NULL, &out) != 0);
    free(out);
}

TEST(store_cli_sqlite) { run_commands(LQMF_STORE_SQLITE); }
TEST(store_cli_json) { run_commands(LQMF_STORE_JSON); }
