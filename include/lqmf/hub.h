/* Hugging Face Hub client: resolve a repository to a commit and its file
 * list (sizes, hashes) without downloading weights, read safetensors headers
 * with Range requests, download the files a model needs into the cache that
 * huggingface_hub uses (so either tool finds what the other fetched), and
 * manage the access token.
 *
 * Cache layout (shared with huggingface_hub), under the cache folder:
 *   models--{org}--{name}/refs/{revision}          commit hash of a branch/tag
 *   models--{org}--{name}/blobs/{etag}             file content; etag = sha256
 *                                                  (LFS) or git blob sha1
 *   models--{org}--{name}/blobs/{etag}.incomplete  partial download (resumed)
 *   models--{org}--{name}/snapshots/{commit}/{path} relative symlink to the blob
 *   .locks/models--{org}--{name}/{etag}.lock       flock(2) held while fetching
 * A blob appears only after its size and hash are verified, and a snapshot
 * link only after its blob: an interrupted download leaves at most an
 * .incomplete file, never a wrong file under snapshots/.
 *
 * Environment (read by lqmf_hub_new when an option is left NULL / -1):
 *   HF_ENDPOINT     server (default https://huggingface.co)
 *   HF_HOME         default ~/.cache/huggingface ($XDG_CACHE_HOME/huggingface)
 *   HF_HUB_CACHE    cache folder (default $HF_HOME/hub)
 *   HF_HUB_OFFLINE  1/true/yes/on: no network; revisions resolve via refs/
 *   HF_TOKEN, HUGGINGFACE_TOKEN, HUGGING_FACE_HUB_TOKEN   access token
 *   HF_TOKEN_PATH   huggingface-cli's token file (default $HF_HOME/token)
 *   LQMF_HOME       lqmf's own settings (default $XDG_CONFIG_HOME/lqmf or
 *                   ~/.config/lqmf), holding the token saved by login.
 *
 * Threads: one lqmf_hub is used by one thread at a time; downloads run their
 * own worker threads internally. */
#ifndef LQMF_HUB_H
#define LQMF_HUB_H

#include "lqmf/core.h"
#include "lqmf/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- access token ---------------------------------------------------------
 * Lookup order: HF_TOKEN, HUGGINGFACE_TOKEN, HUGGING_FACE_HUB_TOKEN, then
 * lqmf's stored token ($LQMF_HOME/token), then huggingface-cli's token file.
 * The token itself is never put in an error message. */
typedef enum {
    LQMF_HUB_TOKEN_NONE = 0, /* anonymous */
    LQMF_HUB_TOKEN_OPTION,   /* given by the caller (lqmf_hub_options.token) */
    LQMF_HUB_TOKEN_ENV,      /* an environment variable; `where` names it */
    LQMF_HUB_TOKEN_LQMF,     /* lqmf's stored token; `where` is the file */
    LQMF_HUB_TOKEN_HF_CLI    /* huggingface-cli's token file; `where` is the file */
} lqmf_hub_token_source;

typedef struct {
    char *token; /* owned; NULL when source is NONE */
    lqmf_hub_token_source source;
    char *where; /* owned: variable name or file path; NULL for NONE/OPTION */
} lqmf_hub_token;

/* Find the token by the lookup order above. Finding none is not an error
 * (source NONE). Release with lqmf_hub_token_clear. */
lqmf_status lqmf_hub_token_find(lqmf_hub_token *out);
void lqmf_hub_token_clear(lqmf_hub_token *t); /* wipes and frees; safe when zeroed */
/* "HF_TOKEN env", "lqmf token file", ... (static storage) */
const char *lqmf_hub_token_source_name(lqmf_hub_token_source s);
/* Path of lqmf's own token file, $LQMF_HOME/token. Owned by the caller. */
lqmf_status lqmf_hub_token_path(char **out);
/* Save token as lqmf's stored token: mode 0600, written atomically. The
 * token must be printable ASCII without spaces (what the Hub issues). */
lqmf_status lqmf_hub_token_save(const char *token);
/* Remove lqmf's stored token; *removed tells whether there was one. */
lqmf_status lqmf_hub_token_remove(bool *removed);

/* ---- client -------------------------------------------------------------- */
typedef struct {
    const char *endpoint;     /* NULL: $HF_ENDPOINT or https://huggingface.co */
    const char *cache_dir;    /* NULL: from HF_HUB_CACHE / HF_HOME */
    const char *token;        /* NULL: lqmf_hub_token_find; "": anonymous */
    int offline;              /* -1: $HF_HUB_OFFLINE; 0 online; 1 offline */
    unsigned max_retries;     /* retries of one request after 429/5xx/drops */
    unsigned retry_base_ms;   /* first backoff; doubles per retry, capped at 30 s */
    unsigned stall_timeout_s; /* a transfer under 1 KiB/s this long is retried */
    unsigned connect_timeout_s;
    unsigned n_parallel; /* files downloaded at once */
    /* Asked while a request is in flight (about every 50 ms during a
     * transfer, at least once a second when no byte moves) and during
     * retry waits; true stops the operation with LQMF_E_INTERRUPTED. A
     * download stopped so keeps its .incomplete files: the next download of
     * the same files resumes them. Called from the download's worker
     * threads, so it must be thread-safe (read a flag set by a signal
     * handler, an atomic). NULL: never stopped. */
    bool (*cancel)(void *user);
    void *cancel_user;
} lqmf_hub_options;

