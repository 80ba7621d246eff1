/* Resolving a repository: revision -> commit, the file list (paginated
 * tree API), config.json; or, offline, the same from the cache. */
#include "hub_priv.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void lqmf_hub_repo_free(lqmf_hub_repo *r) {
    if (!r) return;
    hub_files_free(r->files, r->n_files);
    free(r->repo_id);
    free(r->revision);
    free(r->config_json);
    free(r->repo_dir);
    free(r->snapshot_dir);
    free(r);
}

const lqmf_hub_file *lqmf_hub_repo_find(const lqmf_hub_repo *r, const char *path) {
    size_t lo = 0, hi = r->n_files; /* files are sorted by path */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->files[mid].path, path);
        if (c == 0) return &r->files[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static lqmf_status set_snapshot(lqmf_hub_repo *r) {
    r->snapshot_dir = hub_fmt("%s/snapshots/%s", r->repo_dir, r->commit);
    return r->snapshot_dir ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
}

static lqmf_status open_offline(const lqmf_hub *h, lqmf_hub_repo *r) {
    lqmf_status st = LQMF_OK;
    if (hub_is_hex(r->revision, 40))
        memcpy(r->commit, r->revision, 41);
    else
        st = hub_ref_read(r->repo_dir, r->revision, r->commit);
    if (st == LQMF_OK) st = set_snapshot(r);
    struct stat sb;
    if (st == LQMF_E_NOT_FOUND || (st == LQMF_OK && stat(r->snapshot_dir, &sb) != 0))
        return lqmf_error(LQMF_E_NOT_FOUND,
                          "%s@%s: not in the cache at %s, and offline mode "
                          "(HF_HUB_OFFLINE) is set: download it once while online",
                          r->repo_id, r->revision, h->cache_dir);
    if (st == LQMF_OK) st = hub_cache_list(r, &r->files, &r->n_files);
    r->from_cache = true;
    return st;
}

/* All pages of the tree listing of r->commit. */
static lqmf_status list_tree(const lqmf_hub *h, lqmf_hub_repo *r, const char *what) {
    char *url =
        hub_fmt("%s/api/models/%s/tree/%s?recursive=true&expand=false", h->endpoint, r->repo_id, r->commit);
    char *prefix = hub_fmt("%s/", h->endpoint);
    size_t cap = 0;
    lqmf_status st = url && prefix ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
    hub_resp resp = {0};
    for (unsigned page = 0; st == LQMF_OK && url; page++) {
        if (page >= HUB_MAX_PAGES) {
            st = lqmf_error(LQMF_E_FORMAT, "%s: tree listing longer than %u pages", what, HUB_MAX_PAGES);
            break;
        }
        st = hub_get_json(h, h->curl, url, r->repo_id, what, &resp);
        if (st == LQMF_OK)
            st = hub_parse_tree_page((const char *)resp.body.data, resp.body.len, &r->files, &r->n_files,
                                     &cap);
        free(url);
        url = st == LQMF_OK ? hub_link_next(resp.link) : NULL;
        if (url && strncmp(url, prefix, strlen(prefix)) != 0)
            st = lqmf_error(LQMF_E_FORMAT, "%s: next page \"%s\" is not on %s", what, url, h->endpoint);
    }
    if (st != LQMF_OK) lqmf_error_prefix(st, "%s", what);
    free(url);
    free(prefix);
    hub_resp_free(&resp);
    return st == LQMF_OK ? hub_files_finish(r->files, r->n_files) : st;
}

static lqmf_status open_online(const lqmf_hub *h, lqmf_hub_repo *r, const char *what) {
    char *qrev = hub_url_quote(r->revision, false);
    char *url = qrev ? hub_fmt("%s/api/models/%s/revision/%s", h->endpoint, r->repo_id, qrev) : NULL;
    free(qrev);
    if (!url) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    hub_resp resp = {0};
    hub_model_info info;
    lqmf_status st = hub_get_json(h, h->curl, url, r->repo_id, what, &resp);
    if (st == LQMF_OK) {
        st = hub_parse_model_info((const char *)resp.body.data, resp.body.len, &info);
        if (st != LQMF_OK) lqmf_error_prefix(st, "%s", what);
    }
    hub_resp_free(&resp);
    free(url);
    if (st != LQMF_OK) return st;
    memcpy(r->commit, info.commit, sizeof r->commit);
    r->is_private = info.is_private;
    memcpy(r->gated, info.gated, sizeof r->gated);
    st = set_snapshot(r);
    if (st == LQMF_OK) st = list_tree(h, r, what);
    if (st == LQMF_OK && strcmp(r->revision, r->commit) != 0)
        st = hub_ref_write(r->repo_dir, r->revision, r->commit);
    return st;
}

/* Add to a network failure that this revision could be used offline. */
static lqmf_status hint_cached(const lqmf_hub_repo *r, lqmf_status st) {
    char commit[41];
    if (st != LQMF_E_NETWORK) return st;
    char *msg = strdup(lqmf_last_error());
    bool cached = hub_is_hex(r->revision, 40) || hub_ref_read(r->repo_dir, r->revision, commit) == LQMF_OK;
    if (msg && cached)
        lqmf_error(st, "%s. %s@%s is in the cache: HF_HUB_OFFLINE=1 will use it", msg, r->repo_id,
                   r->revision);
    else if (msg)
        lqmf_error(st, "%s", msg);
    free(msg);
    return st;
}

lqmf_status lqmf_hub_repo_open(lqmf_hub *h, const char *repo_id, const char *revision, lqmf_hub_repo **out) {
    *out = NULL;
    if (!hub_valid_repo_id(repo_id))
        return lqmf_error(LQMF_E_INVALID,
                          "\"%s\": not a repository id (expected org/name of "
                          "letters, digits, '-', '_', '.')",
                          repo_id ? repo_id : "");
    if (!revision) revision = "main";
    if (!hub_valid_rel_path(revision))
        return lqmf_error(LQMF_E_INVALID, "\"%s\": not a valid revision", revision);
    lqmf_hub_repo *r = calloc(1, sizeof *r);
    char *folder = hub_repo_folder_name(repo_id);
    char *what = hub_fmt("%s@%s", repo_id, revision);
    if (r) {
        r->repo_id = strdup(repo_id);
        r->revision = strdup(revision);
        r->repo_dir = folder ? hub_fmt("%s/%s", h->cache_dir, folder) : NULL;
    }
    lqmf_status st = LQMF_OK;
    if (!r || !r->repo_id || !r->revision || !r->repo_dir || !what)
        st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = h->offline ? open_offline(h, r) : hint_cached(r, open_online(h, r, what));
    if (st == LQMF_OK && lqmf_hub_repo_find(r, "config.json"))
        st = lqmf_hub_read_file(h, r, "config.json", HUB_MAX_CONFIG, &r->config_json, &r->config_len);
    free(folder);
    free(what);
    if (st != LQMF_OK) {
        lqmf_hub_repo_free(r);
        return st;
    }
    *out = r;
    return LQMF_OK;
}
