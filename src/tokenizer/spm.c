/* SentencePiece tokenizer.model (a ModelProto in protobuf wire format) and
 * the SentencePiece-style pipeline shared with llama2.c and GGUF "llama"
 * vocabularies.
 *
 * Fields read (sentencepiece_model.proto):
 *   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
 *   TrainerSpec     3 model_type (1 UNIGRAM, 2 BPE), 24 treat_whitespace_as_suffix,
 *                   35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
 *   NormalizerSpec  1 name, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
 *                   5 escape_whitespaces (defaults true) */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- protobuf wire reader ---------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} pb;

static bool pb_varint(pb *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Next field: number, wire type, and for LEN fields the payload view. */
typedef struct {
    uint32_t num, wire;
    uint64_t u; /* VARINT, I64, I32 value */
    pb sub;     /* LEN payload */
} pb_field;

static bool pb_next(pb *r, pb_field *f) {
    uint64_t key;
    if (!pb_varint(r, &key) || key >> 32) return false;
    f->num = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    switch (f->wire) {
    case 0: return pb_varint(r, &f->u);
    case 1:
        if (r->end - r->p < 8) return false;
        memcpy(&f->u, r->p, 8);
        r->p += 8;
        return true;
    case 5: {
        if (r->end - r->p < 4) return false;
        uint32_t w;
        memcpy(&w, r->p, 4);
        f->u = w;
        r->p += 4;
        return true;
    }
    case 2: {
        uint64_t n;
        if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return false;
        f->sub = (pb){r->p, r->p + n};
        r->p += n;
        return true;
    }
    default: return false; /* groups are not used by this format */
    }
}

static float pb_float(uint64_t u) {
    uint32_t w = (uint32_t)u;
    float f;
    memcpy(&f, &w, 4);
    return f;
}

/* ---- the model ------------------------------------------------------------------ */

typedef struct {
    uint64_t model_type;
    bool byte_fallback, suffix_ws;
    int64_t unk, bos, eos, pad;
    bool dummy_prefix, remove_ws, escape_ws;
    const uint8_t *norm_name;
    size_t norm_name_len;
} spm_spec;

static lqmf_status bad(const lqmf_tokenizer *t, const char *what) {
    return lqmf_error(LQMF_E_FORMAT, "%s: not a SentencePiece model: %s", t->name, what);
}

static lqmf_status read_specs(const lqmf_tokenizer *t, pb r, spm_spec *s, uint32_t *n_pieces) {
    *s = (spm_spec){.model_type = 1,
                    .unk = 0,
                    .bos = 1,
                    .eos = 2,
                    .pad = -1,
                    .dummy_prefix = true,
                    .remove_ws = true,
                    .escape_ws = true};
    *n_pieces = 0;
    pb_field f;
    while (r.p < r.end) {
        if (!pb_next(&r, &f)) return bad(t, "truncated or malformed field");
        if (f.num == 1 && f.wire == 2) {
            if (++*n_pieces > TOK_MAX_VOCAB) return bad(t, "too many pieces");
        } else if (f.num == 2 && f.wire == 2) {
            pb_field g;
            while (f.sub.p < f.sub.end) {
                if (!pb_next(&f.sub, &g)) return bad(t, "malformed trainer_spec");
                if (g.wire != 0) continue;
                switch (g.num) {
                case 3: s->model_type = g.u; break;
                case 24: s->suffix_ws = g.u != 0; break;
                case 35: s->byte_fallback = g.u != 0; break;
                case 40: s->unk = (int32_t)g.u; break;
                case 41: s->bos = (int32_t)g.u; break;
                case 42: s->eos = (int32_t)g.u; break;
                case 43: s->pad = (int32_t)g.u; break;
                }
            }
        } else if (f.num == 3 && f.wire == 2) {
            pb_field g;
            while (f.sub.p < f.sub.end) {
                if (!pb_next(&f.sub, &g)) return bad(t, "malformed normalizer_spec");
                if (g.num == 1 && g.wire == 2)
                    s->norm_name = g.sub.p, s->norm_name_len = (size_t)(g.sub.end - g.sub.p);
                if (g.wire != 0) continue;
                if (g.num == 3) s->dummy_prefix = g.u != 0;
                if (g.num == 4) s->remove_ws = g.u != 0;
                if (g.num == 5) s->escape_ws = g.u != 0;
            }
        }
    }
    return LQMF_OK;
}

static lqmf_status read_pieces(lqmf_tokenizer *t, pb r) {
    pb_field f;
    uint32_t id = 0;
    while (r.p < r.end) {
        pb_next(&r, &f); /* already validated by read_specs */
        if (f.num != 1 || f.wire != 2) continue;
        const uint8_t *text = NULL;
        size_t len = 0;
        float score = 0.0f;
        uint64_t type = LQMF_TOK_NORMAL;
        pb_field g;
        while (f.sub.p < f.sub.end) {
            if (!pb_next(&f.sub, &g)) return bad(t, "malformed piece");
            if (g.num == 1 && g.wire == 2) text = g.sub.p, len = (size_t)(g.sub.end - g.sub.p);
            if (g.num == 2 && g.wire == 5) score = pb_float(g.u);
            if (g.num == 3 && g.wire == 0) type = g.u;
        }
        if (!text || tok_utf8_check((const char *)text, len) != len)
            return lqmf_error(LQMF_E_FORMAT, "%s: piece %u has no text or is not UTF-8", t->name, id);
        if (type < LQMF_TOK_NORMAL || type > LQMF_TOK_BYTE)
            return lqmf_error(LQMF_E_FORMAT, "%s: piece %u has type %llu (expected 1..6)", t->name, id,
                              (unsigned long long)type);
        lqmf_status st = tok_vocab_set(t, id, (const char *)text, len, score, (lqmf_tok_type)type);
        if (st) return st;
        id++;
    }
    return LQMF_OK;
}

lqmf_status tok_setup_spm_pipeline(lqmf_tokenizer *t, bool add_prefix, bool remove_extra_ws) {
    static const char meta[] = "\xe2\x96\x81"; /* U+2581 */
    lqmf_status st = LQMF_OK;
    if (remove_extra_ws) st = tok_norm_add(t, &(tok_norm){.kind = NORM_SPM_WS});
    tok_norm pre = {.kind = NORM_PREPEND}, rep = {.kind = NORM_REPLACE};
    if (!st && add_prefix) {
        if (!(pre.a = strdup(meta))) return lqmf_error(LQMF_E_NOMEM, "out of memory");
        pre.alen = 3;
        if ((st = tok_norm_add(t, &pre))) tok_norm_clear(&pre);
    }
    if (!st) {
        rep.a = strdup(" ");
        rep.b = strdup(meta);
        rep.alen = 1;
        rep.blen = 3;
        st = rep.a && rep.b ? tok_norm_add(t, &rep) : lqmf_error(LQMF_E_NOMEM, "out of memory");
        if (st) tok_norm_clear(&rep);
    }
    memcpy(t->dec.from, meta, 3);
    t->dec.from_len = 3;
    t->dec.to[0] = ' ';
    t->dec.to_len = 1;
    t->dec.byte_fallback = true;
    t->dec.strip_start = add_prefix ? 1 : 0;
    return st;
}

/* Control, unknown and user-defined pieces are matched whole in text. */
lqmf_status tok_register_added_by_type(lqmf_tokenizer *t) {
    for (uint32_t id = 0; id < t->n; id++) {
        uint8_t ty = t->type[id];
        if ((ty != LQMF_TOK_CONTROL && ty != LQMF_TOK_USER_DEFINED && ty != LQMF_TOK_UNKNOWN) || !t->blen[id])
            continue;
        lqmf_status st = tok_add_added(t, (int32_t)id, ty != LQMF_TOK_USER_DEFINED, false, false, false);
        if (st) return st;
    }
    return LQMF_OK;
}

static int32_t spec_id(const lqmf_tokenizer *t, int64_t v) {
    return v >= 0 && v < (int64_t)t->n ? (int32_t)v : -1;
}

static lqmf_status load(lqmf_tokenizer *t, const uint8_t *data, size_t len) {
    spm_spec s;
    uint32_t n;
    pb r = {data, data + len};
    lqmf_status st = read_specs(t, r, &s, &n);
    if (st) return st;
    if (n == 0) return bad(t, "no pieces");
    if (s.model_type != 2)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: SentencePiece model type %llu is not supported (BPE = 2 only)", t->name,
                          (unsigned long long)s.model_type);
    if (s.suffix_ws || !s.escape_ws)
        return lqmf_error(LQMF_E_UNSUPPORTED,
                          "%s: SentencePiece whitespace options (suffix or unescaped) "
                          "are not supported",
                          t->name);
    t->algo = LQMF_TOK_ALGO_SPM;
    t->byte_fallback = s.byte_fallback;
    if ((st = tok_vocab_alloc(t, n)) || (st = read_pieces(t, r))) return st;
    if ((st = tok_register_added_by_type(t)) || (st = tok_vocab_finish(t))) return st;
    t->unk = spec_id(t, s.unk);
    t->bos = spec_id(t, s.bos);
    t->eos = spec_id(t, s.eos);
    t->pad = spec_id(t, s.pad);
    bool identity = !s.norm_name || (s.norm_name_len == 8 && !memcmp(s.norm_name, "identity", 8));
    if (!identity && (st = tok_norm_add(t, &(tok_norm){.kind = NORM_NFKC}))) return st;
    if ((st = tok_setup_spm_pipeline(t, s.dummy_prefix, s.remove_ws))) return st;
    tok_set_add_special(t, true, false);
    return LQMF_OK;
}

lqmf_status lqmf_tok_load_spm(const uint8_t *data, size_t len, const char *name, lqmf_tokenizer **out) {
    *out = NULL;
    lqmf_tokenizer *t;
    lqmf_status st = tok_new(name, &t);
    if (st) return st;
    if ((st = load(t, data, len))) {
        lqmf_tok_free(t);
        return st;
    }
    *out = t;
    return LQMF_OK;
}
