/* Thread-local error messages. */
#include "lqmf/core.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[2048];

lqmf_status lqmf_error(lqmf_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return st;
}

lqmf_status lqmf_error_prefix(lqmf_status st, const char *fmt, ...) {
    char old[sizeof g_msg];
    memcpy(old, g_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof g_msg && old[0])
        snprintf(g_msg + n, sizeof g_msg - (size_t)n, ": %s", old);
    return st;
}

const char *lqmf_last_error(void) { return g_msg; }

void lqmf_clear_error(void) { g_msg[0] = '\0'; }

const char *lqmf_status_name(lqmf_status st) {
    switch (st) {
    case LQMF_OK: return "ok";
    case LQMF_E_IO: return "I/O error";
    case LQMF_E_FORMAT: return "format error";
    case LQMF_E_UNSUPPORTED: return "unsupported";
    case LQMF_E_INVALID: return "invalid argument";
    case LQMF_E_NOT_FOUND: return "not found";
    case LQMF_E_NOMEM: return "out of memory";
    case LQMF_E_INTERRUPTED: return "interrupted";
    case LQMF_E_NETWORK: return "network error";
    case LQMF_E_AUTH: return "authentication error";
    case LQMF_E_STATE: return "invalid state";
    }
    return "unknown status";
}
