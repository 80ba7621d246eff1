/* Pre-tokenizers: split a normalized segment into words (regex splits with
 * libpcre2-8 in UTF + UCP mode), ByteLevel's prefix space and Metaspace;
 * plus the llama.cpp pre-tokenizer names (tokenizer.ggml.pre). */
#include "tok_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const char tok_re_gpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static const char re_llama3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char re_qwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char re_deepseek_letters[] =
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-"
    "\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1"
    "\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-"
    "\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15"
    "\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb"
    "\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124"
    "\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184"
    "\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-"
    "\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-"
    "\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+";
static const char re_deepseek_punct[] = "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+";
static const char re_cjk[] = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";

/* A llama.cpp pre-tokenizer: its names and the regexes applied in turn
 * (each splits every current word, keeping matches and gaps). */
typedef struct {
    const char *names[8]; /* first = the name written to GGUF */
    const char *re[6];
    bool llama3; /* llama.cpp also sets ignore_merges and BOS for these */
} pre_def;

static const pre_def g_pre_defs[] = {
    {{"gpt-2", "mpt", "olmo", "jais"}, {tok_re_gpt2}, false},
    {{"llama-bpe", "llama3", "llama-v3", "smaug-bpe", "dbrx", "falcon3", "pixtral"}, {re_llama3}, true},
    {{"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez"}, {re_qwen2}, false},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {"\\p{N}", tok_re_gpt2},
     false},
    {{"deepseek-llm"},
     {"[\\r\\n]", re_deepseek_letters, re_deepseek_punct, "\\s+$", re_cjk, "\\p{N}+"},
     false},
    {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", re_cjk, "\\p{N}"}, false},
    {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", tok_re_gpt2, "[0-9][0-9][0-9]"}, false},
    {{"default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", tok_re_gpt2, "\\p{N}+", "[0-9][0-9][0-9]"}, false},
};

lqmf_status tok_regex_compile(const char *pattern, size_t len, pcre2_code **out) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return lqmf_error(LQMF_E_UNSUPPORTED, "regex '%.*s' does not compile at offset %zu: %s",
                          (int)(len > 200 ? 200 : len), pattern, (size_t)off, (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
    *out = re;
    return LQMF_OK;
}

/* One match context for every call (read-only once made): a match limit
 * keeps a pathological pattern from running away on long text. */
static pcre2_match_context *g_mctx;
static pthread_once_t g_mctx_once = PTHREAD_ONCE_INIT;
static void mctx_init(void) {
    g_mctx = pcre2_match_context_create(NULL);
    if (g_mctx) pcre2_set_match_limit(g_mctx, 1000000);
}

int tok_regex_match(const pcre2_code *re, const char *s, size_t n, size_t pos, pcre2_match_data *md,
                    size_t *a, size_t *b) {
    pthread_once(&g_mctx_once, mctx_init);
    uint32_t opts = PCRE2_NO_UTF_CHECK;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, opts, md, g_mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, opts | PCRE2_NO_JIT, md, g_mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return rc;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *a = ov[0];
    *b = ov[1];
    return 1;
}

void tok_pre_clear(tok_pre *p) {
    pcre2_code_free(p->re);
    free(p->pattern);
    memset(p, 0, sizeof *p);
}

lqmf_status tok_pre_add(lqmf_tokenizer *t, const tok_pre *p) {
    if (t->n_pres >= TOK_MAX_PIPELINE)
        return lqmf_error(LQMF_E_FORMAT, "%s: more than %d pre-tokenizer steps", t->name, TOK_MAX_PIPELINE);
    tok_pre *q = realloc(t->pres, (t->n_pres + 1) * sizeof *q);
    if (!q) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    t->pres = q;
    q[t->n_pres++] = *p;
    return LQMF_OK;
}

lqmf_status tok_pre_add_split(lqmf_tokenizer *t, const char *pattern, tok_split_behavior b, bool invert) {
    tok_pre p = {.kind = PRE_SPLIT, .behavior = b, .invert = invert};
    if (!(p.pattern = strdup(pattern))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    lqmf_status st = tok_regex_compile(pattern, strlen(pattern), &p.re);
    if (!st) st = tok_pre_add(t, &p);
    if (st) {
        tok_pre_clear(&p);
        return lqmf_error_prefix(st, "%s: pre-tokenizer", t->name);
    }
    return LQMF_OK;
}

lqmf_status tok_setup_pre_by_name(lqmf_tokenizer *t, const char *pre, bool *llama3) {
    for (size_t d = 0; d < sizeof g_pre_defs / sizeof g_pre_defs[0]; d++) {
        const pre_def *def = &g_pre_defs[d];
        bool hit = false;
        for (int k = 0; k < 8 && def->names[k] && !hit; k++) hit = strcmp(def->names[k], pre) == 0;
        if (!hit) continue;
        *llama3 = def->llama3;
        for (int k = 0; k < 6 && def->re[k]; k++) {
            lqmf_status st = tok_pre_add_split(t, def->re[k], SPLIT_ISOLATED, false);
            if (st) return st;
        }
        return LQMF_OK;
    }
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: pre-tokenizer '%s' (tokenizer.ggml.pre) is not supported",
                      t->name, pre);
}

const char *lqmf_tok_pre_name(const lqmf_tokenizer *t) {
    if (t->algo != LQMF_TOK_ALGO_BPE || !t->byte_level) return "default";
    const char *re[8];
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_pres; i++) {
        const tok_pre *p = &t->pres[i];
        if (p->kind == PRE_PREFIX) continue;
        if (p->kind != PRE_SPLIT || p->invert || p->behavior != SPLIT_ISOLATED || n == 8) return "default";
        re[n++] = p->pattern;
    }
    for (size_t d = 0; d < sizeof g_pre_defs / sizeof g_pre_defs[0]; d++) {
        const pre_def *def = &g_pre_defs[d];
        uint32_t k = 0;
        while (k < n && k < 6 && def->re[k] && strcmp(def->re[k], re[k]) == 0) k++;
        if (k == n && (k == 6 || !def->re[k])) return def->names[0];
    }
    return "default";
}

/* ---- splitting ------------------------------------------------------------ */

static bool words_push(tok_words *w, size_t off, size_t len) {
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        tok_span *s = realloc(w->spans, cap * sizeof *s);
        if (!s) return false;
        w->spans = s;
        w->cap = cap;
    }
    w->spans[w->n++] = (tok_span){(uint32_t)off, (uint32_t)len};
    return true;
}

