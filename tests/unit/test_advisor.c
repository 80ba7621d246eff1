/* LLM advice: each provider's request format against a loopback mock, the
 * answer judged against the planner's estimate, every failure turned into
 * "no advice", and the llm / plan --advice commands. */
#include "../fakes/mock_llm.h"
#include "../test.h"
#include "lqmf/advisor.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

static const char *fake_env(const char *name, void *ctx) {
    for (const char *const *e = ctx; *e; e++) {
        size_t n = strlen(name);
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    }
    return NULL;
}

/* A configuration from env lines only (no config.json, no .env). */
static lqmf_config *config_with(const char *const *env) {
    lqmf_config_opts o = {.dotenv_path = "/dev/null", .getenv_fn = fake_env, .getenv_ctx = (void *)env};
    lqmf_config *c = NULL;
    if (lqmf_config_load(&o, &c) != LQMF_OK) lqmf_test_fail(__FILE__, __LINE__, "config: %s", lqmf_last_error());
    return c;
}

static const char *const k_env[] = {"OPENAI_API_KEY=sk-test-openai-0000001111",
                                    "ANTHROPIC_API_KEY=sk-ant-test-2222333344",
                                    "GEMINI_API_KEY=AIza-test-gemini-55556666", NULL};

/* A Llama-2-7B shape planned for GGUF under a 6 GiB run-time budget at 1024
 * tokens: Q4_K_M (~3.9 GB of weights) fits, Q8_0 (~7.2 GB) does not. */
static bool plan_7b(lqmf_model_meta *m, lqmf_plan *p) {
    lqmf_hparams hp = {.arch = LQMF_ARCH_LLAMA, .n_vocab = 32000, .n_embd = 4096, .n_layer = 32, .n_head = 32,
                       .n_head_kv = 32, .head_dim = 128, .n_ff = 11008, .n_ctx_train = 4096};
    lqmf_plan_request rq = {.device = LQMF_DEVICE_CPU, .mem_budget = 6ull << 30, .n_ctx = 1024,
                            .method = LQMF_METHOD_GGUF};
    return lqmf_plan_meta_from_hparams(&hp, "llama-7b", m) == LQMF_OK && lqmf_plan_make(m, &rq, p) == LQMF_OK;
}

