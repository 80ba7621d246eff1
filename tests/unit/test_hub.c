/* Hub client against the mock Hub on 127.0.0.1 (tests/fakes/mock_hub.c),
 * serving the shared tiny-llama folder and small repositories generated
 * here; plus SHA-256/SHA-1 against FIPS 180-4 vectors, sha256sum and git. */
#include "../fakes/mock_hub.h"
#include "../test.h"
#include "hub/hub_priv.h"
#include "lqmf/hub.h"
#include "lqmf/sha256.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- digests --------------------------------------------------------------- */

static void sha256_hex_chunked(const void *p, size_t n, size_t step, char out[65]) {
    lqmf_sha256_ctx c;
    lqmf_sha256_init(&c);
    for (size_t i = 0; i < n; i += step)
        lqmf_sha256_update(&c, (const char *)p + i, n - i < step ? n - i : step);
    uint8_t d[32];
    lqmf_sha256_final(&c, d);
    lqmf_hex(d, 32, out);
}

static void sha1_hex(const void *p, size_t n, char out[41]) {
    lqmf_sha1_ctx c;
    lqmf_sha1_init(&c);
    lqmf_sha1_update(&c, p, n);
    uint8_t d[20];
    lqmf_sha1_final(&c, d);
    lqmf_hex(d, 20, out);
}

TEST(sha256_fips_vectors) {
    static const char *abc56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char *million = malloc(1000000);
    REQUIRE(million);
    memset(million, 'a', 1000000);
    struct {
        const char *msg;
        size_t len;
        const char *want;
    } v[] = {
        {"abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {abc56, 56, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    size_t steps[] = {1, 7, 63, 64, 65, 1000000};
    for (size_t i = 0; i < 4; i++)
        for (size_t s = 0; s < 6; s++) {
            if (v[i].len > 1000 && steps[s] < 63) continue;
            char got[65];
            sha256_hex_chunked(v[i].msg, v[i].len, steps[s], got);
            CHECKF(strcmp(got, v[i].want) == 0, "vector %zu step %zu: %s", i, steps[s], got);
        }
    free(million);
}

TEST(sha1_fips_vectors_and_git_blob_ids) {
    char got[41];
    sha1_hex("abc", 3, got);
    CHECK_STR(got, "a9993e364706816aba3e25717850c26c9cd0d89d");
    sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, got);
    CHECK_STR(got, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    /* git's ids of the empty blob and of "hello\n" */
    sha1_hex("blob 0", 7, got);
    CHECK_STR(got, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    sha1_hex("blob 6\0hello\n", 13, got);
    CHECK_STR(got, "ce013625030ba8dba906f756967f9e9ca394464a");
}

/* Expected sha256 of a file of the shared folder, from its SHA256SUMS
 * (written by sha256sum). */
static bool sum_of(const char *dir, const char *name, char out[65]) {
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/SHA256SUMS", dir);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char hex[65], fn[256];
        if (sscanf(line, "%64s %255s", hex, fn) == 2 && strcmp(fn, name) == 0) {
            memcpy(out, hex, 65);
            found = true;
        }
    }
    fclose(f);
    return found;
}

TEST(sha256_file_matches_sha256sum) {
    DATA(dir, "models/tiny-llama");
    const char *names[] = {"config.json", "model.safetensors", "tokenizer.model"};
    for (size_t i = 0; i < 3; i++) {
        char want[65], got[65], path[1024];
        REQUIRE(sum_of(dir, names[i], want));
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        uint8_t d[32];
        CHECK_OK(lqmf_sha256_file(path, d));
        lqmf_hex(d, 32, got);
        CHECK_STR(got, want);
    }
}

/* ---- fixtures ----------------------------------------------------------------- */

#define ALICE "hf_alice_token_0123456789"
#define BOB "hf_bob_token_0123456789"

static void write_file(const char *dir, const char *rel, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    hub_mkdirs_parent(path);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

/* A safetensors file of one F32 tensor [rows, 300]: header + pseudo-random data. */
static void write_safetensors(const char *dir, const char *rel, unsigned rows) {
    size_t data = (size_t)rows * 300 * 4;
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr,
                     "{\"w\":{\"dtype\":\"F32\",\"shape\":[%u,300],\"data_offsets\":[0,%zu]}}", rows, data);
    while (n % 8) hdr[n++] = ' ';
    size_t total = 8 + (size_t)n + data;
    uint8_t *b = malloc(total);
    if (!b) abort();
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, hdr, (size_t)n);
    uint32_t x = 12345;
    for (size_t i = 8 + (size_t)n; i < total; i++) b[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    write_file(dir, rel, b, total);
    free(b);
}

/* A generated repository: weights in several formats, a nested folder. */
static void make_synth_repo(char *dir, size_t cap) {
    snprintf(dir, cap, "%s", lqmf_test_tmpdir());
    const char *cfg = "{\"model_type\": \"llama\", \"hidden_size\": 256}\n";
    write_file(dir, "config.json", cfg, strlen(cfg));
    write_file(dir, "tokenizer.json", "{\"version\":\"1.0\"}", 17);
    write_file(dir, "README.md", "# synth\n", 8);
    write_safetensors(dir, "model.safetensors", 256); /* 300 KiB, LFS */
    write_file(dir, "model.Q4_K_M.gguf", "GGUF\3\0\0\0", 8);
    write_file(dir, "onnx/model.onnx", "onnx", 4);
    char notes[40000];
    for (size_t i = 0; i < sizeof notes; i++) notes[i] = (char)('a' + i % 26);
    write_file(dir, "sub/dir/notes.txt", notes, sizeof notes); /* non-LFS */
}

typedef struct {
    mock_hub *m;
    char synth[512]; /* source folder of test-org/synth */
    char cache[512];
} fixture;

static bool setup(fixture *fx, bool with_tiny) {
    memset(fx, 0, sizeof *fx);
    make_synth_repo(fx->synth, sizeof fx->synth);
    snprintf(fx->cache, sizeof fx->cache, "%s/hub", lqmf_test_tmpdir());
    fx->m = mock_hub_start(42);
    if (!fx->m) return false;
    char small[512];
    snprintf(small, sizeof small, "%s", lqmf_test_tmpdir());
    write_file(small, "config.json", "{\"model_type\":\"gpt2\"}", 21);
    write_safetensors(small, "model.safetensors", 4);
    bool ok = mock_hub_add_repo(fx->m, "test-org/synth", fx->synth, MOCK_PUBLIC, NULL) &&
              mock_hub_add_repo(fx->m, "test-org/private", small, MOCK_PRIVATE, "alice") &&
              mock_hub_add_repo(fx->m, "test-org/gated", small, MOCK_GATED, "alice");
    if (with_tiny) {
        const char *tiny = lqmf_test_data("models/tiny-llama");
        ok = ok && tiny && mock_hub_add_repo(fx->m, "test-org/tiny-llama", tiny, MOCK_PUBLIC, NULL);
    }
    mock_hub_add_token(fx->m, ALICE, "alice", "test-org,friends", "write");
    mock_hub_add_token(fx->m, BOB, "bob", "", "read");
    return ok;
}

static void teardown(fixture *fx) {
    if (fx->m) CHECK(!mock_hub_stats(fx->m).overflow);
    mock_hub_stop(fx->m);
}

static lqmf_hub *new_hub(const char *url, const char *cache, const char *token, unsigned retries) {
    lqmf_hub_options o;
    lqmf_hub_options_init(&o);
    o.endpoint = url;
    o.cache_dir = cache;
    o.token = token ? token : "";
    o.offline = 0;
    o.max_retries = retries;
    o.retry_base_ms = 2;
    o.stall_timeout_s = 5;
    o.connect_timeout_s = 2;
    lqmf_hub *h = NULL;
    if (lqmf_hub_new(&o, &h) != LQMF_OK) return NULL;
    return h;
}

static bool same_file(const char *a, const char *b) {
    lqmf_map x, y;
    if (lqmf_map_open(a, &x) != LQMF_OK) return false;
    if (lqmf_map_open(b, &y) != LQMF_OK) {
        lqmf_map_close(&x);
        return false;
    }
    bool same = x.size == y.size && (x.size == 0 || memcmp(x.data, y.data, (size_t)x.size) == 0);
    lqmf_map_close(&x);
    lqmf_map_close(&y);
    return same;
}

static bool is_symlink_to(const char *path, const char *target) {
    char buf[1024];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) return false;
    buf[n] = '\0';
    return strcmp(buf, target) == 0;
}

/* Every finished blob's content hashes to its name (sha256 or git sha1). */
static int check_blobs(const char *repo_dir, unsigned *n_incomplete) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/blobs", repo_dir);
    DIR *d = opendir(dir);
    int bad = 0;
    *n_incomplete = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (strstr(e->d_name, ".incomplete")) {
            (*n_incomplete)++;
            continue;
        }
        char path[1400], got[65];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        lqmf_map m;
        if (lqmf_map_open(path, &m) != LQMF_OK) {
            bad++;
            continue;
        }
        if (strlen(e->d_name) == 64) {
            uint8_t dg[32];
            lqmf_sha256(m.data ? (const void *)m.data : "", (size_t)m.size, dg);
            lqmf_hex(dg, 32, got);
        } else {
            lqmf_sha1_ctx c;
            char hdr[32];
            int hn = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)m.size);
            lqmf_sha1_init(&c);
            lqmf_sha1_update(&c, hdr, (size_t)hn + 1);
            lqmf_sha1_update(&c, m.data ? (const void *)m.data : "", (size_t)m.size);
            uint8_t dg[20];
            lqmf_sha1_final(&c, dg);
            lqmf_hex(dg, 20, got);
        }
        lqmf_map_close(&m);
        if (strcmp(got, e->d_name) != 0) bad++;
    }
    closedir(d);
    return bad;
}