/* Pieces of one word: alternating gaps and matches. */
typedef struct {
    size_t a, b;
    bool match;
} piece;

typedef struct {
    piece *p;
    size_t n, cap;
} pieces;

static bool pieces_push(pieces *ps, size_t a, size_t b, bool match) {
    if (a == b) return true;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        piece *p = realloc(ps->p, cap * sizeof *p);
        if (!p) return false;
        ps->p = p;
        ps->cap = cap;
    }
    ps->p[ps->n++] = (piece){a, b, match};
    return true;
}

static lqmf_status find_matches(const lqmf_tokenizer *t, tok_ctx *c, const pcre2_code *re, const char *s,
                                size_t n, pieces *ps) {
    size_t pos = 0, prev = 0;
    while (pos < n) {
        size_t a, b;
        int rc = tok_regex_match(re, s, n, pos, c->md, &a, &b);
        if (rc == 0) break;
        if (rc < 0)
            return lqmf_error(LQMF_E_INVALID, "%s: pre-tokenizer regex failed (pcre2 error %d%s)", t->name,
                              rc, rc == PCRE2_ERROR_MATCHLIMIT ? ": match limit" : "");
        if (b <= a) { /* empty match: step over one character */
            pos = a + tok_utf8_len((uint8_t)s[a]);
            continue;
        }
        if (!pieces_push(ps, prev, a, false) || !pieces_push(ps, a, b, true))
            return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
        prev = pos = b;
    }
    if (!pieces_push(ps, prev, n, false)) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    return LQMF_OK;
}

/* Occurrences of a literal (Metaspace's replacement) as match pieces. */
static lqmf_status find_literal(const lqmf_tokenizer *t, const char *lit, size_t ln, const char *s, size_t n,
                                pieces *ps) {
    size_t prev = 0;
    for (size_t i = 0; i + ln <= n;) {
        if (memcmp(s + i, lit, ln) == 0) {
            if (!pieces_push(ps, prev, i, false) || !pieces_push(ps, i, i + ln, true))
                return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
            i += ln;
            prev = i;
        } else {
            i++;
        }
    }
    if (!pieces_push(ps, prev, n, false)) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    return LQMF_OK;
}

/* Turn pieces into words per the delimiter behavior (Hugging Face's
 * SplitDelimiterBehavior), appending spans offset by base to out. */
