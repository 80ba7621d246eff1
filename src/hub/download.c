/* Fetching one file into the cache: resolve (HEAD), resume from the
 * .incomplete file with Range, verify size and hash while streaming, retry
 * with backoff, then rename into blobs/ and link the snapshot. Also the
 * ranged read of a safetensors header. */
#include "hub_priv.h"
#include "lqmf/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HOPS 5 /* relative redirects followed by HEAD */

/* ---- progress (atomic: read by the thread that reports) ------------------- */
static void set_state(lqmf_hub_file_progress *p, lqmf_hub_file_state s) {
    if (p) __atomic_store_n(&p->state, s, __ATOMIC_RELAXED);
}
static void set_done(lqmf_hub_file_progress *p, uint64_t done) {
    if (p) __atomic_store_n(&p->done, done, __ATOMIC_RELAXED);
}

/* ---- content hash: sha256 for LFS files, else the git blob sha1 ------------ */
typedef struct {
    bool lfs;
    lqmf_sha256_ctx s256;
    lqmf_sha1_ctx s1;
} hasher;

static void hasher_init(hasher *hs, const lqmf_hub_file *f) {
    hs->lfs = f->sha256[0] != '\0';
    if (hs->lfs) {
        lqmf_sha256_init(&hs->s256);
        return;
    }
    char hdr[32]; /* git blob id = sha1("blob <size>\0" + content) */
    int n = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)f->size);
    lqmf_sha1_init(&hs->s1);
    lqmf_sha1_update(&hs->s1, hdr, (size_t)n + 1);
}

static void hasher_update(hasher *hs, const void *p, size_t n) {
    if (hs->lfs)
        lqmf_sha256_update(&hs->s256, p, n);
    else
        lqmf_sha1_update(&hs->s1, p, n);
}

static void hasher_hex(hasher *hs, char out[65]) {
    uint8_t d[32];
    if (hs->lfs) {
        lqmf_sha256_final(&hs->s256, d);
        lqmf_hex(d, 32, out);
    } else {
        lqmf_sha1_final(&hs->s1, d);
        lqmf_hex(d, 20, out);
    }
}

/* How a failed attempt may go on: retry (after Retry-After seconds when the
 * server said so, < 0 otherwise). */
typedef struct {
    bool retry;
    double retry_after_s;
} outcome;

static void set_outcome(outcome *o, lqmf_status st, const hub_resp *r) {
    o->retry = hub_retryable(st, r);
    o->retry_after_s = r->retry_after_s;
}

/* ---- resolve ----------------------------------------------------------------- */

/* "scheme://host[:port]" of url, for relative redirects. */
static char *origin_of(const char *url) {
    const char *s = strstr(url, "://");
    if (!s) return NULL;
    s += 3;
    return strndup(url, (size_t)(s - url) + strcspn(s, "/?#"));
}

/* What the resolve answer says must agree with the listing: commit, size, etag. */
static lqmf_status check_meta(const hub_resp *resp, const lqmf_hub_repo *r, const lqmf_hub_file *f,
                              const char *what) {
    const char *etag = resp->linked_etag[0] ? resp->linked_etag : resp->etag;
    uint64_t size = resp->has_linked_size ? resp->linked_size : resp->content_length;
    bool has_size = resp->has_linked_size || (resp->status / 100 == 2 && resp->has_length);
    if (resp->repo_commit[0] && strcmp(resp->repo_commit, r->commit) != 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: the server resolved it at commit %s, not %s", what,
                          resp->repo_commit, r->commit);
    if (has_size && size != f->size)
        return lqmf_error(LQMF_E_FORMAT, "%s: the server gives a size of %llu bytes, the listing %llu", what,
                          (unsigned long long)size, (unsigned long long)f->size);
    if (etag[0] && strcmp(etag, hub_file_etag(f)) != 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: the server gives etag %s, the listing %s", what, etag,
                          hub_file_etag(f));
    return LQMF_OK;
}

