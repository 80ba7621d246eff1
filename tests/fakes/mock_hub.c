/* The mock Hub server (see mock_hub.h). One thread per connection, so slow
 * and stalled bodies do not hold up other requests. All state is under one
 * mutex; file contents are mapped once when a repository is added. */
#include "mock_hub.h"

#include "lqmf/core.h"
#include "lqmf/sha256.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REPOS 16
#define MAX_FILES 64
#define MAX_TOKENS 8
#define MAX_RENAMES 4
#define CHUNK (16u << 10)

typedef struct {
    char path[256];
    lqmf_map map;
    bool lfs;
    char oid[41]; /* git blob sha1 */
    char sha256[65];
} mfile;

typedef struct {
    char id[128];
    char commit[41];
    mock_access access;
    char owner[64];
    mfile files[MAX_FILES];
    size_t n_files;
    char dirs[MAX_FILES][256]; /* folders, for the tree listing */
    size_t n_dirs;
} mrepo;

typedef struct {
    char token[128], user[64], orgs[128], role[16];
} mtoken;

struct mock_hub {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t mu;
    unsigned seed;
    mrepo *repos[MAX_REPOS];
    size_t n_repos;
    mtoken tokens[MAX_TOKENS];
    size_t n_tokens;
    char renames[MAX_RENAMES][2][128];
    size_t n_renames;
    mock_faults faults;
    mock_stats stats;
    bool stopping; /* set by mock_hub_stop: stalls end early */
};

/* ---- responses ------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *body,
                                 const char *type, const char *code, const char *msg) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (code) MHD_add_response_header(r, "X-Error-Code", code);
    if (msg) MHD_add_response_header(r, "X-Error-Message", msg);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
                                  const char *msg) {
    char body[512];
    snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    return send_text(c, status, body, "application/json", code, msg);
}

static enum MHD_Result send_json(struct MHD_Connection *c, json_t *j, const char *link) {
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (link) MHD_add_response_header(r, "Link", link);
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_redirect(struct MHD_Connection *c, unsigned status, const char *loc,
                                     const mrepo *repo, const mfile *f, uint64_t size_add) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Location", loc);
    if (f) {
        char v[96];
        MHD_add_response_header(r, "X-Repo-Commit", repo->commit);
        snprintf(v, sizeof v, "\"%s\"", f->sha256);
        MHD_add_response_header(r, "X-Linked-Etag", v);
        snprintf(v, sizeof v, "%llu", (unsigned long long)(f->map.size + size_add));
        MHD_add_response_header(r, "X-Linked-Size", v);
        snprintf(v, sizeof v, "\"%s\"", f->oid);
        MHD_add_response_header(r, "ETag", v);
    }
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- file bodies with faults ---------------------------------------------- */

typedef struct {
    mock_hub *m;
    const uint8_t *data; /* first byte of the body */
    uint64_t len;
    bool drop, corrupt, stall, stalled;
    uint64_t drop_at, corrupt_at;
    unsigned slow_ms, stall_ms;
} body;

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max) {
    body *b = cls;
    if (pos >= b->len) return MHD_CONTENT_READER_END_OF_STREAM;
    if (b->drop && pos >= b->drop_at) return MHD_CONTENT_READER_END_WITH_ERROR;
    uint64_t n = b->len - pos < max ? b->len - pos : max;
    if (n > CHUNK) n = CHUNK;
    if (b->drop && n > b->drop_at - pos) n = b->drop_at - pos;
    if (b->stall && !b->stalled) { /* in steps, so that stopping the server cuts it short */
        b->stalled = true;
        for (unsigned t = 0; t < b->stall_ms && !__atomic_load_n(&b->m->stopping, __ATOMIC_RELAXED); t += 10)
            usleep(10000);
    }
    if (b->slow_ms) usleep(b->slow_ms * 1000u);
    memcpy(buf, b->data + pos, (size_t)n);
    if (b->corrupt && b->corrupt_at >= pos && b->corrupt_at < pos + n) buf[b->corrupt_at - pos] ^= 0x5a;
    pthread_mutex_lock(&b->m->mu);
    b->m->stats.body_bytes += n;
    pthread_mutex_unlock(&b->m->mu);
    return (ssize_t)n;
}

