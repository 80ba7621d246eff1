/* Evaluation: what a quantization cost, measured honestly and reproducibly.
 *
 * lqmf_eval_run tests one model (usually a quantized artifact) against its
 * baseline (the unquantized source) and fills an lqmf_eval_report:
 * - quality: perplexity of both models on the same tokens under a stated
 *   protocol, the KL divergence KL(baseline || model) of the next-token
 *   distributions (mean, 99th percentile, max), top-1 agreement, delta-PPL;
 * - generation: a fixed prompt set (story, facts, code, instruction, chat
 *   through the chat template), greedy outputs of both models, ROUGE-L of the
 *   model's output against the baseline's, distinct-n and repetition;
 * - speed like llama-bench: prompt processing (ppN) and generation (tgN)
 *   tokens/s over repetitions with their spread, time to first token;
 * - memory and system: file size, peak resident memory, CPU utilisation.
 * The report renders as terminal tables and as a JSON document (schema:
 * docs/benchmark-report.schema.json); nothing here prints.
 *
 * Also here: discovery of the models in a quantized-models folder (read from
 * the files themselves), name resolution, provenance of an artifact, the
 * text metrics (ROUGE-L, distinct-n, rep-n) and a small JSON Schema
 * validator. Recording in the experiment store is the caller's job (store
 * sits above eval). */
#ifndef LQMF_EVAL_H
#define LQMF_EVAL_H

#include "lqmf/core.h"
#include "lqmf/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LQMF_EVAL_SCHEMA_VERSION 1 /* "schema_version" of the JSON report */

/* ---- perplexity protocol -----------------------------------------------------
 * The text file is read as bytes and encoded as ONE string without special
 * tokens: t[0..N-1]. The first max_tokens tokens (0: all) are cut into
 * non-overlapping windows w_k = t[k*n_ctx .. k*n_ctx + n_ctx - 1] (only
 * complete windows), each evaluated from a fresh context at positions
 * 0..n_ctx-1. Inputs and targets per bos mode:
 *   PREPEND  input BOS, w[0..n_ctx-2]; logits[j] predict w[j] (j >= 0)
 *   NONE     input w[0..n_ctx-1];      logits[j-1] predict w[j] (j >= 1)
 *   REPLACE  input BOS, w[1..n_ctx-1] (llama.cpp); logits[j-1] predict w[j] (j >= 1)
 * Scored: w[j] for j = score_first .. n_ctx-1 of every window; loss
 * -log softmax(logits)[w[j]] in nats; mean NLL over all scored tokens,
 * PPL = exp(mean NLL). This is the protocol of the reference.json files of
 * the test models ("ref": 256-token windows, first 16384 tokens, PREPEND
 * when the tokenizer adds a BOS and every token scored, else NONE with the
 * first token of each window unscored). */
typedef enum {
    LQMF_EVAL_BOS_AUTO = 0, /* PREPEND when the tokenizer adds a BOS, else NONE */
    LQMF_EVAL_BOS_NONE,
    LQMF_EVAL_BOS_PREPEND,
    LQMF_EVAL_BOS_REPLACE /* falls back to NONE when the tokenizer adds no BOS */
} lqmf_eval_bos;

typedef struct {
    uint32_t n_ctx;      /* tokens per window (>= 2) */
    uint32_t max_tokens; /* use the first max_tokens tokens; 0 = all complete windows */
    lqmf_eval_bos bos;
    int32_t score_first; /* first scored index in a window; -1: 0 with PREPEND, else 1 */
} lqmf_eval_protocol;

/* Presets: "ref" {256, 16384, AUTO, -1} (the reference.json protocol),
 * "quick" {256, 512, AUTO, -1} (its first two windows), "llamacpp" {512, 0,
 * REPLACE, 256} (llama.cpp's perplexity tool: second half of each window
 * scored). LQMF_E_INVALID naming the presets for another name. */
lqmf_status lqmf_eval_protocol_preset(const char *name, lqmf_eval_protocol *out);
const char *lqmf_eval_bos_name(lqmf_eval_bos b); /* "auto", "none", "prepend", "replace" */
/* Default calibration text (GPTQ): the built-in text from the first
 * paragraph after its middle to the end, which the quick protocol (its
 * first 512 tokens) does not score. Static storage; *len set. */
const char *lqmf_eval_calibration_text(size_t *len);
bool lqmf_eval_bos_from_name(const char *name, lqmf_eval_bos *out);

/* ---- options -------------------------------------------------------------------- */
typedef enum { LQMF_EVAL_QUICK = 0, LQMF_EVAL_FULL = 1 } lqmf_eval_mode;

