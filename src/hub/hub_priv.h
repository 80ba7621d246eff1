/* Internals of the Hub client shared by the files of src/hub (and the tests
 * and the fuzz target, which call the parsers directly). */
#ifndef LQMF_HUB_PRIV_H
#define LQMF_HUB_PRIV_H

#include "lqmf/hub.h"
#include "lqmf/sha256.h"

#include <curl/curl.h>

#define HUB_MAX_JSON (64u << 20)  /* bytes of one API answer */
#define HUB_MAX_FILES 200000u     /* entries of one repository */
#define HUB_MAX_PATH 1024u        /* bytes of one file path */
#define HUB_MAX_PAGES 10000u      /* pages of one tree listing */
#define HUB_MAX_CONFIG (4u << 20) /* bytes of config.json */

struct lqmf_hub {
    char *endpoint; /* no trailing '/' */
    char *cache_dir;
    bool offline;
    lqmf_hub_token token; /* token.token NULL = anonymous */
    lqmf_hub_options opt; /* string fields point at the owned copies above */
    CURL *curl;           /* handle of the owning thread (workers make their own) */
};

/* HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
 * (client.c). NULL on OOM. */
char *hub_hf_home(void);

/* ---- helpers (util.c) -------------------------------------------------------- */
char *hub_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* NULL on OOM */
bool hub_env_true(const char *name);                                       /* 1/true/yes/on, any case */
/* mkdir -p (mode 0755); message names the path on failure. */
lqmf_status hub_mkdirs(const char *path);
/* mkdir -p of the folder holding path. */
lqmf_status hub_mkdirs_parent(const char *path);

/* "org/name" or "name": [A-Za-z0-9._-], no "--" or "..", not starting or
 * ending with '-' or '.', at most 96 bytes. */
bool hub_valid_repo_id(const char *id);
/* A relative '/'-separated path safe to join under a folder: no empty, "."
 * or ".." component, no '\\' or control bytes, at most HUB_MAX_PATH bytes.
 * Also used for revisions (which become refs/{revision}). */
bool hub_valid_rel_path(const char *p);
bool hub_is_hex(const char *s, size_t n); /* exactly n lower-case hex digits */
/* Percent-encode for a URL: keeps unreserved bytes, and '/' when keep_slash. */
char *hub_url_quote(const char *s, bool keep_slash);
/* "models--org--name" */
char *hub_repo_folder_name(const char *repo_id);

/* ---- HTTP (http.c) --------------------------------------------------------- */
#define HUB_HDR 512
typedef struct {
    long status;        /* of the last response (0: none) */
    CURLcode curl_code; /* transport result */
    char curl_msg[CURL_ERROR_SIZE];
    bool has_length; /* Content-Length seen */
    uint64_t content_length;
    bool has_linked_size;
    uint64_t linked_size; /* X-Linked-Size */
    double retry_after_s; /* Retry-After seconds, -1 when absent */
    char location[8192];
    char link[4096];           /* Link header (pagination) */
    char etag[HUB_HDR];        /* ETag, normalized (no W/, no quotes) */
    char linked_etag[HUB_HDR]; /* X-Linked-Etag, normalized */
    char repo_commit[HUB_HDR]; /* X-Repo-Commit */
    char content_range[HUB_HDR];
    char error_code[HUB_HDR];    /* X-Error-Code */
    char error_message[HUB_HDR]; /* X-Error-Message */
    lqmf_buf body;               /* memory sink (when the request has no sink), capped */
} hub_resp;

/* A streaming body sink: gets the response (headers known) and each chunk.
 * Return false to stop the transfer (the sink records why). */
typedef bool (*hub_sink_fn)(void *user, const hub_resp *r, const void *p, size_t n);

typedef struct {
    const char *url;
    bool head;   /* HEAD instead of GET */
    bool follow; /* follow redirects (at most 5, http/https only) */
    bool has_range;
    uint64_t range_start; /* bytes=start-[end] */
    uint64_t range_end;   /* inclusive; UINT64_MAX: to the end */
    size_t max_body;      /* memory sink cap in bytes (0: keep no body) */
    hub_sink_fn sink;     /* NULL: body goes to resp.body */
    void *sink_user;
} hub_req;

/* One attempt. LQMF_OK when an HTTP answer arrived completely (any status),
 * LQMF_E_NETWORK on a transport failure (r->curl_code says which),
 * LQMF_E_INTERRUPTED when the client's cancel callback stopped it, or
 * LQMF_E_STATE, with no message, when the sink stopped the transfer. r is reset first; release
 * r->body with hub_resp_free. The token is sent only to the endpoint. */
