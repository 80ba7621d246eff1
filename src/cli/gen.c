/* Common parts of `lqmf run` and `lqmf chat`. */
#include "gen.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Option values; false when missing or malformed. */
static bool opt_f(const char *v, float *out) {
    char *end;
    if (!v) return false;
    *out = strtof(v, &end);
    return *v && !*end;
}

static bool opt_u64(const char *v, uint64_t max, uint64_t *out) {
    char *end;
    if (!v || !*v || *v == '-') return false;
    unsigned long long x = strtoull(v, &end, 10);
    *out = x;
    return !*end && x <= max;
}

static bool opt_u32(const char *v, uint32_t max, uint32_t *out) {
    uint64_t x;
    if (!opt_u64(v, max, &x)) return false;
    *out = (uint32_t)x;
    return true;
}

static int usage(const char *cmd) {
    lqmf_cli_usage(cmd);
    fprintf(stderr, "  -n N                 tokens to generate (run: 256; chat: until end of turn)\n"
                    "  -t N                 threads (all cores)      -c N   context (model's, <= 4096)\n"
                    "  -b N                 prompt batch (32)\n"
                    "  --temp T             temperature, 0 = greedy (0.8)\n"
                    "  --top-k K            (40, 0 = off)            --top-p P   (0.95, 1 = off)\n"
                    "  --min-p P            (0.05, 0 = off)\n"
                    "  --repeat-penalty R   (1 = off)                --repeat-last-n N  (64)\n"
                    "  --seed S             (time)                   --stop STR  stop string, repeatable\n"
                    "  --ids                prompt and output as token ids, no tokenizer\n");
    return 2;
}

int gen_parse(int argc, char **argv, const char *prompt_flag, gen_opts *o) {
    memset(o, 0, sizeof *o);
    lqmf_sampler_params_default(&o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, takes = true;
        if (LQMF_IS(a, prompt_flag))
            ok = (o->prompt = v) != NULL;
        else if (LQMF_IS(a, "-n"))
            ok = opt_u32(v, UINT32_MAX, &o->n_predict);
        else if (LQMF_IS(a, "-t"))
            ok = opt_u32(v, 256, &o->ep.n_threads);
        else if (LQMF_IS(a, "-c"))
            ok = opt_u32(v, 1u << 24, &o->ep.n_ctx);
        else if (LQMF_IS(a, "-b"))
            ok = opt_u32(v, 4096, &o->ep.n_batch);
        else if (LQMF_IS(a, "--temp"))
            ok = opt_f(v, &o->sp.temperature);
        else if (LQMF_IS(a, "--top-k"))
            ok = opt_u32(v, UINT32_MAX, &o->sp.top_k);
        else if (LQMF_IS(a, "--top-p"))
            ok = opt_f(v, &o->sp.top_p);
        else if (LQMF_IS(a, "--min-p"))
            ok = opt_f(v, &o->sp.min_p);
        else if (LQMF_IS(a, "--repeat-penalty"))
            ok = opt_f(v, &o->sp.repeat_penalty);
        else if (LQMF_IS(a, "--repeat-last-n"))
            ok = opt_u32(v, 1u << 20, &o->sp.repeat_last_n);
        else if (LQMF_IS(a, "--seed"))
            ok = o->seed_set = opt_u64(v, UINT64_MAX, &o->sp.seed);
        else if (LQMF_IS(a, "--stop")) {
            ok = v && *v && o->n_stop < GEN_MAX_STOP;
            if (ok) o->stop[o->n_stop++] = v;
        } else {
            takes = false;
            if (LQMF_IS(a, "--ids"))
                o->ids = true;
            else if (LQMF_IS(a, "--help") || LQMF_IS(a, "-h"))
                return usage(argv[0]);
            else if (a[0] != '-' && !o->model)
                o->model = a;
            else {
                fprintf(stderr, "lqmf %s: unexpected argument %s\n", argv[0], a);
                return usage(argv[0]);
            }
        }
        if (!ok) {
            fprintf(stderr, "lqmf %s: bad or missing value for %s\n", argv[0], a);
            return usage(argv[0]);
        }
        i += takes;
    }
    if (!o->model) return usage(argv[0]);
    if (!o->seed_set) o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return 0;
}

lqmf_status gen_open(const gen_opts *o, gen_ctx *g) {
    memset(g, 0, sizeof *g);
    lqmf_status st = lqmf_kernel_init(); /* reports a bad LQMF_ISA */
    if (st == LQMF_OK) st = lqmf_model_open(o->model, &g->m);
    if (st == LQMF_OK && !o->ids) st = lqmf_tok_open_model(g->m, &g->tok);
    if (st == LQMF_OK && g->tok && lqmf_tok_n_vocab(g->tok) > g->m->hp.n_vocab)
        st = lqmf_error(LQMF_E_FORMAT, "%s: the tokenizer has %u tokens, the model %u", o->model,
                        lqmf_tok_n_vocab(g->tok), g->m->hp.n_vocab);
    if (st == LQMF_OK) st = lqmf_engine_new(g->m, &o->ep, &g->e);
    if (st == LQMF_OK) st = lqmf_sampler_new(&o->sp, g->m->hp.n_vocab, &g->s);
    if (st != LQMF_OK) gen_close(g);
    return st;
}

