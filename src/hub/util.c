/* Hub helpers: strings, folders, and the checks on names that come from
 * the user or the server before they become URLs or paths. */
#include "hub_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

char *hub_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

bool hub_env_true(const char *name) {
    const char *v = getenv(name);
    if (!v) return false;
    return strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "on") == 0;
}

lqmf_status hub_mkdirs(const char *path) {
    char *p = strdup(path);
    if (!p) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    for (char *s = p + 1;; s++) {
        bool end = *s == '\0';
        if (*s != '/' && !end) continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            lqmf_status st = lqmf_error(LQMF_E_IO, "%s: cannot create folder: %s", p, strerror(errno));
            free(p);
            return st;
        }
        if (end) break;
        *s = '/';
    }
    free(p);
    return LQMF_OK;
}

lqmf_status hub_mkdirs_parent(const char *path) {
    char *p = strdup(path);
    if (!p) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    char *slash = strrchr(p, '/');
    lqmf_status st = LQMF_OK;
    if (slash && slash != p) {
        *slash = '\0';
        st = hub_mkdirs(p);
    }
    free(p);
    return st;
}

static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* One segment of a repo id: name chars, not empty, no edge '-' or '.'. */
static bool valid_segment(const char *s, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i])) return false;
    return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

bool hub_valid_repo_id(const char *id) {
    if (!id) return false;
    size_t n = strlen(id);
    if (n == 0 || n > 96 || strstr(id, "--") || strstr(id, "..")) return false;
    const char *slash = strchr(id, '/');
    if (!slash) return valid_segment(id, n);
    return valid_segment(id, (size_t)(slash - id)) && valid_segment(slash + 1, strlen(slash + 1));
}

bool hub_valid_rel_path(const char *p) {
    if (!p) return false;
    size_t n = strlen(p);
    if (n == 0 || n > HUB_MAX_PATH) return false;
    const char *seg = p;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '/' || c == '\0') {
            size_t len = (size_t)(p + i - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            seg = p + i + 1;
        } else if (c < 0x20 || c == 0x7f || c == '\\') {
            return false;
        }
    }
    return lqmf_utf8_valid(p, n);
}

bool hub_is_hex(const char *s, size_t n) {
    if (!s || strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

char *hub_url_quote(const char *s, bool keep_slash) {
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (name_char((char)*p) || *p == '~' || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            sprintf(o, "%%%02X", *p);
            o += 3;
        }
    }
    *o = '\0';
    return out;
}

char *hub_repo_folder_name(const char *repo_id) {
    const char *slash = strchr(repo_id, '/');
    if (!slash) return hub_fmt("models--%s", repo_id);
    return hub_fmt("models--%.*s--%s", (int)(slash - repo_id), repo_id, slash + 1);
}
