/* lqmf quantize REQUEST... | lqmf do "REQUEST": the factory pipeline from
 * the command line (resolve, plan, confirm, download, quantize, test,
 * record, model card) with one progress line and the summary.
 * `lqmf quantize SOURCE --type TYPE [-o OUT]` stays the plain converter
 * (cmd_quantize.c); without --type/-o the words are a request.
 * Options: --yes/-y (no confirmation), --no-test, --json, --advice (ask the
 * LLM provider about the plan, as llm_advice = true does), -t N, --db PATH,
 * and the configuration flags (--config, --env-file, --quantized-models-dir,
 * --storage-backend, ...). Ctrl-C stops the run: no artifact is left and
 * the experiment is recorded as interrupted. */
#include "cli.h"
#include "json_out.h"
#include "lqmf/config.h"
#include "lqmf/factory.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    bool tty, json;
    int last_stage;
    int last_pct;
} ui_state;

static bool on_progress(void *user, const lqmf_factory_progress *p) {
    ui_state *u = user;
    if (lqmf_cli_sigint_seen(NULL)) return false;
    if (u->json) return true;
    int pct = p->frac >= 0 ? (int)(p->frac * 100 + 0.5) : -1;
    if (u->tty) {
        int w = 24, fill = pct >= 0 ? pct * w / 100 : 0;
        fprintf(stderr, "\r\033[K[%d/%d] %-8s [%.*s%*s] %3d%% %.60s", (int)p->stage + 1,
                (int)LQMF_FACTORY_STAGE_COUNT, lqmf_factory_stage_name(p->stage), fill,
                "########################", w - fill, "", pct < 0 ? 0 : pct, p->detail);
    } else if ((int)p->stage != u->last_stage || (pct == 100 && u->last_pct != 100)) {
        fprintf(stderr, "[%d/%d] %s: %s\n", (int)p->stage + 1, (int)LQMF_FACTORY_STAGE_COUNT,
                lqmf_factory_stage_name(p->stage), p->detail);
    }
    u->last_stage = (int)p->stage;
    u->last_pct = pct;
    return true;
}

static void end_progress(const ui_state *u) {
    if (u->tty && !u->json) fprintf(stderr, "\r\033[K");
}

/* Show the plan and ask on a terminal; elsewhere (scripts) proceed. */
static bool confirm(void *user, const lqmf_factory_result *r) {
    ui_state *u = user;
    end_progress(u);
    if (!u->json) printf("%s\n", r->plan_text ? r->plan_text : "");
    if (!isatty(STDIN_FILENO) || u->json) return true;
    printf("Proceed with %s %s? [Y/n] ",
           r->scheme->method == LQMF_METHOD_BNB    ? "BitsAndBytes"
           : r->scheme->method == LQMF_METHOD_GPTQ ? "GPTQ"
                                                   : "GGUF",
           r->scheme->name);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return false;
    return line[0] == '\n' || line[0] == 'y' || line[0] == 'Y';
}

static int exit_code(const lqmf_factory_result *r, lqmf_status st) {
    switch (r->outcome) {
    case LQMF_FACTORY_SUCCEEDED: return LQMF_EXIT_OK;
    case LQMF_FACTORY_REFUSED: return LQMF_EXIT_REFUSED;
    case LQMF_FACTORY_DECLINED: return LQMF_EXIT_DECLINED;
    case LQMF_FACTORY_INTERRUPTED: return LQMF_EXIT_INTERRUPTED;
    default: return st == LQMF_E_INVALID ? LQMF_EXIT_USAGE : LQMF_EXIT_FAILED;
    }
}

static void print_json(const lqmf_factory_result *r) {
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:f, s:f, s:f, s:s, s:s?, s:I, s:s?}", "outcome",
        lqmf_factory_outcome_name(r->outcome), "stage", lqmf_factory_stage_name(r->stage), "source", r->source,
        "scheme", r->scheme ? r->scheme->name : NULL, "folder", r->out_folder[0] ? r->out_folder : NULL,
        "artifact", r->artifact[0] ? r->artifact : NULL, "model_card", r->card[0] ? r->card : NULL,
        "size_before", (json_int_t)r->src_bytes, "size_after", (json_int_t)r->quant.out_bytes, "compression_ratio",
        r->quant.out_bytes ? (double)r->src_bytes / (double)r->quant.out_bytes : 0.0, "bits_per_weight",
        r->quant.bpw, "seconds", r->seconds, "sha256", r->sha256, "test", r->test_verdict[0] ? r->test_verdict : NULL,
        "experiment_id", (json_int_t)r->experiment_id, "message", r->message[0] ? r->message : NULL);
    if (o && r->advice_asked)
        json_object_set_new(o, "advice",
                            json_pack("{s:s, s:s, s:s, s:s?, s:s, s:b}", "provider", r->advice.provider,
                                      "model", r->advice.model, "verdict",
                                      lqmf_advice_verdict_name(r->advice.verdict), "scheme",
                                      r->advice.scheme[0] ? r->advice.scheme : NULL, "why", r->advice.why,
                                      "taken", r->advice_taken));
    lqmf_cli_print_json(o, 0);
}

static void print_text(const lqmf_factory_result *r) {
    if (r->outcome != LQMF_FACTORY_SUCCEEDED) {
        if (r->outcome == LQMF_FACTORY_REFUSED && r->plan_text && r->plan.chosen < 0) printf("%s\n", r->plan_text);
        fprintf(stderr, "lqmf: %s\n", r->message);
        if (r->experiment_id) fprintf(stderr, "lqmf: recorded as experiment #%lld\n", (long long)r->experiment_id);
        return;
    }
    lqmf_buf b;
    lqmf_buf_init(&b);
    if (lqmf_factory_render_summary(r, &b) == LQMF_OK) fwrite(b.data, 1, b.len, stdout);
    lqmf_buf_free(&b);
    printf("\nTest report (%s):\n%s", r->test_verdict, r->test_text ? r->test_text : "");
    printf("Model card: %s\n", r->card);
}