void gen_close(gen_ctx *g) {
    lqmf_sampler_free(g->s);
    lqmf_engine_free(g->e);
    lqmf_tok_free(g->tok);
    lqmf_model_close(g->m);
    memset(g, 0, sizeof *g);
}

void gen_printer_init(gen_printer *p, const gen_ctx *g, const gen_opts *o) {
    memset(p, 0, sizeof *p);
    p->g = g;
    p->o = o;
    if (g->tok) lqmf_tok_stream_init(&p->ts, g->tok, LQMF_TOK_SKIP_SPECIAL);
    lqmf_buf_init(&p->text);
}

void gen_printer_prime(gen_printer *p, const int32_t *ids, size_t n) {
    if (!p->g->tok) return;
    lqmf_buf scratch;
    lqmf_buf_init(&scratch);
    for (size_t i = 0; i < n; i++) lqmf_tok_stream_push(&p->ts, ids[i], &scratch);
    lqmf_buf_free(&scratch);
}

void gen_printer_free(gen_printer *p) {
    lqmf_buf_free(&p->text);
    lqmf_tok_ids_free(&p->ids);
}

static void show(gen_printer *p, size_t upto) {
    if (upto > p->shown) fwrite(p->text.data + p->shown, 1, upto - p->shown, stdout);
    p->shown = upto > p->shown ? upto : p->shown;
    fflush(stdout);
}

/* Bytes at the end of text that are a proper prefix of some stop string. */
static size_t held_back(const gen_printer *p) {
    size_t best = 0;
    for (int i = 0; i < p->o->n_stop; i++) {
        const size_t ls = strlen(p->o->stop[i]);
        for (size_t k = ls - 1; k > best; k--)
            if (k <= p->text.len && memcmp(p->text.data + p->text.len - k, p->o->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

lqmf_status gen_push_id(lqmf_tok_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        int32_t *grown = realloc(v->ids, cap * sizeof *grown);
        if (!grown) return lqmf_error(LQMF_E_NOMEM, "out of memory for %zu token ids", cap);
        v->ids = grown, v->cap = cap;
    }
    v->ids[v->n++] = id;
    return LQMF_OK;
}

bool gen_printer_token(void *user, int32_t token) {
    gen_printer *p = user;
    if ((p->status = gen_push_id(&p->ids, token)) != LQMF_OK) return false;
    if (!p->g->tok) {
        printf(",%d", token);
        fflush(stdout);
        return true;
    }
    if (lqmf_tok_type_of(p->g->tok, token) == LQMF_TOK_CONTROL) return false; /* EOS, end of turn */
    const size_t before = p->text.len;
    lqmf_status st = lqmf_tok_stream_push(&p->ts, token, &p->text);
    if (st != LQMF_OK) {
        p->status = st;
        return false;
    }
    for (int i = 0; i < p->o->n_stop; i++) { /* a stop string ending in the new text */
        const size_t ls = strlen(p->o->stop[i]);
        const size_t from = before >= ls ? before - ls + 1 : 0;
        const char *hit =
            p->text.len >= ls ? memmem(p->text.data + from, p->text.len - from, p->o->stop[i], ls) : NULL;
        if (hit) {
            p->text.len = (size_t)((const uint8_t *)hit - p->text.data);
            show(p, p->text.len);
            p->stopped = true;
            return false;
        }
    }
    show(p, p->text.len - held_back(p));
    return true;
}

void gen_printer_finish(gen_printer *p) {
    if (!p->g->tok) return;
    if (!p->stopped) lqmf_tok_stream_flush(&p->ts, &p->text);
    show(p, p->text.len);
}

void gen_print_stats(const gen_ctx *g, const lqmf_gen_stats *st) {
    static const char *reason[] = {"end of text", "token limit", "stop", "context full"};
    lqmf_engine_info info;
    lqmf_engine_get_info(g->e, &info);
    fprintf(stderr,
            "\nprompt: %u tokens, %.1f tok/s | generation: %u tokens, %.1f tok/s | %s | %s, %u threads\n",
            st->n_prompt, st->t_prompt > 0 ? st->n_prompt / st->t_prompt : 0.0, st->n_gen,
            st->t_gen > 0 ? st->n_gen / st->t_gen : 0.0, reason[st->reason], info.isa, info.n_threads);
}
