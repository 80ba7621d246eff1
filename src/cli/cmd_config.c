/* lqmf config show: every setting, its value and where it came from. */
#include "cli.h"
#include "lqmf/config.h"
#include "table.h"

#include <string.h>

static int run_config(int argc, char **argv) {
    lqmf_config_opts opts = {0};
    lqmf_status st = lqmf_config_take_args(&argc, argv, &opts);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    if (argc > 2 || (argc == 2 && !LQMF_IS(argv[1], "show"))) return lqmf_cli_usage("config");
    lqmf_config *cfg;
    if ((st = lqmf_config_load(&opts, &cfg)) != LQMF_OK) return lqmf_cli_fail(st);
    const char *file = lqmf_config_file(cfg), *denv = lqmf_config_dotenv(cfg);
    printf("Configuration (precedence: flags > environment > .env > config.json > defaults)\n");
    printf("  config.json: %s\n  .env:        %s\n", file ? file : "(none; defaults apply)",
           denv ? denv : "(none)");
    lqmf_table t;
    lqmf_table_init(&t, 4);
    lqmf_table_add(&t, (const char *[]){"Setting", "Environment", "Value", "Source"});
    for (int k = 0; k < LQMF_CFG_COUNT; k++) {
        const char *v = lqmf_config_get(cfg, (lqmf_config_key)k);
        char masked[64];
        if (lqmf_config_key_secret((lqmf_config_key)k))
            v = *v ? lqmf_config_mask(v, masked, sizeof masked) : "(not set)";
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

LQMF_COMMAND(config, "config", "[show] [--config PATH] [--env-file PATH] [--SETTING VALUE]",
             "show every setting with its value and source", run_config)
