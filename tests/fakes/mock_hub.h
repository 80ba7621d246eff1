/* A mock Hugging Face Hub for tests: an HTTP server (libmicrohttpd, in
 * process, on 127.0.0.1 with an ephemeral port) that speaks the parts of the
 * real API the client uses, serving real files from folders on disk:
 *   GET  /api/whoami-v2
 *   GET  /api/models/{id}[/revision/{rev}]        model info (sha, private, gated)
 *   GET  /api/models/{id}/tree/{rev}?cursor=N     paginated listing, Link rel="next"
 *   HEAD/GET /{id}/resolve/{rev}/{path}           non-LFS: 200 + ETag (git blob sha1);
 *        LFS: 302 to /cdn/{sha256} + X-Linked-Etag, X-Linked-Size; X-Repo-Commit
 *   GET  /cdn/{sha256}                            LFS content, with Range (206)
 * Errors carry X-Error-Code / X-Error-Message as the Hub does (GatedRepo,
 * RepoNotFound, RevisionNotFound, EntryNotFound; 401 for bad tokens).
 * Revisions: "main", "v1.0" and the commit. Faults can be injected. At most
 * MOCK_MAX_REQUESTS requests are served; later ones get 503. */
#ifndef LQMF_MOCK_HUB_H
#define LQMF_MOCK_HUB_H

#include <stdbool.h>
#include <stdint.h>

#define MOCK_MAX_REQUESTS 20000u

typedef struct mock_hub mock_hub;

typedef enum { MOCK_PUBLIC, MOCK_PRIVATE, MOCK_GATED } mock_access;

typedef struct {
    unsigned n_429;      /* the next n requests (any kind) answer 429 */
    unsigned n_503;      /* the next n requests answer 503 */
    unsigned n_drop;     /* the next n file bodies close the connection after drop_at bytes */
    uint64_t drop_at;    /* bytes into the body; 0: a random point of the body */
    unsigned n_corrupt;  /* the next n file bodies have one byte flipped */
    unsigned n_no_range; /* the next n Range requests get 200 and the whole file */
    unsigned n_stall;    /* the next n file bodies (after any drop) pause stall_ms first */
    unsigned stall_ms;
    unsigned slow_ms;   /* pause per 16 KiB chunk of every file body */
    uint64_t size_add;  /* added to the size the API reports for LFS files */
    unsigned tree_page; /* entries per tree page (0: 1000) */
} mock_faults;

typedef struct {
    unsigned requests; /* all requests */
    unsigned heads;    /* HEAD on resolve */
    unsigned info;     /* model info */
    unsigned tree_pages;
    unsigned bodies; /* file bodies started (GET) */
    unsigned ranged; /* of those, answered 206 */
    unsigned whoami;
    unsigned faults;     /* injected faults that fired */
    uint64_t body_bytes; /* file bytes sent */
    bool overflow;       /* MOCK_MAX_REQUESTS was reached */
} mock_stats;

/* Start on 127.0.0.1:0; seed drives random drop points. NULL on failure. */
mock_hub *mock_hub_start(unsigned seed);
void mock_hub_stop(mock_hub *m);             /* NULL is a no-op */
const char *mock_hub_url(const mock_hub *m); /* "http://127.0.0.1:PORT" */

/* Serve every file under dir (recursively) as repository id. Files named
 * *.safetensors, *.bin, *.model, *.gguf or of 1 MiB or more are LFS. owner:
 * the user who sees a private repo / has access to a gated one (may be NULL).
 * Returns false when the folder cannot be read. */
bool mock_hub_add_repo(mock_hub *m, const char *id, const char *dir, mock_access access, const char *owner);
const char *mock_hub_commit(const mock_hub *m, const char *id); /* 40 hex, NULL when unknown */
/* Requests naming old_id get a relative 307 redirect to new_id. */
void mock_hub_add_rename(mock_hub *m, const char *old_id, const char *new_id);
/* A token of user, member of orgs ("a,b" or ""), role "read"/"write". */
void mock_hub_add_token(mock_hub *m, const char *token, const char *user, const char *orgs, const char *role);

void mock_hub_set_faults(mock_hub *m, const mock_faults *f);
/* Stats since the start or the last reset. */
mock_stats mock_hub_stats(mock_hub *m);
void mock_hub_reset_stats(mock_hub *m);

#endif
