/* Encoding (added tokens, normalize, pre-tokenize, model, BOS/EOS) and
 * decoding (whole, one piece, streaming). */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

static bool is_ws(uint8_t c) { return c == ' ' || (c >= 9 && c <= 13); }
static bool is_word(uint8_t c) {
    return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

/* An added token found in the text: [a, b) after stripping, the token id. */
typedef struct {
    size_t a, b;
    int32_t id;
} added_hit;

/* The added-token entry of id (t->added is sorted by id), NULL if none. */
static const tok_added *added_of(const lqmf_tokenizer *t, int32_t id) {
    uint32_t lo = 0, hi = t->n_added;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (t->added[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_added && t->added[lo].id == id ? &t->added[lo] : NULL;
}

static bool added_allowed(const tok_added *ad, unsigned flags, const char *s, size_t n, size_t a, size_t b) {
    if (!ad || (ad->special && !(flags & LQMF_TOK_PARSE_SPECIAL))) return false;
    return !ad->single_word || !((a > 0 && is_word((uint8_t)s[a - 1])) || (b < n && is_word((uint8_t)s[b])));
}

/* Leftmost, then longest, added token at or after `from`. */
static bool find_added(const lqmf_tokenizer *t, const char *s, size_t n, size_t from, size_t seg,
                       unsigned flags, added_hit *hit) {
    if (!t->n_added) return false;
    for (size_t p = from; p < n; p++) {
        uint8_t c = (uint8_t)s[p];
        if (!(t->added_first[c >> 6] >> (c & 63) & 1)) continue;
        for (uint32_t k = 0; k < t->n_added_lens; k++) {
            size_t len = t->added_lens[k];
            if (p + len > n) continue;
            int32_t id = tok_index_get(t, &t->added_index, s + p, len);
            const tok_added *ad = id < 0 ? NULL : added_of(t, id);
            if (!added_allowed(ad, flags, s, n, p, p + len)) continue;
            hit->a = p;
            hit->b = p + len;
            hit->id = id;
            while (ad->lstrip && hit->a > seg && is_ws((uint8_t)s[hit->a - 1])) hit->a--;
            while (ad->rstrip && hit->b < n && is_ws((uint8_t)s[hit->b])) hit->b++;
            return true;
        }
    }
    return false;
}

/* Encode one word through the call's word cache. */
static lqmf_status encode_word(const lqmf_tokenizer *t, tok_ctx *c, const char *w, size_t n,
                               lqmf_tok_ids *out) {
    if (n > TOK_CACHE_WORD || n == 0) return tok_model_encode(t, c, w, n, out);
    if (!c->cache && !(c->cache = calloc(c->cache_slots, sizeof *c->cache)))
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    uint64_t h = tok_hash_bytes(w, n);
    uint32_t i = (uint32_t)h & (c->cache_slots - 1);
    for (; c->cache[i].key_len; i = (i + 1) & (c->cache_slots - 1)) {
        const tok_cache_ent *e = &c->cache[i];
        if (e->hash != h || e->key_len != n || memcmp(c->cache_keys.data + e->key_off, w, n)) continue;
        for (uint32_t k = 0; k < e->n_ids; k++)
            if (!tok_ids_push(out, c->cache_ids.ids[e->ids_off + k]))
                return lqmf_error(LQMF_E_NOMEM, "out of memory");
        return LQMF_OK;
    }
    size_t first = out->n;
    lqmf_status st = tok_model_encode(t, c, w, n, out);
    if (st || c->cache_n >= c->cache_slots / 2 || c->cache_keys.len + n > UINT32_MAX / 2) return st;
    tok_cache_ent e = {h, (uint32_t)c->cache_keys.len, (uint32_t)n, (uint32_t)c->cache_ids.n,
                       (uint32_t)(out->n - first)};
    lqmf_buf_append(&c->cache_keys, w, n);
    bool ok = !c->cache_keys.failed;
    for (size_t k = first; ok && k < out->n; k++) ok = tok_ids_push(&c->cache_ids, out->ids[k]);
    if (!ok) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    c->cache[i] = e;
    c->cache_n++;
    return LQMF_OK;
}

/* Encode a word, cut first before each U+2581 that follows other text when
 * no token can span such a place (t->meta_chunks): exact, and it keeps
 * whole unsplit SentencePiece segments from becoming one huge word. */
static lqmf_status encode_chunks(const lqmf_tokenizer *t, tok_ctx *c, const char *w, size_t n,
                                 lqmf_tok_ids *out) {
    if (!t->meta_chunks || t->ignore_merges) return encode_word(t, c, w, n, out);
    size_t start = 0;
    for (size_t i = 3; i + 3 <= n; i++) {
        if (memcmp(w + i, "\xe2\x96\x81", 3) || !memcmp(w + i - 3, "\xe2\x96\x81", 3)) continue;
        lqmf_status st = encode_word(t, c, w + start, i - start, out);
        if (st) return st;
        start = i;
        i += 2;
    }
    return encode_word(t, c, w + start, n - start, out);
}

static lqmf_status encode_segment(const lqmf_tokenizer *t, tok_ctx *c, const char *s, size_t n, bool at_start,
                                  lqmf_tok_ids *out) {
    if (n == 0) return LQMF_OK;
    lqmf_status st = tok_normalize(t, s, n, &c->norm);
    tok_words *w = NULL;
    if (!st) st = tok_pretokenize(t, c, (const char *)c->norm.data, c->norm.len, at_start, &w);
    for (size_t i = 0; !st && i < w->n; i++)
        st = encode_chunks(t, c, (const char *)w->text.data + w->spans[i].off, w->spans[i].len, out);
    return st;
}

lqmf_status lqmf_tok_encode(const lqmf_tokenizer *t, const char *text, size_t len, unsigned flags,
                            lqmf_tok_ids *out) {
    size_t bad = tok_utf8_check(text, len);
    if (bad != len)
        return lqmf_error(LQMF_E_INVALID, "%s: text is not valid UTF-8 at byte %zu (0x%02x)", t->name, bad,
                          (uint8_t)text[bad]);
    bool add = flags & LQMF_TOK_ADD_SPECIAL;
    for (unsigned i = 0; add && i < t->n_prefix; i++)
        if (!tok_ids_push(out, t->prefix[i])) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    tok_ctx c = {0};
    c.cache_slots = 64; /* about one slot per 8 bytes of text, at most TOK_CACHE_MAX_SLOTS */
    while (c.cache_slots < TOK_CACHE_MAX_SLOTS && c.cache_slots < len / 8) c.cache_slots *= 2;
    lqmf_status st = LQMF_OK;
    size_t seg = 0;
    added_hit hit;
    while (!st && find_added(t, text, len, seg, seg, flags, &hit)) {
        st = encode_segment(t, &c, text + seg, hit.a - seg, seg == 0, out);
        if (!st && !tok_ids_push(out, hit.id)) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
        seg = hit.b;
    }
    if (!st) st = encode_segment(t, &c, text + seg, len - seg, seg == 0, out);
    tok_ctx_free(&c);
    for (unsigned i = 0; !st && add && i < t->n_suffix; i++)
        if (!tok_ids_push(out, t->suffix[i])) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    return st;
}

/* ---- decoding ------------------------------------------------------------------- */

static bool skipped(const lqmf_tokenizer *t, int32_t id, unsigned flags) {
    uint8_t ty = t->type[id];
    return (flags & LQMF_TOK_SKIP_SPECIAL) && (ty == LQMF_TOK_CONTROL || ty == LQMF_TOK_UNKNOWN);
}

static void append_piece(const lqmf_tokenizer *t, int32_t id, lqmf_buf *out) {
    size_t n;
    const char *p = tok_piece(t, id, &n);
    if (t->type[id] == LQMF_TOK_BYTE && t->dec.byte_fallback) {
        uint8_t b = (uint8_t)tok_parse_byte_token(p, n);
        lqmf_buf_append(out, &b, 1);
        return;
    }
    const tok_decoder *d = &t->dec;
    if (!d->from_len) {
        lqmf_buf_append(out, p, n);
        return;
    }
    size_t last = 0;
    for (size_t i = 0; i + d->from_len <= n;) {
        if (memcmp(p + i, d->from, d->from_len) == 0) {
            lqmf_buf_append(out, p + last, i - last);
            lqmf_buf_append(out, d->to, d->to_len);
            i += d->from_len;
            last = i;
        } else {
            i++;
        }
    }
    lqmf_buf_append(out, p + last, n - last);
}

static lqmf_status check_id(const lqmf_tokenizer *t, int32_t id) {
    if (id < 0 || (uint32_t)id >= t->n)
        return lqmf_error(LQMF_E_INVALID, "%s: token id %d outside the vocabulary of %u", t->name, id, t->n);
    return LQMF_OK;
}

lqmf_status lqmf_tok_piece(const lqmf_tokenizer *t, int32_t id, lqmf_buf *out) {
    lqmf_status st = check_id(t, id);
    if (st) return st;
    append_piece(t, id, out);
    return out->failed ? lqmf_error(LQMF_E_NOMEM, "out of memory") : LQMF_OK;
}

lqmf_status lqmf_tok_decode(const lqmf_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                            lqmf_buf *out) {
    bool started = false;
    for (size_t i = 0; i < n; i++) {
        lqmf_status st = check_id(t, ids[i]);
        if (st) return st;
        if (skipped(t, ids[i], flags)) continue;
        size_t at = out->len;
        append_piece(t, ids[i], out);
        if (!started && !out->failed) {
            size_t k = 0;
            while (k < t->dec.strip_start && at + k < out->len && out->data[at + k] == ' ') k++;
            memmove(out->data + at, out->data + at + k, out->len - at - k + 1);
            out->len -= k;
        }
        started = true;
    }
    lqmf_buf_append(out, "", 0);
    return out->failed ? lqmf_error(LQMF_E_NOMEM, "out of memory") : LQMF_OK;
}

/* ---- streaming ------------------------------------------------------------------- */

void lqmf_tok_stream_init(lqmf_tok_stream *s, const lqmf_tokenizer *t, unsigned flags) {
    memset(s, 0, sizeof *s);
    s->t = t;
    s->flags = flags;
    s->strip = t->dec.strip_start;
}

static const char k_replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

static void stream_byte(lqmf_tok_stream *s, uint8_t b, lqmf_buf *out) {
    for (;;) {
        if (s->npend == 0) {
            if (b < 0x80)
                lqmf_buf_append(out, &b, 1);
            else if (b >= 0xc2 && b <= 0xf4)
                s->pend[s->npend++] = b;
            else
                lqmf_buf_append(out, k_replacement, 3);
            return;
        }
        if ((b & 0xc0) == 0x80) {
            s->pend[s->npend++] = b;
            size_t need = tok_utf8_len(s->pend[0]);
            if (s->npend < need) return;
            if (tok_utf8_check((const char *)s->pend, need) == need)
                lqmf_buf_append(out, s->pend, need);
            else
                lqmf_buf_append(out, k_replacement, 3);
            s->npend = 0;
            return;
        }
        lqmf_buf_append(out, k_replacement, 3); /* cut short: a new character starts */
        s->npend = 0;
    }
}

lqmf_status lqmf_tok_stream_push(lqmf_tok_stream *s, int32_t id, lqmf_buf *out) {
    const lqmf_tokenizer *t = s->t;
    lqmf_status st = check_id(t, id);
    if (st) return st;
    if (skipped(t, id, s->flags)) return LQMF_OK;
    lqmf_buf p;
    lqmf_buf_init(&p);
    append_piece(t, id, &p);
    size_t k = 0;
    if (!s->started)
        while (s->strip && k < p.len && p.data[k] == ' ') k++, s->strip--;
    s->started = true;
    for (; k < p.len; k++) stream_byte(s, p.data[k], out);
    bool failed = p.failed || out->failed;
    lqmf_buf_free(&p);
    lqmf_buf_append(out, "", 0);
    return failed ? lqmf_error(LQMF_E_NOMEM, "out of memory") : LQMF_OK;
}

void lqmf_tok_stream_flush(lqmf_tok_stream *s, lqmf_buf *out) {
    if (s->npend) lqmf_buf_append(out, k_replacement, 3);
    s->npend = 0;
    lqmf_buf_append(out, "", 0);
}