/* Take one of a countdown fault; counts it when it fires. Holds mu. */
static bool take(mock_hub *m, unsigned *n) {
    if (!*n) return false;
    (*n)--;
    m->stats.faults++;
    return true;
}

static uint64_t pick(mock_hub *m, uint64_t len) { return len ? (uint64_t)rand_r(&m->seed) % len : 0; }

static enum MHD_Result serve_file(mock_hub *m, struct MHD_Connection *c, const mrepo *repo, const mfile *f,
                                  bool head) {
    uint64_t size = f->map.size, start = 0, end = size ? size - 1 : 0;
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    unsigned long long a = 0, e = 0;
    bool ranged = false;
    body *b = calloc(1, sizeof *b);
    if (!b) return MHD_NO;
    pthread_mutex_lock(&m->mu);
    if (range && !head && !take(m, &m->faults.n_no_range)) {
        int k = sscanf(range, "bytes=%llu-%llu", &a, &e);
        if (k < 1 || a >= size) {
            pthread_mutex_unlock(&m->mu);
            free(b);
            return send_error(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, NULL, "Range Not Satisfiable");
        }
        start = a;
        if (k == 2 && e < end) end = e;
        ranged = true;
    }
    b->m = m;
    b->data = f->map.data ? f->map.data + start : (const uint8_t *)"";
    b->len = size ? end - start + 1 : 0;
    if (!head) {
        m->stats.bodies++;
        m->stats.ranged += ranged;
        b->drop = take(m, &m->faults.n_drop);
        b->drop_at = m->faults.drop_at ? m->faults.drop_at : pick(m, b->len);
        b->corrupt = b->len && take(m, &m->faults.n_corrupt);
        b->corrupt_at = pick(m, b->len);
        b->stall = !b->drop && take(m, &m->faults.n_stall);
        b->stall_ms = m->faults.stall_ms;
        b->slow_ms = m->faults.slow_ms;
    }
    pthread_mutex_unlock(&m->mu);
    struct MHD_Response *r = MHD_create_response_from_callback(b->len, CHUNK, read_body, b, free);
    if (!r) {
        free(b);
        return MHD_NO;
    }
    char v[128];
    snprintf(v, sizeof v, "\"%s\"", f->oid);
    MHD_add_response_header(r, "ETag", v);
    if (repo) MHD_add_response_header(r, "X-Repo-Commit", repo->commit);
    if (ranged) {
        snprintf(v, sizeof v, "bytes %llu-%llu/%llu", (unsigned long long)start, (unsigned long long)end,
                 (unsigned long long)size);
        MHD_add_response_header(r, "Content-Range", v);
    }
    enum MHD_Result ok = MHD_queue_response(c, ranged ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- lookups (hold mu) ------------------------------------------------------- */

static mrepo *find_repo(mock_hub *m, const char *id, size_t idlen) {
    for (size_t i = 0; i < m->n_repos; i++)
        if (strlen(m->repos[i]->id) == idlen && strncmp(m->repos[i]->id, id, idlen) == 0) return m->repos[i];
    return NULL;
}

static const char *find_rename(mock_hub *m, const char *id, size_t idlen) {
    for (size_t i = 0; i < m->n_renames; i++)
        if (strlen(m->renames[i][0]) == idlen && strncmp(m->renames[i][0], id, idlen) == 0)
            return m->renames[i][1];
    return NULL;
}

static const mfile *find_file(const mrepo *r, const char *path) {
    for (size_t i = 0; i < r->n_files; i++)
        if (strcmp(r->files[i].path, path) == 0) return &r->files[i];
    return NULL;
}

/* Length of the revision at the start of s ("main", "v1.0", the commit),
 * followed by '/' or the end; 0 when none matches. */
static size_t match_rev(const mrepo *r, const char *s) {
    const char *revs[] = {"main", "v1.0", r->commit};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(revs[i]);
        if (strncmp(s, revs[i], n) == 0 && (s[n] == '/' || s[n] == '\0')) return n;
    }
    return 0;
}

/* The user of the request's bearer token: "" anonymous, NULL invalid. */
static const char *auth_user(mock_hub *m, struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h) return "";
    if (strncmp(h, "Bearer ", 7) != 0) return NULL;
    for (size_t i = 0; i < m->n_tokens; i++)
        if (strcmp(m->tokens[i].token, h + 7) == 0) return m->tokens[i].user;
    return NULL;
}

