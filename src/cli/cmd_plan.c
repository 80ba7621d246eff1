/* lqmf plan "REQUEST": parse the request, find the model's shape, size up
 * the target (from the request, else the probed hardware, else the
 * configuration) and print the ranked plans with their arithmetic. */
#include "cli.h"
#include "json_out.h"
#include "lqmf/advisor.h"
#include "lqmf/config.h"
#include "lqmf/hf_config.h"
#include "lqmf/hub.h"
#include "lqmf/hw.h"
#include "lqmf/intent.h"
#include "lqmf/model.h"
#include "lqmf/plan.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

typedef struct {
    char request[LQMF_INTENT_MAX_BYTES + 1];
    bool json;
    double params;                            /* --params: 7e9, 7.24B, 125M */
    unsigned layers, kv_heads, head_dim, ctx; /* --layers --kv-heads --head-dim --ctx */
    unsigned embd, heads, ff, vocab;          /* full shape: --embd --heads --ff --vocab */
    bool tied;                                /* --tied: output shares the embeddings */
    bool advice;                              /* --advice: ask the configured LLM provider */
} plan_args;

/* "7e9", "7.24B", "125M", "1.5k" -> count; false when malformed. */
static bool parse_count(const char *s, double *out) {
    char *e;
    double v = strtod(s, &e);
    static const struct {
        char c;
        double mul;
    } sfx[] = {{'k', 1e3}, {'K', 1e3}, {'m', 1e6},  {'M', 1e6},
               {'b', 1e9}, {'B', 1e9}, {'t', 1e12}, {'T', 1e12}};
    for (size_t i = 0; *e && i < sizeof sfx / sizeof sfx[0]; i++)
        if (*e == sfx[i].c && !e[1]) {
            v *= sfx[i].mul;
            e++;
        }
    if (e == s || *e || !isfinite(v) || v <= 0) return false;
    *out = v;
    return true;
}

static bool parse_uint(const char *s, unsigned *out) {
    double v;
    if (!parse_count(s, &v) || v != floor(v) || v > 1e9) return false;
    *out = (unsigned)v;
    return true;
}

static int parse_args(int argc, char **argv, plan_args *a) {
    static const struct {
        const char *flag;
        size_t off;
    } uints[] = {
        {"--layers", offsetof(plan_args, layers)},
        {"--kv-heads", offsetof(plan_args, kv_heads)},
        {"--head-dim", offsetof(plan_args, head_dim)},
        {"--ctx", offsetof(plan_args, ctx)},
        {"--embd", offsetof(plan_args, embd)},
        {"--heads", offsetof(plan_args, heads)},
        {"--ff", offsetof(plan_args, ff)},
        {"--vocab", offsetof(plan_args, vocab)},
    };
    size_t len = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (LQMF_IS(s, "--json")) {
            a->json = true;
            continue;
        }
        if (LQMF_IS(s, "--tied")) {
            a->tied = true;
            continue;
        }
        if (LQMF_IS(s, "--advice")) {
            a->advice = true;
            continue;
        }
        if (LQMF_IS(s, "--params")) {
            if (i + 1 >= argc || !parse_count(argv[++i], &a->params)) return 2;
            continue;
        }
        size_t k = 0;
        for (; k < sizeof uints / sizeof uints[0]; k++)
            if (LQMF_IS(s, uints[k].flag)) break;
        if (k < sizeof uints / sizeof uints[0]) {
            if (i + 1 >= argc || !parse_uint(argv[++i], (unsigned *)((char *)a + uints[k].off))) return 2;
            continue;
        }
        if (s[0] == '-' && s[1] == '-') return 2;
        size_t n = strlen(s);
        if (len + n + 2 > sizeof a->request) return 2;
        if (len) a->request[len++] = ' ';
        memcpy(a->request + len, s, n + 1);
        len += n;
    }
    return len ? 0 : 2;
}

/* The model's shape: from flags when given (they override), else from the
 * local file or folder (the model loader), else from the Hub repository's
 * config.json; *download gets the weights' size when they come from the Hub. */
