/* The factory pipeline: intent -> resolve -> plan -> download -> quantize
 * -> test -> record, with the experiment begun first and always finished
 * (succeeded, failed or interrupted). */
#include "factory_priv.h"
#include "lqmf/hfq.h"
#include "lqmf/sha256.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CALIB_MAX_BYTES (256ull << 20) /* a calibration text file */

const char *lqmf_factory_stage_name(lqmf_factory_stage s) {
    static const char *const names[] = {"resolve", "plan", "download", "quantize", "test", "record"};
    return (unsigned)s < LQMF_FACTORY_STAGE_COUNT ? names[s] : "?";
}

const char *lqmf_factory_outcome_name(lqmf_factory_outcome o) {
    static const char *const names[] = {"succeeded", "refused", "declined", "failed", "interrupted"};
    return (unsigned)o <= LQMF_FACTORY_INTERRUPTED ? names[o] : "?";
}

bool factory_notify(factory_run *fr, lqmf_factory_stage stage, double frac, const char *detail) {
    fr->r->stage = stage;
    if (fr->stop) return false;
    if (fr->rq->progress &&
        !fr->rq->progress(fr->rq->user, &(lqmf_factory_progress){stage, frac, detail ? detail : ""}))
        fr->stop = true;
    return !fr->stop;
}

void lqmf_factory_result_free(lqmf_factory_result *r) {
    if (!r) return;
    lqmf_plan_free(&r->plan);
    free(r->plan_text);
    free(r->test_text);
    r->plan_text = r->test_text = NULL;
}

static lqmf_status mkdir_p(const char *path);

/* ---- intent ------------------------------------------------------------------------- */

/* GGUF, bitsandbytes (NF4, INT8) and GPTQ (4-, 8-bit) are produced; the
 * last two only when the request names them ("bnb", "nf4", "int8",
 * "gptq"); a method defaulted from the device becomes GGUF, and AWQ is
 * refused. */
static lqmf_status check_method(factory_run *fr) {
    lqmf_intent *in = &fr->r->intent;
    const lqmf_scheme *s = in->scheme;
    lqmf_method m = s ? s->method : in->method_defaulted ? LQMF_METHOD_GGUF : in->method;
    if (m == LQMF_METHOD_ANY || m == LQMF_METHOD_GGUF) {
        in->method = LQMF_METHOD_GGUF;
        in->method_defaulted = in->method_defaulted || m == LQMF_METHOD_ANY;
        return LQMF_OK;
    }
    fr->r->stage = LQMF_FACTORY_PLAN;
    bool hf = m == LQMF_METHOD_BNB || m == LQMF_METHOD_GPTQ;
    if (hf && (s || !in->bits || in->bits == 4 || in->bits == 8)) {
        in->method = m;
        in->method_defaulted = false;
        if (!s && m == LQMF_METHOD_BNB) in->scheme = lqmf_plan_scheme_find(in->bits == 8 ? "INT8" : "NF4");
        if (!s && m == LQMF_METHOD_GPTQ) in->scheme = lqmf_plan_scheme_find(in->bits == 8 ? "GPTQ-8bit" : "GPTQ-4bit");
        return LQMF_OK;
    }
    fr->refused = true;
    if (hf)
        return lqmf_error(LQMF_E_UNSUPPORTED, "%s checkpoints are 4-bit or 8-bit here, not %u-bit",
                          lqmf_method_name(m), in->bits);
    return lqmf_error(LQMF_E_UNSUPPORTED,
                      "%s%s%s is not implemented yet: lqmf writes GGUF files (Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, "
                      "Q6_K, Q8_0, F16, ...), which llama.cpp also runs on GPUs, and bitsandbytes (NF4, INT8) "
                      "and GPTQ (4-, 8-bit) checkpoints; ask for \"4-bit GGUF\", \"bnb 4-bit\" or \"gptq\"",
                      lqmf_method_name(m), s ? " " : "", s ? s->name : "");
}