static bool *select_globs(const lqmf_hub_repo *r, const char *g1, const char *g2) {
    bool *sel = calloc(r->n_files, sizeof *sel);
    const char *globs[2] = {g1, g2};
    size_t n;
    if (sel && lqmf_hub_select(r, globs, g2 ? 2 : 1, sel, &n) != LQMF_OK) {
        free(sel);
        return NULL;
    }
    return sel;
}

/* A 127.0.0.1 port where nothing listens. */
static unsigned dead_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    unsigned port = 0;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

/* ---- resolve ---------------------------------------------------------------------- */

TEST(hub_repo_open_tiny_llama_paginated) {
    fixture fx;
    DATA(tiny, "models/tiny-llama");
    REQUIRE(setup(&fx, true));
    mock_faults f = {.tree_page = 3};
    mock_hub_set_faults(fx.m, &f);
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 0);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/tiny-llama", NULL, &r));
    if (r) {
        CHECK_STR(r->commit, mock_hub_commit(fx.m, "test-org/tiny-llama"));
        CHECK_EQ_INT(r->n_files, 11);
        CHECK(!r->from_cache && !r->is_private && r->gated[0] == '\0');
        mock_stats s = mock_hub_stats(fx.m);
        CHECK_EQ_INT(s.tree_pages, 4);   /* 11 files, 3 per page */
        CHECK_EQ_INT(s.body_bytes, 669); /* config.json only: no weights fetched */
        for (size_t i = 0; i < r->n_files; i++) {
            char path[1024], want[65];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", tiny, r->files[i].path);
            CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == r->files[i].size);
            if (r->files[i].sha256[0] && sum_of(tiny, r->files[i].path, want))
                CHECK_STR(r->files[i].sha256, want);
        }
        const lqmf_hub_file *w = lqmf_hub_repo_find(r, "model.safetensors");
        CHECK(w && w->size == 13644312 && w->sha256[0]);
        CHECK(r->config_json && strstr(r->config_json, "\"LlamaForCausalLM\"") && r->config_len == 669);
        /* cache: refs/main, a relative link to the blob named by the git id */
        char ref[1024], commit[41], link[1024], target[128];
        snprintf(ref, sizeof ref, "%s/models--test-org--tiny-llama", fx.cache);
        CHECK_STR(r->repo_dir, ref);
        CHECK_OK(hub_ref_read(ref, "main", commit));
        CHECK_STR(commit, r->commit);
        const lqmf_hub_file *cfg = lqmf_hub_repo_find(r, "config.json");
        snprintf(link, sizeof link, "%s/config.json", r->snapshot_dir);
        snprintf(target, sizeof target, "../../blobs/%s", cfg ? cfg->oid : "?");
        CHECK(is_symlink_to(link, target));
    }
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

TEST(hub_git_blob_id_and_nested_link) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 0);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/synth", "v1.0", &r));
    char cmd[1200], out[64] = "";
    snprintf(cmd, sizeof cmd, "git hash-object '%s/sub/dir/notes.txt' 2>/dev/null", fx.synth);
    FILE *p = popen(cmd, "r");
    bool have_git = p && fgets(out, sizeof out, p) && strlen(out) >= 40;
    if (p) pclose(p);
    const lqmf_hub_file *f = r ? lqmf_hub_repo_find(r, "sub/dir/notes.txt") : NULL;
    CHECK(f && !f->sha256[0] && f->size == 40000);
    if (f && have_git) CHECK(strncmp(f->oid, out, 40) == 0);
    bool *sel = r ? select_globs(r, "sub/*", NULL) : NULL;
    if (sel && f) {
        CHECK_OK(lqmf_hub_download(h, r, sel, NULL));
        char link[1024], target[128], src[1024];
        snprintf(link, sizeof link, "%s/sub/dir/notes.txt", r->snapshot_dir);
        snprintf(target, sizeof target, "../../../../blobs/%s", f->oid);
        CHECK(is_symlink_to(link, target));
        snprintf(src, sizeof src, "%s/sub/dir/notes.txt", fx.synth);
        CHECK(same_file(link, src));
        char ref[1024], commit[41];
        CHECK_OK(hub_ref_read(r->repo_dir, "v1.0", commit));
        CHECK_STR(commit, r->commit);
        snprintf(ref, sizeof ref, "%s/.locks/models--test-org--synth/%s.lock", fx.cache, f->oid);
        CHECK(access(ref, F_OK) == 0);
    }
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
    if (!have_git) SKIP("git not available for the reference blob id");
}

/* ---- download ---------------------------------------------------------------------- */

typedef struct {
    unsigned calls, finals;
    lqmf_hub_progress last;
    lqmf_hub_file_state states[32];
    unsigned retries[32];
    uint64_t done_sum;
} progress_log;

static void on_progress(void *user, const lqmf_hub_progress *p) {
    progress_log *l = user;
    l->calls++;
    l->finals += p->final;
    l->last = *p;
    l->last.files = NULL; /* lives only during the call */
    uint64_t sum = 0;
    for (size_t i = 0; i < p->n_files && i < 32; i++) {
        l->states[i] = p->files[i].state;
        l->retries[i] = p->files[i].retries;
        sum += p->files[i].done;
    }
    l->done_sum = sum;
}