/* Pass/fail limits of the verdict; a NAN limit is not checked. */
typedef struct {
    double max_kl;        /* mean KL, nats/token (default 0.03) */
    double min_top1;      /* top-1 agreement, fraction (default 0.90) */
    double max_dppl_frac; /* (PPL_model - PPL_base) / PPL_base (default 0.05) */
} lqmf_eval_thresholds;

/* Progress: phase ("speed", "baseline logits", "quality", "generation"),
 * done of total steps. Called on the calling thread. */
typedef void (*lqmf_eval_progress_fn)(void *user, const char *phase, uint32_t done, uint32_t total);

typedef struct {
    const char *model_path;    /* model under test: GGUF file or model folder (required) */
    const char *baseline_path; /* unquantized source; NULL: no comparison */
    const char *name;          /* display name; NULL: from the path */
    lqmf_eval_mode mode;
    const char *text_path; /* perplexity text; NULL: the built-in text */
    lqmf_eval_protocol protocol;
    uint32_t n_threads; /* 0: all online CPUs */
    /* Speed: ppN, tgN, each repeated speed_reps times after one warm-up. */
    uint32_t speed_pp, speed_tg, speed_reps;
    /* Generation: prompts per category and new tokens per prompt. */
    uint32_t gen_per_category, gen_max_new;
    bool skip_quality, skip_generation, skip_speed;
    /* Baseline logits cache: folder (created when needed) or NULL for none;
     * a cache file above cache_max_bytes is not written. */
    const char *cache_dir;
    uint64_t cache_max_bytes;
    lqmf_eval_thresholds thresholds;
    lqmf_eval_progress_fn progress;
    void *progress_user;
} lqmf_eval_opts;

/* Defaults of a mode. QUICK: protocol "quick", pp512/tg128 x 2 reps, one
 * prompt per category with 32 new tokens. FULL: protocol "ref", x 5 reps,
 * three prompts per category with 64 new tokens. Cache off, 1 GiB cap,
 * default thresholds, everything else zero/NULL. */
void lqmf_eval_opts_init(lqmf_eval_opts *o, lqmf_eval_mode mode);

/* ---- report ----------------------------------------------------------------- */
typedef struct {
    char *name; /* display name */
    char *path;
    char *format;           /* "gguf", "hf", "llama2c" */
    char *method;           /* "Q4_K_M", "BF16", ... (GGUF file type or dominant tensor type) */
    char *architecture;     /* "llama", "gpt2" */
    char *hf_arch;          /* "LlamaForCausalLM" or "" */
    double bits_per_weight; /* tensor bytes * 8 / parameters */
    uint64_t n_params;
    uint64_t file_bytes; /* all files of the model (weights, config, tokenizer) */
    uint32_t n_files;
    uint32_t n_vocab, n_ctx_train;
} lqmf_eval_model_info;

typedef struct {
    double mean_nll, nll_stderr; /* nats/token; standard error of the mean */
    double ppl, ppl_stderr;      /* exp(mean_nll); ppl * nll_stderr */
} lqmf_eval_ppl;

typedef struct {
    /* what was run */
    lqmf_eval_protocol protocol; /* as given */
    lqmf_eval_bos bos;           /* resolved: NONE, PREPEND or REPLACE */
    uint32_t score_first;        /* resolved */
    char *text_name;             /* file path or "built-in" */
    char text_sha256[65];
    uint64_t text_bytes;
    uint64_t text_tokens; /* tokens of the whole text */
    uint32_t n_windows;
    uint64_t n_scored;
    char *description; /* the protocol in words */
    /* results */
    lqmf_eval_ppl model;
    bool has_baseline;
    lqmf_eval_ppl baseline;
    double kl_mean, kl_stderr, kl_p99, kl_max; /* nats/token over scored tokens */
    double top1;                               /* fraction of scored tokens with the same argmax */
    double dppl_frac;                          /* (PPL_model - PPL_base) / PPL_base */
    char *cache;       /* baseline logits: "off", "hit (PATH)", "written (PATH)", "not written: WHY" */
    bool tokens_match; /* the baseline's tokenizer gives the same ids */
} lqmf_eval_quality;

typedef struct {
    char *category;                     /* "story", "facts", "code", "instruction", "chat" */
    char *prompt;                       /* as given (chat: the user message) */
    char *model_out;                    /* greedy continuation, decoded */
    char *base_out;                     /* NULL without a baseline */
    uint32_t model_tokens, base_tokens; /* new tokens generated */
    double rouge_l;                     /* F1 of model_out against base_out; NAN without a baseline */
    double ttft_s;                      /* model: prompt evaluation + first token, seconds */
} lqmf_eval_sample;

