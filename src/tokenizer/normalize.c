/* Normalizers: the text rewrites that run on each segment before it is
 * split into words (Hugging Face "normalizer" plus SentencePiece's
 * whitespace handling). */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void tok_norm_clear(tok_norm *n) {
    free(n->a);
    free(n->b);
    pcre2_code_free(n->re);
    memset(n, 0, sizeof *n);
}

lqmf_status tok_norm_add(lqmf_tokenizer *t, const tok_norm *n) {
    if (t->n_norms >= TOK_MAX_PIPELINE)
        return lqmf_error(LQMF_E_FORMAT, "%s: more than %d normalizer steps", t->name, TOK_MAX_PIPELINE);
    tok_norm *p = realloc(t->norms, (t->n_norms + 1) * sizeof *p);
    if (!p) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    t->norms = p;
    p[t->n_norms++] = *n;
    return LQMF_OK;
}

static bool is_space_cp(uint32_t cp) {
    if (cp == ' ' || (cp >= 9 && cp <= 13) || cp == 0x85) return true;
    if (cp < 0x80) return false;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* Decode one code point of valid UTF-8 at s[i]; returns its length. */
static size_t cp_at(const char *s, size_t i, uint32_t *cp) {
    const uint8_t *u = (const uint8_t *)s + i;
    size_t len = tok_utf8_len(u[0]);
    uint32_t v = len == 1 ? u[0] : (uint32_t)(u[0] & (0x7f >> len));
    for (size_t k = 1; k < len; k++) v = v << 6 | (u[k] & 0x3f);
    *cp = v;
    return len;
}

static void replace_literal(const tok_norm *nm, const char *s, size_t n, lqmf_buf *out) {
    size_t i = 0, last = 0;
    while (nm->alen && i + nm->alen <= n) {
        if (memcmp(s + i, nm->a, nm->alen) == 0) {
            lqmf_buf_append(out, s + last, i - last);
            lqmf_buf_append(out, nm->b, nm->blen);
            i += nm->alen;
            last = i;
        } else {
            i++;
        }
    }
    lqmf_buf_append(out, s + last, n - last);
}

static lqmf_status replace_regex(const lqmf_tokenizer *t, const tok_norm *nm, const char *s, size_t n,
                                 lqmf_buf *out) {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    size_t pos = 0, last = 0;
    while (pos <= n) {
        size_t a, b;
        int rc = tok_regex_match(nm->re, s, n, pos, md, &a, &b);
        if (rc == 0) break;
        if (rc < 0) {
            pcre2_match_data_free(md);
            return lqmf_error(LQMF_E_INVALID, "%s: Replace normalizer regex failed (pcre2 error %d)", t->name,
                              rc);
        }
        if (b == a) { /* empty match: step over one character */
            if (a >= n) break;
            pos = a + tok_utf8_len((uint8_t)s[a]);
            continue;
        }
        lqmf_buf_append(out, s + last, a - last);
        lqmf_buf_append(out, nm->b, nm->blen);
        last = pos = b;
    }
    lqmf_buf_append(out, s + last, n - last);
    pcre2_match_data_free(md);
    return LQMF_OK;
}

static lqmf_status unicode_form(const lqmf_tokenizer *t, tok_norm_kind k, const char *s, size_t n,
                                lqmf_buf *out) {
    if (n == 0) return LQMF_OK;
    int opt = UTF8PROC_STABLE;
    opt |= k == NORM_NFC || k == NORM_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
    if (k == NORM_NFKC || k == NORM_NFKD) opt |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r =
        utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res, (utf8proc_option_t)opt);
    if (r < 0) {
        free(res);
        return lqmf_error(LQMF_E_INVALID, "%s: Unicode normalization failed: %s", t->name,
                          utf8proc_errmsg(r));
    }
    lqmf_buf_append(out, res, (size_t)r);
    free(res);
    return LQMF_OK;
}

static void lowercase(const char *s, size_t n, lqmf_buf *out) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = cp_at(s, i, &cp);
        if (cp < 0x80) {
            char c = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
            lqmf_buf_append(out, &c, 1);
        } else {
            tok_utf8_put(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
        }
        i += len;
    }
}

static void strip(const tok_norm *nm, const char *s, size_t n, lqmf_buf *out) {
    size_t a = 0, b = n;
    while (nm->left && a < b) {
        uint32_t cp;
        size_t len = cp_at(s, a, &cp);
        if (!is_space_cp(cp)) break;
        a += len;
    }
    while (nm->right && b > a) {
        size_t k = b - 1;
        while (k > a && ((uint8_t)s[k] & 0xc0) == 0x80) k--;
        uint32_t cp;
        cp_at(s, k, &cp);
        if (!is_space_cp(cp)) break;
        b = k;
    }
    lqmf_buf_append(out, s + a, b - a);
}

/* SentencePiece remove_extra_whitespaces: no leading or trailing ' ', and
 * runs of ' ' inside become one. */
static void spm_whitespace(const char *s, size_t n, lqmf_buf *out) {
    bool pending = false, any = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            pending = any;
            continue;
        }
        if (pending) lqmf_buf_append(out, " ", 1);
        pending = false;
        any = true;
        lqmf_buf_append(out, s + i, 1);
    }
}

static lqmf_status apply_one(const lqmf_tokenizer *t, const tok_norm *nm, const char *s, size_t n,
                             lqmf_buf *out) {
    switch (nm->kind) {
    case NORM_PREPEND:
        if (n) lqmf_buf_append(out, nm->a, nm->alen);
        lqmf_buf_append(out, s, n);
        return LQMF_OK;
    case NORM_REPLACE:
        if (nm->re) return replace_regex(t, nm, s, n, out);
        replace_literal(nm, s, n, out);
        return LQMF_OK;
    case NORM_NFC:
    case NORM_NFD:
    case NORM_NFKC:
    case NORM_NFKD: return unicode_form(t, nm->kind, s, n, out);
    case NORM_LOWERCASE: lowercase(s, n, out); return LQMF_OK;
    case NORM_STRIP: strip(nm, s, n, out); return LQMF_OK;
    case NORM_SPM_WS: spm_whitespace(s, n, out); return LQMF_OK;
    }
    return LQMF_OK;
}

lqmf_status tok_normalize(const lqmf_tokenizer *t, const char *src, size_t n, lqmf_buf *dst) {
    dst->len = 0;
    if (t->n_norms == 0) {
        lqmf_buf_append(dst, src, n);
        return dst->failed ? lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name) : LQMF_OK;
    }
    lqmf_buf tmp;
    lqmf_buf_init(&tmp);
    lqmf_buf_append(&tmp, src, n);
    lqmf_status st = LQMF_OK;
    for (uint32_t i = 0; i < t->n_norms && !st; i++) {
        dst->len = 0;
        st = apply_one(t, &t->norms[i], (const char *)tmp.data, tmp.len, dst);
        if (!st && i + 1 < t->n_norms) {
            tmp.len = 0;
            lqmf_buf_append(&tmp, dst->data, dst->len);
        }
    }
    bool failed = tmp.failed || dst->failed;
    lqmf_buf_free(&tmp);
    if (!st && failed) st = lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    return st;
}
