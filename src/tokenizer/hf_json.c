/* Hugging Face tokenizer.json (tokenizers library format) and
 * tokenizer_config.json (transformers). Only BPE models are accepted; the
 * normalizers, pre-tokenizers, decoders and post-processors that BPE
 * models use are mapped onto tok_norm / tok_pre / tok_decoder. */
#include "tok_internal.h"
#include "tok_json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    lqmf_tokenizer *t;
    const tj_doc *d;
} ctx;

/* ---- small JSON helpers -------------------------------------------------- */

static const char *type_of(const ctx *c, tj_ref o) {
    const char *s = tj_str(c->d, tj_get(c->d, o, "type"), NULL);
    return s ? s : "";
}

static lqmf_status want(const ctx *c, tj_ref v, tj_type type, const char *what) {
    if (tj_kind(c->d, v) == type) return LQMF_OK;
    return lqmf_error(LQMF_E_FORMAT, "%s: %s must be %s", c->t->name, what,
                      type == TJ_OBJ   ? "an object"
                      : type == TJ_ARR ? "an array"
                                       : "a string");
}

static bool absent(const ctx *c, tj_ref v) {
    tj_type k = tj_kind(c->d, v);
    return k == TJ_NONE || k == TJ_NULL;
}

/* Optional boolean field: def when absent or null. */
static lqmf_status get_bool(const ctx *c, tj_ref o, const char *key, bool def, bool *out, const char *where) {
    tj_ref v = tj_get(c->d, o, key);
    tj_type k = tj_kind(c->d, v);
    if (k == TJ_NONE || k == TJ_NULL) {
        *out = def;
        return LQMF_OK;
    }
    if (k != TJ_TRUE && k != TJ_FALSE)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s.%s must be true or false", c->t->name, where, key);
    *out = k == TJ_TRUE;
    return LQMF_OK;
}

static lqmf_status dup_str(const ctx *c, tj_ref v, const char *what, char **out, size_t *len) {
    size_t n;
    const char *s = tj_str(c->d, v, &n);
    if (!s) return lqmf_error(LQMF_E_FORMAT, "%s: %s must be a string", c->t->name, what);
    char *d = malloc(n + 1);
    if (!d) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    memcpy(d, s, n + 1);
    *out = d;
    if (len) *len = n;
    return LQMF_OK;
}

/* A {"String": s} or {"Regex": r} pattern. */
static lqmf_status get_pattern(const ctx *c, tj_ref o, const char *where, const char **s, size_t *n,
                               bool *regex) {
    tj_ref p = tj_get(c->d, o, "pattern");
    tj_ref v = tj_get(c->d, p, "String");
    *regex = v == TJ_MISSING;
    if (*regex) v = tj_get(c->d, p, "Regex");
    if (!(*s = tj_str(c->d, v, n)))
        return lqmf_error(LQMF_E_FORMAT, "%s: %s.pattern must be {\"String\": ...} or {\"Regex\": ...}",
                          c->t->name, where);
    return LQMF_OK;
}

/* ---- normalizers ----------------------------------------------------------- */