static lqmf_status load_meta(const plan_args *a, const lqmf_intent *in, lqmf_model_meta *m, const char **from,
                             uint64_t *download) {
    const lqmf_model_ref *r = &in->model;
    const char *name = r->kind == LQMF_REF_REPO || r->kind == LQMF_REF_LOCAL ? r->id
                       : r->text[0]                                          ? r->text
                                                                             : "model";
    *download = 0;
    if (a->embd && a->heads && a->ff && a->vocab && a->layers) {
        lqmf_hparams hp = {.arch = LQMF_ARCH_LLAMA,
                           .n_vocab = a->vocab,
                           .n_embd = a->embd,
                           .n_layer = a->layers,
                           .n_head = a->heads,
                           .n_head_kv = a->kv_heads ? a->kv_heads : a->heads,
                           .head_dim = a->head_dim ? a->head_dim : a->embd / a->heads,
                           .n_ff = a->ff,
                           .n_ctx_train = a->ctx,
                           .tied_embeddings = a->tied};
        *from = "flags (full shape: exact mix rules)";
        return lqmf_plan_meta_from_hparams(&hp, name, m);
    }
    if (a->params) {
        if (!a->layers || !a->kv_heads || !a->head_dim)
            return lqmf_error(LQMF_E_INVALID, "--params needs --layers, --kv-heads and --head-dim too");
        *from = "flags (parameter count only)";
        return lqmf_plan_meta_from_counts((uint64_t)a->params, a->layers, a->kv_heads, a->head_dim, a->ctx,
                                          name, m);
    }
    if (r->kind == LQMF_REF_LOCAL) {
        lqmf_model *mdl;
        lqmf_status st = lqmf_model_open(r->id, &mdl);
        if (st != LQMF_OK) return st;
        st = lqmf_plan_meta_from_model(mdl, m);
        lqmf_model_close(mdl);
        *from = "the model's tensors";
        return st;
    }
    if (r->kind != LQMF_REF_REPO)
        return lqmf_error(LQMF_E_INVALID,
                          "no model named; say which (\"quantize gpt2 ...\") or give the shape with "
                          "--params N --layers L --kv-heads H --head-dim D");
    lqmf_hub *hub;
    lqmf_hub_repo *repo = NULL;
    lqmf_status st = lqmf_hub_new(NULL, &hub);
    if (st == LQMF_OK) st = lqmf_hub_repo_open(hub, r->id, NULL, &repo);
    if (st == LQMF_OK && !repo->config_json)
        st = lqmf_error(LQMF_E_NOT_FOUND, "%s has no config.json", r->id);
    lqmf_hparams hp;
    if (st == LQMF_OK) st = lqmf_hf_config_parse(repo->config_json, repo->config_len, r->id, &hp);
    if (st == LQMF_OK) st = lqmf_plan_meta_from_hparams(&hp, r->id, m);
    bool *sel = repo ? calloc(repo->n_files ? repo->n_files : 1, sizeof *sel) : NULL;
    size_t n_sel;
    if (st == LQMF_OK && sel && lqmf_hub_select(repo, NULL, 0, sel, &n_sel) == LQMF_OK)
        for (size_t i = 0; i < repo->n_files; i++) *download += sel[i] ? repo->files[i].size : 0;
    free(sel);
    lqmf_hub_repo_free(repo);
    lqmf_hub_free(hub);
    if (st != LQMF_OK)
        return lqmf_error_prefix(st,
                                 "model shape of %s (or give it with --params N --layers L --kv-heads H "
                                 "--head-dim D)",
                                 r->id);
    lqmf_clear_error();
    *from = "the Hub repository's config.json";
    return LQMF_OK;
}

/* Device and its memory: the request's, else the probed GPU (capped by a
 * configured gpu_memory_limit) or RAM, else the configured limit. */
static void size_device(lqmf_intent *in, const lqmf_hw *hw, const lqmf_config *cfg, lqmf_plan_request *rq,
                        const char **mem_from) {
    uint64_t limit = (uint64_t)(lqmf_config_get_double(cfg, LQMF_CFG_GPU_MEMORY_LIMIT) * GIB);
    bool limit_set = lqmf_config_source_of(cfg, LQMF_CFG_GPU_MEMORY_LIMIT) != LQMF_CFG_FROM_DEFAULT;
    uint64_t gpu = hw->n_gpus ? hw->gpus[0].mem_total : 0;
    if (in->device == LQMF_DEVICE_ANY) lqmf_intent_set_device(in, gpu ? LQMF_DEVICE_GPU : LQMF_DEVICE_CPU);
    rq->device = in->device;
    if (in->device_mem) {
        rq->device_mem = in->device_mem;
        *mem_from = "the request";
    } else if (in->device == LQMF_DEVICE_GPU && gpu) {
        rq->device_mem = limit_set && limit < gpu ? limit : gpu;
        *mem_from = limit_set && limit < gpu ? "gpu_memory_limit (below the probed GPU)" : "the probed GPU";
    } else if (in->device == LQMF_DEVICE_GPU) {
        rq->device_mem = limit;
        *mem_from = "gpu_memory_limit (no GPU found here)";
    } else {
        rq->device_mem = hw->ram_available;
        *mem_from = "available RAM";
    }
}

