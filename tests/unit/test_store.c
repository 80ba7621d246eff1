/* Experiment store: each behaviour runs against both backends (SQLite and
 * JSON) with the same test body: round trip of every field, concurrent
 * writer processes, a killed run found interrupted, refused corrupt and
 * foreign files left byte-identical, schema upgrade from version 1, the real
 * sqlite3 client reading the database, and statistics and exports checked
 * against hand-computed figures. */
#include "../test.h"
#include "lqmf/store.h"
#include "store/store_priv.h"

#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------ */

static const char *store_path(lqmf_store_backend b) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", lqmf_test_tmpdir(),
             b == LQMF_STORE_JSON ? "experiments.json" : "experiments.db");
    return path;
}

static bool write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The whole file, or NULL. Caller frees. */
static char *slurp(const char *path, size_t *len) {
    char *d = NULL;
    if (lqmf_read_file(path, 1u << 26, &d, len) != LQMF_OK) return NULL;
    return d;
}

static const char *sha_a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/* ---- round trip ----------------------------------------------------------------- */

static void roundtrip(lqmf_store_backend b) {
    const char *path = store_path(b);
    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(path, b, &s));
    int64_t m1, m1b, a1, x1, x2, ev1, ev2;
    double t0 = lqmf_store_unix_now();
    REQUIRE_OK(lqmf_store_put_model(s, &(lqmf_store_model){ .source = "org/tiny", .revision = "abc",
                                                           .architecture = "llama",
                                                           .n_params = 1234567, .size_bytes = 2000000 },
                                    &m1));
    /* same (source, revision): unknown fields keep their values, known ones replace */
    REQUIRE_OK(lqmf_store_put_model(s, &(lqmf_store_model){ .source = "org/tiny", .revision = "abc",
                                                           .n_params = 999 }, &m1b));
    CHECK_EQ_INT(m1b, m1);
    REQUIRE_OK(lqmf_store_put_artifact(s, &(lqmf_store_artifact){
                   .model_id = m1, .path = "/tmp/x/tiny-Q4_K_M.gguf", .format = "gguf",
                   .method = "Q4_K_M", .bits_per_weight = 4.85, .size_bytes = 700001,
                   .sha256 = sha_a }, &a1));
    REQUIRE_OK(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "quantize org/tiny to 4-bit",
                                                            .host_info = "cpu: test, 2 cores" }, &x1));
    REQUIRE_OK(lqmf_store_update(s, &(lqmf_store_experiment){ .id = x1, .plan = "{\"method\":\"Q4_K_M\"}",
                                                             .model_id = m1, .artifact_id = a1 }));
    REQUIRE_OK(lqmf_store_add_evaluation(s, &(lqmf_store_evaluation){
                   .experiment_id = x1, .model_id = m1, .artifact_id = a1, .metric = LQMF_METRIC_KL,
                   .value = 0.0123, .unit = "nats", .protocol = "wikitext-2 test, ctx 128, 4 chunks" },
               &ev1));
    REQUIRE_OK(lqmf_store_add_evaluation(s, &(lqmf_store_evaluation){
                   .model_id = m1, .metric = "perplexity", .value = 11.25,
                   .protocol = "wikitext-2 test, ctx 128, 4 chunks, f16 baseline" }, &ev2));
    REQUIRE_OK(lqmf_store_finish(s, x1, LQMF_STORE_SUCCEEDED, NULL));
    REQUIRE_OK(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "quantize org/huge", .model_id = m1 },
                                &x2));
    REQUIRE_OK(lqmf_store_finish(s, x2, LQMF_STORE_FAILED, "out of memory: needs 80 GB, \"8 GB\" free"));

    /* refused writes */
    CHECK_ERR(lqmf_store_finish(s, x2, LQMF_STORE_SUCCEEDED, NULL), LQMF_E_STATE, "not running");
    CHECK_ERR(lqmf_store_update(s, &(lqmf_store_experiment){ .id = x2 }), LQMF_E_STATE, "failed");
    CHECK_ERR(lqmf_store_finish(s, 777, LQMF_STORE_FAILED, "x"), LQMF_E_NOT_FOUND, "777");
    CHECK_ERR(lqmf_store_put_artifact(s, &(lqmf_store_artifact){ .model_id = 999, .path = "p",
                                                                .format = "gguf", .method = "Q8_0" }, &a1),
              LQMF_E_INVALID, "model_id = 999");
    CHECK_ERR(lqmf_store_add_evaluation(s, &(lqmf_store_evaluation){ .artifact_id = 55, .metric = "m",
                                                                    .protocol = "p" }, &ev1),
              LQMF_E_INVALID, "artifact_id = 55");
    CHECK_ERR(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "" }, &x2), LQMF_E_INVALID,
              "request is required");
    CHECK_ERR(lqmf_store_put_artifact(s, &(lqmf_store_artifact){ .path = "p", .format = "gguf",
                                                                .method = "Q8_0", .sha256 = "ABC" }, &a1),
              LQMF_E_INVALID, "sha256");
    CHECK_ERR(lqmf_store_add_evaluation(s, &(lqmf_store_evaluation){ .metric = "m", .protocol = "p",
                                                                    .value = NAN }, &ev1),
              LQMF_E_INVALID, "not finite");
    CHECK_ERR(lqmf_store_add_evaluation(s, &(lqmf_store_evaluation){ .metric = "m", .value = 1 }, &ev1),
              LQMF_E_INVALID, "protocol is required");
    CHECK_ERR(lqmf_store_finish(s, x1, LQMF_STORE_FAILED, ""), LQMF_E_INVALID, "error is required");
    CHECK_ERR(lqmf_store_put_model(s, &(lqmf_store_model){ .source = "bad\xff" }, &m1b), LQMF_E_INVALID,
              "UTF-8");
    lqmf_store_close(s);

    /* everything reads back after reopening */
    REQUIRE_OK(lqmf_store_open(path, b, &s));
    size_t n_int;
    lqmf_store_interrupted(s, &n_int);
    CHECK_EQ_INT(n_int, 0);
    lqmf_store_snapshot snap;
    REQUIRE_OK(lqmf_store_load(s, &snap));
    CHECK_EQ_INT(snap.n_models, 1);
    CHECK_EQ_INT(snap.n_artifacts, 1);
    CHECK_EQ_INT(snap.n_experiments, 2);
    CHECK_EQ_INT(snap.n_evaluations, 2);
    const lqmf_store_model *m = lqmf_store_find_model(&snap, m1);
    const lqmf_store_artifact *a = lqmf_store_find_artifact(&snap, a1);
    const lqmf_store_experiment *x = lqmf_store_find_experiment(&snap, x1);
    const lqmf_store_experiment *y = lqmf_store_find_experiment(&snap, x2);
    REQUIRE(m && a && x && y);
    CHECK_STR(m->source, "org/tiny");
    CHECK_STR(m->revision, "abc");
    CHECK_STR(m->architecture, "llama");
    CHECK_EQ_INT(m->n_params, 999);
    CHECK_EQ_INT(m->size_bytes, 2000000);
    CHECK(m->created_at >= t0 - 1 && m->created_at <= lqmf_store_unix_now() + 1);
    CHECK_EQ_INT(a->model_id, m1);
    CHECK_STR(a->path, "/tmp/x/tiny-Q4_K_M.gguf");
    CHECK_STR(a->format, "gguf");
    CHECK_STR(a->method, "Q4_K_M");
    CHECK(a->bits_per_weight == 4.85);
    CHECK_EQ_INT(a->size_bytes, 700001);
    CHECK_STR(a->sha256, sha_a);
    CHECK_STR(x->request, "quantize org/tiny to 4-bit");
    CHECK_STR(x->plan, "{\"method\":\"Q4_K_M\"}");
    CHECK_EQ_INT(x->model_id, m1);
    CHECK_EQ_INT(x->artifact_id, a1);
    CHECK_EQ_INT(x->state, LQMF_STORE_SUCCEEDED);
    CHECK(x->started_at >= t0 - 1 && x->finished_at >= x->started_at);
    CHECK_STR(x->error, "");
    char host[256];
    gethostname(host, sizeof host);
    CHECK_STR(x->host, host);
    CHECK_EQ_INT(x->pid, getpid());
    CHECK_STR(x->host_info, "cpu: test, 2 cores");
    CHECK(strchr(x->proc_token, ':') != NULL);
    CHECK_EQ_INT(y->state, LQMF_STORE_FAILED);
    CHECK_STR(y->error, "out of memory: needs 80 GB, \"8 GB\" free");
    CHECK_EQ_INT(y->artifact_id, 0);
    const lqmf_store_evaluation *e = &snap.evaluations[0];
    CHECK_EQ_INT(e->id, ev1);
    CHECK_EQ_INT(e->experiment_id, x1);
    CHECK_EQ_INT(e->artifact_id, a1);
    CHECK_STR(e->metric, "kl_divergence");
    CHECK(e->value == 0.0123);
    CHECK_STR(e->unit, "nats");
    CHECK_STR(e->protocol, "wikitext-2 test, ctx 128, 4 chunks");
    CHECK_EQ_INT(snap.evaluations[1].experiment_id, 0);
    CHECK_EQ_INT(snap.evaluations[1].artifact_id, 0);
    CHECK(snap.evaluations[1].value == 11.25);
    CHECK(lqmf_store_artifact_metric(&snap, a1, LQMF_METRIC_KL) == 0.0123);
    CHECK(isnan(lqmf_store_artifact_metric(&snap, a1, "perplexity")));
    CHECK(lqmf_store_find_model(&snap, m1 + 100) == NULL);
    lqmf_store_snapshot_free(&snap);

    /* a new artifact at the same path replaces the old record, same id */
    int64_t a1b;
    REQUIRE_OK(lqmf_store_put_artifact(s, &(lqmf_store_artifact){
                   .model_id = m1, .path = "/tmp/x/tiny-Q4_K_M.gguf", .format = "gguf",
                   .method = "Q4_K_S", .bits_per_weight = 4.5, .size_bytes = 650000 }, &a1b));
    CHECK_EQ_INT(a1b, a1);
    REQUIRE_OK(lqmf_store_load(s, &snap));
    CHECK_EQ_INT(snap.n_artifacts, 1);
    CHECK_STR(snap.artifacts[0].method, "Q4_K_S");
    CHECK_STR(snap.artifacts[0].sha256, "");
    lqmf_store_snapshot_free(&snap);
    lqmf_store_close(s);
}

