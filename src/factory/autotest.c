/* The factory's auto-test: the quick test of the new artifact against its
 * source (lqmf_eval_run, QUICK mode), its report rendered as plain text for
 * the summary and the model card, and saved as JSON beside the artifact. */
#include "factory_priv.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

lqmf_status factory_autotest(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    lqmf_eval_opts o;
    lqmf_eval_opts_init(&o, LQMF_EVAL_QUICK);
    o.model_path = r->artifact;
    o.baseline_path = r->source_path;
    o.n_threads = fr->rq->n_threads;
    lqmf_status st = lqmf_eval_run(&o, &fr->report);
    if (st != LQMF_OK) return lqmf_error_prefix(st, "testing %s", r->artifact);
    snprintf(r->test_verdict, sizeof r->test_verdict, "%s", lqmf_eval_verdict_name(fr->report->verdict));
    lqmf_buf b;
    lqmf_buf_init(&b);
    st = lqmf_eval_report_render(fr->report, LQMF_EVAL_RENDER_ASCII, &b);
    char dir[sizeof r->artifact];
    snprintf(dir, sizeof dir, "%s", r->artifact);
    struct stat sb; /* beside a GGUF file, inside a checkpoint folder */
    bool folder = stat(r->artifact, &sb) == 0 && S_ISDIR(sb.st_mode);
    char *json_path = NULL;
    if (st == LQMF_OK) st = lqmf_eval_report_save(fr->report, folder ? dir : dirname(dir), &json_path);
    if (st == LQMF_OK) lqmf_buf_printf(&b, "Benchmark saved: %s\n", json_path);
    free(json_path);
    if (st != LQMF_OK || b.failed) {
        lqmf_buf_free(&b);
        return st != LQMF_OK ? st : lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    free(r->test_text);
    r->test_text = (char *)b.data; /* NUL-terminated by lqmf_buf */
    return LQMF_OK;
}