/* ---- endpoints ------------------------------------------------------------------ */

static enum MHD_Result whoami(mock_hub *m, struct MHD_Connection *c, const char *user) {
    const mtoken *t = NULL;
    for (size_t i = 0; i < m->n_tokens && *user; i++)
        if (strcmp(m->tokens[i].user, user) == 0) t = &m->tokens[i];
    m->stats.whoami++;
    if (!t) return send_error(c, MHD_HTTP_UNAUTHORIZED, NULL, "Invalid user token");
    json_t *orgs = json_array();
    char buf[128];
    snprintf(buf, sizeof buf, "%s", t->orgs);
    for (char *save, *o = strtok_r(buf, ",", &save); o; o = strtok_r(NULL, ",", &save))
        json_array_append_new(orgs, json_pack("{s:s,s:s}", "name", o, "fullname", o));
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:o,s:{s:{s:s,s:s}}}", "type", "user", "name", t->user,
                          "fullname", "Test User", "email", "t@example.org", "isPro", 0, "canPay", 0, "orgs",
                          orgs, "auth", "accessToken", "displayName", "test-token", "role", t->role);
    return send_json(c, j, NULL);
}

static json_t *model_info(const mrepo *r) {
    json_t *sib = json_array();
    for (size_t i = 0; i < r->n_files; i++)
        json_array_append_new(sib, json_pack("{s:s}", "rfilename", r->files[i].path));
    json_t *gated = r->access == MOCK_GATED ? json_string("manual") : json_false();
    return json_pack("{s:s,s:s,s:s,s:b,s:o,s:o}", "_id", r->commit, "id", r->id, "sha", r->commit, "private",
                     r->access == MOCK_PRIVATE, "gated", gated, "siblings", sib);
}

static json_t *tree_entry(const mfile *f, uint64_t size_add) {
    if (!f->lfs) size_add = 0;
    json_t *e = json_pack("{s:s,s:s,s:I,s:s}", "type", "file", "oid", f->oid, "size",
                          (json_int_t)(f->map.size + size_add), "path", f->path);
    if (f->lfs)
        json_object_set_new(e, "lfs",
                            json_pack("{s:s,s:I,s:i}", "oid", f->sha256, "size",
                                      (json_int_t)(f->map.size + size_add), "pointerSize", 134));
    return e;
}

static enum MHD_Result tree(mock_hub *m, struct MHD_Connection *c, const mrepo *r, const char *rev) {
    const char *cur = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
    size_t start = cur ? strtoul(cur, NULL, 10) : 0;
    size_t page = m->faults.tree_page ? m->faults.tree_page : 1000;
    size_t total = r->n_dirs + r->n_files; /* folders first, then files */
    json_t *arr = json_array();
    for (size_t i = start; i < total && i < start + page; i++) {
        if (i < r->n_dirs)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:s}", "type", "directory", "oid", r->commit, "path", r->dirs[i]));
        else
            json_array_append_new(arr, tree_entry(&r->files[i - r->n_dirs], m->faults.size_add));
    }
    m->stats.tree_pages++;
    char link[512];
    if (start + page < total)
        snprintf(link, sizeof link, "<%s/api/models/%s/tree/%s?recursive=true&cursor=%zu>; rel=\"next\"",
                 m->url, r->id, rev, start + page);
    return send_json(c, arr, start + page < total ? link : NULL);
}

