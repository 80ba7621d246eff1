/* safetensors reader and writer.
 *
 * Reading maps each file and validates its whole header before any tensor is
 * handed out, with the rules of the reference library: header length capped
 * at 100 MB and inside the file, UTF-8 JSON object without duplicate keys,
 * every tensor's shape * dtype size equal to its data_offsets span, and the
 * tensors tiling the data region [0, file size - 8 - N) with no gap or
 * overlap. Tensor data are views into the mapping (zero-copy).
 *
 * Writing reproduces the reference writer byte for byte: tensors sorted by
 * dtype (descending enum rank) then name, compact JSON with "__metadata__"
 * first, header padded with spaces to a multiple of 8. */
#include "lqmf/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_MAX_BYTES (64u << 20) /* cap on model.safetensors.index.json */
#define UNKNOWN_SIZE UINT64_MAX

static const struct {
    const char *name;
    uint32_t bits;
} DTYPES[LQMF_ST_DTYPE_COUNT] = {
    [LQMF_ST_BOOL] = {"BOOL", 8},
    [LQMF_ST_F4] = {"F4", 4},
    [LQMF_ST_F6_E2M3] = {"F6_E2M3", 6},
    [LQMF_ST_F6_E3M2] = {"F6_E3M2", 6},
    [LQMF_ST_U8] = {"U8", 8},
    [LQMF_ST_I8] = {"I8", 8},
    [LQMF_ST_F8_E5M2] = {"F8_E5M2", 8},
    [LQMF_ST_F8_E4M3] = {"F8_E4M3", 8},
    [LQMF_ST_F8_E8M0] = {"F8_E8M0", 8},
    [LQMF_ST_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [LQMF_ST_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
    [LQMF_ST_I16] = {"I16", 16},
    [LQMF_ST_U16] = {"U16", 16},
    [LQMF_ST_F16] = {"F16", 16},
    [LQMF_ST_BF16] = {"BF16", 16},
    [LQMF_ST_I32] = {"I32", 32},
    [LQMF_ST_U32] = {"U32", 32},
    [LQMF_ST_F32] = {"F32", 32},
    [LQMF_ST_C64] = {"C64", 64},
    [LQMF_ST_F64] = {"F64", 64},
    [LQMF_ST_I64] = {"I64", 64},
    [LQMF_ST_U64] = {"U64", 64},
};

const char *lqmf_st_dtype_name(lqmf_st_dtype t) {
    return (unsigned)t < LQMF_ST_DTYPE_COUNT ? DTYPES[t].name : "?";
}

bool lqmf_st_dtype_from_name(const char *name, lqmf_st_dtype *out) {
    for (int i = 0; i < LQMF_ST_DTYPE_COUNT; i++)
        if (strcmp(name, DTYPES[i].name) == 0) {
            *out = (lqmf_st_dtype)i;
            return true;
        }
    return false;
}

uint32_t lqmf_st_dtype_bits(lqmf_st_dtype t) {
    return (unsigned)t < LQMF_ST_DTYPE_COUNT ? DTYPES[t].bits : 0;
}

bool lqmf_st_dtype_nbytes(lqmf_st_dtype t, uint64_t n_elems, uint64_t *out) {
    uint64_t bits;
    if (!lqmf_st_dtype_bits(t) || !lqmf_mul_u64(n_elems, lqmf_st_dtype_bits(t), &bits) || bits % 8)
        return false;
    *out = bits / 8;
    return true;
}

/* Grow *p (of *cap elements of size elem) to hold at least need elements. */
static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return false;
    *p = q;
    *cap = n;
    return true;
}

/* ======================================================================== */
/* reader                                                                    */
/* ======================================================================== */

typedef struct {
    char *key, *value;
} st_kv;

struct lqmf_safetensors {
    lqmf_map *maps;     /* n_shards mappings; NULL after lqmf_st_parse* */
    char **shard_paths; /* n_shards; the label for a parsed buffer */
    size_t n_shards;
    lqmf_st_tensor *t; /* file order: shard, then offset */
    size_t n_t, cap_t;
    size_t *by_name; /* indices into t, sorted by name */
    st_kv *meta;     /* __metadata__ of shard 0, header order */
    size_t n_meta, cap_meta;
};

/* Where one shard's data region lies; data NULL when parsing a header only. */
typedef struct {
    const char *label;
    const uint8_t *data;
    uint64_t base;      /* file offset of the data region: 8 + N */
    uint64_t data_size; /* bytes, or UNKNOWN_SIZE */
    uint32_t shard;
} shard_ctx;

#define FMT_ERR(...) lqmf_error(LQMF_E_FORMAT, __VA_ARGS__)
#define NOMEM(label) lqmf_error(LQMF_E_NOMEM, "%s: out of memory", label)
typedef unsigned long long ull;

static lqmf_status parse_metadata(lqmf_safetensors *st, json_t *v, const shard_ctx *c) {
    if (!json_is_object(v)) return FMT_ERR("%s: __metadata__ is not an object", c->label);
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!json_is_string(x))
            return FMT_ERR("%s: __metadata__ value of \"%.200s\" is not a string", c->label, k);
        if (c->shard != 0) continue; /* only the first shard's metadata is kept */
        if (!grow((void **)&st->meta, &st->cap_meta, st->n_meta + 1, sizeof *st->meta))
            return NOMEM(c->label);
        st_kv *e = &st->meta[st->n_meta];
        e->key = strdup(k);
        e->value = strdup(json_string_value(x));
        st->n_meta++;
        if (!e->key || !e->value) return NOMEM(c->label);
    }
    return LQMF_OK;
}

