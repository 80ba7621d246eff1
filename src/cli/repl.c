/* The LQMF> prompt: `lqmf` with no arguments. GNU readline gives line
 * editing, history (kept in $LQMF_HOME/history, else .lqmf/history) and tab
 * completion of command names and of the model names under the configured
 * models and quantized-models folders. A line that starts with a command
 * name runs that command with the line's words as arguments, exactly as
 * `lqmf <line>` would; any other line is read by the intent parser
 * ("I want to quantize gpt2 for CPU with 4-bit precision", "list
 * successful experiments") and dispatched to the same commands. */
#include "cli.h"
#include "lqmf/config.h"
#include "lqmf/intent.h"

#include <dirent.h>
#include <errno.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WORDS 128
#define HISTORY_MAX 1000

/* Split a line into words: blanks separate, '...' and "..." group. The
 * words point into buf (a copy of the line). */
static int split_words(char *buf, char **argv, int max) {
    int n = 0;
    char *r = buf, *w = buf;
    while (*r) {
        while (*r == ' ' || *r == '\t') r++;
        if (!*r) break;
        if (n == max) return -1;
        argv[n++] = w;
        char quote = 0;
        for (; *r && (quote || (*r != ' ' && *r != '\t')); r++) {
            if (!quote && (*r == '\'' || *r == '"')) quote = *r;
            else if (quote && *r == quote) quote = 0;
            else *w++ = *r;
        }
        if (*r) r++;
        *w++ = '\0';
    }
    return n;
}

static int run_words(int argc, char **argv) {
    const lqmf_cli_command *c = lqmf_cli_find(argv[0]);
    if (!c) {
        fprintf(stderr, "lqmf: unknown command '%s' (type help)\n", argv[0]);
        return LQMF_EXIT_USAGE;
    }
    optind = 0; /* commands may use getopt */
    return c->fn(argc, argv);
}

/* The command line an intent stands for, into argv (words from buf). */
static int intent_words(const lqmf_intent *in, char *buf, size_t n, char **argv) {
    switch (in->action) {
    case LQMF_ACTION_TEST_LIST: snprintf(buf, n, "test list"); break;
    case LQMF_ACTION_TEST_DISCOVER: snprintf(buf, n, "test discover"); break;
    case LQMF_ACTION_TEST: snprintf(buf, n, "test '%s'", in->target); break;
    case LQMF_ACTION_LIST:
        snprintf(buf, n, "list %s",
                 in->filter == LQMF_LIST_SUCCESS  ? "successful"
                 : in->filter == LQMF_LIST_FAILED ? "failed"
                                                  : "");
        break;
    case LQMF_ACTION_STATS: snprintf(buf, n, "stats"); break;
    case LQMF_ACTION_SYSTEM: snprintf(buf, n, "system"); break;
    case LQMF_ACTION_CONFIG: snprintf(buf, n, "config show"); break;
    case LQMF_ACTION_HF_LOGIN: snprintf(buf, n, "hf login"); break;
    case LQMF_ACTION_HF_STATUS: snprintf(buf, n, "hf status"); break;
    case LQMF_ACTION_HF_LOGOUT: snprintf(buf, n, "hf logout"); break;
    case LQMF_ACTION_DOWNLOAD: snprintf(buf, n, "download '%s'", in->model.id); break;
    default: return 0;
    }
    return split_words(buf, argv, MAX_WORDS);
}

static void repl_help(void) {
    lqmf_cli_help(stdout);
    printf("\nAt the prompt, also requests in words, for example:\n"
           "  quantize microsoft/DialoGPT-small to 4-bit GGUF for CPU\n"
           "  I want to quantize Mistral 7B for CPU inference with 4-bit precision\n"
           "  test list | list successful experiments | stats | exit\n");
}

