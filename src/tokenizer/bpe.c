/* The two model algorithms, run on one pre-tokenized word.
 *
 * Both keep the word as a linked list of symbols (spans of the word) and a
 * binary heap of candidate merges of adjacent symbols, so a word of n
 * characters costs O(n log n), not O(n^2):
 *   BPE: a pair merges when (left id, right id) is in the merge table; the
 *        lowest rank goes first, ties to the leftmost.
 *   SPM: a pair merges when its joined text is a vocabulary piece; the
 *        highest piece score goes first, ties to the leftmost.
 * Heap entries can go stale when a neighbour merges first; they are checked
 * against the symbols when popped. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

bool tok_ids_push(lqmf_tok_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, cap * sizeof *p);
        if (!p) return false;
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return true;
}

void lqmf_tok_ids_free(lqmf_tok_ids *v) {
    if (!v) return;
    free(v->ids);
    memset(v, 0, sizeof *v);
}

void tok_ctx_free(tok_ctx *c) {
    for (int i = 0; i < 2; i++) {
        lqmf_buf_free(&c->w[i].text);
        free(c->w[i].spans);
    }
    lqmf_buf_free(&c->norm);
    pcre2_match_data_free(c->md);
    free(c->syms);
    free(c->heap);
    free(c->cache);
    lqmf_buf_free(&c->cache_keys);
    lqmf_tok_ids_free(&c->cache_ids);
    memset(c, 0, sizeof *c);
}

/* ---- heap ------------------------------------------------------------------ */

static bool heap_push(tok_ctx *c, tok_heap_ent e) {
    if (c->n_heap == c->cap_heap) {
        size_t cap = c->cap_heap ? c->cap_heap * 2 : 256;
        tok_heap_ent *h = realloc(c->heap, cap * sizeof *h);
        if (!h) return false;
        c->heap = h;
        c->cap_heap = cap;
    }
    size_t i = c->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (c->heap[p].key <= e.key) break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = e;
    return true;
}

static tok_heap_ent heap_pop(tok_ctx *c) {
    tok_heap_ent top = c->heap[0], last = c->heap[--c->n_heap];
    size_t i = 0, n = c->n_heap;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t m = l + 1 < n && c->heap[l + 1].key < c->heap[l].key ? l + 1 : l;
        if (last.key <= c->heap[m].key) break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n) c->heap[i] = last;
    return top;
}

/* ---- symbols --------------------------------------------------------------- */

static bool syms_reserve(tok_ctx *c, size_t n) {
    if (n <= c->cap_syms) return true;
    size_t cap = c->cap_syms ? c->cap_syms : 64;
    while (cap < n) cap *= 2;
    tok_sym *s = realloc(c->syms, cap * sizeof *s);
    if (!s) return false;
    c->syms = s;
    c->cap_syms = cap;
    return true;
}

static void sym_add(tok_ctx *c, int32_t *ns, int32_t id, size_t off, size_t len) {
    int32_t i = (*ns)++;
    c->syms[i] = (tok_sym){id, i - 1, i + 1, (uint32_t)off, (uint32_t)len};
}

static void sym_merge(tok_ctx *c, int32_t left, int32_t right, int32_t ns) {
    tok_sym *l = &c->syms[left], *r = &c->syms[right];
    l->len += r->len;
    r->len = 0;
    l->next = r->next;
    if (r->next < ns) c->syms[r->next].prev = left;
}

static bool emit_symbols(tok_ctx *c, int32_t ns, lqmf_tok_ids *out) {
    for (int32_t i = 0; i < ns && i >= 0; i = c->syms[i].next)
        if (c->syms[i].len && !tok_ids_push(out, c->syms[i].id)) return false;
    return true;
}

/* ---- BPE ----------------------------------------------------------------------- */

static bool bpe_try_pair(const lqmf_tokenizer *t, tok_ctx *c, int32_t left, int32_t right, int32_t ns) {
    if (left < 0 || right >= ns) return true;
    const tok_pair *p = tok_pair_find(t, c->syms[left].id, c->syms[right].id);
    if (!p) return true;
    tok_heap_ent e = {(uint64_t)p->rank << 32 | (uint32_t)left, left, right, c->syms[left].id,
                      c->syms[right].id};
    return heap_push(c, e);
}

/* Initial symbols of a BPE word: bytes (byte-level) or characters, with byte
 * fallback or the unknown token for characters outside the vocabulary. */
static int32_t bpe_symbols(const lqmf_tokenizer *t, tok_ctx *c, const char *w, size_t n) {
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t len = t->byte_level ? 1 : tok_utf8_len((uint8_t)w[i]);
        if (i + len > n) len = n - i;
        int32_t id = len == 1 ? t->byte_tok[(uint8_t)w[i]] : tok_model_get(t, w + i, len);
        if (id >= 0) {
            sym_add(c, &ns, id, i, len);
        } else if (t->byte_fallback && !t->byte_level) {
            bool all = true;
            for (size_t k = 0; k < len; k++) all = all && t->byte_fb[(uint8_t)w[i + k]] >= 0;
            for (size_t k = 0; k < len && all; k++) sym_add(c, &ns, t->byte_fb[(uint8_t)w[i + k]], i + k, 1);
            if (!all && t->unk >= 0) sym_add(c, &ns, t->unk, i, len);
        } else if (t->unk >= 0) {
            if (t->fuse_unk && ns > 0 && c->syms[ns - 1].id == t->unk &&
                c->syms[ns - 1].off + c->syms[ns - 1].len == i)
                c->syms[ns - 1].len += (uint32_t)len;
            else
                sym_add(c, &ns, t->unk, i, len);
        } /* else: no unknown token, the character is dropped */
        i += len;
    }
    if (ns > 0) c->syms[ns - 1].next = ns;
    return ns;
}

