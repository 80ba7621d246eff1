/* Internals shared by the tokenizer sources (src/tokenizer). */
#ifndef LQMF_TOK_INTERNAL_H
#define LQMF_TOK_INTERNAL_H

#include "lqmf/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Caps on what a tokenizer file may declare. */
#define TOK_MAX_FILE_BYTES (1ull << 31) /* tokenizer.json, .model, .bin */
#define TOK_MAX_VOCAB (1u << 24)        /* tokens */
#define TOK_MAX_MERGES (1u << 24)
#define TOK_MAX_TOKEN_BYTES (1u << 16) /* one token's text */
#define TOK_MAX_PIPELINE 64            /* normalizer / pre-tokenizer steps */

/* ---- token -> id index ------------------------------------------------
 * Open addressing over token ids keyed by their piece bytes (or their
 * vocabulary text when by_text); the strings live in the tokenizer's pool.
 * A slot holds the key's hash in its high 32 bits and id + 1 in the low 32
 * bits; 0 is empty. */
typedef struct {
    uint64_t *slots;
    uint32_t mask; /* capacity - 1, capacity a power of two */
    bool by_text;
} tok_index;

/* ---- merges: (left id, right id) -> (rank, merged id) ------------------ */
typedef struct {
    uint64_t key; /* left << 32 | right; UINT64_MAX marks an empty slot */
    uint32_t rank;
    int32_t id;
} tok_pair;

/* ---- normalizers (a flattened Sequence) -------------------------------- */
typedef enum {
    NORM_PREPEND, /* text = a + text when text is not empty */
    NORM_REPLACE, /* every match of a (literal) or re -> b */
    NORM_NFC,
    NORM_NFD,
    NORM_NFKC,
    NORM_NFKD,
    NORM_LOWERCASE,
    NORM_STRIP, /* whitespace off the left and/or right end */
    NORM_SPM_WS /* SentencePiece remove_extra_whitespaces: trim, collapse runs of ' ' */
} tok_norm_kind;

typedef struct {
    tok_norm_kind kind;
    char *a, *b; /* owned; PREPEND a, REPLACE a -> b */
    size_t alen, blen;
    pcre2_code *re; /* REPLACE with a Regex pattern */
    bool left, right;
} tok_norm;

/* ---- pre-tokenizers (a flattened Sequence) ------------------------------ */
typedef enum {
    SPLIT_REMOVED,
    SPLIT_ISOLATED,
    SPLIT_MERGED_PREV,
    SPLIT_MERGED_NEXT,
    SPLIT_CONTIGUOUS
} tok_split_behavior;

typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } tok_prepend;

typedef enum {
    PRE_SPLIT,    /* regex split (also Digits, Whitespace, Punctuation, ByteLevel's regex) */
    PRE_PREFIX,   /* ByteLevel add_prefix_space: ' ' before a word not starting with one */
    PRE_METASPACE /* ' ' -> replacement, prepend per scheme, optional split */
} tok_pre_kind;

typedef struct {
    tok_pre_kind kind;
    pcre2_code *re;
    char *pattern; /* owned regex source (for lqmf_tok_pre_name) */
    tok_split_behavior behavior;
    bool invert;
    char rep[8]; /* METASPACE replacement, UTF-8 */
    uint8_t rep_len;
    tok_prepend scheme;
    bool split;
} tok_pre;

/* ---- decoder: per-token rewrites then output-level stripping ----------- */
typedef struct {
    bool byte_fallback; /* BYTE tokens decode to their byte */
    char from[8];       /* piece text replaced ... (e.g. "▁") */
    char to[8];         /* ... by this (e.g. " "); from_len 0: no rewrite */
    uint8_t from_len, to_len;
    uint8_t strip_start; /* leading ' ' removed from the start of the output */
} tok_decoder;

/* ---- added tokens ------------------------------------------------------ */
typedef struct {
    int32_t id;
    bool special; /* control: matched only with LQMF_TOK_PARSE_SPECIAL */
    bool lstrip, rstrip, single_word;
} tok_added;