TEST(store_roundtrip_sqlite) { roundtrip(LQMF_STORE_SQLITE); }
TEST(store_roundtrip_json) { roundtrip(LQMF_STORE_JSON); }

/* ---- forget ------------------------------------------------------------------------ */

static void forget(lqmf_store_backend b) {
    const char *dir = lqmf_test_tmpdir();
    char path[512], file1[512], file2[512], folder[512], inner[600];
    snprintf(path, sizeof path, "%s/store.%s", dir, b == LQMF_STORE_JSON ? "json" : "db");
    snprintf(file1, sizeof file1, "%s/a1.gguf", dir);
    snprintf(file2, sizeof file2, "%s/a2.gguf", dir);
    snprintf(folder, sizeof folder, "%s/a3-gptq", dir);
    snprintf(inner, sizeof inner, "%s/model.safetensors", folder);
    REQUIRE(write_bytes(file1, "GGUF", 4) && write_bytes(file2, "GGUF", 4));
    REQUIRE(mkdir(folder, 0755) == 0 && write_bytes(inner, "{}", 2));
    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(path, b, &s));
    int64_t m, a1, a2, a3, x1, x2, x3, x4, x5, run, ev;
    REQUIRE_OK(lqmf_store_put_model(s, &(lqmf_store_model){ .source = "org/m" }, &m));
    REQUIRE_OK(lqmf_store_put_artifact(s, &(lqmf_store_artifact){ .model_id = m, .path = file1,
                                                                 .format = "gguf", .method = "Q8_0" }, &a1));
    REQUIRE_OK(lqmf_store_put_artifact(s, &(lqmf_store_artifact){ .model_id = m, .path = file2,
                                                                 .format = "gguf", .method = "Q4_0" }, &a2));
    REQUIRE_OK(lqmf_store_put_artifact(s, &(lqmf_store_artifact){ .model_id = m, .path = folder,
                                                                 .format = "gptq", .method = "gptq" }, &a3));
    lqmf_store_experiment q = { .request = "r", .model_id = m, .artifact_id = a1 };
    REQUIRE_OK(lqmf_store_begin(s, &q, &x1)); /* produced a1 */
    REQUIRE_OK(lqmf_store_begin(s, &q, &x2)); /* tested a1 */
    q.artifact_id = 0;
    REQUIRE_OK(lqmf_store_begin(s, &q, &x3)); /* failed, no artifact */
    q.artifact_id = a2;
    REQUIRE_OK(lqmf_store_begin(s, &q, &x4));
    q.artifact_id = a3;
    REQUIRE_OK(lqmf_store_begin(s, &q, &x5));
    REQUIRE_OK(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "still going" }, &run));
    for (int64_t id = x1; id <= x5; id++) REQUIRE_OK(lqmf_store_finish(s, id, LQMF_STORE_SUCCEEDED, NULL));
    lqmf_store_evaluation e = { .experiment_id = x1, .artifact_id = a1, .metric = "kl_divergence",
                                .value = 0.1, .protocol = "p" };
    REQUIRE_OK(lqmf_store_add_evaluation(s, &e, &ev));
    e.experiment_id = x2;
    REQUIRE_OK(lqmf_store_add_evaluation(s, &e, &ev));
    REQUIRE_OK(lqmf_store_add_evaluation(s, &e, &ev));

    lqmf_store_forgotten f;
    REQUIRE_OK(lqmf_store_forget(s, x3, true, &f));
    CHECK_EQ_INT(f.n_artifacts, 0);
    CHECK_EQ_INT(f.n_evaluations, 0);
    lqmf_store_forgotten_free(&f);
    /* x2 still names a1: a1 stays, x1's own evaluation goes */
    REQUIRE_OK(lqmf_store_forget(s, x1, true, &f));
    CHECK_EQ_INT(f.n_artifacts, 0);
    CHECK_EQ_INT(f.n_evaluations, 1);
    CHECK(exists(file1));
    lqmf_store_forgotten_free(&f);
    REQUIRE_OK(lqmf_store_forget(s, x2, true, &f));
    CHECK_EQ_INT(f.n_artifacts, 1);
    CHECK_EQ_INT(f.n_evaluations, 2);
    CHECK_EQ_INT(f.n_files_deleted, 1);
    if (f.n_artifacts == 1) CHECK_STR(f.artifact_paths[0], file1);
    CHECK(!exists(file1));
    lqmf_store_forgotten_free(&f);
    /* without delete_files the file stays */
    REQUIRE_OK(lqmf_store_forget(s, x4, false, &f));
    CHECK_EQ_INT(f.n_artifacts, 1);
    CHECK_EQ_INT(f.n_files_deleted, 0);
    CHECK(exists(file2));
    lqmf_store_forgotten_free(&f);
    /* a flat folder artifact is deleted whole */
    REQUIRE_OK(lqmf_store_forget(s, x5, true, NULL));
    CHECK(!exists(folder));
    CHECK_ERR(lqmf_store_forget(s, x1, false, NULL), LQMF_E_NOT_FOUND, "no experiment");
    CHECK_ERR(lqmf_store_forget(s, run, false, NULL), LQMF_E_STATE, "running");

    lqmf_store_snapshot snap;
    REQUIRE_OK(lqmf_store_load(s, &snap));
    CHECK_EQ_INT(snap.n_experiments, 1); /* the running one */
    CHECK_EQ_INT(snap.n_artifacts, 0);
    CHECK_EQ_INT(snap.n_evaluations, 0);
    CHECK_EQ_INT(snap.n_models, 1);
    lqmf_store_snapshot_free(&snap);
    /* ids are not reused */
    int64_t next;
    REQUIRE_OK(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "r" }, &next));
    CHECK(next > run);
    lqmf_store_close(s);
}