typedef struct {
    double distinct1, distinct2, rep4; /* over all outputs of one model, words */
} lqmf_eval_diversity;

typedef struct {
    lqmf_eval_sample *samples;
    size_t n_samples;
    uint32_t max_new;
    char *skipped;       /* why a category was left out ("chat: no chat template"), or "" */
    double rouge_l_mean; /* NAN without a baseline */
    lqmf_eval_diversity model, baseline;
    double ttft_mean_s;
} lqmf_eval_generation;

typedef struct {
    char name[16]; /* "pp512", "tg128" */
    uint32_t n_tokens;
    uint32_t reps;
    double tps_mean, tps_stddev; /* tokens/s over reps (sample stddev; 0 with one rep) */
    double *tps;                 /* reps values */
} lqmf_eval_speed_test;

typedef struct {
    lqmf_eval_speed_test pp, tg;
    uint32_t n_threads;
    char isa[16];
    uint64_t weight_bytes;   /* bytes the forward pass reads per token */
    double tg_bytes_per_s;   /* weight_bytes * tg tokens/s: the memory traffic decoding achieves */
    uint64_t peak_rss_bytes; /* peak resident set at the end of the speed phase, which
                                runs first with only the model loaded; 0 when unknown */
    double cpu_util;         /* CPU seconds / wall seconds over the speed phase (2.0 = two cores busy) */
} lqmf_eval_speed;

typedef struct {
    char name[32]; /* "kl", "top1", "dppl" */
    double value, limit;
    bool pass;
} lqmf_eval_check;

typedef enum { LQMF_EVAL_PASS = 0, LQMF_EVAL_FAIL, LQMF_EVAL_UNMEASURED } lqmf_eval_verdict;

typedef struct {
    int schema_version;
    double started_at; /* unix seconds */
    double wall_s;     /* whole run */
    char host[64];
    uint32_t n_cpus;         /* online CPUs */
    uint64_t peak_rss_bytes; /* peak resident set of the whole run (model + baseline); 0 when unknown */
    lqmf_eval_mode mode;
    lqmf_eval_model_info model;
    bool has_baseline;
    lqmf_eval_model_info baseline;
    bool has_quality, has_generation, has_speed;
    lqmf_eval_quality quality;
    lqmf_eval_generation gen;
    lqmf_eval_speed speed;
    lqmf_eval_thresholds thresholds;
    lqmf_eval_check checks[3];
    size_t n_checks;
    lqmf_eval_verdict verdict;
    char *warnings; /* lines of caveats, "" when none */
} lqmf_eval_report;

/* Run the test. *out is owned by the caller (lqmf_eval_report_free). */
lqmf_status lqmf_eval_run(const lqmf_eval_opts *o, lqmf_eval_report **out);
void lqmf_eval_report_free(lqmf_eval_report *r);         /* NULL is a no-op */
const char *lqmf_eval_verdict_name(lqmf_eval_verdict v); /* "pass", "fail", "unmeasured" */
const char *lqmf_eval_mode_name(lqmf_eval_mode m);       /* "quick", "full" */

/* The report as JSON (schema docs/benchmark-report.schema.json), appended to out. */
lqmf_status lqmf_eval_report_json(const lqmf_eval_report *r, lqmf_buf *out);
/* Write it as DIR/benchmark_<name>_<YYYYmmdd-HHMMSS>.json (DIR created when
 * absent, file written atomically). *path_out (may be NULL) gets the path,
 * owned by the caller. */
lqmf_status lqmf_eval_report_save(const lqmf_eval_report *r, const char *dir, char **path_out);

enum {
    LQMF_EVAL_RENDER_COLOR = 1u << 0, /* ANSI colours */
    LQMF_EVAL_RENDER_ASCII = 1u << 1  /* +-| tables instead of box drawing */
};
/* Record the report's figures (perplexity of both models, KL mean/p99, top-1,
 * delta-PPL, ROUGE-L, time to first token, speeds, peak memory) as
 * evaluations of experiment exp_id on artifact art_id of model model_id
 * (0 when unknown); the baseline's perplexity gets artifact 0. */
lqmf_status lqmf_eval_record(lqmf_store *s, int64_t exp_id, int64_t model_id, int64_t art_id,
                             const lqmf_eval_report *r);

/* Terminal report (tables, verdict line) appended to out. */
lqmf_status lqmf_eval_report_render(const lqmf_eval_report *r, unsigned flags, lqmf_buf *out);

/* ---- discovery ------------------------------------------------------------------
 * The models of a quantized-models folder: every *.gguf file at the top
 * level, and every sub-folder holding GGUF files (each one a model, named
 * "folder" when it is alone, else "folder/file") or a Hugging Face model
 * (config.json + *.safetensors; method from its quantization_config, else the
 * weights' dtype). Everything is read from the files: GGUF metadata and
 * tensor table, config.json, safetensors headers. An entry that cannot be
 * read is listed with its error. Sorted by name. */