static lqmf_status parse_normalizer(const ctx *c, tj_ref o, int depth) {
    lqmf_tokenizer *t = c->t;
    if (absent(c, o)) return LQMF_OK;
    lqmf_status st = want(c, o, TJ_OBJ, "normalizer");
    if (st) return st;
    if (depth > 8) return lqmf_error(LQMF_E_FORMAT, "%s: normalizers nested too deep", t->name);
    const char *ty = type_of(c, o);
    tok_norm n = {0};
    if (!strcmp(ty, "Sequence")) {
        tj_ref list = tj_get(c->d, o, "normalizers");
        if ((st = want(c, list, TJ_ARR, "normalizer.normalizers"))) return st;
        TJ_EACH(c->d, list, e) if ((st = parse_normalizer(c, e, depth + 1))) return st;
        return LQMF_OK;
    } else if (!strcmp(ty, "Prepend")) {
        n.kind = NORM_PREPEND;
        st = dup_str(c, tj_get(c->d, o, "prepend"), "normalizer Prepend.prepend", &n.a, &n.alen);
    } else if (!strcmp(ty, "Replace")) {
        const char *p;
        size_t pn;
        bool regex;
        n.kind = NORM_REPLACE;
        st = get_pattern(c, o, "normalizer Replace", &p, &pn, &regex);
        if (!st) st = dup_str(c, tj_get(c->d, o, "content"), "normalizer Replace.content", &n.b, &n.blen);
        if (!st && regex && (st = tok_regex_compile(p, pn, &n.re)))
            lqmf_error_prefix(st, "%s: normalizer Replace", t->name);
        if (!st && !regex && !(n.a = malloc(pn + 1))) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
        if (!st && !regex) memcpy(n.a, p, pn + 1), n.alen = pn;
    } else if (!strcmp(ty, "NFC")) {
        n.kind = NORM_NFC;
    } else if (!strcmp(ty, "NFD")) {
        n.kind = NORM_NFD;
    } else if (!strcmp(ty, "NFKC")) {
        n.kind = NORM_NFKC;
    } else if (!strcmp(ty, "NFKD")) {
        n.kind = NORM_NFKD;
    } else if (!strcmp(ty, "Lowercase")) {
        n.kind = NORM_LOWERCASE;
    } else if (!strcmp(ty, "Strip")) {
        n.kind = NORM_STRIP;
        st = get_bool(c, o, "strip_left", true, &n.left, "normalizer Strip");
        if (!st) st = get_bool(c, o, "strip_right", true, &n.right, "normalizer Strip");
    } else {
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: normalizer type '%s' is not supported", t->name, ty);
    }
    if (!st) st = tok_norm_add(t, &n);
    if (st) tok_norm_clear(&n);
    return st;
}

/* ---- pre-tokenizers -------------------------------------------------------- */

static lqmf_status parse_behavior(const ctx *c, tj_ref o, tok_split_behavior *b) {
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    const char *s = tj_str(c->d, tj_get(c->d, o, "behavior"), NULL);
    *b = SPLIT_ISOLATED;
    if (!s) return LQMF_OK;
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *b = (tok_split_behavior)i;
            return LQMF_OK;
        }
    return lqmf_error(LQMF_E_FORMAT,
                      "%s: pre-tokenizer behavior '%s' is not one of Removed, Isolated, "
                      "MergedWithPrevious, MergedWithNext, Contiguous",
                      c->t->name, s);
}

/* Metaspace settings (shared by the pre-tokenizer and the decoder). */
static lqmf_status parse_metaspace(const ctx *c, tj_ref o, tok_pre *p) {
    tj_ref r = tj_get(c->d, o, "replacement");
    const char *rep = "\xe2\x96\x81";
    size_t rn = 3;
    if (r != TJ_MISSING && (!(rep = tj_str(c->d, r, &rn)) || rn == 0 || rn >= sizeof p->rep))
        return lqmf_error(LQMF_E_FORMAT, "%s: Metaspace.replacement must be one character", c->t->name);
    p->rep_len = (uint8_t)rn;
    memcpy(p->rep, rep, rn);
    bool add;
    lqmf_status st = get_bool(c, o, "add_prefix_space", true, &add, "Metaspace");
    if (st) return st;
    p->scheme = add ? PREPEND_ALWAYS : PREPEND_NEVER;
    const char *scheme = tj_str(c->d, tj_get(c->d, o, "prepend_scheme"), NULL);
    if (scheme) {
        if (!strcmp(scheme, "always"))
            p->scheme = PREPEND_ALWAYS;
        else if (!strcmp(scheme, "first"))
            p->scheme = PREPEND_FIRST;
        else if (!strcmp(scheme, "never"))
            p->scheme = PREPEND_NEVER;
        else
            return lqmf_error(LQMF_E_FORMAT, "%s: Metaspace.prepend_scheme '%s' is not always/first/never",
                              c->t->name, scheme);
    }
    return get_bool(c, o, "split", true, &p->split, "Metaspace");
}

