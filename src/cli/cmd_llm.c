/* lqmf llm status [--check] | switch PROVIDER | providers: the LLM provider
 * that may advise on plans (include/lqmf/advisor.h). Keys are never printed,
 * only masked. */
#include "cli.h"
#include "json_out.h"
#include "lqmf/advisor.h"
#include "lqmf/config.h"
#include "table.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CONFIG_MAX_BYTES (1u << 20)

static int cmd_providers(void) {
    lqmf_table t;
    lqmf_table_init(&t, 5);
    lqmf_table_add(&t, (const char *[]){"Provider", "API", "Default base URL", "Default model", "Key"});
    for (size_t i = 0; i < lqmf_llm_provider_count(); i++) {
        const lqmf_llm_provider *p = lqmf_llm_provider_at(i);
        lqmf_table_add(&t, (const char *[]){p->name, lqmf_llm_api_name(p->api),
                                            p->base_url ? p->base_url : "http://API_HOST:API_PORT", p->model,
                                            p->key == LQMF_CFG_COUNT ? "(none)" : lqmf_config_key_env(p->key)});
    }
    lqmf_table_print(&t, stdout);
    lqmf_table_free(&t);
    printf("Base URL and model: LQMF_<PROVIDER>_BASE_URL / LQMF_LLM_BASE_URL, LQMF_<PROVIDER>_MODEL / "
           "LQMF_LLM_MODEL.\n");
    return 0;
}

#define LLM_JSON_KEYS                                                                                        \
    "status --json keys: provider, provider_from, advice (every_plan | on_request | off), and unless\n"      \
    "  the provider is none: api, model, model_from, base_url, base_from, key {needed, present, env,\n"      \
    "  masked, from}; with --check also check {ok, http, seconds, reply, error}. Exit codes: 0 ok,\n"        \
    "  1 the check failed, 2 an unknown provider."

/* The status as JSON (text is rendered from it); *rc: 1 when the check
 * failed. NULL (*err set) when the provider cannot be set up at all. */
static json_t *status_json(const lqmf_config *cfg, bool check, int *rc, lqmf_status *err) {
    const char *name = lqmf_config_get(cfg, LQMF_CFG_LLM_PROVIDER);
    bool none = strcasecmp(name, "none") == 0;
    json_t *o = json_pack("{s:s, s:s, s:s}", "provider", name, "provider_from",
                          lqmf_config_origin(cfg, LQMF_CFG_LLM_PROVIDER), "advice",
                          lqmf_advice_wanted(cfg, false) ? "every_plan"
                          : none                         ? "off"
                                                         : "on_request");
    if (none || !o) return o;
    lqmf_llm_client c;
    lqmf_status st = lqmf_llm_client_init(cfg, NULL, &c);
    if (!c.provider) {
        *err = st;
        json_decref(o);
        return NULL;
    }
    bool needed = c.provider->key != LQMF_CFG_COUNT;
    char masked[64];
    json_object_set_new(o, "api", json_string(lqmf_llm_api_name(c.provider->api)));
    json_object_set_new(o, "model", json_string(c.model));
    json_object_set_new(o, "model_from", json_string(c.model_from));
    json_object_set_new(o, "base_url", json_string(c.base_url));
    json_object_set_new(o, "base_from", json_string(c.base_from));
    json_object_set_new(
        o, "key",
        json_pack("{s:b, s:b, s:o, s:o, s:o}", "needed", needed, "present", c.key[0] != '\0', "env",
                  needed ? json_string(lqmf_config_key_env(c.provider->key)) : json_null(), "masked",
                  c.key[0] ? json_string(lqmf_config_mask(c.key, masked, sizeof masked)) : json_null(),
                  "from", lqmf_cli_json_str(c.key_from)));
    if (check) {
        char *text = NULL;
        long http = 0;
        double t0 = lqmf_time_now();
        st = st == LQMF_OK ? lqmf_llm_complete(&c, "Reply with the single word: ok", 16, &text, &http) : st;
        json_object_set_new(o, "check",
                            json_pack("{s:b, s:I, s:f, s:o, s:o}", "ok", st == LQMF_OK, "http",
                                      (json_int_t)http, "seconds", lqmf_time_now() - t0, "reply",
                                      st == LQMF_OK ? json_string(text ? text : "") : json_null(), "error",
                                      st == LQMF_OK ? json_null() : json_string(lqmf_last_error())));
        if (st != LQMF_OK) *rc = LQMF_EXIT_FAILED;
        free(text);
    }
    memset(c.key, 0, sizeof c.key);
    return o;
}

