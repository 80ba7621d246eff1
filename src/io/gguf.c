/* GGUF reader (validating, zero-copy views) and streaming writer. */
#include "lqmf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- value types and little-endian scalars -------------------------------- */

static const struct {
    const char *name;
    uint8_t size; /* bytes of a scalar; 0 for STR, ARR */
} k_vtypes[LQMF_GGUF_VTYPE_COUNT] = {
    { "u8", 1 },  { "i8", 1 },  { "u16", 2 }, { "i16", 2 },  { "u32", 4 },
    { "i32", 4 }, { "f32", 4 }, { "bool", 1 }, { "str", 0 }, { "arr", 0 },
    { "u64", 8 }, { "i64", 8 }, { "f64", 8 },
};

const char *lqmf_gguf_vtype_name(uint32_t t) {
    return t < LQMF_GGUF_VTYPE_COUNT ? k_vtypes[t].name : "?";
}

size_t lqmf_gguf_vtype_size(uint32_t t) {
    return t < LQMF_GGUF_VTYPE_COUNT ? k_vtypes[t].size : 0;
}

static bool vtype_is_int(lqmf_gguf_vtype t) {
    return t <= LQMF_GGUF_I32 || t == LQMF_GGUF_U64 || t == LQMF_GGUF_I64;
}

static bool vtype_is_signed(lqmf_gguf_vtype t) {
    return t == LQMF_GGUF_I8 || t == LQMF_GGUF_I16 || t == LQMF_GGUF_I32 || t == LQMF_GGUF_I64;
}

static uint64_t load_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* Decode the scalar of type t (k_vtypes[t].size bytes at p) into v. */
static void decode_scalar(lqmf_gguf_vtype t, const uint8_t *p, lqmf_gguf_value *v) {
    uint64_t raw = load_le(p, k_vtypes[t].size);
    v->type = t;
    switch (t) {
    case LQMF_GGUF_I8: v->v.i = (int8_t)raw; break;
    case LQMF_GGUF_I16: v->v.i = (int16_t)raw; break;
    case LQMF_GGUF_I32: v->v.i = (int32_t)raw; break;
    case LQMF_GGUF_I64: v->v.i = (int64_t)raw; break;
    case LQMF_GGUF_F32: {
        uint32_t u = (uint32_t)raw;
        float f;
        memcpy(&f, &u, 4);
        v->v.f = f;
        break;
    }
    case LQMF_GGUF_F64: memcpy(&v->v.f, &raw, 8); break;
    default: v->v.u = raw; break; /* unsigned ids and BOOL */
    }
}

static uint64_t align_up(uint64_t x, uint64_t a) { return x + (a - x % a) % a; }

static bool alignment_ok(uint64_t a) { return a != 0 && a % 8 == 0 && a <= UINT32_MAX; }

/* NULL when a key or tensor name of len bytes at p is acceptable, else why not. */
static const char *name_problem(const char *p, uint64_t len, uint64_t max) {
    if (len == 0) return "is empty";
    if (len > max) return "is too long";
    if (memchr(p, 0, len) || !lqmf_utf8_valid(p, len)) return "is not valid UTF-8 (or holds a NUL)";
    return NULL;
}

/* Check a tensor shape; on success *nbytes is its size. On failure writes the
 * reason into why. */
static bool shape_ok(uint32_t type, uint32_t n_dims, const uint64_t *ne, uint64_t *nbytes, char *why,
                     size_t why_len) {
    if (n_dims < 1 || n_dims > LQMF_GGUF_MAX_DIMS) {
        snprintf(why, why_len, "n_dims %u is not in 1..%d", n_dims, LQMF_GGUF_MAX_DIMS);
        return false;
    }
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0) {
            snprintf(why, why_len, "dimension %u is 0", d);
            return false;
        }
        if (!lqmf_mul_u64(nelem, ne[d], &nelem) || nelem > INT64_MAX) {
            snprintf(why, why_len, "element count overflows at dimension %u (%llu)", d,
                     (unsigned long long)ne[d]);
            return false;
        }
    }
    const lqmf_type_traits *tr = lqmf_type_get(type);
    if (!tr) {
        snprintf(why, why_len, "unknown or removed type id %u", type);
        return false;
    }
    if (ne[0] % tr->block_size) {
        snprintf(why, why_len, "row length %llu is not a multiple of the %s block size %u",
                 (unsigned long long)ne[0], tr->name, tr->block_size);
        return false;
    }
    if (!lqmf_type_tensor_bytes((lqmf_type)type, ne[0], nelem, nbytes)) {
        snprintf(why, why_len, "byte size of %llu %s elements overflows",
                 (unsigned long long)nelem, tr->name);
        return false;
    }
    return true;
}

/* ---- name -> index table (open addressing, FNV-1a) --------------------------- */

typedef struct {
    const char *name; /* NULL: empty slot */
    uint32_t idx;
} nslot;

typedef struct {
    nslot *slots;
    uint32_t mask, n;
} ntable;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int64_t nt_find(const ntable *t, const char *name) {
    if (!t->slots) return -1;
    for (uint64_t i = hash_str(name);; i++) {
        const nslot *s = &t->slots[i & t->mask];
        if (!s->name) return -1;
        if (strcmp(s->name, name) == 0) return s->idx;
    }
}

static bool nt_grow(ntable *t, uint64_t want) {
    uint64_t cap = 16;
    while (cap < 2 * want) cap *= 2;
    if (t->slots && cap <= (uint64_t)t->mask + 1) return true;
    nslot *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    for (uint64_t j = 0; t->slots && j <= t->mask; j++) {
        if (!t->slots[j].name) continue;
        uint64_t i = hash_str(t->slots[j].name);
        while (slots[i & (cap - 1)].name) i++;
        slots[i & (cap - 1)] = t->slots[j];
    }
    free(t->slots);
    t->slots = slots;
    t->mask = (uint32_t)(cap - 1);
    return true;
}

/* Insert a name known to be absent; name must outlive the table. */
static bool nt_insert(ntable *t, const char *name, uint32_t idx) {
    if (!nt_grow(t, (uint64_t)t->n + 1)) return false;
    uint64_t i = hash_str(name);
    while (t->slots[i & t->mask].name) i++;
    t->slots[i & t->mask] = (nslot){ name, idx };
    t->n++;
    return true;
}

/* ---- reader ----------------------------------------------------------------- */

typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    max_align_t data[];
} arena_blk;

struct lqmf_gguf {
    lqmf_map map; /* when opened from a path */
    const uint8_t *base;
    uint64_t size;
    char *label;
    uint32_t version, alignment;
    uint64_t data_offset;
    uint64_t n_kv, n_tensors;
    lqmf_gguf_kv *kvs;
    lqmf_gguf_tensor *tensors;
    ntable kv_tab, t_tab;
    arena_blk *arena; /* keys, names, string views and child values */
};

