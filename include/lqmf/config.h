/* Configuration: the settings of the product description (config.json,
 * .env, environment variables, command-line flags), each remembering where
 * its value came from.
 *
 * Precedence, highest first: flags > environment > .env > config.json >
 * defaults. An empty value in the environment or .env counts as unset.
 * Files: config.json is --config PATH, else $LQMF_CONFIG, else ./config.json
 * when present; .env is --env-file PATH, else ./.env when present. A file
 * named explicitly must exist. API keys and tokens come only from the
 * environment or .env (never config.json or flags) and are shown masked.
 *
 * .env syntax: KEY=VALUE per line; optional "export " prefix; blank lines
 * and lines starting with '#' are skipped; KEY is [A-Za-z_][A-Za-z0-9_.]*;
 * VALUE unquoted (trimmed; " #" starts a comment), 'single-quoted' (taken
 * literally) or "double-quoted" (\n \t \r \" \\ escapes); a quote must close
 * on its line, followed only by blanks or a comment. A bad line is an error
 * naming the file and the line number. */
#ifndef LQMF_CONFIG_H
#define LQMF_CONFIG_H

#include "lqmf/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LQMF_CFG_STORAGE_BACKEND = 0, /* sqlite | json */
    LQMF_CFG_MODELS_DIR,
    LQMF_CFG_QUANTIZED_MODELS_DIR,
    LQMF_CFG_CONFIGS_DIR,
    LQMF_CFG_LOGS_DIR,
    LQMF_CFG_MCP_DIR,
    LQMF_CFG_BENCHMARKS_DIR,
    LQMF_CFG_ADAPTERS_DIR,
    LQMF_CFG_AUTO_SAVE_PLANS,  /* bool */
    LQMF_CFG_MAX_RETRIES,      /* 0..100 */
    LQMF_CFG_LLM_PROVIDER,     /* gemini | claude | openai | local | none */
    LQMF_CFG_LLM_ADVICE,       /* bool: ask the provider for advice on every plan (default false) */
    LQMF_CFG_GPU_MEMORY_LIMIT, /* GB (GiB) of GPU memory to plan for, > 0 */
    LQMF_CFG_CPU_FALLBACK,     /* bool */
    LQMF_CFG_API_HOST,
    LQMF_CFG_API_PORT,       /* 1..65535 */
    LQMF_CFG_API_RELOAD,     /* bool */
    LQMF_CFG_CALIBRATION_TEXT, /* GPTQ calibration text file; "" (default): the built-in text */
    LQMF_CFG_GEMINI_API_KEY, /* secrets: environment / .env only */
    LQMF_CFG_ANTHROPIC_API_KEY,
    LQMF_CFG_OPENAI_API_KEY,
    LQMF_CFG_HF_TOKEN, /* HF_TOKEN or HUGGINGFACE_TOKEN */
    LQMF_CFG_COUNT
} lqmf_config_key;

typedef enum {
    LQMF_CFG_FROM_DEFAULT = 0,
    LQMF_CFG_FROM_FILE,   /* config.json */
    LQMF_CFG_FROM_DOTENV, /* .env */
    LQMF_CFG_FROM_ENV,    /* environment variable */
    LQMF_CFG_FROM_FLAG    /* command line */
} lqmf_config_source;

const char *
lqmf_config_source_name(lqmf_config_source s);       /* "default", "config.json", ".env", "env", "flag" */
const char *lqmf_config_key_name(lqmf_config_key k); /* "storage_backend" */
const char *lqmf_config_key_env(lqmf_config_key k);  /* "STORAGE_BACKEND" (the first name) */
bool lqmf_config_key_secret(lqmf_config_key k);
/* Key by its config.json name, environment name or flag name ("storage-backend"). */
bool lqmf_config_key_find(const char *name, lqmf_config_key *out);

/* ---- .env files ------------------------------------------------------------ */
typedef struct {
    char *key, *value; /* owned */
    unsigned line;     /* 1-based */
} lqmf_dotenv_entry;

typedef struct {
    lqmf_dotenv_entry *entries; /* owned, in file order (a later duplicate wins) */
    size_t n;
} lqmf_dotenv;

/* Parse .env text; label names it in messages ("path/.env:12: ..."). */
lqmf_status lqmf_dotenv_parse(const char *text, size_t len, const char *label, lqmf_dotenv *out);
void lqmf_dotenv_free(lqmf_dotenv *d); /* zeroed or freed: no-op */

/* ---- loading ----------------------------------------------------------------- */
typedef struct {
    const char *key; /* a key name as lqmf_config_key_find accepts */
    const char *value;
} lqmf_config_flag;

#define LQMF_CONFIG_MAX_FLAGS 32
typedef struct {
    const char *config_path;                               /* NULL: $LQMF_CONFIG or ./config.json */
    const char *dotenv_path;                               /* NULL: ./.env */
    const char *(*getenv_fn)(const char *name, void *ctx); /* NULL: getenv */
    void *getenv_ctx;
    lqmf_config_flag flags[LQMF_CONFIG_MAX_FLAGS]; /* values from the command line */
    size_t n_flags;
} lqmf_config_opts;

/* Take --config PATH, --env-file PATH and --<setting> VALUE or
 * --<setting>=VALUE (setting names with '-': --storage-backend json) out of
 * argv (argv[0] is kept) into opts, which must be zeroed or already hold
 * earlier flags. Values point into argv. Other arguments stay in order. */
lqmf_status lqmf_config_take_args(int *argc, char **argv, lqmf_config_opts *opts);

typedef struct lqmf_config lqmf_config;

/* Load every source by precedence and validate each value; an invalid value
 * is an error naming where it came from (".env:3: GPU_MEMORY_LIMIT: ..."),
 * even when a higher source overrides it. *out is owned by the caller
 * (lqmf_config_free). opts may be NULL. */
lqmf_status lqmf_config_load(const lqmf_config_opts *opts, lqmf_config **out);
void lqmf_config_free(lqmf_config *c); /* NULL: no-op */

/* Values live until lqmf_config_free. Secrets not set are "". */
const char *lqmf_config_get(const lqmf_config *c, lqmf_config_key k);
bool lqmf_config_get_bool(const lqmf_config *c, lqmf_config_key k);
long lqmf_config_get_int(const lqmf_config *c, lqmf_config_key k);
double lqmf_config_get_double(const lqmf_config *c, lqmf_config_key k);
lqmf_config_source lqmf_config_source_of(const lqmf_config *c, lqmf_config_key k);
/* Where exactly: "config.json", "/path/.env:12", "GPU_MEMORY_LIMIT", "--models-dir", "default". */
const char *lqmf_config_origin(const lqmf_config *c, lqmf_config_key k);
const char *lqmf_config_file(const lqmf_config *c);   /* config.json read, NULL when none */
const char *lqmf_config_dotenv(const lqmf_config *c); /* .env read, NULL when none */

/* A secret for display: "****" + its last 4 characters when it has at least
 * 12, else "****"; "" for "". Returns buf. */
const char *lqmf_config_mask(const char *secret, char *buf, size_t n);

/* Put every .env entry that the environment lacks into the environment
 * (setenv), as dotenv loaders do, so other modules (the Hub token) see it. */
lqmf_status lqmf_config_export_dotenv(const lqmf_config *c);

#ifdef __cplusplus
}
#endif
#endif
