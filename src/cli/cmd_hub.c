/* lqmf download REPO ...   and   lqmf hf login|status|logout
 * (the same `hf` words work in the REPL through the command table). */
#include "cli.h"
#include "json_out.h"
#include "lqmf/hub.h"

#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define MAX_GLOBS 32

/* ---- progress bars --------------------------------------------------------------
 * On a terminal: one line per file in flight and a total line, redrawn in
 * place; finished files scroll up as permanent lines. Elsewhere: one line per
 * finished file. Speeds per file are smoothed here from successive reports. */
typedef struct {
    bool tty;
    int drawn;      /* dynamic lines currently on screen */
    bool *reported; /* finished line printed, per file */
    double *rate;   /* bytes/s, smoothed, per file */
    uint64_t *last; /* done at the previous report */
    double t_last;
    size_t n;
} bars;

static void fmt_eta(double s, char *out, size_t cap) {
    if (s < 0 || s > 99 * 3600)
        snprintf(out, cap, "--:--");
    else if (s >= 3600)
        snprintf(out, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(out, cap, "%d:%02d", (int)s / 60, (int)s % 60);
}

/* One redrawn line (terminal only): name, bar, percent, bytes, speed, ETA. */
static void bar_line(const char *name, uint64_t done, uint64_t total, double rate, const char *tail) {
    char bar[26], d[32], t[32], r[32], eta[16];
    int filled = total ? (int)((double)done / (double)total * 24.0) : 24;
    for (int i = 0; i < 24; i++) bar[i] = i < filled ? '#' : '-';
    bar[24] = '\0';
    fmt_eta(rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof eta);
    size_t nl = strlen(name);
    fprintf(stderr, "  %-32.32s [%s] %3d%% %9s/%-9s %9s/s ETA %s%s\033[K\n", nl > 32 ? name + nl - 32 : name,
            bar, total ? (int)(100.0 * (double)done / (double)total) : 100, lqmf_fmt_bytes(done, d, sizeof d),
            lqmf_fmt_bytes(total, t, sizeof t), lqmf_fmt_bytes((uint64_t)rate, r, sizeof r), eta, tail);
}

static void on_progress(void *user, const lqmf_hub_progress *p) {
    bars *b = user;
    if (!b->reported) {
        b->n = p->n_files;
        b->reported = calloc(p->n_files + 1, sizeof *b->reported);
        b->rate = calloc(p->n_files + 1, sizeof *b->rate);
        b->last = calloc(p->n_files + 1, sizeof *b->last);
        b->t_last = p->elapsed_s;
        if (!b->reported || !b->rate || !b->last) return;
    }
    double dt = p->elapsed_s - b->t_last;
    if (b->tty && b->drawn) fprintf(stderr, "\033[%dA", b->drawn);
    for (size_t i = 0; i < p->n_files; i++) { /* finished files become permanent lines */
        const lqmf_hub_file_progress *f = &p->files[i];
        if (dt > 0) b->rate[i] = 0.7 * b->rate[i] + 0.3 * (double)(f->done - b->last[i]) / dt;
        b->last[i] = f->done;
        bool finished =
            f->state == LQMF_HUB_DONE || f->state == LQMF_HUB_CACHED || f->state == LQMF_HUB_FAILED;
        if (!finished || b->reported[i]) continue;
        b->reported[i] = true;
        char sz[32];
        fprintf(stderr, "  %s %s (%s%s)%s\n",
                f->state == LQMF_HUB_FAILED   ? "failed"
                : f->state == LQMF_HUB_CACHED ? "cached"
                                              : "done  ",
                f->path, lqmf_fmt_bytes(f->total, sz, sizeof sz), f->retries ? ", after retries" : "",
                b->tty ? "\033[K" : "");
    }
    if (dt > 0) b->t_last = p->elapsed_s;
    b->drawn = 0;
    if (!b->tty || p->final) {
        if (b->tty) fprintf(stderr, "\033[J");
        return;
    }
    for (size_t i = 0; i < p->n_files; i++) {
        const lqmf_hub_file_progress *f = &p->files[i];
        if (f->state != LQMF_HUB_ACTIVE && f->state != LQMF_HUB_RETRYING) continue;
        bar_line(f->path, f->done, f->total, b->rate[i], f->state == LQMF_HUB_RETRYING ? " retrying" : "");
        b->drawn++;
    }
    bar_line("total", p->done, p->total, p->rate, "");
    b->drawn++;
    fprintf(stderr, "\033[J");
}

static void bars_free(bars *b) {
    free(b->reported);
    free(b->rate);
    free(b->last);
}

/* ---- lqmf download ------------------------------------------------------------------ */

/* Parameters and dtypes of the chosen safetensors files, from their headers. */
static lqmf_status print_weights(lqmf_hub *h, const lqmf_hub_repo *r, const bool *sel) {
    lqmf_hub_weights w;
    lqmf_status st = lqmf_hub_weights_info(h, r, sel, &w);
    if (st == LQMF_E_NOT_FOUND) {
        lqmf_clear_error();
        return LQMF_OK; /* no safetensors chosen: nothing to tell */
    }
    if (st != LQMF_OK) return st;
    char sz[32];
    printf("weights: %llu parameters in %zu tensors of %zu files, %s:", (unsigned long long)w.n_params,
           w.n_tensors, w.n_files, lqmf_fmt_bytes(w.n_bytes, sz, sizeof sz));
    for (int t = 0; t < LQMF_ST_DTYPE_COUNT; t++)
        if (w.params_by_dtype[t])
            printf(" %s %.1f%%", lqmf_st_dtype_name((lqmf_st_dtype)t),
                   100.0 * (double)w.params_by_dtype[t] / (double)w.n_params);
    printf("\n");
    return LQMF_OK;
}

static int download(int argc, char **argv) {
    const char *repo = NULL, *revision = NULL, *local_dir = NULL, *cache_dir = NULL;
    const char *globs[MAX_GLOBS];
    size_t n_globs = 0;
    bool dry_run = false, quiet = false;
    unsigned parallel = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (LQMF_IS(a, "--revision") && has_val)
            revision = argv[++i];
        else if (LQMF_IS(a, "--include") && has_val && n_globs < MAX_GLOBS)
            globs[n_globs++] = argv[++i];
        else if (LQMF_IS(a, "--local-dir") && has_val)
            local_dir = argv[++i];
        else if (LQMF_IS(a, "--cache-dir") && has_val)
            cache_dir = argv[++i];
        else if (LQMF_IS(a, "--parallel") && has_val)
            parallel = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (LQMF_IS(a, "--dry-run"))
            dry_run = true;
        else if (LQMF_IS(a, "--quiet"))
            quiet = true;
        else if (a[0] != '-' && !repo)
            repo = a;
        else
            return lqmf_cli_usage(argv[0]);
    }
    if (!repo) return lqmf_cli_usage(argv[0]);
    lqmf_hub_options o;
    lqmf_hub_options_init(&o);
    o.cache_dir = cache_dir;
    o.cancel = lqmf_cli_sigint_seen;
    if (parallel) o.n_parallel = parallel;
    lqmf_hub *h = NULL;
    lqmf_hub_repo *r = NULL;
    bool *sel = NULL;
    bars b = {.tty = isatty(STDERR_FILENO) && !quiet};
    lqmf_status st = lqmf_hub_new(&o, &h);
    if (st == LQMF_OK && !quiet)
        fprintf(stderr, "Resolving %s@%s at %s%s ...\n", repo, revision ? revision : "main",
                lqmf_hub_endpoint(h), lqmf_hub_is_offline(h) ? " (offline: cache only)" : "");
    if (st == LQMF_OK) st = lqmf_hub_repo_open(h, repo, revision, &r);
    size_t n_sel = 0;
    if (st == LQMF_OK && !(sel = calloc(r->n_files + 1, sizeof *sel)))
        st = lqmf_error(LQMF_E_NOMEM, "out of memory");
    if (st == LQMF_OK) st = lqmf_hub_select(r, globs, n_globs, sel, &n_sel);
    if (st == LQMF_OK) {
        uint64_t total = 0;
        for (size_t i = 0; i < r->n_files; i++) total += sel[i] ? r->files[i].size : 0;
        char sz[32];
        if (!quiet)
            fprintf(stderr, "%s@%s = commit %.12s%s%s%s: %zu of %zu files, %s\n", r->repo_id, r->revision,
                    r->commit, r->is_private ? ", private" : "", r->gated[0] ? ", gated " : "", r->gated,
                    n_sel, r->n_files, lqmf_fmt_bytes(total, sz, sizeof sz));
        for (size_t i = 0; dry_run && i < r->n_files; i++)
            if (sel[i])
                printf("%12llu  %s  %s\n", (unsigned long long)r->files[i].size,
                       r->files[i].sha256[0] ? "lfs" : "git", r->files[i].path);
    }
    if (st == LQMF_OK && dry_run) st = print_weights(h, r, sel);
    if (st == LQMF_OK && !dry_run) {
        lqmf_hub_download_options d = {.local_dir = local_dir};
        if (!quiet) d.progress = on_progress, d.progress_user = &b;
        double t0 = lqmf_time_now();
        lqmf_cli_sigint_catch(); /* Ctrl-C stops the transfers; partial files stay for a resume */
        st = lqmf_hub_download(h, r, sel, &d);
        lqmf_cli_sigint_restore();
        if (st == LQMF_OK) {
            if (!quiet) fprintf(stderr, "Done in %.1f s\n", lqmf_time_now() - t0);
            printf("%s\n", local_dir ? local_dir : r->snapshot_dir);
        }
    }
    bars_free(&b);
    free(sel);
    lqmf_hub_repo_free(r);
    lqmf_hub_free(h);
    if (st == LQMF_E_INTERRUPTED) {
        fprintf(stderr,
                "lqmf: download interrupted; partial files are kept: run the same command to resume\n");
        return LQMF_EXIT_INTERRUPTED;
    }
    return st == LQMF_OK ? 0 : lqmf_cli_fail(st);
}

