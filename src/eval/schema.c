/* A small JSON Schema validator: the keywords docs/benchmark-report.schema.json
 * uses, nothing more (see include/lqmf/eval.h). An unknown keyword makes the
 * schema invalid rather than silently accepting everything. */
#include "eval_priv.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64 /* nesting of schemas and $refs followed */
#define DOC_MAX (64u << 20)

typedef struct {
    json_t *root;     /* the schema document, for $ref */
    lqmf_buf *errors; /* NULL: count only */
    size_t n_errors;
    char first[512];
    char schema_err[512]; /* set when the schema itself is wrong */
} vctx;

static void fail(vctx *c, const char *ptr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(vctx *c, const char *ptr, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->n_errors++ == 0) snprintf(c->first, sizeof c->first, "%s: %s", *ptr ? ptr : "/", msg);
    if (c->errors) lqmf_buf_printf(c->errors, "%s: %s\n", *ptr ? ptr : "/", msg);
}

static void schema_fail(vctx *c, const char *ptr, const char *what) {
    if (!c->schema_err[0])
        snprintf(c->schema_err, sizeof c->schema_err, "schema at %s: %s", *ptr ? ptr : "/", what);
}

/* ptr + "/" + key with JSON Pointer escapes (~0, ~1). Heap string. */
static char *child(const char *ptr, const char *key) {
    size_t n = strlen(ptr), m = strlen(key), k = n + 1;
    char *s = malloc(n + 2 * m + 2);
    if (!s) return NULL;
    memcpy(s, ptr, n);
    s[n] = '/';
    for (size_t i = 0; i < m; i++) {
        if (key[i] == '~' || key[i] == '/') {
            s[k++] = '~';
            s[k++] = key[i] == '~' ? '0' : '1';
        } else
            s[k++] = key[i];
    }
    s[k] = '\0';
    return s;
}

static char *child_index(const char *ptr, size_t i) {
    char k[32];
    snprintf(k, sizeof k, "%zu", i);
    return child(ptr, k);
}

static bool type_is(const char *t, json_t *v) {
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return false;
}

static bool known_type(const char *t) {
    static const char *const k[] = {"object", "array", "string", "number", "integer", "boolean", "null"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(t, k[i])) return true;
    return false;
}

static size_t utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static void validate(vctx *c, json_t *schema, json_t *v, const char *ptr, const char *sptr, int depth);

static void check_type(vctx *c, json_t *t, json_t *v, const char *ptr, const char *sptr) {
    if (json_is_string(t)) {
        if (!known_type(json_string_value(t))) return schema_fail(c, sptr, "unknown type");
        if (!type_is(json_string_value(t), v)) fail(c, ptr, "expected %s", json_string_value(t));
        return;
    }
    if (!json_is_array(t) || json_array_size(t) == 0)
        return schema_fail(c, sptr, "type must be a string or array");
    size_t i;
    json_t *e;
    bool ok = false;
    json_array_foreach(t, i, e) {
        if (!json_is_string(e) || !known_type(json_string_value(e)))
            return schema_fail(c, sptr, "unknown type");
        ok |= type_is(json_string_value(e), v);
    }
    if (!ok) fail(c, ptr, "has none of the allowed types");
}

static json_t *resolve_ref(vctx *c, json_t *ref, const char *sptr) {
    const char *r = json_string_value(ref);
    const char *name = NULL;
    json_t *defs = NULL;
    if (r && !strncmp(r, "#/$defs/", 8)) {
        name = r + 8;
        defs = json_object_get(c->root, "$defs");
    } else if (r && !strncmp(r, "#/definitions/", 14)) {
        name = r + 14;
        defs = json_object_get(c->root, "definitions");
    }
    json_t *target = name && !strchr(name, '/') ? json_object_get(defs, name) : NULL;
    if (!target) schema_fail(c, sptr, "$ref is not a known \"#/$defs/NAME\"");
    return target;
}

static void check_number(vctx *c, const char *key, json_t *lim, json_t *v, const char *ptr,
                         const char *sptr) {
    if (!json_is_number(lim)) return schema_fail(c, sptr, "limit is not a number");
    if (!json_is_number(v)) return;
    double x = json_number_value(v), l = json_number_value(lim);
    bool ok = !strcmp(key, "minimum")            ? x >= l
              : !strcmp(key, "maximum")          ? x <= l
              : !strcmp(key, "exclusiveMinimum") ? x > l
                                                 : x < l;
    if (!ok) fail(c, ptr, "%.17g violates %s %.17g", x, key, l);
}