/* Defaults: all NULL, offline -1, 5 retries from 500 ms, stall 30 s,
 * connect 10 s, 4 parallel files, no cancel. */
void lqmf_hub_options_init(lqmf_hub_options *o);

typedef struct lqmf_hub lqmf_hub;

/* o may be NULL (defaults). *out is owned by the caller (lqmf_hub_free). */
lqmf_status lqmf_hub_new(const lqmf_hub_options *o, lqmf_hub **out);
void lqmf_hub_free(lqmf_hub *h);                  /* NULL is a no-op */
const char *lqmf_hub_endpoint(const lqmf_hub *h); /* without trailing '/' */
const char *lqmf_hub_cache_dir(const lqmf_hub *h);
bool lqmf_hub_is_offline(const lqmf_hub *h);
/* Where the client's token came from (never the token). Strings owned by h. */
const lqmf_hub_token *lqmf_hub_token_info(const lqmf_hub *h);

/* ---- account ------------------------------------------------------------- */
typedef struct {
    char *name;     /* user (or org) name */
    char *fullname; /* may be "" */
    char *type;     /* "user", "org" */
    bool is_pro;
    char **orgs; /* organization names */
    size_t n_orgs;
    char *token_name; /* the token's display name ("" for OAuth tokens) */
    char *token_role; /* "read", "write", "fineGrained" ("" when not given) */
} lqmf_hub_user;

/* GET /api/whoami-v2 with the client's token. LQMF_E_AUTH when there is no
 * token or the Hub rejects it. *out owned by the caller (lqmf_hub_user_free). */
lqmf_status lqmf_hub_whoami(lqmf_hub *h, lqmf_hub_user **out);
void lqmf_hub_user_free(lqmf_hub_user *u); /* NULL is a no-op */

/* ---- repository ------------------------------------------------------------ */
typedef struct {
    char *path;      /* relative, '/'-separated, checked: no "..", no leading '/' */
    uint64_t size;   /* bytes */
    char oid[41];    /* git blob sha1, hex; "" when unknown (offline, copied file) */
    char sha256[65]; /* LFS content sha256, hex; "" for a regular git file */
} lqmf_hub_file;

typedef struct {
    char *repo_id;   /* "org/name" */
    char *revision;  /* as asked ("main" by default) */
    char commit[41]; /* the commit it resolved to */
    bool is_private;
    char gated[8];        /* "" (not gated), "auto" or "manual" */
    bool from_cache;      /* resolved offline, from refs/ and snapshots/ */
    lqmf_hub_file *files; /* sorted by path */
    size_t n_files;
    char *config_json; /* config.json contents, NUL-terminated; NULL when absent */
    size_t config_len;
    char *repo_dir;     /* {cache}/models--org--name */
    char *snapshot_dir; /* {repo_dir}/snapshots/{commit} (may not exist yet) */
} lqmf_hub_repo;

/* Resolve repo_id at revision (NULL: "main"; a branch, tag or commit hash)
 * to its commit, file list and config.json. Online: the model-info and
 * (paginated) tree APIs, then config.json through the cache; writes
 * refs/{revision}. Offline: refs/ and the cached snapshot only.
 * Errors: LQMF_E_NOT_FOUND (repo/revision missing or private), LQMF_E_AUTH
 * (gated, with the URL to request access; bad token), LQMF_E_NETWORK.
 * *out owned by the caller (lqmf_hub_repo_free). */
lqmf_status lqmf_hub_repo_open(lqmf_hub *h, const char *repo_id, const char *revision, lqmf_hub_repo **out);
void lqmf_hub_repo_free(lqmf_hub_repo *r); /* NULL is a no-op */
/* The entry for path, or NULL. */
const lqmf_hub_file *lqmf_hub_repo_find(const lqmf_hub_repo *r, const char *path);

/* Choose files to download into selected[r->n_files]. With no globs: the
 * top-level config and tokenizer files, and the weights in one format:
 * safetensors when any exist (only model*.safetensors + index when those
 * exist, else every top-level *.safetensors), else pytorch_model*.bin;
 * other formats (gguf, onnx, flax, tf, subfolders) are skipped, and a repo
 * with neither is an LQMF_E_NOT_FOUND error listing what it has. With
 * globs (fnmatch(3), '*' also matches '/'): exactly the matching files;
 * no match is an LQMF_E_NOT_FOUND error. *n_selected counts the files. */