LQMF_COMMAND(download, "download",
             "REPO [--revision R] [--include GLOB]... [--local-dir DIR] [--cache-dir DIR] "
             "[--parallel N] [--dry-run] [--quiet]",
             "fetch a model from the Hugging Face Hub into the shared cache", download)

/* ---- lqmf hf login | status | logout ------------------------------------------------- */

/* Read a token: from the terminal with '*' echoed per character, else one
 * line of stdin. Returns a heap string (caller wipes and frees) or NULL. */
static char *read_token(void) {
    char buf[1100];
    size_t n = 0;
    FILE *tty = isatty(STDIN_FILENO) ? fopen("/dev/tty", "r+") : NULL;
    if (!tty) {
        if (!fgets(buf, sizeof buf, stdin)) return NULL;
        n = strcspn(buf, "\r\n");
    } else {
        struct termios old, raw;
        int fd = fileno(tty);
        fprintf(stderr, "Hugging Face access token (https://huggingface.co/settings/tokens): ");
        tcgetattr(fd, &old);
        raw = old;
        raw.c_lflag &= (tcflag_t) ~(ECHO | ICANON | ISIG);
        tcsetattr(fd, TCSAFLUSH, &raw);
        for (int c; (c = fgetc(tty)) != EOF && c != '\n' && c != '\r';) {
            if (c == 3 || c == 4) { /* Ctrl-C, Ctrl-D */
                n = 0;
                break;
            }
            if ((c == 127 || c == 8) && n) {
                n--;
                fputs("\b \b", stderr);
            } else if (c > ' ' && c < 127 && n < sizeof buf - 1) {
                buf[n++] = (char)c;
                fputc('*', stderr);
            }
        }
        tcsetattr(fd, TCSAFLUSH, &old);
        fputc('\n', stderr);
        fclose(tty);
    }
    buf[n] = '\0';
    char *t = n ? strdup(buf) : NULL;
    explicit_bzero(buf, sizeof buf);
    return t;
}

