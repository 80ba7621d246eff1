/* Vocabulary storage: token strings, the piece -> id index, merges, added
 * tokens, the GPT-2 byte map, and the public accessors. */
#include "tok_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ------------------------------------------------------------ */

uint64_t tok_hash_bytes(const char *s, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

static uint64_t hash_pair(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static uint32_t pow2_above(uint64_t n) {
    uint32_t cap = 16;
    while (cap < n * 2) cap *= 2;
    return cap;
}

static const char *key_of(const lqmf_tokenizer *t, const tok_index *ix, uint32_t id, uint32_t *len) {
    *len = ix->by_text ? t->tlen[id] : t->blen[id];
    return (const char *)t->pool.data + (ix->by_text ? t->toff[id] : t->boff[id]);
}

int32_t tok_index_get(const lqmf_tokenizer *t, const tok_index *ix, const char *s, size_t n) {
    if (!ix->slots) return -1;
    uint64_t h = tok_hash_bytes(s, n), tag = h >> 32 << 32;
    for (uint32_t i = (uint32_t)h & ix->mask;; i = (i + 1) & ix->mask) {
        uint64_t v = ix->slots[i];
        if (!v) return -1;
        if ((v & ~0xffffffffull) != tag) continue;
        uint32_t id = (uint32_t)v - 1, len;
        const char *k = key_of(t, ix, id, &len);
        if (len == n && memcmp(k, s, n) == 0) return (int32_t)id;
    }
}

/* Insert ids[0..n) (all ids when ids is NULL); the first id of a key wins. */
static lqmf_status index_build(const lqmf_tokenizer *t, tok_index *ix, bool by_text, const int32_t *ids,
                               uint32_t n) {
    free(ix->slots);
    uint32_t cap = pow2_above(n);
    ix->slots = calloc(cap, sizeof *ix->slots);
    if (!ix->slots) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory for the token index", t->name);
    ix->mask = cap - 1;
    ix->by_text = by_text;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t id = ids ? (uint32_t)ids[k] : k, len;
        const char *s = key_of(t, ix, id, &len);
        if (tok_index_get(t, ix, s, len) >= 0) continue;
        uint64_t h = tok_hash_bytes(s, len);
        uint32_t i = (uint32_t)h & ix->mask;
        while (ix->slots[i]) i = (i + 1) & ix->mask;
        ix->slots[i] = (h >> 32 << 32) | (id + 1);
    }
    return LQMF_OK;
}

/* ---- UTF-8 --------------------------------------------------------------- */

size_t tok_utf8_check(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return i;
        if (i + len > n) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return n;
}

void tok_utf8_put(lqmf_buf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80)
        u[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    else
        u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    lqmf_buf_append(b, u, n);
}

/* ---- GPT-2 byte map ------------------------------------------------------
 * Printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves;
 * the other 68 bytes map, in increasing order, to U+0100 onwards. */
static bool byte_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

uint32_t tok_byte_to_cp(uint8_t b) {
    if (byte_printable(b)) return b;
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++) k += !byte_printable(x);
    return 256 + k;
}

/* Inverse map for code points below 256 + 68; -1 outside. */
static int16_t g_cp_byte[324];
static pthread_once_t g_cp_byte_once = PTHREAD_ONCE_INIT;
static void cp_byte_init(void) {
    for (unsigned i = 0; i < 324; i++) g_cp_byte[i] = -1;
    for (unsigned b = 0; b < 256; b++) g_cp_byte[tok_byte_to_cp((uint8_t)b)] = (int16_t)b;
}

static int cp_to_byte(uint32_t cp) {
    pthread_once(&g_cp_byte_once, cp_byte_init);
    return cp < 324 ? g_cp_byte[cp] : -1;
}

bool tok_bytelevel_decode(const char *text, size_t n, lqmf_buf *out) {
    const uint8_t *s = (const uint8_t *)text;
    for (size_t i = 0; i < n;) {
        size_t len = tok_utf8_len(s[i]);
        if (i + len > n) return false;
        uint32_t cp = len == 1 ? s[i] : (uint32_t)(s[i] & (0x7f >> len));
        for (size_t k = 1; k < len; k++) cp = cp << 6 | (s[i + k] & 0x3f);
        int b = cp_to_byte(cp);
        if (b < 0) return false;
        uint8_t c = (uint8_t)b;
        lqmf_buf_append(out, &c, 1);
        i += len;
    }
    return !out->failed;
}

void tok_bytelevel_encode(const char *bytes, size_t n, lqmf_buf *out) {
    for (size_t i = 0; i < n; i++) tok_utf8_put(out, tok_byte_to_cp((uint8_t)bytes[i]));
}

/* ---- construction --------------------------------------------------------- */