/* HEAD the resolve URL, following only relative redirects (renamed repos),
 * and check what the server says against the listing: commit, size, etag.
 * *get_url is where to GET the bytes (a CDN URL or the resolve URL). */
static lqmf_status resolve(const lqmf_hub *h, CURL *c, const lqmf_hub_repo *r, const lqmf_hub_file *f,
                           const char *what, char **get_url, outcome *o) {
    *get_url = NULL;
    *o = (outcome){false, -1};
    char *qpath = hub_url_quote(f->path, true);
    char *url = qpath ? hub_fmt("%s/%s/resolve/%s/%s", h->endpoint, r->repo_id, r->commit, qpath) : NULL;
    free(qpath);
    if (!url) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    hub_req q = {.head = true};
    hub_resp resp = {0};
    lqmf_status st = LQMF_OK;
    for (int hop = 0;; hop++) {
        q.url = url;
        st = hub_http_once(h, c, &q, &resp);
        if (st == LQMF_OK && resp.status / 100 == 3 && resp.location[0] == '/' && hop < MAX_HOPS) {
            char *origin = origin_of(url);
            char *next = origin ? hub_fmt("%s%s", origin, resp.location) : NULL;
            free(origin);
            free(url);
            url = next;
            if (!url) return lqmf_error(LQMF_E_NOMEM, "out of memory");
            continue;
        }
        break;
    }
    if (st == LQMF_OK && resp.status / 100 == 3 && strstr(resp.location, "://")) {
        *get_url = strdup(resp.location);
    } else if (st == LQMF_OK && resp.status / 100 == 2) {
        *get_url = url;
        url = NULL;
    } else if (st == LQMF_OK && resp.status / 100 == 3) {
        st = lqmf_error(LQMF_E_FORMAT, "%s: redirect to \"%s\" not followed", what, resp.location);
    } else if (st == LQMF_OK || st == LQMF_E_NETWORK) {
        set_outcome(o, st, &resp);
        st = hub_http_error(h, &resp, r->repo_id, what);
    }
    if (st == LQMF_OK && !*get_url) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = check_meta(&resp, r, f, what);
    if (st != LQMF_OK) {
        free(*get_url);
        *get_url = NULL;
    }
    hub_resp_free(&resp);
    free(url);
    return st;
}

/* ---- streaming into the .incomplete file ---------------------------------------- */
typedef struct {
    int fd;
    const char *path; /* the .incomplete file, for messages */
    const lqmf_hub_file *f;
    uint64_t have;   /* bytes in the file, all hashed into hs */
    uint64_t gained; /* bytes written by this attempt */
    hasher hs;
    bool started;   /* the first body byte of this answer was seen */
    lqmf_status st; /* why the sink stopped the transfer */
    lqmf_hub_file_progress *p;
    uint64_t *net_bytes;
} sink_state;

static lqmf_status restart(sink_state *s) {
    if (ftruncate(s->fd, 0) != 0)
        return lqmf_error(LQMF_E_IO, "%s: cannot truncate: %s", s->path, strerror(errno));
    s->have = 0;
    hasher_init(&s->hs, s->f);
    set_done(s->p, 0);
    return LQMF_OK;
}

static lqmf_status write_all(sink_state *s, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = pwrite(s->fd, p, n, (off_t)s->have);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            if (e == ENOSPC || e == EDQUOT || e == EFBIG)
                return lqmf_error(LQMF_E_IO,
                                  "%s: disk full (%s) after %llu of %llu bytes: free "
                                  "some space and run again to resume",
                                  s->path, strerror(e), (unsigned long long)s->have,
                                  (unsigned long long)s->f->size);
            return lqmf_error(LQMF_E_IO, "%s: write failed: %s", s->path, strerror(e));
        }
        hasher_update(&s->hs, p, (size_t)w);
        s->have += (uint64_t)w;
        s->gained += (uint64_t)w;
        p += w;
        n -= (size_t)w;
    }
    return LQMF_OK;
}