static lqmf_status parse_intent(factory_run *fr) {
    lqmf_intent *in = &fr->r->intent;
    lqmf_status st = lqmf_intent_parse(fr->rq->request, &(lqmf_intent_opts){.probe_fs = true}, in);
    if (st != LQMF_OK) return st;
    if (in->action != LQMF_ACTION_QUANTIZE)
        return lqmf_error(LQMF_E_INVALID, "\"%s\" asks to %s, not to quantize a model", fr->rq->request,
                          lqmf_action_name(in->action));
    return LQMF_OK;
}

/* ---- plan ----------------------------------------------------------------------------- */

static void size_device(factory_run *fr, lqmf_plan_request *prq) {
    lqmf_intent *in = &fr->r->intent;
    const lqmf_hw *hw = &fr->hw;
    uint64_t gpu = hw->n_gpus ? hw->gpus[0].mem_total : 0;
    if (in->device == LQMF_DEVICE_ANY) lqmf_intent_set_device(in, gpu ? LQMF_DEVICE_GPU : LQMF_DEVICE_CPU);
    if (in->method_defaulted) in->method = LQMF_METHOD_GGUF; /* set_device may have defaulted another */
    prq->device = in->device;
    prq->device_mem = in->device_mem                      ? in->device_mem
                      : in->device == LQMF_DEVICE_CPU      ? hw->ram_available
                      : gpu                                ? gpu
                                                           : fr->rq->gpu_mem_default;
}

static char *plan_json(const lqmf_factory_result *r) {
    const lqmf_plan *p = &r->plan;
    const lqmf_estimate *e = p->chosen >= 0 ? &p->opts[p->chosen].est : NULL;
    json_t *o = json_pack("{s:s?, s:s, s:s, s:i, s:I, s:I, s:I, s:f, s:s, s:s}", "scheme",
                          e ? e->scheme->name : NULL, "method", e ? lqmf_method_name(e->scheme->method) : "gguf", "device", lqmf_device_name(p->rq.device),
                          "n_ctx", (int)p->n_ctx, "device_mem", (json_int_t)p->rq.device_mem, "weight_bytes",
                          (json_int_t)(e ? e->weight_bytes : 0), "total_bytes",
                          (json_int_t)(e ? e->total_bytes : 0), "bpw", e ? e->bpw : 0.0, "why", p->why,
                          "alternative", p->alternative);
    json_t *advice = factory_advice_json(r);
    if (advice) json_object_set_new(o, "advice", advice); /* released here when o is NULL */
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* Which text GPTQ calibrates on, into r->calib, and a plan line naming it. */
static void name_calibration(factory_run *fr, lqmf_buf *plan) {
    lqmf_factory_result *r = fr->r;
    size_t len = 0;
    if (fr->rq->calib_path && *fr->rq->calib_path) snprintf(r->calib, sizeof r->calib, "%s", fr->rq->calib_path);
    else if (lqmf_eval_calibration_text(&len))
        snprintf(r->calib, sizeof r->calib, "built-in text, second half (%zu bytes; calibration_text sets a file)",
                 len);
    lqmf_buf_printf(plan, "GPTQ calibration text: %s\n", r->calib);
}

static lqmf_status make_plan(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    lqmf_intent *in = &r->intent;
    if (!factory_notify(fr, LQMF_FACTORY_PLAN, 0, "estimating"))
        return lqmf_error(LQMF_E_INTERRUPTED, "interrupted while planning");
    lqmf_plan_request prq = {.size_budget = in->size_budget,
                             .mem_budget = in->mem_budget,
                             .n_ctx = in->n_ctx,
                             .bits = in->bits,
                             .scheme = in->scheme,
                             .pref = in->pref};
    size_device(fr, &prq);
    prq.method = in->method;
    prq.disk_extra = fr->repo && !fr->model ? fr->download_bytes : 0;
    prq.check_disk = lqmf_hw_disk_free(fr->rq->out_dir, &prq.disk_free, NULL) == LQMF_OK;
    lqmf_status st = lqmf_plan_make(&r->meta, &prq, &r->plan);
    if (st != LQMF_OK) return st;
    lqmf_buf b;
    lqmf_buf_init(&b);
    st = lqmf_plan_render(&r->meta, &r->plan, &b);
    if (st == LQMF_OK) factory_advise(fr, &b);
    if (st == LQMF_OK && r->plan.chosen >= 0 && r->plan.opts[r->plan.chosen].est.scheme->method == LQMF_METHOD_GPTQ)
        name_calibration(fr, &b);
    if (st == LQMF_OK && (!lqmf_buf_append(&b, "", 1) || b.failed)) st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st != LQMF_OK) {
        lqmf_buf_free(&b);
        return st;
    }
    r->plan_text = (char *)b.data; /* moved */
    if (r->plan.chosen < 0) {
        fr->refused = true;
        return lqmf_error(LQMF_E_UNSUPPORTED, "nothing fits: %s%s%s", r->plan.why,
                          r->plan.alternative[0] ? " " : "", r->plan.alternative);
    }
    r->scheme = r->plan.opts[r->plan.chosen].est.scheme;
    if (fr->store && r->experiment_id) {
        fr->plan_json = plan_json(r);
        st = fr->plan_json ? lqmf_store_update(fr->store, &(lqmf_store_experiment){.id = r->experiment_id,
                                                                                  .plan = fr->plan_json})
                           : lqmf_error(LQMF_E_NOMEM, "out of memory");
        if (st != LQMF_OK) return st;
    }
    if (!fr->rq->assume_yes && fr->rq->confirm && !fr->rq->confirm(fr->rq->user, r)) {
        fr->declined = true;
        return lqmf_error(LQMF_E_STATE, "declined at confirmation (plan: %s)", r->scheme->name);
    }
    return LQMF_OK;
}

