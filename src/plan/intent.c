/* Intent parsing: words -> {action, model, method, bits, type, device,
 * budgets, preference}. Every vocabulary is a table below; the code only
 * walks the words. Passes: action phrase, then values (sizes, bits, types,
 * context, port, keywords), then the model reference among the words left. */
#include "lqmf/intent.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_WORDS 96
#define WORD_MAX 256
#define GIB_F 1073741824.0

/* ---- vocabularies ---------------------------------------------------------- */

static const char *const k_action_names[LQMF_ACTION_COUNT] = {
    "unknown",   "quantize", "plan",     "refine", "test",     "test-list", "test-discover",
    "list",      "stats",    "download", "serve",  "finetune", "hf-login",  "hf-status",
    "hf-logout", "system",   "config",   "help",   "exit",
};

const char *lqmf_action_name(lqmf_action a) {
    return (unsigned)a < LQMF_ACTION_COUNT ? k_action_names[a] : "?";
}

/* Action phrases (space-separated words); at the earliest position the
 * longest phrase wins. */
static const struct {
    const char *words;
    lqmf_action action;
} k_actions[] = {
    {"test list", LQMF_ACTION_TEST_LIST},
    {"test discover", LQMF_ACTION_TEST_DISCOVER},
    {"list tests", LQMF_ACTION_TEST_LIST},
    {"list models", LQMF_ACTION_TEST_LIST},
    {"list quantized models", LQMF_ACTION_TEST_LIST},
    {"discover", LQMF_ACTION_TEST_DISCOVER},
    {"hf login", LQMF_ACTION_HF_LOGIN},
    {"hf logout", LQMF_ACTION_HF_LOGOUT},
    {"hf status", LQMF_ACTION_HF_STATUS},
    {"hf whoami", LQMF_ACTION_HF_STATUS},
    {"huggingface login", LQMF_ACTION_HF_LOGIN},
    {"huggingface logout", LQMF_ACTION_HF_LOGOUT},
    {"huggingface status", LQMF_ACTION_HF_STATUS},
    {"hugging face login", LQMF_ACTION_HF_LOGIN},
    {"hugging face logout", LQMF_ACTION_HF_LOGOUT},
    {"hugging face status", LQMF_ACTION_HF_STATUS},
    {"login", LQMF_ACTION_HF_LOGIN},
    {"log in", LQMF_ACTION_HF_LOGIN},
    {"logout", LQMF_ACTION_HF_LOGOUT},
    {"log out", LQMF_ACTION_HF_LOGOUT},
    {"system info", LQMF_ACTION_SYSTEM},
    {"system", LQMF_ACTION_SYSTEM},
    {"sysinfo", LQMF_ACTION_SYSTEM},
    {"hardware", LQMF_ACTION_SYSTEM},
    {"status", LQMF_ACTION_SYSTEM},
    {"config", LQMF_ACTION_CONFIG},
    {"configuration", LQMF_ACTION_CONFIG},
    {"settings", LQMF_ACTION_CONFIG},
    {"stats", LQMF_ACTION_STATS},
    {"statistics", LQMF_ACTION_STATS},
    {"list", LQMF_ACTION_LIST},
    {"history", LQMF_ACTION_LIST},
    {"experiments", LQMF_ACTION_LIST},
    {"help", LQMF_ACTION_HELP},
    {"?", LQMF_ACTION_HELP},
    {"exit", LQMF_ACTION_EXIT},
    {"quit", LQMF_ACTION_EXIT},
    {"bye", LQMF_ACTION_EXIT},
    {"download", LQMF_ACTION_DOWNLOAD},
    {"fetch", LQMF_ACTION_DOWNLOAD},
    {"pull", LQMF_ACTION_DOWNLOAD},
    {"serve", LQMF_ACTION_SERVE},
    {"server", LQMF_ACTION_SERVE},
    {"deploy", LQMF_ACTION_SERVE},
    {"fine tune", LQMF_ACTION_FINETUNE},
    {"fine-tune", LQMF_ACTION_FINETUNE},
    {"finetune", LQMF_ACTION_FINETUNE},
    {"train", LQMF_ACTION_FINETUNE},
    {"quantize", LQMF_ACTION_QUANTIZE},
    {"quantise", LQMF_ACTION_QUANTIZE},
    {"quant", LQMF_ACTION_QUANTIZE},
    {"compress", LQMF_ACTION_QUANTIZE},
    {"shrink", LQMF_ACTION_QUANTIZE},
    {"convert", LQMF_ACTION_QUANTIZE},
    {"plan", LQMF_ACTION_PLAN},
    {"recommend", LQMF_ACTION_PLAN},
    {"suggest", LQMF_ACTION_PLAN},
    {"test", LQMF_ACTION_TEST},
    {"benchmark", LQMF_ACTION_TEST},
    {"evaluate", LQMF_ACTION_TEST},
    {"eval", LQMF_ACTION_TEST},
};

typedef enum {
    KW_NONE = 0,
    KW_STOP,      /* carries no meaning here */
    KW_METHOD,    /* v: lqmf_method */
    KW_DEVICE,    /* v: lqmf_device */
    KW_RAM,       /* "16 GB RAM" */
    KW_PREF,      /* v: lqmf_pref */
    KW_SMALLER,   /* "smaller": a size bound before "than", else a preference */
    KW_SIZE_WORD, /* a file-size bound follows: "under 3 GB" */
    KW_FIT_WORD,  /* a run-time bound follows: "fits 6 GB" */
    KW_FILTER,    /* v: lqmf_list_filter */
    KW_CTX,       /* "context", "ctx", "tokens" */
    KW_PORT,
    KW_BIT /* "bit", "bits" after a number */
} kw_kind;