static bool file_sink(void *user, const hub_resp *r, const void *p, size_t n) {
    sink_state *s = user;
    if (r->status / 100 != 2) return true; /* an error page: the status says it all */
    if (!s->started) {
        s->started = true;
        unsigned long long a = 0;
        if (r->status == 206) {
            if (sscanf(r->content_range, "bytes %llu-", &a) != 1 || a != s->have) {
                s->st = lqmf_error(LQMF_E_FORMAT, "%s: asked for bytes from %llu, got range \"%s\"", s->path,
                                   (unsigned long long)s->have, r->content_range);
                return false;
            }
        } else if (s->have && (s->st = restart(s)) != LQMF_OK) { /* 200: whole file again */
            return false;
        }
    }
    if (n > s->f->size - s->have) {
        s->st = lqmf_error(LQMF_E_FORMAT, "%s: the server sends more than the listed %llu bytes", s->path,
                           (unsigned long long)s->f->size);
        return false;
    }
    if ((s->st = write_all(s, p, n)) != LQMF_OK) return false;
    set_done(s->p, s->have);
    if (s->net_bytes) __atomic_fetch_add(s->net_bytes, (uint64_t)n, __ATOMIC_RELAXED);
    return true;
}

/* Hash the bytes already in the file (a download resumed from an earlier
 * run); an unreadable file restarts from zero. */