TEST(store_forget_sqlite) { forget(LQMF_STORE_SQLITE); }
TEST(store_forget_json) { forget(LQMF_STORE_JSON); }

/* ---- concurrent writers ---------------------------------------------------------------- */

#define WRITERS 4
#define PER_WRITER 12

/* In a child: open the store (racing the others, even to create it) and
 * record PER_WRITER experiments, each with an evaluation. */
static int writer(const char *path, lqmf_store_backend b, int w) {
    lqmf_store *s;
    lqmf_status st = lqmf_store_open(path, b, &s);
    for (int i = 0; st == LQMF_OK && i < PER_WRITER; i++) {
        char req[64];
        snprintf(req, sizeof req, "w%d-%d", w, i);
        int64_t id, ev;
        st = lqmf_store_begin(s, &(lqmf_store_experiment){ .request = req }, &id);
        if (st == LQMF_OK)
            st = lqmf_store_add_evaluation(s, &(lqmf_store_evaluation){ .experiment_id = id,
                                                                       .metric = "n", .value = i,
                                                                       .protocol = "p" }, &ev);
        if (st == LQMF_OK) st = lqmf_store_finish(s, id, LQMF_STORE_SUCCEEDED, NULL);
    }
    if (st != LQMF_OK) fprintf(stdout, "    writer %d: %s\n", w, lqmf_last_error());
    if (st == LQMF_OK) lqmf_store_close(s);
    return st == LQMF_OK ? 0 : 1;
}

static void concurrent(lqmf_store_backend b) {
    const char *path = store_path(b);
    pid_t pids[WRITERS];
    fflush(stdout);
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        REQUIRE(pids[w] >= 0);
        if (pids[w] == 0) _exit(writer(path, b, w));
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        REQUIRE(waitpid(pids[w], &status, 0) == pids[w]);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", w);
    }
    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(path, b, &s));
    lqmf_store_snapshot snap;
    REQUIRE_OK(lqmf_store_load(s, &snap));
    CHECK_EQ_INT(snap.n_experiments, WRITERS * PER_WRITER);
    CHECK_EQ_INT(snap.n_evaluations, WRITERS * PER_WRITER);
    bool seen[WRITERS][PER_WRITER] = { { false } };
    for (size_t i = 0; i < snap.n_experiments; i++) {
        int w, k;
        const lqmf_store_experiment *e = &snap.experiments[i];
        CHECK_EQ_INT(e->state, LQMF_STORE_SUCCEEDED);
        if (sscanf(e->request, "w%d-%d", &w, &k) == 2 && w >= 0 && w < WRITERS && k >= 0 &&
            k < PER_WRITER)
            seen[w][k] = true;
        if (i) CHECK(e->id > snap.experiments[i - 1].id);
    }
    for (int w = 0; w < WRITERS; w++)
        for (int k = 0; k < PER_WRITER; k++) CHECKF(seen[w][k], "lost w%d-%d", w, k);
    lqmf_store_snapshot_free(&snap);
    lqmf_store_close(s);
}

