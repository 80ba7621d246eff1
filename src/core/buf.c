/* Growable byte buffer with a sticky failure flag. */
#include "lqmf/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lqmf_buf_init(lqmf_buf *b) { memset(b, 0, sizeof *b); }

void lqmf_buf_free(lqmf_buf *b) {
    if (!b) return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

static bool reserve(lqmf_buf *b, size_t extra) {
    if (b->failed) return false;
    size_t need;
    if (__builtin_add_overflow(b->len, extra, &need)) return !(b->failed = true);
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) { cap = need; break; }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) return !(b->failed = true);
    b->data = p;
    b->cap = cap;
    return true;
}

bool lqmf_buf_append(lqmf_buf *b, const void *p, size_t n) {
    if (!reserve(b, n + 1)) return false;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0; /* keep text NUL-terminated; not counted in len */
    return true;
}

bool lqmf_buf_zeros(lqmf_buf *b, size_t n) {
    if (!reserve(b, n + 1)) return false;
    memset(b->data + b->len, 0, n + 1);
    b->len += n;
    return true;
}

bool lqmf_buf_printf(lqmf_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n + 1)) return false;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}
