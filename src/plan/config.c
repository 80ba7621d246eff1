/* Configuration loading (rules in include/lqmf/config.h). One table lists
 * every setting: names, type, range and default. */
#include "lqmf/config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define FILE_MAX_BYTES (1u << 20)
#define DOTENV_MAX_ENTRIES 10000

typedef enum { T_ENUM, T_PATH, T_TEXT, T_BOOL, T_INT, T_NUM, T_SECRET } value_type;

static const struct {
    const char *name; /* config.json key; the flag is this with '-' for '_' */
    const char *env;  /* environment names, '|'-separated, first wins */
    value_type type;
    const char *def;
    double min, max;     /* T_INT, T_NUM */
    const char *choices; /* T_ENUM, '|'-separated */
} k_keys[LQMF_CFG_COUNT] = {
    [LQMF_CFG_STORAGE_BACKEND] = {"storage_backend", "STORAGE_BACKEND", T_ENUM, "sqlite", 0, 0,
                                  "sqlite|json"},
    [LQMF_CFG_MODELS_DIR] = {"models_dir", "MODELS_DIR", T_PATH, "models", 0, 0, NULL},
    [LQMF_CFG_QUANTIZED_MODELS_DIR] = {"quantized_models_dir", "QUANTIZED_MODELS_DIR", T_PATH,
                                       "quantized-models", 0, 0, NULL},
    [LQMF_CFG_CONFIGS_DIR] = {"configs_dir", "CONFIGS_DIR", T_PATH, "configs", 0, 0, NULL},
    [LQMF_CFG_LOGS_DIR] = {"logs_dir", "LOGS_DIR", T_PATH, "logs", 0, 0, NULL},
    [LQMF_CFG_MCP_DIR] = {"mcp_dir", "MCP_DIR", T_PATH, "mcp", 0, 0, NULL},
    [LQMF_CFG_BENCHMARKS_DIR] = {"benchmarks_dir", "BENCHMARKS_DIR", T_PATH, "benchmarks", 0, 0, NULL},
    [LQMF_CFG_ADAPTERS_DIR] = {"adapters_dir", "ADAPTERS_DIR", T_PATH, "adapters", 0, 0, NULL},
    [LQMF_CFG_AUTO_SAVE_PLANS] = {"auto_save_plans", "AUTO_SAVE_PLANS", T_BOOL, "true", 0, 0, NULL},
    [LQMF_CFG_MAX_RETRIES] = {"max_retries", "MAX_RETRIES", T_INT, "3", 0, 100, NULL},
    [LQMF_CFG_LLM_PROVIDER] = {"llm_provider", "LLM_PROVIDER", T_ENUM, "gemini", 0, 0,
                               "gemini|claude|openai|local|none"},
    [LQMF_CFG_LLM_ADVICE] = {"llm_advice", "LLM_ADVICE", T_BOOL, "false", 0, 0, NULL},
    [LQMF_CFG_GPU_MEMORY_LIMIT] = {"gpu_memory_limit", "GPU_MEMORY_LIMIT", T_NUM, "8", 0.25, 4096, NULL},
    [LQMF_CFG_CPU_FALLBACK] = {"cpu_fallback", "CPU_FALLBACK", T_BOOL, "true", 0, 0, NULL},
    [LQMF_CFG_API_HOST] = {"api_host", "API_HOST", T_TEXT, "127.0.0.1", 0, 0, NULL},
    [LQMF_CFG_API_PORT] = {"api_port", "API_PORT", T_INT, "8000", 1, 65535, NULL},
    [LQMF_CFG_API_RELOAD] = {"api_reload", "API_RELOAD", T_BOOL, "false", 0, 0, NULL},
    [LQMF_CFG_CALIBRATION_TEXT] = {"calibration_text", "CALIBRATION_TEXT", T_PATH, "", 0, 0, NULL},
    [LQMF_CFG_GEMINI_API_KEY] = {"gemini_api_key", "GEMINI_API_KEY", T_SECRET, "", 0, 0, NULL},
    [LQMF_CFG_ANTHROPIC_API_KEY] = {"anthropic_api_key", "ANTHROPIC_API_KEY", T_SECRET, "", 0, 0, NULL},
    [LQMF_CFG_OPENAI_API_KEY] = {"openai_api_key", "OPENAI_API_KEY", T_SECRET, "", 0, 0, NULL},
    [LQMF_CFG_HF_TOKEN] = {"hf_token", "HF_TOKEN|HUGGINGFACE_TOKEN", T_SECRET, "", 0, 0, NULL},
};

