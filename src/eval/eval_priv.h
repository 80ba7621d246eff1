/* Internals of the evaluation module shared between its files. */
#ifndef LQMF_EVAL_PRIV_H
#define LQMF_EVAL_PRIV_H

#include "lqmf/engine.h"
#include "lqmf/eval.h"
#include "lqmf/tokenizer.h"

#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        lqmf_status st_ = (expr);                                                                            \
        if (st_ != LQMF_OK) return st_;                                                                      \
    } while (0)

/* strdup that maps NULL to "" and never returns NULL unless out of memory. */
char *lqmf_eval_strdup(const char *s);
/* Last path component without a trailing '/' and, for a file, without its
 * extension (".gguf"). Heap string. */
char *lqmf_eval_basename(const char *path, bool strip_ext);
/* mkdir -p (mode 0755). */
lqmf_status lqmf_eval_mkdirs(const char *dir);

/* ---- built-in material ------------------------------------------------------- */
/* An original English passage of mixed register (narrative, expository,
 * dialogue, lists), the default perplexity text. NUL-terminated. */
extern const char lqmf_eval_builtin_text[];

typedef struct {
    const char *category; /* "story", "facts", "code", "instruction", "chat" */
    const char *text;     /* prompt (chat: the user message) */
} lqmf_eval_prompt;
/* The prompt set: up to per_category prompts of each category, in category
 * order. *n receives the count; returns a static table filtered into out[]
 * (capacity LQMF_EVAL_MAX_PROMPTS). */
#define LQMF_EVAL_MAX_PROMPTS 15
size_t lqmf_eval_prompt_set(uint32_t per_category, lqmf_eval_prompt *out);

/* ---- a model ready to run ------------------------------------------------------ */
typedef struct {
    lqmf_model *model; /* as opened */
    lqmf_engine *engine;
    lqmf_tokenizer *tok;
    uint32_t n_ctx; /* engine positions */
} lqmf_eval_lm;

/* Open path with an engine of n_ctx positions (capped at the model's
 * training context). */
lqmf_status lqmf_eval_lm_open(const char *path, uint32_t n_ctx, uint32_t n_threads, lqmf_eval_lm *out);
void lqmf_eval_lm_close(lqmf_eval_lm *lm); /* safe on zeroed */

/* ---- quality ------------------------------------------------------------------- */
typedef struct {
    const int32_t *tokens; /* the encoded text */
    size_t n_tokens;
    uint32_t n_ctx, n_windows, score_first;
    lqmf_eval_bos bos; /* resolved */
    int32_t bos_id;
} lqmf_eval_windows;

/* Resolve protocol p for a text of n_tokens tokens and a tokenizer that adds
 * BOS bos_id (-1: none) into w (tokens not set). */
lqmf_status lqmf_eval_windows_plan(const lqmf_eval_protocol *p, size_t n_tokens, bool adds_bos,
                                   int32_t bos_id, lqmf_eval_windows *w);
/* The protocol in words, into a heap string; with_kl adds how KL is taken. */
char *lqmf_eval_windows_describe(const lqmf_eval_windows *w, const char *text_name, uint64_t text_bytes,
                                 bool with_kl);

/* Baseline logits cache file: a 64-byte header then f32 logits
 * [n_windows][n_ctx - score_first][n_vocab], one row per scored token in
 * window order. Header (little-endian): "LQMFLOGT", u32 version (1),
 * u32 n_vocab, n_ctx, n_windows, score_first, bos, 32-byte key (sha256 of
 * the baseline's files, the token ids and the protocol). */
#define LQMF_EVAL_CACHE_MAGIC "LQMFLOGT"
#define LQMF_EVAL_CACHE_HDR 64
#define LQMF_EVAL_CACHE_VERSION 1
typedef struct {
    uint32_t n_vocab, n_ctx, n_windows, score_first, bos;
    uint8_t key[32];
} lqmf_eval_cache_hdr;
void lqmf_eval_cache_hdr_encode(const lqmf_eval_cache_hdr *h, uint8_t out[LQMF_EVAL_CACHE_HDR]);
/* Parse and check size bytes of a cache file: magic, version, fields in
 * range, size exactly header + data. label names it in messages. */
lqmf_status lqmf_eval_cache_hdr_parse(const uint8_t *bytes, uint64_t size, const char *label,
                                      lqmf_eval_cache_hdr *out);
/* Key of a baseline (its files: names, sizes, modification times), the
 * token ids and the resolved protocol. */
lqmf_status lqmf_eval_cache_key(const char *baseline_path, const lqmf_eval_windows *w, uint32_t n_vocab,
                                uint8_t key[32]);

typedef struct {
    const char *dir; /* NULL: no cache */
    uint64_t max_bytes;
    const char *baseline_path;
} lqmf_eval_cache_opts;

/* Perplexity of model (and, with base, of base plus KL, top-1 agreement,
 * delta-PPL) over the windows of w; fills the result fields of q (not the
 * protocol description fields). */
lqmf_status lqmf_eval_quality_run(lqmf_eval_lm *model, lqmf_eval_lm *base, const lqmf_eval_windows *w,
                                  const lqmf_eval_cache_opts *cache, lqmf_eval_progress_fn progress,
                                  void *progress_user, lqmf_eval_quality *q);

/* ---- generation and speed ---------------------------------------------------------- */
/* Greedy continuation of one prompt: *out (heap, decoded, special tokens
 * left out), *n_new tokens, *ttft_s seconds to the first new token. */
lqmf_status lqmf_eval_generate(lqmf_eval_lm *lm, const lqmf_eval_prompt *p, uint32_t max_new, char **out,
                               uint32_t *n_new, double *ttft_s);
/* The generation suite on model (and base); fills g. */
lqmf_status lqmf_eval_generation_run(lqmf_eval_lm *model, lqmf_eval_lm *base, uint32_t per_category,
                                     uint32_t max_new, lqmf_eval_progress_fn progress, void *progress_user,
                                     lqmf_eval_generation *g);
void lqmf_eval_generation_free(lqmf_eval_generation *g);

/* ppN / tgN over reps after a warm-up; fills s (not the memory fields). */
lqmf_status lqmf_eval_speed_run(lqmf_eval_lm *lm, uint32_t pp, uint32_t tg, uint32_t reps,
                                lqmf_eval_progress_fn progress, void *progress_user, lqmf_eval_speed *s);

/* ---- process figures ------------------------------------------------------------------ */
/* Peak resident set (VmHWM) in bytes, 0 when unknown. */
uint64_t lqmf_eval_peak_rss(void);
/* Reset the peak to the current resident set (Linux clear_refs); false when
 * the kernel refuses. */
bool lqmf_eval_reset_peak_rss(void);
/* CPU seconds (user + system) used by this process so far. */
double lqmf_eval_cpu_seconds(void);

#endif
