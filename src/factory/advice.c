/* LLM advice in the factory's plan stage: the same question and the same
 * check against the memory estimate as `lqmf plan --advice`, but here an
 * accepted suggestion is taken: it becomes the scheme quantized. */
#include "factory_priv.h"

#include <string.h>

void factory_advise(factory_run *fr, lqmf_buf *b) {
    lqmf_factory_result *r = fr->r;
    lqmf_plan *p = &r->plan;
    if (p->chosen < 0) return;
    r->planner_scheme = p->opts[p->chosen].est.scheme;
    if (!fr->rq->llm_config || !lqmf_advice_wanted(fr->rq->llm_config, fr->rq->advice)) return;
    if (!factory_notify(fr, LQMF_FACTORY_PLAN, 0.5, "asking the LLM provider for advice")) return;
    lqmf_advice *a = &r->advice;
    lqmf_advice_ask(fr->rq->llm_config, &r->meta, p, a);
    r->advice_asked = true;
    r->advice_taken = a->verdict == LQMF_ADVICE_ACCEPTED;
    const char *planner = r->planner_scheme->name;
    lqmf_buf_printf(b, "\n");
    lqmf_advice_render(a, b);
    if (!r->advice_taken)
        lqmf_buf_printf(b, "Advice not taken: the planner's %s stands.\n", planner);
    else if (a->agrees)
        lqmf_buf_printf(b, "Advice taken: %s, the planner's choice as well.\n", planner);
    else
        lqmf_buf_printf(b, "Advice taken: quantizing to %s instead of the planner's %s.\n", a->known->name,
                        planner);
    if (r->advice_taken) p->chosen = a->option;
}

json_t *factory_advice_json(const lqmf_factory_result *r) {
    if (!r->advice_asked) return NULL;
    const lqmf_advice *a = &r->advice;
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:b, s:s?}", "provider", a->provider, "model", a->model,
                     "verdict", lqmf_advice_verdict_name(a->verdict), "scheme",
                     a->scheme[0] ? a->scheme : NULL, "reason", a->reason, "why", a->why, "taken",
                     r->advice_taken, "planner_scheme", r->planner_scheme ? r->planner_scheme->name : NULL);
}
