/* LLM advice in the factory, against the mock provider: taken when the
 * suggestion fits per the estimate (the artifact is the advised scheme),
 * rejected when it does not (the planner's choice stands), a provider that is
 * down changes nothing but a note, and nothing is asked unless wanted. The
 * plan text, the model card and the recorded plan say what happened. */
#include "../fakes/mock_llm.h"
#include "../test.h"
#include "lqmf/factory.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *fake_env(const char *name, void *ctx) {
    for (const char *const *e = ctx; *e; e++) {
        size_t n = strlen(name);
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    }
    return NULL;
}

/* The local (OpenAI-compatible) provider at url (its base URL is read from
 * the environment: LQMF_LLM_BASE_URL), advice on or off. */
static lqmf_config *llm_config(const char *url, bool advice_on) {
    static const char *const on[] = {"LLM_PROVIDER=local", "LLM_ADVICE=true", NULL};
    static const char *const off[] = {"LLM_PROVIDER=local", "LLM_ADVICE=false", NULL};
    setenv("LQMF_LLM_BASE_URL", url, 1);
    unsetenv("LQMF_LLM_TIMEOUT");
    lqmf_config_opts o = {
        .dotenv_path = "/dev/null", .getenv_fn = fake_env, .getenv_ctx = (void *)(advice_on ? on : off)};
    lqmf_config *c = NULL;
    if (lqmf_config_load(&o, &c) != LQMF_OK)
        lqmf_test_fail(__FILE__, __LINE__, "config: %s", lqmf_last_error());
    return c;
}

static void config_done(lqmf_config *c) {
    lqmf_config_free(c);
    unsetenv("LQMF_LLM_BASE_URL");
}

/* The mock answers every request with an OpenAI chat completion saying text. */
static void answer(mock_llm *mk, const char *text) {
    json_t *j = json_pack("{s:[{s:i, s:{s:s, s:s}}]}", "choices", "index", 0, "message", "role", "assistant",
                          "content", text);
    char *s = json_dumps(j, JSON_COMPACT);
    mock_llm_reply(mk, 200, s);
    free(s);
    json_decref(j);
}

typedef struct {
    char out[512], db[512], request[1024];
    lqmf_hw hw;
    lqmf_factory_request rq;
    lqmf_factory_result r;
    lqmf_status st;
    char *card;
    json_t *recorded_plan; /* the experiment's plan as stored */
} run;

/* Quantize tiny-llama (CPU, fixed 8 GiB machine, no test) with cfg. */
static void run_factory(run *x, const char *src, const char *extra, const lqmf_config *cfg) {
    memset(x, 0, sizeof *x);
    snprintf(x->out, sizeof x->out, "%s/out", lqmf_test_tmpdir());
    snprintf(x->db, sizeof x->db, "%s/experiments.db", lqmf_test_tmpdir());
    snprintf(x->request, sizeof x->request, "quantize %s to GGUF for CPU%s", src, extra);
    x->hw.ram_total = x->hw.ram_available = 8ull << 30;
    x->hw.n_cpus = 2;
    x->rq = (lqmf_factory_request){.request = x->request,
                                   .out_dir = x->out,
                                   .store_path = x->db,
                                   .hw = &x->hw,
                                   .n_threads = 2,
                                   .assume_yes = true,
                                   .skip_test = true,
                                   .llm_config = cfg};
    x->st = lqmf_factory_run(&x->rq, &x->r);
    CHECKF(x->st == LQMF_OK, "%s: %s", lqmf_status_name(x->st), x->r.message);
    size_t n;
    if (x->r.card[0] && lqmf_read_file(x->r.card, 1 << 20, &x->card, &n) != LQMF_OK) x->card = NULL;
    lqmf_store *s;
    lqmf_store_snapshot snap;
    if (lqmf_store_open(x->db, LQMF_STORE_SQLITE, &s) == LQMF_OK) {
        if (lqmf_store_load(s, &snap) == LQMF_OK) {
            const lqmf_store_experiment *e = lqmf_store_find_experiment(&snap, x->r.experiment_id);
            if (e) x->recorded_plan = json_loads(e->plan, 0, NULL);
            lqmf_store_snapshot_free(&snap);
        }
        lqmf_store_close(s);
    }
}

static void run_free(run *x) {
    lqmf_factory_result_free(&x->r);
    free(x->card);
    json_decref(x->recorded_plan);
}