static const struct {
    const char *word;
    kw_kind kind;
    int v;
} k_words[] = {
    {"gguf", KW_METHOD, LQMF_METHOD_GGUF},
    {"llama.cpp", KW_METHOD, LQMF_METHOD_GGUF},
    {"llamacpp", KW_METHOD, LQMF_METHOD_GGUF},
    {"ggml", KW_METHOD, LQMF_METHOD_GGUF},
    {"gptq", KW_METHOD, LQMF_METHOD_GPTQ},
    {"autogptq", KW_METHOD, LQMF_METHOD_GPTQ},
    {"auto-gptq", KW_METHOD, LQMF_METHOD_GPTQ},
    {"awq", KW_METHOD, LQMF_METHOD_AWQ},
    {"autoawq", KW_METHOD, LQMF_METHOD_AWQ},
    {"bnb", KW_METHOD, LQMF_METHOD_BNB},
    {"bitsandbytes", KW_METHOD, LQMF_METHOD_BNB},
    {"cpu", KW_DEVICE, LQMF_DEVICE_CPU},
    {"cpus", KW_DEVICE, LQMF_DEVICE_CPU},
    {"cpu-only", KW_DEVICE, LQMF_DEVICE_CPU},
    {"gpu", KW_DEVICE, LQMF_DEVICE_GPU},
    {"gpus", KW_DEVICE, LQMF_DEVICE_GPU},
    {"cuda", KW_DEVICE, LQMF_DEVICE_GPU},
    {"nvidia", KW_DEVICE, LQMF_DEVICE_GPU},
    {"vram", KW_DEVICE, LQMF_DEVICE_GPU},
    {"ram", KW_RAM, 0},
    {"memory", KW_RAM, 0},
    {"quality", KW_PREF, LQMF_PREF_QUALITY},
    {"best", KW_PREF, LQMF_PREF_QUALITY},
    {"highest", KW_PREF, LQMF_PREF_QUALITY},
    {"accurate", KW_PREF, LQMF_PREF_QUALITY},
    {"accuracy", KW_PREF, LQMF_PREF_QUALITY},
    {"fastest", KW_PREF, LQMF_PREF_FASTEST},
    {"fast", KW_PREF, LQMF_PREF_FASTEST},
    {"faster", KW_PREF, LQMF_PREF_FASTEST},
    {"speed", KW_PREF, LQMF_PREF_FASTEST},
    {"quickest", KW_PREF, LQMF_PREF_FASTEST},
    {"smallest", KW_PREF, LQMF_PREF_SMALLEST},
    {"tiniest", KW_PREF, LQMF_PREF_SMALLEST},
    {"minimal", KW_PREF, LQMF_PREF_SMALLEST},
    {"balanced", KW_PREF, LQMF_PREF_BALANCED},
    {"smaller", KW_SMALLER, 0},
    {"less", KW_SIZE_WORD, 0},
    {"lower", KW_SIZE_WORD, 0},
    {"under", KW_SIZE_WORD, 0},
    {"below", KW_SIZE_WORD, 0},
    {"most", KW_SIZE_WORD, 0},
    {"max", KW_SIZE_WORD, 0},
    {"maximum", KW_SIZE_WORD, 0},
    {"than", KW_SIZE_WORD, 0},
    {"<", KW_SIZE_WORD, 0},
    {"<=", KW_SIZE_WORD, 0},
    {"fits", KW_FIT_WORD, 0},
    {"fit", KW_FIT_WORD, 0},
    {"fitting", KW_FIT_WORD, 0},
    {"within", KW_FIT_WORD, 0},
    {"inside", KW_FIT_WORD, 0},
    {"successful", KW_FILTER, LQMF_LIST_SUCCESS},
    {"success", KW_FILTER, LQMF_LIST_SUCCESS},
    {"succeeded", KW_FILTER, LQMF_LIST_SUCCESS},
    {"completed", KW_FILTER, LQMF_LIST_SUCCESS},
    {"failed", KW_FILTER, LQMF_LIST_FAILED},
    {"failures", KW_FILTER, LQMF_LIST_FAILED},
    {"failure", KW_FILTER, LQMF_LIST_FAILED},
    {"unsuccessful", KW_FILTER, LQMF_LIST_FAILED},
    {"context", KW_CTX, 0},
    {"ctx", KW_CTX, 0},
    {"tokens", KW_CTX, 0},
    {"port", KW_PORT, 0},
    {"bit", KW_BIT, 0},
    {"bits", KW_BIT, 0},
    {"-bit", KW_BIT, 0},
};

static const char *const k_stopwords[] = {
    "i",         "i'd",       "i'm",          "want",      "wanna",   "would",    "like",      "to",
    "the",       "a",         "an",           "for",       "with",    "on",       "in",        "into",
    "using",     "use",       "please",       "can",       "could",   "you",      "model",     "models",
    "me",        "my",        "it",           "this",      "that",    "these",    "and",       "or",
    "inference", "precision", "quantization", "quantized", "format",  "version",  "of",        "at",
    "as",        "by",        "via",          "so",        "just",    "now",      "then",      "do",
    "run",       "running",   "should",       "need",      "is",      "are",      "be",        "from",
    "mode",      "weights",   "make",         "get",       "give",    "let's",    "lets",      "some",
    "what",      "which",     "how",          "about",     "instead", "but",      "also",      "too",
    "one",       "show",      "all",          "only",      "locally", "local",    "length",    "window",
    "size",      "an",        "our",          "we",        "your",    "possible", "while",     "keeping",
    "keep",      "no",        "more",         "up",        "has",     "have",     "having",    "graphics",
    "card",      "each",      "again",        "same",      "it's",    "its",      "something", "anything",
};

/* Curated short names: repo, file inside it ("" = whole repo), and
 * '|'-separated aliases. Words of an alias match the user's words with case,
 * spaces, '-' and '_' ignored; the leading words of an alias ("qwen",
 * "llama 3") find every entry they begin, as candidates. */