struct lqmf_tokenizer {
    char *name; /* source, for messages */
    lqmf_tok_algo algo;
    bool byte_level;    /* pieces are raw bytes; texts use the GPT-2 byte map */
    bool byte_fallback; /* unknown characters become <0xXX> tokens */
    bool ignore_merges; /* a word that is a token is taken whole */
    bool fuse_unk;
    bool meta_chunks; /* no usable token has U+2581 after other text: words
                         split before each U+2581 that follows other text */

    /* vocabulary: n tokens; strings in pool */
    uint32_t n;
    uint32_t *boff, *blen; /* piece bytes */
    uint32_t *toff, *tlen; /* vocabulary text */
    float *score;
    uint8_t *type; /* lqmf_tok_type; 0 while unset during loading */
    lqmf_buf pool;
    tok_index index;       /* piece bytes -> id */
    tok_index text_index;  /* vocabulary text -> id (byte-level vocabularies only) */
    int32_t byte_tok[256]; /* model token whose piece is this single byte, -1 */
    int32_t byte_fb[256];  /* <0xXX> byte-fallback token, -1 */

    /* BPE merges */
    tok_pair *pairs;
    uint32_t pair_mask;
    uint32_t n_merges;
    int32_t *merge_list; /* n_merges (left, right, merged) ids in rank order */

    /* added tokens, matched longest-first before the model runs */
    tok_added *added; /* sorted by id once the vocabulary is finished */
    uint32_t n_added;
    tok_index added_index; /* content -> id (ids of added tokens only) */
    uint32_t *added_lens;  /* distinct content lengths, longest first */
    uint32_t n_added_lens;
    uint64_t added_first[4]; /* bitmap of first bytes */

    /* pipeline */
    tok_norm *norms;
    uint32_t n_norms;
    tok_pre *pres;
    uint32_t n_pres;
    tok_decoder dec;

    /* specials and post-processing */
    int32_t bos, eos, unk, pad;
    int32_t prefix[4], suffix[4]; /* ids added around the text (ADD_SPECIAL) */
    uint8_t n_prefix, n_suffix;
    bool add_stated; /* the source said whether to add BOS/EOS (else defaults apply) */
    char *chat_template;
};

/* ---- construction helpers (vocab.c) ------------------------------------ */
lqmf_status tok_new(const char *name, lqmf_tokenizer **out);
/* Allocate n token slots, all unset. */
lqmf_status tok_vocab_alloc(lqmf_tokenizer *t, uint32_t n);
/* Set token id: text as the file spells it. With t->byte_level, NORMAL
 * tokens get piece bytes through the GPT-2 byte map (texts that are not in
 * the map keep their own bytes); all other tokens use the text itself. */
lqmf_status tok_vocab_set(lqmf_tokenizer *t, uint32_t id, const char *text, size_t tlen, float score,
                          lqmf_tok_type type);
/* Fill unset slots with "[PAD<id>]" UNUSED tokens, build the index, the
 * byte tables and the added-token matcher. */
lqmf_status tok_vocab_finish(lqmf_tokenizer *t);
/* Piece bytes of id. */
static inline const char *tok_piece(const lqmf_tokenizer *t, int32_t id, size_t *len) {
    *len = t->blen[id];
    return (const char *)t->pool.data + t->boff[id];
}
/* Hash of a byte string (the index's hash). */
uint64_t tok_hash_bytes(const char *s, size_t n);
/* Id of exact piece bytes, -1 when absent. */
int32_t tok_index_get(const lqmf_tokenizer *t, const tok_index *ix, const char *s, size_t n);
/* May the model produce this token from text? (not control/unknown/unused/byte) */
static inline bool tok_model_usable(const lqmf_tokenizer *t, int32_t id) {
    uint8_t ty = t->type[id];
    return ty == LQMF_TOK_NORMAL || ty == LQMF_TOK_USER_DEFINED;
}
/* Model lookup: id of piece bytes if the model may use it, else -1. */
static inline int32_t tok_model_get(const lqmf_tokenizer *t, const char *s, size_t n) {
    int32_t id = tok_index_get(t, &t->index, s, n);
    return id >= 0 && tok_model_usable(t, id) ? id : -1;
}
/* Id of a vocabulary text (as the file spells it), -1 when absent. */
int32_t tok_find_text(const lqmf_tokenizer *t, const char *text, size_t n);
/* Register id as an added token (content = its piece bytes). */
lqmf_status tok_add_added(lqmf_tokenizer *t, int32_t id, bool special, bool lstrip, bool rstrip,
                          bool single_word);
