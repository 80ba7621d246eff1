/* A small Jinja interpreter for chat templates.
 *
 * Rendering follows transformers' environment: trim_blocks and
 * lstrip_blocks on, loop controls (break/continue) on, raise_exception()
 * available, messages / bos_token / eos_token / add_generation_prompt set
 * and tools / documents none. Values are Python-like: undefined, none, bool,
 * int, str, list, dict (a namespace is a dict). Everything of one render
 * lives in an arena freed at the end.
 *
 * Stages: the template is cut into chunks (text, {{ }}, {% %}, {# #}) with
 * whitespace control applied; statements and expressions are parsed into a
 * tree; the tree is evaluated into an output buffer. */
#include "tok_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define J_MAX_DEPTH 64           /* expression / statement nesting */
#define J_MAX_OUTPUT (64u << 20) /* bytes of rendered text */
#define J_MAX_STEPS 10000000u    /* loop iterations + output calls */

/* ---- arena ------------------------------------------------------------------- */

typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    max_align_t data[];
} arena_blk;

typedef struct {
    arena_blk *head;
    bool failed;
} arena;

static void *aalloc(arena *a, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        arena_blk *b = malloc(sizeof *b + cap);
        if (!b) {
            a->failed = true;
            return NULL;
        }
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(arena *a) {
    while (a->head) {
        arena_blk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

/* ---- values -------------------------------------------------------------------- */

/* V_FUNC: a global function used as a value (only "is defined" and
 * truthiness make sense of it). */
typedef enum { V_UNDEF, V_NONE, V_BOOL, V_INT, V_STR, V_LIST, V_DICT, V_FUNC } vtype;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct {
    vtype t;
    union {
        bool b;
        int64_t i;
        struct {
            const char *p;
            size_t n;
        } s;
        jlist *l;
        jdict *d;
    } u;
} jval;

struct jlist {
    jval *v;
    size_t n, cap;
};
struct jdict {
    const char **k;
    size_t *kn;
    jval *v;
    size_t n, cap;
};

static const jval UNDEF = {V_UNDEF, {0}};
static const jval NONE = {V_NONE, {0}};

static jval vbool(bool b) { return (jval){V_BOOL, {.b = b}}; }
static jval vint(int64_t i) { return (jval){V_INT, {.i = i}}; }
static jval vstr(const char *p, size_t n) {
    jval v = {V_STR, {0}};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

/* ---- interpreter state ------------------------------------------------------- */

typedef struct node node;
typedef struct expr expr;

typedef struct {
    jdict *vars;
} frame;

typedef struct {
    arena a;
    const char *src; /* template */
    lqmf_buf out;
    frame frames[J_MAX_DEPTH + 2];
    int n_frames;
    uint64_t steps;
    lqmf_status st; /* first error */
    int loop_ctl;   /* 1 break, 2 continue */
} jinja;

static int line_of(const jinja *j, size_t off) {
    int line = 1;
    for (size_t i = 0; i < off && j->src[i]; i++) line += j->src[i] == '\n';
    return line;
}

static bool jerr(jinja *j, lqmf_status st, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool jerr(jinja *j, lqmf_status st, size_t off, const char *fmt, ...) {
    if (j->st) return false;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->st = lqmf_error(st, "chat template line %d: %s", line_of(j, off), msg);
    return false;
}

static bool oom(jinja *j) { return jerr(j, LQMF_E_NOMEM, 0, "out of memory"); }

static char *astrdup(jinja *j, const char *s, size_t n) {
    char *p = aalloc(&j->a, n + 1);
    if (!p) return oom(j), NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static bool list_push(jinja *j, jlist *l, jval v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        jval *nv = aalloc(&j->a, cap * sizeof *nv);
        if (!nv) return oom(j);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return true;
}

static jval *dict_find(const jdict *d, const char *k, size_t kn) {
    for (size_t i = 0; d && i < d->n; i++)
        if (d->kn[i] == kn && memcmp(d->k[i], k, kn) == 0) return &d->v[i];
    return NULL;
}

static bool dict_set(jinja *j, jdict *d, const char *k, size_t kn, jval v) {
    jval *slot = dict_find(d, k, kn);
    if (slot) {
        *slot = v;
        return true;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        const char **nk = aalloc(&j->a, cap * sizeof *nk);
        size_t *nkn = aalloc(&j->a, cap * sizeof *nkn);
        jval *nv = aalloc(&j->a, cap * sizeof *nv);
        if (!nk || !nkn || !nv) return oom(j);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nkn, d->kn, d->n * sizeof *nkn);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk, d->kn = nkn, d->v = nv, d->cap = cap;
    }
    d->k[d->n] = k;
    d->kn[d->n] = kn;
    d->v[d->n++] = v;
    return true;
}

static jval new_list(jinja *j) {
    jval v = {V_LIST, {0}};
    if (!(v.u.l = aalloc(&j->a, sizeof *v.u.l))) oom(j);
    return v;
}

static jval new_dict(jinja *j) {
    jval v = {V_DICT, {0}};
    if (!(v.u.d = aalloc(&j->a, sizeof *v.u.d))) oom(j);
    return v;
}

static bool truthy(jval v) {
    switch (v.t) {
    case V_BOOL: return v.u.b;
    case V_INT: return v.u.i != 0;
    case V_STR: return v.u.s.n != 0;
    case V_LIST: return v.u.l->n != 0;
    case V_DICT: return v.u.d->n != 0;
    case V_FUNC: return true;
    default: return false;
    }
}

static bool equal(jval a, jval b) {
    if ((a.t == V_BOOL || a.t == V_INT) && (b.t == V_BOOL || b.t == V_INT))
        return (a.t == V_BOOL ? a.u.b : a.u.i) == (b.t == V_BOOL ? b.u.b : b.u.i);
    if (a.t != b.t) return false;
    switch (a.t) {
    case V_UNDEF:
    case V_NONE: return true;
    case V_STR: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case V_LIST:
        if (a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!equal(a.u.l->v[i], b.u.l->v[i])) return false;
        return true;
    case V_DICT: return a.u.d == b.u.d;
    default: return false;
    }
}

/* Write v as Jinja prints it (Python str() / repr() inside containers). */
static void write_json_str(lqmf_buf *b, const char *s, size_t n) {
    lqmf_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            lqmf_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            lqmf_buf_append(b, "\\n", 2);
        else if (c == '\t')
            lqmf_buf_append(b, "\\t", 2);
        else if (c == '\r')
            lqmf_buf_append(b, "\\r", 2);
        else if (c < 0x20)
            lqmf_buf_printf(b, "\\u%04x", c);
        else
            lqmf_buf_append(b, s + i, 1);
    }
    lqmf_buf_append(b, "\"", 1);
}

static void write_val(lqmf_buf *b, jval v, bool repr, bool json) {
    switch (v.t) {
    case V_UNDEF:
        if (json) lqmf_buf_append(b, "null", 4);
        break;
    case V_NONE: lqmf_buf_printf(b, "%s", json ? "null" : "None"); break;
    case V_BOOL:
        lqmf_buf_printf(b, "%s", json ? (v.u.b ? "true" : "false") : (v.u.b ? "True" : "False"));
        break;
    case V_INT: lqmf_buf_printf(b, "%lld", (long long)v.u.i); break;
    case V_STR:
        if (json)
            write_json_str(b, v.u.s.p, v.u.s.n);
        else if (repr)
            lqmf_buf_printf(b, "'%.*s'", (int)v.u.s.n, v.u.s.p);
        else
            lqmf_buf_append(b, v.u.s.p, v.u.s.n);
        break;
    case V_LIST:
        lqmf_buf_append(b, "[", 1);
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) lqmf_buf_append(b, ", ", 2);
            write_val(b, v.u.l->v[i], true, json);
        }
        lqmf_buf_append(b, "]", 1);
        break;
    case V_DICT:
        lqmf_buf_append(b, "{", 1);
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) lqmf_buf_append(b, ", ", 2);
            write_val(b, vstr(v.u.d->k[i], v.u.d->kn[i]), true, json);
            lqmf_buf_append(b, ": ", 2);
            write_val(b, v.u.d->v[i], true, json);
        }
        lqmf_buf_append(b, "}", 1);
        break;
    case V_FUNC: break;
    }
}

/* v as a string value (str() of it). */
static jval to_str(jinja *j, jval v) {
    if (v.t == V_STR) return v;
    lqmf_buf b;
    lqmf_buf_init(&b);
    write_val(&b, v, false, false);
    char *s = astrdup(j, b.data ? (const char *)b.data : "", b.len);
    jval r = vstr(s ? s : "", s ? b.len : 0);
    lqmf_buf_free(&b);
    return r;
}

static jval concat(jinja *j, jval a, jval b) {
    a = to_str(j, a);
    b = to_str(j, b);
    char *s = aalloc(&j->a, a.u.s.n + b.u.s.n + 1);
    if (!s) return oom(j), vstr("", 0);
    memcpy(s, a.u.s.p, a.u.s.n);
    memcpy(s + a.u.s.n, b.u.s.p, b.u.s.n);
    return vstr(s, a.u.s.n + b.u.s.n);
}

/* ---- template chunks --------------------------------------------------------- */

typedef enum { C_TEXT, C_VAR, C_BLOCK, C_COMMENT } ckind;

typedef struct {
    ckind kind;
    size_t off, len;            /* inside the delimiters for tags */
    bool trim_left, trim_right; /* '-' on the tag's inner side */
    bool plus;                  /* '+' : no lstrip_blocks */
} chunk;

typedef struct {
    chunk *c;
    size_t n, cap;
} chunks;