static void check_size(vctx *c, const char *key, json_t *lim, json_t *v, const char *ptr, const char *sptr) {
    if (!json_is_integer(lim) || json_integer_value(lim) < 0) return schema_fail(c, sptr, "bad length limit");
    size_t l = (size_t)json_integer_value(lim), n;
    bool is_len = !strcmp(key, "minLength") || !strcmp(key, "maxLength");
    if (is_len && json_is_string(v))
        n = utf8_len(json_string_value(v), json_string_length(v));
    else if (!is_len && json_is_array(v))
        n = json_array_size(v);
    else
        return;
    bool ok = key[1] == 'i' ? n >= l : n <= l; /* min... / max... */
    if (!ok) fail(c, ptr, "%s %zu violates %s %zu", is_len ? "length" : "size", n, key, l);
}

static void check_pattern(vctx *c, json_t *pat, json_t *v, const char *ptr, const char *sptr) {
    if (!json_is_string(pat)) return schema_fail(c, sptr, "pattern is not a string");
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)json_string_value(pat), json_string_length(pat), PCRE2_UTF,
                                   &err, &off, NULL);
    if (!re) return schema_fail(c, sptr, "pattern does not compile");
    if (json_is_string(v)) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        int rc = md ? pcre2_match(re, (PCRE2_SPTR)json_string_value(v), json_string_length(v), 0, 0, md, NULL)
                    : -1;
        if (rc < 0) fail(c, ptr, "does not match %s", json_string_value(pat));
        pcre2_match_data_free(md);
    }
    pcre2_code_free(re);
}

static void check_object(vctx *c, json_t *schema, json_t *v, const char *ptr, const char *sptr, int depth) {
    json_t *props = json_object_get(schema, "properties"), *req = json_object_get(schema, "required");
    json_t *add = json_object_get(schema, "additionalProperties");
    if (props && !json_is_object(props)) return schema_fail(c, sptr, "properties is not an object");
    if (req && !json_is_array(req)) return schema_fail(c, sptr, "required is not an array");
    if (add && !json_is_boolean(add) && !json_is_object(add))
        return schema_fail(c, sptr, "additionalProperties is not a boolean or schema");
    if (!json_is_object(v)) return;
    size_t i;
    json_t *e;
    json_array_foreach(req, i, e) {
        if (!json_is_string(e)) return schema_fail(c, sptr, "required lists a non-string");
        if (!json_object_get(v, json_string_value(e)))
            fail(c, ptr, "lacks required \"%s\"", json_string_value(e));
    }
    const char *key;
    json_object_foreach(v, key, e) {
        json_t *ps = json_object_get(props, key);
        char *cp = child(ptr, key);
        if (!cp) return schema_fail(c, sptr, "out of memory");
        if (ps)
            validate(c, ps, e, cp, sptr, depth + 1);
        else if (json_is_false(add))
            fail(c, cp, "is not allowed here");
        else if (json_is_object(add))
            validate(c, add, e, cp, sptr, depth + 1);
        free(cp);
    }
}

static void check_any_of(vctx *c, json_t *alts, json_t *v, const char *ptr, const char *sptr, int depth) {
    if (!json_is_array(alts) || json_array_size(alts) == 0)
        return schema_fail(c, sptr, "anyOf is not a list");
    size_t i;
    json_t *alt;
    char first[512] = "";
    json_array_foreach(alts, i, alt) {
        vctx sub = {.root = c->root};
        validate(&sub, alt, v, ptr, sptr, depth + 1);
        if (sub.schema_err[0]) {
            if (!c->schema_err[0]) memcpy(c->schema_err, sub.schema_err, sizeof c->schema_err);
            return;
        }
        if (sub.n_errors == 0) return;
        if (i == 0) memcpy(first, sub.first, sizeof first);
    }
    fail(c, ptr, "matches none of the anyOf alternatives (the first says %s)", first);
}

