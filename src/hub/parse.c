/* Parsers of Hub API answers (outside bytes): model info, tree pages, the
 * Link pagination header, whoami-v2. Every string that becomes a path is
 * checked; sizes and counts are capped. */
#include "hub_priv.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static lqmf_status load(const char *json, size_t len, const char *what, json_t **out) {
    if (len > HUB_MAX_JSON)
        return lqmf_error(LQMF_E_FORMAT, "%s: answer of %zu bytes exceeds the limit of %u", what, len,
                          HUB_MAX_JSON);
    json_error_t err;
    *out = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!*out) return lqmf_error(LQMF_E_FORMAT, "%s: invalid JSON at line %d: %s", what, err.line, err.text);
    return LQMF_OK;
}

/* Copy a string member into dst (cap bytes with the NUL); absent = "". */
static lqmf_status get_str(json_t *obj, const char *key, char *dst, size_t cap, const char *what) {
    dst[0] = '\0';
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return LQMF_OK;
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return lqmf_error(LQMF_E_FORMAT, "%s: \"%s\" is not a string of at most %zu bytes", what, key,
                          cap - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return LQMF_OK;
}

static char *dup_str(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return strdup(json_is_string(v) ? json_string_value(v) : "");
}

lqmf_status hub_parse_model_info(const char *json, size_t len, hub_model_info *out) {
    memset(out, 0, sizeof *out);
    json_t *root;
    lqmf_status st = load(json, len, "model info", &root);
    if (st != LQMF_OK) return st;
    if (!json_is_object(root)) st = lqmf_error(LQMF_E_FORMAT, "model info: not a JSON object");
    if (st == LQMF_OK) st = get_str(root, "sha", out->commit, sizeof out->commit, "model info");
    if (st == LQMF_OK && !hub_is_hex(out->commit, 40))
        st = lqmf_error(LQMF_E_FORMAT, "model info: \"sha\" is \"%s\", not a 40-digit commit hash",
                        out->commit);
    if (st == LQMF_OK) {
        out->is_private = json_is_true(json_object_get(root, "private"));
        json_t *g = json_object_get(root, "gated");
        if (json_is_string(g))
            st = get_str(root, "gated", out->gated, sizeof out->gated, "model info");
        else if (g && !json_is_boolean(g) && !json_is_null(g))
            st = lqmf_error(LQMF_E_FORMAT, "model info: \"gated\" is neither a string nor a boolean");
    }
    json_decref(root);
    return st;
}

static lqmf_status parse_entry(json_t *e, lqmf_hub_file *f, bool *is_file) {
    memset(f, 0, sizeof *f);
    char type[16];
    lqmf_status st = get_str(e, "type", type, sizeof type, "tree entry");
    if (st != LQMF_OK) return st;
    *is_file = strcmp(type, "file") == 0;
    if (!*is_file) {
        if (strcmp(type, "directory") != 0)
            return lqmf_error(LQMF_E_FORMAT, "tree entry: unknown type \"%s\"", type);
        return LQMF_OK;
    }
    json_t *p = json_object_get(e, "path");
    if (!json_is_string(p) || !hub_valid_rel_path(json_string_value(p)))
        return lqmf_error(LQMF_E_FORMAT, "tree entry: \"path\" %s%s%s is not a safe relative path",
                          json_is_string(p) ? "\"" : "",
                          json_is_string(p) ? json_string_value(p) : "(absent)",
                          json_is_string(p) ? "\"" : "");
    const char *path = json_string_value(p);
    json_t *sz = json_object_get(e, "size");
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return lqmf_error(LQMF_E_FORMAT, "tree entry %s: \"size\" is not a non-negative integer", path);
    f->size = (uint64_t)json_integer_value(sz);
    st = get_str(e, "oid", f->oid, sizeof f->oid, path);
    if (st == LQMF_OK && !hub_is_hex(f->oid, 40))
        st = lqmf_error(LQMF_E_FORMAT, "tree entry %s: \"oid\" is not a 40-digit git hash", path);
    json_t *lfs = json_object_get(e, "lfs");
    if (st == LQMF_OK && lfs && !json_is_null(lfs)) {
        json_t *lsz = json_object_get(lfs, "size");
        if (!json_is_object(lfs))
            st = lqmf_error(LQMF_E_FORMAT, "tree entry %s: \"lfs\" is not an object", path);
        else if ((st = get_str(lfs, "oid", f->sha256, sizeof f->sha256, path)) != LQMF_OK)
            ;
        else if (!hub_is_hex(f->sha256, 64))
            st = lqmf_error(LQMF_E_FORMAT, "tree entry %s: \"lfs.oid\" is not a sha256", path);
        else if (lsz && (!json_is_integer(lsz) || (uint64_t)json_integer_value(lsz) != f->size))
            st = lqmf_error(LQMF_E_FORMAT, "tree entry %s: \"lfs.size\" differs from \"size\" %llu", path,
                            (unsigned long long)f->size);
    }
    if (st == LQMF_OK && !(f->path = strdup(path))) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    return st;
}

lqmf_status hub_parse_tree_page(const char *json, size_t len, lqmf_hub_file **files, size_t *n, size_t *cap) {
    json_t *root;
    lqmf_status st = load(json, len, "tree listing", &root);
    if (st != LQMF_OK) return st;
    if (!json_is_array(root)) st = lqmf_error(LQMF_E_FORMAT, "tree listing: not a JSON array");
    for (size_t i = 0; st == LQMF_OK && i < json_array_size(root); i++) {
        json_t *e = json_array_get(root, i);
        if (!json_is_object(e)) {
            st = lqmf_error(LQMF_E_FORMAT, "tree listing: entry %zu is not an object", i);
            break;
        }
        lqmf_hub_file f;
        bool is_file;
        st = parse_entry(e, &f, &is_file);
        if (st != LQMF_OK || !is_file) continue;
        if (*n >= HUB_MAX_FILES) {
            free(f.path);
            st = lqmf_error(LQMF_E_FORMAT, "tree listing: more than %u files", HUB_MAX_FILES);
            break;
        }
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            lqmf_hub_file *nf = realloc(*files, nc * sizeof *nf);
            if (!nf) {
                free(f.path);
                st = lqmf_error(LQMF_E_NOMEM, "out of memory");
                break;
            }
            *files = nf;
            *cap = nc;
        }
        (*files)[(*n)++] = f;
    }
    json_decref(root);
    return st;
}