static const char *const k_sources[] = {"default", "config.json", ".env", "env", "flag"};

/* Boolean spellings -> canonical. */
static const struct {
    const char *word;
    bool v;
} k_bools[] = {{"true", true}, {"false", false}, {"1", true},  {"0", false},
               {"yes", true},  {"no", false},    {"on", true}, {"off", false}};

struct lqmf_config {
    char *value[LQMF_CFG_COUNT];
    char *origin[LQMF_CFG_COUNT];
    lqmf_config_source source[LQMF_CFG_COUNT];
    char *config_path, *dotenv_path;
    lqmf_dotenv dotenv;
};

const char *lqmf_config_source_name(lqmf_config_source s) { return (unsigned)s < 5 ? k_sources[s] : "?"; }
const char *lqmf_config_key_name(lqmf_config_key k) {
    return (unsigned)k < LQMF_CFG_COUNT ? k_keys[k].name : "?";
}
bool lqmf_config_key_secret(lqmf_config_key k) {
    return (unsigned)k < LQMF_CFG_COUNT && k_keys[k].type == T_SECRET;
}

const char *lqmf_config_key_env(lqmf_config_key k) {
    static char first[LQMF_CFG_COUNT][32];
    if ((unsigned)k >= LQMF_CFG_COUNT) return "?";
    if (!first[k][0])
        snprintf(first[k], sizeof first[k], "%.*s", (int)strcspn(k_keys[k].env, "|"), k_keys[k].env);
    return first[k];
}

/* Index of name among the '|'-separated words of list, (size_t)-1 when absent. */
static size_t list_index(const char *list, const char *name, bool nocase) {
    size_t n = strlen(name), r = 0;
    for (const char *p = list; *p; r++) {
        size_t len = strcspn(p, "|");
        if (len == n && (nocase ? strncasecmp(p, name, n) : strncmp(p, name, n)) == 0) return r;
        p += len + (p[len] ? 1 : 0);
    }
    return (size_t)-1;
}
#define IN_LIST(list, name, nocase) (list_index(list, name, nocase) != (size_t)-1)

bool lqmf_config_key_find(const char *name, lqmf_config_key *out) {
    char norm[64];
    if (strlen(name) >= sizeof norm) return false;
    size_t i = 0;
    for (; name[i]; i++) norm[i] = name[i] == '-' ? '_' : name[i];
    norm[i] = 0;
    for (int k = 0; k < LQMF_CFG_COUNT; k++)
        if (strcmp(norm, k_keys[k].name) == 0 || IN_LIST(k_keys[k].env, name, false)) {
            *out = (lqmf_config_key)k;
            return true;
        }
    return false;
}

/* ---- .env -------------------------------------------------------------------- */

void lqmf_dotenv_free(lqmf_dotenv *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->entries[i].key);
        free(d->entries[i].value);
    }
    free(d->entries);
    d->entries = NULL;
    d->n = 0;
}

static bool key_char(char c, bool first) {
    return isalpha((unsigned char)c) || c == '_' || (!first && (isdigit((unsigned char)c) || c == '.'));
}

/* Only blanks or a comment may follow a closing quote. */
static bool rest_is_blank(const char *s, const char *e) {
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    return s == e || *s == '#';
}

