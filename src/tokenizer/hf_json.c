/* Hugging Face tokenizer.json (tokenizers library format) and
 * tokenizer_config.json (transformers). Only BPE models are accepted; the
 * normalizers, pre-tokenizers, decoders and post-processors that BPE
 * models use are mapped onto tok_norm / tok_pre / tok_decoder. */
#include "tok_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- small JSON helpers -------------------------------------------------- */

static const char *type_of(const json_t *o) {
    const char *s = json_string_value(json_object_get(o, "type"));
    return s ? s : "";
}

/* v must be an object (JSON_OBJECT) or an array (JSON_ARRAY). */
static lqmf_status want(const lqmf_tokenizer *t, const json_t *v, json_type type, const char *what) {
    if (v && json_typeof(v) == type) return LQMF_OK;
    return lqmf_error(LQMF_E_FORMAT, "%s: %s must be %s", t->name, what,
                      type == JSON_OBJECT ? "an object" : "an array");
}

/* Optional boolean field: default when absent or null. */
static lqmf_status get_bool(const lqmf_tokenizer *t, const json_t *o, const char *key, bool def,
                            bool *out, const char *where) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return LQMF_OK;
    }
    if (!json_is_boolean(v))
        return lqmf_error(LQMF_E_FORMAT, "%s: %s.%s must be true or false", t->name, where, key);
    *out = json_is_true(v);
    return LQMF_OK;
}

static lqmf_status dup_str(const lqmf_tokenizer *t, const json_t *v, const char *what, char **out,
                           size_t *len) {
    if (!json_is_string(v)) return lqmf_error(LQMF_E_FORMAT, "%s: %s must be a string", t->name, what);
    size_t n = json_string_length(v);
    char *s = malloc(n + 1);
    if (!s) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    memcpy(s, json_string_value(v), n);
    s[n] = 0;
    *out = s;
    if (len) *len = n;
    return LQMF_OK;
}

/* A {"String": s} or {"Regex": r} pattern. */
static lqmf_status get_pattern(const lqmf_tokenizer *t, const json_t *o, const char *where,
                               const char **s, size_t *n, bool *regex) {
    const json_t *p = json_object_get(o, "pattern");
    const json_t *v = json_object_get(p, "String");
    *regex = false;
    if (!v) {
        v = json_object_get(p, "Regex");
        *regex = true;
    }
    if (!json_is_string(v))
        return lqmf_error(LQMF_E_FORMAT, "%s: %s.pattern must be {\"String\": ...} or {\"Regex\": ...}",
                          t->name, where);
    *s = json_string_value(v);
    *n = json_string_length(v);
    return LQMF_OK;
}

/* ---- normalizers ----------------------------------------------------------- */

static lqmf_status parse_normalizer(lqmf_tokenizer *t, const json_t *o, int depth) {
    if (!o || json_is_null(o)) return LQMF_OK;
    lqmf_status st = want(t, o, JSON_OBJECT, "normalizer");
    if (st) return st;
    if (depth > 8) return lqmf_error(LQMF_E_FORMAT, "%s: normalizers nested too deep", t->name);
    const char *ty = type_of(o);
    tok_norm n = { 0 };
    if (!strcmp(ty, "Sequence")) {
        const json_t *list = json_object_get(o, "normalizers");
        if ((st = want(t, list, JSON_ARRAY, "normalizer.normalizers"))) return st;
        size_t i;
        const json_t *e;
        json_array_foreach(list, i, e) if ((st = parse_normalizer(t, e, depth + 1))) return st;
        return LQMF_OK;
    } else if (!strcmp(ty, "Prepend")) {
        n.kind = NORM_PREPEND;
        st = dup_str(t, json_object_get(o, "prepend"), "normalizer Prepend.prepend", &n.a, &n.alen);
    } else if (!strcmp(ty, "Replace")) {
        const char *p;
        size_t pn;
        bool regex;
        n.kind = NORM_REPLACE;
        st = get_pattern(t, o, "normalizer Replace", &p, &pn, &regex);
        if (!st) st = dup_str(t, json_object_get(o, "content"), "normalizer Replace.content", &n.b, &n.blen);
        if (!st && regex) st = tok_regex_compile(p, pn, &n.re);
        if (!st && !regex && !(n.a = malloc(pn + 1))) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
        if (!st && !regex) memcpy(n.a, p, pn), n.alen = pn;
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
        st = get_bool(t, o, "strip_left", true, &n.left, "normalizer Strip");
        if (!st) st = get_bool(t, o, "strip_right", true, &n.right, "normalizer Strip");
    } else {
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: normalizer type '%s' is not supported", t->name, ty);
    }
    if (!st) st = tok_norm_add(t, &n);
    if (st) tok_norm_clear(&n);
    return st;
}