/* A provider's reply carrying text, in its API's format. */
static char *wrap(lqmf_llm_api api, const char *text) {
    json_t *j = api == LQMF_LLM_API_OPENAI
                    ? json_pack("{s:[{s:i, s:{s:s, s:s}}]}", "choices", "index", 0, "message", "role", "assistant",
                                "content", text)
                : api == LQMF_LLM_API_ANTHROPIC
                    ? json_pack("{s:s, s:[{s:s, s:s}]}", "type", "message", "content", "type", "text", "text", text)
                    : json_pack("{s:[{s:{s:[{s:s}], s:s}}]}", "candidates", "content", "parts", "text", text, "role",
                                "model");
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void reply_text(mock_llm *mk, lqmf_llm_api api, const char *text) {
    char *s = wrap(api, text);
    mock_llm_reply(mk, 200, s);
    free(s);
}

TEST(llm_provider_table) {
    CHECK_EQ_INT(lqmf_llm_provider_count(), 4);
    CHECK_STR(lqmf_llm_provider_find("Claude")->name, "claude");
    CHECK_STR(lqmf_llm_provider_find("anthropic")->name, "claude");
    CHECK_STR(lqmf_llm_provider_find("google")->name, "gemini");
    CHECK(lqmf_llm_provider_find("local")->key == LQMF_CFG_COUNT);
    CHECK(lqmf_llm_provider_find("openai")->key == LQMF_CFG_OPENAI_API_KEY);
    CHECK(lqmf_llm_provider_find("none") == NULL);
    CHECK(lqmf_llm_provider_find("mistral") == NULL);
}

/* Path, headers with the key, and the JSON body of each API. */
TEST(llm_request_formats) {
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    setenv("LQMF_LLM_BASE_URL", mock_llm_url(mk), 1);
    lqmf_config *cfg = config_with(k_env);
    static const struct {
        const char *name, *path;
    } cases[] = {{"openai", "/v1/chat/completions"},
                 {"claude", "/v1/messages"},
                 {"gemini", "/v1beta/models/gemini-2.0-flash:generateContent"},
                 {"local", "/v1/chat/completions"}};
    for (size_t i = 0; cfg && i < sizeof cases / sizeof cases[0]; i++) {
        lqmf_llm_client c;
        CHECK_OK(lqmf_llm_client_init(cfg, cases[i].name, &c));
        CHECK_STR(c.base_from, "LQMF_LLM_BASE_URL");
        mock_llm_reset(mk);
        reply_text(mk, c.provider->api, "pong");
        char *text = NULL;
        long http = 0;
        CHECK_OK(lqmf_llm_complete(&c, "ping \"quoted\"", 64, &text, &http));
        CHECK_STR(text, "pong");
        CHECK_EQ_INT(http, 200);
        free(text);
        const mock_llm_log *l = mock_llm_log_get(mk);
        CHECK_EQ_INT(l->count, 1);
        CHECK_STR(l->method, "POST");
        CHECK_STR(l->path, cases[i].path);
        CHECK_STR(l->content_type, "application/json");
        json_t *b = json_loads(l->body ? l->body : "", 0, NULL);
        CHECKF(b != NULL, "%s: body is not JSON: %s", cases[i].name, l->body);
        const char *prompt = NULL;
        switch (c.provider->api) {
        case LQMF_LLM_API_OPENAI:
            CHECK_STR(l->authorization, i == 0 ? "Bearer sk-test-openai-0000001111" : "");
            CHECK_STR(json_string_value(json_object_get(b, "model")), i == 0 ? "gpt-4o-mini" : "local");
            CHECK_EQ_INT(json_integer_value(json_object_get(b, "temperature")), 0);
            CHECK(json_is_integer(json_object_get(b, "temperature")));
            prompt = json_string_value(json_object_get(json_array_get(json_object_get(b, "messages"), 0), "content"));
            CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(b, "messages"), 0), "role")),
                      "user");
            break;
        case LQMF_LLM_API_ANTHROPIC:
            CHECK_STR(l->x_api_key, "sk-ant-test-2222333344");
            CHECK_STR(l->anthropic_version, "2023-06-01");
            CHECK_STR(l->authorization, "");
            CHECK_STR(json_string_value(json_object_get(b, "model")), "claude-3-5-haiku-latest");
            CHECK_EQ_INT(json_integer_value(json_object_get(b, "max_tokens")), 64);
            prompt = json_string_value(json_object_get(json_array_get(json_object_get(b, "messages"), 0), "content"));
            break;
        case LQMF_LLM_API_GEMINI:
            CHECK_STR(l->x_goog_api_key, "AIza-test-gemini-55556666");
            CHECK_STR(l->authorization, "");
            prompt = json_string_value(json_object_get(
                json_array_get(json_object_get(json_array_get(json_object_get(b, "contents"), 0), "parts"), 0),
                "text"));
            break;
        }
        CHECK_STR(prompt, "ping \"quoted\"");
        json_decref(b);
    }
    /* a per-provider variable beats LQMF_LLM_BASE_URL; the model is overridable */
    setenv("LQMF_OPENAI_BASE_URL", "http://127.0.0.1:9/", 1);
    setenv("LQMF_LLM_MODEL", "gpt-test", 1);
    lqmf_llm_client c;
    if (cfg) {
        CHECK_OK(lqmf_llm_client_init(cfg, "openai", &c));
        CHECK_STR(c.base_url, "http://127.0.0.1:9");
        CHECK_STR(c.base_from, "LQMF_OPENAI_BASE_URL");
        CHECK_STR(c.model, "gpt-test");
    }
    unsetenv("LQMF_OPENAI_BASE_URL");
    unsetenv("LQMF_LLM_MODEL");
    unsetenv("LQMF_LLM_BASE_URL");
    lqmf_config_free(cfg);
    mock_llm_stop(mk);
}

