/* lqmf llm status [--check] | switch PROVIDER | providers: the LLM provider
 * that may advise on plans (include/lqmf/advisor.h). Keys are never printed,
 * only masked. */
#include "cli.h"
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

static int cmd_status(const lqmf_config *cfg, bool check) {
    const char *name = lqmf_config_get(cfg, LQMF_CFG_LLM_PROVIDER);
    printf("Provider:  %s (from %s)\n", name, lqmf_config_origin(cfg, LQMF_CFG_LLM_PROVIDER));
    printf("Advice:    %s\n", lqmf_advice_wanted(cfg, false) ? "on for every plan (llm_advice = true)"
                              : strcasecmp(name, "none") == 0
                                  ? "off (no provider)"
                                  : "off unless asked: `lqmf plan REQUEST --advice` (or llm_advice = true)");
    if (strcasecmp(name, "none") == 0) return 0;
    lqmf_llm_client c;
    lqmf_status st = lqmf_llm_client_init(cfg, NULL, &c);
    if (!c.provider) return lqmf_cli_fail(st);
    printf("API:       %s\nModel:     %s (from %s)\nBase URL:  %s (from %s)\n", lqmf_llm_api_name(c.provider->api),
           c.model, c.model_from, c.base_url, c.base_from);
    if (c.provider->key == LQMF_CFG_COUNT)
        printf("Key:       not needed\n");
    else {
        char masked[64];
        if (c.key[0])
            printf("Key:       present %s (%s from %s)\n", lqmf_config_mask(c.key, masked, sizeof masked),
                   lqmf_config_key_env(c.provider->key), c.key_from);
        else
            printf("Key:       missing (set %s in the environment or .env)\n", lqmf_config_key_env(c.provider->key));
    }
    int rc = 0;
    if (check) {
        char *text = NULL;
        long http = 0;
        double t0 = lqmf_time_now();
        st = st == LQMF_OK ? lqmf_llm_complete(&c, "Reply with the single word: ok", 16, &text, &http) : st;
        if (st == LQMF_OK) {
            printf("Check:     ok (HTTP %ld, %.2f s): \"%.60s\"\n", http, lqmf_time_now() - t0, text);
        } else {
            printf("Check:     failed: %s\n", lqmf_last_error());
            rc = LQMF_EXIT_FAILED;
        }
        free(text);
    }
    memset(c.key, 0, sizeof c.key);
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
    bool check = argc == 3 && LQMF_IS(argv[2], "--check");
    if ((argc == 2 || check) && LQMF_IS(argv[1], "status")) {
        lqmf_config *cfg;
        if ((st = lqmf_config_load(&opts, &cfg)) != LQMF_OK) return lqmf_cli_fail(st);
        int rc = cmd_status(cfg, check);
        lqmf_config_free(cfg);
        return rc;
    }
    return lqmf_cli_usage("llm");
}

LQMF_COMMAND(llm, "llm", "status [--check] | switch PROVIDER | providers",
             "the LLM provider that may advise on plans (off unless asked)", run_llm)