lqmf_status tok_new(const char *name, lqmf_tokenizer **out) {
    lqmf_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name ? name : "tokenizer"))) {
        free(t);
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    t->bos = t->eos = t->unk = t->pad = -1;
    lqmf_buf_init(&t->pool);
    *out = t;
    return LQMF_OK;
}

lqmf_status tok_vocab_alloc(lqmf_tokenizer *t, uint32_t n) {
    if (n == 0 || n > TOK_MAX_VOCAB)
        return lqmf_error(LQMF_E_FORMAT, "%s: vocabulary of %u tokens (expected 1..%u)", t->name, n,
                          TOK_MAX_VOCAB);
    t->n = n;
    t->boff = calloc(n, sizeof *t->boff);
    t->blen = calloc(n, sizeof *t->blen);
    t->toff = calloc(n, sizeof *t->toff);
    t->tlen = calloc(n, sizeof *t->tlen);
    t->score = calloc(n, sizeof *t->score);
    t->type = calloc(n, 1);
    if (!t->boff || !t->blen || !t->toff || !t->tlen || !t->score || !t->type)
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory for %u tokens", t->name, n);
    return LQMF_OK;
}

/* Append s and a NUL (so texts are C strings too); *off gets its offset. */
static bool pool_add(lqmf_tokenizer *t, const char *s, size_t n, uint32_t *off) {
    if (t->pool.len + n + 1 > UINT32_MAX) return false;
    *off = (uint32_t)t->pool.len;
    return lqmf_buf_append(&t->pool, s, n) && lqmf_buf_append(&t->pool, "", 1);
}

lqmf_status tok_vocab_set(lqmf_tokenizer *t, uint32_t id, const char *text, size_t tlen, float score,
                          lqmf_tok_type type) {
    if (id >= t->n) return lqmf_error(LQMF_E_FORMAT, "%s: token id %u out of range", t->name, id);
    if (tlen > TOK_MAX_TOKEN_BYTES)
        return lqmf_error(LQMF_E_FORMAT, "%s: token %u is %zu bytes long (limit %u)", t->name, id, tlen,
                          TOK_MAX_TOKEN_BYTES);
    if (!pool_add(t, text, tlen, &t->toff[id]))
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory for token strings", t->name);
    t->tlen[id] = (uint32_t)tlen;
    t->boff[id] = t->toff[id];
    t->blen[id] = (uint32_t)tlen;
    if (t->byte_level && type == LQMF_TOK_NORMAL) {
        lqmf_buf b;
        lqmf_buf_init(&b);
        bool ok = true;
        if (tlen && tok_bytelevel_decode(text, tlen, &b) && (b.len != tlen || memcmp(b.data, text, tlen))) {
            ok = pool_add(t, (const char *)b.data, b.len, &t->boff[id]);
            t->blen[id] = (uint32_t)b.len;
        }
        lqmf_buf_free(&b);
        if (!ok) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory for token strings", t->name);
    }
    t->score[id] = score;
    t->type[id] = (uint8_t)type;
    return LQMF_OK;
}

int tok_parse_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