TEST(llm_no_key_and_unknown) {
    static const char *const none[] = {NULL};
    lqmf_config *cfg = config_with(none);
    REQUIRE(cfg);
    lqmf_llm_client c;
    CHECK_ERR(lqmf_llm_client_init(cfg, "openai", &c), LQMF_E_AUTH, "OPENAI_API_KEY");
    CHECK_ERR(lqmf_llm_client_init(cfg, "claude", &c), LQMF_E_AUTH, "ANTHROPIC_API_KEY");
    CHECK_ERR(lqmf_llm_client_init(cfg, "gemini", &c), LQMF_E_AUTH, "GEMINI_API_KEY");
    CHECK_ERR(lqmf_llm_client_init(cfg, "none", &c), LQMF_E_INVALID, "none");
    CHECK_ERR(lqmf_llm_client_init(cfg, "mistral", &c), LQMF_E_INVALID, "mistral");
    CHECK_OK(lqmf_llm_client_init(cfg, "local", &c)); /* no key needed: lqmf's own server */
    CHECK_STR(c.base_url, "http://127.0.0.1:8000");
    lqmf_config_free(cfg);
}

TEST(advice_parse_forms) {
    static const struct {
        const char *text, *scheme, *reason;
    } ok[] = {
        {"{\"scheme\": \"Q4_K_M\", \"reason\": \"fits\"}", "Q4_K_M", "fits"},
        {"```json\n{\"scheme\":\"Q5_K_M\",\"reason\":\"more headroom\"}\n```", "Q5_K_M", "more headroom"},
        {"I suggest {not json} this: {\"scheme\": \"Q3_K_M\"} as said.", "Q3_K_M", ""},
        {"{\"a\": 1} {\"scheme\": \"IQ4_XS\", \"reason\": 5}", "IQ4_XS", ""},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        lqmf_advice a;
        CHECK_OK(lqmf_advice_parse(ok[i].text, strlen(ok[i].text), &a));
        CHECK_STR(a.scheme, ok[i].scheme);
        CHECK_STR(a.reason, ok[i].reason);
    }
    static const char *const bad[] = {"", "Q4_K_M is best", "{\"scheme\": 4}", "{\"scheme\": \"\"}",
                                      "{\"reason\": \"x\"}", "{\"scheme\": \"Q4_K_M\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lqmf_advice a;
        CHECK_ERR(lqmf_advice_parse(bad[i], strlen(bad[i]), &a), LQMF_E_FORMAT, "scheme");
    }
}

/* Run the whole advice path for one canned reply from the openai mock. */
static lqmf_advice advise_with(mock_llm *mk, unsigned status, const char *body, const lqmf_model_meta *m,
                               const lqmf_plan *p) {
    lqmf_advice a = {0};
    setenv("LQMF_LLM_BASE_URL", mock_llm_url(mk), 1);
    lqmf_config *cfg = config_with(k_env);
    lqmf_llm_client c;
    if (cfg && lqmf_llm_client_init(cfg, "openai", &c) == LQMF_OK) {
        mock_llm_reset(mk);
        mock_llm_reply(mk, status, body);
        lqmf_advice_get(&c, m, p, &a);
    } else
        lqmf_test_fail(__FILE__, __LINE__, "client: %s", lqmf_last_error());
    unsetenv("LQMF_LLM_BASE_URL");
    lqmf_config_free(cfg);
    return a;
}

static lqmf_advice advise_text(mock_llm *mk, const char *text, const lqmf_model_meta *m, const lqmf_plan *p) {
    char *s = wrap(LQMF_LLM_API_OPENAI, text);
    lqmf_advice a = advise_with(mk, 200, s, m, p);
    free(s);
    return a;
}