/* Visibility and gating. Returns true when it answered (denied). */
static bool deny(struct MHD_Connection *c, const mrepo *r, const char *id, const char *user, bool file,
                 const char *base, enum MHD_Result *res) {
    char msg[512];
    bool owner = *user && strcmp(user, r ? r->owner : "") == 0;
    if (!r || (r->access == MOCK_PRIVATE && !owner)) {
        snprintf(msg, sizeof msg, "Repository Not Found for url: %s/api/models/%s.", base, id);
        *res = send_error(c, *user ? MHD_HTTP_NOT_FOUND : MHD_HTTP_UNAUTHORIZED, "RepoNotFound", msg);
        return true;
    }
    if (file && r->access == MOCK_GATED && !owner) {
        if (!*user)
            snprintf(msg, sizeof msg,
                     "Access to model %s is restricted. You must have access to "
                     "it and be authenticated to access it. Please log in.",
                     r->id);
        else
            snprintf(msg, sizeof msg,
                     "Access to model %s is restricted and you are not in the "
                     "authorized list. Visit %s/%s to ask for access.",
                     r->id, base, r->id);
        *res = send_error(c, *user ? MHD_HTTP_FORBIDDEN : MHD_HTTP_UNAUTHORIZED, "GatedRepo", msg);
        return true;
    }
    return false;
}

/* Split "/org/name/rest": id = "org/name", *rest = "/rest" or "". */
static bool split_id(const char *p, const char **id, size_t *idlen, const char **rest) {
    if (*p != '/') return false;
    const char *s1 = strchr(p + 1, '/');
    if (!s1) return false;
    const char *s2 = strchr(s1 + 1, '/');
    *id = p + 1;
    *idlen = (size_t)((s2 ? s2 : s1 + strlen(s1)) - *id);
    *rest = s2 ? s2 : "";
    return true;
}