static lqmf_status bpe_word(const lqmf_tokenizer *t, tok_ctx *c, const char *w, size_t n, lqmf_tok_ids *out) {
    if (t->ignore_merges) {
        int32_t id = tok_model_get(t, w, n);
        if (id >= 0) return tok_ids_push(out, id) ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    if (!syms_reserve(c, n)) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    int32_t ns = bpe_symbols(t, c, w, n);
    c->n_heap = 0;
    bool ok = true;
    for (int32_t i = 0; i + 1 < ns && ok; i++) ok = bpe_try_pair(t, c, i, i + 1, ns);
    while (ok && c->n_heap) {
        tok_heap_ent e = heap_pop(c);
        tok_sym *l = &c->syms[e.left], *r = &c->syms[e.right];
        if (!l->len || !r->len || l->next != e.right || l->id != e.lid || r->id != e.rid) continue;
        const tok_pair *p = tok_pair_find(t, e.lid, e.rid);
        sym_merge(c, e.left, e.right, ns);
        l->id = p->id;
        ok = bpe_try_pair(t, c, l->prev, e.left, ns) && bpe_try_pair(t, c, e.left, l->next, ns);
    }
    if (!ok || !emit_symbols(c, ns, out)) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    return LQMF_OK;
}

/* ---- SPM ----------------------------------------------------------------------- */

/* Order-preserving map of a float to 32 bits. */
static uint32_t float_order(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static bool spm_try_pair(const lqmf_tokenizer *t, tok_ctx *c, const char *w, int32_t left, int32_t right,
                         int32_t ns) {
    if (left < 0 || right >= ns) return true;
    const tok_sym *l = &c->syms[left], *r = &c->syms[right];
    int32_t id = tok_model_get(t, w + l->off, l->len + r->len);
    if (id < 0) return true;
    /* highest score first: invert the order; the size is the staleness check */
    tok_heap_ent e = {(uint64_t)(~float_order(t->score[id])) << 32 | (uint32_t)left, left, right,
                      (int32_t)(l->len + r->len), id};
    return heap_push(c, e);
}

static bool spm_emit(const lqmf_tokenizer *t, tok_ctx *c, const char *w, int32_t ns, lqmf_tok_ids *out) {
    for (int32_t i = 0; i < ns && i >= 0; i = c->syms[i].next) {
        const tok_sym *s = &c->syms[i];
        if (!s->len) continue;
        int32_t id = tok_model_get(t, w + s->off, s->len);
        if (id >= 0) {
            if (!tok_ids_push(out, id)) return false;
            continue;
        }
        bool all = t->byte_fallback;
        for (uint32_t k = 0; k < s->len && all; k++) all = t->byte_fb[(uint8_t)w[s->off + k]] >= 0;
        for (uint32_t k = 0; k < s->len && all; k++)
            if (!tok_ids_push(out, t->byte_fb[(uint8_t)w[s->off + k]])) return false;
        if (!all && t->unk >= 0 && !tok_ids_push(out, t->unk)) return false;
    }
    return true;
}

static lqmf_status spm_word(const lqmf_tokenizer *t, tok_ctx *c, const char *w, size_t n, lqmf_tok_ids *out) {
    if (!syms_reserve(c, n)) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t len = tok_utf8_len((uint8_t)w[i]);
        if (i + len > n) len = n - i;
        sym_add(c, &ns, -1, i, len);
        i += len;
    }
    c->syms[ns - 1].next = ns;
    c->n_heap = 0;
    bool ok = true;
    for (int32_t i = 0; i + 1 < ns && ok; i++) ok = spm_try_pair(t, c, w, i, i + 1, ns);
    while (ok && c->n_heap) {
        tok_heap_ent e = heap_pop(c);
        tok_sym *l = &c->syms[e.left], *r = &c->syms[e.right];
        if (!l->len || !r->len || l->next != e.right || (int32_t)(l->len + r->len) != e.lid) continue;
        sym_merge(c, e.left, e.right, ns);
        ok = spm_try_pair(t, c, w, l->prev, e.left, ns) && spm_try_pair(t, c, w, e.left, l->next, ns);
    }
    if (!ok || !spm_emit(t, c, w, ns, out)) return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", t->name);
    return LQMF_OK;
}

lqmf_status tok_model_encode(const lqmf_tokenizer *t, tok_ctx *c, const char *w, size_t n,
                             lqmf_tok_ids *out) {
    if (n == 0) return LQMF_OK;
    if (n > INT32_MAX - 1)
        return lqmf_error(LQMF_E_INVALID, "%s: a word of %zu bytes is too long to encode", t->name, n);
    return t->algo == LQMF_TOK_ALGO_SPM ? spm_word(t, c, w, n, out) : bpe_word(t, c, w, n, out);
}