TEST(store_concurrent_writers_sqlite) { concurrent(LQMF_STORE_SQLITE); }
TEST(store_concurrent_writers_json) { concurrent(LQMF_STORE_JSON); }

/* ---- a killed run ----------------------------------------------------------------------- */

/* A child that begins an experiment and dies without finishing it. */
static int64_t killed_run(const char *path, lqmf_store_backend b) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        lqmf_store *s;
        int64_t id = -1;
        if (lqmf_store_open(path, b, &s) != LQMF_OK ||
            lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "quantize, then get killed" },
                             &id) != LQMF_OK)
            id = -1;
        if (write(fds[1], &id, sizeof id) != (ssize_t)sizeof id) _exit(2);
        _exit(0); /* no finish, no close */
    }
    close(fds[1]);
    int64_t id = -1;
    if (pid < 0 || read(fds[0], &id, sizeof id) != (ssize_t)sizeof id) id = -1;
    close(fds[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    return id;
}

static void interrupted(lqmf_store_backend b) {
    const char *path = store_path(b);
    lqmf_store *live;
    int64_t mine;
    REQUIRE_OK(lqmf_store_open(path, b, &live));
    /* this process's own running experiment is alive and must stay running */
    REQUIRE_OK(lqmf_store_begin(live, &(lqmf_store_experiment){ .request = "alive" }, &mine));
    int64_t dead = killed_run(path, b);
    REQUIRE(dead > 0);

    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(path, b, &s));
    size_t n;
    const lqmf_store_experiment *found = lqmf_store_interrupted(s, &n);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(found[0].id, dead);
        CHECK_EQ_INT(found[0].state, LQMF_STORE_INTERRUPTED);
        CHECK_STR(found[0].request, "quantize, then get killed");
        CHECKF(strstr(found[0].error, "ended before finishing") != NULL, "%s", found[0].error);
    }
    lqmf_store_snapshot snap;
    REQUIRE_OK(lqmf_store_load(s, &snap));
    const lqmf_store_experiment *d = lqmf_store_find_experiment(&snap, dead);
    const lqmf_store_experiment *a = lqmf_store_find_experiment(&snap, mine);
    REQUIRE(d && a);
    CHECK_EQ_INT(d->state, LQMF_STORE_INTERRUPTED);
    CHECK(d->finished_at == 0);
    CHECK_EQ_INT(a->state, LQMF_STORE_RUNNING);
    lqmf_store_snapshot_free(&snap);
    /* the dead process can no longer finish it; reported once only */
    CHECK_ERR(lqmf_store_finish(s, dead, LQMF_STORE_SUCCEEDED, NULL), LQMF_E_STATE, "interrupted");
    lqmf_store_close(s);
    REQUIRE_OK(lqmf_store_open(path, b, &s));
    lqmf_store_interrupted(s, &n);
    CHECK_EQ_INT(n, 0);
    lqmf_store_close(s);
    CHECK_OK(lqmf_store_finish(live, mine, LQMF_STORE_SUCCEEDED, NULL));
    lqmf_store_close(live);
}

TEST(store_interrupted_sqlite) { interrupted(LQMF_STORE_SQLITE); }
TEST(store_interrupted_json) { interrupted(LQMF_STORE_JSON); }

/* Running records whose pid belongs to another process now (token differs),
 * or that come from another host, edited in with the sqlite3 API. */
TEST(store_interrupted_pid_reuse_and_other_host) {
    const char *path = store_path(LQMF_STORE_SQLITE);
    lqmf_store *s;
    int64_t reused, other;
    REQUIRE_OK(lqmf_store_open(path, LQMF_STORE_SQLITE, &s));
    REQUIRE_OK(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "old run, pid reused" }, &reused));
    REQUIRE_OK(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "run elsewhere" }, &other));
    lqmf_store_close(s);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE experiments SET proc_token = 'another-boot:1' WHERE id = %lld;"
             "UPDATE experiments SET host = 'elsewhere', pid = 1 WHERE id = %lld",
             (long long)reused, (long long)other);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    REQUIRE_OK(lqmf_store_open(path, LQMF_STORE_SQLITE, &s));
    size_t n;
    const lqmf_store_experiment *found = lqmf_store_interrupted(s, &n);
    CHECK_EQ_INT(n, 1);
    if (n == 1) CHECK_EQ_INT(found[0].id, reused);
    lqmf_store_close(s);
}

/* ---- refused files ------------------------------------------------------------------------ */

/* Opening path must fail with status and a message naming the file and
 * containing needle; the file must be byte-identical afterwards. */