TEST(hub_download_tiny_llama_parallel_then_cached) {
    fixture fx;
    DATA(tiny, "models/tiny-llama");
    REQUIRE(setup(&fx, true));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 0);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/tiny-llama", "main", &r));
    if (!r) {
        lqmf_hub_free(h);
        teardown(&fx);
        return;
    }
    bool sel[32];
    size_t n_sel = 0;
    CHECK_OK(lqmf_hub_select(r, NULL, 0, sel, &n_sel));
    /* config, generation config, 4 tokenizer files, the weights; not the
     * README, SHA256SUMS, heldout.txt or reference.json */
    const char *want[] = {
        "config.json",    "generation_config.json", "model.safetensors",    "special_tokens_map.json",
        "tokenizer.json", "tokenizer.model",        "tokenizer_config.json"};
    CHECK_EQ_INT(n_sel, 7);
    uint64_t total = 0;
    for (size_t i = 0; i < r->n_files; i++) {
        bool expect = false;
        for (size_t k = 0; k < 7; k++) expect |= strcmp(r->files[i].path, want[k]) == 0;
        CHECKF(sel[i] == expect, "%s selected=%d", r->files[i].path, sel[i]);
        if (sel[i]) total += r->files[i].size;
    }
    progress_log log = {0};
    lqmf_hub_download_options o = {
        .progress = on_progress, .progress_user = &log, .progress_interval_s = 0.01};
    mock_hub_reset_stats(fx.m);
    CHECK_OK(lqmf_hub_download(h, r, sel, &o));
    CHECK_EQ_INT(log.finals, 1);
    CHECK(log.last.final && log.last.n_files == 7);
    CHECK_EQ_INT(log.last.total, total);
    CHECK_EQ_INT(log.last.done, total);
    CHECK_EQ_INT(log.done_sum, total);
    /* config.json was fetched by repo_open: cached; the rest downloaded */
    for (size_t i = 0; i < 7; i++)
        CHECKF(log.states[i] == (i == 0 ? LQMF_HUB_CACHED : LQMF_HUB_DONE), "file %zu state %d", i,
               log.states[i]);
    mock_stats s = mock_hub_stats(fx.m);
    CHECK_EQ_INT(s.body_bytes, total - 669);
    CHECK_EQ_INT(s.heads, 6);
    for (size_t i = 0; i < 7; i++) {
        char path[1024], sum[65], got[65];
        snprintf(path, sizeof path, "%s/%s", r->snapshot_dir, want[i]);
        uint8_t d[32];
        CHECK_OK(lqmf_sha256_file(path, d));
        lqmf_hex(d, 32, got);
        CHECKF(sum_of(tiny, want[i], sum) && strcmp(got, sum) == 0, "%s", want[i]);
    }
    unsigned incomplete;
    CHECK_EQ_INT(check_blobs(r->repo_dir, &incomplete), 0);
    CHECK_EQ_INT(incomplete, 0);
    /* second run: everything from the cache, nothing asked of the server */
    mock_hub_reset_stats(fx.m);
    memset(&log, 0, sizeof log);
    CHECK_OK(lqmf_hub_download(h, r, sel, &o));
    s = mock_hub_stats(fx.m);
    CHECK_EQ_INT(s.requests, 0);
    for (size_t i = 0; i < 7; i++) CHECK_EQ_INT(log.states[i], LQMF_HUB_CACHED);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

TEST(hub_resume_after_dropped_connections) {
    fixture fx;
    DATA(tiny, "models/tiny-llama");
    REQUIRE(setup(&fx, true));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 5);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/tiny-llama", NULL, &r));
    bool *sel = r ? select_globs(r, "*.safetensors", NULL) : NULL;
    if (sel) {
        /* drops at 3 MiB into each of three bodies: 0-3, 3-6, 6-9, then 9-13 MiB */
        mock_faults f = {.n_drop = 3, .drop_at = 3u << 20};
        mock_hub_set_faults(fx.m, &f);
        mock_hub_reset_stats(fx.m);
        progress_log log = {0};
        lqmf_hub_download_options o = {.progress = on_progress, .progress_user = &log};
        CHECK_OK(lqmf_hub_download(h, r, sel, &o));
        mock_stats s = mock_hub_stats(fx.m);
        CHECK_EQ_INT(s.bodies, 4);
        CHECK_EQ_INT(s.ranged, 3);
        CHECK_EQ_INT(s.faults, 3);
        CHECK_EQ_INT(s.body_bytes, 13644312); /* no byte fetched twice */
        CHECK_EQ_INT(log.retries[0], 3);
        char path[1024], src[1024];
        snprintf(path, sizeof path, "%s/model.safetensors", r->snapshot_dir);
        snprintf(src, sizeof src, "%s/model.safetensors", tiny);
        CHECK(same_file(path, src));
    }
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

TEST(hub_200_instead_of_206_restarts) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 3);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/synth", NULL, &r));
    bool *sel = r ? select_globs(r, "model.safetensors", NULL) : NULL;
    const lqmf_hub_file *w = r ? lqmf_hub_repo_find(r, "model.safetensors") : NULL;
    if (sel && w) {
        mock_faults f = {.n_drop = 1, .drop_at = 100000, .n_no_range = 1};
        mock_hub_set_faults(fx.m, &f);
        mock_hub_reset_stats(fx.m);
        CHECK_OK(lqmf_hub_download(h, r, sel, NULL));
        mock_stats s = mock_hub_stats(fx.m);
        CHECK_EQ_INT(s.bodies, 2);
        CHECK_EQ_INT(s.ranged, 0);
        CHECK_EQ_INT(s.body_bytes, 100000 + w->size);
        char path[1024], src[1024];
        snprintf(path, sizeof path, "%s/model.safetensors", r->snapshot_dir);
        snprintf(src, sizeof src, "%s/model.safetensors", fx.synth);
        CHECK(same_file(path, src));
    }
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

TEST(hub_wrong_partial_file_is_detected_and_refetched) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 2);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/synth", NULL, &r));
    bool *sel = r ? select_globs(r, "model.safetensors", "sub/dir/notes.txt") : NULL;
    if (sel) {
        /* garbage .incomplete files from "an earlier run" for both files */
        for (size_t i = 0; i < r->n_files; i++) {
            if (!sel[i]) continue;
            char rel[256];
            snprintf(rel, sizeof rel, "blobs/%s.incomplete", hub_file_etag(&r->files[i]));
            write_file(r->repo_dir, rel, "not the right bytes", 19);
        }
        mock_hub_reset_stats(fx.m);
        CHECK_OK(lqmf_hub_download(h, r, sel, NULL));
        mock_stats s = mock_hub_stats(fx.m);
        CHECK_EQ_INT(s.bodies, 4); /* a resumed try each, then a fresh one */
        CHECK_EQ_INT(s.ranged, 2);
        const char *names[] = {"model.safetensors", "sub/dir/notes.txt"};
        for (size_t i = 0; i < 2; i++) {
            char path[1024], src[1024];
            snprintf(path, sizeof path, "%s/%s", r->snapshot_dir, names[i]);
            snprintf(src, sizeof src, "%s/%s", fx.synth, names[i]);
            CHECKF(same_file(path, src), "%s", names[i]);
        }
        unsigned incomplete;
        CHECK_EQ_INT(check_blobs(r->repo_dir, &incomplete), 0);
        CHECK_EQ_INT(incomplete, 0);
    }
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

/* Interrupt downloads at random points (dropped connections, corrupt bytes)
 * with no retries; after each failure the cache may hold partial files but
 * every blob and snapshot file present is correct; a clean run completes. */
TEST(hub_random_interruptions_never_leave_a_wrong_file) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    lqmf_hub *h0 = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 0);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h0);
    CHECK_OK(lqmf_hub_repo_open(h0, "test-org/synth", NULL, &r));
    bool *sel = r ? select_globs(r, "model.safetensors", "sub/dir/notes.txt") : NULL;
    const char *names[] = {"model.safetensors", "sub/dir/notes.txt"};
    unsigned failures = 0, corrupt_failures = 0;
    srand(7);
    for (int it = 0; sel && it < 30 && !lqmf_test_failed(); it++) {
        mock_faults f = {0};
        bool corrupt = it % 3 == 2;
        if (corrupt)
            f.n_corrupt = 1;
        else
            f.n_drop = 1; /* at a random point of the next body */
        mock_hub_set_faults(fx.m, &f);
        lqmf_status st = lqmf_hub_download(h0, r, sel, NULL);
        if (st != LQMF_OK) {
            failures++;
            if (corrupt) {
                CHECKF(st == LQMF_E_FORMAT && strstr(lqmf_last_error(), "expected"), "it %d: %s", it,
                       lqmf_last_error());
                corrupt_failures++;
            } else {
                CHECKF(st == LQMF_E_NETWORK, "it %d: %s", it, lqmf_last_error());
            }
        }
        for (size_t i = 0; i < 2; i++) {
            char path[1024], src[1024];
            snprintf(path, sizeof path, "%s/%s", r->snapshot_dir, names[i]);
            snprintf(src, sizeof src, "%s/%s", fx.synth, names[i]);
            CHECKF(access(path, F_OK) != 0 || same_file(path, src), "it %d: wrong %s", it, names[i]);
        }
        unsigned incomplete;
        CHECKF(check_blobs(r->repo_dir, &incomplete) == 0, "it %d: a wrong blob", it);
        /* start over now and then so the drops hit both files */
        if (it % 5 == 4) {
            char cmd[1200];
            snprintf(cmd, sizeof cmd, "rm -rf '%s/snapshots' '%s/blobs'", r->repo_dir, r->repo_dir);
            CHECK(system(cmd) == 0);
        }
    }
    CHECK(failures >= 20);
    CHECK(corrupt_failures >= 8);
    mock_faults none = {0};
    mock_hub_set_faults(fx.m, &none);
    CHECK_OK(lqmf_hub_download(h0, r, sel, NULL));
    for (size_t i = 0; r && i < 2; i++) {
        char path[1024], src[1024];
        snprintf(path, sizeof path, "%s/%s", r->snapshot_dir, names[i]);
        snprintf(src, sizeof src, "%s/%s", fx.synth, names[i]);
        CHECK(same_file(path, src));
    }
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h0);
    teardown(&fx);
}