static const struct {
    const char *repo, *file, *aliases;
} k_models[] = {
    {"openai-community/gpt2", "", "gpt2|gpt 2|gpt2 small"},
    {"openai-community/gpt2-medium", "", "gpt2 medium|gpt 2 medium"},
    {"openai-community/gpt2-large", "", "gpt2 large|gpt 2 large"},
    {"openai-community/gpt2-xl", "", "gpt2 xl|gpt 2 xl"},
    {"microsoft/DialoGPT-small", "", "dialogpt small"},
    {"microsoft/DialoGPT-medium", "", "dialogpt medium"},
    {"microsoft/DialoGPT-large", "", "dialogpt large"},
    {"mistralai/Mistral-7B-Instruct-v0.3", "", "mistral 7b|mistral 7b instruct"},
    {"mistralai/Mistral-7B-v0.3", "", "mistral 7b base"},
    {"meta-llama/Llama-2-7b-hf", "", "llama 2 7b|llama2 7b"},
    {"meta-llama/Llama-2-7b-chat-hf", "", "llama 2 7b chat|llama2 7b chat"},
    {"meta-llama/Meta-Llama-3-8B-Instruct", "", "llama 3 8b|llama3 8b|llama 3 8b instruct"},
    {"meta-llama/Llama-3.1-8B-Instruct", "", "llama 3.1 8b|llama3.1 8b|llama 3.1 8b instruct"},
    {"meta-llama/Llama-3.2-1B-Instruct", "", "llama 3.2 1b|llama3.2 1b"},
    {"meta-llama/Llama-3.2-3B-Instruct", "", "llama 3.2 3b|llama3.2 3b"},
    {"Qwen/Qwen2.5-0.5B-Instruct", "", "qwen2.5 0.5b|qwen 2.5 0.5b"},
    {"Qwen/Qwen2.5-1.5B-Instruct", "", "qwen2.5 1.5b|qwen 2.5 1.5b"},
    {"Qwen/Qwen2.5-7B-Instruct", "", "qwen2.5 7b|qwen 2.5 7b"},
    {"TinyLlama/TinyLlama-1.1B-Chat-v1.0", "", "tinyllama|tiny llama|tinyllama 1.1b|tinyllama chat"},
    {"microsoft/Phi-3-mini-4k-instruct", "", "phi 3 mini|phi3 mini|phi 3 mini 4k"},
    {"HuggingFaceTB/SmolLM2-135M-Instruct", "", "smollm2 135m|smollm 135m"},
    {"HuggingFaceTB/SmolLM2-360M-Instruct", "", "smollm2 360m|smollm 360m"},
    {"google/gemma-2-2b-it", "", "gemma 2 2b|gemma2 2b"},
    {"EleutherAI/gpt-neo-125m", "", "gpt neo 125m|gptneo 125m"},
    {"codellama/CodeLlama-7b-hf", "", "codellama 7b|code llama 7b"},
    {"karpathy/tinyllamas", "stories260K/stories260K.bin", "stories 260k|stories260k"},
    {"karpathy/tinyllamas", "stories15M.bin", "stories 15m|stories15m"},
    {"karpathy/tinyllamas", "stories42M.bin", "stories 42m|stories42m"},
    {"karpathy/tinyllamas", "stories110M.bin", "stories 110m|stories110m"},
};

/* ---- words ------------------------------------------------------------------ */

typedef struct {
    char raw[WORD_MAX]; /* as typed, outer quotes and trailing punctuation removed */
    char low[WORD_MAX]; /* lowercase */
    bool used;
    int kind, kv; /* keyword() of low, cached */
} word;

typedef struct {
    word w[MAX_WORDS];
    size_t n;
} words;

static kw_kind keyword(const char *low, int *v);

static kw_kind wkw(const word *w, int *v) {
    if (v) *v = w->kv;
    return (kw_kind)w->kind;
}

static lqmf_status split_words(const char *text, words *W) {
    W->n = 0;
    const char *p = text;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        const char *e = p;
        while (s < e && strchr("\"'`(", *s)) s++;
        while (e > s && strchr("\"'`),;:!?.", e[-1])) e--;
        if (e == s) {
            if (p - s == 1 && *s == '?')
                e = s + 1; /* a lone "?" is a word */
            else
                continue;
        }
        if (W->n == MAX_WORDS) return lqmf_error(LQMF_E_INVALID, "request has more than %d words", MAX_WORDS);
        if ((size_t)(e - s) >= WORD_MAX)
            return lqmf_error(LQMF_E_INVALID, "word of %zu bytes in the request (at most %d)",
                              (size_t)(e - s), WORD_MAX - 1);
        word *w = &W->w[W->n++];
        memcpy(w->raw, s, (size_t)(e - s));
        w->raw[e - s] = 0;
        for (size_t i = 0; i <= (size_t)(e - s); i++) w->low[i] = (char)tolower((unsigned char)w->raw[i]);
        w->used = false;
        w->kind = (int)keyword(w->low, &w->kv);
    }
    return LQMF_OK;
}

static kw_kind keyword(const char *low, int *v) {
    for (size_t i = 0; i < sizeof k_words / sizeof k_words[0]; i++)
        if (strcmp(low, k_words[i].word) == 0) {
            if (v) *v = k_words[i].v;
            return k_words[i].kind;
        }
    for (size_t i = 0; i < sizeof k_stopwords / sizeof k_stopwords[0]; i++)
        if (strcmp(low, k_stopwords[i]) == 0) return KW_STOP;
    return KW_NONE;
}

/* Next word index after i not yet used, or W->n. */
static size_t next_free(const words *W, size_t i) {
    for (i++; i < W->n && W->w[i].used; i++) {
    }
    return i;
}

/* ---- numbers and units -------------------------------------------------------- */

/* A decimal number at the start of s; *end after it. "8k" counts 1024s when k_ok. */
static bool number(const char *s, double *v, const char **end, bool k_ok) {
    if (!isdigit((unsigned char)*s)) return false;
    char *e;
    double x = strtod(s, &e);
    if (e == s || !isfinite(x)) return false;
    if (k_ok && (*e == 'k' || *e == 'K')) {
        x *= 1024;
        e++;
    }
    *v = x;
    *end = e;
    return true;
}

