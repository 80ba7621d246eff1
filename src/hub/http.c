/* HTTP over libcurl: one request at a time on a caller-owned handle, the
 * response headers the Hub protocol needs, retries with backoff, and the
 * mapping of Hub error answers to statuses and messages. */
#include "hub_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

CURL *hub_curl_new(void) {
    pthread_once(&g_curl_once, curl_init_once);
    return curl_easy_init();
}

void hub_resp_free(hub_resp *r) {
    if (r) lqmf_buf_free(&r->body);
}

typedef struct {
    const hub_req *q;
    hub_resp *r;
    bool too_big;
} xfer;

/* Copy a header value (trimmed) into dst of cap bytes; too long = dropped. */
static void set_value(char *dst, size_t cap, const char *v, size_t n) {
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    if (n >= cap) n = 0;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* ETag normalization: drop a weak W/ prefix and the quotes. */
static void normalize_etag(char *e) {
    char *s = e;
    if (strncmp(s, "W/", 2) == 0) s += 2;
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') s++, n -= 2;
    memmove(e, s, n);
    e[n] = '\0';
}

static bool parse_u64(const char *s, uint64_t *out) {
    if (*s < '0' || *s > '9') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    hub_resp *r = x->r;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (redirect, 100) */
        long status = 0;
        const char *sp = memchr(p, ' ', n);
        if (sp) status = strtol(sp + 1, NULL, 10);
        CURLcode cc = r->curl_code;
        lqmf_buf body = r->body;
        memset(r, 0, offsetof(hub_resp, body));
        r->curl_code = cc;
        r->body = body;
        r->body.len = 0;
        r->status = status;
        r->retry_after_s = -1;
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon) return n;
    size_t klen = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    char tmp[64];
#define IS(name) (klen == sizeof(name) - 1 && strncasecmp(p, name, klen) == 0)
    if (IS("location"))
        set_value(r->location, sizeof r->location, v, vlen);
    else if (IS("link"))
        set_value(r->link, sizeof r->link, v, vlen);
    else if (IS("etag"))
        set_value(r->etag, sizeof r->etag, v, vlen), normalize_etag(r->etag);
    else if (IS("x-linked-etag"))
        set_value(r->linked_etag, sizeof r->linked_etag, v, vlen), normalize_etag(r->linked_etag);
    else if (IS("x-repo-commit"))
        set_value(r->repo_commit, sizeof r->repo_commit, v, vlen);
    else if (IS("content-range"))
        set_value(r->content_range, sizeof r->content_range, v, vlen);
    else if (IS("x-error-code"))
        set_value(r->error_code, sizeof r->error_code, v, vlen);
    else if (IS("x-error-message"))
        set_value(r->error_message, sizeof r->error_message, v, vlen);
    else if (IS("content-length")) {
        set_value(tmp, sizeof tmp, v, vlen);
        r->has_length = parse_u64(tmp, &r->content_length);
    } else if (IS("x-linked-size")) {
        set_value(tmp, sizeof tmp, v, vlen);
        r->has_linked_size = parse_u64(tmp, &r->linked_size);
    } else if (IS("retry-after")) {
        set_value(tmp, sizeof tmp, v, vlen);
        uint64_t s;
        if (parse_u64(tmp, &s)) r->retry_after_s = s > 3600 ? 3600.0 : (double)s;
    }
#undef IS
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    if (x->q->sink) return x->q->sink(x->q->sink_user, x->r, p, n) ? n : 0;
    if (x->q->max_body == 0) return n;
    if (x->r->body.len + n > x->q->max_body) {
        x->too_big = true;
        return 0;
    }
    return lqmf_buf_append(&x->r->body, p, n) ? n : 0;
}

/* Is url on the configured endpoint (so it may receive the token)? */
bool hub_cancelled(const lqmf_hub *h) { return h->opt.cancel && h->opt.cancel(h->opt.cancel_user); }

/* libcurl's progress callback: non-zero aborts the transfer
 * (CURLE_ABORTED_BY_CALLBACK). Byte counts unused. */
static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return hub_cancelled(ud) ? 1 : 0;
}