static void check_refused(const char *path, lqmf_store_backend b, lqmf_status status, const char *needle) {
    size_t n0, n1;
    char *before = slurp(path, &n0);
    REQUIRE(before);
    lqmf_store *s = NULL;
    CHECK_ERR(lqmf_store_open(path, b, &s), status, needle);
    CHECKF(strstr(lqmf_last_error(), path) != NULL, "message does not name the file: %s",
           lqmf_last_error());
    CHECK(s == NULL);
    char *after = slurp(path, &n1);
    CHECK(after && n1 == n0 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
}

static void random_bytes(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static void corrupt(lqmf_store_backend b) {
    const char *path = store_path(b);
    uint8_t junk[4096];
    random_bytes(junk, sizeof junk, 7);
    REQUIRE(write_bytes(path, junk, sizeof junk));
    check_refused(path, b, LQMF_E_FORMAT, b == LQMF_STORE_JSON ? "not valid JSON" : "not an SQLite");
    /* nothing is created beside it either */
    char side[600];
    snprintf(side, sizeof side, "%s.lock", path);
    CHECK(!exists(side));
    snprintf(side, sizeof side, "%s-wal", path);
    CHECK(!exists(side));
}

TEST(store_corrupt_file_sqlite) { corrupt(LQMF_STORE_SQLITE); }
TEST(store_corrupt_file_json) { corrupt(LQMF_STORE_JSON); }

TEST(store_corrupt_pages_sqlite) {
    /* the SQLite magic, then garbage pages */
    const char *path = store_path(LQMF_STORE_SQLITE);
    uint8_t junk[8192];
    random_bytes(junk, sizeof junk, 11);
    memcpy(junk, "SQLite format 3", 16);
    junk[16] = 0x10; /* page size 4096 */
    junk[17] = 0x00;
    REQUIRE(write_bytes(path, junk, sizeof junk));
    size_t n0;
    char *before = slurp(path, &n0);
    lqmf_store *s = NULL;
    lqmf_status st = lqmf_store_open(path, LQMF_STORE_SQLITE, &s);
    CHECKF(st == LQMF_E_FORMAT || st == LQMF_E_IO, "status %s: %s", lqmf_status_name(st),
           lqmf_last_error());
    CHECK(strstr(lqmf_last_error(), path) != NULL);
    size_t n1;
    char *after = slurp(path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
    lqmf_store_close(s);
}

TEST(store_foreign_sqlite) {
    const char *path = store_path(LQMF_STORE_SQLITE);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada')",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    check_refused(path, LQMF_STORE_SQLITE, LQMF_E_FORMAT, "another program");
    /* an lqmf store from the future */
    path = store_path(LQMF_STORE_SQLITE);
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA application_id = 1280396614; PRAGMA user_version = 99;"
                       "CREATE TABLE t (x)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    check_refused(path, LQMF_STORE_SQLITE, LQMF_E_UNSUPPORTED, "newer than this lqmf");
}

TEST(store_foreign_json) {
    const char *path = store_path(LQMF_STORE_JSON);
    const char *other = "{\"name\": \"some other tool\", \"models\": []}\n";
    REQUIRE(write_bytes(path, other, strlen(other)));
    check_refused(path, LQMF_STORE_JSON, LQMF_E_FORMAT, "not an lqmf experiment store");
    const char *future = "{\"format\": \"lqmf-experiment-store\", \"schema_version\": 99}";
    REQUIRE(write_bytes(path, future, strlen(future)));
    check_refused(path, LQMF_STORE_JSON, LQMF_E_UNSUPPORTED, "newer than this lqmf");
    const char *dup = "{\"format\": \"lqmf-experiment-store\", \"format\": \"x\"}";
    REQUIRE(write_bytes(path, dup, strlen(dup)));
    check_refused(path, LQMF_STORE_JSON, LQMF_E_FORMAT, "duplicate");
    const char *bad_id = "{\"format\": \"lqmf-experiment-store\", \"schema_version\": 2, \"next_id\":"
                         " {\"models\": 2, \"artifacts\": 1, \"experiments\": 1, \"evaluations\": 1},"
                         " \"models\": [{\"id\": 1, \"source\": \"a\"}, {\"id\": 1, \"source\": \"b\"}],"
                         " \"artifacts\": [], \"experiments\": [], \"evaluations\": []}";
    REQUIRE(write_bytes(path, bad_id, strlen(bad_id)));
    check_refused(path, LQMF_STORE_JSON, LQMF_E_FORMAT, "models[1].id");
}

/* ---- schema upgrade ------------------------------------------------------------------------ */

/* The schema version 1 of lqmf wrote (a fixed copy, as an old database on a
 * user's disk would hold). */
static const char *const k_schema_v1 =
    "PRAGMA application_id = 1280396614; PRAGMA user_version = 1;"
    "CREATE TABLE models (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,"
    " revision TEXT NOT NULL DEFAULT '', architecture TEXT NOT NULL DEFAULT '',"
    " n_params INTEGER NOT NULL DEFAULT 0, size_bytes INTEGER NOT NULL DEFAULT 0,"
    " created_at REAL NOT NULL, UNIQUE (source, revision));"
    "CREATE TABLE artifacts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " model_id INTEGER REFERENCES models(id), path TEXT NOT NULL UNIQUE, format TEXT NOT NULL,"
    " method TEXT NOT NULL, bits_per_weight REAL NOT NULL DEFAULT 0,"
    " size_bytes INTEGER NOT NULL DEFAULT 0, sha256 TEXT NOT NULL DEFAULT '',"
    " created_at REAL NOT NULL);"
    "CREATE TABLE experiments (id INTEGER PRIMARY KEY AUTOINCREMENT, request TEXT NOT NULL,"
    " plan TEXT NOT NULL DEFAULT '', model_id INTEGER REFERENCES models(id),"
    " artifact_id INTEGER REFERENCES artifacts(id), status TEXT NOT NULL CHECK (status IN"
    " ('running','succeeded','failed','interrupted')), started_at REAL NOT NULL, finished_at REAL,"
    " error TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE evaluations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " experiment_id INTEGER REFERENCES experiments(id), model_id INTEGER REFERENCES models(id),"
    " artifact_id INTEGER REFERENCES artifacts(id), metric TEXT NOT NULL, value REAL NOT NULL,"
    " unit TEXT NOT NULL DEFAULT '', protocol TEXT NOT NULL, created_at REAL NOT NULL);"
    "CREATE INDEX experiments_status ON experiments(status);"
    "CREATE INDEX experiments_model ON experiments(model_id);"
    "CREATE INDEX artifacts_model ON artifacts(model_id);"
    "CREATE INDEX evaluations_experiment ON evaluations(experiment_id);"
    "CREATE INDEX evaluations_artifact ON evaluations(artifact_id);"
    "INSERT INTO models (source, created_at) VALUES ('org/old', 1600000000);"
    "INSERT INTO experiments (request, model_id, status, started_at, finished_at, host, pid)"
    " VALUES ('quantize org/old', 1, 'succeeded', 1600000000, 1600000060, 'h', 42);";

static int64_t pragma_int(const char *path, const char *sql) {
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return v;
}

TEST(store_upgrade_from_v1_sqlite) {
    const char *path = store_path(LQMF_STORE_SQLITE);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, k_schema_v1, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(path, LQMF_STORE_SQLITE, &s));
    lqmf_store_snapshot snap;
    REQUIRE_OK(lqmf_store_load(s, &snap));
    REQUIRE(snap.n_experiments == 1 && snap.n_models == 1);
    CHECK_STR(snap.experiments[0].request, "quantize org/old");
    CHECK(snap.experiments[0].finished_at - snap.experiments[0].started_at == 60);
    CHECK_STR(snap.experiments[0].host_info, "");
    CHECK_STR(snap.experiments[0].proc_token, "");
    lqmf_store_snapshot_free(&snap);
    int64_t id;
    CHECK_OK(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "new", .host_info = "gpu: none" }, &id));
    CHECK_EQ_INT(id, 2);
    lqmf_store_close(s);
    CHECK_EQ_INT(pragma_int(path, "PRAGMA user_version"), LQMF_STORE_SCHEMA_VERSION);
    CHECK_EQ_INT(pragma_int(path, "PRAGMA application_id"), 1280396614);
    CHECK_EQ_INT(pragma_int(path, "SELECT count(*) FROM pragma_table_info('experiments')"
                                  " WHERE name IN ('host_info', 'proc_token')"), 2);
    CHECK_EQ_INT(pragma_int(path, "SELECT count(*) FROM experiments WHERE host_info = 'gpu: none'"), 1);
}