static const char *plan_advice(const run *x, const char *key) {
    return json_string_value(json_object_get(json_object_get(x->recorded_plan, "advice"), key));
}

TEST(factory_advice_taken_when_it_fits) {
    DATA(src, "models/tiny-llama");
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    lqmf_config *cfg = llm_config(mock_llm_url(mk), true);
    answer(mk, "{\"scheme\": \"Q5_K_M\", \"reason\": \"more quality for little size\"}");
    run x;
    run_factory(&x, src, "", cfg);
    CHECK_EQ_INT(mock_llm_log_get(mk)->count, 1);
    CHECK(mock_llm_log_get(mk)->body &&
          strstr(mock_llm_log_get(mk)->body, "Q4_K_M")); /* the options were sent */
    CHECK(x.r.advice_asked && x.r.advice_taken);
    CHECK_EQ_INT(x.r.advice.verdict, LQMF_ADVICE_ACCEPTED);
    CHECK_STR(x.r.planner_scheme ? x.r.planner_scheme->name : "", "Q4_K_M");
    CHECK_STR(x.r.scheme ? x.r.scheme->name : "", "Q5_K_M");
    /* the advised option fits per the planner's own estimate */
    const lqmf_plan_option *o = x.r.plan.chosen >= 0 ? &x.r.plan.opts[x.r.plan.chosen] : NULL;
    CHECK(o && o->est.scheme == lqmf_plan_scheme_find("Q5_K_M") && o->fit == LQMF_FIT_OK);
    CHECK(strstr(x.r.artifact, "-Q5_K_M.gguf") != NULL);
    CHECKF(x.r.plan_text && strstr(x.r.plan_text, "Q5_K_M, accepted") &&
               strstr(x.r.plan_text, "Advice taken: quantizing to Q5_K_M instead of the planner's Q4_K_M"),
           "%s", x.r.plan_text ? x.r.plan_text : "");
    CHECK(x.card && strstr(x.card, "| LLM advice | local (local): Q5_K_M, accepted; taken |") &&
          strstr(x.card, "Advice taken"));
    CHECK_STR(plan_advice(&x, "scheme"), "Q5_K_M");
    CHECK(json_is_true(json_object_get(json_object_get(x.recorded_plan, "advice"), "taken")));
    CHECK_STR(json_string_value(json_object_get(x.recorded_plan, "scheme")), "Q5_K_M");
    run_free(&x);
    config_done(cfg);
    mock_llm_stop(mk);
}

TEST(factory_advice_rejected_when_it_does_not_fit) {
    DATA(src, "models/tiny-llama");
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    lqmf_config *cfg = llm_config(mock_llm_url(mk), true);
    answer(mk, "Sure! {\"scheme\": \"F16\", \"reason\": \"no quality loss\"}");
    run x;
    run_factory(&x, src, " smaller than 5 MB", cfg);
    CHECK(x.r.advice_asked && !x.r.advice_taken);
    CHECK_EQ_INT(x.r.advice.verdict, LQMF_ADVICE_REJECTED);
    CHECK(x.r.scheme && x.r.scheme == x.r.planner_scheme);
    /* F16 is among the options and the estimate says it does not fit 5 MB */
    bool misfit = false;
    for (size_t i = 0; i < x.r.plan.n_opts; i++)
        if (x.r.plan.opts[i].est.scheme == lqmf_plan_scheme_find("F16"))
            misfit = x.r.plan.opts[i].fit != LQMF_FIT_OK && x.r.plan.opts[i].est.weight_bytes > 5000000;
    CHECK(misfit);
    CHECKF(x.r.plan_text && strstr(x.r.plan_text, "F16, rejected") &&
               strstr(x.r.plan_text, "Advice not taken: the planner's"),
           "%s", x.r.plan_text ? x.r.plan_text : "");
    CHECK(x.card && strstr(x.card, "F16, rejected; not taken"));
    CHECK_STR(plan_advice(&x, "verdict"), "rejected");
    CHECK(x.r.artifact[0] && !strstr(x.r.artifact, "F16"));
    run_free(&x);
    config_done(cfg);
    mock_llm_stop(mk);
}

