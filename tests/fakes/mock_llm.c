/* The mock LLM provider (see mock_llm.h). One thread per connection; the
 * log and the canned reply are under one mutex. */
#include "mock_llm.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (1u << 20)

struct mock_llm {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t mu;
    unsigned status;
    char *reply;
    mock_llm_log log;
};

typedef struct {
    char *data;
    size_t len;
} upload;

static void copy_header(struct MHD_Connection *c, const char *name, char *dst, size_t n) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(dst, n, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls) {
    (void)version;
    mock_llm *m = cls;
    upload *u = *con_cls;
    if (!u) { /* first call: headers only */
        u = calloc(1, sizeof *u);
        if (!u) return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size) {
        if (u->len + *data_size > BODY_MAX) return MHD_NO;
        char *g = realloc(u->data, u->len + *data_size + 1);
        if (!g) return MHD_NO;
        memcpy(g + u->len, data, *data_size);
        u->data = g;
        u->len += *data_size;
        u->data[u->len] = 0;
        *data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&m->mu);
    mock_llm_log *l = &m->log;
    l->count++;
    snprintf(l->method, sizeof l->method, "%s", method);
    snprintf(l->path, sizeof l->path, "%s", url);
    copy_header(c, "Authorization", l->authorization, sizeof l->authorization);
    copy_header(c, "x-api-key", l->x_api_key, sizeof l->x_api_key);
    copy_header(c, "anthropic-version", l->anthropic_version, sizeof l->anthropic_version);
    copy_header(c, "x-goog-api-key", l->x_goog_api_key, sizeof l->x_goog_api_key);
    copy_header(c, "Content-Type", l->content_type, sizeof l->content_type);
    free(l->body);
    l->body = u->data ? u->data : strdup("");
    u->data = NULL;
    const char *reply = m->reply ? m->reply : "{}";
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(reply), (void *)reply, MHD_RESPMEM_MUST_COPY);
    unsigned status = m->status ? m->status : 200;
    pthread_mutex_unlock(&m->mu);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)cls, (void)c, (void)why;
    upload *u = *con_cls;
    if (u) free(u->data);
    free(u);
    *con_cls = NULL;
}

mock_llm *mock_llm_start(void) {
    mock_llm *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    m->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                            on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, m, MHD_OPTION_END);
    const union MHD_DaemonInfo *info = m->d ? MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info) {
        mock_llm_stop(m);
        return NULL;
    }
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%u", (unsigned)info->port);
    return m;
}

void mock_llm_stop(mock_llm *m) {
    if (!m) return;
    if (m->d) MHD_stop_daemon(m->d);
    free(m->reply);
    free(m->log.body);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

const char *mock_llm_url(const mock_llm *m) { return m->url; }

void mock_llm_reply(mock_llm *m, unsigned status, const char *body) {
    pthread_mutex_lock(&m->mu);
    free(m->reply);
    m->reply = strdup(body);
    m->status = status;
    pthread_mutex_unlock(&m->mu);
}

const mock_llm_log *mock_llm_log_get(mock_llm *m) { return &m->log; }

void mock_llm_reset(mock_llm *m) {
    pthread_mutex_lock(&m->mu);
    free(m->log.body);
    memset(&m->log, 0, sizeof m->log);
    pthread_mutex_unlock(&m->mu);
}
