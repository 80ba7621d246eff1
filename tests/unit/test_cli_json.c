/* --json of `lqmf system`, `config show` and `hf status` run as the built
 * command: the output parses as one JSON document (duplicate keys refused)
 * and its values match what the library reports in this process. The store
 * commands' --json is tested in test_store_cli.c, `llm status --json` in
 * test_advisor.c. */
#include "../fakes/mock_hub.h"
#include "../test.h"
#include "lqmf/config.h"
#include "lqmf/hub.h"
#include "lqmf/hw.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *cli_json(const char *args, int rc) {
    char *out = NULL;
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), rc);
    json_error_t err;
    json_t *j = out ? json_loads(out, JSON_REJECT_DUPLICATES, &err) : NULL;
    CHECKF(j != NULL, "%s: not JSON (%s): %s", args, out ? err.text : "no output", out ? out : "");
    free(out);
    return j;
}

static const char *jstr(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static json_int_t jint(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

/* Environment variables the tests set, cleared before and after. */
static void clear_env(void) {
    static const char *const names[] = {
        "GEMINI_API_KEY", "HF_TOKEN",      "HUGGINGFACE_TOKEN", "HUGGING_FACE_HUB_TOKEN",
        "HF_HOME",        "LQMF_HOME",     "HF_ENDPOINT",       "HF_HUB_OFFLINE",
        "HF_HUB_CACHE",   "HF_TOKEN_PATH", "LQMF_CONFIG",       "STORAGE_BACKEND"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unsetenv(names[i]);
}

TEST(cli_system_json) {
    json_t *j = cli_json("system --json --env-file /dev/null", 0);
    REQUIRE(j);
    lqmf_hw hw;
    REQUIRE_OK(lqmf_hw_probe(NULL, &hw));
    const json_t *cpu = json_object_get(j, "cpu"), *ram = json_object_get(j, "ram");
    CHECK_STR(jstr(cpu, "model"), hw.cpu_model);
    CHECK_EQ_INT(jint(cpu, "n_cpus"), hw.n_cpus);
    char feats[128], joined[128] = "";
    lqmf_hw_feature_names(hw.cpu_features, feats, sizeof feats);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cpu, "features"), i, v) snprintf(
        joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", i ? " " : "", json_string_value(v));
    CHECK_STR(joined[0] ? joined : "none", feats);
    CHECK_EQ_INT(jint(ram, "total_bytes"), hw.ram_total);
    CHECK(json_is_boolean(json_object_get(ram, "cgroup_limited")));
    CHECK_EQ_INT(json_array_size(json_object_get(j, "gpus")), hw.n_gpus);
    for (size_t g = 0; g < hw.n_gpus; g++)
        CHECK_STR(jstr(json_array_get(json_object_get(j, "gpus"), g), "name"), hw.gpus[g].name);
    CHECK_STR(jstr(j, "gpu_source"), hw.gpu_source);
    CHECK_STR(jstr(json_object_get(j, "libraries"), "jansson"), JANSSON_VERSION);
    CHECK_STR(jstr(j, "dotenv"), "/dev/null");
    json_decref(j);
}

TEST(cli_config_json) {
    clear_env();
    setenv("GEMINI_API_KEY", "AIza-secret-value-98765", 1);
    setenv("STORAGE_BACKEND", "json", 1);
    json_t *j = cli_json("config show --json --env-file /dev/null --cpu-fallback false", 0);
    REQUIRE(j);
    lqmf_config *cfg;
    char *argv[] = {"config", "--env-file", "/dev/null", "--cpu-fallback", "false", NULL};
    int argc = 5;
    lqmf_config_opts o = {0};
    REQUIRE_OK(lqmf_config_take_args(&argc, argv, &o));
    REQUIRE_OK(lqmf_config_load(&o, &cfg));
    const json_t *set = json_object_get(j, "settings");
    CHECK_EQ_INT(json_object_size(set), LQMF_CFG_COUNT);
    for (int k = 0; k < LQMF_CFG_COUNT; k++) {
        lqmf_config_key key = (lqmf_config_key)k;
        const json_t *s = json_object_get(set, lqmf_config_key_name(key));
        CHECKF(s != NULL, "no setting %s", lqmf_config_key_name(key));
        if (!s) continue;
        CHECK_STR(jstr(s, "env"), lqmf_config_key_env(key));
        CHECK_STR(jstr(s, "source"), lqmf_config_source_name(lqmf_config_source_of(cfg, key)));
        CHECK_STR(jstr(s, "origin"), lqmf_config_origin(cfg, key));
        CHECK(json_is_true(json_object_get(s, "secret")) == lqmf_config_key_secret(key));
        if (!lqmf_config_key_secret(key)) CHECK_STR(jstr(s, "value"), lqmf_config_get(cfg, key));
    }
    const json_t *gem = json_object_get(set, "gemini_api_key");
    char masked[64];
    CHECK_STR(jstr(gem, "value"), lqmf_config_mask("AIza-secret-value-98765", masked, sizeof masked));
    CHECK(!strstr(jstr(gem, "value") ? jstr(gem, "value") : "", "secret-value"));
    CHECK(json_is_null(json_object_get(json_object_get(set, "openai_api_key"), "value"))); /* unset */
    CHECK_STR(jstr(json_object_get(set, "storage_backend"), "value"), "json");
    CHECK_STR(jstr(json_object_get(set, "cpu_fallback"), "source"), "flag");
    lqmf_config_free(cfg);
    json_decref(j);
    clear_env();
}

TEST(cli_hf_status_json) {
    clear_env();
    const char *dir = lqmf_test_tmpdir();
    char home[512], lhome[512];
    snprintf(home, sizeof home, "%s/hf", dir);
    snprintf(lhome, sizeof lhome, "%s/lqmf", dir);
    setenv("HF_HOME", home, 1);
    setenv("LQMF_HOME", lhome, 1);
    mock_hub *m = mock_hub_start(1);
    REQUIRE(m);
    mock_hub_add_token(m, "hf_json_token_0123456789", "bob", "org-a", "read");
    setenv("HF_ENDPOINT", mock_hub_url(m), 1);

    json_t *j = cli_json("hf status --json", 1); /* no token anywhere */
    CHECK(json_is_false(json_object_get(j, "logged_in")));
    CHECK(json_is_null(json_object_get(j, "token_source")));
    CHECK_STR(jstr(j, "endpoint"), mock_hub_url(m));
    json_decref(j);

    setenv("HF_TOKEN", "hf_json_token_0123456789", 1);
    j = cli_json("hf status --json", 0);
    CHECK(json_is_true(json_object_get(j, "logged_in")));
    CHECK_STR(jstr(j, "token_source"), "env");
    CHECK_STR(jstr(j, "token_where"), "HF_TOKEN");
    const json_t *u = json_object_get(j, "user");
    CHECK_STR(jstr(u, "name"), "bob");
    CHECK_STR(jstr(u, "token_role"), "read");
    CHECK_STR(json_string_value(json_array_get(json_object_get(u, "orgs"), 0)), "org-a");
    lqmf_hub *h = NULL;
    REQUIRE_OK(lqmf_hub_new(NULL, &h));
    CHECK_STR(jstr(j, "cache_dir"), lqmf_hub_cache_dir(h));
    lqmf_hub_free(h);
    json_decref(j);

    setenv("HF_TOKEN", "hf_rejected", 1);
    j = cli_json("hf status --json", 1);
    CHECK(json_is_null(json_object_get(j, "user")));
    CHECK(jstr(j, "error") && !strstr(jstr(j, "error"), "hf_rejected"));
    json_decref(j);

    setenv("HF_HUB_OFFLINE", "1", 1); /* no account check offline */
    unsigned before = mock_hub_stats(m).whoami;
    j = cli_json("hf status --json", 0);
    CHECK(json_is_true(json_object_get(j, "offline")));
    CHECK(json_is_null(json_object_get(j, "user")));
    CHECK_EQ_INT(mock_hub_stats(m).whoami, before);
    json_decref(j);
    mock_hub_stop(m);
    clear_env();
}

TEST(cli_help_command_details) {
    char *out = NULL;
    CHECK_EQ_INT(lqmf_test_cli("help system", NULL, &out), 0);
    CHECKF(out && strstr(out, "usage: lqmf system") && strstr(out, "--json keys: cpu {model"), "%s",
           out ? out : "");
    free(out);
    CHECK_EQ_INT(lqmf_test_cli("help nosuchcommand", NULL, &out), 2);
    free(out);
}