/* Parse the value at [s, e) of one line into buf (capacity >= e - s + 1). */
static const char *dotenv_value(const char *s, const char *e, char *buf) {
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    size_t o = 0;
    if (s < e && (*s == '"' || *s == '\'')) {
        char q = *s++;
        for (; s < e && *s != q; s++) {
            if (q == '"' && *s == '\\' && s + 1 < e) {
                static const char from[] = "ntr\"\\", to[] = "\n\t\r\"\\";
                const char *m = strchr(from, s[1]);
                if (m && s[1]) {
                    buf[o++] = to[m - from];
                    s++;
                    continue;
                }
            }
            buf[o++] = *s;
        }
        if (s == e) return "unterminated quote";
        if (!rest_is_blank(s + 1, e)) return "text after the closing quote";
    } else {
        const char *end = s;
        for (const char *p = s; p < e; p++) {
            if (*p == '#' && p > s && (p[-1] == ' ' || p[-1] == '\t')) break;
            end = p + 1;
        }
        while (end > s && (end[-1] == ' ' || end[-1] == '\t')) end--;
        memcpy(buf, s, (size_t)(end - s));
        o = (size_t)(end - s);
    }
    buf[o] = 0;
    return NULL;
}

lqmf_status lqmf_dotenv_parse(const char *text, size_t len, const char *label, lqmf_dotenv *out) {
    memset(out, 0, sizeof *out);
    if (memchr(text, 0, len)) return lqmf_error(LQMF_E_FORMAT, "%s: contains a NUL byte", label);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3, len -= 3;
    const char *p = text, *end = text + len;
    size_t cap = 0;
    for (unsigned line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *s = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        if (e > s && e[-1] == '\r') e--;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        if (s == e || *s == '#') continue;
        if ((size_t)(e - s) > 7 && strncmp(s, "export", 6) == 0 && (s[6] == ' ' || s[6] == '\t'))
            for (s += 7; s < e && (*s == ' ' || *s == '\t');) s++;
        const char *k = s;
        while (s < e && key_char(*s, s == k)) s++;
        const char *ke = s;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        const char *why = NULL;
        if (s == e || *s != '=')
            why = ke == k ? "expected KEY=VALUE" : "expected '=' after the key";
        else if (ke == k)
            why = "missing key before '='";
        char *value = NULL;
        if (!why) {
            value = malloc((size_t)(e - s) + 1);
            if (!value) {
                lqmf_dotenv_free(out);
                return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", label);
            }
            why = dotenv_value(s + 1, e, value);
        }
        if (!why && out->n == DOTENV_MAX_ENTRIES) why = "too many entries";
        if (why) {
            free(value);
            lqmf_dotenv_free(out);
            return lqmf_error(LQMF_E_FORMAT, "%s:%u: %s: \"%.*s\"", label, line, why,
                              (int)(e - k > 60 ? 60 : e - k), k);
        }
        if (out->n == cap) {
            cap = cap ? 2 * cap : 16;
            lqmf_dotenv_entry *g = realloc(out->entries, cap * sizeof *g);
            if (!g) {
                free(value);
                lqmf_dotenv_free(out);
                return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", label);
            }
            out->entries = g;
        }
        lqmf_dotenv_entry *en = &out->entries[out->n];
        en->key = strndup(k, (size_t)(ke - k));
        en->value = value;
        en->line = line;
        if (!en->key) {
            free(value);
            lqmf_dotenv_free(out);
            return lqmf_error(LQMF_E_NOMEM, "%s: out of memory", label);
        }
        out->n++;
    }
    return LQMF_OK;
}

/* ---- values -------------------------------------------------------------------- */

/* Check text for key k and write its canonical form to canon (64+ bytes, or
 * the text itself for strings). Returns an error description or NULL. */
