/* Access tokens: lookup in the environment and the token files, lqmf's own
 * stored token (mode 0600), and the whoami-v2 account query. */
#include "hub_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOKEN 1024 /* bytes; Hub tokens are ~40 */

const char *lqmf_hub_token_source_name(lqmf_hub_token_source s) {
    switch (s) {
    case LQMF_HUB_TOKEN_NONE: return "no token";
    case LQMF_HUB_TOKEN_OPTION: return "the command line";
    case LQMF_HUB_TOKEN_ENV: return "an environment variable";
    case LQMF_HUB_TOKEN_LQMF: return "lqmf's token file";
    case LQMF_HUB_TOKEN_HF_CLI: return "huggingface-cli's token file";
    }
    return "?";
}

void lqmf_hub_token_clear(lqmf_hub_token *t) {
    if (!t) return;
    if (t->token) {
        explicit_bzero(t->token, strlen(t->token));
        free(t->token);
    }
    free(t->where);
    memset(t, 0, sizeof *t);
}

static bool valid_token(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > MAX_TOKEN) return false;
    for (size_t i = 0; i < n; i++)
        if (t[i] <= ' ' || t[i] > '~') return false;
    return true;
}

lqmf_status lqmf_hub_token_path(char **out) {
    const char *home = getenv("LQMF_HOME");
    if (home && *home)
        *out = hub_fmt("%s/token", home);
    else if ((home = getenv("XDG_CONFIG_HOME")) && *home)
        *out = hub_fmt("%s/lqmf/token", home);
    else
        *out = hub_fmt("%s/.config/lqmf/token", (home = getenv("HOME")) ? home : ".");
    return *out ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
}

static char *hf_cli_token_path(void) {
    const char *p = getenv("HF_TOKEN_PATH");
    if (p && *p) return strdup(p);
    char *home = hub_hf_home();
    if (!home) return NULL;
    char *t = hub_fmt("%s/token", home);
    free(home);
    return t;
}

/* Read a token file: trimmed content; *tok NULL when absent or empty. A
 * file that holds something that is not a token is an error. */
static lqmf_status read_token_file(const char *path, char **tok) {
    *tok = NULL;
    char *s;
    size_t n;
    lqmf_status st = lqmf_read_file(path, MAX_TOKEN + 64, &s, &n);
    if (st == LQMF_E_NOT_FOUND) {
        lqmf_clear_error();
        return LQMF_OK;
    }
    if (st != LQMF_OK) return st;
    size_t a = 0;
    while (a < n && (s[a] == ' ' || s[a] == '\n' || s[a] == '\r' || s[a] == '\t')) a++;
    while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t')) n--;
    s[n] = '\0';
    if (n > a && !valid_token(s + a)) {
        explicit_bzero(s, n);
        free(s);
        return lqmf_error(LQMF_E_FORMAT, "%s: does not hold a token (spaces or control bytes)", path);
    }
    if (n > a) *tok = strdup(s + a);
    explicit_bzero(s, n);
    free(s);
    if (n > a && !*tok) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    return LQMF_OK;
}

lqmf_status lqmf_hub_token_find(lqmf_hub_token *out) {
    memset(out, 0, sizeof *out);
    static const char *const vars[] = {"HF_TOKEN", "HUGGINGFACE_TOKEN", "HUGGING_FACE_HUB_TOKEN"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v) continue;
        if (!valid_token(v))
            return lqmf_error(LQMF_E_INVALID, "%s: does not hold a token (spaces or control bytes)", vars[i]);
        out->token = strdup(v);
        out->where = strdup(vars[i]);
        out->source = LQMF_HUB_TOKEN_ENV;
        if (!out->token || !out->where) {
            lqmf_hub_token_clear(out);
            return lqmf_error(LQMF_E_NOMEM, "out of memory");
        }
        return LQMF_OK;
    }
    char *paths[2] = {NULL, hf_cli_token_path()};
    lqmf_status st = lqmf_hub_token_path(&paths[0]);
    const lqmf_hub_token_source src[2] = {LQMF_HUB_TOKEN_LQMF, LQMF_HUB_TOKEN_HF_CLI};
    for (int i = 0; i < 2 && st == LQMF_OK && !out->token; i++) {
        if (!paths[i]) {
            st = lqmf_error(LQMF_E_NOMEM, "out of memory");
            break;
        }
        st = read_token_file(paths[i], &out->token);
        if (st == LQMF_OK && out->token) {
            out->source = src[i];
            out->where = paths[i];
            paths[i] = NULL;
        }
    }
    free(paths[0]);
    free(paths[1]);
    if (st != LQMF_OK) lqmf_hub_token_clear(out);
    return st;
}

lqmf_status lqmf_hub_token_save(const char *token) {
    if (!token || !valid_token(token))
        return lqmf_error(LQMF_E_INVALID,
                          "not a token: expected printable characters without "
                          "spaces, at most %d",
                          MAX_TOKEN);
    char *path;
    lqmf_status st = lqmf_hub_token_path(&path);
    if (st != LQMF_OK) return st;
    char *tmp = hub_fmt("%s.tmp.%ld", path, (long)getpid());
    if (!tmp) {
        free(path);
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    st = hub_mkdirs_parent(path);
    int fd = -1;
    if (st == LQMF_OK) {
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) st = lqmf_error(LQMF_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    if (st == LQMF_OK) {
        size_t n = strlen(token);
        bool ok = fchmod(fd, 0600) == 0 && write(fd, token, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
                  fsync(fd) == 0;
        int e = errno;
        if (close(fd) != 0 && ok) ok = false, e = errno;
        if (!ok || rename(tmp, path) != 0) {
            if (ok) e = errno;
            unlink(tmp);
            st = lqmf_error(LQMF_E_IO, "%s: cannot write the token: %s", path, strerror(e));
        }
    }
    free(tmp);
    free(path);
    return st;
}

lqmf_status lqmf_hub_token_remove(bool *removed) {
    *removed = false;
    char *path;
    lqmf_status st = lqmf_hub_token_path(&path);
    if (st != LQMF_OK) return st;
    if (unlink(path) == 0)
        *removed = true;
    else if (errno != ENOENT)
        st = lqmf_error(LQMF_E_IO, "%s: cannot remove: %s", path, strerror(errno));
    free(path);
    return st;
}

lqmf_status lqmf_hub_whoami(lqmf_hub *h, lqmf_hub_user **out) {
    *out = NULL;
    if (h->offline) return lqmf_error(LQMF_E_STATE, "whoami: offline mode (HF_HUB_OFFLINE) is set");
    if (!h->token.token)
        return lqmf_error(LQMF_E_AUTH, "not logged in: no token (set HF_TOKEN or run "
                                       "`lqmf hf login`)");
    char *url = hub_fmt("%s/api/whoami-v2", h->endpoint);
    if (!url) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    hub_resp r = {0};
    lqmf_status st = hub_get_json(h, h->curl, url, NULL, "whoami-v2", &r);
    if (st == LQMF_OK) st = hub_parse_user((const char *)r.body.data, r.body.len, out);
    hub_resp_free(&r);
    free(url);
    return st;
}