static bool chunk_push(jinja *j, chunks *cs, chunk c) {
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 64;
        chunk *nc = aalloc(&j->a, cap * sizeof *nc);
        if (!nc) return oom(j);
        if (cs->n) memcpy(nc, cs->c, cs->n * sizeof *nc);
        cs->c = nc;
        cs->cap = cap;
    }
    cs->c[cs->n++] = c;
    return true;
}

/* Find the end of a tag, skipping string literals. */
static const char *tag_end(const char *p, const char *close) {
    char q = 0;
    for (; *p; p++) {
        if (q) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == q)
                q = 0;
        } else if (*p == '\'' || *p == '"') {
            q = *p;
        } else if (p[0] == close[0] && p[1] == close[1]) {
            return p;
        }
    }
    return NULL;
}

static bool split_chunks(jinja *j, chunks *cs) {
    const char *s = j->src, *p = s;
    size_t total = strlen(s);
    if (total && s[total - 1] == '\n')
        total -= total > 1 && s[total - 2] == '\r' ? 2 : 1; /* keep_trailing_newline off */
    while ((size_t)(p - s) < total) {
        const char *open = strchr(p, '{');
        while (open && open[1] != '{' && open[1] != '%' && open[1] != '#') open = strchr(open + 1, '{');
        if (!open || (size_t)(open - s) >= total)
            return chunk_push(j, cs,
                              (chunk){C_TEXT, (size_t)(p - s), total - (size_t)(p - s), false, false, false});
        if (open > p &&
            !chunk_push(j, cs, (chunk){C_TEXT, (size_t)(p - s), (size_t)(open - p), false, false, false}))
            return false;
        char kind = open[1];
        const char *close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
        const char *in = open + 2;
        const char *end = kind == '#' ? strstr(in, "#}") : tag_end(in, close);
        if (!end) return jerr(j, LQMF_E_FORMAT, (size_t)(open - s), "tag is not closed with '%s'", close);
        chunk c = {kind == '{' ? C_VAR : kind == '%' ? C_BLOCK : C_COMMENT, 0, 0, false, false, false};
        if (*in == '-')
            c.trim_left = true, in++;
        else if (*in == '+')
            c.plus = true, in++;
        const char *stop = end;
        if (stop > in && stop[-1] == '-') c.trim_right = true, stop--;
        c.off = (size_t)(in - s);
        c.len = (size_t)(stop - in);
        if (!chunk_push(j, cs, c)) return false;
        p = end + 2;
    }
    return true;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Whitespace control on text chunk i: returns the kept [a, b). */
static void text_bounds(const jinja *j, const chunks *cs, size_t i, size_t *a, size_t *b) {
    const chunk *c = &cs->c[i], *prev = i ? &cs->c[i - 1] : NULL,
                *next = i + 1 < cs->n ? &cs->c[i + 1] : NULL;
    const char *s = j->src;
    *a = c->off;
    *b = c->off + c->len;
    if (prev && prev->trim_right) {
        while (*a < *b && is_blank(s[*a])) (*a)++;
    } else if (prev && prev->kind != C_VAR) { /* trim_blocks: one newline after a block */
        if (*a < *b && s[*a] == '\n')
            (*a)++;
        else if (*a + 1 < *b && s[*a] == '\r' && s[*a + 1] == '\n')
            *a += 2;
    }
    if (next && next->trim_left) {
        while (*b > *a && is_blank(s[*b - 1])) (*b)--;
    } else if (next && next->kind != C_VAR && !next->plus) { /* lstrip_blocks */
        size_t k = *b;
        while (k > *a && (s[k - 1] == ' ' || s[k - 1] == '\t')) k--;
        if (k == 0 || s[k - 1] == '\n') *b = k; /* only blanks between a line start and the tag */
    }
}

/* ---- expression tokens --------------------------------------------------------- */

typedef enum { T_END, T_NAME, T_STR, T_INT, T_OP } ttype;

typedef struct {
    ttype t;
    size_t off; /* in the template */
    const char *p;
    size_t n; /* T_STR: decoded string in the arena */
    int64_t i;
} token;

typedef struct {
    jinja *j;
    token *tk;
    size_t n, pos;
} lexer;

static bool lex_string(jinja *j, const char *s, size_t *k, size_t end, token *t) {
    char q = s[*k];
    lqmf_buf b;
    lqmf_buf_init(&b);
    size_t i = *k + 1;
    for (; i < end && s[i] != q; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < end) {
            char e = s[++i];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '0' ? '\0' : e;
        }
        lqmf_buf_append(&b, &c, 1);
    }
    if (i >= end) {
        lqmf_buf_free(&b);
        return jerr(j, LQMF_E_FORMAT, *k, "unterminated string literal");
    }
    t->t = T_STR;
    t->n = b.len;
    t->p = astrdup(j, b.data ? (const char *)b.data : "", b.len);
    lqmf_buf_free(&b);
    *k = i + 1;
    return t->p != NULL;
}

static bool tokenize_tag(jinja *j, size_t off, size_t len, lexer *lx) {
    const char *s = j->src;
    size_t k = off, end = off + len, cap = 16;
    lx->j = j;
    lx->n = lx->pos = 0;
    lx->tk = aalloc(&j->a, cap * sizeof *lx->tk);
    if (!lx->tk) return oom(j);
    for (;;) {
        while (k < end && is_blank(s[k])) k++;
        if (lx->n + 1 >= cap) {
            token *nt = aalloc(&j->a, cap * 2 * sizeof *nt);
            if (!nt) return oom(j);
            memcpy(nt, lx->tk, lx->n * sizeof *nt);
            lx->tk = nt;
            cap *= 2;
        }
        token *t = &lx->tk[lx->n];
        *t = (token){T_END, k, s + k, 0, 0};
        if (k >= end) {
            lx->n++;
            return true;
        }
        char c = s[k];
        if (c == '_' || ((c | 32) >= 'a' && (c | 32) <= 'z')) {
            size_t a = k;
            while (k < end && (s[k] == '_' || ((s[k] | 32) >= 'a' && (s[k] | 32) <= 'z') ||
                               (s[k] >= '0' && s[k] <= '9')))
                k++;
            t->t = T_NAME, t->n = k - a;
        } else if (c >= '0' && c <= '9') {
            int64_t v = 0;
            while (k < end && s[k] >= '0' && s[k] <= '9') {
                if (v > (INT64_MAX - 9) / 10) return jerr(j, LQMF_E_FORMAT, k, "integer literal too large");
                v = v * 10 + (s[k++] - '0');
            }
            if (k < end && s[k] == '.' && k + 1 < end && s[k + 1] >= '0' && s[k + 1] <= '9')
                return jerr(j, LQMF_E_UNSUPPORTED, k, "unsupported construct: floating-point literal");
            t->t = T_INT, t->i = v;
        } else if (c == '\'' || c == '"') {
            if (!lex_string(j, s, &k, end, t)) return false;
        } else {
            static const char *two[] = {"==", "!=", "<=", ">=", "//", "**"};
            t->t = T_OP, t->n = 1;
            for (int q = 0; q < 6; q++)
                if (k + 1 < end && s[k] == two[q][0] && s[k + 1] == two[q][1]) t->n = 2;
            if (!strchr("()[]{}.,:|+-*/%~<>=!", c))
                return jerr(j, LQMF_E_FORMAT, k, "unexpected character '%c' in expression", c);
            k += t->n;
        }
        lx->n++;
    }
}

static token *peek(lexer *lx) { return &lx->tk[lx->pos]; }
static bool is_op(const token *t, const char *op) {
    return t->t == T_OP && t->n == strlen(op) && memcmp(t->p, op, t->n) == 0;
}
static bool is_name(const token *t, const char *name) {
    return t->t == T_NAME && t->n == strlen(name) && memcmp(t->p, name, t->n) == 0;
}
static bool accept_op(lexer *lx, const char *op) {
    if (!is_op(peek(lx), op)) return false;
    lx->pos++;
    return true;
}
static bool accept_name(lexer *lx, const char *name) {
    if (!is_name(peek(lx), name)) return false;
    lx->pos++;
    return true;
}
static bool expect_op(lexer *lx, const char *op) {
    if (accept_op(lx, op)) return true;
    token *t = peek(lx);
    return jerr(lx->j, LQMF_E_FORMAT, t->off, "expected '%s' but found '%.*s'", op,
                (int)(t->t == T_END ? 3 : t->n), t->t == T_END ? "end" : t->p);
}

/* ---- expressions -------------------------------------------------------------------- */

typedef enum {
    E_LIT,
    E_NAME,
    E_LIST,
    E_DICT,
    E_ATTR,
    E_INDEX,
    E_SLICE,
    E_CALL,
    E_METHOD,
    E_FILTER,
    E_TEST,
    E_NOT,
    E_NEG,
    E_AND,
    E_OR,
    E_BIN,
    E_COND
} ekind;

struct expr {
    ekind k;
    size_t off;
    jval lit;
    const char *name; /* E_NAME, E_ATTR, E_METHOD, E_FILTER, E_TEST, E_BIN (operator), E_CALL */
    size_t name_n;
    expr *a, *b, *c; /* operands */
    expr **args;     /* call / filter / method / list / dict (key, value pairs) */
    const char **kw; /* keyword names for args (NULL entries: positional) */
    size_t n_args;
    bool negate; /* E_TEST: is not; E_BIN "in": not in */
};

static expr *parse_expr(lexer *lx, int depth);

static expr *mk(lexer *lx, ekind k, size_t off) {
    expr *e = aalloc(&lx->j->a, sizeof *e);
    if (!e) return oom(lx->j), NULL;
    e->k = k;
    e->off = off;
    return e;
}