static lqmf_status split_pre(const ctx *c, tj_ref o) {
    const char *p;
    size_t pn;
    bool regex, invert;
    tok_split_behavior b;
    lqmf_status st;
    if ((st = get_pattern(c, o, "pre_tokenizer Split", &p, &pn, &regex)) || (st = parse_behavior(c, o, &b)) ||
        (st = get_bool(c, o, "invert", false, &invert, "Split")))
        return st;
    tok_pre q = {.kind = PRE_SPLIT, .behavior = b, .invert = invert};
    if (!(q.pattern = malloc(pn + 1))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    memcpy(q.pattern, p, pn + 1);
    if (regex) {
        if ((st = tok_regex_compile(p, pn, &q.re)))
            lqmf_error_prefix(st, "%s: pre_tokenizer Split", c->t->name);
    } else { /* a literal string */
        int err;
        PCRE2_SIZE off;
        q.re = pcre2_compile((PCRE2_SPTR)p, pn, PCRE2_UTF | PCRE2_LITERAL, &err, &off, NULL);
        if (!q.re) st = lqmf_error(LQMF_E_FORMAT, "%s: Split pattern does not compile", c->t->name);
    }
    if (!st) st = tok_pre_add(c->t, &q);
    if (st) tok_pre_clear(&q);
    return st;
}

static lqmf_status parse_pre(const ctx *c, tj_ref o, int depth) {
    lqmf_tokenizer *t = c->t;
    if (absent(c, o)) return LQMF_OK;
    lqmf_status st = want(c, o, TJ_OBJ, "pre_tokenizer");
    if (st) return st;
    if (depth > 8) return lqmf_error(LQMF_E_FORMAT, "%s: pre-tokenizers nested too deep", t->name);
    const char *ty = type_of(c, o);
    if (!strcmp(ty, "Sequence")) {
        tj_ref list = tj_get(c->d, o, "pretokenizers");
        if ((st = want(c, list, TJ_ARR, "pre_tokenizer.pretokenizers"))) return st;
        TJ_EACH(c->d, list, e) if ((st = parse_pre(c, e, depth + 1))) return st;
        return LQMF_OK;
    }
    if (!strcmp(ty, "ByteLevel")) {
        bool prefix, regex;
        st = get_bool(c, o, "add_prefix_space", true, &prefix, "ByteLevel");
        if (!st) st = get_bool(c, o, "use_regex", true, &regex, "ByteLevel");
        if (!st && prefix) st = tok_pre_add(t, &(tok_pre){.kind = PRE_PREFIX});
        if (!st && regex) st = tok_pre_add_split(t, tok_re_gpt2, SPLIT_ISOLATED, false);
        return st;
    }
    if (!strcmp(ty, "Split")) return split_pre(c, o);
    if (!strcmp(ty, "Metaspace")) {
        tok_pre q = {.kind = PRE_METASPACE};
        st = parse_metaspace(c, o, &q);
        return st ? st : tok_pre_add(t, &q);
    }
    if (!strcmp(ty, "Digits")) {
        bool individual;
        st = get_bool(c, o, "individual_digits", false, &individual, "Digits");
        return st ? st : tok_pre_add_split(t, individual ? "\\p{N}" : "\\p{N}+", SPLIT_ISOLATED, false);
    }
    if (!strcmp(ty, "Whitespace")) return tok_pre_add_split(t, "\\w+|[^\\w\\s]+", SPLIT_REMOVED, true);
    if (!strcmp(ty, "WhitespaceSplit")) return tok_pre_add_split(t, "\\s+", SPLIT_REMOVED, false);
    if (!strcmp(ty, "Punctuation")) {
        tok_split_behavior b;
        st = parse_behavior(c, o, &b);
        return st ? st : tok_pre_add_split(t, "[\\p{P}!-/:-@\\[-`{-~]", b, false);
    }
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: pre-tokenizer type '%s' is not supported", t->name, ty);
}

/* True when o or a step of its list (recursively) is ByteLevel. */
static bool has_byte_level(const ctx *c, tj_ref o, const char *list_key, int depth) {
    if (tj_kind(c->d, o) != TJ_OBJ || depth > 8) return false;
    if (!strcmp(type_of(c, o), "ByteLevel")) return true;
    tj_ref list = tj_get(c->d, o, list_key);
    TJ_EACH(c->d, list, e) if (has_byte_level(c, e, list_key, depth + 1)) return true;
    return false;
}

/* ---- decoders ------------------------------------------------------------- */

static lqmf_status set_replace(lqmf_tokenizer *t, const char *from, size_t fn, const char *to, size_t tn) {
    tok_decoder *d = &t->dec;
    if (d->from_len &&
        (d->from_len != fn || memcmp(d->from, from, fn) || d->to_len != tn || memcmp(d->to, to, tn)))
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder with two different Replace steps", t->name);
    if (fn == 0 || fn >= sizeof d->from || tn >= sizeof d->to)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: decoder Replace of '%.*s' by '%.*s' (one character "
                          "each is supported)",
                          t->name, (int)fn, from, (int)tn, to);
    memcpy(d->from, from, fn);
    memcpy(d->to, to, tn);
    d->from_len = (uint8_t)fn;
    d->to_len = (uint8_t)tn;
    return LQMF_OK;
}

static lqmf_status parse_decoder(const ctx *c, tj_ref o, int depth) {
    lqmf_tokenizer *t = c->t;
    if (absent(c, o)) return LQMF_OK;
    lqmf_status st = want(c, o, TJ_OBJ, "decoder");
    if (st) return st;
    if (depth > 8) return lqmf_error(LQMF_E_FORMAT, "%s: decoders nested too deep", t->name);
    const char *ty = type_of(c, o);
    if (!strcmp(ty, "Sequence")) {
        tj_ref list = tj_get(c->d, o, "decoders");
        if ((st = want(c, list, TJ_ARR, "decoder.decoders"))) return st;
        TJ_EACH(c->d, list, e) if ((st = parse_decoder(c, e, depth + 1))) return st;
        return LQMF_OK;
    }
    if (!strcmp(ty, "ByteLevel") || !strcmp(ty, "Fuse")) return LQMF_OK;
    if (!strcmp(ty, "ByteFallback")) {
        t->dec.byte_fallback = true;
        return LQMF_OK;
    }
    if (!strcmp(ty, "Replace")) {
        const char *p, *to;
        size_t pn, tn;
        bool regex;
        if ((st = get_pattern(c, o, "decoder Replace", &p, &pn, &regex))) return st;
        if (regex || !(to = tj_str(c->d, tj_get(c->d, o, "content"), &tn)))
            return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder Replace needs a String pattern and content",
                              t->name);
        return set_replace(t, p, pn, to, tn);
    }
    if (!strcmp(ty, "Strip")) {
        const char *s = tj_str(c->d, tj_get(c->d, o, "content"), NULL);
        int64_t start = -1, stop = -1;
        tj_int(c->d, tj_get(c->d, o, "start"), &start);
        tj_int(c->d, tj_get(c->d, o, "stop"), &stop);
        if (!s || strcmp(s, " ") || stop != 0 || start < 0 || start > 8)
            return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder Strip other than leading spaces", t->name);
        t->dec.strip_start = (uint8_t)start;
        return LQMF_OK;
    }
    if (!strcmp(ty, "Metaspace")) {
        tok_pre q = {0};
        if ((st = parse_metaspace(c, o, &q))) return st;
        if (q.scheme != PREPEND_NEVER) t->dec.strip_start = 1;
        return set_replace(t, q.rep, q.rep_len, " ", 1);
    }
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder type '%s' is not supported", t->name, ty);
}