static const char *canonical(lqmf_config_key k, const char *text, char *canon, size_t n) {
    switch (k_keys[k].type) {
    case T_ENUM:
        if (!IN_LIST(k_keys[k].choices, text, true)) return k_keys[k].choices;
        snprintf(canon, n, "%s", text);
        for (char *p = canon; *p; p++) *p = (char)tolower((unsigned char)*p);
        return NULL;
    case T_BOOL:
        for (size_t i = 0; i < sizeof k_bools / sizeof k_bools[0]; i++)
            if (strcasecmp(text, k_bools[i].word) == 0) {
                snprintf(canon, n, "%s", k_bools[i].v ? "true" : "false");
                return NULL;
            }
        return "true or false";
    case T_INT:
    case T_NUM: {
        char *e;
        errno = 0;
        double v = strtod(text, &e);
        bool integral = k_keys[k].type == T_INT;
        if (e == text || *e || errno || !isfinite(v) || v < k_keys[k].min || v > k_keys[k].max ||
            (integral && v != floor(v)))
            return integral ? "an integer in range" : "a number in range";
        snprintf(canon, n, "%.10g", v);
        return NULL;
    }
    case T_PATH:
    case T_TEXT:
    case T_SECRET: snprintf(canon, n, "%s", text); return NULL;
    }
    return "?";
}

static lqmf_status set_value(lqmf_config *c, lqmf_config_key k, const char *text, lqmf_config_source src,
                             const char *origin) {
    if (!*text) return LQMF_OK; /* empty: unset */
    size_t n = strlen(text) + 64;
    char *canon = malloc(n), *org = strdup(origin);
    if (!canon || !org) {
        free(canon);
        free(org);
        return lqmf_error(LQMF_E_NOMEM, "config: out of memory");
    }
    const char *why = canonical(k, text, canon, n);
    if (why) {
        free(canon);
        free(org);
        if (k_keys[k].type == T_INT || k_keys[k].type == T_NUM)
            return lqmf_error(LQMF_E_INVALID, "%s: %s: bad value \"%.64s\" (%s %g..%g)", origin,
                              k_keys[k].name, text, why, k_keys[k].min, k_keys[k].max);
        return lqmf_error(LQMF_E_INVALID, "%s: %s: bad value \"%.64s\" (expected %s)", origin, k_keys[k].name,
                          text, why);
    }
    free(c->value[k]);
    free(c->origin[k]);
    c->value[k] = canon;
    c->origin[k] = org;
    c->source[k] = src;
    return LQMF_OK;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static lqmf_status load_json(lqmf_config *c, const char *path) {
    char *text;
    size_t len;
    lqmf_status st = lqmf_read_file(path, FILE_MAX_BYTES, &text, &len);
    if (st != LQMF_OK) return st;
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!root) return lqmf_error(LQMF_E_FORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return lqmf_error(LQMF_E_FORMAT, "%s: expected a JSON object", path);
    }
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v) {
        lqmf_config_key k;
        char buf[64];
        const char *textv = buf;
        if (!lqmf_config_key_find(name, &k) || strcmp(name, k_keys[k].name) != 0 ||
            k_keys[k].type == T_SECRET) {
            st = lqmf_error(LQMF_E_INVALID, "%s: unknown setting \"%.64s\"%s", path, name,
                            lqmf_config_key_find(name, &k) && k_keys[k].type == T_SECRET
                                ? " (keys and tokens belong in the environment or .env)"
                                : "");
            break;
        }
        if (json_is_null(v)) continue;
        if (json_is_string(v))
            textv = json_string_value(v);
        else if (json_is_boolean(v))
            textv = json_is_true(v) ? "true" : "false";
        else if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
            snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        else {
            st = lqmf_error(LQMF_E_INVALID, "%s: %s: expected a string, number or boolean", path, name);
            break;
        }
        if (!*textv) {
            st = lqmf_error(LQMF_E_INVALID, "%s: %s: empty value", path, name);
            break;
        }
        if ((st = set_value(c, k, textv, LQMF_CFG_FROM_FILE, path)) != LQMF_OK) break;
    }
    json_decref(root);
    return st;
}