static bool annotation(const char *key) {
    static const char *const k[] = {"$schema", "$id",         "$defs",   "definitions",
                                    "title",   "description", "$comment"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(key, k[i])) return true;
    return false;
}

static void validate(vctx *c, json_t *schema, json_t *v, const char *ptr, const char *sptr, int depth) {
    if (c->schema_err[0]) return;
    if (depth > MAX_DEPTH) return schema_fail(c, sptr, "nested or referenced too deeply");
    if (json_is_true(schema)) return;
    if (json_is_false(schema)) return fail(c, ptr, "no value is allowed here");
    if (!json_is_object(schema)) return schema_fail(c, sptr, "a schema must be an object or boolean");
    const char *key;
    json_t *kw;
    json_object_foreach(schema, key, kw) {
        char *sp = child(sptr, key);
        if (!sp) return schema_fail(c, sptr, "out of memory");
        if (annotation(key) || !strcmp(key, "properties") || !strcmp(key, "required") ||
            !strcmp(key, "additionalProperties"))
            ; /* containers, or read by check_object */
        else if (!strcmp(key, "type"))
            check_type(c, kw, v, ptr, sp);
        else if (!strcmp(key, "$ref")) {
            json_t *t = resolve_ref(c, kw, sp);
            if (t) validate(c, t, v, ptr, json_string_value(kw), depth + 1);
        } else if (!strcmp(key, "anyOf"))
            check_any_of(c, kw, v, ptr, sp, depth);
        else if (!strcmp(key, "items")) {
            size_t i;
            json_t *e;
            if (json_is_array(v)) json_array_foreach(v, i, e) {
                    char *cp = child_index(ptr, i);
                    if (cp) validate(c, kw, e, cp, sp, depth + 1);
                    free(cp);
                }
        } else if (!strcmp(key, "enum")) {
            size_t i;
            json_t *e;
            bool ok = false;
            if (!json_is_array(kw)) schema_fail(c, sp, "enum is not a list");
            json_array_foreach(kw, i, e) ok |= json_equal(e, v) != 0;
            if (json_is_array(kw) && !ok) fail(c, ptr, "is not one of the allowed values");
        } else if (!strcmp(key, "const")) {
            if (!json_equal(kw, v)) fail(c, ptr, "is not the required constant");
        } else if (!strcmp(key, "minimum") || !strcmp(key, "maximum") || !strcmp(key, "exclusiveMinimum") ||
                   !strcmp(key, "exclusiveMaximum"))
            check_number(c, key, kw, v, ptr, sp);
        else if (!strcmp(key, "minLength") || !strcmp(key, "maxLength") || !strcmp(key, "minItems") ||
                 !strcmp(key, "maxItems"))
            check_size(c, key, kw, v, ptr, sp);
        else if (!strcmp(key, "pattern"))
            check_pattern(c, kw, v, ptr, sp);
        else
            schema_fail(c, sp, "keyword not supported by this validator");
        free(sp);
        if (c->schema_err[0]) return;
    }
    check_object(c, schema, v, ptr, sptr, depth);
}

lqmf_status lqmf_eval_schema_validate(const char *schema, size_t schema_len, const char *doc, size_t doc_len,
                                      lqmf_buf *errors) {
    if (doc_len > DOC_MAX)
        return lqmf_error(LQMF_E_FORMAT, "document: %zu bytes (limit %u)", doc_len, DOC_MAX);
    json_error_t je;
    json_t *s = json_loadb(schema, schema_len, JSON_REJECT_DUPLICATES, &je);
    if (!s) return lqmf_error(LQMF_E_INVALID, "schema: invalid JSON at line %d: %s", je.line, je.text);
    json_t *d = json_loadb(doc, doc_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!d) {
        json_decref(s);
        return lqmf_error(LQMF_E_FORMAT, "document: invalid JSON at line %d: %s", je.line, je.text);
    }
    vctx c = {.root = s, .errors = errors};
    validate(&c, s, d, "", "", 0);
    json_decref(d);
    json_decref(s);
    if (c.schema_err[0]) return lqmf_error(LQMF_E_INVALID, "%s", c.schema_err);
    if (c.n_errors)
        return lqmf_error(LQMF_E_FORMAT, "%s%s", c.first, c.n_errors > 1 ? " (and more violations)" : "");
    return LQMF_OK;
}