typedef struct {
    char request[LQMF_INTENT_MAX_BYTES + 1];
    bool yes, json, no_test, advice;
    uint32_t threads;
    const char *db;
    lqmf_store_backend backend;
    bool backend_set;
} factory_args;

static int parse_args(int argc, char **argv, bool prefix, factory_args *a) {
    size_t len = 0;
    if (prefix) len = (size_t)snprintf(a->request, sizeof a->request, "quantize");
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (LQMF_IS(s, "--yes") || LQMF_IS(s, "-y")) a->yes = true;
        else if (LQMF_IS(s, "--json")) a->json = true;
        else if (LQMF_IS(s, "--no-test")) a->no_test = true;
        else if (LQMF_IS(s, "--advice")) a->advice = true;
        else if ((LQMF_IS(s, "-t") || LQMF_IS(s, "--threads")) && i + 1 < argc)
            a->threads = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (LQMF_IS(s, "--db") && i + 1 < argc) a->db = argv[++i];
        else if (s[0] == '-' && s[1] == '-') {
            fprintf(stderr, "lqmf: unknown option '%s'\n", s);
            return LQMF_EXIT_USAGE;
        } else {
            size_t n = strlen(s);
            if (len + n + 2 > sizeof a->request) return LQMF_EXIT_USAGE;
            if (len) a->request[len++] = ' ';
            memcpy(a->request + len, s, n + 1);
            len += n;
        }
    }
    return len > (prefix ? strlen("quantize") : 0) ? 0 : LQMF_EXIT_USAGE;
}

int lqmf_cli_factory(int argc, char **argv, bool prefix_quantize) {
    lqmf_config_opts copts = {0};
    lqmf_status st = lqmf_config_take_args(&argc, argv, &copts);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    factory_args a = {0};
    if (parse_args(argc, argv, prefix_quantize, &a)) return lqmf_cli_usage(prefix_quantize ? "quantize" : "do");
    lqmf_config *cfg;
    if ((st = lqmf_config_load(&copts, &cfg)) != LQMF_OK) return lqmf_cli_fail(st);
    lqmf_config_export_dotenv(cfg);
    lqmf_store_backend_from_name(lqmf_config_get(cfg, LQMF_CFG_STORAGE_BACKEND), &a.backend);
    char *db = a.db ? strdup(a.db) : lqmf_store_default_path(a.backend);
    lqmf_hub_options ho;
    lqmf_hub_options_init(&ho);
    ho.max_retries = (unsigned)lqmf_config_get_int(cfg, LQMF_CFG_MAX_RETRIES);
    ho.cancel = lqmf_cli_sigint_seen; /* Ctrl-C cuts a download short (its partial files are kept) */
    ui_state ui = {.tty = isatty(STDERR_FILENO) != 0, .json = a.json, .last_stage = -1, .last_pct = -1};
    lqmf_factory_request rq = {
        .request = a.request,
        .out_dir = lqmf_config_get(cfg, LQMF_CFG_QUANTIZED_MODELS_DIR),
        .store_path = db,
        .store_backend = a.backend,
        .hub = &ho,
        .gpu_mem_default = (uint64_t)(lqmf_config_get_double(cfg, LQMF_CFG_GPU_MEMORY_LIMIT) * 1073741824.0),
        .n_threads = a.threads,
        .calib_path = lqmf_config_get(cfg, LQMF_CFG_CALIBRATION_TEXT), /* "" : the built-in text */
        .assume_yes = a.yes,
        .skip_test = a.no_test,
        .llm_config = cfg,
        .advice = a.advice,
        .confirm = confirm,
        .progress = on_progress,
        .user = &ui,
    };
    /* Ctrl-C sets a flag the progress callback reads: the quantizer then
     * removes its temporary file and the run is recorded as interrupted. */
    lqmf_cli_sigint_catch();
    lqmf_factory_result r;
    st = lqmf_factory_run(&rq, &r);
    lqmf_cli_sigint_restore();
    end_progress(&ui);
    if (a.json) print_json(&r);
    else {
        if (a.yes && r.plan_text && r.plan.chosen >= 0) printf("%s\n", r.plan_text); /* not shown by confirm */
        print_text(&r);
    }
    int rc = exit_code(&r, st);
    lqmf_factory_result_free(&r);
    lqmf_config_free(cfg);
    free(db);
    return rc;
}

static int run_do(int argc, char **argv) {
    if (argc == 2 && !strchr(argv[1], ' ') && lqmf_cli_find(argv[1])) {
        bool quit;
        return lqmf_cli_line(argv[1], &quit);
    }
    lqmf_buf b;
    lqmf_buf_init(&b);
    for (int i = 1; i < argc; i++) lqmf_buf_printf(&b, "%s%s", i > 1 ? " " : "", argv[i]);
    lqmf_buf_append(&b, "", 1);
    bool quit;
    int rc = b.failed || argc < 2 ? lqmf_cli_usage("do") : lqmf_cli_line((const char *)b.data, &quit);
    lqmf_buf_free(&b);
    return rc;
}

LQMF_COMMAND(do, "do", "\"REQUEST\"",
             "run one REPL line: a request in words (\"quantize gpt2 to 4-bit GGUF for CPU --yes\") or a command",
             run_do)