TEST(hub_retries_429_503_corrupt_slow_and_stalled) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 4);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    mock_faults f = {.n_429 = 2, .n_503 = 1};
    mock_hub_set_faults(fx.m, &f);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/synth", NULL, &r));
    CHECK_EQ_INT(mock_hub_stats(fx.m).faults, 3);
    bool *sel = r ? select_globs(r, "model.safetensors", "sub/dir/notes.txt") : NULL;
    if (sel) {
        mock_faults g = {.n_corrupt = 2, .slow_ms = 2, .n_429 = 1};
        mock_hub_set_faults(fx.m, &g);
        CHECK_OK(lqmf_hub_download(h, r, sel, NULL));
        CHECK_EQ_INT(mock_hub_stats(fx.m).faults, 6);
        const char *names[] = {"model.safetensors", "sub/dir/notes.txt"};
        for (size_t i = 0; i < 2; i++) {
            char path[1024], src[1024];
            snprintf(path, sizeof path, "%s/%s", r->snapshot_dir, names[i]);
            snprintf(src, sizeof src, "%s/%s", fx.synth, names[i]);
            CHECK(same_file(path, src));
        }
    }
    /* a stall longer than the stall timeout: the transfer is abandoned and resumed */
    lqmf_hub_options o;
    lqmf_hub_options_init(&o);
    o.endpoint = mock_hub_url(fx.m);
    char cache2[512];
    snprintf(cache2, sizeof cache2, "%s", lqmf_test_tmpdir());
    o.cache_dir = cache2;
    o.token = "";
    o.offline = 0;
    o.retry_base_ms = 2;
    o.stall_timeout_s = 1;
    lqmf_hub *h2 = NULL;
    lqmf_hub_repo *r2 = NULL;
    CHECK_OK(lqmf_hub_new(&o, &h2));
    if (h2) CHECK_OK(lqmf_hub_repo_open(h2, "test-org/synth", NULL, &r2));
    bool *sel2 = r2 ? select_globs(r2, "model.safetensors", NULL) : NULL;
    if (sel2) {
        /* a drop leaves 100 kB; the resumed body then stalls; the next one completes */
        mock_faults g = {.n_drop = 1, .drop_at = 100000, .n_stall = 1, .stall_ms = 4000};
        mock_hub_set_faults(fx.m, &g);
        mock_hub_reset_stats(fx.m);
        double t0 = lqmf_time_now();
        CHECK_OK(lqmf_hub_download(h2, r2, sel2, NULL));
        double dt = lqmf_time_now() - t0;
        CHECKF(dt >= 0.9 && dt < 3.5, "stalled download took %.2f s", dt);
        CHECK_EQ_INT(mock_hub_stats(fx.m).ranged, 2);
        char path[1024], src[1024];
        snprintf(path, sizeof path, "%s/model.safetensors", r2->snapshot_dir);
        snprintf(src, sizeof src, "%s/model.safetensors", fx.synth);
        CHECK(same_file(path, src));
    }
    /* 429 with Retry-After: 0 is retried at once, not after the 20 s backoff */
    lqmf_hub_options_init(&o);
    o.endpoint = mock_hub_url(fx.m);
    char cache4[512];
    snprintf(cache4, sizeof cache4, "%s", lqmf_test_tmpdir());
    o.cache_dir = cache4;
    o.token = "";
    o.offline = 0;
    o.retry_base_ms = 20000;
    lqmf_hub *h4 = NULL;
    lqmf_hub_repo *r4 = NULL;
    CHECK_OK(lqmf_hub_new(&o, &h4));
    mock_faults rl = {.n_429 = 1};
    mock_hub_set_faults(fx.m, &rl);
    mock_hub_reset_stats(fx.m);
    double t4 = lqmf_time_now();
    if (h4) CHECK_OK(lqmf_hub_repo_open(h4, "test-org/synth", NULL, &r4));
    bool *sel4 = r4 ? select_globs(r4, "model.safetensors", NULL) : NULL;
    mock_hub_set_faults(fx.m, &rl);
    if (sel4) CHECK_OK(lqmf_hub_download(h4, r4, sel4, NULL)); /* the 429 hits the HEAD */
    CHECKF(lqmf_time_now() - t4 < 5.0, "Retry-After ignored: %.1f s", lqmf_time_now() - t4);
    CHECK_EQ_INT(mock_hub_stats(fx.m).faults, 2);
    free(sel4);
    lqmf_hub_repo_free(r4);
    lqmf_hub_free(h4);
    /* retries run out: a clear rate-limit error */
    mock_faults many = {.n_429 = 10};
    mock_hub_set_faults(fx.m, &many);
    lqmf_hub *h3 = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 1);
    lqmf_hub_repo *r3 = NULL;
    if (h3) CHECK_ERR(lqmf_hub_repo_open(h3, "test-org/synth", NULL, &r3), LQMF_E_NETWORK, "429");
    free(sel);
    free(sel2);
    lqmf_hub_repo_free(r);
    lqmf_hub_repo_free(r2);
    lqmf_hub_free(h);
    lqmf_hub_free(h2);
    lqmf_hub_free(h3);
    teardown(&fx);
}

/* ---- errors ------------------------------------------------------------------------- */

