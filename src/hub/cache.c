/* The huggingface_hub cache layout: refs, content-addressed blobs, relative
 * snapshot symlinks, per-blob locks, and the offline view of a snapshot. */
#include "hub_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 32 /* folder levels walked in a snapshot */

char *hub_snapshot_path(const lqmf_hub_repo *r, const char *path) {
    return hub_fmt("%s/%s", r->snapshot_dir, path);
}

const char *hub_file_etag(const lqmf_hub_file *f) { return f->sha256[0] ? f->sha256 : f->oid; }

bool hub_cache_has(const lqmf_hub_repo *r, const lqmf_hub_file *f) {
    char *p = hub_snapshot_path(r, f->path);
    struct stat st;
    bool ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size;
    free(p);
    return ok;
}

lqmf_status hub_cache_link(const lqmf_hub_repo *r, const char *path, const char *etag) {
    /* snapshots/{commit}/a/b/f -> ../../../../blobs/{etag}: two levels up to
     * the repo folder, one more per subfolder of path. */
    size_t depth = 0;
    for (const char *s = path; *s; s++) depth += *s == '/';
    lqmf_buf target;
    lqmf_buf_init(&target);
    for (size_t i = 0; i < depth + 2; i++) lqmf_buf_append(&target, "../", 3);
    lqmf_buf_printf(&target, "blobs/%s", etag);
    static unsigned counter;
    char *link = hub_snapshot_path(r, path);
    char *tmp = link ? hub_fmt("%s.lqmf-link.%ld.%u", link, (long)getpid(),
                               __atomic_fetch_add(&counter, 1u, __ATOMIC_RELAXED))
                     : NULL;
    lqmf_status st = LQMF_OK;
    if (!link || !tmp || target.failed) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = hub_mkdirs_parent(link);
    if (st == LQMF_OK) {
        unlink(tmp);
        if (symlink((const char *)target.data, tmp) != 0 || rename(tmp, link) != 0) {
            st = lqmf_error(LQMF_E_IO, "%s: cannot link to %s: %s", link, (const char *)target.data,
                            strerror(errno));
            unlink(tmp);
        }
    }
    lqmf_buf_free(&target);
    free(tmp);
    free(link);
    return st;
}

lqmf_status hub_lock(const lqmf_hub *h, const lqmf_hub_repo *r, const char *etag, int *fd) {
    *fd = -1;
    char *folder = hub_repo_folder_name(r->repo_id);
    char *dir = folder ? hub_fmt("%s/.locks/%s", h->cache_dir, folder) : NULL;
    char *path = dir ? hub_fmt("%s/%s.lock", dir, etag) : NULL;
    lqmf_status st = path ? hub_mkdirs(dir) : lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) {
        *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (*fd < 0) st = lqmf_error(LQMF_E_IO, "%s: cannot open the lock: %s", path, strerror(errno));
    }
    while (st == LQMF_OK && flock(*fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        st = lqmf_error(LQMF_E_IO, "%s: cannot lock: %s", path, strerror(errno));
        close(*fd);
        *fd = -1;
    }
    free(path);
    free(dir);
    free(folder);
    return st;
}

void hub_unlock(int fd) {
    if (fd < 0) return;
    flock(fd, LOCK_UN);
    close(fd);
}

lqmf_status hub_ref_read(const char *repo_dir, const char *revision, char commit[41]) {
    commit[0] = '\0';
    char *path = hub_fmt("%s/refs/%s", repo_dir, revision);
    if (!path) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    char *s;
    size_t n;
    lqmf_status st = lqmf_read_file(path, 256, &s, &n);
    if (st == LQMF_OK) {
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = '\0';
        if (hub_is_hex(s, 40))
            memcpy(commit, s, 41);
        else
            st = lqmf_error(LQMF_E_FORMAT, "%s: not a commit hash", path);
        free(s);
    }
    free(path);
    return st;
}

