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