/* Arguments "(a, b, key=c)" after the opening parenthesis. */
static bool parse_args(lexer *lx, expr *e, int depth) {
    size_t cap = 4;
    e->args = aalloc(&lx->j->a, cap * sizeof *e->args);
    e->kw = aalloc(&lx->j->a, cap * sizeof *e->kw);
    if (!e->args || !e->kw) return oom(lx->j);
    while (!accept_op(lx, ")")) {
        if (e->n_args && !expect_op(lx, ",")) return false;
        if (accept_op(lx, ")")) break; /* trailing comma */
        if (e->n_args == cap) {
            expr **na = aalloc(&lx->j->a, cap * 2 * sizeof *na);
            const char **nk = aalloc(&lx->j->a, cap * 2 * sizeof *nk);
            if (!na || !nk) return oom(lx->j);
            memcpy(na, e->args, cap * sizeof *na);
            memcpy(nk, e->kw, cap * sizeof *nk);
            e->args = na, e->kw = nk, cap *= 2;
        }
        token *t = peek(lx);
        if (t->t == T_NAME && is_op(&lx->tk[lx->pos + 1], "=")) {
            e->kw[e->n_args] = astrdup(lx->j, t->p, t->n);
            lx->pos += 2;
        }
        if (!(e->args[e->n_args++] = parse_expr(lx, depth + 1))) return false;
    }
    return true;
}

static expr *parse_primary(lexer *lx, int depth) {
    token *t = peek(lx);
    jinja *j = lx->j;
    if (depth > J_MAX_DEPTH) return jerr(j, LQMF_E_FORMAT, t->off, "expression nested too deep"), NULL;
    expr *e;
    if (t->t == T_STR || t->t == T_INT) {
        lx->pos++;
        if (!(e = mk(lx, E_LIT, t->off))) return NULL;
        e->lit = t->t == T_STR ? vstr(t->p, t->n) : vint(t->i);
        return e;
    }
    if (t->t == T_NAME) {
        lx->pos++;
        if (!(e = mk(lx, E_LIT, t->off))) return NULL;
        if (is_name(t, "true") || is_name(t, "True"))
            e->lit = vbool(true);
        else if (is_name(t, "false") || is_name(t, "False"))
            e->lit = vbool(false);
        else if (is_name(t, "none") || is_name(t, "None"))
            e->lit = NONE;
        else
            e->k = E_NAME, e->name = t->p, e->name_n = t->n;
        return e;
    }
    if (accept_op(lx, "(")) {
        e = parse_expr(lx, depth + 1);
        if (e && is_op(peek(lx), ","))
            return jerr(j, LQMF_E_UNSUPPORTED, peek(lx)->off, "unsupported construct: tuple"), NULL;
        return e && expect_op(lx, ")") ? e : NULL;
    }
    if (accept_op(lx, "[")) {
        if (!(e = mk(lx, E_LIST, t->off))) return NULL;
        lqmf_buf items;
        lqmf_buf_init(&items);
        while (!accept_op(lx, "]")) {
            if (items.len && !expect_op(lx, ",")) break;
            if (accept_op(lx, "]")) break;
            expr *x = parse_expr(lx, depth + 1);
            if (!x) break;
            lqmf_buf_append(&items, &x, sizeof x);
        }
        e->n_args = items.len / sizeof(expr *);
        e->args = aalloc(&j->a, items.len + 1);
        if (e->args && items.len) memcpy(e->args, items.data, items.len);
        lqmf_buf_free(&items);
        return j->st ? NULL : e;
    }
    if (accept_op(lx, "{")) {
        if (!(e = mk(lx, E_DICT, t->off))) return NULL;
        lqmf_buf items;
        lqmf_buf_init(&items);
        while (!accept_op(lx, "}")) {
            if (items.len && !expect_op(lx, ",")) break;
            if (accept_op(lx, "}")) break;
            expr *k = parse_expr(lx, depth + 1);
            if (!k || !expect_op(lx, ":")) break;
            expr *v = parse_expr(lx, depth + 1);
            if (!v) break;
            lqmf_buf_append(&items, &k, sizeof k);
            lqmf_buf_append(&items, &v, sizeof v);
        }
        e->n_args = items.len / sizeof(expr *);
        e->args = aalloc(&j->a, items.len + 1);
        if (e->args && items.len) memcpy(e->args, items.data, items.len);
        lqmf_buf_free(&items);
        return j->st ? NULL : e;
    }
    jerr(j, LQMF_E_FORMAT, t->off, "unexpected '%.*s' in expression", (int)(t->t == T_END ? 3 : t->n),
         t->t == T_END ? "end" : t->p);
    return NULL;
}

static expr *parse_postfix(lexer *lx, int depth) {
    expr *e = parse_primary(lx, depth);
    while (e) {
        token *t = peek(lx);
        if (accept_op(lx, ".")) {
            token *n = peek(lx);
            if (n->t != T_NAME) return jerr(lx->j, LQMF_E_FORMAT, n->off, "expected a name after '.'"), NULL;
            lx->pos++;
            expr *x = mk(lx, is_op(peek(lx), "(") ? E_METHOD : E_ATTR, n->off);
            if (!x) return NULL;
            x->a = e, x->name = n->p, x->name_n = n->n;
            if (x->k == E_METHOD && (lx->pos++, !parse_args(lx, x, depth))) return NULL;
            e = x;
        } else if (accept_op(lx, "[")) {
            expr *x = mk(lx, E_INDEX, t->off), *parts[3] = {0};
            if (!x) return NULL;
            int k = 0;
            bool slice = false;
            while (k < 3) {
                if (!is_op(peek(lx), ":") && !is_op(peek(lx), "]") && !(parts[k] = parse_expr(lx, depth + 1)))
                    return NULL;
                if (!accept_op(lx, ":")) break;
                slice = true;
                k++;
            }
            if (!expect_op(lx, "]")) return NULL;
            x->k = slice ? E_SLICE : E_INDEX;
            x->a = e, x->b = parts[0], x->c = parts[1];
            x->args = aalloc(&lx->j->a, sizeof *x->args);
            if (!x->args) return oom(lx->j), NULL;
            x->args[0] = parts[2];
            if (!slice && !parts[0]) return jerr(lx->j, LQMF_E_FORMAT, t->off, "empty subscript"), NULL;
            e = x;
        } else if (accept_op(lx, "(")) {
            if (e->k != E_NAME)
                return jerr(lx->j, LQMF_E_UNSUPPORTED, t->off, "unsupported construct: calling a non-name"),
                       NULL;
            e->k = E_CALL;
            if (!parse_args(lx, e, depth)) return NULL;
        } else {
            break;
        }
    }
    return e;
}

/* Filters (x | f(args)) and tests (x is [not] t(args)) bind tighter than operators. */
static expr *parse_filtered(lexer *lx, int depth) {
    expr *e = parse_postfix(lx, depth);
    while (e) {
        token *t = peek(lx);
        bool filter = is_op(t, "|"), test = is_name(t, "is");
        if (!filter && !test) break;
        lx->pos++;
        expr *x = mk(lx, filter ? E_FILTER : E_TEST, t->off);
        if (!x) return NULL;
        if (test && accept_name(lx, "not")) x->negate = true;
        token *n = peek(lx);
        if (n->t != T_NAME)
            return jerr(lx->j, LQMF_E_FORMAT, n->off, "expected a %s name", filter ? "filter" : "test"), NULL;
        lx->pos++;
        x->a = e, x->name = n->p, x->name_n = n->n;
        if (accept_op(lx, "(") && !parse_args(lx, x, depth)) return NULL;
        if (test && !x->n_args && (peek(lx)->t == T_STR || peek(lx)->t == T_INT)) { /* "is eq 1" style */
            x->args = aalloc(&lx->j->a, sizeof *x->args);
            x->kw = aalloc(&lx->j->a, sizeof *x->kw);
            if (!x->args || !x->kw || !(x->args[0] = parse_primary(lx, depth + 1))) return NULL;
            x->n_args = 1;
        }
        e = x;
    }
    return e;
}

static expr *parse_unary(lexer *lx, int depth) {
    token *t = peek(lx);
    if (accept_op(lx, "-") || accept_op(lx, "+")) {
        bool neg = is_op(t, "-");
        expr *a = parse_unary(lx, depth + 1);
        if (!a || !neg) return a;
        expr *e = mk(lx, E_NEG, t->off);
        if (e) e->a = a;
        return e;
    }
    return parse_filtered(lx, depth);
}

static expr *binary(lexer *lx, expr *a, expr *b, const char *op, size_t off) {
    if (!a || !b) return NULL;
    expr *e = mk(lx, E_BIN, off);
    if (!e) return NULL;
    e->a = a, e->b = b, e->name = op, e->name_n = strlen(op);
    return e;
}

static expr *parse_mul(lexer *lx, int depth) {
    expr *e = parse_unary(lx, depth);
    for (;;) {
        token *t = peek(lx);
        const char *op = is_op(t, "*")    ? "*"
                         : is_op(t, "//") ? "//"
                         : is_op(t, "/")  ? "/"
                         : is_op(t, "%")  ? "%"
                                          : NULL;
        if (!e || !op) return e;
        lx->pos++;
        e = binary(lx, e, parse_unary(lx, depth + 1), op, t->off);
    }
}

static expr *parse_concat(lexer *lx, int depth) {
    expr *e = parse_mul(lx, depth);
    while (e && is_op(peek(lx), "~")) {
        size_t off = peek(lx)->off;
        lx->pos++;
        e = binary(lx, e, parse_mul(lx, depth + 1), "~", off);
    }
    return e;
}

static expr *parse_add(lexer *lx, int depth) {
    expr *e = parse_concat(lx, depth);
    for (;;) {
        token *t = peek(lx);
        const char *op = is_op(t, "+") ? "+" : is_op(t, "-") ? "-" : NULL;
        if (!e || !op) return e;
        lx->pos++;
        e = binary(lx, e, parse_concat(lx, depth + 1), op, t->off);
    }
}

