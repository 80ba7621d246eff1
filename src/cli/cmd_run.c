/* lqmf run MODEL -p PROMPT: generate a continuation, streamed as it comes,
 * with prompt and generation speeds at the end. With --ids the prompt and
 * the output are token ids (no tokenizer needed). */
#include "cli.h"
#include "gen.h"

#include <stdlib.h>
#include <string.h>

/* "1,2,3" -> ids; "" -> BOS alone when the model has one. */
static lqmf_status parse_ids(const char *s, int32_t bos, lqmf_tok_ids *out) {
    lqmf_status st = LQMF_OK;
    while (*s && st == LQMF_OK) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || (*end && *end != ','))
            return lqmf_error(LQMF_E_INVALID, "--ids: '%s' is not a comma-separated list of token ids", s);
        st = gen_push_id(out, (int32_t)v);
        s = *end ? end + 1 : end;
    }
    if (st == LQMF_OK && !out->n && bos >= 0) st = gen_push_id(out, bos);
    return st;
}

static int run_main(int argc, char **argv) {
    gen_opts o;
    int rc = gen_parse(argc, argv, "-p", &o);
    if (rc) return rc;
    if (!o.n_predict) o.n_predict = 256;
    gen_ctx g;
    lqmf_status st = gen_open(&o, &g);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    const char *prompt = o.prompt ? o.prompt : "";
    lqmf_tok_ids ids = {0};
    if (g.tok) {
        st = lqmf_tok_encode(g.tok, prompt, strlen(prompt), LQMF_TOK_ADD_SPECIAL | LQMF_TOK_PARSE_SPECIAL,
                             &ids);
        if (st == LQMF_OK) printf("%s", prompt);
    } else {
        st = parse_ids(prompt, g.m->hp.bos_id, &ids);
        for (size_t i = 0; st == LQMF_OK && i < ids.n; i++) printf("%s%d", i ? "," : "", ids.ids[i]);
    }
    if (st == LQMF_OK && !ids.n)
        st = lqmf_error(LQMF_E_INVALID, "empty prompt and the model has no BOS token");
    fflush(stdout);
    gen_printer pr;
    gen_printer_init(&pr, &g, &o);
    gen_printer_prime(&pr, ids.ids, ids.n);
    lqmf_gen_stats gs = {0};
    if (st == LQMF_OK)
        st = lqmf_engine_generate(g.e, g.s, ids.ids, (uint32_t)ids.n, o.n_predict, gen_printer_token, &pr,
                                  &gs);
    if (st == LQMF_OK) st = pr.status;
    gen_printer_finish(&pr);
    printf("\n");
    if (st == LQMF_OK) gen_print_stats(&g, &gs);
    gen_printer_free(&pr);
    lqmf_tok_ids_free(&ids);
    gen_close(&g);
    return st == LQMF_OK ? 0 : lqmf_cli_fail(st);
}

LQMF_COMMAND(run, "run", "MODEL -p PROMPT [-n N] [sampling]",
             "generate text, streamed; speeds at the end (see lqmf run --help)", run_main)
