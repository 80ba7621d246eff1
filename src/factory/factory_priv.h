/* The factory's stages share one run context. */
#ifndef LQMF_FACTORY_PRIV_H
#define LQMF_FACTORY_PRIV_H

#include "lqmf/eval.h"

#include <jansson.h>
#include "lqmf/factory.h"

typedef struct {
    const lqmf_factory_request *rq;
    lqmf_factory_result *r;
    lqmf_store *store;     /* NULL: not recording */
    lqmf_hub *hub;         /* Hub sources only */
    lqmf_hub_repo *repo;
    bool *selected;        /* repo->n_files flags: the files to download */
    uint64_t download_bytes;
    lqmf_model *model;     /* the source, once opened */
    lqmf_hw hw;
    char *plan_json;       /* the chosen plan as recorded (owned) */
    lqmf_eval_report *report; /* the auto-test's report (owned); NULL when not tested */
    bool refused, declined;
    bool stop;             /* the progress callback asked to stop */
    bool stop_download;    /* atomic: stop the download in flight (read by the Hub's workers) */
    bool (*hub_cancel)(void *user); /* the caller's own lqmf_hub_options.cancel, also honoured */
    void *hub_cancel_user;
    bool made_folder;      /* out_folder was created by this run */
    bool wrote_artifact, wrote_card; /* this run wrote r->artifact / r->card */
    double t0;
} factory_run;

/* Tell the caller where the run is; false (and fr->stop) when it asks to stop. */
bool factory_notify(factory_run *fr, lqmf_factory_stage stage, double frac, const char *detail);

/* source.c: find the model and its shape (r->meta); Hub files are listed,
 * local models opened. */
lqmf_status factory_resolve(factory_run *fr);
/* source.c: fetch the selected Hub files (no-op for local models) and open
 * the model when not yet open. */
lqmf_status factory_fetch(factory_run *fr);

/* autotest.c: the quick test of r->artifact against r->source_path; fills
 * r->test_verdict, r->test_text and fr->report, and saves the JSON report
 * beside the artifact. Its figures are recorded with the artifact. */
lqmf_status factory_autotest(factory_run *fr);

/* advice.c: when advice is asked for, ask the provider about r->plan,
 * append the advice and whether it is taken to the plan text in b, and make
 * an accepted suggestion the plan's choice. Never fails the run. */
void factory_advise(factory_run *fr, lqmf_buf *b);
/* advice.c: r's advice as the "advice" member of the recorded plan, NULL
 * when none was asked. */
json_t *factory_advice_json(const lqmf_factory_result *r);

/* card.c: the model's name in file names: "org_name" for a Hub id, the
 * last path component without extension for a local path. */
void factory_stem(const char *source, bool local, char *out, size_t n);
/* card.c: README.md next to the artifact. */
lqmf_status factory_write_card(factory_run *fr);

#endif