static expr *parse_compare(lexer *lx, int depth) {
    expr *e = parse_add(lx, depth);
    for (;;) {
        token *t = peek(lx);
        static const char *ops[] = {"==", "!=", "<=", ">=", "<", ">"};
        const char *op = NULL;
        for (int k = 0; k < 6 && !op; k++)
            if (is_op(t, ops[k])) op = ops[k];
        bool not_in = is_name(t, "not") && is_name(&lx->tk[lx->pos + 1], "in");
        if (!op && (is_name(t, "in") || not_in)) op = "in";
        if (!e || !op) return e;
        lx->pos += not_in ? 2 : 1;
        e = binary(lx, e, parse_add(lx, depth + 1), op, t->off);
        if (e) e->negate = not_in;
    }
}

static expr *parse_not(lexer *lx, int depth) {
    token *t = peek(lx);
    if (accept_name(lx, "not")) {
        expr *a = parse_not(lx, depth + 1), *e = a ? mk(lx, E_NOT, t->off) : NULL;
        if (e) e->a = a;
        return e;
    }
    return parse_compare(lx, depth);
}

static expr *parse_and(lexer *lx, int depth) {
    expr *e = parse_not(lx, depth);
    while (e && is_name(peek(lx), "and")) {
        size_t off = peek(lx)->off;
        lx->pos++;
        expr *b = parse_not(lx, depth + 1), *x = b ? mk(lx, E_AND, off) : NULL;
        if (!x) return NULL;
        x->a = e, x->b = b, e = x;
    }
    return e;
}

static expr *parse_or(lexer *lx, int depth) {
    expr *e = parse_and(lx, depth);
    while (e && is_name(peek(lx), "or")) {
        size_t off = peek(lx)->off;
        lx->pos++;
        expr *b = parse_and(lx, depth + 1), *x = b ? mk(lx, E_OR, off) : NULL;
        if (!x) return NULL;
        x->a = e, x->b = b, e = x;
    }
    return e;
}

static expr *parse_expr(lexer *lx, int depth) {
    if (depth > J_MAX_DEPTH)
        return jerr(lx->j, LQMF_E_FORMAT, peek(lx)->off, "expression nested too deep"), NULL;
    expr *e = parse_or(lx, depth);
    token *t = peek(lx);
    if (e && accept_name(lx, "if")) { /* a if cond else b */
        expr *x = mk(lx, E_COND, t->off);
        if (!x || !(x->b = parse_or(lx, depth + 1))) return NULL;
        x->a = e;
        if (accept_name(lx, "else") && !(x->c = parse_expr(lx, depth + 1))) return NULL;
        e = x;
    }
    return e;
}

/* ---- statements ------------------------------------------------------------------------ */

typedef enum { N_TEXT, N_OUT, N_IF, N_FOR, N_SET, N_BREAK, N_CONTINUE } nkind;

struct node {
    nkind k;
    size_t off;
    node *next;
    const char *text; /* N_TEXT */
    size_t text_n;
    expr *e;            /* N_OUT value, N_IF condition, N_FOR iterable, N_SET value */
    expr *filter;       /* N_FOR "if" filter */
    node *body, *alt;   /* N_IF then / else (an elif is an N_IF in alt); N_FOR body / else */
    const char *var[2]; /* N_FOR targets; N_SET name [and attribute] */
    size_t var_n[2];
    int n_vars;
};

typedef struct {
    jinja *j;
    chunks cs;
    size_t i; /* next chunk */
} tparser;

static node *parse_body(tparser *tp, const char *const *ends, int n_ends, int *which, lexer *end_lx,
                        int depth);

/* The tag's first word; lexes the whole tag into lx. */
static bool tag_word(tparser *tp, const chunk *c, lexer *lx, const char **w, size_t *wn) {
    if (!tokenize_tag(tp->j, c->off, c->len, lx)) return false;
    token *t = peek(lx);
    if (t->t != T_NAME) return jerr(tp->j, LQMF_E_FORMAT, c->off, "expected a statement name");
    *w = t->p;
    *wn = t->n;
    lx->pos++;
    return true;
}

static bool at_end(lexer *lx) {
    token *t = peek(lx);
    if (t->t == T_END) return true;
    return jerr(lx->j, LQMF_E_FORMAT, t->off, "unexpected '%.*s' at the end of the tag", (int)t->n, t->p);
}

static node *mknode(tparser *tp, nkind k, size_t off) {
    node *n = aalloc(&tp->j->a, sizeof *n);
    if (!n) return oom(tp->j), NULL;
    n->k = k;
    n->off = off;
    return n;
}

static node *parse_if(tparser *tp, lexer *lx, size_t off, int depth) {
    static const char *const ends[] = {"elif", "else", "endif"};
    node *n = mknode(tp, N_IF, off);
    if (!n || !(n->e = parse_expr(lx, 0)) || !at_end(lx)) return NULL;
    int which;
    lexer end_lx;
    if (!(n->body = parse_body(tp, ends, 3, &which, &end_lx, depth + 1)) && tp->j->st) return NULL;
    if (which == 0) { /* elif: a nested if in the else branch */
        if (!(n->alt = parse_if(tp, &end_lx, end_lx.tk[0].off, depth + 1))) return NULL;
    } else if (which == 1) {
        if (!at_end(&end_lx)) return NULL;
        static const char *const fin[] = {"endif"};
        if (!(n->alt = parse_body(tp, fin, 1, &which, &end_lx, depth + 1)) && tp->j->st) return NULL;
    }
    return n;
}

static bool parse_target(tparser *tp, lexer *lx, node *n) {
    do {
        token *t = peek(lx);
        if (t->t != T_NAME || n->n_vars == 2)
            return jerr(tp->j, LQMF_E_FORMAT, t->off, "expected a loop variable name");
        n->var[n->n_vars] = t->p;
        n->var_n[n->n_vars++] = t->n;
        lx->pos++;
    } while (accept_op(lx, ","));
    return true;
}

static node *parse_for(tparser *tp, lexer *lx, size_t off, int depth) {
    static const char *const ends[] = {"else", "endfor"};
    node *n = mknode(tp, N_FOR, off);
    if (!n || !parse_target(tp, lx, n)) return NULL;
    if (!accept_name(lx, "in")) return jerr(tp->j, LQMF_E_FORMAT, off, "expected 'in' in for"), NULL;
    if (!(n->e = parse_or(lx, 0))) return NULL;
    if (accept_name(lx, "if") && !(n->filter = parse_expr(lx, 0))) return NULL;
    if (accept_name(lx, "recursive"))
        return jerr(tp->j, LQMF_E_UNSUPPORTED, off, "unsupported construct: recursive for"), NULL;
    if (!at_end(lx)) return NULL;
    int which;
    lexer end_lx;
    if (!(n->body = parse_body(tp, ends, 2, &which, &end_lx, depth + 1)) && tp->j->st) return NULL;
    if (which == 0) {
        static const char *const fin[] = {"endfor"};
        if (!at_end(&end_lx) || (!(n->alt = parse_body(tp, fin, 1, &which, &end_lx, depth + 1)) && tp->j->st))
            return NULL;
    }
    return n;
}

static node *parse_set(tparser *tp, lexer *lx, size_t off) {
    node *n = mknode(tp, N_SET, off);
    token *t = peek(lx);
    if (!n) return NULL;
    if (t->t != T_NAME) return jerr(tp->j, LQMF_E_FORMAT, t->off, "expected a name after set"), NULL;
    n->var[0] = t->p, n->var_n[0] = t->n, n->n_vars = 1;
    lx->pos++;
    if (accept_op(lx, ".")) {
        t = peek(lx);
        if (t->t != T_NAME) return jerr(tp->j, LQMF_E_FORMAT, t->off, "expected an attribute name"), NULL;
        n->var[1] = t->p, n->var_n[1] = t->n, n->n_vars = 2;
        lx->pos++;
    }
    if (is_op(peek(lx), ","))
        return jerr(tp->j, LQMF_E_UNSUPPORTED, off, "unsupported construct: set with several targets"), NULL;
    if (peek(lx)->t == T_END)
        return jerr(tp->j, LQMF_E_UNSUPPORTED, off, "unsupported construct: block set"), NULL;
    if (!expect_op(lx, "=") || !(n->e = parse_expr(lx, 0)) || !at_end(lx)) return NULL;
    return n;
}

/* Parse nodes until one of the end words (then *which is its index and end_lx
 * holds the tokens after it) or the end of the template (ends == NULL). */
