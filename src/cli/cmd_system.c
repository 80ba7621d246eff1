/* lqmf system [--json]: the "System Information" table: hardware,
 * configuration, credentials (masked) and versions; --json gives the same
 * facts with the keys listed in `lqmf help system` (SYSTEM_JSON_KEYS). */
#include "cli.h"
#include "json_out.h"
#include "lqmf/config.h"
#include "lqmf/hw.h"
#include "table.h"

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sqlite3.h>
#include <string.h>
#include <utf8proc.h>

#ifndef LQMF_VERSION
#define LQMF_VERSION "0.1.0-dev"
#endif
#define GIB (1024.0 * 1024.0 * 1024.0)

static void row(lqmf_table *t, const char *a, const char *b, const char *c) {
    lqmf_table_add(t, (const char *[]){a, b, c});
}

static void hardware_rows(lqmf_table *t, const lqmf_hw *hw) {
    char b[160], d[320], feats[128];
    snprintf(b, sizeof b, "%u CPUs", hw->n_cpus);
    snprintf(d, sizeof d, "%s (%s)", hw->cpu_model,
             lqmf_hw_feature_names(hw->cpu_features, feats, sizeof feats));
    row(t, "CPU", b, d);
    snprintf(b, sizeof b, "%.1f GiB total", (double)hw->ram_total / GIB);
    snprintf(d, sizeof d, "%.1f GiB available%s", (double)hw->ram_available / GIB,
             hw->ram_cgroup_limited ? " (cgroup limit)" : "");
    row(t, "RAM", b, d);
    for (size_t i = 0; i < hw->n_gpus; i++) {
        const lqmf_gpu *g = &hw->gpus[i];
        char label[16];
        snprintf(label, sizeof label, "GPU %zu", i);
        if (g->mem_total)
            snprintf(d, sizeof d, "%.1f GiB, %.1f GiB used (%s)", (double)g->mem_total / GIB,
                     (double)g->mem_used / GIB, hw->gpu_source);
        else
            snprintf(d, sizeof d, "memory unknown (%s)", hw->gpu_source);
        row(t, label, g->name, d);
    }
    if (!hw->n_gpus) row(t, "GPU", "none found", "nvidia-smi, /proc/driver/nvidia, sysfs DRM");
}

static void credential_row(lqmf_table *t, const lqmf_config *cfg, const char *label, lqmf_config_key k,
                           const char *use) {
    const char *v = lqmf_config_get(cfg, k);
    char d[4400], masked[64];
    if (*v)
        snprintf(d, sizeof d, "%s %s from %s; %s", lqmf_config_key_env(k),
                 lqmf_config_mask(v, masked, sizeof masked), lqmf_config_origin(cfg, k), use);
    else
        snprintf(d, sizeof d, "set %s in the environment or .env", lqmf_config_key_env(k));
    row(t, label, *v ? "✅ Configured" : "❌ Not configured", d);
}

/* One credential: whether it is set, its variable, where it came from
 * (null when unset), the masked value (null when unset). */
static json_t *credential_json(const lqmf_config *cfg, lqmf_config_key k) {
    const char *v = lqmf_config_get(cfg, k);
    char masked[64];
    return json_pack("{s:b, s:s, s:o, s:o}", "configured", *v != '\0', "env", lqmf_config_key_env(k), "from",
                     *v ? json_string(lqmf_config_origin(cfg, k)) : json_null(), "masked",
                     *v ? json_string(lqmf_config_mask(v, masked, sizeof masked)) : json_null());
}

#define SYSTEM_JSON_KEYS                                                                                     \
    "--json keys: cpu {model, n_cpus, features[]}, ram {total_bytes, available_bytes, cgroup_limited},\n"    \
    "  gpus[] {name, vendor, mem_total_bytes, mem_used_bytes} (0 = unknown), gpu_source,\n"                  \
    "  disk {path, free_bytes, total_bytes} or null, config_file, dotenv (null when none),\n"                \
    "  storage_backend {value, from}, llm_provider {value, from},\n"                                         \
    "  credentials {huggingface, gemini, claude, openai} {configured, env, from, masked},\n"                 \
    "  version, libraries {jansson, sqlite, libcurl, libmicrohttpd, pcre2, utf8proc}"