/* ---- post-processors -------------------------------------------------------- */

static lqmf_status add_special(lqmf_tokenizer *t, bool before, int64_t id) {
    if (id < 0 || (uint64_t)id >= t->n)
        return lqmf_error(LQMF_E_FORMAT, "%s: post_processor names token id %lld outside the vocabulary",
                          t->name, (long long)id);
    uint8_t *n = before ? &t->n_prefix : &t->n_suffix;
    if (*n >= 4)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: more than 4 special tokens around the text", t->name);
    (before ? t->prefix : t->suffix)[(*n)++] = (int32_t)id;
    return LQMF_OK;
}

static lqmf_status parse_template(const ctx *c, tj_ref o) {
    lqmf_tokenizer *t = c->t;
    tj_ref single = tj_get(c->d, o, "single"), specials = tj_get(c->d, o, "special_tokens");
    lqmf_status st = want(c, single, TJ_ARR, "post_processor.single");
    if (st) return st;
    t->add_stated = true;
    bool before = true;
    TJ_EACH(c->d, single, e) {
        if (tj_get(c->d, e, "Sequence") != TJ_MISSING) {
            before = false;
            continue;
        }
        const char *name = tj_str(c->d, tj_get(c->d, tj_get(c->d, e, "SpecialToken"), "id"), NULL);
        if (!name)
            return lqmf_error(LQMF_E_FORMAT,
                              "%s: post_processor.single has an item that is neither "
                              "Sequence nor SpecialToken",
                              t->name);
        tj_ref ids = tj_get(c->d, tj_get(c->d, specials, name), "ids");
        if (tj_kind(c->d, ids) != TJ_ARR)
            return lqmf_error(LQMF_E_FORMAT, "%s: post_processor special token '%s' has no ids", t->name,
                              name);
        TJ_EACH(c->d, ids, id) {
            int64_t v;
            if (!tj_int(c->d, id, &v))
                return lqmf_error(LQMF_E_FORMAT, "%s: post_processor ids of '%s' must be integers", t->name,
                                  name);
            if ((st = add_special(t, before, v))) return st;
        }
    }
    return LQMF_OK;
}