/* Verify token with whoami-v2; on success *user is set. */
static lqmf_status verify(const char *token, lqmf_hub_user **user) {
    lqmf_hub_options o;
    lqmf_hub_options_init(&o);
    o.token = token;
    o.offline = 0;
    lqmf_hub *h = NULL;
    lqmf_status st = lqmf_hub_new(&o, &h);
    if (st == LQMF_OK) st = lqmf_hub_whoami(h, user);
    lqmf_hub_free(h);
    return st;
}

static void print_user(const lqmf_hub_user *u) {
    printf("  user:   %s%s%s%s\n", u->name, *u->fullname ? " (" : "", u->fullname, *u->fullname ? ")" : "");
    printf("  orgs:   ");
    for (size_t i = 0; i < u->n_orgs; i++) printf("%s%s", i ? ", " : "", u->orgs[i]);
    printf("%s\n", u->n_orgs ? "" : "(none)");
    printf("  token:  %s, role %s%s\n", *u->token_name ? u->token_name : "(unnamed)",
           *u->token_role ? u->token_role : "?", u->is_pro ? "; PRO account" : "");
}

static int hf_login(void) {
    char *token = read_token();
    if (!token) {
        fprintf(stderr, "lqmf: no token given\n");
        return 2;
    }
    lqmf_hub_user *u = NULL;
    lqmf_status st = verify(token, &u);
    if (st == LQMF_OK) st = lqmf_hub_token_save(token);
    explicit_bzero(token, strlen(token));
    free(token);
    if (st != LQMF_OK) {
        lqmf_hub_user_free(u);
        lqmf_error_prefix(st, "token not saved");
        return lqmf_cli_fail(st);
    }
    char *path = NULL;
    lqmf_hub_token_path(&path);
    printf("Logged in to the Hugging Face Hub; token saved to %s (mode 0600)\n", path ? path : "?");
    print_user(u);
    lqmf_hub_token t;
    if (lqmf_hub_token_find(&t) == LQMF_OK && t.source == LQMF_HUB_TOKEN_ENV)
        printf("note: %s is set and takes precedence over the saved token\n", t.where);
    lqmf_hub_token_clear(&t);
    free(path);
    lqmf_hub_user_free(u);
    return 0;
}