/* ---- pre-tokenizers -------------------------------------------------------- */

static lqmf_status parse_behavior(const lqmf_tokenizer *t, const json_t *o, tok_split_behavior *b,
                                  tok_split_behavior def) {
    static const char *names[] = { "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                   "Contiguous" };
    const char *s = json_string_value(json_object_get(o, "behavior"));
    *b = def;
    if (!s) return LQMF_OK;
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *b = (tok_split_behavior)i;
            return LQMF_OK;
        }
    return lqmf_error(LQMF_E_FORMAT, "%s: pre-tokenizer behavior '%s' is not one of Removed, Isolated, "
                      "MergedWithPrevious, MergedWithNext, Contiguous", t->name, s);
}

/* Metaspace settings (shared by the pre-tokenizer and the decoder). */
static lqmf_status parse_metaspace(const lqmf_tokenizer *t, const json_t *o, tok_pre *p) {
    const json_t *r = json_object_get(o, "replacement");
    const char *rep = "\xe2\x96\x81";
    if (r) {
        if (!json_is_string(r) || json_string_length(r) == 0 || json_string_length(r) >= sizeof p->rep)
            return lqmf_error(LQMF_E_FORMAT, "%s: Metaspace.replacement must be one character", t->name);
        rep = json_string_value(r);
    }
    p->rep_len = (uint8_t)strlen(rep);
    memcpy(p->rep, rep, p->rep_len);
    const char *scheme = json_string_value(json_object_get(o, "prepend_scheme"));
    bool add = true;
    lqmf_status st = get_bool(t, o, "add_prefix_space", true, &add, "Metaspace");
    if (st) return st;
    p->scheme = add ? PREPEND_ALWAYS : PREPEND_NEVER;
    if (scheme) {
        if (!strcmp(scheme, "always")) p->scheme = PREPEND_ALWAYS;
        else if (!strcmp(scheme, "first")) p->scheme = PREPEND_FIRST;
        else if (!strcmp(scheme, "never")) p->scheme = PREPEND_NEVER;
        else return lqmf_error(LQMF_E_FORMAT, "%s: Metaspace.prepend_scheme '%s' is not always/first/never",
                               t->name, scheme);
    }
    return get_bool(t, o, "split", true, &p->split, "Metaspace");
}

