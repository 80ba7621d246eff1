/* Configuration: .env parsing edge cases, precedence of the sources and
 * validation messages that name where a bad value came from. */
#include "../test.h"
#include "lqmf/config.h"

#include <stdlib.h>

static char *path_in(const char *name) {
    static char buf[4][4096];
    static int slot;
    char *p = buf[slot++ & 3];
    snprintf(p, 4096, "%s/%s", lqmf_test_tmpdir(), name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) {
        lqmf_test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

/* A fake environment: NAME=VALUE pairs in ctx (NULL-terminated array). */
static const char *fake_env(const char *name, void *ctx) {
    for (const char *const *p = ctx; *p; p++) {
        size_t n = strlen(name);
        if (strncmp(*p, name, n) == 0 && (*p)[n] == '=') return *p + n + 1;
    }
    return NULL;
}
static const char *const k_no_env[] = {NULL};

TEST(config_dotenv_edge_cases) {
    static const char text[] = "\xEF\xBB\xBF# comment line\n"
                               "\n"
                               "PLAIN=value\n"
                               "  SPACED = padded value   \r\n"
                               "export EXPORTED=yes\n"
                               "DQ=\"a # not a comment\\n\\\"q\\\" \\\\ \\x\"  # comment\n"
                               "SQ='literal \\n $HOME'\n"
                               "INLINE=val # comment\n"
                               "HASH=val#ue\n"
                               "EMPTY=\n"
                               "EMPTY_Q=\"\"\n"
                               "DOTTED.KEY_2=x\n"
                               "PLAIN=second\n"
                               "\t# indented comment\n";
    lqmf_dotenv d;
    REQUIRE_OK(lqmf_dotenv_parse(text, sizeof text - 1, "t.env", &d));
    static const struct {
        const char *k, *v;
        unsigned line;
    } want[] = {{"PLAIN", "value", 3},
                {"SPACED", "padded value", 4},
                {"EXPORTED", "yes", 5},
                {"DQ", "a # not a comment\n\"q\" \\ \\x", 6},
                {"SQ", "literal \\n $HOME", 7},
                {"INLINE", "val", 8},
                {"HASH", "val#ue", 9},
                {"EMPTY", "", 10},
                {"EMPTY_Q", "", 11},
                {"DOTTED.KEY_2", "x", 12},
                {"PLAIN", "second", 13}};
    REQUIRE(d.n == sizeof want / sizeof want[0]);
    for (size_t i = 0; i < d.n; i++) {
        CHECK_STR(d.entries[i].key, want[i].k);
        CHECK_STR(d.entries[i].value, want[i].v);
        CHECK_EQ_INT(d.entries[i].line, want[i].line);
    }
    lqmf_dotenv_free(&d);
    lqmf_dotenv_free(&d);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"A=1\nNOEQUALS\n", "t.env:2: expected '=' after the key: \"NOEQUALS\""},
        {"A=1\n\n=value\n", "t.env:3: missing key before '='"},
        {"1KEY=x\n", "t.env:1: expected KEY=VALUE"},
        {"BAD-KEY=x\n", "t.env:1: expected '=' after the key"},
        {"A=\"open\nB=2\n", "t.env:1: unterminated quote"},
        {"A='open\n", "t.env:1: unterminated quote"},
        {"A=\"x\" trailing\n", "t.env:1: text after the closing quote"},
        {"OK=1\r\nexport\n", "t.env:2: expected '=' after the key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERR(lqmf_dotenv_parse(bad[i].text, strlen(bad[i].text), "t.env", &d), LQMF_E_FORMAT,
                  bad[i].msg);
    CHECK_ERR(lqmf_dotenv_parse("A=1\0B=2", 7, "t.env", &d), LQMF_E_FORMAT, "NUL byte");
    REQUIRE_OK(lqmf_dotenv_parse("", 0, "t.env", &d));
    CHECK_EQ_INT(d.n, 0);
}

TEST(config_defaults) {
    lqmf_config *c;
    lqmf_config_opts o = {.config_path = NULL,
                          .dotenv_path = path_in("absent.env"),
                          .getenv_fn = fake_env,
                          .getenv_ctx = (void *)k_no_env};
    /* a .env named explicitly must exist */
    CHECK_ERR(lqmf_config_load(&o, &c), LQMF_E_NOT_FOUND, "absent.env");
    o.dotenv_path = path_in("empty.env");
    write_text(o.dotenv_path, "");
    o.config_path = path_in("empty.json");
    write_text(o.config_path, "{}");
    REQUIRE_OK(lqmf_config_load(&o, &c));
    CHECK_STR(lqmf_config_get(c, LQMF_CFG_STORAGE_BACKEND), "sqlite");
    CHECK_STR(lqmf_config_get(c, LQMF_CFG_QUANTIZED_MODELS_DIR), "quantized-models");
    CHECK_EQ_INT(lqmf_config_get_int(c, LQMF_CFG_API_PORT), 8000);
    CHECK_EQ_INT(lqmf_config_get_int(c, LQMF_CFG_MAX_RETRIES), 3);
    CHECK(lqmf_config_get_bool(c, LQMF_CFG_CPU_FALLBACK));
    CHECK(!lqmf_config_get_bool(c, LQMF_CFG_API_RELOAD));
    CHECK_NEAR(lqmf_config_get_double(c, LQMF_CFG_GPU_MEMORY_LIMIT), 8.0, 0);
    CHECK_STR(lqmf_config_get(c, LQMF_CFG_HF_TOKEN), "");
    CHECK_EQ_INT(lqmf_config_source_of(c, LQMF_CFG_MODELS_DIR), LQMF_CFG_FROM_DEFAULT);
    CHECK_STR(lqmf_config_origin(c, LQMF_CFG_MODELS_DIR), "default");
    CHECK_STR(lqmf_config_file(c), o.config_path);
    lqmf_config_free(c);
    lqmf_config_free(NULL);
}

/* Each layer overrides the one below; removing the top layer reveals the next. */
TEST(config_precedence) {
    const char *json = path_in("config.json"), *denv = path_in("p.env");
    write_text(json, "{\"storage_backend\": \"json\", \"models_dir\": \"m-json\", \"logs_dir\": \"l-json\",\n"
                     " \"configs_dir\": \"c-json\", \"gpu_memory_limit\": 6, \"auto_save_plans\": false,\n"
                     " \"llm_provider\": null}");
    write_text(denv, "MODELS_DIR=m-dotenv\nLOGS_DIR=l-dotenv\nGPU_MEMORY_LIMIT=12\n"
                     "HUGGINGFACE_TOKEN=hf_second_choice_0000\nHF_TOKEN=hf_dotenv_token_1234\n");
    static const char *const env[] = {"MODELS_DIR=m-env", "GPU_MEMORY_LIMIT=", "CPU_FALLBACK=no", NULL};
    lqmf_config_opts o = {
        .config_path = json, .dotenv_path = denv, .getenv_fn = fake_env, .getenv_ctx = (void *)env};
    o.flags[o.n_flags++] = (lqmf_config_flag){"models-dir", "m-flag"};
    lqmf_config *c;
    REQUIRE_OK(lqmf_config_load(&o, &c));
    static const struct {
        lqmf_config_key k;
        const char *v;
        lqmf_config_source src;
    } want[] = {
        {LQMF_CFG_MODELS_DIR, "m-flag", LQMF_CFG_FROM_FLAG},   /* flag > env > .env > json */
        {LQMF_CFG_LOGS_DIR, "l-dotenv", LQMF_CFG_FROM_DOTENV}, /* .env > json */
        {LQMF_CFG_CONFIGS_DIR, "c-json", LQMF_CFG_FROM_FILE},
        {LQMF_CFG_STORAGE_BACKEND, "json", LQMF_CFG_FROM_FILE},
        {LQMF_CFG_GPU_MEMORY_LIMIT, "12", LQMF_CFG_FROM_DOTENV}, /* an empty env value is unset */
        {LQMF_CFG_CPU_FALLBACK, "false", LQMF_CFG_FROM_ENV},
        {LQMF_CFG_AUTO_SAVE_PLANS, "false", LQMF_CFG_FROM_FILE},
        {LQMF_CFG_LLM_PROVIDER, "gemini", LQMF_CFG_FROM_DEFAULT}, /* null in JSON: unset */
        {LQMF_CFG_HF_TOKEN, "hf_dotenv_token_1234", LQMF_CFG_FROM_DOTENV},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECKF(strcmp(lqmf_config_get(c, want[i].k), want[i].v) == 0, "%s = %s, want %s",
               lqmf_config_key_name(want[i].k), lqmf_config_get(c, want[i].k), want[i].v);
        CHECKF(lqmf_config_source_of(c, want[i].k) == want[i].src, "%s from %s, want %s",
               lqmf_config_key_name(want[i].k), lqmf_config_source_name(lqmf_config_source_of(c, want[i].k)),
               lqmf_config_source_name(want[i].src));
    }
    CHECK_STR(lqmf_config_origin(c, LQMF_CFG_MODELS_DIR), "--models-dir");
    char origin[4200];
    snprintf(origin, sizeof origin, "%s:2", denv);
    CHECK_STR(lqmf_config_origin(c, LQMF_CFG_LOGS_DIR), origin);
    CHECK_STR(lqmf_config_origin(c, LQMF_CFG_CPU_FALLBACK), "CPU_FALLBACK");
    CHECK_STR(lqmf_config_origin(c, LQMF_CFG_CONFIGS_DIR), json);
    lqmf_config_free(c);

    o.n_flags = 0; /* without the flag the environment wins */
    REQUIRE_OK(lqmf_config_load(&o, &c));
    CHECK_STR(lqmf_config_get(c, LQMF_CFG_MODELS_DIR), "m-env");
    lqmf_config_free(c);
    o.getenv_ctx = (void *)k_no_env; /* then .env */
    REQUIRE_OK(lqmf_config_load(&o, &c));
    CHECK_STR(lqmf_config_get(c, LQMF_CFG_MODELS_DIR), "m-dotenv");
    lqmf_config_free(c);
    o.dotenv_path = path_in("empty2.env"); /* then config.json */
    write_text(o.dotenv_path, "# nothing\n");
    REQUIRE_OK(lqmf_config_load(&o, &c));
    CHECK_STR(lqmf_config_get(c, LQMF_CFG_MODELS_DIR), "m-json");
    lqmf_config_free(c);
    /* the environment: HF_TOKEN beats HUGGINGFACE_TOKEN */
    static const char *const env2[] = {"HUGGINGFACE_TOKEN=second", "HF_TOKEN=first", NULL};
    o.getenv_ctx = (void *)env2;
    REQUIRE_OK(lqmf_config_load(&o, &c));
    CHECK_STR(lqmf_config_get(c, LQMF_CFG_HF_TOKEN), "first");
    CHECK_STR(lqmf_config_origin(c, LQMF_CFG_HF_TOKEN), "HF_TOKEN");
    lqmf_config_free(c);
}

TEST(config_bad_values_name_their_source) {
    const char *json = path_in("bad.json"), *denv = path_in("bad.env");
    lqmf_config *c;
    lqmf_config_opts o = {
        .config_path = json, .dotenv_path = denv, .getenv_fn = fake_env, .getenv_ctx = (void *)k_no_env};
    write_text(denv, "");
    static const struct {
        const char *json, *msg;
    } js[] = {
        {"{\"storage_backend\": \"mysql\"}", "storage_backend: bad value \"mysql\" (expected sqlite|json)"},
        {"{\"api_port\": 70000}", "api_port: bad value \"70000\" (an integer in range 1..65535)"},
        {"{\"max_retries\": 2.5}", "max_retries: bad value \"2.5\""},
        {"{\"cpu_fallback\": \"maybe\"}", "cpu_fallback: bad value \"maybe\" (expected true or false)"},
        {"{\"modles_dir\": \"x\"}", "unknown setting \"modles_dir\""},
        {"{\"hf_token\": \"x\"}", "keys and tokens belong in the environment or .env"},
        {"{\"models_dir\": [1]}", "models_dir: expected a string, number or boolean"},
        {"{\"models_dir\": \"\"}", "models_dir: empty value"},
        {"{\"logs_dir\": \"a\", \"logs_dir\": \"b\"}", "duplicate object key"},
        {"{\"logs_dir\": \n  \"a\",}", ":2:"},
        {"[1, 2]", "expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
        write_text(json, js[i].json);
        lqmf_status st = lqmf_config_load(&o, &c);
        CHECKF(st != LQMF_OK && strstr(lqmf_last_error(), js[i].msg) && strstr(lqmf_last_error(), "bad.json"),
               "%s: %s", js[i].json, lqmf_last_error());
        if (st == LQMF_OK) lqmf_config_free(c);
    }
    write_text(json, "{}");
    write_text(denv, "A=1\nGPU_MEMORY_LIMIT=lots\n");
    char msg[4200];
    snprintf(msg, sizeof msg, "%s:2: gpu_memory_limit: bad value \"lots\" (a number in range 0.25..4096)",
             denv);
    CHECK_ERR(lqmf_config_load(&o, &c), LQMF_E_INVALID, msg);
    write_text(denv, "");
    static const char *const env[] = {"API_PORT=80a", NULL};
    o.getenv_ctx = (void *)env;
    CHECK_ERR(lqmf_config_load(&o, &c), LQMF_E_INVALID, "API_PORT: api_port: bad value \"80a\"");
    o.getenv_ctx = (void *)k_no_env;
    o.flags[o.n_flags++] = (lqmf_config_flag){"storage-backend", "JSON"};
    REQUIRE_OK(lqmf_config_load(&o, &c)); /* choices ignore case and are stored lowercase */
    CHECK_STR(lqmf_config_get(c, LQMF_CFG_STORAGE_BACKEND), "json");
    lqmf_config_free(c);
    o.flags[0] = (lqmf_config_flag){"hf-token", "x"};
    CHECK_ERR(lqmf_config_load(&o, &c), LQMF_E_INVALID, "unknown setting --hf-token");
}

TEST(config_take_args) {
    char a0[] = "plan", a1[] = "--storage-backend", a2[] = "json", a3[] = "REQUEST", a4[] = "--models-dir=/m",
         a5[] = "--json", a6[] = "--config", a7[] = "c.json", a8[] = "--env-file=e.env", a9[] = "--hf-token";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, NULL};
    int argc = 10;
    lqmf_config_opts o = {0};
    REQUIRE_OK(lqmf_config_take_args(&argc, argv, &o));
    REQUIRE(argc == 4);
    CHECK_STR(argv[0], "plan");
    CHECK_STR(argv[1], "REQUEST");
    CHECK_STR(argv[2], "--json");
    CHECK_STR(argv[3], "--hf-token"); /* secrets are not flags */
    CHECK(argv[4] == NULL);
    REQUIRE(o.n_flags == 2);
    CHECK_STR(o.flags[0].key, "storage_backend");
    CHECK_STR(o.flags[0].value, "json");
    CHECK_STR(o.flags[1].key, "models_dir");
    CHECK_STR(o.flags[1].value, "/m");
    CHECK_STR(o.config_path, "c.json");
    CHECK_STR(o.dotenv_path, "e.env");
    char b0[] = "x", b1[] = "--max-retries";
    char *argv2[] = {b0, b1, NULL};
    argc = 2;
    CHECK_ERR(lqmf_config_take_args(&argc, argv2, &o), LQMF_E_INVALID, "--max-retries needs a value");
}

TEST(config_mask_keys_and_export) {
    char buf[64];
    CHECK_STR(lqmf_config_mask("AIzaSyA-1234567890abcd", buf, sizeof buf), "****abcd");
    CHECK_STR(lqmf_config_mask("short", buf, sizeof buf), "****");
    CHECK_STR(lqmf_config_mask("", buf, sizeof buf), "");
    lqmf_config_key k;
    CHECK(lqmf_config_key_find("HUGGINGFACE_TOKEN", &k) && k == LQMF_CFG_HF_TOKEN);
    CHECK(lqmf_config_key_find("gpu-memory-limit", &k) && k == LQMF_CFG_GPU_MEMORY_LIMIT);
    CHECK(!lqmf_config_key_find("nope", &k));
    CHECK(lqmf_config_key_secret(LQMF_CFG_OPENAI_API_KEY));
    CHECK(!lqmf_config_key_secret(LQMF_CFG_API_HOST));
    CHECK_STR(lqmf_config_key_env(LQMF_CFG_HF_TOKEN), "HF_TOKEN");

    const char *denv = path_in("export.env");
    write_text(denv, "LQMF_TEST_EXPORT_A=from-dotenv\nLQMF_TEST_EXPORT_B=from-dotenv\n");
    setenv("LQMF_TEST_EXPORT_B", "from-env", 1);
    lqmf_config_opts o = {.config_path = path_in("none.json"), .dotenv_path = denv};
    write_text(o.config_path, "{}");
    lqmf_config *c;
    REQUIRE_OK(lqmf_config_load(&o, &c));
    CHECK_OK(lqmf_config_export_dotenv(c));
    CHECK_STR(getenv("LQMF_TEST_EXPORT_A"), "from-dotenv");
    CHECK_STR(getenv("LQMF_TEST_EXPORT_B"), "from-env"); /* the environment is not overridden */
    unsetenv("LQMF_TEST_EXPORT_A");
    unsetenv("LQMF_TEST_EXPORT_B");
    lqmf_config_free(c);
}
