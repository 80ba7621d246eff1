/* The factory pipeline on tiny-llama: a local run (artifact, folder name,
 * model card, store records), a Hub run against the mock Hub, refusals
 * (nothing fits; a method not built), an interrupted run and a bitsandbytes
 * 4-bit checkpoint from the mock Hub. */
#include "../fakes/mock_hub.h"
#include "../test.h"
#include "lqmf/factory.h"
#include "lqmf/model.h"
#include "lqmf/sha256.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct {
    char out[512], db[512];
    lqmf_hw hw;
    lqmf_factory_request rq;
} fixture;

static void fixture_init(fixture *f, const char *request) {
    memset(f, 0, sizeof *f);
    snprintf(f->out, sizeof f->out, "%s/quantized-models", lqmf_test_tmpdir());
    snprintf(f->db, sizeof f->db, "%s/home/experiments.db", lqmf_test_tmpdir());
    f->hw.ram_total = f->hw.ram_available = 8ull << 30; /* a fixed 8 GiB CPU machine */
    f->hw.n_cpus = 2;
    f->rq = (lqmf_factory_request){.request = request,
                                   .out_dir = f->out,
                                   .store_path = f->db,
                                   .hw = &f->hw,
                                   .n_threads = 2,
                                   .assume_yes = true};
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static char *slurp(const char *path) {
    char *s = NULL;
    size_t n;
    return lqmf_read_file(path, 1 << 20, &s, &n) == LQMF_OK ? s : NULL;
}

/* The store's only experiment, its state and error. */
static void check_store(const char *db, lqmf_store_state want, const char *err_part, lqmf_store_snapshot *snap) {
    lqmf_store *s;
    memset(snap, 0, sizeof *snap);
    REQUIRE_OK(lqmf_store_open(db, LQMF_STORE_SQLITE, &s));
    CHECK_OK(lqmf_store_load(s, snap));
    lqmf_store_close(s);
    REQUIRE(snap->n_experiments == 1);
    const lqmf_store_experiment *e = &snap->experiments[0];
    CHECKF(e->state == want, "state %s, want %s (%s)", lqmf_store_state_name(e->state),
           lqmf_store_state_name(want), e->error);
    CHECKF(strstr(e->error, err_part) != NULL, "error \"%s\" lacks \"%s\"", e->error, err_part);
}

TEST(factory_local_tiny_llama) {
    DATA(src, "models/tiny-llama");
    char request[1024];
    snprintf(request, sizeof request, "quantize %s to 4-bit GGUF for CPU", src);
    fixture f;
    fixture_init(&f, request);
    lqmf_factory_result r;
    lqmf_status st = lqmf_factory_run(&f.rq, &r);
    CHECKF(st == LQMF_OK, "%s: %s", lqmf_status_name(st), r.message);
    CHECK_EQ_INT(r.outcome, LQMF_FACTORY_SUCCEEDED);
    char want[1024];
    snprintf(want, sizeof want, "%s/tiny-llama_gguf_4bit", f.out);
    CHECK_STR(r.out_folder, want);
    CHECK_STR(r.scheme ? r.scheme->name : "", "Q4_K_M"); /* balanced: smallest within 1 % */
    snprintf(want, sizeof want, "%s/tiny-llama_gguf_4bit/tiny-llama-Q4_K_M.gguf", f.out);
    CHECK_STR(r.artifact, want);
    /* the artifact is a model with the source's 57 tensors, smaller than the F32 source */
    lqmf_model *m = NULL;
    CHECK_OK(lqmf_model_open(r.artifact, &m));
    if (m) CHECK_EQ_INT(m->n_tensors, 57);
    lqmf_model_close(m);
    CHECK(r.src_bytes > 3 * r.quant.out_bytes);
    uint8_t d[32];
    char hex[65];
    CHECK_OK(lqmf_sha256_file(r.artifact, d));
    lqmf_hex(d, 32, hex);
    CHECK_STR(r.sha256, hex);
    /* the model card: provenance, plan, test */
    char *card = slurp(r.card);
    REQUIRE(card);
    CHECK(strstr(card, "## Provenance") && strstr(card, "## Plan") && strstr(card, "## Test results"));
    CHECK(strstr(card, hex) != NULL);
    CHECK(strstr(card, src) != NULL);
    CHECK(strstr(card, "Q4_K_M") && strstr(card, "LlamaForCausalLM"));
    CHECK(strstr(card, "| importance | estimated from the weights, 42 tensors |") != NULL); /* 6 blocks x 7 */
    free(card);
    /* the summary */
    lqmf_buf b;
    lqmf_buf_init(&b);
    CHECK_OK(lqmf_factory_render_summary(&r, &b));
    lqmf_buf_append(&b, "", 1);
    CHECK(strstr((char *)b.data, "Quantization Successful!") && strstr((char *)b.data, "Compression Ratio: "));
    lqmf_buf_free(&b);
    /* the store: model, artifact with its sha256, a succeeded experiment pointing at them */
    lqmf_store_snapshot snap;
    check_store(f.db, LQMF_STORE_SUCCEEDED, "", &snap);
    REQUIRE(snap.n_artifacts == 1 && snap.n_models == 1);
    CHECK_STR(snap.artifacts[0].sha256, hex);
    CHECK_STR(snap.artifacts[0].path, r.artifact);
    CHECK_STR(snap.artifacts[0].method, "Q4_K_M");
    CHECK_STR(snap.models[0].source, src);
    CHECK_EQ_INT(snap.models[0].n_params, 6819072);
    CHECK_EQ_INT(snap.experiments[0].artifact_id, snap.artifacts[0].id);
    CHECK_STR(snap.experiments[0].request, request);
    CHECK(strstr(snap.experiments[0].plan, "\"scheme\": \"Q4_K_M\"") || strstr(snap.experiments[0].plan, "\"scheme\":\"Q4_K_M\""));
    /* the auto-test: a verdict, KL against the source recorded for the artifact, JSON beside it */
    CHECKF(!strcmp(r.test_verdict, "pass") || !strcmp(r.test_verdict, "fail"), "verdict %s", r.test_verdict);
    double kl = lqmf_store_artifact_metric(&snap, snap.artifacts[0].id, LQMF_METRIC_KL);
    CHECKF(kl > 0 && kl < 0.05, "KL of Q4_K_M against the source: %g", kl);
    CHECK(r.test_text && strstr(r.test_text, "Benchmark saved: ") && strstr(r.test_text, r.out_folder));
    lqmf_store_snapshot_free(&snap);
    lqmf_factory_result_free(&r);
}

/* Point the request at the mock Hub, with its own cache folder and no token. */
static void use_mock_hub(fixture *f, mock_hub *hub, const char *cache, lqmf_hub_options *ho) {
    lqmf_hub_options_init(ho);
    ho->endpoint = mock_hub_url(hub);
    ho->cache_dir = cache;
    ho->token = "";
    ho->offline = 0;
    f->rq.hub = ho;
}

TEST(factory_hub_mock) {
    DATA(src, "models/tiny-llama");
    mock_hub *hub = mock_hub_start(7);
    REQUIRE(hub);
    REQUIRE(mock_hub_add_repo(hub, "lqmf-test/tiny-llama", src, MOCK_PUBLIC, NULL));
    fixture f;
    fixture_init(&f, "quantize lqmf-test/tiny-llama to 8-bit GGUF for CPU");
    char cache[512];
    snprintf(cache, sizeof cache, "%s/hf-cache", lqmf_test_tmpdir());
    lqmf_hub_options ho;
    use_mock_hub(&f, hub, cache, &ho);
    lqmf_factory_result r;
    lqmf_status st = lqmf_factory_run(&f.rq, &r);
    CHECKF(st == LQMF_OK, "%s: %s", lqmf_status_name(st), r.message);
    char want[1024];
    snprintf(want, sizeof want, "%s/lqmf-test_tiny-llama_gguf_8bit/lqmf-test_tiny-llama-Q8_0.gguf", f.out);
    CHECK_STR(r.artifact, want);
    CHECK_STR(r.commit, mock_hub_commit(hub, "lqmf-test/tiny-llama"));
    CHECK_STR(r.meta_from, "config.json on the Hub");
    CHECK(exists(r.artifact));
    CHECK(strstr(r.source_path, cache) == r.source_path); /* read from the Hub cache */
    char *card = slurp(r.card);
    CHECK(card && strstr(card, r.commit) && strstr(card, "lqmf-test/tiny-llama"));
    free(card);
    lqmf_store_snapshot snap;
    check_store(f.db, LQMF_STORE_SUCCEEDED, "", &snap);
    if (snap.n_models == 1) CHECK_STR(snap.models[0].revision, r.commit);
    lqmf_store_snapshot_free(&snap);
    lqmf_factory_result_free(&r);
    mock_hub_stop(hub);
}

/* A bitsandbytes 4-bit request for a Hub model: downloaded from the mock
 * Hub into the cache, written as a checkpoint folder (the artifact) with
 * the source's tokenizer and a quantization_config, and the folder opens
 * again with the weights the source has (tensor count and shapes). */
TEST(factory_hub_mock_bnb_4bit) {
    DATA(src, "models/tiny-llama");
    mock_hub *hub = mock_hub_start(13);
    REQUIRE(hub);
    REQUIRE(mock_hub_add_repo(hub, "lqmf-test/tiny-llama", src, MOCK_PUBLIC, NULL));
    fixture f;
    fixture_init(&f, "quantize lqmf-test/tiny-llama to bnb 4-bit");
    char cache[512];
    snprintf(cache, sizeof cache, "%s/hf-cache", lqmf_test_tmpdir());
    lqmf_hub_options ho;
    use_mock_hub(&f, hub, cache, &ho);
    lqmf_factory_result r;
    lqmf_status st = lqmf_factory_run(&f.rq, &r);
    CHECKF(st == LQMF_OK, "%s: %s", lqmf_status_name(st), r.message);
    REQUIRE(r.outcome == LQMF_FACTORY_SUCCEEDED);
    CHECK_STR(r.scheme->name, "NF4");
    char want[1024], path[1200];
    snprintf(want, sizeof want, "%s/lqmf-test_tiny-llama_bnb_4bit", f.out);
    CHECK_STR(r.artifact, want);
    CHECK_STR(r.commit, mock_hub_commit(hub, "lqmf-test/tiny-llama"));
    CHECK(strstr(r.source_path, cache) == r.source_path); /* read from the Hub cache */
    snprintf(path, sizeof path, "%s/config.json", want);
    char *cfg = slurp(path);
    CHECK(cfg && strstr(cfg, "\"quant_method\": \"bitsandbytes\"") && strstr(cfg, "\"bnb_4bit_quant_type\": \"nf4\""));
    free(cfg);
    snprintf(path, sizeof path, "%s/tokenizer.json", want);
    CHECK(exists(path));
    lqmf_model *src_m = NULL, *q = NULL;
    CHECK_OK(lqmf_model_open(src, &src_m));
    CHECK_OK(lqmf_model_open(want, &q));
    if (src_m && q) {
        CHECK_EQ_INT(q->n_tensors, src_m->n_tensors);
        for (size_t i = 0; i < src_m->n_tensors; i++) {
            const lqmf_tensor *a = &src_m->tensors[i], *b = lqmf_model_tensor(q, a->name);
            CHECKF(b && b->ne[0] == a->ne[0] && b->ne[1] == a->ne[1], "%s: missing or shape differs", a->name);
        }
    }
    lqmf_model_close(src_m);
    lqmf_model_close(q);
    char *card = slurp(r.card);
    CHECK(card && strstr(card, r.commit) && strstr(card, "4-bit BitsAndBytes"));
    free(card);
    lqmf_store_snapshot snap;
    check_store(f.db, LQMF_STORE_SUCCEEDED, "", &snap);
    if (snap.n_artifacts == 1) CHECK_STR(snap.artifacts[0].method, "NF4");
    if (snap.n_models == 1) CHECK_STR(snap.models[0].revision, r.commit);
    lqmf_store_snapshot_free(&snap);
    lqmf_factory_result_free(&r);
    mock_hub_stop(hub);
}

TEST(factory_refuses_when_nothing_fits) {
    DATA(src, "models/tiny-llama");
    char request[1024];
    snprintf(request, sizeof request, "quantize %s to 4-bit GGUF for CPU smaller than 2 MB", src);
    fixture f;
    fixture_init(&f, request);
    lqmf_factory_result r;
    CHECK_ERR(lqmf_factory_run(&f.rq, &r), LQMF_E_UNSUPPORTED, "nothing fits");
    CHECK_EQ_INT(r.outcome, LQMF_FACTORY_REFUSED);
    CHECK(r.plan.chosen < 0 && r.plan_text);
    char folder[1024];
    snprintf(folder, sizeof folder, "%s/tiny-llama_gguf_4bit", f.out);
    CHECK(!exists(folder));
    lqmf_store_snapshot snap;
    check_store(f.db, LQMF_STORE_FAILED, "refused", &snap);
    CHECK_EQ_INT(snap.n_artifacts, 0);
    lqmf_store_snapshot_free(&snap);
    lqmf_factory_result_free(&r);
}

TEST(factory_refuses_methods_not_built) {
    DATA(src, "models/tiny-llama");
    char request[1024];
    snprintf(request, sizeof request, "quantize %s with AWQ 4-bit", src);
    fixture f;
    fixture_init(&f, request);
    lqmf_factory_result r;
    CHECK_ERR(lqmf_factory_run(&f.rq, &r), LQMF_E_UNSUPPORTED, "awq is not implemented yet");
    CHECK(strstr(r.message, "GGUF") != NULL);
    CHECK_EQ_INT(r.outcome, LQMF_FACTORY_REFUSED);
    lqmf_store_snapshot snap;
    check_store(f.db, LQMF_STORE_FAILED, "refused", &snap);
    lqmf_store_snapshot_free(&snap);
    lqmf_factory_result_free(&r);
}

/* Stop after 10 tensors, as the CLI does on Ctrl-C. */
static bool stop_midway(void *user, const lqmf_factory_progress *p) {
    int *n = user;
    return p->stage != LQMF_FACTORY_QUANTIZE || ++*n < 10;
}

TEST(factory_interrupted_leaves_nothing) {
    DATA(src, "models/tiny-llama");
    char request[1024];
    snprintf(request, sizeof request, "quantize %s to 4-bit GGUF for CPU", src);
    fixture f;
    fixture_init(&f, request);
    int calls = 0;
    f.rq.progress = stop_midway;
    f.rq.user = &calls;
    lqmf_factory_result r;
    CHECK_EQ_INT(lqmf_factory_run(&f.rq, &r), LQMF_E_INTERRUPTED);
    CHECK_EQ_INT(r.outcome, LQMF_FACTORY_INTERRUPTED);
    CHECK_EQ_INT(calls, 10);
    char folder[1024];
    snprintf(folder, sizeof folder, "%s/tiny-llama_gguf_4bit", f.out);
    CHECK(!exists(folder)); /* neither the file, its temporary nor the folder */
    lqmf_store_snapshot snap;
    check_store(f.db, LQMF_STORE_INTERRUPTED, "interrupted at quantize", &snap);
    if (snap.n_experiments) CHECK(snap.experiments[0].finished_at == 0);
    CHECK_EQ_INT(snap.n_artifacts, 0);
    lqmf_store_snapshot_free(&snap);
    lqmf_factory_result_free(&r);
}

/* Ask to stop once some weight bytes have arrived; remember when. */
typedef struct {
    double stop_at;
} dl_stop;

static bool stop_in_download(void *user, const lqmf_factory_progress *p) {
    dl_stop *d = user;
    if (d->stop_at > 0) return false;
    if (p->stage == LQMF_FACTORY_DOWNLOAD && p->frac > 0.02 && p->frac < 1) {
        d->stop_at = lqmf_time_now();
        return false;
    }
    return true;
}

/* Bytes of the first *.incomplete file under dir/blobs; -1 when none. */
static long long incomplete_size(const char *repo_dir) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/blobs", repo_dir);
    DIR *d = opendir(dir);
    long long size = -1;
    for (struct dirent *e; d && size < 0 && (e = readdir(d));) {
        if (!strstr(e->d_name, ".incomplete")) continue;
        char path[1400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0) size = (long long)st.st_size;
    }
    if (d) closedir(d);
    return size;
}