/* Zeroed memory owned by g; NULL when n == 0 or out of memory. */
static void *arena_alloc(lqmf_gguf *g, size_t n) {
    if (n == 0) return NULL;
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    arena_blk *b = g->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = calloc(1, sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        if (g->arena && n > 65536) { /* keep filling the current block */
            b->next = g->arena->next;
            g->arena->next = b;
        } else {
            b->next = g->arena;
            g->arena = b;
        }
    }
    void *p = (uint8_t *)b->data + b->used;
    b->used += n;
    return p;
}

typedef struct {
    lqmf_gguf *g;
    uint64_t pos;
    char ctx[320]; /* what is being read, for messages: "key 'x'", "tensor #3" */
} reader;

static lqmf_status fail(const reader *r, lqmf_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lqmf_status fail(const reader *r, lqmf_status st, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lqmf_error(st, "%s: %s: %s", r->g->label, r->ctx, msg);
}

static uint64_t left(const reader *r) { return r->g->size - r->pos; }

static lqmf_status read_uint(reader *r, size_t n, uint64_t *out, const char *what) {
    *out = 0;
    if (left(r) < n)
        return fail(r, LQMF_E_FORMAT, "truncated: %s needs %zu bytes at offset %llu, %llu left",
                    what, n, (unsigned long long)r->pos, (unsigned long long)left(r));
    *out = load_le(r->g->base + r->pos, n);
    r->pos += n;
    return LQMF_OK;
}

static lqmf_status read_u32(reader *r, uint32_t *out, const char *what) {
    uint64_t v;
    lqmf_status st = read_uint(r, 4, &v, what);
    *out = (uint32_t)v;
    return st;
}

static lqmf_status read_str(reader *r, uint64_t max, lqmf_gguf_str *out, const char *what) {
    uint64_t len;
    lqmf_status st = read_uint(r, 8, &len, what);
    if (st) return st;
    if (len > left(r))
        return fail(r, LQMF_E_FORMAT, "%s length %llu exceeds the %llu bytes left", what,
                    (unsigned long long)len, (unsigned long long)left(r));
    if (len > max)
        return fail(r, LQMF_E_FORMAT, "%s length %llu exceeds the limit %llu", what,
                    (unsigned long long)len, (unsigned long long)max);
    out->ptr = (const char *)r->g->base + r->pos;
    out->len = len;
    r->pos += len;
    return LQMF_OK;
}

/* A checked name (key or tensor) copied into the arena as a C string. */
static lqmf_status read_name(reader *r, uint64_t max, const char *what, const char **out) {
    lqmf_gguf_str s;
    lqmf_status st = read_str(r, max, &s, what);
    if (st) return st;
    const char *why = name_problem(s.ptr, s.len, max);
    if (why) return fail(r, LQMF_E_FORMAT, "%s %s", what, why);
    char *c = arena_alloc(r->g, (size_t)s.len + 1);
    if (!c) return fail(r, LQMF_E_NOMEM, "out of memory");
    memcpy(c, s.ptr, (size_t)s.len);
    *out = c;
    return LQMF_OK;
}

/* Array payload: u32 elem_type, u64 count, elements. depth = arrays around it. */
static lqmf_status read_array(reader *r, unsigned depth, lqmf_gguf_value *v);

/* Value of type t (already read) at r->pos. */
static lqmf_status read_value(reader *r, uint32_t t, unsigned depth, lqmf_gguf_value *v) {
    if (t >= LQMF_GGUF_VTYPE_COUNT) return fail(r, LQMF_E_FORMAT, "unknown value type %u", t);
    v->type = (lqmf_gguf_vtype)t;
    if (t == LQMF_GGUF_STR) return read_str(r, UINT64_MAX, &v->v.s, "string");
    if (t == LQMF_GGUF_ARR) return read_array(r, depth, v);
    size_t n = k_vtypes[t].size;
    if (left(r) < n)
        return fail(r, LQMF_E_FORMAT, "truncated: %s value needs %zu bytes at offset %llu",
                    k_vtypes[t].name, n, (unsigned long long)r->pos);
    decode_scalar(v->type, r->g->base + r->pos, v);
    r->pos += n;
    if (t == LQMF_GGUF_BOOL && v->v.u > 1)
        return fail(r, LQMF_E_FORMAT, "bool value %llu is not 0 or 1", (unsigned long long)v->v.u);
    return LQMF_OK;
}

static lqmf_status read_array(reader *r, unsigned depth, lqmf_gguf_value *v) {
    if (depth >= LQMF_GGUF_MAX_DEPTH)
        return fail(r, LQMF_E_FORMAT, "arrays nested deeper than %d", LQMF_GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t count;
    lqmf_status st = read_u32(r, &et, "array element type");
    if (!st) st = read_uint(r, 8, &count, "array count");
    if (st) return st;
    if (et >= LQMF_GGUF_VTYPE_COUNT)
        return fail(r, LQMF_E_FORMAT, "unknown array element type %u", et);
    /* Every element takes at least min bytes: reject before allocating. */
    uint64_t min = et == LQMF_GGUF_STR ? 8 : et == LQMF_GGUF_ARR ? 12 : k_vtypes[et].size, total;
    if (!lqmf_mul_u64(count, min, &total) || total > left(r))
        return fail(r, LQMF_E_FORMAT, "array of %llu %s elements does not fit in the %llu bytes left",
                    (unsigned long long)count, k_vtypes[et].name, (unsigned long long)left(r));
    v->v.arr.elem_type = (lqmf_gguf_vtype)et;
    v->v.arr.count = count;
    v->v.arr.data = r->g->base + r->pos;
    if (et == LQMF_GGUF_STR) {
        lqmf_gguf_str *strs = arena_alloc(r->g, (size_t)count * sizeof *strs);
        if (count && !strs) return fail(r, LQMF_E_NOMEM, "out of memory");
        for (uint64_t i = 0; i < count && !st; i++) st = read_str(r, UINT64_MAX, &strs[i], "string");
        v->v.arr.strs = strs;
    } else if (et == LQMF_GGUF_ARR) {
        lqmf_gguf_value *items = arena_alloc(r->g, (size_t)count * sizeof *items);
        if (count && !items) return fail(r, LQMF_E_NOMEM, "out of memory");
        for (uint64_t i = 0; i < count && !st; i++) {
            items[i].type = LQMF_GGUF_ARR;
            st = read_array(r, depth + 1, &items[i]);
        }
        v->v.arr.items = items;
    } else {
        for (uint64_t i = 0; et == LQMF_GGUF_BOOL && i < count; i++)
            if (r->g->base[r->pos + i] > 1)
                return fail(r, LQMF_E_FORMAT, "bool array element %llu is %u, not 0 or 1",
                            (unsigned long long)i, r->g->base[r->pos + i]);
        r->pos += total;
    }
    return st;
}

static lqmf_status read_header(reader *r) {
    lqmf_gguf *g = r->g;
    snprintf(r->ctx, sizeof r->ctx, "header");
    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0) {
        uint8_t m[4] = { 0 };
        if (g->size) memcpy(m, g->base, g->size < 4 ? (size_t)g->size : 4);
        return fail(r, LQMF_E_FORMAT, "bad magic %02x %02x %02x %02x (expected \"GGUF\")", m[0], m[1],
                    m[2], m[3]);
    }
    r->pos = 4;
    lqmf_status st = read_u32(r, &g->version, "version");
    if (st) return st;
    if (g->version == 1)
        return fail(r, LQMF_E_UNSUPPORTED, "GGUF version 1 (32-bit counts) is not supported; "
                                           "only versions 2 and 3");
    if ((g->version & 0xffff) == 0 && (g->version >> 24) >= 2 && (g->version >> 24) <= 3)
        return fail(r, LQMF_E_UNSUPPORTED, "big-endian GGUF (version bytes %08x) is not supported",
                    g->version);
    if (g->version != 2 && g->version != 3)
        return fail(r, LQMF_E_UNSUPPORTED, "unknown GGUF version %u (supported: 2, 3)", g->version);
    st = read_uint(r, 8, &g->n_tensors, "tensor count");
    if (!st) st = read_uint(r, 8, &g->n_kv, "key count");
    if (st) return st;
    if (g->n_tensors > LQMF_GGUF_MAX_TENSORS)
        return fail(r, LQMF_E_FORMAT, "tensor count %llu exceeds the limit %u",
                    (unsigned long long)g->n_tensors, LQMF_GGUF_MAX_TENSORS);
    if (g->n_kv > LQMF_GGUF_MAX_KVS)
        return fail(r, LQMF_E_FORMAT, "key count %llu exceeds the limit %u",
                    (unsigned long long)g->n_kv, LQMF_GGUF_MAX_KVS);
    /* A key/value takes >= 14 bytes (u64 len, 1-byte key, u32 type, u8),
     * a tensor info >= 33 (u64 len, 1-byte name, u32, one u64 dim, u32, u64). */
    uint64_t need = g->n_kv * 14 + g->n_tensors * 33;
    if (need > left(r))
        return fail(r, LQMF_E_FORMAT, "tensor count %llu and key count %llu need at least %llu bytes, "
                    "%llu left", (unsigned long long)g->n_tensors, (unsigned long long)g->n_kv,
                    (unsigned long long)need, (unsigned long long)left(r));
    return LQMF_OK;
}

static lqmf_status read_kvs(reader *r) {
    lqmf_gguf *g = r->g;
    g->kvs = arena_alloc(g, (size_t)g->n_kv * sizeof *g->kvs);
    if ((g->n_kv && !g->kvs) || !nt_grow(&g->kv_tab, g->n_kv)) return fail(r, LQMF_E_NOMEM, "out of memory");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        lqmf_gguf_kv *kv = &g->kvs[i];
        snprintf(r->ctx, sizeof r->ctx, "key #%llu at offset %llu", (unsigned long long)i,
                 (unsigned long long)r->pos);
        lqmf_status st = read_name(r, LQMF_GGUF_MAX_KEY, "key", &kv->key);
        if (st) return st;
        snprintf(r->ctx, sizeof r->ctx, "key '%.256s'", kv->key);
        if (nt_find(&g->kv_tab, kv->key) >= 0) return fail(r, LQMF_E_FORMAT, "duplicate key");
        if (!nt_insert(&g->kv_tab, kv->key, (uint32_t)i)) return fail(r, LQMF_E_NOMEM, "out of memory");
        uint32_t t;
        st = read_u32(r, &t, "value type");
        if (!st) st = read_value(r, t, 0, &kv->value);
        if (st) return st;
    }
    g->alignment = LQMF_GGUF_DEFAULT_ALIGNMENT;
    const lqmf_gguf_kv *a = lqmf_gguf_find_key(g, "general.alignment");
    if (a) {
        snprintf(r->ctx, sizeof r->ctx, "key 'general.alignment'");
        if (a->value.type != LQMF_GGUF_U32)
            return fail(r, LQMF_E_FORMAT, "type %s, expected u32", k_vtypes[a->value.type].name);
        if (!alignment_ok(a->value.v.u))
            return fail(r, LQMF_E_FORMAT, "alignment %llu is not a non-zero multiple of 8",
                        (unsigned long long)a->value.v.u);
        g->alignment = (uint32_t)a->value.v.u;
    }
    return LQMF_OK;
}