lqmf_status tok_add_added(lqmf_tokenizer *t, int32_t id, bool special, bool lstrip, bool rstrip,
                          bool single_word) {
    if (id < 0 || (uint32_t)id >= t->n)
        return lqmf_error(LQMF_E_FORMAT, "%s: added token id %d out of range", t->name, id);
    if (t->blen[id] == 0) return lqmf_error(LQMF_E_FORMAT, "%s: added token %d is empty", t->name, id);
    for (uint32_t i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return LQMF_OK;
    tok_added *a = realloc(t->added, (t->n_added + 1) * sizeof *a);
    if (!a) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    t->added = a;
    a[t->n_added++] = (tok_added){id, special, lstrip, rstrip, single_word};
    return LQMF_OK;
}

static int cmp_u32_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_added(const void *a, const void *b) {
    int32_t x = ((const tok_added *)a)->id, y = ((const tok_added *)b)->id;
    return x < y ? -1 : x > y;
}

static lqmf_status build_added_matcher(lqmf_tokenizer *t) {
    if (t->n_added) qsort(t->added, t->n_added, sizeof *t->added, cmp_added);
    memset(t->added_first, 0, sizeof t->added_first);
    free(t->added_lens);
    t->added_lens = calloc(t->n_added + 1, sizeof *t->added_lens);
    int32_t *ids = calloc(t->n_added + 1, sizeof *ids);
    if (!t->added_lens || !ids) {
        free(ids);
        return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    }
    uint32_t nl = 0;
    for (uint32_t i = 0; i < t->n_added; i++) {
        int32_t id = t->added[i].id;
        ids[i] = id;
        uint8_t c = t->pool.data[t->boff[id]];
        t->added_first[c >> 6] |= 1ull << (c & 63);
        uint32_t len = t->blen[id];
        bool seen = false;
        for (uint32_t k = 0; k < nl && !seen; k++) seen = t->added_lens[k] == len;
        if (!seen) t->added_lens[nl++] = len;
    }
    qsort(t->added_lens, nl, sizeof *t->added_lens, cmp_u32_desc);
    t->n_added_lens = nl;
    lqmf_status st = index_build(t, &t->added_index, false, ids, t->n_added);
    free(ids);
    return st;
}

/* Do the U+2581 characters of every usable token form a leading run? */
static bool meta_only_leading(const lqmf_tokenizer *t) {
    for (uint32_t id = 0; id < t->n; id++) {
        if (!tok_model_usable(t, (int32_t)id)) continue;
        const char *p = (const char *)t->pool.data + t->boff[id];
        size_t n = t->blen[id], i = 0;
        while (i + 3 <= n && !memcmp(p + i, "\xe2\x96\x81", 3)) i += 3;
        if (i < n && memmem(p + i, n - i, "\xe2\x96\x81", 3)) return false;
    }
    return true;
}

lqmf_status tok_vocab_finish(lqmf_tokenizer *t) {
    for (uint32_t id = 0; id < t->n; id++) {
        if (t->type[id]) continue;
        char pad[32];
        int n = snprintf(pad, sizeof pad, "[PAD%u]", id);
        lqmf_status st = tok_vocab_set(t, id, pad, (size_t)n, 0.0f, LQMF_TOK_UNUSED);
        if (st) return st;
    }
    if (t->pool.failed) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    t->meta_chunks = !t->byte_level && meta_only_leading(t);
    lqmf_status st = index_build(t, &t->index, false, NULL, t->n);
    if (!st && t->byte_level) st = index_build(t, &t->text_index, true, NULL, t->n);
    if (st) return st;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_tok[b] = tok_model_get(t, &c, 1);
        t->byte_fb[b] = -1;
    }
    for (uint32_t id = 0; id < t->n; id++) {
        if (t->type[id] != LQMF_TOK_BYTE) continue;
        int v = tok_parse_byte_token((const char *)t->pool.data + t->toff[id], t->tlen[id]);
        if (v < 0)
            return lqmf_error(LQMF_E_FORMAT, "%s: byte token %u is '%.*s', not <0xXX>", t->name, id,
                              (int)t->tlen[id], (const char *)t->pool.data + t->toff[id]);
        if (t->byte_fb[v] < 0) t->byte_fb[v] = (int32_t)id;
    }
    return build_added_matcher(t);
}

/* ---- merges ----------------------------------------------------------------- */

lqmf_status tok_merges_alloc(lqmf_tokenizer *t, uint32_t n) {
    if (n > TOK_MAX_MERGES)
        return lqmf_error(LQMF_E_FORMAT, "%s: %u merges (limit %u)", t->name, n, TOK_MAX_MERGES);
    uint32_t cap = pow2_above(n);
    t->pairs = malloc((size_t)cap * sizeof *t->pairs);
    t->merge_list = malloc(((size_t)n + 1) * 3 * sizeof *t->merge_list);
    if (!t->pairs || !t->merge_list) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory for merges", t->name);
    for (uint32_t i = 0; i < cap; i++) t->pairs[i].key = UINT64_MAX;
    t->pair_mask = cap - 1;
    t->n_merges = 0;
    return LQMF_OK;
}

lqmf_status tok_merges_add(lqmf_tokenizer *t, int32_t left, int32_t right, int32_t merged) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint32_t i = (uint32_t)hash_pair(key) & t->pair_mask;
    while (t->pairs[i].key != UINT64_MAX) {
        if (t->pairs[i].key == key) return LQMF_OK; /* repeated merge: the first rank wins */
        i = (i + 1) & t->pair_mask;
    }
    t->pairs[i] = (tok_pair){key, t->n_merges, merged};
    t->merge_list[3 * t->n_merges] = left;
    t->merge_list[3 * t->n_merges + 1] = right;
    t->merge_list[3 * t->n_merges + 2] = merged;
    t->n_merges++;
    return LQMF_OK;
}

const tok_pair *tok_pair_find(const lqmf_tokenizer *t, int32_t left, int32_t right) {
    if (!t->pairs || left < 0 || right < 0) return NULL;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = (uint32_t)hash_pair(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pairs[i].key == key) return &t->pairs[i];
        if (t->pairs[i].key == UINT64_MAX) return NULL;
    }
}