static bool on_endpoint(const lqmf_hub *h, const char *url) {
    size_t n = strlen(h->endpoint);
    return strncmp(url, h->endpoint, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

lqmf_status hub_http_once(const lqmf_hub *h, CURL *c, const hub_req *q, hub_resp *r) {
    lqmf_buf body = r->body;
    memset(r, 0, sizeof *r);
    r->body = body;
    r->body.len = 0;
    r->retry_after_s = -1;
    xfer x = {q, r, false};

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, q->follow ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_NOBODY, q->head ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)h->opt.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)h->opt.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lqmf/0.1");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_msg);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    char range[64];
    if (q->has_range) {
        if (q->range_end == UINT64_MAX)
            snprintf(range, sizeof range, "%llu-", (unsigned long long)q->range_start);
        else
            snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)q->range_start,
                     (unsigned long long)q->range_end);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    struct curl_slist *hdrs = NULL;
    char *auth = NULL;
    if (h->token.token && on_endpoint(h, q->url)) {
        auth = hub_fmt("Authorization: Bearer %s", h->token.token);
        if (!auth) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (h->opt.cancel) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)h);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    r->curl_code = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    if (x.too_big)
        return lqmf_error(LQMF_E_FORMAT, "%s: answer larger than the limit of %zu bytes", q->url,
                          q->max_body);
    if (r->curl_code == CURLE_WRITE_ERROR && q->sink)
        return LQMF_E_STATE; /* the sink stopped it and keeps its own reason */
    if (r->curl_code == CURLE_ABORTED_BY_CALLBACK)
        return lqmf_error(LQMF_E_INTERRUPTED, "%s: interrupted", q->url);
    if (r->curl_code != CURLE_OK) {
        if (!r->curl_msg[0])
            snprintf(r->curl_msg, sizeof r->curl_msg, "%s", curl_easy_strerror(r->curl_code));
        return lqmf_error(LQMF_E_NETWORK, "%s: %s", q->url, r->curl_msg);
    }
    return LQMF_OK;
}

bool hub_retryable(lqmf_status st, const hub_resp *r) {
    if (st == LQMF_OK) {
        long s = r->status;
        return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
    }
    if (st != LQMF_E_NETWORK) return false;
    switch (r->curl_code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR: return true;
    default: return false;
    }
}

#define CANCEL_POLL_S 0.05 /* seconds between cancel checks while waiting */

