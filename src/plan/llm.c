/* LLM providers over their HTTP APIs (formats in include/lqmf/advisor.h):
 * the provider table, request bodies, reply parsing and one POST with curl. */
#include "lqmf/advisor.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REPLY_MAX_BYTES (1u << 20)
#define CONNECT_TIMEOUT_S 5L
#define DEFAULT_TIMEOUT_S 30u
#define ANTHROPIC_VERSION "2023-06-01"

static const lqmf_llm_provider k_providers[] = {
    {"gemini", LQMF_LLM_API_GEMINI, "https://generativelanguage.googleapis.com", "gemini-2.0-flash",
     LQMF_CFG_GEMINI_API_KEY, "GEMINI"},
    {"claude", LQMF_LLM_API_ANTHROPIC, "https://api.anthropic.com", "claude-3-5-haiku-latest",
     LQMF_CFG_ANTHROPIC_API_KEY, "CLAUDE"},
    {"openai", LQMF_LLM_API_OPENAI, "https://api.openai.com", "gpt-4o-mini", LQMF_CFG_OPENAI_API_KEY, "OPENAI"},
    {"local", LQMF_LLM_API_OPENAI, NULL, "local", LQMF_CFG_COUNT, "LOCAL"},
};
#define N_PROVIDERS (sizeof k_providers / sizeof k_providers[0])

size_t lqmf_llm_provider_count(void) { return N_PROVIDERS; }
const lqmf_llm_provider *lqmf_llm_provider_at(size_t i) { return i < N_PROVIDERS ? &k_providers[i] : NULL; }

const lqmf_llm_provider *lqmf_llm_provider_find(const char *name) {
    if (!name) return NULL;
    if (strcasecmp(name, "anthropic") == 0) name = "claude";
    if (strcasecmp(name, "google") == 0) name = "gemini";
    for (size_t i = 0; i < N_PROVIDERS; i++)
        if (strcasecmp(name, k_providers[i].name) == 0) return &k_providers[i];
    return NULL;
}

const char *lqmf_llm_api_name(lqmf_llm_api api) {
    switch (api) {
    case LQMF_LLM_API_OPENAI: return "chat completions";
    case LQMF_LLM_API_ANTHROPIC: return "messages";
    case LQMF_LLM_API_GEMINI: return "generateContent";
    }
    return "?";
}

/* The first non-empty of LQMF_<NAME>_<what>, LQMF_LLM_<what>; NULL when neither. */
static const char *env_override(const lqmf_llm_provider *p, const char *what, char *from, size_t n) {
    snprintf(from, n, "LQMF_%s_%s", p->env_name, what);
    const char *v = getenv(from);
    if (v && *v) return v;
    snprintf(from, n, "LQMF_LLM_%s", what);
    v = getenv(from);
    return v && *v ? v : NULL;
}

lqmf_status lqmf_llm_client_init(const lqmf_config *cfg, const char *name, lqmf_llm_client *out) {
    memset(out, 0, sizeof *out);
    if (!name) name = lqmf_config_get(cfg, LQMF_CFG_LLM_PROVIDER);
    if (!name || !*name || strcasecmp(name, "none") == 0)
        return lqmf_error(LQMF_E_INVALID, "no LLM provider configured (llm_provider is \"none\")");
    const lqmf_llm_provider *p = lqmf_llm_provider_find(name);
    if (!p)
        return lqmf_error(LQMF_E_INVALID, "unknown LLM provider \"%.64s\" (gemini, claude, openai, local, none)",
                          name);
    out->provider = p;
    const char *base = env_override(p, "BASE_URL", out->base_from, sizeof out->base_from);
    if (base)
        snprintf(out->base_url, sizeof out->base_url, "%s", base);
    else if (p->base_url) {
        snprintf(out->base_url, sizeof out->base_url, "%s", p->base_url);
        snprintf(out->base_from, sizeof out->base_from, "default");
    } else {
        snprintf(out->base_url, sizeof out->base_url, "http://%s:%s", lqmf_config_get(cfg, LQMF_CFG_API_HOST),
                 lqmf_config_get(cfg, LQMF_CFG_API_PORT));
        snprintf(out->base_from, sizeof out->base_from, "api_host/api_port");
    }
    size_t bl = strlen(out->base_url);
    while (bl && out->base_url[bl - 1] == '/') out->base_url[--bl] = 0;
    const char *model = env_override(p, "MODEL", out->model_from, sizeof out->model_from);
    if (!model) snprintf(out->model_from, sizeof out->model_from, "default");
    snprintf(out->model, sizeof out->model, "%s", model ? model : p->model);
    out->timeout_s = DEFAULT_TIMEOUT_S;
    const char *t = getenv("LQMF_LLM_TIMEOUT");
    if (t && *t) {
        char *e;
        long v = strtol(t, &e, 10);
        if (*e || v < 1 || v > 600)
            return lqmf_error(LQMF_E_INVALID, "LQMF_LLM_TIMEOUT: bad value \"%.32s\" (seconds, 1..600)", t);
        out->timeout_s = (unsigned)v;
    }
    if (p->key == LQMF_CFG_COUNT) return LQMF_OK;
    const char *key = lqmf_config_get(cfg, p->key);
    if (!key || !*key)
        return lqmf_error(LQMF_E_AUTH, "%s: no API key (set %s in the environment or .env)", p->name,
                          lqmf_config_key_env(p->key));
    if (strlen(key) >= sizeof out->key) return lqmf_error(LQMF_E_INVALID, "%s: API key too long", p->name);
    snprintf(out->key, sizeof out->key, "%s", key);
    snprintf(out->key_from, sizeof out->key_from, "%s", lqmf_config_origin(cfg, p->key));
    return LQMF_OK;
}