static lqmf_status parse_pre(lqmf_tokenizer *t, const json_t *o, int depth) {
    if (!o || json_is_null(o)) return LQMF_OK;
    lqmf_status st = want(t, o, JSON_OBJECT, "pre_tokenizer");
    if (st) return st;
    if (depth > 8) return lqmf_error(LQMF_E_FORMAT, "%s: pre-tokenizers nested too deep", t->name);
    const char *ty = type_of(o);
    if (!strcmp(ty, "Sequence")) {
        const json_t *list = json_object_get(o, "pretokenizers");
        if ((st = want(t, list, JSON_ARRAY, "pre_tokenizer.pretokenizers"))) return st;
        size_t i;
        const json_t *e;
        json_array_foreach(list, i, e) if ((st = parse_pre(t, e, depth + 1))) return st;
        return LQMF_OK;
    }
    if (!strcmp(ty, "ByteLevel")) {
        bool prefix, regex;
        st = get_bool(t, o, "add_prefix_space", true, &prefix, "ByteLevel");
        if (!st) st = get_bool(t, o, "use_regex", true, &regex, "ByteLevel");
        if (!st && prefix) st = tok_pre_add(t, &(tok_pre){ .kind = PRE_PREFIX });
        if (!st && regex) st = tok_pre_add_split(t, tok_re_gpt2, SPLIT_ISOLATED, false);
        return st;
    }
    if (!strcmp(ty, "Split")) {
        const char *p;
        size_t pn;
        bool regex, invert;
        tok_split_behavior b;
        if ((st = get_pattern(t, o, "pre_tokenizer Split", &p, &pn, &regex))) return st;
        if ((st = parse_behavior(t, o, &b, SPLIT_ISOLATED))) return st;
        if ((st = get_bool(t, o, "invert", false, &invert, "Split"))) return st;
        tok_pre q = { .kind = PRE_SPLIT, .behavior = b, .invert = invert };
        if (!(q.pattern = malloc(pn + 1))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        memcpy(q.pattern, p, pn);
        q.pattern[pn] = 0;
        if (regex) {
            st = tok_regex_compile(p, pn, &q.re);
        } else { /* a literal: compiled with PCRE2_LITERAL */
            int err;
            PCRE2_SIZE off;
            q.re = pcre2_compile((PCRE2_SPTR)p, pn, PCRE2_UTF | PCRE2_LITERAL, &err, &off, NULL);
            if (!q.re) st = lqmf_error(LQMF_E_FORMAT, "%s: Split pattern is not valid UTF-8", t->name);
        }
        if (!st) st = tok_pre_add(t, &q);
        if (st) tok_pre_clear(&q);
        return st;
    }
    if (!strcmp(ty, "Metaspace")) {
        tok_pre q = { .kind = PRE_METASPACE };
        st = parse_metaspace(t, o, &q);
        return st ? st : tok_pre_add(t, &q);
    }
    if (!strcmp(ty, "Digits")) {
        bool individual;
        st = get_bool(t, o, "individual_digits", false, &individual, "Digits");
        return st ? st : tok_pre_add_split(t, individual ? "\\p{N}" : "\\p{N}+", SPLIT_ISOLATED, false);
    }
    if (!strcmp(ty, "Whitespace")) return tok_pre_add_split(t, "\\w+|[^\\w\\s]+", SPLIT_REMOVED, true);
    if (!strcmp(ty, "WhitespaceSplit")) return tok_pre_add_split(t, "\\s+", SPLIT_REMOVED, false);
    if (!strcmp(ty, "Punctuation")) {
        tok_split_behavior b;
        st = parse_behavior(t, o, &b, SPLIT_ISOLATED);
        return st ? st : tok_pre_add_split(t, "[\\p{P}!-/:-@\\[-`{-~]", b, false);
    }
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: pre-tokenizer type '%s' is not supported", t->name, ty);
}

/* True when the pre-tokenizer or decoder (recursively) is ByteLevel. */
static bool has_byte_level(const json_t *o, const char *list_key, int depth) {
    if (!json_is_object(o) || depth > 8) return false;
    if (!strcmp(type_of(o), "ByteLevel")) return true;
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(o, list_key), i, e) if (has_byte_level(e, list_key, depth + 1)) return true;
    return false;
}

/* ---- decoders ------------------------------------------------------------- */

static lqmf_status set_replace(lqmf_tokenizer *t, const char *from, size_t fn, const char *to, size_t tn) {
    tok_decoder *d = &t->dec;
    if (d->from_len && (d->from_len != fn || memcmp(d->from, from, fn) || d->to_len != tn || memcmp(d->to, to, tn)))
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder with two different Replace steps", t->name);
    if (fn == 0 || fn >= sizeof d->from || tn >= sizeof d->to)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder Replace of '%.*s' by '%.*s' (one character "
                          "each is supported)", t->name, (int)fn, from, (int)tn, to);
    memcpy(d->from, from, fn);
    memcpy(d->to, to, tn);
    d->from_len = (uint8_t)fn;
    d->to_len = (uint8_t)tn;
    return LQMF_OK;
}