TEST(store_upgrade_from_v1_json) {
    const char *path = store_path(LQMF_STORE_JSON);
    const char *v1 = "{\"format\": \"lqmf-experiment-store\", \"schema_version\": 1, \"next_id\":"
                     " {\"models\": 1, \"artifacts\": 1, \"experiments\": 2, \"evaluations\": 1},"
                     " \"models\": [], \"artifacts\": [], \"evaluations\": [], \"experiments\":"
                     " [{\"id\": 1, \"request\": \"quantize org/old\", \"status\": \"failed\","
                     " \"started_at\": 1600000000, \"finished_at\": 1600000005, \"error\": \"disk full\","
                     " \"host\": \"h\", \"pid\": 42}]}";
    REQUIRE(write_bytes(path, v1, strlen(v1)));
    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(path, LQMF_STORE_JSON, &s));
    lqmf_store_snapshot snap;
    REQUIRE_OK(lqmf_store_load(s, &snap));
    REQUIRE(snap.n_experiments == 1);
    CHECK_STR(snap.experiments[0].error, "disk full");
    CHECK_EQ_INT(snap.experiments[0].state, LQMF_STORE_FAILED);
    CHECK_STR(snap.experiments[0].host_info, "");
    lqmf_store_snapshot_free(&snap);
    lqmf_store_close(s);
    size_t n;
    char *text = slurp(path, &n);
    REQUIRE(text);
    json_t *root = json_loads(text, 0, NULL);
    CHECK(root && json_integer_value(json_object_get(root, "schema_version")) == LQMF_STORE_SCHEMA_VERSION);
    json_decref(root);
    free(text);
}

/* ---- the sqlite3 client ----------------------------------------------------------------------- */

TEST(store_sqlite3_client_reads) {
    if (system("command -v sqlite3 >/dev/null 2>&1") != 0) SKIP("the sqlite3 client is not installed");
    const char *path = store_path(LQMF_STORE_SQLITE);
    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(path, LQMF_STORE_SQLITE, &s));
    int64_t id;
    for (int i = 0; i < 3; i++)
        REQUIRE_OK(lqmf_store_begin(s, &(lqmf_store_experiment){ .request = "q" }, &id));
    REQUIRE_OK(lqmf_store_finish(s, id, LQMF_STORE_FAILED, "boom"));
    /* read while the store is open (WAL) */
    char cmd[1024], out[256] = "";
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"select count(*), sum(status = 'failed') from experiments;"
             " pragma application_id; pragma journal_mode\" 2>&1", path);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CHECK_EQ_INT(pclose(p), 0);
    CHECK_STR(out, "3|1\n1280396614\nwal\n");
    lqmf_store_close(s);
}

/* ---- statistics on fixed records -------------------------------------------------------------- */

/* Models: m1 1000 B, m2 size unknown, m3 4000 B. Artifacts (model, format,
 * method, bpw, bytes): a1 (m1 gguf Q4_K_M 4.5 300), a2 (m1 gguf Q8_0 8.5 550),
 * a3 (m3 gguf Q4_K_M 4.5 1200), a4 (m2 bnb nf4 4.0 500), a5 (m3 gguf Q2_K 2.6
 * 700). KL: a1 0.05 then 0.04 (latest counts), a2 0.01, a3 0.03. */
static lqmf_store_model g_models[] = {
    { .id = 1, .source = "org/m1", .size_bytes = 1000 },
    { .id = 2, .source = "org/m2" },
    { .id = 3, .source = "org/m3", .size_bytes = 4000 },
};
static lqmf_store_artifact g_artifacts[] = {
    { .id = 1, .model_id = 1, .path = "a1", .format = "gguf", .method = "Q4_K_M", .bits_per_weight = 4.5, .size_bytes = 300 },
    { .id = 2, .model_id = 1, .path = "a2", .format = "gguf", .method = "Q8_0", .bits_per_weight = 8.5, .size_bytes = 550 },
    { .id = 3, .model_id = 3, .path = "a3", .format = "gguf", .method = "Q4_K_M", .bits_per_weight = 4.5, .size_bytes = 1200 },
    { .id = 4, .model_id = 2, .path = "a4", .format = "bnb", .method = "nf4", .bits_per_weight = 4.0, .size_bytes = 500 },
    { .id = 5, .model_id = 3, .path = "a5", .format = "gguf", .method = "Q2_K", .bits_per_weight = 2.6, .size_bytes = 700 },
};
static lqmf_store_evaluation g_evals[] = {
    { .id = 1, .artifact_id = 1, .metric = "kl_divergence", .value = 0.05 },
    { .id = 2, .artifact_id = 2, .metric = "kl_divergence", .value = 0.01 },
    { .id = 3, .artifact_id = 3, .metric = "kl_divergence", .value = 0.03 },
    { .id = 4, .artifact_id = 1, .metric = "perplexity", .value = 12 },
    { .id = 5, .artifact_id = 1, .metric = "kl_divergence", .value = 0.04 },
};
static lqmf_store_experiment g_exps[] = {
    { .id = 1, .state = LQMF_STORE_SUCCEEDED, .started_at = 100, .finished_at = 110 },
    { .id = 2, .state = LQMF_STORE_SUCCEEDED, .started_at = 200, .finished_at = 220 },
    { .id = 3, .state = LQMF_STORE_FAILED, .started_at = 300, .finished_at = 305 },
    { .id = 4, .state = LQMF_STORE_INTERRUPTED, .started_at = 400 },
    { .id = 5, .state = LQMF_STORE_RUNNING, .started_at = 500 },
    { .id = 6, .state = LQMF_STORE_SUCCEEDED, .started_at = 600, .finished_at = 630 },
};