lqmf_status lqmf_hub_select(const lqmf_hub_repo *r, const char *const *globs, size_t n_globs, bool *selected,
                            size_t *n_selected);

/* ---- download ---------------------------------------------------------------- */
typedef enum {
    LQMF_HUB_QUEUED = 0,
    LQMF_HUB_ACTIVE,   /* transferring (done/total move) */
    LQMF_HUB_RETRYING, /* waiting out a backoff */
    LQMF_HUB_DONE,     /* downloaded and verified */
    LQMF_HUB_CACHED,   /* already in the cache: nothing fetched */
    LQMF_HUB_FAILED
} lqmf_hub_file_state;

typedef struct {
    const char *path;
    uint64_t done, total; /* bytes */
    lqmf_hub_file_state state;
    unsigned retries; /* retries so far */
} lqmf_hub_file_progress;

typedef struct {
    const lqmf_hub_file_progress *files; /* the selected files, in repo order */
    size_t n_files;
    uint64_t done, total; /* bytes over all files; cached files count as done */
    double elapsed_s;
    double rate;  /* bytes/s, smoothed over the last seconds */
    double eta_s; /* seconds left at that rate; < 0 when unknown */
    bool final;   /* the last call, after every file finished or failed */
} lqmf_hub_progress;

/* Called from the thread that called lqmf_hub_download, every interval and
 * once at the end. The struct lives for the duration of the call. */
typedef void (*lqmf_hub_progress_fn)(void *user, const lqmf_hub_progress *p);

typedef struct {
    const char *local_dir;         /* also copy the files into this plain folder */
    lqmf_hub_progress_fn progress; /* NULL: none */
    void *progress_user;
    double progress_interval_s; /* 0: 0.2 s */
} lqmf_hub_download_options;

/* Fetch the selected files (selected[r->n_files], NULL = all) into the
 * cache, n_parallel at a time: resume from .incomplete with Range (a 200
 * answer restarts the file), retry 408/429/5xx, dropped connections, stalls
 * and hash mismatches with exponential backoff, verify size and sha256 (LFS)
 * or git blob sha1, then link into the snapshot. Checks free disk space
 * first. Offline: succeeds only when every file is cached. On failure the
 * message names the first failed file. The client's cancel callback stops
 * it promptly with LQMF_E_INTERRUPTED (partial files kept for resuming).
 * o may be NULL. */
lqmf_status lqmf_hub_download(lqmf_hub *h, const lqmf_hub_repo *r, const bool *selected,
                              const lqmf_hub_download_options *o);

/* Read one (small) file of the repository, downloading it into the cache
 * first when needed. At most max_bytes; *out is NUL-terminated and owned by
 * the caller (free). */
lqmf_status lqmf_hub_read_file(lqmf_hub *h, const lqmf_hub_repo *r, const char *path, uint64_t max_bytes,
                               char **out, size_t *len);

/* The first 8 + N bytes of a safetensors file of the repository: its
 * little-endian uint64 header length N and the N-byte JSON header, fetched
 * with two Range requests (from the cache when the file is there), N capped
 * at 100 MB. Nothing else of the file is downloaded. Feed the bytes to
 * lqmf_st_parse_header with the file's size. *out owned by the caller (free). */
lqmf_status lqmf_hub_safetensors_header(lqmf_hub *h, const lqmf_hub_repo *r, const char *path, uint8_t **out,
                                        size_t *len);
/* That header parsed and validated (lqmf_st_parse_header with the listed
 * file size): tensor names, dtypes, shapes and offsets, data NULL. *out
 * owned by the caller (lqmf_st_close). */
lqmf_status lqmf_hub_safetensors_open(lqmf_hub *h, const lqmf_hub_repo *r, const char *path,
                                      lqmf_safetensors **out);

/* What the safetensors weights hold, for planning before any download. */
typedef struct {
    size_t n_files; /* *.safetensors files read */
    size_t n_tensors;
    uint64_t n_params;                             /* elements of all tensors */
    uint64_t n_bytes;                              /* tensor bytes as stored */
    uint64_t params_by_dtype[LQMF_ST_DTYPE_COUNT]; /* elements per dtype */
} lqmf_hub_weights;

/* Sum the headers of the selected *.safetensors files (selected NULL: the
 * default selection of lqmf_hub_select). LQMF_E_NOT_FOUND when there are
 * none. */
lqmf_status lqmf_hub_weights_info(lqmf_hub *h, const lqmf_hub_repo *r, const bool *selected,
                                  lqmf_hub_weights *out);

#ifdef __cplusplus
}
#endif
#endif