lqmf_status hub_backoff(const lqmf_hub *h, unsigned attempt, double retry_after_s) {
    double s = (double)h->opt.retry_base_ms / 1000.0 * (double)(1u << (attempt < 16 ? attempt : 16));
    if (s > 30.0) s = 30.0;
    if (retry_after_s >= 0) s = retry_after_s > 60.0 ? 60.0 : retry_after_s;
    for (double end = lqmf_time_now() + s, left = s; left > 0; left = end - lqmf_time_now()) {
        if (hub_cancelled(h)) return lqmf_error(LQMF_E_INTERRUPTED, "interrupted while waiting to retry");
        double step = h->opt.cancel && left > CANCEL_POLL_S ? CANCEL_POLL_S : left;
        struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    return LQMF_OK;
}

lqmf_status hub_http(const lqmf_hub *h, CURL *c, const hub_req *q, hub_resp *r) {
    for (unsigned attempt = 0;; attempt++) {
        lqmf_status st = hub_http_once(h, c, q, r);
        if (!hub_retryable(st, r) || attempt >= h->opt.max_retries) return st;
        if ((st = hub_backoff(h, attempt, r->retry_after_s)) != LQMF_OK) return st;
    }
}

static bool host_of(const char *url, char *out, size_t cap) {
    const char *s = strstr(url, "://");
    s = s ? s + 3 : url;
    size_t n = strcspn(s, "/?#");
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return n > 0;
}

lqmf_status hub_http_error(const lqmf_hub *h, const hub_resp *r, const char *repo_id, const char *what) {
    if (r->curl_code != CURLE_OK || r->status == 0) {
        char host[256];
        host_of(h->endpoint, host, sizeof host);
        return lqmf_error(LQMF_E_NETWORK,
                          "%s: cannot reach %s (%s). Check the network connection, or set "
                          "HF_HUB_OFFLINE=1 to use the models already in the cache (%s)",
                          what, host, r->curl_msg[0] ? r->curl_msg : "no answer", h->cache_dir);
    }
    long s = r->status;
    const char *code = r->error_code, *msg = r->error_message;
    char detail[HUB_HDR + 16] = "";
    if (*msg) snprintf(detail, sizeof detail, ": %s", msg);
    char src[600]; /* which token: "the token in HF_TOKEN", never the token */
    if (h->token.where)
        snprintf(src, sizeof src, "the token in %s", h->token.where);
    else
        snprintf(src, sizeof src, "the token given");
    if (s == 401 && h->token.token &&
        (strstr(msg, "Invalid credentials") || strstr(msg, "Invalid user token") || !repo_id))
        return lqmf_error(LQMF_E_AUTH,
                          "%s: the Hub rejected %s (HTTP 401%s). Run `lqmf hf login` "
                          "with a valid token, or remove that one",
                          what, src, detail);
    if (s == 401 && !repo_id)
        return lqmf_error(LQMF_E_AUTH,
                          "%s: not logged in (HTTP 401%s). Set HF_TOKEN or run "
                          "`lqmf hf login`",
                          what, detail);
    if (strcmp(code, "GatedRepo") == 0 || (s == 403 && repo_id)) {
        bool gated = strcmp(code, "GatedRepo") == 0;
        if (!gated)
            return lqmf_error(LQMF_E_AUTH,
                              "%s: access denied (HTTP 403%s); %s lacks the "
                              "permission",
                              what, detail, src);
        if (!h->token.token)
            return lqmf_error(LQMF_E_AUTH,
                              "%s: %s is a gated repository: log in (`lqmf hf login` or "
                              "HF_TOKEN) with an account that was granted access; request "
                              "it at %s/%s",
                              what, repo_id, h->endpoint, repo_id);
        return lqmf_error(LQMF_E_AUTH,
                          "%s: %s is a gated repository and the account of %s is not in its "
                          "authorized list yet: request access at %s/%s",
                          what, repo_id, src, h->endpoint, repo_id);
    }
    if (strcmp(code, "RevisionNotFound") == 0)
        return lqmf_error(LQMF_E_NOT_FOUND, "%s: revision not found in %s (HTTP %ld%s)", what,
                          repo_id ? repo_id : "the repository", s, detail);
    if (strcmp(code, "EntryNotFound") == 0)
        return lqmf_error(LQMF_E_NOT_FOUND, "%s: no such file in the repository (HTTP %ld%s)", what, s,
                          detail);
    if (repo_id && (strcmp(code, "RepoNotFound") == 0 || s == 401 || s == 404)) {
        if (!h->token.token)
            return lqmf_error(LQMF_E_NOT_FOUND,
                              "%s: repository %s not found at %s, or it is private: check the "
                              "name, or log in (`lqmf hf login` or HF_TOKEN) to see private "
                              "repositories",
                              what, repo_id, h->endpoint);
        return lqmf_error(LQMF_E_NOT_FOUND, "%s: repository %s not found at %s, or %s has no access to it",
                          what, repo_id, h->endpoint, src);
    }
    if (s == 404) return lqmf_error(LQMF_E_NOT_FOUND, "%s: not found (HTTP 404%s)", what, detail);
    if (s == 429)
        return lqmf_error(LQMF_E_NETWORK,
                          "%s: rate limited by %s (HTTP 429) after %u retries; "
                          "wait a little, or log in for higher limits",
                          what, h->endpoint, h->opt.max_retries);
    if (s >= 500)
        return lqmf_error(LQMF_E_NETWORK, "%s: server error HTTP %ld%s after %u retries", what, s, detail,
                          h->opt.max_retries);
    return lqmf_error(LQMF_E_NETWORK, "%s: unexpected answer HTTP %ld%s", what, s, detail);
}

lqmf_status hub_get_json(const lqmf_hub *h, CURL *c, const char *url, const char *repo_id, const char *what,
                         hub_resp *r) {
    hub_req q = {.url = url, .follow = true, .max_body = HUB_MAX_JSON};
    lqmf_status st = hub_http(h, c, &q, r);
    if (st == LQMF_OK && r->status / 100 == 2) return LQMF_OK;
    if (st == LQMF_OK || st == LQMF_E_NETWORK) return hub_http_error(h, r, repo_id, what);
    return st;
}