static lqmf_store_snapshot fixed_snapshot(void) {
    return (lqmf_store_snapshot){ g_models, 3, g_artifacts, 5, g_exps, 6, g_evals, 5 };
}

TEST(store_stats_figures) {
    lqmf_store_snapshot snap = fixed_snapshot();
    lqmf_store_stats st;
    REQUIRE_OK(lqmf_store_stats_compute(&snap, 0, &st));
    CHECK_EQ_INT(st.n_experiments, 6);
    CHECK_EQ_INT(st.n_running, 1);
    CHECK_EQ_INT(st.n_succeeded, 3);
    CHECK_EQ_INT(st.n_failed, 1);
    CHECK_EQ_INT(st.n_interrupted, 1);
    CHECK_NEAR(st.success_rate, 0.6, 1e-12);
    CHECK_NEAR(st.failure_rate, 0.2, 1e-12);
    CHECK_NEAR(st.interrupted_rate, 0.2, 1e-12);
    CHECK_NEAR(st.mean_seconds_succeeded, 20.0, 1e-12); /* (10 + 20 + 30) / 3 */
    CHECK_NEAR(st.mean_seconds_failed, 5.0, 1e-12);
    CHECK_EQ_INT(st.n_sized_artifacts, 4);                /* a4's model has no size */
    CHECK_EQ_INT(st.original_bytes, 10000);               /* 1000 + 1000 + 4000 + 4000 */
    CHECK_EQ_INT(st.artifact_bytes, 2750);                /* 300 + 550 + 1200 + 700 */
    CHECK_EQ_INT(st.saved_bytes, 7250);
    REQUIRE(st.n_methods == 4);
    const lqmf_store_method_stats *g = st.methods;
    CHECK_STR(g[0].format, "bnb");
    CHECK_STR(g[0].method, "nf4");
    CHECK(isnan(g[0].mean_size_ratio) && isnan(g[0].mean_kl));
    CHECK_STR(g[1].method, "Q2_K");
    CHECK_NEAR(g[1].mean_size_ratio, 0.175, 1e-12); /* 700 / 4000 */
    CHECK_EQ_INT(g[1].n_kl, 0);
    CHECK_STR(g[2].method, "Q4_K_M");
    CHECK_EQ_INT(g[2].n_artifacts, 2);
    CHECK_NEAR(g[2].mean_bits_per_weight, 4.5, 1e-12);
    CHECK_NEAR(g[2].mean_size_bytes, 750, 1e-12);
    CHECK_NEAR(g[2].mean_size_ratio, 0.3, 1e-12);   /* (300/1000 + 1200/4000) / 2 */
    CHECK_NEAR(g[2].mean_kl, 0.035, 1e-12);         /* (0.04 + 0.03) / 2 */
    CHECK_EQ_INT(g[2].n_kl, 2);
    CHECK_STR(g[3].method, "Q8_0");
    CHECK_NEAR(g[3].mean_kl, 0.01, 1e-12);
    /* no budget: lowest KL per model; unmeasured only when nothing is measured */
    REQUIRE(st.n_best == 3);
    CHECK_EQ_INT(st.best[0].artifact->id, 2);
    CHECK_EQ_INT(st.best[1].artifact->id, 4);
    CHECK(isnan(st.best[1].kl));
    CHECK_EQ_INT(st.best[2].artifact->id, 3);
    CHECK_NEAR(st.best[2].kl, 0.03, 1e-12);
    lqmf_store_stats_free(&st);
    /* 500 bytes: m1 keeps a1 (550 is over), m2 a4 (exactly 500), m3 nothing */
    REQUIRE_OK(lqmf_store_stats_compute(&snap, 500, &st));
    REQUIRE(st.n_best == 2);
    CHECK_EQ_INT(st.best[0].artifact->id, 1);
    CHECK_NEAR(st.best[0].kl, 0.04, 1e-12);
    CHECK_EQ_INT(st.best[1].artifact->id, 4);
    lqmf_store_stats_free(&st);
    /* 800 bytes: m3's only fit is the unmeasured a5 */
    REQUIRE_OK(lqmf_store_stats_compute(&snap, 800, &st));
    REQUIRE(st.n_best == 3);
    CHECK_EQ_INT(st.best[2].artifact->id, 5);
    lqmf_store_stats_free(&st);
    /* nothing finished: rates are NAN */
    lqmf_store_snapshot empty = { 0 };
    REQUIRE_OK(lqmf_store_stats_compute(&empty, 0, &st));
    CHECK(isnan(st.success_rate) && isnan(st.mean_seconds_succeeded) && st.n_methods == 0);
    lqmf_store_stats_free(&st);
}

/* ---- export ------------------------------------------------------------------------------------ */

