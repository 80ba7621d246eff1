/* File mapping, whole-file reads and atomic (temp + rename) output. */
#include "lqmf/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

lqmf_status lqmf_map_open(const char *path, lqmf_map *m) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lqmf_error(errno == ENOENT ? LQMF_E_NOT_FOUND : LQMF_E_IO,
                                  "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lqmf_error(LQMF_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lqmf_error(LQMF_E_INVALID, "%s: not a regular file", path);
    }
    m->size = (uint64_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, (size_t)m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return lqmf_error(LQMF_E_IO, "%s: cannot mmap %llu bytes: %s", path,
                              (unsigned long long)m->size, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    m->path = strdup(path);
    if (!m->path) {
        lqmf_map_close(m);
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    }
    return LQMF_OK;
}

void lqmf_map_close(lqmf_map *m) {
    if (!m) return;
    if (m->data) munmap((void *)m->data, (size_t)m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

lqmf_status lqmf_read_file(const char *path, uint64_t max_bytes, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return lqmf_error(errno == ENOENT ? LQMF_E_NOT_FOUND : LQMF_E_IO,
                              "%s: cannot open: %s", path, strerror(errno));
    lqmf_buf b;
    lqmf_buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > max_bytes) {
            fclose(f);
            lqmf_buf_free(&b);
            return lqmf_error(LQMF_E_FORMAT, "%s: larger than the limit of %llu bytes", path,
                              (unsigned long long)max_bytes);
        }
        if (!lqmf_buf_append(&b, chunk, n)) {
            fclose(f);
            lqmf_buf_free(&b);
            return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        lqmf_buf_free(&b);
        return lqmf_error(LQMF_E_IO, "%s: read error", path);
    }
    if (!lqmf_buf_append(&b, "", 0)) { /* ensure allocated + NUL */
        lqmf_buf_free(&b);
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    }
    *out = (char *)b.data;
    if (len) *len = b.len;
    return LQMF_OK;
}

/* ---- atomic output ------------------------------------------------------ */

#define MAX_LIVE 64
static char *g_live[MAX_LIVE]; /* temp paths of open writers, for the signal handler */
static pthread_mutex_t g_live_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_counter;

static int live_add(const char *p) {
    pthread_mutex_lock(&g_live_mu);
    int slot = -1;
    for (int i = 0; i < MAX_LIVE; i++)
        if (!g_live[i]) {
            g_live[i] = (char *)p;
            slot = i;
            break;
        }
    pthread_mutex_unlock(&g_live_mu);
    return slot;
}

static void live_remove(int slot) {
    if (slot < 0) return;
    pthread_mutex_lock(&g_live_mu);
    g_live[slot] = NULL;
    pthread_mutex_unlock(&g_live_mu);
}

#define MAX_DIRS 16
static char *g_dirs[MAX_DIRS]; /* temporary folders being built, for the signal handler */

/* The plain files of folder path, then the folder: async-signal-safe calls
 * only (open, getdents64, unlinkat, close, rmdir). A scan is repeated when
 * entries removed during it hid others, at most 4 times. */
static void rm_flat_dir(const char *path) {
    for (int pass = 0; pass < 4 && rmdir(path) != 0 && errno == ENOTEMPTY; pass++) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return;
        char buf[4096] __attribute__((aligned(8)));
        ssize_t n;
        while ((n = getdents64(fd, buf, sizeof buf)) > 0)
            for (ssize_t off = 0; off < n;) {
                const struct dirent64 *e = (const struct dirent64 *)(buf + off);
                off += e->d_reclen;
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(fd, e->d_name, 0);
            }
        close(fd);
    }
}

static void on_signal(int sig) {
    for (int i = 0; i < MAX_LIVE; i++) /* async-signal-safe calls only */
        if (g_live[i]) unlink(g_live[i]);
    for (int i = 0; i < MAX_DIRS; i++)
        if (g_dirs[i]) rm_flat_dir(g_dirs[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void lqmf_install_signal_cleanup(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int lqmf_cleanup_dir_add(const char *path) {
    char *copy = strdup(path);
    if (!copy) return -1;
    pthread_mutex_lock(&g_live_mu);
    int slot = -1;
    for (int i = 0; i < MAX_DIRS && slot < 0; i++)
        if (!g_dirs[i]) g_dirs[slot = i] = copy;
    pthread_mutex_unlock(&g_live_mu);
    if (slot < 0) free(copy);
    return slot;
}

void lqmf_cleanup_dir_remove(int slot) {
    if (slot < 0 || slot >= MAX_DIRS) return;
    pthread_mutex_lock(&g_live_mu);
    char *p = g_dirs[slot];
    g_dirs[slot] = NULL;
    pthread_mutex_unlock(&g_live_mu);
    free(p);
}

lqmf_status lqmf_afile_open(lqmf_afile *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->reg_slot = -1;
    unsigned n = __atomic_fetch_add(&g_counter, 1u, __ATOMIC_RELAXED);
    size_t len = strlen(path) + 64;
    f->path = strdup(path);
    f->tmp_path = malloc(len);
    if (!f->path || !f->tmp_path) {
        lqmf_afile_abort(f);
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp_path, len, "%s.tmp.%ld.%u", path, (long)getpid(), n);
    int fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        lqmf_status st = lqmf_error(LQMF_E_IO, "%s: cannot create: %s", f->tmp_path, strerror(errno));
        free(f->tmp_path);
        f->tmp_path = NULL;
        lqmf_afile_abort(f);
        return st;
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        unlink(f->tmp_path);
        lqmf_afile_abort(f);
        return lqmf_error(LQMF_E_IO, "%s: fdopen failed", path);
    }
    f->reg_slot = live_add(f->tmp_path);
    return LQMF_OK;
}

lqmf_status lqmf_afile_write(lqmf_afile *f, const void *p, size_t n) {
    if (!f->fp || f->failed) return lqmf_error(LQMF_E_STATE, "%s: writer already failed or closed",
                                               f->path ? f->path : "?");
    if (n && fwrite(p, 1, n, f->fp) != n) {
        f->failed = true;
        return lqmf_error(LQMF_E_IO, "%s: write failed: %s", f->tmp_path, strerror(errno));
    }
    return LQMF_OK;
}

lqmf_status lqmf_afile_commit(lqmf_afile *f) {
    lqmf_status st = LQMF_OK;
    if (!f->fp) return lqmf_error(LQMF_E_STATE, "atomic file already closed");
    if (f->failed) {
        st = lqmf_error(LQMF_E_IO, "%s: not written: an earlier write failed", f->path);
    } else if (fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0) {
        st = lqmf_error(LQMF_E_IO, "%s: flush failed: %s", f->tmp_path, strerror(errno));
    }
    if (fclose(f->fp) != 0 && st == LQMF_OK)
        st = lqmf_error(LQMF_E_IO, "%s: close failed: %s", f->tmp_path, strerror(errno));
    f->fp = NULL;
    if (st == LQMF_OK && rename(f->tmp_path, f->path) != 0)
        st = lqmf_error(LQMF_E_IO, "%s: cannot rename into place: %s", f->path, strerror(errno));
    if (st != LQMF_OK) unlink(f->tmp_path);
    live_remove(f->reg_slot);
    free(f->tmp_path);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->reg_slot = -1;
    return st;
}

void lqmf_afile_abort(lqmf_afile *f) {
    if (!f) return;
    if (f->fp) {
        fclose(f->fp);
        f->fp = NULL;
    }
    if (f->tmp_path) unlink(f->tmp_path);
    live_remove(f->reg_slot);
    free(f->tmp_path);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->reg_slot = -1;
}

/* ---- folders ------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : errno;
}

lqmf_status lqmf_remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT) return LQMF_OK;
    int rc = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == 0) return LQMF_OK;
    return lqmf_error(LQMF_E_IO, "%s: cannot remove: %s", path, strerror(rc > 0 ? rc : errno));
}

/* ---- misc ---------------------------------------------------------------- */

double lqmf_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *lqmf_fmt_bytes(uint64_t bytes, char *buf, size_t buflen) {
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0) snprintf(buf, buflen, "%llu B", (unsigned long long)bytes);
    else snprintf(buf, buflen, "%.1f %s", v, units[u]);
    return buf;
}

bool lqmf_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}