TEST(factory_advice_provider_down_changes_nothing) {
    DATA(src, "models/tiny-llama");
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    char url[128];
    snprintf(url, sizeof url, "%s", mock_llm_url(mk));
    mock_llm_stop(mk); /* nothing listens there now */
    lqmf_config *cfg = llm_config(url, true);
    run x;
    run_factory(&x, src, "", cfg);
    CHECK_EQ_INT(x.r.outcome, LQMF_FACTORY_SUCCEEDED);
    CHECK(x.r.advice_asked && !x.r.advice_taken);
    CHECK_EQ_INT(x.r.advice.verdict, LQMF_ADVICE_NONE);
    CHECKF(strstr(x.r.advice.why, url) != NULL, "why: %s", x.r.advice.why); /* it tried the mock's address */
    CHECK_STR(x.r.scheme ? x.r.scheme->name : "", "Q4_K_M");
    CHECKF(x.r.plan_text && strstr(x.r.plan_text, "the plan above stands") &&
               strstr(x.r.plan_text, "Advice not taken: the planner's Q4_K_M stands"),
           "%s", x.r.plan_text ? x.r.plan_text : "");
    CHECK_STR(plan_advice(&x, "verdict"), "none");
    run_free(&x);

    /* a provider answering 503 is the same */
    mk = mock_llm_start();
    REQUIRE(mk);
    mock_llm_reply(mk, 503, "{\"error\": {\"message\": \"overloaded\"}}");
    config_done(cfg);
    cfg = llm_config(mock_llm_url(mk), true);
    run_factory(&x, src, "", cfg);
    CHECK_EQ_INT(x.r.outcome, LQMF_FACTORY_SUCCEEDED);
    CHECK_EQ_INT(x.r.advice.verdict, LQMF_ADVICE_NONE);
    CHECK_EQ_INT(mock_llm_log_get(mk)->count, 1);
    CHECK_STR(x.r.scheme ? x.r.scheme->name : "", "Q4_K_M");
    run_free(&x);
    config_done(cfg);
    mock_llm_stop(mk);
}

TEST(factory_advice_off_unless_wanted) {
    DATA(src, "models/tiny-llama");
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    lqmf_config *cfg = llm_config(mock_llm_url(mk), false);
    answer(mk, "{\"scheme\": \"Q5_K_M\", \"reason\": \"x\"}");
    run x;
    run_factory(&x, src, "", cfg); /* llm_advice false, no --advice */
    CHECK_EQ_INT(mock_llm_log_get(mk)->count, 0);
    CHECK(!x.r.advice_asked);
    CHECK_STR(x.r.scheme ? x.r.scheme->name : "", "Q4_K_M");
    CHECK(x.r.plan_text && !strstr(x.r.plan_text, "Advice"));
    CHECK(json_object_get(x.recorded_plan, "advice") == NULL);
    run_free(&x);
    config_done(cfg);
    mock_llm_stop(mk);
}

/* `lqmf quantize ... --advice --json`: the flag asks (llm_advice is off),
 * the JSON reports the advice and the artifact is the advised scheme. */
TEST(factory_advice_cli_flag) {
    DATA(src, "models/tiny-llama");
    mock_llm *mk = mock_llm_start();
    REQUIRE(mk);
    answer(mk, "{\"scheme\": \"Q5_K_S\", \"reason\": \"fits easily\"}");
    setenv("LLM_PROVIDER", "local", 1);
    setenv("LQMF_LLM_BASE_URL", mock_llm_url(mk), 1);
    const char *dir = lqmf_test_tmpdir();
    char args[2048], *out = NULL;
    snprintf(args, sizeof args,
             "quantize '%s' to GGUF for CPU --yes --no-test --json --advice --env-file /dev/null "
             "--quantized-models-dir '%s/out' --db '%s/e.db'",
             src, dir, dir);
    CHECK_EQ_INT(lqmf_test_cli(args, NULL, &out), 0);
    json_t *j = out ? json_loads(out, JSON_REJECT_DUPLICATES, NULL) : NULL;
    CHECKF(j != NULL, "not JSON: %s", out ? out : "");
    free(out);
    const json_t *a = json_object_get(j, "advice");
    CHECK_STR(json_string_value(json_object_get(a, "verdict")), "accepted");
    CHECK(json_is_true(json_object_get(a, "taken")));
    CHECK_STR(json_string_value(json_object_get(j, "scheme")), "Q5_K_S");
    CHECK_EQ_INT(mock_llm_log_get(mk)->count, 1);
    json_decref(j);
    unsetenv("LLM_PROVIDER");
    unsetenv("LQMF_LLM_BASE_URL");
    mock_llm_stop(mk);
}