static lqmf_status read_tensor_info(reader *r, uint64_t i) {
    lqmf_gguf *g = r->g;
    lqmf_gguf_tensor *t = &g->tensors[i];
    snprintf(r->ctx, sizeof r->ctx, "tensor #%llu at offset %llu", (unsigned long long)i,
             (unsigned long long)r->pos);
    lqmf_status st = read_name(r, LQMF_GGUF_MAX_NAME, "tensor name", &t->name);
    if (st) return st;
    snprintf(r->ctx, sizeof r->ctx, "tensor '%s'", t->name);
    if (nt_find(&g->t_tab, t->name) >= 0) return fail(r, LQMF_E_FORMAT, "duplicate tensor name");
    if (!nt_insert(&g->t_tab, t->name, (uint32_t)i)) return fail(r, LQMF_E_NOMEM, "out of memory");
    st = read_u32(r, &t->n_dims, "n_dims");
    if (st) return st;
    if (t->n_dims < 1 || t->n_dims > LQMF_GGUF_MAX_DIMS)
        return fail(r, LQMF_E_FORMAT, "n_dims %u is not in 1..%d", t->n_dims, LQMF_GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < LQMF_GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d < t->n_dims && (st = read_uint(r, 8, &t->ne[d], "dimension"))) return st;
    }
    uint32_t type;
    st = read_u32(r, &type, "type");
    if (!st) st = read_uint(r, 8, &t->offset, "offset");
    if (st) return st;
    char why[160];
    if (!shape_ok(type, t->n_dims, t->ne, &t->nbytes, why, sizeof why))
        return fail(r, LQMF_E_FORMAT, "%s", why);
    t->type = (lqmf_type)type;
    if (t->offset % g->alignment)
        return fail(r, LQMF_E_FORMAT, "offset %llu is not a multiple of the alignment %u",
                    (unsigned long long)t->offset, g->alignment);
    return LQMF_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const lqmf_gguf_tensor *x = *(const lqmf_gguf_tensor *const *)a;
    const lqmf_gguf_tensor *y = *(const lqmf_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Place every tensor inside the file and check no two overlap. */
static lqmf_status place_tensors(reader *r) {
    lqmf_gguf *g = r->g;
    g->data_offset = align_up(r->pos, g->alignment); /* pos < 2^64 - 2^32: no overflow */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        lqmf_gguf_tensor *t = &g->tensors[i];
        uint64_t start, end;
        if (!lqmf_add_u64(g->data_offset, t->offset, &start) || !lqmf_add_u64(start, t->nbytes, &end) ||
            end > g->size) {
            snprintf(r->ctx, sizeof r->ctx, "tensor '%s'", t->name);
            return fail(r, LQMF_E_FORMAT, "data at offset %llu + %llu bytes lies past the end of "
                        "the file (%llu bytes)", (unsigned long long)t->offset,
                        (unsigned long long)t->nbytes, (unsigned long long)g->size);
        }
        t->data = g->base + start;
    }
    if (g->n_tensors < 2) return LQMF_OK;
    const lqmf_gguf_tensor **order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return fail(r, LQMF_E_NOMEM, "out of memory");
    for (uint64_t i = 0; i < g->n_tensors; i++) order[i] = &g->tensors[i];
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_by_offset);
    lqmf_status st = LQMF_OK;
    for (uint64_t i = 1; i < g->n_tensors && !st; i++) {
        const lqmf_gguf_tensor *a = order[i - 1], *b = order[i];
        if (b->offset < a->offset + a->nbytes) {
            snprintf(r->ctx, sizeof r->ctx, "tensor '%s'", b->name);
            st = fail(r, LQMF_E_FORMAT, "data at offset %llu overlaps tensor '%s' at [%llu, %llu)",
                      (unsigned long long)b->offset, a->name, (unsigned long long)a->offset,
                      (unsigned long long)(a->offset + a->nbytes));
        }
    }
    free(order);
    return st;
}