/* A JSON value that must be a non-negative integer; false otherwise. */
static bool get_u64(json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static lqmf_status parse_tensor(lqmf_safetensors *st, const char *name, json_t *v, const shard_ctx *c) {
    const char *L = c->label;
    if (!*name) return FMT_ERR("%s: a tensor has an empty name", L);
    if (!lqmf_utf8_valid(name, strlen(name))) return FMT_ERR("%s: a tensor name is not valid UTF-8", L);
    if (!json_is_object(v)) return FMT_ERR("%s: tensor \"%.200s\": entry is not an object", L, name);

    lqmf_st_tensor t = {.shard = c->shard, .n_elems = 1};
    json_t *jd = json_object_get(v, "dtype");
    if (!json_is_string(jd)) return FMT_ERR("%s: tensor \"%.200s\": dtype missing or not a string", L, name);
    if (!lqmf_st_dtype_from_name(json_string_value(jd), &t.dtype))
        return FMT_ERR("%s: tensor \"%.200s\": unknown dtype \"%.40s\"", L, name, json_string_value(jd));

    json_t *js = json_object_get(v, "shape");
    if (!json_is_array(js)) return FMT_ERR("%s: tensor \"%.200s\": shape missing or not an array", L, name);
    if (json_array_size(js) > LQMF_ST_MAX_DIMS)
        return FMT_ERR("%s: tensor \"%.200s\": shape has %zu dims, more than %d", L, name,
                       json_array_size(js), LQMF_ST_MAX_DIMS);
    t.n_dims = (uint32_t)json_array_size(js);
    for (uint32_t i = 0; i < t.n_dims; i++) {
        if (!get_u64(json_array_get(js, i), &t.shape[i]))
            return FMT_ERR("%s: tensor \"%.200s\": shape[%u] is not a non-negative integer", L, name, i);
        if (!lqmf_mul_u64(t.n_elems, t.shape[i], &t.n_elems))
            return FMT_ERR("%s: tensor \"%.200s\": element count overflows at shape[%u]", L, name, i);
    }
    if (!lqmf_st_dtype_nbytes(t.dtype, t.n_elems, &t.nbytes))
        return FMT_ERR("%s: tensor \"%.200s\": %llu elements of %s overflow or do not fill whole bytes", L,
                       name, (ull)t.n_elems, DTYPES[t.dtype].name);

    json_t *jo = json_object_get(v, "data_offsets");
    uint64_t b, e;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !get_u64(json_array_get(jo, 0), &b) ||
        !get_u64(json_array_get(jo, 1), &e))
        return FMT_ERR("%s: tensor \"%.200s\": data_offsets is not [begin, end] of non-negative "
                       "integers",
                       L, name);
    if (b > e)
        return FMT_ERR("%s: tensor \"%.200s\": data_offsets begin %llu > end %llu", L, name, (ull)b, (ull)e);
    if (e > c->data_size)
        return FMT_ERR("%s: tensor \"%.200s\": data_offsets end %llu is past the end of the data "
                       "(%llu bytes)",
                       L, name, (ull)e, (ull)c->data_size);
    if (e - b != t.nbytes)
        return FMT_ERR("%s: tensor \"%.200s\": size mismatch: %llu elements of %s take %llu bytes, "
                       "data_offsets span %llu",
                       L, name, (ull)t.n_elems, DTYPES[t.dtype].name, (ull)t.nbytes, (ull)(e - b));
    t.offset = c->base + b;
    t.data = c->data ? c->data + b : NULL;

    if (!grow((void **)&st->t, &st->cap_t, st->n_t + 1, sizeof *st->t)) return NOMEM(L);
    if (!(t.name = strdup(name))) return NOMEM(L);
    st->t[st->n_t++] = t;
    return LQMF_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const lqmf_st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

/* Sort t[first..] by offset and check they tile the data region. */
static lqmf_status check_coverage(lqmf_safetensors *st, size_t first, const shard_ctx *c) {
    lqmf_st_tensor *t = st->t + first;
    size_t n = st->n_t - first;
    if (n > 1) qsort(t, n, sizeof *t, cmp_offset);
    uint64_t pos = 0; /* end of the covered prefix, relative to the data region */
    for (size_t i = 0; i < n; i++) {
        uint64_t b = t[i].offset - c->base;
        if (b < pos)
            return FMT_ERR("%s: tensors \"%.200s\" and \"%.200s\" overlap (data bytes %llu..%llu)", c->label,
                           t[i - 1].name, t[i].name, (ull)b, (ull)pos);
        if (b > pos)
            return FMT_ERR("%s: gap: data bytes %llu..%llu before tensor \"%.200s\" belong to no "
                           "tensor",
                           c->label, (ull)pos, (ull)b, t[i].name);
        pos = b + t[i].nbytes;
    }
    if (c->data_size != UNKNOWN_SIZE && pos != c->data_size)
        return FMT_ERR("%s: gap: data bytes %llu..%llu at the end belong to no tensor", c->label, (ull)pos,
                       (ull)c->data_size);
    return LQMF_OK;
}

static lqmf_status parse_json(lqmf_safetensors *st, const char *json, size_t len, const shard_ctx *c) {
    if (!lqmf_utf8_valid(json, len)) return FMT_ERR("%s: header is not valid UTF-8", c->label);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return FMT_ERR("%s: header is not valid JSON: %s (line %d, column %d)", c->label, je.text, je.line,
                       je.column);
    lqmf_status s = LQMF_OK;
    if (!json_is_object(root)) s = FMT_ERR("%s: header is not a JSON object", c->label);
    size_t first = st->n_t;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (s != LQMF_OK) break;
        s = strcmp(k, "__metadata__") == 0 ? parse_metadata(st, v, c) : parse_tensor(st, k, v, c);
    }
    json_decref(root);
    return s != LQMF_OK ? s : check_coverage(st, first, c);
}

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Parse one shard from its first `have` bytes. file_size is the whole file's
 * size, or 0 when unknown (header-only parse). header_only leaves data NULL. */