static bool emit_pieces(pieces *ps, tok_split_behavior bh, bool invert, size_t base, tok_words *out) {
    size_t first = out->n;
    bool prev_match = false;
    if (invert)
        for (size_t i = 0; i < ps->n; i++) ps->p[i].match = !ps->p[i].match;
    if (bh == SPLIT_MERGED_NEXT) {
        /* walk backwards: a delimiter joins the word after it */
        size_t n = 0;
        for (size_t i = ps->n; i-- > 0;) {
            piece q = ps->p[i];
            if (q.match && !prev_match && n > 0)
                ps->p[ps->n - n].a = q.a; /* extend the kept one */
            else
                ps->p[ps->n - ++n] = q;
            prev_match = q.match;
        }
        for (size_t i = ps->n - n; i < ps->n; i++)
            if (!words_push(out, base + ps->p[i].a, ps->p[i].b - ps->p[i].a)) return false;
        return true;
    }
    for (size_t i = 0; i < ps->n; i++) {
        piece q = ps->p[i];
        bool extend = false;
        if (bh == SPLIT_REMOVED && q.match) continue;
        if (bh == SPLIT_MERGED_PREV) extend = q.match && !prev_match && out->n > first;
        if (bh == SPLIT_CONTIGUOUS) extend = q.match == prev_match && out->n > first;
        prev_match = q.match;
        if (extend) {
            tok_span *last = &out->spans[out->n - 1];
            last->len = (uint32_t)(base + q.b - last->off);
        } else if (!words_push(out, base + q.a, q.b - q.a)) {
            return false;
        }
    }
    return true;
}

/* One split step: every word of in is split; out shares in's text. */
static lqmf_status split_step(const lqmf_tokenizer *t, tok_ctx *c, const tok_pre *p, tok_words *in,
                              tok_words *out) {
    lqmf_buf tmp = out->text;
    out->text = in->text;
    in->text = tmp;
    out->n = 0;
    pieces ps = {0};
    lqmf_status st = LQMF_OK;
    const char *text = (const char *)out->text.data;
    for (size_t i = 0; i < in->n && !st; i++) {
        const tok_span *w = &in->spans[i];
        ps.n = 0;
        st = p->kind == PRE_SPLIT ? find_matches(t, c, p->re, text + w->off, w->len, &ps)
                                  : find_literal(t, p->rep, p->rep_len, text + w->off, w->len, &ps);
        if (!st && !emit_pieces(&ps, p->behavior, p->invert, w->off, out))
            st = lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    }
    free(ps.p);
    return st;
}

/* Rewrite each word into out's own text: ByteLevel's prefix space, or
 * Metaspace's replacement and prepend. */
static lqmf_status rewrite_step(const lqmf_tokenizer *t, const tok_pre *p, bool at_start, const tok_words *in,
                                tok_words *out) {
    out->text.len = 0;
    out->n = 0;
    const char *text = (const char *)in->text.data;
    for (size_t i = 0; i < in->n; i++) {
        const char *w = text + in->spans[i].off;
        size_t n = in->spans[i].len, start = out->text.len;
        if (p->kind == PRE_PREFIX) {
            if (n && w[0] != ' ') lqmf_buf_append(&out->text, " ", 1);
            lqmf_buf_append(&out->text, w, n);
        } else {
            bool starts_rep =
                n >= 1 && (w[0] == ' ' || (n >= p->rep_len && memcmp(w, p->rep, p->rep_len) == 0));
            bool prepend = p->scheme == PREPEND_ALWAYS || (p->scheme == PREPEND_FIRST && i == 0 && at_start);
            if (prepend && !starts_rep) lqmf_buf_append(&out->text, p->rep, p->rep_len);
            for (size_t k = 0; k < n; k++) {
                if (w[k] == ' ')
                    lqmf_buf_append(&out->text, p->rep, p->rep_len);
                else
                    lqmf_buf_append(&out->text, w + k, 1);
            }
        }
        if (!words_push(out, start, out->text.len - start)) out->text.failed = true;
    }
    if (out->text.failed) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    return LQMF_OK;
}

lqmf_status tok_pretokenize(const lqmf_tokenizer *t, tok_ctx *c, const char *s, size_t n, bool at_start,
                            tok_words **out) {
    tok_words *cur = &c->w[0], *nxt = &c->w[1];
    cur->text.len = 0;
    cur->n = 0;
    lqmf_buf_append(&cur->text, s, n);
    if (cur->text.failed || !words_push(cur, 0, n))
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    if (!c->md && t->n_pres && !(c->md = pcre2_match_data_create(1, NULL)))
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    for (uint32_t i = 0; i < t->n_pres; i++) {
        const tok_pre *p = &t->pres[i];
        lqmf_status st;
        if (p->kind == PRE_SPLIT) {
            st = split_step(t, c, p, cur, nxt);
        } else {
            st = rewrite_step(t, p, at_start, cur, nxt);
            if (!st && p->kind == PRE_METASPACE && p->split) {
                tok_words *tmp = cur;
                cur = nxt;
                nxt = tmp;
                tok_pre lit = *p;
                lit.behavior = SPLIT_MERGED_NEXT;
                lit.invert = false;
                st = split_step(t, c, &lit, cur, nxt);
            }
        }
        if (st) return st;
        tok_words *tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    *out = cur;
    return LQMF_OK;
}