/* ---- quantize ----------------------------------------------------------------------------- */

static lqmf_status mkdir_p(const char *path) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return lqmf_error(LQMF_E_IO, "%s: cannot create folder: %s", tmp, strerror(errno));
        if (!c) return LQMF_OK;
        *p = c;
    }
}

typedef struct {
    factory_run *fr;
    char detail[200];
} q_state;

static bool on_tensor(void *user, const lqmf_quantize_progress *p) {
    q_state *q = user;
    snprintf(q->detail, sizeof q->detail, "tensor %zu/%zu %s -> %s", p->done, p->total, p->tensor,
             lqmf_type_name(p->type));
    return factory_notify(q->fr, LQMF_FACTORY_QUANTIZE,
                          p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : -1, q->detail);
}

static bool on_linear(void *user, const lqmf_hfq_progress *p) {
    q_state *q = user;
    snprintf(q->detail, sizeof q->detail, "weight %zu/%zu %s -> %s", p->done, p->total, p->tensor,
             q->fr->r->scheme->name);
    return factory_notify(q->fr, LQMF_FACTORY_QUANTIZE,
                          p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : -1, q->detail);
}

/* A bitsandbytes or GPTQ checkpoint: the artifact is the folder itself.
 * GPTQ calibrates on the request's calib_path, else on the part of the
 * built-in text the quick test does not score. */