lqmf_status hub_http_once(const lqmf_hub *h, CURL *c, const hub_req *q, hub_resp *r);
void hub_resp_free(hub_resp *r);
/* Worth retrying: 408, 429, 5xx; or a transport error that is not ours. */
bool hub_retryable(lqmf_status st, const hub_resp *r);
/* Sleep before retry `attempt` (0-based): retry_after_s when >= 0 (the
 * server's Retry-After, at most 60 s), else retry_base_ms * 2^attempt,
 * capped at 30 s. Cut short (LQMF_E_INTERRUPTED, with a message) when the
 * client's cancel callback says so. */
lqmf_status hub_backoff(const lqmf_hub *h, unsigned attempt, double retry_after_s);
/* Has the client's cancel callback asked to stop? */
bool hub_cancelled(const lqmf_hub *h);
/* hub_http_once with retries, for API calls and small bodies. */
lqmf_status hub_http(const lqmf_hub *h, CURL *c, const hub_req *q, hub_resp *r);
/* Turn a failed transfer or a non-2xx answer into a status and a message
 * about `what` ("repository org/name", "file x of org/name@main"). */
lqmf_status hub_http_error(const lqmf_hub *h, const hub_resp *r, const char *repo_id, const char *what);
/* GET a JSON answer (following redirects, with retries) into r->body; any
 * failure becomes hub_http_error's status and message. */
lqmf_status hub_get_json(const lqmf_hub *h, CURL *c, const char *url, const char *repo_id, const char *what,
                         hub_resp *r);
CURL *hub_curl_new(void); /* NULL on failure */

/* ---- API answers (parse.c): outside bytes, capped and checked ---------------- */
typedef struct {
    char commit[41];
    bool is_private;
    char gated[8];
} hub_model_info;

lqmf_status hub_parse_model_info(const char *json, size_t len, hub_model_info *out);
/* Append the file entries of one tree page to *files (realloc'd, *n and *cap
 * updated); directories are skipped. Caps the total at HUB_MAX_FILES. */
lqmf_status hub_parse_tree_page(const char *json, size_t len, lqmf_hub_file **files, size_t *n, size_t *cap);
/* Sort by path and reject duplicates. */
lqmf_status hub_files_finish(lqmf_hub_file *files, size_t n);
void hub_files_free(lqmf_hub_file *files, size_t n);
/* The URL of rel="next" in a Link header value, or NULL (owned by caller). */
char *hub_link_next(const char *link);
lqmf_status hub_parse_user(const char *json, size_t len, lqmf_hub_user **out);

/* ---- cache (cache.c) --------------------------------------------------------- */
/* Path of the snapshot file for f: {snapshot_dir}/{path}. */
char *hub_snapshot_path(const lqmf_hub_repo *r, const char *path);
/* The blob name (etag) of f: its sha256 when LFS, else its git oid. */
const char *hub_file_etag(const lqmf_hub_file *f);
/* Does the snapshot already hold f with the right size? */
bool hub_cache_has(const lqmf_hub_repo *r, const lqmf_hub_file *f);
/* Point snapshots/{commit}/{path} at blobs/{etag} (relative, atomically). */
lqmf_status hub_cache_link(const lqmf_hub_repo *r, const char *path, const char *etag);
/* Hold the per-blob lock (blocking); returns the fd to pass to hub_unlock. */
lqmf_status hub_lock(const lqmf_hub *h, const lqmf_hub_repo *r, const char *etag, int *fd);
void hub_unlock(int fd);
lqmf_status hub_ref_write(const char *repo_dir, const char *revision, const char *commit);
/* Commit of refs/{revision}; LQMF_E_NOT_FOUND when absent. */
lqmf_status hub_ref_read(const char *repo_dir, const char *revision, char commit[41]);
/* File list of an existing snapshot (offline), sorted. */
lqmf_status hub_cache_list(const lqmf_hub_repo *r, lqmf_hub_file **files, size_t *n);

/* ---- download (download.c) ----------------------------------------------------- */
/* Make f present in the snapshot, fetching it when needed (with retries).
 * p (may be NULL) receives progress through atomic stores; *net_bytes (may
 * be NULL) is increased atomically by the bytes received. */
lqmf_status hub_fetch(const lqmf_hub *h, CURL *c, const lqmf_hub_repo *r, const lqmf_hub_file *f,
                      lqmf_hub_file_progress *p, uint64_t *net_bytes);

#endif