static lqmf_status hash_existing(sink_state *s) {
    struct stat st;
    if (fstat(s->fd, &st) != 0) return lqmf_error(LQMF_E_IO, "%s: cannot stat: %s", s->path, strerror(errno));
    hasher_init(&s->hs, s->f);
    s->have = 0;
    uint64_t size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    if (size > s->f->size) return restart(s);
    uint8_t buf[1 << 16];
    while (s->have < size) {
        size_t want = size - s->have < sizeof buf ? (size_t)(size - s->have) : sizeof buf;
        ssize_t n = pread(s->fd, buf, want, (off_t)s->have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return restart(s);
        hasher_update(&s->hs, buf, (size_t)n);
        s->have += (uint64_t)n;
    }
    return LQMF_OK;
}

/* One attempt: resolve, GET the rest, check size and hash. */
static lqmf_status attempt(const lqmf_hub *h, CURL *c, const lqmf_hub_repo *r, sink_state *s,
                           const char *what, outcome *o, bool *bad_hash) {
    *bad_hash = false;
    s->gained = 0;
    char *url;
    lqmf_status st = resolve(h, c, r, s->f, what, &url, o);
    if (st != LQMF_OK) return st;
    if (s->have < s->f->size) {
        hub_req q = {.url = url,
                     .follow = true,
                     .has_range = s->have > 0,
                     .range_start = s->have,
                     .range_end = UINT64_MAX,
                     .sink = file_sink,
                     .sink_user = s};
        hub_resp resp = {0};
        s->started = false;
        s->st = LQMF_OK;
        st = hub_http_once(h, c, &q, &resp);
        if (s->st != LQMF_OK) {
            st = s->st;
            o->retry = st == LQMF_E_FORMAT; /* a bad range: the restart makes it right */
            if (o->retry) restart(s);
        } else if (st == LQMF_E_NETWORK || (st == LQMF_OK && resp.status / 100 != 2)) {
            set_outcome(o, st, &resp);
            st = hub_http_error(h, &resp, r->repo_id, what);
        } else if (st == LQMF_OK && resp.status == 200 && !s->started && s->have) {
            st = restart(s); /* empty 200 answer to a Range request */
        }
        hub_resp_free(&resp);
    }
    free(url);
    if (st != LQMF_OK) return st;
    if (s->have != s->f->size) {
        o->retry = true;
        return lqmf_error(LQMF_E_NETWORK, "%s: the transfer ended after %llu of %llu bytes", what,
                          (unsigned long long)s->have, (unsigned long long)s->f->size);
    }
    char got[65];
    hasher_hex(&s->hs, got);
    if (strcmp(got, hub_file_etag(s->f)) != 0) {
        o->retry = *bad_hash = true;
        st = lqmf_error(LQMF_E_FORMAT, "%s: %s of the downloaded bytes is %s, expected %s", what,
                        s->hs.lfs ? "sha256" : "git blob sha1", got, hub_file_etag(s->f));
        restart(s);
    }
    return st;
}

/* Download f into blobs/{etag}.incomplete with retries, then rename it to
 * blobs/{etag}. The caller holds the blob lock. */
static lqmf_status fetch_blob(const lqmf_hub *h, CURL *c, const lqmf_hub_repo *r, const lqmf_hub_file *f,
                              const char *blob, lqmf_hub_file_progress *p, uint64_t *net_bytes) {
    char *what = hub_fmt("%s of %s@%s", f->path, r->repo_id, r->revision);
    char *part = hub_fmt("%s.incomplete", blob);
    if (!what || !part) {
        free(what);
        free(part);
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    sink_state s = {.fd = -1, .path = part, .f = f, .p = p, .net_bytes = net_bytes};
    lqmf_status st = hub_mkdirs_parent(part);
    if (st == LQMF_OK) {
        s.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (s.fd < 0) st = lqmf_error(LQMF_E_IO, "%s: cannot open: %s", part, strerror(errno));
    }
    if (st == LQMF_OK) st = hash_existing(&s);
    set_done(p, s.have);
    set_state(p, LQMF_HUB_ACTIVE);
    for (unsigned tries = 0; st == LQMF_OK;) {
        outcome o;
        bool bad_hash;
        st = attempt(h, c, r, &s, what, &o, &bad_hash);
        if (st == LQMF_OK || !o.retry || tries >= h->opt.max_retries) break;
        /* a transfer that moved forward earns a fresh set of retries */
        tries = s.gained && !bad_hash ? 0 : tries + 1;
        set_state(p, LQMF_HUB_RETRYING);
        if (p) __atomic_fetch_add(&p->retries, 1u, __ATOMIC_RELAXED);
        if ((st = hub_backoff(h, tries ? tries - 1 : 0, o.retry_after_s)) != LQMF_OK) break;
        set_state(p, LQMF_HUB_ACTIVE);
    }
    if (st == LQMF_OK && fsync(s.fd) != 0)
        st = lqmf_error(LQMF_E_IO, "%s: cannot flush: %s", part, strerror(errno));
    if (s.fd >= 0) close(s.fd);
    if (st == LQMF_OK && rename(part, blob) != 0)
        st = lqmf_error(LQMF_E_IO, "%s: cannot rename into place: %s", blob, strerror(errno));
    if (st != LQMF_OK && s.have == 0) unlink(part);
    free(part);
    free(what);
    return st;
}

static bool blob_ok(const char *blob, uint64_t size) {
    struct stat st;
    return stat(blob, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
}

lqmf_status hub_fetch(const lqmf_hub *h, CURL *c, const lqmf_hub_repo *r, const lqmf_hub_file *f,
                      lqmf_hub_file_progress *p, uint64_t *net_bytes) {
    if (hub_cache_has(r, f)) {
        set_done(p, f->size);
        set_state(p, LQMF_HUB_CACHED);
        return LQMF_OK;
    }
    if (h->offline)
        return lqmf_error(LQMF_E_NOT_FOUND,
                          "%s of %s@%s: not in the cache, and offline mode "
                          "(HF_HUB_OFFLINE) is set",
                          f->path, r->repo_id, r->revision);
    if (hub_cancelled(h))
        return lqmf_error(LQMF_E_INTERRUPTED, "%s of %s@%s: interrupted before it started", f->path,
                          r->repo_id, r->revision);
    const char *etag = hub_file_etag(f);
    char *blob = hub_fmt("%s/blobs/%s", r->repo_dir, etag);
    if (!blob) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    lqmf_hub_file_state done = LQMF_HUB_CACHED;
    lqmf_status st = LQMF_OK;
    if (!blob_ok(blob, f->size)) {
        int lock;
        st = hub_lock(h, r, etag, &lock);
        if (st == LQMF_OK && !blob_ok(blob, f->size)) { /* nobody finished it meanwhile */
            st = fetch_blob(h, c, r, f, blob, p, net_bytes);
            done = LQMF_HUB_DONE;
        }
        hub_unlock(lock);
    }
    if (st == LQMF_OK) st = hub_cache_link(r, f->path, etag);
    set_done(p, st == LQMF_OK ? f->size : 0);
    set_state(p, st == LQMF_OK ? done : LQMF_HUB_FAILED);
    free(blob);
    return st;
}

lqmf_status lqmf_hub_read_file(lqmf_hub *h, const lqmf_hub_repo *r, const char *path, uint64_t max_bytes,
                               char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    const lqmf_hub_file *f = lqmf_hub_repo_find(r, path);
    if (!f)
        return lqmf_error(LQMF_E_NOT_FOUND, "%s@%s: the repository has no file \"%s\"", r->repo_id,
                          r->revision, path);
    if (f->size > max_bytes)
        return lqmf_error(LQMF_E_FORMAT, "%s of %s: %llu bytes, more than the limit of %llu", path,
                          r->repo_id, (unsigned long long)f->size, (unsigned long long)max_bytes);
    lqmf_status st = hub_fetch(h, h->curl, r, f, NULL, NULL);
    char *snap = st == LQMF_OK ? hub_snapshot_path(r, path) : NULL;
    if (st == LQMF_OK && !snap) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = lqmf_read_file(snap, max_bytes, out, len);
    free(snap);
    return st;
}

/* ---- safetensors header by Range ------------------------------------------------ */
typedef struct {
    uint8_t *dst;
    uint64_t start, len; /* wanted: bytes [start, start+len) of the file */
    uint64_t pos;        /* file offset of the next body byte */
    uint64_t got;
    bool started;
} range_state;

static bool range_sink(void *user, const hub_resp *r, const void *p, size_t n) {
    range_state *s = user;
    if (r->status / 100 != 2) return true;
    if (!s->started) {
        s->started = true;
        unsigned long long a = 0;
        if (r->status == 206 && sscanf(r->content_range, "bytes %llu-", &a) != 1) return false;
        s->pos = r->status == 206 ? a : 0; /* a 200 answer is the whole file */
    }
    const uint8_t *b = p;
    for (size_t i = 0; i < n && s->got < s->len; i++, s->pos++)
        if (s->pos == s->start + s->got) s->dst[s->got++] = b[i];
    return s->got < s->len; /* stop a whole-file answer once we have our bytes */
}

/* Bytes [start, start+len) of url into dst. */
static lqmf_status get_range(const lqmf_hub *h, CURL *c, const char *url, uint64_t start, uint64_t len,
                             uint8_t *dst, const lqmf_hub_repo *r, const char *what, outcome *o) {
    range_state s = {.dst = dst, .start = start, .len = len};
    hub_req q = {.url = url,
                 .follow = true,
                 .has_range = true,
                 .range_start = start,
                 .range_end = start + len - 1,
                 .sink = range_sink,
                 .sink_user = &s};
    hub_resp resp = {0};
    lqmf_status st = hub_http_once(h, c, &q, &resp);
    *o = (outcome){false, -1};
    if (s.got == len && resp.status / 100 == 2)
        st = LQMF_OK; /* stopped early on purpose */
    else if (st == LQMF_OK && resp.status / 100 == 2)
        st = lqmf_error(LQMF_E_FORMAT, "%s: got %llu of the %llu bytes asked from offset %llu", what,
                        (unsigned long long)s.got, (unsigned long long)len, (unsigned long long)start);
    else if (st == LQMF_OK || st == LQMF_E_NETWORK) {
        set_outcome(o, st, &resp);
        st = hub_http_error(h, &resp, r->repo_id, what);
    }
    hub_resp_free(&resp);
    return st;
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static lqmf_status check_header_len(uint64_t n, const lqmf_hub_file *f, const char *what) {
    if (n > LQMF_ST_MAX_HEADER || n + 8 > f->size)
        return lqmf_error(LQMF_E_FORMAT, "%s: safetensors header length %llu exceeds %s", what,
                          (unsigned long long)n,
                          n > LQMF_ST_MAX_HEADER ? "the 100 MB limit" : "the file size");
    return LQMF_OK;
}

static lqmf_status header_from_cache(const lqmf_hub_repo *r, const lqmf_hub_file *f, const char *what,
                                     uint8_t **out, size_t *len) {
    char *snap = hub_snapshot_path(r, f->path);
    int fd = snap ? open(snap, O_RDONLY | O_CLOEXEC) : -1;
    free(snap);
    if (fd < 0) return lqmf_error(LQMF_E_IO, "%s: cannot open the cached file: %s", what, strerror(errno));
    uint8_t lenb[8];
    lqmf_status st = LQMF_OK;
    if (pread(fd, lenb, 8, 0) != 8) st = lqmf_error(LQMF_E_IO, "%s: cannot read", what);
    uint64_t n = st == LQMF_OK ? le64(lenb) : 0;
    if (st == LQMF_OK) st = check_header_len(n, f, what);
    uint8_t *buf = st == LQMF_OK ? malloc((size_t)n + 8) : NULL;
    if (st == LQMF_OK && !buf) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK && pread(fd, buf, (size_t)n + 8, 0) != (ssize_t)(n + 8))
        st = lqmf_error(LQMF_E_IO, "%s: short read of the header", what);
    close(fd);
    if (st != LQMF_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *len = (size_t)n + 8;
    return LQMF_OK;
}

static lqmf_status header_attempt(const lqmf_hub *h, const lqmf_hub_repo *r, const lqmf_hub_file *f,
                                  const char *what, uint8_t **out, size_t *len, outcome *o) {
    char *url;
    lqmf_status st = resolve(h, h->curl, r, f, what, &url, o);
    if (st != LQMF_OK) return st;
    uint8_t lenb[8];
    st = get_range(h, h->curl, url, 0, 8, lenb, r, what, o);
    uint64_t n = st == LQMF_OK ? le64(lenb) : 0;
    if (st == LQMF_OK) st = check_header_len(n, f, what);
    uint8_t *buf = st == LQMF_OK ? malloc((size_t)n + 8) : NULL;
    if (st == LQMF_OK && !buf) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) {
        memcpy(buf, lenb, 8);
        if (n) st = get_range(h, h->curl, url, 8, n, buf + 8, r, what, o);
    }
    free(url);
    if (st != LQMF_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *len = (size_t)n + 8;
    return LQMF_OK;
}

lqmf_status lqmf_hub_safetensors_header(lqmf_hub *h, const lqmf_hub_repo *r, const char *path, uint8_t **out,
                                        size_t *len) {
    *out = NULL;
    *len = 0;
    const lqmf_hub_file *f = lqmf_hub_repo_find(r, path);
    if (!f)
        return lqmf_error(LQMF_E_NOT_FOUND, "%s@%s: the repository has no file \"%s\"", r->repo_id,
                          r->revision, path);
    char *what = hub_fmt("%s of %s@%s", path, r->repo_id, r->revision);
    if (!what) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    lqmf_status st;
    if (f->size < 8)
        st = lqmf_error(LQMF_E_FORMAT, "%s: %llu bytes, too small for safetensors", what,
                        (unsigned long long)f->size);
    else if (hub_cache_has(r, f))
        st = header_from_cache(r, f, what, out, len);
    else if (h->offline)
        st = lqmf_error(LQMF_E_NOT_FOUND,
                        "%s: not in the cache, and offline mode "
                        "(HF_HUB_OFFLINE) is set",
                        what);
    else
        for (unsigned tries = 0;; tries++) {
            outcome o;
            st = header_attempt(h, r, f, what, out, len, &o);
            if (st == LQMF_OK || !o.retry || tries >= h->opt.max_retries) break;
            if ((st = hub_backoff(h, tries, o.retry_after_s)) != LQMF_OK) break;
        }
    free(what);
    return st;
}
