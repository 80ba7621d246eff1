/* The tape JSON reader (see tok_json.h). */
#include "tok_json.h"

#include "tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TJ_MAX_DEPTH 64

typedef struct {
    char *s;
    size_t n, i;
    tj_node *nodes;
    uint32_t count, cap;
    const char *name;
    char err[128]; /* first error */
    size_t err_at;
} parser;

static bool fail(parser *p, const char *msg) {
    if (!p->err[0]) {
        snprintf(p->err, sizeof p->err, "%s", msg);
        p->err_at = p->i;
    }
    return false;
}

static void skip_ws(parser *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
        p->i++;
    }
}

static bool push(parser *p, tj_type type, size_t off, size_t len, uint32_t *at) {
    if (p->count == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 1024;
        if (cap <= p->cap) return fail(p, "too many values");
        tj_node *nd = realloc(p->nodes, (size_t)cap * sizeof *nd);
        if (!nd) return fail(p, "out of memory");
        p->nodes = nd;
        p->cap = cap;
    }
    *at = p->count++;
    p->nodes[*at] = (tj_node){(uint8_t)type, (uint32_t)off, (uint32_t)len, *at + 1};
    return true;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
}

static bool hex4(parser *p, uint32_t *v) {
    if (p->n - p->i < 4) return fail(p, "truncated \\u escape");
    uint32_t x = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0) return fail(p, "bad hex digit in \\u escape");
        x = x << 4 | (uint32_t)h;
    }
    p->i += 4;
    *v = x;
    return true;
}

