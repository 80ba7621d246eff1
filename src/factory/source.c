/* The factory's source stages: resolve the model the request names and
 * fetch it. A local folder or file is opened at once (its tensors give the
 * exact shape). A Hub repository is planned from its listing, config.json
 * and safetensors headers before anything large is downloaded; a repository
 * without config.json (llama2.c checkpoints) is fetched first and planned
 * from the file. */
#include "factory_priv.h"
#include "lqmf/hf_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lqmf_status open_local(factory_run *fr, const char *path) {
    lqmf_factory_result *r = fr->r;
    snprintf(r->source_path, sizeof r->source_path, "%s", path);
    lqmf_status st = lqmf_model_open(path, &fr->model);
    if (st == LQMF_OK) st = lqmf_plan_meta_from_model(fr->model, &r->meta);
    if (st != LQMF_OK) return st;
    for (size_t i = 0; i < fr->model->n_tensors; i++) r->src_bytes += fr->model->tensors[i].nbytes;
    snprintf(r->meta_from, sizeof r->meta_from, "the model's tensors");
    return LQMF_OK;
}

/* A file the short name picks ("stories260K/stories260K.bin") comes with the
 * tokenizer files of its folder. */
static lqmf_status select_files(factory_run *fr) {
    const lqmf_model_ref *ref = &fr->r->intent.model;
    lqmf_hub_repo *repo = fr->repo;
    fr->selected = calloc(repo->n_files ? repo->n_files : 1, sizeof *fr->selected);
    if (!fr->selected) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    size_t n_sel;
    lqmf_status st;
    if (ref->file[0]) {
        const char *slash = strrchr(ref->file, '/');
        int dir_len = slash ? (int)(slash - ref->file + 1) : 0;
        char g_tok[160], g_tokenizer[160];
        snprintf(g_tok, sizeof g_tok, "%.*stok*.bin", dir_len, ref->file);
        snprintf(g_tokenizer, sizeof g_tokenizer, "%.*stokenizer.bin", dir_len, ref->file);
        const char *globs[] = {ref->file, g_tok, g_tokenizer};
        st = lqmf_hub_select(repo, globs, 3, fr->selected, &n_sel);
        if (st == LQMF_OK && !lqmf_hub_repo_find(repo, ref->file))
            st = lqmf_error(LQMF_E_NOT_FOUND, "%s has no file %s", repo->repo_id, ref->file);
    } else
        st = lqmf_hub_select(repo, NULL, 0, fr->selected, &n_sel);
    if (st != LQMF_OK) return st;
    for (size_t i = 0; i < repo->n_files; i++) fr->download_bytes += fr->selected[i] ? repo->files[i].size : 0;
    return LQMF_OK;
}

/* The Hub client's cancel callback (called from its worker threads): a stop
 * asked through the factory's progress callback, or the caller's own. */
static bool download_cancelled(void *user) {
    factory_run *fr = user;
    return __atomic_load_n(&fr->stop_download, __ATOMIC_ACQUIRE) ||
           (fr->hub_cancel && fr->hub_cancel(fr->hub_cancel_user));
}

static lqmf_status resolve_hub(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    const char *id = r->intent.model.id;
    lqmf_hub_options o;
    if (fr->rq->hub)
        o = *fr->rq->hub;
    else
        lqmf_hub_options_init(&o);
    fr->hub_cancel = o.cancel;
    fr->hub_cancel_user = o.cancel_user;
    o.cancel = download_cancelled;
    o.cancel_user = fr;
    lqmf_status st = lqmf_hub_new(&o, &fr->hub);
    if (st == LQMF_OK) st = lqmf_hub_repo_open(fr->hub, id, NULL, &fr->repo);
    if (st == LQMF_OK) st = select_files(fr);
    if (st != LQMF_OK) return st;
    snprintf(r->commit, sizeof r->commit, "%s", fr->repo->commit);
    if (!fr->repo->config_json) return LQMF_OK; /* planned after the download */
    lqmf_hparams hp;
    st = lqmf_hf_config_parse(fr->repo->config_json, fr->repo->config_len, id, &hp);
    if (st == LQMF_OK) st = lqmf_plan_meta_from_hparams(&hp, id, &r->meta);
    if (st != LQMF_OK) return lqmf_error_prefix(st, "model shape of %s", id);
    lqmf_hub_weights w;
    if (lqmf_hub_weights_info(fr->hub, fr->repo, fr->selected, &w) == LQMF_OK) r->src_bytes = w.n_bytes;
    lqmf_clear_error();
    snprintf(r->meta_from, sizeof r->meta_from, "config.json on the Hub");
    return LQMF_OK;
}