static json_t *system_json(const lqmf_config *cfg, const lqmf_hw *hw) {
    char feats[128], pcre[16];
    json_t *features = json_array(), *gpus = json_array();
    lqmf_hw_feature_names(hw->cpu_features, feats, sizeof feats);
    for (char *save = NULL, *w = strtok_r(feats, " ,", &save); w; w = strtok_r(NULL, " ,", &save))
        if (strcmp(w, "none") != 0) json_array_append_new(features, json_string(w));
    static const char *const vendors[] = {"nvidia", "amd", "other"};
    for (size_t i = 0; i < hw->n_gpus; i++)
        json_array_append_new(gpus, json_pack("{s:s, s:s, s:I, s:I}", "name", hw->gpus[i].name, "vendor",
                                              vendors[hw->gpus[i].vendor], "mem_total_bytes",
                                              (json_int_t)hw->gpus[i].mem_total, "mem_used_bytes",
                                              (json_int_t)hw->gpus[i].mem_used));
    const char *qdir = lqmf_config_get(cfg, LQMF_CFG_QUANTIZED_MODELS_DIR);
    uint64_t fr, total;
    json_t *disk = lqmf_hw_disk_free(qdir, &fr, &total) == LQMF_OK
                       ? json_pack("{s:s, s:I, s:I}", "path", qdir, "free_bytes", (json_int_t)fr,
                                   "total_bytes", (json_int_t)total)
                       : json_null();
    lqmf_clear_error();
    snprintf(pcre, sizeof pcre, "%d.%d", PCRE2_MAJOR, PCRE2_MINOR);
    return json_pack(
        "{s:{s:s, s:i, s:o}, s:{s:I, s:I, s:b}, s:o, s:s, s:o, s:o, s:o, s:{s:s, s:s}, s:{s:s, s:s}, "
        "s:{s:o, s:o, s:o, s:o}, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}",
        "cpu", "model", hw->cpu_model, "n_cpus", (int)hw->n_cpus, "features", features, "ram", "total_bytes",
        (json_int_t)hw->ram_total, "available_bytes", (json_int_t)hw->ram_available, "cgroup_limited",
        hw->ram_cgroup_limited, "gpus", gpus, "gpu_source", hw->gpu_source, "disk", disk, "config_file",
        lqmf_cli_json_str(lqmf_config_file(cfg)), "dotenv", lqmf_cli_json_str(lqmf_config_dotenv(cfg)),
        "storage_backend", "value", lqmf_config_get(cfg, LQMF_CFG_STORAGE_BACKEND), "from",
        lqmf_config_origin(cfg, LQMF_CFG_STORAGE_BACKEND), "llm_provider", "value",
        lqmf_config_get(cfg, LQMF_CFG_LLM_PROVIDER), "from", lqmf_config_origin(cfg, LQMF_CFG_LLM_PROVIDER),
        "credentials", "huggingface", credential_json(cfg, LQMF_CFG_HF_TOKEN), "gemini",
        credential_json(cfg, LQMF_CFG_GEMINI_API_KEY), "claude",
        credential_json(cfg, LQMF_CFG_ANTHROPIC_API_KEY), "openai",
        credential_json(cfg, LQMF_CFG_OPENAI_API_KEY), "version", LQMF_VERSION, "libraries", "jansson",
        JANSSON_VERSION, "sqlite", sqlite3_libversion(), "libcurl",
        curl_version_info(CURLVERSION_NOW)->version, "libmicrohttpd", MHD_get_version(), "pcre2", pcre,
        "utf8proc", utf8proc_version());
}