static node *parse_body(tparser *tp, const char *const *ends, int n_ends, int *which, lexer *end_lx,
                        int depth) {
    jinja *j = tp->j;
    node *head = NULL, **tail = &head;
    if (depth > J_MAX_DEPTH) return jerr(j, LQMF_E_FORMAT, 0, "blocks nested too deep"), NULL;
    *which = -1;
    while (tp->i < tp->cs.n) {
        size_t ci = tp->i++;
        const chunk *c = &tp->cs.c[ci];
        node *n = NULL;
        if (c->kind == C_COMMENT) continue;
        if (c->kind == C_TEXT) {
            size_t a, b;
            text_bounds(j, &tp->cs, ci, &a, &b);
            if (a == b) continue;
            if ((n = mknode(tp, N_TEXT, c->off))) n->text = j->src + a, n->text_n = b - a;
        } else if (c->kind == C_VAR) {
            lexer lx;
            if (!tokenize_tag(j, c->off, c->len, &lx)) return NULL;
            if ((n = mknode(tp, N_OUT, c->off)) && (!(n->e = parse_expr(&lx, 0)) || !at_end(&lx)))
                return NULL;
        } else {
            lexer lx;
            const char *w = "";
            size_t wn = 0;
            if (!tag_word(tp, c, &lx, &w, &wn)) return NULL;
            for (int k = 0; k < n_ends; k++)
                if (strlen(ends[k]) == wn && memcmp(ends[k], w, wn) == 0) {
                    *which = k;
                    *end_lx = lx;
                    return head;
                }
#define WORD(s) (wn == sizeof(s) - 1 && memcmp(w, s, wn) == 0)
            if (WORD("if"))
                n = parse_if(tp, &lx, c->off, depth);
            else if (WORD("for"))
                n = parse_for(tp, &lx, c->off, depth);
            else if (WORD("set"))
                n = parse_set(tp, &lx, c->off);
            else if (WORD("break") || WORD("continue")) {
                if (!at_end(&lx)) return NULL;
                n = mknode(tp, WORD("break") ? N_BREAK : N_CONTINUE, c->off);
            } else if (WORD("generation") || WORD("endgeneration")) {
                continue; /* transformers' assistant-mask markers: no output */
            } else if (WORD("elif") || WORD("else") || WORD("endif") || WORD("endfor")) {
                return jerr(j, LQMF_E_FORMAT, c->off, "'%.*s' without a matching opening tag", (int)wn, w),
                       NULL;
            } else {
                return jerr(j, LQMF_E_UNSUPPORTED, c->off, "unsupported construct: {%% %.*s %%}", (int)wn, w),
                       NULL;
            }
#undef WORD
        }
        if (!n) return NULL;
        *tail = n;
        tail = &n->next;
    }
    if (ends)
        return jerr(j, LQMF_E_FORMAT, j->src[0] ? strlen(j->src) - 1 : 0, "missing {%% %s %%}",
                    ends[n_ends - 1]),
               NULL;
    return head;
}

/* ---- evaluation ------------------------------------------------------------------- */

static jval eval(jinja *j, const expr *e);

static jval lookup(jinja *j, const char *name, size_t n) {
    for (int f = j->n_frames - 1; f >= 0; f--) {
        jval *v = dict_find(j->frames[f].vars, name, n);
        if (v) return *v;
    }
    static const char *const funcs[] = {"raise_exception", "namespace", "range", "strftime_now", "dict"};
    for (size_t k = 0; k < sizeof funcs / sizeof funcs[0]; k++)
        if (strlen(funcs[k]) == n && !memcmp(funcs[k], name, n)) return (jval){V_FUNC, {0}};
    return UNDEF;
}

static bool name_is(const expr *e, const char *s) {
    return e->name_n == strlen(s) && !memcmp(e->name, s, e->name_n);
}

static jval getattr(jval obj, const char *name, size_t n) {
    if (obj.t == V_DICT) {
        jval *v = dict_find(obj.u.d, name, n);
        return v ? *v : UNDEF;
    }
    return UNDEF;
}

static bool need(jinja *j, const expr *e, jval v, vtype t, const char *what) {
    if (v.t == t) return true;
    static const char *names[] = {"undefined", "none",   "a boolean", "an integer",
                                  "a string",  "a list", "a dict",    "a function"};
    return jerr(j, LQMF_E_INVALID, e->off, "%s needs %s, got %s", what, names[t], names[v.t]);
}

static jval subscript(jinja *j, const expr *e, jval obj, jval key) {
    if (obj.t == V_DICT) {
        key = to_str(j, key);
        return getattr(obj, key.u.s.p, key.u.s.n);
    }
    if (obj.t != V_LIST && obj.t != V_STR) return UNDEF;
    if (key.t != V_INT) return jerr(j, LQMF_E_INVALID, e->off, "index must be an integer"), UNDEF;
    int64_t n = obj.t == V_LIST ? (int64_t)obj.u.l->n : (int64_t)obj.u.s.n,
            i = key.u.i < 0 ? key.u.i + n : key.u.i;
    if (i < 0 || i >= n) return UNDEF;
    return obj.t == V_LIST ? obj.u.l->v[i] : vstr(obj.u.s.p + i, 1);
}

static jval slice(jinja *j, const expr *e, jval obj) {
    int64_t n = obj.t == V_LIST ? (int64_t)obj.u.l->n : obj.t == V_STR ? (int64_t)obj.u.s.n : -1;
    if (n < 0) return jerr(j, LQMF_E_INVALID, e->off, "only lists and strings can be sliced"), UNDEF;
    jval vs[3] = {UNDEF, UNDEF, UNDEF};
    const expr *parts[3] = {e->b, e->c, e->args[0]};
    for (int k = 0; k < 3; k++)
        if (parts[k] && (vs[k] = eval(j, parts[k])).t != V_INT && vs[k].t != V_NONE)
            return jerr(j, LQMF_E_INVALID, e->off, "slice bounds must be integers"), UNDEF;
    int64_t step = vs[2].t == V_INT ? vs[2].u.i : 1;
    if (step == 0) return jerr(j, LQMF_E_INVALID, e->off, "slice step is zero"), UNDEF;
    int64_t lo = step > 0 ? 0 : n - 1, hi = step > 0 ? n : -1;
    for (int k = 0; k < 2; k++) {
        if (vs[k].t != V_INT) continue;
        int64_t x = vs[k].u.i < 0 ? vs[k].u.i + n : vs[k].u.i;
        if (step > 0)
            x = x < 0 ? 0 : x > n ? n : x;
        else
            x = x < -1 ? -1 : x > n - 1 ? n - 1 : x;
        *(k ? &hi : &lo) = x;
    }
    jval out = obj.t == V_LIST ? new_list(j) : vstr("", 0);
    lqmf_buf b;
    lqmf_buf_init(&b);
    for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
        if (obj.t == V_LIST)
            list_push(j, out.u.l, obj.u.l->v[i]);
        else
            lqmf_buf_append(&b, obj.u.s.p + i, 1);
    }
    if (obj.t == V_STR) {
        char *s = astrdup(j, b.data ? (const char *)b.data : "", b.len);
        out = vstr(s ? s : "", s ? b.len : 0);
    }
    lqmf_buf_free(&b);
    return out;
}

static jval strip_str(jinja *j, jval s, const char *chars, bool left, bool right) {
    (void)j;
    const char *set = chars ? chars : " \t\n\r\v\f";
    size_t a = 0, b = s.u.s.n;
    while (left && a < b && strchr(set, s.u.s.p[a]) && s.u.s.p[a]) a++;
    while (right && b > a && strchr(set, s.u.s.p[b - 1]) && s.u.s.p[b - 1]) b--;
    return vstr(s.u.s.p + a, b - a);
}

static jval change_case(jinja *j, jval s, int mode) { /* 0 lower, 1 upper, 2 capitalize, 3 title */
    char *p = astrdup(j, s.u.s.p, s.u.s.n);
    if (!p) return vstr("", 0);
    bool start = true;
    for (size_t i = 0; i < s.u.s.n; i++) {
        char c = p[i], lo = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c),
             up = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
        p[i] = mode == 1 ? up : mode == 0 ? lo : mode == 2 ? (i == 0 ? up : lo) : (start ? up : lo);
        start = !((c | 32) >= 'a' && (c | 32) <= 'z') && !(c >= '0' && c <= '9');
    }
    return vstr(p, s.u.s.n);
}

static jval replace_str(jinja *j, jval s, jval from, jval to) {
    lqmf_buf b;
    lqmf_buf_init(&b);
    size_t i = 0;
    while (i < s.u.s.n) {
        if (from.u.s.n && i + from.u.s.n <= s.u.s.n && !memcmp(s.u.s.p + i, from.u.s.p, from.u.s.n)) {
            lqmf_buf_append(&b, to.u.s.p, to.u.s.n);
            i += from.u.s.n;
        } else {
            lqmf_buf_append(&b, s.u.s.p + i++, 1);
        }
    }
    char *p = astrdup(j, b.data ? (const char *)b.data : "", b.len);
    jval r = vstr(p ? p : "", p ? b.len : 0);
    lqmf_buf_free(&b);
    return r;
}

static jval arg(jinja *j, const expr *e, size_t i, const char *kw) {
    for (size_t k = 0; k < e->n_args; k++)
        if (e->kw && e->kw[k] && kw && !strcmp(e->kw[k], kw)) return eval(j, e->args[k]);
    return i < e->n_args && (!e->kw || !e->kw[i]) ? eval(j, e->args[i]) : UNDEF;
}

static jval dict_view(jinja *j, jval d, int what) { /* 0 keys, 1 values, 2 items */
    jval out = new_list(j);
    for (size_t i = 0; out.u.l && i < d.u.d->n; i++) {
        jval k = vstr(d.u.d->k[i], d.u.d->kn[i]);
        if (what == 2) {
            jval pair = new_list(j);
            if (!pair.u.l) break;
            list_push(j, pair.u.l, k);
            list_push(j, pair.u.l, d.u.d->v[i]);
            list_push(j, out.u.l, pair);
        } else {
            list_push(j, out.u.l, what ? d.u.d->v[i] : k);
        }
    }
    return out;
}