typedef struct {
    double value;
    double bin, dec;      /* bytes per unit: binary, decimal */
    bool explicit_binary; /* "GiB" */
} size_val;

static const struct {
    const char *unit;
    double bin, dec;
    bool binary;
} k_units[] = {
    {"gb", GIB_F, 1e9, false},         {"g", GIB_F, 1e9, false},
    {"gig", GIB_F, 1e9, false},        {"gigs", GIB_F, 1e9, false},
    {"gigabytes", GIB_F, 1e9, false},  {"gib", GIB_F, GIB_F, true},
    {"mb", 1048576.0, 1e6, false},     {"mib", 1048576.0, 1048576.0, true},
    {"tb", GIB_F * 1024, 1e12, false}, {"tib", GIB_F * 1024, GIB_F * 1024, true},
};

static bool unit(const char *low, size_val *sv) {
    for (size_t i = 0; i < sizeof k_units / sizeof k_units[0]; i++)
        if (strcmp(low, k_units[i].unit) == 0) {
            sv->bin = k_units[i].bin;
            sv->dec = k_units[i].dec;
            sv->explicit_binary = k_units[i].binary;
            return true;
        }
    return false;
}

/* A size at word i ("8GB", "8 GB", "<3GB"); returns the words it takes (0: none). */
static int parse_size(const words *W, size_t i, size_val *sv, bool *lt) {
    const char *s = W->w[i].low, *e;
    *lt = false;
    if (*s == '<') {
        *lt = true;
        s += s[1] == '=' ? 2 : 1;
    }
    if (!number(s, &sv->value, &e, false)) return 0;
    if (*e == '-') e++; /* "8-GB" */
    if (*e) return unit(e, sv) ? 1 : 0;
    size_t j = i + 1;
    return j < W->n && !W->w[j].used && unit(W->w[j].low, sv) ? 2 : 0;
}

/* ---- parse state ---------------------------------------------------------------- */

typedef struct {
    lqmf_intent *in;
    words W;
    const lqmf_intent_opts *opts;
    size_t action_end; /* first word after the action phrase */
    bool said_any;     /* a value beyond the action was given */
    uint64_t ram;      /* "16 GB RAM": the device memory of a CPU target */
} parser;

static lqmf_status set_method(parser *P, lqmf_method m, const char *why) {
    lqmf_intent *in = P->in;
    if (in->method != LQMF_METHOD_ANY && in->method != m)
        return lqmf_error(LQMF_E_INVALID, "the request names both %s and %s (\"%s\")",
                          lqmf_method_name(in->method), lqmf_method_name(m), why);
    in->method = m;
    P->said_any = true;
    return LQMF_OK;
}

static lqmf_status set_bits(parser *P, double b, const char *why) {
    if (b != floor(b) || ((b < 2 || b > 8) && b != 16))
        return lqmf_error(LQMF_E_INVALID, "\"%s\": %g bits is not offered (2..8, or 16 for no quantization)",
                          why, b);
    if (P->in->bits && P->in->bits != (unsigned)b)
        return lqmf_error(LQMF_E_INVALID, "the request names both %u and %g bits (\"%s\")", P->in->bits, b,
                          why);
    P->in->bits = (unsigned)b;
    P->said_any = true;
    return LQMF_OK;
}

static lqmf_status set_scheme(parser *P, const lqmf_scheme *s, const char *why) {
    lqmf_intent *in = P->in;
    if (in->scheme && in->scheme != s)
        return lqmf_error(LQMF_E_INVALID, "the request names both %s and %s", in->scheme->name, s->name);
    in->scheme = s;
    lqmf_status st = set_method(P, s->method, why);
    return st != LQMF_OK ? st : set_bits(P, s->bits, why);
}

static lqmf_status set_device(parser *P, lqmf_device d, const char *why) {
    if (P->in->device != LQMF_DEVICE_ANY && P->in->device != d)
        return lqmf_error(LQMF_E_INVALID, "the request names both cpu and gpu (\"%s\")", why);
    P->in->device = d;
    P->said_any = true;
    return LQMF_OK;
}

static lqmf_status check_bytes(double bytes, const char *why) {
    if (!(bytes >= 1048576.0 && bytes <= 1e15))
        return lqmf_error(LQMF_E_INVALID, "\"%s\": size out of range (1 MiB .. 1 PB)", why);
    return LQMF_OK;
}

/* A size at word i: device memory, a run-time budget or a file-size budget,
 * by the words around it. */
static lqmf_status take_size(parser *P, size_t i, int nw, const size_val *sv, bool lt) {
    words *W = &P->W;
    lqmf_intent *in = P->in;
    const char *why = W->w[i].raw;
    for (int k = 0; k < nw; k++) W->w[i + k].used = true;
    size_t j = next_free(W, i + (size_t)nw - 1);
    if (j < W->n && strcmp(W->w[j].low, "of") == 0) j = next_free(W, j);
    int v = 0;
    kw_kind after = j < W->n ? wkw(&W->w[j], &v) : KW_NONE;
    /* "8GB GPU", "8 GB of VRAM", "16 GB RAM" */
    if ((after == KW_DEVICE && v == LQMF_DEVICE_GPU) || after == KW_RAM) {
        W->w[j].used = true;
        lqmf_status st = check_bytes(sv->value * sv->bin, why);
        if (st != LQMF_OK) return st;
        if (after == KW_RAM) {
            P->ram = (uint64_t)(sv->value * sv->bin);
            return LQMF_OK;
        }
        in->device_mem = (uint64_t)(sv->value * sv->bin);
        return set_device(P, LQMF_DEVICE_GPU, W->w[j].raw);
    }
    /* the nearest bound word before it: "under", "smaller than", "fits in an" */
    kw_kind before = lt ? KW_SIZE_WORD : KW_NONE;
    for (size_t b = i; before == KW_NONE && b > 0 && i - b < 4; b--) {
        kw_kind k = wkw(&W->w[b - 1], &v);
        if (k == KW_SIZE_WORD || k == KW_FIT_WORD || k == KW_SMALLER)
            before = k;
        else if (k == KW_DEVICE && v == LQMF_DEVICE_GPU)
            before = KW_DEVICE; /* "GPU with 8 GB" */
    }
    if (before == KW_DEVICE) {
        lqmf_status st = check_bytes(sv->value * sv->bin, why);
        if (st != LQMF_OK) return st;
        in->device_mem = (uint64_t)(sv->value * sv->bin);
        return set_device(P, LQMF_DEVICE_GPU, why);
    }
    P->said_any = true;
    bool fit = before == KW_FIT_WORD;
    double bytes = sv->value * (fit || sv->explicit_binary ? sv->bin : sv->dec);
    lqmf_status st = check_bytes(bytes, why);
    if (st == LQMF_OK) *(fit ? &in->mem_budget : &in->size_budget) = (uint64_t)bytes;
    return st;
}