/* ---- request and reply --------------------------------------------------- */

lqmf_status lqmf_llm_build_request(const lqmf_llm_client *c, const char *prompt, unsigned max_tokens,
                                   char **url, char **body) {
    *url = *body = NULL;
    json_t *root = NULL;
    lqmf_buf u;
    lqmf_buf_init(&u);
    switch (c->provider->api) {
    case LQMF_LLM_API_OPENAI:
        lqmf_buf_printf(&u, "%s/v1/chat/completions", c->base_url);
        root = json_pack("{s:s, s:[{s:s, s:s}], s:i}", "model", c->model, "messages", "role", "user", "content",
                         prompt, "temperature", 0);
        if (root && max_tokens) json_object_set_new(root, "max_tokens", json_integer(max_tokens));
        break;
    case LQMF_LLM_API_ANTHROPIC:
        lqmf_buf_printf(&u, "%s/v1/messages", c->base_url);
        root = json_pack("{s:s, s:i, s:[{s:s, s:s}], s:i}", "model", c->model, "max_tokens",
                         (int)(max_tokens ? max_tokens : 256), "messages", "role", "user", "content", prompt,
                         "temperature", 0);
        break;
    case LQMF_LLM_API_GEMINI: {
        char *esc = curl_easy_escape(NULL, c->model, 0);
        if (esc) lqmf_buf_printf(&u, "%s/v1beta/models/%s:generateContent", c->base_url, esc);
        curl_free(esc);
        root = json_pack("{s:[{s:s, s:[{s:s}]}], s:{s:i}}", "contents", "role", "user", "parts", "text", prompt,
                         "generationConfig", "temperature", 0);
        if (root && max_tokens)
            json_object_set_new(json_object_get(root, "generationConfig"), "maxOutputTokens",
                                json_integer(max_tokens));
        break;
    }
    }
    *body = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    lqmf_buf_append(&u, "", 1);
    if (!*body || u.failed || u.len < 2) {
        free(*body);
        *body = NULL;
        lqmf_buf_free(&u);
        return lqmf_error(LQMF_E_NOMEM, "%s: cannot build the request", c->provider->name);
    }
    *url = (char *)u.data;
    return LQMF_OK;
}

/* Follow a path of object keys and array indexes ("choices", 0, "message",
 * "content"): keys are strings, indexes are given as "#0". */
static json_t *dig(json_t *v, const char *const *path) {
    for (; v && *path; path++)
        v = (*path)[0] == '#' ? json_array_get(v, strtoul(*path + 1, NULL, 10)) : json_object_get(v, *path);
    return v;
}

