/* A small, fast JSON reader for tokenizer files.
 *
 * tokenizer.json files reach tens of MB (Llama-3: 9 MB, 128k vocabulary
 * entries, 280k merges); a general DOM with one allocation per value spends
 * most of a load in malloc. This reader parses into one flat array of nodes
 * (a tape): a container's children follow it, and each node records where
 * its subtree ends, so walking siblings is a jump. Strings are unescaped in
 * place in a private copy of the text and NUL-terminated there.
 *
 * The grammar is RFC 8259; strings must be valid UTF-8 (escaped surrogate
 * pairs are joined, lone surrogates rejected); nesting is capped. */
#ifndef LQMF_TOK_JSON_H
#define LQMF_TOK_JSON_H

#include "lqmf/core.h"

typedef enum { TJ_NONE = 0, TJ_NULL, TJ_FALSE, TJ_TRUE, TJ_NUM, TJ_STR, TJ_ARR, TJ_OBJ } tj_type;

typedef struct {
    uint8_t type; /* tj_type */
    uint32_t off; /* TJ_STR: unescaped bytes in buf; TJ_NUM: its text in buf */
    uint32_t len; /* bytes (TJ_STR, TJ_NUM); children (TJ_ARR) or pairs (TJ_OBJ) */
    uint32_t end; /* index of the first node after this subtree */
} tj_node;

typedef struct {
    char *buf;      /* private copy of the text (strings unescaped in place) */
    tj_node *nodes; /* nodes[0] is the root */
    uint32_t n;
} tj_doc;

typedef uint32_t tj_ref; /* node index; TJ_MISSING when absent */
#define TJ_MISSING UINT32_MAX

/* Parse len bytes. Errors name `name`, the line and column. */
lqmf_status tj_parse(const char *text, size_t len, const char *name, tj_doc *doc);
void tj_free(tj_doc *doc);

static inline tj_type tj_kind(const tj_doc *d, tj_ref r) {
    return r == TJ_MISSING ? TJ_NONE : (tj_type)d->nodes[r].type;
}
/* Value of key in object obj (the last one if repeated), TJ_MISSING if none
 * or obj is not an object. */
tj_ref tj_get(const tj_doc *d, tj_ref obj, const char *key);
/* String bytes (NUL-terminated) and length; NULL when r is not a string. */
const char *tj_str(const tj_doc *d, tj_ref r, size_t *len);
/* Integer value of a number without fraction or exponent. */
bool tj_int(const tj_doc *d, tj_ref r, int64_t *v);
/* Children of an array / pairs of an object; 0 for anything else. */
static inline uint32_t tj_size(const tj_doc *d, tj_ref r) {
    tj_type k = tj_kind(d, r);
    return k == TJ_ARR || k == TJ_OBJ ? d->nodes[r].len : 0;
}
/* Walking: first child (array element or object key), and the sibling after
 * a child's subtree. For objects a key's value is key + 1. */
static inline tj_ref tj_first(const tj_doc *d, tj_ref r) { return tj_size(d, r) ? r + 1 : TJ_MISSING; }
static inline tj_ref tj_after(const tj_doc *d, tj_ref r) { return d->nodes[r].end; }
/* Iterate array elements / object keys of r. */
#define TJ_EACH(d, r, it)                                                                                    \
    for (tj_ref it = tj_first(d, r), it##_end_ = tj_size(d, r) ? (d)->nodes[r].end : 0;                      \
         it != TJ_MISSING && it < it##_end_;                                                                 \
         it = tj_kind(d, r) == TJ_OBJ ? tj_after(d, it + 1) : tj_after(d, it))

#endif