static jval call_method(jinja *j, const expr *e) {
    jval self = eval(j, e->a);
    if (j->st) return UNDEF;
#define M(s) name_is(e, s)
    if (self.t == V_STR) {
        jval a0 = arg(j, e, 0, NULL);
        const char *chars = a0.t == V_STR ? astrdup(j, a0.u.s.p, a0.u.s.n) : NULL;
        if (M("strip")) return strip_str(j, self, chars, true, true);
        if (M("lstrip")) return strip_str(j, self, chars, true, false);
        if (M("rstrip")) return strip_str(j, self, chars, false, true);
        if (M("lower")) return change_case(j, self, 0);
        if (M("upper")) return change_case(j, self, 1);
        if (M("capitalize")) return change_case(j, self, 2);
        if (M("title")) return change_case(j, self, 3);
        if (M("startswith") || M("endswith")) {
            if (!need(j, e, a0, V_STR, "startswith/endswith")) return UNDEF;
            size_t n = a0.u.s.n;
            if (n > self.u.s.n) return vbool(false);
            return vbool(!memcmp(self.u.s.p + (M("endswith") ? self.u.s.n - n : 0), a0.u.s.p, n));
        }
        if (M("replace")) {
            jval a1 = arg(j, e, 1, NULL);
            if (!need(j, e, a0, V_STR, "replace") || !need(j, e, a1, V_STR, "replace")) return UNDEF;
            return replace_str(j, self, a0, a1);
        }
        if (M("split")) {
            jval out = new_list(j);
            if (!out.u.l) return UNDEF;
            size_t i = 0, start = 0;
            if (a0.t != V_STR || !a0.u.s.n) { /* whitespace split */
                while (i <= self.u.s.n) {
                    if (i == self.u.s.n || strchr(" \t\n\r", self.u.s.p[i])) {
                        if (i > start) list_push(j, out.u.l, vstr(self.u.s.p + start, i - start));
                        start = i + 1;
                    }
                    i++;
                }
                return out;
            }
            for (; i + a0.u.s.n <= self.u.s.n;)
                if (!memcmp(self.u.s.p + i, a0.u.s.p, a0.u.s.n)) {
                    list_push(j, out.u.l, vstr(self.u.s.p + start, i - start));
                    i += a0.u.s.n;
                    start = i;
                } else {
                    i++;
                }
            list_push(j, out.u.l, vstr(self.u.s.p + start, self.u.s.n - start));
            return out;
        }
    } else if (self.t == V_DICT) {
        if (M("items")) return dict_view(j, self, 2);
        if (M("keys")) return dict_view(j, self, 0);
        if (M("values")) return dict_view(j, self, 1);
        if (M("get")) {
            jval k = to_str(j, arg(j, e, 0, NULL)), *v = dict_find(self.u.d, k.u.s.p, k.u.s.n);
            return v ? *v : e->n_args > 1 ? arg(j, e, 1, NULL) : NONE;
        }
    } else if (self.t == V_LIST && M("append")) {
        list_push(j, self.u.l, arg(j, e, 0, NULL));
        return NONE;
    }
#undef M
    jerr(j, LQMF_E_UNSUPPORTED, e->off, "unsupported construct: method %.*s() on this value", (int)e->name_n,
         e->name);
    return UNDEF;
}

static jval call_global(jinja *j, const expr *e) {
    if (name_is(e, "raise_exception")) {
        jval m = to_str(j, arg(j, e, 0, NULL));
        jerr(j, LQMF_E_INVALID, e->off, "the template raised an error: %.*s", (int)m.u.s.n, m.u.s.p);
        return UNDEF;
    }
    if (name_is(e, "namespace") || name_is(e, "dict")) {
        jval d = new_dict(j);
        for (size_t k = 0; d.u.d && k < e->n_args; k++) {
            if (!e->kw[k])
                return jerr(j, LQMF_E_INVALID, e->off, "namespace() takes keyword arguments"), UNDEF;
            dict_set(j, d.u.d, e->kw[k], strlen(e->kw[k]), eval(j, e->args[k]));
        }
        return d;
    }
    if (name_is(e, "range")) {
        jval a = arg(j, e, 0, NULL), b = arg(j, e, 1, NULL), c = arg(j, e, 2, NULL);
        int64_t lo = 0, hi, step = c.t == V_INT ? c.u.i : 1;
        if (a.t != V_INT || (e->n_args > 1 && b.t != V_INT) || step == 0)
            return jerr(j, LQMF_E_INVALID, e->off, "range() needs integer arguments"), UNDEF;
        if (e->n_args > 1)
            lo = a.u.i, hi = b.u.i;
        else
            hi = a.u.i;
        jval out = new_list(j);
        for (int64_t i = lo; out.u.l && (step > 0 ? i < hi : i > hi); i += step) {
            if (++j->steps > J_MAX_STEPS) return jerr(j, LQMF_E_INVALID, e->off, "range too long"), UNDEF;
            list_push(j, out.u.l, vint(i));
        }
        return out;
    }
    if (name_is(e, "strftime_now")) {
        jval f = arg(j, e, 0, NULL);
        if (!need(j, e, f, V_STR, "strftime_now")) return UNDEF;
        char fmt[128], buf[256];
        snprintf(fmt, sizeof fmt, "%.*s", (int)f.u.s.n, f.u.s.p);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t n = strftime(buf, sizeof buf, fmt, &tm);
        char *s = astrdup(j, buf, n);
        return vstr(s ? s : "", s ? n : 0);
    }
    jerr(j, LQMF_E_UNSUPPORTED, e->off, "unsupported construct: function %.*s()", (int)e->name_n, e->name);
    return UNDEF;
}

static int64_t length_of(jval v) {
    return v.t == V_STR    ? (int64_t)v.u.s.n
           : v.t == V_LIST ? (int64_t)v.u.l->n
           : v.t == V_DICT ? (int64_t)v.u.d->n
                           : 0;
}

static jval select_items(jinja *j, const expr *e, jval v, bool attr, bool keep);
static jval map_items(jinja *j, const expr *e, jval v);

static jval apply_filter(jinja *j, const expr *e) {
    jval v = eval(j, e->a);
    if (j->st) return UNDEF;
#define F(s) name_is(e, s)
    if (F("trim")) return need(j, e, v, V_STR, "trim") ? strip_str(j, v, NULL, true, true) : UNDEF;
    if (F("length") || F("count")) return vint(length_of(v));
    if (F("upper") || F("lower") || F("capitalize") || F("title"))
        return need(j, e, v, V_STR, "case filter") ? change_case(j, v,
                                                                 F("lower")        ? 0
                                                                 : F("upper")      ? 1
                                                                 : F("capitalize") ? 2
                                                                                   : 3)
                                                   : UNDEF;
    if (F("string")) return to_str(j, v);
    if (F("safe") || (F("list") && v.t == V_LIST)) return v;
    if (F("list") && v.t == V_DICT) return dict_view(j, v, 0);
    if (F("items")) return need(j, e, v, V_DICT, "items") ? dict_view(j, v, 2) : UNDEF;
    if (F("default") || F("d")) {
        jval def = arg(j, e, 0, NULL), flag = arg(j, e, 1, "boolean");
        return v.t == V_UNDEF || (truthy(flag) && !truthy(v)) ? def : v;
    }
    if (F("int")) {
        if (v.t == V_INT || v.t == V_BOOL) return vint(v.t == V_INT ? v.u.i : v.u.b);
        const char *digits = v.t == V_STR ? astrdup(j, v.u.s.p, v.u.s.n) : NULL;
        if (digits) return vint(strtoll(digits, NULL, 10));
        return vint(0);
    }
    if (F("first") || F("last")) {
        int64_t n = length_of(v);
        if (!n || (v.t != V_LIST && v.t != V_STR))
            return jerr(j, LQMF_E_INVALID, e->off, "%s of an empty or non-sequence value",
                        F("first") ? "first" : "last"),
                   UNDEF;
        return subscript(j, e, v, vint(F("first") ? 0 : n - 1));
    }
    if (F("reverse")) {
        expr rev = {.k = E_SLICE, .off = e->off};
        expr minus1 = {.k = E_LIT, .lit = vint(-1)}, *step = &minus1;
        rev.args = &step;
        return slice(j, &rev, v);
    }
    if (F("join")) {
        jval sep = arg(j, e, 0, NULL), out = vstr("", 0);
        if (v.t != V_LIST) return jerr(j, LQMF_E_INVALID, e->off, "join needs a list"), UNDEF;
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i && sep.t == V_STR) out = concat(j, out, sep);
            out = concat(j, out, v.u.l->v[i]);
        }
        return out;
    }
    if (F("replace")) {
        jval a = arg(j, e, 0, NULL), b = arg(j, e, 1, NULL);
        if (!need(j, e, v, V_STR, "replace") || !need(j, e, a, V_STR, "replace") ||
            !need(j, e, b, V_STR, "replace"))
            return UNDEF;
        return replace_str(j, v, a, b);
    }
    if (F("select") || F("reject") || F("selectattr") || F("rejectattr"))
        return select_items(j, e, v, F("selectattr") || F("rejectattr"), F("select") || F("selectattr"));
    if (F("map")) return map_items(j, e, v);
    if (F("tojson")) {
        lqmf_buf b;
        lqmf_buf_init(&b);
        write_val(&b, v, true, true);
        char *s = astrdup(j, b.data ? (const char *)b.data : "", b.len);
        jval r = vstr(s ? s : "", s ? b.len : 0);
        lqmf_buf_free(&b);
        return r;
    }
#undef F
    jerr(j, LQMF_E_UNSUPPORTED, e->off, "unsupported construct: filter '%.*s'", (int)e->name_n, e->name);
    return UNDEF;
}

/* Test `name` (n bytes) on v with argument arg (UNDEF when none): 1 true,
 * 0 false, -1 for a test this interpreter does not know. */