/* The second element of a two-element array ([token, id]). */
static tj_ref pair_second(const ctx *c, tj_ref arr) {
    return tj_kind(c->d, arr) == TJ_ARR && tj_size(c->d, arr) == 2 ? tj_after(c->d, arr + 1) : TJ_MISSING;
}

static lqmf_status parse_post(const ctx *c, tj_ref o, int depth) {
    lqmf_tokenizer *t = c->t;
    if (absent(c, o)) return LQMF_OK;
    lqmf_status st = want(c, o, TJ_OBJ, "post_processor");
    if (st) return st;
    if (depth > 8) return lqmf_error(LQMF_E_FORMAT, "%s: post-processors nested too deep", t->name);
    const char *ty = type_of(c, o);
    if (!strcmp(ty, "Sequence")) {
        tj_ref list = tj_get(c->d, o, "processors");
        TJ_EACH(c->d, list, e) if ((st = parse_post(c, e, depth + 1))) return st;
        return LQMF_OK;
    }
    if (!strcmp(ty, "ByteLevel")) return LQMF_OK;
    if (!strcmp(ty, "TemplateProcessing")) return parse_template(c, o);
    if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) {
        int64_t cls, sep;
        if (!tj_int(c->d, pair_second(c, tj_get(c->d, o, "cls")), &cls) ||
            !tj_int(c->d, pair_second(c, tj_get(c->d, o, "sep")), &sep))
            return lqmf_error(LQMF_E_FORMAT, "%s: %s needs cls and sep as [token, id]", t->name, ty);
        st = add_special(t, true, cls);
        return st ? st : add_special(t, false, sep);
    }
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: post_processor type '%s' is not supported", t->name, ty);
}

/* ---- the BPE model --------------------------------------------------------- */

static lqmf_status parse_id(const ctx *c, tj_ref v, const char *what, const char *key, uint32_t *id) {
    int64_t x;
    if (!tj_int(c->d, v, &x) || x < 0 || x >= TOK_MAX_VOCAB)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s '%s' has an id that is not an integer in 0..%u", c->t->name,
                          what, key, TOK_MAX_VOCAB - 1);
    *id = (uint32_t)x;
    return LQMF_OK;
}

static lqmf_status load_added(const ctx *c, tj_ref added) {
    lqmf_tokenizer *t = c->t;
    lqmf_status st;
    TJ_EACH(c->d, added, v) {
        size_t n;
        const char *content = tj_str(c->d, tj_get(c->d, v, "content"), &n);
        if (!content || n == 0)
            return lqmf_error(LQMF_E_FORMAT, "%s: added_tokens: content must be a non-empty string", t->name);
        bool special, lstrip, rstrip, single;
        const char *w = "added_tokens";
        uint32_t id;
        if ((st = get_bool(c, v, "special", false, &special, w)) ||
            (st = get_bool(c, v, "lstrip", false, &lstrip, w)) ||
            (st = get_bool(c, v, "rstrip", false, &rstrip, w)) ||
            (st = get_bool(c, v, "single_word", false, &single, w)) ||
            (st = parse_id(c, tj_get(c->d, v, "id"), "added token", content, &id)))
            return st;
        lqmf_tok_type ty = special ? LQMF_TOK_CONTROL : LQMF_TOK_USER_DEFINED;
        if ((st = tok_vocab_set(t, id, content, n, 0.0f, ty))) return st;
        if ((st = tok_add_added(t, (int32_t)id, special, lstrip, rstrip, single))) return st;
    }
    return LQMF_OK;
}