/* "4-bit", "4bit", "4 bits", "int4", "w4a16", "q4": returns words taken. */
static int parse_bits(const words *W, size_t i, double *bits) {
    const char *s = W->w[i].low, *e;
    if (strncmp(s, "int", 3) == 0 && number(s + 3, bits, &e, false) && !*e) return 1;
    if (s[0] == 'w' && number(s + 1, bits, &e, false) && e[0] == 'a') return 1;
    if (s[0] == 'q' && number(s + 1, bits, &e, false) && !*e) return 1;
    if (!number(s, bits, &e, false)) return 0;
    if (strcmp(e, "-bit") == 0 || strcmp(e, "bit") == 0 || strcmp(e, "-bits") == 0 || strcmp(e, "bits") == 0)
        return 1;
    size_t j = i + 1;
    if (!*e && j < W->n && !W->w[j].used && wkw(&W->w[j], NULL) == KW_BIT) return 2;
    return 0;
}

/* A named type: "Q4_K_M", "q8_0", "f16", "nf4", "GPTQ-4bit"; false when the
 * word is not type-like. An unknown type-like word is an error. */
static lqmf_status parse_scheme(parser *P, size_t i, bool *taken) {
    const char *low = P->W.w[i].low;
    *taken = false;
    bool typelike = (low[0] == 'q' && isdigit((unsigned char)low[1])) ||
                    (low[0] == 'i' && low[1] == 'q' && isdigit((unsigned char)low[2]));
    const lqmf_scheme *s = lqmf_plan_scheme_find(P->W.w[i].raw);
    if (s && keyword(low, NULL) == KW_METHOD) s = NULL; /* "gptq" is a method, not GPTQ-4bit */
    if (!s && strcmp(low, "half") == 0) s = lqmf_plan_scheme_find("F16");
    if (!s && strcmp(low, "llm.int8") == 0) s = lqmf_plan_scheme_find("INT8");
    if (!s && !typelike) return LQMF_OK;
    if (!s)
        return lqmf_error(LQMF_E_INVALID,
                          "\"%s\" is not a quantization type lqmf plans (try Q4_K_M, Q8_0, NF4)",
                          P->W.w[i].raw);
    *taken = true;
    P->W.w[i].used = true;
    return set_scheme(P, s, P->W.w[i].raw);
}

/* "8k context", "context of 8192", "4096 tokens", "ctx 32k" at word i (a KW_CTX word). */
static lqmf_status take_ctx(parser *P, size_t i) {
    words *W = &P->W;
    double v;
    const char *e;
    size_t at = W->n;
    if (i > 0 && !W->w[i - 1].used && number(W->w[i - 1].low, &v, &e, true) && !*e) at = i - 1;
    for (size_t j = i + 1; at == W->n && j < W->n && j <= i + 3; j++) {
        if (number(W->w[j].low, &v, &e, true) && !*e)
            at = j;
        else if (wkw(&W->w[j], NULL) != KW_STOP)
            break;
    }
    if (at == W->n) return LQMF_OK; /* "context" alone */
    if (v < 16 || v > 16777216 || v != floor(v))
        return lqmf_error(LQMF_E_INVALID, "\"%s\": context of %g tokens is out of range (16..16M)",
                          W->w[at].raw, v);
    W->w[i].used = W->w[at].used = true;
    P->in->n_ctx = (uint32_t)v;
    P->said_any = true;
    return LQMF_OK;
}

static lqmf_status take_port(parser *P, size_t i) {
    words *W = &P->W;
    size_t j = next_free(W, i);
    double v;
    const char *e;
    if (j >= W->n || !number(W->w[j].low, &v, &e, false) || *e) return LQMF_OK;
    if (v < 1 || v > 65535 || v != floor(v))
        return lqmf_error(LQMF_E_INVALID, "\"%s\": port must be 1..65535", W->w[j].raw);
    W->w[i].used = W->w[j].used = true;
    P->in->port = (uint16_t)v;
    return LQMF_OK;
}

/* The value pass: every word that states a setting. */
static lqmf_status parse_values(parser *P) {
    words *W = &P->W;
    lqmf_intent *in = P->in;
    for (size_t i = 0; i < W->n; i++) {
        word *w = &W->w[i];
        if (w->used) continue;
        size_val sv;
        bool lt, taken;
        double bits;
        int n;
        lqmf_status st = LQMF_OK;
        if ((n = parse_size(W, i, &sv, &lt)) > 0) {
            st = take_size(P, i, n, &sv, lt);
        } else if ((n = parse_bits(W, i, &bits)) > 0) {
            for (int k = 0; k < n; k++) W->w[i + (size_t)k].used = true;
            st = set_bits(P, bits, w->raw);
        } else if ((st = parse_scheme(P, i, &taken)) != LQMF_OK || taken) {
            /* handled */
        } else {
            int v = 0;
            switch (wkw(w, &v)) {
            case KW_METHOD:
                w->used = true;
                st = set_method(P, (lqmf_method)v, w->raw);
                break;
            case KW_DEVICE:
                w->used = true;
                st = set_device(P, (lqmf_device)v, w->raw);
                break;
            case KW_PREF:
                w->used = true;
                if (!in->pref_said) in->pref = (lqmf_pref)v;
                in->pref_said = P->said_any = true;
                break;
            case KW_SMALLER: {
                size_t j = next_free(W, i);
                if (j < W->n && strcmp(W->w[j].low, "than") == 0) break; /* a bound: read with the size */
                w->used = true;
                if (!in->pref_said) in->pref = LQMF_PREF_SMALLEST;
                in->pref_said = P->said_any = true;
                break;
            }
            case KW_FILTER:
                w->used = true;
                in->filter = (lqmf_list_filter)v;
                break;
            case KW_CTX: st = take_ctx(P, i); break;
            case KW_PORT: st = take_port(P, i); break;
            default: break;
            }
        }
        if (st != LQMF_OK) return st;
    }
    return LQMF_OK;
}