static int run_system(int argc, char **argv) {
    lqmf_config_opts opts = {0};
    lqmf_status st = lqmf_config_take_args(&argc, argv, &opts);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    bool as_json = lqmf_cli_take_json(&argc, argv);
    if (argc != 1) return lqmf_cli_usage("system");
    lqmf_config *cfg;
    if ((st = lqmf_config_load(&opts, &cfg)) != LQMF_OK) return lqmf_cli_fail(st);
    lqmf_hw hw;
    if ((st = lqmf_hw_probe(NULL, &hw)) != LQMF_OK) {
        lqmf_config_free(cfg);
        return lqmf_cli_fail(st);
    }
    if (as_json) {
        int rc = lqmf_cli_print_json(system_json(cfg, &hw), 0);
        lqmf_config_free(cfg);
        return rc;
    }
    lqmf_table t;
    lqmf_table_init(&t, 3);
    row(&t, "Component", "Status", "Details");
    hardware_rows(&t, &hw);
    char b[160], d[4400];
    const char *qdir = lqmf_config_get(cfg, LQMF_CFG_QUANTIZED_MODELS_DIR);
    uint64_t fr, total;
    if (lqmf_hw_disk_free(qdir, &fr, &total) == LQMF_OK) {
        snprintf(b, sizeof b, "%.1f GB free", (double)fr / 1e9);
        snprintf(d, sizeof d, "%s (of %.1f GB)", qdir, (double)total / 1e9);
        row(&t, "Disk", b, d);
    } else
        row(&t, "Disk", "unknown", lqmf_last_error());
    const char *file = lqmf_config_file(cfg), *denv = lqmf_config_dotenv(cfg);
    row(&t, "Config file", file ? "found" : "defaults",
        file ? file : "no config.json (set --config or LQMF_CONFIG)");
    row(&t, ".env", denv ? "found" : "none", denv ? denv : "no .env in the current folder");
    snprintf(d, sizeof d, "from %s", lqmf_config_origin(cfg, LQMF_CFG_STORAGE_BACKEND));
    row(&t, "Storage backend", lqmf_config_get(cfg, LQMF_CFG_STORAGE_BACKEND), d);
    credential_row(&t, cfg, "HuggingFace", LQMF_CFG_HF_TOKEN, "private and gated models");
    static const struct {
        const char *provider, *label;
        lqmf_config_key key;
    } llms[] = {{"gemini", "Gemini API", LQMF_CFG_GEMINI_API_KEY},
                {"claude", "Claude API", LQMF_CFG_ANTHROPIC_API_KEY},
                {"openai", "OpenAI API", LQMF_CFG_OPENAI_API_KEY}};
    const char *provider = lqmf_config_get(cfg, LQMF_CFG_LLM_PROVIDER);
    for (size_t i = 0; i < sizeof llms / sizeof llms[0]; i++)
        if (strcmp(provider, llms[i].provider) == 0)
            credential_row(&t, cfg, llms[i].label, llms[i].key, "planning advice");
    if (strcmp(provider, "none") == 0) row(&t, "LLM advisor", "off", "llm_provider = none");
    snprintf(d, sizeof d, "C17, compiler %s", __VERSION__);
    row(&t, "lqmf", LQMF_VERSION, d);
    snprintf(d, sizeof d, "jansson %s, sqlite %s, libcurl %s, libmicrohttpd %s, pcre2 %d.%d, utf8proc %s",
             JANSSON_VERSION, sqlite3_libversion(), curl_version_info(CURLVERSION_NOW)->version,
             MHD_get_version(), PCRE2_MAJOR, PCRE2_MINOR, utf8proc_version());
    row(&t, "Libraries", "linked", d);
    printf("System Information:\n");
    lqmf_table_print(&t, stdout);
    lqmf_table_free(&t);
    lqmf_config_free(cfg);
    return 0;
}

LQMF_COMMAND_DOC(system, "system", "[--json] [--config PATH] [--env-file PATH]",
                 "hardware, configuration, credentials and versions", SYSTEM_JSON_KEYS, run_system)
