/* The factory's auto-test. The call site of the evaluation module: once
 * include/lqmf/eval.h is part of the library, this runs lqmf_eval_run in
 * QUICK mode on r->artifact with r->source_path as baseline, renders its
 * report into r->test_text and records its metrics as evaluations of the
 * experiment. Until then the run is marked "unmeasured". */
#include "factory_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lqmf_status factory_autotest(factory_run *fr) {
    lqmf_factory_result *r = fr->r;
    snprintf(r->test_verdict, sizeof r->test_verdict, "unmeasured");
    free(r->test_text);
    r->test_text = strdup("Test: not run (the evaluation module is not built in)\n");
    return r->test_text ? LQMF_OK : lqmf_error(LQMF_E_NOMEM, "out of memory");
}