static lqmf_status quantize_hf(factory_run *fr, q_state *q) {
    lqmf_factory_result *r = fr->r;
    lqmf_hfq_kind kind = LQMF_HFQ_NF4;
    lqmf_hfq_kind_from_name(r->scheme->name, &kind);
    snprintf(r->artifact, sizeof r->artifact, "%s", r->out_folder);
    lqmf_hfq_opts o = {.kind = kind,
                       .double_quant = true, /* the planner's NF4 size */
                       .n_threads = fr->rq->n_threads,
                       .progress = on_linear,
                       .user = q};
    char *text = NULL;
    lqmf_status st = LQMF_OK;
    if (r->scheme->method == LQMF_METHOD_GPTQ && fr->rq->calib_path && *fr->rq->calib_path) {
        st = lqmf_read_file(fr->rq->calib_path, CALIB_MAX_BYTES, &text, &o.calib_len);
        o.calib_text = text;
    } else if (r->scheme->method == LQMF_METHOD_GPTQ) {
        o.calib_text = lqmf_eval_calibration_text(&o.calib_len);
    }
    lqmf_hfq_result h;
    if (st == LQMF_OK) st = lqmf_hfq_write(fr->model, r->out_folder, &o, &h);
    free(text);
    if (st != LQMF_OK) return st;
    r->calib_tokens = h.calib_tokens;
    fr->wrote_artifact = true;
    r->quant = (lqmf_quantize_result){.ftype = -1,
                                      .src_bytes = h.src_bytes,
                                      .out_bytes = h.out_bytes,
                                      .tensor_bytes = h.tensor_bytes,
                                      .n_params = h.n_params,
                                      .bpw = h.bpw,
                                      .seconds = h.seconds,
                                      .n_tensors = h.n_tensors};
    if (!r->src_bytes) r->src_bytes = h.src_bytes;
    char path[1300];
    snprintf(path, sizeof path, "%s/model.safetensors", r->out_folder);
    uint8_t d[32];
    if ((st = lqmf_sha256_file(path, d)) != LQMF_OK) return st;
    lqmf_hex(d, 32, r->sha256);
    return LQMF_OK;
}

static lqmf_status quantize(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    char name[512];
    bool local = r->intent.model.kind == LQMF_REF_LOCAL;
    bool hf = r->scheme->method == LQMF_METHOD_BNB || r->scheme->method == LQMF_METHOD_GPTQ;
    lqmf_factory_folder_name(r->source, local, r->scheme, name, sizeof name);
    snprintf(r->out_folder, sizeof r->out_folder, "%s/%s", fr->rq->out_dir, name);
    struct stat sb;
    fr->made_folder = stat(r->out_folder, &sb) != 0;
    /* a checkpoint folder is written whole by lqmf_hfq_write */
    lqmf_status st = mkdir_p(hf ? fr->rq->out_dir : r->out_folder);
    if (st != LQMF_OK) return st;
    q_state q = {.fr = fr};
    if (!factory_notify(fr, LQMF_FACTORY_QUANTIZE, 0, r->scheme->name))
        return lqmf_error(LQMF_E_INTERRUPTED, "interrupted before quantizing");
    if (hf) return quantize_hf(fr, &q);
    char stem[512];
    factory_stem(r->source, local, stem, sizeof stem);
    snprintf(r->artifact, sizeof r->artifact, "%s/%s-%s.gguf", r->out_folder, stem, r->scheme->name);
    lqmf_quantize_opts o = lqmf_quantize_default_opts();
    o.type = r->scheme->name;
    o.n_threads = fr->rq->n_threads;
    o.source_repo = fr->repo ? fr->repo->repo_id : NULL;
    o.progress = on_tensor;
    o.user = &q;
    char url[1200];
    if (fr->repo) {
        snprintf(url, sizeof url, "%s/%s", lqmf_hub_endpoint(fr->hub), fr->repo->repo_id);
        o.source_url = url;
    }
    st = lqmf_quantize_model(fr->model, r->artifact, &o, &r->quant);
    if (st != LQMF_OK) return st;
    fr->wrote_artifact = true;
    if (!r->src_bytes) r->src_bytes = r->quant.src_bytes;
    uint8_t d[32];
    if ((st = lqmf_sha256_file(r->artifact, d)) != LQMF_OK) return st;
    lqmf_hex(d, 32, r->sha256);
    return LQMF_OK;
}

/* ---- record ------------------------------------------------------------------------------- */