static lqmf_status parse_into(lqmf_gguf *g) {
    reader r = { .g = g };
    lqmf_status st = read_header(&r);
    if (!st) st = read_kvs(&r);
    if (st) return st;
    g->tensors = arena_alloc(g, (size_t)g->n_tensors * sizeof *g->tensors);
    if ((g->n_tensors && !g->tensors) || !nt_grow(&g->t_tab, g->n_tensors))
        return fail(&r, LQMF_E_NOMEM, "out of memory");
    for (uint64_t i = 0; i < g->n_tensors && !st; i++) st = read_tensor_info(&r, i);
    if (!st) st = place_tensors(&r);
    return st;
}

static lqmf_status parse_common(lqmf_gguf *g, const char *label, lqmf_gguf **out) {
    g->label = strdup(label ? label : "(buffer)");
    lqmf_status st = g->label ? parse_into(g) : lqmf_error(LQMF_E_NOMEM, "gguf: out of memory");
    if (st) {
        lqmf_gguf_close(g);
        return st;
    }
    *out = g;
    return LQMF_OK;
}

lqmf_status lqmf_gguf_parse(const void *bytes, size_t size, const char *label, lqmf_gguf **out) {
    *out = NULL;
    lqmf_gguf *g = calloc(1, sizeof *g);
    if (!g) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", label ? label : "(buffer)");
    g->base = bytes;
    g->size = bytes ? size : 0;
    return parse_common(g, label, out);
}

lqmf_status lqmf_gguf_open(const char *path, lqmf_gguf **out) {
    *out = NULL;
    lqmf_gguf *g = calloc(1, sizeof *g);
    if (!g) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", path);
    lqmf_status st = lqmf_map_open(path, &g->map);
    if (st) {
        free(g);
        return st;
    }
    g->base = g->map.data;
    g->size = g->map.size;
    return parse_common(g, path, out);
}