/* ---- the action ------------------------------------------------------------------- */

/* Does phrase (space-separated) match the words from i? Returns its length in words. */
static size_t phrase_at(const words *W, size_t i, const char *phrase) {
    size_t n = 0;
    const char *p = phrase;
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (i + n >= W->n || strlen(W->w[i + n].low) != len || strncmp(W->w[i + n].low, p, len) != 0)
            return 0;
        n++;
        p += len + (sp ? 1 : 0);
    }
    return n;
}

static void parse_action(parser *P) {
    words *W = &P->W;
    for (size_t i = 0; i < W->n; i++) {
        size_t best = 0;
        lqmf_action a = LQMF_ACTION_UNKNOWN;
        for (size_t k = 0; k < sizeof k_actions / sizeof k_actions[0]; k++) {
            size_t n = phrase_at(W, i, k_actions[k].words);
            if (n > best) {
                best = n;
                a = k_actions[k].action;
            }
        }
        if (best) {
            for (size_t k = 0; k < best; k++) W->w[i + k].used = true;
            P->in->action = a;
            P->action_end = i + best;
            return;
        }
    }
}

/* ---- model references --------------------------------------------------------------- */

/* Lowercase s[0..n) without spaces, '-' and '_', appended to out (cap bytes). */
static void compact_append(char *out, size_t cap, const char *s, size_t n) {
    size_t o = strlen(out);
    for (size_t i = 0; i < n && s[i] && o + 1 < cap; i++)
        if (s[i] != ' ' && s[i] != '-' && s[i] != '_') out[o++] = (char)tolower((unsigned char)s[i]);
    out[o] = 0;
}

static bool is_repo_id(const char *s) {
    const char *colon = strchr(s, ':'); /* "org/name:file" */
    const char *end = colon ? colon : s + strlen(s);
    const char *slash = memchr(s, '/', (size_t)(end - s));
    if (!slash || memchr(slash + 1, '/', (size_t)(end - slash - 1)) || (colon && !colon[1])) return false;
    const char *parts[2][2] = {{s, slash}, {slash + 1, end}};
    for (int k = 0; k < 2; k++) {
        const char *a = parts[k][0], *b = parts[k][1];
        if (b - a < 1 || b - a > 96 || strchr(".-", *a) || strchr(".-", b[-1])) return false;
        for (const char *c = a; c < b; c++) {
            if (!isalnum((unsigned char)*c) && !strchr("._-", *c)) return false;
            if (c + 1 < b && strchr(".-", *c) && c[1] == *c) return false;
        }
    }
    char org[128];
    snprintf(org, sizeof org, "%.*s", (int)(slash - s), s);
    for (char *c = org; *c; c++) *c = (char)tolower((unsigned char)*c);
    return keyword(org, NULL) == KW_NONE; /* "cpu/gpu", "gguf/gptq" are not repos */
}

static bool is_local_path(const char *s, bool probe) {
    static const char *const prefixes[] = {"/", "./", "../", "~/"};
    static const char *const exts[] = {".gguf", ".bin", ".safetensors", ".pt", ".pth"};
    for (size_t i = 0; i < 4; i++)
        if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) return true;
    size_t n = strlen(s);
    for (size_t i = 0; i < 5; i++) {
        size_t m = strlen(exts[i]);
        if (n > m && strcasecmp(s + n - m, exts[i]) == 0 && !strchr(s, ':')) return true;
    }
    struct stat st;
    return probe && stat(s, &st) == 0;
}

static void add_candidate(lqmf_model_ref *r, const char *repo, const char *file) {
    char c[128];
    snprintf(c, sizeof c, "%s%s%s", repo, *file ? ":" : "", file);
    for (size_t i = 0; i < r->n_candidates; i++)
        if (strcmp(r->candidates[i], c) == 0) return;
    if (r->n_candidates < LQMF_INTENT_MAX_CANDIDATES)
        snprintf(r->candidates[r->n_candidates++], 128, "%s", c);
}

/* The short-name table compacted once: every alias whole, and every run of
 * its leading words (a prefix naming a family). */
typedef struct {
    char key[64];
    uint16_t entry;
    bool whole;
} alias_key;
#define MAX_ALIAS_KEYS 1024
static alias_key g_alias[MAX_ALIAS_KEYS];
static size_t g_n_alias;
static pthread_once_t g_alias_once = PTHREAD_ONCE_INIT;

static void add_alias_key(size_t entry, const char *s, size_t n, bool whole) {
    if (g_n_alias == MAX_ALIAS_KEYS) return;
    alias_key *a = &g_alias[g_n_alias++];
    a->key[0] = 0;
    compact_append(a->key, sizeof a->key, s, n);
    a->entry = (uint16_t)entry;
    a->whole = whole;
}

static void build_alias_keys(void) {
    for (size_t e = 0; e < sizeof k_models / sizeof k_models[0]; e++) {
        for (const char *a = k_models[e].aliases; *a;) {
            size_t len = strcspn(a, "|");
            for (size_t i = 0; i <= len; i++)
                if (i == len || a[i] == ' ') add_alias_key(e, a, i, i == len);
            a += len + (a[len] ? 1 : 0);
        }
        if (!*k_models[e].file) {
            const char *name = strchr(k_models[e].repo, '/') + 1;
            add_alias_key(e, name, strlen(name), true);
        }
    }
}