TEST(hub_clear_errors) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    const char *url = mock_hub_url(fx.m);
    lqmf_hub *anon = new_hub(url, fx.cache, NULL, 0), *alice = new_hub(url, fx.cache, ALICE, 0),
             *bob = new_hub(url, fx.cache, BOB, 0), *bad = new_hub(url, fx.cache, "hf_wrong", 0);
    REQUIRE(anon && alice && bob && bad);
    lqmf_hub_repo *r = NULL;
    char gate_url[256];
    snprintf(gate_url, sizeof gate_url, "%s/test-org/gated", url);
    CHECK_ERR(lqmf_hub_repo_open(anon, "test-org/nope", NULL, &r), LQMF_E_NOT_FOUND, "log in");
    CHECK_ERR(lqmf_hub_repo_open(anon, "test-org/private", NULL, &r), LQMF_E_NOT_FOUND, "or it is private");
    CHECK_ERR(lqmf_hub_repo_open(bob, "test-org/private", NULL, &r), LQMF_E_NOT_FOUND, "has no access");
    CHECK_ERR(lqmf_hub_repo_open(bad, "test-org/synth", NULL, &r), LQMF_E_AUTH, "rejected the token given");
    CHECK_ERR(lqmf_hub_repo_open(anon, "test-org/gated", NULL, &r), LQMF_E_AUTH, gate_url);
    CHECK_ERR(lqmf_hub_repo_open(anon, "test-org/gated", NULL, &r), LQMF_E_AUTH, "gated repository");
    CHECK_ERR(lqmf_hub_repo_open(bob, "test-org/gated", NULL, &r), LQMF_E_AUTH, "authorized list");
    CHECK_ERR(lqmf_hub_repo_open(bob, "test-org/gated", NULL, &r), LQMF_E_AUTH, gate_url);
    CHECK_ERR(lqmf_hub_repo_open(anon, "test-org/synth", "no-such-branch", &r), LQMF_E_NOT_FOUND,
              "revision not found");
    CHECK_ERR(lqmf_hub_repo_open(anon, "../etc", NULL, &r), LQMF_E_INVALID, "not a repository id");
    CHECK_ERR(lqmf_hub_repo_open(anon, "test-org/synth", "../x", &r), LQMF_E_INVALID, "revision");
    CHECK(r == NULL);
    CHECK_OK(lqmf_hub_repo_open(alice, "test-org/private", NULL, &r));
    CHECK(r && r->is_private);
    lqmf_hub_repo_free(r);
    r = NULL;
    CHECK_OK(lqmf_hub_repo_open(alice, "test-org/gated", NULL, &r));
    CHECK(r && strcmp(r->gated, "manual") == 0 && r->config_json);
    lqmf_hub_repo_free(r);
    r = NULL;
    /* a file the listing has but the server does not */
    CHECK_OK(lqmf_hub_repo_open(anon, "test-org/synth", NULL, &r));
    if (r) {
        lqmf_hub_file *f = (lqmf_hub_file *)lqmf_hub_repo_find(r, "README.md");
        REQUIRE(f);
        free(f->path);
        f->path = strdup("READYOU.md");
        bool *sel = calloc(r->n_files, 1);
        sel[f - r->files] = true;
        CHECK_ERR(lqmf_hub_download(anon, r, sel, NULL), LQMF_E_NOT_FOUND, "no such file");
        char *txt = NULL;
        CHECK_ERR(lqmf_hub_read_file(anon, r, "absent.txt", 10, &txt, NULL), LQMF_E_NOT_FOUND, "absent.txt");
        CHECK(txt == NULL);
        free(sel);
    }
    /* no network: a closed port; then the hint that the cache has it */
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%u", dead_port());
    lqmf_hub *off = new_hub(dead, fx.cache, NULL, 0);
    lqmf_hub_repo *r2 = NULL;
    CHECK_ERR(lqmf_hub_repo_open(off, "test-org/other", NULL, &r2), LQMF_E_NETWORK, "HF_HUB_OFFLINE=1");
    CHECK_ERR(lqmf_hub_repo_open(off, "test-org/synth", NULL, &r2), LQMF_E_NETWORK, "is in the cache");
    lqmf_hub_repo_free(r);
    lqmf_hub_free(off);
    lqmf_hub_free(anon);
    lqmf_hub_free(alice);
    lqmf_hub_free(bob);
    lqmf_hub_free(bad);
    teardown(&fx);
}

TEST(hub_disk_full) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 2);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    /* the listing claims a petabyte: refused before any byte is fetched */
    mock_faults f = {.size_add = 1ull << 50};
    mock_hub_set_faults(fx.m, &f);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/synth", NULL, &r));
    bool *sel = r ? select_globs(r, "model.safetensors", NULL) : NULL;
    if (sel) {
        mock_hub_reset_stats(fx.m);
        CHECK_ERR(lqmf_hub_download(h, r, sel, NULL), LQMF_E_IO, "not enough disk space");
        CHECK_EQ_INT(mock_hub_stats(fx.m).requests, 0);
    }
    free(sel);
    lqmf_hub_repo_free(r);
    r = NULL;
    /* a write that fails with ENOSPC: the partial file is /dev/full */
    mock_faults none = {0};
    mock_hub_set_faults(fx.m, &none);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/synth", NULL, &r));
    sel = r ? select_globs(r, "model.safetensors", NULL) : NULL;
    if (sel && access("/dev/full", W_OK) == 0) {
        const lqmf_hub_file *w = lqmf_hub_repo_find(r, "model.safetensors");
        char part[1024];
        snprintf(part, sizeof part, "%s/blobs/%s.incomplete", r->repo_dir, w->sha256);
        hub_mkdirs_parent(part);
        CHECK(symlink("/dev/full", part) == 0);
        CHECK_ERR(lqmf_hub_download(h, r, sel, NULL), LQMF_E_IO, "disk full");
        char snap[1024];
        snprintf(snap, sizeof snap, "%s/model.safetensors", r->snapshot_dir);
        CHECK(access(snap, F_OK) != 0);
    }
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

/* ---- cache sharing, offline, local dir, renamed repos --------------------------------- */

/* ---- cancellation -------------------------------------------------------------- */

/* Cancel callback: true from the time *at on (lqmf_time_now seconds). */
static bool cancel_after(void *user) { return lqmf_time_now() >= *(const double *)user; }

static lqmf_hub *cancellable_hub(const char *url, const char *cache, unsigned retry_base_ms,
                                 double *cancel_at) {
    lqmf_hub_options o;
    lqmf_hub_options_init(&o);
    o.endpoint = url;
    o.cache_dir = cache;
    o.token = "";
    o.offline = 0;
    o.retry_base_ms = retry_base_ms;
    o.connect_timeout_s = 2;
    o.cancel = cancel_after;
    o.cancel_user = cancel_at;
    lqmf_hub *h = NULL;
    return lqmf_hub_new(&o, &h) == LQMF_OK ? h : NULL;
}

/* Cancelled mid-file against a throttled server: the call returns soon after
 * the cancel (not at the end of the transfer) with LQMF_E_INTERRUPTED, the
 * .incomplete file keeps what arrived, and the next download resumes it with
 * one Range request and verifies the sha256. */
TEST(hub_cancel_mid_file_keeps_partial_and_resumes) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    char big[600];
    snprintf(big, sizeof big, "%s/big", lqmf_test_tmpdir());
    write_file(big, "config.json", "{\"model_type\":\"gpt2\"}", 21);
    write_safetensors(big, "model.safetensors", 1750); /* 2.1 MB: 128 chunks of 16 KiB */
    REQUIRE(mock_hub_add_repo(fx.m, "test-org/big", big, MOCK_PUBLIC, NULL));
    double never = 1e300, at = 1e300;
    lqmf_hub *h = cancellable_hub(mock_hub_url(fx.m), fx.cache, 2, &at);
    REQUIRE(h);
    lqmf_hub_repo *r = NULL;
    REQUIRE_OK(lqmf_hub_repo_open(h, "test-org/big", NULL, &r));
    bool *sel = select_globs(r, "model.safetensors", NULL);
    const lqmf_hub_file *f = lqmf_hub_repo_find(r, "model.safetensors");
    REQUIRE(sel && f);
    /* 60 ms per 16 KiB: the whole body takes ~7.7 s; cancel after 0.6 s */
    mock_faults slow = {.slow_ms = 60};
    mock_hub_set_faults(fx.m, &slow);
    double t0 = lqmf_time_now();
    at = t0 + 0.6;
    lqmf_status st = lqmf_hub_download(h, r, sel, NULL);
    double t1 = lqmf_time_now();
    CHECK_EQ_INT(st, LQMF_E_INTERRUPTED);
    double full_s = (double)f->size / 16384.0 * 0.060;
    /* libcurl polls about once a second on a slow transfer; a loaded
     * machine (sanitizers, parallel builds) adds more */
    CHECKF(t1 - at < 2.5 && t1 - t0 < 0.5 * full_s,
           "returned %.2f s after the cancel (%.2f s in; whole transfer %.2f s)", t1 - at, t1 - t0, full_s);
    char part[1400], snap[1400];
    snprintf(part, sizeof part, "%s/blobs/%s.incomplete", r->repo_dir, f->sha256);
    snprintf(snap, sizeof snap, "%s/model.safetensors", r->snapshot_dir);
    struct stat sb;
    CHECK(stat(part, &sb) == 0);
    uint64_t have = (uint64_t)sb.st_size;
    CHECKF(have > 0 && have < f->size, "partial file has %llu of %llu bytes", (unsigned long long)have,
           (unsigned long long)f->size);
    CHECK(access(snap, F_OK) != 0); /* nothing linked */

    at = never;
    mock_hub_set_faults(fx.m, &(mock_faults){0});
    /* the stopped connection's server thread may still push a chunk or two
     * into the closed socket: wait until the mock's byte count settles */
    for (uint64_t last = UINT64_MAX, i = 0; i < 40 && mock_hub_stats(fx.m).body_bytes != last; i++) {
        last = mock_hub_stats(fx.m).body_bytes;
        usleep(100 * 1000);
    }
    mock_hub_reset_stats(fx.m);
    CHECK_OK(lqmf_hub_download(h, r, sel, NULL));
    mock_stats ms = mock_hub_stats(fx.m);
    CHECK_EQ_INT(ms.bodies, 1);
    CHECK_EQ_INT(ms.ranged, 1);
    CHECK_EQ_INT(ms.body_bytes, f->size - have); /* only the rest */
    char src[1400], got[65], want[65];
    uint8_t d[32];
    snprintf(src, sizeof src, "%s/model.safetensors", big);
    CHECK_OK(lqmf_sha256_file(src, d));
    lqmf_hex(d, 32, want);
    CHECK_OK(lqmf_sha256_file(snap, d));
    lqmf_hex(d, 32, got);
    CHECK_STR(got, want);
    CHECK_STR(f->sha256, want);
    CHECK(access(part, F_OK) != 0);
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