static lqmf_status record(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    if (!fr->store) return LQMF_OK;
    const lqmf_hparams *hp = &fr->model->hp;
    lqmf_status st = lqmf_store_put_model(fr->store,
                                          &(lqmf_store_model){.source = r->source,
                                                              .revision = r->commit,
                                                              .architecture = hp->model_type,
                                                              .n_params = r->quant.n_params,
                                                              .size_bytes = r->src_bytes},
                                          &r->model_id);
    char *abs = realpath(r->artifact, NULL); /* one record per file, however it was named */
    if (st == LQMF_OK)
        st = lqmf_store_put_artifact(fr->store,
                                     &(lqmf_store_artifact){.model_id = r->model_id,
                                                            .path = abs ? abs : r->artifact,
                                                            .format = r->scheme->method == LQMF_METHOD_GGUF
                                                                          ? "gguf"
                                                                          : "safetensors",
                                                            .method = r->scheme->name,
                                                            .bits_per_weight = r->quant.bpw,
                                                            .size_bytes = r->quant.out_bytes,
                                                            .sha256 = r->sha256},
                                     &r->artifact_id);
    free(abs);
    if (st == LQMF_OK)
        st = lqmf_store_update(fr->store, &(lqmf_store_experiment){.id = r->experiment_id,
                                                                   .plan = fr->plan_json,
                                                                   .model_id = r->model_id,
                                                                   .artifact_id = r->artifact_id});
    if (st == LQMF_OK && fr->report)
        st = lqmf_eval_record(fr->store, r->experiment_id, r->model_id, r->artifact_id, fr->report);
    return st;
}

/* ---- the run ------------------------------------------------------------------------------ */

static void host_info(const lqmf_hw *hw, char *out, size_t n) {
    char ram[32], gmem[32];
    int k = snprintf(out, n, "%s, %u CPUs, %s RAM available", hw->cpu_model[0] ? hw->cpu_model : "CPU",
                     hw->n_cpus, lqmf_fmt_bytes(hw->ram_available, ram, sizeof ram));
    if (hw->n_gpus && k > 0 && (size_t)k < n)
        snprintf(out + k, n - (size_t)k, ", GPU %s (%s)", hw->gpus[0].name,
                 lqmf_fmt_bytes(hw->gpus[0].mem_total, gmem, sizeof gmem));
}

static lqmf_status begin(factory_run *fr) {
    const lqmf_factory_request *rq = fr->rq;
    if (!rq->store_path) return LQMF_OK;
    char info[512];
    host_info(&fr->hw, info, sizeof info);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", rq->store_path);
    char *slash = strrchr(dir, '/');
    lqmf_status st = LQMF_OK;
    if (slash && slash != dir) {
        *slash = '\0';
        st = mkdir_p(dir); /* the store's folder ($LQMF_HOME) may not exist yet */
    }
    if (st == LQMF_OK) st = lqmf_store_open(rq->store_path, rq->store_backend, &fr->store);
    if (st == LQMF_OK)
        st = lqmf_store_begin(fr->store, &(lqmf_store_experiment){.request = rq->request, .host_info = info},
                              &fr->r->experiment_id);
    return st;
}

static lqmf_status pipeline(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    lqmf_status st;
    if ((st = parse_intent(fr)) != LQMF_OK || (st = check_method(fr)) != LQMF_OK) return st;
    if ((st = factory_resolve(fr)) != LQMF_OK) return st;
    if (!r->meta_from[0]) { /* no shape before the download */
        if (!factory_notify(fr, LQMF_FACTORY_DOWNLOAD, 0, r->source))
            return lqmf_error(LQMF_E_INTERRUPTED, "interrupted before the download");
        if ((st = factory_fetch(fr)) != LQMF_OK) return st;
    }
    if ((st = make_plan(fr)) != LQMF_OK) return st;
    if (!factory_notify(fr, LQMF_FACTORY_DOWNLOAD, fr->model ? 1 : 0, r->source))
        return lqmf_error(LQMF_E_INTERRUPTED, "interrupted before the download");
    if ((st = factory_fetch(fr)) != LQMF_OK || (st = quantize(fr)) != LQMF_OK) return st;
    if (!fr->rq->skip_test) {
        if (!factory_notify(fr, LQMF_FACTORY_TEST, 0, r->artifact))
            return lqmf_error(LQMF_E_INTERRUPTED, "interrupted before the test");
        if ((st = factory_autotest(fr)) != LQMF_OK) return st;
    } else {
        snprintf(r->test_verdict, sizeof r->test_verdict, "skipped");
        r->test_text = strdup("Test: skipped (--no-test)\n");
    }
    if (!factory_notify(fr, LQMF_FACTORY_RECORD, 0, fr->rq->store_path))
        return lqmf_error(LQMF_E_INTERRUPTED, "interrupted before recording");
    if ((st = record(fr)) != LQMF_OK) return st;
    return factory_write_card(fr);
}