lqmf_status tok_merges_add_text(lqmf_tokenizer *t, const char *a, size_t an, const char *b, size_t bn,
                                const char *where, uint32_t i, lqmf_buf *scratch) {
    int32_t l = tok_find_text(t, a, an), r = tok_find_text(t, b, bn);
    if (l < 0 || r < 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s[%u] '%.*s %.*s': token '%.*s' is not in the vocabulary",
                          t->name, where, i, (int)an, a, (int)bn, b, (int)(l < 0 ? an : bn), l < 0 ? a : b);
    scratch->len = 0;
    lqmf_buf_append(scratch, t->pool.data + t->boff[l], t->blen[l]);
    lqmf_buf_append(scratch, t->pool.data + t->boff[r], t->blen[r]);
    int32_t m = scratch->failed ? -1 : tok_index_get(t, &t->index, (const char *)scratch->data, scratch->len);
    if (m < 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s[%u] '%.*s %.*s': the merged token is not in the vocabulary",
                          t->name, where, i, (int)an, a, (int)bn, b);
    return tok_merges_add(t, l, r, m);
}

/* ---- public accessors ------------------------------------------------------- */

void lqmf_tok_free(lqmf_tokenizer *t) {
    if (!t) return;
    free(t->name);
    free(t->boff);
    free(t->blen);
    free(t->toff);
    free(t->tlen);
    free(t->score);
    free(t->type);
    lqmf_buf_free(&t->pool);
    free(t->index.slots);
    free(t->text_index.slots);
    free(t->pairs);
    free(t->merge_list);
    free(t->added);
    free(t->added_index.slots);
    free(t->added_lens);
    for (uint32_t i = 0; i < t->n_norms; i++) tok_norm_clear(&t->norms[i]);
    free(t->norms);
    for (uint32_t i = 0; i < t->n_pres; i++) tok_pre_clear(&t->pres[i]);
    free(t->pres);
    free(t->chat_template);
    free(t);
}

uint32_t lqmf_tok_n_vocab(const lqmf_tokenizer *t) { return t->n; }
lqmf_tok_algo lqmf_tok_algorithm(const lqmf_tokenizer *t) { return t->algo; }
bool lqmf_tok_byte_level(const lqmf_tokenizer *t) { return t->byte_level; }
int32_t lqmf_tok_bos(const lqmf_tokenizer *t) { return t->bos; }
int32_t lqmf_tok_eos(const lqmf_tokenizer *t) { return t->eos; }
int32_t lqmf_tok_unk(const lqmf_tokenizer *t) { return t->unk; }
int32_t lqmf_tok_pad(const lqmf_tokenizer *t) { return t->pad; }
const char *lqmf_tok_chat_template(const lqmf_tokenizer *t) { return t->chat_template; }

bool tok_adds_prefix(const lqmf_tokenizer *t) {
    for (uint32_t i = 0; i < t->n_norms; i++)
        if (t->norms[i].kind == NORM_PREPEND) return true;
    for (uint32_t i = 0; i < t->n_pres; i++)
        if (t->pres[i].kind == PRE_METASPACE && t->pres[i].scheme != PREPEND_NEVER) return true;
    return false;
}

bool lqmf_tok_adds_bos(const lqmf_tokenizer *t) {
    for (unsigned i = 0; i < t->n_prefix; i++)
        if (t->prefix[i] == t->bos) return true;
    return false;
}

bool lqmf_tok_adds_eos(const lqmf_tokenizer *t) {
    for (unsigned i = 0; i < t->n_suffix; i++)
        if (t->suffix[i] == t->eos) return true;
    return false;
}

void tok_set_add_special(lqmf_tokenizer *t, bool add_bos, bool add_eos) {
    t->add_stated = true;
    t->n_prefix = t->n_suffix = 0;
    if (add_bos && t->bos >= 0) t->prefix[t->n_prefix++] = t->bos;
    if (add_eos && t->eos >= 0) t->suffix[t->n_suffix++] = t->eos;
}

const char *lqmf_tok_text(const lqmf_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || (uint32_t)id >= t->n) return NULL;
    if (len) *len = t->tlen[id];
    return (const char *)t->pool.data + t->toff[id];
}

lqmf_tok_type lqmf_tok_type_of(const lqmf_tokenizer *t, int32_t id) {
    return id < 0 || (uint32_t)id >= t->n ? LQMF_TOK_UNUSED : (lqmf_tok_type)t->type[id];
}

float lqmf_tok_score(const lqmf_tokenizer *t, int32_t id) {
    return id < 0 || (uint32_t)id >= t->n ? 0.0f : t->score[id];
}

int32_t tok_find_text(const lqmf_tokenizer *t, const char *text, size_t n) {
    return tok_index_get(t, t->byte_level ? &t->text_index : &t->index, text, n);
}

int32_t lqmf_tok_find(const lqmf_tokenizer *t, const char *text) {
    return tok_find_text(t, text, strlen(text));
}