void lqmf_gguf_close(lqmf_gguf *g) {
    if (!g) return;
    for (arena_blk *b = g->arena, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(g->kv_tab.slots);
    free(g->t_tab.slots);
    free(g->label);
    lqmf_map_close(&g->map);
    free(g);
}

uint32_t lqmf_gguf_version(const lqmf_gguf *g) { return g->version; }
uint32_t lqmf_gguf_alignment(const lqmf_gguf *g) { return g->alignment; }
uint64_t lqmf_gguf_data_offset(const lqmf_gguf *g) { return g->data_offset; }
uint64_t lqmf_gguf_file_size(const lqmf_gguf *g) { return g->size; }
const char *lqmf_gguf_label(const lqmf_gguf *g) { return g->label; }
uint64_t lqmf_gguf_n_kv(const lqmf_gguf *g) { return g->n_kv; }
uint64_t lqmf_gguf_n_tensors(const lqmf_gguf *g) { return g->n_tensors; }

const lqmf_gguf_kv *lqmf_gguf_kv_at(const lqmf_gguf *g, uint64_t i) {
    return i < g->n_kv ? &g->kvs[i] : NULL;
}

const lqmf_gguf_kv *lqmf_gguf_find_key(const lqmf_gguf *g, const char *key) {
    int64_t i = nt_find(&g->kv_tab, key);
    return i < 0 ? NULL : &g->kvs[i];
}

const lqmf_gguf_tensor *lqmf_gguf_tensor_at(const lqmf_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const lqmf_gguf_tensor *lqmf_gguf_find_tensor(const lqmf_gguf *g, const char *name) {
    int64_t i = nt_find(&g->t_tab, name);
    return i < 0 ? NULL : &g->tensors[i];
}

/* ---- values and typed getters -------------------------------------------------- */

bool lqmf_gguf_value_u64(const lqmf_gguf_value *v, uint64_t *out) {
    if (!vtype_is_int(v->type) || (vtype_is_signed(v->type) && v->v.i < 0)) return false;
    *out = v->v.u; /* same bits for a non-negative signed value */
    return true;
}

bool lqmf_gguf_value_i64(const lqmf_gguf_value *v, int64_t *out) {
    if (!vtype_is_int(v->type) || (!vtype_is_signed(v->type) && v->v.u > INT64_MAX)) return false;
    *out = v->v.i;
    return true;
}

bool lqmf_gguf_value_f64(const lqmf_gguf_value *v, double *out) {
    if (v->type != LQMF_GGUF_F32 && v->type != LQMF_GGUF_F64) return false;
    *out = v->v.f;
    return true;
}

uint64_t lqmf_gguf_arr_len(const lqmf_gguf_value *v) {
    return v->type == LQMF_GGUF_ARR ? v->v.arr.count : 0;
}

bool lqmf_gguf_arr_get(const lqmf_gguf_value *v, uint64_t i, lqmf_gguf_value *out) {
    if (v->type != LQMF_GGUF_ARR || i >= v->v.arr.count) return false;
    lqmf_gguf_vtype et = v->v.arr.elem_type;
    if (et == LQMF_GGUF_ARR) {
        *out = v->v.arr.items[i];
    } else if (et == LQMF_GGUF_STR) {
        out->type = LQMF_GGUF_STR;
        out->v.s = v->v.arr.strs[i];
    } else {
        decode_scalar(et, (const uint8_t *)v->v.arr.data + i * k_vtypes[et].size, out);
    }
    return true;
}

lqmf_gguf_str lqmf_gguf_arr_str(const lqmf_gguf_value *v, uint64_t i) {
    if (v->type != LQMF_GGUF_ARR || v->v.arr.elem_type != LQMF_GGUF_STR || i >= v->v.arr.count)
        return (lqmf_gguf_str){ NULL, 0 };
    return v->v.arr.strs[i];
}

bool lqmf_gguf_str_eq(lqmf_gguf_str s, const char *c) {
    return strlen(c) == s.len && memcmp(s.ptr, c, (size_t)s.len) == 0;
}

static lqmf_status get_kv(const lqmf_gguf *g, const char *key, const lqmf_gguf_kv **out) {
    *out = lqmf_gguf_find_key(g, key);
    return *out ? LQMF_OK : lqmf_error(LQMF_E_NOT_FOUND, "%s: key '%s' not found", g->label, key);
}

static lqmf_status wrong_type(const lqmf_gguf *g, const lqmf_gguf_kv *kv, const char *want) {
    return lqmf_error(LQMF_E_FORMAT, "%s: key '%s' has type %s, expected %s", g->label, kv->key,
                      k_vtypes[kv->value.type].name, want);
}

/* Integer value of key within [min, max] (as signed or unsigned 64-bit). */
static lqmf_status get_int(const lqmf_gguf *g, const char *key, const char *want, int64_t min,
                           uint64_t max, lqmf_gguf_value *out) {
    const lqmf_gguf_kv *kv;
    lqmf_status st = get_kv(g, key, &kv);
    if (st) return st;
    const lqmf_gguf_value *v = &kv->value;
    if (!vtype_is_int(v->type)) return wrong_type(g, kv, "an integer");
    bool neg = vtype_is_signed(v->type) && v->v.i < 0;
    if (neg ? v->v.i < min : v->v.u > max) {
        if (neg)
            return lqmf_error(LQMF_E_FORMAT, "%s: key '%s': value %lld does not fit %s", g->label,
                              key, (long long)v->v.i, want);
        return lqmf_error(LQMF_E_FORMAT, "%s: key '%s': value %llu does not fit %s", g->label, key,
                          (unsigned long long)v->v.u, want);
    }
    *out = *v;
    return LQMF_OK;
}

lqmf_status lqmf_gguf_get_u32(const lqmf_gguf *g, const char *key, uint32_t *out) {
    lqmf_gguf_value v;
    lqmf_status st = get_int(g, key, "u32", 0, UINT32_MAX, &v);
    if (!st) *out = (uint32_t)v.v.u;
    return st;
}

lqmf_status lqmf_gguf_get_i32(const lqmf_gguf *g, const char *key, int32_t *out) {
    lqmf_gguf_value v;
    lqmf_status st = get_int(g, key, "i32", INT32_MIN, INT32_MAX, &v);
    if (!st) *out = (int32_t)v.v.i;
    return st;
}

lqmf_status lqmf_gguf_get_u64(const lqmf_gguf *g, const char *key, uint64_t *out) {
    lqmf_gguf_value v;
    lqmf_status st = get_int(g, key, "u64", 0, UINT64_MAX, &v);
    if (!st) *out = v.v.u;
    return st;
}

lqmf_status lqmf_gguf_get_i64(const lqmf_gguf *g, const char *key, int64_t *out) {
    lqmf_gguf_value v;
    lqmf_status st = get_int(g, key, "i64", INT64_MIN, INT64_MAX, &v);
    if (!st) *out = v.v.i;
    return st;
}

lqmf_status lqmf_gguf_get_f64(const lqmf_gguf *g, const char *key, double *out) {
    const lqmf_gguf_kv *kv;
    lqmf_status st = get_kv(g, key, &kv);
    if (st) return st;
    return lqmf_gguf_value_f64(&kv->value, out) ? LQMF_OK : wrong_type(g, kv, "f32 or f64");
}

lqmf_status lqmf_gguf_get_f32(const lqmf_gguf *g, const char *key, float *out) {
    double d = 0;
    lqmf_status st = lqmf_gguf_get_f64(g, key, &d);
    if (!st) *out = (float)d;
    return st;
}

lqmf_status lqmf_gguf_get_bool(const lqmf_gguf *g, const char *key, bool *out) {
    const lqmf_gguf_kv *kv;
    lqmf_status st = get_kv(g, key, &kv);
    if (st) return st;
    if (kv->value.type != LQMF_GGUF_BOOL) return wrong_type(g, kv, "bool");
    *out = kv->value.v.u != 0;
    return LQMF_OK;
}

lqmf_status lqmf_gguf_get_str(const lqmf_gguf *g, const char *key, lqmf_gguf_str *out) {
    const lqmf_gguf_kv *kv;
    lqmf_status st = get_kv(g, key, &kv);
    if (st) return st;
    if (kv->value.type != LQMF_GGUF_STR) return wrong_type(g, kv, "str");
    *out = kv->value.v.s;
    return LQMF_OK;
}

lqmf_status lqmf_gguf_get_arr(const lqmf_gguf *g, const char *key, lqmf_gguf_vtype elem_type,
                              const lqmf_gguf_value **out) {
    const lqmf_gguf_kv *kv;
    lqmf_status st = get_kv(g, key, &kv);
    if (st) return st;
    if (kv->value.type != LQMF_GGUF_ARR) return wrong_type(g, kv, "arr");
    if (elem_type != LQMF_GGUF_VTYPE_COUNT && kv->value.v.arr.elem_type != elem_type)
        return lqmf_error(LQMF_E_FORMAT, "%s: key '%s' is an array of %s, expected %s", g->label,
                          key, k_vtypes[kv->value.v.arr.elem_type].name,
                          lqmf_gguf_vtype_name(elem_type));
    *out = &kv->value;
    return LQMF_OK;
}

/* ---- writer ----------------------------------------------------------------------- */

typedef struct {
    char *key;
    lqmf_buf bytes; /* u32 value type + payload, as in the file */
} wkv;

typedef struct {
    char *name;
    lqmf_type type;
    uint32_t n_dims;
    uint64_t ne[LQMF_GGUF_MAX_DIMS];
    uint64_t nbytes, offset;
    const void *data; /* from lqmf_gguf_writer_add_tensor, else NULL */
} wtensor;

struct lqmf_gguf_writer {
    wkv *kvs;
    size_t n_kv, cap_kv;
    ntable kv_tab; /* key -> index in kvs */
    wtensor *ts;
    uint32_t n_t, cap_t;
    ntable t_tab;
    bool writing; /* between begin and finish/abort */
    uint32_t next;      /* next tensor to write */
    uint32_t alignment; /* fixed at begin */
    lqmf_afile f;
};

lqmf_gguf_writer *lqmf_gguf_writer_new(void) { return calloc(1, sizeof(lqmf_gguf_writer)); }

void lqmf_gguf_writer_free(lqmf_gguf_writer *w) {
    if (!w) return;
    lqmf_gguf_writer_abort(w);
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        lqmf_buf_free(&w->kvs[i].bytes);
    }
    for (uint32_t i = 0; i < w->n_t; i++) free(w->ts[i].name);
    free(w->kvs);
    free(w->ts);
    free(w->t_tab.slots);
    free(w->kv_tab.slots);
    free(w);
}

static void put_le(lqmf_buf *b, uint64_t v, size_t n) {
    uint8_t t[8];
    for (size_t i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    lqmf_buf_append(b, t, n);
}

static void put_str(lqmf_buf *b, const char *p, uint64_t n) {
    put_le(b, n, 8);
    lqmf_buf_append(b, p, (size_t)n);
}

/* Serialize v without its type tag. Fails (LQMF_E_INVALID) on values that
 * would make an invalid file: out-of-range scalars, bools not 0/1, bad
 * element types, too deep nesting. */
static lqmf_status put_payload(lqmf_buf *b, const char *key, const lqmf_gguf_value *v, unsigned depth) {
    lqmf_gguf_vtype t = v->type;
    if ((unsigned)t >= LQMF_GGUF_VTYPE_COUNT)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: key '%s': unknown value type %u", key, (unsigned)t);
    if (t == LQMF_GGUF_STR) {
        put_str(b, v->v.s.ptr, v->v.s.len);
        return LQMF_OK;
    }
    if (t == LQMF_GGUF_F32 || t == LQMF_GGUF_F64) {
        if (t == LQMF_GGUF_F32) {
            float f = (float)v->v.f;
            uint32_t u;
            memcpy(&u, &f, 4);
            put_le(b, u, 4);
        } else {
            uint64_t u;
            memcpy(&u, &v->v.f, 8);
            put_le(b, u, 8);
        }
        return LQMF_OK;
    }
    if (t != LQMF_GGUF_ARR) {
        size_t n = k_vtypes[t].size;
        bool fits = t == LQMF_GGUF_BOOL      ? v->v.u <= 1
                    : vtype_is_signed(t)     ? n == 8 || (v->v.i >= -(INT64_C(1) << (8 * n - 1)) &&
                                                       v->v.i < (INT64_C(1) << (8 * n - 1)))
                                             : n == 8 || v->v.u < (UINT64_C(1) << (8 * n));
        if (!fits)
            return lqmf_error(LQMF_E_INVALID, "gguf writer: key '%s': value %lld does not fit %s", key,
                              (long long)v->v.i, k_vtypes[t].name);
        put_le(b, v->v.u, n);
        return LQMF_OK;
    }
    if (depth >= LQMF_GGUF_MAX_DEPTH)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: key '%s': arrays nested deeper than %d", key,
                          LQMF_GGUF_MAX_DEPTH);
    lqmf_gguf_vtype et = v->v.arr.elem_type;
    uint64_t count = v->v.arr.count;
    if ((unsigned)et >= LQMF_GGUF_VTYPE_COUNT)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: key '%s': unknown element type %u", key, (unsigned)et);
    put_le(b, et, 4);
    put_le(b, count, 8);
    if (et == LQMF_GGUF_STR) {
        for (uint64_t i = 0; i < count; i++) put_str(b, v->v.arr.strs[i].ptr, v->v.arr.strs[i].len);
    } else if (et == LQMF_GGUF_ARR) {
        for (uint64_t i = 0; i < count; i++) {
            if (v->v.arr.items[i].type != LQMF_GGUF_ARR)
                return lqmf_error(LQMF_E_INVALID, "gguf writer: key '%s': element %llu of an array "
                                  "of arrays has type %s", key, (unsigned long long)i,
                                  lqmf_gguf_vtype_name(v->v.arr.items[i].type));
            lqmf_status st = put_payload(b, key, &v->v.arr.items[i], depth + 1);
            if (st) return st;
        }
    } else {
        uint64_t n;
        if (!lqmf_mul_u64(count, k_vtypes[et].size, &n) || n > SIZE_MAX)
            return lqmf_error(LQMF_E_NOMEM, "gguf writer: key '%s': array of %llu elements too large",
                              key, (unsigned long long)count);
        const uint8_t *p = v->v.arr.data;
        for (uint64_t i = 0; et == LQMF_GGUF_BOOL && i < count; i++)
            if (p[i] > 1)
                return lqmf_error(LQMF_E_INVALID, "gguf writer: key '%s': bool element %llu is %u",
                                  key, (unsigned long long)i, p[i]);
        lqmf_buf_append(b, p, (size_t)n);
    }
    return LQMF_OK;
}

static int64_t w_find_key(const lqmf_gguf_writer *w, const char *key) { return nt_find(&w->kv_tab, key); }

/* Re-index kvs[0..n_kv) after a removal; the table never grows here, so
 * reinsertion cannot fail. */
static void nt_rebuild_keys(lqmf_gguf_writer *w) {
    memset(w->kv_tab.slots, 0, ((size_t)w->kv_tab.mask + 1) * sizeof *w->kv_tab.slots);
    w->kv_tab.n = 0;
    for (size_t i = 0; i < w->n_kv; i++) nt_insert(&w->kv_tab, w->kvs[i].key, (uint32_t)i);
}

static lqmf_status w_check_building(const lqmf_gguf_writer *w, const char *what, const char *name) {
    if (w->writing)
        return lqmf_error(LQMF_E_STATE, "gguf writer: cannot change %s '%s' after begin", what, name);
    return LQMF_OK;
}

lqmf_status lqmf_gguf_writer_set_value(lqmf_gguf_writer *w, const char *key, const lqmf_gguf_value *v) {
    lqmf_status st = w_check_building(w, "key", key);
    if (st) return st;
    const char *why = name_problem(key, strlen(key), LQMF_GGUF_MAX_KEY);
    if (why) return lqmf_error(LQMF_E_INVALID, "gguf writer: key '%.256s' %s", key, why);
    if (strcmp(key, "general.alignment") == 0 && (v->type != LQMF_GGUF_U32 || !alignment_ok(v->v.u)))
        return lqmf_error(LQMF_E_INVALID, "gguf writer: general.alignment must be a u32 non-zero "
                          "multiple of 8 (got %s %llu)", lqmf_gguf_vtype_name(v->type),
                          (unsigned long long)v->v.u);
    lqmf_buf b;
    lqmf_buf_init(&b);
    put_le(&b, v->type, 4);
    st = put_payload(&b, key, v, 0);
    if (!st && b.failed) st = lqmf_error(LQMF_E_NOMEM, "gguf writer: key '%s': out of memory", key);
    if (st) {
        lqmf_buf_free(&b);
        return st;
    }
    int64_t i = w_find_key(w, key);
    if (i >= 0) {
        lqmf_buf_free(&w->kvs[i].bytes);
        w->kvs[i].bytes = b;
        return LQMF_OK;
    }
    char *k = strdup(key);
    if (k && !nt_insert(&w->kv_tab, k, (uint32_t)w->n_kv)) {
        free(k);
        k = NULL;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *kvs = k ? realloc(w->kvs, cap * sizeof *kvs) : NULL;
        if (kvs) {
            w->kvs = kvs;
            w->cap_kv = cap;
        }
    }
    if (!k || w->n_kv == w->cap_kv) {
        if (k) nt_rebuild_keys(w); /* drop k from the table */
        free(k);
        lqmf_buf_free(&b);
        return lqmf_error(LQMF_E_NOMEM, "gguf writer: key '%s': out of memory", key);
    }
    w->kvs[w->n_kv++] = (wkv){ k, b };
    return LQMF_OK;
}

#define SETTER(suffix, ctype, vt, field)                                                   \
    lqmf_status lqmf_gguf_writer_set_##suffix(lqmf_gguf_writer *w, const char *key, ctype x) { \
        lqmf_gguf_value v = { .type = vt };                                                  \
        v.v.field = x;                                                                       \
        return lqmf_gguf_writer_set_value(w, key, &v);                                       \
    }
