/* Shared by `lqmf run` and `lqmf chat`: sampling flags, opening model,
 * tokenizer and engine, and a streaming printer that stops at end-of-turn
 * tokens and stop strings. */
#ifndef LQMF_CLI_GEN_H
#define LQMF_CLI_GEN_H

#include "lqmf/engine.h"
#include "lqmf/quant.h"
#include "lqmf/tokenizer.h"

#define GEN_MAX_STOP 8

typedef struct {
    const char *model;
    const char *prompt; /* run: -p; chat: --system */
    uint32_t n_predict; /* -n; 0 = until EOS or a full context */
    lqmf_engine_params ep;
    lqmf_sampler_params sp;
    const char *stop[GEN_MAX_STOP];
    int n_stop;
    bool ids;      /* --ids: the prompt is token ids "1,2,3" and ids are printed */
    bool seed_set; /* --seed given (else a time-based seed) */
} gen_opts;

/* Parse argv (argv[0] is the subcommand) into o; prompt_flag is "-p" or
 * "--system". Returns 0, or the usage exit code after printing why. */
int gen_parse(int argc, char **argv, const char *prompt_flag, gen_opts *o);

typedef struct {
    lqmf_model *m;
    lqmf_tokenizer *tok; /* NULL with --ids */
    lqmf_engine *e;
    lqmf_sampler *s;
} gen_ctx;

lqmf_status gen_open(const gen_opts *o, gen_ctx *g);
void gen_close(gen_ctx *g);

/* Append id to v (grown as needed). */
lqmf_status gen_push_id(lqmf_tok_ids *v, int32_t id);

/* The token callback of lqmf_engine_generate: records ids, prints text as it
 * becomes final (held back while it may still turn into a stop string), and
 * stops at a control token (EOS, end of turn) or a stop string, whose text is
 * not printed. */
typedef struct {
    const gen_ctx *g;
    const gen_opts *o;
    lqmf_tok_stream ts;
    lqmf_buf text;      /* everything generated so far */
    size_t shown;       /* bytes of text already printed */
    bool stopped;       /* by a stop string */
    lqmf_tok_ids ids;   /* generated ids */
    lqmf_status status; /* first decoding failure */
} gen_printer;

void gen_printer_init(gen_printer *p, const gen_ctx *g, const gen_opts *o);
/* Feed the prompt through the decoder without printing it, so that the
 * continuation keeps its leading space and split characters join up. */
void gen_printer_prime(gen_printer *p, const int32_t *ids, size_t n);
bool gen_printer_token(void *user, int32_t token);
void gen_printer_finish(gen_printer *p); /* print what was held back */
void gen_printer_free(gen_printer *p);

/* "prompt: N tokens, X tok/s | generation: ... | avx2, 2 threads" on stderr. */
void gen_print_stats(const gen_ctx *g, const lqmf_gen_stats *st);

#endif
