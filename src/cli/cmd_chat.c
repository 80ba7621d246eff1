/* lqmf chat MODEL: a conversation on stdin/stdout through the model's chat
 * template. Each turn renders the whole conversation, keeps the part of the
 * KV cache it shares with the new tokens and evaluates only the rest. */
#include "cli.h"
#include "gen.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MSGS 1024

typedef struct {
    lqmf_chat_msg m[MAX_MSGS];
    size_t n;
} conversation;

static lqmf_status add_msg(conversation *c, const char *role, const char *content) {
    if (c->n == MAX_MSGS) return lqmf_error(LQMF_E_INVALID, "chat: more than %d messages", MAX_MSGS);
    char *copy = strdup(content);
    if (!copy) return lqmf_error(LQMF_E_NOMEM, "out of memory");
    c->m[c->n++] = (lqmf_chat_msg){role, copy};
    return LQMF_OK;
}

/* The conversation as text: the chat template, or "User: ...\nAssistant:"
 * turns when the tokenizer has none. *out is malloc'd. */
static lqmf_status render(const lqmf_tokenizer *tok, const conversation *c, char **out) {
    if (lqmf_tok_chat_template(tok)) return lqmf_tok_chat_apply(tok, NULL, c->m, c->n, true, out);
    lqmf_buf b;
    lqmf_buf_init(&b);
    for (size_t i = 0; i < c->n; i++)
        lqmf_buf_printf(&b, "%s: %s\n",
                        LQMF_IS(c->m[i].role, "user")        ? "User"
                        : LQMF_IS(c->m[i].role, "assistant") ? "Assistant"
                                                             : "System",
                        c->m[i].content);
    lqmf_buf_printf(&b, "Assistant:");
    if (b.failed) {
        lqmf_buf_free(&b);
        return lqmf_error(LQMF_E_NOMEM, "out of memory");
    }
    *out = (char *)b.data;
    return LQMF_OK;
}

/* Tokens of the rendered text; BOS added unless the template wrote it. */
static lqmf_status encode(const lqmf_tokenizer *tok, const char *text, lqmf_tok_ids *ids) {
    const int32_t bos = lqmf_tok_bos(tok);
    const char *bos_text = bos >= 0 ? lqmf_tok_text(tok, bos, NULL) : NULL;
    unsigned flags = LQMF_TOK_PARSE_SPECIAL;
    if (!bos_text || strncmp(text, bos_text, strlen(bos_text)) != 0) flags |= LQMF_TOK_ADD_SPECIAL;
    ids->n = 0;
    return lqmf_tok_encode(tok, text, strlen(text), flags, ids);
}

/* One turn: the reply to the conversation so far, printed and appended. */
static lqmf_status turn(gen_ctx *g, const gen_opts *o, conversation *c, lqmf_tok_ids *past) {
    char *text = NULL;
    lqmf_tok_ids ids = {0};
    lqmf_status st = render(g->tok, c, &text);
    if (st == LQMF_OK) st = encode(g->tok, text, &ids);
    free(text);
    lqmf_engine_info info;
    lqmf_engine_get_info(g->e, &info);
    if (st == LQMF_OK && ids.n >= info.n_ctx)
        st = lqmf_error(LQMF_E_INVALID, "chat: the conversation (%zu tokens) fills the context of %u", ids.n,
                        info.n_ctx);
    size_t keep = 0; /* shared prefix with the cache, leaving one token to evaluate */
    while (keep < past->n && keep + 1 < ids.n && past->ids[keep] == ids.ids[keep]) keep++;
    gen_printer pr;
    gen_printer_init(&pr, g, o);
    lqmf_gen_stats gs;
    if (st == LQMF_OK) {
        lqmf_engine_truncate(g->e, (uint32_t)keep);
        uint32_t max_new = o->n_predict ? o->n_predict : info.n_ctx;
        st = lqmf_engine_generate(g->e, g->s, ids.ids + keep, (uint32_t)(ids.n - keep), max_new,
                                  gen_printer_token, &pr, &gs);
    }
    if (st == LQMF_OK) st = pr.status;
    gen_printer_finish(&pr);
    printf("\n");
    if (st == LQMF_OK) { /* the cache now holds ids and every generated token */
        past->n = 0;
        for (size_t i = 0; i < ids.n && st == LQMF_OK; i++) st = gen_push_id(past, ids.ids[i]);
        for (size_t i = 0; i < pr.ids.n && st == LQMF_OK; i++) st = gen_push_id(past, pr.ids.ids[i]);
        lqmf_buf_zeros(&pr.text, 1); /* NUL-terminate the reply */
        if (st == LQMF_OK) st = add_msg(c, "assistant", (const char *)pr.text.data);
        if (st == LQMF_OK) gen_print_stats(g, &gs);
    }
    gen_printer_free(&pr);
    lqmf_tok_ids_free(&ids);
    return st;
}

static int chat_main(int argc, char **argv) {
    gen_opts o;
    int rc = gen_parse(argc, argv, "--system", &o);
    if (rc) return rc;
    if (o.ids) {
        fprintf(stderr, "lqmf chat: --ids is for lqmf run\n");
        return 2;
    }
    gen_ctx g;
    lqmf_status st = gen_open(&o, &g);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    if (!lqmf_tok_chat_template(g.tok))
        fprintf(stderr, "lqmf chat: %s has no chat template; using plain 'User:/Assistant:' turns\n",
                o.model);
    conversation c = {.n = 0};
    lqmf_tok_ids past = {0};
    if (o.prompt) st = add_msg(&c, "system", o.prompt);
    const bool tty = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t cap = 0;
    while (st == LQMF_OK) {
        if (tty) printf("> "), fflush(stdout);
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        if (!lqmf_utf8_valid(line, (size_t)n)) {
            fprintf(stderr, "lqmf chat: the line is not valid UTF-8\n");
            continue;
        }
        st = add_msg(&c, "user", line);
        if (st == LQMF_OK) st = turn(&g, &o, &c, &past);
    }
    free(line);
    for (size_t i = 0; i < c.n; i++) free((char *)c.m[i].content);
    lqmf_tok_ids_free(&past);
    gen_close(&g);
    return st == LQMF_OK ? 0 : lqmf_cli_fail(st);
}

LQMF_COMMAND(chat, "chat", "MODEL [--system TEXT] [sampling]",
             "talk to a model through its chat template (stdin lines)", chat_main)