/* A stop during a throttled download (the whole transfer would take ~17 s)
 * ends the run within a second as interrupted, with no artifact folder and
 * the partial weights kept; the next run resumes them with a Range request. */
TEST(factory_interrupted_during_download_resumes) {
    DATA(src, "models/tiny-llama");
    mock_hub *hub = mock_hub_start(9);
    REQUIRE(hub);
    REQUIRE(mock_hub_add_repo(hub, "lqmf-test/tiny-llama", src, MOCK_PUBLIC, NULL));
    fixture f;
    fixture_init(&f, "quantize lqmf-test/tiny-llama to 8-bit GGUF for CPU");
    f.rq.skip_test = true;
    char cache[512], repo_dir[1024];
    snprintf(cache, sizeof cache, "%s/hf-cache", lqmf_test_tmpdir());
    snprintf(repo_dir, sizeof repo_dir, "%s/models--lqmf-test--tiny-llama", cache);
    lqmf_hub_options ho;
    use_mock_hub(&f, hub, cache, &ho);
    mock_hub_set_faults(hub, &(mock_faults){.slow_ms = 20}); /* 20 ms per 16 KiB */
    dl_stop d = {0};
    f.rq.progress = stop_in_download;
    f.rq.user = &d;
    lqmf_factory_result r;
    CHECK_EQ_INT(lqmf_factory_run(&f.rq, &r), LQMF_E_INTERRUPTED);
    double late = lqmf_time_now() - d.stop_at;
    CHECK(d.stop_at > 0);
    CHECKF(late < 4.0, "the run ended %.2f s after the stop (the download takes ~17 s)", late);
    CHECK_EQ_INT(r.outcome, LQMF_FACTORY_INTERRUPTED);
    CHECK_EQ_INT(r.stage, LQMF_FACTORY_DOWNLOAD);
    CHECK(r.artifact[0] == '\0');
    char folder[1024];
    snprintf(folder, sizeof folder, "%s/lqmf-test_tiny-llama_gguf_8bit", f.out);
    CHECK(!exists(folder));
    long long partial = incomplete_size(repo_dir);
    CHECKF(partial > 0, "partial weights: %lld bytes", partial);
    lqmf_store_snapshot snap;
    check_store(f.db, LQMF_STORE_INTERRUPTED, "interrupted at download", &snap);
    CHECK_EQ_INT(snap.n_artifacts, 0);
    lqmf_store_snapshot_free(&snap);
    lqmf_factory_result_free(&r);

    mock_hub_set_faults(hub, &(mock_faults){0});
    mock_hub_reset_stats(hub);
    f.rq.progress = NULL;
    lqmf_status st = lqmf_factory_run(&f.rq, &r);
    CHECKF(st == LQMF_OK, "%s: %s", lqmf_status_name(st), r.message);
    CHECK(exists(r.artifact));
    /* resumed, not fetched again: the rest of the weights, plus the small
     * files and the header Range reads of planning (well under 64 KiB) */
    char weights[1024];
    struct stat wst;
    snprintf(weights, sizeof weights, "%s/model.safetensors", src);
    REQUIRE(stat(weights, &wst) == 0);
    mock_stats ms = mock_hub_stats(hub);
    CHECKF(ms.body_bytes <= (uint64_t)wst.st_size - (uint64_t)partial + 65536,
           "sent %llu bytes; the weights are %lld, %lld of them kept", (unsigned long long)ms.body_bytes,
           (long long)wst.st_size, partial);
    CHECK(ms.ranged >= 1);
    CHECK_EQ_INT(incomplete_size(repo_dir), -1);
    lqmf_factory_result_free(&r);
    mock_hub_stop(hub);
}