static lqmf_status load_dotenv(lqmf_config *c, const char *path) {
    char *text;
    size_t len;
    lqmf_status st = lqmf_read_file(path, FILE_MAX_BYTES, &text, &len);
    if (st != LQMF_OK) return st;
    st = lqmf_dotenv_parse(text, len, path, &c->dotenv);
    free(text);
    size_t rank[LQMF_CFG_COUNT]; /* position in the key's name list of the name that set it */
    for (int k = 0; k < LQMF_CFG_COUNT; k++) rank[k] = (size_t)-1;
    for (size_t i = 0; st == LQMF_OK && i < c->dotenv.n; i++) {
        const lqmf_dotenv_entry *en = &c->dotenv.entries[i];
        for (int k = 0; k < LQMF_CFG_COUNT; k++) {
            size_t r = list_index(k_keys[k].env, en->key, false);
            if (r == (size_t)-1 || r > rank[k] || !*en->value)
                continue; /* HF_TOKEN beats HUGGINGFACE_TOKEN */
            char origin[4200];
            snprintf(origin, sizeof origin, "%s:%u", path, en->line);
            st = set_value(c, (lqmf_config_key)k, en->value, LQMF_CFG_FROM_DOTENV, origin);
            rank[k] = r;
            break;
        }
    }
    return st;
}

static lqmf_status load_env(lqmf_config *c, const lqmf_config_opts *o) {
    for (int k = 0; k < LQMF_CFG_COUNT; k++) {
        const char *list = k_keys[k].env;
        char name[64];
        /* the last name of the list first, so the first name wins */
        size_t n_names = 1;
        for (const char *p = list; *p; p++) n_names += *p == '|';
        for (size_t want = n_names; want-- > 0;) {
            const char *p = list;
            for (size_t i = 0; i < want; i++) p += strcspn(p, "|") + 1;
            snprintf(name, sizeof name, "%.*s", (int)strcspn(p, "|"), p);
            const char *v = o && o->getenv_fn ? o->getenv_fn(name, o->getenv_ctx) : getenv(name);
            if (!v) continue;
            lqmf_status st = set_value(c, (lqmf_config_key)k, v, LQMF_CFG_FROM_ENV, name);
            if (st != LQMF_OK) return st;
        }
    }
    return LQMF_OK;
}

lqmf_status lqmf_config_load(const lqmf_config_opts *o, lqmf_config **out) {
    *out = NULL;
    lqmf_config *c = calloc(1, sizeof *c);
    if (!c) return lqmf_error(LQMF_E_NOMEM, "config: out of memory");
    lqmf_status st = LQMF_OK;
    for (int k = 0; k < LQMF_CFG_COUNT && st == LQMF_OK; k++) {
        c->value[k] = strdup(k_keys[k].def);
        c->origin[k] = strdup("default");
        if (!c->value[k] || !c->origin[k]) st = lqmf_error(LQMF_E_NOMEM, "config: out of memory");
    }
    const char *cfg = o && o->config_path ? o->config_path : NULL;
    if (!cfg) {
        const char *env =
            o && o->getenv_fn ? o->getenv_fn("LQMF_CONFIG", o->getenv_ctx) : getenv("LQMF_CONFIG");
        cfg = env && *env ? env : file_exists("config.json") ? "config.json" : NULL;
    }
    if (st == LQMF_OK && cfg) {
        c->config_path = strdup(cfg);
        st = c->config_path ? load_json(c, cfg) : lqmf_error(LQMF_E_NOMEM, "config: out of memory");
    }
    const char *denv = o && o->dotenv_path ? o->dotenv_path : file_exists(".env") ? ".env" : NULL;
    if (st == LQMF_OK && denv) {
        c->dotenv_path = strdup(denv);
        st = c->dotenv_path ? load_dotenv(c, denv) : lqmf_error(LQMF_E_NOMEM, "config: out of memory");
    }
    if (st == LQMF_OK) st = load_env(c, o);
    for (size_t i = 0; st == LQMF_OK && o && i < o->n_flags; i++) {
        lqmf_config_key k;
        char origin[80];
        if (!lqmf_config_key_find(o->flags[i].key, &k) || k_keys[k].type == T_SECRET) {
            st = lqmf_error(LQMF_E_INVALID, "unknown setting --%.64s", o->flags[i].key);
            break;
        }
        snprintf(origin, sizeof origin, "--%s", k_keys[k].name);
        for (char *p = origin; *p; p++)
            if (*p == '_') *p = '-';
        st = set_value(c, k, o->flags[i].value, LQMF_CFG_FROM_FLAG, origin);
    }
    if (st != LQMF_OK) {
        lqmf_config_free(c);
        return st;
    }
    *out = c;
    return LQMF_OK;
}