/* A cancel during a retry wait (6 s backoff after a 503) ends it at once. */
TEST(hub_cancel_during_backoff) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    double at = 1e300;
    lqmf_hub *h = cancellable_hub(mock_hub_url(fx.m), fx.cache, 6000, &at);
    REQUIRE(h);
    lqmf_hub_repo *r = NULL;
    REQUIRE_OK(lqmf_hub_repo_open(h, "test-org/synth", NULL, &r));
    mock_hub_set_faults(fx.m, &(mock_faults){.n_503 = 5});
    double t0 = lqmf_time_now();
    at = t0 + 0.3;
    CHECK_ERR(lqmf_hub_download(h, r, NULL, NULL), LQMF_E_INTERRUPTED, "interrupted");
    double dt = lqmf_time_now() - t0;
    CHECKF(dt < 3.0, "returned after %.2f s (the backoff alone is 6 s)", dt);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

/* `lqmf download` given Ctrl-C (SIGINT) mid-file: exit 130 soon after, the
 * partial file kept; the same command then resumes and finishes. */
TEST(hub_download_cli_sigint) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    char big[600];
    snprintf(big, sizeof big, "%s/big", lqmf_test_tmpdir());
    write_safetensors(big, "model.safetensors", 1750);
    write_file(big, "config.json", "{}", 2);
    REQUIRE(mock_hub_add_repo(fx.m, "test-org/big", big, MOCK_PUBLIC, NULL));
    mock_hub_set_faults(fx.m, &(mock_faults){.slow_ms = 60}); /* ~7.7 s for the weights */
    setenv("HF_ENDPOINT", mock_hub_url(fx.m), 1);             /* before fork: the child only execs */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(lqmf_test_cli_path(), "lqmf", "download", "test-org/big", "--cache-dir", fx.cache, "--quiet",
              (char *)NULL);
        _exit(127);
    }
    usleep(700 * 1000);
    double t0 = lqmf_time_now();
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    double late = lqmf_time_now() - t0;
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d", status);
    CHECKF(late < 3.0, "exited %.2f s after SIGINT", late);
    char blobs[700];
    snprintf(blobs, sizeof blobs, "%s/models--test-org--big/blobs", fx.cache);
    DIR *d = opendir(blobs);
    unsigned partial = 0;
    for (struct dirent *e; d && (e = readdir(d));) partial += strstr(e->d_name, ".incomplete") != NULL;
    if (d) closedir(d);
    CHECK_EQ_INT(partial, 1);
    mock_hub_set_faults(fx.m, &(mock_faults){0});
    char args[1400], *out = NULL;
    snprintf(args, sizeof args, "download test-org/big --cache-dir '%s' --quiet", fx.cache);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    unsetenv("HF_ENDPOINT");
    free(out);
    unsigned left;
    char repo_dir[700];
    snprintf(repo_dir, sizeof repo_dir, "%s/models--test-org--big", fx.cache);
    CHECK_EQ_INT(check_blobs(repo_dir, &left), 0);
    CHECK_EQ_INT(left, 0);
    teardown(&fx);
}

TEST(hub_offline_from_cache_and_local_dir) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 0);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/synth", NULL, &r));
    bool sel[16];
    size_t n_sel = 0;
    if (r) {
        CHECK_OK(lqmf_hub_select(r, NULL, 0, sel, &n_sel));
        CHECK_EQ_INT(n_sel, 3); /* config.json, model.safetensors, tokenizer.json */
        CHECK_OK(lqmf_hub_download(h, r, sel, NULL));
    }
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%u", dead_port());
    lqmf_hub_options o;
    lqmf_hub_options_init(&o);
    o.endpoint = dead;
    o.cache_dir = fx.cache;
    o.token = "";
    setenv("HF_HUB_OFFLINE", "1", 1);
    lqmf_hub *off = NULL;
    CHECK_OK(lqmf_hub_new(&o, &off));
    unsetenv("HF_HUB_OFFLINE");
    lqmf_hub_repo *c = NULL;
    if (off) {
        CHECK(lqmf_hub_is_offline(off));
        CHECK_OK(lqmf_hub_repo_open(off, "test-org/synth", "main", &c));
        lqmf_hub_repo *none = NULL;
        CHECK_ERR(lqmf_hub_repo_open(off, "test-org/synth", "v1.0", &none), LQMF_E_NOT_FOUND, "offline");
    }
    if (c && r) {
        CHECK(c->from_cache);
        CHECK_STR(c->commit, r->commit);
        CHECK_EQ_INT(c->n_files, 3);
        for (size_t i = 0; i < c->n_files; i++) {
            const lqmf_hub_file *g = lqmf_hub_repo_find(r, c->files[i].path);
            CHECK(g && g->size == c->files[i].size && strcmp(g->sha256, c->files[i].sha256) == 0 &&
                  (g->sha256[0] || strcmp(g->oid, c->files[i].oid) == 0));
        }
        CHECK(c->config_json && r->config_json && strcmp(c->config_json, r->config_json) == 0);
        char local[512];
        snprintf(local, sizeof local, "%s/plain", lqmf_test_tmpdir());
        lqmf_hub_download_options lo = {.local_dir = local};
        CHECK_OK(lqmf_hub_download(off, c, NULL, &lo));
        for (size_t i = 0; i < c->n_files; i++) {
            char dst[1024], src[1024];
            struct stat st;
            snprintf(dst, sizeof dst, "%s/%s", local, c->files[i].path);
            snprintf(src, sizeof src, "%s/%s", fx.synth, c->files[i].path);
            CHECK(lstat(dst, &st) == 0 && S_ISREG(st.st_mode));
            CHECK(same_file(dst, src));
        }
        /* the offline download of a file that is not cached fails clearly */
        bool *all = calloc(r->n_files, 1);
        for (size_t i = 0; i < r->n_files; i++) all[i] = true;
        CHECK_ERR(lqmf_hub_download(off, r, all, NULL), LQMF_E_NOT_FOUND, "not in the cache");
        free(all);
    }
    lqmf_hub_repo_free(c);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(off);
    lqmf_hub_free(h);
    teardown(&fx);
}

TEST(hub_renamed_repo_relative_redirect) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    mock_hub_add_rename(fx.m, "old-org/synth", "test-org/synth");
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 0);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "old-org/synth", NULL, &r));
    bool *sel = r ? select_globs(r, "model.safetensors", NULL) : NULL;
    if (sel) {
        CHECK_STR(r->commit, mock_hub_commit(fx.m, "test-org/synth"));
        CHECK_OK(lqmf_hub_download(h, r, sel, NULL));
        char path[1024], src[1024];
        snprintf(path, sizeof path, "%s/models--old-org--synth/snapshots/%s/model.safetensors", fx.cache,
                 r->commit);
        snprintf(src, sizeof src, "%s/model.safetensors", fx.synth);
        CHECK(same_file(path, src));
    }
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

/* ---- safetensors header by Range ------------------------------------------------------- */

