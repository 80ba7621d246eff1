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
} lqmf_cli_command;

void lqmf_cli_register(const lqmf_cli_command *cmd);

#define LQMF_COMMAND(ident, name_, args_, summary_, fn_)                            \
    static const lqmf_cli_command cmd_##ident = { name_, args_, summary_, fn_ };   \
    __attribute__((constructor)) static void register_cmd_##ident(void) {           \
        lqmf_cli_register(&cmd_##ident);                                            \
    }

/* Print "lqmf: <status>: <last error>" to stderr; returns the exit code for st. */
int lqmf_cli_fail(lqmf_status st);
/* Exit codes: 0 ok, 1 failure of the operation, 2 usage error. */
int lqmf_cli_usage(const char *name);
/* Is `arg` the flag `flag`? */
#define LQMF_IS(arg, flag) (strcmp((arg), (flag)) == 0)

#endif