static lqmf_status parse_shard(lqmf_safetensors *st, const uint8_t *p, uint64_t have, uint64_t file_size,
                               bool header_only, const char *label, uint32_t shard, uint64_t *need) {
    if (have < 8) {
        if (header_only && (file_size == 0 || file_size >= 8)) {
            if (need) *need = 8;
            return lqmf_error(LQMF_E_STATE, "%s: need the first 8 bytes, have %llu", label, (ull)have);
        }
        return FMT_ERR("%s: file is %llu bytes, shorter than the 8-byte header length", label,
                       (ull)(header_only ? file_size : have));
    }
    uint64_t n = read_le64(p);
    if (n > LQMF_ST_MAX_HEADER)
        return FMT_ERR("%s: header length %llu is over the limit of %u bytes", label, (ull)n,
                       LQMF_ST_MAX_HEADER);
    uint64_t hend = 8 + n;
    if (file_size && hend > file_size)
        return FMT_ERR("%s: header length %llu runs past the end of the file (%llu bytes)", label, (ull)n,
                       (ull)file_size);
    if (hend > have) {
        if (need) *need = hend;
        return lqmf_error(LQMF_E_STATE, "%s: need the first %llu bytes for the header, have %llu", label,
                          (ull)hend, (ull)have);
    }
    shard_ctx c = {label, header_only ? NULL : p + hend, hend, file_size ? file_size - hend : UNKNOWN_SIZE,
                   shard};
    return parse_json(st, (const char *)p + 8, (size_t)n, &c);
}

