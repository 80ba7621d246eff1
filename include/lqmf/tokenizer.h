/* Tokenizers: text <-> token ids for every model lqmf handles.
 *
 * Sources: Hugging Face tokenizer.json (+ tokenizer_config.json), a
 * SentencePiece tokenizer.model, llama.cpp's GGUF vocabulary keys
 * (tokenizer.ggml.*) and llama2.c's tokenizer.bin. Two model algorithms cover
 * them:
 *   BPE  merges ranked by a merge list (GPT-2, Llama-3, Qwen2: byte-level;
 *        Llama-2 tokenizer.json: characters with byte fallback);
 *   SPM  SentencePiece BPE: adjacent pieces merged by the score of the
 *        merged piece, byte fallback for characters outside the vocabulary.
 * Around the model runs the Hugging Face pipeline: added/special tokens are
 * split out first (never split themselves), each remaining segment is
 * normalized, pre-tokenized into words, encoded word by word, and BOS/EOS
 * are added as the configuration says.
 *
 * Internally every token carries two strings: its vocabulary text as the
 * file spells it ("Ġthe", "▁the", "<0x0A>") and its piece bytes, what the
 * model matches against and what decoding produces before the decoder's
 * rewrites (" the" for byte-level vocabularies, "▁the" for SentencePiece).
 *
 * A tokenizer is immutable after loading: encode/decode may run on many
 * threads at once. Input text must be valid UTF-8. */
#ifndef LQMF_TOKENIZER_H
#define LQMF_TOKENIZER_H

#include "lqmf/core.h"
#include "lqmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lqmf_tokenizer lqmf_tokenizer;
struct lqmf_gguf;        /* lqmf/gguf.h */
struct lqmf_gguf_writer; /* lqmf/gguf.h */

/* Token types, the GGUF tokenizer.ggml.token_type values. */
typedef enum {
    LQMF_TOK_NORMAL = 1,
    LQMF_TOK_UNKNOWN = 2,
    LQMF_TOK_CONTROL = 3,      /* special: BOS, EOS, <|im_start|>, ... */
    LQMF_TOK_USER_DEFINED = 4, /* added token, always matched as a whole */
    LQMF_TOK_UNUSED = 5,
    LQMF_TOK_BYTE = 6 /* <0xXX> byte-fallback token */
} lqmf_tok_type;

typedef enum { LQMF_TOK_ALGO_BPE = 0, LQMF_TOK_ALGO_SPM = 1 } lqmf_tok_algo;

/* ---- loading -------------------------------------------------------------
 * Each returns a tokenizer owned by the caller (lqmf_tok_free). Files are
 * read whole and not kept open. */

/* Any supported source: a model folder (tokenizer.json preferred, then
 * tokenizer.model, then GPT-2's vocab.json + merges.txt or encoder.json +
 * vocab.bpe; tokenizer_config.json read for add_bos/add_eos, special tokens
 * and chat_template), a GGUF file (vocabulary-only files too), a
 * tokenizer.json, a tokenizer.model or a llama2.c tokenizer.bin. */
lqmf_status lqmf_tok_open(const char *path, lqmf_tokenizer **out);
/* The tokenizer a model names in m->tok_source / m->tok_path. */
lqmf_status lqmf_tok_open_model(const lqmf_model *m, lqmf_tokenizer **out);
/* tokenizer.json text (len bytes) plus optional tokenizer_config.json text
 * (NULL when absent); `name` labels error messages. */
lqmf_status lqmf_tok_load_hf_json(const char *json, size_t len, const char *config_json, size_t config_len,
                                  const char *name, lqmf_tokenizer **out);
/* SentencePiece ModelProto bytes. */
lqmf_status lqmf_tok_load_spm(const uint8_t *data, size_t len, const char *name, lqmf_tokenizer **out);
/* llama2.c tokenizer.bin bytes; n_vocab = 0 reads tokens to the end. */
lqmf_status lqmf_tok_load_llama2c(const uint8_t *data, size_t len, uint32_t n_vocab, const char *name,
                                  lqmf_tokenizer **out);
/* The tokenizer.ggml.* keys of an open GGUF file. */
lqmf_status lqmf_tok_load_gguf(const struct lqmf_gguf *g, lqmf_tokenizer **out);
void lqmf_tok_free(lqmf_tokenizer *t); /* NULL is a no-op */

/* ---- vocabulary ------------------------------------------------------- */
uint32_t lqmf_tok_n_vocab(const lqmf_tokenizer *t);
lqmf_tok_algo lqmf_tok_algorithm(const lqmf_tokenizer *t);
bool lqmf_tok_byte_level(const lqmf_tokenizer *t); /* GPT-2 style byte-level BPE */
/* Special ids, -1 when the tokenizer has none. */
int32_t lqmf_tok_bos(const lqmf_tokenizer *t);
int32_t lqmf_tok_eos(const lqmf_tokenizer *t);
int32_t lqmf_tok_unk(const lqmf_tokenizer *t);
int32_t lqmf_tok_pad(const lqmf_tokenizer *t);
/* Does encoding with LQMF_TOK_ADD_SPECIAL add BOS / EOS? */
bool lqmf_tok_adds_bos(const lqmf_tokenizer *t);
bool lqmf_tok_adds_eos(const lqmf_tokenizer *t);
/* Token id of an exact vocabulary text ("<|eot_id|>", "Ġthe"), -1 if none. */
int32_t lqmf_tok_find(const lqmf_tokenizer *t, const char *text);
/* Vocabulary text of id as the source file spells it, NUL-terminated; *len
 * (may be NULL) gets its length, which counts embedded NULs. Points into t (lives until lqmf_tok_free); NULL
 * when id is out of range. */