/* Merges: reserve, then add in rank order (left, right ids) -> merged id. */
lqmf_status tok_merges_alloc(lqmf_tokenizer *t, uint32_t n);
lqmf_status tok_merges_add(lqmf_tokenizer *t, int32_t left, int32_t right, int32_t merged);
/* The merge of (left, right), NULL when there is none. */
const tok_pair *tok_pair_find(const lqmf_tokenizer *t, int32_t left, int32_t right);
/* Does the pipeline put a leading space marker before the text (legacy
 * Prepend, Metaspace, SentencePiece dummy prefix)? */
bool tok_adds_prefix(const lqmf_tokenizer *t);
/* Add the merge of the tokens with texts a and b (merge number i of the
 * list `where`, for messages); scratch is a work buffer. */
lqmf_status tok_merges_add_text(lqmf_tokenizer *t, const char *a, size_t an, const char *b, size_t bn,
                                const char *where, uint32_t i, lqmf_buf *scratch);
/* Value of a "<0xXX>" text, -1 when it is not one. */
int tok_parse_byte_token(const char *s, size_t n);

/* GPT-2 byte map: byte -> code point, and text -> bytes (false when a
 * character is outside the map). */
uint32_t tok_byte_to_cp(uint8_t b);
bool tok_bytelevel_decode(const char *text, size_t n, lqmf_buf *out);
void tok_bytelevel_encode(const char *bytes, size_t n, lqmf_buf *out);

/* UTF-8: length of the character starting with lead byte c (1 for invalid). */
static inline size_t tok_utf8_len(uint8_t c) {
    return c < 0x80 ? 1 : c < 0xe0 ? (c >= 0xc0 ? 2 : 1) : c < 0xf0 ? 3 : c < 0xf8 ? 4 : 1;
}
/* Offset of the first invalid byte, or n when s is valid UTF-8. */
size_t tok_utf8_check(const char *s, size_t n);
void tok_utf8_put(lqmf_buf *b, uint32_t cp);

/* ---- pipeline steps (normalize.c, pretokenize.c) ----------------------- */
/* Compile a split regex (UTF + UCP, JIT when available). */
lqmf_status tok_regex_compile(const char *pattern, size_t len, pcre2_code **out);
/* Match re in s[0..n) from pos: 1 with [*a, *b), 0 for none, < 0 a pcre2
 * error (the match limit included). */
int tok_regex_match(const pcre2_code *re, const char *s, size_t n, size_t pos, pcre2_match_data *md,
                    size_t *a, size_t *b);
void tok_norm_clear(tok_norm *n);
void tok_pre_clear(tok_pre *p);
lqmf_status tok_pre_add_split(lqmf_tokenizer *t, const char *pattern, tok_split_behavior b, bool invert);
lqmf_status tok_pre_add(lqmf_tokenizer *t, const tok_pre *p);
lqmf_status tok_norm_add(lqmf_tokenizer *t, const tok_norm *n);
/* The regex of GPT-2's ByteLevel pre-tokenizer. */
extern const char tok_re_gpt2[];

/* Words of one text segment: strings in text, spans into it. */
typedef struct {
    uint32_t off, len;
} tok_span;
typedef struct {
    lqmf_buf text;
    tok_span *spans;
    size_t n, cap;
} tok_words;