TEST(factory_folder_names) {
    const lqmf_scheme *q4 = lqmf_plan_scheme_find("Q4_K_M"), *q8 = lqmf_plan_scheme_find("Q8_0");
    char out[256];
    lqmf_factory_folder_name("microsoft/DialoGPT-small", false, q4, out, sizeof out);
    CHECK_STR(out, "microsoft_DialoGPT-small_gguf_4bit");
    lqmf_factory_folder_name("../data/models/tiny-llama/", true, q8, out, sizeof out);
    CHECK_STR(out, "tiny-llama_gguf_8bit");
    lqmf_factory_folder_name("/m/stories260K.bin", true, q4, out, sizeof out);
    CHECK_STR(out, "stories260K_gguf_4bit");
}

/* The README's fallback when the data folder is absent: "stories260K" names
 * karpathy/tinyllamas, a repo of llama2.c files without config.json; only
 * stories260K/stories260K.bin and its tokenizer are fetched, not the larger
 * checkpoints beside them. */
TEST(factory_hub_llama2c_repo) {
    DATA(bin, "models/stories260K/stories260K.bin");
    DATA(tok, "models/stories260K/tok512.bin");
    char repo[512], sub[600], cmd[2048];
    snprintf(repo, sizeof repo, "%s/tinyllamas", lqmf_test_tmpdir());
    snprintf(sub, sizeof sub, "%s/stories260K", repo);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s' '%s/' && head -c 4096 /dev/urandom > '%s/stories15M.bin'",
             sub, bin, tok, sub, repo);
    REQUIRE(system(cmd) == 0);
    mock_hub *hub = mock_hub_start(11);
    REQUIRE(hub);
    REQUIRE(mock_hub_add_repo(hub, "karpathy/tinyllamas", repo, MOCK_PUBLIC, NULL));
    fixture f;
    fixture_init(&f, "quantize stories260K to 4-bit GGUF for CPU");
    char cache[600];
    snprintf(cache, sizeof cache, "%s/hf-cache", repo);
    lqmf_hub_options ho;
    use_mock_hub(&f, hub, cache, &ho);
    lqmf_factory_result r;
    lqmf_status st = lqmf_factory_run(&f.rq, &r);
    CHECKF(st == LQMF_OK, "%s: %s", lqmf_status_name(st), r.message);
    CHECK(exists(r.artifact));
    CHECKF(strstr(r.source_path, "stories260K.bin") != NULL, "source %s", r.source_path);
    lqmf_model *m = NULL;
    CHECK_OK(lqmf_model_open(r.artifact, &m));
    if (m) CHECK_EQ_INT(m->hp.n_vocab, 512);
    lqmf_model_close(m);
    snprintf(cmd, sizeof cmd, "find '%s' -name 'stories15M.bin' | grep -q .", cache);
    CHECK(system(cmd) != 0); /* the other checkpoint was not downloaded */
    lqmf_factory_result_free(&r);
    mock_hub_stop(hub);
}
