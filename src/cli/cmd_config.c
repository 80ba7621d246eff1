/* lqmf config show [--json]: every setting, its value and where it came
 * from. Secrets are only ever shown masked. */
#include "cli.h"
#include "json_out.h"
#include "lqmf/config.h"
#include "table.h"

#include <string.h>

#define CONFIG_JSON_KEYS                                                                                     \
    "--json keys: config_file, dotenv (paths, null when none), settings {NAME: {value, env, source,\n"       \
    "  origin, secret}}: value as text (secrets masked, null when unset), env the variable that sets\n"      \
    "  it, source default|config.json|.env|env|flag, origin the file or variable it came from."

/* Setting k's value as shown: secrets masked ("" when unset). */
static const char *shown(const lqmf_config *cfg, lqmf_config_key k, char *masked, size_t n) {
    const char *v = lqmf_config_get(cfg, k);
    if (!lqmf_config_key_secret(k)) return v;
    return *v ? lqmf_config_mask(v, masked, n) : "";
}

static json_t *config_json(const lqmf_config *cfg) {
    json_t *settings = json_object();
    for (int i = 0; i < LQMF_CFG_COUNT; i++) {
        lqmf_config_key k = (lqmf_config_key)i;
        char masked[64];
        const char *v = shown(cfg, k, masked, sizeof masked);
        json_object_set_new(settings, lqmf_config_key_name(k),
                            json_pack("{s:o, s:s, s:s, s:s, s:b}", "value",
                                      lqmf_config_key_secret(k) ? lqmf_cli_json_str(v) : json_string(v),
                                      "env", lqmf_config_key_env(k), "source",
                                      lqmf_config_source_name(lqmf_config_source_of(cfg, k)), "origin",
                                      lqmf_config_origin(cfg, k), "secret", lqmf_config_key_secret(k)));
    }
    return json_pack("{s:o, s:o, s:o}", "config_file", lqmf_cli_json_str(lqmf_config_file(cfg)), "dotenv",
                     lqmf_cli_json_str(lqmf_config_dotenv(cfg)), "settings", settings);
}

static int run_config(int argc, char **argv) {
    lqmf_config_opts opts = {0};
    lqmf_status st = lqmf_config_take_args(&argc, argv, &opts);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    bool as_json = lqmf_cli_take_json(&argc, argv);
    if (argc > 2 || (argc == 2 && !LQMF_IS(argv[1], "show"))) return lqmf_cli_usage("config");
    lqmf_config *cfg;
    if ((st = lqmf_config_load(&opts, &cfg)) != LQMF_OK) return lqmf_cli_fail(st);
    if (as_json) {
        int rc = lqmf_cli_print_json(config_json(cfg), 0);
        lqmf_config_free(cfg);
        return rc;
    }
    const char *file = lqmf_config_file(cfg), *denv = lqmf_config_dotenv(cfg);
    printf("Configuration (precedence: flags > environment > .env > config.json > defaults)\n");
    printf("  config.json: %s\n  .env:        %s\n", file ? file : "(none; defaults apply)",
           denv ? denv : "(none)");
    lqmf_table t;
    lqmf_table_init(&t, 4);
    lqmf_table_add(&t, (const char *[]){"Setting", "Environment", "Value", "Source"});
    for (int k = 0; k < LQMF_CFG_COUNT; k++) {
        char masked[64];
        const char *v = shown(cfg, (lqmf_config_key)k, masked, sizeof masked);
        if (lqmf_config_key_secret((lqmf_config_key)k) && !*v) v = "(not set)";
        lqmf_config_source src = lqmf_config_source_of(cfg, (lqmf_config_key)k);
        char from[4200];
        snprintf(from, sizeof from, "%s%s",
                 src == LQMF_CFG_FROM_ENV    ? "env "
                 : src == LQMF_CFG_FROM_FLAG ? "flag "
                                             : "",
                 lqmf_config_origin(cfg, (lqmf_config_key)k));
        lqmf_table_add(&t, (const char *[]){lqmf_config_key_name((lqmf_config_key)k),
                                            lqmf_config_key_env((lqmf_config_key)k), v, from});
    }
    lqmf_table_print(&t, stdout);
    lqmf_table_free(&t);
    lqmf_config_free(cfg);
    return 0;
}

LQMF_COMMAND_DOC(config, "config", "[show] [--json] [--config PATH] [--env-file PATH] [--SETTING VALUE]",
                 "show every setting with its value and source", CONFIG_JSON_KEYS, run_config)