int lqmf_cli_line(const char *line, bool *quit) {
    *quit = false;
    size_t len = strlen(line);
    char *buf = malloc(len + 1), *argv[MAX_WORDS + 1];
    if (!buf) return LQMF_EXIT_FAILED;
    memcpy(buf, line, len + 1);
    int argc = split_words(buf, argv, MAX_WORDS), rc = 0;
    if (argc < 0) {
        fprintf(stderr, "lqmf: too many words\n");
        rc = LQMF_EXIT_USAGE;
    } else if (argc == 0) {
        rc = 0;
    } else if (LQMF_IS(argv[0], "exit") || LQMF_IS(argv[0], "quit")) {
        *quit = true;
    } else if ((LQMF_IS(argv[0], "help") || LQMF_IS(argv[0], "?")) && argc == 2) {
        rc = lqmf_cli_help_command(stdout, argv[1]);
    } else if (LQMF_IS(argv[0], "help") || LQMF_IS(argv[0], "?")) {
        repl_help();
    } else if (lqmf_cli_find(argv[0]) && !LQMF_IS(argv[0], "do")) {
        argv[argc] = NULL;
        rc = run_words(argc, argv);
    } else {
        lqmf_intent in;
        lqmf_status st = lqmf_intent_parse(line, &(lqmf_intent_opts){.probe_fs = true}, &in);
        char words[LQMF_INTENT_MAX_BYTES + 64], *iargv[MAX_WORDS + 1];
        int n;
        if (st != LQMF_OK) rc = lqmf_cli_fail(st);
        else if (in.action == LQMF_ACTION_EXIT) *quit = true;
        else if (in.action == LQMF_ACTION_HELP) repl_help();
        else if (in.action == LQMF_ACTION_QUANTIZE || in.action == LQMF_ACTION_PLAN) {
            /* the whole line is the request; flags in it stay flags */
            const char *verb = in.action == LQMF_ACTION_PLAN ? "plan" : "do";
            argv[argc] = NULL;
            char **full = malloc((size_t)(argc + 2) * sizeof *full);
            if (!full) rc = LQMF_EXIT_FAILED;
            else {
                full[0] = (char *)verb;
                memcpy(full + 1, argv, (size_t)(argc + 1) * sizeof *argv);
                rc = in.action == LQMF_ACTION_PLAN ? run_words(argc + 1, full) : lqmf_cli_factory(argc + 1, full, false);
                free(full);
            }
        } else if ((n = intent_words(&in, words, sizeof words, iargv)) > 0) {
            iargv[n] = NULL;
            rc = run_words(n, iargv);
        } else {
            fprintf(stderr, "lqmf: I did not understand \"%s\" (type help)\n", line);
            rc = LQMF_EXIT_USAGE;
        }
    }
    free(buf);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

/* ---- completion -------------------------------------------------------------------------- */

static char **g_cands;
static size_t g_ncands;

static void cands_clear(void) {
    for (size_t i = 0; i < g_ncands; i++) free(g_cands[i]);
    free(g_cands);
    g_cands = NULL;
    g_ncands = 0;
}

static void cands_add(const char *s) {
    char **grown = realloc(g_cands, (g_ncands + 1) * sizeof *grown);
    if (!grown) return;
    g_cands = grown;
    if ((g_cands[g_ncands] = strdup(s))) g_ncands++;
}

static void cands_add_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') cands_add(e->d_name);
    closedir(d);
}

static char *next_cand(const char *text, int state) {
    static size_t i;
    if (!state) i = 0;
    for (size_t n = strlen(text); i < g_ncands;) {
        const char *c = g_cands[i++];
        if (strncmp(c, text, n) == 0) return strdup(c);
    }
    return NULL;
}

/* First word: commands and REPL words; later words: model names. */
static char **complete(const char *text, int start, int end) {
    (void)end;
    cands_clear();
    rl_attempted_completion_over = 1;
    if (start == 0) {
        for (size_t i = 0; i < lqmf_cli_count(); i++) cands_add(lqmf_cli_at(i)->name);
        cands_add("help");
        cands_add("exit");
        cands_add("quit");
    } else {
        lqmf_config *cfg;
        if (lqmf_config_load(NULL, &cfg) == LQMF_OK) {
            cands_add_dir(lqmf_config_get(cfg, LQMF_CFG_MODELS_DIR));
            cands_add_dir(lqmf_config_get(cfg, LQMF_CFG_QUANTIZED_MODELS_DIR));
            lqmf_config_free(cfg);
        }
        lqmf_clear_error();
        static const char *const words[] = {"list", "discover", "to", "for", "CPU", "GPU", "GGUF", "4-bit", "8-bit",
                                            "successful", "failed", "experiments", "--yes", "--json"};
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) cands_add(words[i]);
    }
    return rl_completion_matches(text, next_cand);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static char *history_path(void) {
    const char *home = getenv("LQMF_HOME");
    char *dir = home && *home ? strdup(home) : strdup(".lqmf"), *path = NULL;
    if (dir) mkdir(dir, 0700);
    if (!dir || asprintf(&path, "%s/history", dir) < 0) path = NULL;
    free(dir);
    return path;
}

int lqmf_cli_repl(void) {
    bool tty = isatty(STDIN_FILENO) != 0;
    char *hist = history_path();
    using_history();
    if (hist && read_history(hist) != 0) write_history(hist); /* append_history needs the file */
    rl_readline_name = "lqmf";
    rl_attempted_completion_function = complete;
    if (tty)
        printf("LQMF - local quantized model factory. Type help, a command, or a request such as\n"
               "  quantize microsoft/DialoGPT-small to 4-bit GGUF for CPU\n");
    int rc = 0;
    for (;;) {
        char *line = readline("LQMF> ");
        if (!line) {
            if (tty) printf("\n");
            break;
        }
        if (*line) {
            add_history(line);
            if (hist) {
                append_history(1, hist);
                history_truncate_file(hist, HISTORY_MAX);
            }
        }
        bool quit;
        rc = lqmf_cli_line(line, &quit);
        free(line);
        if (quit) {
            rc = 0;
            break;
        }
    }
    cands_clear();
    free(hist);
    return rc;
}