static lqmf_status load_vocab(const ctx *c, tj_ref vocab, tj_ref added) {
    lqmf_tokenizer *t = c->t;
    lqmf_status st = want(c, vocab, TJ_OBJ, "model.vocab");
    if (st) return st;
    if (!absent(c, added) && (st = want(c, added, TJ_ARR, "added_tokens"))) return st;
    uint32_t n = 0, id;
    TJ_EACH(c->d, vocab, k) {
        if ((st = parse_id(c, k + 1, "model.vocab token", tj_str(c->d, k, NULL), &id))) return st;
        if (id + 1 > n) n = id + 1;
    }
    TJ_EACH(c->d, added, v) {
        if ((st = parse_id(c, tj_get(c->d, v, "id"), "added token", "?", &id))) return st;
        if (id + 1 > n) n = id + 1;
    }
    uint64_t entries = (uint64_t)tj_size(c->d, vocab) + tj_size(c->d, added);
    if (n > 2 * entries + 1024) /* holes are filled with [PAD] tokens; keep them few */
        return lqmf_error(LQMF_E_FORMAT,
                          "%s: token ids reach %u for %llu tokens (ids must be nearly contiguous)", t->name,
                          n - 1, (unsigned long long)entries);
    if ((st = tok_vocab_alloc(t, n))) return st;
    TJ_EACH(c->d, vocab, k) {
        size_t kn;
        const char *key = tj_str(c->d, k, &kn);
        parse_id(c, k + 1, "", "", &id);
        if (t->type[id])
            return lqmf_error(LQMF_E_FORMAT, "%s: model.vocab gives id %u to two tokens (one is '%s')",
                              t->name, id, key);
        lqmf_tok_type ty =
            t->byte_fallback && tok_parse_byte_token(key, kn) >= 0 ? LQMF_TOK_BYTE : LQMF_TOK_NORMAL;
        if ((st = tok_vocab_set(t, id, key, kn, 0.0f, ty))) return st;
    }
    if ((st = load_added(c, added)) || (st = tok_vocab_finish(t))) return st;
    /* a text given twice in model.vocab: the index keeps one of the ids */
    TJ_EACH(c->d, vocab, k) {
        size_t kn;
        const char *key = tj_str(c->d, k, &kn);
        parse_id(c, k + 1, "", "", &id);
        int32_t found = tok_find_text(t, key, kn);
        if (found >= 0 && found != (int32_t)id && t->type[id] == LQMF_TOK_NORMAL &&
            t->type[found] == LQMF_TOK_NORMAL)
            return lqmf_error(LQMF_E_FORMAT, "%s: model.vocab has token '%s' twice (ids %d and %u)", t->name,
                              key, found, id);
    }
    return LQMF_OK;
}

/* One merge: "left right" or ["left", "right"]. */
static bool merge_sides(const ctx *c, tj_ref m, const char **a, size_t *an, const char **b, size_t *bn) {
    if (tj_kind(c->d, m) == TJ_STR) {
        size_t n;
        *a = tj_str(c->d, m, &n);
        const char *sp = memchr(*a, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - *a))) return false;
        *an = (size_t)(sp - *a);
        *b = sp + 1;
        *bn = n - *an - 1;
        return true;
    }
    if (tj_size(c->d, m) != 2 || tj_kind(c->d, m) != TJ_ARR) return false;
    *a = tj_str(c->d, m + 1, an);
    *b = tj_str(c->d, tj_after(c->d, m + 1), bn);
    return *a && *b;
}