typedef struct {
    char *name;
    char *path;   /* what lqmf_model_open takes */
    char *format; /* "gguf", "hf" */
    char *method; /* "Q4_K_M", "gptq", "nf4", "BF16", ... */
    double bits;  /* bits per weight; 0 when unknown */
    char *architecture;
    uint64_t size_bytes;
    uint32_t n_files;
    uint64_t n_params; /* 0 when unknown */
    char *error;       /* NULL when readable */
} lqmf_eval_found;

typedef struct {
    lqmf_eval_found *items;
    size_t n;
} lqmf_eval_found_list;

/* Scan dir. A missing folder gives an empty list. */
lqmf_status lqmf_eval_discover(const char *dir, lqmf_eval_found_list *out);
void lqmf_eval_found_list_free(lqmf_eval_found_list *l); /* safe on zeroed */
/* The list as a table (name, method, bits, size, architecture, files),
 * unreadable entries with their error; flags as lqmf_eval_report_render. */
lqmf_status lqmf_eval_found_list_render(const lqmf_eval_found_list *l, unsigned flags, lqmf_buf *out);
/* Describe one model path (file or folder) as discovery does. */
lqmf_status lqmf_eval_describe(const char *path, lqmf_eval_found *out);
void lqmf_eval_found_free(lqmf_eval_found *f);

/* Resolve a user's name: an existing path (file, or a folder discovery
 * knows how to read), else an exact name, else a unique case-insensitive
 * substring of the names in l. LQMF_E_INVALID when several match (message
 * lists them), LQMF_E_NOT_FOUND when none (message lists the available
 * names). *path_out (what lqmf_model_open takes) and *name_out (the
 * listed name; may be NULL) are owned by the caller. */
lqmf_status lqmf_eval_resolve(const lqmf_eval_found_list *l, const char *query, char **path_out,
                              char **name_out);

/* Provenance recorded in an artifact: GGUF general.name, general.source.url,
 * general.source.huggingface.repository, general.quantized_by. Absent keys
 * are NULL; strings owned by *out. */
typedef struct {
    char *name, *source_url, *source_repo, *quantized_by;
} lqmf_eval_provenance;
lqmf_status lqmf_eval_provenance_read(const char *path, lqmf_eval_provenance *out);
void lqmf_eval_provenance_free(lqmf_eval_provenance *p);

/* ---- text metrics ------------------------------------------------------------
 * Words: text lower-cased (ASCII), every byte other than [a-z0-9] a
 * separator (as the common ROUGE scorer tokenizes). */
/* ROUGE-L F1 of cand against ref: LCS of the word sequences; 1 when both are
 * empty, 0 when one is. */
double lqmf_eval_rouge_l(const char *cand, const char *ref);
/* distinct-n: distinct word n-grams / all n-grams, over n_texts texts
 * (n-grams never cross texts); NAN when there are none. rep-n (seq-rep-n,
 * Welleck et al. 2019): 1 - distinct-n. */
double lqmf_eval_distinct_n(const char *const *texts, size_t n_texts, uint32_t n);

/* ---- statistics ---------------------------------------------------------------- */
/* Mean, sample standard deviation (0 for n < 2) and the q-quantile (linear
 * interpolation between order statistics, q in [0,1]) of x[n]; x is not
 * modified. NAN for n == 0. */
double lqmf_eval_mean(const double *x, size_t n);
double lqmf_eval_stddev(const double *x, size_t n);
double lqmf_eval_quantile(const double *x, size_t n, double q);

/* ---- JSON Schema (the subset the report schema uses) ----------------------------
 * type (string or array of "object", "array", "string", "number", "integer",
 * "boolean", "null"), properties, required, additionalProperties (bool or
 * schema), items, enum, const, minimum, maximum, exclusiveMinimum, minLength,
 * maxLength, minItems, maxItems, pattern (PCRE2), $ref "#/$defs/NAME" and
 * "#/definitions/NAME", and $defs. Other keywords are refused, so a schema
 * never silently means less than it says. Validate the JSON text doc against
 * the schema text; every violation is appended to errors (may be NULL) as a
 * line "<json pointer>: <reason>". LQMF_E_FORMAT when doc is invalid
 * (message: the first violation), LQMF_E_INVALID when the schema is. */
lqmf_status lqmf_eval_schema_validate(const char *schema, size_t schema_len, const char *doc, size_t doc_len,
                                      lqmf_buf *errors);

#ifdef __cplusplus
}
#endif
#endif