/* Candidates for the compacted words key: exact aliases (and repo names and
 * history names) when prefix is false, else the entries whose aliases begin
 * with key's words. */
static void lookup(const char *key, bool prefix, const lqmf_intent_opts *opts, lqmf_model_ref *r) {
    pthread_once(&g_alias_once, build_alias_keys);
    for (size_t i = 0; i < g_n_alias; i++)
        if (g_alias[i].whole != prefix && strcmp(g_alias[i].key, key) == 0)
            add_candidate(r, k_models[g_alias[i].entry].repo, k_models[g_alias[i].entry].file);
    for (size_t h = 0; !prefix && opts && h < opts->n_history; h++) {
        const char *id = opts->history[h], *slash = strchr(id, '/');
        char c[128] = "";
        compact_append(c, sizeof c, slash ? slash + 1 : id, strlen(slash ? slash + 1 : id));
        if (strcmp(c, key) == 0 && is_repo_id(id)) add_candidate(r, id, "");
    }
}

static void set_repo(lqmf_model_ref *r, const char *text, const char *id) {
    r->kind = LQMF_REF_REPO;
    snprintf(r->text, sizeof r->text, "%s", text);
    const char *colon = strchr(id, ':');
    snprintf(r->id, sizeof r->id, "%.*s", colon ? (int)(colon - id) : (int)strlen(id), id);
    snprintf(r->file, sizeof r->file, "%s", colon ? colon + 1 : "");
}

/* Longest run of free, non-keyword words from i matching an alias; returns its length. */
static size_t match_alias(parser *P, size_t i, bool prefix, lqmf_model_ref *r) {
    words *W = &P->W;
    for (size_t n = 6; n >= 1; n--) {
        if (i + n > W->n) continue;
        char key[256] = "", text[128] = "";
        bool ok = true;
        for (size_t k = 0; k < n && ok; k++) {
            const word *w = &W->w[i + k];
            ok = !w->used && wkw(w, NULL) == KW_NONE;
            compact_append(key, sizeof key, w->low, strlen(w->low));
            size_t t = strlen(text);
            snprintf(text + t, sizeof text - t, "%s%s", k ? " " : "", w->raw);
        }
        if (!ok || !*key) continue;
        lqmf_model_ref c = {0};
        lookup(key, prefix, P->opts, &c);
        if (!c.n_candidates) continue;
        *r = c;
        snprintf(r->text, sizeof r->text, "%s", text);
        if (c.n_candidates == 1 && !prefix) {
            set_repo(r, text, c.candidates[0]);
            r->from_alias = true;
            r->n_candidates = 0;
        } else {
            r->kind = LQMF_REF_AMBIGUOUS;
        }
        for (size_t k = 0; k < n; k++) W->w[i + k].used = true;
        return n;
    }
    return 0;
}

/* Find the model among the free words: a path, an "org/name", a short name,
 * then a prefix of one; with an explicit action, else the first free words
 * after it as an unknown name. */
static void parse_model(parser *P, bool name_expected) {
    words *W = &P->W;
    lqmf_model_ref *r = &P->in->model;
    for (size_t i = 0; i < W->n; i++) {
        word *w = &W->w[i];
        if (w->used) continue;
        bool probe = P->opts && P->opts->probe_fs;
        if (is_local_path(w->raw, probe)) {
            r->kind = LQMF_REF_LOCAL;
            snprintf(r->text, sizeof r->text, "%s", w->raw);
            snprintf(r->id, sizeof r->id, "%s", w->raw);
            w->used = true;
            return;
        }
        if (is_repo_id(w->raw)) {
            set_repo(r, w->raw, w->raw);
            w->used = true;
            return;
        }
    }
    for (int prefix = 0; prefix < 2; prefix++)
        for (size_t i = 0; i < W->n; i++)
            if (match_alias(P, i, prefix, r)) return;
    if (!name_expected) return;
    char text[128] = "";
    for (size_t i = P->action_end; i < W->n; i++) {
        const word *w = &W->w[i];
        bool free_word = !w->used && wkw(w, NULL) == KW_NONE;
        if (!free_word && *text) break;
        if (!free_word) continue;
        size_t t = strlen(text);
        snprintf(text + t, sizeof text - t, "%s%s", t ? " " : "", w->raw);
    }
    if (*text) {
        r->kind = LQMF_REF_UNKNOWN;
        snprintf(r->text, sizeof r->text, "%s", text);
    }
}

/* TEST: the first free word after "test" names the quantized model. */
static void parse_target(parser *P) {
    for (size_t i = P->action_end; i < P->W.n; i++) {
        word *w = &P->W.w[i];
        if (w->used || wkw(w, NULL) == KW_STOP) continue;
        snprintf(P->in->target, sizeof P->in->target, "%s", w->raw);
        w->used = true;
        return;
    }
    P->in->action = LQMF_ACTION_TEST_LIST; /* "test" alone: list what can be tested */
}

static bool wants_model(lqmf_action a) {
    return a == LQMF_ACTION_QUANTIZE || a == LQMF_ACTION_PLAN || a == LQMF_ACTION_DOWNLOAD ||
           a == LQMF_ACTION_SERVE || a == LQMF_ACTION_FINETUNE || a == LQMF_ACTION_UNKNOWN;
}

static lqmf_method default_method(lqmf_device d) {
    return d == LQMF_DEVICE_GPU ? LQMF_METHOD_GPTQ : LQMF_METHOD_GGUF;
}

static lqmf_status check_text(const char *text) {
    size_t n = strlen(text);
    if (n > LQMF_INTENT_MAX_BYTES)
        return lqmf_error(LQMF_E_INVALID, "request of %zu bytes is longer than %d", n, LQMF_INTENT_MAX_BYTES);
    if (!lqmf_utf8_valid(text, n)) return lqmf_error(LQMF_E_INVALID, "request is not valid UTF-8");
    return LQMF_OK;
}