static int cmp_name_idx(const void *a, const void *b, void *ctx) {
    const lqmf_st_tensor *t = ctx;
    return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

/* Build the name index; a name in two shards is an error. */
static lqmf_status finish(lqmf_safetensors *st) {
    st->by_name = malloc((st->n_t ? st->n_t : 1) * sizeof *st->by_name);
    if (!st->by_name) return NOMEM(st->shard_paths[0]);
    for (size_t i = 0; i < st->n_t; i++) st->by_name[i] = i;
    qsort_r(st->by_name, st->n_t, sizeof *st->by_name, cmp_name_idx, st->t);
    for (size_t i = 1; i < st->n_t; i++) {
        const lqmf_st_tensor *a = &st->t[st->by_name[i - 1]], *b = &st->t[st->by_name[i]];
        if (strcmp(a->name, b->name) == 0)
            return FMT_ERR("tensor \"%.200s\" is in both %s and %s", a->name, st->shard_paths[a->shard],
                           st->shard_paths[b->shard]);
    }
    return LQMF_OK;
}

/* An empty model with room for n shards (paths and, if mapped, mappings). */
static lqmf_safetensors *model_new(size_t n, bool mapped) {
    lqmf_safetensors *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->n_shards = n;
    st->shard_paths = calloc(n, sizeof *st->shard_paths);
    st->maps = mapped ? calloc(n, sizeof *st->maps) : NULL;
    if (!st->shard_paths || (mapped && !st->maps)) {
        lqmf_st_close(st);
        return NULL;
    }
    return st;
}

void lqmf_st_close(lqmf_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_shards; i++) {
        if (st->maps) lqmf_map_close(&st->maps[i]);
        if (st->shard_paths) free(st->shard_paths[i]);
    }
    for (size_t i = 0; i < st->n_t; i++) free((char *)st->t[i].name);
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->maps);
    free(st->shard_paths);
    free(st->t);
    free(st->by_name);
    free(st->meta);
    free(st);
}

/* Shared tail of the parse entry points. */
static lqmf_status parse_buffer(const void *bytes, size_t size, uint64_t file_size, bool header_only,
                                const char *label, lqmf_safetensors **out, uint64_t *need) {
    *out = NULL;
    if (!label) label = "(buffer)";
    lqmf_safetensors *st = model_new(1, false);
    if (!st || !(st->shard_paths[0] = strdup(label))) {
        lqmf_st_close(st);
        return NOMEM(label);
    }
    lqmf_status s = parse_shard(st, bytes, size, file_size, header_only, label, 0, need);
    if (s == LQMF_OK) s = finish(st);
    if (s != LQMF_OK) {
        lqmf_st_close(st);
        return s;
    }
    *out = st;
    return LQMF_OK;
}

lqmf_status lqmf_st_parse(const void *bytes, size_t size, const char *label, lqmf_safetensors **out) {
    return parse_buffer(bytes, size, size, false, label, out, NULL);
}

lqmf_status lqmf_st_parse_header(const void *prefix, size_t prefix_size, uint64_t file_size,
                                 const char *label, lqmf_safetensors **out, uint64_t *need) {
    if (file_size && prefix_size > file_size)
        return lqmf_error(LQMF_E_INVALID, "%s: prefix of %zu bytes is longer than the file (%llu)",
                          label ? label : "(buffer)", prefix_size, (ull)file_size);
    return parse_buffer(prefix, prefix_size, file_size, true, label, out, need);
}