void lqmf_config_free(lqmf_config *c) {
    if (!c) return;
    for (int k = 0; k < LQMF_CFG_COUNT; k++) {
        free(c->value[k]);
        free(c->origin[k]);
    }
    free(c->config_path);
    free(c->dotenv_path);
    lqmf_dotenv_free(&c->dotenv);
    free(c);
}

const char *lqmf_config_get(const lqmf_config *c, lqmf_config_key k) { return c->value[k]; }
lqmf_config_source lqmf_config_source_of(const lqmf_config *c, lqmf_config_key k) { return c->source[k]; }
const char *lqmf_config_origin(const lqmf_config *c, lqmf_config_key k) { return c->origin[k]; }
const char *lqmf_config_file(const lqmf_config *c) { return c->config_path; }
const char *lqmf_config_dotenv(const lqmf_config *c) { return c->dotenv_path; }
bool lqmf_config_get_bool(const lqmf_config *c, lqmf_config_key k) {
    return strcmp(c->value[k], "true") == 0;
}
long lqmf_config_get_int(const lqmf_config *c, lqmf_config_key k) { return strtol(c->value[k], NULL, 10); }
double lqmf_config_get_double(const lqmf_config *c, lqmf_config_key k) { return strtod(c->value[k], NULL); }

const char *lqmf_config_mask(const char *secret, char *buf, size_t n) {
    size_t len = strlen(secret);
    if (!len)
        snprintf(buf, n, "%s", "");
    else if (len >= 12)
        snprintf(buf, n, "****%s", secret + len - 4);
    else
        snprintf(buf, n, "****");
    return buf;
}

lqmf_status lqmf_config_export_dotenv(const lqmf_config *c) {
    for (size_t i = 0; i < c->dotenv.n; i++) {
        const lqmf_dotenv_entry *en = &c->dotenv.entries[i];
        if (getenv(en->key)) continue;
        if (setenv(en->key, en->value, 0) != 0)
            return lqmf_error(LQMF_E_INVALID, "%s:%u: cannot set %s: %s", c->dotenv_path, en->line, en->key,
                              strerror(errno));
    }
    return LQMF_OK;
}

/* ---- command-line flags ------------------------------------------------------------- */

lqmf_status lqmf_config_take_args(int *argc, char **argv, lqmf_config_opts *o) {
    int w = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            argv[w++] = argv[i];
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq ? eq - name : (long)strlen(name)), name);
        lqmf_config_key k;
        bool is_file = strcmp(key, "config") == 0 || strcmp(key, "env-file") == 0;
        bool is_setting = !is_file && islower((unsigned char)key[0]) && lqmf_config_key_find(key, &k) &&
                          k_keys[k].type != T_SECRET;
        if (!is_file && !is_setting) {
            argv[w++] = argv[i];
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= *argc) return lqmf_error(LQMF_E_INVALID, "--%s needs a value", key);
            value = argv[++i];
        }
        if (strcmp(key, "config") == 0)
            o->config_path = value;
        else if (strcmp(key, "env-file") == 0)
            o->dotenv_path = value;
        else {
            if (o->n_flags == LQMF_CONFIG_MAX_FLAGS)
                return lqmf_error(LQMF_E_INVALID, "too many setting flags");
            o->flags[o->n_flags].key = k_keys[k].name;
            o->flags[o->n_flags++].value = value;
        }
    }
    *argc = w;
    argv[w] = NULL;
    return LQMF_OK;
}
