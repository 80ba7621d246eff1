/* The client handle: options, environment, cache location. */
#include "hub_priv.h"

#include <stdlib.h>
#include <string.h>

void lqmf_hub_options_init(lqmf_hub_options *o) {
    memset(o, 0, sizeof *o);
    o->offline = -1;
    o->max_retries = 5;
    o->retry_base_ms = 500;
    o->stall_timeout_s = 30;
    o->connect_timeout_s = 10;
    o->n_parallel = 4;
}

/* A path from the environment with a leading "~/" expanded; NULL when unset. */
static char *env_path(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) return NULL;
    const char *home = getenv("HOME");
    if (strncmp(v, "~/", 2) == 0 && home) return hub_fmt("%s/%s", home, v + 2);
    return strdup(v);
}

char *hub_hf_home(void) {
    char *p = env_path("HF_HOME");
    if (p) return p;
    char *xdg = env_path("XDG_CACHE_HOME");
    if (xdg) {
        p = hub_fmt("%s/huggingface", xdg);
        free(xdg);
        return p;
    }
    const char *home = getenv("HOME");
    return hub_fmt("%s/.cache/huggingface", home ? home : ".");
}

static char *default_cache_dir(void) {
    char *p = env_path("HF_HUB_CACHE");
    if (!p) p = env_path("HUGGINGFACE_HUB_CACHE");
    if (p) return p;
    char *home = hub_hf_home();
    if (!home) return NULL;
    p = hub_fmt("%s/hub", home);
    free(home);
    return p;
}

lqmf_status lqmf_hub_new(const lqmf_hub_options *o, lqmf_hub **out) {
    *out = NULL;
    lqmf_hub_options defaults;
    if (!o) {
        lqmf_hub_options_init(&defaults);
        o = &defaults;
    }
    lqmf_hub *h = calloc(1, sizeof *h);
    if (!h) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    h->opt = *o;
    if (h->opt.n_parallel == 0) h->opt.n_parallel = 1;
    if (h->opt.stall_timeout_s == 0) h->opt.stall_timeout_s = 30;
    const char *ep = o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
    h->endpoint = strdup(ep && *ep ? ep : "https://huggingface.co");
    h->cache_dir = o->cache_dir ? strdup(o->cache_dir) : default_cache_dir();
    lqmf_status st = LQMF_OK;
    if (!h->endpoint || !h->cache_dir) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) {
        size_t n = strlen(h->endpoint);
        while (n && h->endpoint[n - 1] == '/') h->endpoint[--n] = '\0';
        if (strncmp(h->endpoint, "http://", 7) != 0 && strncmp(h->endpoint, "https://", 8) != 0)
            st =
                lqmf_error(LQMF_E_INVALID, "HF_ENDPOINT \"%s\": not an http:// or https:// URL", h->endpoint);
    }
    h->offline = o->offline < 0 ? hub_env_true("HF_HUB_OFFLINE") : o->offline != 0;
    if (st == LQMF_OK && o->token) {
        if (*o->token) {
            h->token.token = strdup(o->token);
            h->token.source = LQMF_HUB_TOKEN_OPTION;
            if (!h->token.token) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
        }
    } else if (st == LQMF_OK) {
        st = lqmf_hub_token_find(&h->token);
    }
    if (st == LQMF_OK && !(h->curl = hub_curl_new())) st = lqmf_error(LQMF_E_NETWORK, "cannot start libcurl");
    if (st != LQMF_OK) {
        lqmf_hub_free(h);
        return st;
    }
    h->opt.endpoint = h->endpoint;
    h->opt.cache_dir = h->cache_dir;
    h->opt.token = NULL;
    *out = h;
    return LQMF_OK;
}

void lqmf_hub_free(lqmf_hub *h) {
    if (!h) return;
    if (h->curl) curl_easy_cleanup(h->curl);
    lqmf_hub_token_clear(&h->token);
    free(h->endpoint);
    free(h->cache_dir);
    free(h);
}

const char *lqmf_hub_endpoint(const lqmf_hub *h) { return h->endpoint; }
const char *lqmf_hub_cache_dir(const lqmf_hub *h) { return h->cache_dir; }
bool lqmf_hub_is_offline(const lqmf_hub *h) { return h->offline; }
const lqmf_hub_token *lqmf_hub_token_info(const lqmf_hub *h) { return &h->token; }