TEST(advice_checked_against_estimate) {
    lqmf_model_meta m;
    lqmf_plan p;
    REQUIRE(plan_7b(&m, &p));
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    /* accepted: the prompt carried the plan, the answer is judged */
    lqmf_advice a = advise_text(mk, "```json\n{\"scheme\": \"Q4_K_M\", \"reason\": \"best fit\"}\n```", &m, &p);
    CHECKF(a.verdict == LQMF_ADVICE_ACCEPTED, "verdict %s: %s", lqmf_advice_verdict_name(a.verdict), a.why);
    CHECK_STR(a.reason, "best fit");
    CHECK(a.option >= 0 && p.opts[a.option].fit == LQMF_FIT_OK);
    CHECK(a.total_bytes > 3.5 * GIB && a.total_bytes < 6.0 * GIB);
    CHECK_EQ_INT(mock_llm_log_get(mk)->count, 1);
    const char *body = mock_llm_log_get(mk)->body;
    CHECK(body && strstr(body, "llama-7b") && strstr(body, "Q8_0") && strstr(body, "one line of JSON") &&
          strstr(body, "budget 6.00 GiB"));
    lqmf_buf out;
    lqmf_buf_init(&out);
    lqmf_advice_render(&a, &out);
    lqmf_buf_append(&out, "", 1);
    CHECK(strstr((const char *)out.data, "Q4_K_M, accepted") != NULL);
    lqmf_buf_free(&out);

    /* Q8_0: ~7.2 GB of weights cannot fit a 6 GiB budget */
    a = advise_text(mk, "{\"scheme\": \"Q8_0\", \"reason\": \"highest quality\"}", &m, &p);
    CHECK(a.verdict == LQMF_ADVICE_REJECTED);
    CHECKF(strstr(a.why, "Q8_0 needs") && strstr(a.why, "over the 6.00 GiB budget"), "why: %s", a.why);
    CHECK(a.option >= 0 && p.opts[a.option].est.total_bytes > 6.0 * GIB);

    a = advise_text(mk, "{\"scheme\": \"Q9_X\", \"reason\": \"new\"}", &m, &p);
    CHECK(a.verdict == LQMF_ADVICE_REJECTED && a.known == NULL);
    CHECKF(strstr(a.why, "not a quantization scheme") != NULL, "why: %s", a.why);

    a = advise_text(mk, "{\"scheme\": \"GPTQ-4bit\"}", &m, &p); /* the request allows GGUF only */
    CHECK(a.verdict == LQMF_ADVICE_REJECTED && a.known != NULL);
    CHECKF(strstr(a.why, "not among the plans") != NULL, "why: %s", a.why);

    a = advise_text(mk, "Use four bits, probably.", &m, &p);
    CHECK(a.verdict == LQMF_ADVICE_NONE);
    CHECKF(strstr(a.why, "no JSON object") != NULL, "why: %s", a.why);
    mock_llm_stop(mk);
    lqmf_plan_free(&p);
}