SETTER(u8, uint8_t, LQMF_GGUF_U8, u)
SETTER(i8, int8_t, LQMF_GGUF_I8, i)
SETTER(u16, uint16_t, LQMF_GGUF_U16, u)
SETTER(i16, int16_t, LQMF_GGUF_I16, i)
SETTER(u32, uint32_t, LQMF_GGUF_U32, u)
SETTER(i32, int32_t, LQMF_GGUF_I32, i)
SETTER(u64, uint64_t, LQMF_GGUF_U64, u)
SETTER(i64, int64_t, LQMF_GGUF_I64, i)
SETTER(f32, float, LQMF_GGUF_F32, f)
SETTER(f64, double, LQMF_GGUF_F64, f)
SETTER(bool, bool, LQMF_GGUF_BOOL, u)
#undef SETTER

lqmf_status lqmf_gguf_writer_set_str(lqmf_gguf_writer *w, const char *key, const char *s) {
    lqmf_gguf_value v = { .type = LQMF_GGUF_STR, .v.s = { s, strlen(s) } };
    return lqmf_gguf_writer_set_value(w, key, &v);
}

lqmf_status lqmf_gguf_writer_set_arr(lqmf_gguf_writer *w, const char *key, lqmf_gguf_vtype elem_type,
                                     const void *data, uint64_t count) {
    if (lqmf_gguf_vtype_size(elem_type) == 0)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: key '%s': set_arr needs a scalar element "
                          "type, got %s", key, lqmf_gguf_vtype_name(elem_type));
    lqmf_gguf_value v = { .type = LQMF_GGUF_ARR };
    v.v.arr.elem_type = elem_type;
    v.v.arr.count = count;
    v.v.arr.data = data;
    return lqmf_gguf_writer_set_value(w, key, &v);
}