/* Map and parse shard i of st from path. */
static lqmf_status load_shard(lqmf_safetensors *st, uint32_t i, const char *path) {
    if (!(st->shard_paths[i] = strdup(path))) return NOMEM(path);
    lqmf_status s = lqmf_map_open(path, &st->maps[i]);
    if (s != LQMF_OK) return s;
    const lqmf_map *m = &st->maps[i];
    return parse_shard(st, m->data, m->size, m->size, false, path, i, NULL);
}

static lqmf_status open_file(const char *path, lqmf_safetensors **out) {
    lqmf_safetensors *st = model_new(1, true);
    if (!st) return NOMEM(path);
    lqmf_status s = load_shard(st, 0, path);
    if (s == LQMF_OK) s = finish(st);
    if (s != LQMF_OK) {
        lqmf_st_close(st);
        return s;
    }
    *out = st;
    return LQMF_OK;
}

/* A shard file name from an index must stay inside the index's folder. */
static bool safe_relative(const char *f) {
    if (!*f || *f == '/') return false;
    for (const char *p = f;; p++) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n;
        if (!*p) return true;
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Unique shard file names of weight_map, sorted; *files owned by caller
 * (the strings belong to the JSON). */
static lqmf_status shard_names(json_t *wm, const char *ipath, const char ***files, size_t *nf) {
    size_t cap = 0;
    *files = NULL;
    *nf = 0;
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        if (!json_is_string(v)) return FMT_ERR("%s: weight_map entry \"%.200s\" is not a string", ipath, k);
        const char *f = json_string_value(v);
        if (!safe_relative(f))
            return FMT_ERR("%s: weight_map entry \"%.200s\" names shard \"%.200s\" outside the folder", ipath,
                           k, f);
        size_t j = 0;
        while (j < *nf && strcmp((*files)[j], f) != 0) j++;
        if (j < *nf) continue;
        if (!grow((void **)files, &cap, *nf + 1, sizeof **files)) return NOMEM(ipath);
        (*files)[(*nf)++] = f;
    }
    if (*nf > 1) qsort(*files, *nf, sizeof **files, cmp_str);
    return LQMF_OK;
}

/* Every tensor is listed in weight_map under its own shard, and every
 * listed tensor exists. */
static lqmf_status check_index(const lqmf_safetensors *st, json_t *wm, const char **files,
                               const char *ipath) {
    for (size_t i = 0; i < st->n_t; i++) {
        const lqmf_st_tensor *t = &st->t[i];
        const char *f = json_string_value(json_object_get(wm, t->name));
        if (!f)
            return FMT_ERR("%s: tensor \"%.200s\" of shard %s is not listed in weight_map", ipath, t->name,
                           files[t->shard]);
        if (strcmp(f, files[t->shard]) != 0)
            return FMT_ERR("%s: weight_map puts tensor \"%.200s\" in %s, but it is in %s", ipath, t->name, f,
                           files[t->shard]);
    }
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        if (!lqmf_st_find(st, k))
            return FMT_ERR("%s: weight_map lists tensor \"%.200s\" in %s, but that shard lacks it", ipath, k,
                           json_string_value(v));
    }
    return LQMF_OK;
}

static lqmf_status open_index(const char *ipath, lqmf_safetensors **out) {
    char *text;
    size_t len;
    lqmf_status s = lqmf_read_file(ipath, INDEX_MAX_BYTES, &text, &len);
    if (s != LQMF_OK) return s;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root)
        return FMT_ERR("%s: not valid JSON: %s (line %d, column %d)", ipath, je.text, je.line, je.column);
    json_t *wm = json_object_get(root, "weight_map");
    const char **files = NULL;
    size_t nf = 0;
    lqmf_safetensors *st = NULL;
    if (!json_is_object(wm)) s = FMT_ERR("%s: weight_map missing or not an object", ipath);
    if (s == LQMF_OK) s = shard_names(wm, ipath, &files, &nf);
    if (s == LQMF_OK && nf == 0) s = FMT_ERR("%s: weight_map lists no tensors", ipath);
    if (s == LQMF_OK && !(st = model_new(nf, true))) s = NOMEM(ipath);

    const char *slash = strrchr(ipath, '/');
    int dlen = slash ? (int)(slash - ipath) : 1;
    const char *dir = slash ? ipath : ".";
    for (size_t i = 0; s == LQMF_OK && i < nf; i++) {
        char *path;
        if (asprintf(&path, "%.*s/%s", dlen, dir, files[i]) < 0) {
            s = NOMEM(ipath);
            break;
        }
        s = load_shard(st, (uint32_t)i, path);
        if (s != LQMF_OK) lqmf_error_prefix(s, "%s: shard %s", ipath, files[i]);
        free(path);
    }
    if (s == LQMF_OK) s = finish(st);
    if (s == LQMF_OK) s = check_index(st, wm, files, ipath);
    free(files);
    json_decref(root);
    if (s != LQMF_OK) {
        lqmf_st_close(st);
        return s;
    }
    *out = st;
    return LQMF_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