static enum MHD_Result route(mock_hub *m, struct MHD_Connection *c, const char *url, bool head) {
    const char *user = auth_user(m, c);
    if (!user)
        return send_error(c, MHD_HTTP_UNAUTHORIZED, NULL, "Invalid credentials in Authorization header");
    if (strcmp(url, "/api/whoami-v2") == 0) return whoami(m, c, user);
    if (strncmp(url, "/cdn/", 5) == 0) {
        for (size_t i = 0; i < m->n_repos; i++)
            for (size_t k = 0; k < m->repos[i]->n_files; k++)
                if (m->repos[i]->files[k].lfs && strcmp(m->repos[i]->files[k].sha256, url + 5) == 0) {
                    mfile *f = &m->repos[i]->files[k];
                    pthread_mutex_unlock(&m->mu);
                    enum MHD_Result res = serve_file(m, c, NULL, f, head);
                    pthread_mutex_lock(&m->mu);
                    return res;
                }
        return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "no such object");
    }
    bool api = strncmp(url, "/api/models/", 12) == 0;
    const char *id, *rest;
    size_t idlen;
    if (!split_id(api ? url + 11 : url, &id, &idlen, &rest))
        return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "Not Found");
    const char *renamed = find_rename(m, id, idlen);
    if (renamed) { /* a relative redirect to the new name */
        char loc[1024];
        const char *cur = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
        snprintf(loc, sizeof loc, "%s/%s%s%s%s", api ? "/api/models" : "", renamed, rest,
                 cur ? "?cursor=" : "", cur ? cur : "");
        return send_redirect(c, MHD_HTTP_TEMPORARY_REDIRECT, loc, NULL, NULL, 0);
    }
    mrepo *r = find_repo(m, id, idlen);
    char idz[128];
    snprintf(idz, sizeof idz, "%.*s", (int)idlen, id);
    enum MHD_Result res;
    bool resolve = !api && strncmp(rest, "/resolve/", 9) == 0;
    if (!api && !resolve) return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "Not Found");
    if (deny(c, r, idz, user, resolve, m->url, &res)) return res;
    const char *rev = rest;
    if (api && strncmp(rest, "/revision/", 10) == 0)
        rev = rest + 10;
    else if (api && strncmp(rest, "/tree/", 6) == 0)
        rev = rest + 6;
    else if (resolve)
        rev = rest + 9;
    else if (api && !*rest)
        rev = "main";
    else
        return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "Not Found");
    size_t rl = match_rev(r, rev);
    if (!rl) {
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid rev id: %s", rev);
        return send_error(c, MHD_HTTP_NOT_FOUND, "RevisionNotFound", msg);
    }
    if (api && strncmp(rest, "/tree/", 6) == 0) return tree(m, c, r, r->commit);
    if (api) {
        m->stats.info++;
        return send_json(c, model_info(r), NULL);
    }
    const char *path = rev[rl] == '/' ? rev + rl + 1 : "";
    const mfile *f = find_file(r, path);
    if (!f) return send_error(c, MHD_HTTP_NOT_FOUND, "EntryNotFound", "Entry not found");
    if (head) m->stats.heads++;
    if (f->lfs) {
        char loc[256];
        snprintf(loc, sizeof loc, "%s/cdn/%s?X-Amz-Signature=mock", m->url, f->sha256);
        return send_redirect(c, MHD_HTTP_FOUND, loc, r, f, m->faults.size_add);
    }
    pthread_mutex_unlock(&m->mu);
    res = serve_file(m, c, r, f, head);
    pthread_mutex_lock(&m->mu);
    return res;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    mock_hub *m = cls;
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0)
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, "method not allowed");
    pthread_mutex_lock(&m->mu);
    enum MHD_Result res;
    if (++m->stats.requests > MOCK_MAX_REQUESTS) {
        m->stats.overflow = true;
        res = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "request limit reached");
    } else if (take(m, &m->faults.n_429)) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Retry-After", "0");
        res = MHD_queue_response(c, MHD_HTTP_TOO_MANY_REQUESTS, r);
        MHD_destroy_response(r);
    } else if (take(m, &m->faults.n_503)) {
        res = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "Service Unavailable");
    } else {
        res = route(m, c, url, head);
    }
    pthread_mutex_unlock(&m->mu);
    return res;
}

/* ---- setup ------------------------------------------------------------------------- */

mock_hub *mock_hub_start(unsigned seed) {
    mock_hub *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->seed = seed;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                            handler, m, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    const union MHD_DaemonInfo *info = m->d ? MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info) {
        mock_hub_stop(m);
        return NULL;
    }
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%u", (unsigned)info->port);
    return m;
}

void mock_hub_stop(mock_hub *m) {
    if (!m) return;
    __atomic_store_n(&m->stopping, true, __ATOMIC_RELAXED);
    if (m->d) MHD_stop_daemon(m->d);
    for (size_t i = 0; i < m->n_repos; i++) {
        for (size_t k = 0; k < m->repos[i]->n_files; k++) lqmf_map_close(&m->repos[i]->files[k].map);
        free(m->repos[i]);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

const char *mock_hub_url(const mock_hub *m) { return m->url; }

static bool is_lfs(const char *path, uint64_t size) {
    static const char *const ext[] = {".safetensors", ".bin", ".model", ".gguf"};
    size_t n = strlen(path);
    for (size_t i = 0; i < 4; i++) {
        size_t e = strlen(ext[i]);
        if (n >= e && strcmp(path + n - e, ext[i]) == 0) return true;
    }
    return size >= (1u << 20);
}

static bool add_file(mrepo *r, const char *full, const char *rel) {
    if (r->n_files == MAX_FILES) return false;
    mfile *f = &r->files[r->n_files];
    if (lqmf_map_open(full, &f->map) != LQMF_OK) return false;
    snprintf(f->path, sizeof f->path, "%s", rel);
    f->lfs = is_lfs(rel, f->map.size);
    uint8_t d[32];
    lqmf_sha256(f->map.data ? (const void *)f->map.data : "", (size_t)f->map.size, d);
    lqmf_hex(d, 32, f->sha256);
    lqmf_sha1_ctx s1;
    char hdr[32];
    int hn = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)f->map.size);
    lqmf_sha1_init(&s1);
    lqmf_sha1_update(&s1, hdr, (size_t)hn + 1);
    lqmf_sha1_update(&s1, f->map.data ? (const void *)f->map.data : "", (size_t)f->map.size);
    lqmf_sha1_final(&s1, d);
    lqmf_hex(d, 20, f->oid);
    r->n_files++;
    return true;
}