static lqmf_status load_merges(const ctx *c, tj_ref merges) {
    lqmf_tokenizer *t = c->t;
    lqmf_status st = absent(c, merges) ? LQMF_OK : want(c, merges, TJ_ARR, "model.merges");
    if (st) return st;
    uint32_t n = tj_size(c->d, merges); /* 0 when absent */
    if ((st = tok_merges_alloc(t, n))) return st;
    lqmf_buf joined;
    lqmf_buf_init(&joined);
    uint32_t i = 0;
    TJ_EACH(c->d, merges, m) {
        const char *a, *b;
        size_t an, bn;
        if (!merge_sides(c, m, &a, &an, &b, &bn)) {
            st = lqmf_error(LQMF_E_FORMAT,
                            "%s: model.merges[%u] is not two tokens (\"a b\" or [\"a\", \"b\"])", t->name, i);
            break;
        }
        if ((st = tok_merges_add_text(t, a, an, b, bn, "model.merges", i, &joined))) break;
        i++;
    }
    lqmf_buf_free(&joined);
    return st;
}

static lqmf_status load_model(const ctx *c, tj_ref root) {
    lqmf_tokenizer *t = c->t;
    tj_ref model = tj_get(c->d, root, "model");
    lqmf_status st = want(c, model, TJ_OBJ, "model");
    if (st) return st;
    const char *ty = tj_str(c->d, tj_get(c->d, model, "type"), NULL);
    if (!ty && tj_get(c->d, model, "merges") != TJ_MISSING) ty = "BPE";
    if (!ty || strcmp(ty, "BPE"))
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: model type '%s' is not supported (BPE only)", t->name,
                          ty ? ty : "(none)");
    t->algo = LQMF_TOK_ALGO_BPE;
    t->byte_level = has_byte_level(c, tj_get(c->d, root, "pre_tokenizer"), "pretokenizers", 0) ||
                    has_byte_level(c, tj_get(c->d, root, "decoder"), "decoders", 0);
    if ((st = get_bool(c, model, "byte_fallback", false, &t->byte_fallback, "model")) ||
        (st = get_bool(c, model, "ignore_merges", false, &t->ignore_merges, "model")) ||
        (st = get_bool(c, model, "fuse_unk", false, &t->fuse_unk, "model")))
        return st;
    static const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        tj_ref v = tj_get(c->d, model, affixes[k]);
        size_t n = 0;
        if (!absent(c, v) && (!tj_str(c->d, v, &n) || n))
            return lqmf_error(LQMF_E_UNSUPPORTED, "%s: model.%s is not supported", t->name, affixes[k]);
    }
    if ((st = load_vocab(c, tj_get(c->d, model, "vocab"), tj_get(c->d, root, "added_tokens")))) return st;
    tj_ref unk = tj_get(c->d, model, "unk_token");
    if (!absent(c, unk)) {
        size_t n;
        const char *s = tj_str(c->d, unk, &n);
        if (!s) return lqmf_error(LQMF_E_FORMAT, "%s: model.unk_token must be a string", t->name);
        if ((t->unk = tok_find_text(t, s, n)) < 0)
            return lqmf_error(LQMF_E_FORMAT, "%s: model.unk_token '%s' is not in the vocabulary", t->name, s);
        t->type[t->unk] = LQMF_TOK_UNKNOWN;
    }
    return load_merges(c, tj_get(c->d, model, "merges"));
}

/* ---- tokenizer_config.json ------------------------------------------------- */

/* A special token entry: "text" or {"content": "text"}; unchanged when absent
 * or not in the vocabulary. */
static lqmf_status config_token(const ctx *c, tj_ref cfg, const char *key, int32_t *id) {
    tj_ref v = tj_get(c->d, cfg, key);
    if (tj_kind(c->d, v) == TJ_OBJ) v = tj_get(c->d, v, "content");
    if (absent(c, v)) return LQMF_OK;
    size_t n;
    const char *s = tj_str(c->d, v, &n);
    if (!s) return lqmf_error(LQMF_E_FORMAT, "%s: %s must be a string", c->t->name, key);
    int32_t found = tok_find_text(c->t, s, n);
    if (found >= 0) *id = found; /* a name outside the vocabulary (transformers would add it) is ignored */
    return LQMF_OK;
}