TEST(advice_failures_are_no_advice) {
    lqmf_model_meta m;
    lqmf_plan p;
    REQUIRE(plan_7b(&m, &p));
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    static const struct {
        unsigned status;
        const char *body, *needle;
    } cases[] = {
        {401, "{\"error\": {\"message\": \"Incorrect API key provided\"}}", "rejected the API key (HTTP 401)"},
        {401, "{\"error\": {\"message\": \"Incorrect API key provided\"}}", "Incorrect API key provided"},
        {429, "{\"error\": {\"message\": \"Rate limit reached\"}}", "HTTP 429"},
        {503, "upstream down", "server error (HTTP 503)"},
        {400, "{\"error\": {\"message\": \"bad model\"}}", "HTTP 400): bad model"},
        {200, "<html>not json</html>", "not JSON"},
        {200, "{\"choices\": []}", "choices[0].message.content"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lqmf_advice a = advise_with(mk, cases[i].status, cases[i].body, &m, &p);
        CHECK(a.verdict == LQMF_ADVICE_NONE);
        CHECKF(strstr(a.why, cases[i].needle) != NULL, "HTTP %u: why \"%s\" lacks \"%s\"", cases[i].status, a.why,
               cases[i].needle);
        CHECK(strstr(a.why, "sk-test-openai") == NULL); /* never the key */
    }
    /* server down: connection refused */
    char url[64];
    snprintf(url, sizeof url, "%s", mock_llm_url(mk));
    mock_llm_stop(mk);
    setenv("LQMF_LLM_BASE_URL", url, 1);
    lqmf_config *cfg = config_with(k_env);
    lqmf_llm_client c;
    if (cfg && lqmf_llm_client_init(cfg, "openai", &c) == LQMF_OK) {
        lqmf_advice a;
        lqmf_advice_get(&c, &m, &p, &a);
        CHECK(a.verdict == LQMF_ADVICE_NONE);
        CHECKF(strstr(a.why, "cannot reach") != NULL, "why: %s", a.why);
    }
    unsetenv("LQMF_LLM_BASE_URL");
    lqmf_config_free(cfg);
    lqmf_plan_free(&p);
}

TEST(advice_off_by_default) {
    static const char *const none[] = {NULL}, *const off[] = {"LLM_PROVIDER=none", NULL},
                             *const always[] = {"LLM_ADVICE=true", NULL};
    lqmf_config *c0 = config_with(none), *c1 = config_with(off), *c2 = config_with(always);
    REQUIRE(c0 && c1 && c2);
    CHECK(!lqmf_advice_wanted(c0, false)); /* default provider gemini, llm_advice false */
    CHECK(lqmf_advice_wanted(c0, true));
    CHECK(!lqmf_advice_wanted(c1, true)); /* provider none: never */
    CHECK(lqmf_advice_wanted(c2, false));
    lqmf_config_free(c0);
    lqmf_config_free(c1);
    lqmf_config_free(c2);
}

/* ---- the commands ------------------------------------------------------------ */

static void clear_llm_env(void) {
    static const char *const names[] = {"LLM_PROVIDER",      "LLM_ADVICE",      "OPENAI_API_KEY", "GEMINI_API_KEY",
                                        "ANTHROPIC_API_KEY", "LQMF_LLM_BASE_URL", "LQMF_CONFIG"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unsetenv(names[i]);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

#define PLAN_ARGS                                                                                     \
    "plan 'quantize llama 2 7b to gguf for a 6GB GPU' --params 6.74e9 --layers 32 --kv-heads 32 "   \
    "--head-dim 128 --ctx 1024 --env-file /dev/null"

TEST(plan_advice_cli) {
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", lqmf_test_tmpdir());
    write_text(cfg, "{\"llm_provider\": \"openai\"}\n");
    clear_llm_env();
    setenv("LQMF_CONFIG", cfg, 1);
    setenv("OPENAI_API_KEY", "sk-test-openai-0000001111", 1);
    setenv("LQMF_LLM_BASE_URL", mock_llm_url(mk), 1);
    reply_text(mk, LQMF_LLM_API_OPENAI, "{\"scheme\": \"Q4_K_M\", \"reason\": \"fits with room\"}");
    char *out = NULL;
    int rc0 = lqmf_test_cli(PLAN_ARGS, NULL, &out); /* off by default: no request */
    CHECK(out && !strstr(out, "Advice"));
    CHECK_EQ_INT(mock_llm_log_get(mk)->count, 0);
    free(out);
    int rc = lqmf_test_cli(PLAN_ARGS " --advice", NULL, &out);
    CHECK_EQ_INT(rc, rc0);
    CHECKF(out && strstr(out, "Advice from openai (gpt-4o-mini): Q4_K_M, accepted"), "%s", out ? out : "");
    CHECK(out && strstr(out, "fits with room"));
    CHECK_EQ_INT(mock_llm_log_get(mk)->count, 1);
    free(out);
    reply_text(mk, LQMF_LLM_API_OPENAI, "{\"scheme\": \"F16\"}");
    rc = lqmf_test_cli(PLAN_ARGS " --advice", NULL, &out);
    CHECK_EQ_INT(rc, rc0);
    CHECKF(out && strstr(out, "F16, rejected: F16 needs"), "%s", out ? out : "");
    free(out);
    mock_llm_reply(mk, 401, "{\"error\": {\"message\": \"Incorrect API key provided\"}}");
    rc = lqmf_test_cli(PLAN_ARGS " --advice --json", NULL, &out);
    CHECK_EQ_INT(rc, rc0);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    json_t *adv = json_object_get(j, "advice");
    CHECK_STR(json_string_value(json_object_get(adv, "verdict")), "none");
    CHECK(strstr(json_string_value(json_object_get(adv, "why")) ?: "", "HTTP 401") != NULL);
    json_decref(j);
    free(out);
    char url[64];
    snprintf(url, sizeof url, "%s", mock_llm_url(mk));
    mock_llm_stop(mk); /* server down */
    rc = lqmf_test_cli(PLAN_ARGS " --advice", NULL, &out);
    CHECK_EQ_INT(rc, rc0);
    CHECKF(out && strstr(out, "none (network error") && strstr(out, "the plan above stands"), "%s", out ? out : "");
    free(out);
    unsetenv("OPENAI_API_KEY"); /* no key: no advice, no failure */
    rc = lqmf_test_cli(PLAN_ARGS " --advice", NULL, &out);
    CHECK_EQ_INT(rc, rc0);
    CHECKF(out && strstr(out, "OPENAI_API_KEY"), "%s", out ? out : "");
    free(out);
    clear_llm_env();
}

TEST(llm_switch_and_status_cli) {
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", lqmf_test_tmpdir());
    write_text(cfg, "{\"storage_backend\": \"json\", \"llm_provider\": \"gemini\"}\n");
    clear_llm_env();
    setenv("LQMF_CONFIG", cfg, 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant-secret-abcdef123456", 1);
    char *out = NULL;
    CHECK_EQ_INT(lqmf_test_cli("llm switch claude --env-file /dev/null", NULL, &out), 0);
    free(out);
    json_t *j = json_load_file(cfg, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "llm_provider")), "claude");
    CHECK_STR(json_string_value(json_object_get(j, "storage_backend")), "json"); /* kept */
    json_decref(j);
    CHECK(lqmf_test_cli("llm switch mistral --env-file /dev/null", NULL, &out) != 0);
    free(out);
    j = json_load_file(cfg, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "llm_provider")), "claude"); /* unchanged */
    json_decref(j);
    CHECK_EQ_INT(lqmf_test_cli("llm status --env-file /dev/null", NULL, &out), 0);
    CHECKF(out && strstr(out, "Provider:  claude") && strstr(out, "present ****3456") &&
               strstr(out, "claude-3-5-haiku-latest") && strstr(out, "off unless asked"),
           "%s", out ? out : "");
    CHECK(out && !strstr(out, "secret-abcdef"));
    free(out);
    CHECK_EQ_INT(lqmf_test_cli("llm switch none --env-file /dev/null", NULL, &out), 0);
    free(out);
    CHECK_EQ_INT(lqmf_test_cli("llm status --env-file /dev/null", NULL, &out), 0);
    CHECK(out && strstr(out, "off (no provider)"));
    free(out);
    clear_llm_env();
}