static json_t *plan_json(const lqmf_model_meta *m, const lqmf_plan *p) {
    json_t *opts = json_array();
    for (size_t i = 0; i < p->n_opts; i++) {
        const lqmf_estimate *e = &p->opts[i].est;
        json_array_append_new(
            opts,
            json_pack("{s:s, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:s, s:b}", "scheme", e->scheme->name,
                      "method", lqmf_method_name(e->scheme->method), "bpw", e->bpw, "weight_bytes",
                      (json_int_t)e->weight_bytes, "kv_bytes", (json_int_t)e->kv_bytes, "compute_bytes",
                      (json_int_t)e->compute_bytes, "base_bytes", (json_int_t)e->base_bytes, "total_bytes",
                      (json_int_t)e->total_bytes, "ppl_delta_pct", e->scheme->ppl_delta_pct, "fit",
                      lqmf_fit_name(p->opts[i].fit), "chosen", (int)i == p->chosen));
    }
    return json_pack("{s:s, s:I, s:i, s:s, s:I, s:I, s:i, s:o, s:s?, s:s, s:s}", "model", m->name, "params",
                     (json_int_t)m->n_params, "layers", (int)m->n_layer, "device",
                     lqmf_device_name(p->rq.device), "device_mem", (json_int_t)p->rq.device_mem, "usable_mem",
                     (json_int_t)p->usable_mem, "n_ctx", (int)p->n_ctx, "options", opts, "chosen",
                     p->chosen >= 0 ? p->opts[p->chosen].est.scheme->name : NULL, "why", p->why,
                     "alternative", p->alternative);
}

static json_t *advice_json(const lqmf_advice *adv) {
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:b}", "provider", adv->provider, "model", adv->model,
                     "verdict", lqmf_advice_verdict_name(adv->verdict), "scheme",
                     adv->scheme[0] ? adv->scheme : NULL, "reason", adv->reason, "why", adv->why, "agrees",
                     adv->agrees);
}

static int report(const plan_args *a, const char *intent_line, const lqmf_model_meta *m,
                  const char *meta_from, const char *mem_from, const lqmf_plan *p,
                  const lqmf_plan *fallback, const lqmf_advice *adv) {
    if (a->json) {
        json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:o}", "request", a->request, "intent", intent_line,
                                 "model_from", meta_from, "memory_from", mem_from, "plan", plan_json(m, p));
        if (fallback) json_object_set_new(root, "cpu_fallback", plan_json(m, fallback));
        if (adv) json_object_set_new(root, "advice", advice_json(adv));
        return lqmf_cli_print_json(root, p->chosen >= 0 || (fallback && fallback->chosen >= 0) ? 0 : 1);
    }
    lqmf_buf b;
    lqmf_buf_init(&b);
    lqmf_buf_printf(&b, "Request: %s\nUnderstood: %s\nModel shape from %s; device memory from %s.\n\n",
                    a->request, intent_line, meta_from, mem_from);
    lqmf_status st = lqmf_plan_render(m, p, &b);
    if (st == LQMF_OK && fallback) {
        lqmf_buf_printf(&b, "\nCPU fallback (cpu_fallback = true):\n");
        st = lqmf_plan_render(m, fallback, &b);
    }
    if (adv) {
        lqmf_buf_printf(&b, "\n");
        lqmf_advice_render(adv, &b);
    }
    if (st != LQMF_OK) {
        lqmf_buf_free(&b);
        return lqmf_cli_fail(st);
    }
    fwrite(b.data, 1, b.len, stdout);
    lqmf_buf_free(&b);
    return p->chosen >= 0 || (fallback && fallback->chosen >= 0) ? 0 : 1;
}