lqmf_status lqmf_st_open(const char *path, lqmf_safetensors **out) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return lqmf_error(LQMF_E_NOT_FOUND, "%s: no such file or folder", path);
    if (!S_ISDIR(sb.st_mode)) return ends_with(path, ".json") ? open_index(path, out) : open_file(path, out);
    char *p = NULL;
    lqmf_status s;
    if (asprintf(&p, "%s/model.safetensors.index.json", path) < 0) return NOMEM(path);
    if (access(p, F_OK) == 0) {
        s = open_index(p, out);
    } else {
        p[strlen(p) - strlen(".index.json")] = '\0';
        s = access(p, F_OK) == 0 ? open_file(p, out)
                                 : lqmf_error(LQMF_E_NOT_FOUND,
                                              "%s: folder holds neither "
                                              "model.safetensors nor its index",
                                              path);
    }
    free(p);
    return s;
}

size_t lqmf_st_n_tensors(const lqmf_safetensors *st) { return st->n_t; }

const lqmf_st_tensor *lqmf_st_tensor_at(const lqmf_safetensors *st, size_t i) {
    return i < st->n_t ? &st->t[i] : NULL;
}

const lqmf_st_tensor *lqmf_st_find(const lqmf_safetensors *st, const char *name) {
    size_t lo = 0, hi = st->n_t;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const lqmf_st_tensor *t = &st->t[st->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t lqmf_st_n_shards(const lqmf_safetensors *st) { return st->n_shards; }

const char *lqmf_st_shard_path(const lqmf_safetensors *st, size_t i) {
    return i < st->n_shards ? st->shard_paths[i] : NULL;
}

size_t lqmf_st_n_metadata(const lqmf_safetensors *st) { return st->n_meta; }

void lqmf_st_metadata_at(const lqmf_safetensors *st, size_t i, const char **key, const char **value) {
    *key = i < st->n_meta ? st->meta[i].key : NULL;
    *value = i < st->n_meta ? st->meta[i].value : NULL;
}

const char *lqmf_st_metadata_get(const lqmf_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
    return NULL;
}

/* ======================================================================== */
/* writer                                                                    */
/* ======================================================================== */

typedef struct {
    char *name;
    lqmf_st_dtype dtype;
    uint32_t n_dims;
    uint64_t shape[LQMF_ST_MAX_DIMS];
    const void *data; /* borrowed, or NULL: */
    int fd;           /* ... the bytes at off of this file, read while writing */
    uint64_t off;
    uint64_t nbytes;
} wtensor;

struct lqmf_st_writer {
    wtensor *t;
    size_t n_t, cap_t;
    st_kv *meta;
    size_t n_meta, cap_meta;
};

lqmf_status lqmf_st_writer_new(lqmf_st_writer **out) {
    *out = calloc(1, sizeof **out);
    return *out ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "safetensors writer: out of memory");
}

void lqmf_st_writer_free(lqmf_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->t);
    free(w->meta);
    free(w);
}