static int run_test(const char *name, size_t n, jval v, jval arg) {
    static const char *const names[] = {"defined",  "undefined", "none", "string",  "number",
                                        "integer",  "boolean",   "true", "false",   "mapping",
                                        "sequence", "iterable",  "even", "odd",     "eq",
                                        "equalto",  "sameas",    "ne",   "callable"};
    int k = 0, count = (int)(sizeof names / sizeof names[0]);
    while (k < count && (strlen(names[k]) != n || memcmp(names[k], name, n))) k++;
    switch (k) {
    case 0: return v.t != V_UNDEF;
    case 1: return v.t == V_UNDEF;
    case 2: return v.t == V_NONE;
    case 3: return v.t == V_STR;
    case 4:
    case 5: return v.t == V_INT;
    case 6: return v.t == V_BOOL;
    case 7: return v.t == V_BOOL && v.u.b;
    case 8: return v.t == V_BOOL && !v.u.b;
    case 9: return v.t == V_DICT;
    case 10: return v.t == V_LIST || v.t == V_STR;
    case 11: return v.t == V_LIST || v.t == V_STR || v.t == V_DICT;
    case 12:
    case 13: return v.t == V_INT && (v.u.i % 2 == 0) == (k == 12);
    case 14:
    case 15:
    case 16: return equal(v, arg);
    case 17: return !equal(v, arg);
    case 18: return v.t == V_FUNC;
    default: return -1;
    }
}

static jval apply_test(jinja *j, const expr *e) {
    jval v = eval(j, e->a), a = e->n_args ? arg(j, e, 0, NULL) : UNDEF;
    if (j->st) return UNDEF;
    int r = run_test(e->name, e->name_n, v, a);
    if (r < 0)
        return jerr(j, LQMF_E_UNSUPPORTED, e->off, "unsupported construct: test '%.*s'", (int)e->name_n,
                    e->name),
               UNDEF;
    return vbool((r == 1) != e->negate);
}

/* select / reject (a test on each item) and selectattr / rejectattr (a test
 * on an attribute of each item): the items of list v that pass (keep) or fail. */
static jval select_items(jinja *j, const expr *e, jval v, bool attr, bool keep) {
    if (v.t != V_LIST)
        return jerr(j, LQMF_E_INVALID, e->off, "%.*s needs a list", (int)e->name_n, e->name), UNDEF;
    jval name = attr ? arg(j, e, 0, NULL) : UNDEF, test = arg(j, e, attr ? 1 : 0, NULL);
    jval targ = arg(j, e, attr ? 2 : 1, NULL), out = new_list(j);
    if (attr && name.t != V_STR)
        return jerr(j, LQMF_E_INVALID, e->off, "selectattr needs an attribute name"), UNDEF;
    if (test.t != V_UNDEF && test.t != V_STR)
        return jerr(j, LQMF_E_INVALID, e->off, "a test name must be a string"), UNDEF;
    for (size_t i = 0; out.u.l && i < v.u.l->n; i++) {
        jval x = attr ? getattr(v.u.l->v[i], name.u.s.p, name.u.s.n) : v.u.l->v[i];
        int r = test.t == V_STR ? run_test(test.u.s.p, test.u.s.n, x, targ) : truthy(x);
        if (r < 0)
            return jerr(j, LQMF_E_UNSUPPORTED, e->off, "unsupported construct: test '%.*s'", (int)test.u.s.n,
                        test.u.s.p),
                   UNDEF;
        if ((r == 1) == keep) list_push(j, out.u.l, v.u.l->v[i]);
    }
    return out;
}

/* map(attribute='x'): that attribute of every item. */
static jval map_items(jinja *j, const expr *e, jval v) {
    jval name = arg(j, e, 99, "attribute"), out = new_list(j);
    if (v.t != V_LIST || name.t != V_STR)
        return jerr(j, LQMF_E_UNSUPPORTED, e->off,
                    "unsupported construct: map other than map(attribute=...)"),
               UNDEF;
    for (size_t i = 0; out.u.l && i < v.u.l->n; i++)
        list_push(j, out.u.l, getattr(v.u.l->v[i], name.u.s.p, name.u.s.n));
    return out;
}

static jval arith(jinja *j, const expr *e, jval a, jval b) {
    const char *op = e->name;
    if (!strcmp(op, "~")) return concat(j, a, b);
    if (!strcmp(op, "+") && a.t == V_STR && b.t == V_STR) return concat(j, a, b);
    if (!strcmp(op, "+") && a.t == V_LIST && b.t == V_LIST) {
        jval out = new_list(j);
        for (size_t i = 0; out.u.l && i < a.u.l->n; i++) list_push(j, out.u.l, a.u.l->v[i]);
        for (size_t i = 0; out.u.l && i < b.u.l->n; i++) list_push(j, out.u.l, b.u.l->v[i]);
        return out;
    }
    if (!strcmp(op, "*") && a.t == V_STR && b.t == V_INT) {
        jval out = vstr("", 0);
        for (int64_t i = 0; i < b.u.i && !j->st; i++) {
            if (++j->steps > J_MAX_STEPS)
                return jerr(j, LQMF_E_INVALID, e->off, "string repetition too long"), UNDEF;
            out = concat(j, out, a);
        }
        return out;
    }
    if (a.t == V_BOOL) a = vint(a.u.b);
    if (b.t == V_BOOL) b = vint(b.u.b);
    if (a.t != V_INT || b.t != V_INT)
        return jerr(j, LQMF_E_INVALID, e->off, "operator '%s' needs two integers (or strings for +)", op),
               UNDEF;
    int64_t x = a.u.i, y = b.u.i, r;
    if (!strcmp(op, "+"))
        r = (int64_t)((uint64_t)x + (uint64_t)y);
    else if (!strcmp(op, "-"))
        r = (int64_t)((uint64_t)x - (uint64_t)y);
    else if (!strcmp(op, "*"))
        r = (int64_t)((uint64_t)x * (uint64_t)y);
    else {
        if (y == 0 || (x == INT64_MIN && y == -1))
            return jerr(j, LQMF_E_INVALID, e->off, "division by zero"), UNDEF;
        if (!strcmp(op, "/"))
            return jerr(j, LQMF_E_UNSUPPORTED, e->off, "unsupported construct: true division '/'"), UNDEF;
        int64_t q = x / y, m = x % y;
        if (m && ((m < 0) != (y < 0))) q--, m += y; /* Python floors */
        r = !strcmp(op, "%") ? m : q;
    }
    return vint(r);
}

static jval compare(jinja *j, const expr *e, jval a, jval b) {
    const char *op = e->name;
    if (!strcmp(op, "==")) return vbool(equal(a, b));
    if (!strcmp(op, "!=")) return vbool(!equal(a, b));
    if (!strcmp(op, "in")) {
        bool r = false;
        if (b.t == V_STR && a.t == V_STR)
            r = a.u.s.n == 0 || memmem(b.u.s.p, b.u.s.n, a.u.s.p, a.u.s.n) != NULL;
        else if (b.t == V_LIST)
            for (size_t i = 0; i < b.u.l->n && !r; i++) r = equal(a, b.u.l->v[i]);
        else if (b.t == V_DICT && a.t == V_STR)
            r = dict_find(b.u.d, a.u.s.p, a.u.s.n) != NULL;
        else if (b.t != V_UNDEF && b.t != V_NONE)
            return jerr(j, LQMF_E_INVALID, e->off, "'in' needs a string, list or dict on the right"), UNDEF;
        return vbool(r != e->negate);
    }
    int c;
    if (a.t == V_INT && b.t == V_INT)
        c = a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
    else if (a.t == V_STR && b.t == V_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        c = memcmp(a.u.s.p, b.u.s.p, n);
        if (!c) c = a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    } else
        return jerr(j, LQMF_E_INVALID, e->off, "'%s' needs two integers or two strings", op), UNDEF;
    return vbool(!strcmp(op, "<") ? c < 0 : !strcmp(op, ">") ? c > 0 : !strcmp(op, "<=") ? c <= 0 : c >= 0);
}

static jval eval(jinja *j, const expr *e) {
    if (j->st) return UNDEF;
    switch (e->k) {
    case E_LIT: return e->lit;
    case E_NAME: return lookup(j, e->name, e->name_n);
    case E_LIST: {
        jval out = new_list(j);
        for (size_t i = 0; out.u.l && i < e->n_args; i++) list_push(j, out.u.l, eval(j, e->args[i]));
        return out;
    }
    case E_DICT: {
        jval out = new_dict(j);
        for (size_t i = 0; out.u.d && i + 1 < e->n_args; i += 2) {
            jval k = to_str(j, eval(j, e->args[i]));
            dict_set(j, out.u.d, k.u.s.p, k.u.s.n, eval(j, e->args[i + 1]));
        }
        return out;
    }
    case E_ATTR: {
        jval obj = eval(j, e->a);
        if (obj.t == V_UNDEF && !j->st)
            return jerr(j, LQMF_E_INVALID, e->off, "'%.*s' of an undefined value", (int)e->name_n, e->name),
                   UNDEF;
        return getattr(obj, e->name, e->name_n);
    }
    case E_INDEX: {
        jval obj = eval(j, e->a), key = eval(j, e->b);
        if (obj.t == V_UNDEF && !j->st)
            return jerr(j, LQMF_E_INVALID, e->off, "subscript of an undefined value"), UNDEF;
        return j->st ? UNDEF : subscript(j, e, obj, key);
    }
    case E_SLICE: {
        jval obj = eval(j, e->a);
        return j->st ? UNDEF : slice(j, e, obj);
    }
    case E_CALL: return call_global(j, e);
    case E_METHOD: return call_method(j, e);
    case E_FILTER: return apply_filter(j, e);
    case E_TEST: return apply_test(j, e);
    case E_NOT: return vbool(!truthy(eval(j, e->a)));
    case E_NEG: {
        jval v = eval(j, e->a);
        if (v.t != V_INT) return jerr(j, LQMF_E_INVALID, e->off, "unary minus needs an integer"), UNDEF;
        return vint((int64_t)(0 - (uint64_t)v.u.i));
    }
    case E_AND: {
        jval a = eval(j, e->a);
        return truthy(a) ? eval(j, e->b) : a;
    }
    case E_OR: {
        jval a = eval(j, e->a);
        return truthy(a) ? a : eval(j, e->b);
    }
    case E_BIN: {
        jval a = eval(j, e->a), b = eval(j, e->b);
        if (j->st) return UNDEF;
        bool cmp = e->name[0] == '=' || e->name[0] == '!' || e->name[0] == '<' || e->name[0] == '>' ||
                   !strcmp(e->name, "in");
        return cmp ? compare(j, e, a, b) : arith(j, e, a, b);
    }
    case E_COND: return truthy(eval(j, e->b)) ? eval(j, e->a) : e->c ? eval(j, e->c) : UNDEF;
    }
    return UNDEF;
}