TEST(hub_safetensors_header_by_range) {
    fixture fx;
    DATA(tiny, "models/tiny-llama");
    REQUIRE(setup(&fx, true));
    lqmf_hub *h = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 2);
    lqmf_hub_repo *r = NULL;
    REQUIRE(h);
    CHECK_OK(lqmf_hub_repo_open(h, "test-org/tiny-llama", NULL, &r));
    char src[1024];
    snprintf(src, sizeof src, "%s/model.safetensors", tiny);
    lqmf_map m;
    REQUIRE_OK(lqmf_map_open(src, &m));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | m.data[i];
    for (int pass = 0; r && pass < 3; pass++) {
        /* pass 0: two ranged GETs; pass 1: the server ignores Range (200);
         * pass 2: the file is in the cache: no request at all */
        mock_faults f = {.n_no_range = pass == 1 ? 2 : 0};
        mock_hub_set_faults(fx.m, &f);
        if (pass == 2) {
            bool *sel = select_globs(r, "model.safetensors", NULL);
            CHECK_OK(lqmf_hub_download(h, r, sel, NULL));
            free(sel);
        }
        mock_hub_reset_stats(fx.m);
        uint8_t *hdr = NULL;
        size_t len = 0;
        CHECK_OK(lqmf_hub_safetensors_header(h, r, "model.safetensors", &hdr, &len));
        CHECK_EQ_INT(len, n + 8);
        CHECK(hdr && memcmp(hdr, m.data, len) == 0);
        CHECK(hdr && hdr[8] == '{');
        mock_stats s = mock_hub_stats(fx.m);
        if (pass == 0) {
            /* the README's figures: 6,819,072 parameters, all BF16; 6 layers of 9 tensors + 3 */
            lqmf_hub_weights w;
            CHECK_OK(lqmf_hub_weights_info(h, r, NULL, &w));
            CHECK_EQ_INT(w.n_files, 1);
            CHECK_EQ_INT(w.n_tensors, 57);
            CHECK_EQ_INT(w.n_params, 6819072);
            CHECK_EQ_INT(w.params_by_dtype[LQMF_ST_BF16], 6819072);
            CHECK_EQ_INT(w.n_bytes, 2 * 6819072);
            s = mock_hub_stats(fx.m);
            CHECK_EQ_INT(s.ranged, 4);
            CHECK_EQ_INT(s.body_bytes, 2 * (n + 8));
            char part[1024];
            snprintf(part, sizeof part, "%s/blobs/%s.incomplete", r->repo_dir,
                     lqmf_hub_repo_find(r, "model.safetensors")->sha256);
            CHECK(access(part, F_OK) != 0);
        }
        if (pass == 2) CHECK_EQ_INT(s.requests, 0);
        free(hdr);
    }
    lqmf_map_close(&m);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    teardown(&fx);
}

/* ---- account and tokens ------------------------------------------------------------------ */

TEST(hub_whoami) {
    fixture fx;
    REQUIRE(setup(&fx, false));
    lqmf_hub *alice = new_hub(mock_hub_url(fx.m), fx.cache, ALICE, 0);
    lqmf_hub *anon = new_hub(mock_hub_url(fx.m), fx.cache, NULL, 0);
    lqmf_hub *bad = new_hub(mock_hub_url(fx.m), fx.cache, "hf_wrong", 0);
    REQUIRE(alice && anon && bad);
    lqmf_hub_user *u = NULL;
    CHECK_OK(lqmf_hub_whoami(alice, &u));
    if (u) {
        CHECK_STR(u->name, "alice");
        CHECK_STR(u->token_role, "write");
        CHECK_STR(u->token_name, "test-token");
        CHECK_EQ_INT(u->n_orgs, 2);
        if (u->n_orgs == 2) CHECK_STR(u->orgs[1], "friends");
    }
    lqmf_hub_user_free(u);
    u = NULL;
    CHECK_EQ_INT(lqmf_hub_token_info(alice)->source, LQMF_HUB_TOKEN_OPTION);
    CHECK_ERR(lqmf_hub_whoami(anon, &u), LQMF_E_AUTH, "not logged in");
    CHECK_ERR(lqmf_hub_whoami(bad, &u), LQMF_E_AUTH, "rejected the token given");
    CHECK(!strstr(lqmf_last_error(), "hf_wrong")); /* never the token itself */
    lqmf_hub_free(alice);
    lqmf_hub_free(anon);
    lqmf_hub_free(bad);
    teardown(&fx);
}

/* Set or unset (NULL) an environment variable, keeping the old value in save. */
static void env_swap(const char *name, const char *value, char **save) {
    const char *old = getenv(name);
    *save = old ? strdup(old) : NULL;
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}
static void env_restore(const char *name, char *save) {
    if (save)
        setenv(name, save, 1);
    else
        unsetenv(name);
    free(save);
}

#define N_ENV 10
static const char *const k_env[N_ENV] = {"HF_TOKEN",
                                         "HUGGINGFACE_TOKEN",
                                         "HUGGING_FACE_HUB_TOKEN",
                                         "HF_HOME",
                                         "HF_TOKEN_PATH",
                                         "LQMF_HOME",
                                         "HF_HUB_CACHE",
                                         "HF_ENDPOINT",
                                         "HF_HUB_OFFLINE",
                                         "HUGGINGFACE_HUB_CACHE"};

TEST(hub_token_lookup_save_remove) {
    char *save[N_ENV];
    char tmp[512], hf_home[600], lq_home[600];
    snprintf(tmp, sizeof tmp, "%s", lqmf_test_tmpdir());
    snprintf(hf_home, sizeof hf_home, "%s/hf", tmp);
    snprintf(lq_home, sizeof lq_home, "%s/lqmf", tmp);
    for (int i = 0; i < N_ENV; i++) env_swap(k_env[i], NULL, &save[i]);
    setenv("HF_HOME", hf_home, 1);
    setenv("LQMF_HOME", lq_home, 1);
    lqmf_hub_token t;
    CHECK_OK(lqmf_hub_token_find(&t));
    CHECK(t.source == LQMF_HUB_TOKEN_NONE && !t.token);
    lqmf_hub_token_clear(&t);
    write_file(hf_home, "token", "hf_from_cli\n", 12);
    CHECK_OK(lqmf_hub_token_find(&t));
    CHECK(t.source == LQMF_HUB_TOKEN_HF_CLI && t.token && strcmp(t.token, "hf_from_cli") == 0);
    CHECK(t.where && strstr(t.where, "/hf/token"));
    lqmf_hub_token_clear(&t);
    CHECK_OK(lqmf_hub_token_save("hf_saved_by_lqmf"));
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/token", lq_home);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_OK(lqmf_hub_token_find(&t));
    CHECK(t.source == LQMF_HUB_TOKEN_LQMF && t.token && strcmp(t.token, "hf_saved_by_lqmf") == 0);
    lqmf_hub_token_clear(&t);
    setenv("HUGGINGFACE_TOKEN", "hf_env_two", 1);
    CHECK_OK(lqmf_hub_token_find(&t));
    CHECK(t.source == LQMF_HUB_TOKEN_ENV && t.where && strcmp(t.where, "HUGGINGFACE_TOKEN") == 0);
    lqmf_hub_token_clear(&t);
    setenv("HF_TOKEN", "hf_env_one", 1);
    CHECK_OK(lqmf_hub_token_find(&t));
    CHECK(t.token && strcmp(t.token, "hf_env_one") == 0 && strcmp(t.where, "HF_TOKEN") == 0);
    lqmf_hub_token_clear(&t);
    setenv("HF_TOKEN", "two words", 1);
    CHECK_ERR(lqmf_hub_token_find(&t), LQMF_E_INVALID, "HF_TOKEN");
    unsetenv("HF_TOKEN");
    unsetenv("HUGGINGFACE_TOKEN");
    bool removed = false;
    CHECK_OK(lqmf_hub_token_remove(&removed));
    CHECK(removed);
    CHECK_OK(lqmf_hub_token_remove(&removed));
    CHECK(!removed);
    CHECK_OK(lqmf_hub_token_find(&t));
    CHECK(t.source == LQMF_HUB_TOKEN_HF_CLI);
    lqmf_hub_token_clear(&t);
    CHECK_ERR(lqmf_hub_token_save("has space"), LQMF_E_INVALID, "not a token");
    /* the client reads the cache, endpoint and offline settings */
    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    setenv("HF_HUB_OFFLINE", "yes", 1);
    lqmf_hub *h = NULL;
    CHECK_OK(lqmf_hub_new(NULL, &h));
    if (h) {
        char want[700];
        snprintf(want, sizeof want, "%s/hub", hf_home);
        CHECK_STR(lqmf_hub_cache_dir(h), want);
        CHECK_STR(lqmf_hub_endpoint(h), "http://127.0.0.1:9");
        CHECK(lqmf_hub_is_offline(h));
        CHECK_EQ_INT(lqmf_hub_token_info(h)->source, LQMF_HUB_TOKEN_HF_CLI);
    }
    lqmf_hub_free(h);
    setenv("HF_HUB_CACHE", tmp, 1);
    CHECK_OK(lqmf_hub_new(NULL, &h));
    if (h) CHECK_STR(lqmf_hub_cache_dir(h), tmp);
    lqmf_hub_free(h);
    for (int i = 0; i < N_ENV; i++) env_restore(k_env[i], save[i]);
}