lqmf_status lqmf_gguf_writer_set_arr_str(lqmf_gguf_writer *w, const char *key,
                                         const char *const *strs, uint64_t count) {
    lqmf_gguf_str *views = count ? calloc((size_t)count, sizeof *views) : NULL;
    if (count && !views) return lqmf_error(LQMF_E_NOMEM, "gguf writer: key '%s': out of memory", key);
    for (uint64_t i = 0; i < count; i++) views[i] = (lqmf_gguf_str){ strs[i], strlen(strs[i]) };
    lqmf_gguf_value v = { .type = LQMF_GGUF_ARR };
    v.v.arr.elem_type = LQMF_GGUF_STR;
    v.v.arr.count = count;
    v.v.arr.strs = views;
    lqmf_status st = lqmf_gguf_writer_set_value(w, key, &v);
    free(views);
    return st;
}

lqmf_status lqmf_gguf_writer_remove(lqmf_gguf_writer *w, const char *key) {
    lqmf_status st = w_check_building(w, "key", key);
    int64_t i = w_find_key(w, key);
    if (st || i < 0) return st;
    free(w->kvs[i].key);
    lqmf_buf_free(&w->kvs[i].bytes);
    memmove(&w->kvs[i], &w->kvs[i + 1], (w->n_kv - (size_t)i - 1) * sizeof *w->kvs);
    w->n_kv--;
    nt_rebuild_keys(w);
    return LQMF_OK;
}

lqmf_status lqmf_gguf_writer_set_alignment(lqmf_gguf_writer *w, uint32_t a) {
    if (a == LQMF_GGUF_DEFAULT_ALIGNMENT) return lqmf_gguf_writer_remove(w, "general.alignment");
    return lqmf_gguf_writer_set_u32(w, "general.alignment", a);
}

lqmf_status lqmf_gguf_writer_copy_kvs(lqmf_gguf_writer *w, const lqmf_gguf *g) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        lqmf_status st = lqmf_gguf_writer_set_value(w, g->kvs[i].key, &g->kvs[i].value);
        if (st) return st;
    }
    return LQMF_OK;
}

/* Append a tensor; data/nbytes are checked when data is given. */
static lqmf_status w_add(lqmf_gguf_writer *w, const char *name, lqmf_type type, uint32_t n_dims,
                         const uint64_t *ne, const void *data, uint64_t nbytes, uint32_t *index) {
    lqmf_status st = w_check_building(w, "tensor", name);
    if (st) return st;
    const char *why = name_problem(name, strlen(name), LQMF_GGUF_MAX_NAME);
    if (why) return lqmf_error(LQMF_E_INVALID, "gguf writer: tensor name '%.256s' %s", name, why);
    if (nt_find(&w->t_tab, name) >= 0)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: duplicate tensor name '%s'", name);
    if (w->n_t >= LQMF_GGUF_MAX_TENSORS)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: tensor '%s': more than %u tensors", name,
                          LQMF_GGUF_MAX_TENSORS);
    wtensor t = { .type = type, .n_dims = n_dims, .data = data };
    bool dims_ok = n_dims <= LQMF_GGUF_MAX_DIMS; /* else shape_ok reports n_dims, ne unread */
    for (uint32_t d = 0; d < LQMF_GGUF_MAX_DIMS; d++) t.ne[d] = dims_ok && d < n_dims ? ne[d] : 1;
    char why_buf[160];
    if (!shape_ok(type, n_dims, t.ne, &t.nbytes, why_buf, sizeof why_buf))
        return lqmf_error(LQMF_E_INVALID, "gguf writer: tensor '%s': %s", name, why_buf);
    if (data && nbytes != t.nbytes)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: tensor '%s': %llu data bytes given, its "
                          "%s shape needs %llu", name, (unsigned long long)nbytes,
                          lqmf_type_name(type), (unsigned long long)t.nbytes);
    if (w->n_t == w->cap_t) {
        uint32_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *ts = realloc(w->ts, cap * sizeof *ts);
        if (!ts) return lqmf_error(LQMF_E_NOMEM, "gguf writer: tensor '%s': out of memory", name);
        w->ts = ts;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (!t.name || !nt_insert(&w->t_tab, t.name, w->n_t)) {
        free(t.name);
        return lqmf_error(LQMF_E_NOMEM, "gguf writer: tensor '%s': out of memory", name);
    }
    if (index) *index = w->n_t;
    w->ts[w->n_t++] = t;
    return LQMF_OK;
}