static int run_plan(int argc, char **argv) {
    lqmf_config_opts copts = {0};
    lqmf_status st = lqmf_config_take_args(&argc, argv, &copts);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    plan_args a = {0};
    if (parse_args(argc, argv, &a)) return lqmf_cli_usage("plan");
    lqmf_intent in;
    if ((st = lqmf_intent_parse(a.request, &(lqmf_intent_opts){.probe_fs = true}, &in)) != LQMF_OK)
        return lqmf_cli_fail(st);
    if (in.action != LQMF_ACTION_QUANTIZE && in.action != LQMF_ACTION_PLAN && in.action != LQMF_ACTION_REFINE)
        return lqmf_cli_fail(lqmf_error(LQMF_E_INVALID, "\"%s\" asks to %s, not for a quantization plan",
                                        a.request, lqmf_action_name(in.action)));
    if (in.model.kind == LQMF_REF_AMBIGUOUS) {
        lqmf_buf b;
        lqmf_buf_init(&b);
        for (size_t i = 0; i < in.model.n_candidates; i++)
            lqmf_buf_printf(&b, "%s%s", i ? ", " : "", in.model.candidates[i]);
        lqmf_buf_append(&b, "", 1);
        st =
            lqmf_error(LQMF_E_INVALID, "\"%s\" could mean %s; name one", in.model.text, (const char *)b.data);
        lqmf_buf_free(&b);
        return lqmf_cli_fail(st);
    }
    lqmf_model_meta m;
    const char *meta_from = "", *mem_from = "";
    uint64_t download;
    if ((st = load_meta(&a, &in, &m, &meta_from, &download)) != LQMF_OK) return lqmf_cli_fail(st);
    lqmf_config *cfg;
    if ((st = lqmf_config_load(&copts, &cfg)) != LQMF_OK) return lqmf_cli_fail(st);
    lqmf_hw hw;
    if ((st = lqmf_hw_probe(NULL, &hw)) != LQMF_OK) {
        lqmf_config_free(cfg);
        return lqmf_cli_fail(st);
    }
    lqmf_plan_request rq = {.size_budget = in.size_budget,
                            .mem_budget = in.mem_budget,
                            .n_ctx = a.ctx ? a.ctx : in.n_ctx,
                            .bits = in.bits,
                            .scheme = in.scheme,
                            .pref = in.pref};
    size_device(&in, &hw, cfg, &rq, &mem_from);
    rq.method = in.method;
    rq.disk_extra = download;
    rq.check_disk = lqmf_hw_disk_free(lqmf_config_get(cfg, LQMF_CFG_QUANTIZED_MODELS_DIR), &rq.disk_free,
                                      NULL) == LQMF_OK;
    lqmf_plan p, fb = {0};
    bool have_fb = false;
    st = lqmf_plan_make(&m, &rq, &p);
    if (st == LQMF_OK && p.chosen < 0 && rq.device == LQMF_DEVICE_GPU &&
        lqmf_config_get_bool(cfg, LQMF_CFG_CPU_FALLBACK)) {
        lqmf_intent cpu = in;
        cpu.device_mem = 0;
        lqmf_intent_set_device(&cpu, LQMF_DEVICE_CPU);
        lqmf_plan_request frq = rq;
        frq.device = LQMF_DEVICE_CPU;
        frq.device_mem = hw.ram_available;
        frq.method = cpu.method;
        st = lqmf_plan_make(&m, &frq, &fb);
        have_fb = st == LQMF_OK;
    }
    lqmf_advice adv;
    bool want_advice = st == LQMF_OK && lqmf_advice_wanted(cfg, a.advice);
    if (want_advice) lqmf_advice_ask(cfg, &m, p.chosen < 0 && have_fb ? &fb : &p, &adv);
    lqmf_config_free(cfg);
    if (st != LQMF_OK) {
        lqmf_plan_free(&p);
        return lqmf_cli_fail(st);
    }
    lqmf_buf line;
    lqmf_buf_init(&line);
    lqmf_intent_describe(&in, &line);
    lqmf_buf_append(&line, "", 1);
    int rc = report(&a, line.failed ? "" : (const char *)line.data, &m, meta_from, mem_from, &p,
                    have_fb ? &fb : NULL, want_advice ? &adv : NULL);
    lqmf_buf_free(&line);
    lqmf_plan_free(&p);
    lqmf_plan_free(&fb);
    return rc;
}

LQMF_COMMAND(plan, "plan", "\"REQUEST\" [--json] [--advice] [--params N --layers L --kv-heads H --head-dim D] [--ctx C]",
             "rank the quantization plans that fit a request, with the arithmetic", run_plan)