static const char *js(const json_t *o, const char *k) {
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static void status_text(const json_t *o) {
    const char *adv = js(o, "advice");
    printf("Provider:  %s (from %s)\n", js(o, "provider"), js(o, "provider_from"));
    printf("Advice:    %s\n", strcmp(adv, "every_plan") == 0 ? "on for every plan (llm_advice = true)"
                              : strcmp(adv, "off") == 0
                                  ? "off (no provider)"
                                  : "off unless asked: `lqmf plan REQUEST --advice` (or llm_advice = true)");
    if (!json_object_get(o, "api")) return;
    printf("API:       %s\nModel:     %s (from %s)\nBase URL:  %s (from %s)\n", js(o, "api"), js(o, "model"),
           js(o, "model_from"), js(o, "base_url"), js(o, "base_from"));
    const json_t *key = json_object_get(o, "key");
    if (!json_is_true(json_object_get(key, "needed")))
        printf("Key:       not needed\n");
    else if (json_is_true(json_object_get(key, "present")))
        printf("Key:       present %s (%s from %s)\n", js(key, "masked"), js(key, "env"), js(key, "from"));
    else
        printf("Key:       missing (set %s in the environment or .env)\n", js(key, "env"));
    const json_t *chk = json_object_get(o, "check");
    if (json_is_true(json_object_get(chk, "ok")))
        printf("Check:     ok (HTTP %lld, %.2f s): \"%.60s\"\n",
               (long long)json_integer_value(json_object_get(chk, "http")),
               json_real_value(json_object_get(chk, "seconds")), js(chk, "reply"));
    else if (chk)
        printf("Check:     failed: %s\n", js(chk, "error"));
}

static int cmd_status(const lqmf_config *cfg, bool check, bool as_json) {
    int rc = 0;
    lqmf_status err = LQMF_OK;
    json_t *o = status_json(cfg, check, &rc, &err);
    if (!o)
        return lqmf_cli_fail(err != LQMF_OK ? err : lqmf_error(LQMF_E_NOMEM, "llm status: out of memory"));
    if (as_json) return lqmf_cli_print_json(o, rc);
    status_text(o);
    json_decref(o);
    return rc;
}

/* The config.json that lqmf_config_load reads: --config, $LQMF_CONFIG, ./config.json. */
static const char *config_path(const lqmf_config_opts *o) {
    if (o->config_path) return o->config_path;
    const char *env = getenv("LQMF_CONFIG");
    return env && *env ? env : "config.json";
}

/* Set llm_provider in config.json (other settings kept), written atomically. */
static int cmd_switch(const lqmf_config_opts *o, const char *name) {
    bool none = strcasecmp(name, "none") == 0;
    const lqmf_llm_provider *p = none ? NULL : lqmf_llm_provider_find(name);
    if (!none && !p)
        return lqmf_cli_fail(lqmf_error(LQMF_E_INVALID,
                                        "unknown LLM provider \"%.64s\" (gemini, claude, openai, local, none)", name));
    const char *path = config_path(o);
    struct stat sb;
    json_t *root = NULL;
    lqmf_status st = LQMF_OK;
    if (stat(path, &sb) == 0) {
        char *text;
        size_t len;
        if ((st = lqmf_read_file(path, CONFIG_MAX_BYTES, &text, &len)) != LQMF_OK) return lqmf_cli_fail(st);
        json_error_t err;
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
        free(text);
        if (!json_is_object(root)) {
            json_decref(root);
            return lqmf_cli_fail(lqmf_error(LQMF_E_FORMAT, "%s: not a JSON object (%s)", path, err.text));
        }
    } else
        root = json_object();
    json_object_set_new(root, "llm_provider", json_string(none ? "none" : p->name));
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) return lqmf_cli_fail(lqmf_error(LQMF_E_NOMEM, "%s: cannot build JSON", path));
    lqmf_afile f;
    st = lqmf_afile_open(&f, path);
    if (st == LQMF_OK) st = lqmf_afile_write(&f, s, strlen(s));
    if (st == LQMF_OK) st = lqmf_afile_write(&f, "\n", 1);
    if (st == LQMF_OK)
        st = lqmf_afile_commit(&f);
    else
        lqmf_afile_abort(&f);
    free(s);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    printf("llm_provider = %s in %s\n", none ? "none" : p->name, path);
    if (p && p->key != LQMF_CFG_COUNT)
        printf("Its key comes from %s (environment or .env).\n", lqmf_config_key_env(p->key));
    return 0;
}

static int run_llm(int argc, char **argv) {
    lqmf_config_opts opts = {0};
    lqmf_status st = lqmf_config_take_args(&argc, argv, &opts);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    if (argc == 2 && LQMF_IS(argv[1], "providers")) return cmd_providers();
    if (argc == 3 && LQMF_IS(argv[1], "switch")) return cmd_switch(&opts, argv[2]);
    bool as_json = lqmf_cli_take_json(&argc, argv);
    bool check = argc == 3 && LQMF_IS(argv[2], "--check");
    if ((argc == 2 || check) && LQMF_IS(argv[1], "status")) {
        lqmf_config *cfg;
        if ((st = lqmf_config_load(&opts, &cfg)) != LQMF_OK) return lqmf_cli_fail(st);
        int rc = cmd_status(cfg, check, as_json);
        lqmf_config_free(cfg);
        return rc;
    }
    return lqmf_cli_usage("llm");
}

LQMF_COMMAND_DOC(llm, "llm", "status [--check] [--json] | switch PROVIDER | providers",
                 "the LLM provider that may advise on plans (off unless asked)", LLM_JSON_KEYS, run_llm)