static lqmf_status add(lqmf_st_writer *w, const char *name, lqmf_st_dtype dtype, uint32_t n_dims,
                       const uint64_t *shape, const void *data, int fd, uint64_t off, uint64_t nbytes) {
    if (!name || !*name || !lqmf_utf8_valid(name, strlen(name)) || !strcmp(name, "__metadata__"))
        return lqmf_error(LQMF_E_INVALID, "safetensors writer: bad tensor name \"%.200s\"",
                          name ? name : "(null)");
    if ((unsigned)dtype >= LQMF_ST_DTYPE_COUNT || n_dims > LQMF_ST_MAX_DIMS)
        return lqmf_error(LQMF_E_INVALID,
                          "safetensors writer: tensor \"%.200s\": bad dtype %d or "
                          "%u dims",
                          name, (int)dtype, n_dims);
    uint64_t n = 1, need;
    for (uint32_t i = 0; i < n_dims; i++)
        if (!lqmf_mul_u64(n, shape[i], &n)) n = UINT64_MAX;
    if (!lqmf_st_dtype_nbytes(dtype, n, &need) || need != nbytes || (!data && fd < 0 && nbytes))
        return lqmf_error(LQMF_E_INVALID,
                          "safetensors writer: tensor \"%.200s\": %llu bytes given "
                          "for %llu elements of %s",
                          name, (ull)nbytes, (ull)n, DTYPES[dtype].name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return lqmf_error(LQMF_E_INVALID, "safetensors writer: tensor \"%.200s\" added twice", name);
    if (!grow((void **)&w->t, &w->cap_t, w->n_t + 1, sizeof *w->t))
        return lqmf_error(LQMF_E_NOMEM, "safetensors writer: out of memory");
    wtensor *t = &w->t[w->n_t];
    *t = (wtensor){.name = strdup(name), .dtype = dtype, .n_dims = n_dims, .data = data, .fd = fd, .off = off,
                       .nbytes = nbytes};
    if (!t->name) return lqmf_error(LQMF_E_NOMEM, "safetensors writer: out of memory");
    if (n_dims) memcpy(t->shape, shape, n_dims * sizeof *shape);
    w->n_t++;
    return LQMF_OK;
}

lqmf_status lqmf_st_writer_add(lqmf_st_writer *w, const char *name, lqmf_st_dtype dtype, uint32_t n_dims,
                               const uint64_t *shape, const void *data, uint64_t nbytes) {
    return add(w, name, dtype, n_dims, shape, data, -1, 0, nbytes);
}

lqmf_status lqmf_st_writer_add_file(lqmf_st_writer *w, const char *name, lqmf_st_dtype dtype, uint32_t n_dims,
                                    const uint64_t *shape, int fd, uint64_t offset, uint64_t nbytes) {
    if (fd < 0) return lqmf_error(LQMF_E_INVALID, "safetensors writer: tensor \"%.200s\": no file", name ? name : "");
    return add(w, name, dtype, n_dims, shape, NULL, fd, offset, nbytes);
}

/* The bytes of t from its file into f, a buffer at a time. */
static lqmf_status copy_from_file(lqmf_afile *f, const wtensor *t, uint8_t *buf, size_t cap) {
    for (uint64_t done = 0; done < t->nbytes;) {
        size_t want = t->nbytes - done < cap ? (size_t)(t->nbytes - done) : cap;
        ssize_t got = pread(t->fd, buf, want, (off_t)(t->off + done));
        if (got <= 0)
            return lqmf_error(LQMF_E_IO, "safetensors writer: tensor \"%.200s\": %s", t->name,
                              got < 0 ? strerror(errno) : "its file is shorter than the tensor");
        lqmf_status s = lqmf_afile_write(f, buf, (size_t)got);
        if (s != LQMF_OK) return s;
        done += (uint64_t)got;
    }
    return LQMF_OK;
}

lqmf_status lqmf_st_writer_set_metadata(lqmf_st_writer *w, const char *key, const char *value) {
    if (!key || !value || !lqmf_utf8_valid(key, strlen(key)) || !lqmf_utf8_valid(value, strlen(value)))
        return lqmf_error(LQMF_E_INVALID, "safetensors writer: metadata key or value missing or "
                                          "not UTF-8");
    char *v = strdup(value);
    if (!v) return lqmf_error(LQMF_E_NOMEM, "safetensors writer: out of memory");
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return LQMF_OK;
        }
    char *k = strdup(key);
    if (!k || !grow((void **)&w->meta, &w->cap_meta, w->n_meta + 1, sizeof *w->meta)) {
        free(k);
        free(v);
        return lqmf_error(LQMF_E_NOMEM, "safetensors writer: out of memory");
    }
    w->meta[w->n_meta++] = (st_kv){k, v};
    return LQMF_OK;
}