static lqmf_status parse_decoder(lqmf_tokenizer *t, const json_t *o, int depth) {
    if (!o || json_is_null(o)) return LQMF_OK;
    lqmf_status st = want(t, o, JSON_OBJECT, "decoder");
    if (st) return st;
    if (depth > 8) return lqmf_error(LQMF_E_FORMAT, "%s: decoders nested too deep", t->name);
    const char *ty = type_of(o);
    if (!strcmp(ty, "Sequence")) {
        const json_t *list = json_object_get(o, "decoders");
        if ((st = want(t, list, JSON_ARRAY, "decoder.decoders"))) return st;
        size_t i;
        const json_t *e;
        json_array_foreach(list, i, e) if ((st = parse_decoder(t, e, depth + 1))) return st;
        return LQMF_OK;
    }
    if (!strcmp(ty, "ByteLevel") || !strcmp(ty, "Fuse")) return LQMF_OK;
    if (!strcmp(ty, "ByteFallback")) {
        t->dec.byte_fallback = true;
        return LQMF_OK;
    }
    if (!strcmp(ty, "Replace")) {
        const char *p;
        size_t pn;
        bool regex;
        if ((st = get_pattern(t, o, "decoder Replace", &p, &pn, &regex))) return st;
        const json_t *c = json_object_get(o, "content");
        if (regex || !json_is_string(c))
            return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder Replace needs a String pattern and content", t->name);
        return set_replace(t, p, pn, json_string_value(c), json_string_length(c));
    }
    if (!strcmp(ty, "Strip")) {
        const char *c = json_string_value(json_object_get(o, "content"));
        json_int_t start = json_integer_value(json_object_get(o, "start"));
        json_int_t stop = json_integer_value(json_object_get(o, "stop"));
        if (!c || strcmp(c, " ") || stop != 0 || start < 0 || start > 8)
            return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder Strip other than leading spaces", t->name);
        t->dec.strip_start = (uint8_t)start;
        return LQMF_OK;
    }
    if (!strcmp(ty, "Metaspace")) {
        tok_pre q = { 0 };
        if ((st = parse_metaspace(t, o, &q))) return st;
        if (q.scheme != PREPEND_NEVER) t->dec.strip_start = 1;
        return set_replace(t, q.rep, q.rep_len, " ", 1);
    }
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: decoder type '%s' is not supported", t->name, ty);
}

/* ---- post-processors -------------------------------------------------------- */

static lqmf_status add_special(lqmf_tokenizer *t, bool before, int32_t id) {
    if (id < 0 || (uint32_t)id >= t->n)
        return lqmf_error(LQMF_E_FORMAT, "%s: post_processor names token id %d outside the vocabulary",
                          t->name, id);
    uint8_t *n = before ? &t->n_prefix : &t->n_suffix;
    if (*n >= 4) return lqmf_error(LQMF_E_UNSUPPORTED, "%s: more than 4 special tokens around the text", t->name);
    (before ? t->prefix : t->suffix)[(*n)++] = id;
    return LQMF_OK;
}