typedef struct tok_ctx tok_ctx;
/* Normalize src into dst (dst is reset). */
lqmf_status tok_normalize(const lqmf_tokenizer *t, const char *src, size_t n, lqmf_buf *dst);
/* Split normalized text into words. at_start: the segment begins the input. */
lqmf_status tok_pretokenize(const lqmf_tokenizer *t, tok_ctx *c, const char *s, size_t n, bool at_start,
                            tok_words **out);

/* ---- models (bpe.c) --------------------------------------------------- */
lqmf_status tok_model_encode(const lqmf_tokenizer *t, tok_ctx *c, const char *w, size_t n, lqmf_tok_ids *out);
bool tok_ids_push(lqmf_tok_ids *v, int32_t id);

/* Scratch reused across the words of one encode call. */
typedef struct {
    int32_t id;
    int32_t prev, next;
    uint32_t off, len;
} tok_sym;
typedef struct {
    uint64_t key; /* priority: smaller first */
    int32_t left, right;
    int32_t lid, rid; /* ids expected at left/right (staleness check) */
} tok_heap_ent;
/* Word cache of one encode call: texts repeat words, so each distinct
 * word (up to TOK_CACHE_WORD bytes) runs the model once. */
#define TOK_CACHE_MAX_SLOTS (1u << 16)
#define TOK_CACHE_WORD 64
typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len; /* in cache_keys */
    uint32_t ids_off, n_ids;   /* in cache_ids */
} tok_cache_ent;

struct tok_ctx {
    tok_words w[2];
    lqmf_buf norm;
    pcre2_match_data *md;
    tok_sym *syms;
    size_t cap_syms;
    tok_heap_ent *heap;
    size_t n_heap, cap_heap;
    tok_cache_ent *cache; /* cache_slots slots (a power of two), key_len 0 = empty */
    uint32_t cache_slots, cache_n;
    lqmf_buf cache_keys;
    lqmf_tok_ids cache_ids;
};
void tok_ctx_free(tok_ctx *c);

/* ---- file-format loaders ------------------------------------------------ */
/* Post-processing from bos/eos: prefix [bos] when add_bos, suffix [eos] when add_eos. */
void tok_set_add_special(lqmf_tokenizer *t, bool add_bos, bool add_eos);
/* GPT-2's vocab.json + merges.txt (or encoder.json + vocab.bpe). */
lqmf_status tok_load_gpt2_files(const char *vocab_path, const char *merges_path, lqmf_tokenizer **out);
/* Open a GGUF file and load its vocabulary. */
lqmf_status tok_open_gguf_path(const char *path, lqmf_tokenizer **out);
/* Apply tokenizer_config.json text (special tokens, add_bos/add_eos, chat_template). */
lqmf_status tok_apply_config(lqmf_tokenizer *t, const char *json, size_t len, const char *name);
/* SentencePiece-style pipeline: normalizer with prefix ▁ per segment (or
 * only at the input start) and spaces as ▁, byte fallback decoder. */
lqmf_status tok_setup_spm_pipeline(lqmf_tokenizer *t, bool add_prefix, bool remove_extra_ws);
/* Register control, unknown and user-defined tokens as added tokens
 * (matched whole in text); call before tok_vocab_finish. */
lqmf_status tok_register_added_by_type(lqmf_tokenizer *t);
/* Pre-tokenizer for a llama.cpp pre name ("gpt-2", "llama-bpe", ...);
 * *llama3 tells whether llama.cpp treats it like Llama-3 (whole-word
 * vocabulary hits skip merging, BOS added by default). */
lqmf_status tok_setup_pre_by_name(lqmf_tokenizer *t, const char *pre, bool *llama3);

/* ---- chat templates (jinja.c) ------------------------------------------- */
lqmf_status tok_jinja_render(const char *tmpl, const lqmf_chat_msg *msgs, size_t n_msgs, const char *bos,
                             const char *eos, bool add_generation_prompt, char **out);

#endif