const char *lqmf_tok_text(const lqmf_tokenizer *t, int32_t id, size_t *len);
lqmf_tok_type lqmf_tok_type_of(const lqmf_tokenizer *t, int32_t id);
float lqmf_tok_score(const lqmf_tokenizer *t, int32_t id);
/* The llama.cpp pre-tokenizer name (tokenizer.ggml.pre) that matches this
 * tokenizer's splitting: "default", "gpt-2", "llama-bpe", "qwen2",
 * "starcoder", "deepseek-llm", ... Static storage. */
const char *lqmf_tok_pre_name(const lqmf_tokenizer *t);

/* ---- encoding ------------------------------------------------------------ */
typedef struct {
    int32_t *ids; /* owned; release with lqmf_tok_ids_free */
    size_t n, cap;
} lqmf_tok_ids;
void lqmf_tok_ids_free(lqmf_tok_ids *v); /* safe on a zeroed or freed v */

enum {
    LQMF_TOK_ADD_SPECIAL = 1u << 0,  /* add BOS/EOS as the configuration says */
    LQMF_TOK_PARSE_SPECIAL = 1u << 1 /* recognise control tokens written in the text
                                        (user-defined added tokens always are) */
};
/* Encode len bytes of UTF-8 text, appending the ids to *out. Fails with
 * LQMF_E_INVALID (naming the byte offset) on invalid UTF-8. */
lqmf_status lqmf_tok_encode(const lqmf_tokenizer *t, const char *text, size_t len, unsigned flags,
                            lqmf_tok_ids *out);

/* ---- decoding ------------------------------------------------------------ */
enum { LQMF_TOK_SKIP_SPECIAL = 1u << 0 }; /* leave out control and unknown tokens */

/* Decode ids, appending text to *out (NUL-terminated, the NUL not counted).
 * Byte sequences that do not form UTF-8 are passed through as they are. */
lqmf_status lqmf_tok_decode(const lqmf_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                            lqmf_buf *out);
/* The text one token stands for on its own (no leading-space removal):
 * " the" for "Ġthe" or "▁the", "\n" for <0x0A>, "<s>" for a control token.
 * Appends to *out. */
lqmf_status lqmf_tok_piece(const lqmf_tokenizer *t, int32_t id, lqmf_buf *out);

/* Streaming decode for generation: push ids one at a time; only whole UTF-8
 * characters are appended to the output, bytes of a character split across
 * tokens are held back until it completes. A byte that can never start or
 * continue a character becomes U+FFFD. */
typedef struct {
    const lqmf_tokenizer *t;
    unsigned flags;  /* LQMF_TOK_SKIP_SPECIAL */
    uint8_t pend[4]; /* incomplete character held back */
    uint8_t npend;
    uint8_t strip; /* leading spaces still to drop from the output start */
    bool started;  /* some text has been produced */
} lqmf_tok_stream;
void lqmf_tok_stream_init(lqmf_tok_stream *s, const lqmf_tokenizer *t, unsigned flags);
lqmf_status lqmf_tok_stream_push(lqmf_tok_stream *s, int32_t id, lqmf_buf *out);
/* End of stream: held-back bytes become U+FFFD. */
void lqmf_tok_stream_flush(lqmf_tok_stream *s, lqmf_buf *out);

/* ---- chat templates --------------------------------------------------------
 * tokenizer.chat_template rendered by a small Jinja interpreter: text,
 * {{ }}, {% if/elif/else %}, {% for %} with loop.*, {% set %} (namespace
 * attributes too), {# #}, whitespace control, trim_blocks + lstrip_blocks as
 * transformers renders; expressions with literals, lists, dicts, attribute and
 * subscript access, slices, + - * / % ~, comparisons, and/or/not, in, is
 * tests, filters (trim, length, upper, lower, join, default, tojson, first,
 * last, items, replace, select/reject, selectattr/rejectattr, map(attribute=),
 * ...), string and dict methods (strip, startswith, split, items, get, ...),
 * namespace(), range(), strftime_now(), raise_exception(). Anything else fails with
 * LQMF_E_UNSUPPORTED naming the construct and its line. */
typedef struct {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} lqmf_chat_msg;

/* The template from the tokenizer's configuration, NULL when it has none. */
const char *lqmf_tok_chat_template(const lqmf_tokenizer *t);
/* Render template tmpl (NULL: the tokenizer's own) over msgs with
 * bos_token, eos_token and add_generation_prompt set. *out is a malloc'd
 * NUL-terminated string owned by the caller. Encode the result with
 * LQMF_TOK_PARSE_SPECIAL and without LQMF_TOK_ADD_SPECIAL when the template
 * writes the BOS itself. */
lqmf_status lqmf_tok_chat_apply(const lqmf_tokenizer *t, const char *tmpl, const lqmf_chat_msg *msgs,
                                size_t n_msgs, bool add_generation_prompt, char **out);

/* ---- GGUF export ---------------------------------------------------------
 * Write the vocabulary as llama.cpp's converter does: tokenizer.ggml.model
 * ("gpt2" for BPE, "llama" for SPM and byte-fallback BPE, whose scores then
 * replay the merge order), tokens, scores, token_type, merges (BPE),
 * bos/eos/unknown/padding ids, add_bos_token / add_eos_token (only when the
 * source states them, as the converter does; llama.cpp's defaults apply
 * otherwise), add_space_prefix (SPM), tokenizer.ggml.pre and
 * tokenizer.chat_template. */
lqmf_status lqmf_tok_write_gguf(const lqmf_tokenizer *t, struct lqmf_gguf_writer *w);

#ifdef __cplusplus
}
#endif
#endif