static lqmf_status parse_template(lqmf_tokenizer *t, const json_t *o) {
    const json_t *single = json_object_get(o, "single"), *specials = json_object_get(o, "special_tokens");
    lqmf_status st = want(t, single, JSON_ARRAY, "post_processor.single");
    if (st) return st;
    bool before = true;
    size_t i;
    const json_t *e;
    json_array_foreach(single, i, e) {
        if (json_object_get(e, "Sequence")) {
            before = false;
            continue;
        }
        const char *name = json_string_value(json_object_get(json_object_get(e, "SpecialToken"), "id"));
        if (!name)
            return lqmf_error(LQMF_E_FORMAT, "%s: post_processor.single[%zu] is neither Sequence nor "
                              "SpecialToken", t->name, i);
        const json_t *ids = json_object_get(json_object_get(specials, name), "ids");
        if (!json_is_array(ids))
            return lqmf_error(LQMF_E_FORMAT, "%s: post_processor special token '%s' has no ids", t->name, name);
        size_t k;
        const json_t *id;
        json_array_foreach(ids, k, id) {
            if (!json_is_integer(id))
                return lqmf_error(LQMF_E_FORMAT, "%s: post_processor ids of '%s' must be integers", t->name, name);
            if ((st = add_special(t, before, (int32_t)json_integer_value(id)))) return st;
        }
    }
    return LQMF_OK;
}

static lqmf_status parse_post(lqmf_tokenizer *t, const json_t *o, int depth) {
    if (!o || json_is_null(o)) return LQMF_OK;
    lqmf_status st = want(t, o, JSON_OBJECT, "post_processor");
    if (st) return st;
    if (depth > 8) return lqmf_error(LQMF_E_FORMAT, "%s: post-processors nested too deep", t->name);
    const char *ty = type_of(o);
    if (!strcmp(ty, "Sequence")) {
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(o, "processors"), i, e) if ((st = parse_post(t, e, depth + 1))) return st;
        return LQMF_OK;
    }
    if (!strcmp(ty, "ByteLevel")) return LQMF_OK;
    if (!strcmp(ty, "TemplateProcessing")) return parse_template(t, o);
    if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) {
        const json_t *cls = json_array_get(json_object_get(o, "cls"), 1);
        const json_t *sep = json_array_get(json_object_get(o, "sep"), 1);
        if (!json_is_integer(cls) || !json_is_integer(sep))
            return lqmf_error(LQMF_E_FORMAT, "%s: %s needs cls and sep as [token, id]", t->name, ty);
        st = add_special(t, true, (int32_t)json_integer_value(cls));
        return st ? st : add_special(t, false, (int32_t)json_integer_value(sep));
    }
    return lqmf_error(LQMF_E_UNSUPPORTED, "%s: post_processor type '%s' is not supported", t->name, ty);
}

/* ---- the BPE model --------------------------------------------------------- */

static lqmf_status parse_id(const lqmf_tokenizer *t, const json_t *v, const char *what, const char *key,
                            uint32_t *id) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= TOK_MAX_VOCAB)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s '%s' has id %s (expected an integer 0..%u)", t->name,
                          what, key, json_is_integer(v) ? "out of range" : "of the wrong type",
                          TOK_MAX_VOCAB - 1);
    *id = (uint32_t)json_integer_value(v);
    return LQMF_OK;
}

