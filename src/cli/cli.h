/* The lqmf command: subcommands register themselves with LQMF_COMMAND so
 * each lives in its own file. Only the CLI prints and exits. */
#ifndef LQMF_CLI_H
#define LQMF_CLI_H

#include "lqmf/core.h"

#include <stdio.h>

typedef int (*lqmf_cmd_fn)(int argc, char **argv); /* argv[0] is the subcommand */

typedef struct {
    const char *name;    /* "inspect" */
    const char *args;    /* "PATH [--json]" */
    const char *summary; /* one line for `lqmf help` */
    lqmf_cmd_fn fn;
    const char *details; /* more for `lqmf help NAME` (--json keys, ...); NULL when none */
} lqmf_cli_command;

void lqmf_cli_register(const lqmf_cli_command *cmd);

#define LQMF_COMMAND(ident, name_, args_, summary_, fn_)                                                     \
    LQMF_COMMAND_DOC(ident, name_, args_, summary_, NULL, fn_)
/* The same with details for `lqmf help NAME`. */
#define LQMF_COMMAND_DOC(ident, name_, args_, summary_, details_, fn_)                                       \
    static const lqmf_cli_command cmd_##ident = {name_, args_, summary_, fn_, details_};                     \
    __attribute__((constructor)) static void register_cmd_##ident(void) { lqmf_cli_register(&cmd_##ident); }

/* The command table (main.c): by name, NULL when unknown; all commands
 * sorted by name; `lqmf help`. */
const lqmf_cli_command *lqmf_cli_find(const char *name);
size_t lqmf_cli_count(void);
const lqmf_cli_command *lqmf_cli_at(size_t i);
void lqmf_cli_help(FILE *out);
/* `lqmf help NAME`: usage, summary and details of one command; 2 when unknown. */
int lqmf_cli_help_command(FILE *out, const char *name);

/* The factory from the command line (cmd_factory.c): the words of argv
 * after argv[0] are a request ("gpt2 to 4-bit GGUF for CPU"), prefixed with
 * "quantize " when verb is "quantize". Exit codes: see LQMF_EXIT_*. */
int lqmf_cli_factory(int argc, char **argv, bool prefix_quantize);
enum {
    LQMF_EXIT_OK = 0,
    LQMF_EXIT_FAILED = 1,
    LQMF_EXIT_USAGE = 2,
    LQMF_EXIT_REFUSED = 3,   /* nothing fits, or a method not built */
    LQMF_EXIT_DECLINED = 4,  /* the user said no at the confirmation */
    LQMF_EXIT_INTERRUPTED = 130
};

/* Ctrl-C as a flag (sigint.c): between catch and restore, SIGINT only sets
 * it; sigint_seen reads it (usable as lqmf_hub_options.cancel: the argument
 * is ignored, and it is safe from any thread). */
void lqmf_cli_sigint_catch(void);
void lqmf_cli_sigint_restore(void);
bool lqmf_cli_sigint_seen(void *unused);

/* The REPL (repl.c): `lqmf` with no arguments. */
int lqmf_cli_repl(void);
/* One REPL line: a command with its arguments ("list failed", "inspect F")
 * or a request in words, read through the intent parser. *quit is set for
 * exit/quit. Returns the command's exit code. */
int lqmf_cli_line(const char *line, bool *quit);

/* Print "lqmf: <status>: <last error>" to stderr; returns the exit code for st. */
int lqmf_cli_fail(lqmf_status st);
/* Exit codes: 0 ok, 1 failure of the operation, 2 usage error. */
int lqmf_cli_usage(const char *name);
/* Is `arg` the flag `flag`? */
#define LQMF_IS(arg, flag) (strcmp((arg), (flag)) == 0)

#endif