#define HF_JSON_KEYS                                                                                         \
    "status --json keys: endpoint, cache_dir, offline, logged_in, token_source (env | lqmf | hf_cli;\n"      \
    "  null when none), token_where (variable or file; null), user {name, fullname, type, is_pro,\n"         \
    "  orgs[], token_name, token_role} (null when not checked), error (why the account check failed;\n"      \
    "  null). Exit codes: 0 logged in (account verified, or offline), 1 not logged in or check failed."

/* Stable names of token sources for --json. */
static const char *source_key(lqmf_hub_token_source s) {
    static const char *const keys[] = {"none", "option", "env", "lqmf", "hf_cli"};
    return (unsigned)s <= LQMF_HUB_TOKEN_HF_CLI ? keys[s] : "none";
}

static json_t *user_json(const lqmf_hub_user *u) {
    if (!u) return json_null();
    json_t *orgs = json_array();
    for (size_t i = 0; i < u->n_orgs; i++) json_array_append_new(orgs, json_string(u->orgs[i]));
    return json_pack("{s:s, s:s, s:s, s:b, s:o, s:s, s:s}", "name", u->name, "fullname", u->fullname, "type",
                     u->type, "is_pro", u->is_pro, "orgs", orgs, "token_name", u->token_name, "token_role",
                     u->token_role);
}