lqmf_status lqmf_intent_parse(const char *text, const lqmf_intent_opts *opts, lqmf_intent *out) {
    memset(out, 0, sizeof *out);
    lqmf_status st = check_text(text);
    if (st != LQMF_OK) return st;
    parser *P = calloc(1, sizeof *P);
    if (!P) return lqmf_error(LQMF_E_NOMEM, "intent: out of memory");
    P->in = out;
    P->opts = opts;
    st = split_words(text, &P->W);
    if (st == LQMF_OK) {
        parse_action(P);
        st = parse_values(P);
    }
    if (st == LQMF_OK) {
        if (P->ram && out->device != LQMF_DEVICE_GPU && !out->device_mem) {
            out->device = LQMF_DEVICE_CPU;
            out->device_mem = P->ram;
            P->said_any = true;
        }
        lqmf_action a = out->action;
        if (a == LQMF_ACTION_TEST)
            parse_target(P);
        else if (wants_model(a))
            parse_model(P, a != LQMF_ACTION_UNKNOWN);
        if (a == LQMF_ACTION_UNKNOWN && out->model.kind != LQMF_REF_NONE)
            out->action = LQMF_ACTION_QUANTIZE;
        else if (a == LQMF_ACTION_UNKNOWN && P->said_any)
            out->action = LQMF_ACTION_REFINE;
        a = out->action;
        if (out->method == LQMF_METHOD_ANY && (a == LQMF_ACTION_QUANTIZE || a == LQMF_ACTION_PLAN)) {
            out->method = default_method(out->device);
            out->method_defaulted = true;
        }
    }
    free(P);
    if (st != LQMF_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    return LQMF_OK;
}

lqmf_status lqmf_intent_resolve(const char *name, const lqmf_intent_opts *opts, lqmf_model_ref *out) {
    memset(out, 0, sizeof *out);
    lqmf_status st = check_text(name);
    if (st != LQMF_OK) return st;
    parser *P = calloc(1, sizeof *P);
    lqmf_intent *in = calloc(1, sizeof *in);
    if (!P || !in) {
        free(P);
        free(in);
        return lqmf_error(LQMF_E_NOMEM, "intent: out of memory");
    }
    P->in = in;
    P->opts = opts;
    st = split_words(name, &P->W);
    if (st == LQMF_OK) {
        parse_model(P, true);
        *out = in->model;
    }
    free(P);
    free(in);
    return st;
}

void lqmf_intent_set_device(lqmf_intent *in, lqmf_device dev) {
    in->device = dev;
    if (in->method_defaulted) in->method = default_method(dev);
}

void lqmf_intent_merge(lqmf_intent *base, const lqmf_intent *r) {
    if (r->model.kind != LQMF_REF_NONE) base->model = r->model;
    if (r->method != LQMF_METHOD_ANY && !r->method_defaulted) {
        base->method = r->method;
        base->method_defaulted = false;
    }
    if (r->bits) base->bits = r->bits;
    if (r->scheme) base->scheme = r->scheme;
    if (r->device != LQMF_DEVICE_ANY) lqmf_intent_set_device(base, r->device);
    if (r->device_mem) base->device_mem = r->device_mem;
    if (r->size_budget) base->size_budget = r->size_budget;
    if (r->mem_budget) base->mem_budget = r->mem_budget;
    if (r->n_ctx) base->n_ctx = r->n_ctx;
    if (r->pref_said) {
        base->pref = r->pref;
        base->pref_said = true;
    }
    if (r->port) base->port = r->port;
}

lqmf_status lqmf_intent_describe(const lqmf_intent *in, lqmf_buf *out) {
    static const char *const filters[] = {"", "success", "failed"};
    const lqmf_model_ref *r = &in->model;
    lqmf_buf_printf(out, "%s", lqmf_action_name(in->action));
    switch (r->kind) {
    case LQMF_REF_REPO: lqmf_buf_printf(out, " model=%s%s%s", r->id, *r->file ? ":" : "", r->file); break;
    case LQMF_REF_LOCAL: lqmf_buf_printf(out, " path=%s", r->id); break;
    case LQMF_REF_AMBIGUOUS:
        lqmf_buf_printf(out, " model?=");
        for (size_t i = 0; i < r->n_candidates; i++)
            lqmf_buf_printf(out, "%s%s", i ? "," : "", r->candidates[i]);
        break;
    case LQMF_REF_UNKNOWN: lqmf_buf_printf(out, " model!=%s", r->text); break;
    case LQMF_REF_NONE: break;
    }
    if (*in->target) lqmf_buf_printf(out, " target=%s", in->target);
    if (in->filter) lqmf_buf_printf(out, " filter=%s", filters[in->filter]);
    if (in->method)
        lqmf_buf_printf(out, " method=%s%s", lqmf_method_name(in->method), in->method_defaulted ? "*" : "");
    if (in->bits) lqmf_buf_printf(out, " bits=%u", in->bits);
    if (in->scheme) lqmf_buf_printf(out, " type=%s", in->scheme->name);
    if (in->device) lqmf_buf_printf(out, " device=%s", lqmf_device_name(in->device));
    if (in->device_mem) lqmf_buf_printf(out, " mem=%gGiB", (double)in->device_mem / GIB_F);
    if (in->size_budget) lqmf_buf_printf(out, " size<%gGB", (double)in->size_budget / 1e9);
    if (in->mem_budget) lqmf_buf_printf(out, " fit<%gGiB", (double)in->mem_budget / GIB_F);
    if (in->n_ctx) lqmf_buf_printf(out, " ctx=%u", in->n_ctx);
    if (in->pref_said) lqmf_buf_printf(out, " pref=%s", lqmf_pref_name(in->pref));
    if (in->port) lqmf_buf_printf(out, " port=%u", in->port);
    return out->failed ? lqmf_error(LQMF_E_NOMEM, "intent: out of memory") : LQMF_OK;
}