static int cmp_file(const void *a, const void *b) {
    return strcmp(((const lqmf_hub_file *)a)->path, ((const lqmf_hub_file *)b)->path);
}

lqmf_status hub_files_finish(lqmf_hub_file *files, size_t n) {
    if (n) qsort(files, n, sizeof *files, cmp_file);
    for (size_t i = 1; i < n; i++)
        if (strcmp(files[i - 1].path, files[i].path) == 0)
            return lqmf_error(LQMF_E_FORMAT, "tree listing: \"%s\" is listed twice", files[i].path);
    return LQMF_OK;
}

void hub_files_free(lqmf_hub_file *files, size_t n) {
    for (size_t i = 0; files && i < n; i++) free(files[i].path);
    free(files);
}

char *hub_link_next(const char *link) {
    const char *s = link;
    while ((s = strchr(s, '<'))) {
        const char *end = strchr(s, '>');
        if (!end) return NULL;
        const char *params = end + 1, *stop = strchr(params, ',');
        size_t plen = stop ? (size_t)(stop - params) : strlen(params);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(plen < 255 ? plen : 255), params);
        if (strstr(buf, "rel=\"next\"") || strstr(buf, "rel=next"))
            return strndup(s + 1, (size_t)(end - s - 1));
        s = end;
    }
    return NULL;
}

lqmf_status hub_parse_user(const char *json, size_t len, lqmf_hub_user **out) {
    *out = NULL;
    json_t *root;
    lqmf_status st = load(json, len, "whoami-v2", &root);
    if (st != LQMF_OK) return st;
    json_t *name = json_object_get(root, "name");
    if (!json_is_string(name)) {
        json_decref(root);
        return lqmf_error(LQMF_E_FORMAT, "whoami-v2: no \"name\" string in the answer");
    }
    lqmf_hub_user *u = calloc(1, sizeof *u);
    json_t *orgs = json_object_get(root, "orgs");
    json_t *tok = json_object_get(json_object_get(root, "auth"), "accessToken");
    if (u) {
        u->name = dup_str(root, "name");
        u->fullname = dup_str(root, "fullname");
        u->type = dup_str(root, "type");
        u->is_pro = json_is_true(json_object_get(root, "isPro"));
        u->token_name = dup_str(tok, "displayName");
        u->token_role = dup_str(tok, "role");
        size_t n = json_is_array(orgs) ? json_array_size(orgs) : 0;
        u->orgs = calloc(n ? n : 1, sizeof *u->orgs);
        for (size_t i = 0; u->orgs && i < n; i++) {
            json_t *o = json_array_get(orgs, i);
            if (!json_is_string(json_object_get(o, "name"))) continue;
            if (!(u->orgs[u->n_orgs++] = dup_str(o, "name"))) break;
        }
    }
    if (!u || !u->name || !u->fullname || !u->type || !u->token_name || !u->token_role || !u->orgs ||
        (u->n_orgs && !u->orgs[u->n_orgs - 1])) {
        lqmf_hub_user_free(u);
        st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    } else {
        *out = u;
    }
    json_decref(root);
    return st;
}

void lqmf_hub_user_free(lqmf_hub_user *u) {
    if (!u) return;
    free(u->name);
    free(u->fullname);
    free(u->type);
    free(u->token_name);
    free(u->token_role);
    for (size_t i = 0; i < u->n_orgs; i++) free(u->orgs[i]);
    free(u->orgs);
    free(u);
}