lqmf_status hub_ref_write(const char *repo_dir, const char *revision, const char *commit) {
    char old[41];
    if (hub_ref_read(repo_dir, revision, old) == LQMF_OK && strcmp(old, commit) == 0) return LQMF_OK;
    lqmf_clear_error();
    char *path = hub_fmt("%s/refs/%s", repo_dir, revision);
    if (!path) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    lqmf_status st = hub_mkdirs_parent(path);
    lqmf_afile f;
    if (st == LQMF_OK) st = lqmf_afile_open(&f, path);
    if (st == LQMF_OK) {
        st = lqmf_afile_write(&f, commit, strlen(commit));
        if (st == LQMF_OK)
            st = lqmf_afile_commit(&f);
        else
            lqmf_afile_abort(&f);
    }
    free(path);
    return st;
}

typedef struct {
    lqmf_hub_file *files;
    size_t n, cap;
} file_list;

static lqmf_status list_add(file_list *l, const char *rel, uint64_t size, const char *blob) {
    if (l->n >= HUB_MAX_FILES) return lqmf_error(LQMF_E_FORMAT, "more than %u files", HUB_MAX_FILES);
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 64;
        lqmf_hub_file *nf = realloc(l->files, nc * sizeof *nf);
        if (!nf) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        l->files = nf;
        l->cap = nc;
    }
    lqmf_hub_file *f = &l->files[l->n];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(rel))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    f->size = size;
    if (blob && hub_is_hex(blob, 64))
        memcpy(f->sha256, blob, 65);
    else if (blob && hub_is_hex(blob, 40))
        memcpy(f->oid, blob, 41);
    l->n++;
    return LQMF_OK;
}

/* Walk dir (= root/rel); links name their blob, which gives the hashes. */
static lqmf_status walk(const char *root, const char *rel, int depth, file_list *l) {
    if (depth > MAX_DEPTH) return lqmf_error(LQMF_E_FORMAT, "%s/%s: folders nested too deep", root, rel);
    char *dir = *rel ? hub_fmt("%s/%s", root, rel) : strdup(root);
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        lqmf_status st = dir ? lqmf_error(LQMF_E_IO, "%s: cannot list: %s", dir, strerror(errno))
                             : lqmf_error(LQMF_E_NOMEM, "out of memory");
        free(dir);
        return st;
    }
    lqmf_status st = LQMF_OK;
    struct dirent *e;
    while (st == LQMF_OK && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strstr(e->d_name, ".lqmf-link."))
            continue;
        char *sub = *rel ? hub_fmt("%s/%s", rel, e->d_name) : strdup(e->d_name);
        char *full = sub ? hub_fmt("%s/%s", dir, e->d_name) : NULL;
        struct stat lst, st_;
        if (!full)
            st = lqmf_error(LQMF_E_NOMEM, "out of memory");
        else if (lstat(full, &lst) != 0 || !hub_valid_rel_path(sub))
            ;
        else if (S_ISDIR(lst.st_mode))
            st = walk(root, sub, depth + 1, l);
        else if (stat(full, &st_) == 0 && S_ISREG(st_.st_mode)) {
            char target[4096] = "";
            const char *blob = NULL;
            if (S_ISLNK(lst.st_mode)) {
                ssize_t n = readlink(full, target, sizeof target - 1);
                target[n > 0 ? n : 0] = '\0';
                const char *slash = strrchr(target, '/');
                blob = slash ? slash + 1 : target;
            }
            st = list_add(l, sub, (uint64_t)st_.st_size, blob);
        }
        free(full);
        free(sub);
    }
    closedir(d);
    free(dir);
    return st;
}

lqmf_status hub_cache_list(const lqmf_hub_repo *r, lqmf_hub_file **files, size_t *n) {
    file_list l = {0};
    lqmf_status st = walk(r->snapshot_dir, "", 0, &l);
    if (st == LQMF_OK) st = hub_files_finish(l.files, l.n);
    if (st != LQMF_OK) {
        hub_files_free(l.files, l.n);
        return st;
    }
    *files = l.files;
    *n = l.n;
    return LQMF_OK;
}