lqmf_status lqmf_llm_parse_reply(lqmf_llm_api api, const char *body, size_t len, char **text) {
    static const char *const paths[][7] = { /* NULL-terminated */
        [LQMF_LLM_API_OPENAI] = {"choices", "#0", "message", "content", NULL},
        [LQMF_LLM_API_ANTHROPIC] = {"content", "#0", "text", NULL},
        [LQMF_LLM_API_GEMINI] = {"candidates", "#0", "content", "parts", "#0", "text"},
    };
    static const char *const names[] = {
        [LQMF_LLM_API_OPENAI] = "choices[0].message.content",
        [LQMF_LLM_API_ANTHROPIC] = "content[0].text",
        [LQMF_LLM_API_GEMINI] = "candidates[0].content.parts[0].text",
    };
    *text = NULL;
    if ((unsigned)api > LQMF_LLM_API_GEMINI) return lqmf_error(LQMF_E_INVALID, "unknown LLM API %d", (int)api);
    if (len > REPLY_MAX_BYTES)
        return lqmf_error(LQMF_E_FORMAT, "%s reply: %zu bytes, over the %u limit", lqmf_llm_api_name(api), len,
                          REPLY_MAX_BYTES);
    json_error_t err;
    json_t *root = json_loadb(body, len, 0, &err);
    if (!root)
        return lqmf_error(LQMF_E_FORMAT, "%s reply is not JSON (line %d: %s)", lqmf_llm_api_name(api), err.line,
                          err.text);
    json_t *v = dig(root, paths[api]);
    if (!json_is_string(v)) {
        json_decref(root);
        return lqmf_error(LQMF_E_FORMAT, "%s reply has no %s", lqmf_llm_api_name(api), names[api]);
    }
    *text = strdup(json_string_value(v));
    json_decref(root);
    return *text ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct {
    lqmf_buf b;
    bool over;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *ctx) {
    sink *s = ctx;
    size_t len = size * n;
    if (s->b.len + len > REPLY_MAX_BYTES) {
        s->over = true;
        return 0;
    }
    return lqmf_buf_append(&s->b, p, len) ? len : 0;
}

/* The provider's own error text (error.message in all three APIs), into buf. */
static const char *error_message(const sink *s, char *buf, size_t n) {
    json_t *root = json_loadb((const char *)s->b.data, s->b.len, 0, NULL);
    json_t *m = json_object_get(json_object_get(root, "error"), "message");
    snprintf(buf, n, "%.200s", json_is_string(m) ? json_string_value(m) : "");
    json_decref(root);
    return buf;
}

static lqmf_status http_status_error(const lqmf_llm_client *c, long code, const sink *s) {
    char msg[256];
    const char *name = c->provider->name;
    error_message(s, msg, sizeof msg);
    const char *sep = *msg ? ": " : "";
    if (code == 401 || code == 403)
        return lqmf_error(LQMF_E_AUTH, "%s rejected the API key (HTTP %ld)%s%s", name, code, sep, msg);
    if (code == 429)
        return lqmf_error(LQMF_E_NETWORK, "%s: rate limited or out of quota (HTTP 429)%s%s", name, sep, msg);
    if (code >= 500)
        return lqmf_error(LQMF_E_NETWORK, "%s: server error (HTTP %ld)%s%s", name, code, sep, msg);
    return lqmf_error(LQMF_E_INVALID, "%s refused the request (HTTP %ld)%s%s", name, code, sep, msg);
}

lqmf_status lqmf_llm_complete(const lqmf_llm_client *c, const char *prompt, unsigned max_tokens, char **text,
                              long *http) {
    *text = NULL;
    *http = 0;
    if (c->provider->key != LQMF_CFG_COUNT && !c->key[0])
        return lqmf_error(LQMF_E_AUTH, "%s: no API key (set %s in the environment or .env)", c->provider->name,
                          lqmf_config_key_env(c->provider->key));
    char *url, *body;
    lqmf_status st = lqmf_llm_build_request(c, prompt, max_tokens, &url, &body);
    if (st != LQMF_OK) return st;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    char line[600];
    hd = curl_slist_append(hd, "Content-Type: application/json");
    switch (c->provider->api) {
    case LQMF_LLM_API_OPENAI:
        if (c->key[0]) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", c->key);
            hd = curl_slist_append(hd, line);
        }
        break;
    case LQMF_LLM_API_ANTHROPIC:
        snprintf(line, sizeof line, "x-api-key: %s", c->key);
        hd = curl_slist_append(hd, line);
        hd = curl_slist_append(hd, "anthropic-version: " ANTHROPIC_VERSION);
        break;
    case LQMF_LLM_API_GEMINI:
        snprintf(line, sizeof line, "x-goog-api-key: %s", c->key);
        hd = curl_slist_append(hd, line);
        break;
    }
    memset(line, 0, sizeof line); /* the key does not linger on the stack */
    sink s = {0};
    lqmf_buf_init(&s.b);
    if (!h || !hd) {
        st = lqmf_error(LQMF_E_NOMEM, "%s: cannot set up the HTTP request", c->provider->name);
        goto done;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "lqmf");
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        st = s.over ? lqmf_error(LQMF_E_FORMAT, "%s: reply over %u bytes", c->provider->name, REPLY_MAX_BYTES)
                    : lqmf_error(LQMF_E_NETWORK, "%s: cannot reach %s: %s", c->provider->name, c->base_url,
                                 curl_easy_strerror(rc));
        goto done;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http);
    if (*http != 200) {
        st = http_status_error(c, *http, &s);
        goto done;
    }
    st = lqmf_llm_parse_reply(c->provider->api, s.b.len ? (const char *)s.b.data : "", s.b.len, text);
    if (st != LQMF_OK) lqmf_error_prefix(st, "%s", c->provider->name);
done:
    curl_slist_free_all(hd);
    if (h) curl_easy_cleanup(h);
    lqmf_buf_free(&s.b);
    free(url);
    free(body);
    return st;
}