TEST(llm_status_check_cli) {
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    clear_llm_env();
    setenv("LLM_PROVIDER", "local", 1);
    setenv("LQMF_LLM_BASE_URL", mock_llm_url(mk), 1);
    reply_text(mk, LQMF_LLM_API_OPENAI, "ok");
    char *out = NULL;
    CHECK_EQ_INT(lqmf_test_cli("llm status --check --env-file /dev/null", NULL, &out), 0);
    CHECKF(out && strstr(out, "Key:       not needed") && strstr(out, "Check:     ok (HTTP 200"), "%s",
           out ? out : "");
    free(out);
    CHECK_EQ_INT(mock_llm_log_get(mk)->count, 1);
    mock_llm_reply(mk, 500, "{}");
    CHECK_EQ_INT(lqmf_test_cli("llm status --check --env-file /dev/null", NULL, &out), 1);
    CHECK(out && strstr(out, "server error (HTTP 500)"));
    free(out);
    mock_llm_stop(mk);
    clear_llm_env();
}

/* `llm status --json`: keys against the client the library sets up, the
 * check's outcome and the exit codes (0, 1 failed check, 2 bad provider). */
TEST(llm_status_json_cli) {
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    clear_llm_env();
    setenv("LLM_PROVIDER", "openai", 1);
    setenv("OPENAI_API_KEY", "sk-json-secret-77778888", 1);
    setenv("LQMF_LLM_BASE_URL", mock_llm_url(mk), 1);
    reply_text(mk, LQMF_LLM_API_OPENAI, "ok");
    char *out = NULL;
    CHECK_EQ_INT(lqmf_test_cli("llm status --check --json --env-file /dev/null", NULL, &out), 0);
    json_t *j = out ? json_loads(out, JSON_REJECT_DUPLICATES, NULL) : NULL;
    CHECKF(j != NULL, "not JSON: %s", out ? out : "");
    CHECK(out && !strstr(out, "json-secret"));
    free(out);
    lqmf_config_opts o = {.dotenv_path = "/dev/null"};
    lqmf_config *cfg = NULL;
    lqmf_llm_client c;
    REQUIRE_OK(lqmf_config_load(&o, &cfg));
    REQUIRE_OK(lqmf_llm_client_init(cfg, NULL, &c));
    char masked[64];
    CHECK_STR(json_string_value(json_object_get(j, "provider")), c.provider->name);
    CHECK_STR(json_string_value(json_object_get(j, "advice")), "on_request");
    CHECK_STR(json_string_value(json_object_get(j, "model")), c.model);
    CHECK_STR(json_string_value(json_object_get(j, "base_url")), c.base_url);
    CHECK_STR(json_string_value(json_object_get(j, "base_from")), c.base_from);
    const json_t *key = json_object_get(j, "key"), *chk = json_object_get(j, "check");
    CHECK(json_is_true(json_object_get(key, "present")));
    CHECK_STR(json_string_value(json_object_get(key, "masked")),
              lqmf_config_mask(c.key, masked, sizeof masked));
    CHECK_STR(json_string_value(json_object_get(key, "env")), "OPENAI_API_KEY");
    CHECK(json_is_true(json_object_get(chk, "ok")));
    CHECK_EQ_INT(json_integer_value(json_object_get(chk, "http")), 200);
    CHECK_STR(json_string_value(json_object_get(chk, "reply")), "ok");
    json_decref(j);
    lqmf_config_free(cfg);

    mock_llm_reply(mk, 500, "{}");
    CHECK_EQ_INT(lqmf_test_cli("llm status --check --json --env-file /dev/null", NULL, &out), 1);
    j = out ? json_loads(out, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(out);
    CHECK(json_is_false(json_object_get(json_object_get(j, "check"), "ok")));
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "check"), "http")), 500);
    json_decref(j);

    setenv("LLM_PROVIDER", "none", 1);
    CHECK_EQ_INT(lqmf_test_cli("llm status --json --env-file /dev/null", NULL, &out), 0);
    j = out ? json_loads(out, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(out);
    CHECK_STR(json_string_value(json_object_get(j, "advice")), "off");
    CHECK(json_object_get(j, "api") == NULL);
    json_decref(j);
    setenv("LLM_PROVIDER", "mistral", 1);
    CHECK_EQ_INT(lqmf_test_cli("llm status --json --env-file /dev/null", NULL, &out), 2);
    CHECK(out && !*out);
    free(out);
    mock_llm_stop(mk);
    clear_llm_env();
}