static lqmf_store_model x_models[] = {
    { .id = 1, .source = "org/tiny", .revision = "main", .architecture = "llama", .size_bytes = 4000,
      .created_at = 1700000000 },
};
static lqmf_store_artifact x_artifacts[] = {
    { .id = 3, .model_id = 1, .path = "out/tiny-Q8_0.gguf", .format = "gguf", .method = "Q8_0",
      .bits_per_weight = 8.5, .size_bytes = 1100, .sha256 = "", .created_at = 1700000010 },
};
static lqmf_store_experiment x_exps[] = {
    { .id = 1, .request = "quantize org/tiny to 8-bit", .plan = "{}", .model_id = 1, .artifact_id = 3,
      .state = LQMF_STORE_SUCCEEDED, .started_at = 1700000000.25, .finished_at = 1700000012.75,
      .error = "", .host = "box", .pid = 7, .host_info = "", .proc_token = "" },
    { .id = 2, .request = "quantize org/tiny, 2-bit", .plan = "", .model_id = 1,
      .state = LQMF_STORE_FAILED, .started_at = 1700000100, .finished_at = 1700000101,
      .error = "type \"Q2_K\" needs rows of 256", .host = "box", .pid = 8, .host_info = "",
      .proc_token = "" },
};
static lqmf_store_evaluation x_evals[] = {
    { .id = 1, .experiment_id = 1, .model_id = 1, .artifact_id = 3, .metric = "kl_divergence",
      .value = 0.002, .unit = "nats", .protocol = "p", .created_at = 1700000011 },
    { .id = 2, .experiment_id = 1, .model_id = 1, .artifact_id = 3, .metric = "perplexity",
      .value = 10.5, .unit = "", .protocol = "p", .created_at = 1700000011 },
    { .id = 3, .model_id = 1, .metric = "baseline_only", .value = 1, .unit = "", .protocol = "p",
      .created_at = 1700000011 },
};

TEST(store_export_csv) {
    lqmf_store_snapshot snap = { x_models, 1, x_artifacts, 1, x_exps, 2, x_evals, 3 };
    lqmf_buf b;
    lqmf_buf_init(&b);
    REQUIRE_OK(lqmf_store_export(&snap, LQMF_STORE_EXPORT_CSV, &b));
    REQUIRE(lqmf_buf_append(&b, "", 1));
    CHECK_STR((const char *)b.data,
              "id,status,request,model,revision,architecture,artifact_path,format,method,"
              "bits_per_weight,artifact_bytes,model_bytes,sha256,started_at,finished_at,duration_s,"
              "host,pid,error,kl_divergence,perplexity\n"
              "1,succeeded,quantize org/tiny to 8-bit,org/tiny,main,llama,out/tiny-Q8_0.gguf,gguf,"
              "Q8_0,8.5,1100,4000,,2023-11-14T22:13:20Z,2023-11-14T22:13:32Z,12.500,box,7,,0.002,10.5\n"
              "2,failed,\"quantize org/tiny, 2-bit\",org/tiny,main,llama,,,,,,4000,,"
              "2023-11-14T22:15:00Z,2023-11-14T22:15:01Z,1.000,box,8,"
              "\"type \"\"Q2_K\"\" needs rows of 256\",,\n");
    lqmf_buf_free(&b);
}

TEST(store_export_json_roundtrip) {
    lqmf_store_snapshot snap = { x_models, 1, x_artifacts, 1, x_exps, 2, x_evals, 3 };
    lqmf_buf b;
    lqmf_buf_init(&b);
    REQUIRE_OK(lqmf_store_export(&snap, LQMF_STORE_EXPORT_JSON, &b));
    /* independent reading with jansson */
    json_error_t err;
    json_t *root = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &err);
    REQUIRE(root);
    CHECK_STR(json_string_value(json_object_get(root, "format")), "lqmf-experiment-store");
    json_t *x1 = json_array_get(json_object_get(root, "experiments"), 1);
    CHECK_STR(json_string_value(json_object_get(x1, "status")), "failed");
    CHECK(json_is_null(json_object_get(x1, "artifact_id")));
    CHECK(json_real_value(json_object_get(json_array_get(json_object_get(root, "experiments"), 0),
                                          "started_at")) == 1700000000.25);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(root, "next_id"), "artifacts")), 4);
    json_decref(root);
    /* the export is a JSON store: open it and read the same records */
    char path[512];
    snprintf(path, sizeof path, "%s/export.json", lqmf_test_tmpdir());
    REQUIRE(write_bytes(path, b.data, b.len));
    lqmf_buf_free(&b);
    lqmf_store *s;
    REQUIRE_OK(lqmf_store_open(path, LQMF_STORE_JSON, &s));
    lqmf_store_snapshot back;
    REQUIRE_OK(lqmf_store_load(s, &back));
    REQUIRE(back.n_experiments == 2 && back.n_evaluations == 3 && back.n_artifacts == 1);
    CHECK_STR(back.experiments[1].error, x_exps[1].error);
    CHECK(back.experiments[0].finished_at == x_exps[0].finished_at);
    CHECK_EQ_INT(back.artifacts[0].id, 3);
    CHECK(back.artifacts[0].bits_per_weight == 8.5);
    CHECK_EQ_INT(back.evaluations[2].experiment_id, 0);
    CHECK_STR(back.models[0].architecture, "llama");
    lqmf_store_snapshot_free(&back);
    int64_t id;
    REQUIRE_OK(lqmf_store_put_artifact(s, &(lqmf_store_artifact){ .path = "new", .format = "gguf",
                                                                 .method = "Q4_0" }, &id));
    CHECK_EQ_INT(id, 4);
    lqmf_store_close(s);
}

TEST(store_names_and_matching) {
    lqmf_store_backend b;
    lqmf_store_state st;
    CHECK(lqmf_store_backend_from_name("json", &b) && b == LQMF_STORE_JSON);
    CHECK(!lqmf_store_backend_from_name("redis", &b));
    CHECK(lqmf_store_state_from_name("interrupted", &st) && st == LQMF_STORE_INTERRUPTED);
    CHECK(!lqmf_store_state_from_name("done", &st));
    lqmf_store_model m = { .source = "/data/models/Tiny-Llama" };
    CHECK(lqmf_store_model_matches(&m, "tiny-llama"));
    CHECK(lqmf_store_model_matches(&m, "/data/models/Tiny-Llama"));
    CHECK(!lqmf_store_model_matches(&m, "gpt2"));
    CHECK(!lqmf_store_model_matches(&m, ""));
    setenv("LQMF_HOME", "/x/home", 1);
    char *p = lqmf_store_default_path(LQMF_STORE_SQLITE);
    CHECK_STR(p, "/x/home/experiments.db");
    free(p);
    unsetenv("LQMF_HOME");
    p = lqmf_store_default_path(LQMF_STORE_JSON);
    CHECK_STR(p, ".lqmf/experiments.json");
    free(p);
}