/* Write code point cp as UTF-8 at s[*w]. */
static void put_utf8(char *s, size_t *w, uint32_t cp) {
    if (cp < 0x80) {
        s[(*w)++] = (char)cp;
    } else if (cp < 0x800) {
        s[(*w)++] = (char)(0xc0 | cp >> 6);
        s[(*w)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        s[(*w)++] = (char)(0xe0 | cp >> 12);
        s[(*w)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[(*w)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        s[(*w)++] = (char)(0xf0 | cp >> 18);
        s[(*w)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        s[(*w)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[(*w)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static bool escape(parser *p, size_t *w) {
    if (p->i >= p->n) return fail(p, "truncated escape");
    char c = p->s[p->i++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = memchr(from, c, 8);
    if (k) {
        p->s[(*w)++] = to[k - from];
        return true;
    }
    if (c != 'u') return fail(p, "bad escape in string");
    uint32_t cp, lo;
    if (!hex4(p, &cp)) return false;
    if (cp >= 0xdc00 && cp <= 0xdfff) return fail(p, "lone low surrogate in \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
            return fail(p, "high surrogate without its pair");
        p->i += 2;
        if (!hex4(p, &lo)) return false;
        if (lo < 0xdc00 || lo > 0xdfff) return fail(p, "high surrogate without its pair");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    put_utf8(p->s, w, cp);
    return true;
}

/* At the opening quote. Unescape in place; NUL-terminate. */
static bool string(parser *p, uint32_t *at) {
    size_t start = ++p->i, w = 0;
    bool escaped = false;
    for (;;) {
        while (p->i < p->n) { /* fast path: plain bytes */
            unsigned char c = (unsigned char)p->s[p->i];
            if (c == '"' || c == '\\' || c < 0x20) break;
            if (escaped) p->s[w++] = (char)c;
            p->i++;
        }
        if (p->i >= p->n) return fail(p, "unterminated string");
        char c = p->s[p->i];
        if ((unsigned char)c < 0x20) return fail(p, "control character in string");
        if (c == '"') break;
        if (!escaped) {
            escaped = true;
            w = p->i;
        }
        p->i++;
        if (!escape(p, &w)) return false;
    }
    size_t end = escaped ? w : p->i;
    p->s[end] = 0; /* the closing quote (or space freed by unescaping) */
    p->i++;
    if (tok_utf8_check(p->s + start, end - start) != end - start) return fail(p, "string is not valid UTF-8");
    return push(p, TJ_STR, start, end - start, at);
}

static bool digits(parser *p) {
    size_t s = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    return p->i > s;
}

static bool number(parser *p, uint32_t *at) {
    size_t start = p->i;
    if (p->s[p->i] == '-') p->i++;
    if (p->i < p->n && p->s[p->i] == '0')
        p->i++;
    else if (!digits(p))
        return fail(p, "bad number");
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (!digits(p)) return fail(p, "bad number fraction");
    }
    if (p->i < p->n && (p->s[p->i] | 32) == 'e') {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!digits(p)) return fail(p, "bad number exponent");
    }
    return push(p, TJ_NUM, start, p->i - start, at);
}

static bool literal(parser *p, const char *word, tj_type type, uint32_t *at) {
    size_t k = strlen(word);
    if (p->n - p->i < k || memcmp(p->s + p->i, word, k) != 0) return fail(p, "unexpected character");
    p->i += k;
    return push(p, type, p->i - k, 0, at);
}

static bool value(parser *p, int depth);

static bool container(parser *p, int depth, bool obj) {
    uint32_t at, n = 0;
    if (depth > TJ_MAX_DEPTH) return fail(p, "nesting too deep");
    if (!push(p, obj ? TJ_OBJ : TJ_ARR, p->i, 0, &at)) return false;
    p->i++;
    skip_ws(p);
    char close = obj ? '}' : ']';
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return true;
    }
    for (;;) {
        skip_ws(p);
        if (obj) {
            uint32_t key;
            if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a string key");
            if (!string(p, &key)) return false;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return fail(p, "expected ':'");
            p->i++;
        }
        if (!value(p, depth + 1)) return false;
        n++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            break;
        }
        return fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    p->nodes[at].len = n;
    p->nodes[at].end = p->count;
    return true;
}

static bool value(parser *p, int depth) {
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "unexpected end of text");
    uint32_t at;
    switch (p->s[p->i]) {
    case '{': return container(p, depth, true);
    case '[': return container(p, depth, false);
    case '"': return string(p, &at);
    case 't': return literal(p, "true", TJ_TRUE, &at);
    case 'f': return literal(p, "false", TJ_FALSE, &at);
    case 'n': return literal(p, "null", TJ_NULL, &at);
    default:
        if (p->s[p->i] == '-' || (p->s[p->i] >= '0' && p->s[p->i] <= '9')) return number(p, &at);
        return fail(p, "unexpected character");
    }
}

lqmf_status tj_parse(const char *text, size_t len, const char *name, tj_doc *doc) {
    memset(doc, 0, sizeof *doc);
    if (len >= UINT32_MAX - 1) return lqmf_error(LQMF_E_FORMAT, "%s: %zu bytes is too large", name, len);
    parser p = {.n = len, .name = name};
    if (!(p.s = malloc(len + 1))) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", name);
    memcpy(p.s, text, len);
    p.s[len] = 0;
    bool ok = value(&p, 0);
    if (ok) {
        skip_ws(&p);
        if (p.i < p.n) ok = fail(&p, "text after the end of the value");
    }
    if (!ok) {
        size_t line = 1, col = 1;
        for (size_t k = 0; k < p.err_at && k < len; k++) {
            if (text[k] == '\n')
                line++, col = 1;
            else
                col++;
        }
        free(p.s);
        free(p.nodes);
        return lqmf_error(!strcmp(p.err, "out of memory") ? LQMF_E_NOMEM : LQMF_E_FORMAT,
                          "%s: invalid JSON at line %zu column %zu: %s", name, line, col, p.err);
    }
    doc->buf = p.s;
    doc->nodes = p.nodes;
    doc->n = p.count;
    return LQMF_OK;
}

void tj_free(tj_doc *doc) {
    free(doc->buf);
    free(doc->nodes);
    memset(doc, 0, sizeof *doc);
}

const char *tj_str(const tj_doc *d, tj_ref r, size_t *len) {
    if (tj_kind(d, r) != TJ_STR) return NULL;
    if (len) *len = d->nodes[r].len;
    return d->buf + d->nodes[r].off;
}

tj_ref tj_get(const tj_doc *d, tj_ref obj, const char *key) {
    if (tj_kind(d, obj) != TJ_OBJ) return TJ_MISSING;
    size_t kn = strlen(key);
    TJ_EACH(d, obj, k) {
        size_t n = 0;
        const char *s = tj_str(d, k, &n);
        if (s && n == kn && memcmp(s, key, kn) == 0) return k + 1;
    }
    return TJ_MISSING;
}

bool tj_int(const tj_doc *d, tj_ref r, int64_t *v) {
    if (tj_kind(d, r) != TJ_NUM) return false;
    const char *s = d->buf + d->nodes[r].off;
    size_t n = d->nodes[r].len, i = 0;
    bool neg = n && s[0] == '-';
    i += neg;
    uint64_t x = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false; /* fraction or exponent */
        if (x > (UINT64_MAX - 9) / 10) return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > (uint64_t)INT64_MAX) return false;
    *v = neg ? -(int64_t)x : (int64_t)x;
    return true;
}