static lqmf_status load_vocab(lqmf_tokenizer *t, const json_t *vocab, const json_t *added) {
    lqmf_status st = want(t, vocab, JSON_OBJECT, "model.vocab");
    if (st) return st;
    if (added && !json_is_null(added) && (st = want(t, added, JSON_ARRAY, "added_tokens"))) return st;
    uint32_t n = 0, id;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if ((st = parse_id(t, v, "model.vocab token", key, &id))) return st;
        if (id + 1 > n) n = id + 1;
    }
    size_t i;
    json_array_foreach(added, i, v) {
        const char *content = json_string_value(json_object_get(v, "content"));
        if ((st = parse_id(t, json_object_get(v, "id"), "added_tokens", content ? content : "?", &id)))
            return st;
        if (id + 1 > n) n = id + 1;
    }
    if ((st = tok_vocab_alloc(t, n))) return st;
    json_object_foreach((json_t *)vocab, key, v) {
        id = (uint32_t)json_integer_value(v);
        if (t->type[id])
            return lqmf_error(LQMF_E_FORMAT, "%s: model.vocab gives id %u to two tokens (one is '%s')",
                              t->name, id, key);
        size_t kn = strlen(key); /* jansson object keys stop at NUL */
        lqmf_tok_type ty = t->byte_fallback && tok_parse_byte_token(key, kn) >= 0 ? LQMF_TOK_BYTE : LQMF_TOK_NORMAL;
        if ((st = tok_vocab_set(t, id, key, kn, 0.0f, ty))) return st;
    }
    json_array_foreach(added, i, v) {
        const json_t *c = json_object_get(v, "content");
        if (!json_is_string(c) || json_string_length(c) == 0)
            return lqmf_error(LQMF_E_FORMAT, "%s: added_tokens[%zu].content must be a non-empty string", t->name, i);
        bool special, lstrip, rstrip, single;
        const char *w = "added_tokens";
        if ((st = get_bool(t, v, "special", false, &special, w)) || (st = get_bool(t, v, "lstrip", false, &lstrip, w)) ||
            (st = get_bool(t, v, "rstrip", false, &rstrip, w)) || (st = get_bool(t, v, "single_word", false, &single, w)))
            return st;
        id = (uint32_t)json_integer_value(json_object_get(v, "id"));
        lqmf_tok_type ty = special ? LQMF_TOK_CONTROL : LQMF_TOK_USER_DEFINED;
        if ((st = tok_vocab_set(t, id, json_string_value(c), json_string_length(c), 0.0f, ty))) return st;
        if ((st = tok_add_added(t, (int32_t)id, special, lstrip, rstrip, single))) return st;
    }
    return LQMF_OK;
}

/* Piece bytes of a merge side given as vocabulary text. */
static int32_t merge_side(const lqmf_tokenizer *t, const char *s, size_t n, lqmf_buf *tmp) {
    if (t->byte_level) {
        tmp->len = 0;
        if (tok_bytelevel_decode(s, n, tmp)) {
            int32_t id = tok_index_get(t, &t->index, (const char *)tmp->data, tmp->len);
            if (id >= 0) return id;
        }
    }
    int32_t id = tok_index_get(t, &t->index, s, n);
    return id >= 0 ? id : tok_find_text(t, s, n);
}

static lqmf_status load_merges(lqmf_tokenizer *t, const json_t *merges) {
    lqmf_status st = !merges || json_is_null(merges) ? LQMF_OK : want(t, merges, JSON_ARRAY, "model.merges");
    if (st) return st;
    size_t n = json_array_size(merges); /* 0 when absent */
    if ((st = tok_merges_alloc(t, (uint32_t)(n > TOK_MAX_MERGES ? TOK_MAX_MERGES + 1 : n)))) return st;
    lqmf_buf tmp, joined;
    lqmf_buf_init(&tmp);
    lqmf_buf_init(&joined);
    size_t i;
    const json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t an, bn;
        if (json_is_string(m)) { /* "left right" */
            a = json_string_value(m);
            const char *sp = memchr(a, ' ', json_string_length(m));
            if (!sp || memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - a))) {
                st = lqmf_error(LQMF_E_FORMAT, "%s: model.merges[%zu] '%s' is not two tokens separated by "
                                "one space", t->name, i, a);
                break;
            }
            an = (size_t)(sp - a);
            b = sp + 1;
            bn = json_string_length(m) - an - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) { /* ["left", "right"] */
            a = json_string_value(json_array_get(m, 0));
            an = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            bn = json_string_length(json_array_get(m, 1));
        } else {
            st = lqmf_error(LQMF_E_FORMAT, "%s: model.merges[%zu] must be a string or a pair of strings",
                            t->name, i);
            break;
        }
        int32_t l = merge_side(t, a, an, &tmp), r = merge_side(t, b, bn, &tmp);
        if (l < 0 || r < 0) {
            st = lqmf_error(LQMF_E_FORMAT, "%s: model.merges[%zu] '%.*s %.*s': token '%.*s' is not in the "
                            "vocabulary", t->name, i, (int)an, a, (int)bn, b,
                            (int)(l < 0 ? an : bn), l < 0 ? a : b);
            break;
        }
        size_t ln, rn;
        const char *lp = tok_piece(t, l, &ln), *rp = tok_piece(t, r, &rn);
        joined.len = 0;
        lqmf_buf_append(&joined, lp, ln);
        lqmf_buf_append(&joined, rp, rn);
        int32_t mid = joined.failed ? -1 : tok_index_get(t, &t->index, (const char *)joined.data, joined.len);
        if (mid < 0) {
            st = lqmf_error(LQMF_E_FORMAT, "%s: model.merges[%zu] '%.*s %.*s': the merged token is not in "
                            "the vocabulary", t->name, i, (int)an, a, (int)bn, b);
            break;
        }
        if ((st = tok_merges_add(t, l, r, mid))) break;
    }
    lqmf_buf_free(&tmp);
    lqmf_buf_free(&joined);
    return st;
}