lqmf_status factory_resolve(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    const lqmf_model_ref *ref = &r->intent.model;
    if (!factory_notify(fr, LQMF_FACTORY_RESOLVE, 0, ref->text[0] ? ref->text : ref->id))
        return lqmf_error(LQMF_E_INTERRUPTED, "interrupted while resolving the model");
    switch (ref->kind) {
    case LQMF_REF_LOCAL:
        snprintf(r->source, sizeof r->source, "%s", ref->id);
        return open_local(fr, ref->id);
    case LQMF_REF_REPO:
        snprintf(r->source, sizeof r->source, "%s", ref->id);
        return resolve_hub(fr);
    case LQMF_REF_AMBIGUOUS: {
        char list[LQMF_INTENT_MAX_CANDIDATES * 130] = "";
        for (size_t i = 0; i < ref->n_candidates; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", ref->candidates[i]);
        return lqmf_error(LQMF_E_INVALID, "\"%s\" could mean %s; name one", ref->text, list);
    }
    case LQMF_REF_UNKNOWN:
        return lqmf_error(LQMF_E_NOT_FOUND,
                          "\"%s\" is no model lqmf knows, no local path and no Hub id (org/name)", ref->text);
    default:
        return lqmf_error(LQMF_E_INVALID, "the request names no model (\"quantize gpt2 to 4-bit GGUF\")");
    }
}

typedef struct {
    factory_run *fr;
    char detail[160];
} dl_state;

static void on_download(void *user, const lqmf_hub_progress *p) {
    dl_state *d = user;
    char done[32], total[32];
    snprintf(d->detail, sizeof d->detail, "%s / %s", lqmf_fmt_bytes(p->done, done, sizeof done),
             lqmf_fmt_bytes(p->total, total, sizeof total));
    /* a stop asked here cuts the transfers short (download_cancelled) */
    if (!factory_notify(d->fr, LQMF_FACTORY_DOWNLOAD, p->total ? (double)p->done / (double)p->total : -1,
                        d->detail))
        __atomic_store_n(&d->fr->stop_download, true, __ATOMIC_RELEASE);
}

lqmf_status factory_fetch(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    if (!fr->repo || fr->model) return LQMF_OK;
    dl_state d = {.fr = fr};
    lqmf_hub_download_options o = {.progress = on_download, .progress_user = &d};
    lqmf_status st = lqmf_hub_download(fr->hub, fr->repo, fr->selected, &o);
    if (st != LQMF_OK) return st;
    if (fr->stop) return lqmf_error(LQMF_E_INTERRUPTED, "interrupted after the download");
    const char *file = r->intent.model.file;
    char path[1024];
    snprintf(path, sizeof path, "%s%s%s", fr->repo->snapshot_dir, file[0] ? "/" : "", file);
    uint64_t planned = r->src_bytes;
    lqmf_model_meta planned_meta = r->meta;
    bool had_meta = r->meta_from[0] != '\0';
    r->src_bytes = 0;
    st = open_local(fr, path);
    if (st != LQMF_OK) return st;
    if (had_meta) { /* keep the shape the plan was made from */
        r->meta = planned_meta;
        if (!r->src_bytes) r->src_bytes = planned;
        snprintf(r->meta_from, sizeof r->meta_from, "config.json on the Hub");
    } else
        snprintf(r->meta_from, sizeof r->meta_from, "the downloaded file");
    return LQMF_OK;
}