/* A JSON string escaped as the reference (serde_json) does: only the quote,
 * the backslash and control characters; \u00xx in lower-case hex. */
static void put_string(lqmf_buf *b, const char *s) {
    lqmf_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc)
            lqmf_buf_append(b, esc, strlen(esc));
        else if (*p < 0x20)
            lqmf_buf_printf(b, "\\u%04x", *p);
        else
            lqmf_buf_append(b, p, 1);
    }
    lqmf_buf_append(b, "\"", 1);
}

/* Layout order: larger dtype rank first, then name (bytewise). */
static int cmp_layout(const void *a, const void *b) {
    const wtensor *x = *(const wtensor *const *)a, *y = *(const wtensor *const *)b;
    if (x->dtype != y->dtype) return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Header JSON for tensors in `order`, padded with spaces to a multiple of 8. */
static void build_header(const lqmf_st_writer *w, wtensor *const *order, lqmf_buf *b) {
    lqmf_buf_append(b, "{", 1);
    if (w->n_meta) {
        lqmf_buf_printf(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i) lqmf_buf_append(b, ",", 1);
            put_string(b, w->meta[i].key);
            lqmf_buf_append(b, ":", 1);
            put_string(b, w->meta[i].value);
        }
        lqmf_buf_append(b, "}", 1);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = order[i];
        if (i || w->n_meta) lqmf_buf_append(b, ",", 1);
        put_string(b, t->name);
        lqmf_buf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", DTYPES[t->dtype].name);
        for (uint32_t d = 0; d < t->n_dims; d++) lqmf_buf_printf(b, "%s%llu", d ? "," : "", (ull)t->shape[d]);
        lqmf_buf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (ull)off, (ull)(off + t->nbytes));
        off += t->nbytes;
    }
    lqmf_buf_append(b, "}", 1);
    lqmf_buf_append(b, "        ", (8 - b->len % 8) % 8);
}

lqmf_status lqmf_st_writer_write(lqmf_st_writer *w, const char *path) {
    wtensor **order = malloc((w->n_t ? w->n_t : 1) * sizeof *order);
    if (!order) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    uint64_t total = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        order[i] = &w->t[i];
        if (!lqmf_add_u64(total, w->t[i].nbytes, &total)) {
            free(order);
            return lqmf_error(LQMF_E_INVALID, "%s: tensor sizes overflow", path);
        }
    }
    qsort(order, w->n_t, sizeof *order, cmp_layout);
    lqmf_buf hdr;
    lqmf_buf_init(&hdr);
    build_header(w, order, &hdr);
    lqmf_status s = LQMF_OK;
    if (hdr.failed)
        s = lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    else if (hdr.len > LQMF_ST_MAX_HEADER)
        s = lqmf_error(LQMF_E_INVALID, "%s: header of %zu bytes is over the limit", path, hdr.len);
    lqmf_afile f;
    if (s == LQMF_OK) s = lqmf_afile_open(&f, path);
    if (s == LQMF_OK) {
        uint8_t len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hdr.len >> (8 * i));
        s = lqmf_afile_write(&f, len8, 8);
        if (s == LQMF_OK) s = lqmf_afile_write(&f, hdr.data, hdr.len);
        enum { CHUNK = 1 << 20 };
        uint8_t *buf = NULL;
        for (size_t i = 0; s == LQMF_OK && i < w->n_t; i++) {
            if (!order[i]->nbytes) continue;
            if (order[i]->data) {
                s = lqmf_afile_write(&f, order[i]->data, (size_t)order[i]->nbytes);
                continue;
            }
            if (!buf && !(buf = malloc(CHUNK))) s = lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
            if (s == LQMF_OK) s = copy_from_file(&f, order[i], buf, CHUNK);
        }
        free(buf);
        if (s == LQMF_OK)
            s = lqmf_afile_commit(&f);
        else
            lqmf_afile_abort(&f);
    }
    lqmf_buf_free(&hdr);
    free(order);
    return s;
}