static bool emit(jinja *j, const void *p, size_t n, size_t off) {
    if (j->out.len + n > J_MAX_OUTPUT)
        return jerr(j, LQMF_E_INVALID, off, "output larger than %u bytes", J_MAX_OUTPUT);
    if (!lqmf_buf_append(&j->out, p, n)) return oom(j);
    return true;
}

static bool push_frame(jinja *j, size_t off) {
    if (j->n_frames >= J_MAX_DEPTH + 2) return jerr(j, LQMF_E_INVALID, off, "loops nested too deep");
    jval d = new_dict(j);
    if (!d.u.d) return false;
    j->frames[j->n_frames++].vars = d.u.d;
    return true;
}

static bool exec(jinja *j, const node *n);

/* Bind a loop item to the loop's one or two names in the top frame. */
static bool bind_targets(jinja *j, const node *n, jval item) {
    jdict *vars = j->frames[j->n_frames - 1].vars;
    if (n->n_vars == 1) return dict_set(j, vars, n->var[0], n->var_n[0], item);
    if (item.t != V_LIST || item.u.l->n != 2)
        return jerr(j, LQMF_E_INVALID, n->off, "cannot unpack a loop item into two names");
    return dict_set(j, vars, n->var[0], n->var_n[0], item.u.l->v[0]) &&
           dict_set(j, vars, n->var[1], n->var_n[1], item.u.l->v[1]);
}

static bool exec_for(jinja *j, const node *n) {
    jval it = eval(j, n->e);
    if (j->st) return false;
    if (it.t == V_DICT)
        it = dict_view(j, it, 0);
    else if (it.t == V_STR) {
        jval chars = new_list(j);
        for (size_t i = 0; chars.u.l && i < it.u.s.n;) {
            size_t len = tok_utf8_len((uint8_t)it.u.s.p[i]);
            if (i + len > it.u.s.n) len = it.u.s.n - i;
            list_push(j, chars.u.l, vstr(it.u.s.p + i, len));
            i += len;
        }
        it = chars;
    } else if (it.t == V_UNDEF || it.t == V_NONE) {
        it = new_list(j);
    } else if (it.t != V_LIST) {
        return jerr(j, LQMF_E_INVALID, n->off, "for needs a list, dict or string to iterate");
    }
    if (!it.u.l) return false;
    /* the loop filter runs first, so loop.length/index count kept items */
    jval items = it;
    if (n->filter) {
        items = new_list(j);
        if (!items.u.l) return false;
        for (size_t i = 0; i < it.u.l->n; i++) {
            if (!push_frame(j, n->off)) return false;
            if (!bind_targets(j, n, it.u.l->v[i])) return false;
            bool keep = truthy(eval(j, n->filter));
            j->n_frames--;
            if (j->st) return false;
            if (keep) list_push(j, items.u.l, it.u.l->v[i]);
        }
    }
    size_t len = items.u.l->n;
    for (size_t i = 0; i < len; i++) {
        if (++j->steps > J_MAX_STEPS) return jerr(j, LQMF_E_INVALID, n->off, "too many loop iterations");
        if (!push_frame(j, n->off)) return false;
        if (!bind_targets(j, n, items.u.l->v[i])) return false;
        jdict *vars = j->frames[j->n_frames - 1].vars;
        jval loop = new_dict(j);
        if (!loop.u.d) return false;
        dict_set(j, loop.u.d, "index", 5, vint((int64_t)i + 1));
        dict_set(j, loop.u.d, "index0", 6, vint((int64_t)i));
        dict_set(j, loop.u.d, "revindex", 8, vint((int64_t)(len - i)));
        dict_set(j, loop.u.d, "revindex0", 9, vint((int64_t)(len - i - 1)));
        dict_set(j, loop.u.d, "first", 5, vbool(i == 0));
        dict_set(j, loop.u.d, "last", 4, vbool(i + 1 == len));
        dict_set(j, loop.u.d, "length", 6, vint((int64_t)len));
        dict_set(j, loop.u.d, "previtem", 8, i ? items.u.l->v[i - 1] : UNDEF);
        dict_set(j, loop.u.d, "nextitem", 8, i + 1 < len ? items.u.l->v[i + 1] : UNDEF);
        dict_set(j, vars, "loop", 4, loop);
        bool ok = exec(j, n->body);
        j->n_frames--;
        if (!ok) return false;
        int ctl = j->loop_ctl;
        j->loop_ctl = 0;
        if (ctl == 1) break;
    }
    return len ? true : exec(j, n->alt);
}

static bool exec(jinja *j, const node *n) {
    for (; n && !j->st && !j->loop_ctl; n = n->next) {
        switch (n->k) {
        case N_TEXT:
            if (!emit(j, n->text, n->text_n, n->off)) return false;
            break;
        case N_OUT: {
            jval v = eval(j, n->e);
            if (j->st) return false;
            if (++j->steps > J_MAX_STEPS) return jerr(j, LQMF_E_INVALID, n->off, "too many steps");
            lqmf_buf tmp;
            lqmf_buf_init(&tmp);
            write_val(&tmp, v, false, false);
            bool ok = emit(j, tmp.data, tmp.len, n->off);
            lqmf_buf_free(&tmp);
            if (!ok) return false;
            break;
        }
        case N_IF:
            if (!exec(j, truthy(eval(j, n->e)) ? n->body : n->alt)) return false;
            break;
        case N_FOR:
            if (!exec_for(j, n)) return false;
            break;
        case N_SET: {
            jval v = eval(j, n->e);
            if (j->st) return false;
            if (n->n_vars == 2) {
                jval ns = lookup(j, n->var[0], n->var_n[0]);
                if (ns.t != V_DICT)
                    return jerr(j, LQMF_E_INVALID, n->off, "set of an attribute needs a namespace");
                if (!dict_set(j, ns.u.d, n->var[1], n->var_n[1], v)) return false;
            } else if (!dict_set(j, j->frames[j->n_frames - 1].vars, n->var[0], n->var_n[0], v)) {
                return false;
            }
            break;
        }
        case N_BREAK:
        case N_CONTINUE: j->loop_ctl = n->k == N_BREAK ? 1 : 2; return true;
        }
    }
    return !j->st;
}

/* ---- entry point ------------------------------------------------------------------ */

static bool set_global(jinja *j, const char *name, jval v) {
    return dict_set(j, j->frames[0].vars, name, strlen(name), v);
}

static jval cstr(const char *s) { return s ? vstr(s, strlen(s)) : vstr("", 0); }

static bool setup_globals(jinja *j, const lqmf_chat_msg *msgs, size_t n_msgs, const char *bos,
                          const char *eos, bool add_generation_prompt) {
    if (!push_frame(j, 0)) return false;
    jval list = new_list(j);
    if (!list.u.l) return false;
    for (size_t i = 0; i < n_msgs; i++) {
        jval m = new_dict(j);
        if (!m.u.d || !dict_set(j, m.u.d, "role", 4, cstr(msgs[i].role)) ||
            !dict_set(j, m.u.d, "content", 7, cstr(msgs[i].content)) || !list_push(j, list.u.l, m))
            return false;
    }
    return set_global(j, "messages", list) && set_global(j, "bos_token", cstr(bos)) &&
           set_global(j, "eos_token", cstr(eos)) &&
           set_global(j, "add_generation_prompt", vbool(add_generation_prompt)) &&
           set_global(j, "tools", NONE) && set_global(j, "documents", NONE);
}

lqmf_status tok_jinja_render(const char *tmpl, const lqmf_chat_msg *msgs, size_t n_msgs, const char *bos,
                             const char *eos, bool add_generation_prompt, char **out) {
    *out = NULL;
    jinja j = {.src = tmpl};
    lqmf_buf_init(&j.out);
    tparser tp = {&j, {0}, 0};
    int which;
    bool ok = split_chunks(&j, &tp.cs);
    node *root = ok ? parse_body(&tp, NULL, 0, &which, NULL, 0) : NULL;
    ok = ok && !j.st && setup_globals(&j, msgs, n_msgs, bos, eos, add_generation_prompt) && exec(&j, root);
    if (ok && !emit(&j, "", 0, 0)) ok = false;
    lqmf_status st = j.st ? j.st : ok ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "chat template: out of memory");
    if (!st) {
        lqmf_buf_append(&j.out, "", 0); /* NUL-terminate even when empty */
        *out = (char *)j.out.data;
        j.out.data = NULL;
    }
    lqmf_buf_free(&j.out);
    arena_free(&j.a);
    return st;
}

lqmf_status lqmf_tok_chat_apply(const lqmf_tokenizer *t, const char *tmpl, const lqmf_chat_msg *msgs,
                                size_t n_msgs, bool add_generation_prompt, char **out) {
    *out = NULL;
    if (!tmpl) tmpl = t->chat_template;
    if (!tmpl) return lqmf_error(LQMF_E_NOT_FOUND, "%s: the tokenizer has no chat template", t->name);
    const char *bos = t->bos >= 0 ? lqmf_tok_text(t, t->bos, NULL) : "";
    const char *eos = t->eos >= 0 ? lqmf_tok_text(t, t->eos, NULL) : "";
    return tok_jinja_render(tmpl, msgs, n_msgs, bos, eos, add_generation_prompt, out);
}