static lqmf_status load_model(lqmf_tokenizer *t, const json_t *root) {
    const json_t *model = json_object_get(root, "model");
    lqmf_status st = want(t, model, JSON_OBJECT, "model");
    if (st) return st;
    const char *ty = json_string_value(json_object_get(model, "type"));
    if (!ty && json_object_get(model, "merges")) ty = "BPE";
    if (!ty || strcmp(ty, "BPE"))
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s: model type '%s' is not supported (BPE only)", t->name,
                          ty ? ty : "(none)");
    t->algo = LQMF_TOK_ALGO_BPE;
    t->byte_level = has_byte_level(json_object_get(root, "pre_tokenizer"), "pretokenizers", 0) ||
                    has_byte_level(json_object_get(root, "decoder"), "decoders", 0);
    if ((st = get_bool(t, model, "byte_fallback", false, &t->byte_fallback, "model")) ||
        (st = get_bool(t, model, "ignore_merges", false, &t->ignore_merges, "model")) ||
        (st = get_bool(t, model, "fuse_unk", false, &t->fuse_unk, "model")))
        return st;
    static const char *affixes[] = { "continuing_subword_prefix", "end_of_word_suffix" };
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(model, affixes[k]);
        if (v && !json_is_null(v) && (!json_is_string(v) || json_string_length(v)))
            return lqmf_error(LQMF_E_UNSUPPORTED, "%s: model.%s is not supported", t->name, affixes[k]);
    }
    if ((st = load_vocab(t, json_object_get(model, "vocab"), json_object_get(root, "added_tokens")))) return st;
    const json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk)) return lqmf_error(LQMF_E_FORMAT, "%s: model.unk_token must be a string", t->name);
        t->unk = tok_find_text(t, json_string_value(unk), json_string_length(unk));
        if (t->unk < 0)
            return lqmf_error(LQMF_E_FORMAT, "%s: model.unk_token '%s' is not in the vocabulary", t->name,
                              json_string_value(unk));
        t->type[t->unk] = LQMF_TOK_UNKNOWN;
    }
    if ((st = tok_vocab_finish(t))) return st;
    return load_merges(t, json_object_get(model, "merges"));
}

/* ---- tokenizer_config.json ------------------------------------------------- */

static lqmf_status apply_config(lqmf_tokenizer *t, const char *text, size_t len);

/* A special token entry: "text" or {"content": "text"}; -1 when absent. */
static lqmf_status config_token(lqmf_tokenizer *t, const json_t *cfg, const char *key, int32_t *id) {
    const json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!v || json_is_null(v)) return LQMF_OK;
    if (!json_is_string(v)) return lqmf_error(LQMF_E_FORMAT, "%s: %s must be a string", t->name, key);
    int32_t found = tok_find_text(t, json_string_value(v), json_string_length(v));
    if (found < 0)
        return lqmf_error(LQMF_E_FORMAT, "%s: %s '%s' is not in the vocabulary", t->name, key, json_string_value(v));
    *id = found;
    return LQMF_OK;
}