/* Remove what a run that did not succeed wrote: the artifact (when the
 * quantizer had committed it) and the folder it created. */
static void clean_up(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    struct stat sb;
    if (fr->wrote_artifact && stat(r->artifact, &sb) == 0 && S_ISDIR(sb.st_mode)) /* a checkpoint folder */
        lqmf_remove_tree(r->artifact);
    else if (fr->wrote_artifact) unlink(r->artifact);
    if (fr->wrote_card) unlink(r->card);
    if (fr->made_folder) rmdir(r->out_folder);
    r->artifact[0] = r->card[0] = '\0';
}

static void finish(factory_run *fr, lqmf_status st) {
    lqmf_factory_result *r = fr->r;
    if (st == LQMF_OK) r->outcome = LQMF_FACTORY_SUCCEEDED;
    else {
        r->outcome = fr->declined ? LQMF_FACTORY_DECLINED
                     : fr->refused ? LQMF_FACTORY_REFUSED
                     : st == LQMF_E_INTERRUPTED || fr->stop ? LQMF_FACTORY_INTERRUPTED
                                                           : LQMF_FACTORY_FAILED;
        const char *what = r->outcome == LQMF_FACTORY_DECLINED      ? "declined"
                           : r->outcome == LQMF_FACTORY_REFUSED     ? "refused"
                           : r->outcome == LQMF_FACTORY_INTERRUPTED ? "interrupted"
                                                                    : "failed";
        snprintf(r->message, sizeof r->message, "%s at %s: %s", what, lqmf_factory_stage_name(r->stage),
                 lqmf_last_error());
        clean_up(fr);
    }
    r->seconds = lqmf_time_now() - fr->t0;
    if (fr->store && r->experiment_id) {
        lqmf_store_state state = st == LQMF_OK                                ? LQMF_STORE_SUCCEEDED
                                 : r->outcome == LQMF_FACTORY_INTERRUPTED ? LQMF_STORE_INTERRUPTED
                                                                          : LQMF_STORE_FAILED;
        char saved[sizeof r->message];
        memcpy(saved, r->message, sizeof saved);
        lqmf_store_finish(fr->store, r->experiment_id, state, st == LQMF_OK ? "" : saved);
    }
}

lqmf_status lqmf_factory_run(const lqmf_factory_request *rq, lqmf_factory_result *r) {
    memset(r, 0, sizeof *r);
    r->plan.chosen = -1;
    if (!rq || !rq->request || !rq->out_dir)
        return lqmf_error(LQMF_E_INVALID, "factory: request and out_dir are required");
    factory_run fr = {.rq = rq, .r = r, .t0 = lqmf_time_now()};
    lqmf_status st = LQMF_OK;
    if (rq->hw) fr.hw = *rq->hw;
    else st = lqmf_hw_probe(NULL, &fr.hw);
    if (st == LQMF_OK) st = begin(&fr);
    if (st == LQMF_OK) st = pipeline(&fr);
    char msg[sizeof r->message];
    snprintf(msg, sizeof msg, "%s", st == LQMF_OK ? "" : lqmf_last_error());
    finish(&fr, st);
    lqmf_model_close(fr.model);
    free(fr.selected);
    free(fr.plan_json);
    lqmf_eval_report_free(fr.report);
    lqmf_hub_repo_free(fr.repo);
    lqmf_hub_free(fr.hub);
    lqmf_store_close(fr.store);
    if (st == LQMF_OK || r->outcome == LQMF_FACTORY_DECLINED) {
        lqmf_clear_error();
        return LQMF_OK;
    }
    lqmf_status ret = r->outcome == LQMF_FACTORY_REFUSED       ? LQMF_E_UNSUPPORTED
                      : r->outcome == LQMF_FACTORY_INTERRUPTED ? LQMF_E_INTERRUPTED
                                                               : st;
    return lqmf_error(ret, "%s", msg);
}