lqmf_status lqmf_gguf_writer_add_tensor_info(lqmf_gguf_writer *w, const char *name, lqmf_type type,
                                             uint32_t n_dims, const uint64_t *ne, uint32_t *index) {
    return w_add(w, name, type, n_dims, ne, NULL, 0, index);
}

lqmf_status lqmf_gguf_writer_add_tensor(lqmf_gguf_writer *w, const char *name, lqmf_type type,
                                        uint32_t n_dims, const uint64_t *ne, const void *data,
                                        uint64_t nbytes) {
    if (!data) return lqmf_error(LQMF_E_INVALID, "gguf writer: tensor '%s': no data", name);
    return w_add(w, name, type, n_dims, ne, data, nbytes, NULL);
}

uint32_t lqmf_gguf_writer_n_tensors(const lqmf_gguf_writer *w) { return w->n_t; }

uint64_t lqmf_gguf_writer_tensor_nbytes(const lqmf_gguf_writer *w, uint32_t i) {
    return i < w->n_t ? w->ts[i].nbytes : 0;
}

/* Header, KVs and tensor infos (with offsets for `alignment`) into b. */
static lqmf_status w_build_header(lqmf_gguf_writer *w, lqmf_buf *b) {
    uint64_t off = 0;
    for (uint32_t i = 0; i < w->n_t; i++) {
        w->ts[i].offset = off;
        if (!lqmf_add_u64(off, w->ts[i].nbytes, &off) || off > UINT64_MAX - w->alignment)
            return lqmf_error(LQMF_E_NOMEM, "gguf writer: tensor '%s': data section too large",
                              w->ts[i].name);
        off = align_up(off, w->alignment);
    }
    lqmf_buf_append(b, "GGUF", 4);
    put_le(b, 3, 4);
    put_le(b, w->n_t, 8);
    put_le(b, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(b, w->kvs[i].key, strlen(w->kvs[i].key));
        lqmf_buf_append(b, w->kvs[i].bytes.data, w->kvs[i].bytes.len);
    }
    for (uint32_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->ts[i];
        put_str(b, t->name, strlen(t->name));
        put_le(b, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(b, t->ne[d], 8);
        put_le(b, (uint64_t)t->type, 4);
        put_le(b, t->offset, 8);
    }
    /* A file without tensors has no data section and ends after the infos. */
    if (w->n_t) lqmf_buf_zeros(b, (size_t)(align_up(b->len, w->alignment) - b->len));
    return b->failed ? lqmf_error(LQMF_E_NOMEM, "gguf writer: header: out of memory") : LQMF_OK;
}

lqmf_status lqmf_gguf_writer_begin(lqmf_gguf_writer *w, const char *path) {
    if (w->writing) return lqmf_error(LQMF_E_STATE, "gguf writer: %s: begin called twice", path);
    int64_t a = w_find_key(w, "general.alignment");
    /* validated on set: u32 type tag, then the u32 value */
    w->alignment = a < 0 ? LQMF_GGUF_DEFAULT_ALIGNMENT : (uint32_t)load_le(w->kvs[a].bytes.data + 4, 4);
    lqmf_buf b;
    lqmf_buf_init(&b);
    lqmf_status st = w_build_header(w, &b);
    if (!st) st = lqmf_afile_open(&w->f, path);
    if (!st) {
        st = lqmf_afile_write(&w->f, b.data, b.len);
        if (st) lqmf_afile_abort(&w->f);
    }
    lqmf_buf_free(&b);
    if (st) return st;
    w->writing = true;
    w->next = 0;
    return LQMF_OK;
}

lqmf_status lqmf_gguf_writer_write_tensor(lqmf_gguf_writer *w, uint32_t index, const void *data,
                                          uint64_t nbytes) {
    if (!w->writing) return lqmf_error(LQMF_E_STATE, "gguf writer: write_tensor before begin");
    if (index != w->next || index >= w->n_t)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: %s: tensor %u written out of order "
                          "(expected %u of %u)", w->f.path, index, w->next, w->n_t);
    const wtensor *t = &w->ts[index];
    if (nbytes != t->nbytes)
        return lqmf_error(LQMF_E_INVALID, "gguf writer: %s: tensor '%s': %llu bytes given, "
                          "expected %llu", w->f.path, t->name, (unsigned long long)nbytes,
                          (unsigned long long)t->nbytes);
    static const uint8_t zeros[4096];
    lqmf_status st = lqmf_afile_write(&w->f, data, (size_t)nbytes);
    for (uint64_t pad = align_up(nbytes, w->alignment) - nbytes; !st && pad;) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        st = lqmf_afile_write(&w->f, zeros, n);
        pad -= n;
    }
    if (st) {
        lqmf_gguf_writer_abort(w);
        return st;
    }
    w->next++;
    return LQMF_OK;
}

lqmf_status lqmf_gguf_writer_finish(lqmf_gguf_writer *w) {
    if (!w->writing) return lqmf_error(LQMF_E_STATE, "gguf writer: finish before begin");
    if (w->next != w->n_t)
        return lqmf_error(LQMF_E_STATE, "gguf writer: %s: finish with %u of %u tensors written",
                          w->f.path, w->next, w->n_t);
    w->writing = false;
    return lqmf_afile_commit(&w->f);
}

void lqmf_gguf_writer_abort(lqmf_gguf_writer *w) {
    if (!w || !w->writing) return;
    lqmf_afile_abort(&w->f);
    w->writing = false;
}

lqmf_status lqmf_gguf_writer_write(lqmf_gguf_writer *w, const char *path) {
    for (uint32_t i = 0; i < w->n_t; i++)
        if (!w->ts[i].data)
            return lqmf_error(LQMF_E_STATE, "gguf writer: %s: tensor '%s' has no data (added with "
                              "add_tensor_info)", path, w->ts[i].name);
    lqmf_status st = lqmf_gguf_writer_begin(w, path);
    for (uint32_t i = 0; i < w->n_t && !st; i++)
        st = lqmf_gguf_writer_write_tensor(w, i, w->ts[i].data, w->ts[i].nbytes);
    if (!st) st = lqmf_gguf_writer_finish(w);
    lqmf_gguf_writer_abort(w);
    return st;
}