static lqmf_status config_template(lqmf_tokenizer *t, const json_t *v) {
    if (!v || json_is_null(v)) return LQMF_OK;
    if (json_is_array(v)) { /* [{"name": ..., "template": ...}]: take "default" */
        const json_t *pick = NULL, *e;
        size_t i;
        json_array_foreach(v, i, e) {
            const char *name = json_string_value(json_object_get(e, "name"));
            if (!pick || (name && !strcmp(name, "default"))) pick = e;
        }
        v = json_object_get(pick, "template");
    }
    free(t->chat_template);
    t->chat_template = NULL;
    return dup_str(t, v, "chat_template", &t->chat_template, NULL);
}

lqmf_status tok_apply_config(lqmf_tokenizer *t, const char *text, size_t len, const char *name) {
    char *saved = t->name; /* messages name the config file */
    t->name = (char *)name;
    lqmf_status st = apply_config(t, text, len);
    t->name = saved;
    return st;
}

static lqmf_status apply_config(lqmf_tokenizer *t, const char *text, size_t len) {
    json_error_t e;
    json_t *cfg = json_loadb(text, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
    if (!cfg) return lqmf_error(LQMF_E_FORMAT, "%s: line %d column %d: %s", t->name, e.line, e.column, e.text);
    lqmf_status st = want(t, cfg, JSON_OBJECT, "tokenizer_config.json");
    if (!st) st = config_token(t, cfg, "bos_token", &t->bos);
    if (!st) st = config_token(t, cfg, "eos_token", &t->eos);
    if (!st) st = config_token(t, cfg, "unk_token", &t->unk);
    if (!st) st = config_token(t, cfg, "pad_token", &t->pad);
    if (!st) st = config_template(t, json_object_get(cfg, "chat_template"));
    bool add_bos = lqmf_tok_adds_bos(t), add_eos = lqmf_tok_adds_eos(t);
    const json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
    if (!st && (json_is_boolean(ab) || json_is_boolean(ae))) {
        if (json_is_boolean(ab)) add_bos = json_is_true(ab);
        if (json_is_boolean(ae)) add_eos = json_is_true(ae);
        tok_set_add_special(t, add_bos, add_eos);
    }
    json_decref(cfg);
    return st;
}

/* ---- entry point -------------------------------------------------------------- */

static lqmf_status load_json(lqmf_tokenizer *t, const json_t *root) {
    if (!json_is_object(root)) return lqmf_error(LQMF_E_FORMAT, "%s: the top level is not an object", t->name);
    lqmf_status st = load_model(t, root);
    if (!st) st = parse_normalizer(t, json_object_get(root, "normalizer"), 0);
    if (!st) st = parse_pre(t, json_object_get(root, "pre_tokenizer"), 0);
    if (!st) st = parse_decoder(t, json_object_get(root, "decoder"), 0);
    if (!st) st = parse_post(t, json_object_get(root, "post_processor"), 0);
    if (st) return st;
    if (t->n_prefix == 1) t->bos = t->prefix[0];
    if (t->n_suffix == 1) t->eos = t->suffix[0];
    return LQMF_OK;
}

lqmf_status lqmf_tok_load_hf_json(const char *json, size_t len, const char *config_json,
                                  size_t config_len, const char *name, lqmf_tokenizer **out) {
    *out = NULL;
    lqmf_tokenizer *t;
    lqmf_status st = tok_new(name, &t);
    if (st) return st;
    json_error_t e;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!root) st = lqmf_error(LQMF_E_FORMAT, "%s: line %d column %d: %s", t->name, e.line, e.column, e.text);
    if (!st) st = load_json(t, root);
    json_decref(root);
    if (!st && config_json) st = tok_apply_config(t, config_json, config_len, "tokenizer_config.json");
    if (st) {
        lqmf_tok_free(t);
        return st;
    }
    *out = t;
    return LQMF_OK;
}