static bool walk(mrepo *r, const char *root, const char *rel) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return false;
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[512], full[1536];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(full, &st) != 0)
            ok = false;
        else if (S_ISDIR(st.st_mode)) {
            if (r->n_dirs < MAX_FILES) snprintf(r->dirs[r->n_dirs++], sizeof r->dirs[0], "%s", sub);
            ok = walk(r, root, sub);
        } else
            ok = add_file(r, full, sub);
    }
    closedir(d);
    return ok;
}

bool mock_hub_add_repo(mock_hub *m, const char *id, const char *dir, mock_access access, const char *owner) {
    mrepo *r = calloc(1, sizeof *r);
    if (!r || m->n_repos == MAX_REPOS) {
        free(r);
        return false;
    }
    snprintf(r->id, sizeof r->id, "%s", id);
    r->access = access;
    snprintf(r->owner, sizeof r->owner, "%s", owner ? owner : "");
    uint8_t d[20];
    lqmf_sha1_ctx s1;
    lqmf_sha1_init(&s1);
    lqmf_sha1_update(&s1, id, strlen(id));
    lqmf_sha1_final(&s1, d);
    lqmf_hex(d, 20, r->commit);
    if (!walk(r, dir, "")) {
        for (size_t k = 0; k < r->n_files; k++) lqmf_map_close(&r->files[k].map);
        free(r);
        return false;
    }
    pthread_mutex_lock(&m->mu);
    m->repos[m->n_repos++] = r;
    pthread_mutex_unlock(&m->mu);
    return true;
}

const char *mock_hub_commit(const mock_hub *m, const char *id) {
    for (size_t i = 0; i < m->n_repos; i++)
        if (strcmp(m->repos[i]->id, id) == 0) return m->repos[i]->commit;
    return NULL;
}

void mock_hub_add_rename(mock_hub *m, const char *old_id, const char *new_id) {
    pthread_mutex_lock(&m->mu);
    if (m->n_renames < MAX_RENAMES) {
        snprintf(m->renames[m->n_renames][0], 128, "%s", old_id);
        snprintf(m->renames[m->n_renames][1], 128, "%s", new_id);
        m->n_renames++;
    }
    pthread_mutex_unlock(&m->mu);
}

void mock_hub_add_token(mock_hub *m, const char *token, const char *user, const char *orgs,
                        const char *role) {
    pthread_mutex_lock(&m->mu);
    if (m->n_tokens < MAX_TOKENS) {
        mtoken *t = &m->tokens[m->n_tokens++];
        snprintf(t->token, sizeof t->token, "%s", token);
        snprintf(t->user, sizeof t->user, "%s", user);
        snprintf(t->orgs, sizeof t->orgs, "%s", orgs);
        snprintf(t->role, sizeof t->role, "%s", role);
    }
    pthread_mutex_unlock(&m->mu);
}

void mock_hub_set_faults(mock_hub *m, const mock_faults *f) {
    pthread_mutex_lock(&m->mu);
    m->faults = *f;
    pthread_mutex_unlock(&m->mu);
}

mock_stats mock_hub_stats(mock_hub *m) {
    pthread_mutex_lock(&m->mu);
    mock_stats s = m->stats;
    pthread_mutex_unlock(&m->mu);
    return s;
}

void mock_hub_reset_stats(mock_hub *m) {
    pthread_mutex_lock(&m->mu);
    memset(&m->stats, 0, sizeof m->stats);
    pthread_mutex_unlock(&m->mu);
}