/* ---- selection and parsers (no server) -------------------------------------------------- */

static lqmf_hub_repo *fake_repo(const char *const *paths, size_t n) {
    lqmf_hub_repo *r = calloc(1, sizeof *r);
    r->repo_id = strdup("x/y");
    r->revision = strdup("main");
    r->files = calloc(n, sizeof *r->files);
    for (size_t i = 0; i < n; i++) r->files[i].path = strdup(paths[i]);
    r->n_files = n;
    hub_files_finish(r->files, n);
    return r;
}

static bool picked(const lqmf_hub_repo *r, const bool *sel, const char *path) {
    const lqmf_hub_file *f = lqmf_hub_repo_find(r, path);
    return f && sel[f - r->files];
}

TEST(hub_select_formats_and_globs) {
    const char *mistral[] = {"config.json",
                             "consolidated.safetensors",
                             "model-00001-of-00002.safetensors",
                             "model-00002-of-00002.safetensors",
                             "model.safetensors.index.json",
                             "tokenizer.model",
                             "pytorch_model.bin",
                             "original/tokenizer.model",
                             "README.md",
                             "params.json"};
    lqmf_hub_repo *r = fake_repo(mistral, 10);
    bool sel[16];
    size_t n;
    CHECK_OK(lqmf_hub_select(r, NULL, 0, sel, &n));
    CHECK_EQ_INT(n, 5);
    CHECK(picked(r, sel, "model-00002-of-00002.safetensors") &&
          picked(r, sel, "model.safetensors.index.json"));
    CHECK(!picked(r, sel, "consolidated.safetensors") && !picked(r, sel, "pytorch_model.bin"));
    CHECK(!picked(r, sel, "original/tokenizer.model") && picked(r, sel, "tokenizer.model"));
    const char *g[] = {"original/*"};
    CHECK_OK(lqmf_hub_select(r, g, 1, sel, &n));
    CHECK(n == 1 && picked(r, sel, "original/tokenizer.model"));
    const char *none[] = {"*.gguf"};
    CHECK_ERR(lqmf_hub_select(r, none, 1, sel, &n), LQMF_E_NOT_FOUND, "*.gguf");
    lqmf_hub_repo_free(r);

    const char *adapter[] = {"adapter_config.json", "adapter_model.safetensors", "README.md"};
    r = fake_repo(adapter, 3);
    CHECK_OK(lqmf_hub_select(r, NULL, 0, sel, &n));
    CHECK(n == 2 && picked(r, sel, "adapter_model.safetensors"));
    lqmf_hub_repo_free(r);

    const char *pt[] = {"config.json", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"};
    r = fake_repo(pt, 4);
    CHECK_OK(lqmf_hub_select(r, NULL, 0, sel, &n));
    CHECK(n == 2 && picked(r, sel, "pytorch_model.bin") && !picked(r, sel, "tf_model.h5"));
    lqmf_hub_repo_free(r);

    const char *gguf[] = {"README.md", "model.Q4_K_M.gguf", "model.Q8_0.gguf"};
    r = fake_repo(gguf, 3);
    CHECK_ERR(lqmf_hub_select(r, NULL, 0, sel, &n), LQMF_E_NOT_FOUND, "model.Q4_K_M.gguf");
    lqmf_hub_repo_free(r);
}

TEST(hub_parsers_reject_bad_answers) {
    lqmf_hub_file *files = NULL;
    size_t n = 0, cap = 0;
    const char *good = "[{\"type\":\"directory\",\"oid\":\"x\",\"path\":\"d\"},"
                       "{\"type\":\"file\",\"oid\":\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\","
                       "\"size\":0,\"path\":\"d/e\"}]";
    CHECK_OK(hub_parse_tree_page(good, strlen(good), &files, &n, &cap));
    CHECK(n == 1 && strcmp(files[0].path, "d/e") == 0);
    CHECK_OK(hub_parse_tree_page(good, strlen(good), &files, &n, &cap));
    CHECK_ERR(hub_files_finish(files, n), LQMF_E_FORMAT, "listed twice");
    hub_files_free(files, n);
    struct {
        const char *json, *needle;
    } bad[] = {
        {"[{\"type\":\"file\",\"oid\":\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\",\"size\":1,\"path\":\"../"
         "x\"}]",
         "safe relative path"},
        {"[{\"type\":\"file\",\"oid\":\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\",\"size\":1,\"path\":\"/"
         "etc/x\"}]",
         "safe relative path"},
        {"[{\"type\":\"file\",\"oid\":\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\",\"size\":-1,\"path\":"
         "\"x\"}]",
         "size"},
        {"[{\"type\":\"file\",\"oid\":\"zz\",\"size\":1,\"path\":\"x\"}]", "oid"},
        {"[{\"type\":\"file\",\"oid\":\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\",\"size\":1,\"path\":\"x\","
         "\"lfs\":{\"oid\":\"abc\"}}]",
         "sha256"},
        {"[{\"type\":\"file\",\"type\":\"file\"}]", "invalid JSON"},
        {"{\"a\":1}", "not a JSON array"},
        {"[{\"type\":\"symlink\",\"path\":\"x\"}]", "unknown type"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        files = NULL;
        n = cap = 0;
        CHECK_ERR(hub_parse_tree_page(bad[i].json, strlen(bad[i].json), &files, &n, &cap), LQMF_E_FORMAT,
                  bad[i].needle);
        hub_files_free(files, n);
    }
    hub_model_info info;
    CHECK_ERR(hub_parse_model_info("{\"sha\":\"abc\"}", 13, &info), LQMF_E_FORMAT, "commit hash");
    const char *mi =
        "{\"sha\":\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\",\"private\":true,\"gated\":\"auto\"}";
    CHECK_OK(hub_parse_model_info(mi, strlen(mi), &info));
    CHECK(info.is_private && strcmp(info.gated, "auto") == 0);
    char *next = hub_link_next("<http://h/a?cursor=1>; rel=\"prev\", <http://h/a?cursor=3>; rel=\"next\"");
    CHECK_STR(next, "http://h/a?cursor=3");
    free(next);
    CHECK(hub_link_next("<http://h/a>; rel=\"prev\"") == NULL);
    CHECK(hub_valid_repo_id("meta-llama/Llama-2-7b-hf") && hub_valid_repo_id("gpt2"));
    CHECK(!hub_valid_repo_id("a/b/c") && !hub_valid_repo_id("a--b/c") && !hub_valid_repo_id("-a/b"));
    char *fold = hub_repo_folder_name("meta-llama/Llama-2-7b-hf");
    CHECK_STR(fold, "models--meta-llama--Llama-2-7b-hf");
    free(fold);
    char *q = hub_url_quote("refs/pr/1 x", false);
    CHECK_STR(q, "refs%2Fpr%2F1%20x");
    free(q);
}