static lqmf_status config_template(const ctx *c, tj_ref v) {
    if (absent(c, v)) return LQMF_OK;
    if (tj_kind(c->d, v) == TJ_ARR) { /* [{"name": ..., "template": ...}]: take "default" */
        tj_ref pick = TJ_MISSING;
        TJ_EACH(c->d, v, e) {
            const char *name = tj_str(c->d, tj_get(c->d, e, "name"), NULL);
            if (pick == TJ_MISSING || (name && !strcmp(name, "default"))) pick = e;
        }
        v = tj_get(c->d, pick, "template");
    }
    free(c->t->chat_template);
    c->t->chat_template = NULL;
    return dup_str(c, v, "chat_template", &c->t->chat_template, NULL);
}

static lqmf_status config_add_flag(const ctx *c, tj_ref cfg, const char *key, bool *flag, bool *seen) {
    tj_type k = tj_kind(c->d, tj_get(c->d, cfg, key));
    if (k == TJ_TRUE || k == TJ_FALSE) {
        *flag = k == TJ_TRUE;
        *seen = true;
    } else if (k != TJ_NONE && k != TJ_NULL) {
        return lqmf_error(LQMF_E_FORMAT, "%s: %s must be true or false", c->t->name, key);
    }
    return LQMF_OK;
}

static lqmf_status apply_config(lqmf_tokenizer *t, const char *text, size_t len) {
    tj_doc d;
    lqmf_status st = tj_parse(text, len, t->name, &d);
    if (st) return st;
    ctx c = {t, &d};
    bool add_bos = lqmf_tok_adds_bos(t), add_eos = lqmf_tok_adds_eos(t), seen = false;
    if ((st = want(&c, 0, TJ_OBJ, "tokenizer_config.json")) ||
        (st = config_token(&c, 0, "bos_token", &t->bos)) ||
        (st = config_token(&c, 0, "eos_token", &t->eos)) ||
        (st = config_token(&c, 0, "unk_token", &t->unk)) ||
        (st = config_token(&c, 0, "pad_token", &t->pad)) ||
        (st = config_template(&c, tj_get(&d, 0, "chat_template"))) ||
        (st = config_add_flag(&c, 0, "add_bos_token", &add_bos, &seen)) ||
        (st = config_add_flag(&c, 0, "add_eos_token", &add_eos, &seen))) {
        tj_free(&d);
        return st;
    }
    if (seen) tok_set_add_special(t, add_bos, add_eos);
    tj_free(&d);
    return LQMF_OK;
}

lqmf_status tok_apply_config(lqmf_tokenizer *t, const char *text, size_t len, const char *name) {
    char *saved = t->name; /* messages name the config file */
    t->name = (char *)name;
    lqmf_status st = apply_config(t, text, len);
    t->name = saved;
    return st;
}

/* ---- entry point -------------------------------------------------------------- */

static lqmf_status load_json(lqmf_tokenizer *t, const tj_doc *d) {
    ctx c = {t, d};
    lqmf_status st = want(&c, 0, TJ_OBJ, "the top level");
    if (!st) st = load_model(&c, 0);
    if (!st) st = parse_normalizer(&c, tj_get(d, 0, "normalizer"), 0);
    if (!st) st = parse_pre(&c, tj_get(d, 0, "pre_tokenizer"), 0);
    if (!st) st = parse_decoder(&c, tj_get(d, 0, "decoder"), 0);
    if (!st) st = parse_post(&c, tj_get(d, 0, "post_processor"), 0);
    if (st) return st;
    if (t->n_prefix == 1) t->bos = t->prefix[0];
    if (t->n_suffix == 1) t->eos = t->suffix[0];
    return LQMF_OK;
}

lqmf_status lqmf_tok_load_hf_json(const char *json, size_t len, const char *config_json, size_t config_len,
                                  const char *name, lqmf_tokenizer **out) {
    *out = NULL;
    lqmf_tokenizer *t;
    lqmf_status st = tok_new(name, &t);
    if (st) return st;
    tj_doc d;
    if (!(st = tj_parse(json, len, t->name, &d))) {
        st = load_json(t, &d);
        tj_free(&d);
    }
    if (!st && config_json) st = tok_apply_config(t, config_json, config_len, "tokenizer_config.json");
    if (st) {
        lqmf_tok_free(t);
        return st;
    }
    *out = t;
    return LQMF_OK;
}