static int hf_status(bool as_json) {
    lqmf_hub *h = NULL;
    lqmf_status st = lqmf_hub_new(NULL, &h);
    if (st != LQMF_OK) return lqmf_cli_fail(st);
    const lqmf_hub_token *t = lqmf_hub_token_info(h);
    bool logged_in = t->source != LQMF_HUB_TOKEN_NONE;
    lqmf_hub_user *u = NULL;
    if (logged_in && !lqmf_hub_is_offline(h)) st = lqmf_hub_whoami(h, &u);
    int rc = logged_in && st == LQMF_OK ? 0 : 1;
    if (as_json) {
        json_t *o =
            json_pack("{s:s, s:s, s:b, s:b, s:o, s:o, s:o, s:o}", "endpoint", lqmf_hub_endpoint(h),
                      "cache_dir", lqmf_hub_cache_dir(h), "offline", lqmf_hub_is_offline(h), "logged_in",
                      logged_in, "token_source", logged_in ? json_string(source_key(t->source)) : json_null(),
                      "token_where", lqmf_cli_json_str(t->where), "user", user_json(u), "error",
                      st == LQMF_OK ? json_null() : json_string(lqmf_last_error()));
        lqmf_hub_user_free(u);
        lqmf_hub_free(h);
        return lqmf_cli_print_json(o, rc);
    }
    printf("Hugging Face Hub: %s\n", lqmf_hub_endpoint(h));
    printf("  cache:  %s%s\n", lqmf_hub_cache_dir(h), lqmf_hub_is_offline(h) ? " (HF_HUB_OFFLINE set)" : "");
    if (!logged_in) {
        char *path = NULL;
        lqmf_hub_token_path(&path);
        printf("  not logged in: no token in HF_TOKEN, HUGGINGFACE_TOKEN, %s or huggingface-cli's "
               "token file (run `lqmf hf login`)\n",
               path ? path : "lqmf's token file");
        free(path);
    } else {
        printf("  token source: %s%s%s\n", lqmf_hub_token_source_name(t->source), t->where ? " " : "",
               t->where ? t->where : "");
        if (lqmf_hub_is_offline(h)) printf("  account not checked: offline mode\n");
        if (u) print_user(u);
    }
    lqmf_hub_user_free(u);
    lqmf_hub_free(h);
    return st == LQMF_OK ? rc : lqmf_cli_fail(st);
}

static int hf_logout(void) {
    bool removed = false;
    char *path = NULL;
    lqmf_status st = lqmf_hub_token_path(&path);
    if (st == LQMF_OK) st = lqmf_hub_token_remove(&removed);
    if (st != LQMF_OK) {
        free(path);
        return lqmf_cli_fail(st);
    }
    printf(removed ? "Removed the token saved by lqmf (%s)\n" : "No token saved by lqmf (%s)\n", path);
    free(path);
    lqmf_hub_token t;
    if (lqmf_hub_token_find(&t) == LQMF_OK && t.source != LQMF_HUB_TOKEN_NONE)
        printf("note: a token is still found in %s %s; lqmf leaves it alone\n",
               lqmf_hub_token_source_name(t.source), t.where ? t.where : "");
    lqmf_hub_token_clear(&t);
    return 0;
}

static int hf(int argc, char **argv) {
    bool as_json = lqmf_cli_take_json(&argc, argv);
    if (argc == 2 && LQMF_IS(argv[1], "status")) return hf_status(as_json);
    if (as_json) return lqmf_cli_usage(argv[0]);
    if (argc == 2 && LQMF_IS(argv[1], "login")) return hf_login();
    if (argc == 2 && LQMF_IS(argv[1], "logout")) return hf_logout();
    return lqmf_cli_usage(argv[0]);
}

LQMF_COMMAND_DOC(hf, "hf", "login | status [--json] | logout",
                 "Hugging Face account: save (verified), show or remove the token", HF_JSON_KEYS, hf)
